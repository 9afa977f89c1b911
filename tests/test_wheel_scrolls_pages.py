"""The mouse wheel over the side panel scrolls its pages and changes nothing the user did not click:
over the rail of tab titles it scrolls the open page (the tab stays), over a choice or number box not
clicked into (the PACS tab's study, every other side tab's boxes) it scrolls the page (the value
stays); a box clicked into still takes the wheel. In the full window at 1280 x 800, in the app's theme."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QWheelEvent
from PyQt6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollArea,
    QScrollBar,
    QTabWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from scanner_app.studies import Patient
from tests.full_window_support import FullWindow, themed_full_window
from tests.studies_support import make_frame
from tests.test_side_tabs_fit import _open_side_panel
from ui.main_window import MainWindow
from ui.pacs_panel import PacsPanel

NOTCH = 120  # one step of a mouse wheel, in eighths of a degree


full = themed_full_window  # the fixture, shared


def _wheel(widget: QWidget, notches: int, at: QPoint | None = None) -> None:
    """`notches` of the wheel (negative: towards the user, down the page) with the pointer over `widget`."""
    pos = QPointF(at if at is not None else widget.rect().center())
    event = QWheelEvent(
        pos, QPointF(widget.mapToGlobal(pos)), QPoint(), QPoint(0, notches * NOTCH), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def _show_tab(qtbot: QtBot, window: MainWindow, title: str) -> QScrollArea:
    """Opens side tab `title`; its scroll area, laid out."""
    index = window.side_tab_titles().index(title)
    window.tabs.setCurrentIndex(index)
    area = QTabWidget.widget(window.tabs, index)  # the scroll area SidePanel wraps the page in
    assert isinstance(area, QScrollArea)
    qtbot.waitUntil(lambda: area.isVisible() and area.viewport().height() > 0, timeout=3000)
    QApplication.processEvents()
    return area


def _pacs_with_studies(full: FullWindow, count: int) -> PacsPanel:
    for n in range(count):
        study = full.store.start_study(Patient(f"P-WHEEL-{n}", "Wheel^Pat"), "Op^One")
        full.store.save_still(study, make_frame(n + 1))
        full.store.end_study(study)
    pacs = full.window.findChild(PacsPanel)
    assert pacs is not None
    pacs.refresh_studies()
    return pacs


def test_the_wheel_over_the_rail_scrolls_the_open_page_and_keeps_its_tab(
    qtbot: QtBot, full: FullWindow
) -> None:
    window = full.window
    _open_side_panel(qtbot, window)
    area = _show_tab(qtbot, window, "PACS")
    assert area.verticalScrollBar().maximum() > 0  # the PACS page is taller than the panel at 800 px
    rail = window.tabs.tabBar()
    assert rail is not None
    pacs = window.tabs.currentIndex()
    for index in (pacs - 1, pacs + 1):  # over the titles either side of the open one
        for notches in (-1, 1, -3):
            _wheel(rail, notches, at=rail.tabRect(index).center())
            assert window.tabs.tabText(window.tabs.currentIndex()) == "PACS"
    _wheel(rail, -2, at=rail.tabRect(pacs).center())
    assert window.tabs.tabText(window.tabs.currentIndex()) == "PACS"
    assert area.verticalScrollBar().value() > 0, "the wheel over the rail scrolled the open page down"


def test_the_wheel_over_the_pacs_study_box_scrolls_the_page_not_the_study(
    qtbot: QtBot, full: FullWindow
) -> None:
    window = full.window
    pacs = _pacs_with_studies(full, 3)
    _open_side_panel(qtbot, window)
    area = _show_tab(qtbot, window, "PACS")
    box = pacs.study_combo
    assert box.count() == 3 and not box.hasFocus()
    box.setCurrentIndex(1)
    chosen = box.currentText()
    scrolled = area.verticalScrollBar().value()
    for notches in (-1, 1, -1, -1, 1):
        _wheel(box, notches)
        assert box.currentText() == chosen
    assert area.verticalScrollBar().value() > scrolled, "the wheel over the box scrolled the page"
    # A wheel over a box would first give it the focus (Qt's WheelFocus), then change it: only a
    # click or Tab focuses a box.
    assert box.focusPolicy() == Qt.FocusPolicy.StrongFocus
    box.setFocus()  # clicked into, the box takes the wheel: the same events change its study
    qtbot.waitUntil(box.hasFocus, timeout=3000)
    _wheel(box, -1)
    assert box.currentIndex() == 2


def _boxes(page: QWidget) -> list[QComboBox | QAbstractSpinBox | QAbstractSlider]:
    kinds = QComboBox | QAbstractSpinBox | QAbstractSlider
    return [w for w in page.findChildren(QWidget) if isinstance(w, kinds) and not isinstance(w, QScrollBar)]


def _value(box: QComboBox | QAbstractSpinBox | QAbstractSlider) -> str:
    if isinstance(box, QAbstractSlider):
        return str(box.value())
    return box.currentText() if isinstance(box, QComboBox) else box.text()


def test_no_box_on_any_side_tab_changes_under_the_wheel(qtbot: QtBot, full: FullWindow) -> None:
    """Every choice and number box and every slider the side tabs show, at either end of its range:
    scrolled over both ways, none changes (the boxes of the Imaging, Doppler, Needle, Programme,
    Practice tabs...; a newcomer scrolling the Doppler tab moved its colour gain from 0 to -20 dB)."""
    window = full.window
    _pacs_with_studies(full, 2)
    _open_side_panel(qtbot, window)
    changed: dict[str, list[str]] = {}
    seen = 0
    for title in window.side_tab_titles():
        _show_tab(qtbot, window, title)
        page = window.tabs.currentWidget()
        assert page is not None
        for box in _boxes(page):
            if not box.isVisible() or not box.isEnabled():
                continue
            seen += 1
            before = _value(box)
            for notches in (-1, 1):  # one way, then the other: a box at the end of its range moves too
                _wheel(box, notches)
                if (after := _value(box)) != before:
                    changed.setdefault(title, []).append(f"{type(box).__name__} {before!r} -> {after!r}")
                    break
    assert seen >= 5  # the check saw boxes to scroll over
    assert changed == {}
