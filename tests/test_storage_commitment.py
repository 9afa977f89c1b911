"""Storage Commitment end to end: a study sent from the PACS tab is committed by a real Orthanc (its
N-EVENT-REPORT on its own association), shown as such and remembered across a restart; refusals show
as failed, a PACS without the service as not supported; only committed, ended studies are deleted,
by hand or by the retention rule."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from scanner_app.studies import StudyStore
from scanner_app.studies.commitment import CommitmentService, CommitmentState
from scanner_app.studies.model import CommitmentStatus, Study, StudyError, StudyNotDeletable
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendStatus
from scanner_app.studies.retention import apply_retention
from tests.commitment_scp import CommitmentScp
from tests.orthanc_fixture import CALLING_AE, OrthancServer, _free_port
from tests.studies_support import capture_uids, stored_study
from ui.pacs_panel import PacsPanel

TIMEOUT_MS = 30000


def _write_config(path: Path, *destinations: PacsDestination) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([d.to_json() for d in destinations]))
    return path


def _join_dicom_threads() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(("AcceptorThread", "RequestorThread")):
            thread.join(10)


def _send(store: StudyStore, dest: PacsDestination, *studies: Study) -> None:
    """Send the studies' images through the real send queue (as the PACS tab's sender does)."""
    sender = PacsSender(store.root, dest, timeout_s=5)
    try:
        for study in studies:
            sender.enqueue_study(store.get_study(study.study_uid))
        sender.send_due()
        assert {s.status for s in sender.states()} == {SendStatus.SENT}
    finally:
        sender.close()


def _commit(service: CommitmentService, count: int) -> list[CommitmentState]:
    """Run `service` until `count` instances have a final answer; returns those answers."""
    final: list[CommitmentState] = []
    done = threading.Condition()

    def heard(state: CommitmentState) -> None:
        with done:
            if state.status is not CommitmentStatus.REQUESTED:
                final.append(state)
                done.notify_all()

    service.status_changed.connect(heard)
    service.start()
    with done:
        assert done.wait_for(lambda: len(final) >= count, timeout=TIMEOUT_MS / 1000), final
    return final


def test_an_open_or_uncommitted_study_is_not_deleted(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "studies")
    study = stored_study(store, "P-KEEP", "Commit^Pat", end=False)
    with pytest.raises(StudyNotDeletable, match="still open"):
        store.delete_study(study.study_uid)
    store.end_study(study)
    with pytest.raises(StudyNotDeletable) as err:
        store.delete_study(study.study_uid)
    message = str(err.value)
    assert study.study_id in message and "P-KEEP" in message, message
    assert "2 of 2 image(s) not committed by any PACS (#1 still, #2 clip)" in message
    assert store.get_study(study.study_uid).captures and (store.root / study.directory).is_dir()
    years_later = datetime.now().astimezone() + timedelta(days=3650)
    assert apply_retention(store, 30, now=years_later).deleted == ()
    assert [s.study_uid for s in store.list_studies()] == [study.study_uid]
    store.close()


def test_the_tab_shows_committed_failed_and_not_supported(qtbot: QtBot, tmp_path: Path) -> None:
    """One PACS commits the still and not the clip, one refuses the request, one has no such service,
    and one is not set up for it: none of the last three may ever show "committed"."""
    store = StudyStore(tmp_path / "studies")
    study = stored_study(store, "P-MIX", "Commit^Pat")
    still, clip = capture_uids(store, study)
    listen = ("127.0.0.1", _free_port())
    scps = {
        "partial": CommitmentScp(listen, refuse=frozenset({clip})),
        "says-no": CommitmentScp(listen, action_status=0x0110),
        "no-service": CommitmentScp(listen, commitment=False),
        "not-asked": CommitmentScp(listen),
    }
    for scp in scps.values():
        scp.start()
    config = _write_config(
        tmp_path / "pacs.json",
        *(
            PacsDestination(
                name, "127.0.0.1", scp.port, scp.ae_title, CALLING_AE, commitment=name != "not-asked"
            )
            for name, scp in scps.items()
        ),
    )
    panel = PacsPanel(store, config, lambda: study.study_uid, commitment_listen=listen)
    qtbot.addWidget(panel)
    try:
        assert panel.commitments is not None
        for row in range(len(scps)):
            panel.dest_list.setCurrentRow(row)
            assert panel.send_selected_study() == 2
        expected = {
            (still, "partial"): "committed",
            (clip, "partial"): "failed",
            (still, "says-no"): "failed",
            (clip, "says-no"): "failed",
            (still, "no-service"): "not supported",
            (clip, "no-service"): "not supported",
            (still, "not-asked"): "not supported",
            (clip, "not-asked"): "not supported",
        }

        def shown() -> dict[tuple[str, str], str]:
            return {key: panel.commitment_of(*key) for key in expected}

        qtbot.waitUntil(lambda: shown() == expected, timeout=TIMEOUT_MS)
        assert scps["not-asked"].requests == []
        asked = [uid for _, uids in scps["partial"].requests for uid in uids]
        assert sorted(asked) == sorted([still, clip])  # each asked once
        qtbot.waitUntil(
            lambda: panel.commitment_label.text() == "Study: 1 of 2 image(s) committed", timeout=TIMEOUT_MS
        )
        reasons = {(c.sop_instance_uid, c.destination): c.reason for c in store.commitments(study.study_uid)}
        assert "the PACS has no such instance" in reasons[(clip, "partial")]
        assert "refused the commitment request (status 0x0110)" in reasons[(still, "says-no")]
        assert "does not support storage commitment" in reasons[(still, "no-service")]
        assert store.uncommitted(study.study_uid) == ["#2 clip"]
        with pytest.raises(
            StudyNotDeletable, match=r"1 of 2 image\(s\) not committed by any PACS \(#2 clip\)"
        ):
            store.delete_study(study.study_uid)
        # The PACS has the clip again once it is resent: asked again, it commits it.
        scps["partial"].refuse = frozenset()
        panel.dest_list.setCurrentRow(0)
        assert panel.resend_selected_study() == 2
        qtbot.waitUntil(lambda: panel.commitment_of(clip, "partial") == "committed", timeout=TIMEOUT_MS)
        assert store.uncommitted(study.study_uid) == []
        qtbot.waitUntil(
            lambda: panel.commitment_label.text() == "Study committed: all 2 image(s) kept by PACS",
            timeout=TIMEOUT_MS,
        )
    finally:
        panel.shutdown()
        for scp in scps.values():
            scp.stop()
        store.close()
        _join_dicom_threads()


@pytest.mark.orthanc
def test_a_sent_study_is_committed_by_orthanc_shown_and_remembered(qtbot: QtBot, tmp_path: Path) -> None:
    listen_port = _free_port()
    server = OrthancServer(tmp_path / "orthanc", modality_port=listen_port)
    server.start()
    store = StudyStore(tmp_path / "studies")
    study = stored_study(store, "P-COMMIT", "Commit^Pat")
    uids = capture_uids(store, study)
    config = tmp_path / "config" / "pacs.json"
    listen = ("127.0.0.1", listen_port)
    try:
        panel = PacsPanel(store, config, lambda: study.study_uid, commitment_listen=listen)
        qtbot.addWidget(panel)
        try:
            panel.name_edit.setText("orthanc")
            panel.host_edit.setText("127.0.0.1")
            panel.port_spin.setValue(server.dicom_port)
            panel.called_edit.setText(server.aet)
            panel.calling_edit.setText(CALLING_AE)
            panel.commitment_check.setChecked(True)
            assert panel.save_destination()
            assert json.loads(config.read_text())[0]["commitment"] is True
            assert panel.send_selected_study() == 2
            qtbot.waitUntil(
                lambda: all(panel.commitment_of(uid, "orthanc") == "committed" for uid in uids),
                timeout=TIMEOUT_MS,
            )
            qtbot.waitUntil(
                lambda: panel.commitment_label.text() == "Study committed: all 2 image(s) kept by PACS",
                timeout=TIMEOUT_MS,
            )
        finally:
            panel.shutdown()
        store.close()
        # The next start: the index still says who committed what, and when.
        store = StudyStore(tmp_path / "studies")
        kept = store.commitments(study.study_uid)
        assert sorted(c.sop_instance_uid for c in kept) == sorted(uids)
        assert {(c.status, c.destination, c.called_ae) for c in kept} == {
            (CommitmentStatus.COMMITTED, "orthanc", server.aet)
        }
        assert all(abs(datetime.now().astimezone() - c.updated_at) < timedelta(minutes=5) for c in kept)
        assert store.uncommitted(study.study_uid) == []
        again = PacsPanel(store, config, lambda: study.study_uid, commitment_listen=listen)
        qtbot.addWidget(again)
        try:
            assert all(again.commitment_of(uid, "orthanc") == "committed" for uid in uids)
        finally:
            again.shutdown()
    finally:
        store.close()
        server.stop()
        _join_dicom_threads()


def _delete_from_orthanc(server: OrthancServer, sop_instance_uid: str) -> None:
    """A PACS that lost an instance: removed through Orthanc's REST API."""
    found = urllib.request.Request(
        server.url + "/tools/lookup", data=sop_instance_uid.encode(), method="POST"
    )
    with urllib.request.urlopen(found, timeout=10) as resp:
        orthanc_id = json.loads(resp.read())[0]["ID"]
    with urllib.request.urlopen(
        urllib.request.Request(f"{server.url}/instances/{orthanc_id}", method="DELETE"), timeout=10
    ):
        pass


