"""A small PACS with Storage Commitment for tests: a pynetdicom Storage SCP that answers each N-ACTION
with the status the test sets and then, like Orthanc, sends its N-EVENT-REPORT on an association of
its own to the scanner's listener: committed what it stored, failed what it did not or was told to
refuse. Stop it so its threads are joined before the test ends."""

from __future__ import annotations

import threading
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]

from scanner_app.studies.commitment import COMMITMENT_INSTANCE_UID
from scanner_app.studies.dicom_writer import US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE
from tests.orthanc_fixture import _free_port

NO_SUCH_INSTANCE = 0x0112


class CommitmentScp:
    """`report_to` is the scanner's listener (host, port); `refuse` the instances it reports failed;
    `action_status` its answer to the N-ACTION; without `commitment` it offers no such service."""

    __test__ = False

    def __init__(
        self,
        report_to: tuple[str, int],
        *,
        ae_title: str = "COMMITSCP",
        action_status: int = 0x0000,
        refuse: frozenset[str] = frozenset(),
        commitment: bool = True,
    ) -> None:
        self.ae_title = ae_title
        self.port = _free_port()
        self.report_to = report_to
        self.action_status = action_status
        self.refuse = refuse
        self.stored: set[str] = set()
        self.requests: list[tuple[str, tuple[str, ...]]] = []  # (transaction UID, instances asked)
        self._lock = threading.Lock()
        self._reporters: list[threading.Thread] = []
        self._ae = AE(ae_title=ae_title)
        self._ae.network_timeout = 5
        for sop_class in (US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE):
            self._ae.add_supported_context(sop_class)
        if commitment:
            self._ae.add_supported_context(StorageCommitmentPushModel)
        self._server: Any = None

    def _on_store(self, event: Any) -> int:
        with self._lock:
            self.stored.add(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    def _on_n_action(self, event: Any) -> tuple[int, Dataset | None]:
        info = event.action_information
        asked = tuple(str(r.ReferencedSOPInstanceUID) for r in info.ReferencedSOPSequence)
        with self._lock:
            self.requests.append((str(info.TransactionUID), asked))
        if self.action_status == 0x0000:
            refs = {
                str(r.ReferencedSOPInstanceUID): str(r.ReferencedSOPClassUID)
                for r in info.ReferencedSOPSequence
            }
            reporter = threading.Thread(
                target=self._report, args=(str(info.TransactionUID), refs), name="commit-scp-report"
            )
            self._reporters.append(reporter)
            reporter.start()
        return self.action_status, None

    def _report(self, transaction_uid: str, refs: dict[str, str]) -> None:
        with self._lock:
            kept = {uid for uid in refs if uid in self.stored and uid not in self.refuse}
        report = Dataset()
        report.TransactionUID = transaction_uid
        ok, failed = [], []
        for uid, sop_class in refs.items():
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = uid
            if uid in kept:
                ok.append(item)
            else:
                item.FailureReason = NO_SUCH_INSTANCE
                failed.append(item)
        report.ReferencedSOPSequence = ok
        if failed:
            report.FailedSOPSequence = failed
        ae = AE(ae_title=self.ae_title)
        ae.network_timeout = 5
        ae.add_requested_context(StorageCommitmentPushModel)
        role = build_role(StorageCommitmentPushModel, scp_role=True, scu_role=False)
        assoc = ae.associate(*self.report_to, ae_title="SCANNERAPP", ext_neg=[role])
        if assoc.is_established:
            assoc.send_n_event_report(
                report, 2 if failed else 1, StorageCommitmentPushModel, COMMITMENT_INSTANCE_UID
            )
            assoc.release()

    def start(self) -> CommitmentScp:
        self._server = self._ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, self._on_store), (evt.EVT_N_ACTION, self._on_n_action)],
        )
        return self

    def stop(self) -> None:
        for reporter in self._reporters:
            reporter.join(10)
        if self._server is not None:
            self._server.shutdown()
            self._server = None
