"""AcquisitionEngine: owns a probe driver on a plain thread, fills the cine ring and publishes status.

Everything the engine says goes out as typed psygnal signals, one per kind of event, emitted on the
acquisition thread; a listener that raises is logged and never stops acquisition (`worker_signal`).
The UI's bridge turns them into Qt signals. Settings requests are queued and
applied on the acquisition thread, so a driver is only ever called from one thread.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from scanner_app.doppler import IqRing
from scanner_app.events import worker_signal
from scanner_app.frame import Frame
from scanner_app.probe import (
    LinkFault,
    ProbeDescriptor,
    ProbeDisconnected,
    ProbeDriver,
    ProbeError,
    ProbeEvent,
    ProbeNotFound,
    ProbeRefused,
    SettingKey,
)
from scanner_app.ring import FrameRing
from scanner_app.timing import ClockOffsetEstimator, RollingStats

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.1  # bounds how long stop() can wait on a driver that honours its timeout
STALL_AFTER_S = 1.0  # spec 7: streaming with no frame for over 1 s is a stall
RECONNECT_EVERY_S = 0.5  # spec 7: look for an unplugged probe again about every 500 ms
STATUS_EVERY_S = 0.5
SWITCH_TIMEOUT_S = 5.0  # how long a probe switch waits for the old driver to let go


class EngineState(enum.Enum):
    """Where the link to the probe stands."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: EngineState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProbeConnected:
    descriptor: ProbeDescriptor


@dataclass(frozen=True, slots=True)
class FrameReady:
    """A frame is in the ring (sent on every push; the display coalesces)."""

    ring_seq: int


@dataclass(frozen=True, slots=True)
class IqReady:
    """Doppler IQ packets are in the IQ ring, the newest at `ring_seq` (sent once per batch)."""

    ring_seq: int
    count: int


@dataclass(frozen=True, slots=True)
class SettingApplied:
    """A setting request reached the probe: what was asked and what the probe applied (readback)."""

    key: SettingKey
    requested: float
    applied: float


@dataclass(frozen=True, slots=True)
class SettingFailed:
    key: SettingKey
    requested: float
    reason: str


