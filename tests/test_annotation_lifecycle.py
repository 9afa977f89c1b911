"""Calipers and text belong to the frozen image they were drawn on: they are saved with captures of that
image only, cleared by unfreezing and by a new step, exam or patient; they can be selected, moved and
deleted with the mouse and keys; a caliper's value goes into the checklist's measurement field; and
acquisition settings cannot change under a frozen image."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.settings import SimSettings
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.measurements import pixel_centre_mm
from scanner_app.probe import SettingKey
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from scanner_app.studies.report import build_report
from tests.ui_support import make_engine, open_window, wait_streaming, window_fixture
from ui.capture_strip import CaptureOutcome
from ui.close_prompt import EXAM_END
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import MainWindow

CAPTURE_TIMEOUT_MS = 10000


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


class Rig:
    def __init__(self, window: MainWindow, store: StudyStore, exams: ExamController) -> None:
        self.window, self.store, self.exams = window, store, exams


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[Rig]:
    renderer = PatientRenderer("knee")
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=128, cols=96), frame_rate_hz=30.0))
    store = StudyStore(tmp_path / "studies")
    exams = ExamController(store, operator="Op^One", ask=lambda *_question: EXAM_END)
    window = open_window(
        qtbot, tmp_path, make_engine(probe), sink=StudyCaptureSink(store, exams.current_study)
    )
    exams.attach(window)
    wait_streaming(qtbot, window)
    yield Rig(window, store, exams)
    window.close()
    store.close()


def _request(protocol_file: str, patient: Patient, side: str = "right") -> ExamRequest:
    return ExamRequest(
        patient=patient,
        operator="Op^One",
        trainee="",
        supervisor="",
        protocol=load_protocol(LIBRARY_DIR / protocol_file),
        quadrant=None,
        side=side,
        practice=False,
    )


def _pos(w: MainWindow, x_mm: float, y_mm: float) -> QPoint:
    return w.view.widget_pos_of_mm(x_mm, y_mm).toPoint()


def _pixel(w: MainWindow, row: int, col: int) -> tuple[float, float]:
    frame = w.view.current.frame
    return pixel_centre_mm(row, col, frame.spacing_mm, frame.depth_origin_mm)


def _click_pixel(qtbot: QtBot, w: MainWindow, row: int, col: int) -> None:
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=_pos(w, *_pixel(w, row, col)))


def _drag(qtbot: QtBot, w: MainWindow, start: QPoint, end: QPoint) -> None:
    viewport = w.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2))
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def _take(qtbot: QtBot, w: MainWindow, capture: Any) -> CaptureOutcome:
    with qtbot.waitSignal(w.capture_finished, timeout=CAPTURE_TIMEOUT_MS) as blocker:
        capture()
    outcome = blocker.args[0]
    assert isinstance(outcome, CaptureOutcome) and outcome.record is not None, outcome
    return outcome


def _place_text(qtbot: QtBot, w: MainWindow, row: int, col: int, text: str) -> None:
    _click_pixel(qtbot, w, row, col)
    qtbot.keyClick(w, Qt.Key.Key_T)
    qtbot.keyClicks(w.annotation_edit, text)
    qtbot.keyClick(w.annotation_edit, Qt.Key.Key_Return)


def _measure(qtbot: QtBot, w: MainWindow, a: tuple[int, int], b: tuple[int, int]) -> None:
    qtbot.keyClick(w, Qt.Key.Key_D)
    _click_pixel(qtbot, w, *a)
    _click_pixel(qtbot, w, *b)


def _settled(w: MainWindow, seconds: float = 1.0) -> bool:
    """Every requested setting is read back, the newest frame has it, and the ring's last `seconds` of
    frames were all made with the same settings and size."""
    newest = w.engine.ring.peek_latest()
    if newest is None or w.imaging.awaiting_readback:  # a preset's readback still on its way
        return False
    if newest.frame.settings.depth_mm != w.imaging.value(SettingKey.DEPTH_MM):
        return False
    end = newest.frame.host_time_ns
    frames = w.engine.ring.frames_between(end - int(seconds * 1e9), end)
    kinds = {(f.frame.settings, f.frame.pixels.shape) for f in frames}
    return len(frames) >= 3 and len(kinds) == 1


def _stored(store: StudyStore, study_uid: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each stored capture of a study: its kind and the annotation entries kept in its DICOM."""
    return [(c.kind.value, list(c.annotations)) for c in store.get_study(study_uid).captures]


