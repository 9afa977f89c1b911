"""MainWindow: the live scanner window: image, status bar, and the engine's lifetime tied to the window."""

from __future__ import annotations

from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import QLabel, QMainWindow, QWidget

from scanner_app.engine import AcquisitionEngine, EngineState, StateChanged, StatusReport
from ui.bridge import EngineBridge
from ui.live_view import LiveImageView


class MainWindow(QMainWindow):
    """The scanner's main window; closing it stops acquisition and joins the engine's thread."""

    def __init__(self, engine: AcquisitionEngine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.setWindowTitle("Scanner — live")
        self.bridge = EngineBridge(engine, self)
        self.live_view = LiveImageView(engine.ring, self.bridge.take_frame_notice, self)
        self.setCentralWidget(self.live_view)
        self.state_label = QLabel("disconnected")
        self.rate_label = QLabel("— frames/s")
        self.drops_label = QLabel("drops 0")
        bar = self.statusBar()
        assert bar is not None
        for w in (self.state_label, self.rate_label, self.drops_label):
            bar.addPermanentWidget(w)
        self.bridge.frame_available.connect(self.live_view.frame_available)
        self.bridge.state_changed.connect(self._on_state)
        self.bridge.status_reported.connect(self._on_status)
        self.resize(900, 900)

    def _on_state(self, event: StateChanged) -> None:
        text = event.state.value
        if event.reason and event.state != EngineState.STREAMING:
            text += f": {event.reason}"
        self.state_label.setText(text)

    def _on_status(self, status: StatusReport) -> None:
        self.rate_label.setText(f"{status.frame_rate_hz:.1f} frames/s")
        self.drops_label.setText(f"drops {status.frames_dropped}")

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.engine.close()
        super().closeEvent(event)
