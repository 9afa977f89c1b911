"""Runs one protocol as an exam checklist: the current step, captures, findings, skips, timing, completeness.

Qt-free: the UI calls its verbs and listens to its `changed` signal (psygnal), emitted after every
change. Time comes from an injectable clock so tests can control it. Nothing recorded is ever dropped:
a capture that matches no requirement is kept as an extra capture of the step it was taken in.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from psygnal import Signal

from protocols.model import (
    POSE_KEYS,
    CaptureRequirement,
    CaptureSide,
    FollowUp,
    ImagingMode,
    NeedleTarget,
    Plane,
    PracticeTarget,
    ProtocolKind,
    ScanProtocol,
    Side,
    Step,
)
from protocols.procedure import ROLE_TITLES, ProcedureRecord, ProcedureRole, ProcedureSpec, TimeOutPending
from scanner_app.capture import CaptureKind
from scanner_app.preset_outcome import PresetOutcome
from scanner_app.sim_control import INJECTATE_STRUCTURE, NEEDLE_STRUCTURE, ViewTruth

Clock = Callable[[], float]


class StepStatus(enum.StrEnum):
    """Where a step stands: not reached, being scanned, done, left with items missing, or skipped."""

    PENDING = "pending"
    CURRENT = "current"
    DONE = "done"
    INCOMPLETE = "incomplete"
    SKIPPED = "skipped"


class EventKind(enum.StrEnum):
    """What changed in the runner; `changed` carries a `RunnerEvent` of one of these kinds."""

    STEP_CHANGED = "step_changed"
    STEP_SKIPPED = "step_skipped"
    CAPTURE_RECORDED = "capture_recorded"
    CAPTURE_DISCARDED = "capture_discarded"
    FINDING_CHANGED = "finding_changed"
    FOLLOW_UP_OPENED = "follow_up_opened"
    FOLLOW_UP_CLOSED = "follow_up_closed"
    MEASUREMENT_RECORDED = "measurement_recorded"
    AREA_OF_PAIN_MARKED = "area_of_pain_marked"
    SIDE_CHOSEN = "side_chosen"
    VIEW_FOUND = "view_found"
    VIEW_SHOWN = "view_shown"
    PRESET_NOTED = "preset_noted"
    EXAM_ENDED = "exam_ended"


@dataclass(frozen=True, slots=True)
class RunnerEvent:
    """A change in the runner: its kind, the step it concerns and kind-specific details."""

    kind: EventKind
    step_id: str
    detail: dict[str, Any] = field(default_factory=dict)


class RunnerError(ValueError):
    """A runner verb was called with something the protocol or the exam state does not allow."""


class TimeOutRequired(RunnerError):
    """A needle image was refused: the procedure's time-out is neither complete nor skipped with a reason."""


@dataclass(slots=True)
class StepCapture:
    """A capture taken during a step, with the labels attached to it."""

    capture_id: str
    step_id: str
    kind: str
    plane: str
    side: str
    mode: str
    follow_up_id: str = ""  # the follow-up whose requirement it satisfied, if any
    extra: bool = False  # matched no requirement; kept anyway
    note: str = ""  # why an extra did not count (taken in another imaging mode than the step asks)


@dataclass(slots=True)
class MeasurementRecord:
    """A measurement recorded during a step."""

    measurement_id: str
    step_id: str
    value: float
    unit: str
    follow_up_id: str = ""


@dataclass(slots=True)
class AreaOfPain:
    """Where the patient hurts: region, side and a point on the body diagram (0..1 in x and y)."""

    region: str
    side: str
    x: float
    y: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class MissingItem:
    """Something mandatory not yet done: a capture (with how many more) or a measurement or the pain mark."""

    step_id: str
    step_title: str
    what: str  # "capture", "measurement" or "area_of_pain"
    description: str
    follow_up_id: str = ""
    remaining: int = 1
    measurement_id: str = ""


@dataclass(frozen=True, slots=True)
class Completeness:
    """What is still missing before the exam is complete, and what was skipped and why."""

    missing: tuple[MissingItem, ...]
    skipped: tuple[tuple[str, str], ...]  # (step_id, reason)
    steps_without_finding: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(slots=True)
class StepRecord:
    """The result of one step: status, findings, captures, measurements, time and practice view."""

    step_id: str
    title: str
    mandatory: bool
    status: str
    skip_reason: str
    findings: list[dict[str, str]]
    follow_ups_opened: list[str]
    captures: list[StepCapture]
    measurements: list[MeasurementRecord]
    time_spent_s: float
    view_found: bool
    view_shown: bool = False  # practice: "Go to target view" showed it (shown, not found)
    # What the source did with the step's preset (`PresetOutcome.to_record()`: status "applied", "partly
    # applied" or "not applied", readbacks and reasons); None when it was not sent.
    preset: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class QaFlag:
    """An item a QA reviewer must look at: an unexpected finding, with where it was found."""

    step_id: str
    step_title: str
    finding_id: str
    title: str
    reason: str = "unexpected finding"


