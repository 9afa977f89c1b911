"""A guided procedure run through the real checklist and store: the time-out, the documentation and
the images by role reach the exam record and the signed report (HTML and PDF)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocols.exam_session import ExamSession
from protocols.procedure import TIME_OUT_IDS
from protocols.runner import TimeOutRequired
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.report import sign_and_store_report
from tests.report_support import knee_frame


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StudyStore]:
    with StudyStore(tmp_path / "store") as s:
        yield s


def run_bursa_injection(store: StudyStore) -> tuple[str, dict[str, int]]:
    """A right subacromial bursa injection: every step's captures stored; returns the study and the
    instance number of the first image of each step."""
    protocol = load_protocol(LIBRARY_DIR / "sasd_bursa_injection.yaml")
    patient = Patient("INJ-001", "Roe^Alex", birth_date="19700302", sex="M")
    session = ExamSession.start(store, patient, "Smith^Olivia", protocol=protocol, side="right")
    runner = session.runner
    assert runner is not None and runner.procedure is not None
    procedure = runner.procedure
    procedure.document(
        medication="Triamcinolone 40 mg with lidocaine 1%", dose_mg=40, volume_ml=5, needle_gauge=22,
        needle_length_mm=50, complications="None", tolerance="good", pain_before=7,
    )  # fmt: skip
    first: dict[str, int] = {}
    seq = 1
    while True:
        step = runner.current_step
        if step.id == "needle_guidance":
            with pytest.raises(TimeOutRequired):
                session.label_capture("still", "long_axis")
            for item in TIME_OUT_IDS:
                procedure.confirm(item)
        if step.own_findings:
            runner.choose_finding(step.own_findings[0].id)
        for _fu_id, req, taken in runner.capture_progress():
            for _ in range(req.count - taken):
                _, labels = session.label_capture(req.kind.value, req.plane.value, mode=req.mode.value)
                if req.kind.value == "clip":
                    saved = store.save_clip(session.study, [knee_frame(seq + i) for i in range(3)], labels)
                else:
                    saved = store.save_still(session.study, knee_frame(seq), labels)
                first.setdefault(step.id, saved.instance_number)
                seq += 3
        for missing in runner.missing_for_step(step.id):
            if missing.what == "measurement":
                runner.record_measurement(missing.measurement_id, 14.0)
        if step.id == "aftercare":
            procedure.document(pain_after=2)
        if not runner.next():
            break
    record = session.end()
    assert record["complete"] and record["procedure"]["missing"] == []
    return session.study.study_uid, first


def _pdf_text(pdf: Path) -> str:
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext is not installed: apt-get install -y poppler-utils"
    return subprocess.run([exe, str(pdf), "-"], capture_output=True, text=True, timeout=30, check=True).stdout


def test_the_procedure_is_in_the_record_and_the_signed_report(store: StudyStore, tmp_path: Path) -> None:
    study_uid, first = run_bursa_injection(store)
    kept = store.get_study(study_uid).protocol_record
    assert kept is not None and kept["procedure"]["time_out"]["complete"]
    assert (kept["procedure"]["pain_before"], kept["procedure"]["pain_after"]) == (7, 2)
    signed = sign_and_store_report(store, study_uid, "Bursa injected under guidance.", "Jones^Ann")
    html = re.sub(
        r"<[^>]+>", " ", re.sub(r"<style>.*?</style>|src=\"data:[^\"]+\"", "", signed.html.read_text())
    )
    for text in (html, _pdf_text(signed.pdf)):
        flat = " ".join(text.split())
        assert "Procedure" in flat and "Subacromial–subdeltoid bursa" in flat
        assert re.search(r"Time-out Complete at \d\d:\d\d: identity, site and side marked, consent", flat), (
            flat
        )
        assert "Medication Triamcinolone 40 mg with lidocaine 1%" in flat and "Dose 40 mg" in flat
        assert "Volume 5 ml" in flat and "Needle 22 G, 50 mm" in flat
        assert "In-plane, lateral to medial" in flat and "Patient tolerance Good" in flat
        assert "Pain score 7/10 before, 2/10 right after" in flat and "at 2 and 6 weeks" in flat
        assert f"Needle in the target #{first['needle_guidance']}" in flat
        assert f"Pre-procedure images #{first['target_scan']}," in flat
        assert f"Post-procedure images #{first['image_after']}" in flat
        assert "Not documented" not in flat and "None/10" not in flat and "pain_before" not in flat
