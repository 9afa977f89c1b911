"""SimulatorControl: the simulator panel's handle on the virtual patient (scene, variant, probe pose)."""

from __future__ import annotations

from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.scenes import list_scenes


class SimulatorControl:
    """Scene and pose control of an in-process simulated probe; the composition root hands it to the UI.

    A simulated probe in another process is driven the same way through the PLP extension commands
    SIM_SET_SCENE and SIM_SET_POSE (`drivers/sim/firmware.py`).
    """

    def __init__(self, renderer: PatientRenderer) -> None:
        self._renderer = renderer

    def list_scenes(self) -> list[tuple[str, str, list[str]]]:
        """(scene id, title, variant ids) for every scene."""
        return [(s.scene_id, s.title, list(s.variants)) for s in list_scenes()]

    def current_scene(self) -> tuple[str, str | None]:
        s = self._renderer.scene
        return s.scene_id, s.variant

    def set_scene(self, scene_id: str, variant: str | None) -> None:
        self._renderer.set_scene(scene_id, variant or None)

    def get_pose(self) -> dict[str, float]:
        """position_mm, lateral_mm, rotation_deg (-180..180), tilt_deg, pressure (0..1)."""
        pose = self._renderer.pose.to_dict()
        pose["rotation_deg"] = (pose["rotation_deg"] + 180.0) % 360.0 - 180.0
        return pose

    def set_pose(self, **changes: float) -> None:
        """Change the named pose fields; the others stay. Out-of-range tilt or pressure is clamped."""
        pose = self._renderer.pose
        deltas = {k: v - getattr(pose, k) for k, v in changes.items() if k in ProbePose.__dataclass_fields__}
        unknown = set(changes) - set(deltas)
        if unknown:
            raise ValueError(f"unknown pose field(s) {sorted(unknown)}")
        self._renderer.set_pose(pose.nudged(**deltas))