@dataclass(slots=True)
class ExamRecord:
    """The structured result of a protocol exam, for the study store and the report."""

    protocol_id: str
    protocol_version: int
    protocol_title: str
    side: str
    quadrant: str
    practice: bool
    duration_s: float
    steps: list[StepRecord]
    area_of_pain: AreaOfPain | None
    complete: bool
    missing: list[MissingItem]
    ended: bool
    qa_review: list[QaFlag] = field(default_factory=list)  # unexpected findings, for the QA reviewer
    procedure: dict[str, Any] | None = None  # a procedure's time-out, documentation and images by role

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (strings, numbers, bools, lists, dicts)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PracticeSummary:
    """Practice-mode result: steps done, time taken and which target views were found."""

    steps_done: int
    steps_total: int
    time_taken_s: float
    views_found: tuple[str, ...]
    views_total: int


@dataclass(slots=True)
class _StepState:
    """Mutable progress of one step."""

    visited: bool = False
    skip_reason: str = ""
    findings: list[str] = field(default_factory=list)
    captures: list[StepCapture] = field(default_factory=list)
    measurements: list[MeasurementRecord] = field(default_factory=list)
    time_spent_s: float = 0.0
    view_found: bool = False
    view_shown: bool = False  # the target view was shown to the trainee ("Go to target view")
    away_since_shown: bool = True  # the probe left the target since (a return is the trainee's own)
    preset: dict[str, Any] | None = None


def _describe(req: CaptureRequirement, remaining: int) -> str:
    """'2 stills, long_axis, spectral doppler, contralateral side' — what is still to capture."""
    parts = [f"{remaining} {req.kind.value}{'s' if remaining > 1 else ''}", req.plane.value.replace("_", " ")]
    if req.mode is not ImagingMode.BMODE:
        parts.append(req.mode.value.replace("_", " "))
    if req.side is CaptureSide.CONTRALATERAL:
        parts.append("other side")
    return ", ".join(parts)


# What the operator switches on to take a capture a requirement's mode asks for.
_SWITCH_TO = {
    ImagingMode.BMODE: "B-mode",
    ImagingMode.COLOR_DOPPLER: "colour flow",
    ImagingMode.POWER_DOPPLER: "power Doppler",
    ImagingMode.SPECTRAL_DOPPLER: "PW",
}


