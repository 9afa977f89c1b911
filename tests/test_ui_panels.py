"""Probe panel (state, descriptor, counters, picker) and simulator panel (scene, variant, pose by keys,
mouse and sliders) against a fake SimulatorControl."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QWheelEvent
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from scanner_app.engine import EngineState
from scanner_app.probe import SettingKey
from scanner_app.sim_control import ViewTruth
from tests.ui_support import (
    make_engine,
    open_window,
    switched_at_once,
    wait_streaming,
    window_fixture,
    window_models,
)
from ui.main_window import MainWindow
from ui.sim_panel import MANOEUVRE_ACTIONS, POSE_ACTIONS, SimPanel, SimulatorControl, SimulatorTab


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


class FakeSim:
    """A SimulatorControl that records calls and clamps pressure as a physics model would."""

    def __init__(self) -> None:
        self.scene: tuple[str, str | None] = ("knee", None)
        self.pose = {
            "position_mm": 100.0,
            "lateral_mm": 0.0,
            "rotation_deg": 0.0,
            "tilt_deg": 0.0,
            "pressure": 0.2,
        }
        self.calls: list[tuple[str, object]] = []
        self.plugged = True

    def list_scenes(self) -> list[tuple[str, str, list[str]]]:
        return [("knee", "Knee, anterior", ["normal", "effusion"]), ("calf", "Calf veins", ["normal", "dvt"])]

    def current_scene(self) -> tuple[str, str | None]:
        return self.scene

    def set_scene(self, scene_id: str, variant: str | None) -> None:
        self.calls.append(("scene", (scene_id, variant)))
        self.scene = (scene_id, variant)

    def get_pose(self) -> dict[str, float]:
        return dict(self.pose)

    def set_pose(self, **changes: float) -> None:
        self.calls.append(("pose", changes))
        for k, v in changes.items():
            self.pose[k] = min(v, 0.9) if k == "pressure" else v

    def start_pose(self) -> dict[str, float]:
        return {"position_mm": 0.0, "lateral_mm": 0.0, "rotation_deg": 0.0, "tilt_deg": 0.0, "pressure": 0.0}

    def variant_titles(self, scene_id: str) -> dict[str, str]:
        return {"effusion": "Joint effusion", "dvt": "Deep vein thrombosis"}

    def view_truth(self, pose: Mapping[str, float] | None = None) -> ViewTruth:
        return ViewTruth(self.scene[0], frozenset({"skin"}), frozenset(), frozenset())

    def manoeuvres(self) -> tuple[str, ...]:
        return ()

    def perform(self, manoeuvre: str) -> None:
        self.calls.append(("manoeuvre", manoeuvre))

    def straining(self) -> bool:
        return False

    def cable_plugged(self) -> bool | None:
        return self.plugged

    def set_cable_plugged(self, plugged: bool) -> None:
        self.calls.append(("cable", plugged))
        self.plugged = plugged


def test_probe_panel_shows_descriptor_counters_and_state(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    panel = window.probe_panel
    qtbot.waitUntil(lambda: "SimProbe L12-5" in panel.descriptor_label.text(), timeout=3000)
    assert "SIM-0001" in panel.descriptor_label.text()
    assert panel.state_label.text() == "● streaming"
    qtbot.waitUntil(lambda: panel.counters["received"].text() not in ("—", "0"), timeout=3000)
    qtbot.waitUntil(lambda: panel.counters["rate"].text().endswith("/s"), timeout=3000)
    assert panel.counters["dropped"].text() == "0" and panel.counters["reconnects"].text() == "0"
    assert not window.view.banner.isVisible()


def test_banner_while_not_streaming(qtbot: QtBot, tmp_path: Path) -> None:
    w = open_window(qtbot, tmp_path, start=False)
    assert w.view.banner.isVisible() and "DISCONNECTED" in w.view.banner.text()
    w.engine.start()
    qtbot.waitUntil(lambda: not w.view.banner.isVisible(), timeout=3000)
    assert w.engine.state == EngineState.STREAMING
    w.close()


def test_probe_picker_calls_switch_probe_and_shows_its_error(qtbot: QtBot, tmp_path: Path) -> None:
    asked: list[str] = []

    def switch(spec: str) -> Future[None]:
        asked.append(spec)
        if spec == "usb":
            raise ValueError("no USB probe found (VID:PID 1209:0001)")
        return switched_at_once(spec)

    engine = make_engine()
    w = MainWindow(engine, window_models(engine, tmp_path), switch_probe=switch,
                   probe_specs=["sim", "usb", "serial:/dev/ttyUSB0"])  # fmt: skip
    qtbot.addWidget(w)
    panel = w.probe_panel
    panel.picker.setCurrentText("serial:/dev/ttyUSB0")
    panel.connect_button.click()
    assert asked == ["serial:/dev/ttyUSB0"] and panel.switch_error.text() == ""
    assert w.prefs.get("probe_spec") == "serial:/dev/ttyUSB0"
    panel.picker.setCurrentText("usb")
    panel.connect_button.click()
    assert "no USB probe found" in panel.switch_error.text()
    w.close()


def test_no_simulator_tab_with_a_real_probe_until_a_switch(qtbot: QtBot, window: MainWindow) -> None:
    simulator = SimulatorTab(window, None)
    assert simulator.panel is None
    assert window.side_tab_titles() == ["Imaging", "Measure", "Probe"]
    assert not any(text.startswith("Sim probe:") for _, text in window.shortcut_table)
    sim: SimulatorControl = FakeSim()
    with qtbot.waitSignal(simulator.changed, timeout=1000):
        simulator.set_control(sim)  # the probe picker switched to the simulated probe
    assert window.side_tab_titles() == ["Imaging", "Measure", "Probe", "Sim"]
    assert simulator.control is sim and isinstance(simulator.panel, SimPanel)
    assert sum(text.startswith("Sim probe:") for _, text in window.shortcut_table) == len(POSE_ACTIONS)
    assert all(window.actions_by_name[name].isEnabled() for name, *_ in POSE_ACTIONS)
    with qtbot.waitSignal(simulator.changed, timeout=1000):
        simulator.set_control(None)  # and back to a real probe
    assert window.side_tab_titles() == ["Imaging", "Measure", "Probe"]
    assert simulator.control is None and simulator.panel is None
    assert not any(window.actions_by_name[name].isEnabled() for name, *_ in POSE_ACTIONS)


def _sim_window(qtbot: QtBot, tmp_path: Path) -> tuple[MainWindow, FakeSim, SimPanel]:
    sim = FakeSim()
    sim_control: SimulatorControl = sim
    w = open_window(qtbot, tmp_path, start=False)
    panel = SimulatorTab(w, sim_control).panel
    assert panel is not None
    w.show_side_tab(panel)
    return w, sim, panel


def test_sim_panel_scene_and_variant(qtbot: QtBot, tmp_path: Path) -> None:
    w, sim, panel = _sim_window(qtbot, tmp_path)
    panel.scene_combo.setCurrentIndex(1)
    assert sim.scene == ("calf", None)
    # Variants are shown by their titles, not their ids.
    titles = [panel.variant_combo.itemText(i) for i in range(panel.variant_combo.count())]
    assert titles == ["normal", "Deep vein thrombosis"]
    panel.variant_combo.setCurrentIndex(1)
    assert sim.scene == ("calf", "dvt")
    w.close()


def test_sim_pose_by_keyboard_mouse_wheel_and_sliders(qtbot: QtBot, tmp_path: Path) -> None:
    w, sim, panel = _sim_window(qtbot, tmp_path)
    pic = panel.picture
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    w.view.setFocus()  # the probe's keys need no click on the picture
    qtbot.waitUntil(w.view.hasFocus, timeout=2000)
    depth_before = w.imaging.requested[SettingKey.DEPTH_MM]
    qtbot.keyClick(w.view, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert sim.pose["position_mm"] == 95.0
    assert w.imaging.requested[SettingKey.DEPTH_MM] == depth_before  # Ctrl+Up is not depth
    qtbot.keyClick(w.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert sim.pose["lateral_mm"] == 2.0
    qtbot.keyClick(w.view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert sim.pose["rotation_deg"] == 5.0
    qtbot.keyClick(w.view, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert sim.pose["tilt_deg"] == 2.0
    for _ in range(20):
        qtbot.keyClick(w.view, Qt.Key.Key_PageUp)
    assert sim.pose["pressure"] == 0.9  # the simulator's own limit, read back
    assert panel.sliders["pressure"].value() == 90
    # mouse: a click puts the probe there
    target = pic.mm_to_widget(150.0, -20.0).toPoint()
    qtbot.mouseClick(pic, Qt.MouseButton.LeftButton, pos=target)
    assert abs(sim.pose["position_mm"] - 150.0) <= 2.0 and abs(sim.pose["lateral_mm"] + 20.0) <= 1.0
    wheel = QWheelEvent(
        QPointF(10, 10), QPointF(10, 10), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(pic, wheel)
    assert sim.pose["rotation_deg"] == 15.0
    # slider -> simulator, simulator -> slider
    panel.sliders["tilt_deg"].setValue(-12)
    assert sim.pose["tilt_deg"] == -12.0
    sim.pose["rotation_deg"] = 90.0
    panel.refresh()
    assert panel.sliders["rotation_deg"].value() == 90
    w.close()


class FakeDopplerSim(FakeSim):
    """A simulated patient whose probe makes Doppler: it can squeeze its calf and strain."""

    def __init__(self) -> None:
        super().__init__()
        self.held = False

    def manoeuvres(self) -> tuple[str, ...]:
        return ("augmentation", "valsalva", "release")

    def perform(self, manoeuvre: str) -> None:
        super().perform(manoeuvre)
        self.held = {"valsalva": True, "release": False}.get(manoeuvre, self.held)

    def straining(self) -> bool:
        return self.held


def test_sim_manoeuvres_by_keys_and_buttons_only_with_a_doppler_probe(qtbot: QtBot, tmp_path: Path) -> None:
    w = open_window(qtbot, tmp_path, start=False)
    sim = FakeDopplerSim()
    control: SimulatorControl = sim
    simulator = SimulatorTab(w, control)
    panel = simulator.panel
    assert panel is not None
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    w.view.setFocus()
    qtbot.waitUntil(w.view.hasFocus, timeout=2000)
    help_lines = [text for _, text in w.shortcut_table if text.startswith("Sim patient:")]
    assert len(help_lines) == len(MANOEUVRE_ACTIONS) and any("augmentation" in t for t in help_lines)
    alt_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
    qtbot.keyClick(w.view, Qt.Key.Key_A, alt_ctrl)
    qtbot.keyClick(w.view, Qt.Key.Key_V, alt_ctrl)
    assert panel.valsalva_button.isChecked() and panel.valsalva_button.text() == "Release Valsalva"
    qtbot.keyClick(w.view, Qt.Key.Key_V, alt_ctrl)
    assert [c for c in sim.calls if c[0] == "manoeuvre"] == [
        ("manoeuvre", "augmentation"), ("manoeuvre", "valsalva"), ("manoeuvre", "release"),
    ]  # fmt: skip
    assert not panel.valsalva_button.isChecked()
    assert not panel.manoeuvre_row.isHidden()
    panel.squeeze_button.click()
    panel.valsalva_button.click()
    assert sim.calls[-2:] == [("manoeuvre", "augmentation"), ("manoeuvre", "valsalva")] and sim.held
    simulator.set_control(FakeSim())  # a simulated probe without Doppler: no manoeuvres
    assert not any(w.actions_by_name[name].isEnabled() for name, *_ in MANOEUVRE_ACTIONS)
    assert simulator.panel is not None and simulator.panel.manoeuvre_row.isHidden()
    w.close()