def _texts_and_calipers(entries: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    texts = [t["text"] for e in entries if e.get("type") == "annotations" for t in e.get("texts", [])]
    calipers = [e["label"] for e in entries if e.get("type") == "measurement"]
    return texts, calipers


def test_a_caliper_from_exam_1_never_appears_in_exam_2(qtbot: QtBot, rig: Rig) -> None:
    w, exams = rig.window, rig.exams
    exams.start_exam(_request("knee.yaml", Patient("KNEE-001", "Doe^Jane", "19700203", "F")))
    first = exams.session
    assert first is not None
    qtbot.keyClick(w, Qt.Key.Key_F)
    _measure(qtbot, w, (40, 20), (60, 20))
    _place_text(qtbot, w, 20, 48, "R QUAD TENDON LONG")
    _take(qtbot, w, w.capture_still)
    ((_, entries),) = _stored(rig.store, first.study.study_uid)
    assert _texts_and_calipers(entries) == (["R QUAD TENDON LONG"], ["A"])

    # The next patient's groin DVT scan starts clean, frozen or live, still or clip.
    exams.start_exam(_request("dvt_two_point.yaml", Patient("DVT-002", "Roe^Rick", "19550101", "M")))
    second = exams.session
    assert second is not None and second is not first
    assert w.measurements.items == [] and w.annotations.texts == []
    assert not w.view.results_label.isVisible() and not w.cine.frozen
    body_marker = w.annotations.body_marker
    # The new step's preset changes the imaging; a clip spanning that change is kept as one clip per
    # image size (two records). Wait until the last second of frames all share one geometry.
    qtbot.waitUntil(lambda: _settled(w), timeout=10000)
    _take(qtbot, w, w.capture_still)  # live
    qtbot.keyClick(w, Qt.Key.Key_F)
    assert w.measurements.items == [] and w.annotations.texts == []
    _take(qtbot, w, w.capture_still)  # frozen
    _take(qtbot, w, lambda: w.capture_clip(0.5))
    stored = _stored(rig.store, second.study.study_uid)
    assert [k for k, _ in stored] == ["still", "still", "clip"]
    for _, entries in stored:
        assert _texts_and_calipers(entries) == ([], [])
    assert w.annotations.body_marker == body_marker  # the marker is not an annotation: it stays
    # ... nor in its report data, while exam 1's report has its caliper with its image.
    assert not build_report(rig.store, second.study.study_uid).measurements
    report_1 = build_report(rig.store, first.study.study_uid)
    assert [m.label for m in report_1.measurements if m.image] == ["A (caliper)"]


def test_a_new_step_starts_clean(qtbot: QtBot, rig: Rig) -> None:
    w, exams = rig.window, rig.exams
    exams.start_exam(_request("knee.yaml", Patient("KNEE-001", "Doe^Jane", "19700203", "F")))
    session = exams.session
    assert session is not None and session.runner is not None
    qtbot.keyClick(w, Qt.Key.Key_F)
    _measure(qtbot, w, (40, 20), (60, 20))
    _place_text(qtbot, w, 20, 48, "step 1")
    assert len(w.measurements.items) == 1 and len(w.annotations.texts) == 1
    session.runner.next()
    assert w.measurements.items == [] and w.annotations.texts == []
    assert not w.cine.frozen  # the new step's preset is new imaging
    qtbot.keyClick(w, Qt.Key.Key_F)
    _take(qtbot, w, w.capture_still)
    ((_, entries),) = _stored(rig.store, session.study.study_uid)
    assert _texts_and_calipers(entries) == ([], [])


def test_a_caliper_is_stored_with_the_still_of_its_frame_only(qtbot: QtBot, window: MainWindow) -> None:
    w = window
    wait_streaming(qtbot, w)
    qtbot.waitUntil(lambda: w.engine.ring.newest_seq >= 40, timeout=5000)
    qtbot.keyClick(w, Qt.Key.Key_F)
    for _ in range(3):
        qtbot.keyClick(w, Qt.Key.Key_Left)
    measured = w.cine.current()
    assert measured is not None
    _measure(qtbot, w, (30, 10), (30, 50))
    (a,) = w.measurements.items
    assert a.image_seq == measured.ring_seq
    still = _take(qtbot, w, w.capture_still)
    assert [m["label"] for m in still.measurements] == ["A"]
    assert still.measurements[0]["distance_mm"] == pytest.approx(a.distance_mm, abs=1e-3)
    # The next frame of the cine is another image: no caliper shown, none stored with it.
    qtbot.keyClick(w, Qt.Key.Key_Right)
    assert w.measurements.items == [] and not w.view.results_label.isVisible()
    assert _take(qtbot, w, w.capture_still).measurements == []
    # A frozen clip ending there holds the measured frame: it carries the caliper, at that frame.
    clip = _take(qtbot, w, lambda: w.capture_clip(0.5))
    assert clip.record is not None
    assert [(m["label"], m["frame_index"]) for m in clip.measurements] == [("A", clip.record.frame_count - 2)]
    # Back on the measured frame, its caliper is there again.
    qtbot.keyClick(w, Qt.Key.Key_Left)
    assert [m.label for m in w.measurements.items] == ["A"]
    # Unfrozen, a live capture carries none.
    qtbot.keyClick(w, Qt.Key.Key_F)
    assert _take(qtbot, w, w.capture_still).measurements == []


def test_unfreezing_clears_calipers_and_text_not_the_body_marker(qtbot: QtBot, window: MainWindow) -> None:
    w = window
    wait_streaming(qtbot, w)
    _measure(qtbot, w, (30, 10), (30, 50))  # D freezes the live image
    assert w.cine.frozen
    _place_text(qtbot, w, 80, 48, "effusion")
    assert len(w.measurements.items) == 1 and len(w.annotations.texts) == 1
    assert w.view.results_label.isVisible()
    marker = w.annotations.body_marker
    overlays = len(w.view._overlay_items)
    qtbot.keyClick(w, Qt.Key.Key_F)
    assert not w.cine.frozen
    assert w.measurements.items == [] and w.annotations.texts == []
    assert len(w.view._overlay_items) < overlays and not w.view.results_label.isVisible()
    assert w.annotations.body_marker == marker
    # Freezing again shows a clean image.
    qtbot.keyClick(w, Qt.Key.Key_F)
    assert w.measurements.items == [] and w.annotations.texts == []


def test_select_move_and_delete_a_text_and_a_caliper_with_the_mouse(qtbot: QtBot, window: MainWindow) -> None:
    w = window
    wait_streaming(qtbot, w)
    _measure(qtbot, w, (30, 10), (30, 50))  # A
    _measure(qtbot, w, (90, 20), (110, 20))  # B
    _place_text(qtbot, w, 64, 70, "cyst")
    a, b = w.measurements.items
    _, dx = w.view.current.frame.spacing_mm
    assert a.distance_mm == pytest.approx(40 * dx)
    # The results are drawn on the image beside each caliper, and in the box on the image.
    drawn = [item.textItem.toPlainText() for item in w.view._overlay_items if hasattr(item, "textItem")]
    assert f"A {a.distance_mm:.1f} mm" in drawn and f"B {b.distance_mm:.1f} mm" in drawn
    assert w.view.results_label.text().splitlines() == [a.text(), b.text()]

    # Drag A's end from column 50 to column 70: A is selected and now 60 columns long.
    _drag(qtbot, w, _pos(w, *a.b), _pos(w, *_pixel(w, 30, 70)))
    assert w.measurements.selected == "A"
    a = w.measurements.items[0]
    assert a.b == pytest.approx(_pixel(w, 30, 70))
    assert a.distance_mm == pytest.approx(60 * dx)
    assert w.measure_panel.results.item(0).text() == a.text()
    # Delete removes the selected one (A), not the last (B).
    qtbot.keyClick(w, Qt.Key.Key_Delete)
    assert [m.label for m in w.measurements.items] == ["B"]

    # Drag the text by its middle to another place; then select it and delete it.
    (t,) = w.annotations.texts
    _drag(qtbot, w, _pos(w, t.x_mm, t.y_mm), _pos(w, *_pixel(w, 100, 60)))
    (t,) = w.annotations.texts
    assert (t.text, (t.x_mm, t.y_mm)) == ("cyst", pytest.approx(_pixel(w, 100, 60)))
    assert w.annotations.selected == 0 and w.measurements.selected is None
    qtbot.keyClick(w, Qt.Key.Key_Delete)
    assert w.annotations.texts == [] and [m.label for m in w.measurements.items] == ["B"]

    # A click on nothing drops the selection: Delete then takes the last caliper as before.
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=_pos(w, *b.a))
    assert w.measurements.selected == "B"
    _click_pixel(qtbot, w, 5, 90)
    assert w.measurements.selected is None


