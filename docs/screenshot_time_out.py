"""A subacromial bursa injection on the simulated shoulder at its needle step: the Time-out tab with the
time-out half done (so the needle image still waits) and the procedure documented so far, to
docs/screenshots/procedure_time_out.png.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_time_out.py [OUT.png]
Preferences and studies go to a temporary folder, never the user's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PyQt6.QtTest import QTest  # noqa: E402
from shot_support import make_app, sim_window, temp_folder, wait_until  # noqa: E402

from drivers.sim.patient import PatientRenderer  # noqa: E402
from protocols.procedure import TIME_OUT_IDS, ProcedureRole  # noqa: E402
from protocols.validation import LIBRARY_DIR, load_library, load_protocol  # noqa: E402
from scanner_app.studies import Patient, StudyStore  # noqa: E402
from scanner_app.studies.capture_sink import StudyCaptureSink  # noqa: E402
from ui.close_prompt import EXAM_END  # noqa: E402
from ui.exam_dialog import ExamRequest  # noqa: E402
from ui.exam_dock import ExamController  # noqa: E402
from ui.procedure_record_panel import ProcedureRecordPanel  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots" / "procedure_time_out.png"
    _app = make_app()  # kept alive for the whole run
    tmp = temp_folder()
    store = StudyStore(tmp / "studies")
    exams = ExamController(store, load_library()[0], operator="Smith^Olivia", ask=lambda *_q: EXAM_END)
    renderer = PatientRenderer("shoulder")
    window, engine = sim_window(renderer, tmp, StudyCaptureSink(store, exams.current_study))
    window.show()
    engine.start()
    try:
        wait_until(lambda: window.status is not None and window.view.draws > 10)
        exams.attach(window)
        panel = ProcedureRecordPanel()
        panel.attach(window)
        exams.session_changed.connect(
            lambda: panel.set_runner(exams.session.runner if exams.session else None)
        )
        exams.start_exam(
            ExamRequest(
                patient=Patient("INJ-001", "Roe^Alex", "19700302", "M"), operator="Smith^Olivia",
                trainee="", supervisor="", protocol=load_protocol(LIBRARY_DIR / "sasd_bursa_injection.yaml"),
                quadrant=None, side="right", practice=False,
            )
        )  # fmt: skip
        runner = exams.session.runner if exams.session is not None else None
        assert runner is not None and runner.procedure is not None
        runner.go_to([s.procedure_role for s in runner.steps].index(ProcedureRole.NEEDLE))
        for item in TIME_OUT_IDS[:3]:
            panel.checks[item].click()
        runner.procedure.document(
            medication="Triamcinolone 40 mg + lidocaine 1%", dose_mg=40, volume_ml=5, needle_gauge=22,
            needle_length_mm=50, pain_before=7,
        )  # fmt: skip
        window.show_side_tab(panel)
        wait_until(lambda: engine.ring.newest_seq > 60)
        QTest.qWait(300)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        print(f"wrote {out}")
    finally:
        exams.end_exam()
        window.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
