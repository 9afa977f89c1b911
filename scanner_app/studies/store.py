"""StudyStore: captures written as DICOM when taken, and a SQLite index that can be rebuilt from them.

Layout under the root:
    scanner-app.lock                  held (flock) by the one app that has the folder open
    index.sqlite                      the index (studies, series, captures, PACS send state)
    send-journal.jsonl                every change of PACS send state, appended and fsynced
    studies/<study_uid>/study.json    study-level facts and, at the end, the protocol run record
    studies/<study_uid>/0001-still.dcm, 0002-clip.dcm, ...
    studies/<study_uid>/0007-report.dcm  the signed report (Encapsulated PDF), sent to PACS with the study
    studies/<study_uid>/report.html, report.pdf   the signed report as a person opens it

A capture is durable when its save call returns: the file is renamed into place and the directory
synced before the index row is committed. On opening, the store takes the folder's lock, deletes
temp files left by a crash and adds any complete file the index does not know yet, so the index always
agrees with the files.

Only a proven corruption (not a database, or `PRAGMA integrity_check` fails) makes the store set the
index aside and rebuild it: captures from the files, PACS send state from the send journal. Any other
database error (locked, disk full, I/O error, read-only) raises StudyStoreUnavailable and changes
nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset
from pydicom.valuerep import validate_value

from scanner_app.capture import CaptureKind
from scanner_app.doppler_pipeline import FlowOverlay
from scanner_app.doppler_processing import FlowFrame
from scanner_app.dual_image import compose_dual
from scanner_app.frame import Frame
from scanner_app.spectral import SpectrumLine
from scanner_app.studies.dicom_writer import (
    TEMP_SUFFIX,
    WriteBytes,
    build_dataset,
    encode_dataset,
    fsync_directory,
    new_uid,
    plain_write,
    read_capture_json,
    relabel_dataset,
    write_file_atomic,
)
from scanner_app.studies.doppler_dicom import compose_doppler_still, compose_duplex_clip
from scanner_app.studies.encapsulated_pdf import build_encapsulated_pdf
from scanner_app.studies.folder_lock import StudyFolderLock
from scanner_app.studies.model import (
    CaptureLabels,
    CommitmentStatus,
    InstanceCommitment,
    JsonDict,
    Patient,
    ReportSignOff,
    Study,
    StudyCapture,
    StudyCaptureError,
    StudyDocument,
    StudyError,
    StudyNotDeletable,
    StudyStoreUnavailable,
    check_dicom_value,
    check_json,
)
from scanner_app.studies.rle import apply_rle, can_encode, encode_rle_frame
from scanner_app.studies.structured_report import build_measurement_sr, study_measurements

log = logging.getLogger(__name__)

INDEX_NAME = "index.sqlite"
SEND_JOURNAL_NAME = "send-journal.jsonl"
STUDIES_DIR = "studies"
STUDY_JSON = "study.json"
_CAPTURE_NAME = re.compile(r"^(\d{4,})-(still|clip)\.dcm$")
_REPORT_NAME = re.compile(r"^(\d{4,})-report\.dcm$")
# A signed report is a row of `captures` of this kind (so the PACS send queue, keyed to that table,
# sends it like an image); it is listed in `Study.documents`, never among the captures.
REPORT_KIND = "report"
CLIP_RLE = "rle"  # clips kept RLE Lossless: about half the bytes of speckle, all of them back
CLIP_NONE = "none"
SR_SERIES_KIND = "sr"  # the structured report's series; the SR itself is a document like the PDF
DELETING_PREFIX = ".deleting-"  # a study folder being deleted: out of the index, its files going


@dataclass(frozen=True, slots=True)
class DocumentSlot:
    """Where a new document of a study goes: its UIDs, series, instance number and time."""

    study: Study
    sop_instance_uid: str
    series_uid: str
    series_number: int
    instance_number: int
    created_at: datetime


def _created_at(ds: Dataset) -> datetime:
    """When a document was made: its Acquisition DateTime (the PDF), else its Content Date and Time (SR)."""
    if "AcquisitionDateTime" in ds:
        return datetime.strptime(str(ds.AcquisitionDateTime), "%Y%m%d%H%M%S.%f")
    return datetime.strptime(f"{ds.ContentDate}{ds.ContentTime}", "%Y%m%d%H%M%S.%f")


REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    directory TEXT NOT NULL,
    study_json TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES studies(study_uid),
    series_number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body_part TEXT NOT NULL,
    laterality TEXT NOT NULL,
    UNIQUE (study_uid, kind, body_part, laterality)
);
CREATE TABLE IF NOT EXISTS captures (
    sop_instance_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES studies(study_uid),
    series_uid TEXT NOT NULL REFERENCES series(series_uid),
    kind TEXT NOT NULL,
    instance_number INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    number_of_frames INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    labels_json TEXT NOT NULL,
    annotations_json TEXT NOT NULL
);
"""
# Storage Commitment per instance and PACS identity: made and written by scanner_app.studies.commitment
# (an index that never used it has no such table), read here: only a study whose every instance some
# PACS committed may be deleted.
COMMITMENTS_TABLE = "commitments"

# PACS send state, one row per capture and destination *identity* (called AE title, host, port), so
# re-pointing a destination's name at another PACS starts afresh there. `destination` is the name it
# was last queued under, for display. Rows migrated from the name-keyed table have port 0 until a
# sender for that name claims them (claim_legacy_sends).
_SENDS_TABLE = """
CREATE TABLE IF NOT EXISTS sends (
    sop_instance_uid TEXT NOT NULL REFERENCES captures(sop_instance_uid),
    called_ae TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    destination TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    next_attempt_at REAL NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sop_instance_uid, called_ae, host, port)
);
"""
_SENDS_COLUMNS = "status, attempts, last_error, next_attempt_at, updated_at"


_SEND_COLUMNS = (
    "sop_instance_uid", "called_ae", "host", "port", "destination",
    "status", "attempts", "last_error", "next_attempt_at",
)  # fmt: skip
_SEND_KEY = ("sop_instance_uid", "called_ae", "host", "port")
# Every connection that can change `sends` journals each change from inside the same transaction, so
# the index and the journal cannot disagree about a committed change, whoever writes (the store, a
# PACS sender on its own connection). A journal write that fails fails the change.
_JOURNAL_TRIGGERS = "".join(
    f"""
CREATE TEMP TRIGGER IF NOT EXISTS journal_sends_{event.lower()} AFTER {event} ON main.sends BEGIN
    SELECT journal_send('{op}', {", ".join(f"{row}.{c}" for c in _SEND_COLUMNS)});
END;"""
    for event, op, row in (("INSERT", "set", "NEW"), ("UPDATE", "set", "NEW"), ("DELETE", "delete", "OLD"))
)


