"""Procedure documentation: the time-out before the first needle image, and what a guided procedure
records (agent, dose, volume, needle, approach, complications, tolerance, pain before and after).

Qt-free. A `ChecklistRunner` running a procedure protocol holds one `ProcedureRecord`; the runner
refuses a capture in a needle step until the time-out is complete or its skipping is recorded with a
reason. `changed` (psygnal) is emitted after every change, on the thread that made it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psygnal import Signal


class ProcedureRole(enum.StrEnum):
    """What a procedure step's images document: the target before, the needle in it, the result after."""

    PRE_PROCEDURE = "pre_procedure"
    NEEDLE = "needle"
    POST_PROCEDURE = "post_procedure"


ROLE_TITLES = {
    ProcedureRole.PRE_PROCEDURE: "Pre-procedure images of the target",
    ProcedureRole.NEEDLE: "Needle in the target",
    ProcedureRole.POST_PROCEDURE: "Post-procedure images",
}

# The pre-procedure time-out (Joint Commission Universal Protocol, WHO Surgical Safety Checklist):
# every item is confirmed aloud before the needle goes in.
TIME_OUT_ITEMS: tuple[tuple[str, str], ...] = (
    ("patient_identity", "Patient identity confirmed (two identifiers)"),
    ("site_side_marked", "Site and side confirmed and marked"),
    ("consent", "Consent signed"),
    ("allergies", "Allergies asked (anaesthetic, steroid, latex, antiseptic)"),
    ("anticoagulation", "Anticoagulation and bleeding risk checked"),
)
TIME_OUT_IDS = tuple(item for item, _ in TIME_OUT_ITEMS)


class Tolerance(enum.StrEnum):
    """How the patient tolerated the procedure."""

    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


# The documentation fields a protocol may require (its `procedure: document:` list), with their titles.
DOCUMENT_FIELDS: dict[str, str] = {
    "medication": "Medication",
    "dose_mg": "Dose (mg)",
    "volume_ml": "Volume (ml)",
    "needle_gauge": "Needle gauge (G)",
    "needle_length_mm": "Needle length (mm)",
    "approach": "Approach",
    "complications": "Complications",
    "tolerance": "Patient tolerance",
    "pain_before": "Pain before (0–10)",
    "pain_after": "Pain right after (0–10)",
}
DEFAULT_DOCUMENT = tuple(DOCUMENT_FIELDS)
DEFAULT_FOLLOW_UP_WEEKS = (2, 6)
NEEDLE_GAUGES = range(14, 31)  # 14 G (large-bore aspiration) to 30 G
MAX_NEEDLE_LENGTH_MM = 250.0
MAX_PAIN = 10


class ProcedureError(ValueError):
    """A procedure record was given something it cannot hold (the message says what)."""


class TimeOutPending(ProcedureError):
    """A needle image before the time-out was completed or its skipping recorded."""


@dataclass(frozen=True, slots=True)
class ProcedureSpec:
    """A procedure protocol's plan: its target anatomy, approach, what to document and follow-ups."""

    target: str
    approach: str
    document: tuple[str, ...] = DEFAULT_DOCUMENT
    follow_up_weeks: tuple[int, ...] = DEFAULT_FOLLOW_UP_WEEKS


@dataclass(slots=True)
class ProcedureDetails:
    """What was done: agent, dose, volume, needle, approach, complications, tolerance, pain scores."""

    medication: str = ""
    dose_mg: float | None = None
    volume_ml: float | None = None
    needle_gauge: int | None = None
    needle_length_mm: float | None = None
    approach: str = ""
    complications: str = ""
    tolerance: str = ""
    pain_before: int | None = None
    pain_after: int | None = None


def check_pain(score: int | None) -> int | None:
    """A 0–10 numeric pain score (None: not asked); ProcedureError otherwise."""
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MAX_PAIN:
        raise ProcedureError(f"a pain score is a whole number from 0 to {MAX_PAIN}, not {score!r}")
    return score


