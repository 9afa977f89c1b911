"""Frame: one image from a probe, as a frozen value with its calibration and the settings it was made with."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


class DataFormat(enum.IntEnum):
    """PLP/1 frame data formats (spec section 3)."""

    BMODE_U8 = 1
    ENVELOPE_U16 = 2
    RF_I16 = 3

    @property
    def dtype(self) -> np.dtype[np.generic]:
        return np.dtype({1: np.uint8, 2: np.uint16, 3: np.int16}[int(self)]).newbyteorder("<")


class Geometry(enum.IntEnum):
    """Array geometry (spec section 3)."""

    LINEAR = 0
    CONVEX = 1


@dataclass(frozen=True, slots=True)
class BeamGeometry:
    """Where a frame's lines lie in the body, as the FRAME header gives it (spec sections 3 and 10).

    Linear: the columns span `width_mm` side by side. Convex: the lines fan out over
    `field_of_view_deg` from an apex `radius_mm` behind the centre of the array face.
    """

    geometry: Geometry = Geometry.LINEAR
    width_mm: float = 0.0  # linear: lateral extent of the columns; BMODE_U8: width of the image
    field_of_view_deg: float = 0.0  # convex ENVELOPE/RF: angle spanned by the lines; otherwise 0
    radius_mm: float = 0.0  # convex: radius of curvature of the array; linear 0
    sampling_mhz: float = 0.0  # RF: sampling rate; otherwise 0
    # Positive steers toward the last column. PLP/1 B-mode frames are unsteered (0); Doppler IQ
    # packets carry their angle (spec section 10).
    steering_deg: float = 0.0

    @property
    def apex_mm(self) -> tuple[float, float] | None:
        """(axial, lateral) mm of the point convex lines fan out from, from the centre of the array face.

        None for a linear array, whose lines are parallel.
        """
        if self.geometry != Geometry.CONVEX:
            return None
        return (-self.radius_mm, 0.0)


@dataclass(frozen=True, slots=True)
class ImagingSettings:
    """The imaging settings a frame was made with, as the probe applied them."""

    depth_mm: float
    gain_db: float
    frequency_mhz: float
    focus_mm: float
    dynamic_range_db: float
    settings_id: int = 0


@dataclass(frozen=True, slots=True)
class ProbeIdentity:
    """Who made a frame: enough to label a capture and tell probes apart."""

    vendor: str
    model: str
    serial: str
    firmware: str = ""


Matrix4 = tuple[tuple[float, float, float, float], ...]  # 4 x 4, row-major, mm


@dataclass(frozen=True, slots=True)
class FrameTracking:
    """Where a frame lies in space and when its sender made it, for sources that say (OpenIGTLink,
    recordings): the image's own pixel-to-world matrix and the tracker's transforms received with it."""

    image_to_world: Matrix4 | None = None  # (column, row, 0, 1) pixel index to mm, as the sender gave it
    # By name as the sender gives them, e.g. PLUS's "ProbeToReference"; the newest at the frame's arrival.
    transforms: tuple[tuple[str, Matrix4], ...] = ()
    sender_time_s: float | None = None  # the sender's own timestamp (s since 1970), beside host_time_ns

    def transform(self, name: str) -> Matrix4 | None:
        return next((m for n, m in self.transforms if n == name), None)


def as_matrix4(values: object) -> Matrix4:
    """A 4 x 4 of plain floats from anything numpy reads as one (ValueError otherwise)."""
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (4, 4) or not np.all(np.isfinite(array)):
        raise ValueError(f"expected a finite 4 x 4 matrix, got shape {array.shape}")
    rows = [(float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in array]
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame in the host: pixels (read-only), calibration in mm, timing, settings and probe.

    `pixels` rows run shallow to deep, columns in the probe's marker-to-far order. For display frames
    (BMODE_U8) the spacing is the size of one pixel; for ENVELOPE/RF beam data it is the sample
    spacing along the beam and the line spacing across.
    """

    seq: int
    device_time_us: int
    host_time_ns: int
    pixels: npt.NDArray[np.generic]
    spacing_mm: tuple[float, float]  # (axial, lateral) size of one pixel
    data_format: DataFormat
    settings: ImagingSettings
    probe: ProbeIdentity
    beam: BeamGeometry = BeamGeometry()
    # The format the probe sent, when host processing made this frame from it (beam data turned
    # into a display image); None when the frame is as the probe sent it.
    source_format: DataFormat | None = None
    # Where depth 0 (the skin: the array face on the centre line) lies, in mm below the top edge of
    # row 0. 0 when the top row is the skin (linear arrays, B-mode as the probe sent it); positive for
    # a scan-converted convex image, whose top row is the chord across the ends of the array. Every
    # depth read off the image (scale, focus, calipers, DICOM region) is y_mm - depth_origin_mm.
    depth_origin_mm: float = 0.0
    tracking: FrameTracking | None = None  # None for a probe that knows nothing of space (PLP/1)

    def __post_init__(self) -> None:
        _check_values(self)
        if self.pixels.flags.writeable:
            # Hand out read-only arrays: a frame is a value shared between threads.
            view = self.pixels.view()
            view.flags.writeable = False
            object.__setattr__(self, "pixels", view)

    @property
    def rows(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def cols(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height_mm(self) -> float:
        return self.rows * self.spacing_mm[0]

    @property
    def width_mm(self) -> float:
        return self.cols * self.spacing_mm[1]


def _check_values(frame: Frame) -> None:
    """Refuse a frame no probe can make: every later step (display, capture, DICOM) trusts its numbers.

    Spec 3 for every source, not only PLP: each float finite, depth and frequency positive.
    """
    s, b = frame.settings, frame.beam
    named = {
        "depth_mm": s.depth_mm,
        "gain_db": s.gain_db,
        "frequency_mhz": s.frequency_mhz,
        "focus_mm": s.focus_mm,
        "dynamic_range_db": s.dynamic_range_db,
        "spacing_mm[0]": frame.spacing_mm[0],
        "spacing_mm[1]": frame.spacing_mm[1],
        "beam.width_mm": b.width_mm,
        "beam.field_of_view_deg": b.field_of_view_deg,
        "beam.radius_mm": b.radius_mm,
        "beam.sampling_mhz": b.sampling_mhz,
        "beam.steering_deg": b.steering_deg,
    }
    for name, value in named.items():
        if not math.isfinite(value):
            raise ValueError(f"frame {frame.seq}: {name} is {value}, not a finite number")
    if s.depth_mm <= 0 or s.frequency_mhz <= 0:
        raise ValueError(
            f"frame {frame.seq}: depth {s.depth_mm} mm and frequency {s.frequency_mhz} MHz must be positive"
        )
