"""Retention: delete local studies older than a number of days, but only those a PACS has committed.

A study is deleted only when it has ended, has at least one instance, and every instance (images,
reports) is committed by some PACS (Storage Commitment, scanner_app.studies.commitment); an open
exam, an empty study or one with any image not committed is kept whatever its age. A study the file
system will not let go is reported and the others are still done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from scanner_app.studies.model import StudyError, StudyNotDeletable
from scanner_app.studies.store import StudyStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """One retention pass: the studies deleted and the deletions that failed, one line each."""

    deleted: tuple[str, ...]
    failed: tuple[str, ...]

    def describe(self) -> str:
        parts = [f"deleted {len(self.deleted)} committed stud{'y' if len(self.deleted) == 1 else 'ies'}"]
        parts += [f"could not delete: {line}" for line in self.failed]
        return "; ".join(parts)


def apply_retention(store: StudyStore, days: int, *, now: datetime | None = None) -> RetentionReport:
    """Delete the committed, ended studies that started more than `days` days before `now`
    (0 or less: retention is off, nothing is deleted)."""
    if days <= 0:
        return RetentionReport((), ())
    cutoff = (now or datetime.now().astimezone()) - timedelta(days=days)
    deleted: list[str] = []
    failed: list[str] = []
    for study in store.list_studies():
        if study.ended_at is None or not (study.captures or study.documents):
            continue
        started = study.started_at if study.started_at.tzinfo else study.started_at.astimezone()
        if started >= cutoff or store.uncommitted(study.study_uid):
            continue
        try:
            store.delete_study(study.study_uid)
        except StudyNotDeletable:
            continue  # changed since it was listed (an image added and not yet committed)
        except StudyError as exc:
            log.error("retention: %s", exc)
            failed.append(str(exc))
            continue
        line = (
            f"study {study.study_id} ({study.patient.patient_id}, {study.study_uid}) of "
            f"{study.started_at:%Y-%m-%d}"
        )
        log.info("retention (%d days): deleted %s", days, line)
        deleted.append(line)
    return RetentionReport(tuple(deleted), tuple(failed))
