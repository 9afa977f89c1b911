"""Storage Commitment (PS3.4 J): after a study is sent, ask the PACS to take responsibility for its
instances (N-ACTION) and hear which it committed (N-EVENT-REPORT, which a PACS such as Orthanc sends
on an association of its own to this scanner's AE title, host and port).

`CommitmentListener` is that scanner-side SCP: it keeps every report by transaction UID, and
`wait_for` hands one over. Not yet here: keeping "committed" per image in the index, the PACS tab's
column, and the retention rule that deletes only committed studies.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]

from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, _associate, _make_ae

# The well-known SOP Instance of the Storage Commitment Push Model (PS3.4 J.3.1).
COMMITMENT_INSTANCE_UID = "1.2.840.10008.1.20.1.1"
_REQUEST_COMMITMENT = 1  # N-ACTION type
_EVENT_ALL_COMMITTED, _EVENT_SOME_FAILED = 1, 2


@dataclass(frozen=True, slots=True)
class CommitmentResult:
    """What the PACS said of one request: the instances it committed, and those it did not."""

    transaction_uid: str
    committed: tuple[str, ...]
    failed: tuple[str, ...]


def request_commitment(
    dest: PacsDestination, instances: Sequence[tuple[str, str]], *, timeout_s: float = 10.0
) -> str:
    """Ask `dest` to commit the instances ((SOP Class UID, SOP Instance UID) each); returns the
    transaction UID its report will carry. StudyError when it refuses or cannot be asked."""
    if not instances:
        raise StudyError("storage commitment: no instances to commit")
    transaction_uid = str(generate_uid())
    info = Dataset()
    info.TransactionUID = transaction_uid
    refs = []
    for sop_class, sop_uid in instances:
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = sop_uid
        refs.append(ref)
    info.ReferencedSOPSequence = refs
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc, failure = _associate(ae, dest)
    if assoc is None:
        assert failure is not None
        raise StudyError(f"storage commitment: {failure.message}")
    try:
        status, _reply = assoc.send_n_action(
            info, _REQUEST_COMMITMENT, StorageCommitmentPushModel, COMMITMENT_INSTANCE_UID
        )
        code = getattr(status, "Status", None) if status else None
        if code is None:
            raise StudyError(f"storage commitment: no answer from {dest.describe()}")
        if code != 0x0000:
            raise StudyError(f"storage commitment: {dest.describe()} refused it (status 0x{code:04X})")
    finally:
        if assoc.is_established:
            assoc.release()
    return transaction_uid


def _uids(ds: Dataset, keyword: str) -> tuple[str, ...]:
    return tuple(str(item.ReferencedSOPInstanceUID) for item in ds.get(keyword) or [])


class CommitmentListener:
    """The scanner's Storage Commitment SCU side that takes the PACS's N-EVENT-REPORTs on `port`."""

    def __init__(self, ae_title: str, host: str, port: int) -> None:
        self.ae_title, self.host, self.port = ae_title, host, port
        self._results: dict[str, CommitmentResult] = {}
        self._arrived = threading.Condition()
        self._ae = AE(ae_title=ae_title)
        self._ae.network_timeout = 5  # its association threads end soon after the PACS lets go
        # The PACS opens this association as the Storage Commitment SCP (it proposes that role).
        self._ae.add_supported_context(StorageCommitmentPushModel, scu_role=False, scp_role=True)
        self._server: Any = None

    def _on_report(self, event: Any) -> tuple[int, Dataset | None]:
        info = event.event_information
        event_type = int(event.request.EventTypeID or 0)
        if event_type not in (_EVENT_ALL_COMMITTED, _EVENT_SOME_FAILED) or "TransactionUID" not in info:
            return 0x0113, None  # no such event type
        result = CommitmentResult(
            str(info.TransactionUID), _uids(info, "ReferencedSOPSequence"), _uids(info, "FailedSOPSequence")
        )
        with self._arrived:
            self._results[result.transaction_uid] = result
            self._arrived.notify_all()
        return 0x0000, None

    def start(self) -> CommitmentListener:
        self._server = self._ae.start_server(
            (self.host, self.port), block=False, evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._on_report)]
        )
        return self

    def wait_for(self, transaction_uid: str, timeout_s: float) -> CommitmentResult | None:
        """The report of one request, once it has come (None if not within `timeout_s`)."""
        with self._arrived:
            self._arrived.wait_for(lambda: transaction_uid in self._results, timeout_s)
            return self._results.get(transaction_uid)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
