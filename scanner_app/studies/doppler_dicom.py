"""Doppler captures as DICOM pixels and US regions: the B-mode grey with colour (or power) inside the box
as RGB, the spectrum strip below it for duplex, and one calibrated region per area (PS3.3 C.8.5.5), so
a PACS viewer measures millimetres in the image and cm/s and seconds in the spectrum."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from scanner_app.doppler_pipeline import FlowOverlay
from scanner_app.doppler_processing import FlowBox, FlowFrame, color_write_mask, power_doppler_levels
from scanner_app.frame import Frame, Geometry
from scanner_app.spectral import SpectrumLine
from scanner_app.studies.model import StudyCaptureError

# Region Data Type (PS3.3 C.8.5.5.1.2), Region Spatial Format (C.8.5.5.1.1) and Physical Units
# (C.8.5.5.1.15) values used here.
REGION_TISSUE = 0x0001
REGION_COLOR_FLOW = 0x0002
REGION_PW_SPECTRAL = 0x0003
SPATIAL_2D = 0x0001
SPATIAL_SPECTRAL = 0x0003
UNITS_CM = 0x0003
UNITS_SECONDS = 0x0004
UNITS_CM_S = 0x0007
# Region Flags bit 0: 1 = low priority. The tissue region lies under the colour box; the box wins.
FLAG_LOW_PRIORITY = 0x0001

# Colour written only where the echo is no brighter than this (the display's colour-write priority).
COLOR_PRIORITY_LEVEL = 200
SPECTRUM_DYNAMIC_RANGE_DB = 40.0
POWER_DYNAMIC_RANGE_DB = 30.0
SPECTRUM_GAP_ROWS = 4  # black rows between the image and the spectrum strip
COLOUR_BAR_GAP_COLS = 3  # black columns between the image and the colour bar
COLOUR_BAR_COLS = 8

RgbArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DopplerImage:
    """A composed Doppler image: RGB pixels (rows, cols, 3) and its US regions, in image order."""

    rgb: RgbArray
    regions: tuple[Dataset, ...]


class BoxGrid(Protocol):
    """A colour box's estimate grid: a `FlowFrame`, or the `FlowOverlay` the display drew of one."""

    @property
    def box(self) -> FlowBox: ...

    @property
    def lines(self) -> int: ...

    @property
    def samples(self) -> int: ...


