"""Elbow: distal biceps, brachial artery, median nerve (anterior); common extensor (lateral)."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, offset, skin_and_fat, st
from drivers.sim.shapes import INF, along_s, tube


def elbow(variant: str | None) -> Items:
    items = skin_and_fat(4.0, deep="brachialis muscle")
    ant = (-40.0, 30.0)
    humerus = along_s([(-80, 24.0), (0, 24.0), (20, 30.0)])
    items += [
        layer("biceps brachii muscle", L.MUSCLE, 4.0, 9.0, s=(-150, -20), t=(-15, 15)),
        st(
            "distal biceps tendon",
            L.TENDON,
            tube([(-60, 0, 7.0), (0, 0, 10.0), (40, 0, 20.0)], 3.0, 2.0),
            fibre_dir=(1.0, 0.0, 0.15),
        ),
        *artery("brachial artery", tube([(-80, 8, 12.0), (60, 8, 14.0)], 1.8, 1.8)),
        st("median nerve", L.NERVE, tube([(-80, 14, 12.0), (60, 14, 13.0)], 2.5, 1.5)),
        layer("distal humerus (trochlea, capitellum)", L.BONE, humerus, INF, t=ant),
        layer("humeral articular cartilage", L.CARTILAGE, offset(humerus, -1.5), humerus, s=(-15, 20), t=ant),
    ]
    lat = (30.0, 90.0)
    items += [
        layer(
            "common extensor tendon", L.TENDON, 3.5, along_s([(-5, 8.2), (40, 6.5)]), s=(-5, 45), t=(40, 80)
        ),
        layer(
            "lateral epicondyle",
            L.BONE,
            along_s([(-60, 9.0), (-5, 8.3), (0, 9.5), (5, 12.0)]),
            INF,
            s=(-INF, 6),
            t=lat,
        ),
        layer(
            "radial head",
            L.BONE,
            along_s([(8, 12.5), (12, 11.0), (26, 11.0), (30, 13.0)]),
            INF,
            s=(8, INF),
            t=lat,
        ),
        layer(
            "capitellar cartilage",
            L.CARTILAGE,
            along_s([(0, 8.4), (5, 10.5)]),
            along_s([(0, 9.5), (5, 12.0)]),
            s=(0, 6),
            t=lat,
        ),
    ]
    return items


SCENES = {
    "elbow": SceneSpec(
        "Elbow: distal biceps, brachial artery, median nerve, common extensor",
        elbow,
        {
            "anterior short axis": P(-20.0, 4.0, 90.0),
            "distal biceps long axis": P(5.0, 0.0),
            "common extensor long axis": P(8.0, 60.0),
        },
        30.0,
        {},
    ),
}
