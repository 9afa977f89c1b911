"""Frame time of the virtual-patient renderer for every move the simulator panel makes, against a baseline.

Run by hand from the repository root:

    python bench/bench_sim.py [--frames N] [--runs 3] [--baseline-tree PATH]

Each run measures every case in a fresh worker process: this tree's renderer on one process
(`this`) and on two (`this x2`: the right-hand half of each linear frame's lines rendered by a band
worker process, as the app does), then (if given) the baseline tree, e.g. the renderer at main
87d5ad2 checked out with `git -C /work/main worktree add /tmp/base87 87d5ad2`, so all see the same
machine load. Prints per
case the p50 and p95 of each run and min / median / max of the p95 over the runs, against the
targets (p95 <= 16.7 ms at 512 x 512, <= 8 ms at 512 x 256).

Cases, BMODE_U8, linear, 40 mm deep, 10 MHz; the panel's keyboard steps (ui/sim_panel.py):
- held: pose and settings fixed; only the per-frame stage runs (noise, envelope, gain, LUT).
- slide 0.05 mm: along the limb in long axis (in plane), the old benchmark's cheapest move.
- along 5 mm: the panel's step along the limb, long axis (in plane, 5 mm of new tissue a frame).
- across 2 mm: the panel's step across the limb, long axis (out of plane: a new slice every frame).
- rotate 5 deg: the panel's rotation step (every frame a new plane).
- pressed: the groin short-axis view, pressure stepping by the panel's 0.05 up and down (vein
  compression warps the sampling coordinates every frame).
- short-axis sweep: probe turned to short axis, moving 0.5 mm along the limb a frame (15 mm/s).
- over vessels (their calibre follows the heart and the breath, so a held probe is no longer free):
  held and sliding 0.05 mm in plane at the groin's CFV short axis, held at the popliteal vein long
  axis (the vessel runs through every column); pressed in the calf's short axis, where six veins
  in view each squash the tissue above them.
Frames are 1/30 s apart in scene time. Besides wall-clock p50/p95, each case reports the CPU a frame
costs (`time.thread_time` of the render thread plus its helper thread, which other engineers'
processes on the machine do not inflate; on two processes plus the band worker's CPU, read from
/proc at 10 ms resolution over the case), split into the anatomy, the PSF convolution and the rest
(on two processes the split is of the render thread's own band; the worker's CPU counts as rest).
The threads numpy and BLAS may use are left at one each, as in the app. The renderer runs on one
thread; a baseline tree whose renderer ran a helper thread (`physics.run_both`) has that thread's CPU
counted too.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
TARGET_P95_MS = {512: 16.7, 256: 8.0}


class _Pressing:
    """The panel's pressure steps: up by 0.05 to full pressure, then back down, and again."""

    def __init__(self) -> None:
        self.direction = 1.0

    def __call__(self, pose: Any) -> Any:
        if not 0.0 <= pose.pressure + 0.05 * self.direction <= 1.0:
            self.direction = -self.direction
        return pose.nudged(pressure=0.05 * self.direction)


CASES: dict[str, tuple[str, Callable[[Any], Any] | None, dict[str, float]]] = {
    # name: (scene, step applied to the pose each frame (None = held), pose changes at the start)
    "held": ("knee", None, {}),
    "slide 0.05 mm": ("knee", lambda q: q.nudged(position_mm=0.05), {}),
    "along 5 mm": ("knee", lambda q: q.nudged(position_mm=5.0), {}),
    "across 2 mm": ("knee", lambda q: q.nudged(lateral_mm=2.0), {}),
    "rotate 5 deg": ("knee", lambda q: q.nudged(rotation_deg=5.0), {}),
    "pressed": ("groin", _Pressing(), {}),
    "short-axis sweep": ("knee", lambda q: q.nudged(position_mm=0.5), {"rotation_deg": 90.0}),
    # scene/view: the probe starts at that named view
    "held, groin vessels": ("groin/CFV short axis", None, {}),
    "slide 0.05 mm, groin vessels": ("groin/CFV short axis", lambda q: q.nudged(lateral_mm=0.05), {}),
    "held, popliteal long axis": ("popliteal/popliteal vein long axis", None, {}),
    "pressed, calf veins": ("calf", _Pressing(), {}),
}