def box_indices(
    bmode: Frame, flow: BoxGrid
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """For each B-mode pixel: the flow line and sample that lie under it (nearest), and whether the
    pixel is inside the box. A linear box is the rectangle the display draws, steered or not: its
    samples lie at their lines' lateral positions at every depth (the probe samples them there, spec
    10; the steer only sets the beam's angle to the flow). Convex boxes are sectors."""
    axial_mm, lateral_mm = bmode.spacing_mm
    rows, cols = np.mgrid[0 : bmode.rows, 0 : bmode.cols]
    y_mm = rows * axial_mm - bmode.depth_origin_mm  # depth below the skin on the centre line
    x_mm = cols * lateral_mm
    box = flow.box
    if box.geometry is Geometry.CONVEX:
        radius = bmode.beam.radius_mm
        dx = x_mm - bmode.cols * lateral_mm / 2.0
        dy = y_mm + radius
        along = np.hypot(dx, dy) - radius  # depth along the line
        across = np.degrees(np.arctan2(dx, dy))  # the line's angle from the centre line
    else:
        # Not shifted by depth x tan(steer): that moved the colour off the flow it was measured on
        # (newcomer 7: a +20 degree box stored from 44 % of the width to the edge, over tissue).
        along, across = y_mm, x_mm
    line_step = (box.right - box.left) / max(flow.lines - 1, 1)
    sample_step = (box.bottom_mm - box.top_mm) / max(flow.samples - 1, 1)
    line = np.rint((across - box.left) / line_step).astype(np.intp)
    sample = np.rint((along - box.top_mm) / sample_step).astype(np.intp)
    # Inside is within the box's own edges (first to last line, top to bottom sample), not half a
    # line beyond: the region must be the box the operator placed.
    eps = 1e-6
    lo, hi = sorted((box.left, box.right))
    inside = (
        (across >= lo - eps)
        & (across <= hi + eps)
        & (along >= box.top_mm - eps)
        & (along <= box.bottom_mm + eps)
    )
    return np.clip(line, 0, flow.lines - 1), np.clip(sample, 0, flow.samples - 1), inside


def flow_rgb(
    bmode: Frame, flow: FlowFrame | FlowOverlay, *, power: bool = False
) -> tuple[RgbArray, npt.NDArray[np.bool_]]:
    """The B-mode in grey with the flow painted inside the box: red toward the probe, blue away
    (brighter with speed), or power Doppler in orange; a `FlowOverlay` is painted exactly as the
    display drew it (its colours, where it was opaque). Returns (rgb, inside-the-box mask)."""
    grey = np.asarray(bmode.pixels, dtype=np.uint8)
    rgb = np.repeat(grey[:, :, np.newaxis], 3, axis=2)
    line, sample, inside = box_indices(bmode, flow)
    if isinstance(flow, FlowOverlay):
        drawn = flow.rgba[sample, line]  # rows of the overlay are depth samples, columns lines
        write = (drawn[..., 3] > 0) & inside
        rgb[write] = drawn[..., :3][write]
        return rgb, inside
    if power:
        # The weakest shown power is the threshold the display used: the scale starts there.
        shown_db = flow.power_db[flow.power_valid]
        threshold_db = float(shown_db.min()) if shown_db.size else 0.0
        level = power_doppler_levels(flow, threshold_db, POWER_DYNAMIC_RANGE_DB)[line, sample]
        shown = flow.power_valid[line, sample] & inside
        colour = np.stack([255 * np.ones_like(level), 80 + 175 * level, 40 * level], axis=-1)
    else:
        velocity = flow.velocity_cm_s[line, sample]
        shown = flow.valid[line, sample] & inside
        speed = np.clip(np.abs(velocity) / flow.nyquist_cm_s, 0.0, 1.0)
        bright = 90 + 165 * speed
        toward = velocity >= 0
        colour = np.stack([np.where(toward, bright, 0), 40 * speed, np.where(toward, 0, bright)], axis=-1)
    write = color_write_mask(shown, grey, COLOR_PRIORITY_LEVEL)
    rgb[write] = colour[write].astype(np.uint8)
    return rgb, inside


@dataclass(frozen=True, slots=True)
class SpectrumStrip:
    """The spectrum as a grey strip, one column per spectral line (oldest left), velocity up; with
    its scales: seconds per column, cm/s per row (positive, upward) and the zero-velocity row."""

    pixels: npt.NDArray[np.uint8]
    seconds_per_column: float
    cm_s_per_row: float
    baseline_row: int  # from the strip's top
    baseline_cm_s: float  # the velocity of `baseline_row` (0 up to the bin spacing's rounding)
    angle_deg: float | None = None  # the angle correction the velocities carry


def spectrum_strip(lines: Sequence[SpectrumLine], max_columns: int) -> SpectrumStrip:
    """The newest `max_columns` lines as a strip; lines must share one velocity axis (one setting)."""
    if not lines:
        raise StudyCaptureError("a spectral capture needs at least one spectral line")
    lines = list(lines)[-max_columns:]
    axis = lines[-1].velocity_cm_s
    if any(
        line.velocity_cm_s.shape != axis.shape or not np.allclose(line.velocity_cm_s, axis) for line in lines
    ):
        raise StudyCaptureError("the spectral lines change scale: capture lines of one setting only")
    if axis.size < 2 or not np.all(np.diff(axis) > 0):
        raise StudyCaptureError("the spectrum's velocity axis must ascend over at least two bins")
    power = np.stack([line.power_db for line in lines], axis=1)[::-1]  # rows top-down: fastest up
    top = float(np.max(power))
    level = np.clip((power - (top - SPECTRUM_DYNAMIC_RANGE_DB)) / SPECTRUM_DYNAMIC_RANGE_DB, 0.0, 1.0)
    times = np.array([line.time_s for line in lines])
    seconds = float(np.median(np.diff(times))) if len(lines) > 1 else 0.0
    if not seconds > 0:
        raise StudyCaptureError("the spectral lines need increasing times to give the strip a time scale")
    step = float(axis[1] - axis[0])
    zero_bin = int(np.argmin(np.abs(axis)))  # the bin nearest zero velocity
    baseline_row = axis.size - 1 - zero_bin
    return SpectrumStrip(
        (level * 255).astype(np.uint8),
        seconds,
        step,
        baseline_row,
        float(axis[zero_bin]),
        float(lines[-1].angle_deg),
    )


def tissue_region(bmode: Frame, *, low_priority: bool) -> Dataset:
    """The B-mode area, calibrated in cm (the reference pixel at the skin row, marker end)."""
    axial_mm = bmode.spacing_mm[0]
    skin_row = round(bmode.depth_origin_mm / axial_mm)
    region = _area(REGION_TISSUE, SPATIAL_2D, (0, 0, bmode.cols - 1, bmode.rows - 1))
    region.RegionFlags = FLAG_LOW_PRIORITY if low_priority else 0
    _calibrate_cm(
        region, bmode, x_ref=0, y_ref=skin_row, y_value_cm=(skin_row * axial_mm - bmode.depth_origin_mm) / 10
    )
    region.TransducerFrequency = round(bmode.settings.frequency_mhz * 1000)  # kHz
    return region


def color_flow_region(
    bmode: Frame, inside: npt.NDArray[np.bool_], f0_mhz: float, prf_hz: float | None = None
) -> Dataset:
    """The colour box's bounding rectangle, in the B-mode's calibration (its physical values continue
    the tissue region's, so a point has the same mm in both)."""
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        raise StudyCaptureError("the colour box lies outside the image")
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])
    axial_mm, lateral_mm = bmode.spacing_mm
    region = _area(REGION_COLOR_FLOW, SPATIAL_2D, (x0, y0, x1, y1))
    region.RegionFlags = 0  # high priority: the box lies over the tissue region
    # Reference pixel: the region's top-left, whose physical position is its offset in the image.
    _calibrate_cm(
        region,
        bmode,
        x_ref=0,
        y_ref=0,
        x_value_cm=x0 * lateral_mm / 10,
        y_value_cm=(y0 * axial_mm - bmode.depth_origin_mm) / 10,
    )
    region.TransducerFrequency = round(f0_mhz * 1000)
    if prf_hz is not None:
        region.PulseRepetitionFrequency = round(prf_hz)  # with the frequency, it gives the scale
    return region


