"""SimulatorControl: what the UI may ask of a simulated patient and its virtual probe (no Qt, no driver).

The simulator panel and the exam's practice mode depend on this interface only; the composition root
(main.py) hands them the concrete one (`drivers.sim.control.SimulatorControl`) when the probe is simulated.
"""

from __future__ import annotations

from typing import Protocol


class SimulatorControl(Protocol):
    """Scene, variant and virtual-probe pose of a simulated patient."""

    def list_scenes(self) -> list[tuple[str, str, list[str]]]:
        """(scene id, title, variant ids) for every scene."""
        ...

    def current_scene(self) -> tuple[str, str | None]:
        """(scene id, variant id or None) now shown."""
        ...

    def set_scene(self, scene_id: str, variant: str | None) -> None: ...

    def get_pose(self) -> dict[str, float]:
        """position_mm, lateral_mm, rotation_deg, tilt_deg, pressure (0..1)."""
        ...

    def set_pose(self, **changes: float) -> None: ...
