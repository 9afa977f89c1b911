"""StudyCaptureSink: the window's CaptureSink over the DICOM study store, capturing into the current study.

Runs on the capture worker thread; the store serialises its writes with its own lock. Labels the store
knows (CaptureLabels keys: laterality, body part, protocol step, plane) go into the DICOM attributes;
the window's other labels (preset, grey map, probe...), its annotations and its measurements are kept
in the capture's annotations JSON. Any store failure becomes `scanner_app.capture.CaptureSinkError` with
the store's own message, so the window shows it and imaging goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from scanner_app.capture import CaptureKind, CaptureSink, CaptureSinkError, StoredCapture
from scanner_app.doppler_capture import DopplerContent
from scanner_app.frame import Frame
from scanner_app.studies.dicom_writer import geometry_runs
from scanner_app.studies.model import CaptureLabels, JsonDict, Study, StudyCapture, StudyError
from scanner_app.studies.store import StudyStore

LABEL_KEYS = frozenset(CaptureLabels.__dataclass_fields__)


def split_labels(labels: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(labels the study store takes, the rest) — the rest is kept in the annotations JSON."""
    dicom = {k: v for k, v in labels.items() if k in LABEL_KEYS and v not in ("", None)}
    other = {k: v for k, v in labels.items() if k not in LABEL_KEYS}
    return dicom, other


def annotation_entries(
    ui_labels: Mapping[str, Any],
    annotations: Mapping[str, Any],
    measurements: Sequence[Mapping[str, Any]],
) -> list[JsonDict]:
    """The capture's annotations JSON: one entry for the UI state, one for annotations, one per measurement.

    Measurements get a `value_mm` (distance) or `value` text (two-axis), which reports show as numbers.
    """
    entries: list[JsonDict] = [{"type": "ui_labels", **ui_labels}]
    if annotations:
        entries.append({"type": "annotations", **annotations})
    for m in measurements:
        entry: JsonDict = {"type": "measurement", **m}
        if "distance_mm" in m:
            entry["value_mm"] = m["distance_mm"]
        elif "length_mm" in m and "depth_mm" in m:
            entry["value"] = f"{float(m['length_mm']):.1f} × {float(m['depth_mm']):.1f}"
            entry["unit"] = "mm"
        entries.append(entry)
    return entries


