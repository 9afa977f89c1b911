"""The catalogue of virtual patients: every region's scenes in one table, and what a UI asks of it.

The scenes themselves are data in `drivers/sim/regions/` (QA phantom, six joints, finger and first MTP,
the leg and arm DVT paths, with their pathology variants); this module gathers them, lists them, and
builds one for the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.sim.anatomy import Scene, SceneSpec
from drivers.sim.pose import ProbePose
from drivers.sim.regions import (
    ankle,
    arm_veins,
    chest_wall,
    elbow,
    foot,
    hand,
    hip,
    knee,
    leg_veins,
    lower_leg,
    phantom,
    shoulder,
    trauma,
    wrist,
)

# Each region module adds its own scenes (one module per body region); an id two of them used would
# keep only the later one, so tests check that their counts add up.
REGIONS = (
    *(phantom, shoulder, elbow, wrist, hand, hip, knee, ankle, foot, leg_veins, arm_veins),
    *(lower_leg, chest_wall, trauma),
)
SCENES: dict[str, SceneSpec] = {k: spec for region in REGIONS for k, spec in region.SCENES.items()}


@dataclass(frozen=True, slots=True)
class SceneInfo:
    """What `list_scenes` tells a UI: the scene id and title, and its variants (id -> title)."""

    scene_id: str
    title: str
    variants: dict[str, str]
    views: tuple[str, ...]
    depth_mm: float


def list_scenes() -> list[SceneInfo]:
    """Every scene id with its title, supported variants, named views and suggested depth."""
    return [SceneInfo(k, v.title, dict(v.variants), tuple(v.views), v.depth_mm) for k, v in SCENES.items()]


def named_views() -> dict[str, dict[str, dict[str, float]]]:
    """Scene id -> view name -> probe pose fields: the views a protocol's practice target may name.

    Plain data, so the composition root can hand it to protocol validation without the protocols
    importing the simulator; the poses stay owned here.
    """
    return {k: {name: pose.to_dict() for name, pose in v.views.items()} for k, v in SCENES.items()}


def _views_for(spec: SceneSpec, variant: str | None) -> dict[str, ProbePose]:
    first = spec.variant_views.get(variant or "")
    if first is None:
        return dict(spec.views)
    return {first: spec.views[first], **{k: v for k, v in spec.views.items() if k != first}}


def build_scene(scene_id: str, variant: str | None = None) -> Scene:
    """The scene `scene_id` with pathology `variant` switched on (None = normal)."""
    spec = SCENES.get(scene_id)
    if spec is None:
        raise ValueError(f"unknown scene {scene_id!r}; known scenes: {', '.join(SCENES)}")
    if variant is not None and variant not in spec.variants:
        known = ", ".join(spec.variants) or "none"
        raise ValueError(f"scene {scene_id!r} has no variant {variant!r}; its variants: {known}")
    return Scene(
        scene_id,
        spec.title,
        tuple(spec.build(variant)),
        _views_for(spec, variant),
        spec.depth_mm,
        variant,
        spec.variants.get(variant) if variant else None,
    )
