"""DopplerPipeline: the live window's Doppler processing on the acquisition thread.

Listens to the engine's `iq_ready`, drains the IQ ring in order, runs colour/power and spectral
processing, and turns the results into display-ready values (an RGBA colour box already masked
against the B-mode, a spectrogram image with its axes) so the GUI thread only draws. Emits
`doppler_ready` (a worker signal, bridged to Qt in `ui/bridge.py`). Qt-free.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scanner_app.doppler import DopplerMode, IqPacket
from scanner_app.doppler_processing import (
    ColorFlowProcessor,
    FlowBox,
    FlowFrame,
    color_write_mask,
    power_doppler_levels,
)
from scanner_app.engine import AcquisitionEngine, IqReady
from scanner_app.events import worker_signal
from scanner_app.frame import DataFormat, Frame, Geometry
from scanner_app.spectral import SpectralProcessor, SpectralSettings, SpectrumLine

SPECTRUM_COLUMNS = 600  # about 4 s of sweep at the default 156 columns/s
# Spectral lines kept with the time they were shown, for a duplex clip of the cine: about 13 s at
# 156 columns/s (a line is one power column, well under 1 kB), more than the cine holds by default.
SPECTRUM_HISTORY = 2000
SPECTRUM_BLACK_ABOVE_FLOOR_DB = 3.0  # the grey scale starts just above each column's noise floor
SPECTRUM_DYNAMIC_RANGE_DB = 40.0
# Colour overlays kept for the cine: one per B-mode frame, as many as a few seconds of cine hold (an
# overlay is a small RGBA box, about 100 kB; the estimates behind it are not kept).
FLOW_HISTORY = 300
# A frame with no ensemble of its own shows the previous frame's, if that is at most this many frames
# older (an ensemble lost on the link); beyond, the frame shows none: never another moment's colour.
FLOW_FRAME_TOLERANCE = 2
COLOUR_BAR_ROWS = 64


@dataclass(frozen=True, slots=True)
class DopplerDisplaySettings:
    """What the operator sets on the host side (no probe readback): display and processing choices."""

    power_display: bool = False  # flow mode: power Doppler (orange) instead of colour velocity
    wall_cutoff_hz: float = 50.0
    colour_gain_db: float = 0.0
    baseline: float = 0.0  # spectral zero-line shift, fraction of the Nyquist
    invert: bool = False
    angle_deg: float = 0.0  # beam-to-flow angle for the spectrum's angle correction
    priority_level: int = 200  # colour writes over B-mode no brighter than this grey (0..255)


@dataclass(frozen=True, slots=True)
class DopplerReady:
    """New Doppler display data: a colour box, spectral columns, or both."""

    flow: bool
    spectrum_columns: int


@dataclass(frozen=True, slots=True)
class FlowImage:
    """The colour box ready to draw: RGBA rows = depth (top to bottom), columns = lines (left to right)."""

    rgba: npt.NDArray[np.uint8]
    box: FlowBox
    nyquist_cm_s: float
    power_display: bool
    frame: FlowFrame
    coloured_pixels: int  # pixels that show colour after the thresholds and the write mask


@dataclass(frozen=True, slots=True)
class FlowOverlay:
    """The colour box as it was drawn over one B-mode frame (`frame_seq`), kept for the cine and for
    captures: the RGBA drawn (rows = depth, columns = lines) with the box and scale it belongs to."""

    rgba: npt.NDArray[np.uint8]
    box: FlowBox
    nyquist_cm_s: float
    f0_mhz: float
    prf_hz: float
    power_display: bool
    invert: bool
    frame_seq: int

    @property
    def lines(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def samples(self) -> int:
        return int(self.rgba.shape[0])


@dataclass(frozen=True, slots=True)
class SpectrumView:
    """The spectral sweep ready to draw: a grey image (velocity bins × columns) with its axes."""

    image: npt.NDArray[np.uint8]  # rows: velocity ascending; columns: time ascending
    time_s: npt.NDArray[np.float64]  # centre time of each column
    max_cm_s: npt.NDArray[np.float32]  # the automatic max trace; NaN where no flow
    velocity_cm_s: npt.NDArray[np.float32]  # the velocity of each row (ascending)
    nyquist_cm_s: float


def velocity_colours(
    velocity_cm_s: npt.NDArray[np.float32], nyquist_cm_s: float, invert: bool
) -> npt.NDArray[np.uint8]:
    """Colour velocity map: red toward the probe, blue away, brighter toward the Nyquist (RGB)."""
    v = np.clip(velocity_cm_s / nyquist_cm_s, -1.0, 1.0)
    if invert:
        v = -v
    level = 0.35 + 0.65 * np.abs(v)  # slow flow stays visible
    toward = v >= 0
    rgb = np.zeros((*v.shape, 3), np.float32)
    rgb[..., 0] = np.where(toward, 255 * level, 60 * np.abs(v))
    rgb[..., 1] = 200 * np.abs(v) ** 2  # the fastest flow turns yellow / cyan, as on most scanners
    rgb[..., 2] = np.where(toward, 60 * np.abs(v), 255 * level)
    return rgb.astype(np.uint8)


def power_colours(level: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """Power Doppler map: dark red through orange to yellow with the power level 0..1 (RGB)."""
    rgb = np.stack([120 + 135 * level, 20 + 180 * level, 40 * level**2], axis=-1)
    return rgb.astype(np.uint8)


def colour_bar(power: bool, invert: bool, rows: int = COLOUR_BAR_ROWS) -> npt.NDArray[np.uint8]:
    """The colour bar beside the box, (rows, 1, 3) RGB top to bottom: +Nyquist down to -Nyquist for
    colour (the map as drawn, inverted or not), strongest to weakest for power."""
    ramp = np.linspace(1.0, 0.0 if power else -1.0, rows, dtype=np.float32)[:, None]
    return power_colours(ramp) if power else velocity_colours(ramp, 1.0, invert)


def bmode_under_box(frame: Frame, box: FlowBox, lines: int, samples: int) -> npt.NDArray[np.uint8] | None:
    """The B-mode grey under each (line, sample) of a linear colour box, nearest pixel; None if it cannot
    be had (a convex box in degrees, beam data instead of a display image)."""
    if box.geometry != Geometry.LINEAR or frame.beam.geometry != Geometry.LINEAR:
        return None
    if frame.data_format != DataFormat.BMODE_U8 or frame.pixels.ndim != 2:
        return None
    dz, dx = frame.spacing_mm
    depths = np.linspace(box.top_mm, box.bottom_mm, samples) + frame.depth_origin_mm
    lateral = np.linspace(box.left, box.right, lines)
    rows = np.clip(np.round(depths / dz - 0.5).astype(np.intp), 0, frame.rows - 1)
    cols = np.clip(np.round(lateral / dx - 0.5).astype(np.intp), 0, frame.cols - 1)
    grey: npt.NDArray[np.uint8] = np.asarray(frame.pixels, np.uint8)[np.ix_(rows, cols)].T
    return grey


class DopplerPipeline:
    """Processes every IQ packet of the live stream on the acquisition thread for the window.

    Keeps the newest `FlowImage` and a bounded sweep of `SpectrumLine`s; the GUI reads them
    (`newest_flow`, `spectrum_view`) when the bridge tells it `doppler_ready` came. Display settings
    come from the GUI thread as one immutable value (`set_display`).
    """

    doppler_ready = worker_signal(DopplerReady)

    def __init__(self, engine: AcquisitionEngine, spectrum_columns: int = SPECTRUM_COLUMNS) -> None:
        self._engine = engine
        self._cursor = engine.iq_ring.cursor()
        self._display = DopplerDisplaySettings()
        self._flow = ColorFlowProcessor()
        self._spectral: SpectralProcessor | None = None
        self._lock = threading.Lock()
        self._newest_flow: FlowImage | None = None
        self._flow_history: collections.deque[FlowOverlay] = collections.deque(maxlen=FLOW_HISTORY)
        self.spectrum_lines: collections.deque[SpectrumLine] = collections.deque(maxlen=spectrum_columns)
        # (host time of the IQ packet that completed it, the line), oldest first, one velocity axis.
        self._line_history: collections.deque[tuple[int, SpectrumLine]] = collections.deque(
            maxlen=SPECTRUM_HISTORY
        )
        self._columns = spectrum_columns
        self._sweep: npt.NDArray[np.uint8] | None = None  # circular (columns, bins) grey buffer
        self._sweep_next = 0
        self._sweep_filled = 0
        self._sweep_times = np.zeros(spectrum_columns)
        self._sweep_max = np.full(spectrum_columns, np.nan, np.float32)
        self._sweep_axis: npt.NDArray[np.float32] | None = None
        self._sweep_nyquist = 0.0
        self.packets_processed = 0
        self.packets_lost = 0
        engine.iq_ready.connect(self._on_iq)

    # -- GUI side: settings in, results out ---------------------------------------------------

    @property
    def display(self) -> DopplerDisplaySettings:
        return self._display

    def set_display(self, settings: DopplerDisplaySettings) -> None:
        """Any thread: applies from the next packet (one reference swap)."""
        self._display = settings

    def newest_flow(self) -> FlowImage | None:
        with self._lock:
            return self._newest_flow

    def overlay_for(self, frame_seq: int) -> FlowOverlay | None:
        """The colour box drawn with B-mode frame `frame_seq` (the probe's FRAME seq): its own, else the
        latest of the `FLOW_FRAME_TOLERANCE` frames before it; None when there is none (colour was
        off, or the cine no longer holds it)."""
        with self._lock:
            for overlay in reversed(self._flow_history):
                gap = frame_seq - overlay.frame_seq
                if 0 <= gap <= FLOW_FRAME_TOLERANCE:
                    return overlay
                if gap > FLOW_FRAME_TOLERANCE:
                    return None  # older ones are farther still
        return None

    def spectrum_snapshot(self) -> tuple[SpectrumLine, ...]:
        """The spectral lines of the sweep shown, oldest first (one velocity axis)."""
        with self._lock:
            return tuple(self.spectrum_lines)

    def spectrum_history(self) -> tuple[tuple[int, SpectrumLine], ...]:
        """The spectral lines of the current setting (one velocity axis) with when each was shown: the
        host time (ns, the frames' clock) of the IQ packet that completed it; oldest first, as far back
        as `SPECTRUM_HISTORY` lines."""
        with self._lock:
            return tuple(self._line_history)

    def spectrum_view(self) -> SpectrumView | None:
        """The sweep so far, oldest column first; None before the first column."""
        with self._lock:
            if self._sweep is None or self._sweep_axis is None or self._sweep_filled == 0:
                return None
            n = self._sweep_filled
            order = (np.arange(n) + (self._sweep_next - n)) % self._columns
            return SpectrumView(
                image=np.ascontiguousarray(self._sweep[order].T),
                time_s=self._sweep_times[order].copy(),
                max_cm_s=self._sweep_max[order].copy(),
                velocity_cm_s=self._sweep_axis,
                nyquist_cm_s=self._sweep_nyquist,
            )

    def clear(self) -> None:
        """Forget what was shown (a mode change): the next packets start afresh."""
        with self._lock:
            self._newest_flow = None
            self._flow_history.clear()
            self._sweep = None
            self._sweep_filled = 0
            self.spectrum_lines.clear()
            self._line_history.clear()
        self._flow.reset()
        self._spectral = None

    # -- acquisition thread -----------------------------------------------------------------

    def _on_iq(self, _event: IqReady) -> None:
        drained = self._cursor.drain()
        self.packets_lost += drained.lost
        display = self._display
        flow_done, columns = False, 0
        for packet in drained.packets:
            if packet.mode == DopplerMode.PW:
                columns += self._spectrum(packet, display)
            elif packet.mode == DopplerMode.FLOW:
                flow_done = True
            self.packets_processed += 1
        for packet in (p for p in drained.packets if p.mode == DopplerMode.FLOW):
            # Every ensemble is coloured: each B-mode frame of the cine keeps the overlay it had.
            flow = self._process_flow(packet, display)
            if flow is not None:
                self._colour(flow, display)
        if flow_done or columns:
            self.doppler_ready.emit(DopplerReady(flow_done, columns))

    def _process_flow(self, p: IqPacket, display: DopplerDisplaySettings) -> FlowFrame | None:
        """The packet's colour estimate, cut to the image's depth; None if none of its box is in the image."""
        wanted = dataclasses.replace(
            self._flow.settings, wall_cutoff_hz=display.wall_cutoff_hz, gain_db=display.colour_gain_db
        )
        if wanted != self._flow.settings:
            self._flow.settings = wanted
        iq, bottom_mm = p.iq, p.bottom_mm
        latest = self._engine.ring.peek_latest()
        if latest is not None and bottom_mm > latest.frame.settings.depth_mm:
            # A box reaching below the image (a probe that did not clamp it, or a depth change on the
            # way): what lies below is neither computed, drawn nor stored.
            depths = np.linspace(p.top_mm, p.bottom_mm, p.samples)
            kept = int(np.count_nonzero(depths <= latest.frame.settings.depth_mm + 1e-6))
            if kept < 2:
                return None
            iq, bottom_mm = iq[..., :kept], float(depths[kept - 1])
        box = FlowBox(p.geometry, p.top_mm, bottom_mm, p.left, p.right, p.steer_deg)
        return self._flow.process(iq, p.prf_hz, p.frequency_mhz, box, p.frame_seq, p.host_time_ns)

    def _colour(self, flow: FlowFrame, display: DopplerDisplaySettings) -> None:
        show = flow.power_valid if display.power_display else flow.valid
        latest = self._engine.ring.peek_latest()
        grey = bmode_under_box(latest.frame, flow.box, flow.lines, flow.samples) if latest else None
        if grey is not None:
            show = color_write_mask(show, grey, display.priority_level)
        if display.power_display:
            s = self._flow.settings
            rgb = power_colours(power_doppler_levels(flow, s.power_threshold_db, s.power_dynamic_range_db))
        else:
            rgb = velocity_colours(flow.velocity_cm_s, flow.nyquist_cm_s, display.invert)
        alpha = np.where(show, 255, 0).astype(np.uint8)
        rgba = np.concatenate([rgb, alpha[..., None]], axis=-1).transpose(1, 0, 2)  # rows = depth
        image = FlowImage(
            np.ascontiguousarray(rgba),
            flow.box,
            flow.nyquist_cm_s,
            display.power_display,
            flow,
            int(show.sum()),
        )
        overlay = FlowOverlay(
            image.rgba,
            flow.box,
            flow.nyquist_cm_s,
            flow.f0_mhz,
            flow.prf_hz,
            display.power_display,
            display.invert,
            flow.frame_seq,
        )
        with self._lock:
            self._newest_flow = image
            self._flow_history.append(overlay)

    def _spectrum(self, p: IqPacket, display: DopplerDisplaySettings) -> int:
        wanted = SpectralSettings(
            wall_cutoff_hz=display.wall_cutoff_hz,
            angle_deg=display.angle_deg,
            baseline=display.baseline,
            invert=display.invert,
        )
        spectral = self._spectral
        if spectral is None or (spectral.prf_hz, spectral.f0_mhz) != (p.prf_hz, p.frequency_mhz):
            # A new PRF or frequency is a new scale and wall filter: start the sweep afresh.
            spectral = self._spectral = SpectralProcessor(p.prf_hz, p.frequency_mhz, wanted)
        elif spectral.settings != wanted:
            spectral.settings = wanted
        lines = spectral.feed(p.iq)
        if lines:
            with self._lock:
                for line in lines:
                    self._add_column(line, p.host_time_ns)
        return len(lines)

    def _add_column(self, line: SpectrumLine, host_time_ns: int) -> None:
        """Under the lock: one column into the sweep; a new velocity axis restarts the sweep."""
        axis = line.velocity_cm_s
        if self._sweep is None or self._sweep_axis is None or not np.array_equal(axis, self._sweep_axis):
            self._sweep = np.zeros((self._columns, axis.size), np.uint8)
            self._sweep_next = self._sweep_filled = 0
            self._sweep_axis = axis
            self.spectrum_lines.clear()
            self._line_history.clear()
        black = line.noise_floor_db + SPECTRUM_BLACK_ABOVE_FLOOR_DB
        grey = np.clip((line.power_db - black) / SPECTRUM_DYNAMIC_RANGE_DB, 0.0, 1.0) * 255
        i = self._sweep_next
        self._sweep[i] = grey.astype(np.uint8)
        self._sweep_times[i] = line.time_s
        self._sweep_max[i] = line.max_cm_s if math.isfinite(line.max_cm_s) else np.nan
        self._sweep_nyquist = line.nyquist_cm_s
        self._sweep_next = (i + 1) % self._columns
        self._sweep_filled = min(self._sweep_filled + 1, self._columns)
        self.spectrum_lines.append(line)
        self._line_history.append((host_time_ns, line))
