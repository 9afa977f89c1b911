"""Procedure mode on the live window: the needle guide drawn in image mm, a target dropped by a click
that stays put, and its distance read out."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from scanner_app.needle_guide import Approach, NeedleGuide
from scanner_app.probe import SettingKey
from tests.ui_support import wait_streaming, window_fixture
from ui.main_window import MainWindow
from ui.procedure_panel import ProcedurePanel


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


@pytest.fixture
def panel(window: MainWindow) -> ProcedurePanel:
    p = ProcedurePanel()
    p.attach(window)
    return p


def _guide_line(panel: ProcedurePanel) -> tuple[np.ndarray, np.ndarray]:
    (curve,) = [i for i in panel._items if isinstance(i, pg.PlotCurveItem)]
    x, y = curve.getData()
    return np.asarray(x), np.asarray(y)


def test_g_draws_the_guide_on_the_image_scale(
    qtbot: QtBot, window: MainWindow, panel: ProcedurePanel
) -> None:
    wait_streaming(qtbot, window)
    frame = window.view.current.frame
    qtbot.keyClick(window, Qt.Key.Key_G)
    assert panel.show_guide.isChecked()
    x, y = _guide_line(panel)
    # The line starts where a 30° needle from 5 mm beyond the left end meets the image's left edge,
    # and never leaves the image the frame shows.
    assert x[0] == pytest.approx(0.0) and y[0] == pytest.approx(5.0 * math.tan(math.radians(30.0)))
    assert x.min() >= 0.0 and x.max() <= frame.width_mm + 1e-6
    assert y.max() <= window.imaging.value(SettingKey.DEPTH_MM) + 1e-6
    labels = [i for i in panel._items if isinstance(i, pg.TextItem)]
    assert [lab.toPlainText() for lab in labels][:1] == ["10"]  # depth labels every 10 mm
    assert labels[0].pos().y() == pytest.approx(10.0)
    before = y[-1] - y[0]
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)  # ] steepens by 5°
    assert panel.guide.angle_deg == 35.0
    x2, y2 = _guide_line(panel)
    assert (y2[-1] - y2[0]) / (x2[-1] - x2[0]) == pytest.approx(math.tan(math.radians(35.0)))
    assert (y2[-1] - y2[0]) != pytest.approx(before)
    qtbot.keyClick(window, Qt.Key.Key_G)
    assert not [i for i in panel._items if isinstance(i, pg.PlotCurveItem)]


def test_a_dropped_target_stays_and_its_distance_is_read_out(
    qtbot: QtBot, window: MainWindow, panel: ProcedurePanel
) -> None:
    wait_streaming(qtbot, window)
    panel.set_guide(NeedleGuide(Approach.IN_PLANE_LEFT, 30.0, entry_offset_mm=5.0))
    panel.show_guide.setChecked(True)
    panel.begin_drop()
    assert window.cine.frozen  # dropping freezes, as calipers do
    frame = window.view.current.frame
    target = (frame.width_mm * 0.6, 12.0)
    pos = window.view.widget_pos_of_mm(*target).toPoint()
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert panel.target is not None
    tx, ty = panel.target
    assert tx == pytest.approx(target[0], abs=frame.spacing_mm[1]) and ty == pytest.approx(12.0, abs=0.5)
    assert window.message_label.text().startswith("Target dropped: Entry → target")  # not "Click the target"
    expected = math.hypot(tx + 5.0, ty)  # from the skin entry 5 mm left of the first element
    assert f"Entry → target {expected:.1f} mm" in panel.readout.text()
    # A second click (no drop pending) does not move it; going live keeps it where it was.
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x() + 5, pos.y() + 5))
    window.cine.unfreeze()
    assert panel.target == (tx, ty)
    (mark,) = [i for i in panel._items if isinstance(i, pg.ScatterPlotItem) and len(i.data) == 1
               and i.opts["symbol"] == "x"]  # fmt: skip
    assert (mark.data["x"][0], mark.data["y"][0]) == (tx, ty)


def test_a_caliper_click_does_not_drop_a_target(
    qtbot: QtBot, window: MainWindow, panel: ProcedurePanel
) -> None:
    wait_streaming(qtbot, window)
    window.begin_measurement("distance")
    panel.dropping = False
    seen: list[tuple[float, float]] = []
    window.image_clicked.connect(lambda x, y: seen.append((x, y)))
    frame = window.view.current.frame
    for x_mm in (frame.width_mm * 0.3, frame.width_mm * 0.6):
        pos = window.view.widget_pos_of_mm(x_mm, 10.0).toPoint()
        qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert seen == []  # both clicks were the caliper's, its last one included
