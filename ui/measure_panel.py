"""MeasurePanel: the results list of the measurements on the image, with buttons to start and clear them."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from scanner_app.measurements import MeasurementSet


class MeasurePanel(QWidget):
    """Lists results (A 12.3 mm, B L x D and area) and starts distance or two-axis measurements.

    `begin(kind)` and `delete()` are the window's (they freeze first, and delete the selected text or
    caliper); without them the panel acts on the model alone."""

    def __init__(
        self,
        measurements: MeasurementSet,
        parent: QWidget | None = None,
        *,
        begin: Callable[[str], None] | None = None,
        delete: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.measurements = measurements
        # short texts, two to a row, so the tab fits the side panel's default width; the whole in tooltips
        self.distance = QPushButton("Distance (D)")
        self.distance.setToolTip("Distance caliper (D)")
        self.two_axis = QPushButton("L × D (A)")
        self.two_axis.setToolTip("Length × depth, with the ellipse area (A)")
        self.delete = QPushButton("Delete (Del)")
        self.delete.setToolTip("Delete the selected caliper or text (Del)")
        self.clear = QPushButton("Clear all")
        self.clear.setToolTip("Remove every measurement on the image shown")
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
        title = QLabel("Results (on the image shown)")
        title.setObjectName("title")
        lay.addWidget(title)
        lay.addWidget(self.results, 1)
        start = begin or measurements.begin
        self.distance.clicked.connect(lambda: start("distance"))
        self.two_axis.clicked.connect(lambda: start("two_axis"))
        self.delete.clicked.connect(delete or measurements.remove_last)
        self.clear.clicked.connect(measurements.clear)
        # A click on a result selects its caliper on the image (then Delete, or drag its ends).
        self.results.itemClicked.connect(lambda _item: self._select_row())
        measurements.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.results.blockSignals(True)
        self.results.clear()
        for m in self.measurements.items:
            self.results.addItem(m.text())
            if m.label == self.measurements.selected:
                self.results.setCurrentRow(self.results.count() - 1)
        self.results.blockSignals(False)

    def _select_row(self) -> None:
        row = self.results.currentRow()
        items = self.measurements.items
        if 0 <= row < len(items):
            self.measurements.select(items[row].label)