@pytest.mark.orthanc
def test_a_request_unanswered_at_restart_is_asked_again_and_a_lost_instance_fails(tmp_path: Path) -> None:
    listen_port = _free_port()
    server = OrthancServer(tmp_path / "orthanc", modality_port=listen_port)
    server.start()
    store = StudyStore(tmp_path / "studies")
    study = stored_study(store, "P-AGAIN", "Commit^Pat")
    still, clip = capture_uids(store, study)
    dest = PacsDestination("orthanc", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE, commitment=True)
    try:
        _send(store, dest, study)
        # The app asks, then stops before any report could reach it (no listener).
        first = CommitmentService(store.root, "127.0.0.1", listen_port)
        first.set_destinations([dest])
        first.request_due()
        assert {s.status for s in first.states()} == {CommitmentStatus.REQUESTED}
        first.close()
        _delete_from_orthanc(server, clip)
        second = CommitmentService(store.root, "127.0.0.1", listen_port)
        second.set_destinations([dest])
        try:
            answers = {s.sop_instance_uid: s for s in _commit(second, 2)}
        finally:
            second.close()
        assert answers[still].status is CommitmentStatus.COMMITTED
        assert answers[clip].status is CommitmentStatus.FAILED and "did not commit it" in answers[clip].reason
        assert store.uncommitted(study.study_uid) == ["#2 clip"]
    finally:
        store.close()
        server.stop()
        _join_dicom_threads()


