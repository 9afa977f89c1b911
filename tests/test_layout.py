"""The image-first layout: every control inside the window from 1280 x 800 (and 1280 x 720, a 1920 x 1080
screen at 1.5x), the image the largest share with and without an exam's checklist, the layout kept
between runs; banners and messages that fit and speak to the window's user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QRect, Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QCheckBox, QScrollArea, QWidget
from pytestqt.qtbot import QtBot

import main
from drivers.sim.control import SimulatorControl
from drivers.sim.patient import PatientRenderer
from protocols.validation import LIBRARY_DIR, load_library, load_protocol
from scanner_app.engine import AcquisitionEngine, EngineState
from scanner_app.ring import FrameRing
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from tests.ui_support import make_engine, open_window, wait_streaming, window_models
from ui.close_prompt import EXAM_END
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import STATE_LABEL_MAX_PX, MainWindow
from ui.pacs_panel import PacsPanel
from ui.probe_panel import banner_text, for_window
from ui.sim_panel import SimulatorTab
from ui.theme import STYLESHEET

SIZES = [(1280, 800), (1280, 720), (1920, 1080)]  # 1280 x 720: what 1920 x 1080 gives at QT_SCALE_FACTOR 1.5
IMAGE_SHARE = 0.6


def _resize(qtbot: QtBot, window: MainWindow, width: int, height: int) -> None:
    window.resize(width, height)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (width, height), timeout=3000)


def _inside(window: MainWindow, widget: QWidget) -> bool:
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return widget.isVisible() and window.rect().contains(QRect(top_left, widget.size()))


def _controls(window: MainWindow) -> list[QWidget]:
    """What must always be on screen: toolbar buttons, cine bar, thumbnails, status line, side rail."""
    toolbar = window._toolbar
    buttons = [toolbar.widgetForAction(a) for a in toolbar.actions() if not a.isSeparator()]
    rail = window.tabs.tabBar()
    assert rail is not None
    return [
        *[b for b in buttons if b is not None],
        window.cine_bar.play,
        window.cine_bar.loop,
        window.cine_bar.slider,
        window.strip,
        window.message_label,
        window.state_label,
        window.rate_label,
        window.drops_label,
        rail,
    ]


def _image_share(window: MainWindow) -> float:
    return window.view.width() * window.view.height() / (window.width() * window.height())


def _assert_image_first(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: _image_share(window) >= IMAGE_SHARE, timeout=3000)
    outside = [type(w).__name__ + ":" + getattr(w, "text", lambda: "")() for w in _controls(window)]
    outside = [name for w, name in zip(_controls(window), outside, strict=True) if not _inside(window, w)]
    assert outside == []
    assert window.minimumSizeHint().width() <= 1280 and window.minimumSizeHint().height() <= 720


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    w = open_window(qtbot, tmp_path)
    wait_streaming(qtbot, w)
    yield w
    w.close()


@pytest.mark.parametrize("size", SIZES)
def test_without_a_dock_every_control_fits_and_the_image_is_largest(
    qtbot: QtBot, window: MainWindow, size: tuple[int, int]
) -> None:
    _resize(qtbot, window, *size)
    assert not window.tabs.collapsed
    _assert_image_first(qtbot, window)
    # the imaging tab's controls, TGC included, are all in the window
    tgc = window.controls.tgc
    for w in (*tgc.sliders, tgc.reset, window.controls.depth_control.slider, window.controls.grey_map):
        assert _inside(window, w)


def test_the_side_panel_folds_to_a_rail_and_back(qtbot: QtBot, window: MainWindow) -> None:
    _resize(qtbot, window, 1280, 800)
    open_width = window.tabs.width()
    image_width = window.view.width()
    rail = window.tabs.tabBar()
    assert rail is not None
    qtbot.mouseClick(rail, Qt.MouseButton.LeftButton, pos=rail.tabRect(rail.currentIndex()).center())
    assert window.tabs.collapsed
    qtbot.waitUntil(lambda: window.view.width() > image_width + open_width // 2, timeout=3000)
    assert window.tabs.width() <= window.tabs.rail_width()
    qtbot.mouseClick(rail, Qt.MouseButton.LeftButton, pos=rail.tabRect(1).center())  # another tab opens it
    assert not window.tabs.collapsed and window.tabs.currentIndex() == 1
    qtbot.waitUntil(lambda: abs(window.tabs.width() - open_width) <= 2, timeout=3000)
    assert window.tabs.currentWidget() is not None and window.tabs.indexOf(window.controls) == 0


class ExamWindow:
    def __init__(self, window: MainWindow, exams: ExamController, store: StudyStore) -> None:
        self.window, self.exams, self.store = window, exams, store


@pytest.fixture
def exam_window(qtbot: QtBot, tmp_path: Path) -> Iterator[ExamWindow]:
    store = StudyStore(tmp_path / "studies")
    exams = ExamController(store, load_library()[0], operator="Op^One", ask=lambda *_question: EXAM_END)
    window = open_window(qtbot, tmp_path, make_engine(), sink=StudyCaptureSink(store, exams.current_study))
    exams.attach(window)
    wait_streaming(qtbot, window)
    yield ExamWindow(window, exams, store)
    window.close()
    store.close()


def _start_knee_exam(exams: ExamController) -> None:
    exams.start_exam(
        ExamRequest(
            patient=Patient("KNEE-001", "Doe^Jane", "19700203", "F"),
            operator="Op^One",
            trainee="",
            supervisor="",
            protocol=load_protocol(LIBRARY_DIR / "knee.yaml"),
            quadrant=None,
            side="right",
            practice=False,
        )
    )


@pytest.mark.parametrize("size", SIZES)
def test_with_the_exam_dock_the_image_stays_largest_and_the_checklist_beside_it(
    qtbot: QtBot, exam_window: ExamWindow, size: tuple[int, int]
) -> None:
    window, exams = exam_window.window, exam_window.exams
    _resize(qtbot, window, *size)
    _assert_image_first(qtbot, window)  # the dock is there before any exam
    _start_knee_exam(exams)
    assert exams.panel is not None
    _assert_image_first(qtbot, window)
    dock = exams.dock
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert dock.isVisible() and _inside(window, dock)
    assert dock.width() >= dock.minimumWidth() > 0
    for button in (exams.panel.next_button, exams.new_button):
        qtbot.waitUntil(lambda b=button: _inside(window, b), timeout=3000)


def test_layout_is_restored_after_a_restart(qtbot: QtBot, tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "studies")
    try:
        first = open_window(qtbot, tmp_path)
        _resize(qtbot, first, 1500, 900)
        first.splitter.setSizes([1500 - 330, 330])
        first._remember_side_width()
        side_width = first.tabs.width()
        first.tabs.setCurrentIndex(2)
        first.tabs.set_collapsed(True)
        exams = ExamController(store, load_library()[0], operator="Op^One", ask=lambda *_question: EXAM_END)
        exams.attach(first)
        first.removeDockWidget(exams.dock)  # the user moved the checklist to the right
        first.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, exams.dock)
        exams.dock.show()
        first.resizeDocks([exams.dock], [360], Qt.Orientation.Horizontal)
        qtbot.waitUntil(lambda: abs(exams.dock.width() - 360) <= 2, timeout=3000)
        first.close()

        engine = make_engine()
        second = MainWindow(engine, window_models(engine, tmp_path))  # the same preferences file
        qtbot.addWidget(second)
        with qtbot.waitExposed(second):
            second.show()
        _resize(qtbot, second, 1500, 900)  # the test platform's screen is smaller than the saved window
        again = ExamController(store, load_library()[0], operator="Op^One", ask=lambda *_question: EXAM_END)
        again.attach(second)
        assert second.tabs.collapsed
        assert second.dockWidgetArea(again.dock) == Qt.DockWidgetArea.RightDockWidgetArea
        qtbot.waitUntil(lambda: abs(again.dock.width() - 360) <= 2, timeout=3000)
        second.tabs.set_collapsed(False)
        qtbot.waitUntil(lambda: abs(second.tabs.width() - side_width) <= 2, timeout=3000)
        second.close()
    finally:
        store.close()


def test_banners_wrap_inside_the_image_and_give_window_advice(qtbot: QtBot, window: MainWindow) -> None:
    _resize(qtbot, window, 1280, 800)
    reason = "serial port /dev/ttyUSB7 does not exist: check the cable, or list ports with --list-probes"
    text = banner_text(EngineState.DISCONNECTED, reason)
    assert text is not None and "--" not in text and "Probe tab" in text
    assert "--" not in for_window("no USB probe found: plug it in, or give its id with --probe usb:VID:PID")
    assert "Probe tab" in for_window("something odd: try --some-flag")  # an unknown option: advice added
    window.view.set_banner(text + " " + "and a long explanation " * 12)
    banner = window.view.banner
    assert banner.isVisible()
    left = banner.mapTo(window.view, banner.rect().topLeft())
    assert left.x() >= 0 and left.x() + banner.width() <= window.view.width()
    assert banner.height() > banner.fontMetrics().height() * 2  # wrapped onto lines, not cut


def test_a_long_failure_message_shows_its_reason(qtbot: QtBot, window: MainWindow) -> None:
    _resize(qtbot, window, 1280, 800)
    reason = "No space left on device: '/media/studies/2024/KNEE-001/capture-0007.dcm'"
    window.show_message(f"Still NOT saved: {reason} — live imaging continues", error=True)
    label = window.message_label
    assert label.wordWrap() and reason in label.toolTip()
    assert _inside(window, label)
    assert window.width() == 1280  # the message never widens the window past the screen


def test_an_unticked_checkbox_is_visible_on_the_dark_theme(qtbot: QtBot) -> None:
    box = QCheckBox("Loop")
    box.setStyleSheet(STYLESHEET)
    qtbot.addWidget(box)
    box.resize(120, 30)
    box.show()
    qtbot.waitExposed(box)
    image = box.grab().toImage()
    # the indicator's frame: some pixel in the left 24 px clearly brighter than the background
    background = QColor("#16181b").lightness()
    left = range(min(24, image.width()))
    brightest = max(image.pixelColor(x, y).lightness() for x in left for y in range(image.height()))
    assert brightest > background + 60


@pytest.mark.parametrize("size", SIZES)
def test_the_help_fits_the_window_and_never_widens_it(
    qtbot: QtBot, exam_window: ExamWindow, size: tuple[int, int]
) -> None:
    """F1 lists every shortcut (scanner, exam, simulator…) inside the window; the window keeps its size."""
    window = exam_window.window
    _resize(qtbot, window, *size)
    before = window.size()
    window.actions_by_name["help"].trigger()
    qtbot.waitUntil(window.help.isVisible, timeout=2000)
    qtbot.wait(50)  # one more event-loop pass: a widened window would show now
    assert window.size() == before
    assert _inside(window, window.help)
    assert len(window.help.key_labels) == len(window.shortcut_table)
    for label in window.help.text_labels:  # each text whole, wrapped if need be, never cut off
        needed = label.fontMetrics().boundingRect(
            QRect(0, 0, label.width(), 10_000), Qt.TextFlag.TextWordWrap, label.text()
        )
        assert needed.width() <= label.width() and needed.height() <= label.height(), (size, label.text())
        top_left = label.mapTo(window.help, label.rect().topLeft())
        assert window.help.rect().contains(QRect(top_left, label.size())), (size, label.text())
    window.actions_by_name["help"].trigger()
    assert not window.help.isVisible() and window.size() == before


def test_a_long_message_never_pushes_the_image_up(qtbot: QtBot, window: MainWindow) -> None:
    _resize(qtbot, window, 1280, 800)
    qtbot.waitUntil(lambda: window.view.height() > 0, timeout=2000)
    before = window.view.geometry()
    window.show_message(
        "Clip saved (90 frames) — the depth changed during the clip: kept as 2 clips (#3, #4; 12 + 78 "
        "frames), each with its own calibration; the second one starts at the new depth. " * 3
    )
    qtbot.wait(50)  # one layout pass
    assert window.view.geometry() == before
    assert "kept as 2 clips" in window.message_label.toolTip()


@pytest.mark.parametrize("size", SIZES[:2])
def test_the_sim_and_pacs_tabs_fit_the_side_panel_beside_the_checklist(
    qtbot: QtBot, exam_window: ExamWindow, tmp_path: Path, size: tuple[int, int]
) -> None:
    """Neither tab scrolls sideways at 1280 pixels with the exam's checklist docked (long scene titles,
    the PACS services and buttons fit the panel's width), and neither widens the window."""
    window = exam_window.window
    sim = SimulatorTab(window, SimulatorControl(PatientRenderer("groin")))  # the longest scene title
    pacs = PacsPanel(exam_window.store, tmp_path / "pacs.json")
    pacs.attach(window)
    _resize(qtbot, window, *size)
    _start_knee_exam(exam_window.exams)
    assert sim.panel is not None
    for page in (sim.panel, pacs):
        window.show_side_tab(page)
        viewport = page.parentWidget()
        area = viewport.parentWidget() if viewport is not None else None
        assert isinstance(area, QScrollArea)  # the side panel's page scroller
        qtbot.waitUntil(page.isVisible, timeout=3000)
        qtbot.wait(50)  # one more event-loop pass: a scroll bar or a widened window would show now
        scroll = area.horizontalScrollBar()
        assert scroll is not None and not scroll.isVisible(), type(page).__name__
        assert page.width() <= area.viewport().width()
        assert window.width() == size[0]


