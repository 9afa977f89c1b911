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

from scanner_app.capture import CaptureKind, CaptureSink, CaptureSinkError, StoredCapture
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
    )