def test_the_caliper_value_goes_into_the_findings_measurement_field(qtbot: QtBot, rig: Rig) -> None:
    w, exams = rig.window, rig.exams
    exams.start_exam(_request("knee.yaml", Patient("KNEE-001", "Doe^Jane", "19700203", "F")))
    panel, session = exams.panel, exams.session
    assert panel is not None and session is not None and session.runner is not None
    panel.finding_boxes["partial_tear"].click()  # opens "Tear length (mm)"
    assert panel.measure_box.isVisibleTo(panel)
    assert not panel.caliper_button.isVisibleTo(panel)  # no caliper yet
    _measure(qtbot, w, (20, 10), (20, 60))
    _measure(qtbot, w, (70, 30), (100, 30))
    a, b = w.measurements.items
    assert panel.caliper_button.isVisibleTo(panel)
    assert panel.caliper_button.text() == f"Use caliper B ({b.distance_mm:.1f} mm)"  # the newest
    w.measurements.select("A")
    assert panel.caliper_button.text() == f"Use caliper A ({a.distance_mm:.1f} mm)"
    panel.caliper_button.click()
    assert panel.measure_value.value() == pytest.approx(round(a.distance_mm, 1))
    panel.measure_button.click()
    (recorded,) = session.runner.measurements()
    assert (recorded.measurement_id, recorded.value) == (
        "tear_length_mm",
        pytest.approx(round(a.distance_mm, 1)),
    )
    # After Record the value stays in view.
    assert panel.recorded_label.isVisibleTo(panel)
    assert f"Tear length: {round(a.distance_mm, 1):g} mm" in panel.recorded_label.text()


