"""Storage Commitment (PS3.4 J): after a study is sent, ask the PACS to take responsibility for its
instances (N-ACTION) and hear which it committed (N-EVENT-REPORT, which a PACS such as Orthanc sends
on an association of its own to this scanner's AE title, host and port).

`CommitmentListener` is that scanner-side SCP. `CommitmentService` asks each destination marked
`commitment` to commit every instance it was sent (the send queue's `sent` rows), and keeps each
answer in the study index (table `commitments`: requested, committed, failed, not supported), so it
survives a restart: a request still unanswered when the app starts (or after `reask_after_s`) is asked
again under a new transaction. The study store deletes only studies whose every instance is committed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]

from scanner_app.events import worker_signal
from scanner_app.studies.model import CommitmentStatus, StudyError
from scanner_app.studies.pacs import IDLE_CHECK_S, PacsDestination, PacsIdentity, _associate, _make_ae
from scanner_app.studies.store import COMMITMENTS_TABLE, INDEX_NAME, connect_index, transaction

log = logging.getLogger(__name__)

# One row per instance and PACS identity: status a CommitmentStatus, the transaction its report will
# name, and when it was asked (epoch seconds; 0: due now). Made on first use, so an index that never
# used storage commitment stays as it was. The study store reads it (deletion, retention).
_TABLE = f"""
CREATE TABLE IF NOT EXISTS {COMMITMENTS_TABLE} (
    sop_instance_uid TEXT NOT NULL,
    called_ae TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    destination TEXT NOT NULL,
    status TEXT NOT NULL,
    transaction_uid TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    requested_at REAL NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sop_instance_uid, called_ae, host, port)
);
"""

# The well-known SOP Instance of the Storage Commitment Push Model (PS3.4 J.3.1).
COMMITMENT_INSTANCE_UID = "1.2.840.10008.1.20.1.1"
_REQUEST_COMMITMENT = 1  # N-ACTION type
_EVENT_ALL_COMMITTED, _EVENT_SOME_FAILED = 1, 2
# Failure Reason (0008,1197) of an instance the PACS did not commit (PS3.4 J.3.2.1.1.2).
FAILURE_REASONS = {
    0x0110: "processing failure",
    0x0112: "the PACS has no such instance",
    0x0119: "SOP class and instance do not match",
    0x0122: "the PACS does not support this kind of image",
    0x0131: "duplicate transaction UID",
    0x0213: "the PACS is out of resources",
}


class CommitmentRefused(StudyError):
    """The PACS answered the commitment request with a failure status: asking again gets the same."""


class CommitmentNotSupported(StudyError):
    """The PACS does not offer Storage Commitment (it refused the service when associating)."""


@dataclass(frozen=True, slots=True)
class CommitmentResult:
    """What the PACS said of one request: the instances it committed, and those it did not (with the
    Failure Reason of each, 0 when it gave none)."""

    transaction_uid: str
    committed: tuple[str, ...]
    failed: tuple[str, ...]
    failure_codes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CommitmentState:
    """Where one instance stands with one destination's Storage Commitment, for the PACS tab."""

    sop_instance_uid: str
    destination: str
    status: CommitmentStatus
    reason: str
    identity: PacsIdentity


def request_commitment(
    dest: PacsDestination,
    instances: Sequence[tuple[str, str]],
    *,
    timeout_s: float = 10.0,
    transaction_uid: str = "",
) -> str:
    """Ask `dest` to commit the instances ((SOP Class UID, SOP Instance UID) each); returns the
    transaction UID its report will carry (`transaction_uid`, or a new one).

    CommitmentNotSupported when the PACS does not offer the service, CommitmentRefused when it
    answers with a failure status, StudyError when it cannot be asked now (unreachable, no answer)."""
    if not instances:
        raise StudyError("storage commitment: no instances to commit")
    transaction_uid = transaction_uid or str(generate_uid())
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
        if failure.unsupported:
            raise CommitmentNotSupported(f"{dest.describe()} does not support storage commitment")
        raise StudyError(f"storage commitment: {failure.message}")
    try:
        status, _reply = assoc.send_n_action(
            info, _REQUEST_COMMITMENT, StorageCommitmentPushModel, COMMITMENT_INSTANCE_UID
        )
        code = getattr(status, "Status", None) if status else None
        if code is None:
            raise StudyError(f"storage commitment: no answer from {dest.describe()}")
        if code != 0x0000:
            raise CommitmentRefused(f"{dest.describe()} refused the commitment request (status 0x{code:04X})")
    finally:
        if assoc.is_established:
            assoc.release()
    return transaction_uid


