"""Bridges: the one place where signals emitted on worker threads become Qt signals on the GUI thread.

The rule for ui/: the acquisition engine and the PACS senders emit their psygnal signals on their own
threads, so widgets never connect to them; they connect to the queued Qt signals here. The models
driven on the GUI thread (ImagingModel, CineModel, MeasurementSet, AnnotationSet, ChecklistRunner)
emit on the GUI thread, so widgets connect to their signals directly. A widget that lives shorter
than the model it listens to disconnects when it is destroyed (psygnal holds bound methods weakly
but lambdas strongly). Nothing else in ui/ touches a driver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal

from scanner_app.doppler_pipeline import DopplerPipeline, DopplerReady
from scanner_app.engine import (
    AcquisitionEngine,
    FrameReady,
    ProbeConnected,
    ProbeEventReceived,
    SettingApplied,
    SettingFailed,
    StateChanged,
    StatusReport,
)
from scanner_app.studies.commitment import CommitmentService, CommitmentState
from scanner_app.studies.pacs import PacsSender, SendState


class EngineBridge(QObject):
    """Re-emits the engine's signals (from the acquisition thread) as queued Qt signals on the GUI thread.

    Frame notifications are coalesced: while one `frame_available` is waiting to be handled, further
    frames raise no new signal, so a slow GUI never builds a backlog; the handler reads the newest frame.
    """

    state_changed = pyqtSignal(object)  # StateChanged
    status_reported = pyqtSignal(object)  # StatusReport
    probe_connected = pyqtSignal(object)  # ProbeConnected
    setting_applied = pyqtSignal(object)  # SettingApplied
    setting_failed = pyqtSignal(object)  # SettingFailed
    probe_event = pyqtSignal(object)  # ProbeEventReceived
    frame_available = pyqtSignal()

    def __init__(self, engine: AcquisitionEngine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._frame_pending = False
        # Bound methods of this bridge: psygnal holds them weakly, so a dropped bridge stops listening.
        for signal, slot in self._listening():
            signal.connect(slot)

    def detach(self) -> None:
        """Stop listening to the engine (idempotent): the window is going, and an acquisition thread
        that has not stopped yet must not emit into Qt objects about to be deleted."""
        for signal, slot in self._listening():
            signal.disconnect(slot)

    def _listening(self) -> list[tuple[Any, Callable[..., None]]]:
        e = self.engine
        return [
            (e.frame_ready, self._on_frame_ready),
            (e.status_reported, self._on_status_reported),
            (e.state_changed, self._on_state_changed),
            (e.probe_connected, self._on_probe_connected),
            (e.setting_applied, self._on_setting_applied),
            (e.setting_failed, self._on_setting_failed),
            (e.probe_event, self._on_probe_event),
        ]

    def take_frame_notice(self) -> None:
        """Called by the frame handler before it reads the ring, so the next frame signals again."""
        self._frame_pending = False

    # These run on the acquisition thread: only emit, never touch widgets.

    def _on_frame_ready(self, _event: FrameReady) -> None:
        if not self._frame_pending:
            self._frame_pending = True
            self.frame_available.emit()

    def _on_status_reported(self, event: StatusReport) -> None:
        self.status_reported.emit(event)

    def _on_state_changed(self, event: StateChanged) -> None:
        self.state_changed.emit(event)

    def _on_probe_connected(self, event: ProbeConnected) -> None:
        self.probe_connected.emit(event)

    def _on_setting_applied(self, event: SettingApplied) -> None:
        self.setting_applied.emit(event)

    def _on_setting_failed(self, event: SettingFailed) -> None:
        self.setting_failed.emit(event)

    def _on_probe_event(self, event: ProbeEventReceived) -> None:
        self.probe_event.emit(event)


class DopplerBridge(QObject):
    """Re-emits the Doppler pipeline's `doppler_ready` (acquisition thread) as one coalesced Qt signal.

    Like frames: while a `doppler_available` waits to be handled no new one is raised; the handler
    calls `take_notice()` and then reads the pipeline's newest colour box and sweep.
    """

    doppler_available = pyqtSignal()

    def __init__(self, pipeline: DopplerPipeline, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pipeline = pipeline
        self._pending = False
        pipeline.doppler_ready.connect(self._on_doppler_ready)

    def detach(self) -> None:
        """Stop listening to the pipeline (idempotent), as `EngineBridge.detach`."""
        self.pipeline.doppler_ready.disconnect(self._on_doppler_ready)

    def take_notice(self) -> None:
        self._pending = False

    def _on_doppler_ready(self, _event: DopplerReady) -> None:
        # On the acquisition thread: only emit.
        if not self._pending:
            self._pending = True
            self.doppler_available.emit()


class SendStatusBridge(QObject):
    """Re-emits PACS senders' `status_changed` (from their threads) as one queued Qt signal."""

    status_changed = pyqtSignal(object)  # SendState

    def watch(self, sender: PacsSender) -> None:
        sender.status_changed.connect(self._on_status)

    def _on_status(self, state: SendState) -> None:
        # On the sender's thread: only emit.
        self.status_changed.emit(state)


class CommitmentBridge(QObject):
    """Re-emits the storage commitment service's `status_changed` (from its own and its listener's
    threads) as one queued Qt signal."""

    status_changed = pyqtSignal(object)  # CommitmentState

    def watch(self, service: CommitmentService) -> None:
        service.status_changed.connect(self._on_status)

    def _on_status(self, state: CommitmentState) -> None:
        # On a worker thread: only emit.
        self.status_changed.emit(state)
