"""ReplayPanel: the Replay side tab while the source is a recorded case: play / pause and a position
slider to seek, with the frame shown and the count."""

from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from scanner_app.replay_control import ReplayControl
from ui.window_api import ScannerWindow

REFRESH_MS = 200


class ReplayPanel(QWidget):
    """Shown as a side tab only while a replay control is set (the source is a recording)."""

    def __init__(self, window: ScannerWindow) -> None:
        super().__init__()
        self._window = window
        self.control: ReplayControl | None = None
        self.play_button = QPushButton("Pause")
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button.clicked.connect(self.toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.sliderReleased.connect(lambda: self.seek(self.slider.value()))
        self.position_label = QLabel("")
        lay = QVBoxLayout(self)
        title = QLabel("Recorded case")
        title.setObjectName("title")
        lay.addWidget(title)
        lay.addWidget(self.play_button)
        lay.addWidget(self.slider)
        lay.addWidget(self.position_label)
        lay.addStretch(1)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        window.finishing.connect(self.timer.stop)

    def set_control(self, control: ReplayControl | None) -> None:
        """After a probe switch: the new recording's playback (a tab), or None (no tab)."""
        if self.control is not None and control is None:
            self._window.remove_side_tab(self)
            self.timer.stop()
        elif self.control is None and control is not None:
            self._window.add_side_tab(self, "Replay")
            self.timer.start()
        self.control = control
        self.refresh()

    def toggle_play(self) -> None:
        if self.control is None:
            return
        if self.control.paused:
            self.control.resume()
        else:
            self.control.pause()
        self.refresh()

    def seek(self, index: int) -> None:
        if self.control is not None:
            self.control.seek(index)
            self.refresh()

    def refresh(self) -> None:
        c = self.control
        if c is None:
            return
        count = c.frame_count
        shown = (c.position - 1) % count if count else 0
        self.play_button.setText("Play" if c.paused else "Pause")
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setRange(0, max(0, count - 1))
            self.slider.setValue(shown)
            self.slider.blockSignals(False)
        self.position_label.setText(f"frame {shown + 1} of {count}" + ("  (paused)" if c.paused else ""))
