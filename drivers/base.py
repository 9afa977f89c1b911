"""BaseProbeDriver: the public verbs every probe driver shares, written once; vendors fill `_do_*` hooks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter

from scanner_app.doppler import IqPacket
from scanner_app.frame import Frame
from scanner_app.probe import ProbeDescriptor, ProbeError, ProbeEvent, SettingKey


class BaseProbeDriver(ABC):
    """Checks state and keeps the applied settings and counters; hooks talk to the hardware.

    All verbs but `interrupt` are called from one thread (the engine's acquisition thread).
    """

    def __init__(self, display_name: str) -> None:
        self._display_name = display_name
        self._descriptor: ProbeDescriptor | None = None
        self._streaming = False
        self._applied: dict[SettingKey, float] = {}
        self._counts: Counter[str] = Counter()

    # -- public verbs -----------------------------------------------------------------------

    @property
    def descriptor(self) -> ProbeDescriptor | None:
        return self._descriptor

    @property
    def display_name(self) -> str:
        return self._display_name

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def applied_settings(self) -> dict[SettingKey, float]:
        """The values the probe reported applying, by key (readback, not setpoint)."""
        return dict(self._applied)

    def connect(self) -> ProbeDescriptor:
        """Open the link and identify the probe; safe to call again after a disconnect."""
        self._streaming = False
        self._descriptor = self._do_connect()
        return self._descriptor

    def start(self) -> None:
        if self._descriptor is None:
            raise ProbeError(f"{self._display_name}: start before connect")
        self._do_start()
        self._streaming = True

    def stop(self) -> None:
        if self._streaming:
            self._streaming = False
            self._do_stop()

    def close(self) -> None:
        """Stop streaming if possible and release the link; never raises for a link already gone."""
        try:
            self.stop()
        except ProbeError:
            pass
        finally:
            self._descriptor = None
            self._do_close()

    def read_frame(self, timeout_s: float) -> Frame | None:
        """The next frame, or None if none arrived within `timeout_s` (or the read was interrupted)."""
        if not self._streaming:
            raise ProbeError(f"{self._display_name}: read_frame while not streaming")
        return self._do_read_frame(timeout_s)

    def read_frames(self, timeout_s: float) -> list[Frame]:
        """Every frame that has arrived, oldest first, waiting up to `timeout_s` for the first.

        The engine takes them all each time, so a host that falls behind skips to the newest frame
        instead of working through a backlog (the live image must be the newest).
        """
        if not self._streaming:
            raise ProbeError(f"{self._display_name}: read_frames while not streaming")
        return self._do_read_frames(timeout_s)

    def read_iq(self) -> list[IqPacket]:
        """Every Doppler IQ packet (spec 10) that has arrived, oldest first; never waits.

        The engine calls it after each `read_frames`, which returns early when IQ arrives. A driver
        whose probe does no Doppler returns nothing.
        """
        if not self._streaming:
            raise ProbeError(f"{self._display_name}: read_iq while not streaming")
        return self._do_read_iq()

    def set_setting(self, key: SettingKey, value: float) -> float:
        """Ask the probe for `value`; returns the value it applied, which may be clamped."""
        applied = self._do_set(SettingKey(key), float(value))
        self._applied[SettingKey(key)] = applied
        return applied

    def get_setting(self, key: SettingKey) -> float:
        return self._do_get(SettingKey(key))

    def poll_events(self) -> list[ProbeEvent]:
        """Buttons, faults and status reports received since the last poll."""
        return self._do_poll_events()

    def counters(self) -> dict[str, int]:
        """Link counters (frames, drops, CRC errors, resyncs, ...), cumulative since creation."""
        return dict(self._counts)

    def interrupt(self) -> None:
        """Make a blocked `read_frame` return soon; callable from any thread."""
        self._do_interrupt()

    # -- vendor hooks -----------------------------------------------------------------------

    @abstractmethod
    def _do_connect(self) -> ProbeDescriptor: ...

    @abstractmethod
    def _do_start(self) -> None: ...

    @abstractmethod
    def _do_stop(self) -> None: ...

    @abstractmethod
    def _do_close(self) -> None: ...

    @abstractmethod
    def _do_read_frame(self, timeout_s: float) -> Frame | None: ...

    @abstractmethod
    def _do_set(self, key: SettingKey, value: float) -> float: ...

    @abstractmethod
    def _do_get(self, key: SettingKey) -> float: ...

    def _do_read_frames(self, timeout_s: float) -> list[Frame]:
        """Override when frames queue up in the driver; a probe that makes a frame on each read
        (the direct simulator) has only ever the one."""
        frame = self._do_read_frame(timeout_s)
        return [] if frame is None else [frame]

    def _do_read_iq(self) -> list[IqPacket]:
        """Override for a probe that sends Doppler IQ."""
        return []

    def _do_poll_events(self) -> list[ProbeEvent]:
        return []

    def _do_interrupt(self) -> None:
        """Override when a read can block longer than its timeout."""
