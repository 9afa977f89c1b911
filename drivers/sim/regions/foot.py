"""Foot: the first metatarsophalangeal joint, dorsal and medial, normal and in gout.

s along the first ray (proximal to distal; the joint line at s = 0), t across it (0 = dorsal midline,
positive towards the medial side, where the medial eminence and most tophi sit). The metatarsal head
is a convex arc in both planes, capped by a thin anechoic hyaline cartilage; the dorsal recess holds
a little fat under the extensor hallucis longus. Gout (clinical.md 2.4, double-contour sign and tophi;
3.1 hyaline cartilage): the double contour is an irregular hyperechoic band on the cartilage surface,
parallel to the cortex; a tophus is a hyperechoic aggregate with an anechoic rim; an effusion distends
the dorsal recess. Sizes: cartilage ~0.5-1 mm, recess < 2 mm when normal [DK].
"""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, offset, skin_and_fat, st
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Ellipsoid, along_s, constant, rounded_across, tube

HEAD_RADIUS_MM = 9.0  # across the ray: the head is about 18 mm wide


def first_mtp(variant: str | None) -> Items:
    # Dorsal profile along the ray: shaft, the head's dome, down into the joint, the phalanx base.
    head = rounded_across(
        along_s([(-40, 6.8), (-14, 6.4), (-7, 5.6), (-3, 6.0), (-0.8, 8.5)]), 0.0, HEAD_RADIUS_MM
    )
    phalanx = rounded_across(along_s([(0.8, 8.8), (3, 6.6), (8, 6.2), (40, 6.6)]), 0.0, 7.0)
    items = skin_and_fat(3.0, skin_mm=1.3, deep="dorsal interosseous / extensor hallucis brevis")
    items += [
        layer("first metatarsal head", L.BONE, head, INF, s=(-INF, -0.8), t=(-14, 30)),
        layer("proximal phalanx base", L.BONE, phalanx, INF, s=(0.8, INF), t=(-14, 30)),
        # In the joint's midline section the head curves under: the cleft closes a few mm down.
        layer(
            "first metatarsal head",
            L.BONE,
            rounded_across(constant(11.5), 0.0, HEAD_RADIUS_MM),
            INF,
            s=(-0.8, 0.8),
            t=(-14, 30),
        ),
        layer(
            "metatarsal head cartilage",
            L.CARTILAGE,
            offset(head, -0.8),
            head,
            s=(-12, -0.8),
            t=(-9, 9),
        ),
        layer(
            "dorsal recess fat",
            L.FAT,
            3.5,
            along_s([(-12, 5.6), (-4, 5.0), (0, 8.4), (3, 6.0)]),
            s=(-12, 3),
            t=(-6, 6),
        ),
        st("extensor hallucis longus tendon", L.TENDON, tube([(-60, 0, 2.6), (40, 0, 2.8)], 2.6, 0.9)),
        layer("joint capsule", L.LIGAMENT, 3.6, 4.1, s=(-10, 4), t=(-8, 8)),
        # Medial: the medial eminence under thin soft tissue, the medial collateral ligament.
        layer("medial collateral ligament", L.LIGAMENT, 2.6, 3.4, s=(-8, 6), t=(18, 30)),
    ]
    if variant == "effusion":
        items.append(
            layer(
                "dorsal recess (effusion)",
                L.FLUID,
                offset(head, -3.0),
                offset(head, -0.8),
                s=(-11, 1),
                t=(-6, 6),
            )
        )
    if variant == "gout_double_contour":
        items.append(
            layer(
                "urate on cartilage (double contour)",
                L.URATE,
                offset(head, -1.15),
                offset(head, -0.8),
                s=(-11, -1.5),
                t=(-8, 8),
            )
        )
    if variant == "gout_tophus":
        items += [
            st(
                "tophus rim (anechoic halo)",
                L.FLUID,
                Ellipsoid((-4.0, 22.0, 5.2), (4.8, 4.2, 2.6), wobble=0.12),
            ),
            st("tophus", L.URATE, Ellipsoid((-4.0, 22.0, 5.2), (4.0, 3.5, 2.0), wobble=0.2)),
        ]
    return items


SCENES = {
    "first_mtp": SceneSpec(
        "First metatarsophalangeal joint: dorsal recess, cartilage, gout",
        first_mtp,
        {
            "first MTP dorsal long axis": P(-4.0, 0.0),
            "first MTP dorsal short axis": P(-6.0, 0.0, 90.0),
            "first MTP medial long axis": P(-4.0, 22.0),
        },
        20.0,
        variants("effusion", "gout_double_contour", "gout_tophus"),
        {
            "effusion": "first MTP dorsal long axis",
            "gout_double_contour": "first MTP dorsal short axis",
            "gout_tophus": "first MTP medial long axis",
        },
        (
            "clinical.md 2.4 (gout: double contour over hyaline cartilage, tophi with an anechoic rim)",
            "clinical.md 3.1 (hyaline cartilage: anechoic band over a bright cortex)",
            "clinical.md 3.3 (fingers/small joints: 1.5-2.5 cm depth, high-frequency linear probe)",
        ),
    ),
}
