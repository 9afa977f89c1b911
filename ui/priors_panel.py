"""Priors: the patient's earlier MRI, CT, radiographs and ultrasound from the PACS, shown beside the
live image, so a sonographer scanning "the area of the MRI finding" sees that finding.

The "Priors" tab finds the current exam's patient's studies on a PACS destination, lists a chosen
study's series, and "Show beside the image" fetches the series (C-GET, on a worker thread: the PACS
may be slow) into a dock next to the live image: slices scrolled with the slider or the mouse wheel,
window/level with its two fields (or the file's own), millimetre axes from the pixel spacing.
Attached through the window's extension points only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from scanner_app.studies.pacs import PacsDestination
from scanner_app.studies.priors import (
    PriorImages,
    PriorSeries,
    PriorsError,
    PriorStudy,
    find_prior_studies,
    find_series,
    load_series,
    retrieve_series,
)
from ui.window_api import ScannerWindow

ROLE = Qt.ItemDataRole.UserRole


class _SlicePlot(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """A plot whose mouse wheel steps through slices instead of zooming."""

    wheel_steps = pyqtSignal(int)

    def wheelEvent(self, event: Any) -> None:
        self.wheel_steps.emit(1 if event.angleDelta().y() < 0 else -1)
        event.accept()


class PriorViewer(QWidget):
    """One retrieved series: the slice on screen, a slice slider, window centre and width."""

    def __init__(self) -> None:
        super().__init__()
        self.images: PriorImages | None = None
        self.title = QLabel("")
        self.plot = _SlicePlot()
        self.plot.setBackground("k")
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.position = QLabel("")
        self.window_centre = QDoubleSpinBox()
        self.window_width = QDoubleSpinBox()
        for box, name in ((self.window_centre, "C "), (self.window_width, "W ")):
            box.setRange(-5000.0, 70000.0)
            box.setPrefix(name)
            # Narrower than the widest value needs (C 70000.00): with the exam dock, the dock still
            # fits a 1280 px window beside the live image; the usual values (C 600.00) still show.
            box.setMinimumWidth(box.fontMetrics().horizontalAdvance("C 0000.00") + 28)
            box.valueChanged.connect(lambda _v: self._show())
        controls = QHBoxLayout()
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.position)
        levels = QHBoxLayout()
        levels.addWidget(self.window_centre)
        levels.addWidget(self.window_width)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)
        layout.addLayout(levels)
        self.slider.valueChanged.connect(lambda _v: self._show())
        self.plot.wheel_steps.connect(self._step)

    def show_images(self, images: PriorImages) -> None:
        self.images = images
        self.title.setText(images.title)
        for box, value in ((self.window_centre, images.window[0]), (self.window_width, images.window[1])):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self.slider.setRange(0, images.frames.shape[0] - 1)
        self.slider.setValue(images.frames.shape[0] // 2)
        rows, cols = images.frames.shape[1:]
        dy, dx = images.spacing_mm or (1.0, 1.0)
        self.image.setRect(0.0, 0.0, cols * dx, rows * dy)  # millimetres when the file gives spacing
        self.plot.setLabel("bottom", "mm" if images.spacing_mm else "pixels (uncalibrated)")
        self._show()

    def _show(self) -> None:
        if self.images is None:
            return
        i = self.slider.value()
        centre, width = self.window_centre.value(), max(self.window_width.value(), 1.0)
        self.image.setImage(self.images.frames[i], levels=(centre - width / 2, centre + width / 2))
        self.position.setText(f"{i + 1}/{self.images.frames.shape[0]}")

    def _step(self, step: int) -> None:
        self.slider.setValue(int(np.clip(self.slider.value() + step, 0, self.slider.maximum())))


class _Results(QObject):
    """Hands a worker's result to the GUI thread."""

    done = pyqtSignal(object, object)  # (callback, Future)


