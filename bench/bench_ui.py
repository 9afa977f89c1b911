"""Benchmark (run by hand): the full scanner window against the bare LiveImageView, in one run.

Both phases get the same 60 frames/s stream of 512 x 512 B-mode frames from a paced replay driver
(frames rendered once up front, so renderer cost stays out of the figures). Measured per phase:
  - GUI-thread time per displayed frame: the draw slot (ring copy + setImage) plus the view's paint
    of that frame, p50/p95;
  - acquisition-to-paint latency (LiveImageView.paint_latencies_ms), p50/p99;
  - event-loop lag: lateness of a 5 ms precise timer, p99;
  - frames displayed per second and GUI-thread CPU share.
The full phase has calipers, a two-axis measurement, text annotations and the body marker on screen.

    QT_QPA_PLATFORM=offscreen python bench/bench_ui.py [--seconds 8]
    xvfb-run -a -s "-screen 0 1600x1000x24" python bench/bench_ui.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyqtgraph as pg  # noqa: E402
from PyQt6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from drivers.sim.direct import DirectSimProbe  # noqa: E402
from drivers.sim.renderer import RenderedFrame, RenderParams, SpeckleLayersRenderer  # noqa: E402
from drivers.sim.settings import SimSettings  # noqa: E402
from scanner_app.capture import FolderCaptureSink  # noqa: E402
from scanner_app.engine import AcquisitionEngine  # noqa: E402
from scanner_app.measurements import pixel_centre_mm  # noqa: E402
from scanner_app.preferences import Preferences  # noqa: E402
from scanner_app.ring import FrameRing  # noqa: E402
from ui.bridge import EngineBridge  # noqa: E402
from ui.live_view import LiveImageView  # noqa: E402
from ui.main_window import MainWindow, ScannerModels  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402


def run_loop(ms: int) -> None:
    """Run the real event loop for `ms` (QTest.qWait sleeps 10 ms between event batches, which would
    add up to 10 ms to every latency measured)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


SIZE = 512
RATE_HZ = 60.0