def spectral_region(strip: SpectrumStrip, top_row: int, f0_mhz: float) -> Dataset:
    """The spectrum strip: x in seconds from its first column, y in cm/s (PhysicalDeltaY is negative:
    velocity rises as the row number falls), reference pixel on the baseline."""
    rows, cols = strip.pixels.shape
    region = _area(REGION_PW_SPECTRAL, SPATIAL_SPECTRAL, (0, top_row, cols - 1, top_row + rows - 1))
    region.RegionFlags = 0  # bit 2 = 0: the scale is velocity, not frequency
    region.PhysicalUnitsXDirection = UNITS_SECONDS
    region.PhysicalUnitsYDirection = UNITS_CM_S
    region.PhysicalDeltaX = strip.seconds_per_column
    region.PhysicalDeltaY = -strip.cm_s_per_row
    region.ReferencePixelX0 = 0
    region.ReferencePixelY0 = strip.baseline_row  # relative to the region's top-left
    region.ReferencePixelPhysicalValueX = 0.0
    region.ReferencePixelPhysicalValueY = strip.baseline_cm_s
    region.TransducerFrequency = round(f0_mhz * 1000)
    if strip.angle_deg is not None:
        region.DopplerCorrectionAngle = strip.angle_deg  # the velocities are corrected by it
    return region


def add_colour_bar(rgb: RgbArray, inside: npt.NDArray[np.bool_], bar: RgbArray) -> RgbArray:
    """The image widened by a black margin holding the colour bar (`bar`, (n, 1, 3), top to bottom)
    beside the box's rows, as on the screen; outside every region, so it measures nothing."""
    rows = np.flatnonzero(inside.any(axis=1))
    canvas = np.zeros((rgb.shape[0], rgb.shape[1] + COLOUR_BAR_GAP_COLS + COLOUR_BAR_COLS, 3), np.uint8)
    canvas[:, : rgb.shape[1]] = rgb
    if rows.size:
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        index = np.linspace(0, bar.shape[0] - 1, bottom - top).round().astype(np.intp)
        canvas[top:bottom, rgb.shape[1] + COLOUR_BAR_GAP_COLS :] = bar[index, :1]
    return canvas