class ProcedureRecord:
    """The time-out and the documentation of one guided procedure."""

    changed = Signal()

    def __init__(self, spec: ProcedureSpec, *, now: Callable[[], datetime] | None = None) -> None:
        self.spec = spec
        self._now = now or (lambda: datetime.now(UTC))
        self._confirmed: dict[str, bool] = dict.fromkeys(TIME_OUT_IDS, False)
        self.time_out_at = ""  # ISO time the time-out was completed (or skipped)
        self.time_out_skip_reason = ""
        self.details = ProcedureDetails(approach=spec.approach)

    # --- time-out ---------------------------------------------------------------------------------

    def confirm(self, item: str, confirmed: bool = True) -> None:
        """Tick (or untick) a time-out item; the time-out completes when every item is ticked."""
        if item not in self._confirmed:
            raise ProcedureError(f"no time-out item {item!r} (items: {', '.join(TIME_OUT_IDS)})")
        self._confirmed[item] = confirmed
        if self.time_out_complete and not self.time_out_at:
            self.time_out_at = self._now().isoformat(timespec="seconds")
        elif not all(self._confirmed.values()) and not self.time_out_skip_reason:
            self.time_out_at = ""
        self.changed.emit()

    def confirmed(self, item: str) -> bool:
        return self._confirmed[item]

    def skip_time_out(self, reason: str) -> None:
        """Go on without a complete time-out (an emergency aspiration): the reason is recorded."""
        reason = reason.strip()
        if not reason:
            raise ProcedureError("skipping the time-out needs a reason")
        self.time_out_skip_reason = reason
        self.time_out_at = self._now().isoformat(timespec="seconds")
        self.changed.emit()

    @property
    def time_out_complete(self) -> bool:
        return all(self._confirmed.values())

    @property
    def needle_allowed(self) -> bool:
        """The time-out is complete, or its skipping is recorded with a reason."""
        return self.time_out_complete or bool(self.time_out_skip_reason)

    def require_time_out(self) -> None:
        """Raise TimeOutPending unless a needle image may be taken now."""
        if not self.needle_allowed:
            missing = [title for item, title in TIME_OUT_ITEMS if not self._confirmed[item]]
            raise TimeOutPending(
                "complete the time-out before the first needle image (or skip it with a reason): "
                + "; ".join(missing)
            )

    # --- documentation ----------------------------------------------------------------------------

    def document(self, **values: Any) -> None:
        """Set documentation fields by name (`DOCUMENT_FIELDS`); each value is checked."""
        unknown = sorted(set(values) - set(DOCUMENT_FIELDS))
        if unknown:
            raise ProcedureError(f"unknown documentation field(s): {', '.join(unknown)}")
        d = self.details
        checked: dict[str, Any] = {}
        for name, value in values.items():
            checked[name] = self._checked(name, value)
        for name, value in checked.items():
            setattr(d, name, value)
        self.changed.emit()

    @staticmethod
    def _checked(name: str, value: Any) -> Any:
        if name in ("medication", "approach", "complications"):
            return str(value).strip()
        if name == "tolerance":
            return Tolerance(value).value if value else ""
        if name in ("pain_before", "pain_after"):
            return check_pain(value)
        if value is None:
            return None
        if name == "needle_gauge":
            if isinstance(value, bool) or not isinstance(value, int) or value not in NEEDLE_GAUGES:
                raise ProcedureError(f"needle gauge must be {NEEDLE_GAUGES.start}–{NEEDLE_GAUGES.stop - 1} G")
            return value
        number = float(value)
        if name == "needle_length_mm" and not 0 < number <= MAX_NEEDLE_LENGTH_MM:
            raise ProcedureError(f"needle length must be over 0 and at most {MAX_NEEDLE_LENGTH_MM:g} mm")
        if number < 0:
            raise ProcedureError(f"{DOCUMENT_FIELDS[name]} cannot be negative")
        return number

    def missing(self) -> list[str]:
        """What the protocol asks to document that is still empty (titles), the time-out first."""
        out = [] if self.needle_allowed else ["Time-out"]
        for name in self.spec.document:
            if getattr(self.details, name) in (None, ""):
                out.append(DOCUMENT_FIELDS[name])
        return out

    def to_dict(self) -> dict[str, Any]:
        """The plain record kept in the exam record (`ExamRecord.procedure`)."""
        d = self.details
        return {
            "target": self.spec.target,
            "time_out": {
                "items": [
                    {"id": item, "title": title, "confirmed": self._confirmed[item]}
                    for item, title in TIME_OUT_ITEMS
                ],
                "complete": self.time_out_complete,
                "skip_reason": self.time_out_skip_reason,
                "at": self.time_out_at,
            },
            "medication": d.medication,
            "dose_mg": d.dose_mg,
            "volume_ml": d.volume_ml,
            "needle_gauge": d.needle_gauge,
            "needle_length_mm": d.needle_length_mm,
            "approach": d.approach,
            "complications": d.complications,
            "tolerance": d.tolerance,
            "pain_before": d.pain_before,
            "pain_after": d.pain_after,
            "follow_up_weeks": list(self.spec.follow_up_weeks),
            "missing": self.missing(),
        }
