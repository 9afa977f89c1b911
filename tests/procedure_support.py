"""A guided procedure's exam record made by the real checklist runner, for the programme tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from protocols.procedure import TIME_OUT_IDS, ProcedureRole
from protocols.runner import ChecklistRunner
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.programme.logbook import ExamFacts

SASD = load_protocol(LIBRARY_DIR / "sasd_bursa_injection.yaml")


def procedure_record(pain_before: int, pain_after: int, complications: str = "none") -> dict[str, Any]:
    """A real runner's record of a bursa injection with its time-out and documentation."""
    runner = ChecklistRunner(SASD, side="right", clock=lambda: 0.0)
    assert runner.procedure is not None
    for item in TIME_OUT_IDS:
        runner.procedure.confirm(item)
    runner.procedure.document(
        medication="triamcinolone + lidocaine", dose_mg=40, volume_ml=5, needle_gauge=22,
        needle_length_mm=50, complications=complications, tolerance="good",
        pain_before=pain_before, pain_after=pain_after,
    )  # fmt: skip
    runner.go_to([s.procedure_role for s in runner.steps].index(ProcedureRole.NEEDLE))
    runner.record_capture("still", "long_axis", "n1")
    return runner.end_exam().to_dict()


def procedure_facts(uid: str, day: date, operator: str = "anna", **kw: Any) -> ExamFacts:
    return ExamFacts(study_uid=uid, performed_on=day, region="shoulder", operator=operator,
                     protocol_id="sasd_bursa_injection", **kw)  # fmt: skip
