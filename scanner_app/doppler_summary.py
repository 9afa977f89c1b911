"""DopplerRunSummary: a probe's Doppler checked without a window: every IQ packet of a headless run
processed as the window would, and the velocities (cm/s) and power (dB) summed up for the summary."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from scanner_app.doppler import DopplerMode, IqPacket
from scanner_app.doppler_processing import ColorFlowProcessor, FlowBox
from scanner_app.engine import AcquisitionEngine, IqReady
from scanner_app.headless import DopplerSummaryHook
from scanner_app.spectral import SpectralProcessor, SpectralSettings


class DopplerRunSummary:
    """Drains the engine's IQ ring on the acquisition thread (where Doppler processing belongs) and
    keeps, per spectral column, the strongest bin's velocity, the power-weighted mean and the automatic
    max trace (angle-corrected); per colour ensemble, the mean velocity and power inside the box where
    flow was detected."""

    def __init__(self, engine: AcquisitionEngine, angle_deg: float = 0.0) -> None:
        self._angle_deg = angle_deg
        self._cursor = engine.iq_ring.cursor()
        self._spectral: SpectralProcessor | None = None
        self._flow = ColorFlowProcessor()
        self.packets_lost = 0
        self.spectral_lines = 0
        self.spectral_peak_cm_s: list[float] = []  # the strongest bin's velocity (the modal velocity)
        self.max_trace_cm_s: list[float] = []
        self.spectral_mean_cm_s: list[float] = []
        self.flow_mean_cm_s: list[float] = []
        self.flow_power_db: list[float] = []
        engine.iq_ready.connect(self._on_iq)

    def _on_iq(self, _event: IqReady) -> None:
        drained = self._cursor.drain()
        self.packets_lost += drained.lost
        for packet in drained.packets:
            if packet.mode == DopplerMode.PW:
                self._spectrum(packet)
            elif packet.mode == DopplerMode.FLOW:
                self._colour(packet)

    def _spectrum(self, p: IqPacket) -> None:
        spectral = self._spectral
        if spectral is None or (spectral.prf_hz, spectral.f0_mhz) != (p.prf_hz, p.frequency_mhz):
            # A new PRF or frequency is a new scale and wall filter: start the sweep afresh.
            spectral = self._spectral = SpectralProcessor(
                p.prf_hz, p.frequency_mhz, SpectralSettings(angle_deg=self._angle_deg)
            )
        for line in spectral.feed(p.iq):
            if math.isfinite(line.max_cm_s):  # a column with no flow above the noise has no trace
                self.max_trace_cm_s.append(line.max_cm_s)
                self.spectral_peak_cm_s.append(float(line.velocity_cm_s[int(np.argmax(line.power_db))]))
                self.spectral_mean_cm_s.append(line.mean_cm_s)
            self.spectral_lines += 1

    def _colour(self, p: IqPacket) -> None:
        box = FlowBox(p.geometry, p.top_mm, p.bottom_mm, p.left, p.right, p.steer_deg)
        flow = self._flow.process(p.iq, p.prf_hz, p.frequency_mhz, box, p.frame_seq, p.host_time_ns)
        if flow.valid.any():
            self.flow_mean_cm_s.append(float(np.mean(flow.velocity_cm_s[flow.valid])))
            self.flow_power_db.append(float(np.mean(flow.power_db[flow.power_valid])))

    def result(self) -> dict[str, Any]:
        """The summary's "doppler" entry; read once acquisition has stopped."""
        out: dict[str, Any] = {"iq_packets_lost": self.packets_lost, "spectral_lines": self.spectral_lines}
        if self.spectral_lines:
            out["angle_deg"] = self._angle_deg
            out["spectral_lines_with_flow"] = len(self.spectral_peak_cm_s)
        if self.spectral_peak_cm_s:
            # Medians over the run's columns: a few noisy columns move none of them.
            out["spectral_peak_cm_s"] = statistics.median(self.spectral_peak_cm_s)
            out["spectral_mean_cm_s"] = statistics.fmean(self.spectral_mean_cm_s)
            out["max_trace_cm_s"] = statistics.median(self.max_trace_cm_s)
            out["max_trace_highest_cm_s"] = max(self.max_trace_cm_s, key=abs)
        if self.flow_mean_cm_s:
            out["flow_ensembles_with_flow"] = len(self.flow_mean_cm_s)
            out["flow_mean_cm_s"] = statistics.fmean(self.flow_mean_cm_s)
            out["flow_power_db"] = statistics.fmean(self.flow_power_db)
        return out


def headless_summary_hook(angle_deg: float) -> DopplerSummaryHook:
    """For `run_headless`: listen to the engine before it starts, give the summary's entry at the end."""

    def attach(engine: AcquisitionEngine) -> Any:
        return DopplerRunSummary(engine, angle_deg).result

    return attach
