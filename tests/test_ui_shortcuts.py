"""Keyboard shortcuts reach the models and the probe; the help overlay lists them; preferences persist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from drivers.sim.direct import DirectSimProbe
from scanner_app.imaging_model import PRESETS
from scanner_app.preferences import Preferences
from scanner_app.probe import SettingKey
from tests.ui_support import make_engine, open_window, wait_streaming, window_fixture, window_models
from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


def _probe(w: MainWindow, key: SettingKey) -> float:
    driver = w.engine.driver
    assert isinstance(driver, DirectSimProbe)
    return driver.sim_settings.get(key)


def test_depth_and_gain_keys_reach_the_probe(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.waitUntil(lambda: SettingKey.DEPTH_MM in window.imaging.applied, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Down)
    qtbot.keyClick(window, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: _probe(window, SettingKey.DEPTH_MM) == 50.0, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Up)
    qtbot.waitUntil(lambda: window.controls.depth_control.shown_value == 45.0, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Plus)
    qtbot.keyClick(window, Qt.Key.Key_Equal)
    qtbot.waitUntil(lambda: _probe(window, SettingKey.GAIN_DB) == 2.0, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Minus)
    qtbot.waitUntil(lambda: window.controls.gain_control.shown_value == 1.0, timeout=3000)


def test_preset_and_body_marker_keys(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    shoulder = PRESETS["Shoulder"]
    qtbot.waitUntil(lambda: _probe(window, SettingKey.FOCUS_MM) == shoulder["focus_mm"], timeout=3000)
    assert window.annotations.body_marker.region == "Shoulder"
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.annotations.body_marker.region == "Elbow"
    assert window.view.body_marker.marker.region == "Elbow"
    assert window.body_region.currentText() == "Elbow"


def test_help_overlay_lists_every_shortcut(qtbot: QtBot, window: MainWindow) -> None:
    assert not window.help.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert window.help.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.help.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Question, Qt.KeyboardModifier.ShiftModifier)
    assert window.help.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert not window.help.isVisible()
    listed = {keys for keys, _ in window.shortcut_table}
    for name, action in window.actions_by_name.items():
        if name.startswith("preset_"):
            continue
        first = action.shortcuts()[0].toString()
        assert any(first in keys for keys in listed), f"{name} ({first}) missing from the help"
    needed = ["F / Space", "S", "C", "Shift+C", "Up", "Down", "+ / =", "-", "Left / ,", "Right / .", "D", "A"]
    for keys in needed:
        assert keys in listed


def test_preferences_survive_a_restart_in_the_given_folder(qtbot: QtBot, tmp_path: Path) -> None:
    w = open_window(qtbot, tmp_path)
    wait_streaming(qtbot, w)
    w.imaging.set_grey_map("Soft")
    w.imaging.request(SettingKey.DEPTH_MM, 55.0)
    w.controls.preset_buttons["Knee"].click()
    w.body_side.setCurrentText("L")
    w.imaging.request(SettingKey.GAIN_DB, 99.0)
    qtbot.waitUntil(lambda: w.imaging.applied.get(SettingKey.GAIN_DB) == 40.0, timeout=3000)
    w.close()
    path = tmp_path / "config" / "preferences.json"
    assert path.exists()
    engine2 = make_engine()
    w2 = MainWindow(engine2, window_models(engine2, tmp_path))  # the same preferences file
    qtbot.addWidget(w2)
    assert w2.imaging.grey_map == "Soft" and w2.controls.grey_map.currentText() == "Soft"
    assert w2.imaging.requested[SettingKey.DEPTH_MM] == PRESETS["Knee"]["depth_mm"]
    assert w2.imaging.preset_name == "Knee"
    assert w2.imaging.requested[SettingKey.GAIN_DB] == 40.0  # the applied value, not the clamped request
    assert w2.annotations.body_marker.side == "L"
    # ... and the restored settings reach the probe: its readback and its frames say so.
    engine2.start()
    knee_depth_mm = PRESETS["Knee"]["depth_mm"]
    qtbot.waitUntil(
        lambda: (
            engine2.settings_in_force().get(SettingKey.DEPTH_MM) == knee_depth_mm
            and engine2.settings_in_force().get(SettingKey.GAIN_DB) == 40.0
        ),
        timeout=5000,
    )
    qtbot.waitUntil(
        lambda: (
            (f := engine2.ring.peek_latest()) is not None
            and f.frame.settings.depth_mm == knee_depth_mm
            and f.frame.settings.gain_db == 40.0
        ),
        timeout=5000,
    )
    w2.close()


def test_damaged_preferences_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "preferences.json"
    path.write_text("{not json")
    prefs = Preferences(path)
    assert prefs.get("grey_map") == "Linear"
    assert (tmp_path / "preferences.damaged.json").exists()
