"""Anterior leg: tibialis anterior under the crural fascia, beside the tibia; a muscle herniation.

s along the leg (proximal to distal; the scene's site at s = 0, mid-shin), t across it (0 = over the
tibialis anterior, t > 0 towards the tibia's subcutaneous surface, t < 0 towards the extensor
digitorum longus). Skin, thin fat, the crural (deep) fascia as a bright line over the muscle, the
tibia's lateral surface sloping down to the interosseous membrane, the anterior tibial vessels and
deep peroneal nerve on it. clinical.md 1.6 (anterior compartment: tibialis anterior, EDL, anterior
tibial artery, deep peroneal nerve), 3.1 (fascia a thin hyperechoic line; muscle pennate in long
axis, starry sky in short axis). Sizes typical adult [DK]: fat 3-5 mm, fascia ~0.6 mm, the muscle
~2 cm deep to the membrane.

Muscle herniation [DK]: a focal defect in the fascia (~1 cm) with the muscle bulging through it
into the fat; the bulge grows on contraction and reduces at rest. The simulator shows it as it
looks during contraction (static: the B-mode does not model contraction).
"""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, rounded, skin_and_fat, st, vein
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Ellipsoid, across_t, tube

FASCIA = "crural fascia (muscle fascia)"
DEFECT_S = (-5.0, 5.0)  # the fascial defect, mm along the leg ...
DEFECT_T = (-5.0, 5.0)  # ... and across it


def anterior_leg(variant: str | None) -> Items:
    hernia = variant == "muscle_hernia"
    tibia = across_t([(8.0, 24.0), (16.0, 16.0), (24.0, 8.0), (40.0, 6.0)])
    items = skin_and_fat(5.0, deep="tibialis anterior muscle")
    items += [
        layer("extensor digitorum longus muscle", L.MUSCLE, 5.6, 24.0, t=(-INF, -13.0)),
        layer("intermuscular septum", L.FASCIA, 5.6, 22.5, t=(-13.6, -13.0)),
        layer("interosseous membrane", L.FASCIA, 24.0, 24.6, t=(-30.0, 10.0)),
        layer("tibia", L.BONE, tibia, INF, t=(8.0, INF)),
        *artery("anterior tibial artery", tube([(-150, -11.0, 22.0), (150, -10.0, 21.5)], 1.2, 1.2)),
        *vein("anterior tibial veins", tube([(-150, -15.0, 22.3), (150, -14.0, 21.8)], 1.1, 1.1)),
        *vein("anterior tibial veins", tube([(-150, -7.0, 22.3), (150, -6.0, 21.8)], 1.1, 1.1)),
        st("deep peroneal nerve", L.NERVE, tube([(-150, -18.5, 21.0), (150, -17.5, 20.5)], 1.2, 0.8)),
    ]
    if hernia:
        # The fascia with a hole: four pieces around the defect; the muscle domes through it.
        (s0, s1), (t0, t1) = DEFECT_S, DEFECT_T
        items += [
            layer(FASCIA, L.FASCIA, 5.0, 5.6, s=(-INF, s0), t=(-INF, INF)),
            layer(FASCIA, L.FASCIA, 5.0, 5.6, s=(s1, INF), t=(-INF, INF)),
            layer(FASCIA, L.FASCIA, 5.0, 5.6, s=(s0, s1), t=(-INF, t0)),
            layer(FASCIA, L.FASCIA, 5.0, 5.6, s=(s0, s1), t=(t1, INF)),
            st(
                "herniated tibialis anterior muscle (through the fascial defect)",
                L.MUSCLE,
                Ellipsoid((0.0, 0.0, 5.2), (6.0, 6.0, 2.8)),
            ),
        ]
    else:
        items.append(layer(FASCIA, L.FASCIA, 5.0, 5.6))
    return rounded(items, {"intermuscular septum": 2.0})


SCENES = {
    "anterior_leg": SceneSpec(
        "Anterior leg: tibialis anterior under the crural fascia",
        anterior_leg,
        {
            "tibialis anterior long axis": P(0.0, 0.0),
            "tibialis anterior short axis": P(0.0, 0.0, 90.0),
        },
        30.0,
        variants("muscle_hernia"),
        {"muscle_hernia": "tibialis anterior long axis"},
        (
            "clinical.md 1.6 (anterior compartment: tibialis anterior, anterior tibial artery, deep "
            "peroneal nerve)",
            "clinical.md 3.1 (fascia thin hyperechoic line; muscle pennate / starry sky)",
            "clinical.md 1 (dynamic images: contraction); muscle herniation [DK]",
        ),
    ),
}
