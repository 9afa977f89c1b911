"""The full main window during a DVT practice study at the area-of-symptoms step (docs/screenshots).

Saved as docs/screenshots/dvt_exam.png (1600 x 1000); with a size, `screenshot_exam.py OUT.png 1280x800`,
at that window size (with QT_SCALE_FACTOR=1.5 and 1280x720: a 1920 x 1080 screen at 1.5x).

Every earlier step is walked through the window for real: the checklist loads the step's simulator scene,
the probe is put on the target view, each required still or clip is captured into a study store in a
temporary folder (DICOM), and "normal" is chosen. Run from the repository root, under a display:
`xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python docs/screenshot_exam.py [OUT.png [WxH]]`.
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
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import MainWindow, ScannerModels
from ui.sim_panel import SimulatorTab
from ui.theme import apply_dark_theme

OUT = Path(__file__).resolve().parent / "screenshots" / "dvt_exam.png"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    width, height = (int(v) for v in sys.argv[2].split("x")) if len(sys.argv) > 2 else (1600, 1000)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="scanner-exam-shot-"))
    renderer = PatientRenderer("groin")
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
    exams.attach(window, SimulatorTab(window, SimulatorControl(renderer)))
    window.resize(width, height)
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.view.draws > 5)
        dvt = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml", views=named_views())
        exams.start_exam(
            ExamRequest(
                patient=Patient("DVT-0042", "Doe^Jane", "19580412", "F"),
                operator="Sono^Sam",
                trainee="Trainee^Tess",
                supervisor="",
                protocol=dvt,
                quadrant=None,
                side="left",
                practice=True,
            )
        )
        session, panel = exams.session, exams.panel
        assert session is not None and session.runner is not None and panel is not None
        runner = session.runner
        runner.mark_area_of_pain("left calf, posteromedial", "left", 0.58, 0.78, note="swollen, tender")
        while True:
            exams.go_to_target()
            wait_until(lambda: runner.view_shown() or runner.current_step.practice is None)
            if runner.current_step.id == "area_of_symptoms":
                break
            if "normal" in panel.finding_boxes:
                panel.finding_boxes["normal"].click()
            while buttons := [b for b, done in panel.capture_rows if not done]:
                taken = window.strip.count()
                buttons[0].click()
                wait_until(lambda n=taken: window.strip.count() > n and window.pending_captures == 0)
            runner.next()
            wait_until(lambda: window.view.draws > 5)
        panel.finding_boxes["ruptured_baker_cyst"].click()
        taken = window.strip.count()
        panel.capture_rows[0][0].click()
        wait_until(lambda: window.strip.count() > taken and window.pending_captures == 0)
        QTest.qWait(400)  # a few fresh frames of the target view
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        print(f"saved {out} ({window.width()}x{window.height()}); study in {tmp}")
    finally:
        window.close()
        store.close()


if __name__ == "__main__":
    main()
