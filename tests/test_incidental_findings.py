"""Unexpected (incidental) findings: one shared list offered on every scanning step, documented through
follow-ups, recorded for QA review and shown in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.model import INCIDENTAL_PREFIX, ScanProtocol
from protocols.runner import ChecklistRunner
from protocols.validation import (
    INCIDENTALS_FILE,
    LIBRARY_DIR,
    load_library,
    parse_incidentals,
    parse_protocol,
)
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.report import build_report, render_html

PROTOCOLS, ERRORS = load_library()
CATALOGUE, CATALOGUE_ERRORS = parse_incidentals(INCIDENTALS_FILE.read_text(encoding="utf-8"))

# The seed's common incidentals (issue 17, item 6), in the catalogue's ids.
SEED_INCIDENTALS = {
    "incidental_baker_cyst",
    "incidental_ruptured_baker_cyst",
    "incidental_muscle_tear",
    "incidental_haematoma",
    "incidental_joint_effusion",
    "incidental_abscess",
    "incidental_tendinosis",
    "incidental_lymph_node",
    "incidental_mass",
    "incidental_gout",
}


def test_the_shared_list_is_valid_and_holds_the_seeds_incidentals() -> None:
    assert CATALOGUE_ERRORS == [] and CATALOGUE is not None
    assert {f.id for f in CATALOGUE.findings} == SEED_INCIDENTALS
    assert all(f.incidental for f in CATALOGUE.findings)
    assert CATALOGUE.sources and all("http" in s for s in CATALOGUE.sources)
    for finding in CATALOGUE.findings:
        opened = [fu for fu in CATALOGUE.follow_ups if fu.when == finding.id]
        assert opened and all(fu.captures and fu.measurements for fu in opened), finding.id
    # A ruptured Baker cyst sends the operator to exclude DVT.
    ruptured = [fu for fu in CATALOGUE.follow_ups if fu.when == "incidental_ruptured_baker_cyst"]
    assert "DVT" in ruptured[0].instructions


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.id)
def test_every_scanning_step_offers_every_incidental(protocol: ScanProtocol) -> None:
    assert ERRORS == []
    for step in protocol.steps:
        offered = {f.id for f in step.incidental_findings}
        assert offered == (SEED_INCIDENTALS if step.plane is not None else set()), step.id
        assert not any(f.id.startswith(INCIDENTAL_PREFIX) for f in step.own_findings)


def test_a_protocols_own_finding_may_not_take_the_reserved_prefix() -> None:
    text = (LIBRARY_DIR / "elbow.yaml").read_text(encoding="utf-8")
    text = text.replace("{id: tendinosis, title: Tendinosis", "{id: incidental_x, title: Tendinosis", 1)
    protocol, errors = parse_protocol(text, "elbow.yaml")
    assert protocol is None
    assert any("'incidental_x'" in e.message and "reserved" in e.message for e in errors)


def test_a_broken_shared_list_is_reported_with_its_line() -> None:
    text = INCIDENTALS_FILE.read_text(encoding="utf-8").replace("when: incidental_abscess", "when: abscess")
    catalogue, errors = parse_incidentals(text, "incidental_findings.yaml")
    assert catalogue is None
    messages = [e.message for e in errors]
    assert any("unknown incidental finding 'abscess'" in m for m in messages)
    assert any("'incidental_abscess' opens no follow-up" in m for m in messages)


def _dvt() -> ScanProtocol:
    return next(p for p in PROTOCOLS if p.id == "dvt_whole_leg")


def test_an_incidental_stands_beside_normal_and_opens_its_follow_up() -> None:
    runner = ChecklistRunner(_dvt(), side="left", clock=lambda: 0.0)
    runner.go_to([s.id for s in runner.steps].index("popliteal"))
    runner.choose_finding("normal")
    opened = runner.choose_finding("incidental_baker_cyst")
    assert runner.findings() == ["normal", "incidental_baker_cyst"]  # neither cleared the other
    assert [fu.id for fu in opened] == ["incidental_baker_cyst_follow_up"]
    missing = runner.missing_for_step("popliteal")
    from_incidental = [m for m in missing if m.follow_up_id == "incidental_baker_cyst_follow_up"]
    assert {m.what for m in from_incidental} == {"capture", "measurement"}
    # Choosing a pathology of the step's own clears normal, and still keeps the incidental.
    runner.choose_finding("acute_dvt")
    assert runner.findings() == ["incidental_baker_cyst", "acute_dvt"]
    # An incidental alone does not count as the step's own finding.
    runner.clear_finding("acute_dvt")
    assert "popliteal" in runner.completeness().steps_without_finding


def test_the_record_flags_incidentals_for_qa_and_the_report_shows_them(tmp_path: Path) -> None:
    runner = ChecklistRunner(_dvt(), side="left", clock=lambda: 0.0)
    runner.go_to([s.id for s in runner.steps].index("calf_veins"))
    runner.choose_finding("normal")
    runner.choose_finding("incidental_ruptured_baker_cyst")
    record = runner.end_exam()
    assert [(q.step_id, q.finding_id) for q in record.qa_review] == [
        ("calf_veins", "incidental_ruptured_baker_cyst")
    ]
    calf = next(s for s in record.steps if s.step_id == "calf_veins")
    assert "Unexpected: ruptured Baker cyst" in [f["title"] for f in calf.findings]

    with StudyStore(tmp_path) as store:
        study = store.start_study(Patient("P-1", "Doe^Jane", "19800101", "F"), "Op^One")
        store.end_study(study, record.to_dict())
        content = build_report(store, study.study_uid)
    assert content.qa_review == ("Calf veins: Unexpected: ruptured Baker cyst",)
    assert any("Unexpected: ruptured Baker cyst" in f for f in content.findings)
    page = render_html(content)
    assert "Flagged for QA review" in page and "Calf veins: Unexpected: ruptured Baker cyst" in page


def test_without_incidentals_nothing_is_flagged() -> None:
    runner = ChecklistRunner(_dvt(), side="left", clock=lambda: 0.0)
    assert runner.current_step.incidental_findings == ()  # the setup step scans nothing
    assert runner.end_exam().qa_review == []
