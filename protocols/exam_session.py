"""ExamSession: one exam = one study in the store, and optionally the protocol checklist it follows.

Qt-free. The window (or a script) asks it to label each capture before the capture is stored; the
labels count the capture toward the current step and become the study store's DICOM labels. A capture
the store then fails to keep is discarded again, so the checklist never counts an image that is not
on disk. Ending the session ends the checklist and writes its record into the study.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from protocols.capture_labels import (
    LATERALITY_BY_SIDE,
    angle_from_limb_deg,
    planes_of_probe_angle,
    study_labels,
)
from protocols.model import CaptureSide, Plane, ScanProtocol, Side
from protocols.runner import ChecklistRunner, Clock, RunnerError
from scanner_app.capture import CaptureKind
from scanner_app.studies.model import ExamOrder, Patient, Study
from scanner_app.studies.store import StudyStore

# The protocol vocabulary has no "unspecified plane"; a capture in a step that names no plane at all
# (rare: free-hand steps) is recorded as oblique rather than refused, so it is never lost.
FALLBACK_PLANE = Plane.OBLIQUE


class ExamSession:
    """A study being captured into, with the checklist runner (and protocol) it follows, if any."""

    def __init__(
        self,
        store: StudyStore,
        study: Study,
        runner: ChecklistRunner | None = None,
        *,
        side: str = "",
    ) -> None:
        self.store = store
        self.study = study
        self.runner = runner
        self.side = runner.side if runner is not None and runner.side else side
        self._ids = itertools.count(1)
        self._record: dict[str, Any] | None = None

    @classmethod
    def start(
        cls,
        store: StudyStore,
        patient: Patient,
        operator: str,
        *,
        protocol: ScanProtocol | None = None,
        side: str | None = None,
        quadrant: str | None = None,
        practice: bool = False,
        trainee: str = "",
        supervisor: str = "",
        order: ExamOrder | None = None,
        clock: Clock = time.monotonic,
    ) -> ExamSession:
        """Start a study (and the protocol's checklist, if one is given); raises StudyError/RunnerError.

        The runner is built first, so a bad side or quadrant leaves no empty study behind. `order` is
        what the department asked for (a worklist entry, or an accession typed by hand).
        """
        order = order or ExamOrder()
        runner = None
        if protocol is not None:
            runner_side = side if protocol.side is Side.ASK or side == protocol.side.value else None
            runner = ChecklistRunner(
                protocol, side=runner_side, quadrant=quadrant or None, practice=practice, clock=clock
            )
        description = protocol.title if protocol is not None else ("Practice" if practice else "")
        description = order.requested_procedure or description
        study = store.start_study(
            patient,
            operator,
            trainee=trainee,
            supervisor=supervisor,
            protocol_id=protocol.id if protocol is not None else "",
            description=description,
            accession_number=order.accession_number,
            referring_physician=order.referring_physician,
            study_uid=order.study_uid,
        )
        return cls(store, study, runner, side=side or "")

    @property
    def protocol(self) -> ScanProtocol | None:
        return self.runner.protocol if self.runner is not None else None

    @property
    def ended(self) -> bool:
        return self.study.ended_at is not None

    def label_capture(
        self,
        kind: str,
        plane: str | None = None,
        *,
        mode: str | None = None,
        contralateral: bool = False,
        imaging_mode: str | None = None,
        probe_angle_deg: float | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Record a capture for the current step; return (capture_id, labels for the study store).

        With no `plane`, the capture is for the first outstanding requirement of this kind in the
        current step (the one matching `mode` and side if there is one), else the step's plane. With
        `probe_angle_deg` (the body marker's: the probe's orientation), a requirement whose plane the
        image lies in comes first (long axis, sagittal, coronal near 0°; short axis, transverse near
        90°); when none does, the capture is labelled as without it and `plane_note` says so, except
        that an oblique image (between them) is labelled oblique. With
        no checklist running, capture_id is "" and the labels carry only the examined side.
        `mode` is the mode the capture is meant for (a checklist button), `imaging_mode` the mode it
        was taken in (the window's readback): only the latter counts (`ChecklistRunner.record_capture`) (the
        runner's `find_capture(capture_id).note` says why a capture in the wrong mode did not count).
        Raises RunnerError when the checklist refuses (an ASK protocol whose side is not chosen yet).
        """
        runner = self.runner
        if runner is None or runner.ended:
            # The side may have been chosen in the checklist after the exam started.
            laterality = LATERALITY_BY_SIDE.get((runner.side if runner else "") or self.side, "")
            return "", ({"laterality": laterality} if laterality else {})
        asked = mode or imaging_mode or "bmode"
        plane_note = ""
        if plane is None:
            plane = self._default_plane(runner, kind, asked, contralateral)
            facing = planes_of_probe_angle(probe_angle_deg) if probe_angle_deg is not None else frozenset()
            if facing and Plane(plane) not in facing:
                oriented = self._default_plane(runner, kind, asked, contralateral, facing)
                if oriented:
                    plane = oriented
                elif Plane.OBLIQUE in facing:
                    # An oblique image is in none of the step's planes: it is kept as what it is and
                    # fills no long- or short-axis requirement.
                    angle_deg = angle_from_limb_deg(probe_angle_deg or 0.0)
                    plane_note = (
                        f"the probe is oblique ({angle_deg:.0f}° to the limb), "
                        f"not in this step's {plane.replace('_', ' ')}: labelled oblique"
                    )
                    plane = Plane.OBLIQUE.value
                else:
                    plane_note = (
                        f"the probe is {_orientation_words(facing)} but this step asks for no "
                        f"{kind} in that plane: labelled {plane.replace('_', ' ')}"
                    )
        capture_id = f"{self.study.study_id}-{next(self._ids):04d}"
        labels = runner.record_capture(
            kind, plane, capture_id, mode=asked, contralateral=contralateral, imaging_mode=imaging_mode
        )
        result = study_labels(runner.protocol, labels)
        if plane_note:
            result["plane_note"] = plane_note
        return capture_id, result

    @staticmethod
    def _default_plane(
        runner: ChecklistRunner,
        kind: str,
        mode: str,
        contralateral: bool,
        facing: frozenset[Plane] | None = None,
    ) -> str:
        """The plane to label a capture with: the first outstanding requirement of its kind (of its
        mode and side first), else the step's plane. With `facing`, only those planes, with the step's
        filled requirements' planes after the outstanding ones; "" when none of them is in `facing`."""
        requirements = runner.capture_progress()
        outstanding = [req for _, req, taken in requirements if taken < req.count]
        of_kind = [req for req in outstanding if req.kind == CaptureKind(kind)]
        wanted_side = CaptureSide.CONTRALATERAL if contralateral else CaptureSide.EXAM
        exact = [req for req in of_kind if req.mode.value == mode and req.side is wanted_side]
        step_plane = runner.current_step.plane
        if facing is None:
            if exact or of_kind:
                return (exact or of_kind)[0].plane.value
            return (step_plane or FALLBACK_PLANE).value
        planes = [r.plane for r in exact + of_kind] + ([step_plane] if step_plane else [])
        planes += [req.plane for _, req, _taken in requirements if req.kind == CaptureKind(kind)]
        return next((p.value for p in planes if p in facing), "")

    def discard_capture(self, capture_id: str) -> None:
        """The store could not keep this capture: it no longer counts toward its step."""
        if capture_id and self.runner is not None:
            self.runner.discard_capture(capture_id)

    def relabel_capture(self, capture_id: str, step_id: str, plane: str) -> dict[str, Any]:
        """Move a capture to another step/plane of the checklist; returns its new study-store labels.

        Raises RunnerError when there is no running checklist or it does not know the capture.
        """
        runner = self.runner
        if runner is None or runner.ended:
            raise RunnerError("no checklist is running: the capture has no step to move from")
        labels = runner.relabel_capture(capture_id, step_id, plane)
        return study_labels(runner.protocol, labels)

    def capture_targets(self) -> list[tuple[str, str, str]]:
        """(step_id, step title, plane) a capture can be labelled with: each step's planes (the step's
        own and those its captures and follow-ups ask for), in protocol order."""
        runner = self.runner
        if runner is None:
            return []
        targets: list[tuple[str, str, str]] = []
        for step in runner.steps:
            planes = [step.plane] if step.plane is not None else []
            requirements = list(step.captures) + [r for fu in step.follow_ups for r in fu.captures]
            planes += [r.plane for r in requirements]
            for plane in dict.fromkeys(planes or [FALLBACK_PLANE]):
                targets.append((step.id, step.title, plane.value))
        return targets

    def keep_open(self) -> None:
        """The app closes mid-exam: keep the checklist's record so far with the study, not ended."""
        record = self.runner.record().to_dict() if self.runner is not None else None
        self.store.keep_open(self.study, record)

    def end(self) -> dict[str, Any]:
        """End the checklist (if any) and the study with the checklist's record; return the record.

        Calling it again returns the same record.
        """
        if self._record is not None:
            return self._record
        record: dict[str, Any] = {}
        if self.runner is not None:
            exam = self.runner.record() if self.runner.ended else self.runner.end_exam()
            record = exam.to_dict()
        self.store.end_study(self.study, record or None)
        self._record = record
        return record


def _orientation_words(facing: frozenset[Plane]) -> str:
    return "in short axis (transverse)" if Plane.TRANSVERSE in facing else "in long axis"
