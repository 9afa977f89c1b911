"""A scripted driver for engine tests: frames on demand, and faults on cue."""

from __future__ import annotations

import threading

from drivers.base import BaseProbeDriver
from drivers.sim.settings import SimSettings, sim_descriptor
from scanner_app.frame import Frame
from scanner_app.probe import ProbeDescriptor, ProbeDisconnected, ProbeEvent, ProbeNotFound, SettingKey
from tests.factories import make_frame


class ScriptedDriver(BaseProbeDriver):
    """Hands out a frame on every read unless told to block, raise, or be unplugged."""

    def __init__(self) -> None:
        super().__init__("scripted probe")
        self.settings = SimSettings()
        self.block_reads = False  # read blocks until interrupt()
        self.raise_on_read: Exception | None = None
        self.plugged = True
        self.no_frames = False
        self.seq = 0
        self.connects = 0
        self.events: list[ProbeEvent] = []
        self.set_calls: list[tuple[SettingKey, float]] = []
        self._wake = threading.Event()
        self.reading = threading.Event()

    def unplug(self) -> None:
        self.plugged = False
        self._wake.set()

    def _do_connect(self) -> ProbeDescriptor:
        if not self.plugged:
            raise ProbeNotFound("scripted probe is unplugged")
        self.connects += 1
        return sim_descriptor()

    def _do_start(self) -> None:
        pass

    def _do_stop(self) -> None:
        if not self.plugged:
            raise ProbeDisconnected("gone")

    def _do_close(self) -> None:
        pass

    def _do_interrupt(self) -> None:
        self._wake.set()

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        self.reading.set()
        if self.block_reads:
            self._wake.wait()  # ignores the timeout on purpose: only interrupt() frees it
            self._wake.clear()
            return None
        if not self.plugged:
            raise ProbeDisconnected("scripted probe was unplugged")
        if self.raise_on_read is not None:
            raise self.raise_on_read
        if self.no_frames:
            self._wake.wait(timeout_s)
            self._wake.clear()
            return None
        frame = make_frame(self.seq)
        self.seq += 1
        return frame

    def _do_set(self, key: SettingKey, value: float) -> float:
        if not self.plugged:
            raise ProbeDisconnected("gone")
        self.set_calls.append((key, value))
        return self.settings.set(key, value)

    def _do_get(self, key: SettingKey) -> float:
        return self.settings.get(key)

    def _do_poll_events(self) -> list[ProbeEvent]:
        out, self.events = self.events, []
        return out
