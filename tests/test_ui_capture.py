"""Captures: stills and clips from keys, toolbar and the probe's button; they keep annotations and
measurements; a failing store is reported and live imaging goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QToolButton
from pytestqt.qtbot import QtBot

from drivers.sim.direct import DirectSimProbe
from scanner_app.capture import CaptureSinkError, StoredCapture
from scanner_app.frame import Frame
from scanner_app.probe import ProbeEventKind
from tests.ui_support import open_window, wait_streaming, window_fixture
from ui.capture_strip import CaptureOutcome
from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


def _capture(
    qtbot: QtBot, w: MainWindow, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier
) -> CaptureOutcome:
    with qtbot.waitSignal(w.capture_finished, timeout=5000) as blocker:
        qtbot.keyClick(w, key, modifier)
    outcome = blocker.args[0]
    assert isinstance(outcome, CaptureOutcome)
    return outcome


def _meta(outcome: CaptureOutcome) -> dict[str, Any]:
    assert outcome.record is not None, outcome.error
    return json.loads(Path(outcome.record.location).read_text())


def test_still_keeps_measurements_annotations_and_labels(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_F)  # calipers and text belong to a frozen image
    window.measurements.add_distance((2.0, 3.0), (2.0, 13.0))
    window.measurements.add_two_axis((1.0, 5.0), (9.0, 5.0), (5.0, 3.0), (5.0, 7.0))
    window.annotations.add_text("effusion", 10.0, 12.0)
    window.extra_labels["protocol_step"] = "knee-suprapatellar"
    outcome = _capture(qtbot, window, Qt.Key.Key_S)
    meta = _meta(outcome)
    assert meta["kind"] == "still" and meta["frame_count"] == 1
    assert [m["label"] for m in meta["measurements"]] == ["A", "B"]
    assert meta["measurements"][0]["distance_mm"] == 10.0
    assert meta["measurements"][1]["area_mm2"] == round(np.pi / 4 * 8 * 4, 3)
    assert meta["annotations"]["texts"] == [
        {"text": "effusion", "x_mm": 10.0, "y_mm": 12.0, "frame_index": 0}
    ]
    assert meta["labels"]["protocol_step"] == "knee-suprapatellar"
    assert meta["labels"]["body_region"] == window.annotations.body_marker.region
    pixels = np.load(Path(outcome.record.location).with_suffix(".npy"))
    assert pixels.shape == (window.view.current.frame.rows, window.view.current.frame.cols)
    assert Path(outcome.record.location).with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert window.strip.count() == 1 and len(window.strip.outcomes[0].measurements) == 2
    assert "saved" in window.message_label.text()


def test_still_from_toolbar_and_probe_save_button(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    button = next(
        b for b in window.findChildren(QToolButton) if b.defaultAction() is window.actions_by_name["still"]
    )
    with qtbot.waitSignal(window.capture_finished, timeout=5000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    driver = window.engine.driver
    assert isinstance(driver, DirectSimProbe)
    with qtbot.waitSignal(window.capture_finished, timeout=5000):
        driver.press_button(ProbeEventKind.BUTTON_SAVE)
    assert window.strip.count() == 2


def test_frozen_still_is_the_cine_frame_on_screen(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.waitUntil(lambda: window.engine.ring.newest_seq >= 10, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F)
    for _ in range(4):
        qtbot.keyClick(window, Qt.Key.Key_Left)
    shown = window.cine.current()
    assert shown is not None
    meta = _meta(_capture(qtbot, window, Qt.Key.Key_S))
    assert meta["frames"][0]["seq"] == shown.frame.seq


def test_clip_of_the_last_seconds_and_start_stop_recording(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    window.prefs.set("clip_seconds", 1.0)
    qtbot.waitUntil(lambda: window.engine.ring.newest_seq >= 45, timeout=5000)
    meta = _meta(_capture(qtbot, window, Qt.Key.Key_C))
    assert meta["kind"] == "clip"
    assert 20 <= meta["frame_count"] <= 35  # about one second at 30 frames/s
    seqs = [f["seq"] for f in meta["frames"]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # consecutive, nothing skipped
    assert 0.6 <= meta["duration_s"] <= 1.0
    stack = np.load(Path(meta["pixels_file"]) if Path(meta["pixels_file"]).is_absolute()
                    else Path(_capture_dir(window)) / meta["pixels_file"])  # fmt: skip
    assert stack.shape[0] == meta["frame_count"]
    # start / stop
    qtbot.keyClick(window, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    assert window.record_action.isChecked()
    start = window.engine.ring.newest_seq
    qtbot.waitUntil(lambda: window.engine.ring.newest_seq >= start + 6, timeout=3000)
    meta2 = _meta(_capture(qtbot, window, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier))
    assert not window.record_action.isChecked()
    assert meta2["frame_count"] >= 5
    assert window.strip.count() == 2


def _capture_dir(w: MainWindow) -> Path:
    return Path(w.sink.folder)  # type: ignore[attr-defined]


class FullDiskSink:
    """A store whose disk is full."""

    def __init__(self) -> None:
        self.calls = 0

    def save_still(self, frame: Frame, labels: Mapping[str, str], annotations: Mapping[str, Any],
                   measurements: Sequence[Mapping[str, Any]]) -> StoredCapture:  # fmt: skip
        self.calls += 1
        raise CaptureSinkError("could not save the still in /media/usb: No space left on device")

    def save_clip(self, frames: Sequence[Frame], labels: Mapping[str, str], annotations: Mapping[str, Any],
                  measurements: Sequence[Mapping[str, Any]]) -> StoredCapture:  # fmt: skip
        self.calls += 1
        raise CaptureSinkError("could not save the clip in /media/usb: No space left on device")


def test_failed_capture_says_so_and_live_imaging_goes_on(qtbot: QtBot, tmp_path: Path) -> None:
    sink = FullDiskSink()
    w = open_window(qtbot, tmp_path, sink=sink)
    wait_streaming(qtbot, w)
    outcome = _capture(qtbot, w, Qt.Key.Key_S)
    assert outcome.record is None and "No space left" in outcome.error
    assert "NOT saved" in w.message_label.text() and "No space left on device" in w.message_label.text()
    assert w.strip.count() == 0
    draws = w.view.draws
    qtbot.waitUntil(lambda: w.view.draws >= draws + 5, timeout=3000)  # still live
    assert not w.cine.frozen
    outcome = _capture(qtbot, w, Qt.Key.Key_C)
    assert outcome.record is None and sink.calls == 2
    w.close()


def test_capture_before_any_frame_is_refused_clearly(qtbot: QtBot, tmp_path: Path) -> None:
    w = open_window(qtbot, tmp_path, start=False)
    qtbot.keyClick(w, Qt.Key.Key_S)
    assert "no image" in w.message_label.text()
    qtbot.keyClick(w, Qt.Key.Key_C)
    assert "no frames" in w.message_label.text()
    w.close()


def test_stopping_a_clip_says_it_is_being_saved_until_it_is(qtbot: QtBot, window: MainWindow) -> None:
    """The line said "Recording clip" until the clip was written (seconds for a long colour clip), so a
    newcomer pressed Shift+C again and started another: it says "Saving" from the second press."""
    wait_streaming(qtbot, window)
    window.toggle_clip_recording()
    assert window.message_label.text().startswith("● Recording clip")
    qtbot.waitUntil(lambda: window.engine.ring.newest_seq > 3, timeout=5000)
    with qtbot.waitSignal(window.capture_finished, timeout=10_000) as blocker:
        window.toggle_clip_recording()
        said = window.message_label.text()  # before the save has reported back
    assert said.startswith("Saving clip (") and "frames)" in said, said
    outcome = blocker.args[0]
    assert outcome.record is not None and not window.message_label.text().startswith("Saving")