def connect_index(path: Path, *, timeout_s: float = 10.0) -> sqlite3.Connection:
    """Open the index with settings that make each committed transaction survive a crash."""
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        ensure_send_state_schema(conn)
        journal = SendJournal(Path(path).parent / SEND_JOURNAL_NAME)
        conn.create_function("journal_send", 1 + len(_SEND_COLUMNS), journal.append_row)
        conn.executescript(_JOURNAL_TRIGGERS)
    except BaseException:
        conn.close()
        raise
    return conn


def ensure_send_state_schema(conn: sqlite3.Connection) -> None:
    """Create the send-state table, or migrate one keyed by destination name (keeping every state).

    A name says nothing about which PACS it pointed at, so migrated rows wait, unclaimed, for the
    first sender of that name (claim_legacy_sends): the PACS it points at now is the best knowledge.
    """
    with transaction(conn):
        columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(sends)")}
        if columns and "port" not in columns:
            conn.execute("ALTER TABLE sends RENAME TO sends_by_name")
            conn.execute(_SENDS_TABLE)
            conn.execute(
                f"INSERT INTO sends (sop_instance_uid, called_ae, host, port, destination, {_SENDS_COLUMNS}) "
                f"SELECT sop_instance_uid, '', '', 0, destination, {_SENDS_COLUMNS} FROM sends_by_name"
            )
            conn.execute("DROP TABLE sends_by_name")
            log.info("study index: PACS send states now keyed by destination (AE title, host, port)")
        else:
            conn.execute(_SENDS_TABLE)


def claim_legacy_sends(conn: sqlite3.Connection, name: str, called_ae: str, host: str, port: int) -> int:
    """Give migrated send states of destination `name` the identity that name has now; returns how many.

    A capture that already has a state with that identity keeps it; its migrated duplicate is dropped.
    """
    with transaction(conn):
        cur = conn.execute(
            "UPDATE OR IGNORE sends SET called_ae = ?, host = ?, port = ? WHERE port = 0 AND destination = ?",
            (called_ae, host, port, name),
        )
        conn.execute("DELETE FROM sends WHERE port = 0 AND destination = ?", (name,))
    return cur.rowcount


class SendJournal:
    """PACS send state as an append-only file of JSON lines beside the index, each line fsynced.

    The index is the working copy; the journal is what a rebuilt index gets its send queue back from.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append_row(self, op: str, *values: object) -> None:
        entry = {"op": op, **dict(zip(_SEND_COLUMNS, values, strict=True))}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_states(self) -> dict[tuple[object, ...], dict[str, Any]]:
        """The last state of each (capture, destination identity) the journal knows, deleted ones left out."""
        states: dict[tuple[object, ...], dict[str, Any]] = {}
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return states
        for number, raw in enumerate(lines, 1):
            try:
                entry = json.loads(raw)
                key = tuple(entry[k] for k in _SEND_KEY)
            except (ValueError, KeyError, TypeError):
                # A line cut short by a crash (the last one) or damage: the rest still counts.
                log.warning("%s line %d is unreadable; skipped", self.path, number)
                continue
            if entry.get("op") == "delete":
                states.pop(key, None)
            else:
                states[key] = entry
        return states

    def rewrite(self, rows: Sequence[Sequence[object]]) -> None:
        """Replace the journal by one line per current row (keeps it as small as the queue)."""
        lines = [
            json.dumps({"op": "set", **dict(zip(_SEND_COLUMNS, row, strict=True))}, ensure_ascii=False)
            for row in rows
        ]
        write_file_atomic(self.path, "".join(line + "\n" for line in lines).encode("utf-8"))


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What opening the store had to repair after a crash or a lost index."""

    temp_files_removed: tuple[str, ...]
    captures_added: tuple[str, ...]
    captures_missing: tuple[str, ...]
    index_rebuilt: bool
    sends_restored: int = 0


_CORRUPTION_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class _IndexDamaged(Exception):
    """PRAGMA integrity_check found the index damaged."""


def _is_corruption(exc: BaseException) -> bool:
    """Proven damage to the index file, as opposed to a reason it cannot be used right now."""
    if isinstance(exc, _IndexDamaged):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in _CORRUPTION_CODES


