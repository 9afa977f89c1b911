"""Doppler processing throughput on one core, against the bare numpy operations it is built on.

Run by hand from the repository root: `python bench/bench_doppler.py [--seconds 1.5] [--runs 3]`.

- colour flow: a 128-line x 200-sample box, ensemble 12 (`ColorFlowProcessor.process`), alone and
  with a 512 x 512 B-mode frame made beside each one (`DisplayProcessor` on 512 x 256 envelope data);
  baseline: the regression filter and the lag-zero/lag-one autocorrelation and phase as plain numpy
  calls. Target >= 20 frames/s with the B-mode.
- spectral: pw packets of 64 pulses x 16 gate samples at 5 kHz PRF (`SpectralProcessor.feed`,
  128-pulse Hann window, 75 % overlap); baseline: the gate sum, `sosfilt` and the windowed FFTs
  as plain calls. Target >= 200 spectral lines/s.
- simulated IQ (`AnatomyIqModel.synthesize`): a 128-line x 101-sample colour ensemble of 12 over the
  groin's common femoral vein in long axis (about half the box is blood), alone and with the 512 x 512
  B-mode frame the simulated probe renders beside it (`PatientRenderer`, probe held still); baseline:
  the clutter, the blood phasors and the noise as plain numpy calls. Target >= 30 frames/s with the
  B-mode, the simulated probe's frame rate; and pw packets of 64 pulses x 11 samples, target >= 78
  packets/s (5 kHz PRF in real time), here hundreds of times that.

Each figure is min / median / max over the runs, measured in the same process.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402
from scipy import fft, signal  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner_app.doppler_processing import (  # noqa: E402
    ColorFlowProcessor,
    ColorFlowSettings,
    FlowBox,
    regression_wall_filter,
)
from scanner_app.frame import (  # noqa: E402
    BeamGeometry,
    DataFormat,
    Frame,
    Geometry,
    ImagingSettings,
    ProbeIdentity,
)
from scanner_app.processing import DisplayProcessor  # noqa: E402
from scanner_app.spectral import SpectralProcessor, SpectralSettings  # noqa: E402

LINES, ENSEMBLE, SAMPLES = 128, 12, 200
PRF_HZ, F0_MHZ = 5000.0, 5.0
PW_PULSES, PW_SAMPLES = 64, 16


def rate(step: Callable[[int], int], seconds: float) -> float:
    """Units per second of `step(i)` (which returns how many units it made), run for about `seconds`."""
    step(-1)  # warm caches (filter matrices, scan maps)
    done, i = 0, 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        done += step(i)
        i += 1
    return done / elapsed


def summary(values: list[float]) -> str:
    lo, mid, hi = np.min(values), np.median(values), np.max(values)
    return f"{lo:8.1f} {mid:8.1f} {hi:8.1f}"


def colour_cases() -> dict[str, Callable[[int], int]]:
    rng = np.random.default_rng(0)
    shape = (LINES, ENSEMBLE, SAMPLES)
    iqs = [
        (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64) * 300
        for _ in range(4)
    ]
    box = FlowBox(Geometry.LINEAR, 10.0, 30.0, 5.0, 30.0)
    processor = ColorFlowProcessor(ColorFlowSettings(persistence=0.5))
    envelope = rng.integers(0, 65535, (512, 256), dtype=np.uint16)
    bmode_in = Frame(
        0,
        0,
        0,
        envelope,
        (40.0 / 512, 40.0 / 256),
        DataFormat.ENVELOPE_U16,
        ImagingSettings(40.0, 0.0, 10.0, 20.0, 60.0),
        ProbeIdentity("bench", "bench", "0"),
        BeamGeometry(Geometry.LINEAR, width_mm=40.0),
    )
    display = DisplayProcessor(512)
    matrix = regression_wall_filter(ENSEMBLE, PRF_HZ, ColorFlowSettings().wall_cutoff_hz).matrix

    def bare(i: int) -> int:
        y = np.matmul(matrix, iqs[i % 4])
        r0 = np.mean(y.real**2 + y.imag**2, axis=1)
        r1 = np.mean(y[:, 1:, :] * np.conj(y[:, :-1, :]), axis=1)
        np.angle(r1)
        np.log10(r0)
        return 1

    def colour(i: int) -> int:
        processor.process(iqs[i % 4], PRF_HZ, F0_MHZ, box)
        return 1

    def colour_and_bmode(i: int) -> int:
        processor.process(iqs[i % 4], PRF_HZ, F0_MHZ, box)
        display(bmode_in)
        return 1

    return {
        "bare numpy (filter+autocorr)": bare,
        "ColorFlowProcessor": colour,
        "ColorFlow + 512x512 B-mode": colour_and_bmode,
    }


def spectral_cases() -> dict[str, Callable[[int], int]]:
    rng = np.random.default_rng(1)
    shape = (1, PW_PULSES, PW_SAMPLES)
    packets = [
        (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64) for _ in range(8)
    ]
    settings = SpectralSettings()
    processor = SpectralProcessor(PRF_HZ, F0_MHZ, settings)
    sos = signal.butter(4, settings.wall_cutoff_hz, "highpass", fs=PRF_HZ, output="sos")
    window = signal.windows.hann(settings.window_pulses, sym=False).astype(np.float32)
    hop = settings.hop_pulses
    state = {"zi": np.zeros((sos.shape[0], 2), np.complex128), "tail": np.zeros(0, np.complex64)}

    def bare(i: int) -> int:
        gate = packets[i % 8].mean(axis=(0, 2))
        y, state["zi"] = signal.sosfilt(sos, gate, zi=state["zi"])
        x = np.concatenate([state["tail"], y.astype(np.complex64)])
        if x.size < window.size:
            state["tail"] = x
            return 0
        frames = sliding_window_view(x, window.size)[::hop]
        np.abs(fft.fft(frames * window, axis=1)) ** 2
        state["tail"] = x[frames.shape[0] * hop :]
        return int(frames.shape[0])

    def spectral(i: int) -> int:
        return len(processor.feed(packets[i % 8]))

    return {"bare numpy (filter+STFT)": bare, "SpectralProcessor": spectral}


def sim_iq_cases() -> dict[str, Callable[[int], int]]:
    from drivers.sim.doppler_iq import AnatomyIqModel, IqRequest, SceneTruth
    from drivers.sim.patient import PatientRenderer
    from drivers.sim.pose import ProbePose
    from drivers.sim.renderer import RenderParams
    from scanner_app.doppler import DopplerMode

    renderer = PatientRenderer("groin")
    pose = ProbePose(position_mm=10.0, lateral_mm=9.0, tilt_deg=20.0)
    renderer.set_pose(pose)
    truth = SceneTruth(None, 40.0, 38.0, renderer.scene, pose)
    model = AnatomyIqModel()
    flow = IqRequest(
        DopplerMode.FLOW, Geometry.LINEAR, 101, 128, 12, PRF_HZ, 12.0, 32.0, 5.0, 33.0, 20.0, F0_MHZ
    )
    pw = IqRequest(DopplerMode.PW, Geometry.LINEAR, 11, 1, 64, PRF_HZ, 22.0, 24.0, 19.0, 19.0, 20.0, F0_MHZ)
    params = RenderParams()
    fmap = model.flow_map(flow, truth)
    rng = np.random.default_rng(2)
    clutter = (rng.standard_normal(fmap.clutter.shape) * fmap.clutter).astype(np.complex64).ravel()
    rows = np.flatnonzero(fmap.channel.ravel())
    toward = fmap.toward_m_s.ravel()[rows]
    k = 4 * np.pi * F0_MHZ * 1e6 / 1540.0

    def bare(i: int) -> int:
        iq = np.repeat(clutter[:, None], 12, axis=1)
        phase = (k * toward)[:, None] * (i + np.arange(12))[None, :] / PRF_HZ
        iq[rows] += np.exp(1j * phase).astype(np.complex64)
        iq += rng.standard_normal(iq.shape, dtype=np.float32)
        np.ascontiguousarray(iq.reshape(128, 101, 12).transpose(0, 2, 1))
        return 1

    def ensemble(i: int) -> int:
        model.synthesize(flow, truth, i / 30.0)
        return 1

    def ensemble_and_bmode(i: int) -> int:
        renderer.render(params, i / 30.0)
        model.synthesize(flow, truth, i / 30.0)
        return 1

    def pw_packets(i: int) -> int:
        model.synthesize(pw, truth, i * 64 / PRF_HZ)
        return 1

    return {
        "bare numpy (clutter+phasors+noise)": bare,
        "AnatomyIqModel ensemble": ensemble,
        "IQ ensemble + 512x512 B-mode": ensemble_and_bmode,
        "AnatomyIqModel pw packet": pw_packets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    for title, unit, cases, target_name, target in (
        ("colour flow, 128 x 200 x 12", "frames/s", colour_cases(), "ColorFlow + 512x512 B-mode", 20.0),
        ("pw spectrum, 64-pulse packets", "lines/s", spectral_cases(), "SpectralProcessor", 200.0),
        ("simulated IQ, 128 x 101 x 12", "per s", sim_iq_cases(), "IQ ensemble + 512x512 B-mode", 30.0),
    ):
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved, so a busy moment hits every case alike
            for name, step in cases.items():
                results[name].append(rate(step, args.seconds))
        print(f"{title} ({unit}, one core, {args.runs} runs)    min   median      max")
        for name, values in results.items():
            print(f"  {name:<32}{summary(values)}")
        names = list(cases)
        ratio = np.median(results[names[1]]) / np.median(results[names[0]])
        verdict = "met" if np.median(results[target_name]) >= target else "MISSED"
        print(f"  ratio {names[1]} / bare: {ratio:.2f}")
        print(f"  target {target_name} >= {target:.0f} {unit}: {verdict}")


if __name__ == "__main__":
    main()
