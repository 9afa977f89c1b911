"""Procedure documentation: the time-out before the first needle image, the documentation fields,
the needle-in-target image, and the procedure block of protocol files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from protocols.model import ProtocolKind
from protocols.procedure import (
    DOCUMENT_FIELDS,
    TIME_OUT_IDS,
    ProcedureError,
    ProcedureRecord,
    ProcedureRole,
    ProcedureSpec,
)
from protocols.runner import ChecklistRunner, RunnerError, TimeOutRequired
from protocols.validation import LIBRARY_DIR, ProtocolFileError, load_library, load_protocol

PROTOCOLS = {p.id: p for p in load_library()[0]}
PROCEDURES = [p for p in PROTOCOLS.values() if p.kind is ProtocolKind.PROCEDURE]


def _runner(protocol_id: str = "sasd_bursa_injection") -> ChecklistRunner:
    return ChecklistRunner(PROTOCOLS[protocol_id], side="right", clock=lambda: 0.0)


def _go_to_needle(runner: ChecklistRunner) -> None:
    runner.go_to([s.procedure_role for s in runner.steps].index(ProcedureRole.NEEDLE))


def test_every_procedure_protocol_plans_target_approach_and_needle_image() -> None:
    ids = {p.id for p in PROCEDURES}
    assert ids >= {
        "sasd_bursa_injection", "glenohumeral_injection", "hip_joint_injection", "knee_joint_aspiration",
        "bakers_cyst_aspiration", "calcific_barbotage", "tendon_fenestration", "perineural_injection",
    }  # fmt: skip
    for p in PROCEDURES:
        assert p.procedure is not None and p.procedure.target and p.procedure.approach, p.id
        assert set(p.procedure.document) <= set(DOCUMENT_FIELDS) and p.procedure.follow_up_weeks == (2, 6)
        roles = [s.procedure_role for s in p.steps if s.procedure_role is not None]
        assert roles.index(ProcedureRole.PRE_PROCEDURE) < roles.index(ProcedureRole.NEEDLE), p.id
        assert roles.index(ProcedureRole.NEEDLE) < roles.index(ProcedureRole.POST_PROCEDURE), p.id


def test_the_perineural_injection_stops_and_reassesses_on_an_unexpected_mass() -> None:
    step = PROTOCOLS["perineural_injection"].step("target_scan")
    mass = step.finding("unexpected_mass")
    assert "stop and reassess" in mass.title.lower()
    follow_up = next(fu for fu in step.follow_ups if fu.when == "unexpected_mass")
    assert "do not inject" in follow_up.title.lower() and follow_up.measurements


def test_a_needle_image_before_the_time_out_is_refused_and_counts_after_it() -> None:
    runner = _runner()
    _go_to_needle(runner)
    with pytest.raises(TimeOutRequired, match="time-out"):
        runner.record_capture("still", "long_axis", "c1")
    assert runner.captures() == []
    assert runner.procedure is not None
    for item in TIME_OUT_IDS[:-1]:
        runner.procedure.confirm(item)
    with pytest.raises(TimeOutRequired, match="Anticoagulation"):  # names what is still open
        runner.record_capture("still", "long_axis", "c1")
    runner.procedure.confirm(TIME_OUT_IDS[-1])
    labels = runner.record_capture("still", "long_axis", "c1")
    assert labels["step_id"] == "needle_guidance"
    record = runner.record().procedure
    assert record is not None and record["time_out"]["complete"] and record["time_out"]["at"]
    assert record["images"]["needle"] == ["c1"]
    assert "Needle in the target image" not in record["missing"]


def test_skipping_the_time_out_needs_a_reason_which_is_kept() -> None:
    runner = _runner("knee_joint_aspiration")
    _go_to_needle(runner)
    assert runner.procedure is not None
    with pytest.raises(ProcedureError):
        runner.procedure.skip_time_out("  ")
    with pytest.raises(TimeOutRequired):
        runner.record_capture("still", "long_axis", "c1")
    runner.procedure.skip_time_out("septic arthritis suspected: emergency aspiration")
    runner.record_capture("still", "long_axis", "c1")
    record = runner.record().procedure
    assert record is not None and not record["time_out"]["complete"]
    assert record["time_out"]["skip_reason"].startswith("septic arthritis")


def test_only_needle_steps_wait_for_the_time_out_and_a_move_into_one_does_too() -> None:
    runner = _runner()
    runner.record_capture("still", "long_axis", "pre1")  # the pre-procedure scan needs no time-out
    with pytest.raises(TimeOutRequired):
        runner.relabel_capture("pre1", "needle_guidance", "long_axis")
    assert runner.find_capture("pre1") is not None and runner.find_capture("pre1").step_id == "target_scan"  # type: ignore[union-attr]
    knee = ChecklistRunner(PROTOCOLS["knee"], side="right", clock=lambda: 0.0)
    assert knee.procedure is None and knee.record().procedure is None


def test_documentation_fields_are_checked_and_missing_ones_listed() -> None:
    now = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    record = ProcedureRecord(ProcedureSpec("bursa", "in-plane lateral"), now=lambda: now)
    assert record.details.approach == "in-plane lateral"  # the plan's approach until changed
    assert record.missing()[0] == "Time-out" and "Medication" in record.missing()
    bad_values: list[dict[str, object]] = [
        {"pain_before": 11}, {"pain_after": -1}, {"pain_before": 2.5}, {"needle_gauge": 40},
        {"needle_length_mm": 0}, {"volume_ml": -2}, {"tolerance": "so-so"}, {"colour": "red"},
    ]  # fmt: skip
    for bad in bad_values:
        with pytest.raises((ProcedureError, ValueError)):
            record.document(**bad)
    assert record.details.pain_before is None and record.details.needle_gauge is None
    record.document(
        medication="triamcinolone 40 mg + lidocaine 1%", dose_mg=40, volume_ml=5, needle_gauge=22,
        needle_length_mm=50, complications="none", tolerance="good", pain_before=7, pain_after=2,
    )  # fmt: skip
    for item in TIME_OUT_IDS:
        record.confirm(item)
    assert record.missing() == []
    out = record.to_dict()
    assert (out["dose_mg"], out["volume_ml"], out["needle_gauge"], out["pain_before"], out["pain_after"]) == (
        40.0, 5.0, 22, 7, 2,
    )  # fmt: skip
    assert out["time_out"]["at"] == "2026-03-02T10:30:00+00:00"
    record.confirm("consent", False)  # withdrawn: the time-out is open again
    assert not record.needle_allowed and record.to_dict()["time_out"]["at"] == ""


def test_the_record_lists_a_missing_needle_in_target_image() -> None:
    runner = _runner()
    record = runner.record().procedure
    assert record is not None and "Needle in the target image" in record["missing"]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (LIBRARY_DIR / "sasd_bursa_injection.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("document: [medication,", "document: [medicine,", "unknown field 'medicine'"),
        ("    procedure_role: needle\n", "    procedure_role: needles\n", "procedure_role 'needles'"),
        ("    procedure_role: needle\n", "", "procedure_role: needle"),
        ("kind: procedure", "kind: normal_anatomy", "kind 'procedure'"),
        ("follow_up_weeks: [2, 6]", "follow_up_weeks: [0]", "at least 1"),
    ],
)
def test_a_broken_procedure_block_names_file_line_and_problem(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ProtocolFileError) as info:
        load_protocol(_broken(tmp_path, old, new))
    text = str(info.value)
    assert message in text and "broken.yaml:" in text


def test_runner_error_is_what_the_labeller_catches() -> None:
    assert issubclass(TimeOutRequired, RunnerError)
