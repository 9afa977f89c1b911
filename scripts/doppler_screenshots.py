"""Screenshots of colour and PW duplex Doppler on the simulated groin (issue 14 item 3).

Run under Xvfb from the worktree:
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/doppler_screenshots.py [OUT_DIR]
The simulated probe over the simulated USB bus (the real PLP driver path), the groin scene at the
common femoral vein's long axis, the colour box and the gate over the vessels.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PyQt6.QtWidgets import QApplication

import main
from drivers.sim.scenes import named_views
from scanner_app.capture import FolderCaptureSink
from scanner_app.doppler_pipeline import DopplerPipeline
from scanner_app.engine import AcquisitionEngine
from scanner_app.preferences import Preferences
from scanner_app.probe import SettingKey
from scanner_app.processing import DisplayProcessor
from scanner_app.ring import FrameRing
from ui.doppler_panel import DopplerPanel, DopplerView
from ui.main_window import MainWindow, ScannerModels
from ui.theme import apply_dark_theme


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


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
    control.set_scene("groin", None)
    control.set_pose(**named_views()["groin"]["CFV long axis"])
    window.resize(1500, 950)
    window.show()
    engine.start()
    try:
        pump(app, 2.0)
        window.show_side_tab(panel)
        request = engine.request_setting
        for key, value in (
            (SettingKey.BOX_TOP_MM, 8.0),
            (SettingKey.BOX_BOTTOM_MM, 32.0),
            (SettingKey.BOX_LEFT_MM, 6.0),
            (SettingKey.BOX_RIGHT_MM, 32.0),
            (SettingKey.PRF_HZ, 2500.0),
        ):
            request(key, value)
        panel.set_view(DopplerView.COLOUR)
        pump(app, 3.0)
        window.grab().save(str(out_dir / "doppler_colour_groin.png"))
        panel.set_view(DopplerView.POWER)
        pump(app, 2.0)
        window.grab().save(str(out_dir / "doppler_power_groin.png"))
        panel.angle.slider.setValue(round(60 / panel.angle.step))
        panel.set_view(DopplerView.PW)
        pump(app, 4.0)
        window.grab().save(str(out_dir / "doppler_pw_duplex_groin.png"))
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
