"""The dual (split) screen on the simulated groin: the common femoral vein without compression (left,
frozen) and compressed (right, live), as the DVT protocols document it (docs/screenshots).

Saved as docs/screenshots/dual_screen_groin.png; the dual image is also stored (DICOM, one region per
half) into a study in a temporary folder. Run from the repository root, under a display:
`xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshot_dual.py [OUT.png]`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication
from take_screenshots import wait_until

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import named_views
from drivers.sim.settings import SimSettings
from protocols.validation import LIBRARY_DIR, load_library, load_protocol
from scanner_app.engine import AcquisitionEngine
from scanner_app.preferences import Preferences
from scanner_app.ring import FrameRing
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from ui.close_prompt import EXAM_END
from ui.dual_view import DualScreen
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import MainWindow, ScannerModels
from ui.sim_panel import SimulatorTab
from ui.theme import apply_dark_theme

OUT = Path(__file__).resolve().parent / "screenshots" / "dual_screen_groin.png"
COMPRESSED = 0.9  # probe pressure that collapses a normal common femoral vein


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="scanner-dual-shot-"))
    renderer = PatientRenderer("groin")
    sim = SimulatorControl(renderer)
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=512, cols=384), frame_rate_hz=25.0))
    engine = AcquisitionEngine(probe, FrameRing(120, 512 * 384))
    store = StudyStore(tmp / "studies")
    exams = ExamController(
        store, load_library(views=named_views())[0], operator="Sono^Sam", ask=lambda *_question: EXAM_END
    )
    models = ScannerModels.for_engine(
        engine, Preferences(tmp / "preferences.json"), StudyCaptureSink(store, exams.current_study)
    )
    window = MainWindow(engine, models, switch_probe=lambda spec: None)
    exams.attach(window, SimulatorTab(window, sim))
    dual = DualScreen()
    dual.attach(window)
    window.resize(1600, 1000)
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.view.draws > 5)
        dvt = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml", views=named_views())
        exams.start_exam(
            ExamRequest(
                patient=Patient("DVT-0042", "Doe^Jane", "19580412", "F"),
                operator="Sono^Sam",
                trainee="",
                supervisor="",
                protocol=dvt,
                quadrant=None,
                side="right",
                practice=False,
            )
        )
        session = exams.session
        assert session is not None and session.runner is not None
        session.runner.go_to([s.id for s in session.runner.steps].index("cfv_compression"))
        sim.set_pose(**named_views()["groin"]["CFV short axis"])
        QTest.qWait(600)  # the step's preset reaches the probe; fresh frames of the open vein
        window.actions_by_name["dual"].trigger()
        sim.set_pose(pressure=COMPRESSED)
        QTest.qWait(600)  # the live half shows the compressed vein
        taken = window.strip.count()
        window.actions_by_name["dual_save"].trigger()
        wait_until(lambda: window.strip.count() > taken and window.pending_captures == 0)
        QTest.qWait(150)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        (record,) = store.list_captures(session.study.study_uid)
        print(f"saved {out} ({window.width()}x{window.height()}); dual image {store.capture_path(record)}")
    finally:
        window.close()
        store.close()


if __name__ == "__main__":
    main()
