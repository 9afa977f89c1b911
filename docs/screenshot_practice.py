"""The Practice tab on the simulated knee: the anatomy overlay naming what is in view, and a quiz in
progress ("Subcutaneous tissue or muscle at the mark?" after a tendon click was graded), with a few
weeks of scores in the progress plot, to docs/screenshots/practice_*.png.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1280x800x24" python docs/screenshot_practice.py
The programme database and preferences go to a temporary folder, never the user's own.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
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
from protocols.validation import load_library  # noqa: E402
from scanner_app.capture import FolderCaptureSink  # noqa: E402
from scanner_app.engine import AcquisitionEngine  # noqa: E402
from scanner_app.preferences import Preferences  # noqa: E402
from scanner_app.programme.db import open_database, sqlite_url  # noqa: E402
from scanner_app.programme.practice import PracticeScore, record_score  # noqa: E402
from scanner_app.programme.quiz import AnswerKind  # noqa: E402
from scanner_app.ring import FrameRing  # noqa: E402
from ui.main_window import MainWindow, ScannerModels  # noqa: E402
from ui.practice_panel import PracticePanel  # noqa: E402
from ui.sim_panel import SimulatorTab  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402


def main() -> int:
    out_dir = ROOT / "docs" / "screenshots"
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="scanner-shots-"))
    renderer = PatientRenderer("knee", "effusion")
    control = SimulatorControl(renderer)
    driver = DirectSimProbe(renderer, SimSettings(RenderParams(rows=512, cols=512), frame_rate_hz=30.0))
    engine = AcquisitionEngine(driver, FrameRing(300, 512 * 512))
    models = ScannerModels.for_engine(engine, Preferences(tmp / "preferences.json"), FolderCaptureSink(tmp))
    window = MainWindow(engine, models)
    window.resize(1280, 800)
    SimulatorTab(window, control)
    db = open_database(sqlite_url(tmp))
    start = datetime.now(UTC) - timedelta(days=42)
    for week, (quiz, view) in enumerate([(33, 40), (33, 55), (67, 62), (67, 80), (100, 85), (100, 95)]):
        at = start + timedelta(days=7 * week)
        record_score(db, PracticeScore("sam", "quiz", "tendon,fluid,tissue", quiz, at, "knee"))
        record_score(
            db, PracticeScore("sam", "view", "suprapatellar long axis", view, at, "knee", time_s=40.0)
        )
    targets = [s.practice for p in load_library(views=named_views())[0] for s in p.steps if s.practice]
    panel = PracticePanel(control, db=db, person=lambda: "sam", targets=targets, seed=4)
    panel.attach(window)
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.view.draws > 10)
        window.show_side_tab(panel)
        panel.overlay_button.setChecked(True)
        wait_until(lambda: bool(panel.overlay.shown_names))
        QTest.qWait(300)
        window.grab().save(str(out_dir / "practice_overlay.png"))
        print(f"wrote {out_dir / 'practice_overlay.png'}")
        panel.start_quiz()
        quiz = panel.quiz
        assert quiz is not None and quiz.labels is not None
        x, d = quiz.labels.centroid_mm("quadriceps tendon") or (0.0, 0.0)
        window.image_clicked.emit(x, d)  # right
        panel.answer("yes")  # the effusion: right
        while quiz.question is not None and quiz.question.kind is not AnswerKind.CHOICE:
            panel.ask()  # a marked point shows best what the third competency asks
        QTest.qWait(300)
        window.grab().save(str(out_dir / "practice_quiz.png"))
        print(f"wrote {out_dir / 'practice_quiz.png'}")
        # A view search: from the start pose, a detour, then onto the target; graded, path plotted.
        panel.targets.setCurrentIndex(
            next(i for i in range(panel.targets.count()) if panel.targets.itemData(i).scene == "knee")
        )
        target = panel.targets.currentData()
        panel.start_view()
        begin = control.get_pose()
        for k in range(1, 11):
            f = k / 10
            control.set_pose(
                position_mm=begin["position_mm"]
                + f * (target.pose["position_mm"] + 2.0 - begin["position_mm"]),
                lateral_mm=begin["lateral_mm"] + 6.0 * (1 - abs(2 * f - 1)),
                rotation_deg=begin["rotation_deg"]
                + f * (target.pose["rotation_deg"] - begin["rotation_deg"]),
            )
            panel.sample_path()
        panel.finish_view()
        QTest.qWait(300)
        panel.grab().save(str(out_dir / "practice_view.png"))
        print(f"wrote {out_dir / 'practice_view.png'}")
    finally:
        window.close()
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
