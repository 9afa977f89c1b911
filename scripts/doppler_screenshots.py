"""Screenshots of colour, power and PW duplex Doppler on the simulated groin and popliteal fossa (issue 14).

Run under Xvfb from the worktree:
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/doppler_screenshots.py [OUT_DIR]
The simulated probe over the simulated USB bus (the real PLP driver path), in long axis along the
common femoral / popliteal vein, heel-toed 20° and the Doppler beam steered 20° down the flow (an
unangled beam across a vessel sees no Doppler shift), the colour box over the vessels and the gate
on the vein, with a calf squeeze during the spectral sweep.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PyQt6.QtWidgets import QApplication

import main
from drivers.sim.scenes import build_scene
from drivers.sim.shapes import Tube
from scanner_app.capture import FolderCaptureSink
from scanner_app.doppler_pipeline import DopplerPipeline
from scanner_app.engine import AcquisitionEngine
from scanner_app.preferences import Preferences
from scanner_app.probe import SettingKey
from scanner_app.processing import DisplayProcessor
from scanner_app.ring import FrameRing
from ui.doppler_panel import DopplerPanel, DopplerView
from ui.main_window import MainWindow, ScannerModels
from ui.sim_panel import SimulatorTab
from ui.theme import apply_dark_theme

TILT_DEG = 10.0  # a little heel-toe, with the 20° steer: a 60° beam-to-vessel angle
STEER_DEG = 20.0


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


@dataclass(frozen=True)
class Shot:
    """One region's Doppler screenshots: where the probe is and where the box and the gate go."""

    region: str  # file name suffix
    scene: str
    pose: dict[str, float]  # long axis along the vein, heel-toed so the beam looks down the flow
    vein: str  # the gate goes on this vein's centre line
    box_mm: tuple[float, float, float, float]  # top, bottom, left, right
    prf_hz: float


SHOTS = (
    Shot("groin", "groin", {"position_mm": 10.0, "lateral_mm": 9.0, "tilt_deg": TILT_DEG},
         "common femoral vein", (12.0, 34.0, 5.0, 33.0), 1500.0),
    Shot("popliteal", "popliteal", {"position_mm": 0.0, "lateral_mm": 1.0, "tilt_deg": TILT_DEG},
         "popliteal vein", (10.0, 34.0, 5.0, 33.0), 1500.0),
)  # fmt: skip


def gate_depth_mm(scene_id: str, vein: str, pose: dict[str, float]) -> float:
    """Range down the central image line to the vein's centre line (the probe is tilted)."""
    tube = next(st.shape for st in build_scene(scene_id).structures if st.name == vein and st.vessel)
    assert isinstance(tube, Tube)
    tilt = math.radians(pose["tilt_deg"])
    z = 20.0
    for _ in range(20):
        _, d = tube.centre(np.float32([pose["position_mm"] + z * math.sin(tilt)]))
        z = float(d[0]) / math.cos(tilt)
    return z


def run(out_dir: Path) -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_dark_theme(app)
    driver = main.make_driver("sim")
    engine = AcquisitionEngine(driver, FrameRing(60, 512 * 512), processor=DisplayProcessor())
    scratch = Path(tempfile.mkdtemp())
    models = ScannerModels.for_engine(
        engine, Preferences(scratch / "prefs.json"), FolderCaptureSink(scratch / "captures")
    )
    window = MainWindow(engine, models)
    panel = DopplerPanel(engine, DopplerPipeline(engine))
    panel.attach(window)
    control = main.sim_control(driver)
    assert control is not None
    simulator = SimulatorTab(window, control)  # the body marker follows the simulated scene
    window.resize(1500, 950)
    window.show()
    engine.start()
    try:
        pump(app, 2.0)
        window.show_side_tab(panel)
        request = engine.request_setting
        for shot in SHOTS:
            control.set_scene(shot.scene, None)
            control.set_pose(**{"rotation_deg": 0.0, "pressure": 0.0, **shot.pose})
            simulator.refresh()
            gate = gate_depth_mm(shot.scene, shot.vein, shot.pose)
            top, bottom, left, right = shot.box_mm
            for key, value in (
                (SettingKey.BOX_TOP_MM, top), (SettingKey.BOX_BOTTOM_MM, bottom),
                (SettingKey.BOX_LEFT_MM, left), (SettingKey.BOX_RIGHT_MM, right),
                (SettingKey.STEER_DEG, STEER_DEG), (SettingKey.PRF_HZ, shot.prf_hz),
                (SettingKey.GATE_DEPTH_MM, gate), (SettingKey.GATE_SIZE_MM, 5.0),
                (SettingKey.GATE_LATERAL_MM, 19.0),
            ):  # fmt: skip
                request(key, value)
            panel.set_view(DopplerView.COLOUR)
            pump(app, 3.0)
            window.grab().save(str(out_dir / f"doppler_colour_{shot.region}.png"))
            panel.set_view(DopplerView.POWER)
            pump(app, 2.0)
            window.grab().save(str(out_dir / f"doppler_power_{shot.region}.png"))
            # The angle cursor along the vein: the beam is steered and heel-toed off the normal.
            panel.angle.slider.setValue(round((90 - STEER_DEG - TILT_DEG) / panel.angle.step))
            request(SettingKey.PRF_HZ, 6500.0)  # room on the scale for the augmentation's surge
            panel.set_view(DopplerView.PW)
            pump(app, 1.3)
            control.perform("augmentation")  # a calf squeeze during the sweep
            pump(app, 1.3)
            window.grab().save(str(out_dir / f"doppler_pw_duplex_{shot.region}.png"))
            panel.set_view(DopplerView.OFF)
            pump(app, 0.5)
    finally:
        window.close()
        engine.close()
        main._release_sim_device(driver)


if __name__ == "__main__":
    run(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parent.parent / "docs/screenshots"
    )
