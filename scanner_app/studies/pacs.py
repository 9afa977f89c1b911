"""PACS: configured destinations, C-ECHO verification, and a persistent C-STORE send queue thread.

The queue's state lives in the study index (table `sends`), so it survives a restart, and is kept per
destination identity (called AE title, host, port), not per name. A capture is marked sent in a
transaction right after the PACS confirms it, and a sent capture is queued again only when a person
asks (`resend`); a failed one likewise (`retry_failed`). The one window left is a crash between the
PACS's confirmation and that commit: the capture is then sent once more after the restart, which a
PACS treats as the same instance (same SOP Instance UID; Orthanc keeps one copy).

No bare TCP connection is opened to check a PACS first: a PACS limited to one association counts it
until its ACSE timeout. A transient A-ASSOCIATE-RJ ("PACS busy") is retried with back-off; a
permanent one names its cause (an AE title the PACS does not recognise, ...).
"""

from __future__ import annotations

import contextlib
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
from ssl import SSLContext
from typing import Any

import pydicom
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import AddressInformation, AssociationSocket

from scanner_app.events import worker_signal
from scanner_app.studies.dicom_writer import US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE
from scanner_app.studies.encapsulated_pdf import ENCAPSULATED_PDF_STORAGE
from scanner_app.studies.lossy import JPEG_BASELINE, LossyCompressionError, jpeg_baseline_copy
from scanner_app.studies.model import Study, StudyCapture, StudyDocument, StudyError
from scanner_app.studies.rle import RLE_LOSSLESS
from scanner_app.studies.store import INDEX_NAME, claim_legacy_sends, connect_index, transaction
from scanner_app.studies.structured_report import COMPREHENSIVE_SR_STORAGE

log = logging.getLogger(__name__)

_TRANSFER_SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]  # explicit and implicit VR little endian
# What the sender offers: the images, the signed report as Encapsulated PDF and its Comprehensive SR.
STORAGE_SOP_CLASSES = (
    US_IMAGE_STORAGE,
    US_MULTIFRAME_IMAGE_STORAGE,
    ENCAPSULATED_PDF_STORAGE,
    COMPREHENSIVE_SR_STORAGE,
)
# An idle sender looks at the queue this often: the store queues a newly signed report for every PACS
# its study went to, from its own connection, without waking the sender.
IDLE_CHECK_S = 5.0


_AE_MAX_CHARS = 16
_DESTINATION_FIELDS = (
    "name", "host", "port", "called_ae", "calling_ae", "worklist", "mpps", "commitment", "compression",
)  # fmt: skip
# How clips travel to a destination: as the store keeps them (lossless), or JPEG Baseline copies.
COMPRESSION_LOSSLESS = "lossless"
COMPRESSION_JPEG_BASELINE = "jpeg-baseline"
COMPRESSIONS = (COMPRESSION_LOSSLESS, COMPRESSION_JPEG_BASELINE)