def _unavailable(root: Path, exc: BaseException) -> StudyStoreUnavailable:
    """One line saying why the store cannot open now and what to do; nothing has been changed."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    os_errno = exc.errno if isinstance(exc, OSError) else None
    if primary == sqlite3.SQLITE_IOERR and _no_space_left(root):
        primary = sqlite3.SQLITE_FULL  # SQLite says "I/O error" when it cannot grow its shared memory file
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        advice = "another program holds its index (a backup? a database browser?): close it and start again"
    elif primary == sqlite3.SQLITE_FULL or os_errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "the disk is full: free some space and start again"
    elif primary == sqlite3.SQLITE_IOERR or os_errno == errno.EIO:
        advice = "the disk reported an I/O error: check the drive and its connection, then start again"
    elif primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN) or os_errno in (
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
    ):
        advice = "it is read-only or not accessible: make it writable, or choose another --study-dir"
    else:
        advice = "fix this and start again"
    return StudyStoreUnavailable(
        f"cannot open the study folder {root} ({exc}); {advice} (nothing was changed)", str(exc)
    )


def _no_space_left(root: Path) -> bool:
    try:
        return os.statvfs(root).f_bavail == 0
    except OSError:
        return False


def _now() -> datetime:
    return datetime.now().astimezone()


class StudyStore:
    """Owns the study folders and their index; every capture is on disk before its call returns."""

    def __init__(
        self,
        root: Path,
        *,
        write_bytes: WriteBytes = plain_write,
        now: Callable[[], datetime] = _now,
        rebuild: bool = False,
        busy_timeout_s: float = 10.0,
        clip_compression: str = CLIP_RLE,
    ) -> None:
        """Open (or create) the store; `rebuild` throws the index away and rebuilds it first.
        Greyscale clips are kept RLE Lossless (`clip_compression` CLIP_RLE) or uncompressed (CLIP_NONE).

        Raises StudyStoreUnavailable (StudyFolderBusy when another app has the folder) when the store
        cannot be used now; nothing is changed or deleted then.
        """
        self.root = Path(root)
        self.studies_dir = self.root / STUDIES_DIR
        self.index_path = self.root / INDEX_NAME
        self._journal = SendJournal(self.root / SEND_JOURNAL_NAME)
        self._write_bytes = write_bytes
        self._now = now
        if clip_compression not in (CLIP_RLE, CLIP_NONE):
            raise StudyError(f"clip compression {clip_compression!r} is not {CLIP_RLE!r} or {CLIP_NONE!r}")
        self.clip_compression = clip_compression
        self._lock = threading.RLock()
        try:
            self.studies_dir.mkdir(parents=True, exist_ok=True)
            # Taken before anything else is touched: temp files and the index belong to the holder.
            self._folder_lock = StudyFolderLock(self.root)
        except OSError as exc:
            raise _unavailable(self.root, exc) from exc
        try:
            self._open(rebuild, busy_timeout_s)
        except BaseException:
            self._folder_lock.close()
            raise

    def _open(self, rebuild: bool, busy_timeout_s: float) -> None:
        conn: sqlite3.Connection | None = None
        try:
            if rebuild:
                self._discard_index()
            else:
                try:
                    conn = connect_index(self.index_path, timeout_s=busy_timeout_s)
                    _check_integrity(conn)
                except (sqlite3.DatabaseError, _IndexDamaged) as exc:
                    if conn is not None:
                        conn.close()
                        conn = None
                    if not _is_corruption(exc):
                        raise
                    aside = self._set_index_aside()
                    log.error(
                        "study index %s is damaged (%s); kept as %s, rebuilding it from the files "
                        "and the send journal",
                        self.index_path,
                        exc,
                        aside.name,
                    )
                    rebuild = True
            if conn is None:
                conn = connect_index(self.index_path, timeout_s=busy_timeout_s)
            self._conn = conn
            report = self._reconcile()
            restored = self._restore_sends() if rebuild else 0
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {', '.join(_SEND_COLUMNS)} FROM sends ORDER BY rowid"
                ).fetchall()
            self._journal.rewrite(rows)
        except (sqlite3.Error, OSError, StudyCaptureError) as exc:
            if conn is not None:
                conn.close()
            cause = exc.__cause__ if isinstance(exc, StudyCaptureError) and exc.__cause__ else exc
            raise _unavailable(self.root, cause) from exc
        self.last_reconcile = ReconcileReport(
            report.temp_files_removed, report.captures_added, report.captures_missing, rebuild, restored
        )

    # ----- lifecycle -----

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._folder_lock.close()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- studies -----

    def start_study(
        self,
        patient: Patient,
        operator: str,
        *,
        trainee: str = "",
        supervisor: str = "",
        protocol_id: str = "",
        description: str = "",
        accession_number: str = "",
        referring_physician: str = "",
        study_uid: str = "",
    ) -> Study:
        """Create the study folder and its study.json; the study is then ready for captures.

        `study_uid` is the order's Study Instance UID (from the worklist), so the images match the
        order at the PACS; a new one is made when it is empty."""
        if not operator.strip():
            raise StudyError("operator must not be empty (DICOM Operators' Name)")
        if study_uid:
            try:
                validate_value("UI", study_uid, pydicom_config.RAISE)
            except ValueError as exc:
                raise StudyError(f"Study Instance UID {study_uid!r} is not a valid UID: {exc}") from exc
        else:
            study_uid = new_uid()
        started = self._now()
        study = Study(
            study_uid=study_uid,
            study_id=started.strftime("%y%m%d%H%M%S")[:16],
            patient=patient,
            operator=operator,
            trainee=trainee,
            supervisor=supervisor,
            protocol_id=protocol_id,
            description=description,
            accession_number=accession_number,
            referring_physician=referring_physician,
            started_at=started,
            directory=f"{STUDIES_DIR}/{study_uid}",
        )
        study_dir = self.root / study.directory
        with self._lock:
            try:
                study_dir.mkdir()
            except OSError as exc:
                raise StudyCaptureError(f"could not create study folder {study_dir}: {exc}") from exc
            self._write_study_json(study)
            self._index_study(self._conn, study)
        return study

    def end_study(self, study: Study, protocol_record: Mapping[str, Any] | None = None) -> None:
        """Record the protocol runner's record (findings, measurements) and the end time."""
        record = dict(protocol_record) if protocol_record is not None else None
        check_json(record, "protocol_record")
        with self._lock:
            # Change the caller's study only once the new study.json is safely on disk.
            ended = dataclasses.replace(study, protocol_record=record, ended_at=self._now())
            self._write_study_json(ended)
            self._index_study(self._conn, ended)
            study.protocol_record = ended.protocol_record
            study.ended_at = ended.ended_at

    def keep_open(self, study: Study, protocol_record: Mapping[str, Any] | None) -> None:
        """Record the protocol runner's record so far and leave the study open (not ended): the app
        closes mid-exam and the exam is resumed or ended later; nothing recorded is lost meanwhile."""
        record = dict(protocol_record) if protocol_record is not None else None
        check_json(record, "protocol_record")
        with self._lock:
            kept = dataclasses.replace(study, protocol_record=record)
            self._write_study_json(kept)
            self._index_study(self._conn, kept)
            study.protocol_record = kept.protocol_record

    def sign_report(self, study_uid: str, impression: str, signed_by: str) -> Study:
        """Keep the report's impression and its signer (a DICOM person name) with the ended study.

        Signing again replaces both (an amended report); the time is now. Returns the study as kept.
        """
        if not impression.strip():
            raise StudyError("the impression is empty: write what the exam shows before signing")
        if not signed_by.strip():
            raise StudyError("the report needs the name of the person signing it")
        check_dicom_value("signed_by", "PN", signed_by)
        with self._lock:
            study = self.get_study(study_uid)
            if study.ended_at is None:
                raise StudyError("the exam is still open: end it before signing its report")
            signed = dataclasses.replace(
                study, sign_off=ReportSignOff(impression.strip(), signed_by.strip(), self._now())
            )
            self._write_study_json(signed)
            self._index_study(self._conn, signed)
            return signed

    def save_report_document(self, study_uid: str, pdf: bytes, title: str) -> StudyDocument:
        """Keep the signed report's PDF as an Encapsulated PDF in the study, in its own series.

        Every PACS the study's images were already queued for gets it queued too, so a study sent
        before its report was signed still receives the report; a study sent later takes it along.
        """

        def build(slot: DocumentSlot) -> Dataset:
            return build_encapsulated_pdf(
                slot.study,
                pdf,
                title=title,
                sop_instance_uid=slot.sop_instance_uid,
                series_uid=slot.series_uid,
                series_number=slot.series_number,
                instance_number=slot.instance_number,
                created_at=slot.created_at,
            )

        return self._save_document(study_uid, REPORT_KIND, build)

    def save_structured_report(self, study_uid: str, findings: Sequence[str]) -> StudyDocument:
        """Keep the study's measurements (calipers and typed) and `findings` as a Comprehensive SR in
        its own series, sent like the PDF report (`save_report_document`)."""

        def build(slot: DocumentSlot) -> Dataset:
            return build_measurement_sr(
                slot.study,
                study_measurements(slot.study),
                findings,
                sop_instance_uid=slot.sop_instance_uid,
                series_uid=slot.series_uid,
                series_number=slot.series_number,
                instance_number=slot.instance_number,
                created_at=slot.created_at,
                final=slot.study.sign_off is not None,
            )

        return self._save_document(study_uid, SR_SERIES_KIND, build)

    def _save_document(
        self,
        study_uid: str,
        series_kind: str,
        build: Callable[[DocumentSlot], Dataset],
    ) -> StudyDocument:
        """Write a document of the study (report PDF, SR) into the series of its kind and index it,
        queued for every PACS the study went to."""
        with self._lock:
            study = self.get_study(study_uid)
            instance_number = self._next_instance_number(study)
            found = self._conn.execute(
                "SELECT series_uid, series_number FROM series WHERE study_uid = ? AND kind = ?",
                (study_uid, series_kind),
            ).fetchone()
            if found is not None:
                series_uid, series_number = str(found[0]), int(found[1])
            else:
                series_uid, series_number = self._new_series(study_uid)
            sop_uid = new_uid()
            created = self._now()
            ds = build(DocumentSlot(study, sop_uid, series_uid, series_number, instance_number, created))
            rel_path = f"{study.directory}/{instance_number:04d}-{REPORT_KIND}.dcm"
            path = self.root / rel_path
            write_file_atomic(path, encode_dataset(ds), self._write_bytes, overwrite=False)
            document = StudyDocument(sop_uid, study_uid, series_uid, instance_number, rel_path, created)
            try:
                self._index_document(
                    self._conn, document, series_number, queue_for_known_pacs=True, series_kind=series_kind
                )
            except sqlite3.Error as exc:
                with contextlib.suppress(OSError):
                    path.unlink()
                raise StudyCaptureError(
                    f"could not record {path} in the index {self.index_path}: {exc}"
                ) from exc
            return document

    def write_report_file(self, study_uid: str, name: str, payload: bytes) -> Path:
        """Keep the report as a person opens it (report.html, report.pdf) in the study's folder."""
        if name not in (REPORT_HTML, REPORT_PDF):
            raise StudyError(f"{name!r} is not a report file name ({REPORT_HTML}, {REPORT_PDF})")
        study = self.get_study(study_uid)
        path = self.root / study.directory / name
        write_file_atomic(path, payload, self._write_bytes)
        return path

    @staticmethod
    def _index_document(
        conn: sqlite3.Connection,
        document: StudyDocument,
        series_number: int,
        *,
        queue_for_known_pacs: bool,
        series_kind: str = REPORT_KIND,
    ) -> None:
        with transaction(conn):
            conn.execute(
                "INSERT OR IGNORE INTO series (series_uid, study_uid, series_number, kind, body_part, "
                "laterality) VALUES (?, ?, ?, ?, '', '')",
                (document.series_uid, document.study_uid, series_number, series_kind),
            )
            conn.execute(
                "INSERT INTO captures (sop_instance_uid, study_uid, series_uid, kind, instance_number, "
                "path, number_of_frames, taken_at, labels_json, annotations_json) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?, '{}', '[]')",
                (
                    document.sop_instance_uid,
                    document.study_uid,
                    document.series_uid,
                    REPORT_KIND,
                    document.instance_number,
                    document.path,
                    document.created_at.isoformat(),
                ),
            )
            if queue_for_known_pacs:
                conn.execute(
                    "INSERT OR IGNORE INTO sends (sop_instance_uid, called_ae, host, port, destination, "
                    "status, updated_at) "
                    "SELECT DISTINCT ?, s.called_ae, s.host, s.port, s.destination, 'queued', ? FROM sends s "
                    "JOIN captures c ON c.sop_instance_uid = s.sop_instance_uid "
                    "WHERE c.study_uid = ? AND c.kind != ? AND s.port != 0",
                    (
                        document.sop_instance_uid,
                        document.created_at.isoformat(),
                        document.study_uid,
                        REPORT_KIND,
                    ),
                )

    def _write_study_json(self, study: Study) -> None:
        payload = json.dumps(study.to_json(), indent=2, ensure_ascii=False).encode("utf-8")
        write_file_atomic(self.root / study.directory / STUDY_JSON, payload, self._write_bytes)

    @staticmethod
    def _index_study(conn: sqlite3.Connection, study: Study) -> None:
        with transaction(conn):
            conn.execute(
                "INSERT INTO studies (study_uid, directory, study_json, started_at, ended_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(study_uid) DO UPDATE SET "
                "study_json = excluded.study_json, ended_at = excluded.ended_at",
                (
                    study.study_uid,
                    study.directory,
                    json.dumps(study.to_json()),
                    study.started_at.isoformat(),
                    study.ended_at.isoformat() if study.ended_at else None,
                ),
            )

    # ----- captures -----

    def save_still(
        self,
        study: Study,
        frame: Frame,
        labels: CaptureLabels | Mapping[str, Any] | None = None,
        annotations: Sequence[JsonDict] = (),
    ) -> StudyCapture:
        """Save one frame as an Ultrasound Image; returns only once it is safely on disk."""
        return self._save(study, [frame], CaptureKind.STILL, labels, annotations)

    def save_clip(
        self,
        study: Study,
        frames: Sequence[Frame],
        labels: CaptureLabels | Mapping[str, Any] | None = None,
        annotations: Sequence[JsonDict] = (),
    ) -> StudyCapture:
        """Save frames as an Ultrasound Multi-frame Image; returns only once it is safely on disk."""
        return self._save(study, list(frames), CaptureKind.CLIP, labels, annotations)

    def save_dual(
        self,
        study: Study,
        left: Frame,
        right: Frame,
        labels: CaptureLabels | Mapping[str, Any] | None = None,
        annotations: Sequence[JsonDict] = (),
    ) -> StudyCapture:
        """Save two frames side by side as one Ultrasound Image with one calibrated region per half."""
        composite, halves = compose_dual(left, right)
        return self._save(study, [composite], CaptureKind.STILL, labels, annotations, halves=halves)

    def save_doppler_still(
        self,
        study: Study,
        bmode: Frame,
        flow: FlowFrame | FlowOverlay | None,
        spectrum: Sequence[SpectrumLine] | None,
        *,
        labels: CaptureLabels | Mapping[str, Any] | None = None,
        measurements: Sequence[Mapping[str, Any]] = (),
        power: bool = False,
        annotations: Sequence[JsonDict] = (),
        bar: npt.NDArray[np.uint8] | None = None,
    ) -> StudyCapture:
        """Save a colour, power or spectral (duplex) still as an RGB Ultrasound Image: the B-mode with the
        flow in its box (a `FlowOverlay`: as the display drew it) and `bar` (the colour bar) beside it,
        the spectrum strip below it, each area its own calibrated US region.

        `measurements` (e.g. {"name": "PSV", "value": 82.1, "unit": "cm/s"}) are kept with the capture,
        after `annotations` (entries as the capture sink makes them).
        """
        image = compose_doppler_still(bmode, flow, spectrum, power=power, bar=bar)
        entries = [*annotations, *({"type": "measurement", **dict(m)} for m in measurements)]
        return self._save(
            study,
            [bmode],
            CaptureKind.STILL,
            labels,
            entries,
            rgb=image.rgb[np.newaxis],
            regions=image.regions,
        )

    def save_doppler_clip(
        self,
        study: Study,
        frames: Sequence[Frame],
        flows: Sequence[FlowFrame | FlowOverlay],
        labels: CaptureLabels | Mapping[str, Any] | None = None,
        annotations: Sequence[JsonDict] = (),
        *,
        power: bool = False,
        bar: npt.NDArray[np.uint8] | None = None,
    ) -> StudyCapture:
        """Save a colour (or power) flow clip as an RGB Ultrasound Multi-frame Image: frame i is
        `frames[i]` with `flows[i]` in its box; the regions are those of the first frame."""
        if len(frames) != len(flows) or not frames:
            raise StudyCaptureError(
                f"a flow clip needs one flow frame per B-mode frame: {len(frames)}, {len(flows)}"
            )
        images = [
            compose_doppler_still(f, flow, None, power=power, bar=bar)
            for f, flow in zip(frames, flows, strict=True)
        ]
        rgb = np.stack([image.rgb for image in images])
        return self._save(
            study, list(frames), CaptureKind.CLIP, labels, annotations, rgb=rgb, regions=images[0].regions
        )

    def save_duplex_clip(
        self,
        study: Study,
        frames: Sequence[Frame],
        spectrum: Sequence[SpectrumLine],
        shown: Sequence[int],
        *,
        labels: CaptureLabels | Mapping[str, Any] | None = None,
        annotations: Sequence[JsonDict] = (),
    ) -> StudyCapture:
        """Save a PW duplex clip as an RGB Ultrasound Multi-frame Image: frame i is `frames[i]` above the
        spectral sweep as it stood then (the first `shown[i]` lines of `spectrum`), with a tissue region
        in cm and a spectral region in s and cm/s (`doppler_dicom.compose_duplex_clip`)."""
        rgb, regions = compose_duplex_clip(frames, spectrum, shown)
        return self._save(
            study, list(frames), CaptureKind.CLIP, labels, annotations, rgb=rgb, regions=regions
        )

    def delete_capture(self, sop_instance_uid: str) -> StudyCapture:
        """Remove a capture from its study: its file, its index row and any PACS send queued for it.

        The file goes first (and its removal is made durable): a crash before the index row is gone
        leaves an index entry without a file, which opening the store drops; never a deleted image
        that comes back. Raises StudyError for an unknown capture.
        """
        with self._lock:
            record = self.get_capture(sop_instance_uid)
            path = self.capture_path(record)
            try:
                path.unlink(missing_ok=True)
                fsync_directory(path.parent)
            except OSError as exc:
                raise StudyCaptureError(f"could not delete {path}: {exc.strerror or exc}") from exc
            with transaction(self._conn):
                self._conn.execute("DELETE FROM sends WHERE sop_instance_uid = ?", (sop_instance_uid,))
                if self._has_commitments():
                    self._conn.execute(
                        "DELETE FROM commitments WHERE sop_instance_uid = ?", (sop_instance_uid,)
                    )
                self._conn.execute("DELETE FROM captures WHERE sop_instance_uid = ?", (sop_instance_uid,))
            return record

    def relabel_capture(
        self, sop_instance_uid: str, labels: CaptureLabels | Mapping[str, Any]
    ) -> StudyCapture:
        """Give a capture other protocol labels (step, plane): its file is rewritten (atomically, same
        instance) and its index row follows. Side and body part are kept: they name its series."""
        with self._lock:
            record = self.get_capture(sop_instance_uid)
            new = CaptureLabels.from_mapping(labels)
            new = dataclasses.replace(
                new, laterality=record.labels.laterality, body_part=record.labels.body_part
            )
            ds = self.read_dataset(record)
            relabel_dataset(ds, new)
            write_file_atomic(self.capture_path(record), encode_dataset(ds), self._write_bytes)
            with transaction(self._conn):
                self._conn.execute(
                    "UPDATE captures SET labels_json = ? WHERE sop_instance_uid = ?",
                    (json.dumps(new.to_json()), sop_instance_uid),
                )
            return dataclasses.replace(record, labels=new)

    def get_capture(self, sop_instance_uid: str) -> StudyCapture:
        """The index record of one capture; StudyError if the store has none with that UID."""
        for record in self._captures_of(None, sop_instance_uid):
            return record
        raise StudyError(f"no capture {sop_instance_uid} in {self.root}")

    def _save(
        self,
        study: Study,
        frames: list[Frame],
        kind: CaptureKind,
        labels_in: CaptureLabels | Mapping[str, Any] | None,
        annotations_in: Sequence[JsonDict],
        *,
        halves: Sequence[tuple[int, Frame]] = (),
        rgb: npt.NDArray[np.uint8] | None = None,
        regions: Sequence[Dataset] = (),
    ) -> StudyCapture:
        labels = CaptureLabels.from_mapping(labels_in)
        annotations = tuple(dict(a) for a in annotations_in)
        check_json(list(annotations), "annotations")
        if study.ended_at is not None:
            raise StudyError(f"study {study.study_uid} has ended; start a new study to capture more")
        encoded: list[bytes] = []
        pixels = [f.pixels for f in frames]
        compress = kind is CaptureKind.CLIP and rgb is None and self.clip_compression == CLIP_RLE
        if compress and can_encode(pixels):
            # Before the lock: a 10 s clip takes a few seconds to compress, and captures wait on the lock.
            encoded = [encode_rle_frame(np.asarray(p, dtype=np.uint8)) for p in pixels]
        with self._lock:
            known = self._conn.execute(
                "SELECT 1 FROM studies WHERE study_uid = ?", (study.study_uid,)
            ).fetchone()
            if known is None:
                raise StudyError(f"study {study.study_uid} is not in this store ({self.root})")
            instance_number = self._next_instance_number(study)
            series_uid, series_number = self._series_for(study, kind, labels)
            taken_at = self._now()
            sop_uid = new_uid()
            ds = build_dataset(
                study,
                frames,
                kind=kind,
                sop_instance_uid=sop_uid,
                series_uid=series_uid,
                series_number=series_number,
                instance_number=instance_number,
                labels=labels,
                annotations=annotations,
                taken_at=taken_at,
                halves=halves,
                rgb=rgb,
                regions=regions,
            )
            if encoded:
                apply_rle(ds, encoded)
            rel_path = f"{study.directory}/{instance_number:04d}-{kind.value}.dcm"
            path = self.root / rel_path
            write_file_atomic(path, encode_dataset(ds), self._write_bytes, overwrite=False)
            record = StudyCapture(
                sop_instance_uid=sop_uid,
                study_uid=study.study_uid,
                series_uid=series_uid,
                kind=kind,
                instance_number=instance_number,
                path=rel_path,
                number_of_frames=len(frames),
                taken_at=taken_at,
                labels=labels,
                annotations=annotations,
            )
            try:
                self._index_capture(self._conn, record, series_number)
            except sqlite3.Error as exc:
                # Keep the index and the files in agreement: the capture failed, so its file goes.
                with contextlib.suppress(OSError):
                    path.unlink()
                raise StudyCaptureError(
                    f"could not record {path} in the index {self.index_path}: {exc}"
                ) from exc
            study.captures.append(record)
            return record

    def _highest_file_number(self, study: Study) -> int:
        """The highest NNNN of the NNNN-kind.dcm files in the study's folder (0 if none)."""
        numbers = [int(p.name[:4]) for p in (self.root / study.directory).glob("[0-9][0-9][0-9][0-9]-*.dcm")]
        return max(numbers, default=0)

    def _series_for(self, study: Study, kind: CaptureKind, labels: CaptureLabels) -> tuple[str, int]:
        """One series per (kind, body part, side) in a study, so each series has one laterality."""
        row = self._conn.execute(
            "SELECT series_uid, series_number FROM series "
            "WHERE study_uid = ? AND kind = ? AND body_part = ? AND laterality = ?",
            (study.study_uid, kind.value, labels.body_part, labels.laterality),
        ).fetchone()
        if row is not None:
            return str(row[0]), int(row[1])
        return self._new_series(study.study_uid)

    def _new_series(self, study_uid: str) -> tuple[str, int]:
        """A new series' UID and the number after the study's highest. Not inserted yet: the series
        row is written with its first instance, in one transaction."""
        top = self._conn.execute(
            "SELECT max(series_number) FROM series WHERE study_uid = ?", (study_uid,)
        ).fetchone()
        return new_uid(), int((top[0] if top else 0) or 0) + 1

    def _next_instance_number(self, study: Study) -> int:
        """After the highest the index or the study's folder knows: files the index does not know (a
        damaged one it could not read back) keep their numbers."""
        row = self._conn.execute(
            "SELECT max(instance_number) FROM captures WHERE study_uid = ?", (study.study_uid,)
        ).fetchone()
        return max(row[0] or 0, self._highest_file_number(study)) + 1

    @staticmethod
    def _index_capture(conn: sqlite3.Connection, record: StudyCapture, series_number: int) -> None:
        with transaction(conn):
            conn.execute(
                "INSERT OR IGNORE INTO series (series_uid, study_uid, series_number, kind, body_part, "
                "laterality) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.series_uid,
                    record.study_uid,
                    series_number,
                    record.kind.value,
                    record.labels.body_part,
                    record.labels.laterality,
                ),
            )
            conn.execute(
                "INSERT INTO captures (sop_instance_uid, study_uid, series_uid, kind, instance_number, "
                "path, number_of_frames, taken_at, labels_json, annotations_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.sop_instance_uid,
                    record.study_uid,
                    record.series_uid,
                    record.kind.value,
                    record.instance_number,
                    record.path,
                    record.number_of_frames,
                    record.taken_at.isoformat(),
                    json.dumps(record.labels.to_json()),
                    json.dumps(list(record.annotations)),
                ),
            )

    # ----- reading -----

    def list_studies(self) -> list[Study]:
        """Every study in the index, oldest first, with its captures."""
        with self._lock:
            rows = self._conn.execute("SELECT study_json FROM studies ORDER BY started_at").fetchall()
            studies = [Study.from_json(json.loads(r[0])) for r in rows]
            for study in studies:
                study.captures = self._captures_of(study.study_uid)
                study.documents = self._documents_of(study.study_uid)
            return studies

    def studies_of_patient(self, patient_id: str) -> list[Study]:
        """The studies kept under `patient_id`, oldest first, with their captures: found in the index
        (not by reading every study), for a patient's earlier values and identity."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT study_json FROM studies WHERE json_extract(study_json, '$.patient.patient_id') = ? "
                "ORDER BY started_at",
                (patient_id,),
            ).fetchall()
            studies = [Study.from_json(json.loads(r[0])) for r in rows]
            for study in studies:
                study.captures = self._captures_of(study.study_uid)
                study.documents = self._documents_of(study.study_uid)
            return studies

    def get_study(self, study_uid: str) -> Study:
        with self._lock:
            row = self._conn.execute(
                "SELECT study_json FROM studies WHERE study_uid = ?", (study_uid,)
            ).fetchone()
            if row is None:
                raise StudyError(f"no study {study_uid} in {self.root}")
            study = Study.from_json(json.loads(row[0]))
            study.captures = self._captures_of(study_uid)
            study.documents = self._documents_of(study_uid)
            return study

    def list_captures(self, study_uid: str | None = None) -> list[StudyCapture]:
        with self._lock:
            return self._captures_of(study_uid)

    def _captures_of(self, study_uid: str | None, sop_instance_uid: str | None = None) -> list[StudyCapture]:
        sql = (
            "SELECT sop_instance_uid, study_uid, series_uid, kind, instance_number, path, "
            "number_of_frames, taken_at, labels_json, annotations_json FROM captures"
        )
        sql += " WHERE kind != ?"  # a signed report is a document of the study, not a capture
        params: tuple[str, ...] = (REPORT_KIND,)
        if study_uid is not None:
            sql += " AND study_uid = ?"
            params = (*params, study_uid)
        elif sop_instance_uid is not None:
            sql += " AND sop_instance_uid = ?"
            params = (*params, sop_instance_uid)
        rows = self._conn.execute(sql + " ORDER BY study_uid, instance_number", params).fetchall()
        return [
            StudyCapture(
                sop_instance_uid=r[0],
                study_uid=r[1],
                series_uid=r[2],
                kind=CaptureKind(r[3]),
                instance_number=int(r[4]),
                path=r[5],
                number_of_frames=int(r[6]),
                taken_at=datetime.fromisoformat(r[7]),
                labels=CaptureLabels.from_mapping(json.loads(r[8])),
                annotations=tuple(json.loads(r[9])),
            )
            for r in rows
        ]

    def _documents_of(self, study_uid: str) -> list[StudyDocument]:
        rows = self._conn.execute(
            "SELECT sop_instance_uid, study_uid, series_uid, instance_number, path, taken_at FROM captures "
            "WHERE kind = ? AND study_uid = ? ORDER BY instance_number",
            (REPORT_KIND, study_uid),
        ).fetchall()
        return [
            StudyDocument(str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), datetime.fromisoformat(r[5]))
            for r in rows
        ]

    def capture_path(self, record: StudyCapture | StudyDocument) -> Path:
        return self.root / record.path

    def read_dataset(self, record: StudyCapture) -> Dataset:
        """The capture's DICOM dataset, read back from its file."""
        return pydicom.dcmread(self.capture_path(record))

    # ----- storage commitment and deletion -----

    def _has_commitments(self) -> bool:
        return (
            self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (COMMITMENTS_TABLE,)
            ).fetchone()
            is not None
        )

    def commitments(self, study_uid: str) -> list[InstanceCommitment]:
        """What each PACS said of keeping each instance of the study (Storage Commitment)."""
        with self._lock:
            if not self._has_commitments():
                return []
            rows = self._conn.execute(
                "SELECT m.sop_instance_uid, m.destination, m.called_ae, m.host, m.port, m.status, m.reason, "
                "m.updated_at FROM commitments m JOIN captures c ON c.sop_instance_uid = m.sop_instance_uid "
                "WHERE c.study_uid = ? ORDER BY c.instance_number, m.destination",
                (study_uid,),
            ).fetchall()
        return [
            InstanceCommitment(
                str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), CommitmentStatus(r[5]), str(r[6]),
                datetime.fromisoformat(r[7]),
            )
            for r in rows
        ]  # fmt: skip

    def uncommitted(self, study_uid: str) -> list[str]:
        """The study's instances (images, reports) no PACS has committed, as '#N kind', in order."""
        with self._lock:
            if not self._has_commitments():
                rows = self._conn.execute(
                    "SELECT instance_number, kind FROM captures WHERE study_uid = ? ORDER BY instance_number",
                    (study_uid,),
                ).fetchall()
                return [f"#{int(r[0])} {r[1]}" for r in rows]
            rows = self._conn.execute(
                "SELECT c.instance_number, c.kind FROM captures c WHERE c.study_uid = ? AND NOT EXISTS "
                "(SELECT 1 FROM commitments m WHERE m.sop_instance_uid = c.sop_instance_uid "
                "AND m.status = ?) ORDER BY c.instance_number",
                (study_uid, CommitmentStatus.COMMITTED.value),
            ).fetchall()
        return [f"#{int(r[0])} {r[1]}" for r in rows]

    def delete_study(self, study_uid: str) -> Study:
        """Delete an ended study whose every instance a PACS has committed: its folder and index rows.

        StudyNotDeletable (naming the study and the images) for an open study or one with an image no
        PACS committed; StudyCaptureError when the file system refuses (nothing is deleted then). The
        folder is first renamed aside in one step, so a crash or a refusal never leaves half a study
        in the index; files the system will not remove after that stay aside, out of the index, and
        are removed when the store next opens.
        """
        with self._lock:
            study = self.get_study(study_uid)
            name = f"study {study.study_id} ({study.patient.patient_id or 'no patient ID'}, {study_uid})"
            if study.ended_at is None:
                raise StudyNotDeletable(f"{name} is still open: end the exam before deleting it")
            missing = self.uncommitted(study_uid)
            if missing:
                total = len(study.captures) + len(study.documents)
                raise StudyNotDeletable(
                    f"{name} cannot be deleted: {len(missing)} of {total} image(s) not committed by any "
                    f"PACS ({', '.join(missing)}); send it to a PACS with storage commitment first"
                )
            folder = self.root / study.directory
            aside = self.studies_dir / f"{DELETING_PREFIX}{folder.name}"
            try:
                os.replace(folder, aside)
                fsync_directory(self.studies_dir)
            except OSError as exc:
                raise StudyCaptureError(
                    f"could not delete {name}: {folder}: {exc.strerror or exc}; nothing was deleted"
                ) from exc
            try:
                with transaction(self._conn):
                    uids = "SELECT sop_instance_uid FROM captures WHERE study_uid = ?"
                    by_instance = ["sends", COMMITMENTS_TABLE] if self._has_commitments() else ["sends"]
                    for table in by_instance:
                        self._conn.execute(
                            f"DELETE FROM {table} WHERE sop_instance_uid IN ({uids})", (study_uid,)
                        )
                    for table in ("captures", "series", "studies"):
                        self._conn.execute(f"DELETE FROM {table} WHERE study_uid = ?", (study_uid,))
            except sqlite3.Error as exc:
                os.replace(aside, folder)
                raise StudyCaptureError(f"could not delete {name} from the index: {exc}") from exc
            _remove_deleted_folder(aside)
            log.info("deleted %s: %d instance(s), every one committed by a PACS", name, len(study.captures))
            return study

    # ----- crash recovery -----

    def _discard_index(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (self.root / (INDEX_NAME + suffix)).unlink()

    def _set_index_aside(self) -> Path:
        """Rename a damaged index (and its WAL) out of the way, kept for a person to look at."""
        stamp = self._now().strftime("%Y%m%dT%H%M%S")
        aside = self.root / f"{INDEX_NAME}.damaged-{stamp}"
        for suffix in ("-wal", "-shm", ""):
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.root / (INDEX_NAME + suffix), self.root / f"{aside.name}{suffix}")
        return aside

    def _restore_sends(self) -> int:
        """Give a rebuilt index its PACS send queue back from the journal; returns rows restored."""
        states = self._journal.read_states()
        with self._lock:
            known = {r[0] for r in self._conn.execute("SELECT sop_instance_uid FROM captures")}
            restored = 0
            with transaction(self._conn):
                for entry in states.values():
                    if entry["sop_instance_uid"] not in known:
                        continue  # its file is gone: nothing left to send
                    queued = entry.get("status") == "queued"
                    self._conn.execute(
                        "INSERT OR REPLACE INTO sends (sop_instance_uid, called_ae, host, port, destination, "
                        "status, attempts, last_error, next_attempt_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            str(entry["sop_instance_uid"]),
                            str(entry["called_ae"]),
                            str(entry["host"]),
                            int(entry["port"]),
                            str(entry.get("destination") or ""),
                            str(entry.get("status", "queued")),
                            int(entry.get("attempts") or 0),
                            str(entry.get("last_error") or ""),
                            0.0 if queued else float(entry.get("next_attempt_at") or 0.0),
                            self._now().isoformat(),
                        ),
                    )
                    restored += 1
        if restored:
            log.warning("restored the PACS send state of %d captures from %s", restored, self._journal.path)
        return restored

    def _reconcile(self) -> ReconcileReport:
        """Remove crash leftovers and make the index list exactly the complete files on disk."""
        removed: list[str] = []
        for tmp in sorted(self.studies_dir.glob(f"*/.*{TEMP_SUFFIX}")):
            tmp.unlink()
            removed.append(str(tmp.relative_to(self.root)))
            log.warning("removed %s, a file left half-written by an interrupted capture", tmp)
        for leftover in sorted(self.studies_dir.glob(DELETING_PREFIX + "*")):
            _remove_deleted_folder(leftover)  # a deletion interrupted, or refused by the file system
        added: list[str] = []
        with self._lock:
            known_studies = {r[0] for r in self._conn.execute("SELECT directory FROM studies")}
            known_files = {r[0] for r in self._conn.execute("SELECT path FROM captures")}
            studies = (p for p in self.studies_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
            for study_dir in sorted(studies):
                rel_dir = f"{STUDIES_DIR}/{study_dir.name}"
                files = sorted(p for p in study_dir.iterdir() if _CAPTURE_NAME.match(p.name))
                if rel_dir not in known_studies:
                    study = self._study_from_disk(study_dir, files)
                    if study is None:
                        continue
                    self._index_study(self._conn, study)
                for path in sorted(p for p in study_dir.iterdir() if _REPORT_NAME.match(p.name)):
                    rel = f"{rel_dir}/{path.name}"
                    if rel not in known_files and self._index_document_file(rel, path):
                        added.append(rel)
                for path in files:
                    rel = f"{rel_dir}/{path.name}"
                    if rel in known_files:
                        continue
                    record, series_number = self._record_from_file(rel, path)
                    if record is None:
                        continue
                    self._index_capture(self._conn, record, series_number)
                    added.append(rel)
            missing = sorted(
                known_files
                - {f"{STUDIES_DIR}/{p.parent.name}/{p.name}" for p in self.studies_dir.glob("*/*.dcm")}
            )
            for rel in missing:
                # A file someone deleted by hand: say so loudly and drop it from the index.
                log.error("indexed capture %s is missing on disk; removing it from the index", rel)
                with transaction(self._conn):
                    self._conn.execute(
                        "DELETE FROM sends WHERE sop_instance_uid IN "
                        "(SELECT sop_instance_uid FROM captures WHERE path = ?)",
                        (rel,),
                    )
                    self._conn.execute("DELETE FROM captures WHERE path = ?", (rel,))
        return ReconcileReport(tuple(removed), tuple(added), tuple(missing), False)

    def _study_from_disk(self, study_dir: Path, files: list[Path]) -> Study | None:
        rel_dir = f"{STUDIES_DIR}/{study_dir.name}"
        json_path = study_dir / STUDY_JSON
        if json_path.exists():
            try:
                study = Study.from_json(json.loads(json_path.read_text(encoding="utf-8")))
                study.directory = rel_dir
                return study
            except (ValueError, KeyError, StudyError) as exc:
                log.error("%s is unreadable (%s); rebuilding the study from its images", json_path, exc)
        for path in files:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception as exc:  # any unreadable file is reported, not fatal
                log.error("cannot read %s: %s", path, exc)
                continue
            ctx = (read_capture_json(ds) or {}).get("study", {})
            started = (
                ctx.get("started_at")
                or datetime.strptime(f"{ds.StudyDate}{str(ds.StudyTime)[:6]}", "%Y%m%d%H%M%S").isoformat()
            )
            patient = ctx.get("patient") or {"patient_id": str(ds.PatientID), "name": str(ds.PatientName)}
            return Study.from_json(
                {
                    "study_uid": str(ds.StudyInstanceUID),
                    "study_id": ctx.get("study_id", str(ds.get("StudyID", ""))),
                    "patient": patient,
                    "operator": ctx.get("operator", str(ds.get("OperatorsName", ""))),
                    "trainee": ctx.get("trainee", ""),
                    "supervisor": ctx.get("supervisor", ""),
                    "protocol_id": ctx.get("protocol_id", ""),
                    "description": ctx.get("description", ""),
                    "accession_number": ctx.get("accession_number", ""),
                    "started_at": started,
                    "directory": rel_dir,
                }
            )
        log.error("study folder %s has neither study.json nor readable images; skipped", study_dir)
        return None

    def _index_document_file(self, rel: str, path: Path) -> bool:
        """Index a signed report found on disk (a rebuilt index); False if it cannot be read."""
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            created = _created_at(ds)
            document = StudyDocument(
                str(ds.SOPInstanceUID),
                str(ds.StudyInstanceUID),
                str(ds.SeriesInstanceUID),
                int(ds.InstanceNumber),
                rel,
                created,
            )
            kind = SR_SERIES_KIND if ds.get("Modality") == "SR" else REPORT_KIND
            self._index_document(
                self._conn, document, int(ds.SeriesNumber), queue_for_known_pacs=False, series_kind=kind
            )
            return True
        except Exception as exc:  # one bad file must not stop the others
            log.error("cannot index %s: %s", path, exc)
            return False

    def _record_from_file(self, rel: str, path: Path) -> tuple[StudyCapture | None, int]:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            own = read_capture_json(ds) or {}
            kind = CaptureKind(own.get("kind") or ("clip" if "NumberOfFrames" in ds else "still"))
            taken = (
                datetime.fromisoformat(own["taken_at"])
                if "taken_at" in own
                else datetime.strptime(str(ds.AcquisitionDateTime), "%Y%m%d%H%M%S.%f")
            )
            record = StudyCapture(
                sop_instance_uid=str(ds.SOPInstanceUID),
                study_uid=str(ds.StudyInstanceUID),
                series_uid=str(ds.SeriesInstanceUID),
                kind=kind,
                instance_number=int(ds.InstanceNumber),
                path=rel,
                number_of_frames=int(ds.get("NumberOfFrames", 1)),
                taken_at=taken,
                labels=CaptureLabels.from_mapping(own.get("labels") or {}),
                annotations=tuple(own.get("annotations") or ()),
            )
            return record, int(ds.SeriesNumber)
        except Exception as exc:  # one bad file must not stop the others
            log.error("cannot index %s: %s", path, exc)
            return None, 0


def _remove_deleted_folder(path: Path) -> bool:
    """Remove a deleted study's folder (renamed aside); a refusal is logged, tried again next opening."""
    try:
        shutil.rmtree(path)
        return True
    except OSError as exc:
        log.error("could not remove the deleted study's files in %s: %s (tried again next start)", path, exc)
        return False


def _check_integrity(conn: sqlite3.Connection) -> None:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    if rows != [("ok",)]:
        raise _IndexDamaged("; ".join(str(r[0]) for r in rows[:3]))


def rebuild_index(study_root: Path) -> ReconcileReport:
    """Throw the index away and rebuild it: captures from the files, PACS send state from the journal."""
    with StudyStore(Path(study_root), rebuild=True) as store:
        return store.last_reconcile
