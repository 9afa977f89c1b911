"""Procedure mode on the simulated shoulder: an in-plane needle guide from the lateral end with its
depth marks, a target dropped in the subacromial bursa and its distance, to
docs/screenshots/procedure_guide.png.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_procedure.py [OUT.png]
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
from scanner_app.needle_guide import Approach, NeedleGuide  # noqa: E402
from ui.procedure_panel import ProcedurePanel  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots" / "procedure_guide.png"
    _app = make_app()  # kept alive for the whole run
    tmp = temp_folder()
    renderer = PatientRenderer("shoulder")
    window, engine = sim_window(renderer, tmp)
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.status is not None and window.view.draws > 10)
        window.apply_preset({"name": "Shoulder", "depth_mm": 30.0, "frequency_mhz": 12.0, "focus_mm": 12.0})
        wait_until(lambda: engine.ring.newest_seq > 60)
        panel = ProcedurePanel()
        panel.attach(window)
        panel.set_guide(NeedleGuide(Approach.IN_PLANE_RIGHT, 25.0, entry_offset_mm=5.0))
        panel.toggle_guide()
        panel.begin_drop()  # freezes
        frame = window.view.current.frame
        panel._on_image_click(frame.width_mm * 0.45, 9.0)
        window.show_side_tab(panel)
        QTest.qWait(200)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        print(f"wrote {out}")
    finally:
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
