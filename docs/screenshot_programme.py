"""The Programme tab: a trainee's exams recorded, the supervisor's sign-off, and the reviewer's quality
review with a flagged case, its MRI outcome and verdict, to docs/screenshots/programme_*.png.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_programme.py
Studies, the programme database and preferences go to a temporary folder, never the user's own.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
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
from scanner_app.engine import AcquisitionEngine  # noqa: E402
from scanner_app.preferences import Preferences  # noqa: E402
from scanner_app.programme import quality as qa  # noqa: E402
from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url  # noqa: E402
from scanner_app.programme.logbook import ExamFacts, entries, record_exam, sign_off  # noqa: E402
from scanner_app.programme.pathways import load_pathways  # noqa: E402
from scanner_app.programme.people import Role, User, add_user  # noqa: E402
from scanner_app.ring import FrameRing  # noqa: E402
from scanner_app.studies import StudyStore  # noqa: E402
from scanner_app.studies.capture_sink import StudyCaptureSink  # noqa: E402
from ui.close_prompt import EXAM_END  # noqa: E402
from ui.exam_dock import ExamController  # noqa: E402
from ui.main_window import MainWindow, ScannerModels  # noqa: E402
from ui.programme_panel import ProgrammePanel  # noqa: E402
from ui.sim_panel import SimulatorTab  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402

OP = User("olivia", "Olivia Smith", Role.OPERATOR)
SAM = User("sam", "Sam Lee", Role.TRAINEE)
RITA = User("rita", "Rita Reviewer", Role.REVIEWER)


def seed(db: ProgrammeDatabase) -> None:
    """A trainee's year so far: knee, shoulder and venous studies, most signed off, one QA case."""
    add_user(db, User("admin", "Administrator", Role.ADMINISTRATOR), pin="admin-pin")
    for u in (OP, SAM, RITA):
        add_user(db, u, pin=f"{u.username}-pin")
    plan = [
        ("knee", "knee", "normal"),
        ("shoulder", "shoulder", "supraspinatus tendinosis"),
        ("lower limb", "dvt_whole_leg", "Baker's cyst 28 mm; no DVT"),
        ("knee", "knee", "joint effusion"),
    ]
    for i in range(14):
        region, protocol, finding = plan[i % len(plan)]
        exam = ExamFacts(f"2.25.{1000 + i}", date(2026, 1 + i % 11, 5 + i), region, "olivia", trainee="sam",
                         supervisor="olivia", protocol_id=protocol, findings=finding)  # fmt: skip
        record_exam(db, exam)
    for e in entries(db, "sam")[:11]:
        sign_off(db, e.id, OP)
    f = qa.flag(db, "2.25.1002", qa.FlagReason.QA_REVIEW, OP, operator="olivia", finding="Baker's cyst 28 mm")
    mri = "Baker's cyst with a ruptured inferior margin"
    qa.add_outcome(db, "2.25.1002", qa.OutcomeKind.MRI, date(2026, 11, 20), mri, by=OP)
    qa.classify(db, f.id, qa.Classification.CONCORDANT, by=RITA)
    qa.flag(
        db, "2.25.1005", qa.FlagReason.QA_REVIEW, OP, operator="olivia", finding="supraspinatus tendinosis"
    )


def main() -> int:
    out_dir = ROOT / "docs" / "screenshots"
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="scanner-shots-"))
    renderer = PatientRenderer("popliteal", "bakers_cyst")
    driver = DirectSimProbe(renderer, SimSettings(RenderParams(rows=512, cols=512), frame_rate_hz=30.0))
    engine = AcquisitionEngine(driver, FrameRing(300, 512 * 512))
    store = StudyStore(tmp / "studies")
    exams = ExamController(
        store, load_library(views=named_views())[0], operator="Smith^Olivia", ask=lambda *_q: EXAM_END
    )
    models = ScannerModels.for_engine(
        engine, Preferences(tmp / "preferences.json"), StudyCaptureSink(store, exams.current_study)
    )
    window = MainWindow(engine, models)
    window.resize(1600, 1000)
    exams.attach(window, SimulatorTab(window, SimulatorControl(renderer)))
    db = open_database(sqlite_url(tmp))
    seed(db)
    panel = ProgrammePanel(db, store, load_pathways(), ended_study=lambda: None, region_of=lambda _p: "knee")
    panel.attach(window)
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.status is not None and window.view.draws > 10)
        window.show_side_tab(panel)
        for user, name in ((SAM, "programme_logbook.png"), (RITA, "programme_review.png")):
            panel.sign_in(user)
            wait_until(lambda: panel.worker.pending == 0)  # the lists are read on the tab's worker
            panel.cases.setCurrentRow(0)
            QTest.qWait(300)
            window.grab().save(str(out_dir / name))
            print(f"wrote {out_dir / name}")
    finally:
        window.close()
        db.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