def _uids(ds: Dataset, keyword: str) -> tuple[str, ...]:
    return tuple(str(item.ReferencedSOPInstanceUID) for item in ds.get(keyword) or [])


class CommitmentListener:
    """The scanner's Storage Commitment SCU side that takes the PACS's N-EVENT-REPORTs on `port`;
    `on_report` (if given) hears each report on the association's thread, else `wait_for` hands it over."""

    def __init__(
        self,
        ae_title: str,
        host: str,
        port: int,
        on_report: Callable[[CommitmentResult], object] | None = None,
    ) -> None:
        self.ae_title, self.host, self.port = ae_title, host, port
        self._on_result = on_report
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
        failed_items = info.get("FailedSOPSequence") or []
        result = CommitmentResult(
            str(info.TransactionUID),
            _uids(info, "ReferencedSOPSequence"),
            _uids(info, "FailedSOPSequence"),
            tuple(int(item.get("FailureReason", 0) or 0) for item in failed_items),
        )
        if self._on_result is not None:
            try:
                self._on_result(result)
            except (sqlite3.Error, OSError):
                log.exception("storage commitment report %s could not be recorded", result.transaction_uid)
                return 0x0110, None  # processing failure: the PACS may send it again
            return 0x0000, None  # kept by the callback: not also in memory for as long as the app runs
        with self._arrived:
            self._results[result.transaction_uid] = result
            self._arrived.notify_all()
        return 0x0000, None

    def start(self) -> CommitmentListener:
        """Listen; StudyError when the port cannot be had (in use, not allowed)."""
        try:
            self._server = self._ae.start_server(
                (self.host, self.port),
                block=False,
                evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._on_report)],
            )
        except OSError as exc:
            raise StudyError(
                f"cannot listen for storage commitment reports on {self.host or '*'}:{self.port}: "
                f"{exc.strerror or exc}"
            ) from exc
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


def _sop_class_of(path: Path) -> str:
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    return str(ds.SOPClassUID)


