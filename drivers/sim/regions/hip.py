"""Hip: anterior recess over the femoral head and neck, labrum, femoral neurovascular bundle."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, offset, skin_and_fat, st, vein
from drivers.sim.shapes import INF, Ellipsoid, along_s, tube


def hip(variant: str | None) -> Items:
    bone = along_s(
        [
            (-60, 36.0),
            (-38, 38.0),
            (-34, 43.0),
            (-30, 41.0),
            (-20, 40.5),
            (-10, 42.0),
            (0, 46.0),
            (15, 49.0),
            (35, 49.0),
            (55, 44.0),
        ]
    )
    items = skin_and_fat(14.0, skin_mm=2.0, deep="sartorius / rectus femoris muscle")
    items += [
        layer("iliopsoas muscle", L.MUSCLE, 28.0, INF, t=(-5, 30)),
        st("iliopsoas tendon", L.TENDON, tube([(-60, 8, 34.0), (60, 8, 36.0)], 4.0, 1.8)),
        layer(
            "joint capsule / iliofemoral ligament",
            L.LIGAMENT,
            offset(bone, -4.5),
            offset(bone, -1.0),
            s=(-32, 40),
            t=(-30, 30),
        ),
        layer(
            "anterior synovial recess",
            L.FLUID,
            offset(bone, -1.0),
            offset(bone, -0.3),
            s=(-5, 40),
            t=(-25, 25),
        ),
        layer("femoral head and neck / acetabulum", L.BONE, bone, INF),
        layer("femoral head cartilage", L.CARTILAGE, offset(bone, -1.5), bone, s=(-31, -8), t=(-30, 30)),
        st("anterosuperior labrum", L.FIBROCARTILAGE, Ellipsoid((-34.0, 0.0, 40.0), (3.5, 30.0, 2.6))),
        *artery("common femoral artery", tube([(-60, 38, 22.0), (60, 38, 24.0)], 4.0, 4.0)),
        *vein("common femoral vein", tube([(-60, 49, 23.0), (60, 49, 25.0)], 5.5, 5.5)),
        st("femoral nerve", L.NERVE, tube([(-60, 27, 24.0), (60, 27, 25.0)], 4.0, 1.5)),
    ]
    return items


SCENES = {
    "hip": SceneSpec(
        "Hip: anterior recess, femoral head and neck, labrum, femoral vessels",
        hip,
        {"anterior oblique long axis": P(0.0, 0.0), "femoral neurovascular short axis": P(0.0, 38.0, 90.0)},
        60.0,
        {},
    ),
}
