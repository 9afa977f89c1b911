"""PACS: C-ECHO and the persistent C-STORE queue against a real Orthanc started by the test."""

from __future__ import annotations

import io
import queue
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest

from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import (
    PacsDestination,
    PacsSender,
    SendState,
    SendStatus,
    load_destinations,
    verify,
)
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.studies_support import make_frame

TIMEOUT_S = 20.0


def _dest(server: OrthancServer, calling_ae: str = CALLING_AE) -> PacsDestination:
    return PacsDestination("test-pacs", "127.0.0.1", server.dicom_port, server.aet, calling_ae)


def _study_with_captures(root: Path, stills: int = 2) -> tuple[StudyStore, list[str]]:
    store = StudyStore(root)
    study = store.start_study(Patient("P-PACS", "Pacs^Pat"), "Op^One")
    for i in range(stills):
        store.save_still(study, make_frame(i), {"laterality": "R", "body_part": "KNEE"})
    store.save_clip(study, [make_frame(100 + i) for i in range(4)], {"laterality": "R", "body_part": "KNEE"})
    return store, [c.sop_instance_uid for c in store.list_captures()]


class _Events:
    """Collects `status_changed` from the sender thread; tests wait on it with a timeout."""

    def __init__(self) -> None:
        self.queue: queue.Queue[SendState] = queue.Queue()
        self.seen: list[SendState] = []

    def __call__(self, state: SendState) -> None:
        self.queue.put(state)

    def wait_for(self, status: SendStatus, uids: set[str], timeout_s: float = TIMEOUT_S) -> None:
        pending = set(uids)
        while pending:
            try:
                state = self.queue.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(
                    f"no {status} for {len(pending)} capture(s) within {timeout_s} s"
                ) from None
            self.seen.append(state)
            if state.status == status:
                pending.discard(state.sop_instance_uid)

    def wait_attempted(self, uids: set[str], timeout_s: float = TIMEOUT_S) -> None:
        """Wait until every capture has had at least one failed attempt (still queued, with a reason)."""
        pending = set(uids)
        while pending:
            state = self.queue.get(timeout=timeout_s)
            self.seen.append(state)
            if state.status == SendStatus.QUEUED and state.attempts >= 1:
                assert state.last_error
                pending.discard(state.sop_instance_uid)


@pytest.mark.orthanc
def test_echo(orthanc: OrthancServer) -> None:  # noqa: F811
    result = verify(_dest(orthanc))
    assert result.ok, result.message
    refused = verify(_dest(orthanc, calling_ae="STRANGER"))
    assert not refused.ok and "test-pacs" in refused.message


def test_echo_to_nothing_fails_clearly() -> None:
    from tests.orthanc_fixture import _free_port

    port = _free_port()
    result = verify(PacsDestination("nowhere", "127.0.0.1", port, "NOBODY"), timeout_s=2.0)
    assert not result.ok and f"127.0.0.1:{port}" in result.message


@pytest.mark.orthanc
def test_study_arrives_in_orthanc_with_the_same_pixels(orthanc: OrthancServer, tmp_path: Path) -> None:  # noqa: F811
    store, uids = _study_with_captures(tmp_path / "store")
    events = _Events()
    sender = PacsSender(store.root, _dest(orthanc), base_delay_s=0.05)
    sender.status_changed.connect(events)
    sender.start()
    try:
        assert sender.enqueue(store.list_captures()) == len(uids)
        events.wait_for(SendStatus.SENT, set(uids))
    finally:
        sender.close()
    assert sorted(orthanc.sop_instance_uids()) == sorted(uids)
    for record in store.list_captures():
        mine = store.read_dataset(record)
        oid = next(
            i
            for i in orthanc.get("/instances")
            if orthanc.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] == record.sop_instance_uid
        )
        theirs = pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{oid}/file")))
        np.testing.assert_array_equal(theirs.pixel_array, mine.pixel_array)
        assert (
            theirs.SequenceOfUltrasoundRegions[0].PhysicalDeltaX
            == mine.SequenceOfUltrasoundRegions[0].PhysicalDeltaX
        )
    assert all(s.status == SendStatus.SENT and s.attempts == 1 for s in _states(store.root, orthanc))
    store.close()


def _states(root: Path, server: OrthancServer) -> list[SendState]:
    sender = PacsSender(root, _dest(server))
    try:
        return sender.states()
    finally:
        sender.close()


