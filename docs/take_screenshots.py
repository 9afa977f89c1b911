"""Screenshots of the scanner screen's main states, for the docs.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1920x1200x24" python docs/take_screenshots.py
Writes docs/screenshots/{live,frozen_calipers,disconnected,simulator,help}.png at 1600 x 1000. With a
size (`... take_screenshots.py 1280x800`, or `QT_SCALE_FACTOR=1.5 ... 1280x720` for a 1920 x 1080 screen
at 1.5x) it writes only the live image as docs/screenshots/live-<size>[-<scale>x].png. Preferences and
captures go to a temporary folder, never the user's own.
"""

from __future__ import annotations

import os
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
from drivers.sim.settings import SimSettings  # noqa: E402
from scanner_app.capture import FolderCaptureSink  # noqa: E402
from scanner_app.engine import AcquisitionEngine, EngineState  # noqa: E402
from scanner_app.measurements import pixel_centre_mm  # noqa: E402
from scanner_app.preferences import Preferences  # noqa: E402
from scanner_app.ring import FrameRing  # noqa: E402
from ui.main_window import MainWindow, ScannerModels  # noqa: E402
from ui.sim_panel import SimulatorTab  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def size_argument() -> tuple[int, int, str] | None:
    """(width, height, file-name suffix) from a WIDTHxHEIGHT argument, None without one."""
    if len(sys.argv) < 2:
        return None
    width, height = (int(v) for v in sys.argv[1].split("x"))
    scale = os.environ.get("QT_SCALE_FACTOR", "")
    suffix = f"{width}x{height}" + (f"-{scale}x" if scale and scale != "1" else "")
    return width, height, suffix


def save(window: MainWindow, name: str) -> None:
    QTest.qWait(150)  # let overlays and the status report settle
    path = OUT / f"{name}.png"
    window.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="scanner-shots-"))
    renderer = PatientRenderer("knee", "effusion")
    driver = DirectSimProbe(renderer, SimSettings(RenderParams(rows=512, cols=512), frame_rate_hz=30.0))
    engine = AcquisitionEngine(driver, FrameRing(300, 512 * 512))
    models = ScannerModels.for_engine(
        engine, Preferences(tmp / "preferences.json"), FolderCaptureSink(tmp / "captures")
    )
    window = MainWindow(engine, models, switch_probe=lambda spec: None)
    simulator = SimulatorTab(window, SimulatorControl(renderer))
    sized = size_argument()
    window.resize(*(sized[:2] if sized else (1600, 1000)))
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.status is not None and window.view.draws > 10)
        window.apply_preset({"name": "Knee", "depth_mm": 40.0, "frequency_mhz": 10.0, "focus_mm": 18.0})
        wait_until(lambda: window.controls.focus_control.shown_value == 18.0)
        window.capture_still()
        window.capture_still()
        wait_until(lambda: window.strip.count() == 2)
        wait_until(lambda: engine.ring.newest_seq > 90)
        if sized:
            save(window, f"live-{sized[2]}")
            return 0
        save(window, "live")

        window.toggle_freeze()
        window.cine.step(-12)
        window.tabs.setCurrentIndex(1)
        frame = window.view.current.frame
        sp = frame.spacing_mm
        window.measurements.add_distance(pixel_centre_mm(60, 120, sp), pixel_centre_mm(60, 380, sp))
        window.measurements.add_two_axis(
            pixel_centre_mm(250, 150, sp), pixel_centre_mm(250, 330, sp),
            pixel_centre_mm(200, 240, sp), pixel_centre_mm(300, 240, sp),
        )  # fmt: skip
        window.annotations.add_text("SUPRAPATELLAR", *pixel_centre_mm(120, 256, sp))
        save(window, "frozen_calipers")

        window.toggle_freeze()
        window.measurements.clear()
        window.annotations.clear()
        window.tabs.setCurrentIndex(2)
        driver.unplug()
        wait_until(lambda: engine.state == EngineState.DISCONNECTED)
        save(window, "disconnected")
        driver.replug()
        wait_until(lambda: engine.state == EngineState.STREAMING)

        sim_panel = simulator.panel
        assert sim_panel is not None
        sim_panel.sim.set_scene("popliteal", "bakers_cyst")
        sim_panel.refresh()
        wait_until(lambda: engine.ring.newest_seq > 200)
        window.show_side_tab(sim_panel)
        sim_panel.picture.setFocus()
        save(window, "simulator")

        window.tabs.setCurrentIndex(0)
        window.help_toggle()
        save(window, "help")
    finally:
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
