"""Calipers on the image: clicks become points in mm (snapped to pixel centres), labelled A, B, C...;
a two-axis measurement gives length, depth and ellipse area; results are listed; live or frozen."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from scanner_app.measurements import pixel_centre_mm
from tests.ui_support import COLS, ROWS, wait_streaming, window_fixture
from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


def _click_pixel(qtbot: QtBot, w: MainWindow, row: int, col: int) -> None:
    frame = w.view.current.frame
    x, y = pixel_centre_mm(row, col, frame.spacing_mm)
    pos = w.view.widget_pos_of_mm(x, y).toPoint()
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_distance_caliper_reads_known_distance_within_half_a_pixel(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_F)
    frame = window.view.current.frame
    assert frame.rows == ROWS and frame.cols == COLS
    dy, dx = frame.spacing_mm  # 40 mm / 128 rows, 38 mm / 96 columns
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.view.mode_label.isVisible()
    _click_pixel(qtbot, window, 10, 10)
    _click_pixel(qtbot, window, 100, 70)
    assert len(window.measurements.items) == 1
    m = window.measurements.items[0]
    expected = math.hypot(90 * dy, 60 * dx)
    assert abs(m.distance_mm - expected) <= 0.5 * min(dx, dy)
    assert m.label == "A"
    assert window.measure_panel.results.item(0).text() == f"A  {m.distance_mm:.1f} mm"
    assert not window.view.mode_label.isVisible()


def test_several_pairs_and_two_axis_on_the_live_image(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    dy, dx = window.view.current.frame.spacing_mm
    qtbot.keyClick(window, Qt.Key.Key_D)
    _click_pixel(qtbot, window, 20, 10)
    _click_pixel(qtbot, window, 20, 50)  # 40 columns across
    qtbot.keyClick(window, Qt.Key.Key_A)
    _click_pixel(qtbot, window, 60, 20)
    _click_pixel(qtbot, window, 60, 80)  # length: 60 columns
    _click_pixel(qtbot, window, 40, 50)
    _click_pixel(qtbot, window, 90, 50)  # depth: 50 rows
    a, b = window.measurements.items
    assert (a.label, b.label) == ("A", "B")
    assert abs(a.distance_mm - 40 * dx) <= 0.5 * dx
    assert abs(b.length_mm - 60 * dx) <= 0.5 * dx
    assert abs(b.depth_mm - 50 * dy) <= 0.5 * dy
    assert b.area_mm2 == pytest.approx(math.pi / 4 * b.length_mm * b.depth_mm)
    assert window.measure_panel.results.count() == 2
    assert "cm²" in window.measure_panel.results.item(1).text()
    # Delete removes the last; clicks without a measurement started add nothing
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert [m.label for m in window.measurements.items] == ["A"]
    _click_pixel(qtbot, window, 5, 5)
    assert len(window.measurements.items) == 1


def test_escape_cancels_a_half_placed_caliper(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_D)
    _click_pixel(qtbot, window, 10, 10)
    assert window.measurements.pending_points
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.measurements.placing and not window.measurements.items


def test_text_annotation_is_placed_where_the_image_was_clicked(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    _click_pixel(qtbot, window, 64, 48)
    qtbot.keyClick(window, Qt.Key.Key_T)
    assert window.annotation_edit.isVisible()
    qtbot.keyClicks(window.annotation_edit, "Baker cyst")
    qtbot.keyClick(window.annotation_edit, Qt.Key.Key_Return)
    (t,) = window.annotations.texts
    x, y = pixel_centre_mm(64, 48, window.view.current.frame.spacing_mm)
    assert (t.text, t.x_mm, t.y_mm) == ("Baker cyst", x, y)
    assert not window.annotation_edit.isVisible()
