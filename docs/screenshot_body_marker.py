"""Screenshots of the body marker following the simulated probe: a long-axis knee, a short-axis groin.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_body_marker.py
Writes docs/screenshots/body_marker_{knee_long,groin_short}.png (the image view: image and marker).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PyQt6.QtTest import QTest  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from shot_support import wait_until  # noqa: E402

from drivers.sim.control import SimulatorControl  # noqa: E402
from drivers.sim.direct import DirectSimProbe  # noqa: E402
from drivers.sim.patient import PatientRenderer  # noqa: E402
from drivers.sim.renderer import RenderParams  # noqa: E402
from drivers.sim.scenes import named_views  # noqa: E402
from drivers.sim.settings import SimSettings  # noqa: E402
from scanner_app.annotations import BodyMarker  # noqa: E402
from scanner_app.capture import FolderCaptureSink  # noqa: E402
from scanner_app.engine import AcquisitionEngine  # noqa: E402
from scanner_app.preferences import Preferences  # noqa: E402
from scanner_app.ring import FrameRing  # noqa: E402
from ui.main_window import MainWindow, ScannerModels  # noqa: E402
from ui.sim_panel import SimulatorTab  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SHOTS = (  # (file, scene, view, side)
    ("body_marker_knee_long", "knee", "patellar tendon long axis", "R"),
    ("body_marker_groin_short", "groin", "CFV short axis", "L"),
)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="scanner-shots-"))
    renderer = PatientRenderer("knee")
    driver = DirectSimProbe(renderer, SimSettings(RenderParams(rows=384, cols=384), frame_rate_hz=30.0))
    engine = AcquisitionEngine(driver, FrameRing(120, 384 * 384))
    models = ScannerModels.for_engine(
        engine, Preferences(tmp / "preferences.json"), FolderCaptureSink(tmp / "captures")
    )
    window = MainWindow(engine, models, switch_probe=lambda spec: None)
    simulator = SimulatorTab(window, SimulatorControl(renderer))
    window.resize(1600, 1000)
    window.show()
    engine.start()
    views = named_views()
    try:
        wait_until(lambda: window.view.draws > 5)
        panel = simulator.panel
        assert panel is not None
        for name, scene, view, side in SHOTS:
            panel.sim.set_scene(scene, None)
            panel.change_pose(**views[scene][view])
            marker = window.annotations.body_marker
            window.annotations.set_body_marker(
                BodyMarker(marker.region, side, marker.probe_along, marker.probe_angle_deg)
            )
            seq = engine.ring.newest_seq
            wait_until(lambda s=seq: engine.ring.newest_seq > s + 20)
            QTest.qWait(200)
            path = OUT / f"{name}.png"
            window.view.grab().save(str(path))
            print(f"wrote {path}: {window.annotations.body_marker}")
    finally:
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
