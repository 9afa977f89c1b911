"""Modality Worklist against a real Orthanc serving worklist files the test writes: query, the CLI,
the new-exam dialog's pick, and a capture that reaches PACS matched to its order."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pydicom
import pytest
from pytestqt.qtbot import QtBot

from main import main
from protocols.exam_session import ExamSession
from protocols.procedure_map import DEFAULT_PROCEDURE_MAP, ProcedureMapError, ProcedureProtocolMap
from protocols.validation import load_library
from scanner_app.studies import StudyStore
from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendStatus, read_destinations
from scanner_app.studies.worklist import WorklistEntry, WorklistQuery, ordered_side, query_worklist
from tests.orthanc_fixture import CALLING_AE, OrthancServer, _free_port, orthanc_worklist  # noqa: F401
from tests.studies_support import make_frame
from tests.worklist_support import write_worklist_file
from ui.exam_dialog import ExamDialog, worklist_source

TODAY = dt.date.today().strftime("%Y%m%d")
YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).strftime("%Y%m%d")


def _dest(server: OrthancServer) -> PacsDestination:
    return PacsDestination("ris", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE, worklist=True)


def _schedule(server: OrthancServer) -> dict[str, str]:
    """Five scheduled steps, of which two are today's US ones for this station; their Study UIDs."""
    folder = server.worklist_dir
    uids = {
        "ACC-1000": write_worklist_file(
            folder, patient_name="Doe^Jane", patient_id="P-1", accession="ACC-1000",
            scheduled_date=TODAY, scheduled_time="100000",
        ),
        "ACC-0830": write_worklist_file(
            folder, patient_name="Müller^Jörg", patient_id="P-2", accession="ACC-0830",
            scheduled_date=TODAY, scheduled_time="083000", procedure="US SHOULDER LEFT",
            procedure_code="USSHL", sex="M", birth_date="19580704", referring="Grey^Meredith",
        ),
    }  # fmt: skip
    write_worklist_file(folder, patient_name="Mr^Only", patient_id="P-3", accession="ACC-MR",
                        scheduled_date=TODAY, modality="MR")  # fmt: skip
    write_worklist_file(folder, patient_name="Yester^Day", patient_id="P-4", accession="ACC-OLD",
                        scheduled_date=YESTERDAY)  # fmt: skip
    write_worklist_file(folder, patient_name="Other^Room", patient_id="P-5", accession="ACC-ROOM2",
                        scheduled_date=TODAY, station_ae="US_ROOM2")  # fmt: skip
    return uids


@pytest.mark.orthanc
def test_todays_us_procedures_for_this_station_in_time_order(orthanc_worklist: OrthancServer) -> None:  # noqa: F811
    uids = _schedule(orthanc_worklist)
    entries = query_worklist(_dest(orthanc_worklist), WorklistQuery.today(station_ae=CALLING_AE))
    assert [e.accession_number for e in entries] == ["ACC-0830", "ACC-1000"]
    first = entries[0]
    assert first.patient_name == "Müller^Jörg" and first.patient_id == "P-2"
    assert (first.birth_date, first.sex) == ("19580704", "M")
    assert first.requested_procedure == "US SHOULDER LEFT" and first.requested_procedure_code == "USSHL"
    assert first.referring_physician == "Grey^Meredith"
    assert (first.scheduled_date, first.scheduled_time) == (TODAY, "083000")
    assert first.study_uid == uids["ACC-0830"]
    any_station = query_worklist(_dest(orthanc_worklist), WorklistQuery.today())
    assert sorted(e.accession_number for e in any_station) == ["ACC-0830", "ACC-1000", "ACC-ROOM2"]
    yesterday = query_worklist(_dest(orthanc_worklist), WorklistQuery(YESTERDAY))
    assert [e.accession_number for e in yesterday] == ["ACC-OLD"]


