"""FramePoses: which scene and probe pose made each frame a simulated probe sent, by the frame's device
time, so that the ground truth of a frozen or cine frame is that frame's and not the probe's now.

A trainee who freezes, scrolls back through cine or moves the probe over a frozen image must see the
names, and be graded on the structures, of the image on screen. Frames from a held probe share one
run (its first and last device time), so a probe held for minutes costs one entry.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, replace

from drivers.sim.anatomy import Scene
from drivers.sim.pose import ProbePose

MAX_RUNS = 4096  # runs of frames kept: at one pose change a frame, over two minutes at 30 frames/s


@dataclass(frozen=True, slots=True)
class _Run:
    first_us: int
    last_us: int
    scene: Scene
    pose: ProbePose


class FramePoses:
    """Runs of consecutive frames sent with one scene and pose, by device time (µs). The probe's thread
    records, any thread asks; a device time that goes back (the probe powered on again, its clock
    restarted) forgets every earlier run, whose times the new clock will reuse."""

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        if max_runs < 1:
            raise ValueError(f"FramePoses keeps at least one run, not {max_runs}")
        self._max_runs = max_runs
        self._lock = threading.Lock()
        self._runs: list[_Run] = []
        self._firsts: list[int] = []  # each run's first_us, for bisect

    def record(self, device_time_us: int, scene: Scene, pose: ProbePose) -> None:
        """The frame sent with `device_time_us` was made of `scene` with the probe at `pose`."""
        with self._lock:
            last = self._runs[-1] if self._runs else None
            if last is not None and device_time_us < last.last_us:
                self._runs.clear()
                self._firsts.clear()
                last = None
            if last is not None and last.scene is scene and last.pose == pose:
                self._runs[-1] = replace(last, last_us=device_time_us)
                return
            self._runs.append(_Run(device_time_us, device_time_us, scene, pose))
            self._firsts.append(device_time_us)
            if len(self._runs) > 2 * self._max_runs:  # trim now and then, not on every frame
                del self._runs[: -self._max_runs]
                del self._firsts[: -self._max_runs]

    def at(self, device_time_us: int) -> tuple[Scene, ProbePose] | None:
        """The scene and pose of the frame sent with `device_time_us` (a time between two frames of one
        run is that run's); None for a time no kept run covers: older than the runs kept, from before
        the probe's clock restarted, or between two runs."""
        with self._lock:
            i = bisect.bisect_right(self._firsts, device_time_us) - 1
            if i < 0 or device_time_us > self._runs[i].last_us:
                return None
            run = self._runs[i]
            return run.scene, run.pose
