"""Needle practice in the window, keys only: a simulated subacromial bursa injection, and its score."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.settings import SimSettings
from scanner_app.needle_practice import NeedleScore
from tests.ui_support import COLS, ROWS, make_engine, open_window, wait_streaming
from ui.main_window import MainWindow
from ui.needle_panel import NEEDLE_ACTIONS, NeedleTab
from ui.sim_panel import SimulatorTab

SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def shoulder(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[MainWindow, SimulatorControl, NeedleTab]]:
    renderer = PatientRenderer("shoulder")
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=ROWS, cols=COLS), frame_rate_hz=30.0))
    window = open_window(qtbot, tmp_path, make_engine(probe))
    control = SimulatorControl(renderer)
    simulator = SimulatorTab(window, control)
    tab = NeedleTab(window, simulator)
    yield window, control, tab
    window.close()


def test_a_bursa_injection_with_keys_only_is_scored(
    qtbot: QtBot, shoulder: tuple[MainWindow, SimulatorControl, NeedleTab]
) -> None:
    window, control, tab = shoulder
    kept: list[NeedleScore] = []
    tab.on_score = kept.append  # main.py points this at the signed-in trainee's logbook
    wait_streaming(qtbot, window)
    control.set_pose(position_mm=-12.0, lateral_mm=45.0)  # the supraspinatus long axis
    assert "Needle" in window.side_tab_titles()
    panel = tab.panel
    assert panel is not None
    qtbot.keyClick(window.view, Qt.Key.Key_N, SHIFT)  # in-plane from the left, 25°, 5 mm out
    assert panel.practice is not None and panel.practice.target == "subacromial-subdeltoid bursa"
    for _ in range(25):
        qtbot.keyClick(window.view, Qt.Key.Key_Up, SHIFT)
    truth = control.needle_truth()
    assert truth is not None and truth.tip_structure == "subacromial-subdeltoid bursa"
    assert "Tip in: subacromial-subdeltoid bursa" in panel.truth_label.text()
    qtbot.keyClick(window.view, Qt.Key.Key_I, SHIFT)
    qtbot.keyClick(window.view, Qt.Key.Key_E, SHIFT)
    score = panel.last_score
    assert score is not None
    assert score.tip_in_target and score.passed and score.advances == 25 and score.redirections == 0
    assert score.injected_ml == 0.5
    assert score.blind_advances == 5  # the tip enters the image from its left edge after 5 mm
    assert "PASS" in panel.score_label.text()
    assert kept == [score]  # the score went where the tab was told to send it
    # The needle and its injectate are in the ground truth now, but they are not targets to aim at.
    assert {"needle", "injectate"} <= control.view_truth().structures_in_view
    panel.fill_targets()
    targets = [panel.target.itemText(i) for i in range(panel.target.count())]
    assert "subacromial-subdeltoid bursa" in targets and not {"needle", "injectate"} & set(targets)


def test_needle_keys_are_in_the_help_and_off_without_a_simulator(
    qtbot: QtBot, shoulder: tuple[MainWindow, SimulatorControl, NeedleTab]
) -> None:
    window, _control, tab = shoulder
    listed = dict((text, keys) for keys, text in window.shortcut_table)
    for _name, key, text, _what in NEEDLE_ACTIONS:
        assert listed[text] == key
    qtbot.keyClick(window.view, Qt.Key.Key_Up, SHIFT)  # no needle yet: said so, nothing raised
    assert tab.panel is not None and "No needle" in tab.panel.truth_label.text()
    tab._simulator.set_control(None)  # a real probe now
    assert tab.panel is None and "Needle" not in window.side_tab_titles()
    assert not any(a.isEnabled() for a in tab.actions.values())
