"""SimulatorControl: what the UI may ask of a simulated patient and its virtual probe (no Qt, no driver).

The simulator panel and the exam's practice mode depend on this interface only; the composition root
(main.py) hands them the concrete one (`drivers.sim.control.SimulatorControl`) when the probe is simulated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ViewTruth:
    """What the image plane shows at a pose, from the simulator's ground truth (not read off pixels)."""

    scene_id: str
    structures_in_view: frozenset[str]
    vessels_in_view: frozenset[str]  # veins and arteries the plane cuts
    compressed_vessels: frozenset[str]  # vessels in view whose lumen the probe presses (not fully open)


class SimulatorControl(Protocol):
    """Scene, variant and virtual-probe pose of a simulated patient, its ground truth and its cable."""

    def list_scenes(self) -> list[tuple[str, str, list[str]]]:
        """(scene id, title, variant ids) for every scene."""
        ...

    def variant_titles(self, scene_id: str) -> dict[str, str]:
        """Variant id -> the title a person reads ("Baker's cyst" for `bakers_cyst`)."""
        ...

    def current_scene(self) -> tuple[str, str | None]:
        """(scene id, variant id or None) now shown."""
        ...

    def set_scene(self, scene_id: str, variant: str | None) -> None: ...

    def get_pose(self) -> dict[str, float]:
        """position_mm, lateral_mm, rotation_deg, tilt_deg, pressure (0..1)."""
        ...

    def set_pose(self, **changes: float) -> None: ...

    def view_truth(self, pose: Mapping[str, float] | None = None) -> ViewTruth:
        """What the current scene shows at `pose` (the probe's pose now when None)."""
        ...

    def manoeuvres(self) -> tuple[str, ...]:
        """What the simulated patient can do for a Doppler study ("augmentation": a calf squeeze,
        "valsalva": begin straining, "release"); empty when this simulated probe makes no Doppler."""
        ...

    def perform(self, manoeuvre: str) -> None:
        """The patient does `manoeuvre` now (ValueError for one it cannot do)."""
        ...

    def straining(self) -> bool:
        """Whether the patient holds a Valsalva now."""
        ...

    def cable_plugged(self) -> bool | None:
        """Whether the simulated probe's cable is in; None when this probe has no cable to pull."""
        ...

    def set_cable_plugged(self, plugged: bool) -> None:
        """Pull the cable (the window sees a disconnect) or plug it back in (a freshly powered probe)."""
        ...
