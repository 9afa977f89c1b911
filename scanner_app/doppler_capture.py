"""DopplerContent: what the Doppler display showed with a capture's image(s), handed to the capture sink
so a Doppler capture stores what the screen showed; and the spectral measurements kept with a duplex
capture (PSV, EDV and RI for an artery; phasicity and augmentation for a vein). Qt-free."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scanner_app.capture import ImagingMode
from scanner_app.doppler_measurements import (
    arterial_measurements,
    augmentation_response,
    phasicity,
    trace_series,
)
from scanner_app.doppler_pipeline import FlowOverlay
from scanner_app.frame import Frame
from scanner_app.spectral import SpectrumLine

# A vein's sweep shows augmentation when its fastest flow is at least this many times the flow before.
AUGMENTATION_SEEN_RATIO = 2.0
AUGMENTATION_BASELINE_S = 3.0
AUGMENTATION_RESPONSE_S = 3.0
SURGE_FOOT = 0.2  # the surge starts where the speed rises past this fraction of its rise
# A live colour still looks this far back for a frame whose box showed flow: one heartbeat at 60/min
# or faster, so an artery's colour, shown only in systole, is the colour the operator saw.
LIVE_STILL_LOOKBACK_S = 1.0

# The names a Doppler capture's measured values are stored under (spectral_measurements). Everything
# else stored with it by name (scale_entries: Nyquist scale, PRF, frequency, angle, baseline) is a
# setting the image was taken with, not a measurement: reports show it with the image, not as a row.
DOPPLER_MEASUREMENT_NAMES = (
    "PSV",
    "EDV",
    "RI",
    "Venous peak velocity",
    "Phasicity index",
    "Augmentation (peak / before)",
)


def is_doppler_setting(entry: Mapping[str, Any]) -> bool:
    """Whether a stored measurement entry is a Doppler setting (a named entry that is not one of the
    Doppler measurements); a caliper (labelled, never named) is not."""
    name = entry.get("name")
    return isinstance(name, str) and not entry.get("label") and name not in DOPPLER_MEASUREMENT_NAMES


@dataclass(frozen=True, slots=True)
class DopplerContent:
    """The Doppler part of a capture, as shown on screen: its mode; for colour and power one overlay per
    captured B-mode frame (in order) and the colour bar; for PW duplex the spectral sweep shown (oldest
    first) and its measurements ({"name", "value", "unit"} dicts). A duplex clip also says, for each of
    its frames, how many of the sweep's first lines had been shown with it (`spectrum_shown`)."""

    mode: ImagingMode
    overlays: tuple[FlowOverlay, ...] = ()
    bar: npt.NDArray[np.uint8] | None = None
    spectrum: tuple[SpectrumLine, ...] = ()
    measurements: tuple[Mapping[str, Any], ...] = field(default=())
    spectrum_shown: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        flow = self.mode in (ImagingMode.COLOR_DOPPLER, ImagingMode.POWER_DOPPLER)
        if flow and not self.overlays:
            raise ValueError(f"a {self.mode.words} capture needs the colour box it showed")
        if self.mode is ImagingMode.SPECTRAL_DOPPLER and len(self.spectrum) < 2:
            raise ValueError("a spectral Doppler capture needs the spectrum it showed (two lines at least)")
        if self.mode is ImagingMode.BMODE:
            raise ValueError("a B-mode capture has no Doppler content")
        shown = self.spectrum_shown
        if shown and (
            any(b < a for a, b in itertools.pairwise(shown)) or shown[0] < 0 or shown[-1] > len(self.spectrum)
        ):
            raise ValueError(f"spectrum_shown must rise within the {len(self.spectrum)} lines: {shown}")

    @property
    def power(self) -> bool:
        return self.mode is ImagingMode.POWER_DOPPLER

    def scale_entries(self) -> list[dict[str, Any]]:
        """The scale shown beside the image, as measurement entries (the colour bar's Nyquist velocity,
        the spectrum's Nyquist and angle correction), so the numbers travel with the pixels."""
        if self.overlays:
            o = self.overlays[-1]
            name = "Power Doppler scale (Nyquist)" if o.power_display else "Colour scale (Nyquist)"
            return [
                {"name": name, "value": round(o.nyquist_cm_s, 2), "unit": "cm/s"},
                {"name": "PRF", "value": o.prf_hz, "unit": "Hz"},
                {"name": "Doppler frequency", "value": o.f0_mhz, "unit": "MHz"},
            ]
        line = self.spectrum[-1]
        return [
            {"name": "Spectral scale (Nyquist)", "value": round(line.nyquist_cm_s, 2), "unit": "cm/s"},
            {"name": "Angle correction", "value": line.angle_deg, "unit": "deg"},
        ]


def shows_flow(overlay: FlowOverlay | None) -> bool:
    """Whether a colour box drew any colour (a pixel the display made opaque)."""
    return overlay is not None and bool(overlay.rgba[..., 3].any())


