"""A protocol walked without a screen: scripted captures for each step into a study (developers, tests).

Each step's preset is sent when the step's first frame arrives, and what the source did with it is
recorded in the step (a replay or an OpenIGTLink sender applies none: "not applied", and the exam goes
on). Each capture tick takes what the current step still needs (a still, or a clip of the last second),
labels it through the checklist runner and stores it; a step with nothing left moves on. Time is the
frames' own host timestamps, so the result does not depend on how fast the machine is.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from protocols.exam_session import ExamSession
from protocols.model import ScanProtocol
from protocols.procedure import ProcedureRole
from scanner_app.capture import CaptureKind
from scanner_app.frame import DataFormat, Frame
from scanner_app.preset_outcome import PresetOutcome
from scanner_app.studies.model import Patient, StudyCapture, StudyError
from scanner_app.studies.store import StudyStore

CLIP_SECONDS = 1.0
# A script has no patient and no team to hold a time-out with: it says so rather than tick it off.
SCRIPTED_TIME_OUT_SKIP = "scripted exam: no patient, no team, no time-out held"


@dataclass(frozen=True, slots=True)
class ScriptedExamResult:
    """What a scripted exam kept: the study, its captures, the runner's record and frames seen."""

    study_uid: str
    captures: tuple[StudyCapture, ...]
    record: dict[str, Any]
    frames_seen: int

    def outcome(self) -> dict[str, Any]:
        """The exam's outcome for a stats file: study, captures, completeness and what is missing."""
        return {
            "protocol_id": self.record.get("protocol_id", ""),
            "study_uid": self.study_uid,
            "captures": len(self.captures),
            "frames_seen": self.frames_seen,
            "complete": bool(self.record.get("complete")),
            "missing": list(self.record.get("missing") or []),
            "presets": {
                step["step_id"]: step["preset"]["status"]
                for step in self.record.get("steps") or []
                if step.get("preset") is not None
            },
        }


def run_scripted_exam(
    next_frame: Callable[[], Frame | None],
    protocol: ScanProtocol,
    store: StudyStore,
    *,
    seconds: float,
    capture_every_s: float,
    side: str = "left",
    operator: str = "HEADLESS^SCRIPT",
    patient: Patient | None = None,
    apply_preset: Callable[[Mapping[str, float]], PresetOutcome] | None = None,
) -> ScriptedExamResult:
    """Walk `protocol` for `seconds` of frame time, capturing every `capture_every_s`.

    `next_frame` blocks until the next frame and returns None when the source has ended. The study is
    ended with the runner's exam record whatever happens, so what was captured stays complete.
    `apply_preset` sends a step's preset to the source and says what it did (`preset_outcome.apply_preset`
    on the engine); without it no preset is sent.
    """
    if seconds <= 0 or capture_every_s <= 0:
        raise StudyError(f"seconds and capture_every_s must be positive (got {seconds}, {capture_every_s})")
    session = ExamSession.start(
        store, patient or Patient.practice("HEADLESS"), operator, protocol=protocol, side=side
    )
    runner = session.runner
    assert runner is not None
    captures: list[StudyCapture] = []
    recent: collections.deque[Frame] = collections.deque()
    seen = 0
    start_ns: int | None = None
    next_capture_s = 0.0
    preset_sent_for = ""  # the step whose preset was last sent
    try:
        while not runner.ended and (frame := next_frame()) is not None:
            if frame.data_format is not DataFormat.BMODE_U8:
                continue
            seen += 1
            start_ns = frame.host_time_ns if start_ns is None else start_ns
            elapsed_s = (frame.host_time_ns - start_ns) / 1e9
            if elapsed_s >= seconds:
                break
            step = runner.current_step
            if apply_preset is not None and step.preset is not None and step.id != preset_sent_for:
                preset_sent_for = step.id
                runner.note_preset(apply_preset(step.preset.as_dict()))
            recent.append(frame)
            while (frame.host_time_ns - recent[0].host_time_ns) / 1e9 > CLIP_SECONDS:
                recent.popleft()
            if elapsed_s < next_capture_s:
                continue
            next_capture_s = elapsed_s + capture_every_s
            record = _capture_next_requirement(session, list(recent))
            if record is not None:
                captures.append(record)
    finally:
        exam = session.end()
    return ScriptedExamResult(session.study.study_uid, tuple(captures), exam, seen)


def _capture_next_requirement(session: ExamSession, recent: list[Frame]) -> StudyCapture | None:
    """Take one capture the current step still needs; move on (and return None) when it needs none."""
    runner, protocol = session.runner, session.protocol
    assert runner is not None and protocol is not None
    step = runner.current_step
    if step.mark_area_of_pain and runner.area_of_pain is None:
        runner.mark_area_of_pain(
            f"{runner.side} {protocol.region}".strip(), runner.side or "midline", 0.6, 0.75
        )
    outstanding = [(fu, req) for fu, req, taken in runner.capture_progress() if taken < req.count]
    if not outstanding:
        if "normal" in {f.id for f in step.findings} and not runner.findings():
            runner.choose_finding("normal")
        if not runner.next():
            runner.end_exam()  # the last step is done: the exam is complete
        return None
    _, req = outstanding[0]
    procedure = runner.procedure
    if procedure is not None and step.procedure_role is ProcedureRole.NEEDLE and not procedure.needle_allowed:
        procedure.skip_time_out(SCRIPTED_TIME_OUT_SKIP)
    capture_id, labels = session.label_capture(
        req.kind.value, req.plane.value, mode=req.mode.value, contralateral=req.side.value == "contralateral"
    )
    try:
        if req.kind is CaptureKind.CLIP:
            return session.store.save_clip(session.study, recent, labels)
        return session.store.save_still(session.study, recent[-1], labels)
    except StudyError:
        session.discard_capture(capture_id)  # not on disk, so it must not count toward the step
        raise
