"""Host-side processing: ENVELOPE_U16 and RF_I16 beam data become display BMODE_U8 frames, with mm/pixel.

Envelope detection (RF), log compression to the frame's dynamic range, and scan conversion with
index/weight maps precomputed once per geometry. Runs on the acquisition thread; never imports Qt.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import hilbert

from scanner_app.frame import DataFormat, Frame, Geometry

DEFAULT_DYNAMIC_RANGE_DB = 60.0
_FULL_SCALE = {DataFormat.ENVELOPE_U16: 65535.0, DataFormat.RF_I16: 32767.0}


@dataclass(frozen=True, slots=True)
class _ScanMap:
    """Bilinear gather map from beam samples (rows x cols) to display pixels."""

    shape: tuple[int, int]
    valid: npt.NDArray[np.intp]  # flat display indices that fall inside the beam data
    i00: npt.NDArray[np.intp]  # flat source index of the top-left neighbour
    step_col: npt.NDArray[np.intp]  # +1, or 0 where the right neighbour would fall off the edge
    step_row: npt.NDArray[np.intp]  # +cols, or 0 at the bottom edge
    w_row: npt.NDArray[np.float32]  # fractional position towards the next row
    w_col: npt.NDArray[np.float32]
    spacing_mm: float
    depth_origin_mm: float = 0.0  # skin on the centre line, below the top edge of row 0


def log_compress_lut(
    dynamic_range_db: float, full_scale: float, levels: int = 65536
) -> npt.NDArray[np.uint8]:
    """Table mapping an amplitude code (0..levels-1) to 0..255 over [-DR, 0] dB re full scale."""
    amp = np.arange(levels, dtype=np.float64)
    db = 20.0 * np.log10(np.maximum(amp, 1e-3) / full_scale)
    return np.clip((db + dynamic_range_db) / dynamic_range_db * 255.0, 0, 255).astype(np.uint8)


def envelope_of_rf(rf: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """Envelope of RF lines (samples along axis 0) as the magnitude of the analytic signal."""
    env: npt.NDArray[np.float32] = np.abs(hilbert(rf.astype(np.float32), axis=0)).astype(np.float32)
    return env


def _convex_map(  # noqa: PLR0917
    rows: int, cols: int, depth_mm: float, fov_deg: float, radius_mm: float, out: int
) -> _ScanMap:
    fov = math.radians(fov_deg)
    r_max = radius_mm + depth_mm
    half = fov / 2
    x_half = r_max * math.sin(half)
    y_top = radius_mm * math.cos(half)
    spacing = max(2 * x_half, r_max - y_top) / out
    ys = y_top + (np.arange(out, dtype=np.float64) + 0.5) * spacing
    xs = -x_half + (np.arange(out, dtype=np.float64) + 0.5) * spacing
    # Centre the sector horizontally if the image is taller than wide.
    xs += (2 * x_half - out * spacing) / 2
    y, x = np.meshgrid(ys, xs, indexing="ij")
    r = np.hypot(x, y)
    theta = np.arctan2(x, y)
    # Sample centres: row i at (i + 0.5) * depth/rows below the array, line j at its angle centre.
    fr = (r - radius_mm) / (depth_mm / rows) - 0.5
    fc = (theta + half) / (fov / cols) - 0.5
    # The top row is the chord across the ends of the array; the skin on the centre line (depth 0)
    # is the array face at radius_mm from the apex, this far below it.
    origin_mm = radius_mm - y_top
    return dataclasses.replace(_gather_map(fr, fc, rows, cols, spacing), depth_origin_mm=origin_mm)


def _linear_map(rows: int, cols: int, depth_mm: float, width_mm: float, out: int) -> _ScanMap:
    spacing = max(depth_mm, width_mm) / out
    n_rows = max(1, round(depth_mm / spacing))
    n_cols = max(1, round(width_mm / spacing))
    ys = (np.arange(n_rows, dtype=np.float64) + 0.5) * spacing
    xs = (np.arange(n_cols, dtype=np.float64) + 0.5) * spacing
    y, x = np.meshgrid(ys, xs, indexing="ij")
    fr = y / (depth_mm / rows) - 0.5
    fc = x / (width_mm / cols) - 0.5
    return _gather_map(fr, fc, rows, cols, spacing)


def _gather_map(
    fr: npt.NDArray[np.float64], fc: npt.NDArray[np.float64], rows: int, cols: int, spacing: float
) -> _ScanMap:
    shape = (int(fr.shape[0]), int(fr.shape[1]))
    # Half a sample of slack at the edges clamps to the edge sample rather than going black.
    inside = (fr >= -0.5) & (fr <= rows - 0.5) & (fc >= -0.5) & (fc <= cols - 0.5)
    valid = np.flatnonzero(inside)
    fr_v = np.clip(fr.ravel()[valid], 0, rows - 1)
    fc_v = np.clip(fc.ravel()[valid], 0, cols - 1)
    r0 = np.floor(fr_v).astype(np.intp)
    c0 = np.floor(fc_v).astype(np.intp)
    return _ScanMap(
        shape=shape,
        valid=valid.astype(np.intp),
        i00=r0 * cols + c0,
        step_col=(c0 < cols - 1).astype(np.intp),
        step_row=np.where(r0 < rows - 1, cols, 0).astype(np.intp),
        w_row=(fr_v - r0).astype(np.float32),
        w_col=(fc_v - c0).astype(np.float32),
        spacing_mm=spacing,
    )


def _apply_map(m: _ScanMap, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    src = image.ravel()
    a = src[m.i00].astype(np.float32)
    b = src[m.i00 + m.step_col]
    c = src[m.i00 + m.step_row]
    d = src[m.i00 + m.step_row + m.step_col]
    top = a + (b - a) * m.w_col
    bottom = c + (d - c.astype(np.float32)) * m.w_col
    vals = top + (bottom - top) * m.w_row
    out = np.zeros(m.shape[0] * m.shape[1], dtype=np.uint8)
    out[m.valid] = (vals + 0.5).astype(np.uint8)
    return out.reshape(m.shape)


class DisplayProcessor:
    """Callable the engine takes as `processor=`: beam frames in, display frames out; B-mode passes through.

    `dynamic_range_db` supplies the dynamic range in force (the engine's setting) for ENVELOPE/RF
    frames, whose headers carry 0; without it `default_dynamic_range_db` applies.
    """

    def __init__(
        self,
        display_size_px: int = 512,
        *,
        default_dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB,
        dynamic_range_db: Callable[[], float | None] | None = None,
        cache_size: int = 4,
    ) -> None:
        self.display_size_px = display_size_px
        self.default_dynamic_range_db = default_dynamic_range_db
        self.dynamic_range_source = dynamic_range_db
        self._maps: OrderedDict[tuple[object, ...], _ScanMap] = OrderedDict()
        self._luts: OrderedDict[tuple[float, float], npt.NDArray[np.uint8]] = OrderedDict()
        self._cache_size = cache_size

    def __call__(self, frame: Frame) -> Frame:
        if frame.data_format == DataFormat.BMODE_U8:
            return frame
        dr = frame.settings.dynamic_range_db
        if dr <= 0:
            source = self.dynamic_range_source() if self.dynamic_range_source is not None else None
            dr = source if source is not None and source > 0 else self.default_dynamic_range_db
        compressed = self._log_compress(frame, dr)
        scan_map = self._map_for(frame)
        pixels = _apply_map(scan_map, compressed)
        s = scan_map.spacing_mm
        return dataclasses.replace(
            frame,
            pixels=pixels,
            spacing_mm=(s, s),
            data_format=DataFormat.BMODE_U8,
            settings=dataclasses.replace(frame.settings, dynamic_range_db=dr),
            source_format=frame.data_format,
            depth_origin_mm=scan_map.depth_origin_mm,
        )

    def _log_compress(self, frame: Frame, dr: float) -> npt.NDArray[np.uint8]:
        fmt = frame.data_format
        full = _FULL_SCALE[fmt]
        if fmt == DataFormat.ENVELOPE_U16:
            out: npt.NDArray[np.uint8] = self._lut(dr, full)[frame.pixels]
            return out
        env = envelope_of_rf(frame.pixels.astype(np.int16, copy=False))
        db = 20.0 * np.log10(np.maximum(env, 1e-3) / full)
        return np.clip((db + dr) * (255.0 / dr), 0, 255).astype(np.uint8)

    def _lut(self, dr: float, full: float) -> npt.NDArray[np.uint8]:
        key = (dr, full)
        lut = self._luts.get(key)
        if lut is None:
            lut = log_compress_lut(dr, full)
            self._luts[key] = lut
            while len(self._luts) > self._cache_size:
                self._luts.popitem(last=False)
        return lut

    def _map_for(self, frame: Frame) -> _ScanMap:
        rows, cols = frame.rows, frame.cols
        depth = frame.settings.depth_mm
        out = self.display_size_px
        beam = frame.beam
        fov, radius = beam.field_of_view_deg, beam.radius_mm
        if beam.geometry == Geometry.CONVEX:
            key: tuple[object, ...] = ("convex", rows, cols, depth, fov, radius, out)
        else:
            width = beam.width_mm or frame.cols * frame.spacing_mm[1]
            key = ("linear", rows, cols, depth, width, out)
        m = self._maps.get(key)
        if m is None:
            if beam.geometry == Geometry.CONVEX:
                m = _convex_map(rows, cols, depth, fov, radius, out)
            else:
                m = _linear_map(rows, cols, depth, float(width), out)
            self._maps[key] = m
            while len(self._maps) > self._cache_size:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(key)
        return m
