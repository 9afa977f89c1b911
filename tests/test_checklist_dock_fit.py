"""The exam dock's step details at 1280 x 800: every step of the DVT protocols fits the dock's width
(its requirement rows, Capture buttons, titles and the step's table wrap or shrink; nothing is cut at
the dock's edge, where a newcomer's "Capture still" and the table's values were)."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QEvent
from PyQt6.QtWidgets import QApplication, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from drivers.sim.scenes import named_views
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient
from tests.full_window_support import FullWindow, themed_full_window
from tests.test_layout import _resize
from ui.checklist_panel import ChecklistPanel
from ui.exam_dialog import ExamRequest

full = themed_full_window  # the fixture, shared


def _cut_at_the_edge(panel: ChecklistPanel) -> list[str]:
    """The step's detail widgets reaching past the pane's visible width (it never scrolls sideways)."""
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)
    QApplication.processEvents()
    viewport = panel.detail_scroll.viewport()
    detail = panel.detail_scroll.widget()
    assert viewport is not None and detail is not None
    cut = (
        [f"the pane ({detail.width()} px in {viewport.width()})"] if detail.width() > viewport.width() else []
    )
    for widget in detail.findChildren(QWidget):
        if widget.isVisibleTo(detail) and widget.minimumSizeHint().width() > 0:
            right = widget.mapTo(viewport, widget.rect().topRight()).x()
            if right >= viewport.width():
                text = widget.text() if isinstance(widget, QPushButton) else type(widget).__name__
                cut.append(f"{text} (right edge {right} px)")
    return cut


@pytest.mark.parametrize("protocol_file", ["dvt_two_point.yaml", "dvt_whole_leg.yaml"])
def test_every_step_of_a_dvt_exam_fits_the_dock_at_1280_by_800(
    qtbot: QtBot, full: FullWindow, protocol_file: str
) -> None:
    window = full.window
    _resize(qtbot, window, 1280, 800)
    full.exams.start_exam(ExamRequest(
        patient=Patient("NC6-001", "Testperson^Anna", "19700203", "F"), operator="Op^One", trainee="",
        supervisor="", quadrant=None, side="left", practice=False,
        protocol=load_protocol(LIBRARY_DIR / protocol_file, views=named_views()),
    ))  # fmt: skip
    panel = full.exams.panel
    assert isinstance(panel, ChecklistPanel)
    qtbot.waitUntil(panel.detail_scroll.isVisible, timeout=3000)
    runner = panel.runner
    cut: dict[str, list[str]] = {}
    while True:
        step = runner.current_step
        if found := _cut_at_the_edge(panel):
            cut[step.id] = found
        buttons = [b for b in panel.findChildren(QPushButton) if b.objectName().startswith("capture:")]
        assert all(b.isVisibleTo(panel) for b in buttons) and (step.captures == () or buttons), step.id
        if not runner.next():  # the last step
            break
    assert cut == {}, f"dock {full.exams.dock.width()} px wide"