class _StageCpu:
    """CPU seconds of each stage, the render thread's and its helper thread's (ph.run_both) together."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.helper = 0.0  # helper-thread CPU so far

    def install(self, patient: Any, physics: Any) -> None:
        run_both = getattr(physics, "run_both", None)  # older renderers ran a helper thread
        if run_both is not None:
            self._count_helper(physics, run_both)
        patient.build_anatomy = self.timed("anatomy", patient.build_anatomy)
        physics.convolve_axial = self.timed("psf", physics.convolve_axial)
        physics.convolve_lateral = self.timed("psf", physics.convolve_lateral)

    def _count_helper(self, physics: Any, run_both: Callable[..., Any]) -> None:
        def timed_run_both(first: Callable[[], Any], second: Callable[[], Any]) -> Any:
            def timed_second() -> Any:
                t0 = time.thread_time()
                try:
                    return second()
                finally:
                    self.helper += time.thread_time() - t0  # joined before run_both returns

            return run_both(first, timed_second)

        physics.run_both = timed_run_both

    def now(self) -> float:
        return time.thread_time() + self.helper

    def timed(self, stage: str, f: Callable[..., Any]) -> Callable[..., Any]:
        def g(*args: Any, **kwargs: Any) -> Any:
            t0 = self.now()
            try:
                return f(*args, **kwargs)
            finally:
                self.totals[stage] = self.totals.get(stage, 0.0) + self.now() - t0

        return g


def _process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` so far (0 for None), from /proc (Linux)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker(frames: int, processes: int) -> None:
    """Measure every case with the renderer importable from the current directory; print JSON."""
    sys.path.insert(0, os.getcwd())
    import drivers.sim.patient as patient
    import drivers.sim.physics as physics
    from drivers.sim.renderer import RenderParams

    cpu = _StageCpu()
    cpu.install(patient, physics)
    results: dict[str, list[float]] = {}
    for cols in (512, 256):
        params = RenderParams(rows=512, cols=cols, depth_mm=40.0, frequency_mhz=10.0)
        for name, (scene, step, start) in CASES.items():
            scene_id, _, view = scene.partition("/")
            options: dict[str, Any] = {"processes": 2} if processes == 2 else {}  # older trees: no option
            r = patient.PatientRenderer(scene_id, seed=0, **options)
            if view:
                r.set_pose(r.scene.views[view])
            if start:
                r.set_pose(r.pose.nudged(**start))
            r.render(params, 0.0)  # warm caches and LUTs
            band_worker = getattr(r, "_worker", None)
            if band_worker is not None:  # render until it has started and taken a band
                deadline = time.monotonic() + 60.0
                while not band_worker.ready:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the band worker did not start within 60 s")
                    time.sleep(0.05)
                r.render(params, 0.0)
            pid = band_worker.pid if band_worker is not None else None
            times, cpu.totals = [], {}
            frame_cpu, worker_cpu = 0.0, -_process_cpu_s(pid)
            for i in range(frames):
                if step is not None:
                    r.set_pose(step(r.pose))
                t0, c0 = time.perf_counter(), cpu.now()
                r.render(params, (i + 1) / 30.0)
                times.append((time.perf_counter() - t0) * 1e3)
                frame_cpu += cpu.now() - c0
            frame_cpu += worker_cpu + _process_cpu_s(pid)
            if hasattr(r, "close"):
                r.close()
            stages = {k: v / frames * 1e3 for k, v in cpu.totals.items()}
            results[f"{name} @512x{cols}"] = [
                float(np.percentile(times, 50)),
                float(np.percentile(times, 95)),
                frame_cpu / frames * 1e3,
                stages.get("anatomy", 0.0),
                stages.get("psf", 0.0),
            ]
    print(json.dumps(results))


def measure(tree: Path, frames: int, processes: int) -> dict[str, list[float]]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--frames", str(frames)]
    command += ["--processes", str(processes)]
    out = subprocess.run(command, cwd=tree, check=True, capture_output=True, text=True)
    result: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-tree", type=Path, help="a checkout of the renderer to compare with")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.frames, args.processes)
        return
    trees = {"this": (HERE, 1), "this x2": (HERE, 2)}
    if args.baseline_tree:
        trees["baseline"] = (args.baseline_tree.resolve(), 1)
    runs: dict[str, list[dict[str, list[float]]]] = {k: [] for k in trees}
    for run in range(args.runs):
        for label, (tree, processes) in trees.items():
            runs[label].append(measure(tree, args.frames, processes))
            print(f"run {run + 1}/{args.runs} {label} done", file=sys.stderr)
    print(
        f"{'case':40s} {'tree':8s} {'p50 per run (ms)':18s} {'p95 per run (ms)':18s} p95 min/med/max  target"
        "   CPU/frame median (ms): all = anatomy + psf + rest"
    )
    for case in runs["this"][0]:
        cols = int(case.rsplit("x", 1)[1])
        for label in trees:
            p50 = [r[case][0] for r in runs[label]]
            p95 = [r[case][1] for r in runs[label]]
            stats = f"{min(p95):5.1f}/{statistics.median(p95):5.1f}/{max(p95):5.1f}"
            total, anatomy, psf = (statistics.median(r[case][k] for r in runs[label]) for k in (2, 3, 4))
            print(
                f"{case:40s} {label:8s} {' '.join(f'{v:5.1f}' for v in p50):18s} "
                f"{' '.join(f'{v:5.1f}' for v in p95):18s} {stats}  <= {TARGET_P95_MS[cols]:4.1f}"
                f"   {total:5.1f} = {anatomy:5.1f} + {psf:5.1f} + {total - anatomy - psf:5.1f}"
            )


if __name__ == "__main__":
    main()
