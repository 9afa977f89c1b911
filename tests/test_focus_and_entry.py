"""Issue 12 items 5, 7 and 9: one focus model (scanner keys work wherever the focus is, the simulated
probe's keys need no click and take no scanner key, F1 lists every action), patient entry as DICOM
expects, and the body marker's probe icon: along the limb for a long-axis view, following the scene."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QDate, Qt
from PyQt6.QtGui import QColor, QKeySequence
from PyQt6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.settings import SimSettings
from protocols.validation import LIBRARY_DIR, load_library, load_protocol
from scanner_app.annotations import BodyMarker, probe_icon_direction
from scanner_app.engine import EngineState
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from tests.ui_support import make_engine, open_window, wait_streaming
from ui.close_prompt import EXAM_END
from ui.exam_dialog import CALENDAR_YEARS_BACK, ExamDialog, ExamRequest, parse_birth_date, person_name
from ui.exam_dock import ExamController
from ui.image_view import BodyMarkerWidget
from ui.main_window import MainWindow
from ui.sim_panel import SimulatorTab
from ui.theme import ACCENT

CAPTURE_TIMEOUT_MS = 10000


class Rig:
    def __init__(self, window: MainWindow, exams: ExamController, tab: SimulatorTab, sim: SimulatorControl):
        self.window, self.exams, self.tab, self.sim = window, exams, tab, sim


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[Rig]:
    """The window on the simulated patient (with its cable) with the exam dock and the Sim tab."""
    renderer = PatientRenderer("groin")
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=128, cols=96), frame_rate_hz=30.0))
    sim = SimulatorControl(renderer, probe)
    store = StudyStore(tmp_path / "studies")
    exams = ExamController(store, [], operator="Op^One", ask=lambda *_question: EXAM_END)
    window = open_window(
        qtbot, tmp_path, make_engine(probe), sink=StudyCaptureSink(store, exams.current_study)
    )
    tab = SimulatorTab(window, sim)
    exams.attach(window, tab)
    wait_streaming(qtbot, window)
    yield Rig(window, exams, tab, sim)
    window.close()
    store.close()


def _start_dvt_exam(rig: Rig) -> None:
    dvt = load_protocol(LIBRARY_DIR / "dvt_two_point.yaml")
    rig.exams.start_exam(
        ExamRequest(Patient("DVT-1", "Doe^Jane"), "Op^One", "", "", dvt, None, "left", practice=False)
    )


def _focus(qtbot: QtBot, widget: QWidget) -> None:
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=2000)


@pytest.mark.parametrize("where", ["sim slider", "sim panel", "checklist steps", "checklist button"])
def test_scanner_and_probe_keys_work_wherever_the_focus_is(qtbot: QtBot, rig: Rig, where: str) -> None:
    _start_dvt_exam(rig)
    panel, checklist = rig.tab.panel, rig.exams.panel
    assert panel is not None and checklist is not None
    rig.window.show_side_tab(panel)
    widget = {
        "sim slider": panel.sliders["pressure"],
        "sim panel": panel.picture,
        "checklist steps": checklist.steps_list,
        "checklist button": checklist.next_button,
    }[where]
    _focus(qtbot, widget)
    step = checklist.runner.current_step.id
    # compress (PgUp), capture (S), release (PgDn): all from the keyboard, the focus left where it is
    pressure = rig.sim.get_pose()["pressure"]
    for _ in range(3):
        qtbot.keyClick(widget, Qt.Key.Key_PageUp)
    assert rig.sim.get_pose()["pressure"] == pytest.approx(pressure + 0.15)
    with qtbot.waitSignal(rig.window.capture_finished, timeout=CAPTURE_TIMEOUT_MS) as stored:
        qtbot.keyClick(widget, Qt.Key.Key_S)
    assert stored.args[0].kind == "still" and stored.args[0].record is not None
    for _ in range(3):
        qtbot.keyClick(widget, Qt.Key.Key_PageDown)
    assert rig.sim.get_pose()["pressure"] == pytest.approx(pressure)
    assert rig.sim.get_pose()["tilt_deg"] == 0.0  # S saved a still; it did not tilt the probe
    qtbot.keyClick(widget, Qt.Key.Key_Space)  # freeze, not "press the focused button"
    assert rig.window.cine.frozen and checklist.runner.current_step.id == step
    qtbot.keyClick(widget, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert rig.sim.get_pose()["tilt_deg"] == 2.0


def test_a_text_field_keeps_the_keys_it_types_with(qtbot: QtBot, rig: Rig) -> None:
    _start_dvt_exam(rig)
    checklist = rig.exams.panel
    assert checklist is not None
    field = checklist.skip_reason
    _focus(qtbot, field)
    taken = rig.window.strip.count()
    qtbot.keyClicks(field, "s f")
    assert field.text() == "s f"
    assert rig.window.pending_captures == 0 and rig.window.strip.count() == taken
    assert not rig.window.cine.frozen


def _listed_keys(window: MainWindow) -> set[str]:
    return {k.strip() for keys, _ in window.shortcut_table for k in keys.split(" / ")}


def test_f1_lists_every_shortcut_of_every_action(qtbot: QtBot, rig: Rig) -> None:
    window = rig.window
    listed = _listed_keys(window)
    bound: set[str] = set()
    for action in window.actions():
        for sequence in action.shortcuts():
            text = sequence.toString(QKeySequence.SequenceFormat.PortableText)
            if text in ("Shift+?", "Shift++"):  # the same key on keyboards that send Shift with it
                continue
            bound.add(text)
    assert bound, "no shortcuts at all"
    assert bound - listed == set()
    # the scanner's, the exam's and the simulator's are all among them, and the overlay shows them
    assert {"S", "F", "Ctrl+N", "Ctrl+1", "PgUp", "Ctrl+Up", "Alt+Up"} <= bound
    window.help_toggle()
    shown = {label.text() for label in window.help.key_labels}
    assert shown == {keys for keys, _ in window.shortcut_table}
    assert window.help.isVisible()
    geometry = window.help.geometry()
    assert window.help.parentWidget() is not None
    assert geometry.bottom() <= window.help.parentWidget().height()  # type: ignore[union-attr]


def test_simulator_keys_are_off_with_a_real_probe(qtbot: QtBot, rig: Rig) -> None:
    rig.tab.set_control(None)
    before = rig.window.imaging.requested.copy()
    rig.window.actions_by_name["sim_press"].trigger()  # disabled: nothing happens
    assert not rig.window.actions_by_name["sim_press"].isEnabled()
    assert rig.window.imaging.requested == before


def test_the_sim_tab_pulls_and_replugs_the_cable(qtbot: QtBot, rig: Rig) -> None:
    panel = rig.tab.panel
    assert panel is not None and panel.cable_button.isVisibleTo(panel)
    assert panel.cable_button.text() == "Pull the probe cable"
    panel.cable_button.click()
    qtbot.waitUntil(lambda: rig.window.engine.state != EngineState.STREAMING, timeout=5000)
    qtbot.waitUntil(rig.window.view.banner.isVisible, timeout=5000)
    assert panel.cable_button.text() == "Plug the probe in"
    panel.cable_button.click()
    qtbot.waitUntil(lambda: rig.window.engine.state == EngineState.STREAMING, timeout=10000)
    qtbot.waitUntil(lambda: not rig.window.view.banner.isVisible(), timeout=5000)


# ----- item 7: patient entry -----


def _dialog(qtbot: QtBot) -> ExamDialog:
    dialog = ExamDialog([], has_simulator=False, operator="Op^One")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.patient_id.setText("P-1")
    return dialog


@pytest.mark.parametrize(("typed", "stored"), [("1965-03-14", "19650314"), ("14/03/1965", "19650314")])
def test_a_birth_date_can_be_typed(qtbot: QtBot, typed: str, stored: str) -> None:
    dialog = _dialog(qtbot)
    dialog.birth_date.setFocus()
    qtbot.keyClicks(dialog.birth_date, typed)
    assert dialog.birth_date.text() == typed and not dialog.field_errors["birth_date"].isVisible()
    dialog.accept()
    assert dialog.request is not None and dialog.request.patient.birth_date == stored


def test_a_wrong_birth_date_is_shown_beside_the_field_and_refused(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    qtbot.keyClicks(dialog.birth_date, "31/02/1965")
    assert dialog.field_errors["birth_date"].isVisible()
    # In the form's words, and saying what is wrong: 31 February is no day at all.
    assert (
        dialog.field_errors["birth_date"].text()
        == "Birth date: 31/02/1965: there is no such day in the calendar"
    )
    dialog.birth_date.clear()
    qtbot.keyClicks(dialog.birth_date, "1965.02.14")
    assert "YYYY-MM-DD" in dialog.field_errors["birth_date"].text()
    dialog.accept()
    assert dialog.request is None
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.birth_date, timeout=2000)
    with pytest.raises(ValueError, match="possible birth date"):
        parse_birth_date("2031-01-01", today=dt.date(2030, 1, 1))
    assert parse_birth_date("") == ""


def test_the_calendar_opens_fifty_years_back_and_fills_the_field(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    dialog.calendar_button.click()
    qtbot.waitUntil(dialog.calendar_menu.isVisible, timeout=2000)
    assert dialog.calendar.selectedDate().year() == QDate.currentDate().year() - CALENDAR_YEARS_BACK
    assert dialog.calendar.yearShown() == QDate.currentDate().year() - CALENDAR_YEARS_BACK
    dialog.calendar.clicked.emit(QDate(1971, 5, 6))
    assert dialog.birth_date.text() == "1971-05-06" and not dialog.calendar_menu.isVisible()
    dialog.calendar_button.click()  # reopened: at the typed date
    qtbot.waitUntil(dialog.calendar_menu.isVisible, timeout=2000)
    assert dialog.calendar.selectedDate() == QDate(1971, 5, 6)
    dialog.calendar_menu.hide()


def test_names_are_stored_as_dicom_person_names_and_sex_has_words(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    qtbot.keyClicks(dialog.family_name, "Smith, John")
    dialog.accept()
    assert dialog.request is not None and dialog.request.patient.name == "Smith^John"
    assert person_name("Smith", "John") == "Smith^John" and person_name(" Doe^Jane ", "") == "Doe^Jane"
    assert person_name("Smith", "") == "Smith"
    words = [dialog.sex.itemText(i) for i in range(dialog.sex.count())]
    codes = [dialog.sex.itemData(i) for i in range(dialog.sex.count())]
    assert codes == ["", "M", "F", "O"]
    assert [any(w in text for w in ("Male", "Female", "Other")) for text in words] == [
        False,
        True,
        True,
        True,
    ]
    dialog2 = _dialog(qtbot)
    dialog2.family_name.setText("Smith")
    dialog2.given_name.setText("John\\Jack")  # a backslash: the name's inline error, as typed
    assert dialog2.field_errors["name"].isVisible() and "backslash" in dialog2.field_errors["name"].text()
    # DICOM's separators typed into one of the two fields would store another name: refused, as typed.
    for family, given, mark in (
        ("O'Brien^Smith", "Ann", "^"),
        ("O'Brien", "Ann=Marie", "="),
        ("X", "A^B", "^"),
    ):
        dialog3 = _dialog(qtbot)
        dialog3.family_name.setText(family)
        dialog3.given_name.setText(given)
        assert dialog3.field_errors["name"].isVisible(), (family, given)
        assert repr(mark) in dialog3.field_errors["name"].text()
        dialog3.patient_id.setText("P-1")
        dialog3.accept()
        assert dialog3.request is None


# ----- item 9: the body marker -----


def _accent_extent(widget: BodyMarkerWidget) -> tuple[int, int]:
    """(width, height) in pixels of the probe icon (the accent colour) in the drawn pictogram."""
    image = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB32)
    buffer = image.constBits()
    assert buffer is not None
    buffer.setsize(image.sizeInBytes())
    pixels = np.frombuffer(buffer, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    accent = QColor(ACCENT)
    bgr = np.array([accent.blue(), accent.green(), accent.red()])
    ys, xs = np.nonzero(np.all(np.abs(pixels[:, : image.width(), :3].astype(int) - bgr) < 40, axis=2))
    assert len(xs), "no probe icon drawn"
    return int(xs.max() - xs.min()), int(ys.max() - ys.min())


def test_the_probe_icon_lies_along_the_limb_for_a_long_axis_view(qtbot: QtBot) -> None:
    assert probe_icon_direction(0.0) == pytest.approx((0.0, 1.0))
    assert probe_icon_direction(90.0) == pytest.approx((-1.0, 0.0))
    widget = BodyMarkerWidget()
    qtbot.addWidget(widget)
    widget.set_marker(BodyMarker("Knee", "R", 0.5, 0.0))  # long axis: along the limb (vertical)
    width, height = _accent_extent(widget)
    assert height > 2 * width
    widget.set_marker(BodyMarker("DVT groin / thigh", "L", 0.5, 90.0))  # short axis: across
    width, height = _accent_extent(widget)
    assert width > 2 * height


def test_the_body_marker_follows_the_simulated_scene_and_probe(qtbot: QtBot, rig: Rig) -> None:
    panel = rig.tab.panel
    assert panel is not None
    marker = rig.window.annotations.body_marker
    assert marker.region == "DVT groin / thigh"  # the groin scene
    assert marker.probe_angle_deg == rig.sim.get_pose()["rotation_deg"]
    panel.scene_combo.setCurrentIndex(panel.scene_combo.findData("knee"))
    rig.window.actions_by_name["sim_rotate_right"].trigger()
    marker = rig.window.annotations.body_marker
    assert marker.region == "Knee"
    assert marker.probe_angle_deg == pytest.approx(rig.sim.get_pose()["rotation_deg"])
    assert rig.window.view.body_marker.marker == marker  # drawn as it is


def test_the_form_error_goes_once_every_field_is_right(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    dialog.patient_id.setText("")
    dialog.family_name.setText("Smith")
    dialog.accept()
    assert dialog.request is None and dialog.error_label.text() == "Correct the fields marked in red."
    dialog.patient_id.setText("P-9")
    assert dialog.error_label.text() == ""


def test_a_protocol_that_asks_the_side_needs_one_chosen(qtbot: QtBot) -> None:
    dialog = ExamDialog(load_library()[0], has_simulator=False, operator="Op^One")
    qtbot.addWidget(dialog)
    dialog.patient_id.setText("P-1")
    dialog.select_protocol("knee")
    assert dialog.side.isEnabled() and dialog.side.currentText() == ""
    dialog.accept()
    assert dialog.request is None and "side must be chosen" in dialog.error_label.text()
    dialog.side.setCurrentText("right")
    dialog.accept()
    assert dialog.request is not None and dialog.request.side == "right"
    practice = ExamDialog(load_library()[0], has_simulator=False, operator="Op^One")
    qtbot.addWidget(practice)
    practice.practice_subject.setChecked(True)
    practice.select_protocol("knee")
    practice.accept()
    assert practice.request is not None and practice.request.side == "left"  # anonymous: no one to harm
