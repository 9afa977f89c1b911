"""CineModel: freeze, scrub, step and play back the frames held in the FrameRing (the ring is the cine).

On freeze the model takes the ring's range [oldest_seq, newest_seq]; the engine holds the ring while
frozen (`AcquisitionEngine.hold_ring`), so those frames stay put. No Qt: a Qt timer calls `advance`.
"""

from __future__ import annotations

from collections.abc import Callable

from psygnal import Signal

from scanner_app.ring import FrameRing, RingFrame


class CineModel:
    """Frozen or live; when frozen, the cine range, the current position and play/loop state."""

    changed = Signal()  # on the GUI thread; listeners read the new state themselves

    def __init__(self, ring: FrameRing, hold_ring: Callable[[bool], None] = lambda held: None) -> None:
        self.ring = ring
        self._hold_ring = hold_ring
        self.frozen = False
        self.first_seq = -1
        self.last_seq = -1
        self.position = -1
        self.playing = False
        self.loop = True
        self._period_s = 1.0 / 30.0

    @property
    def length(self) -> int:
        return 0 if self.last_seq < 0 else self.last_seq - self.first_seq + 1

    @property
    def index(self) -> int:
        """Position within the cine, 0 = oldest frame."""
        return max(0, self.position - self.first_seq)

    def freeze(self) -> None:
        if self.frozen:
            return
        self._hold_ring(True)
        self.frozen = True
        self.playing = False
        self.first_seq = self.ring.oldest_seq
        self.last_seq = self.ring.newest_seq
        self.position = self.last_seq
        self._period_s = self._measure_period_s()
        self.changed.emit()

    def unfreeze(self) -> None:
        if not self.frozen:
            return
        self.frozen = False
        self.playing = False
        self._hold_ring(False)
        self.changed.emit()

    def toggle_freeze(self) -> None:
        if self.frozen:
            self.unfreeze()
        else:
            self.freeze()

    def seek(self, ring_seq: int) -> None:
        """Go to a cine frame (clamped to the cine range); only while frozen."""
        if not self.frozen or self.length == 0:
            return
        position = min(max(ring_seq, self.first_seq), self.last_seq)
        if position != self.position:
            self.position = position
            self.changed.emit()

    def seek_index(self, index: int) -> None:
        self.seek(self.first_seq + index)

    def step(self, frames: int) -> None:
        self.seek(self.position + frames)

    def set_playing(self, playing: bool) -> None:
        if not self.frozen:
            playing = False
        if playing and self.position >= self.last_seq and not self.loop:
            self.position = self.first_seq  # play again from the start
        if playing != self.playing:
            self.playing = playing
            self.changed.emit()

    def set_loop(self, loop: bool) -> None:
        self.loop = loop
        self.changed.emit()

    def advance(self) -> None:
        """One playback tick: the next frame, wrapping when looping, stopping at the end otherwise."""
        if not (self.frozen and self.playing) or self.length == 0:
            return
        if self.position < self.last_seq:
            self.position += 1
        elif self.loop:
            self.position = self.first_seq
        else:
            self.playing = False
        self.changed.emit()

    def current(self) -> RingFrame | None:
        """The frame at the cine position (None when live or if the ring no longer holds it)."""
        if not self.frozen or self.position < 0:
            return None
        return self.ring.get(self.position)

    def frame_period_s(self) -> float:
        """Mean interval between cine frames, for real-time playback (1/30 s when unknown)."""
        return self._period_s

    def _measure_period_s(self) -> float:
        first, last = self.ring.get(self.first_seq), self.ring.get(self.last_seq)
        if first is None or last is None or self.length < 2:
            return 1.0 / 30.0
        span_s = (last.frame.host_time_ns - first.frame.host_time_ns) / 1e9
        period = span_s / (self.length - 1)
        return period if 0.001 < period < 1.0 else 1.0 / 30.0

    def frames(self) -> list[RingFrame]:
        """Copies of every cine frame still held, oldest first (a clip of the whole cine)."""
        out = []
        for seq in range(self.first_seq, self.last_seq + 1):
            got = self.ring.get(seq)
            if got is not None:
                out.append(got)
        return out
