"""Typing a text annotation: after T the keyboard belongs to the text box until it is placed (Enter, or
leaving it for another control) or cancelled (Esc). A click on the image moves the box there and keeps
the keys in it, so no key both types and triggers a scanner shortcut; and a click prompt cancelled by
Esc takes its status message with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from scanner_app.measurements import pixel_centre_mm
from tests.ui_support import wait_streaming, window_fixture
from ui.main_window import MainWindow
from ui.procedure_panel import DROP_PROMPT, ProcedurePanel

# Letters and signs that are scanner shortcuts (freeze, still, clip, calipers, text, cine, body
# marker, procedure guide and target, gain), with their capitals (Shift+C records, Shift+T drops).
SHORTCUT_TEXT = "Quad Tendon L, fat pad: Space F S C D A T P L B G [ ] + - = . , ?"


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


@pytest.fixture
def panel(window: MainWindow) -> ProcedurePanel:
    p = ProcedurePanel()
    p.attach(window)
    return p


def _pos(w: MainWindow, row: int, col: int) -> tuple[tuple[float, float], QPoint]:
    frame = w.view.current.frame
    x, y = pixel_centre_mm(row, col, frame.spacing_mm, frame.depth_origin_mm)
    return (x, y), w.view.widget_pos_of_mm(x, y).toPoint()


def _focus() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None
    return widget


def _type(qtbot: QtBot, text: str) -> None:
    """Type as a keyboard does: into whatever has the focus, capitals with Shift held."""
    for ch in text:
        shifted = ch.isupper() or ch in "?+"
        modifier = Qt.KeyboardModifier.ShiftModifier if shifted else Qt.KeyboardModifier.NoModifier
        qtbot.keyClick(_focus(), ch, modifier)


def test_after_t_a_click_on_the_image_moves_the_box_there_and_the_keys_type_into_it(
    qtbot: QtBot, window: MainWindow, panel: ProcedurePanel
) -> None:
    wait_streaming(qtbot, window)
    clicked: list[tuple[float, float]] = []
    window.image_clicked.connect(lambda x, y: clicked.append((x, y)))
    qtbot.keyClick(window, Qt.Key.Key_T)
    assert window.cine.frozen and window.annotation_edit.isVisible()
    frozen_at = window.cine.index
    at_mm, at = _pos(window, 90, 30)
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    # The box is where the text will go, and the keys are its own.
    box = window.annotation_edit
    assert box.isVisible() and _focus() is box
    centre = box.geometry().center()
    assert abs(centre.x() - at.x()) <= 2 and abs(centre.y() - at.y()) <= box.height()
    assert clicked == []  # the text's click, not one a feature (a target, a quiz) may take
    _type(qtbot, SHORTCUT_TEXT)
    assert box.text() == SHORTCUT_TEXT
    # No key acted as a shortcut as well: still frozen on the same frame, nothing else started.
    assert window.cine.frozen and window.cine.index == frozen_at
    assert not window.measurements.placing and window.record_action.isChecked() is False
    assert not panel.dropping and not panel.show_guide.isChecked() and panel.guide.angle_deg == 30.0
    assert not window.help.isVisible() and window.pending_captures == 0
    qtbot.keyClick(_focus(), Qt.Key.Key_Return)
    ((text, x_mm, y_mm),) = [(t.text, t.x_mm, t.y_mm) for t in window.annotations.texts]
    assert (text, (x_mm, y_mm)) == (SHORTCUT_TEXT, at_mm)
    assert not box.isVisible() and _focus() is not box
    qtbot.keyClick(_focus(), Qt.Key.Key_F)  # placed: the keys are the scanner's again
    assert not window.cine.frozen


def test_esc_cancels_the_text_and_gives_the_keys_back(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_T)
    _, at = _pos(window, 40, 60)
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    _type(qtbot, "Baker cyst")
    qtbot.keyClick(_focus(), Qt.Key.Key_Escape)
    assert not window.annotation_edit.isVisible() and window.annotations.texts == []
    assert window.cine.frozen  # Esc closes the text box only
    qtbot.keyClick(_focus(), Qt.Key.Key_F)
    assert not window.cine.frozen


def test_leaving_the_box_for_another_control_places_what_was_typed(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    at_mm, at = _pos(window, 64, 48)
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    qtbot.keyClick(window, Qt.Key.Key_T)
    _type(qtbot, "Effusion")
    other = window.measure_panel.results
    other.setFocus(Qt.FocusReason.MouseFocusReason)  # a click on another control
    qtbot.waitUntil(lambda: not window.annotation_edit.isVisible(), timeout=2000)
    assert [(t.text, (t.x_mm, t.y_mm)) for t in window.annotations.texts] == [("Effusion", at_mm)]
    qtbot.keyClick(_focus(), Qt.Key.Key_F)  # the keys are the scanner's again, not a hidden box's
    assert not window.cine.frozen


def test_esc_cancels_a_target_drop_and_its_prompt(
    qtbot: QtBot, window: MainWindow, panel: ProcedurePanel
) -> None:
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ShiftModifier)
    assert panel.dropping and window.message_label.text() == DROP_PROMPT
    qtbot.keyClick(_focus(), Qt.Key.Key_Escape)
    assert not panel.dropping
    assert window.message_label.text() == ""  # the prompt went with the drop
    _, at = _pos(window, 64, 48)
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert panel.target is None  # the click after Esc drops nothing


def test_esc_leaves_a_newer_message_alone(qtbot: QtBot, window: MainWindow, panel: ProcedurePanel) -> None:
    wait_streaming(qtbot, window)
    panel.begin_drop()
    window.show_message("Still saved (1 frame)")
    qtbot.keyClick(_focus(), Qt.Key.Key_Escape)
    assert not panel.dropping and window.message_label.text() == "Still saved (1 frame)"


def test_the_box_stays_on_its_point_when_the_image_is_refitted(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_T)
    at_mm, at = _pos(window, 70, 80)
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    box = window.annotation_edit
    window.resize(window.width() - 200, window.height())  # as when a side tab opens beside the image
    qtbot.waitUntil(lambda: window.view.widget_pos_of_mm(*at_mm).toPoint() != at, timeout=2000)
    moved = window.view.widget_pos_of_mm(*at_mm).toPoint()
    qtbot.waitUntil(lambda: abs(box.geometry().center().x() - moved.x()) <= 2, timeout=2000)
    assert abs(box.geometry().center().y() - moved.y()) <= box.height()


def test_a_capture_keeps_the_text_being_typed(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    """Still from the toolbar while the text box is open: the text on screen goes into the capture."""
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_T)
    _type(qtbot, "Baker cyst")
    window.actions_by_name["still"].trigger()  # a toolbar button: it does not take the keys
    assert not window.annotation_edit.isVisible()
    assert [t.text for t in window.annotations.texts] == ["Baker cyst"]
    qtbot.waitUntil(lambda: any((tmp_path / "captures").rglob("*.json")), timeout=5000)
    kept = "".join(p.read_text() for p in (tmp_path / "captures").rglob("*.json"))
    assert "Baker cyst" in kept
