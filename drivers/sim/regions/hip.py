"""Hip: anterior recess over the femoral head and neck, labrum, femoral neurovascular bundle."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, offset, rounded, skin_and_fat, st, vein
from drivers.sim.shapes import INF, Ellipsoid, across_t, along_s, rounded_across, tube


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
        layer("femoral head and neck / acetabulum", L.BONE, bone, INF, t=(-40, 65)),
        layer("femoral head cartilage", L.CARTILAGE, offset(bone, -1.5), bone, s=(-31, -8), t=(-30, 30)),
        st("anterosuperior labrum", L.FIBROCARTILAGE, Ellipsoid((-34.0, 0.0, 40.0), (3.5, 30.0, 2.6))),
        *artery("common femoral artery", tube([(-60, 38, 22.0), (60, 38, 24.0)], 4.0, 4.0)),
        *vein("common femoral vein", tube([(-60, 49, 23.0), (60, 49, 25.0)], 5.5, 5.5)),
        st("femoral nerve", L.NERVE, tube([(-60, 27, 24.0), (60, 27, 25.0)], 4.0, 1.5)),
    ]
    items += _lateral() + _posterior()
    return rounded(
        items,
        {
            "joint capsule / iliofemoral ligament": 6.0,
            "anterior synovial recess": 6.0,
            "gluteus maximus": 8.0,
            "gluteus medius muscle": 6.0,
        },
    )


def _lateral() -> Items:
    """Lateral (t -150..-60), lateral decubitus: the greater trochanter's facets in short axis, gluteus
    minimus on the anterior facet, gluteus medius on the lateral facet, gluteus maximus posteriorly,
    fascia lata / ITB over them; the trochanteric bursae are not seen when normal (clinical.md 1.4)."""
    trochanter = across_t(
        [(-150, 40.0), (-128, 31.0), (-118, 29.0), (-100, 28.5), (-92, 29.5), (-78, 35.0), (-62, 42.0)]
    )
    return [
        layer("vastus lateralis / deep gluteal muscles", L.MUSCLE, 16.0, INF, t=(-160, -60)),
        layer("gluteus maximus", L.MUSCLE, 14.0, 24.0, t=(-160, -118)),
        layer("fascia lata / iliotibial band (ITB)", L.LIGAMENT, 14.0, 16.0, t=(-140, -62)),
        layer("greater trochanter", L.BONE, trochanter, INF, s=(-30, INF), t=(-150, -60)),
        layer(
            "gluteus medius tendon (lateral facet)",
            L.TENDON,
            offset(trochanter, -4.5),
            trochanter,
            s=(-40, 25),
            t=(-120, -94),
        ),
        layer(
            "gluteus minimus tendon (anterior facet)",
            L.TENDON,
            offset(trochanter, -3.5),
            trochanter,
            s=(-40, 20),
            t=(-93, -72),
        ),
        layer("gluteus medius muscle", L.MUSCLE, 16.0, 26.0, s=(-INF, -40), t=(-125, -75)),
    ]


def _posterior() -> Items:
    """Posterior (t -280..-190), prone: gluteus maximus over the ischial tuberosity, the hamstring origin
    (semimembranosus anterolateral, semitendinosus and biceps femoris long head as a conjoint tendon),
    the sciatic nerve lateral to it (clinical.md 1.4)."""
    ischium = rounded_across(along_s([(-60, 40.0), (-5, 39.0), (5, 42.0), (20, 60.0)]), -230.0, 16.0)
    return [
        layer("deep gluteal / hamstring muscles", L.MUSCLE, 14.0, INF, t=(-280, -190)),
        layer(
            "gluteus maximus", L.MUSCLE, 12.0, along_s([(-60, 32.0), (30, 30.0), (60, 26.0)]), t=(-280, -190)
        ),
        layer("ischial tuberosity", L.BONE, ischium, INF, s=(-INF, 20), t=(-250, -210)),
        st(
            "conjoint tendon (semitendinosus and biceps femoris long head)",
            L.TENDON,
            tube([(0, -236, 36.5), (30, -236, 34.0), (90, -238, 30.0)], 4.5, 2.2),
        ),
        st(
            "semimembranosus tendon",
            L.TENDON,
            tube([(2, -224, 38.0), (30, -223, 36.0), (90, -220, 33.0)], 4.0, 1.8),
        ),
        st("sciatic nerve", L.NERVE, tube([(-60, -206, 38.0), (90, -210, 34.0)], 6.0, 2.6)),
    ]


SCENES = {
    "hip": SceneSpec(
        "Hip: anterior recess, labrum, femoral vessels, greater trochanter, hamstring origin",
        hip,
        {
            "anterior oblique long axis": P(0.0, 0.0),
            "femoral neurovascular short axis": P(0.0, 38.0, 90.0),
            "greater trochanter short axis": P(0.0, -100.0, 90.0),
            "gluteus medius long axis": P(-5.0, -107.0),
            "gluteus minimus long axis": P(-5.0, -83.0),
            "hamstring origin short axis": P(15.0, -228.0, 90.0),
            "hamstring origin long axis": P(20.0, -236.0),
        },
        60.0,
        {},
        {},
        (
            "clinical.md 1.4 (ESSR IV hip: anterior, lateral and posterior regions)",
            "clinical.md 3.3 (hip 5-8 cm depth, curvilinear in large patients)",
        ),
    ),
}
