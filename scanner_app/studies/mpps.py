"""Modality Performed Procedure Step (PS3.4 F.7): the RIS is told an exam is in progress (N-CREATE)
and then that it was completed or discontinued (N-SET), with the images it produced.

`MppsNotifier` does this on its own thread, in order, so starting or ending an exam never waits on
the network; a failure is logged and kept in `errors` (the exam and its images are not affected).
Given the store's root, it keeps each step's UID and state with the study (`mpps.json` in the
study's folder, `MppsSteps`), so after a restart mid-exam the same step is still ended by N-SET.
"""

from __future__ import annotations

import enum
import json
import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from scanner_app.capture import CaptureKind
from scanner_app.studies.dicom_writer import US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE, write_file_atomic
from scanner_app.studies.model import Study, StudyCapture, StudyError
from scanner_app.studies.pacs import PacsDestination, _associate, _make_ae
from scanner_app.studies.store import STUDIES_DIR

log = logging.getLogger(__name__)


class MppsStatus(enum.StrEnum):
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


def _date(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def _time(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def in_progress_dataset(study: Study, station_ae: str, step_id: str) -> Dataset:
    """The N-CREATE attributes: the patient, the order it performs, and 'IN PROGRESS'."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    scheduled = Dataset()
    scheduled.StudyInstanceUID = study.study_uid
    scheduled.AccessionNumber = study.accession_number
    scheduled.RequestedProcedureDescription = study.description
    scheduled.RequestedProcedureID = ""
    scheduled.ScheduledProcedureStepID = ""
    scheduled.ScheduledProcedureStepDescription = ""
    scheduled.ScheduledProtocolCodeSequence = []
    scheduled.ReferencedStudySequence = []
    ds.ScheduledStepAttributesSequence = [scheduled]
    patient = study.patient
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = step_id
    ds.PerformedStationAETitle = station_ae
    ds.PerformedStationName = ""
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = _date(study.started_at)
    ds.PerformedProcedureStepStartTime = _time(study.started_at)
    ds.PerformedProcedureStepStatus = MppsStatus.IN_PROGRESS.value
    ds.PerformedProcedureStepDescription = study.description
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = "US"
    ds.StudyID = study.study_id
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def _sop_class(capture: StudyCapture) -> str:
    return US_IMAGE_STORAGE if capture.kind is CaptureKind.STILL else US_MULTIFRAME_IMAGE_STORAGE


def final_dataset(study: Study, status: MppsStatus, ended_at: datetime) -> Dataset:
    """The N-SET attributes: the end, the status, and every image of the study by series."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PerformedProcedureStepStatus = status.value
    ds.PerformedProcedureStepEndDate = _date(ended_at)
    ds.PerformedProcedureStepEndTime = _time(ended_at)
    series: dict[str, list[StudyCapture]] = {}
    for capture in study.captures:
        series.setdefault(capture.series_uid, []).append(capture)
    performed = []
    for series_uid, captures in series.items():
        item = Dataset()
        item.PerformingPhysicianName = study.supervisor
        item.ProtocolName = study.protocol_id or "free scanning"
        item.OperatorsName = study.operator
        item.SeriesInstanceUID = series_uid
        item.SeriesDescription = "Clips" if captures[0].kind is CaptureKind.CLIP else "Stills"
        item.RetrieveAETitle = ""
        refs = []
        for capture in captures:
            ref = Dataset()
            ref.ReferencedSOPClassUID = _sop_class(capture)
            ref.ReferencedSOPInstanceUID = capture.sop_instance_uid
            refs.append(ref)
        item.ReferencedImageSequence = refs
        item.ReferencedNonImageCompositeSOPInstanceSequence = []
        performed.append(item)
    ds.PerformedSeriesSequence = performed
    return ds


def _check(status: Dataset | None, what: str, dest: PacsDestination) -> None:
    code = getattr(status, "Status", None) if status else None
    if code is None:
        raise StudyError(f"MPPS {what}: no answer from {dest.describe()}")
    if code != 0x0000 and not 0xB000 <= code <= 0xBFFF:  # success, or a warning
        raise StudyError(f"MPPS {what}: {dest.describe()} refused it (status 0x{code:04X})")


def send_mpps(
    dest: PacsDestination, attributes: Dataset, mpps_uid: str, *, create: bool, timeout_s: float = 10.0
) -> None:
    """N-CREATE (`create`) or N-SET the step `mpps_uid`; StudyError saying why when it fails."""
    what = "N-CREATE" if create else "N-SET"
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc, failure = _associate(ae, dest)
    if assoc is None:
        assert failure is not None
        raise StudyError(f"MPPS {what}: {failure.message}")
    try:
        if not any(cx.abstract_syntax == ModalityPerformedProcedureStep for cx in assoc.accepted_contexts):
            raise StudyError(f"MPPS {what}: {dest.describe()} does not offer MPPS")
        if create:
            status, _ = assoc.send_n_create(attributes, ModalityPerformedProcedureStep, mpps_uid)
        else:
            status, _ = assoc.send_n_set(attributes, ModalityPerformedProcedureStep, mpps_uid)
        _check(status, what, dest)
    finally:
        if assoc.is_established:
            assoc.release()


MPPS_FILE = "mpps.json"  # in the study's folder: {"AE@host:port": {"mpps_uid": ..., "status": ...}}


class MppsSteps:
    """The MPPS step told to each destination about each study, kept with the study on disk.

    A destination is known by its identity (AE title, host, port), as send state is: renaming it in
    the PACS tab does not lose its steps. Written whole and atomically after each change, so a kill
    leaves the step before or after it, never half of it.
    """

    def __init__(self, store_root: Path) -> None:
        self.root = Path(store_root)

    def _path(self, study: Study) -> Path:
        return self.root / study.directory / MPPS_FILE

    def _read(self, study: Study) -> dict[str, Any]:
        path = self._path(study)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StudyError(f"cannot read the MPPS steps in {path}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def get(self, study: Study, dest: PacsDestination) -> tuple[str, MppsStatus] | None:
        """The step's UID and its last state confirmed by `dest`, or None if it was never told."""
        entry = self._read(study).get(str(dest.identity))
        if not isinstance(entry, dict):
            return None
        try:
            return str(entry["mpps_uid"]), MppsStatus(entry["status"])
        except (KeyError, ValueError):
            return None

    def unfinished(self, destinations: Iterable[PacsDestination]) -> list[str]:
        """The UIDs of the studies (folders named by them) one of `destinations` still thinks in
        progress: found by their files, without reading every study."""
        identities = {str(d.identity) for d in destinations}
        found = []
        for path in sorted((self.root / STUDIES_DIR).glob(f"*/{MPPS_FILE}")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("cannot read the MPPS steps in %s: %s", path, exc)
                continue
            if isinstance(data, dict) and any(
                isinstance(entry, dict)
                and key in identities
                and entry.get("status") == MppsStatus.IN_PROGRESS
                for key, entry in data.items()
            ):
                found.append(path.parent.name)
        return found

    def put(self, study: Study, dest: PacsDestination, mpps_uid: str, status: MppsStatus) -> None:
        data = self._read(study)
        data[str(dest.identity)] = {"mpps_uid": mpps_uid, "status": status.value, "destination": dest.name}
        payload = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
        write_file_atomic(self._path(study), payload)


@dataclass(frozen=True, slots=True)
class _Job:
    study: Study
    status: MppsStatus
    at: datetime


class MppsNotifier:
    """Tells the MPPS destinations about exams, in order, on one thread: `started`, then `ended`."""

    def __init__(
        self,
        destinations: Iterable[PacsDestination],
        *,
        timeout_s: float = 10.0,
        store_root: Path | None = None,
    ) -> None:
        self.destinations = [d for d in destinations if d.mpps]
        # With the store's root the steps outlive the app (a restart mid-exam); without, memory only.
        self._kept = MppsSteps(store_root) if store_root is not None else None
        self.errors: list[str] = []
        self.sent: list[tuple[str, str, MppsStatus]] = []  # (destination, MPPS UID, status) confirmed
        self._timeout_s = timeout_s
        self._steps: dict[tuple[str, str], str] = {}  # (destination name, study UID) -> MPPS UID
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._done = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="mpps", daemon=True)
        self._thread.start()

    def started(self, study: Study) -> None:
        self._put(_Job(study, MppsStatus.IN_PROGRESS, study.started_at))

    def ended(self, study: Study) -> None:
        """Completed when the exam kept images, else discontinued (nothing was produced)."""
        status = MppsStatus.COMPLETED if study.captures else MppsStatus.DISCONTINUED
        self._put(_Job(study, status, study.ended_at or datetime.now().astimezone()))

    def _put(self, job: _Job) -> None:
        if self.destinations:
            with self._done:
                self._pending += 1
            self._jobs.put(job)

    def wait_idle(self, timeout_s: float) -> bool:
        """True once every step asked for has been sent (or has failed)."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(self._timeout_s * 2 + 5)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            for dest in self.destinations:
                try:
                    self._send(dest, job)
                except StudyError as exc:
                    log.warning("%s", exc)
                    self.errors.append(str(exc))
            with self._done:
                self._pending -= 1
                self._done.notify_all()

    def _send(self, dest: PacsDestination, job: _Job) -> None:
        key = (dest.name, job.study.study_uid)
        kept = self._kept.get(job.study, dest) if self._kept is not None else None
        if job.status is MppsStatus.IN_PROGRESS:
            if kept is not None:  # told before a restart: the step goes on, not a second one
                self._steps[key] = kept[0]
                return
            uid = str(generate_uid())
            attributes = in_progress_dataset(job.study, dest.calling_ae, job.study.study_id)
            send_mpps(dest, attributes, uid, create=True, timeout_s=self._timeout_s)
            self._steps[key] = uid
        else:
            found = self._steps.get(key)
            if found is None and kept is not None:
                if kept[1] is not MppsStatus.IN_PROGRESS:
                    log.info("MPPS: %s was already told this exam %s", dest.describe(), kept[1].value)
                    return
                found = kept[0]  # started before a restart
            if found is None:
                raise StudyError(f"MPPS N-SET: no step in progress at {dest.describe()} for this exam")
            uid = found
            send_mpps(dest, final_dataset(job.study, job.status, job.at), uid, create=False,
                      timeout_s=self._timeout_s)  # fmt: skip
            self._steps.pop(key, None)
        if self._kept is not None:
            self._kept.put(job.study, dest, uid, job.status)
        self.sent.append((dest.name, uid, job.status))

    def in_progress(self, study: Study) -> bool:
        """True when a destination was told this study is in progress and not yet how it ended."""
        if self._kept is None:
            return False
        return any((step := self._kept.get(study, d)) and step[1] is MppsStatus.IN_PROGRESS
                   for d in self.destinations)  # fmt: skip

    def unfinished(self) -> list[str]:
        """The UIDs of the studies a destination was told are in progress and not yet how they ended."""
        return self._kept.unfinished(self.destinations) if self._kept is not None else []
