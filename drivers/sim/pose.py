"""Where the virtual probe sits on the virtual patient: a frozen pose value the UI or keyboard nudges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True, slots=True)
class ProbePose:
    """Probe pose on the unrolled skin of a limb.

    Patient coordinates: s_mm runs along the limb (proximal to distal), t_mm across it (arc length
    around the limb, the skin unrolled flat), depth below the skin. `rotation_deg` 0 puts the image
    plane along the limb (long axis), 90 across it (short axis). `tilt_deg` rocks the beam within the
    image plane (heel-toe). `pressure` is a fraction 0..1 of a firm compression (1 = what collapses a
    patent vein with margin; 0.6 is enough), not a force in newtons.
    """

    position_mm: float = 0.0
    lateral_mm: float = 0.0
    rotation_deg: float = 0.0
    tilt_deg: float = 0.0
    pressure: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.pressure <= 1.0:
            raise ValueError(f"ProbePose.pressure must be within 0..1, got {self.pressure}")
        if not -45.0 <= self.tilt_deg <= 45.0:
            raise ValueError(f"ProbePose.tilt_deg must be within -45..45 degrees, got {self.tilt_deg}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], base: ProbePose | None = None) -> ProbePose:
        """A pose from wire or UI values (the field names above), missing fields taken from `base`.

        Raises ValueError naming an unknown field or a value that is not a number.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown pose field(s) {unknown}; expected {sorted(known)}")
        start = asdict(base) if base is not None else {}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"pose field {key} must be a number, got {value!r}")
            start[key] = float(value)
        return cls(**start)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def nudged(
        self,
        position_mm: float = 0.0,
        lateral_mm: float = 0.0,
        rotation_deg: float = 0.0,
        tilt_deg: float = 0.0,
        pressure: float = 0.0,
    ) -> ProbePose:
        """A new pose moved by the given steps; tilt and pressure are clamped to their ranges."""
        return replace(
            self,
            position_mm=self.position_mm + position_mm,
            lateral_mm=self.lateral_mm + lateral_mm,
            rotation_deg=(self.rotation_deg + rotation_deg) % 360.0,
            tilt_deg=min(45.0, max(-45.0, self.tilt_deg + tilt_deg)),
            pressure=min(1.0, max(0.0, self.pressure + pressure)),
        )
