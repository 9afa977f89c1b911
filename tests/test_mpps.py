"""MPPS against a pynetdicom SCP (Orthanc has none): N-CREATE in progress when an exam starts, N-SET
completed with every image's reference when it ends, discontinued when it produced none."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from protocols.exam_session import ExamSession
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import ExamOrder
from scanner_app.studies.mpps import MppsNotifier
from scanner_app.studies.pacs import PacsDestination
from tests.pacs_scp import TestScp
from tests.studies_support import make_frame

ORDER = ExamOrder("ACC-MPPS-1", "House^Greg", "US KNEE RIGHT", "1.2.826.0.1.3680043.8.498.777")


def _dest(scp: TestScp, *, mpps: bool = True) -> PacsDestination:
    return PacsDestination("ris", "127.0.0.1", scp.port, scp.ae_title, "SCANNERAPP", mpps=mpps)


def test_exam_is_in_progress_then_completed_with_its_images(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    with TestScp("RIS", mpps=True) as scp:
        notifier = MppsNotifier([_dest(scp)], timeout_s=5.0)
        try:
            session = ExamSession.start(
                store, Patient("P-M", "Doe^Jane", "19700101", "F"), "Op^One", order=ORDER
            )
            notifier.started(session.study)
            assert notifier.wait_idle(10.0)
            [(kind, uid)] = scp.mpps_requests
            step = scp.mpps[uid]
            assert kind == "N-CREATE" and step.PerformedProcedureStepStatus == "IN PROGRESS"
            scheduled = step.ScheduledStepAttributesSequence[0]
            assert scheduled.AccessionNumber == "ACC-MPPS-1" and scheduled.StudyInstanceUID == ORDER.study_uid
            assert (
                step.PatientID == "P-M"
                and step.Modality == "US"
                and step.PerformedStationAETitle == "SCANNERAPP"
            )
            stills = [store.save_still(session.study, make_frame(i)) for i in range(2)]
            clip = store.save_clip(session.study, [make_frame(10 + i) for i in range(3)])
            session.end()
            notifier.ended(store.get_study(session.study.study_uid))
            assert notifier.wait_idle(10.0)
        finally:
            notifier.close()
    assert notifier.errors == []
    assert [k for k, _ in scp.mpps_requests] == ["N-CREATE", "N-SET"]
    assert step.PerformedProcedureStepStatus == "COMPLETED"
    assert step.PerformedProcedureStepEndDate != ""
    referenced = {
        ref.ReferencedSOPInstanceUID: ref.ReferencedSOPClassUID
        for series in step.PerformedSeriesSequence
        for ref in series.ReferencedImageSequence
    }
    assert referenced == {
        **{s.sop_instance_uid: "1.2.840.10008.5.1.4.1.1.6.1" for s in stills},
        clip.sop_instance_uid: "1.2.840.10008.5.1.4.1.1.3.1",
    }
    series_uids = {series.SeriesInstanceUID for series in step.PerformedSeriesSequence}
    assert series_uids == {c.series_uid for c in store.list_captures(session.study.study_uid)}
    store.close()


def test_an_exam_without_images_is_discontinued(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    with TestScp("RIS", mpps=True) as scp:
        notifier = MppsNotifier([_dest(scp)], timeout_s=5.0)
        try:
            session = ExamSession.start(store, Patient("P-D"), "Op^One")
            notifier.started(session.study)
            session.end()
            notifier.ended(store.get_study(session.study.study_uid))
            assert notifier.wait_idle(10.0)
        finally:
            notifier.close()
    [step] = scp.mpps.values()
    assert step.PerformedProcedureStepStatus == "DISCONTINUED"
    assert list(step.PerformedSeriesSequence) == []
    assert [status.value for _, _, status in notifier.sent] == ["IN PROGRESS", "DISCONTINUED"]
    store.close()


def test_a_destination_without_mpps_is_named_and_others_are_left_alone(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    with TestScp("PLAIN") as plain, TestScp("NOTASKED", mpps=True) as not_asked:
        notifier = MppsNotifier([_dest(plain), _dest(not_asked, mpps=False)], timeout_s=5.0)
        try:
            session = ExamSession.start(store, Patient("P-E"), "Op^One")
            notifier.started(session.study)
            assert notifier.wait_idle(10.0)
        finally:
            notifier.close()
    [error] = notifier.errors
    assert "PLAIN@" in error and "accepts none" in error and "Modality Performed Procedure Step" in error
    assert not_asked.mpps_requests == []  # not configured for MPPS: never told
    store.close()


def test_the_exam_controller_tells_the_mpps_destination_of_the_pacs_tab(tmp_path: Path, qtbot: QtBot) -> None:
    from ui.exam_dialog import ExamRequest
    from ui.exam_dock import ExamController
    from ui.pacs_panel import save_destinations

    store = StudyStore(tmp_path / "store")
    config = tmp_path / "pacs.json"
    with TestScp("RIS", mpps=True) as scp:
        save_destinations(config, [_dest(scp)])
        exams = ExamController(store, operator="Op^One", pacs_config=config)
        request = ExamRequest(Patient("P-C", "Roe^Rita"), "Op^One", "", "", None, None, "left", False, ORDER)
        exams.start_exam(request)
        assert exams.session is not None
        store.save_still(exams.session.study, make_frame(3))
        exams.end_exam()
        exams.close()  # hands the end over, then waits for the notifier
        assert [k for k, _ in scp.mpps_requests] == ["N-CREATE", "N-SET"]
        [step] = scp.mpps.values()
    assert step.PerformedProcedureStepStatus == "COMPLETED"
    assert step.ScheduledStepAttributesSequence[0].AccessionNumber == ORDER.accession_number
    assert len(step.PerformedSeriesSequence[0].ReferencedImageSequence) == 1
    store.close()


def test_a_restart_mid_exam_still_ends_the_same_step(tmp_path: Path) -> None:
    with TestScp("RIS", mpps=True) as scp:
        store = StudyStore(tmp_path)
        notifier = MppsNotifier([_dest(scp)], timeout_s=5.0, store_root=tmp_path)
        try:
            session = ExamSession.start(store, Patient("P-R", "Doe^Jane"), "Op^One", order=ORDER)
            notifier.started(session.study)
            assert notifier.wait_idle(10.0)
            session.keep_open()
        finally:
            notifier.close()
            store.close()
        # The app starts again: a new store on the same folder, a new notifier, no memory of the step.
        store = StudyStore(tmp_path)
        notifier = MppsNotifier([_dest(scp)], timeout_s=5.0, store_root=tmp_path)
        try:
            study = store.get_study(session.study.study_uid)
            assert notifier.in_progress(study)
            clip = store.save_clip(study, [make_frame(i) for i in range(3)])
            notifier.started(study)  # the exam resumed: the same step goes on, no second N-CREATE
            store.end_study(study)
            notifier.ended(store.get_study(study.study_uid))
            assert notifier.wait_idle(10.0)
            assert not notifier.in_progress(store.get_study(study.study_uid))
        finally:
            notifier.close()
            store.close()
    assert notifier.errors == []
    [(create, uid), (set_, set_uid)] = scp.mpps_requests
    assert (create, set_, set_uid) == ("N-CREATE", "N-SET", uid)
    step = scp.mpps[uid]
    assert step.PerformedProcedureStepStatus == "COMPLETED"
    refs = [
        r.ReferencedSOPInstanceUID for s in step.PerformedSeriesSequence for r in s.ReferencedImageSequence
    ]
    assert refs == [clip.sop_instance_uid]


def test_an_exam_whose_end_the_ris_missed_is_told_at_the_next_start(tmp_path: Path, qtbot: QtBot) -> None:
    from ui.exam_dialog import ExamRequest
    from ui.exam_dock import ExamController
    from ui.pacs_panel import save_destinations

    store = StudyStore(tmp_path / "store")
    config = tmp_path / "pacs.json"
    request = ExamRequest(Patient("P-X", "Roe^Rita"), "Op^One", "", "", None, None, "left", False, ORDER)
    with TestScp("RIS", mpps=True) as scp:
        save_destinations(config, [_dest(scp)])
        exams = ExamController(store, operator="Op^One", pacs_config=config)
        exams.start_exam(request)
        assert exams.session is not None
        study_uid = exams.session.study.study_uid
        qtbot.waitUntil(lambda: [k for k, _ in scp.mpps_requests] == ["N-CREATE"], timeout=10000)
    # The RIS is down when the exam ends (no images: discontinued), so its N-SET fails.
    exams.end_exam()
    exams.close()
    assert store.get_study(study_uid).ended_at is not None
    assert exams.finish_mpps_steps() == 1  # still in progress as far as the RIS knows
    exams.close()
    # The next start, with the RIS back (its steps kept): the same step is ended, once.
    with TestScp("RIS", mpps=True, port=scp.port) as back:
        back.mpps = scp.mpps
        again = ExamController(store, operator="Op^One", pacs_config=config)
        assert again.finish_mpps_steps() == 1
        again.close()
        assert [k for k, _ in back.mpps_requests] == ["N-SET"]
        third = ExamController(store, operator="Op^One", pacs_config=config)
        assert third.finish_mpps_steps() == 0  # told: nothing left to finish
        third.close()
    [step] = back.mpps.values()
    assert step.PerformedProcedureStepStatus == "DISCONTINUED"
    store.close()
