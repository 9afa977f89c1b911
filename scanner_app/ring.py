"""FrameRing: the preallocated cine buffer between the acquisition thread and every reader.

One writer pushes frames; readers either peek the newest frame (display) or hold a `RingCursor` that
drains every frame in order (recorder, clips) and is told how many it lost when the writer lapped it.

Consistency without a lock on the pixel copy (a seqlock per slot): the writer marks a slot as being
written, copies the pixels, then stamps it with the frame's ring sequence number. A reader copies the
pixels out and checks the stamp before and after; a changed stamp means the writer overwrote the slot
during the read, so that frame counts as lost rather than being returned torn. Python's GIL orders
the stamp writes; numpy releases it during the copies, so writer and readers really do overlap.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scanner_app.frame import Frame

_WRITING = -1
_EMPTY = -2


@dataclass(frozen=True, slots=True)
class RingFrame:
    """A frame read from the ring, with the ring's own monotonically increasing sequence number."""

    ring_seq: int
    frame: Frame


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What a cursor got: the frames in order, and how many it lost since the last drain."""

    frames: list[RingFrame]
    lost: int


class _Slots:
    """Storage for one ring layout; replaced whole when a frame outgrows the slots."""

    def __init__(self, capacity: int, slot_bytes: int) -> None:
        self.data = np.zeros((capacity, slot_bytes), dtype=np.uint8)
        self.stamp: list[int] = [_EMPTY] * capacity
        self.meta: list[Frame | None] = [None] * capacity
        self.host_time_ns: list[int] = [0] * capacity


class FrameRing:
    """Preallocated ring of frames; capacity is the cine length. One writer, any number of readers."""

    def __init__(self, capacity_frames: int, slot_bytes: int) -> None:
        if capacity_frames < 2:
            raise ValueError(f"ring capacity must be at least 2 frames, got {capacity_frames}")
        if slot_bytes < 1:
            raise ValueError(f"ring slot size must be positive, got {slot_bytes}")
        self.capacity = capacity_frames
        self._slots = _Slots(capacity_frames, slot_bytes)
        self._next = 0  # ring_seq the next push gets
        self._first_valid = 0  # oldest ring_seq still stored in the current layout
        self._new_frame = threading.Condition()

    @classmethod
    def for_seconds(cls, seconds: float, frame_rate_hz: float, frame_bytes: int) -> FrameRing:
        """A ring that holds `seconds` of cine at the probe's frame rate."""
        return cls(max(2, round(seconds * frame_rate_hz)), frame_bytes)

    @property
    def slot_bytes(self) -> int:
        return int(self._slots.data.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self._slots.data.nbytes)

    @property
    def newest_seq(self) -> int:
        """ring_seq of the newest complete frame, or -1 when empty."""
        return self._next - 1

    @property
    def oldest_seq(self) -> int:
        """ring_seq of the oldest frame still held, or -1 when empty."""
        if self._next == 0:
            return -1
        return max(self._first_valid, self._next - self.capacity)

    # -- writer -----------------------------------------------------------------------------

    def push(self, frame: Frame) -> int:
        """Copy a frame into the ring and return its ring_seq. Never waits for a reader."""
        pixels = np.ascontiguousarray(frame.pixels)
        nbytes = pixels.nbytes
        slots = self._slots
        if nbytes > slots.data.shape[1]:
            # Rare: the probe now sends bigger frames than the ring was sized for. Start a new layout;
            # readers still holding the old one see consistent data in it.
            slots = _Slots(self.capacity, nbytes)
            self._slots = slots
            self._first_valid = self._next
        n = self._next
        i = n % self.capacity
        slots.stamp[i] = _WRITING
        slot_view = slots.data[i, :nbytes].view(pixels.dtype).reshape(pixels.shape)
        np.copyto(slot_view, pixels)
        # The stored frame's pixels are a view of the slot: the ring keeps no reference to the
        # writer's array, so its memory stays exactly the preallocated slots.
        slots.meta[i] = dataclasses.replace(frame, pixels=slot_view)
        slots.host_time_ns[i] = frame.host_time_ns
        slots.stamp[i] = n
        self._next = n + 1
        with self._new_frame:
            self._new_frame.notify_all()
        return n

    # -- readers ----------------------------------------------------------------------------

    def get(self, ring_seq: int) -> RingFrame | None:
        """A copy of frame `ring_seq`, or None if it is not (or no longer) in the ring."""
        slots = self._slots
        i = ring_seq % self.capacity
        if ring_seq < 0 or slots.stamp[i] != ring_seq:
            return None
        meta = slots.meta[i]
        if meta is None:
            return None
        out: npt.NDArray[np.generic] = meta.pixels.copy()
        if slots.stamp[i] != ring_seq or slots.meta[i] is not meta:
            return None  # overwritten while we copied: never hand out a torn frame
        return RingFrame(ring_seq, dataclasses.replace(meta, pixels=out))

    def peek_latest(self) -> RingFrame | None:
        """A copy of the newest frame, or None when the ring is empty."""
        while True:
            n = self.newest_seq
            if n < 0:
                return None
            got = self.get(n)
            if got is not None:
                return got
            # Lapped between reading newest_seq and copying (only when capacity is tiny): retry.

    def wait_for_frame_after(self, ring_seq: int, timeout_s: float) -> bool:
        """Block until a frame newer than `ring_seq` exists; False on timeout."""
        with self._new_frame:
            return self._new_frame.wait_for(lambda: self.newest_seq > ring_seq, timeout_s)

    def cursor(self, from_newest: bool = True) -> RingCursor:
        """A draining reader, starting after the newest frame (or at the oldest held one)."""
        start = self._next if from_newest else max(0, self.oldest_seq)
        return RingCursor(self, start)

    def seq_for_time(self, host_time_ns: int) -> int:
        """ring_seq of the first held frame at or after `host_time_ns` (newest_seq + 1 if none)."""
        lo, hi = self.oldest_seq, self.newest_seq
        if hi < 0:
            return 0
        times = self._slots.host_time_ns
        seqs = range(lo, hi + 1)
        k = bisect.bisect_left(seqs, host_time_ns, key=lambda s: times[s % self.capacity])
        return lo + k

    def frames_between(self, start_ns: int, end_ns: int) -> list[RingFrame]:
        """Copies of the frames received in [start_ns, end_ns], oldest first (for clips)."""
        out: list[RingFrame] = []
        n = self.seq_for_time(start_ns)
        while n <= self.newest_seq:
            got = self.get(n)
            n += 1
            if got is None:
                continue
            if got.frame.host_time_ns > end_ns:
                break
            out.append(got)
        return out


class RingCursor:
    """A reader that takes every frame in order and counts those the writer overwrote first."""

    def __init__(self, ring: FrameRing, next_seq: int) -> None:
        self._ring = ring
        self.next_seq = next_seq
        self.lost_total = 0

    def drain(self, max_frames: int | None = None) -> DrainResult:
        """Every frame since the last drain (up to `max_frames`), plus how many were lost."""
        ring = self._ring
        lost = 0
        frames: list[RingFrame] = []
        while self.next_seq <= ring.newest_seq and (max_frames is None or len(frames) < max_frames):
            oldest = ring.oldest_seq
            if self.next_seq < oldest:
                lost += oldest - self.next_seq
                self.next_seq = oldest
                continue
            got = ring.get(self.next_seq)
            if got is None:
                lost += 1  # overwritten during the copy
            else:
                frames.append(got)
            self.next_seq += 1
        self.lost_total += lost
        return DrainResult(frames, lost)
