"""Dual (split) screen for compression documentation: the image on screen freezes into the left half,
the right half is live, Tab swaps the live half, and saving stores ONE still with one calibrated US
region per half (dciodvfy-clean), counted for the checklist step like any still."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pytestqt.qtbot import QtBot

from drivers.sim.scenes import named_views
from scanner_app.probe import SettingKey
from tests.review_support import CAPTURE_TIMEOUT_MS, GroinRig, groin_rig
from tests.studies_support import dciodvfy
from ui.close_prompt import EXAM_END


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[GroinRig]:
    yield from groin_rig(qtbot, tmp_path, ask=lambda *_question: EXAM_END)


def _live_frame_after(qtbot: QtBot, rig: GroinRig, half: str, condition: object) -> None:
    assert callable(condition)
    qtbot.waitUntil(lambda: half in rig.dual.frames and condition(rig.dual.frames[half]), timeout=5000)


def test_split_screen_stores_one_image_with_a_calibrated_region_per_half(qtbot: QtBot, rig: GroinRig) -> None:
    rig.start_dvt()
    rig.go_to_step("cfv_compression")
    rig.sim.set_pose(**named_views()["groin"]["CFV short axis"])
    window = rig.window
    window.actions_by_name["dual"].trigger()  # Ctrl+D
    assert rig.dual.on and rig.dual.active == "right"
    assert rig.dual.panel is not None and rig.dual.panel.isVisible()
    left = rig.dual.frames["left"]
    # Compress, deeper: the live half shows another image, at another calibration.
    rig.sim.set_pose(pressure=0.9)
    window.imaging.step(SettingKey.DEPTH_MM, 15.0)
    _live_frame_after(qtbot, rig, "right", lambda f: f.settings.depth_mm > left.settings.depth_mm)
    right = rig.dual.frames["right"]
    assert rig.dual.frames["left"] is left  # the frozen half stays frozen

    with qtbot.waitSignal(window.capture_finished, timeout=CAPTURE_TIMEOUT_MS) as done:
        window.actions_by_name["dual_save"].trigger()  # Shift+S
    assert done.args[0].record is not None, done.args[0].error
    session = rig.exams.session
    assert session is not None and session.runner is not None
    (record,) = rig.store.list_captures(session.study.study_uid)  # ONE image
    assert record.kind.value == "still" and record.labels.step_id == "cfv_compression"
    assert sum(t for _f, _r, t in session.runner.capture_progress("cfv_compression")) == 1

    path = rig.store.capture_path(record)
    ds = pydicom.dcmread(path)
    regions = ds.SequenceOfUltrasoundRegions
    assert len(regions) == 2
    for region, frame in zip(regions, (left, right), strict=True):
        x0 = region.RegionLocationMinX0
        assert region.RegionLocationMaxX1 - x0 + 1 == frame.cols
        assert region.RegionLocationMaxY1 + 1 == frame.rows
        assert region.PhysicalDeltaY * 10 == pytest.approx(frame.spacing_mm[0])
        assert region.PhysicalDeltaX * 10 == pytest.approx(frame.spacing_mm[1])
        np.testing.assert_array_equal(ds.pixel_array[: frame.rows, x0 : x0 + frame.cols], frame.pixels)
    assert regions[0].PhysicalDeltaY != regions[1].PhysicalDeltaY  # each half its own calibration
    errors, warnings = dciodvfy(path)
    assert errors == [], errors
    assert all("(0x0011," in w and "Unrecognized tag" in w for w in warnings), warnings


def test_tab_swaps_the_live_half_and_ctrl_d_returns_to_the_single_image(qtbot: QtBot, rig: GroinRig) -> None:
    window = rig.window
    assert not window.actions_by_name["dual_swap"].isEnabled()  # Tab moves focus while dual is off
    window.actions_by_name["dual"].trigger()
    left = rig.dual.frames["left"]
    _live_frame_after(qtbot, rig, "right", lambda f: f.seq > left.seq)
    window.actions_by_name["dual_swap"].trigger()  # Tab
    assert rig.dual.active == "left"
    right = rig.dual.frames["right"]
    _live_frame_after(qtbot, rig, "left", lambda f: f.seq > right.seq)  # the left half is live now
    assert rig.dual.frames["right"] is right  # and the right one frozen where it was
    window.actions_by_name["dual"].trigger()
    assert not rig.dual.on and rig.dual.panel is not None and not rig.dual.panel.isVisible()
    assert not window.actions_by_name["dual_save"].isEnabled()


def test_at_1280_the_halves_read_only_their_image_and_the_hint_is_whole(qtbot: QtBot, rig: GroinRig) -> None:
    window = rig.window
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280, timeout=3000)
    window.show_side_tab(window.tabs.widget(0))  # the side panel open: the image column is narrow
    window.actions_by_name["dual"].trigger()
    panel = rig.dual.panel
    assert panel is not None
    qtbot.waitUntil(panel.isVisible, timeout=3000)
    qtbot.wait(50)  # one more event-loop pass: a widened window would show now
    assert window.width() == 1280  # the hint never widens the window past the screen
    assert panel.hint.height() >= panel.hint.heightForWidth(panel.hint.width())  # every line shown
    frame = rig.dual.frames["left"]
    top, bottom = -frame.depth_origin_mm, frame.height_mm - frame.depth_origin_mm
    across_axis, depth_axis = panel.axes["left"]
    (x0, x1), (y0, y1) = panel.plot_items["left"].viewRange()
    assert y0 < top - 2 or y1 > bottom + 2  # the aspect lock leaves room above or below the image
    depths = [v for _step, values in depth_axis.tickValues(y0, y1, depth_axis.height()) for v in values]
    widths = [v for _step, values in across_axis.tickValues(x0, x1, across_axis.width()) for v in values]
    assert depths and top - 1e-6 <= min(depths) and max(depths) <= bottom + 1e-6
    assert widths and min(widths) >= -1e-6 and max(widths) <= frame.width_mm + 1e-6
    assert 0.0 in depths  # the skin line is labelled