def test_a_new_caliper_brings_the_measurement_field_into_view(qtbot: QtBot, rig: Rig) -> None:
    """At 1280 x 800 the step's details show about 130 px: the field of a measurement the step asks
    for sat below its findings, out of sight, and a newcomer's calipers went unrecorded."""
    w, exams = rig.window, rig.exams
    exams.start_exam(_request("knee.yaml", Patient("KNEE-001", "Doe^Jane", "19700203", "F")))
    panel = exams.panel
    assert panel is not None
    panel.finding_boxes["partial_tear"].click()  # opens "Tear length (mm)"
    scroll = panel.detail_scroll
    scroll.setMaximumHeight(130)

    def field_in_view() -> bool:  # "Use caliper A" and Record, both whole in sight
        QApplication.processEvents()
        shown = scroll.viewport().rect()
        return all(
            shown.contains(QRect(b.mapTo(scroll.viewport(), b.rect().topLeft()), b.size()))
            for b in (panel.caliper_button, panel.measure_button)
        )

    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() > 0, timeout=3000)
    scroll.verticalScrollBar().setValue(0)
    assert not field_in_view()  # below the findings, out of sight (and no caliper to offer yet)
    _measure(qtbot, w, (20, 10), (20, 60))
    qtbot.waitUntil(field_in_view, timeout=3000)


def test_depth_and_other_acquisition_settings_are_refused_while_frozen(
    qtbot: QtBot, window: MainWindow
) -> None:
    w = window
    wait_streaming(qtbot, w)
    depth = w.imaging.requested[SettingKey.DEPTH_MM]
    gain = w.imaging.requested[SettingKey.GAIN_DB]
    qtbot.keyClick(w, Qt.Key.Key_F)
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_Plus, Qt.Key.Key_Minus):
        qtbot.keyClick(w, key)
    qtbot.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # a preset
    assert w.imaging.requested[SettingKey.DEPTH_MM] == depth
    assert w.imaging.requested[SettingKey.GAIN_DB] == gain
    assert "Frozen" in w.message_label.text() and "unfreeze" in w.message_label.text()
    c = w.controls
    for control in (c.depth_control, c.gain_control, c.frequency_control, c.focus_control, c.tgc):
        assert not control.isEnabled()
    assert not any(b.isEnabled() for b in c.preset_buttons.values())
    assert c.grey_map.isEnabled()  # the grey map is view only: true of the frozen image too
    qtbot.keyClick(w, Qt.Key.Key_F)
    assert c.depth_control.isEnabled()
    qtbot.keyClick(w, Qt.Key.Key_Down)
    assert w.imaging.requested[SettingKey.DEPTH_MM] == depth + 5.0
    assert math.isfinite(w.imaging.requested[SettingKey.GAIN_DB])
