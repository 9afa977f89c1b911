"""Doppler values made in tests: a spectral sweep with a known peak, and a window's Doppler source that
shows it (as the Doppler panel would in PW)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scanner_app.capture import ImagingMode
from scanner_app.doppler_capture import DopplerContent
from scanner_app.frame import Frame
from scanner_app.spectral import SpectrumLine

BIN_CM_S = 1.5
AXIS_CM_S = np.arange(-32, 32) * BIN_CM_S  # 64 bins, zero at bin 32
LINE_DT_S = 0.01
PEAK_CM_S = 30.0


def spectrum_lines(count: int = 20, peak_cm_s: float = PEAK_CM_S) -> list[SpectrumLine]:
    """`count` columns `LINE_DT_S` apart, each with one bright bin at `peak_cm_s`."""
    power = np.full(AXIS_CM_S.shape, -80.0, dtype=np.float32)
    power[int(np.argmin(np.abs(AXIS_CM_S - peak_cm_s)))] = -10.0
    return [
        SpectrumLine(
            power_db=power,
            velocity_cm_s=AXIS_CM_S,
            time_s=1.0 + i * LINE_DT_S,
            max_cm_s=peak_cm_s,
            forward_cm_s=peak_cm_s,
            reverse_cm_s=0.0,
            mean_cm_s=peak_cm_s,
            noise_floor_db=-80.0,
            nyquist_cm_s=48.0,
            angle_deg=60.0,
            inverted=False,
        )
        for i in range(count)
    ]


class ShownSpectrum:
    """A `DopplerCaptureSource` whose display shows a fixed spectral sweep (duplex stills only)."""

    def __init__(self, lines: Sequence[SpectrumLine]) -> None:
        self.lines = tuple(lines)

    def doppler_content(
        self, frames: Sequence[Frame], clip: bool
    ) -> tuple[list[Frame], DopplerContent] | None:
        if clip or not frames:
            return None
        return [frames[-1]], DopplerContent(ImagingMode.SPECTRAL_DOPPLER, spectrum=self.lines)
