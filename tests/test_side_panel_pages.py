"""A side tab removed and added again (the Time-out tab comes and goes with procedure exams) leaves the
panel whole: it folds and unfolds with the page shown, and the page survives its removal."""

from __future__ import annotations

from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from ui.side_panel import SidePanel


def test_a_page_removed_and_added_again_unfolds_with_the_panel(qtbot: QtBot) -> None:
    panel = SidePanel()
    qtbot.addWidget(panel)
    first, again = QWidget(), QWidget()
    QVBoxLayout(again).addWidget(QLabel("Time-out"))
    panel.addTab(first, "Imaging")
    panel.addTab(again, "Time-out")
    panel.resize(320, 400)
    panel.show()
    qtbot.waitExposed(panel)
    for _ in range(2):  # two procedure exams, each ending
        panel.set_collapsed(True)
        panel.removeTab(panel.indexOf(again))
        assert panel.indexOf(again) == -1 and panel.count() == 1
        panel.addTab(again, "Time-out")
        panel.setCurrentWidget(again)
        panel.set_collapsed(False)  # crashed in Qt: the removed tab's scroll area still held the page
        qtbot.waitUntil(again.isVisible, timeout=2000)
        assert panel.currentWidget() is again
        assert panel.count() == 2
