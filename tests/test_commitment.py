"""Storage Commitment with a real Orthanc: N-ACTION for the sent images (and one it never got), and
Orthanc's N-EVENT-REPORT, on its own association to the scanner's listener, names which it holds."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.commitment import CommitmentListener, request_commitment
from scanner_app.studies.dicom_writer import US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE
from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendStatus
from tests.orthanc_fixture import CALLING_AE, OrthancServer, _free_port
from tests.studies_support import make_frame


@pytest.mark.orthanc
def test_orthanc_reports_what_it_committed_and_what_it_does_not_hold(tmp_path: Path) -> None:
    listen_port = _free_port()
    server = OrthancServer(tmp_path / "orthanc", modality_port=listen_port)
    listener = CommitmentListener(CALLING_AE, "127.0.0.1", listen_port).start()
    server.start()
    try:
        store = StudyStore(tmp_path / "store")
        study = store.start_study(Patient("P-SC"), "Op^One")
        records = [
            store.save_still(study, make_frame(1)),
            store.save_clip(study, [make_frame(i) for i in range(3)]),
        ]
        dest = PacsDestination("Orthanc", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE)
        sender = PacsSender(store.root, dest, timeout_s=5)
        try:
            sender.enqueue(records)
            sender.send_due()
            assert {s.status for s in sender.states()} == {SendStatus.SENT}
        finally:
            sender.close()
        never_sent = "1.2.826.0.1.3680043.8.498.99999"
        instances = [
            (US_IMAGE_STORAGE, records[0].sop_instance_uid),
            (US_MULTIFRAME_IMAGE_STORAGE, records[1].sop_instance_uid),
            (US_IMAGE_STORAGE, never_sent),
        ]
        transaction = request_commitment(dest, instances)
        result = listener.wait_for(transaction, timeout_s=20.0)
        assert result is not None, server.log_path.read_text()[-1500:]
        assert sorted(result.committed) == sorted(r.sop_instance_uid for r in records)
        assert result.failed == (never_sent,)
        store.close()
    finally:
        server.stop()
        listener.stop()
        for thread in threading.enumerate():
            if thread.name.startswith(("AcceptorThread", "RequestorThread")):
                thread.join(10)


def test_commitment_of_nothing_or_from_nowhere_fails_with_a_reason() -> None:
    port = _free_port()
    dest = PacsDestination("none", "127.0.0.1", port, "NOBODY")
    with pytest.raises(StudyError, match="no instances"):
        request_commitment(dest, [])
    with pytest.raises(StudyError, match=f"127.0.0.1:{port}"):
        request_commitment(dest, [(US_IMAGE_STORAGE, "1.2.3")], timeout_s=2.0)