class DestinationError(StudyError):
    """A PACS destination value is not usable; `field` names it (for the form to point at)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def ae_title_problem(value: object) -> str:
    """Why `value` is not an AE title (DICOM VR AE), or '' if it is one."""
    if not isinstance(value, str):
        return f"{value!r} is not text"
    if not value.strip():
        return "is empty (or only spaces)"
    if len(value) > _AE_MAX_CHARS:
        return f"{value!r} is longer than {_AE_MAX_CHARS} characters"
    if "\\" in value:
        return f"{value!r} contains a backslash"
    if any(not " " <= ch <= "~" for ch in value):
        return f"{value!r} contains a control or non-ASCII character"
    return ""


@dataclass(frozen=True, slots=True)
class PacsIdentity:
    """Which PACS a destination is: its AE title, host and port. Send state is kept per identity."""

    called_ae: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.called_ae}@{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PacsDestination:
    """Where to send: a named DICOM node (host, port, its AE title and the AE title we call from)."""

    name: str
    host: str
    port: int
    called_ae: str
    calling_ae: str = "SCANNERAPP"
    worklist: bool = False  # the new-exam dialog asks it for scheduled procedures (Modality Worklist)
    mpps: bool = False  # it is told when an exam starts and ends (Modality Performed Procedure Step)
    compression: str = COMPRESSION_LOSSLESS  # jpeg-baseline: clips go lossy, when the PACS takes it
    commitment: bool = False  # it is asked to commit what it was sent (Storage Commitment)

    def __post_init__(self) -> None:
        label = self.name if isinstance(self.name, str) and self.name.strip() else "(unnamed)"

        def bad(field_name: str, problem: str) -> DestinationError:
            return DestinationError(f"PACS {label}: {field_name} {problem}", field_name)

        if not isinstance(self.name, str) or not self.name.strip():
            raise bad("name", "is empty: a PACS destination needs a name")
        if any(not ch.isprintable() for ch in self.name):
            raise bad("name", f"{self.name!r} contains a control character")
        if not isinstance(self.host, str) or not self.host.strip():
            raise bad("host", "is empty")
        if any(ch.isspace() or not ch.isprintable() for ch in self.host):
            raise bad("host", f"{self.host!r} contains spaces or control characters")
        # bool is an int in Python, and JSON's true must not become port 1.
        if type(self.port) is not int or not 0 < self.port < 65536:
            raise bad("port", f"{self.port!r} is not a whole number in 1-65535")
        for field_name in ("called_ae", "calling_ae"):
            problem = ae_title_problem(getattr(self, field_name))
            if problem:
                raise bad(field_name, f"{problem}: not a valid AE title (1-16 characters, no backslash)")
        for field_name in ("worklist", "mpps", "commitment"):
            if not isinstance(getattr(self, field_name), bool):
                raise bad(field_name, f"{getattr(self, field_name)!r} is not true or false")
        if self.compression not in COMPRESSIONS:
            raise bad("compression", f"{self.compression!r} is not one of {', '.join(COMPRESSIONS)}")

    @property
    def identity(self) -> PacsIdentity:
        # Host names are case-insensitive and an AE title's outer spaces are not significant.
        return PacsIdentity(self.called_ae.strip(), self.host.strip().lower(), self.port)

    def describe(self) -> str:
        return f"{self.name} ({self.called_ae}@{self.host}:{self.port})"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "called_ae": self.called_ae,
            "calling_ae": self.calling_ae,
        }
        # Written only when on: older files stay as they were.
        for service in ("worklist", "mpps", "commitment"):
            if getattr(self, service):
                data[service] = True
        if self.compression != COMPRESSION_LOSSLESS:
            data["compression"] = self.compression
        return data

    @classmethod
    def from_json(cls, data: object) -> PacsDestination:
        """A destination from its JSON object, with no conversion: a float port or a null AE is an error."""
        if not isinstance(data, dict):
            raise DestinationError(f"{data!r} is not an object of {', '.join(_DESTINATION_FIELDS)}", "")
        unknown = sorted(set(data) - set(_DESTINATION_FIELDS))
        if unknown:
            raise DestinationError(
                f"unknown field {unknown[0]!r} (known: {', '.join(_DESTINATION_FIELDS)})", unknown[0]
            )
        for field_name in _DESTINATION_FIELDS[:4]:
            if field_name not in data:
                raise DestinationError(f"field {field_name!r} is missing", field_name)
        return cls(
            name=data["name"],
            host=data["host"],
            port=data["port"],
            called_ae=data["called_ae"],
            calling_ae=data.get("calling_ae", "SCANNERAPP"),
            worklist=data.get("worklist", False),
            mpps=data.get("mpps", False),
            compression=data.get("compression", COMPRESSION_LOSSLESS),
            commitment=data.get("commitment", False),
        )


def destination_from_address(address: str, calling_ae: str = "SCANNERAPP") -> PacsDestination:
    """A destination from "AE@HOST:PORT" (a command line's way to name a DICOM node)."""
    called, at, rest = address.partition("@")
    host, colon, port = rest.rpartition(":")
    if not at or not colon or not port.isdigit():
        raise DestinationError(f"{address!r} is not AE@HOST:PORT", "")
    return PacsDestination(address, host, int(port), called, calling_ae)


@dataclass(frozen=True, slots=True)
class DestinationsFile:
    """What a destinations file held: the usable destinations, and one line per problem."""

    destinations: tuple[PacsDestination, ...]
    errors: tuple[str, ...]
    unusable: tuple[object, ...]  # the bad entries as written, so a save can keep them for fixing
    readable: bool  # False: not a JSON list at all (so saving over it would lose what it says)


def read_destinations(path: Path) -> DestinationsFile:
    """Read destinations from a JSON list, keeping every good one and naming each bad one's field."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return DestinationsFile((), (f"cannot read PACS destinations from {path}: {exc}",), (), False)
    if not isinstance(data, list):
        return DestinationsFile((), (f"{path}: PACS destinations must be a JSON list",), (), False)
    good: list[PacsDestination] = []
    errors: list[str] = []
    unusable: list[object] = []
    for number, item in enumerate(data, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        which = f"destination {number}" + (f" ({name!r})" if isinstance(name, str) else "")
        try:
            dest = PacsDestination.from_json(item)
        except DestinationError as exc:
            errors.append(f"{path}: {which}: {exc}")
            unusable.append(item)
            continue
        if any(same_destination_name(d.name, dest.name) for d in good):
            errors.append(f"{path}: {which}: name {dest.name!r} is already used by another destination")
            unusable.append(item)
            continue
        good.append(dest)
    return DestinationsFile(tuple(good), tuple(errors), tuple(unusable), True)


def load_destinations(path: Path) -> list[PacsDestination]:
    """Read destinations from a JSON file, all or nothing: StudyError naming every bad one."""
    found = read_destinations(path)
    if found.errors:
        raise StudyError("; ".join(found.errors))
    return list(found.destinations)


def same_destination_name(a: str, b: str) -> bool:
    """Names are compared as a person reads them: without case or outer spaces."""
    return a.strip().casefold() == b.strip().casefold()


@dataclass(frozen=True, slots=True)
class EchoResult:
    """The outcome of a C-ECHO: did the node answer, and a sentence for the user."""

    ok: bool
    message: str


class _ClosingAssociationSocket(AssociationSocket):
    """pynetdicom 3.0 leaks the socket of a refused connect: shutdown() on an unconnected socket
    raises before close(). This one always closes it."""

    def _shutdown_socket(self) -> None:
        sock = self.socket
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class _ClosingAE(AE):
    """An AE whose association sockets are closed even when the connection is refused."""

    def _create_socket(
        self, assoc: Association, address: AddressInformation, tls_args: tuple[SSLContext, str] | None
    ) -> AssociationSocket:
        sock = _ClosingAssociationSocket(assoc, address=address)
        sock.tls_args = tls_args
        return sock


def _make_ae(dest: PacsDestination, timeout_s: float) -> AE:
    ae = _ClosingAE(ae_title=dest.calling_ae)
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    ae.connection_timeout = timeout_s
    return ae


@dataclass(frozen=True, slots=True)
class AssociationFailure:
    """Why no association was made; `transient` means the same request may succeed later unchanged."""

    message: str
    transient: bool
    busy: bool = False  # an A-ASSOCIATE-RJ "rejected-transient": the PACS is at its limit for now
    unsupported: bool = False  # the PACS accepted none of the services offered


# A-ASSOCIATE-RJ (PS3.8 9.3.4): (source, reason) -> what it means for the person fixing it.
_REJECT_REASONS = {
    (1, 1): "no reason given by the PACS",
    (1, 2): "the PACS does not support the DICOM application context",
    (
        1,
        3,
    ): "the PACS does not recognise the calling AE title {calling!r} (add this scanner to its modalities)",
    (1, 7): "the PACS does not recognise the called AE title {called!r} (check the destination's AE title)",
    (2, 1): "no reason given by the PACS's association service",
    (2, 2): "the PACS does not support this DICOM protocol version",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded: it is serving as many associations as it allows",
}


def _rejection(dest: PacsDestination, assoc: Association) -> AssociationFailure:
    rsp = assoc.acceptor.primitive
    result = getattr(rsp, "result", None)
    source = int(getattr(rsp, "result_source", None) or 0)
    diagnostic = int(getattr(rsp, "diagnostic", None) or 0)
    reason = _REJECT_REASONS.get((source, diagnostic), f"source {source}, reason {diagnostic}").format(
        calling=dest.calling_ae, called=dest.called_ae
    )
    if result == 0x02:
        return AssociationFailure(
            f"PACS busy: {dest.describe()} rejected the association for now ({reason}); will retry",
            transient=True,
            busy=True,
        )
    return AssociationFailure(f"{dest.describe()} rejected the association: {reason}", False)


# Pauses before asking again after a transient rejection: a PACS limited to one association may
# still count the one just released for a moment after it has confirmed the release.
_BUSY_RETRY_PAUSES_S = (0.1, 0.3, 0.6)


def _associate(
    ae: AE, dest: PacsDestination, pause: Callable[[float], object] = time.sleep
) -> tuple[Association | None, AssociationFailure | None]:
    """Associate, asking again briefly if the PACS is busy; `pause` returning True gives up (stopping)."""
    for pause_s in _BUSY_RETRY_PAUSES_S:
        assoc, failure = _associate_once(ae, dest)
        if failure is None or not failure.busy or pause(pause_s) is True:
            return assoc, failure
    return _associate_once(ae, dest)


def _associate_once(ae: AE, dest: PacsDestination) -> tuple[Association | None, AssociationFailure | None]:
    # No bare TCP check first: a PACS that allows one association would count that connection as
    # one until its ACSE timeout, and reject the real association that follows.
    connected = threading.Event()
    started = time.monotonic()
    try:
        assoc = ae.associate(
            dest.host,
            dest.port,
            ae_title=dest.called_ae,
            evt_handlers=[(evt.EVT_CONN_OPEN, lambda _event: connected.set())],
        )
    except (OSError, ValueError) as exc:
        return None, AssociationFailure(f"cannot reach {dest.describe()}: {exc}", True)
    if assoc.is_established:
        return assoc, None
    if assoc.is_rejected:
        return None, _rejection(dest, assoc)
    if not connected.is_set():
        timeout_s = ae.connection_timeout or 0.0
        why = (
            f"no answer within {timeout_s:g} s"
            if time.monotonic() - started >= 0.9 * timeout_s
            else "connection refused (is the PACS running, and is the port right?)"
        )
        return None, AssociationFailure(f"cannot reach {dest.describe()}: {why}", True)
    if assoc.rejected_contexts and not assoc.accepted_contexts:
        offered = ", ".join(
            sorted({getattr(cx.abstract_syntax, "name", "?") for cx in assoc.rejected_contexts})
        )
        return None, AssociationFailure(
            f"{dest.describe()} accepts none of the kinds offered ({offered})", False, unsupported=True
        )
    return None, AssociationFailure(f"{dest.describe()} aborted the association", True)


def verify(dest: PacsDestination, timeout_s: float = 5.0) -> EchoResult:
    """C-ECHO the destination: the 'Test connection' button."""
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(Verification)
    assoc, failure = _associate(ae, dest)
    if assoc is None:
        assert failure is not None
        message = failure.message
        if failure.busy:
            message = message.removesuffix("; will retry") + "; try again shortly"
        return EchoResult(False, message)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status and getattr(status, "Status", None) == 0x0000:
        return EchoResult(True, f"{dest.describe()} answered the verification (C-ECHO)")
    return EchoResult(False, f"{dest.describe()} did not confirm the verification (C-ECHO)")


class SendStatus(enum.StrEnum):
    """queued: waiting or being retried; sending: in flight now (never stored); sent: the PACS confirmed
    it; failed: refused, needs a person (then "Retry failed" or "Resend")."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SendState:
    """Where one capture stands with one destination (named `destination`, identified by `identity`)."""

    sop_instance_uid: str
    destination: str
    status: SendStatus
    attempts: int
    last_error: str
    next_attempt_at: float
    identity: PacsIdentity | None = None

    def describe(self, now: float) -> str:
        """The status as the PACS tab shows it: 'waiting until HH:MM:SS' for a backed-off retry."""
        if self.status is SendStatus.QUEUED and self.next_attempt_at > now:
            return "waiting until " + datetime.fromtimestamp(self.next_attempt_at).strftime("%H:%M:%S")
        return self.status.value


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat()


class PacsSender:
    """Sends queued captures of a study store to one destination, in its own thread, with back-off.

    Send state is kept per destination identity (AE title, host, port): a name re-pointed at another
    PACS starts afresh there. `status_changed` is emitted in the sender's thread (or the caller's, for
    enqueue and retries); a listener that raises is logged and never stops the queue. A UI bridge
    turns it into a Qt signal. Use `send_due()` to run one pass without the thread.
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
        self.identity = destination.identity
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = connect_index(self.root / INDEX_NAME)
        ident = self.identity
        claimed = claim_legacy_sends(self._conn, destination.name, ident.called_ae, ident.host, ident.port)
        if claimed:
            log.info(
                "PACS %s: %d send state(s) from before identities now belong to %s",
                destination.name,
                claimed,
                ident,
            )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unreachable = ""  # why the last try could not associate ('' once one did): logged once
        self._ae = _make_ae(destination, timeout_s)
        for sop_class in STORAGE_SOP_CLASSES:
            self._ae.add_requested_context(sop_class, _TRANSFER_SYNTAXES)
        for sop_class in (US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE):
            # A context of its own: a PACS that does not take RLE still takes the images uncompressed.
            self._ae.add_requested_context(sop_class, [RLE_LOSSLESS])
        if destination.compression == COMPRESSION_JPEG_BASELINE:
            # Proposed only to a destination set for it, in a context of its own: a PACS that
            # turns it down gets the clips as kept (or uncompressed), never lossy.
            self._ae.add_requested_context(US_MULTIFRAME_IMAGE_STORAGE, [JPEG_BASELINE])

    @property
    def _key(self) -> tuple[str, str, int]:
        return (self.identity.called_ae, self.identity.host, self.identity.port)

    def _state(
        self, sop_uid: str, status: SendStatus, attempts: int, error: str, next_at: float
    ) -> SendState:
        return SendState(sop_uid, self.destination.name, status, attempts, error, next_at, self.identity)

    # ----- queue -----

    def enqueue(self, captures: Iterable[StudyCapture | StudyDocument]) -> int:
        """Queue captures for this destination; ones already queued, sent or failed are left alone."""
        return self._queue(captures, again=False)

    def enqueue_study(self, study: Study) -> int:
        """Queue the study's images and its signed report(s)."""
        return self.enqueue([*study.captures, *study.documents])

    def resend(self, captures: Iterable[StudyCapture | StudyDocument]) -> int:
        """Queue captures again whatever their state (sent and failed ones too); returns how many."""
        return self._queue(captures, again=True)

    def _queue(self, captures: Iterable[StudyCapture | StudyDocument], *, again: bool) -> int:
        added: list[SendState] = []
        conflict = (
            "ON CONFLICT DO UPDATE SET destination = excluded.destination, status = excluded.status, "
            "attempts = 0, last_error = '', next_attempt_at = 0, updated_at = excluded.updated_at"
            if again
            else "ON CONFLICT DO NOTHING"
        )
        with self._lock, transaction(self._conn):
            for record in captures:
                cur = self._conn.execute(
                    "INSERT INTO sends (sop_instance_uid, called_ae, host, port, destination, status, "
                    f"updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) {conflict}",
                    (
                        record.sop_instance_uid,
                        *self._key,
                        self.destination.name,
                        SendStatus.QUEUED.value,
                        _now_iso(),
                    ),
                )
                if cur.rowcount:
                    added.append(self._state(record.sop_instance_uid, SendStatus.QUEUED, 0, "", 0))
        for state in added:
            self.status_changed.emit(state)
        self._wake.set()
        return len(added)

    def retry_failed(self, study_uid: str | None = None) -> int:
        """Queue every failed capture (of one study, or all) again from a fresh start; returns how many."""
        sql = "SELECT s.sop_instance_uid FROM sends s"
        where = " WHERE s.called_ae = ? AND s.host = ? AND s.port = ? AND s.status = ?"
        params: tuple[object, ...] = (*self._key, SendStatus.FAILED.value)
        if study_uid is not None:
            sql += " JOIN captures c ON c.sop_instance_uid = s.sop_instance_uid"
            where += " AND c.study_uid = ?"
            params = (*params, study_uid)
        with self._lock, transaction(self._conn):
            uids = [str(r[0]) for r in self._conn.execute(sql + where, params)]
            for uid in uids:
                self._conn.execute(
                    "UPDATE sends SET status = ?, attempts = 0, last_error = '', next_attempt_at = 0, "
                    "updated_at = ? WHERE sop_instance_uid = ? AND called_ae = ? AND host = ? AND port = ?",
                    (SendStatus.QUEUED.value, _now_iso(), uid, *self._key),
                )
        for uid in uids:
            self.status_changed.emit(self._state(uid, SendStatus.QUEUED, 0, "", 0))
        self._wake.set()
        return len(uids)

    def retry_now(self) -> int:
        """Forget the back-off and try every queued capture at once (the PACS is back); returns how many."""
        with self._lock, transaction(self._conn):
            rows = self._conn.execute(
                "SELECT sop_instance_uid, attempts, last_error FROM sends "
                "WHERE called_ae = ? AND host = ? AND port = ? AND status = ? AND next_attempt_at > 0",
                (*self._key, SendStatus.QUEUED.value),
            ).fetchall()
            self._conn.execute(
                "UPDATE sends SET next_attempt_at = 0 "
                "WHERE called_ae = ? AND host = ? AND port = ? AND status = ?",
                (*self._key, SendStatus.QUEUED.value),
            )
        for uid, attempts, error in rows:
            self.status_changed.emit(self._state(str(uid), SendStatus.QUEUED, int(attempts), str(error), 0))
        self._wake.set()
        return len(rows)

    def states(self) -> list[SendState]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT sop_instance_uid, status, attempts, last_error, next_attempt_at "
                "FROM sends WHERE called_ae = ? AND host = ? AND port = ? ORDER BY rowid",
                self._key,
            ).fetchall()
        return [self._state(r[0], SendStatus(r[1]), int(r[2]), r[3], float(r[4])) for r in rows]

    # ----- sending -----

    def send_due(self) -> float | None:
        """Send every queued capture that is due; return seconds until the next is due (None: none)."""
        now = self._clock()
        with self._lock:
            due = self._conn.execute(
                "SELECT s.sop_instance_uid, c.path, s.attempts FROM sends s "
                "JOIN captures c ON c.sop_instance_uid = s.sop_instance_uid "
                "WHERE s.called_ae = ? AND s.host = ? AND s.port = ? AND s.status = ? "
                "AND s.next_attempt_at <= ? ORDER BY s.rowid",
                (*self._key, SendStatus.QUEUED.value, now),
            ).fetchall()
        if due:
            self._send_batch([(str(r[0]), str(r[1]), int(r[2])) for r in due])
        with self._lock:
            row = self._conn.execute(
                "SELECT min(next_attempt_at) FROM sends WHERE called_ae = ? AND host = ? AND port = ? "
                "AND status = ?",
                (*self._key, SendStatus.QUEUED.value),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, float(row[0]) - self._clock())

    def _send_batch(self, due: list[tuple[str, str, int]]) -> None:
        assoc, failure = _associate(self._ae, self.destination, pause=self._stop.wait)
        if assoc is None:
            assert failure is not None
            # Transient (busy, unreachable) and permanent (an AE title not recognised) alike stay
            # queued with back-off: a permanent refusal is fixed at the PACS, then "Retry now".
            for sop_uid, _, attempts in due:
                self._retry_later(sop_uid, attempts, failure.message, logged=False)
            self._log_unreachable(failure.message)
            return
        if self._unreachable:
            log.info("PACS %s: reached again", self.destination.name)
            self._unreachable = ""
        try:
            for index, (sop_uid, rel_path, attempts) in enumerate(due):
                if self._stop.is_set() or not assoc.is_established:
                    for rest_uid, _, rest_attempts in due[index:]:
                        if not self._stop.is_set():
                            self._retry_later(rest_uid, rest_attempts, "the association ended early")
                    break
                self.status_changed.emit(self._state(sop_uid, SendStatus.SENDING, attempts, "", 0.0))
                self._send_one(assoc, sop_uid, rel_path, attempts)
        finally:
            if assoc.is_established:
                assoc.release()

    def _send_one(self, assoc: Association, sop_uid: str, rel_path: str, attempts: int) -> None:
        path = self.root / rel_path
        try:
            ds: pydicom.Dataset = pydicom.dcmread(path)
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
        takes = {(cx.abstract_syntax, ts) for cx in assoc.accepted_contexts for ts in cx.transfer_syntax}
        if self._sends_lossy(ds, (US_MULTIFRAME_IMAGE_STORAGE, JPEG_BASELINE) in takes):
            try:
                ds = jpeg_baseline_copy(ds)
            except (LossyCompressionError, ValueError, RuntimeError, NotImplementedError) as exc:
                reason = f"cannot JPEG-compress {path} for {self.destination.describe()}: {exc}"
                self._set(sop_uid, SendStatus.FAILED, attempts + 1, reason, 0.0)
                return
        syntax = str(ds.file_meta.TransferSyntaxUID)
        if syntax not in _TRANSFER_SYNTAXES and (ds.SOPClassUID, syntax) not in takes:
            # The PACS does not take this compression: the same pixels uncompressed, and the same
            # instance (it is lossless, so its SOP Instance UID stays).
            try:
                ds.decompress(generate_instance_uid=False)
            except (ValueError, RuntimeError, NotImplementedError) as exc:
                reason = f"cannot decompress {path} for {self.destination.describe()}: {exc}"
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

    def _sends_lossy(self, ds: pydicom.Dataset, accepted: bool) -> bool:
        """A clip goes JPEG Baseline only to a destination set for it that accepted it (a PACS that
        did not gets it lossless); stills, reports and anything already lossy go as kept."""
        if self.destination.compression != COMPRESSION_JPEG_BASELINE:
            return False
        if ds.SOPClassUID != US_MULTIFRAME_IMAGE_STORAGE or ds.get("LossyImageCompression") == "01":
            return False
        return accepted

    def _log_unreachable(self, reason: str) -> None:
        """One line for a try the PACS did not take, not one per image; a WARNING only when the reason
        is new: a PACS down for an hour is said once on the console, not at every retry of every image
        (each retry is INFO, seen with --verbose; the PACS tab shows every image's state and reason).
        It counts every image queued for this PACS, not only those due in this try."""
        level = logging.INFO if reason == self._unreachable else logging.WARNING
        self._unreachable = reason
        with self._lock:
            (queued,) = self._conn.execute(
                "SELECT count(*) FROM sends WHERE called_ae = ? AND host = ? AND port = ? AND status = ?",
                (*self._key, SendStatus.QUEUED.value),
            ).fetchone()
        log.log(
            level,
            "PACS %s: %s; %d image(s) stay queued and are tried again with back-off (or Retry now)",
            self.destination.name,
            reason,
            queued,
        )

    def _retry_later(self, sop_uid: str, attempts: int, reason: str, *, logged: bool = True) -> None:
        delay = min(self._max_delay_s, self._base_delay_s * 2.0**attempts)
        self._set(sop_uid, SendStatus.QUEUED, attempts + 1, reason, self._clock() + delay, logged=logged)

    def _set(
        self,
        sop_uid: str,
        status: SendStatus,
        attempts: int,
        error: str,
        next_at: float,
        *,
        logged: bool = True,
    ) -> None:
        with self._lock, transaction(self._conn):
            # Only a queued row moves: a capture marked sent is never touched (or sent) again.
            cur = self._conn.execute(
                "UPDATE sends SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, "
                "updated_at = ? WHERE sop_instance_uid = ? AND called_ae = ? AND host = ? AND port = ? "
                "AND status = ?",
                (
                    status.value,
                    attempts,
                    error,
                    next_at,
                    _now_iso(),
                    sop_uid,
                    *self._key,
                    SendStatus.QUEUED.value,
                ),
            )
        if cur.rowcount:
            if error and logged:
                log.warning("PACS %s, %s: %s", self.destination.name, sop_uid, error)
            self.status_changed.emit(self._state(sop_uid, status, attempts, error, next_at))

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
            self._wake.wait(IDLE_CHECK_S if delay is None else min(delay, IDLE_CHECK_S))
