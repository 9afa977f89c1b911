"""EngineBridge: the one place engine events become Qt signals; nothing else in ui/ touches a driver."""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal

from scanner_app.engine import (
    AcquisitionEngine,
    EngineEvent,
    FrameReady,
    ProbeConnected,
    ProbeEventReceived,
    SettingApplied,
    SettingFailed,
    StateChanged,
    StatusReport,
)


class EngineBridge(QObject):
    """Re-emits engine events (from the acquisition thread) as queued Qt signals on the GUI thread.

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
        engine.subscribe(self._on_engine_event)

    def take_frame_notice(self) -> None:
        """Called by the frame handler before it reads the ring, so the next frame signals again."""
        self._frame_pending = False

    def _on_engine_event(self, event: EngineEvent) -> None:
        # Runs on the acquisition thread: only emit, never touch widgets.
        if isinstance(event, FrameReady):
            if not self._frame_pending:
                self._frame_pending = True
                self.frame_available.emit()
        elif isinstance(event, StatusReport):
            self.status_reported.emit(event)
        elif isinstance(event, StateChanged):
            self.state_changed.emit(event)
        elif isinstance(event, ProbeConnected):
            self.probe_connected.emit(event)
        elif isinstance(event, SettingApplied):
            self.setting_applied.emit(event)
        elif isinstance(event, SettingFailed):
            self.setting_failed.emit(event)
        elif isinstance(event, ProbeEventReceived):
            self.probe_event.emit(event)
