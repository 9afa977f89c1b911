"""In practice mode the step's "View found" mark is on screen without scrolling in a 1280 x 800 window
(the exam's dock beside the image, every side tab main.py gives the window, in the app's theme): the
trainee scanning sees it change, before and after scrolling through the step's captures."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QRect
from PyQt6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from drivers.sim.scenes import named_views
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient
from tests.full_window_support import FullWindow, themed_full_window
from tests.test_layout import _resize
from ui.checklist_panel import ChecklistPanel
from ui.exam_dialog import ExamRequest

SCREEN = (1280, 800)


full = themed_full_window  # the fixture, shared


def _seen_whole(widget: QWidget, window: QWidget) -> bool:
    """Shown, inside the window, and neither scrolled out of view nor cut by a pane's edge."""
    QApplication.processEvents()
    top_left = widget.mapTo(window, QPoint(0, 0))
    inside = window.rect().contains(QRect(top_left, widget.size()))
    return widget.isVisible() and inside and widget.visibleRegion().boundingRect() == widget.rect()


def test_view_found_is_seen_without_scrolling_at_1280_by_800(qtbot: QtBot, full: FullWindow) -> None:
    window = full.window
    _resize(qtbot, window, *SCREEN)
    knee = load_protocol(LIBRARY_DIR / "knee.yaml", views=named_views())
    full.exams.start_exam(ExamRequest(
        patient=Patient("PRAC-001", "Doe^Jane", "19700203", "F"), operator="Op^One", trainee="Tr^Tess",
        supervisor="", protocol=knee, quadrant=None, side="left", practice=True,
    ))  # fmt: skip
    panel = full.exams.panel
    session = full.exams.session
    assert isinstance(panel, ChecklistPanel) and session is not None and session.runner is not None
    runner = session.runner
    target = runner.current_step.practice
    assert target is not None
    qtbot.waitUntil(panel.detail_scroll.isVisible, timeout=3000)
    assert "Find the view" in panel.practice_label.text()
    assert runner.check_practice_view(target.scene, dict(target.pose))  # the probe on the target view
    qtbot.waitUntil(lambda: "View found" in panel.practice_label.text(), timeout=3000)
    assert (window.width(), window.height()) == SCREEN
    assert _seen_whole(panel.practice_label, window)
    # The step's pane scrolled to its last capture button: the mark stays in view.
    bar = panel.detail_scroll.verticalScrollBar()
    assert bar is not None and bar.maximum() > 0  # the step is taller than its pane at this size
    bar.setValue(bar.maximum())
    assert _seen_whole(panel.practice_label, window)
    # The check can fail: a capture's row, below the fold at this size, is not seen whole.
    last_capture = panel.capture_rows[-1][0]
    bar.setValue(0)
    assert not _seen_whole(last_capture, window)