class PriorsPanel(QWidget):
    """The Priors tab: destination, the patient's studies, a study's series, and Show."""

    def __init__(
        self,
        destinations: Callable[[], list[PacsDestination]],
        current_patient: Callable[[], tuple[str, str] | None],
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self._destinations, self._current_patient = destinations, current_patient
        self.cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="scanner-priors-"))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="priors")
        self._results = _Results()
        self._results.done.connect(lambda callback, future: callback(future))
        self._window: ScannerWindow | None = None
        self.viewer = PriorViewer()
        self.dock: Any = None

        self.destination = QComboBox()
        self.find_button = QPushButton("Find this patient's priors")
        self.studies = QListWidget()
        self.series = QListWidget()
        self.show_button = QPushButton("Show beside the image")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.destination)
        layout.addWidget(self.find_button)
        layout.addWidget(QLabel("Studies"))
        layout.addWidget(self.studies)
        layout.addWidget(QLabel("Series"))
        layout.addWidget(self.series)
        layout.addWidget(self.show_button)
        layout.addWidget(self.status)
        self.find_button.clicked.connect(self.find_priors)
        self.studies.currentItemChanged.connect(lambda item, _old: self._list_series(item))
        self.show_button.clicked.connect(self.show_selected)

    def attach(self, window: ScannerWindow) -> None:
        self._window = window
        window.add_side_tab(self, "Priors")
        window.finishing.connect(self.close_worker)

    def close_worker(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)

    def refresh_destinations(self) -> None:
        self.destination.clear()
        for dest in self._destinations():
            self.destination.addItem(dest.describe(), dest)

    def _run(self, work: Callable[[], object], then: Callable[[Future[object]], None], busy: str) -> None:
        self.status.setText(busy)
        future = self._worker.submit(work)
        future.add_done_callback(lambda f: self._results.done.emit(then, f))

    def find_priors(self) -> None:
        if self.destination.count() == 0:
            self.refresh_destinations()
        dest: PacsDestination | None = self.destination.currentData()
        patient = self._current_patient()
        if dest is None:
            self.status.setText("No PACS destination: add one in the PACS tab")
            return
        if patient is None:
            self.status.setText("Start an exam first: priors are found by its patient ID")
            return
        patient_id, study_uid = patient
        busy = f"Asking {dest.name} for {patient_id}'s earlier studies…"
        self._run(
            lambda: find_prior_studies(dest, patient_id, exclude_study_uid=study_uid), self._found, busy
        )

    def _found(self, future: Future[object]) -> None:
        self.studies.clear()
        self.series.clear()
        try:
            studies: list[PriorStudy] = future.result()  # type: ignore[assignment]
        except PriorsError as exc:
            self.status.setText(str(exc))
            return
        for s in studies:
            item = QListWidgetItem(s.describe())
            item.setData(ROLE, s)
            self.studies.addItem(item)
        self.status.setText(
            f"{len(studies)} earlier studies" if studies else "No earlier studies in the PACS"
        )

    def _list_series(self, item: QListWidgetItem | None) -> None:
        dest: PacsDestination | None = self.destination.currentData()
        if item is None or dest is None:
            return
        study: PriorStudy = item.data(ROLE)
        self._run(lambda: find_series(dest, study.study_uid), self._series_found, "Listing the series…")

    def _series_found(self, future: Future[object]) -> None:
        self.series.clear()
        try:
            found: list[PriorSeries] = future.result()  # type: ignore[assignment]
        except PriorsError as exc:
            self.status.setText(str(exc))
            return
        for s in found:
            item = QListWidgetItem(f"{s.modality} {s.description} ({s.instances} images)")
            item.setData(ROLE, s)
            self.series.addItem(item)
        self.status.setText("")

    def show_selected(self) -> None:
        dest: PacsDestination | None = self.destination.currentData()
        study_item, series_item = self.studies.currentItem(), self.series.currentItem()
        if dest is None or study_item is None or series_item is None:
            self.status.setText("Choose a study and one of its series")
            return
        study: PriorStudy = study_item.data(ROLE)
        series: PriorSeries = series_item.data(ROLE)
        folder = self.cache_dir / series.series_uid

        def fetch() -> PriorImages:
            return load_series(retrieve_series(dest, study.study_uid, series.series_uid, folder))

        self._run(fetch, self._shown, f"Fetching {series.instances} images…")

    def _shown(self, future: Future[object]) -> None:
        try:
            images: PriorImages = future.result()  # type: ignore[assignment]
        except PriorsError as exc:
            self.status.setText(str(exc))
            return
        self.viewer.show_images(images)
        if self.dock is None and self._window is not None:
            self.dock = self._window.add_dock(self.viewer, "Prior")
            self._window.resize_dock(self.dock, 420)
        elif self.dock is not None:
            self.dock.show()
        self.status.setText(f"Showing {images.title}: {images.frames.shape[0]} images")
