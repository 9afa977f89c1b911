"""A frozen knee image with two calipers (one selected) and a text, their results drawn beside them and
in the results box, to docs/screenshots/calipers_results.png.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_calipers.py [OUT.png]
Preferences and captures go to a temporary folder, never the user's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PyQt6.QtTest import QTest  # noqa: E402
from shot_support import make_app, sim_window, temp_folder, wait_until  # noqa: E402

from drivers.sim.patient import PatientRenderer  # noqa: E402
from scanner_app.measurements import pixel_centre_mm  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots" / "calipers_results.png"
    _app = make_app()  # kept alive for the whole run
    tmp = temp_folder()
    renderer = PatientRenderer("knee", "effusion")
    window, engine = sim_window(renderer, tmp)
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.status is not None and window.view.draws > 10)
        window.apply_preset({"name": "Knee", "depth_mm": 40.0, "frequency_mhz": 10.0, "focus_mm": 18.0})
        wait_until(lambda: window.controls.focus_control.shown_value == 18.0)
        wait_until(lambda: engine.ring.newest_seq > 60)
        window.begin_measurement("distance")  # freezes
        frame = window.view.current.frame
        sp, origin = frame.spacing_mm, frame.depth_origin_mm
        for row, col in ((150, 140), (300, 140)):
            window.measurements.add_point(pixel_centre_mm(row, col, sp, origin))
        window.begin_measurement("distance")
        for row, col in ((240, 300), (240, 440)):
            window.measurements.add_point(pixel_centre_mm(row, col, sp, origin))
        window.measurements.select("B")
        window.annotations.add_text("R SUPRAPATELLAR LONG", *pixel_centre_mm(60, 256, sp, origin))
        window.tabs.setCurrentIndex(1)
        QTest.qWait(200)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        print(f"wrote {out}")
    finally:
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
