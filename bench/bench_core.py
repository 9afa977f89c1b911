"""Acquisition-core benchmarks (run by hand): ring copy-in, acquisition-to-paint latency, memory.

    QT_QPA_PLATFORM=offscreen python bench/bench_core.py ring
    QT_QPA_PLATFORM=offscreen python bench/bench_core.py latency [--seconds 10]
    QT_QPA_PLATFORM=offscreen python bench/bench_core.py memory [--minutes 10]
    python bench/bench_core.py slowhost [--seconds 6] [--runs 3]

Each prints its figures beside a baseline measured in the same run, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from drivers.sim.direct import DirectSimProbe
from scanner_app.engine import AcquisitionEngine, FrameReady
from scanner_app.frame import DataFormat, Frame, ImagingSettings, ProbeIdentity
from scanner_app.probe import SettingKey
from scanner_app.ring import FrameRing

SIDE = 512


def bench_ring(n: int = 20000) -> None:
    """Ring push rate against a plain numpy copy into a preallocated array of the same size."""
    pixels = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
    frame = Frame(
        0,
        0,
        0,
        pixels,
        (0.1, 0.1),
        DataFormat.BMODE_U8,
        ImagingSettings(40, 0, 10, 20, 60),
        ProbeIdentity("b", "b", "b"),
    )
    capacity = 64
    plain = np.empty((capacity, SIDE * SIDE), np.uint8)
    flat = pixels.reshape(-1)
    t0 = time.perf_counter()
    for i in range(n):
        np.copyto(plain[i % capacity], flat)
    plain_s = time.perf_counter() - t0
    ring = FrameRing(capacity, SIDE * SIDE)
    t0 = time.perf_counter()
    for _ in range(n):
        ring.push(frame)
    ring_s = time.perf_counter() - t0
    plain_fps, ring_fps = n / plain_s, n / ring_s
    mb = SIDE * SIDE / 1e6
    print(f"plain numpy copy : {plain_fps:9.0f} frames/s  {plain_fps * mb:7.0f} MB/s")
    print(f"FrameRing.push   : {ring_fps:9.0f} frames/s  {ring_fps * mb:7.0f} MB/s")
    print(f"ratio ring/plain : {ring_fps / plain_fps:.2f}  (target >= 0.6)")


def run_event_loop(seconds: float) -> None:
    """Run the Qt event loop for a while, as the app would (no busy polling)."""
    from PyQt6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def _percentiles(xs: list[float]) -> tuple[float, float]:
    if not xs:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(xs, [50, 99])
    return float(p50), float(p99)


def _scanner_window(engine: AcquisitionEngine) -> Any:
    """The app's MainWindow with its preferences and captures in a temporary folder."""
    import tempfile

    from scanner_app.capture import FolderCaptureSink
    from scanner_app.preferences import Preferences
    from ui.main_window import MainWindow, ScannerModels

    tmp = Path(tempfile.mkdtemp(prefix="bench-core-"))
    models = ScannerModels.for_engine(engine, Preferences(tmp / "p.json"), FolderCaptureSink(tmp / "c"))
    return MainWindow(engine, models)