@dataclass(frozen=True, slots=True)
class ProbeEventReceived:
    event: ProbeEvent


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Acquisition health, about twice a second."""

    state: EngineState
    frames_received: int
    frame_rate_hz: float
    frames_dropped: int
    errors: int
    reconnects: int
    latency_p50_ms: float
    latency_p99_ms: float
    counters: dict[str, int] = field(default_factory=dict)
    # Frames the probe itself could not send (its STATUS `tx_dropped`, spec 5): the link is saturated.
    probe_tx_dropped: int = 0
    # Doppler IQ packets (spec 10): received, lost (seq gaps and host overrun), dropped as malformed.
    iq_packets: int = 0
    iq_dropped: int = 0
    iq_malformed: int = 0


class AcquisitionEngine:
    """Runs the acquisition loop: connect, (re)apply settings, read frames into the ring, report.

    Use `start()`/`stop()` for the threaded loop, or `step()` to run one iteration in the caller's
    thread (tests). `processor` turns driver frames into display frames (ENVELOPE/RF to B-mode) on
    the acquisition thread, before the ring.

    Its signals are emitted on the acquisition thread: listeners must be quick and must not touch Qt.
    """

    state_changed = worker_signal(StateChanged)
    probe_connected = worker_signal(ProbeConnected)
    frame_ready = worker_signal(FrameReady)
    setting_applied = worker_signal(SettingApplied)
    setting_failed = worker_signal(SettingFailed)
    probe_event = worker_signal(ProbeEventReceived)
    status_reported = worker_signal(StatusReport)  # about twice a second
    iq_ready = worker_signal(IqReady)

    def __init__(
        self,
        driver: ProbeDriver,
        ring: FrameRing,
        *,
        processor: Callable[[Frame], Frame] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        iq_ring: IqRing | None = None,
    ) -> None:
        self.driver = driver
        self.ring = ring
        self.iq_ring = iq_ring if iq_ring is not None else IqRing()
        self._processor = processor
        self._clock_ns = clock_ns
        self._state = EngineState.DISCONNECTED
        self._reason = ""
        self._requests: queue.SimpleQueue[tuple[SettingKey, float]] = queue.SimpleQueue()
        self._in_force: dict[SettingKey, float] = {}  # readbacks, re-applied after a reconnect
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._offset = ClockOffsetEstimator()
        self._stats = RollingStats()
        self._frames_received = 0
        self._errors = 0
        self._reconnects = 0
        self._has_connected = False
        self._last_frame_ns = 0
        self._last_status_ns = 0
        self._next_connect_ns = 0
        self._last_device_seq: int | None = None
        self._last_device_time_us = 0
        self._seq_gaps = 0
        self._frames_skipped = 0
        self._stall_restarts = 0
        self._process_cost_ns = 0.0  # moving average of the processor's time per frame
        self._frame_period_ns = 0.0  # moving average of the probe's frame interval (its own clock)
        self._ring_held = False
        self._switch_thread: threading.Thread | None = None

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def settings_in_force(self) -> dict[SettingKey, float]:
        return dict(self._in_force)

    def status(self) -> StatusReport:
        """`frames_dropped` is every frame the probe sent that is not in the ring: lost on the link,
        discarded at a stop, or skipped because the host could not process it in time (itemised in
        `counters`); frames received + dropped = frames the probe sent."""
        p50, p99 = self._stats.latency_percentiles_ms()
        counters = self.driver.counters()
        counters["frames_skipped"] = self._frames_skipped
        counters["stall_restarts"] = self._stall_restarts
        link_drops = counters.get("frames_dropped", self._seq_gaps)
        lost = ("frames_overrun", "frames_discarded", "frames_skipped")
        iq_malformed = counters.get("iq_malformed", 0)
        return StatusReport(
            state=self._state,
            frames_received=self._frames_received,
            frame_rate_hz=self._stats.frame_rate_hz(self._clock_ns()),
            frames_dropped=link_drops + sum(counters.get(k, 0) for k in lost),
            errors=self._errors + sum(counters.get(k, 0) for k in ("crc_errors", "malformed")) + iq_malformed,
            reconnects=self._reconnects,
            latency_p50_ms=p50,
            latency_p99_ms=p99,
            counters=counters,
            probe_tx_dropped=counters.get("probe_tx_dropped", 0),
            iq_packets=counters.get("iq_packets", 0),
            iq_dropped=counters.get("iq_dropped", 0) + counters.get("iq_overrun", 0),
            iq_malformed=iq_malformed,
        )

    def _set_state(self, state: EngineState, reason: str = "") -> None:
        if state != self._state or reason != self._reason:
            self._state, self._reason = state, reason
            if state == EngineState.ERROR:
                log.error("acquisition error: %s", reason)
            else:
                log.info("acquisition %s%s", state.value, f": {reason}" if reason else "")
            self.state_changed.emit(StateChanged(state, reason))

    # -- commands (any thread) --------------------------------------------------------------

    def request_setting(self, key: SettingKey, value: float) -> None:
        """Queue a setting for the probe; a SettingApplied event reports the readback."""
        self._requests.put((SettingKey(key), float(value)))
        if not self.running:
            return
        # Wake a driver blocked in a read so the setting applies promptly.
        self.driver.interrupt()

    def hold_ring(self, held: bool) -> None:
        """Freeze support: while held, frames are still read (link kept alive, stalls detected) but not
        pushed, so the ring (the cine) stays exactly as it was at freeze. Callable from any thread."""
        self._ring_held = held

    @property
    def ring_held(self) -> bool:
        return self._ring_held

    def start(self) -> None:
        """Start the acquisition thread (idempotent)."""
        if self.running:
            return
        self._stop.clear()
        if self._state == EngineState.ERROR:
            self._set_state(EngineState.DISCONNECTED, "restarting after error")
        self._thread = threading.Thread(target=self._run, name="acquisition", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop acquisition and join the thread; returns within about `timeout_s`."""
        thread = self._thread
        self._stop.set()
        self.driver.interrupt()
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.error("acquisition thread did not stop within %.1f s (driver blocked)", timeout_s)
            else:
                self._thread = None

    def replace_driver(self, driver: ProbeDriver, timeout_s: float = 5.0) -> None:
        """Use another probe (the probe picker): stop, wait until the old driver has let go, swap.

        `stop()` returns within about a second even if the driver is stuck in a command (a serial
        HELLO retries for 2 s); swapping under a thread still running would hand it the new driver.
        Raises ProbeError, keeping the old driver, if it does not let go within `timeout_s`.
        """
        self.stop()
        thread = self._thread
        if thread is not None:
            self.driver.interrupt()
            thread.join(timeout_s)
            if thread.is_alive():
                raise ProbeError(
                    f"{self.driver.display_name} did not let go within {timeout_s:.0f} s; try again"
                )
            self._thread = None
        self._safe_close_driver()
        self.driver = driver
        self._last_device_seq = None
        self._frame_period_ns = 0.0
        self._offset = ClockOffsetEstimator()
        self._next_connect_ns = 0
        self._set_state(EngineState.DISCONNECTED, "probe changed")

    def switch_driver(self, driver: ProbeDriver, timeout_s: float = SWITCH_TIMEOUT_S) -> Future[None]:
        """`replace_driver` then `start`, on a worker thread: the caller (the GUI) never waits on a device.

        The future completes once the new driver's acquisition has started, or with the ProbeError
        that kept the old driver; its callbacks run on the worker thread. One switch at a time.
        """
        if self._switch_thread is not None and self._switch_thread.is_alive():
            raise ProbeError("a probe switch is already under way; wait for it to finish")
        done: Future[None] = Future()
        done.set_running_or_notify_cancel()

        def switch() -> None:
            try:
                self.replace_driver(driver, timeout_s)
                self.start()
            except ProbeError as exc:
                done.set_exception(exc)
            except Exception as exc:  # a driver bug: the caller is told, the worker ends
                log.exception("probe switch failed")
                done.set_exception(exc)
            else:
                done.set_result(None)

        self._switch_thread = threading.Thread(target=switch, name="probe-switch", daemon=True)
        self._switch_thread.start()
        return done

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop and release the probe (after a switch under way has finished or given up), waiting up
        to `timeout_s` for the acquisition thread; a thread still running keeps the probe open."""
        switch = self._switch_thread
        if switch is not None:
            switch.join(SWITCH_TIMEOUT_S + 2.0)
            self._switch_thread = None
        self.stop(timeout_s)
        if self._thread is None:
            self._safe_close_driver()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self._state != EngineState.ERROR:
                self.step()
                if self._state == EngineState.DISCONNECTED:
                    self._stop.wait(max(0, self._next_connect_ns - self._clock_ns()) / 1e9)
        finally:
            self._safe_close_driver()
            if self._state != EngineState.ERROR:
                self._set_state(EngineState.DISCONNECTED, "stopped")

    def step(self) -> None:
        """One iteration: connect if needed, apply queued settings, take every frame that arrived, report."""
        if self._state == EngineState.ERROR:
            return
        try:
            if self._state in (EngineState.DISCONNECTED, EngineState.CONNECTING):
                if self._clock_ns() >= self._next_connect_ns:
                    self._connect()
            else:
                self._apply_requests()
                self._read_frames()
                self._poll_events()
        except (ProbeDisconnected, ProbeNotFound, LinkFault) as exc:
            self._errors += isinstance(exc, LinkFault)
            self._lost_probe(str(exc))
        except ProbeRefused as exc:
            self._safe_close_driver()
            self._set_state(EngineState.ERROR, str(exc))
        except Exception as exc:  # a driver bug must not take the app down
            log.exception("driver raised")
            self._errors += 1
            self._safe_close_driver()
            self._set_state(EngineState.ERROR, f"{type(exc).__name__}: {exc}")
        self._maybe_report()

    def _connect(self) -> None:
        self._set_state(EngineState.CONNECTING, self.driver.display_name)
        try:
            descriptor = self.driver.connect()
            self._reapply_in_force()
            self._apply_requests()
            self.driver.start()
        except (ProbeDisconnected, ProbeNotFound, LinkFault) as exc:
            self._safe_close_driver()
            self._next_connect_ns = self._clock_ns() + int(RECONNECT_EVERY_S * 1e9)
            self._set_state(EngineState.DISCONNECTED, str(exc))
            return
        if self._has_connected:
            self._reconnects += 1
        self._has_connected = True
        self._last_device_seq = None
        self._frame_period_ns = 0.0
        self._last_frame_ns = self._clock_ns()
        self.probe_connected.emit(ProbeConnected(descriptor))
        self._set_state(EngineState.STREAMING)

    def _lost_probe(self, reason: str) -> None:
        self._safe_close_driver()
        self._next_connect_ns = self._clock_ns() + int(RECONNECT_EVERY_S * 1e9)
        self._set_state(EngineState.DISCONNECTED, reason)

    def _reapply_in_force(self) -> None:
        """After a (re)connect: the settings in force before. One the probe refuses now (a bad readback,
        a value out of its range) is a failed setting the window shows, not a reason to stop imaging."""
        for key, value in list(self._in_force.items()):
            try:
                self._in_force[key] = self.driver.set_setting(key, value)
            except (ProbeDisconnected, LinkFault):
                raise
            except ProbeError as exc:
                del self._in_force[key]
                self.setting_failed.emit(SettingFailed(key, value, str(exc)))

    def _apply_requests(self) -> None:
        while True:
            try:
                key, value = self._requests.get_nowait()
            except queue.Empty:
                return
            if self.driver.descriptor is None:
                # Not connected: keep it as the setting in force; it is applied on connect.
                self._in_force[key] = value
                continue
            try:
                applied = self.driver.set_setting(key, value)
            except (ProbeDisconnected, LinkFault):
                self._in_force[key] = value
                raise
            except ProbeError as exc:
                self.setting_failed.emit(SettingFailed(key, value, str(exc)))
                continue
            self._in_force[key] = applied
            self.setting_applied.emit(SettingApplied(key, value, applied))

    def _read_frames(self) -> None:
        frames = self.driver.read_frames(READ_TIMEOUT_S)
        now_ns = self._clock_ns()
        if self._take_iq():
            # A probe in pw may send IQ with few or no B-mode frames beside it (spec 10): IQ coming
            # in is a stream that flows, never a stall to restart.
            self._last_frame_ns = now_ns
        if not frames:
            # The driver returns nothing only once the link is quiet (a frame still on its way is
            # waited for) or IQ came alone, so with no IQ either this is a stream that has stopped.
            if now_ns - self._last_frame_ns > STALL_AFTER_S * 1e9:
                self._recover_stall()
            return
        self._last_frame_ns = now_ns
        if self._state == EngineState.STALLED:
            self._set_state(EngineState.STREAMING)
        for frame in frames:
            self._note_device_seq(frame)
        if self._ring_held:
            return
        keep = self._frames_worth_processing(frames)
        self._frames_skipped += len(frames) - len(keep)
        for frame in keep:
            self._process_and_push(frame)

    def _take_iq(self) -> int:
        """Push the IQ packets that arrived into the IQ ring (not while frozen); returns how many came."""
        packets = self.driver.read_iq()
        if not packets or self._ring_held:
            return len(packets)
        ring_seq = -1
        for packet in packets:
            ring_seq = self.iq_ring.push(packet)
        self.iq_ready.emit(IqReady(ring_seq, len(packets)))
        return len(packets)

    def _note_device_seq(self, frame: Frame) -> None:
        """Count sequence gaps, and learn the probe's frame period from its own clock."""
        last = self._last_device_seq
        if last is not None:
            gap = (frame.seq - last) & 0xFFFFFFFF
            if 0 < gap < 0x80000000:  # backwards: the probe restarted its count
                self._seq_gaps += gap - 1
            elapsed_us = frame.device_time_us - self._last_device_time_us
            if 0 < gap < 1000 and elapsed_us > 0:
                period_ns = elapsed_us * 1000 / gap
                avg = self._frame_period_ns
                self._frame_period_ns = period_ns if avg == 0 else 0.9 * avg + 0.1 * period_ns
        self._last_device_seq = frame.seq
        self._last_device_time_us = frame.device_time_us

    def _frames_worth_processing(self, frames: list[Frame]) -> list[Frame]:
        """The newest frame always; the older ones that arrived with it only as many as the
        processor gets through in one frame period, newest first.

        The live image is the newest frame, reaching the ring within about a frame period plus its
        own processing. A host that keeps up (B-mode passes through for nothing) keeps every frame
        for the cine; one that cannot skips the oldest, counted as `frames_skipped`, and never
        builds a backlog.
        """
        cost, period = self._process_cost_ns, self._frame_period_ns
        if len(frames) <= 1 or cost <= 0 or period <= 0:
            return frames
        older = int(period // cost)
        return frames[-(older + 1) :]

    def _process_and_push(self, frame: Frame) -> None:
        if self._processor is not None:
            started_ns = self._clock_ns()
            try:
                frame = self._processor(frame)
            except Exception:
                # One frame the host cannot turn into an image is dropped and counted; the
                # stream goes on (spec 1: no byte sequence may stop the receiver).
                self._errors += 1
                log.warning("dropped frame %d: processing failed", frame.seq, exc_info=True)
                return
            cost_ns = self._clock_ns() - started_ns
            avg = self._process_cost_ns
            self._process_cost_ns = cost_ns if avg == 0 else 0.8 * avg + 0.2 * cost_ns
        ring_seq = self.ring.push(frame)
        self._frames_received += 1
        acquired_ns = self._offset.update(frame.device_time_us, frame.host_time_ns)
        done_ns = time.monotonic_ns()
        self._stats.add(done_ns, (done_ns - acquired_ns) / 1e6)
        self.frame_ready.emit(FrameReady(ring_seq))

    def _recover_stall(self) -> None:
        """Spec 7: STOP, reset, HELLO, START. The driver's connect does the reset and HELLO."""
        self._stall_restarts += 1
        self._set_state(EngineState.STALLED, f"no frame for over {STALL_AFTER_S:.0f} s")
        self.driver.stop()  # reads what was still in flight, counted
        self.driver.connect()
        self._reapply_in_force()
        self.driver.start()
        self._last_device_seq = None  # the restarted stream counts from 0 again
        self._last_frame_ns = self._clock_ns()

    def _poll_events(self) -> None:
        for event in self.driver.poll_events():
            self.probe_event.emit(ProbeEventReceived(event))

    def _maybe_report(self) -> None:
        now = self._clock_ns()
        if now - self._last_status_ns >= STATUS_EVERY_S * 1e9:
            self._last_status_ns = now
            self.status_reported.emit(self.status())

    def _safe_close_driver(self) -> None:
        try:
            self.driver.close()
        except Exception:
            log.exception("closing the driver failed")
