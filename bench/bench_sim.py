"""Frame time of the virtual-patient renderer on one core, against a plain numpy baseline in the same run.

Run by hand from the repository root: `python bench/bench_sim.py [--frames N]`. Prints p50/p95 per
case and the ratio to the baseline (a 512 x 512 float32 FFT convolution, the figure ARCHITECTURE.md
quotes as ~5 ms on the project machine), so numbers from different machines can be compared.

Cases, BMODE_U8, linear, knee scene (long-axis view):
- held probe: pose and settings fixed; only the per-frame stage runs (noise, envelope, gain, LUT).
- moving probe: the pose slides 0.05 mm along the limb every frame (in plane), so scatterers, PSF and
  per-frame stages run every frame; the anatomy cells of columns already seen are reused.
- sweeping probe (not covered by the targets, reported for context): the probe turned to short axis
  and moved 0.05 mm along the limb every frame, out of plane, so the anatomy is rebuilt every frame.
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
from scipy import signal  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.sim.patient import PatientRenderer  # noqa: E402
from drivers.sim.renderer import RenderParams  # noqa: E402


def timed(fn: Callable[[int], object], frames: int) -> tuple[float, float]:
    fn(-1)  # warm caches and LUTs
    times = []
    for i in range(frames):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    image = rng.standard_normal((512, 512), dtype=np.float32)
    kernel = rng.standard_normal((16, 16), dtype=np.float32)
    base50, base95 = timed(lambda i: signal.fftconvolve(image, kernel, mode="same"), args.frames)
    print(f"baseline 512x512 float32 fftconvolve: p50 {base50:6.2f} ms  p95 {base95:6.2f} ms")

    targets = {512: 16.7, 256: 8.0}
    for cols in (512, 256):
        params = RenderParams(rows=512, cols=cols, depth_mm=40.0, frequency_mhz=10.0)
        held = PatientRenderer("knee", seed=0)
        p50, p95 = timed(lambda i, r=held, p=params: r.render(p, i / 30.0), args.frames)
        print(f"512x{cols} held probe:   p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
              f"p95/baseline-p50 {p95 / base50:5.2f}  target p95 <= {targets[cols]} ms")  # fmt: skip
        moving = PatientRenderer("knee", seed=0)

        def step(i: int, r: PatientRenderer = moving, p: RenderParams = params) -> object:
            r.set_pose(r.pose.nudged(position_mm=0.05))
            return r.render(p, i / 30.0)

        p50, p95 = timed(step, args.frames)
        print(f"512x{cols} moving probe: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
              f"p95/baseline-p50 {p95 / base50:5.2f}  target p95 <= {targets[cols]} ms")  # fmt: skip
        sweeping = PatientRenderer("knee", seed=0)
        sweeping.set_pose(sweeping.pose.nudged(rotation_deg=90.0))
        p50, p95 = timed(lambda i, r=sweeping, p=params: step(i, r, p), args.frames)
        print(f"512x{cols} sweeping (out of plane): p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
              f"p95/baseline-p50 {p95 / base50:5.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
