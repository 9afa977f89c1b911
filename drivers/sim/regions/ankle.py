"""Ankle: Achilles tendon, Kager fat pad and retrocalcaneal bursa (posterior); anterior tendons."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, offset, rounded, skin_and_fat, st, vein
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Ellipsoid, along_s, rounded_across, tube


def ankle(variant: str | None) -> Items:
    items = skin_and_fat(3.0, deep="flexor hallucis longus / soleus muscle")
    post = (-30.0, 30.0)
    calcaneus = along_s([(-8, 25.0), (-3, 14.0), (0, 10.5), (8, 10.0), (30, 10.0)])
    # Flat-oval in short axis, 5.6 mm AP (clinical.md: 5-6 mm), inserting on the calcaneus at s = 0.
    achilles = tube([(-100, 0, 5.9), (-10, 0, 6.0), (5, 0, 7.0)], [7.0, 7.5, 8.5], [2.8, 2.8, 3.0])
    items += [
        layer("Kager fat pad", L.FAT, 8.8, 22.0, s=(-60, -2), t=(-15, 15)),
        layer("calcaneus", L.BONE, calcaneus, INF, s=(-8, INF), t=post),
        st("retrocalcaneal bursa", L.FLUID, Ellipsoid((-3.5, 0.0, 11.3), (2.5, 6.0, 1.0))),
        st("paratenon", L.FASCIA, achilles.grown(0.3)),
        st("Achilles tendon", L.TENDON, achilles),
    ]
    if variant == "achilles_tendinosis":
        # Fusiform, hypoechoic, with a convex deep margin (AP ~10 mm against a normal 5-6 mm).
        items.append(
            st(
                "Achilles tendinosis (fusiform, hypoechoic)",
                L.TENDINOSIS,
                tube([(-64, 0, 5.9), (-40, 0, 7.6), (-16, 0, 5.9)], [7.0, 8.5, 7.0], [2.7, 5.0, 2.7]),
            )
        )
    ant = (55.0, 120.0)
    tibia = along_s([(-150, 13.0), (-10, 14.0), (0, 19.0), (10, 21.0), (60, 21.0)])
    items += [
        layer("distal tibia / talus", L.BONE, tibia, INF, t=ant),
        layer("talar dome cartilage", L.CARTILAGE, offset(tibia, -1.5), tibia, s=(2, 40), t=ant),
        layer(
            "anterior recess of the tibiotalar joint",
            L.FLUID,
            along_s([(-3, 16.5), (6, 18.0)]),
            along_s([(-3, 17.1), (6, 18.8)]),
            s=(-3, 6),
            t=(60, 100),
        ),
        st("tibialis anterior tendon", L.TENDON, tube([(-60, 70, 4.5), (40, 70, 5.0)], 3.5, 2.0)),
        st("extensor hallucis longus tendon", L.TENDON, tube([(-60, 80, 6.0), (40, 80, 5.5)], 2.0, 1.5)),
        st("extensor digitorum longus tendon", L.TENDON, tube([(-60, 91, 6.0), (40, 91, 5.5)], 2.5, 1.5)),
        *artery("anterior tibial artery", tube([(-60, 84, 11.0), (40, 84, 11.5)], 1.0, 1.0)),
        st("deep peroneal nerve", L.NERVE, tube([(-60, 86.5, 11.0), (40, 86.5, 11.5)], 1.0, 0.8)),
        st("peroneus tertius tendon", L.TENDON, tube([(-60, 99, 6.0), (40, 101, 5.5)], 1.8, 1.2)),
        layer(
            "superior extensor retinaculum",
            L.LIGAMENT,
            1.9,
            2.4,
            s=(-60, -15),
            t=(62, 104),
            fibre=(0.0, 1.0, 0.0),
        ),
    ]
    items += _medial() + _lateral() + _ligaments() + _plantar()
    return rounded(
        items,
        {
            "Kager fat pad": 8.0,
            "anterior recess of the tibiotalar joint": 2.0,
            "superior extensor retinaculum": 3.0,
            "deltoid ligament": 3.0,
            "flexor retinaculum": 3.0,
            "superior peroneal retinaculum": 3.0,
            "anterior talofibular ligament (ATFL)": 3.0,
            "calcaneofibular ligament (CFL)": 3.0,
            "anterior inferior tibiofibular ligament (AITFL)": 3.0,
        },
    )


def _medial() -> Items:
    """Behind the medial malleolus (t -100..-38), anterior to posterior: tibialis posterior, FDL, the
    posterior tibial artery between its veins, tibial nerve, FHL ("Tom, Dick and Harry"), under the
    flexor retinaculum; the deltoid ligament fans from the malleolus tip (clinical.md 1.6, 3.2)."""
    malleolus = rounded_across(along_s([(-80, 9.0), (-10, 8.0), (0, 9.0), (6, 15.0)]), -90.0, 10.0)
    return [
        layer("retromalleolar fat (medial)", L.FAT, 3.0, INF, t=(-102, -38)),
        layer("medial malleolus", L.BONE, malleolus, INF, s=(-INF, 6), t=(-102, -78)),
        layer(
            "talus (medial)",
            L.BONE,
            along_s([(8, 16.0), (14, 13.0), (40, 13.0)]),
            INF,
            s=(8, INF),
            t=(-102, -78),
        ),
        layer(
            "deltoid ligament",
            L.LIGAMENT,
            along_s([(0, 5.5), (20, 9.0)]),
            along_s([(0, 8.5), (20, 12.5)]),
            s=(0, 20),
            t=(-98, -80),
        ),
        layer("flexor retinaculum", L.LIGAMENT, 2.4, 2.9, s=(-40, 25), t=(-82, -38), fibre=(0.0, 1.0, 0.0)),
        # Round the malleolus the tendons curve forward: deepest at the tip, shallower above and below.
        st(
            "tibialis posterior tendon",
            L.TENDON,
            tube([(-80, -76, 5.5), (0, -77, 6.5), (40, -80, 5.0)], 2.6, 2.1),
            fibres_follow_shape=True,
        ),
        st(
            "flexor digitorum longus tendon",
            L.TENDON,
            tube([(-80, -69.5, 5.5), (0, -70, 6.5), (40, -72, 5.5)], 1.6, 1.3),
            fibres_follow_shape=True,
        ),
        *vein("posterior tibial veins", tube([(-80, -64.5, 7.0), (40, -65.5, 7.0)], 1.2, 1.2)),
        *artery("posterior tibial artery", tube([(-80, -60, 7.0), (40, -61, 7.0)], 1.2, 1.2)),
        *vein("posterior tibial veins", tube([(-80, -55.5, 7.0), (40, -56.5, 7.0)], 1.2, 1.2)),
        st("tibial nerve", L.NERVE, tube([(-80, -50, 7.5), (40, -51, 8.0)], 2.0, 1.4)),
        st(
            "flexor hallucis longus tendon",
            L.TENDON,
            tube([(-80, -43, 9.5), (0, -44, 10.0), (40, -48, 9.0)], 2.2, 1.8),
            fibres_follow_shape=True,
        ),
    ]


def _lateral() -> Items:
    """Behind the lateral malleolus (t 150..190): peroneus brevis flat against the bone, peroneus longus
    superficial to it, the superior peroneal retinaculum over both; both curve round the malleolus tip
    (sheath fluid up to 3 mm is normal, clinical.md 1.6, 3.2)."""
    fibula = rounded_across(along_s([(-80, 10.5), (-10, 10.0), (0, 11.5), (8, 18.0)]), 165.0, 10.0)
    return [
        layer("retromalleolar fat (lateral)", L.FAT, 3.0, INF, t=(150, 190)),
        layer("lateral malleolus (fibula)", L.BONE, fibula, INF, s=(-INF, 8), t=(150, 185)),
        layer(
            "calcaneus (lateral wall)",
            L.BONE,
            along_s([(10, 17.0), (16, 13.0), (60, 12.5)]),
            INF,
            s=(10, INF),
            t=(150, 185),
        ),
        st("peroneus brevis muscle", L.MUSCLE, tube([(-120, 164, 7.5), (-45, 164, 8.2)], 5.0, 1.8)),
        st(
            "peroneus brevis tendon",
            L.TENDON,
            tube(
                [(-45, 164, 8.2), (-10, 164, 8.0), (2, 164, 9.0), (14, 165, 11.0), (45, 168, 10.0)], 3.4, 1.1
            ),
            fibres_follow_shape=True,
        ),
        st(
            "peroneus longus tendon",
            L.TENDON,
            tube(
                [(-80, 166.5, 5.2), (-10, 166.5, 5.4), (2, 166.5, 6.4), (14, 168, 8.6), (45, 171, 9.5)],
                2.2,
                1.4,
            ),
            fibres_follow_shape=True,
        ),
        layer(
            "superior peroneal retinaculum",
            L.LIGAMENT,
            3.1,
            3.6,
            s=(-40, 5),
            t=(156, 178),
            fibre=(0.0, 1.0, 0.0),
        ),
    ]


def _ligaments() -> Items:
    """Lateral ligaments, each between its two bones in its own band: ATFL (~15 mm, ~2 mm thick,
    clinical.md 3.2) fibula to talus, CFL fibula to calcaneus (deeper, under the peroneals), AITFL
    tibia to fibula [DK]."""
    items: Items = [layer("lateral ankle soft tissue", L.FAT, 3.0, INF, t=(197, 323))]
    for name, t0, bone_a, bone_b, top in (
        ("anterior talofibular ligament (ATFL)", 215.0, "lateral malleolus tip", "talus (lateral)", 3.6),
        ("calcaneofibular ligament (CFL)", 265.0, "lateral malleolus tip", "calcaneus", 7.0),
        (
            "anterior inferior tibiofibular ligament (AITFL)",
            305.0,
            "distal tibia (anterolateral)",
            "distal fibula",
            4.2,
        ),
    ):
        band = (t0 - 18.0, t0 + 18.0)
        items += [
            layer(
                bone_a,
                L.BONE,
                along_s([(-40, top + 2.5), (-10, top + 2.2), (-5, top + 3.5), (-3, top + 9.0)]),
                INF,
                s=(-INF, -3),
                t=band,
            ),
            layer(
                bone_b,
                L.BONE,
                along_s([(13, top + 9.0), (15, top + 3.5), (20, top + 2.4), (50, top + 2.6)]),
                INF,
                s=(13, INF),
                t=band,
            ),
            layer(
                name,
                L.LIGAMENT,
                along_s([(-7, top), (17, top + 0.3)]),
                along_s([(-7, top + 2.0), (17, top + 2.3)]),
                s=(-7, 17),
                t=(t0 - 8.0, t0 + 8.0),
            ),
        ]
    return items


def _plantar() -> Items:
    """Plantar heel (t 340..400): the thick heel fat pad, the plantar fascia (< 4 mm, clinical.md 3.2)
    arising from the calcaneal tuberosity and running distally."""
    heel = (340.0, 400.0)
    calcaneus = along_s([(-40, 14.0), (0, 12.5), (8, 13.5), (14, 18.0)])
    return [
        layer("heel fat pad", L.FAT, 2.0, 9.0, t=heel),
        layer("calcaneus (plantar tuberosity)", L.BONE, calcaneus, INF, s=(-INF, 14), t=heel),
        layer(
            "plantar fascia",
            L.LIGAMENT,
            along_s([(-2, 9.0), (40, 9.3)]),
            along_s([(-2, 12.3), (8, 12.0), (40, 11.8)]),
            s=(-2, INF),
            t=(345, 395),
        ),
        layer(
            "flexor digitorum brevis muscle",
            L.MUSCLE,
            along_s([(12, 12.0), (40, 11.8)]),
            INF,
            s=(14, INF),
            t=heel,
        ),
    ]


SOURCES = (
    "clinical.md 1.6 (ESSR VI ankle: anterior, medial, lateral and posterior tendons, ligaments)",
    "clinical.md 3.2 (Achilles AP 5-6 mm, tibialis posterior 4-6 mm, ATFL ~15 mm, plantar fascia < 4 mm)",
    "clinical.md 2.4 (Achilles tendinosis: fusiform, hypoechoic, convex deep margin)",
)

SCENES = {
    "ankle": SceneSpec(
        "Ankle: Achilles, anterior, medial and peroneal tendons, lateral ligaments, plantar fascia",
        ankle,
        {
            "Achilles long axis": P(-30.0, 0.0),
            "Achilles short axis": P(-40.0, 0.0, 90.0),
            "anterior ankle long axis": P(0.0, 72.0),
            "anterior tendons short axis": P(-30.0, 80.0, 90.0),
            "medial tendons short axis": P(-20.0, -62.0, 90.0),
            "tibialis posterior long axis": P(-15.0, -76.0),
            "deltoid ligament coronal": P(10.0, -90.0),
            "peroneal tendons short axis": P(-20.0, 165.0, 90.0),
            "peroneal tendons long axis": P(-5.0, 165.0),
            "ATFL long axis": P(5.0, 215.0),
            "CFL long axis": P(5.0, 265.0),
            "AITFL long axis": P(5.0, 305.0),
            "plantar fascia long axis": P(12.0, 370.0),
        },
        25.0,
        variants("achilles_tendinosis"),
        {"achilles_tendinosis": "Achilles long axis"},
        SOURCES,
    ),
}