def test_a_pulled_cable_does_not_widen_the_window(qtbot: QtBot, tmp_path: Path) -> None:
    """A newcomer pulled the simulated probe's cable at 1280 x 800: the status line's reason ("no USB
    probe 1209:0001 found: plug it in, or ...") set the window's minimum width, which grew past the
    screen and pushed the side panel off it. The reason is cut with an ellipsis (whole in its tooltip)."""
    driver = main.make_driver("sim")
    engine = AcquisitionEngine(driver, FrameRing(30, 512 * 512))
    control = main.sim_control(driver)
    assert control is not None
    window = open_window(qtbot, tmp_path, engine)
    try:
        _resize(qtbot, window, 1280, 800)
        qtbot.waitUntil(lambda: engine.state == EngineState.STREAMING, timeout=10000)
        control.set_cable_plugged(False)
        qtbot.waitUntil(lambda: "no USB probe" in window.state_label.toolTip(), timeout=10000)
        # The label asks for no more than its place (it asked 713 px offscreen, more in a desktop's
        # fonts), so the window's minimum stays within the screen.
        assert window.state_label.minimumSizeHint().width() <= STATE_LABEL_MAX_PX
        assert window.minimumSizeHint().width() <= 1280 and window.width() == 1280
        assert window.state_label.text().endswith("…")
        control.set_cable_plugged(True)
        qtbot.waitUntil(lambda: engine.state == EngineState.STREAMING, timeout=10000)
    finally:
        window.close()
        engine.close()
        main._release_sim_device(driver)
