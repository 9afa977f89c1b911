"""A scripted driver for engine tests: frames on demand, and faults on cue."""

from __future__ import annotations

import dataclasses
import threading
import time

from drivers.base import BaseProbeDriver
from drivers.sim.settings import SimSettings, sim_descriptor
from scanner_app.frame import DataFormat, Frame, ImagingSettings
from scanner_app.probe import ProbeDescriptor, ProbeDisconnected, ProbeEvent, ProbeNotFound, SettingKey
from tests.factories import make_frame

ROWS = 64  # make_frame's shape: 64 x 48 B-mode pixels


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
        # Its frames are B-mode only, so it offers no beam formats (the contract skips those).
        return dataclasses.replace(sim_descriptor(), formats=(int(DataFormat.BMODE_U8),))

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
        frame = self._frame(self.seq)
        self.seq += 1
        return frame

    def _frame(self, seq: int) -> Frame:
        """A frame made with the settings in force, as a probe's would be (the driver contract)."""
        p = self.settings.params
        settings = ImagingSettings(
            depth_mm=p.depth_mm,
            gain_db=p.gain_db,
            frequency_mhz=p.frequency_mhz,
            focus_mm=p.focus_mm,
            dynamic_range_db=p.dynamic_range_db,
            settings_id=self.settings.settings_id,
        )
        return make_frame(
            seq, host_time_ns=time.monotonic_ns(), spacing_mm=(p.depth_mm / ROWS, 0.2), settings=settings
        )

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
