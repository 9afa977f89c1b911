"""CineBar: the timeline under the image while frozen: slider, play, loop, and where we are in time."""

from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from scanner_app.cine import CineModel


class CineBar(QWidget):
    """Drives the CineModel from a slider and play/loop buttons; plays at the acquisition's own pace."""

    def __init__(self, cine: CineModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cine = cine
        self.play = QPushButton("▶ Play")
        self.play.setCheckable(True)
        self.loop = QCheckBox("Loop")
        self.loop.setChecked(cine.loop)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.position_label = QLabel("live")
        self.position_label.setMinimumWidth(190)
        for w in (self.play, self.loop, self.slider):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.addWidget(self.play)
        lay.addWidget(self.loop)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.position_label)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(cine.advance)
        self.slider.valueChanged.connect(cine.seek_index)
        self.play.toggled.connect(cine.set_playing)
        self.loop.toggled.connect(cine.set_loop)
        cine.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        c = self.cine
        self.setEnabled(c.frozen)
        for w, value in ((self.play, c.playing), (self.loop, c.loop)):
            w.blockSignals(True)
            w.setChecked(value)
            w.blockSignals(False)
        self.play.setText("❚❚ Pause" if c.playing else "▶ Play")
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, c.length - 1))
        self.slider.setValue(c.index if c.frozen else max(0, c.length - 1))
        self.slider.blockSignals(False)
        if not c.frozen:
            self.position_label.setText("live")
            self.timer.stop()
            return
        seconds_back = (c.last_seq - c.position) * c.frame_period_s()
        when = "newest" if seconds_back < 0.005 else f"−{seconds_back:.2f} s"
        self.position_label.setText(f"frame {c.index + 1}/{c.length}   {when}")
        if c.playing and not self.timer.isActive():
            self.timer.start(max(1, round(c.frame_period_s() * 1000)))
        elif not c.playing:
            self.timer.stop()
