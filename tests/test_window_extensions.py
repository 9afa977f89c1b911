"""A feature attaches to the window through its extension points only (tab, dock, action with its F1
entry, status item) and takes part in the close: it may veto it, and finishes its work once captures are
stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget, QLabel, QToolButton
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.patient import PatientRenderer
from scanner_app.studies import StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from scanner_app.studies.pacs import PacsDestination
from tests.ui_support import open_window, wait_streaming, window_fixture
from ui.close_prompt import EXAM_END
from ui.exam_dock import ExamController
from ui.main_window import MainWindow
from ui.pacs_panel import PacsPanel, save_destinations
from ui.sim_panel import SimulatorTab
from ui.window_api import CloseRequest, ScannerWindow


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


class LogbookFeature:
    """A feature as the coming ones will be: it is handed the window's API and uses nothing else."""

    def __init__(self, window: ScannerWindow) -> None:
        self.opened = 0
        self.tab = QLabel("logbook entries")
        self.notes = QLabel("supervisor notes")
        self.status = QLabel("logbook: 3 entries")
        window.add_side_tab(self.tab, "Logbook")
        self.dock = window.add_dock(self.notes, "Logbook notes")
        window.add_toolbar_separator()
        self.action = window.add_action("open_logbook", ["Ctrl+G"], "Open the logbook", self.open, "Logbook")
        window.add_status_widget(self.status)

    def open(self) -> None:
        self.opened += 1


def test_a_feature_adds_its_tab_dock_action_help_and_status_item(qtbot: QtBot, window: MainWindow) -> None:
    feature = LogbookFeature(window)
    assert window.side_tab_titles() == ["Imaging", "Measure", "Probe", "Logbook"]
    window.show_side_tab(feature.tab)
    assert window.tabs.currentWidget() is feature.tab
    docks = [d for d in window.findChildren(QDockWidget) if d.widget() is feature.notes]
    assert docks == [feature.dock]
    assert window.dockWidgetArea(feature.dock) == Qt.DockWidgetArea.RightDockWidgetArea
    qtbot.waitUntil(feature.status.isVisible, timeout=2000)
    # The shortcut works, the toolbar shows the action, and F1 lists it.
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert feature.opened == 1
    buttons = [b for b in window.findChildren(QToolButton) if b.defaultAction() is feature.action]
    assert len(buttons) == 1 and buttons[0].text() == "Logbook"
    buttons[0].click()
    assert feature.opened == 2
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert window.help.isVisible()
    shown = [label.text() for label in window.help.findChildren(QLabel)]
    assert "Ctrl+G" in shown and "Open the logbook" in shown
    assert "Freeze / unfreeze" in shown  # the window's own entries are still there
    with pytest.raises(ValueError, match="open_logbook"):
        window.add_action("open_logbook", ["Ctrl+J"], "Again", feature.open)


def test_a_closing_veto_keeps_the_window_open_and_streaming(qtbot: QtBot, tmp_path: Path) -> None:
    w = open_window(qtbot, tmp_path)
    wait_streaming(qtbot, w)
    finished: list[int] = []

    def veto(request: CloseRequest) -> None:
        request.veto("the procedure log is not signed")

    w.closing.connect(veto)
    w.finishing.connect(lambda: finished.append(w.pending_captures))
    assert w.close() is False
    assert w.isVisible() and w.engine.running and finished == []
    assert "not signed" in w.message_label.text()
    draws = w.view.draws
    qtbot.waitUntil(lambda: w.view.draws > draws, timeout=3000)  # still live

    # Without the veto the close goes ahead; features finish once the capture taken is stored.
    w.closing.disconnect(veto)
    w.capture_still()
    assert w.close() is True
    assert finished == [0] and w.strip.count() == 1
    assert not w.isVisible() and not w.engine.running


def test_the_app_features_plug_in_and_finish_when_the_window_closes(qtbot: QtBot, tmp_path: Path) -> None:
    """The exam, PACS and simulator features wired as main.py wires them, on one window."""
    store = StudyStore(tmp_path / "studies")
    config = tmp_path / "config" / "pacs_destinations.json"
    save_destinations(config, [PacsDestination("nowhere", "127.0.0.1", 9, "NOWHERE")])
    exams = ExamController(store, operator="Op^One", ask=lambda *_question: EXAM_END)
    w = open_window(qtbot, tmp_path, sink=StudyCaptureSink(store, exams.current_study))
    sim: SimulatorControl = SimulatorControl(PatientRenderer("knee"))
    exams.attach(w, SimulatorTab(w, sim))
    pacs = PacsPanel(store, config)
    pacs.attach(w)
    try:
        assert w.side_tab_titles() == ["Imaging", "Measure", "Probe", "Sim", "PACS"]
        assert list(pacs.senders) == ["nowhere"]  # a sender thread runs until the window closes
        assert ("Ctrl+N", "New exam (patient, protocol)") in w.shortcut_table
        assert exams.dock.widget() is not None and "no exam" in w.windowTitle()
        wait_streaming(qtbot, w)
        with qtbot.waitSignal(w.capture_finished, timeout=10000):
            w.capture_still()  # to the automatic practice study, labelled by the exam
        assert exams.session is not None and not exams.session.ended
        session = exams.session
        w.close()
        assert session.ended and pacs.senders == {}  # the exam ended, the senders were joined
        assert store.get_study(session.study.study_uid).ended_at is not None
    finally:
        store.close()
