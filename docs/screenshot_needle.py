"""Needle practice on the simulated shoulder: an in-plane approach from the left at 25° with the
Procedure guide and its depth marks over the image, the simulated needle advanced along it into the
subacromial bursa (docs/screenshots/needle_inplane.png), then 0.5 ml injected there
(docs/screenshots/needle_injected.png), the Needle tab showing the ground truth and the score.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_needle.py [OUT_DIR]
Preferences and captures go to a temporary folder, never the user's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PyQt6.QtTest import QTest  # noqa: E402
from shot_support import make_app, sim_window, temp_folder, wait_until  # noqa: E402

from drivers.sim.control import SimulatorControl  # noqa: E402
from drivers.sim.patient import PatientRenderer  # noqa: E402
from scanner_app.needle_guide import Approach, NeedleGuide  # noqa: E402
from ui.needle_panel import NeedleTab  # noqa: E402
from ui.procedure_panel import ProcedurePanel  # noqa: E402
from ui.sim_panel import SimulatorTab  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    _app = make_app()  # kept alive for the whole run
    tmp = temp_folder()
    renderer = PatientRenderer("shoulder")
    window, engine = sim_window(renderer, tmp)
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.status is not None and window.view.draws > 10)
        window.apply_preset({"name": "Shoulder", "depth_mm": 30.0, "frequency_mhz": 12.0, "focus_mm": 12.0})
        control = SimulatorControl(renderer)
        control.set_pose(position_mm=-12.0, lateral_mm=45.0)  # supraspinatus long axis
        needle_tab = NeedleTab(window, SimulatorTab(window, control))
        procedure = ProcedurePanel()
        procedure.attach(window)
        procedure.set_guide(NeedleGuide(Approach.IN_PLANE_LEFT, 25.0, entry_offset_mm=5.0))
        procedure.toggle_guide()
        panel = needle_tab.panel
        assert panel is not None
        panel.do("place")  # the tab's approach: in-plane from the left, 25°, 5 mm beyond the probe
        for _ in range(25):
            panel.do("advance")
        window.show_side_tab(panel)
        seq = engine.ring.newest_seq
        wait_until(lambda: engine.ring.newest_seq > seq + 10)
        QTest.qWait(200)
        out.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out / "needle_inplane.png"))
        panel.do("inject")
        panel.do("score")
        seq = engine.ring.newest_seq
        wait_until(lambda: engine.ring.newest_seq > seq + 10)
        QTest.qWait(200)
        window.grab().save(str(out / "needle_injected.png"))
        print(f"wrote {out / 'needle_inplane.png'} and {out / 'needle_injected.png'}")
    finally:
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
