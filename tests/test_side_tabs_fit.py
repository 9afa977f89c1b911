"""Every side tab fits the side panel's width at 1280 x 800: no page scrolls sideways (labels wrap,
rows stack, lists shrink, long button texts are short with the whole in a tooltip), in the app's
theme, with every tab main.py gives the window on the simulated probe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QEvent
from PyQt6.QtWidgets import QApplication, QScrollArea, QTabWidget, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient
from tests.full_window_support import FullWindow, app_theme, close_full_window, open_full_window
from tests.test_layout import _resize
from ui.exam_dialog import ExamRequest
from ui.main_window import MainWindow

SCREEN = (1280, 800)
# Besides the tabs of the image controls, the window's own and every feature's: a lost tab fails too.
TABS = {"Imaging", "Measure", "Probe", "Sim", "Procedure", "Needle", "Doppler", "PACS", "Priors",
        "Programme", "Follow-ups", "Practice", "Teaching"}  # fmt: skip


@pytest.fixture
def full(qtbot: QtBot, tmp_path: Path) -> Iterator[FullWindow]:
    with app_theme():
        opened = open_full_window(qtbot, tmp_path)
        try:
            yield opened
        finally:
            close_full_window(opened)


def _open_side_panel(qtbot: QtBot, window: MainWindow) -> None:
    """The window at 1280 x 800 with its side panel open at its default width there, as on a 1280 x 800
    screen (the offscreen screen is smaller: the window was built narrower, so its default is set
    again here); the exam's dock folds the panel to its rail at this size, a click on a title opens it."""
    _resize(qtbot, window, *SCREEN)
    window.tabs.set_collapsed(False)
    side = window._default_side_width()
    window.splitter.setSizes([sum(window.splitter.sizes()) - side, side])
    qtbot.waitUntil(lambda: window.tabs.width() > 2 * window.tabs.rail_width(), timeout=3000)


def _area(window: MainWindow, index: int) -> QScrollArea:
    area = QTabWidget.widget(window.tabs, index)  # the scroll area SidePanel wraps each page in
    assert isinstance(area, QScrollArea)
    return area


def _sideways_px(qtbot: QtBot, window: MainWindow, index: int) -> int:
    """How far tab `index`'s page scrolls sideways when shown (0: it fits the panel's width)."""
    window.tabs.setCurrentIndex(index)
    area = _area(window, index)
    qtbot.waitUntil(lambda: area.isVisible() and area.viewport().width() > 0, timeout=3000)
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)  # the page's new minimum
    QApplication.processEvents()  # the scroll area's resize, then its scroll bars' range
    return area.horizontalScrollBar().maximum()


def _tabs_scrolling_sideways(qtbot: QtBot, window: MainWindow) -> dict[str, int]:
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    sideways = {title: _sideways_px(qtbot, window, i) for i, title in enumerate(titles)}
    return {title: px for title, px in sideways.items() if px > 0}


def test_no_side_tab_scrolls_sideways_at_1280_by_800(qtbot: QtBot, full: FullWindow) -> None:
    window = full.window
    _open_side_panel(qtbot, window)
    assert set(window.side_tab_titles()) >= TABS
    assert _tabs_scrolling_sideways(qtbot, window) == {}, f"side panel {window.tabs.width()} px wide"
    assert window.width() == SCREEN[0] and not window.tabs.collapsed


def test_every_tab_fits_with_an_administrator_signed_in(qtbot: QtBot, full: FullWindow) -> None:
    """Signed in, the Programme tab shows more (Sign out, the quality review): it still fits."""
    window, panel = full.window, full.programme
    panel.new_username.setText("boss")
    panel.new_name.setText("Head of Department")
    panel.new_pin.setText("boss-pin")
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        panel.register_button.click()  # a new database's first administrator
    panel.pin.setText("boss-pin")
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        panel.sign_in_button.click()
    assert panel.user is not None and panel.sign_out_button.isVisibleTo(panel)
    assert panel.review.isVisibleTo(panel)
    _open_side_panel(qtbot, window)
    assert _tabs_scrolling_sideways(qtbot, window) == {}, f"side panel {window.tabs.width()} px wide"


def test_the_time_out_tab_of_a_procedure_exam_fits_too(qtbot: QtBot, full: FullWindow) -> None:
    window = full.window
    full.exams.start_exam(ExamRequest(
        patient=Patient("PROC-001", "Doe^Jane", "19700203", "F"), operator="Op^One", trainee="",
        supervisor="", protocol=load_protocol(LIBRARY_DIR / "sasd_bursa_injection.yaml"), quadrant=None,
        side="right", practice=False,
    ))  # fmt: skip
    qtbot.waitUntil(lambda: "Time-out" in window.side_tab_titles(), timeout=3000)
    _open_side_panel(qtbot, window)
    time_out = window.side_tab_titles().index("Time-out")
    assert _sideways_px(qtbot, window, time_out) == 0, f"side panel {window.tabs.width()} px wide"


def test_a_tab_wider_than_the_panel_is_caught(qtbot: QtBot, full: FullWindow) -> None:
    """The check above can fail: a fixed-width row on one tab makes that tab, and only it, scroll."""
    window = full.window
    _open_side_panel(qtbot, window)
    teaching = window.side_tab_titles().index("Teaching")
    page = window.tabs.widget(teaching)
    assert page is not None and isinstance(page.layout(), QVBoxLayout)
    wide = QWidget()
    wide.setFixedWidth(window.tabs.width() + 100)
    layout = page.layout()
    assert layout is not None
    layout.addWidget(wide)
    assert set(_tabs_scrolling_sideways(qtbot, window)) == {"Teaching"}