class ReplayRenderer:
    """Hands the simulated probe pre-rendered frames, so rendering costs the bench nothing."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self._frames = frames
        self._n = 0

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame:
        self._n += 1
        return RenderedFrame(self._frames[self._n % len(self._frames)], depth_mm=40.0, width_mm=38.0)


class GuiTimer:
    """Per displayed frame: draw-slot time plus the paint that shows it (class-level wrappers)."""

    def __init__(self) -> None:
        self.per_frame_ms: list[float] = []
        self._pending_ms: float | None = None
        self.active = False

    def install(self) -> None:
        orig_draw: Callable[[Any], None] = LiveImageView._draw_newest
        orig_paint: Callable[[Any, Any], None] = pg.GraphicsView.paintEvent
        timer = self

        def draw(view: Any) -> None:
            t = time.perf_counter()
            before = view.draws
            orig_draw(view)
            if timer.active and view.draws != before:
                timer._pending_ms = (time.perf_counter() - t) * 1e3

        def paint(view: Any, ev: Any) -> None:
            t = time.perf_counter()
            orig_paint(view, ev)
            if timer.active and isinstance(view, LiveImageView) and timer._pending_ms is not None:
                timer.per_frame_ms.append(timer._pending_ms + (time.perf_counter() - t) * 1e3)
                timer._pending_ms = None

        LiveImageView._draw_newest = draw  # type: ignore[method-assign]
        LiveImageView.paintEvent = paint  # type: ignore[method-assign]


def make_engine(frames: list[np.ndarray]) -> AcquisitionEngine:
    probe = DirectSimProbe(ReplayRenderer(frames), SimSettings(frame_rate_hz=RATE_HZ))
    return AcquisitionEngine(probe, FrameRing(int(RATE_HZ * 10), SIZE * SIZE))


def run_phase(
    name: str, engine: AcquisitionEngine, view: LiveImageView, gui: GuiTimer, seconds: float
) -> dict[str, float]:
    lags_ms: list[float] = []
    tick = QTimer()
    tick.setTimerType(Qt.TimerType.PreciseTimer)
    last = [time.perf_counter()]

    def on_tick() -> None:
        now = time.perf_counter()
        lags_ms.append(max(0.0, (now - last[0]) * 1e3 - 5.0))
        last[0] = now

    tick.timeout.connect(on_tick)
    engine.start()
    deadline = time.monotonic() + 5
    while view.draws < 30 and time.monotonic() < deadline:
        run_loop(20)
    view.paint_latencies_ms.clear()
    gui.per_frame_ms.clear()
    gui.active = True
    draws0 = view.draws
    cpu0 = time.thread_time()
    t0 = time.perf_counter()
    last[0] = t0
    tick.start(5)
    run_loop(int(seconds * 1000))
    tick.stop()
    wall = time.perf_counter() - t0
    cpu = time.thread_time() - cpu0
    gui.active = False
    received = engine.status().frames_received
    engine.close()
    lat = np.array(view.paint_latencies_ms or [np.nan])
    per = np.array(gui.per_frame_ms or [np.nan])
    lag = np.array(lags_ms or [np.nan])
    return {
        "name": name,  # type: ignore[dict-item]
        "displayed_fps": (view.draws - draws0) / wall,
        "received": received,
        "gui_ms_p50": float(np.percentile(per, 50)),
        "gui_ms_p95": float(np.percentile(per, 95)),
        "latency_p50": float(np.percentile(lat, 50)),
        "latency_p99": float(np.percentile(lat, 99)),
        "lag_p99": float(np.percentile(lag, 99)),
        "gui_cpu_pct": 100.0 * cpu / wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    args = ap.parse_args()
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    renderer = SpeckleLayersRenderer()
    params = RenderParams(rows=SIZE, cols=SIZE)
    frames = [np.ascontiguousarray(renderer.render(params, i / RATE_HZ).pixels) for i in range(60)]
    gui = GuiTimer()
    gui.install()

    # phase 1: the bare image window
    engine = make_engine(frames)
    bridge = EngineBridge(engine)
    bare = LiveImageView(engine.ring, bridge.take_frame_notice)
    bridge.frame_available.connect(bare.frame_available)
    bare.resize(1100, 900)
    bare.show()
    base = run_phase("bare LiveImageView", engine, bare, gui, args.seconds)
    bridge.frame_available.disconnect()
    bare.frozen = True  # a pending draw must not touch the scene pyqtgraph clears on close
    bare.close()

    # phase 2: the full scanner window with overlays
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    engine = make_engine(frames)
    models = ScannerModels.for_engine(engine, Preferences(tmp / "p.json"), FolderCaptureSink(tmp / "c"))
    window = MainWindow(engine, models)
    window.resize(1600, 1000)
    window.show()
    sp = (40.0 / SIZE, 38.0 / SIZE)
    window.measurements.add_distance(pixel_centre_mm(50, 100, sp), pixel_centre_mm(50, 400, sp))
    window.measurements.add_distance(pixel_centre_mm(100, 100, sp), pixel_centre_mm(300, 100, sp))
    window.measurements.add_two_axis(
        pixel_centre_mm(250, 150, sp), pixel_centre_mm(250, 350, sp),
        pixel_centre_mm(200, 250, sp), pixel_centre_mm(300, 250, sp),
    )  # fmt: skip
    window.annotations.add_text("SUPRAPATELLAR", *pixel_centre_mm(150, 256, sp))
    window.annotations.add_text("effusion", *pixel_centre_mm(350, 300, sp))
    full = run_phase("full scanner window", engine, window.view, gui, args.seconds)
    window.close()

    rows = [
        ("frames displayed /s", "displayed_fps", "{:.1f}", ""),
        ("GUI time per frame p50 (ms)", "gui_ms_p50", "{:.2f}", ""),
        ("GUI time per frame p95 (ms)", "gui_ms_p95", "{:.2f}", "<= 4"),
        ("acquisition-to-paint p50 (ms)", "latency_p50", "{:.2f}", "<= 6"),
        ("acquisition-to-paint p99 (ms)", "latency_p99", "{:.2f}", "<= 20"),
        ("event-loop lag p99 (ms)", "lag_p99", "{:.2f}", "<= 20"),
        ("GUI thread CPU (%)", "gui_cpu_pct", "{:.0f}", ""),
    ]
    print(f"{SIZE}x{SIZE} uint8 at {RATE_HZ:.0f} frames/s, {args.seconds:.0f} s per phase, "
          f"platform {app.platformName()}")  # fmt: skip
    print(f"{'':32s}{'bare':>10s}{'full':>10s}{'full/bare':>11s}{'target':>9s}")
    for label, key, fmt, target in rows:
        b, f = base[key], full[key]
        ratio = f / b if b else float("nan")
        print(f"{label:32s}{fmt.format(b):>10s}{fmt.format(f):>10s}{ratio:>10.2f}x{target:>9s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
