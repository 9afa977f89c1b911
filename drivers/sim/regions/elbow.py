"""Elbow: distal biceps, brachial artery, median nerve (anterior); common extensor (lateral)."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, offset, rounded, skin_and_fat, st
from drivers.sim.shapes import INF, along_s, groove, tube


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
    items += _radial_nerve() + _medial() + _posterior()
    return rounded(
        items,
        {
            "biceps brachii muscle": 6.0,
            "common extensor tendon": 4.0,
            "supinator muscle": 5.0,
            "arcade of Frohse": 2.0,
            "common flexor tendon": 4.0,
            "anterior band of the UCL": 3.0,
            "cubital tunnel retinaculum": 2.0,
            "posterior fat pad (olecranon fossa)": 4.0,
            "posterior recess": 3.0,
            "olecranon bursa": 3.0,
        },
    )


def _radial_nerve() -> Items:
    """Anterolateral (t 14..34): the radial nerve between brachioradialis and brachialis, dividing at
    the joint into the superficial branch and the posterior interosseous nerve, which dives under the
    arcade of Frohse into the supinator (clinical.md 1.2)."""
    return [
        layer(
            "brachioradialis muscle", L.MUSCLE, 4.0, along_s([(-80, 10.0), (0, 9.5), (60, 8.0)]), t=(16, 34)
        ),
        layer(
            "supinator muscle",
            L.MUSCLE,
            along_s([(0, 13.5), (60, 12.0)]),
            along_s([(0, 19.0), (60, 18.0)]),
            s=(0, 60),
            t=(14, 32),
        ),
        layer(
            "arcade of Frohse",
            L.FASCIA,
            along_s([(0, 13.0), (60, 11.5)]),
            along_s([(0, 13.5), (60, 12.0)]),
            s=(0, 12),
            t=(16, 28),
        ),
        st("radial nerve", L.NERVE, tube([(-80, 24, 11.5), (-2, 24, 11.5)], 1.8, 1.3)),
        st(
            "superficial branch of the radial nerve",
            L.NERVE,
            tube([(-2, 25.5, 10.5), (60, 28, 8.5)], 1.0, 0.8),
        ),
        st(
            "posterior interosseous nerve (PIN)",
            L.NERVE,
            tube([(-2, 22.5, 12.0), (10, 22, 15.0), (60, 21, 15.5)], 1.1, 0.9),
        ),
    ]


def _medial() -> Items:
    """Medial (t -120..-50): the common flexor tendon and the UCL anterior band over the medial
    epicondyle; posteriorly the ulnar nerve in the epicondylar groove and the cubital tunnel under
    Osborne's retinaculum (clinical.md 1.2)."""
    epicondyle = along_s([(-60, 10.0), (-8, 7.5), (-2, 6.0), (2, 8.0), (5, 12.5)])
    groove_bone = groove(along_s([(-60, 9.0), (0, 8.0), (30, 9.0)]), -108.0, 3.0, 3.5)
    return [
        layer("medial epicondyle", L.BONE, epicondyle, INF, s=(-INF, 5), t=(-100, -50)),
        layer(
            "ulna (sublime tubercle)",
            L.BONE,
            along_s([(7, 13.0), (12, 9.5), (60, 10.0)]),
            INF,
            s=(7, INF),
            t=(-100, -50),
        ),
        layer(
            "common flexor tendon",
            L.TENDON,
            along_s([(-4, 3.0), (40, 3.5)]),
            along_s([(-4, 5.8), (10, 6.5), (40, 6.0)]),
            s=(-4, 45),
            t=(-88, -62),
        ),
        layer(
            "anterior band of the UCL",
            L.LIGAMENT,
            along_s([(-2, 6.0), (12, 7.2)]),
            along_s([(-2, 7.8), (6, 10.0), (12, 9.3)]),
            s=(-2, 12),
            t=(-84, -66),
        ),
        layer("olecranon / epicondylar groove", L.BONE, groove_bone, INF, t=(-120, -100)),
        st("ulnar nerve", L.NERVE, tube([(-80, -108, 7.5), (0, -108, 6.2), (60, -106, 8.0)], 2.0, 1.5)),
        layer(
            "cubital tunnel retinaculum",
            L.LIGAMENT,
            3.8,
            4.3,
            s=(-5, 15),
            t=(-114, -102),
            fibre=(0.0, 1.0, 0.0),
        ),
    ]


def _posterior() -> Items:
    """Posterior (t 110..170): triceps muscle and tendon to the olecranon, the olecranon fossa with its
    fat pad and posterior recess, the olecranon bursa (collapsed when normal) (clinical.md 1.2)."""
    humerus = along_s([(-80, 16.0), (-30, 17.0), (-22, 20.0), (-5, 20.5), (0, 16.0), (3, 6.5)])
    return [
        layer(
            "triceps muscle",
            L.MUSCLE,
            3.5,
            along_s([(-80, 15.0), (-30, 12.0), (-15, 9.0)]),
            s=(-INF, -15),
            t=(110, 170),
        ),
        layer(
            "triceps tendon",
            L.TENDON,
            along_s([(-45, 3.2), (4, 3.6)]),
            along_s([(-45, 5.2), (-10, 6.0), (4, 6.5)]),
            s=(-45, 5),
            t=(122, 158),
        ),
        layer("distal humerus (posterior)", L.BONE, humerus, INF, s=(-INF, 3), t=(110, 170)),
        layer("olecranon", L.BONE, along_s([(4, 7.0), (8, 5.5), (60, 5.5)]), INF, s=(4, INF), t=(110, 170)),
        layer(
            "posterior fat pad (olecranon fossa)",
            L.FAT,
            along_s([(-24, 12.0), (-2, 11.5)]),
            along_s([(-24, 19.2), (-4, 19.7)]),
            s=(-24, -2),
            t=(125, 155),
        ),
        layer(
            "posterior recess",
            L.FLUID,
            along_s([(-24, 19.2), (-4, 19.7)]),
            along_s([(-24, 19.8), (-4, 20.3)]),
            s=(-24, -4),
            t=(125, 155),
        ),
        layer("olecranon bursa", L.FLUID, 2.3, 2.6, s=(5, 25), t=(130, 150)),
    ]


SCENES = {
    "elbow": SceneSpec(
        "Elbow: anterior, radial and ulnar nerves, common extensor and flexor, posterior",
        elbow,
        {
            "anterior short axis": P(-20.0, 4.0, 90.0),
            "distal biceps long axis": P(5.0, 0.0),
            "common extensor long axis": P(8.0, 60.0),
            "radial nerve short axis": P(-25.0, 24.0, 90.0),
            "posterior interosseous nerve short axis": P(10.0, 23.0, 90.0),
            "common flexor long axis": P(8.0, -75.0),
            "ulnar nerve short axis": P(-20.0, -108.0, 90.0),
            "cubital tunnel short axis": P(5.0, -108.0, 90.0),
            "posterior elbow long axis": P(-12.0, 140.0),
            "posterior elbow short axis": P(-12.0, 140.0, 90.0),
        },
        30.0,
        {},
        {},
        (
            "clinical.md 1.2 (ESSR II elbow: all quadrants and the cubital tunnel)",
            "clinical.md 3.3 (elbow 2-3 cm depth)",
        ),
    ),
}
