"""Credentialing pathways as data the department edits, and each person's progress on them.

A pathway is a list of requirements, each a count of logbook entries in some regions within a
rolling window of months, optionally only supervised or signed-off ones; a pathway may leave out
exams a reviewer classified as a miss or an overcall, and practice (simulator) exams never count
unless it says so. The shipped pathways are in `pathways.yaml` beside this module.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.logbook import LogbookEntry, entries
from scanner_app.programme.quality import qa_failed_studies

DEFAULT_PATHWAYS = Path(__file__).resolve().parent / "pathways.yaml"


class PathwayError(ValueError):
    """A pathway file is malformed; the message names the file and the pathway."""


@dataclass(frozen=True, slots=True)
class Requirement:
    title: str
    count: int
    window_months: int
    regions: frozenset[str] = frozenset()  # empty: any region
    supervised_only: bool = False
    signed_off_only: bool = False

    def counts(self, entry: LogbookEntry) -> bool:
        return (
            (not self.regions or entry.region in self.regions)
            and (entry.supervised or not self.supervised_only)
            and (entry.signed_off or not self.signed_off_only)
        )


@dataclass(frozen=True, slots=True)
class Pathway:
    id: str
    title: str
    source: str
    requirements: tuple[Requirement, ...]
    exclude_qa_failed: bool = True
    count_practice: bool = False


@dataclass(frozen=True, slots=True)
class RequirementProgress:
    requirement: Requirement
    done: int
    window_start: date

    @property
    def met(self) -> bool:
        return self.done >= self.requirement.count


@dataclass(frozen=True, slots=True)
class PathwayProgress:
    pathway: Pathway
    person: str
    on: date
    requirements: tuple[RequirementProgress, ...]
    excluded_qa_failed: int  # entries left out because a reviewer classified them a miss or overcall

    @property
    def complete(self) -> bool:
        return all(r.met for r in self.requirements)


def load_pathways(path: Path = DEFAULT_PATHWAYS) -> list[Pathway]:
    """The pathways in a YAML file; PathwayError naming the file and pathway when one is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PathwayError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pathways"), list):
        raise PathwayError(f"{path}: expected a mapping with a list under 'pathways'")
    return [_pathway(path, item) for item in data["pathways"]]


def _pathway(path: Path, item: Any) -> Pathway:
    where = f"{path}: pathway {item.get('id', '?') if isinstance(item, dict) else '?'!s}"
    try:
        requirements = tuple(
            Requirement(
                title=str(r["title"]),
                count=int(r["count"]),
                window_months=int(r["window_months"]),
                regions=frozenset(str(x) for x in r.get("regions", [])),
                supervised_only=bool(r.get("supervised_only", False)),
                signed_off_only=bool(r.get("signed_off_only", False)),
            )
            for r in item["requirements"]
        )
        pathway = Pathway(
            id=str(item["id"]), title=str(item["title"]), source=str(item.get("source", "")),
            requirements=requirements, exclude_qa_failed=bool(item.get("exclude_qa_failed", True)),
            count_practice=bool(item.get("count_practice", False)),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise PathwayError(f"{where}: missing or wrong field ({exc})") from None
    for r in requirements:
        if r.count <= 0 or r.window_months <= 0:
            raise PathwayError(f"{where}: requirement {r.title!r} needs a positive count and window_months")
    if not requirements:
        raise PathwayError(f"{where}: no requirements")
    return pathway


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier (the month's last day when it has fewer days)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def progress(db: ProgrammeDatabase, person: str, pathway: Pathway, on: date) -> PathwayProgress:
    """`person`'s progress on `pathway` as of `on`: entries dated in (on - window, on] that count."""
    failed = qa_failed_studies(db) if pathway.exclude_qa_failed else set()
    mine = [e for e in entries(db, person) if pathway.count_practice or not e.practice]
    excluded = {e.study_uid for e in mine if e.study_uid in failed}
    kept = [e for e in mine if e.study_uid not in failed]
    results = []
    for r in pathway.requirements:
        start = months_before(on, r.window_months)
        done = sum(1 for e in kept if start < e.performed_on <= on and r.counts(e))
        results.append(RequirementProgress(r, done, start))
    return PathwayProgress(pathway, person, on, tuple(results), len(excluded))
