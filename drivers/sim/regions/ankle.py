"""Ankle: Achilles tendon, Kager fat pad and retrocalcaneal bursa (posterior); anterior tendons."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, offset, skin_and_fat, st
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Ellipsoid, along_s, tube


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
    ]
    return items


SOURCES = (
    "clinical.md 1.6 (ESSR VI ankle: anterior, medial, lateral and posterior tendons, ligaments)",
    "clinical.md 3.2 (Achilles AP 5-6 mm, tibialis posterior 4-6 mm, ATFL ~15 mm, plantar fascia < 4 mm)",
    "clinical.md 2.4 (Achilles tendinosis: fusiform, hypoechoic, convex deep margin)",
)

SCENES = {
    "ankle": SceneSpec(
        "Ankle: Achilles tendon, Kager fat pad, anterior tendons",
        ankle,
        {
            "Achilles long axis": P(-30.0, 0.0),
            "Achilles short axis": P(-40.0, 0.0, 90.0),
            "anterior ankle long axis": P(0.0, 72.0),
        },
        25.0,
        variants("achilles_tendinosis"),
        {"achilles_tendinosis": "Achilles long axis"},
        SOURCES,
    ),
}