def _angle_diff_deg(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


# Where a practice step puts the probe: away from the target (further than any tolerance), flat,
# no pressure, so a view is never found before the trainee moves.
START_OFFSET_POSITION_MM = 40.0
START_OFFSET_ROTATION_DEG = 45.0


def needle_shown(target: NeedleTarget, seen: ViewTruth) -> bool:
    """Whether the ground truth shows the needle as a needle step's target asks: the needle in the
    image plane, its tip seen in (or beside) the target structure, and injectate in view if asked."""
    if NEEDLE_STRUCTURE not in seen.structures_in_view:
        return False
    if target.injectate and INJECTATE_STRUCTURE not in seen.structures_in_view:
        return False
    if target.tip_in:
        return seen.needle_tip_in == target.tip_in
    return seen.needle_tip_in != target.tip_beside and target.tip_beside in seen.needle_tip_beside


def practice_start_pose(target: PracticeTarget) -> dict[str, float]:
    """The defined start pose of a practice step: its target shifted along the limb and turned."""
    shift = max(START_OFFSET_POSITION_MM, 3.0 * target.tolerance.get("position_mm", 0.0))
    turn = max(START_OFFSET_ROTATION_DEG, 3.0 * target.tolerance.get("rotation_deg", 0.0))
    return {
        "position_mm": target.pose["position_mm"] + shift,
        "lateral_mm": target.pose["lateral_mm"],
        "rotation_deg": (target.pose["rotation_deg"] + turn + 180.0) % 360.0 - 180.0,
        "tilt_deg": 0.0,
        "pressure": 0.0,
    }


def practice_probe_poses(target: PracticeTarget) -> list[dict[str, float]]:
    """The target pose and the poses half a tolerance away along each axis, at zero pressure: the
    structures in view at all of them are what the view must show (`check_practice_view`'s `wanted`)."""
    base = {**{k: target.pose[k] for k in POSE_KEYS}, "pressure": 0.0}
    poses = [base]
    for key in POSE_KEYS:
        for sign in (-0.5, 0.5):
            poses.append({**base, key: base[key] + sign * target.tolerance.get(key, 0.0)})
    return poses


class ChecklistRunner:
    """Steps an operator through one protocol and records what was captured, found and measured.

    `changed` is emitted after every change, on the thread that called the verb (the GUI thread).
    """

    changed = Signal(RunnerEvent)

    def __init__(
        self,
        protocol: ScanProtocol,
        *,
        side: str | None = None,
        quadrant: str | None = None,
        practice: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        self.protocol = protocol
        self.practice = practice
        self._clock = clock
        if quadrant is not None:
            try:
                chosen = protocol.quadrant(quadrant).steps
            except KeyError as exc:
                raise RunnerError(str(exc.args[0])) from exc
            self.steps: tuple[Step, ...] = tuple(s for s in protocol.steps if s.id in chosen)
        else:
            self.steps = protocol.steps
        self.quadrant = quadrant or ""
        unresolved = [s.id for s in self.steps if practice and s.practice is not None and not s.practice.pose]
        if unresolved:
            raise RunnerError(
                f"practice targets of {', '.join(unresolved)} have no pose: load protocol "
                f"{protocol.id!r} with the simulator's views (validation.load_protocol(..., views=...))"
            )
        self._side = ""
        if protocol.side is Side.ASK:
            if side is not None:
                self._side = self._check_side(side)
        else:
            if side is not None and side != protocol.side.value:
                raise RunnerError(
                    f"protocol {protocol.id!r} is for side {protocol.side.value!r}, not {side!r}"
                )
            self._side = protocol.side.value
        self._state = {s.id: _StepState() for s in self.steps}
        self._index = 0
        self._started_s = clock()
        self._entered_s = self._started_s
        self._ended_s: float | None = None
        self._area_of_pain: AreaOfPain | None = None
        self._state[self.steps[0].id].visited = True
        # A procedure protocol documents its time-out and what was done; needle steps wait for it.
        self.procedure: ProcedureRecord | None = None
        if protocol.kind is ProtocolKind.PROCEDURE:
            self.procedure = ProcedureRecord(protocol.procedure or ProcedureSpec(target="", approach=""))

    # --- events ----------------------------------------------------------------------------------

    def _emit(self, kind: EventKind, step_id: str, **detail: Any) -> None:
        self.changed.emit(RunnerEvent(kind, step_id, detail))

    # --- where we are ----------------------------------------------------------------------------

    @property
    def side(self) -> str:
        """The examined side ('left', 'right', 'bilateral'), or '' while an ASK protocol awaits it."""
        return self._side

    def _check_side(self, side: str) -> str:
        if side not in ("left", "right", "bilateral"):
            raise RunnerError(f"side must be 'left', 'right' or 'bilateral', not {side!r}")
        return side

    def choose_side(self, side: str) -> None:
        """Set the examined side of an ASK protocol (the symptomatic side for a venous study)."""
        if self.protocol.side is not Side.ASK:
            raise RunnerError(f"protocol {self.protocol.id!r} has a fixed side ({self.protocol.side.value})")
        self._side = self._check_side(side)
        self._emit(EventKind.SIDE_CHOSEN, self.current_step.id, side=side)

    @property
    def index(self) -> int:
        return self._index

    @property
    def current_step(self) -> Step:
        return self.steps[self._index]

    @property
    def ended(self) -> bool:
        return self._ended_s is not None

    def _require_running(self) -> None:
        if self._ended_s is not None:
            raise RunnerError("the exam has ended")

    def step_status(self, step_id: str) -> StepStatus:
        state = self._state_of(step_id)
        if step_id == self.current_step.id and not self.ended:
            return StepStatus.CURRENT
        if state.skip_reason:
            return StepStatus.SKIPPED
        if not state.visited:
            return StepStatus.PENDING
        return StepStatus.INCOMPLETE if self.missing_for_step(step_id) else StepStatus.DONE

    def _state_of(self, step_id: str) -> _StepState:
        try:
            return self._state[step_id]
        except KeyError:
            raise RunnerError(f"no step {step_id!r} in this exam") from None

    def _step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise RunnerError(f"no step {step_id!r} in this exam")

    # --- moving ----------------------------------------------------------------------------------

    def _account_time(self) -> None:
        now = self._clock()
        self._state[self.current_step.id].time_spent_s += now - self._entered_s
        self._entered_s = now

    def go_to(self, index: int) -> None:
        """Make step `index` current (0-based)."""
        self._require_running()
        if not 0 <= index < len(self.steps):
            raise RunnerError(f"step index {index} is outside 0..{len(self.steps) - 1}")
        if index == self._index:
            return
        self._account_time()
        previous = self.current_step.id
        self._index = index
        self._state[self.current_step.id].visited = True
        self._emit(EventKind.STEP_CHANGED, self.current_step.id, previous=previous, index=index)

    def next(self) -> bool:
        """Go to the next step; False (and no change) at the last step."""
        self._require_running()
        if self._index + 1 >= len(self.steps):
            return False
        self.go_to(self._index + 1)
        return True

    def back(self) -> bool:
        """Go to the previous step; False (and no change) at the first step."""
        self._require_running()
        if self._index == 0:
            return False
        self.go_to(self._index - 1)
        return True

    def skip(self, reason: str) -> None:
        """Skip the current step with a reason (required), then move on if there is a next step."""
        self._require_running()
        reason = reason.strip()
        if not reason:
            raise RunnerError("skipping a step needs a reason")
        step = self.current_step
        self._state[step.id].skip_reason = reason
        self._emit(EventKind.STEP_SKIPPED, step.id, reason=reason)
        self.next()

    def unskip(self, step_id: str) -> None:
        """Withdraw a skip, so the step counts again."""
        self._require_running()
        self._state_of(step_id).skip_reason = ""
        self._emit(EventKind.STEP_SKIPPED, step_id, reason="")

    # --- findings and follow-ups -----------------------------------------------------------------

    def findings(self, step_id: str | None = None) -> list[str]:
        return list(self._state_of(step_id or self.current_step.id).findings)

    def open_follow_ups(self, step_id: str | None = None) -> list[FollowUp]:
        """Follow-ups opened by the findings chosen so far in a step."""
        step = self._step(step_id or self.current_step.id)
        chosen = self._state[step.id].findings
        return [fu for fu in step.follow_ups if fu.when in chosen]

    def choose_finding(self, finding_id: str) -> list[FollowUp]:
        """Add a finding to the current step; 'normal' and pathologies exclude each other.

        Returns the follow-ups this finding opened.
        """
        self._require_running()
        step = self.current_step
        try:
            step.finding(finding_id)
        except KeyError as exc:
            raise RunnerError(str(exc.args[0])) from None
        state = self._state[step.id]
        if finding_id in state.findings:
            return []
        # A step is either normal or shows pathology: choosing one side clears the other. An
        # unexpected (incidental) finding stands beside either: a compressible vein can sit next to
        # a Baker cyst.
        incidental = {f.id for f in step.incidental_findings}
        own = [f for f in state.findings if f not in incidental]
        normal = finding_id == "normal"
        drop = [] if finding_id in incidental else [f for f in own if (f == "normal") != normal]
        for f in drop:
            self.clear_finding(f)
        state.findings.append(finding_id)
        self._emit(EventKind.FINDING_CHANGED, step.id, finding_id=finding_id, chosen=True)
        opened = [fu for fu in step.follow_ups if fu.when == finding_id]
        for fu in opened:
            self._emit(EventKind.FOLLOW_UP_OPENED, step.id, follow_up_id=fu.id, title=fu.title)
        return opened

    def clear_finding(self, finding_id: str) -> None:
        """Remove a finding from the current step; its follow-ups close (captures taken are kept)."""
        self._require_running()
        step = self.current_step
        state = self._state[step.id]
        if finding_id not in state.findings:
            return
        state.findings.remove(finding_id)
        self._emit(EventKind.FINDING_CHANGED, step.id, finding_id=finding_id, chosen=False)
        for fu in step.follow_ups:
            if fu.when == finding_id:
                self._emit(EventKind.FOLLOW_UP_CLOSED, step.id, follow_up_id=fu.id)

    # --- captures and measurements ---------------------------------------------------------------

    def _requirements(self, step: Step) -> list[tuple[str, CaptureRequirement]]:
        """(follow_up_id or '', requirement) for the step and its open follow-ups, in order."""
        reqs = [("", r) for r in step.captures]
        for fu in self.open_follow_ups(step.id):
            reqs.extend((fu.id, r) for r in fu.captures)
        return reqs

    def _taken(self, step_id: str, follow_up_id: str, req: CaptureRequirement) -> int:
        # Requirements with identical (kind, plane, mode, side) share their captures in order, so
        # count only captures assigned to this very requirement slot.
        return sum(
            1
            for c in self._state[step_id].captures
            if not c.extra
            and c.follow_up_id == follow_up_id
            and (c.kind, c.plane, c.mode, c.side) == self._label_key(req)
        )

    def _label_key(self, req: CaptureRequirement) -> tuple[str, str, str, str]:
        return (req.kind.value, req.plane.value, req.mode.value, self._side_label(req.side))

    def _side_label(self, capture_side: CaptureSide) -> str:
        if capture_side is CaptureSide.EXAM or self._side in ("", "bilateral"):
            return self._side
        return "right" if self._side == "left" else "left"

    def capture_progress(self, step_id: str | None = None) -> list[tuple[str, CaptureRequirement, int]]:
        """(follow_up_id or '', requirement, captures taken toward it) for a step and its open follow-ups."""
        step = self._step(step_id or self.current_step.id)
        return [(fu_id, req, self._taken(step.id, fu_id, req)) for fu_id, req in self._requirements(step)]

    def record_capture(
        self,
        kind: str,
        plane: str,
        capture_id: str,
        *,
        mode: str = "bmode",
        contralateral: bool = False,
        imaging_mode: str | None = None,
    ) -> dict[str, str]:
        """Label a capture for the current step and count it toward the step's requirements.

        `mode` is the mode the capture is meant for (a checklist button's requirement);
        `imaging_mode` the mode the image was actually taken in (the window's readback), which is
        what counts: a B-mode still never satisfies a Doppler requirement. Without `imaging_mode`
        the caller vouches that `mode` is the mode in force.

        Returns the labels to attach to the stored capture: protocol_id, step_id, plane, side (and mode,
        follow_up_id, note). A capture that matches no outstanding requirement is kept as an extra;
        `note` says why when the step asked for it in another mode.
        """
        self._require_running()
        try:
            kind_v, plane_v, asked = CaptureKind(kind), Plane(plane), ImagingMode(mode)
            mode_v = ImagingMode(imaging_mode) if imaging_mode is not None else asked
        except ValueError as exc:
            raise RunnerError(f"bad capture label: {exc}") from None
        if self.protocol.side is Side.ASK and not self._side:
            raise RunnerError("choose the side before capturing")
        step = self.current_step
        self._require_time_out(step)
        side = self._side_label(CaptureSide.CONTRALATERAL if contralateral else CaptureSide.EXAM)
        key = (kind_v.value, plane_v.value, mode_v.value, side)
        follow_up_id, extra = self._slot_for(step, key)
        note = self._wrong_mode_note(step, kind_v, side, mode_v, asked) if extra else ""
        record = StepCapture(
            capture_id, step.id, kind_v.value, plane_v.value, side, mode_v.value, follow_up_id, extra, note
        )
        self._state[step.id].captures.append(record)
        labels = {
            "protocol_id": self.protocol.id,
            "step_id": step.id,
            "plane": plane_v.value,
            "side": side,
            "mode": mode_v.value,
            "follow_up_id": follow_up_id,
            "note": note,
        }
        self._emit(EventKind.CAPTURE_RECORDED, step.id, capture_id=capture_id, extra=extra, labels=labels)
        return labels

    def _require_time_out(self, step: Step) -> None:
        """A needle step's image waits for the time-out (complete, or skipped with a reason)."""
        if step.procedure_role is ProcedureRole.NEEDLE and self.procedure is not None:
            try:
                self.procedure.require_time_out()
            except TimeOutPending as exc:
                raise TimeOutRequired(str(exc)) from None

    def _wrong_mode_note(
        self, step: Step, kind: CaptureKind, side: str, taken: ImagingMode, asked: ImagingMode
    ) -> str:
        """Why an extra capture did not count, when the step still wants one of its kind in another mode
        ("a B-mode still does not document spectral Doppler: switch to PW first"); else ""."""
        wanted = [
            req.mode
            for fu_id, req in self._requirements(step)
            if req.kind is kind
            and req.mode is not taken
            and self._side_label(req.side) == side
            and self._taken(step.id, fu_id, req) < req.count
        ]
        if not wanted:
            return ""
        missing = asked if asked in wanted else wanted[0]
        switch = _SWITCH_TO[missing]
        return f"a {taken.words} {kind.value} does not document {missing.words}: switch to {switch} first"

    def _slot_for(self, step: Step, key: tuple[str, str, str, str]) -> tuple[str, bool]:
        """(follow_up_id, extra) for a new capture with labels `key`: the first requirement it still fills."""
        for fu_id, req in self._requirements(step):
            if self._label_key(req) == key and self._taken(step.id, fu_id, req) < req.count:
                return fu_id, False
        return "", True

    def discard_capture(self, capture_id: str) -> bool:
        """Forget a capture the store could not keep, so it no longer counts; False if it is unknown.

        Allowed after the exam ended too: a save that fails late must not leave a phantom image. The
        step's other captures are matched to its requirements again, in order, so one kept as an extra
        takes the place the discarded one held.
        """
        for step_id, state in self._state.items():
            if not any(c.capture_id == capture_id for c in state.captures):
                continue
            kept = [c for c in state.captures if c.capture_id != capture_id]
            state.captures.clear()
            step = self._step(step_id)
            for c in kept:
                follow_up_id, extra = self._slot_for(step, (c.kind, c.plane, c.mode, c.side))
                state.captures.append(
                    replace(c, follow_up_id=follow_up_id, extra=extra, note=c.note if extra else "")
                )
            self._emit(EventKind.CAPTURE_DISCARDED, step_id, capture_id=capture_id)
            return True
        return False

    def find_capture(self, capture_id: str) -> StepCapture | None:
        """The capture recorded under this id, in whichever step it was taken; None if unknown."""
        for state in self._state.values():
            for c in state.captures:
                if c.capture_id == capture_id:
                    return c
        return None

    def relabel_capture(self, capture_id: str, step_id: str, plane: str) -> dict[str, str]:
        """Move a capture to another step and/or plane (the operator labelled it wrongly).

        It leaves its old step as a discarded one does (the others are matched again, in order) and
        counts in the new step like a capture taken there, keeping its kind, mode and side. Returns
        the new labels, as `record_capture` does. Raises RunnerError for an unknown capture, step or plane.
        """
        self._require_running()
        old = self.find_capture(capture_id)
        if old is None:
            raise RunnerError(f"no capture {capture_id!r} in this exam")
        step = self._step(step_id)
        try:
            plane_v = Plane(plane)
        except ValueError as exc:
            raise RunnerError(f"bad capture label: {exc}") from None
        self._require_time_out(step)
        self.discard_capture(capture_id)
        key = (old.kind, plane_v.value, old.mode, old.side)
        follow_up_id, extra = self._slot_for(step, key)
        taken = ImagingMode(old.mode)
        note = self._wrong_mode_note(step, CaptureKind(old.kind), old.side, taken, taken) if extra else ""
        self._state[step.id].captures.append(
            StepCapture(
                capture_id, step.id, old.kind, plane_v.value, old.side, old.mode, follow_up_id, extra, note
            )
        )
        labels = {
            "protocol_id": self.protocol.id,
            "step_id": step.id,
            "plane": plane_v.value,
            "side": old.side,
            "mode": old.mode,
            "follow_up_id": follow_up_id,
            "note": note,
        }
        self._emit(EventKind.CAPTURE_RECORDED, step.id, capture_id=capture_id, extra=extra, labels=labels)
        return labels

    def record_measurement(self, measurement_id: str, value: float, unit: str | None = None) -> None:
        """Record a measurement in the current step (a follow-up's, or a free one with its unit)."""
        self._require_running()
        step = self.current_step
        follow_up_id, spec_unit = "", None
        for fu in self.open_follow_ups(step.id):
            for spec in fu.measurements:
                if spec.id == measurement_id:
                    follow_up_id, spec_unit = fu.id, spec.unit
        if spec_unit is None and unit is None:
            raise RunnerError(f"measurement {measurement_id!r} is not asked for here, so give its unit")
        if spec_unit is not None and unit is not None and unit != spec_unit:
            raise RunnerError(f"measurement {measurement_id!r} is in {spec_unit}, not {unit}")
        record = MeasurementRecord(
            measurement_id, step.id, float(value), spec_unit or unit or "", follow_up_id
        )
        self._state[step.id].measurements.append(record)
        self._emit(EventKind.MEASUREMENT_RECORDED, step.id, measurement_id=measurement_id, value=float(value))

    def captures(self, step_id: str | None = None) -> list[StepCapture]:
        return list(self._state_of(step_id or self.current_step.id).captures)

    def measurements(self, step_id: str | None = None) -> list[MeasurementRecord]:
        return list(self._state_of(step_id or self.current_step.id).measurements)

    # --- area of pain ----------------------------------------------------------------------------

    def mark_area_of_pain(self, region: str, side: str, x: float, y: float, note: str = "") -> None:
        """Mark where it hurts: body region, side, and a point on the body diagram in 0..1 coordinates."""
        self._require_running()
        if not region.strip():
            raise RunnerError("area of pain needs a region")
        if side not in ("left", "right", "midline"):
            raise RunnerError(f"area of pain side must be 'left', 'right' or 'midline', not {side!r}")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise RunnerError(f"body-diagram point must be within 0..1, got ({x}, {y})")
        self._area_of_pain = AreaOfPain(region.strip(), side, float(x), float(y), note)
        self._emit(EventKind.AREA_OF_PAIN_MARKED, self.current_step.id, region=region, side=side, x=x, y=y)

    @property
    def area_of_pain(self) -> AreaOfPain | None:
        return self._area_of_pain

    # --- completeness ----------------------------------------------------------------------------

    def missing_for_step(self, step_id: str) -> list[MissingItem]:
        """Items still required in a step: its captures if mandatory, open follow-ups, the pain mark.

        A skipped step requires nothing; an optional step requires only what its chosen findings opened.
        """
        step = self._step(step_id)
        state = self._state[step_id]
        if state.skip_reason:
            return []
        reqs = [(fu_id, r) for fu_id, r in self._requirements(step) if fu_id or step.mandatory]
        follow_up_titles = {fu.id: fu.title for fu in self.open_follow_ups(step_id)}
        out: list[MissingItem] = []
        for fu_id, req in reqs:
            remaining = req.count - self._taken(step_id, fu_id, req)
            if remaining > 0:
                # A follow-up's capture says what it is for: the step's own capture in the same plane
                # may be taken, and "1 still, short axis" alone read as missing what was there.
                desc = _describe(req, remaining) + (f" — {req.note}" if req.note else "")
                if fu_id:
                    desc += f" (for {follow_up_titles.get(fu_id, fu_id)})"
                out.append(MissingItem(step.id, step.title, "capture", desc, fu_id, remaining))
        done = {m.measurement_id for m in state.measurements}
        for fu in self.open_follow_ups(step_id):
            for spec in fu.measurements:
                if spec.id not in done:
                    desc = f"{spec.title} ({spec.unit})"
                    out.append(
                        MissingItem(step.id, step.title, "measurement", desc, fu.id, measurement_id=spec.id)
                    )
        if step.mark_area_of_pain and self._area_of_pain is None:
            out.append(MissingItem(step.id, step.title, "area_of_pain", "mark the area of pain"))
        return out

    def completeness(self) -> Completeness:
        """What is still required across the exam, the skips with reasons, and steps lacking a finding."""
        missing = [item for s in self.steps for item in self.missing_for_step(s.id)]
        skipped = tuple(
            (s.id, self._state[s.id].skip_reason) for s in self.steps if self._state[s.id].skip_reason
        )
        no_finding = tuple(
            s.id
            for s in self.steps
            if s.own_findings
            and not self._state[s.id].skip_reason
            and not {f.id for f in s.own_findings} & set(self._state[s.id].findings)
        )
        return Completeness(tuple(missing), skipped, no_finding)

    # --- practice --------------------------------------------------------------------------------

    def check_practice_view(
        self,
        scene_id: str,
        pose: dict[str, float],
        seen: ViewTruth | None = None,
        wanted: frozenset[str] = frozenset(),
    ) -> bool:
        """True if the trainee's probe shows the current step's target view; marks it found.

        The pose must be within the target's tolerance. With the simulator's ground truth `seen` at
        that pose, the plane must also cut every `wanted` structure with no wanted vessel pressed
        (a vein step is found with the vein open). A view put there by `show_practice_view` is not
        found until the probe has left its pose and the trainee brings it back (pressing the vein
        where it was shown and letting go is not finding it).
        """
        step = self.current_step
        target = step.practice
        if target is None:
            return False
        missing = [k for k in POSE_KEYS if k not in pose]
        if missing:
            raise RunnerError(f"pose lacks {', '.join(missing)}")
        state = self._state[step.id]
        on_target = scene_id == target.scene and all(
            (
                _angle_diff_deg(pose[key], target.pose[key])
                if key.endswith("_deg")
                else abs(pose[key] - target.pose[key])
            )
            <= target.tolerance[key]
            for key in POSE_KEYS
        )
        if not on_target:  # only the probe leaving the view counts as moving away from it
            state.away_since_shown = True
            return False
        if seen is not None:
            on_target = (
                seen.scene_id == scene_id
                and wanted <= seen.structures_in_view
                and not wanted & seen.compressed_vessels
            )
        if on_target and target.needle is not None:  # only the simulator's truth can show the needle
            on_target = seen is not None and needle_shown(target.needle, seen)
        if not on_target:  # in place, but the plane misses a structure or a wanted vein is pressed
            return False
        if not state.away_since_shown:
            return False  # still where "Go to target view" put it: shown, not found
        if not state.view_found:
            state.view_found = True
            self._emit(EventKind.VIEW_FOUND, step.id, scene=scene_id)
        return True

    def show_practice_view(self) -> None:
        """The trainee asked to be shown the target ("Go to target view"): assisted, no credit for it."""
        step = self.current_step
        if step.practice is None:
            raise RunnerError(f"step {step.id!r} has no practice target")
        state = self._state[step.id]
        state.view_shown = True
        state.away_since_shown = False
        self._emit(EventKind.VIEW_SHOWN, step.id, scene=step.practice.scene)

    def view_shown(self, step_id: str | None = None) -> bool:
        """The step's target view was shown to the trainee (found or not afterwards)."""
        return self._state_of(step_id or self.current_step.id).view_shown

    def view_found(self, step_id: str | None = None) -> bool:
        return self._state_of(step_id or self.current_step.id).view_found

    def practice_summary(self) -> PracticeSummary:
        """Steps done (nothing mandatory missing, not skipped), time taken and views found so far."""
        done = sum(
            1
            for s in self.steps
            if self._state[s.id].visited
            and not self._state[s.id].skip_reason
            and not self.missing_for_step(s.id)
        )
        found = tuple(s.id for s in self.steps if self._state[s.id].view_found)
        total = sum(1 for s in self.steps if s.practice is not None)
        return PracticeSummary(done, len(self.steps), self.elapsed_s(), found, total)

    # --- time and result -------------------------------------------------------------------------

    def elapsed_s(self) -> float:
        end = self._ended_s if self._ended_s is not None else self._clock()
        return end - self._started_s

    def time_spent_s(self, step_id: str) -> float:
        """Time spent on a step so far, including the running time if it is current."""
        spent = self._state_of(step_id).time_spent_s
        if step_id == self.current_step.id and self._ended_s is None:
            spent += self._clock() - self._entered_s
        return spent

    def note_preset(self, outcome: PresetOutcome) -> None:
        """What the source did with the current step's preset: kept in the step's record, so a preset a
        replay or an OpenIGTLink sender could not apply reads "not applied" while the exam goes on."""
        self._require_running()
        step_id = self.current_step.id
        self._state[step_id].preset = outcome.to_record()
        self._emit(EventKind.PRESET_NOTED, step_id, status=outcome.status)

    def end_exam(self) -> ExamRecord:
        """End the exam (timing stops; further changes are refused) and return its record."""
        self._require_running()
        self._account_time()
        self._ended_s = self._entered_s
        record = self.record()
        self._emit(EventKind.EXAM_ENDED, self.current_step.id, complete=record.complete)
        return record

    def record(self) -> ExamRecord:
        """The exam as a structured record, usable before or after it ends."""
        steps = []
        for s in self.steps:
            state = self._state[s.id]
            steps.append(
                StepRecord(
                    step_id=s.id,
                    title=s.title,
                    mandatory=s.mandatory,
                    status=self.step_status(s.id).value,
                    skip_reason=state.skip_reason,
                    findings=[{"id": f, "title": s.finding(f).title} for f in state.findings],
                    follow_ups_opened=[fu.id for fu in self.open_follow_ups(s.id)],
                    captures=list(state.captures),
                    measurements=list(state.measurements),
                    time_spent_s=self.time_spent_s(s.id),
                    view_found=state.view_found,
                    view_shown=state.view_shown,
                    preset=state.preset,
                )
            )
        completeness = self.completeness()
        return ExamRecord(
            protocol_id=self.protocol.id,
            protocol_version=self.protocol.version,
            protocol_title=self.protocol.title,
            side=self._side,
            quadrant=self.quadrant,
            practice=self.practice,
            duration_s=self.elapsed_s(),
            steps=steps,
            area_of_pain=self._area_of_pain,
            complete=completeness.complete,
            missing=list(completeness.missing),
            ended=self.ended,
            qa_review=self.qa_flags(),
            procedure=self._procedure_record(),
        )

    def _procedure_record(self) -> dict[str, Any] | None:
        """The procedure's record with its images by role (capture ids), and whether the
        needle-in-target image is still missing."""
        if self.procedure is None:
            return None
        out = self.procedure.to_dict()
        images: dict[str, list[str]] = {role.value: [] for role in ProcedureRole}
        image_steps: dict[str, list[str]] = {role.value: [] for role in ProcedureRole}
        for s in self.steps:
            if s.procedure_role is not None:
                images[s.procedure_role.value] += [c.capture_id for c in self._state[s.id].captures]
                image_steps[s.procedure_role.value].append(s.id)
        out["images"] = images  # capture ids, as the runner labelled them
        out["image_steps"] = image_steps  # the steps whose stored images document each role
        needle_steps = [s for s in self.steps if s.procedure_role is ProcedureRole.NEEDLE]
        needle_still = any(
            c.kind == CaptureKind.STILL.value and not c.extra
            for s in needle_steps
            for c in self._state[s.id].captures
        )
        if needle_steps and not needle_still and not all(self._state[s.id].skip_reason for s in needle_steps):
            out["missing"] = [*out["missing"], ROLE_TITLES[ProcedureRole.NEEDLE] + " image"]
        return out

    def qa_flags(self) -> list[QaFlag]:
        """Every unexpected finding chosen so far, in step order: each goes to QA review."""
        return [
            QaFlag(s.id, s.title, f.id, f.title)
            for s in self.steps
            for f in s.incidental_findings
            if f.id in self._state[s.id].findings
        ]
