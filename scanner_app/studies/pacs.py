"""PACS: configured destinations, C-ECHO verification, and a persistent C-STORE send queue thread.

The queue's state lives in the study index (table `sends`), so it survives a restart. A capture is
marked sent in a transaction right after the PACS confirms it, and a sent capture is never queued
again. The one window left is a crash between the PACS's confirmation and that commit: the capture
is then sent once more after the restart, which a PACS treats as the same instance (same SOP Instance
UID; Orthanc keeps one copy).
"""

from __future__ import annotations

import enum
import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pydicom
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from scanner_app.events import worker_signal
from scanner_app.studies.dicom_writer import US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE
from scanner_app.studies.model import Study, StudyCapture, StudyError
from scanner_app.studies.store import INDEX_NAME, connect_index, transaction

log = logging.getLogger(__name__)

_TRANSFER_SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]  # explicit and implicit VR little endian


@dataclass(frozen=True, slots=True)
class PacsDestination:
    """Where to send: a named DICOM node (host, port, its AE title and the AE title we call from)."""

    name: str
    host: str
    port: int
    called_ae: str
    calling_ae: str = "SCANNERAPP"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise StudyError("a PACS destination needs a name")
        if not 0 < self.port < 65536:
            raise StudyError(f"PACS {self.name}: port {self.port} is not in 1-65535")
        for field_name in ("called_ae", "calling_ae"):
            ae = getattr(self, field_name)
            if not ae.strip() or len(ae) > 16 or "\\" in ae or not ae.isascii():
                raise StudyError(
                    f"PACS {self.name}: {field_name} {ae!r} is not a valid AE title (1-16 ASCII)"
                )

    def describe(self) -> str:
        return f"{self.name} ({self.called_ae}@{self.host}:{self.port})"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "called_ae": self.called_ae,
            "calling_ae": self.calling_ae,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PacsDestination:
        try:
            return cls(
                name=str(data["name"]),
                host=str(data["host"]),
                port=int(data["port"]),
                called_ae=str(data["called_ae"]),
                calling_ae=str(data.get("calling_ae", "SCANNERAPP")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StudyError(f"PACS destination {data!r} is incomplete or malformed: {exc}") from exc


def load_destinations(path: Path) -> list[PacsDestination]:
    """Read destinations from a JSON file: a list of {name, host, port, called_ae, calling_ae}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudyError(f"cannot read PACS destinations from {path}: {exc}") from exc
    if not isinstance(data, list):
        raise StudyError(f"{path}: PACS destinations must be a JSON list")
    return [PacsDestination.from_json(item) for item in data]


@dataclass(frozen=True, slots=True)
class EchoResult:
    """The outcome of a C-ECHO: did the node answer, and a sentence for the user."""

    ok: bool
    message: str


def _make_ae(dest: PacsDestination, timeout_s: float) -> AE:
    ae = AE(ae_title=dest.calling_ae)
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    ae.connection_timeout = timeout_s
    return ae


def _associate(ae: AE, dest: PacsDestination) -> tuple[Association | None, str]:
    # Check the port answers first: pynetdicom 3.0 leaks its socket when a connect is refused
    # (it calls shutdown() on the unconnected socket, which raises before close()), and this also
    # gives the user the operating system's own reason.
    try:
        with socket.create_connection((dest.host, dest.port), timeout=ae.connection_timeout):
            pass
    except OSError as exc:
        return None, f"cannot reach {dest.describe()}: {exc.strerror or exc}"
    try:
        assoc = ae.associate(dest.host, dest.port, ae_title=dest.called_ae)
    except (OSError, ValueError) as exc:
        return None, f"cannot reach {dest.describe()}: {exc}"
    if assoc.is_established:
        return assoc, ""
    if assoc.is_rejected:
        return None, f"{dest.describe()} rejected the association (check the AE titles)"
    if assoc.is_aborted:
        return None, f"{dest.describe()} aborted the association"
    return None, f"cannot connect to {dest.describe()} (no answer or connection refused)"


def verify(dest: PacsDestination, timeout_s: float = 5.0) -> EchoResult:
    """C-ECHO the destination: the 'Test connection' button."""
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(Verification)
    assoc, reason = _associate(ae, dest)
    if assoc is None:
        return EchoResult(False, reason)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status and getattr(status, "Status", None) == 0x0000:
        return EchoResult(True, f"{dest.describe()} answered the verification (C-ECHO)")
    return EchoResult(False, f"{dest.describe()} did not confirm the verification (C-ECHO)")


class SendStatus(enum.StrEnum):
    """queued: waiting or being retried; sent: the PACS confirmed it; failed: refused, needs a person."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SendState:
    """Where one capture stands with one destination."""

    sop_instance_uid: str
    destination: str
    status: SendStatus
    attempts: int
    last_error: str
    next_attempt_at: float


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat()


class PacsSender:
    """Sends queued captures of a study store to one destination, in its own thread, with back-off.

    `status_changed` is emitted in the sender's thread (or the caller's, for enqueue); a listener that
    raises is logged and never stops the queue. A UI bridge turns it into a Qt signal. Use `send_due()`
    to run one pass without the thread.
    """

    status_changed = worker_signal(SendState)

    def __init__(
        self,
        store_root: Path,
        destination: PacsDestination,
        *,
        base_delay_s: float = 2.0,
        max_delay_s: float = 300.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(store_root)
        self.destination = destination
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = connect_index(self.root / INDEX_NAME)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._ae = _make_ae(destination, timeout_s)
        for sop_class in (US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE):
            self._ae.add_requested_context(sop_class, _TRANSFER_SYNTAXES)

    # ----- queue -----

    def enqueue(self, captures: Iterable[StudyCapture]) -> int:
        """Queue captures for this destination; ones already queued, sent or failed are left alone."""
        added: list[SendState] = []
        with self._lock, transaction(self._conn):
            for record in captures:
                cur = self._conn.execute(
                    "INSERT OR IGNORE INTO sends (sop_instance_uid, destination, status, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (record.sop_instance_uid, self.destination.name, SendStatus.QUEUED.value, _now_iso()),
                )
                if cur.rowcount:
                    added.append(
                        SendState(record.sop_instance_uid, self.destination.name, SendStatus.QUEUED, 0, "", 0)
                    )
        for state in added:
            self.status_changed.emit(state)
        self._wake.set()
        return len(added)

    def enqueue_study(self, study: Study) -> int:
        return self.enqueue(study.captures)

    def retry_now(self) -> None:
        """Forget the back-off and try every queued capture at once (e.g. the PACS is back)."""
        with self._lock, transaction(self._conn):
            self._conn.execute(
                "UPDATE sends SET next_attempt_at = 0 WHERE destination = ? AND status = ?",
                (self.destination.name, SendStatus.QUEUED.value),
            )
        self._wake.set()

    def states(self) -> list[SendState]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT sop_instance_uid, destination, status, attempts, last_error, next_attempt_at "
                "FROM sends WHERE destination = ? ORDER BY rowid",
                (self.destination.name,),
            ).fetchall()
        return [SendState(r[0], r[1], SendStatus(r[2]), int(r[3]), r[4], float(r[5])) for r in rows]

    # ----- sending -----

    def send_due(self) -> float | None:
        """Send every queued capture that is due; return seconds until the next is due (None: none)."""
        now = self._clock()
        with self._lock:
            due = self._conn.execute(
                "SELECT s.sop_instance_uid, c.path, s.attempts FROM sends s "
                "JOIN captures c ON c.sop_instance_uid = s.sop_instance_uid "
                "WHERE s.destination = ? AND s.status = ? AND s.next_attempt_at <= ? ORDER BY s.rowid",
                (self.destination.name, SendStatus.QUEUED.value, now),
            ).fetchall()
        if due:
            self._send_batch([(str(r[0]), str(r[1]), int(r[2])) for r in due])
        with self._lock:
            row = self._conn.execute(
                "SELECT min(next_attempt_at) FROM sends WHERE destination = ? AND status = ?",
                (self.destination.name, SendStatus.QUEUED.value),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, float(row[0]) - self._clock())

    def _send_batch(self, due: list[tuple[str, str, int]]) -> None:
        assoc, reason = _associate(self._ae, self.destination)
        if assoc is None:
            for sop_uid, _, attempts in due:
                self._retry_later(sop_uid, attempts, reason)
            return
        try:
            for index, (sop_uid, rel_path, attempts) in enumerate(due):
                if self._stop.is_set() or not assoc.is_established:
                    for rest_uid, _, rest_attempts in due[index:]:
                        if not self._stop.is_set():
                            self._retry_later(rest_uid, rest_attempts, "the association ended early")
                    break
                self._send_one(assoc, sop_uid, rel_path, attempts)
        finally:
            if assoc.is_established:
                assoc.release()

    def _send_one(self, assoc: Association, sop_uid: str, rel_path: str, attempts: int) -> None:
        path = self.root / rel_path
        try:
            ds = pydicom.dcmread(path)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            self._set(sop_uid, SendStatus.FAILED, attempts + 1, f"cannot read {path}: {exc}", 0.0)
            return
        accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
        if ds.SOPClassUID not in accepted:
            # The PACS turned this kind of image down when the association was made: asking again
            # gets the same answer, so it needs a person (or another destination), not a retry.
            kind = getattr(ds.SOPClassUID, "name", str(ds.SOPClassUID))
            reason = f"{self.destination.describe()} does not accept {kind} (no presentation context)"
            self._set(sop_uid, SendStatus.FAILED, attempts + 1, reason, 0.0)
            return
        try:
            status = assoc.send_c_store(ds)
        except (OSError, RuntimeError, ValueError) as exc:
            self._retry_later(sop_uid, attempts, f"sending to {self.destination.describe()} failed: {exc}")
            return
        code = getattr(status, "Status", None) if status else None
        if code is None:
            self._retry_later(sop_uid, attempts, f"no answer from {self.destination.describe()}")
        elif code == 0x0000 or code in (0xB000, 0xB006, 0xB007):
            self._set(sop_uid, SendStatus.SENT, attempts + 1, "", 0.0)
        elif 0xA700 <= code <= 0xA7FF:
            self._retry_later(
                sop_uid, attempts, f"{self.destination.describe()} is out of resources (0x{code:04X})"
            )
        else:
            self._set(
                sop_uid,
                SendStatus.FAILED,
                attempts + 1,
                f"{self.destination.describe()} refused the image: C-STORE status 0x{code:04X}",
                0.0,
            )

    def _retry_later(self, sop_uid: str, attempts: int, reason: str) -> None:
        delay = min(self._max_delay_s, self._base_delay_s * 2.0**attempts)
        self._set(sop_uid, SendStatus.QUEUED, attempts + 1, reason, self._clock() + delay)

    def _set(self, sop_uid: str, status: SendStatus, attempts: int, error: str, next_at: float) -> None:
        with self._lock, transaction(self._conn):
            # Only a queued row moves: a capture marked sent is never touched (or sent) again.
            cur = self._conn.execute(
                "UPDATE sends SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, "
                "updated_at = ? WHERE sop_instance_uid = ? AND destination = ? AND status = ?",
                (
                    status.value,
                    attempts,
                    error,
                    next_at,
                    _now_iso(),
                    sop_uid,
                    self.destination.name,
                    SendStatus.QUEUED.value,
                ),
            )
        if cur.rowcount:
            if error:
                log.warning("PACS %s, %s: %s", self.destination.name, sop_uid, error)
            state = SendState(sop_uid, self.destination.name, status, attempts, error, next_at)
            self.status_changed.emit(state)

    # ----- thread -----

    def start(self) -> None:
        if self._thread is not None:
            raise StudyError(f"the sender for {self.destination.describe()} is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"pacs-{self.destination.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the thread to stop after the image in flight, and wait for it."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                raise StudyError(
                    f"the sender for {self.destination.describe()} did not stop in {timeout_s} s"
                )

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self.send_due()
            except sqlite3.Error:
                log.exception("PACS sender for %s: index error; retrying", self.destination.name)
                delay = self._base_delay_s
            if self._stop.is_set():
                break
            self._wake.wait(delay)
