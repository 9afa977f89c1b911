"""The QA phantom: tissue-mimicking speckle, anechoic cysts and wire targets."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, st
from drivers.sim.shapes import INF, CrossTube

PHANTOM_CYSTS = (
    (-9.0, 12.0, 2.0),
    (-2.0, 12.0, 4.0),
    (8.0, 12.0, 6.0),
    (-6.0, 25.0, 6.0),
    (7.0, 25.0, 8.0),
    (0.0, 38.0, 6.0),
    (11.0, 38.0, 3.0),
)  # (s, depth, diameter) mm
PHANTOM_WIRES = tuple((-15.0, float(d)) for d in range(5, 50, 5)) + tuple(
    (float(s), 32.0) for s in (-10, -5, 0, 5, 10)
)


def qa_phantom(variant: str | None) -> Items:
    items = [layer("tissue-mimicking background", L.PHANTOM, 0.0, INF)]
    for s, d, dia in PHANTOM_CYSTS:
        items.append(st(f"anechoic cyst {dia:g} mm at {d:g} mm", L.FLUID, CrossTube(s, d, dia / 2.0)))
    for s, d in PHANTOM_WIRES:
        items.append(st(f"wire target s={s:g} d={d:g} mm", L.WIRE, CrossTube(s, d, 0.05), point_target=True))
    return items


SCENES = {
    "qa_phantom": SceneSpec(
        "QA phantom: speckle, anechoic cysts, wire targets",
        qa_phantom,
        {"cysts and wires": P(0.0, 0.0)},
        50.0,
        {},
        {},
        ("simulation.md (convolution model; speckle, cyst contrast and wire targets for the physics tests)",),
    ),
}
