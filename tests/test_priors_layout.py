"""The prior beside the live image on a 1280 x 800 screen: fetched from a real Orthanc and shown from
the Priors tab beside the exam's checklist, it leaves the window within the screen (the side panel
folds to its rail) and the live image keeps the largest share."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from PyQt6.QtGui import QFont
from pytestqt.qtbot import QtBot

from tests.orthanc_fixture import OrthancServer, orthanc  # noqa: F401 - fixture
from tests.test_layout import ExamWindow, _resize, _start_knee_exam, exam_window
from tests.test_priors import _dest, _mr_slice, _upload
from ui.priors_panel import PriorsPanel
from ui.theme import STYLESHEET

__all__ = ["exam_window"]  # the fixture

SCREEN_WIDTH_PX = 1280


@pytest.mark.orthanc
def test_a_prior_shown_from_the_priors_tab_keeps_the_window_on_a_1280_px_screen(
    qtbot: QtBot,
    exam_window: ExamWindow,
    orthanc: OrthancServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    study_uid, series_uid = generate_uid(), generate_uid()
    for number in range(1, 6):
        _upload(orthanc, _mr_slice(study_uid, series_uid, float(number), number))
    window, exams = exam_window.window, exam_window.exams
    font = QFont(window.font())
    font.setPointSize(11)  # the theme's font and paddings (ui.theme), as the app runs
    window.setFont(font)
    window.setStyleSheet(STYLESHEET)
    _resize(qtbot, window, SCREEN_WIDTH_PX, 800)
    _start_knee_exam(exams)
    panel = PriorsPanel(lambda: [_dest(orthanc)], lambda: ("KNEE-7", "2.25.99"), cache_dir=tmp_path / "cache")
    panel.attach(window)
    try:
        window.show_side_tab(panel)  # where "Show beside the image" is pressed: the side panel open
        panel.find_button.click()
        qtbot.waitUntil(lambda: panel.studies.count() == 1, timeout=10000)
        panel.studies.setCurrentRow(0)
        qtbot.waitUntil(lambda: panel.series.count() == 1, timeout=10000)
        panel.series.setCurrentRow(0)
        assert window.width() == SCREEN_WIDTH_PX
        panel.show_button.click()
        qtbot.waitUntil(lambda: panel.dock is not None and panel.dock.isVisible(), timeout=15000)
        qtbot.wait(300)  # the window's and the docks' layouts settle (nothing to wait on: no change)
        assert window.minimumSizeHint().width() <= SCREEN_WIDTH_PX
        assert window.width() == SCREEN_WIDTH_PX
        assert window.tabs.collapsed  # folded to its rail
        assert window.centralWidget().width() > panel.dock.width()  # the image keeps the largest share
    finally:
        panel.close_worker()
