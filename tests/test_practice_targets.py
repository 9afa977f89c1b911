"""Every practice target in the shipped library is a view the simulator has and shows the step's anatomy."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import build_scene, list_scenes, named_views
from protocols.model import PracticeTarget, ScanProtocol, Step
from protocols.runner import ChecklistRunner
from protocols.validation import load_library

PROTOCOLS, LOAD_ERRORS = load_library(views=named_views())
TARGETS: list[tuple[ScanProtocol, Step, PracticeTarget]] = [
    (p, s, s.practice) for p in PROTOCOLS for s in p.steps if s.practice is not None
]
SCENES = {info.scene_id: info for info in list_scenes()}
SMALL_FRAME = RenderParams(rows=128, cols=96)
_STOP_WORDS = {"a", "and", "at", "if", "of", "or", "the", "to"}


def _variant(target: PracticeTarget) -> str | None:
    """The simulator's variant argument: "normal" in a protocol file means no pathology."""
    return None if target.variant == "normal" else target.variant


def _name_forms(name: str) -> list[frozenset[str]]:
    """Word sets a structure name can be recognised by: the name without brackets, and each bracket.

    So "extensor carpi radialis longus (ECRL)" matches the simulator's "ECRL tendon (compartment II)",
    and "femoral vein (proximal)" matches "femoral vein". Plural s is dropped, small words ignored.
    """
    parts = [re.sub(r"\(.*?\)", " ", name), *re.findall(r"\((.*?)\)", name)]
    forms = []
    for part in parts:
        words = frozenset(w.rstrip("s") for w in re.findall(r"[a-z]+", part.lower())) - _STOP_WORDS
        if words:
            forms.append(words)
    return forms


def _same_structure(a: str, b: str) -> bool:
    return any(x <= y or y <= x for x in _name_forms(a) for y in _name_forms(b))


def _render_in_view(target: PracticeTarget) -> tuple[str, ...]:
    renderer = PatientRenderer(target.scene, _variant(target))
    renderer.set_pose(ProbePose(**target.pose))
    frame = renderer.render(replace(SMALL_FRAME, depth_mm=SCENES[target.scene].depth_mm), 0.0)
    return frame.structures_in_view


def _ids() -> list[str]:
    return [f"{p.id}/{s.id}" for p, s, _ in TARGETS]


def test_the_library_loads_and_has_practice_targets() -> None:
    assert LOAD_ERRORS == []
    assert len(TARGETS) >= 20


@pytest.mark.parametrize(("protocol", "step", "target"), TARGETS, ids=_ids())
def test_scene_and_variant_exist(protocol: ScanProtocol, step: Step, target: PracticeTarget) -> None:
    assert target.scene in SCENES, f"{protocol.id}/{step.id}: unknown scene {target.scene!r}"
    variant = _variant(target)
    assert variant is None or variant in SCENES[target.scene].variants, (
        f"{protocol.id}/{step.id}: scene {target.scene!r} has no variant {variant!r}; "
        f"it has {sorted(SCENES[target.scene].variants)}"
    )
    build_scene(target.scene, variant)  # raises on a mismatch the catalogue did not list


@pytest.mark.parametrize(("protocol", "step", "target"), TARGETS, ids=_ids())
def test_target_is_the_named_view_and_only_that_view(
    protocol: ScanProtocol, step: Step, target: PracticeTarget
) -> None:
    views = build_scene(target.scene, _variant(target)).views
    assert target.view in views, f"{protocol.id}/{step.id}: view {target.view!r} not in {list(views)}"
    # The runner is the judge the learner meets: standing exactly at a view, is the step credited?
    runner = ChecklistRunner(protocol, side="right", practice=True, clock=lambda: 0.0)
    runner.go_to([s.id for s in runner.steps].index(step.id))
    credited = [
        name
        for name, pose in views.items()
        if runner.check_practice_view(
            target.scene,
            {"position_mm": pose.position_mm, "lateral_mm": pose.lateral_mm}
            | {"rotation_deg": pose.rotation_deg, "tilt_deg": pose.tilt_deg},
        )
    ]
    assert credited == [target.view], f"{protocol.id}/{step.id}: views within tolerance: {credited}"


@pytest.mark.parametrize(("protocol", "step", "target"), TARGETS, ids=_ids())
def test_target_pose_shows_the_steps_anatomy(
    protocol: ScanProtocol, step: Step, target: PracticeTarget
) -> None:
    in_view = _render_in_view(target)
    assert in_view, f"{protocol.id}/{step.id}: nothing in view"
    listed = [name for name in in_view if any(_same_structure(name, s) for s in step.structures)]
    normal_names = {st.name for st in build_scene(target.scene).structures}
    pathology = [name for name in in_view if name not in normal_names]
    if _variant(target) is not None:
        assert pathology, f"{protocol.id}/{step.id}: variant {target.variant!r} not in view: {in_view}"
    # Area-of-pain steps list generic tissues; for them the variant's pathology is the anatomy to find.
    assert listed or pathology, (
        f"{protocol.id}/{step.id}: none of {list(step.structures)} in view; the simulator shows {in_view}"
    )


def test_name_matching_is_neither_blind_nor_loose() -> None:
    assert _same_structure("extensor carpi radialis longus (ECRL)", "ECRL tendon (compartment II)")
    assert _same_structure("femoral vein (proximal)", "femoral vein")
    assert _same_structure("medial gastrocnemius head", "medial head of gastrocnemius")
    assert not _same_structure("patellar tendon", "quadriceps tendon")
    assert not _same_structure("popliteal vein", "common femoral vein")
