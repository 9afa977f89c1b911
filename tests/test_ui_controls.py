"""Imaging controls both ways: model -> widget, widget -> model -> probe, and the probe's readback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from drivers.sim.direct import DirectSimProbe
from scanner_app.frame import Frame
from scanner_app.imaging_model import PRESETS, grey_maps
from scanner_app.probe import SettingKey
from tests.ui_support import wait_streaming, window_fixture
from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


# key, how to read the control's shown value, how to move the widget to a value, a value to move it to,
# a request outside the simulated probe's range and what the probe clamps it to.
Shown = Callable[[MainWindow], float]
Move = Callable[[MainWindow, float], None]


def _slider(name: str) -> tuple[Shown, Move]:
    def shown(w: MainWindow) -> float:
        return float(getattr(w.controls, name).shown_value)

    def move(w: MainWindow, v: float) -> None:
        c = getattr(w.controls, name)
        c.slider.setValue(round(v / c.step))

    return shown, move


def _freq_move(w: MainWindow, v: float) -> None:
    w.controls.frequency_control.combo.setCurrentIndex(w.controls.frequency_control.combo.findData(v))


def _tgc(band: int) -> tuple[Shown, Move]:
    def shown(w: MainWindow) -> float:
        return float(w.controls.tgc.values[band].text())

    def move(w: MainWindow, v: float) -> None:
        w.controls.tgc.sliders[band].setValue(round(v))

    return shown, move


CONTROLS = [
    (SettingKey.DEPTH_MM, *_slider("depth_control"), 60.0, 200.0, 80.0),
    (SettingKey.GAIN_DB, *_slider("gain_control"), 12.0, 100.0, 40.0),
    (SettingKey.FOCUS_MM, *_slider("focus_control"), 31.0, 500.0, 80.0),
    (SettingKey.DYNAMIC_RANGE_DB, *_slider("dynamic_range_control"), 72.0, 10.0, 30.0),
    (
        SettingKey.FREQUENCY_MHZ,
        lambda w: w.controls.frequency_control.shown_value,
        _freq_move,
        15.0,
        30.0,
        18.0,
    ),
    (SettingKey.TGC_0, *_tgc(0), 7.0, 50.0, 20.0),
    (SettingKey.TGC_5, *_tgc(5), -9.0, -60.0, -20.0),
]
IDS = [c[0].name for c in CONTROLS]


def _probe_value(w: MainWindow, key: SettingKey) -> float:
    driver = w.engine.driver
    assert isinstance(driver, DirectSimProbe)
    return driver.sim_settings.get(key)


@pytest.mark.parametrize(("key", "shown", "move", "value", "too_far", "clamped"), CONTROLS, ids=IDS)
def test_widget_moves_model_and_reaches_probe(
    qtbot: QtBot, window: MainWindow, key: SettingKey, shown: Shown, move: Move,
    value: float, too_far: float, clamped: float,
) -> None:  # fmt: skip
    wait_streaming(qtbot, window)
    move(window, value)
    assert window.imaging.requested[key] == value
    qtbot.waitUntil(lambda: _probe_value(window, key) == value, timeout=3000)
    qtbot.waitUntil(lambda: window.imaging.applied.get(key) == value, timeout=3000)
    assert shown(window) == value


@pytest.mark.parametrize(("key", "shown", "move", "value", "too_far", "clamped"), CONTROLS, ids=IDS)
def test_model_moves_widget_and_readback_shows_clamped_value(
    qtbot: QtBot, window: MainWindow, key: SettingKey, shown: Shown, move: Move,
    value: float, too_far: float, clamped: float,
) -> None:  # fmt: skip
    wait_streaming(qtbot, window)
    window.imaging.request(key, value)
    assert shown(window) == value  # the request shows at once...
    qtbot.waitUntil(lambda: _probe_value(window, key) == value, timeout=3000)
    window.imaging.request(key, too_far)
    # ...and the readback replaces it with what the probe really applied
    qtbot.waitUntil(lambda: shown(window) == clamped, timeout=3000)
    assert window.imaging.applied[key] == clamped
    assert window.imaging.requested[key] == too_far
    assert _probe_value(window, key) == clamped


def test_clamped_depth_shows_what_was_asked_and_moves_the_slider(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    depth = window.controls.depth_control
    window.imaging.request(SettingKey.DEPTH_MM, 200.0)
    qtbot.waitUntil(lambda: depth.shown_value == 80.0, timeout=3000)
    assert depth.hint.text() == "asked 200"
    assert depth.slider.value() == round(80 / depth.step)
    # frames made after the readback carry the new depth: the image scale follows the probe
    qtbot.waitUntil(lambda: window.view.current is not None and window.view.current.frame.height_mm == 80.0)


def test_plus_minus_buttons_step_from_the_applied_value(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    gain = window.controls.gain_control
    qtbot.waitUntil(lambda: SettingKey.GAIN_DB in window.imaging.applied, timeout=3000)
    gain.plus.click()
    gain.plus.click()
    qtbot.waitUntil(lambda: _probe_value(window, SettingKey.GAIN_DB) == 2.0, timeout=3000)
    gain.minus.click()
    qtbot.waitUntil(lambda: gain.shown_value == 1.0, timeout=3000)


def test_grey_map_both_directions_changes_only_the_view(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    combo = window.controls.grey_map
    combo.setCurrentText("Contrast")
    assert window.imaging.grey_map == "Contrast"
    assert (window.view.image.display_lut == grey_maps()["Contrast"]).all()
    window.imaging.set_grey_map("Sepia")
    assert combo.currentText() == "Sepia"
    assert window.view.image.display_lut.shape == (256, 3)
    # Sample what each paint from here on drew, at paint time (frames keep arriving meanwhile).
    painted: list[tuple[int, tuple[int, int, int]]] = []

    def sample_paint(_frame: Frame) -> None:
        item = window.view.image
        r, g, b, _ = item.qimage.pixelColor(0, 0).getRgb()
        painted.append((int(item.image[0, 0]), (r, g, b)))

    window.view.painted_frame = sample_paint
    qtbot.waitUntil(lambda: len(painted) > 0, timeout=3000)
    # the painted image really uses the map: pixel value v shows as the map's colour for v
    value, rgb = painted[0]
    assert rgb == tuple(grey_maps()["Sepia"][value])
    with pytest.raises(ValueError, match="unknown grey map"):
        window.imaging.set_grey_map("Rainbow")


def test_preset_button_and_apply_preset_reach_the_probe(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    window.controls.preset_buttons["Wrist / hand"].click()
    wrist = PRESETS["Wrist / hand"]
    qtbot.waitUntil(lambda: _probe_value(window, SettingKey.DEPTH_MM) == wrist["depth_mm"], timeout=3000)
    qtbot.waitUntil(lambda: window.controls.focus_control.shown_value == wrist["focus_mm"], timeout=3000)
    assert window.annotations.body_marker.region == "Wrist / hand"
    # the checklist's entry point
    window.apply_preset({"name": "Hip", "depth_mm": 70.0, "frequency_mhz": 7.5, "focus_mm": 40.0})
    qtbot.waitUntil(lambda: window.controls.depth_control.shown_value == 70.0, timeout=3000)
    qtbot.waitUntil(lambda: window.controls.frequency_control.shown_value == 7.5, timeout=3000)
    assert window.controls.preset_buttons["Hip"].isChecked()
    assert window.annotations.body_marker.region == "Hip"
    with pytest.raises(ValueError, match="unknown preset key 'depth'"):
        window.apply_preset({"depth": 30})


def test_probe_descriptor_sets_control_ranges(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    qtbot.waitUntil(lambda: window.descriptor is not None, timeout=3000)
    depth = window.controls.depth_control
    assert depth.slider.maximum() * depth.step == 80.0
    combo = window.controls.frequency_control.combo
    assert [combo.itemData(i) for i in range(combo.count())] == [5.0, 7.5, 10.0, 12.0, 15.0, 18.0]


def test_a_frequency_off_the_probes_list_takes_its_place_in_order(qtbot: QtBot, window: MainWindow) -> None:
    """A protocol step's preset asks 14 MHz of a probe listing 5-18 MHz in steps: the choice shows it
    where it belongs, between 12 and 15, not after 18."""
    wait_streaming(qtbot, window)
    control = window.controls.frequency_control
    window.imaging.request(SettingKey.FREQUENCY_MHZ, 14.0)
    qtbot.waitUntil(lambda: control.shown_value == 14.0, timeout=3000)
    listed = [float(control.combo.itemData(i)) for i in range(control.combo.count())]
    assert 14.0 in listed and listed == sorted(listed)
    assert control.combo.currentText() == "14 MHz"