class StudyCaptureSink(CaptureSink):
    """Saves the window's stills and clips as DICOM into whichever study `current_study()` returns."""

    def __init__(self, store: StudyStore, current_study: Callable[[], Study]) -> None:
        self.store = store
        self._current_study = current_study

    def _save(
        self,
        kind: CaptureKind,
        frames: list[Frame],
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        dicom_labels, ui_labels = split_labels(labels)
        entries = annotation_entries(ui_labels, annotations, measurements)
        try:
            study = self._current_study()
            if kind is CaptureKind.CLIP:
                # A depth change mid-clip (a preset, a knob) changes the image size or calibration; a
                # multi-frame image keeps one, so each part becomes its own clip in the same series.
                records = [
                    self.store.save_clip(study, part, dicom_labels, entries) for part in geometry_runs(frames)
                ]
            else:
                records = [self.store.save_still(study, frames[0], dicom_labels, entries)]
        except StudyError as exc:  # StudyCaptureError is a StudyError too
            raise CaptureSinkError(str(exc)) from exc
        except OSError as exc:
            raise CaptureSinkError(f"could not save the {kind} in {self.store.root}: {exc}") from exc
        return _ui_record(self.store, records)

    def save_dual(
        self,
        left: Frame,
        right: Frame,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        """One Ultrasound Image of the two halves, each its own calibrated US region."""
        dicom_labels, ui_labels = split_labels(labels)
        entries = annotation_entries({**ui_labels, "dual": "side by side"}, annotations, measurements)
        try:
            record = self.store.save_dual(self._current_study(), left, right, dicom_labels, entries)
        except StudyError as exc:
            raise CaptureSinkError(str(exc)) from exc
        except OSError as exc:
            raise CaptureSinkError(f"could not save the dual image in {self.store.root}: {exc}") from exc
        return _ui_record(self.store, [record])

    def save_doppler_still(
        self,
        frame: Frame,
        doppler: DopplerContent,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        """An RGB Ultrasound Image of what the screen showed: colour (or power) in the box with its
        colour bar, or the duplex image with the spectrum; its scale and measurements kept with it."""
        dicom_labels, ui_labels = split_labels(labels)
        entries = annotation_entries(ui_labels, annotations, measurements)
        flow = doppler.overlays[-1] if doppler.overlays else None
        try:
            record = self.store.save_doppler_still(
                self._current_study(),
                frame,
                flow,
                doppler.spectrum or None,
                labels=dicom_labels,
                measurements=[*doppler.measurements, *doppler.scale_entries()],
                power=doppler.power,
                annotations=entries,
                bar=doppler.bar,
            )
        except StudyError as exc:
            raise CaptureSinkError(str(exc)) from exc
        except OSError as exc:
            raise CaptureSinkError(f"could not save the Doppler still in {self.store.root}: {exc}") from exc
        return _ui_record(self.store, [record])

    def save_doppler_clip(
        self,
        frames: Sequence[Frame],
        doppler: DopplerContent,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        """An RGB Ultrasound Multi-frame Image: frame i with the overlay it was shown with, or (PW duplex)
        with the spectral sweep as it stood then; the scale and the sweep's measurements kept with it."""
        dicom_labels, ui_labels = split_labels(labels)
        scale = [{"type": "measurement", **m} for m in [*doppler.measurements, *doppler.scale_entries()]]
        entries = [*annotation_entries(ui_labels, annotations, measurements), *scale]
        try:
            if doppler.spectrum:
                record = self.store.save_duplex_clip(
                    self._current_study(),
                    frames,
                    doppler.spectrum,
                    doppler.spectrum_shown or (len(doppler.spectrum),) * len(frames),
                    labels=dicom_labels,
                    annotations=entries,
                )
            else:
                record = self.store.save_doppler_clip(
                    self._current_study(),
                    frames,
                    doppler.overlays,
                    dicom_labels,
                    entries,
                    power=doppler.power,
                    bar=doppler.bar,
                )
        except StudyError as exc:
            raise CaptureSinkError(str(exc)) from exc
        except OSError as exc:
            raise CaptureSinkError(f"could not save the Doppler clip in {self.store.root}: {exc}") from exc
        return _ui_record(self.store, [record])

    def read_frames(self, record: StoredCapture) -> npt.NDArray[np.uint8]:
        """Every frame of every part, read back from the DICOM files: grey, or RGB for a colour
        (Doppler) image (pydicom gives YBR as RGB)."""
        parts = []
        try:
            for sop_uid in record.ids:
                ds = self.store.read_dataset(self._record(sop_uid))
                pixels = np.asarray(ds.pixel_array, np.uint8)
                one_frame = 2 if int(ds.get("SamplesPerPixel", 1)) == 1 else 3
                parts.append(pixels[np.newaxis] if pixels.ndim == one_frame else pixels)
        except (StudyError, OSError) as exc:
            raise CaptureSinkError(f"could not read the capture back: {exc}") from exc
        if len({p.shape[1:] for p in parts}) > 1:
            return parts[-1]  # parts of different depths: the last (as the live image ended)
        return np.concatenate(parts)

    def delete(self, record: StoredCapture) -> None:
        try:
            for sop_uid in record.ids:
                self.store.delete_capture(sop_uid)
        except StudyError as exc:
            raise CaptureSinkError(str(exc)) from exc

    def relabel(self, record: StoredCapture, labels: Mapping[str, str]) -> None:
        dicom_labels, _ui = split_labels(labels)
        try:
            for sop_uid in record.ids:
                old = self._record(sop_uid).labels.to_json()
                self.store.relabel_capture(sop_uid, {**old, **dicom_labels})
        except StudyError as exc:
            raise CaptureSinkError(str(exc)) from exc

    def _record(self, sop_uid: str) -> StudyCapture:
        return self.store.get_capture(sop_uid)


def _ui_record(store: StudyStore, records: list[StudyCapture]) -> StoredCapture:
    first = records[0]
    note = ""
    if len(records) > 1:
        counts = " + ".join(str(r.number_of_frames) for r in records)
        numbers = ", ".join(f"#{r.instance_number}" for r in records)
        note = (
            f"the depth changed during the clip: kept as {len(records)} clips ({numbers}; {counts} frames) "
            "in one series, one per image size and calibration"
        )
    return StoredCapture(
        kind=first.kind,
        location=str(store.capture_path(first)),
        frame_count=sum(r.number_of_frames for r in records),
        capture_id=first.sop_instance_uid,
        note=note,
        part_ids=tuple(r.sop_instance_uid for r in records) if len(records) > 1 else (),
    )