@pytest.mark.orthanc
def test_retention_deletes_only_committed_ended_studies_older_than_its_days(
    qtbot: QtBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    listen_port = _free_port()
    server = OrthancServer(tmp_path / "orthanc", modality_port=listen_port)
    server.start()
    clock = {"now": datetime.now().astimezone() - timedelta(days=40)}
    store = StudyStore(tmp_path / "studies", now=lambda: clock["now"])
    old_committed = stored_study(store, "P-OLD-SENT", "Commit^Pat")
    old_uncommitted = stored_study(store, "P-OLD-KEPT", "Commit^Pat")
    old_open = stored_study(store, "P-OLD-OPEN", "Commit^Pat", end=False)
    clock["now"] = datetime.now().astimezone() - timedelta(days=2)
    recent_committed = stored_study(store, "P-RECENT", "Commit^Pat")
    dest = PacsDestination("orthanc", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE, commitment=True)
    config = _write_config(tmp_path / "pacs.json", dest)
    sent = (old_committed, old_open, recent_committed)
    panel = PacsPanel(store, config, commitment_listen=("127.0.0.1", listen_port), retention_days=30)
    qtbot.addWidget(panel)
    caplog.set_level(logging.INFO, logger="scanner_app.studies.retention")
    try:
        for study in sent:
            panel.study_combo.setCurrentIndex(panel.study_combo.findData(study.study_uid))
            assert panel.send_selected_study() == 2
        committed = [(uid, "orthanc") for s in (old_open, recent_committed) for uid in capture_uids(store, s)]
        deleted_uids = capture_uids(store, old_committed)
        # After the reports, the retention pass runs by itself (and deletes the old committed study).
        qtbot.waitUntil(
            lambda: panel.last_retention is not None and bool(panel.last_retention.deleted),
            timeout=TIMEOUT_MS,
        )
        qtbot.waitUntil(
            lambda: all(panel.commitment_of(*key) == "committed" for key in committed), timeout=TIMEOUT_MS
        )
        assert panel.run_retention()
        qtbot.waitUntil(lambda: not panel._retention_running, timeout=TIMEOUT_MS)
        left = {s.study_uid for s in store.list_studies()}
        assert left == {old_uncommitted.study_uid, old_open.study_uid, recent_committed.study_uid}
        assert not (store.root / old_committed.directory).exists()
        assert all((store.root / s.directory).is_dir() for s in (old_uncommitted, old_open, recent_committed))
        assert store.uncommitted(old_open.study_uid) == []  # committed, but its exam is still open
        assert f"deleted study {old_committed.study_id} (P-OLD-SENT" in caplog.text
        assert "Retention (30 days): deleted 1 committed study" in panel.retention_label.text()
        assert all(panel.status_of(uid, "orthanc") == "" for uid in deleted_uids)  # its rows gone
        assert old_committed.study_uid not in {
            panel.study_combo.itemData(i) for i in range(panel.study_combo.count())
        }
    finally:
        panel.shutdown()
        store.close()
        server.stop()
        _join_dicom_threads()


@contextlib.contextmanager
def _in_use(folder: Path) -> Iterator[None]:
    """The folder is a mount point (bound read-only onto itself): the system will not move or empty it."""
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount a study folder: {bound.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


def test_a_study_the_system_will_not_delete_is_reported_and_the_others_go(tmp_path: Path) -> None:
    listen = ("127.0.0.1", _free_port())
    scp = CommitmentScp(listen).start()
    clock = {"now": datetime.now().astimezone() - timedelta(days=90)}
    store = StudyStore(tmp_path / "studies", now=lambda: clock["now"])
    stuck, free = stored_study(store, "P-STUCK", "Commit^Pat"), stored_study(store, "P-FREE", "Commit^Pat")
    dest = PacsDestination("scp", "127.0.0.1", scp.port, scp.ae_title, CALLING_AE, commitment=True)
    try:
        _send(store, dest, stuck, free)
        service = CommitmentService(store.root, *listen)
        service.set_destinations([dest])
        try:
            assert {s.status for s in _commit(service, 4)} == {CommitmentStatus.COMMITTED}
        finally:
            service.close()
        stuck_files = sorted(p.name for p in (store.root / stuck.directory).iterdir())
        with _in_use(store.root / stuck.directory):
            report = apply_retention(store, 30)
            assert len(report.deleted) == 1 and "P-FREE" in report.deleted[0]
            assert len(report.failed) == 1 and stuck.study_id in report.failed[0], report
            assert "nothing was deleted" in report.failed[0]
            with pytest.raises(StudyError, match="nothing was deleted"):
                store.delete_study(stuck.study_uid)
        assert [s.study_uid for s in store.list_studies()] == [stuck.study_uid]
        assert not (store.root / free.directory).exists()
        assert sorted(p.name for p in (store.root / stuck.directory).iterdir()) == stuck_files
        assert store.uncommitted(stuck.study_uid) == []
        assert apply_retention(store, 30).deleted  # once the folder is free again
        assert store.list_studies() == [] and not (store.root / stuck.directory).exists()
    finally:
        store.close()
        scp.stop()
        _join_dicom_threads()
