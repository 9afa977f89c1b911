"""The window fits a 1280 px screen whatever the side panel and the exam's dock show: labels wrap and
rows stack rather than widening it (the side tab rail stays on screen)."""

from __future__ import annotations

from PyQt6.QtCore import QEvent
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.test_layout import ExamWindow, _resize, _start_knee_exam, exam_window
from ui.exam_dock import DOCK_MIN_WIDTH
from ui.side_panel import SidePanel
from ui.theme import STYLESHEET

__all__ = ["exam_window"]  # the fixture, shared with the layout tests

SCREEN_WIDTH_PX = 1280


def test_the_exam_review_keeps_the_window_within_1280_px(qtbot: QtBot, exam_window: ExamWindow) -> None:
    window, exams = exam_window.window, exam_window.exams
    font = QFont(window.font())
    font.setPointSize(11)  # the theme's font and paddings (ui.theme), as the app runs
    window.setFont(font)
    window.setStyleSheet(STYLESHEET)
    _resize(qtbot, window, SCREEN_WIDTH_PX, 800)
    _start_knee_exam(exams)
    exams.request_end()  # the review: what is still missing, and the finish buttons
    assert exams.panel is not None
    qtbot.waitUntil(lambda: exams.panel is not None and exams.panel.review_list.count() > 0, timeout=3000)
    # the checklist's review fits the dock's narrowest width (its buttons stacked, its labels wrapped)
    review = exams.panel.review_list.parentWidget()
    assert review is not None and review.minimumSizeHint().width() <= DOCK_MIN_WIDTH
    window.tabs.set_collapsed(False)  # every side tab open in turn beside the docked checklist
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)  # the layouts' new minimums
        assert window.minimumSizeHint().width() <= SCREEN_WIDTH_PX, window.tabs.tabText(index)


def test_a_long_label_added_later_wraps_instead_of_widening_the_page(qtbot: QtBot) -> None:
    from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

    panel = SidePanel()
    qtbot.addWidget(panel)
    page = QWidget()
    QVBoxLayout(page)
    panel.addTab(page, "Page")
    narrow = page.minimumSizeHint().width()
    layout = page.layout()
    assert layout is not None
    layout.addWidget(QLabel("a missing item with a long description " * 6))
    assert page.minimumSizeHint().width() < narrow + 300
