"""Capture review: open a thumbnail (still or clip, read back from the study), delete it or move it to
another step; the checklist's counters and the study index follow. The strip empties on a new exam and
the checklist keeps its scroll position after a capture."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pytestqt.qtbot import QtBot

from scanner_app.capture import CaptureKind, StoredCapture
from tests.review_support import CAPTURE_TIMEOUT_MS, GroinRig, answer_next_question, groin_rig
from ui.capture_review import DELETE
from ui.capture_strip import CaptureOutcome, caption_of
from ui.close_prompt import CANCEL, EXAM_END


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[GroinRig]:
    yield from groin_rig(qtbot, tmp_path, ask=lambda *_question: EXAM_END)


def _take_still(qtbot: QtBot, rig: GroinRig) -> None:
    with qtbot.waitSignal(rig.window.capture_finished, timeout=CAPTURE_TIMEOUT_MS) as done:
        rig.window.capture_still()
    assert done.args[0].record is not None, done.args[0].error


def _taken(rig: GroinRig, step_id: str) -> int:
    session = rig.exams.session
    assert session is not None and session.runner is not None
    return sum(taken for _fu, _req, taken in session.runner.capture_progress(step_id))


def test_review_shows_the_step_and_delete_uncounts_and_removes_it(qtbot: QtBot, rig: GroinRig) -> None:
    rig.start_dvt()
    rig.go_to_step("cfv_compression")
    _take_still(qtbot, rig)
    session = rig.exams.session
    assert session is not None
    assert _taken(rig, "cfv_compression") == 1
    item = rig.window.strip.item(0)
    assert item is not None and "Common femoral vein — compression — transverse" in item.toolTip()

    dialog = rig.window.review.open(0)
    assert dialog is not None
    assert "Common femoral vein — compression" in dialog.where.text()
    (record,) = rig.store.list_captures(session.study.study_uid)
    stored = pydicom.dcmread(rig.store.capture_path(record)).pixel_array
    np.testing.assert_array_equal(dialog.frames[0], stored)  # what is shown is what was kept

    asked = answer_next_question(CANCEL)
    dialog.delete_button.click()
    assert asked and "Delete this still" in asked[0]
    assert _taken(rig, "cfv_compression") == 1 and rig.window.strip.count() == 1  # Cancel: nothing gone

    answer_next_question(DELETE)
    dialog.delete_button.click()
    assert _taken(rig, "cfv_compression") == 0
    assert rig.store.list_captures(session.study.study_uid) == []
    assert not rig.store.capture_path(record).exists()
    assert rig.window.strip.count() == 0 and rig.window.strip.outcomes == []
    qtbot.waitUntil(lambda: rig.window.review.dialog is None, timeout=2000)


def test_relabel_moves_a_capture_to_another_step_and_plane(qtbot: QtBot, rig: GroinRig) -> None:
    rig.start_dvt()
    rig.go_to_step("cfv_compression")
    _take_still(qtbot, rig)  # meant for the saphenofemoral junction, taken a step too early
    session = rig.exams.session
    assert session is not None and session.runner is not None
    dialog = rig.window.review.open(0)
    assert dialog is not None
    targets = [dialog.targets.itemData(i) for i in range(dialog.targets.count())]
    assert ("sfj_gsv", "transverse") in targets and ("cfv_compression", "transverse") in targets
    dialog.targets.setCurrentIndex(targets.index(("sfj_gsv", "transverse")))
    dialog.move_button.click()

    assert _taken(rig, "cfv_compression") == 0 and _taken(rig, "sfj_gsv") == 1
    assert [c.step_id for c in session.runner.captures("sfj_gsv")] == ["sfj_gsv"]
    (record,) = rig.store.list_captures(session.study.study_uid)
    assert (record.labels.step_id, record.labels.plane) == ("sfj_gsv", "transverse")
    ds = pydicom.dcmread(rig.store.capture_path(record))
    assert "step sfj_gsv" in ds.ImageComments
    item = rig.window.strip.item(0)
    sfj_title = session.runner.protocol.step("sfj_gsv").title
    assert item is not None and sfj_title in item.toolTip() and sfj_title in dialog.where.text()
    dialog.close()


def test_a_clip_is_reviewed_by_playing_it(qtbot: QtBot, rig: GroinRig) -> None:
    rig.start_dvt()
    with qtbot.waitSignal(rig.window.capture_finished, timeout=CAPTURE_TIMEOUT_MS) as done:
        rig.window.capture_clip(0.5)
    assert done.args[0].record is not None
    dialog = rig.window.review.open(0)
    assert dialog is not None
    assert len(dialog.frames) == done.args[0].record.frame_count > 1
    assert dialog.timer.isActive()
    qtbot.waitUntil(lambda: dialog.position.value() > 0, timeout=3000)
    dialog.close()
    assert not dialog.timer.isActive()


def test_the_strip_empties_when_a_new_exam_starts(qtbot: QtBot, rig: GroinRig) -> None:
    rig.start_dvt(patient_id="DVT-001")
    _take_still(qtbot, rig)
    _take_still(qtbot, rig)
    assert rig.window.strip.count() == 2
    rig.start_dvt(patient_id="DVT-002")  # the next patient
    assert rig.window.strip.count() == 0 and rig.window.strip.outcomes == []
    _take_still(qtbot, rig)
    item = rig.window.strip.item(0)
    assert rig.window.strip.count() == 1 and item is not None and item.text().startswith("1 ")


def test_the_checklist_keeps_its_scroll_position_after_a_capture(qtbot: QtBot, rig: GroinRig) -> None:
    rig.start_dvt()
    rig.go_to_step("cfv_compression")
    panel = rig.exams.panel
    assert panel is not None
    panel.detail_scroll.setFixedHeight(160)  # a short pane, as on a small screen: it scrolls
    bar = panel.detail_scroll.verticalScrollBar()
    assert bar is not None
    qtbot.waitUntil(lambda: bar.maximum() > 40, timeout=2000)
    bar.setValue(bar.maximum() // 2)
    kept = bar.value()
    button = panel.capture_rows[0][0]
    button.setFocus()  # as after clicking it
    with qtbot.waitSignal(rig.window.capture_finished, timeout=CAPTURE_TIMEOUT_MS):
        button.click()
    # The panel puts the scroll back once more after the new rows' layout pass: wait for that pass.
    qtbot.waitUntil(lambda: not panel._scroll_timer.isActive(), timeout=2000)
    assert _taken(rig, "cfv_compression") == 1
    assert bar.value() == kept, (bar.value(), kept, bar.maximum())


def test_a_review_left_open_across_a_new_exam_deletes_nothing(qtbot: QtBot, rig: GroinRig) -> None:
    rig.start_dvt(patient_id="DVT-001")
    _take_still(qtbot, rig)
    first = rig.exams.session
    assert first is not None
    dialog = rig.window.review.open(0)
    assert dialog is not None
    rig.start_dvt(patient_id="DVT-002")
    _take_still(qtbot, rig)  # the new patient's image is now first in the strip
    dialog.delete_button.click()  # no question: the reviewed capture is no longer in the strip
    assert len(rig.store.list_captures(first.study.study_uid)) == 1
    assert rig.window.strip.count() == 1
    assert "no longer in the strip" in rig.window.message_label.text()


def test_a_thumbnail_says_its_step_and_plane_in_an_exam_and_its_time_outside(
    qtbot: QtBot, rig: GroinRig
) -> None:
    _take_still(qtbot, rig)  # no exam yet: the practice study, no step
    item = rig.window.strip.item(0)
    assert item is not None and re.fullmatch(r"1 \d\d:\d\d:\d\d", item.text())
    assert item.toolTip().startswith("B-mode still taken ")  # its mode, as the report names it
    rig.start_dvt()
    rig.go_to_step("cfv_compression")
    session = rig.exams.session
    assert session is not None and session.runner is not None
    number = [s.id for s in session.runner.steps].index("cfv_compression") + 1  # as the checklist shows it
    _take_still(qtbot, rig)
    item = rig.window.strip.item(0)
    assert item is not None and item.text() == f"1 S{number} TRV"  # the step's plane: transverse


def test_captions_name_clips_and_doppler_modes() -> None:
    record = StoredCapture(CaptureKind.CLIP, "x", 30, "id")
    labels = {"step_id": "cfv_doppler", "step_title": "CFV — spectral Doppler", "plane": "long axis"}
    clip = CaptureOutcome("clip", record, "", np.zeros((2, 2), np.uint8), {}, [], labels)
    at = datetime.datetime(2026, 11, 29, 14, 3, 12)
    assert caption_of(4, clip, at, step_number=3) == "4 ▶ S3 LAX"
    spectral = dataclasses.replace(clip, kind="still", labels={**labels, "imaging_mode": "spectral_doppler"})
    assert caption_of(5, spectral, at, step_number=3) == "5 S3 LAX PW"
    assert caption_of(5, spectral, at) == "5 LAX PW CFV — spectral Doppler"  # no number: its title
    assert caption_of(6, dataclasses.replace(clip, labels={}), at) == "6 ▶ 14:03:12"