class CommitmentService:
    """Asks every destination marked `commitment` to commit what it was sent, in its own thread, and
    records each answer (and the reports its listener hears) in the study index.

    `status_changed` is emitted on the service's or the listener's thread; a UI bridge turns it into
    a Qt signal. Use `request_due()` to run one pass without the thread.
    """

    status_changed = worker_signal(CommitmentState)

    def __init__(
        self,
        store_root: Path,
        listen_host: str,
        listen_port: int,
        *,
        ae_title: str = "SCANNERAPP",
        timeout_s: float = 10.0,
        reask_after_s: float = 600.0,
        retry_after_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(store_root)
        self._timeout_s = timeout_s
        self._reask_after_s = reask_after_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._started_at = clock()  # requests from before this run are asked again
        self._lock = threading.Lock()
        self._conn = connect_index(self.root / INDEX_NAME)
        try:
            self._conn.executescript(_TABLE)
        except sqlite3.Error:
            self._conn.close()
            raise
        self._destinations: list[PacsDestination] = []
        self._retry_at: dict[PacsIdentity, float] = {}  # an unreachable PACS is asked again after this
        self.listener = CommitmentListener(ae_title, listen_host, listen_port, on_report=self.record_report)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def set_destinations(self, destinations: Sequence[PacsDestination]) -> None:
        """The destinations as configured now; those marked `commitment` are asked."""
        with self._lock:
            self._destinations = list(destinations)
        self.wake()

    def wake(self) -> None:
        """Look for newly sent instances now (a send finished)."""
        self._wake.set()

    def states(self) -> list[CommitmentState]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT sop_instance_uid, destination, status, reason, called_ae, host, port "
                "FROM commitments ORDER BY rowid"
            ).fetchall()
        return [
            CommitmentState(r[0], r[1], CommitmentStatus(r[2]), r[3], PacsIdentity(r[4], r[5], r[6]))
            for r in rows
        ]

    # ----- asking -----

    def request_due(self) -> None:
        """Ask each commitment destination about every instance sent to it and not yet asked (or asked
        before this run, or longer ago than `reask_after_s`, with no report), and about one sent again
        (Resend) since it failed or was not supported."""
        now = self._clock()
        with self._lock:
            destinations = [d for d in self._destinations if d.commitment]
        for dest in destinations:
            if self._stop.is_set():
                return
            ident = dest.identity
            if self._retry_at.get(ident, 0.0) > now:
                continue
            cutoff = max(self._started_at, now - self._reask_after_s)
            with self._lock:
                rows = self._conn.execute(
                    "SELECT s.sop_instance_uid, c.path FROM sends s "
                    "JOIN captures c ON c.sop_instance_uid = s.sop_instance_uid "
                    "LEFT JOIN commitments m ON m.sop_instance_uid = s.sop_instance_uid "
                    "AND m.called_ae = s.called_ae AND m.host = s.host AND m.port = s.port "
                    "WHERE s.called_ae = ? AND s.host = ? AND s.port = ? AND s.status = 'sent' "
                    "AND (m.status IS NULL OR (m.status = ? AND m.requested_at < ?) "
                    "OR (m.status IN (?, ?) AND julianday(s.updated_at) > julianday(m.updated_at))) "
                    "ORDER BY s.rowid",
                    (
                        ident.called_ae,
                        ident.host,
                        ident.port,
                        CommitmentStatus.REQUESTED.value,
                        cutoff,
                        CommitmentStatus.FAILED.value,
                        CommitmentStatus.NOT_SUPPORTED.value,
                    ),
                ).fetchall()
            if rows:
                self._ask(dest, [(str(r[0]), str(r[1])) for r in rows])

    def _ask(self, dest: PacsDestination, due: list[tuple[str, str]]) -> None:
        instances: list[tuple[str, str]] = []
        for sop_uid, rel_path in due:
            try:
                instances.append((_sop_class_of(self.root / rel_path), sop_uid))
            except (OSError, pydicom.errors.InvalidDicomError, AttributeError) as exc:
                self._record(dest, [sop_uid], CommitmentStatus.FAILED, f"cannot read {rel_path}: {exc}")
        if not instances:
            return
        uids = [uid for _, uid in instances]
        transaction_uid = str(generate_uid())
        # Recorded before asking: the report may come (on its own association) before the answer.
        self._record(dest, uids, CommitmentStatus.REQUESTED, "", transaction_uid=transaction_uid)
        try:
            request_commitment(dest, instances, timeout_s=self._timeout_s, transaction_uid=transaction_uid)
        except CommitmentNotSupported as exc:
            self._record(dest, uids, CommitmentStatus.NOT_SUPPORTED, str(exc), only=transaction_uid)
        except CommitmentRefused as exc:
            self._record(dest, uids, CommitmentStatus.FAILED, str(exc), only=transaction_uid)
        except StudyError as exc:
            # Not asked after all: due again once the PACS has had time to come back.
            self._retry_at[dest.identity] = self._clock() + self._retry_after_s
            reason = f"not asked yet: {exc}"
            log.warning("PACS %s: %s", dest.name, reason)
            self._record(
                dest, uids, CommitmentStatus.REQUESTED, reason, only=transaction_uid, requested_at=0.0
            )
        else:
            self._retry_at.pop(dest.identity, None)
            log.info("PACS %s: asked to commit %d instance(s) (%s)", dest.name, len(uids), transaction_uid)

    def _record(
        self,
        dest: PacsDestination,
        uids: Sequence[str],
        status: CommitmentStatus,
        reason: str,
        *,
        transaction_uid: str = "",
        only: str = "",
        requested_at: float | None = None,
    ) -> None:
        """Set the state of `uids` with `dest`; with `only`, just the rows still in that transaction
        (a report that came first is not undone)."""
        ident = dest.identity
        now_iso = datetime.now().astimezone().isoformat()
        asked = self._clock() if requested_at is None else requested_at
        changed: list[str] = []
        with self._lock, transaction(self._conn):
            for uid in uids:
                if only:
                    cur = self._conn.execute(
                        "UPDATE commitments SET status = ?, reason = ?, requested_at = ?, updated_at = ? "
                        "WHERE sop_instance_uid = ? AND called_ae = ? AND host = ? AND port = ? "
                        "AND transaction_uid = ? AND status = ?",
                        (status.value, reason, asked, now_iso, uid, ident.called_ae, ident.host, ident.port,
                         only, CommitmentStatus.REQUESTED.value),
                    )  # fmt: skip
                else:
                    cur = self._conn.execute(
                        "INSERT INTO commitments (sop_instance_uid, called_ae, host, port, destination, "
                        "status, transaction_uid, reason, requested_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                        "destination = excluded.destination, status = excluded.status, "
                        "transaction_uid = excluded.transaction_uid, reason = excluded.reason, "
                        "requested_at = excluded.requested_at, updated_at = excluded.updated_at",
                        (uid, ident.called_ae, ident.host, ident.port, dest.name, status.value,
                         transaction_uid, reason, asked, now_iso),
                    )  # fmt: skip
                if cur.rowcount:
                    changed.append(uid)
        for uid in changed:
            self.status_changed.emit(CommitmentState(uid, dest.name, status, reason, ident))

    # ----- reports -----

    def record_report(self, result: CommitmentResult) -> int:
        """Keep what a PACS's report says of the instances of its transaction; returns how many changed.
        A report of a transaction not awaited (asked again since, or not ours) changes nothing."""
        failed = dict(zip(result.failed, result.failure_codes or (0,) * len(result.failed), strict=True))
        committed = set(result.committed)
        now_iso = datetime.now().astimezone().isoformat()
        changed: list[CommitmentState] = []
        with self._lock, transaction(self._conn):
            rows = self._conn.execute(
                "SELECT sop_instance_uid, destination, called_ae, host, port FROM commitments "
                "WHERE transaction_uid = ? AND status = ?",
                (result.transaction_uid, CommitmentStatus.REQUESTED.value),
            ).fetchall()
            for uid, name, called_ae, host, port in rows:
                if uid in committed:
                    status, reason = CommitmentStatus.COMMITTED, ""
                elif uid in failed:
                    code = failed[uid]
                    why = FAILURE_REASONS.get(code, f"failure reason 0x{code:04X}")
                    status, reason = CommitmentStatus.FAILED, f"{name} did not commit it: {why}"
                else:
                    continue  # the report does not name it: still awaited
                self._conn.execute(
                    "UPDATE commitments SET status = ?, reason = ?, updated_at = ? "
                    "WHERE sop_instance_uid = ? AND called_ae = ? AND host = ? AND port = ?",
                    (status.value, reason, now_iso, uid, called_ae, host, port),
                )
                changed.append(
                    CommitmentState(str(uid), str(name), status, reason, PacsIdentity(called_ae, host, port))
                )
        if not rows:
            log.info(
                "storage commitment report for transaction %s, which is not awaited", result.transaction_uid
            )
        for state in changed:
            if state.status is CommitmentStatus.FAILED:
                log.warning("PACS %s, %s: %s", state.destination, state.sop_instance_uid, state.reason)
            self.status_changed.emit(state)
        return len(changed)

    # ----- thread -----

    def start(self) -> None:
        """Listen for reports and start asking; StudyError when the listening port cannot be had."""
        if self._thread is not None:
            raise StudyError("the storage commitment service is already running")
        self.listener.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pacs-commitment", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 15.0) -> None:
        """Stop asking and listening, join the thread, and close the index connection."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
        self.listener.stop()
        with self._lock:
            self._conn.close()
        if thread is not None and thread.is_alive():
            raise StudyError(f"the storage commitment service did not stop in {timeout_s} s")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.request_due()
            except sqlite3.Error:
                log.exception("storage commitment: index error; trying again")
            if self._stop.is_set():
                break
            self._wake.wait(IDLE_CHECK_S)