def bench_latency(seconds: float) -> None:
    """Acquisition-to-paint latency, coalesced live view versus a naive one-setImage-per-frame window."""
    from PyQt6.QtCore import QObject, pyqtSignal
    from PyQt6.QtWidgets import QApplication

    from ui.live_view import LiveImageView

    app = QApplication.instance() or QApplication([])

    class NaiveBridge(QObject):
        frame = pyqtSignal(object)

    def run(rate_hz: float, naive: bool) -> dict[str, float]:
        driver = DirectSimProbe()
        engine = AcquisitionEngine(driver, FrameRing(64, SIDE * SIDE))
        engine.request_setting(SettingKey.FRAME_RATE_HZ, rate_hz)
        if naive:
            view = LiveImageView(engine.ring)
            bridge = NaiveBridge()

            def per_frame(event: FrameReady) -> None:
                got = engine.ring.get(event.ring_seq)
                if got is not None:
                    bridge.frame.emit(got)

            engine.frame_ready.connect(per_frame)
            bridge.frame.connect(view.show_frame)
            widget = view
        else:
            window = _scanner_window(engine)
            view = window.view
            widget = window
        widget.resize(800, 800)
        widget.show()
        app.processEvents()
        engine.start()
        run_event_loop(1.0)  # warm up
        view.paint_latencies_ms.clear()
        draws0, seq0 = view.draws, engine.ring.newest_seq
        cpu0 = time.thread_time()
        t0 = time.perf_counter()
        run_event_loop(seconds)
        wall = time.perf_counter() - t0
        cpu = time.thread_time() - cpu0
        frames = engine.ring.newest_seq - seq0
        draws = view.draws - draws0
        lat = list(view.paint_latencies_ms)
        engine.close()
        if naive:
            bridge.frame.disconnect()  # frames still queued must not reach the closed view
        widget.close()
        p50, p99 = _percentiles(lat)
        return {
            "frames_per_s": frames / wall,
            "draws_per_s": draws / wall,
            "p50": p50,
            "p99": p99,
            "gui_cpu_ms_per_s": cpu / wall * 1000,
        }

    header = ("window", "rate", "frames/s", "draws/s", "p50 ms", "p99 ms", "GUI CPU ms/s")
    print(
        f"{header[0]:<10}{header[1]:>6}{header[2]:>10}{header[3]:>9}{header[4]:>8}{header[5]:>8}{header[6]:>14}"
    )
    for rate in (60.0, 240.0):
        for naive in (False, True):
            r = run(rate, naive)
            name = "naive" if naive else "coalesced"
            print(
                f"{name:<10}{rate:>6.0f}{r['frames_per_s']:>10.1f}{r['draws_per_s']:>9.1f}"
                f"{r['p50']:>8.2f}{r['p99']:>8.2f}{r['gui_cpu_ms_per_s']:>14.1f}"
            )
    print("coalesced: the app's MainWindow; naive: one queued signal and one setImage per frame")
    print("targets (coalesced): p50 <= 5 ms, p99 <= 17 ms, draws/s <= 60")