@pytest.mark.orthanc
def test_list_worklist_prints_one_json_object_a_line(
    orthanc_worklist: OrthancServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    uids = _schedule(orthanc_worklist)
    node = f"{orthanc_worklist.aet}@127.0.0.1:{orthanc_worklist.dicom_port}"
    assert main(["--list-worklist", node, "--calling-ae", CALLING_AE, "--date", TODAY]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    # By scheduled time: 08:30, 09:30 (the other room's), 10:00.
    assert [r["accession_number"] for r in rows] == ["ACC-0830", "ACC-ROOM2", "ACC-1000"]
    assert rows[2]["patient_name"] == "Doe^Jane" and rows[2]["study_uid"] == uids["ACC-1000"]
    for key in ("patient_id", "birth_date", "sex", "requested_procedure", "scheduled_date", "scheduled_time"):
        assert rows[2][key], key
    # An AE title Orthanc does not know is refused: exit 1 with the reason, nothing on stdout.
    assert main(["--list-worklist", node, "--calling-ae", "STRANGER"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "worklist" in captured.err and "rejected" in captured.err


def test_list_worklist_refuses_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--list-worklist", "no-port-here"])
    assert exit_info.value.code == 2 and "AE@HOST:PORT" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--list-worklist", "RIS@127.0.0.1:104", "--date", "29-11-2026"])
    assert "YYYYMMDD" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--date", TODAY])  # --date alone would be ignored
    assert "--list-worklist" in capsys.readouterr().err
    port = _free_port()
    assert main(["--list-worklist", f"RIS@127.0.0.1:{port}"]) == 1
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.orthanc
def test_pick_from_the_worklist_capture_and_the_pacs_has_the_order(
    orthanc_worklist: OrthancServer,  # noqa: F811
    qtbot: QtBot,
    tmp_path: Path,
) -> None:
    uids = _schedule(orthanc_worklist)
    protocols, _ = load_library()
    dialog = ExamDialog(
        protocols,
        has_simulator=False,
        operator="Op^One",
        worklist=worklist_source(_dest(orthanc_worklist)),
        procedure_map=ProcedureProtocolMap.load(),
        station_ae=CALLING_AE,
    )
    qtbot.addWidget(dialog)
    assert dialog.worklist_box.isVisibleTo(dialog)
    qtbot.waitUntil(lambda: dialog.worklist_list.topLevelItemCount() == 2, timeout=10_000)
    assert dialog.worklist_list.topLevelItem(0).text(0) == "08:30"  # type: ignore[union-attr]
    assert dialog.worklist_list.topLevelItem(0).text(1) == "Müller, Jörg"  # type: ignore[union-attr]
    dialog.worklist_list.setCurrentItem(dialog.worklist_list.topLevelItem(0))
    assert dialog.patient_id.text() == "P-2"
    assert (dialog.family_name.text(), dialog.given_name.text()) == ("Müller", "Jörg")
    assert dialog.birth_date.text() == "1958-07-04" and dialog.sex.currentData() == "M"
    assert dialog.accession.text() == "ACC-0830"
    assert dialog.chosen_protocol() is not None and dialog.chosen_protocol().id == "shoulder"  # type: ignore[union-attr]
    assert dialog.side.currentText() == "left"  # from "US SHOULDER LEFT", not the form's default
    dialog.patient_id.setText("P-OTHER")  # another patient typed over the pick: not that order
    assert dialog._order().study_uid == ""
    dialog.patient_id.setText("P-2")
    dialog.accept()
    request = dialog.request
    assert request is not None
    assert request.order.study_uid == uids["ACC-0830"]
    assert request.order.referring_physician == "Grey^Meredith"
    assert request.order.requested_procedure == "US SHOULDER LEFT"

    store = StudyStore(tmp_path / "store")
    session = ExamSession.start(
        store, request.patient, request.operator, protocol=request.protocol, side=request.side,
        order=request.order,
    )  # fmt: skip
    record = store.save_still(session.study, make_frame(7), {"laterality": "L", "body_part": "SHOULDER"})
    sender = PacsSender(store.root, _dest(orthanc_worklist), timeout_s=5.0)
    try:
        sender.enqueue([record])
        sender.send_due()
        assert [s.status for s in sender.states()] == [SendStatus.SENT]
    finally:
        sender.close()
    (oid,) = orthanc_worklist.get("/instances")
    stored = pydicom.dcmread(io.BytesIO(orthanc_worklist.get_bytes(f"/instances/{oid}/file")))
    assert stored.AccessionNumber == "ACC-0830"
    assert stored.StudyInstanceUID == uids["ACC-0830"]
    assert stored.PatientID == "P-2" and str(stored.PatientName) == "Müller^Jörg"
    assert stored.ReferringPhysicianName == "Grey^Meredith"
    assert stored.StudyDescription == "US SHOULDER LEFT"
    store.close()


def test_a_worklist_that_cannot_be_asked_leaves_manual_entry(qtbot: QtBot) -> None:
    def unreachable(_query: WorklistQuery) -> list:  # type: ignore[type-arg]
        raise StudyError("worklist: cannot reach ris (RIS@10.0.0.9:104): connection refused")

    dialog = ExamDialog([], has_simulator=False, operator="Op^One", worklist=unreachable)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "connection refused" in dialog.worklist_status.text(), timeout=5_000)
    assert dialog.worklist_list.topLevelItemCount() == 0
    dialog.patient_id.setText("EMERG-1")
    dialog.family_name.setText("Unknown")
    dialog.accession.setText("ACC-ER-7")
    dialog.accept()
    assert dialog.request is not None and dialog.request.order.accession_number == "ACC-ER-7"
    assert dialog.request.order.study_uid == ""
    assert not ExamDialog([], has_simulator=False).worklist_box.isVisibleTo(dialog)


def test_the_procedure_table_names_library_protocols_and_matches_code_then_description(
    tmp_path: Path,
) -> None:
    table = ProcedureProtocolMap.load(DEFAULT_PROCEDURE_MAP)
    protocols, _ = load_library()
    assert table.unknown_protocols(protocols) == []
    assert table.protocol_id("", "  us   knee right ") == "knee"
    assert table.protocol_id("NO-SUCH-CODE", "US HIP") == "hip"
    assert table.protocol_id("", "CT HEAD") is None
    own = tmp_path / "procedures.yaml"
    own.write_text("procedures:\n  USKNEER: hip\n")
    assert ProcedureProtocolMap.load(own).protocol_id("uskneer", "US KNEE RIGHT") == "hip"
    own.write_text("procedures: [knee]\n")
    with pytest.raises(ProcedureMapError, match="procedures"):
        ProcedureProtocolMap.load(own)


def test_worklist_and_mpps_flags_are_kept_in_the_destinations_file(tmp_path: Path) -> None:
    path = tmp_path / "pacs.json"
    plain = PacsDestination("archive", "pacs", 104, "ARCH")
    ris = PacsDestination("ris", "ris", 105, "RIS", worklist=True, mpps=True)
    assert "worklist" not in plain.to_json()
    path.write_text(json.dumps([plain.to_json(), ris.to_json(), {**plain.to_json(), "name": "x", "mpps": 1}]))
    found = read_destinations(path)
    assert found.destinations == (plain, ris)
    assert "mpps" in found.errors[0] and "true or false" in found.errors[0]


@pytest.mark.parametrize(
    ("procedure", "side"),
    [
        ("US KNEE RIGHT", "right"),
        ("US Shoulder Lt", "left"),
        ("US HIPS BILATERAL", "bilateral"),
        ("US ANKLE LEFT AND RIGHT", "bilateral"),
        ("US GROIN", None),
        ("US L KNEE", None),  # a lone letter is too ambiguous to act on
    ],
)
def test_the_side_an_order_names(procedure: str, side: str | None) -> None:
    assert ordered_side(procedure) == side


def _entry(procedure: str) -> WorklistEntry:
    return WorklistEntry(
        "Doe^Jane", "P-1", "19700101", "F", "ACC-1", procedure, "", TODAY, "090000", "US", "", "", "1.2.3"
    )


def test_a_picked_order_sets_the_side_it_names_and_asks_when_it_names_none(qtbot: QtBot) -> None:
    protocols, _ = load_library()
    entries = [_entry("US KNEE RIGHT"), _entry("US KNEE")]
    dialog = ExamDialog(protocols, has_simulator=False, operator="Op^One", worklist=lambda _q: entries)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.worklist_list.topLevelItemCount() == 2, timeout=5_000)
    dialog.select_protocol("knee")
    assert dialog.side.isEnabled() and dialog.side.currentText() == ""  # no side until chosen
    dialog.worklist_list.setCurrentItem(dialog.worklist_list.topLevelItem(0))
    assert dialog.side.currentText() == "right"
    assert "choose it" not in dialog.worklist_status.text()
    dialog.worklist_list.setCurrentItem(dialog.worklist_list.topLevelItem(1))
    assert "The order names no side: choose it." in dialog.worklist_status.text()