def compose_doppler_still(
    bmode: Frame,
    flow: FlowFrame | FlowOverlay | None,
    spectrum: Sequence[SpectrumLine] | None,
    *,
    power: bool = False,
    f0_mhz: float | None = None,
    bar: RgbArray | None = None,
) -> DopplerImage:
    """The RGB image and regions of a Doppler still: B-mode (+ colour in the box, and `bar`, the
    colour bar, beside it) above, and for duplex the spectrum strip below, as wide as the image at most."""
    if flow is not None:
        rgb, inside = flow_rgb(bmode, flow, power=power)
        regions = [
            tissue_region(bmode, low_priority=True),
            color_flow_region(bmode, inside, flow.f0_mhz, flow.prf_hz),
        ]
        if bar is not None:
            rgb = add_colour_bar(rgb, inside, bar)
    else:
        grey = np.asarray(bmode.pixels, dtype=np.uint8)
        rgb = np.repeat(grey[:, :, np.newaxis], 3, axis=2)
        regions = [tissue_region(bmode, low_priority=False)]
    if spectrum:
        strip = spectrum_strip(spectrum, bmode.cols)
        top = bmode.rows + SPECTRUM_GAP_ROWS
        canvas = np.zeros((top + strip.pixels.shape[0], rgb.shape[1], 3), dtype=np.uint8)
        canvas[: bmode.rows] = rgb
        canvas[top:, : strip.pixels.shape[1]] = strip.pixels[:, :, np.newaxis]
        rgb = canvas
        frequency = f0_mhz if f0_mhz is not None else bmode.settings.frequency_mhz
        regions.append(spectral_region(strip, top, frequency))
    return DopplerImage(rgb, tuple(regions))


def compose_duplex_clip(
    frames: Sequence[Frame], spectrum: Sequence[SpectrumLine], shown: Sequence[int]
) -> tuple[RgbArray, tuple[Dataset, ...]]:
    """A PW duplex clip as the screen showed it: frame i is B-mode frame i above the sweep as it stood
    then (the newest of the first `shown[i]` lines of `spectrum`, as many as the image is wide, oldest
    left). One grey scale, strip size and calibration for every frame, so one pair of regions (tissue
    in cm; spectrum in s and cm/s, seconds counted from the strip's left edge) measures them all.
    Returns (rgb frames (n, rows, cols, 3), regions)."""
    if not frames or len(shown) != len(frames):
        raise StudyCaptureError(f"a duplex clip needs a sweep count per frame: {len(frames)}, {len(shown)}")
    first = frames[0]
    if any(f.pixels.shape != first.pixels.shape or f.spacing_mm != first.spacing_mm for f in frames):
        raise StudyCaptureError("a duplex clip's frames change size or calibration: capture one setting")
    if len(spectrum) < 2 or shown[-1] < 2:
        raise StudyCaptureError("a duplex clip needs the spectrum it showed (two lines at least)")
    full = spectrum_strip(spectrum, len(spectrum))  # every line, one grey scale for the whole clip
    width = min(first.cols, len(spectrum))
    strip_rows = full.pixels.shape[0]
    top = first.rows + SPECTRUM_GAP_ROWS
    rgb = np.zeros((len(frames), top + strip_rows, first.cols, 3), dtype=np.uint8)
    for i, (frame, count) in enumerate(zip(frames, shown, strict=True)):
        rgb[i, : first.rows] = np.asarray(frame.pixels, dtype=np.uint8)[:, :, np.newaxis]
        sweep = full.pixels[:, max(0, count - width) : count]
        rgb[i, top:, : sweep.shape[1]] = sweep[:, :, np.newaxis]
    strip = dataclasses.replace(full, pixels=full.pixels[:, :width])  # the strip's size, for its region
    regions = (
        tissue_region(first, low_priority=False),
        spectral_region(strip, top, first.settings.frequency_mhz),
    )
    return rgb, regions


def _area(data_type: int, spatial: int, corners: tuple[int, int, int, int]) -> Dataset:
    x0, y0, x1, y1 = corners
    region = Dataset()
    region.RegionSpatialFormat = spatial
    region.RegionDataType = data_type
    region.RegionFlags = 0
    region.RegionLocationMinX0 = x0
    region.RegionLocationMinY0 = y0
    region.RegionLocationMaxX1 = x1
    region.RegionLocationMaxY1 = y1
    return region


def _calibrate_cm(
    region: Dataset, bmode: Frame, *, x_ref: int, y_ref: int, x_value_cm: float = 0.0, y_value_cm: float = 0.0
) -> None:
    axial_mm, lateral_mm = bmode.spacing_mm
    region.PhysicalUnitsXDirection = UNITS_CM
    region.PhysicalUnitsYDirection = UNITS_CM
    region.PhysicalDeltaX = lateral_mm / 10.0
    region.PhysicalDeltaY = axial_mm / 10.0
    region.ReferencePixelX0 = x_ref
    region.ReferencePixelY0 = y_ref
    region.ReferencePixelPhysicalValueX = x_value_cm
    region.ReferencePixelPhysicalValueY = y_value_cm
