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

from tests.ui_support import open_window, wait_streaming, window_fixture
from ui.main_window import MainWindow
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