def live_still_frame(frames: Sequence[Frame], overlay_for: Callable[[int], FlowOverlay | None]) -> Frame:
    """The frame a live colour or power still keeps: the last of `frames` (the one on screen; the
    others, oldest first, those of the last `LIVE_STILL_LOOKBACK_S`) when its box shows flow, else the
    newest before it whose box, of the same place and map on an image of the same size, did.
    Pulsatile flow colours the box only in systole, so the frame on screen at the key press is mostly
    one without colour while the operator saw it flash; with no flow in any of them (an occluded
    vein), the frame on screen: its empty box is the finding."""
    shown = frames[-1]
    own = overlay_for(shown.seq)
    if own is None or shows_flow(own):
        return shown
    for frame in reversed(frames[:-1]):
        overlay = overlay_for(frame.seq)
        if (
            overlay is not None
            and shows_flow(overlay)
            and (overlay.box, overlay.power_display) == (own.box, own.power_display)
            and frame.pixels.shape == shown.pixels.shape
            and frame.spacing_mm == shown.spacing_mm
        ):
            return frame
    return shown


def duplex_clip_content(
    frames: Sequence[Frame], history: Sequence[tuple[int, SpectrumLine]], *, artery: bool
) -> tuple[list[Frame], DopplerContent] | None:
    """A PW clip as the screen showed it: its frames (the run of one size and calibration that ends
    it) with the spectral lines shown by each frame's time (`history`: (host ns, line), oldest first,
    as `DopplerPipeline.spectrum_history` gives them; frames carry the same host clock), as many
    before as the image is wide, and the measurements of those lines. None when the clip's end showed
    fewer than two lines: it is then kept as B-mode."""
    if not frames:
        return None
    last = frames[-1]
    run = [f for f in frames if f.pixels.shape == last.pixels.shape and f.spacing_mm == last.spacing_mm]
    shown_at = np.array([t for t, _line in history], dtype=np.int64)
    shown = np.searchsorted(shown_at, [f.host_time_ns for f in run], side="right")
    if shown[-1] < 2:
        return None
    start = max(0, int(shown[0]) - last.cols)  # older lines are left of every frame's strip
    lines = tuple(line for _t, line in history[start : int(shown[-1])])
    content = DopplerContent(
        ImagingMode.SPECTRAL_DOPPLER,
        spectrum=lines,
        measurements=spectral_measurements(lines, artery=artery),
        spectrum_shown=tuple(int(n) - start for n in shown),
    )
    return run, content


def spectral_measurements(lines: Sequence[SpectrumLine], *, artery: bool) -> tuple[dict[str, Any], ...]:
    """The standard measurements of a sweep's automatic trace: PSV, EDV and RI for an artery; phasicity
    and, when the sweep shows a surge, the augmentation response for a vein. A measurement the sweep
    cannot give (too short, no systolic peak) is left out, never guessed."""
    if len(lines) < 3:
        return ()
    trace = trace_series(lines)
    out: list[dict[str, Any]] = []
    if artery:
        try:
            a = arterial_measurements(trace.forward_cm_s, trace.times_s)
        except ValueError:
            return ()
        out += [
            {"name": "PSV", "value": round(a.psv_cm_s, 1), "unit": "cm/s"},
            {"name": "EDV", "value": round(a.edv_cm_s, 1), "unit": "cm/s"},
            {"name": "RI", "value": round(a.resistive_index, 2), "unit": ""},
        ]
        return tuple(out)
    # Veins: the flow's direction is whichever envelope carries more.
    forward, reverse = np.nansum(trace.forward_cm_s), np.nansum(np.abs(trace.reverse_cm_s))
    speed = trace.forward_cm_s if forward >= reverse else np.abs(trace.reverse_cm_s)
    try:
        p = phasicity(speed, trace.times_s)
    except ValueError:
        return ()
    out += [
        {"name": "Phasicity index", "value": round(p.index, 2), "unit": ""},
        {"name": "Venous peak velocity", "value": round(float(np.nanmax(speed)), 1), "unit": "cm/s"},
    ]
    surge = _augmentation(speed, trace.times_s)
    if surge is not None:
        out.append(surge)
    return tuple(out)


def _augmentation(speed: npt.NDArray[np.float64], times_s: npt.NDArray[np.float64]) -> dict[str, Any] | None:
    """The augmentation response when the sweep holds a surge: the squeeze is taken where the speed
    last stood within a fifth of the rise above the sweep's median before its peak (the surge's foot),
    the baseline the mean speed over the 3 s before that."""
    v = np.nan_to_num(speed, nan=0.0)
    peak_i = int(np.argmax(v))
    before = v[: peak_i + 1]
    if before.size < 4:
        return None
    baseline = float(np.median(v))
    foot = baseline + SURGE_FOOT * (float(v[peak_i]) - baseline)
    below = np.flatnonzero(before < foot)
    if below.size == 0:
        return None
    squeeze_s = float(times_s[below[-1]])
    try:
        a = augmentation_response(v, times_s, squeeze_s, AUGMENTATION_BASELINE_S, AUGMENTATION_RESPONSE_S)
    except ValueError:
        return None
    if math.isfinite(a.ratio) and a.ratio < AUGMENTATION_SEEN_RATIO:
        return None  # no surge: augmentation was not done in this sweep
    ratio = round(a.ratio, 1) if math.isfinite(a.ratio) else "no flow before"
    peak = round(a.peak_cm_s, 1)
    return {"name": "Augmentation (peak / before)", "value": ratio, "unit": "", "peak_cm_s": peak}
