"""A host slower than its probe shows the newest frame, not a backlog (issue 11 item 3).

A 30 frames/s probe on the test's clock, whose frames queue in the driver as a link driver's do, and
a processor that takes two frame periods. The newest frame in the ring (what the live view peeks)
must stay within one frame period plus processing of the newest frame the probe sent; frames the
host could not process are counted, so received + dropped = sent.
"""

from __future__ import annotations

import collections
import dataclasses

from scanner_app.engine import AcquisitionEngine
from scanner_app.frame import Frame
from scanner_app.ring import FrameRing
from tests.factories import make_frame
from tests.fake_driver import ScriptedDriver

PERIOD_NS = 33_333_333  # 30 frames/s
MAX_PENDING = 8  # as the PLP driver's queue


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns


class QueueingProbe(ScriptedDriver):
    """Acquires a frame every period of `clock`; frames wait in the driver until read, oldest first."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.sent = 0
        self._next_ns = clock.now_ns
        self._pending: collections.deque[Frame] = collections.deque()

    def acquired_ns(self, frame: Frame) -> int:
        return frame.device_time_us * 1000

    def _arrive(self) -> None:
        while self._next_ns <= self.clock.now_ns:
            frame = dataclasses.replace(make_frame(self.sent), device_time_us=self._next_ns // 1000)
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self._counts["frames_overrun"] += 1
            self._pending.append(frame)
            self.sent += 1
            self._next_ns += PERIOD_NS

    def _wait(self) -> None:
        self._arrive()
        if not self._pending:
            self.clock.now_ns = self._next_ns  # blocked in the read until the next frame comes
            self._arrive()

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        self._wait()
        return self._pending.popleft()

    def _do_read_frames(self, timeout_s: float) -> list[Frame]:
        self._wait()
        frames = list(self._pending)
        self._pending.clear()
        return frames


def test_a_slow_host_shows_the_newest_frame_and_counts_the_ones_it_skips() -> None:
    clock = FakeClock()
    probe = QueueingProbe(clock)

    def slow_processor(frame: Frame) -> Frame:
        clock.now_ns += 2 * PERIOD_NS  # the host needs two frame periods a frame
        return frame

    engine = AcquisitionEngine(probe, FrameRing(64, 64 * 48), processor=slow_processor, clock_ns=clock)
    engine.step()  # connect
    lags_ns = []
    for _ in range(60):
        engine.step()
        newest = engine.ring.peek_latest()
        assert newest is not None
        lags_ns.append(clock.now_ns - probe.acquired_ns(newest.frame))
    settled = lags_ns[10:]  # after the engine has learnt the frame period and the processing cost
    assert max(settled) <= PERIOD_NS + 2 * PERIOD_NS, [round(x / 1e6) for x in settled]
    status = engine.status()
    assert status.frames_received + status.frames_dropped == probe.sent
    assert status.counters["frames_skipped"] > 0


def test_a_host_that_keeps_up_keeps_every_frame() -> None:
    clock = FakeClock()
    probe = QueueingProbe(clock)

    def quick_processor(frame: Frame) -> Frame:
        clock.now_ns += PERIOD_NS // 4
        return frame

    engine = AcquisitionEngine(probe, FrameRing(256, 64 * 48), processor=quick_processor, clock_ns=clock)
    engine.step()
    for _ in range(60):
        engine.step()
    status = engine.status()
    assert status.frames_dropped == 0
    assert status.frames_received == probe.sent
    seqs = [engine.ring.get(i).frame.seq for i in range(status.frames_received)]  # type: ignore[union-attr]
    assert seqs == list(range(probe.sent))