@pytest.mark.orthanc
def test_queue_waits_for_a_stopped_pacs_and_delivers_exactly_once_after_restart(
    orthanc: OrthancServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    store, uids = _study_with_captures(root, stills=3)
    orthanc.stop()

    events = _Events()
    sender = PacsSender(root, _dest(orthanc), base_delay_s=0.05, max_delay_s=0.2, timeout_s=2.0)
    sender.status_changed.connect(events)
    sender.start()
    try:
        sender.enqueue(store.list_captures())
        events.wait_attempted(set(uids))
    finally:
        sender.close()
    states = _states(root, orthanc)
    assert {s.status for s in states} == {SendStatus.QUEUED}
    assert all("test-pacs" in s.last_error for s in states)
    store.close()

    # "Restart" the app: a new store and a new sender over the same folder; the queue is in the index.
    orthanc.start()
    store = StudyStore(root)
    events = _Events()
    sender = PacsSender(root, _dest(orthanc), base_delay_s=0.05)
    sender.status_changed.connect(events)
    sender.start()
    try:
        sender.retry_now()
        events.wait_for(SendStatus.SENT, set(uids))
        # Queue everything again, twice: nothing already sent goes out a second time.
        assert sender.enqueue(store.list_captures()) == 0
        assert sender.enqueue(store.list_captures()) == 0
    finally:
        sender.close()
    sent_events = Counter(s.sop_instance_uid for s in events.seen if s.status == SendStatus.SENT)
    assert sent_events == Counter({uid: 1 for uid in uids})
    assert sorted(orthanc.sop_instance_uids()) == sorted(uids)
    assert orthanc.new_instance_events() == len(uids)
    assert {s.status for s in _states(root, orthanc)} == {SendStatus.SENT}
    store.close()


@pytest.mark.orthanc
def test_refused_calling_ae_stays_queued_with_reason(orthanc: OrthancServer, tmp_path: Path) -> None:  # noqa: F811
    store, _ = _study_with_captures(tmp_path / "store", stills=1)
    sender = PacsSender(store.root, _dest(orthanc, calling_ae="STRANGER"), base_delay_s=60.0)
    try:
        sender.enqueue(store.list_captures())
        delay = sender.send_due()  # one pass without the thread
        assert delay is not None and delay > 30
        states = sender.states()
        assert {s.status for s in states} == {SendStatus.QUEUED}
        assert all("rejected" in s.last_error or "aborted" in s.last_error for s in states), states
    finally:
        sender.close()
    assert orthanc.sop_instance_uids() == []
    store.close()


def test_destination_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="AE title"):
        PacsDestination("x", "h", 104, "A" * 17)
    with pytest.raises(StudyError, match="port"):
        PacsDestination("x", "h", 0, "PACS")
    path = tmp_path / "pacs.json"
    path.write_text('[{"name": "main", "host": "pacs.local", "port": 11112, "called_ae": "ORTHANC"}]')
    (dest,) = load_destinations(path)
    assert dest == PacsDestination("main", "pacs.local", 11112, "ORTHANC", "SCANNERAPP")
    path.write_text('[{"name": "main"}]')
    with pytest.raises(StudyError, match=r"pacs.json: destination 1 \('main'\): field 'host' is missing"):
        load_destinations(path)


def test_missing_orthanc_fails_instead_of_skipping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nowhere to find Orthanc
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y orthanc"):
        OrthancServer(tmp_path / "orthanc")


def test_a_pacs_that_does_not_take_clips_marks_them_failed_not_queued_forever(tmp_path: Path) -> None:
    """A receiver that accepts only still images: the clip needs a person, not endless retries."""
    import socket

    from pynetdicom import AE, evt

    from scanner_app.studies.dicom_writer import US_IMAGE_STORAGE

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scp = AE(ae_title="ONLYSTILL")
    scp.network_timeout = scp.acse_timeout = 2  # its association threads end soon after the sender lets go
    scp.add_supported_context(US_IMAGE_STORAGE)
    server = scp.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda e: 0x0000)]
    )
    try:
        store = StudyStore(tmp_path)
        study = store.start_study(Patient("P1", "A^B"), "Op")
        still = store.save_still(study, make_frame(1))
        clip_record = store.save_clip(study, [make_frame(i) for i in range(3)])
        sender = PacsSender(
            tmp_path, PacsDestination("still-only", "127.0.0.1", port, "ONLYSTILL"), timeout_s=5
        )
        sender.enqueue_study(store.get_study(study.study_uid))
        sender.send_due()
        by_uid = {s.sop_instance_uid: s for s in sender.states()}
        assert by_uid[still.sop_instance_uid].status == SendStatus.SENT
        clip = by_uid[clip_record.sop_instance_uid]
        assert clip.status == SendStatus.FAILED
        assert "does not accept" in clip.last_error and "Multi-frame" in clip.last_error
        sender.close()
        store.close()
    finally:
        server.shutdown()
        for thread in threading.enumerate():
            if thread.name.startswith("AcceptorThread"):
                thread.join(10)