def bench_memory(minutes: float) -> None:
    """Resident memory of the full window at 60 frames/s with a 10 s cine, against the ring's own size."""
    import psutil
    from PyQt6.QtWidgets import QApplication

    proc = psutil.Process()
    app = QApplication.instance() or QApplication([])  # kept: the window needs it alive
    base_rss = proc.memory_info().rss
    ring = FrameRing.for_seconds(10.0, 60.0, SIDE * SIDE)
    engine = AcquisitionEngine(DirectSimProbe(), ring)
    engine.request_setting(SettingKey.FRAME_RATE_HZ, 60.0)
    window = _scanner_window(engine)
    window.show()
    engine.start()
    t0 = time.perf_counter()
    samples: list[tuple[float, float]] = []
    while time.perf_counter() - t0 < minutes * 60:
        run_event_loop(10.0)
        samples.append((time.perf_counter() - t0, proc.memory_info().rss / 1e6))
    frames = ring.newest_seq + 1
    engine.close()
    window.close()
    app.processEvents()
    ring_mb = ring.nbytes / 1e6
    print(f"ring (10 s cine at 60 frames/s, {SIDE}x{SIDE}): {ring_mb:.0f} MB; frames acquired: {frames}")
    print(f"RSS before the app: {base_rss / 1e6:.0f} MB")
    for t, rss in samples[:: max(1, len(samples) // 12)]:
        print(f"  t={t:6.0f} s  RSS {rss:7.1f} MB  rest (RSS - ring) {rss - ring_mb:7.1f} MB")
    warm = [rss for t, rss in samples if t >= 60] or [rss for _, rss in samples]
    print(f"rest after the run: {samples[-1][1] - ring_mb:.1f} MB (target <= 300 MB)")
    print(f"growth after the first minute: {warm[-1] - warm[0]:+.1f} MB (target: none)")


class _OldestFirst:
    """The driver as the engine used it before issue 11 item 3: one frame a step, the oldest it holds."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def read_frames(self, timeout_s: float) -> list[Frame]:
        frame = self._driver.read_frame(timeout_s)
        return [] if frame is None else [frame]


def bench_slowhost(seconds: float, runs: int) -> None:
    """Acquisition-to-ring latency of the live (newest) frame when the host processes at half the
    probe's rate: a 30 frames/s PLP probe on the simulated USB bus, a processor taking 2 frame periods.

    before: one frame a step, the oldest queued (the engine until issue 11 item 3);
    after: every queued frame taken each step, the newest always processed.
    """
    from drivers.plp_driver import PlpProbeDriver
    from drivers.sim.firmware import SimFirmware, small_params
    from drivers.sim.usb_backend import SimUsbBackend
    from drivers.transports import UsbTransport

    rate_hz = 30.0
    period_s = 1.0 / rate_hz

    def run(before: bool) -> dict[str, float]:
        origin: list[float] = []

        def fw_clock() -> float:
            # The firmware's first reading is its device time 0: a frame was acquired at
            # origin + device_time on time.monotonic.
            now = time.monotonic()
            if not origin:
                origin.append(now)
            return now - origin[0]

        fw = SimFirmware(params=small_params(128, 128), frame_rate_hz=rate_hz, clock=fw_clock)
        driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw)
        latencies_ms: list[float] = []

        def slow(frame: Frame) -> Frame:
            time.sleep(2 * period_s)  # stands for costly processing (scan conversion of big frames)
            latencies_ms.append((time.monotonic() - origin[0] - frame.device_time_us / 1e6) * 1000)
            return frame

        engine = AcquisitionEngine(
            _OldestFirst(driver) if before else driver, FrameRing(64, 128 * 128), processor=slow
        )
        engine.start()
        time.sleep(1.0)  # warm up: connected, queues at their steady state
        latencies_ms.clear()
        time.sleep(seconds)
        engine.close()
        status = engine.status()
        p50, p99 = _percentiles(latencies_ms)
        return {
            "p50": p50,
            "p99": p99,
            "sent": fw.injected["frames_sent"],
            "kept": status.frames_received,
            "dropped": status.frames_dropped,
        }

    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(runs):
        for before in (True, False):
            results[before].append(run(before))
    print(
        f"30 frames/s probe, processor {2 * period_s * 1000:.0f} ms a frame, {runs} runs of {seconds:.0f} s"
    )
    print(f"{'engine':<8}{'p50 ms (min/med/max)':>26}{'p99 ms (min/med/max)':>26}{'kept/sent':>12}")
    for before in (True, False):
        rs = results[before]

        def mmm(key: str, rs: list[dict[str, float]] = rs) -> str:
            xs = sorted(r[key] for r in rs)
            return f"{xs[0]:.0f}/{xs[len(xs) // 2]:.0f}/{xs[-1]:.0f}"

        kept = sum(r["kept"] for r in rs) / max(1, sum(r["sent"] for r in rs))
        print(f"{'before' if before else 'after':<8}{mmm('p50'):>26}{mmm('p99'):>26}{kept:>12.2f}")
    print(f"target (after): p99 <= one frame period + processing = {3 * period_s * 1000:.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["ring", "latency", "memory", "slowhost"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if args.what == "ring":
        bench_ring()
    elif args.what == "latency":
        bench_latency(args.seconds)
    elif args.what == "slowhost":
        bench_slowhost(args.seconds, args.runs)
    else:
        bench_memory(args.minutes)


if __name__ == "__main__":
    main()
