"""Every simulator scene has its body-marker pictogram, or is listed as one no pictogram draws."""

from __future__ import annotations

from drivers.sim.scenes import list_scenes
from scanner_app.annotations import BODY_MARKERS, BodyMarker
from ui.sim_panel import BODY_MARKER_BY_SCENE, NO_BODY_MARKER, body_marker_for


def test_each_scene_draws_its_own_region_not_the_one_before() -> None:
    scenes = {info.scene_id for info in list_scenes()}
    assert scenes - NO_BODY_MARKER == set(BODY_MARKER_BY_SCENE)  # a new scene must choose
    assert set(BODY_MARKER_BY_SCENE.values()) <= set(BODY_MARKERS)
    before = BodyMarker("DVT groin / thigh", "L", 0.5, 0.0)  # left from a DVT exam
    assert body_marker_for("foreign_body", {}, before).region == "Wrist / hand"
    assert body_marker_for("first_mtp", {}, before).region == "Ankle / foot"
