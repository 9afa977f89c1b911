"""ExamSession: a study and its checklist together: labelling captures, discarding failed ones, ending."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.exam_session import ExamSession
from protocols.model import ScanProtocol
from protocols.runner import EventKind, RunnerError, RunnerEvent
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient, StudyError, StudyStore
from tests.studies_support import make_frame


@pytest.fixture
def knee() -> ScanProtocol:
    return load_protocol(LIBRARY_DIR / "knee.yaml")


@pytest.fixture
def store(tmp_path: Path):
    with StudyStore(tmp_path / "store") as s:
        yield s


def test_label_defaults_to_the_first_outstanding_requirement_of_that_kind(
    store: StudyStore, knee: ScanProtocol
) -> None:
    session = ExamSession.start(store, Patient("P-1", "Doe^Jane"), "Op^One", protocol=knee, side="right")
    assert session.runner is not None and session.runner.current_step.id == "quadriceps_tendon"
    first_id, first = session.label_capture("still")
    second_id, second = session.label_capture("still")
    assert first_id != second_id and first_id and second_id
    assert first == {
        "laterality": "R",
        "body_part": "KNEE",
        "exam_type": "MUSCULOSKELETAL",
        "protocol_id": "knee",
        "step_id": "quadriceps_tendon",
        "step_title": session.runner.current_step.title,
        "plane": "long axis",
        "imaging_mode": "bmode",
    }
    assert second["plane"] == "short axis"  # the long axis was taken: the next outstanding one
    assert session.runner.missing_for_step("quadriceps_tendon") == []
    # Nothing outstanding of that kind: the step's own plane, kept as an extra.
    _, third = session.label_capture("still")
    assert third["plane"] == "long axis"
    assert session.runner.captures()[-1].extra is True
    # The labels are what the store takes.
    record = store.save_still(session.study, make_frame(1), first)
    assert store.read_dataset(record).ImageLaterality == "R"


def test_explicit_plane_mode_and_other_side(store: StudyStore, knee: ScanProtocol) -> None:
    session = ExamSession.start(store, Patient.practice(), "Op^One", protocol=knee, side="left")
    _, labels = session.label_capture("clip", "short_axis", mode="power_doppler", contralateral=True)
    assert labels["plane"] == "short axis" and labels["laterality"] == "R"
    assert session.runner is not None
    assert session.runner.captures()[-1].mode == "power_doppler"


def test_discard_removes_the_capture_from_its_step(store: StudyStore, knee: ScanProtocol) -> None:
    session = ExamSession.start(store, Patient.practice(), "Op^One", protocol=knee, side="left")
    assert session.runner is not None
    events: list[RunnerEvent] = []
    session.runner.changed.connect(events.append)
    capture_id, _ = session.label_capture("still")
    session.discard_capture(capture_id)
    assert session.runner.captures() == []
    assert events[-1].kind is EventKind.CAPTURE_DISCARDED
    # The next still goes to the same (again outstanding) requirement.
    _, labels = session.label_capture("still")
    assert labels["plane"] == "long axis"


def test_ask_protocol_without_a_side_refuses_to_label(store: StudyStore, knee: ScanProtocol) -> None:
    session = ExamSession.start(store, Patient.practice(), "Op^One", protocol=knee)
    with pytest.raises(RunnerError, match="choose the side"):
        session.label_capture("still")
    assert session.runner is not None
    session.runner.choose_side("right")
    assert session.label_capture("still")[1]["laterality"] == "R"
    session.runner.end_exam()  # checklist finished, study still open: the chosen side still applies
    assert session.label_capture("still") == ("", {"laterality": "R"})


def test_no_protocol_labels_only_the_side_and_ends_without_a_record(store: StudyStore) -> None:
    session = ExamSession.start(store, Patient.practice(), "Op^One", side="bilateral")
    assert session.label_capture("still") == ("", {"laterality": "B"})
    session.discard_capture("")  # nothing to discard: no error
    assert session.end() == {}
    assert store.get_study(session.study.study_uid).ended_at is not None
    assert session.ended


def test_end_writes_the_runner_record_into_the_study_once(store: StudyStore, knee: ScanProtocol) -> None:
    session = ExamSession.start(
        store,
        Patient("P-2", "Roe^Rick", "19800101", "M"),
        "Op^One",
        protocol=knee,
        side="left",
        quadrant="anterior",
        trainee="Trainee^T",
        supervisor="Super^S",
    )
    assert session.runner is not None and session.runner.quadrant == "anterior"
    store.save_still(session.study, make_frame(2), session.label_capture("still")[1])
    record = session.end()
    assert record["protocol_id"] == "knee" and record["ended"] is True and record["complete"] is False
    assert session.end() is record  # idempotent
    study = store.get_study(session.study.study_uid)
    assert study.protocol_record == record and study.trainee == "Trainee^T"
    assert study.description == knee.title
    # Once the checklist has ended, captures are no longer counted (and the study refuses them).
    assert session.label_capture("still") == ("", {"laterality": "L"})
    with pytest.raises(StudyError, match="has ended"):
        store.save_still(session.study, make_frame(3), {})


def test_a_bad_quadrant_leaves_no_empty_study(store: StudyStore, knee: ScanProtocol) -> None:
    with pytest.raises(RunnerError, match="quadrant"):
        ExamSession.start(store, Patient.practice(), "Op^One", protocol=knee, quadrant="nowhere")
    assert store.list_studies() == []


def test_the_probe_orientation_chooses_the_requirement_whose_plane_the_image_is_in(store: StudyStore) -> None:
    dvt = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml")
    session = ExamSession.start(store, Patient("P-2", "Doe^Jane"), "Op^One", protocol=dvt, side="left")
    runner = session.runner
    assert runner is not None
    ids = [s.id for s in runner.steps]
    runner.go_to(ids.index("cfv_compression"))  # transverse B-mode still, long-axis colour still
    # A colour still with the probe across the limb is transverse, whatever the colour requirement asks.
    _, across = session.label_capture("still", imaging_mode="color_doppler", probe_angle_deg=90.0)
    assert across["plane"] == "transverse" and "plane_note" not in across
    # A B-mode still with the probe along the limb fills nothing transverse: long axis.
    _, along = session.label_capture("still", imaging_mode="bmode", probe_angle_deg=-5.0)
    assert along["plane"] == "long axis"
    # An oblique probe's image is in neither plane: labelled oblique, counted for neither, and said.
    outstanding = [(req.plane, taken) for _, req, taken in runner.capture_progress()]
    _, oblique = session.label_capture("still", imaging_mode="bmode", probe_angle_deg=-135.0)
    assert oblique["plane"] == "oblique"
    assert "probe is oblique (45° to the limb)" in oblique["plane_note"]
    assert "not in this step's transverse" in oblique["plane_note"]
    assert [(req.plane, taken) for _, req, taken in runner.capture_progress()] == outstanding

    runner.go_to(ids.index("cfv_doppler"))  # two long-axis spectral stills, no transverse at all
    _, pw = session.label_capture("still", imaging_mode="spectral_doppler", probe_angle_deg=180.0)
    assert pw["plane"] == "long axis" and "plane_note" not in pw
    _, pw_across = session.label_capture("still", imaging_mode="spectral_doppler", probe_angle_deg=90.0)
    assert pw_across["plane"] == "long axis"  # no transverse requirement: as before, and says so
    assert (
        "probe is in short axis" in pw_across["plane_note"]
        and "labelled long axis" in pw_across["plane_note"]
    )

    runner.go_to(ids.index("femoral_vein"))  # step plane transverse: clips transverse, colour long axis
    _, colour = session.label_capture("still", imaging_mode="color_doppler", probe_angle_deg=90.0)
    assert colour["plane"] == "transverse"
    _, colour_along = session.label_capture("still", imaging_mode="color_doppler", probe_angle_deg=0.0)
    assert colour_along["plane"] == "long axis"
