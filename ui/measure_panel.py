"""MeasurePanel: the results list of the measurements on the image, with buttons to start and clear them."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from scanner_app.measurements import MeasurementSet


class MeasurePanel(QWidget):
    """Lists results (A 12.3 mm, B L x D and area) and starts distance or two-axis measurements."""

    def __init__(self, measurements: MeasurementSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.measurements = measurements
        self.distance = QPushButton("Distance  (D)")
        self.two_axis = QPushButton("Length × depth  (A)")
        self.delete = QPushButton("Delete last  (Del)")
        self.clear = QPushButton("Clear all")
        for b in (self.distance, self.two_axis, self.delete, self.clear):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results = QListWidget()
        self.results.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results.setStyleSheet("font-size: 17px; font-family: monospace;")
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.distance)
        row.addWidget(self.two_axis)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(self.delete)
        row2.addWidget(self.clear)
        lay.addLayout(row2)
        title = QLabel("Results")
        title.setObjectName("title")
        lay.addWidget(title)
        lay.addWidget(self.results, 1)
        self.distance.clicked.connect(lambda: measurements.begin("distance"))
        self.two_axis.clicked.connect(lambda: measurements.begin("two_axis"))
        self.delete.clicked.connect(measurements.remove_last)
        self.clear.clicked.connect(measurements.clear)
        measurements.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.results.clear()
        for m in self.measurements.items:
            self.results.addItem(m.text())
