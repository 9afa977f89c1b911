"""The headless Doppler summary: IQ packets from known physics, pushed through a real IQ ring and the
engine's `iq_ready` signal, give the velocities they were made with (cm/s)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scanner_app.doppler import DopplerMode, IqPacket, IqRing
from scanner_app.doppler_summary import DopplerRunSummary
from scanner_app.engine import IqReady
from scanner_app.events import worker_signal
from scanner_app.frame import Geometry
from tests.test_doppler_processing import F0_MHZ, PRF_HZ, flow_ensemble, phase_per_pulse

PULSES_PW = 64


class _IqSource:
    """What the summary uses of the engine: its IQ ring and the signal raised after each push."""

    iq_ready = worker_signal(IqReady)

    def __init__(self) -> None:
        self.iq_ring = IqRing()

    def push(self, packet: IqPacket) -> None:
        self.iq_ready.emit(IqReady(self.iq_ring.push(packet), 1))


def _packet(mode: DopplerMode, iq: np.ndarray, seq: int) -> IqPacket:
    lines, pulses, samples = iq.shape
    return IqPacket(
        mode=mode, geometry=Geometry.LINEAR, samples=samples, lines=lines, pulses=pulses, prf_hz=PRF_HZ,
        top_mm=10.0, bottom_mm=25.0 if mode == DopplerMode.FLOW else 11.0, left=5.0, right=25.0,
        steer_deg=0.0, frequency_mhz=F0_MHZ, frame_seq=0, settings_id=1, device_time_us=seq * 1000,
        host_time_ns=seq * 1_000_000, seq=seq, iq=iq,
    )  # fmt: skip


def test_pw_run_reports_the_gates_velocity_after_angle_correction() -> None:
    truth_cm_s, angle_deg = 25.0, 60.0
    source = _IqSource()
    summary = DopplerRunSummary(source, angle_deg)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    along_beam = truth_cm_s * math.cos(math.radians(angle_deg))
    step = phase_per_pulse(along_beam, PRF_HZ, F0_MHZ)
    phase0 = 0.0
    for seq in range(40):  # 40 packets of 64 pulses: about half a second of plug flow at 5 kHz
        n = np.arange(PULSES_PW)
        blood = 100.0 * np.exp(1j * (phase0 + step * n))
        phase0 += step * PULSES_PW
        clutter = 10_000.0 * np.exp(1j * 0.3)
        noise = (rng.standard_normal(PULSES_PW) + 1j * rng.standard_normal(PULSES_PW)) / math.sqrt(2)
        iq = (blood + clutter + noise).astype(np.complex64).reshape(1, PULSES_PW, 1)
        source.push(_packet(DopplerMode.PW, iq, seq))
    result = summary.result()
    assert result["spectral_lines"] > 50 and result["spectral_lines_with_flow"] == result["spectral_lines"]
    assert result["spectral_mean_cm_s"] == pytest.approx(truth_cm_s, rel=0.05)
    assert result["spectral_peak_cm_s"] == pytest.approx(truth_cm_s, rel=0.05)
    # The max trace sits at the spectrum's upper edge: above the peak, never below it.
    assert truth_cm_s <= result["max_trace_cm_s"] <= 1.15 * truth_cm_s
    assert result["iq_packets_lost"] == 0


def test_flow_run_reports_the_mean_velocity_inside_the_box_and_a_run_without_flow_says_so() -> None:
    truth_cm_s = -15.0  # away from the probe
    source = _IqSource()
    summary = DopplerRunSummary(source)  # type: ignore[arg-type]
    rng = np.random.default_rng(5)
    for seq in range(10):
        source.push(_packet(DopplerMode.FLOW, flow_ensemble(rng, truth_cm_s), seq))
    result = summary.result()
    assert result["flow_ensembles_with_flow"] == 10
    assert result["flow_mean_cm_s"] == pytest.approx(truth_cm_s, abs=max(1.0, 0.05 * abs(truth_cm_s)))

    quiet = _IqSource()
    nothing = DopplerRunSummary(quiet)  # type: ignore[arg-type]
    clutter_only = flow_ensemble(rng, 0.0, flow_amp=0.0)
    quiet.push(_packet(DopplerMode.FLOW, clutter_only, 0))
    assert "flow_mean_cm_s" not in nothing.result()  # no number invented where no flow was found


def test_the_summary_line_gives_the_velocities_or_says_no_flow() -> None:
    from scanner_app.headless import doppler_line

    found = {"spectral_lines": 80, "spectral_lines_with_flow": 78, "spectral_peak_cm_s": 24.9,
             "spectral_mean_cm_s": 25.1, "max_trace_cm_s": 27.6, "angle_deg": 60.0}  # fmt: skip
    assert doppler_line(found) == (
        "pw Doppler: 78 of 80 spectral lines with flow; peak 24.9 cm/s, mean 25.1 cm/s, "
        "max trace 27.6 cm/s (angle 60°)"
    )
    assert doppler_line({"spectral_lines": 80}) == "pw Doppler: 80 spectral lines, no flow in the gate"
