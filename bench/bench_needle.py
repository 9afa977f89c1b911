"""Benchmark (run by hand): live frame time with the needle guide and the simulated needle, against
without, in one run; three rounds, min / median / max of each figure.

1. The renderer alone (no Qt), the shoulder at 512 x 512, 12 MHz, 30 mm: render time per frame with
   no needle, with a needle held still (the PSF-convolved image is cached), and with the needle
   advancing 0.1 mm every frame (the worst case: the convolution is redone each frame); and the
   needle's own stage (`needle_echo` + applying it to the field).
2. The whole window on the simulated probe (512 x 512 at 30 frames/s, rendered live on the
   acquisition thread): frames received and displayed per second, GUI time per displayed frame and
   render time per frame; "without" has no guide and no needle, "with" shows the Procedure guide
   with a target and drives the Needle tab's needle in 0.2 mm steps ten times a second.

    QT_QPA_PLATFORM=offscreen python bench/bench_needle.py [--seconds 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PyQt6.QtCore import QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from bench.bench_ui import GuiTimer, run_loop  # noqa: E402
from drivers.sim import physics as ph  # noqa: E402
from drivers.sim.control import SimulatorControl  # noqa: E402
from drivers.sim.direct import DirectSimProbe  # noqa: E402
from drivers.sim.needle import Needle, image_plane, needle_echo  # noqa: E402
from drivers.sim.patient import PatientRenderer  # noqa: E402
from drivers.sim.pose import ProbePose  # noqa: E402
from drivers.sim.renderer import RenderedFrame, RenderParams  # noqa: E402
from drivers.sim.settings import SimSettings  # noqa: E402
from scanner_app.capture import FolderCaptureSink  # noqa: E402
from scanner_app.engine import AcquisitionEngine  # noqa: E402
from scanner_app.needle_guide import Approach, NeedleGuide  # noqa: E402
from scanner_app.preferences import Preferences  # noqa: E402
from scanner_app.ring import FrameRing  # noqa: E402
from ui.main_window import MainWindow, ScannerModels  # noqa: E402
from ui.needle_panel import NeedleTab  # noqa: E402
from ui.procedure_panel import ProcedurePanel  # noqa: E402
from ui.sim_panel import SimulatorTab  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402

SIZE = 512
PARAMS = RenderParams(depth_mm=30.0, frequency_mhz=12.0, focus_mm=12.0, rows=SIZE, cols=SIZE)
POSE = ProbePose(-12.0, 45.0)  # supraspinatus long axis
NEEDLE = Needle((POSE.position_mm - 19.0 - 5.0, POSE.lateral_mm, 0.0), 0.0, 25.0)


def p50(values: list[float]) -> float:
    return float(np.percentile(values, 50))


def renderer_round(frames: int) -> dict[str, float]:
    r = PatientRenderer("shoulder")
    r.set_pose(POSE)
    r.render(PARAMS, 0.0)  # the anatomy, built once for all cases

    def timed(step: Any) -> float:
        times = []
        for i in range(frames):
            step(i)
            t = time.perf_counter()
            r.render(PARAMS, (i + 1) / 30.0)
            times.append((time.perf_counter() - t) * 1e3)
        return p50(times)

    out = {"no needle": timed(lambda i: None)}
    r.needle = NEEDLE.advanced(20.0)
    out["needle held"] = timed(lambda i: None)
    out["needle advancing"] = timed(lambda i: setattr(r, "needle", NEEDLE.advanced(20.0 + 0.1 * i)))
    r.needle = None
    out["no needle (again)"] = timed(lambda i: None)
    grid = ph.BeamGrid(PARAMS.geometry, SIZE, SIZE, PARAMS.depth_mm, PARAMS.width_mm, 60.0, 40.0, 10, 20)
    field = np.ones((SIZE + 20, SIZE + 40), dtype=np.complex64)
    plane = image_plane(grid, POSE)
    stage = []
    for i in range(frames):
        t = time.perf_counter()
        needle_echo(NEEDLE.advanced(20.0 + 0.1 * i), plane, PARAMS.frequency_mhz).applied(field)
        stage.append((time.perf_counter() - t) * 1e3)
    out["needle stage alone"] = p50(stage)
    return out


class TimedRenderer:
    """The patient renderer with the time of each render kept (on the acquisition thread)."""

    def __init__(self, renderer: PatientRenderer) -> None:
        self.renderer = renderer
        self.times_ms: list[float] = []

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame:
        t = time.perf_counter()
        frame = self.renderer.render(params, time_s)
        self.times_ms.append((time.perf_counter() - t) * 1e3)
        return frame


def window_phase(
    window: MainWindow, engine: AcquisitionEngine, timed: TimedRenderer, gui: GuiTimer, seconds: float
) -> dict[str, float]:
    timed.times_ms.clear()
    gui.per_frame_ms.clear()
    gui.active = True
    draws0, received0 = window.view.draws, engine.status().frames_received
    t0 = time.perf_counter()
    run_loop(int(seconds * 1000))
    wall = time.perf_counter() - t0
    gui.active = False
    per = gui.per_frame_ms or [math.nan]
    return {
        "received /s": (engine.status().frames_received - received0) / wall,
        "displayed /s": (window.view.draws - draws0) / wall,
        "GUI ms/frame p50": p50(per),
        "GUI ms/frame p95": float(np.percentile(per, 95)),
        "render ms p50": p50(timed.times_ms or [math.nan]),
        "render ms p95": float(np.percentile(timed.times_ms or [math.nan], 95)),
    }


def push_needle(control: SimulatorControl, steps: list[int]) -> None:
    """In 0.2 mm ten times a second, 5 s in and 5 s back out."""
    steps[0] += 1
    control.advance_needle(0.2 if steps[0] % 100 < 50 else -0.2)


def window_rounds(rounds: int, seconds: float) -> list[tuple[dict[str, float], dict[str, float]]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-needle-"))
    renderer = PatientRenderer("shoulder")
    renderer.set_pose(POSE)
    timed = TimedRenderer(renderer)
    probe = DirectSimProbe(timed, SimSettings(PARAMS, frame_rate_hz=30.0))
    engine = AcquisitionEngine(probe, FrameRing(300, SIZE * SIZE))
    models = ScannerModels.for_engine(engine, Preferences(tmp / "p.json"), FolderCaptureSink(tmp / "c"))
    window = MainWindow(engine, models)
    window.resize(1600, 1000)
    window.show()
    gui = GuiTimer()
    gui.install()
    control = SimulatorControl(renderer)
    needle_tab = NeedleTab(window, SimulatorTab(window, control))
    procedure = ProcedurePanel()
    procedure.attach(window)
    engine.start()
    deadline = time.monotonic() + 10
    while window.view.draws < 30 and time.monotonic() < deadline:
        run_loop(20)
    results = []
    for _ in range(rounds):
        without = window_phase(window, engine, timed, gui, seconds)
        # With: the guide and a target drawn, the needle placed and pushed in 0.2 mm ten times a second.
        procedure.set_guide(NeedleGuide(Approach.IN_PLANE_LEFT, 25.0, 5.0))
        procedure.show_guide.setChecked(True)
        procedure.target = (19.0, 10.5)
        procedure.redraw()
        panel = needle_tab.panel
        assert panel is not None
        panel.do("place")
        push = QTimer()
        control.advance_needle(15.0)
        push.timeout.connect(functools.partial(push_needle, control, [0]))
        push.start(100)
        with_needle = window_phase(window, engine, timed, gui, seconds)
        push.stop()
        control.reset_needle()
        procedure.show_guide.setChecked(False)
        procedure.clear_target()
        results.append((without, with_needle))
    engine.close()
    window.close()
    return results


def spread(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="measured seconds per window phase")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=40, help="frames per renderer case")
    args = ap.parse_args()
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)

    rounds = [renderer_round(args.frames) for _ in range(args.rounds)]
    print(f"renderer, shoulder {SIZE}x{SIZE} at {PARAMS.frequency_mhz:g} MHz, p50 ms per frame "
          f"over {args.frames} frames; {args.rounds} rounds: min median max")  # fmt: skip
    for key in rounds[0]:
        print(f"  {key:28s}{spread([r[key] for r in rounds])}")

    pairs = window_rounds(args.rounds, args.seconds)
    print(f"\nwindow on the simulated probe, {SIZE}x{SIZE} at 30 frames/s, {args.seconds:g} s a phase, "
          f"platform {app.platformName()}; min median max")  # fmt: skip
    print(f"  {'':28s}{'without guide/needle':>24s}   {'with guide + needle':>24s}")
    for key in pairs[0][0]:
        without, with_needle = spread([w[key] for w, _ in pairs]), spread([n[key] for _, n in pairs])
        print(f"  {key:28s}{without:>24s}   {with_needle:>24s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
