"""The exam's measurements and findings as a DICOM Comprehensive SR (built with highdicom), sent with
the images so a PACS or reporting system reads the numbers, not a picture of them.

Content tree (no template): the root CONTAINER "Diagnostic imaging study" (LOINC 18748-4) CONTAINS a
TEXT "Finding" (DCM 121071) per finding sentence, the signed impression (TEXT "Impression", DCM 121073),
and a CONTAINER "Measurement Group" (DCM 125007)
per measurement, holding a TEXT "Tracking Identifier" (DCM 112039: the caliper's label or the
protocol's measurement id) and the NUM, whose unit is UCUM and which is INFERRED FROM the IMAGE
"Source of Measurement" (DCM 121112) it was made on.

Measurement concepts: a caliper's distance and a two-axis caliper's length are SCT 410668003 "Length",
its depth SCT 131197000 "Depth", its area SCT 42798000 "Area". A protocol's typed measurement has a
private code: coding scheme "99SCANAPP" (declared in the Coding Scheme Identification Sequence), code
value the protocol's measurement id (protocols/library/*.yaml), meaning its title. A Doppler capture's
named measurements are LOINC 11726-7 PSV, 11653-3 EDV, 12023-8 Resistivity Index and 20355-4 Peak Blood
Velocity (a vein's peak), the phasicity index and augmentation ratio private codes; its settings
(scale, PRF, angle) are not measurements and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.valuerep import DA, TM

from scanner_app.capture import CaptureKind
from scanner_app.studies.dicom_writer import (
    APP_NAME,
    APP_VERSION,
    US_IMAGE_STORAGE,
    US_MULTIFRAME_IMAGE_STORAGE,
    new_instance,
)
from scanner_app.studies.model import Study, StudyCapture

COMPREHENSIVE_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.33"
SR_SERIES_DESCRIPTION = "Measurements and findings"
PRIVATE_SCHEME = "99SCANAPP"
PRIVATE_SCHEME_NAME = "scanner-app protocol measurement ids"
NOTHING_RECORDED = "No findings or measurements were recorded."
_DOCUMENT_TITLE = hd.sr.CodedConcept("18748-4", "LN", "Diagnostic imaging study")
# Units as the protocols and calipers write them -> UCUM (the case-sensitive form).
UCUM_UNITS = {
    "mm": "mm",
    "cm": "cm",
    "mm2": "mm2",
    "mm²": "mm2",
    "cm2": "cm2",
    "ml": "mL",
    "mL": "mL",
    "cm/s": "cm/s",
    "m/s": "m/s",
    "%": "%",
    "deg": "deg",
    "°": "deg",
    "s": "s",
    "ms": "ms",
    "Hz": "Hz",
    "1": "1",  # a ratio or index (RI, phasicity)
}
# A Doppler capture's named measurements (scanner_app.doppler_capture) -> concept; LOINC where it has
# one, else the private scheme (its meaning the name). Doppler settings stored beside them are not here.
DOPPLER_CONCEPTS = {
    "PSV": hd.sr.CodedConcept.from_code(codes.LN.PeakSystolicVelocity),
    "EDV": hd.sr.CodedConcept.from_code(codes.LN.EndDiastolicVelocity),
    "RI": hd.sr.CodedConcept.from_code(codes.LN.ResistivityIndex),
    "Venous peak velocity": hd.sr.CodedConcept.from_code(codes.LN.PeakBloodVelocity),
    "Phasicity index": hd.sr.CodedConcept("doppler_phasicity_index", PRIVATE_SCHEME, "Phasicity index"),
    "Augmentation (peak / before)": hd.sr.CodedConcept(
        "doppler_augmentation_ratio", PRIVATE_SCHEME, "Augmentation (peak / before)"
    ),
}


@dataclass(frozen=True, slots=True)
class SrMeasurement:
    """One number for the SR: its concept, value, UCUM unit and the images it was made on."""

    concept: hd.sr.CodedConcept
    value: float
    unit: str  # UCUM
    tracking_id: str  # the caliper's label ("A") or the protocol's measurement id
    images: tuple[StudyCapture, ...]


def ucum(unit: str) -> hd.sr.CodedConcept:
    """The UCUM concept of a unit as written; an unknown one becomes a UCUM annotation ({unit}), which
    UCUM reads as dimensionless, rather than a wrong unit."""
    code = UCUM_UNITS.get(unit.strip())
    if code is None:
        code = "{" + re.sub(r"[{}]", "", unit.strip() or "unit") + "}"
    return hd.sr.CodedConcept(code, "UCUM", code)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _calipers(capture: StudyCapture) -> list[Mapping[str, Any]]:
    return [
        a
        for a in capture.annotations
        if a.get("type") == "measurement" or ("type" not in a and ("value_mm" in a or "value" in a))
    ]


def study_measurements(study: Study) -> list[SrMeasurement]:
    """Every caliper on the study's images, then every measurement typed in the protocol's steps
    (referencing the image whose caliper shows the same value, else the step's images)."""
    found: list[SrMeasurement] = []
    for capture in study.captures:
        for entry in _calipers(capture):
            doppler = DOPPLER_CONCEPTS.get(str(entry.get("name", ""))) if not entry.get("label") else None
            doppler_value = _number(entry.get("value"))
            if doppler is not None and doppler_value is not None:
                unit = UCUM_UNITS.get(str(entry.get("unit", "")) or "1", "")
                name = str(entry["name"])
                found.append(SrMeasurement(doppler, doppler_value, unit, name, (capture,)))
                continue
            label = str(entry.get("label", "")) or "caliper"
            length = _number(entry.get("distance_mm", entry.get("value_mm")))
            if length is not None:
                found.append(SrMeasurement(hd.sr.CodedConcept.from_code(codes.SCT.Length), length, "mm",
                                           label, (capture,)))  # fmt: skip
                continue
            for key, code, unit in (
                ("length_mm", codes.SCT.Length, "mm"),
                ("depth_mm", codes.SCT.Depth, "mm"),
                ("area_mm2", codes.SCT.Area, "mm2"),
            ):
                value = _number(entry.get(key))
                if value is not None:
                    found.append(
                        SrMeasurement(hd.sr.CodedConcept.from_code(code), value, unit, label, (capture,))
                    )
    record: Mapping[str, Any] = study.protocol_record or {}
    for step in record.get("steps", []) or []:
        if not isinstance(step, Mapping):
            continue
        step_id = str(step.get("step_id") or step.get("id") or "")
        of_step = tuple(c for c in study.captures if c.labels.step_id == step_id)
        for m in step.get("measurements", []) or []:
            value = _number(m.get("value")) if isinstance(m, Mapping) else None
            if value is None:
                continue
            mid = str(m.get("measurement_id") or m.get("id") or m.get("label") or "measurement")
            title = str(m.get("title") or mid.replace("_", " "))
            same = tuple(
                c
                for c in of_step
                for a in _calipers(c)
                if (shown := _number(a.get("distance_mm", a.get("value_mm")))) is not None
                and round(shown, 1) == round(value, 1)
            )
            concept = hd.sr.CodedConcept(mid, PRIVATE_SCHEME, title[:64])
            found.append(SrMeasurement(concept, value, UCUM_UNITS.get(str(m.get("unit", "")), ""), mid,
                                       same[:1] or of_step))  # fmt: skip
    return found


def _sop_class(capture: StudyCapture) -> str:
    return US_IMAGE_STORAGE if capture.kind is CaptureKind.STILL else US_MULTIFRAME_IMAGE_STORAGE


def _image_stub(study: Study, capture: StudyCapture) -> Dataset:
    """What the SR needs of a referenced image (patient, study, series and SOP identity), without
    reading its pixels."""
    ds = new_instance(_sop_class(capture), capture.sop_instance_uid, study, capture.taken_at)
    ds.SeriesInstanceUID = capture.series_uid
    ds.Modality = "US"
    return ds


def build_measurement_sr(
    study: Study,
    measurements: Sequence[SrMeasurement],
    findings: Sequence[str],
    *,
    sop_instance_uid: str,
    series_uid: str,
    series_number: int,
    instance_number: int,
    created_at: datetime,
    final: bool = False,
) -> Dataset:
    """A Comprehensive SR of the measurements and findings, referencing the images measured on."""
    items: list[hd.sr.ContentItem] = [
        hd.sr.TextContentItem(codes.DCM.Finding, text[:5000], relationship_type="CONTAINS")
        for text in findings
        if text.strip()
    ]
    if study.sign_off is not None and study.sign_off.impression:
        items.append(
            hd.sr.TextContentItem(
                codes.DCM.Impression, study.sign_off.impression[:5000], relationship_type="CONTAINS"
            )
        )
    for m in measurements:
        group = hd.sr.ContainerContentItem(codes.DCM.MeasurementGroup, relationship_type="CONTAINS")
        number = hd.sr.NumContentItem(m.concept, m.value, ucum(m.unit), relationship_type="CONTAINS")
        number.ContentSequence = hd.sr.ContentSequence(
            [
                hd.sr.ImageContentItem(
                    codes.DCM.SourceOfMeasurement,
                    _sop_class(c),
                    c.sop_instance_uid,
                    relationship_type="INFERRED FROM",
                )
                for c in m.images
            ]
        )
        tracking = hd.sr.TextContentItem(
            codes.DCM.TrackingIdentifier,
            m.tracking_id[:64] or "measurement",
            relationship_type="HAS OBS CONTEXT",
        )
        group.ContentSequence = hd.sr.ContentSequence([tracking, number])
        items.append(group)
    if not items:  # a container must hold something
        items.append(hd.sr.TextContentItem(codes.DCM.Finding, NOTHING_RECORDED, relationship_type="CONTAINS"))
    root = hd.sr.ContainerContentItem(_DOCUMENT_TITLE)
    root.ContentSequence = hd.sr.ContentSequence(items)
    images = {c.sop_instance_uid: c for m in measurements for c in m.images}
    evidence = [_image_stub(study, c) for c in images.values()]
    if not evidence:  # nothing measured on an image: highdicom takes the patient and study from this
        itself = new_instance(COMPREHENSIVE_SR_STORAGE, sop_instance_uid, study, created_at)
        itself.SeriesInstanceUID = series_uid
        evidence = [itself]
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=root,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_instance_uid,
        instance_number=instance_number,
        manufacturer=APP_NAME,
        is_complete=True,
        is_final=final,
        record_evidence=bool(images),
    )
    if not images and "CurrentRequestedProcedureEvidenceSequence" in sr:
        del sr.CurrentRequestedProcedureEvidenceSequence  # it would name the SR itself as its evidence
    sr.SpecificCharacterSet = "ISO_IR 192"
    sr.SeriesDescription = SR_SERIES_DESCRIPTION
    sr.SoftwareVersions = f"{APP_NAME} {APP_VERSION}"
    sr.ContentDate = sr.InstanceCreationDate = DA(created_at.strftime("%Y%m%d"))
    sr.ContentTime = sr.InstanceCreationTime = TM(created_at.strftime("%H%M%S.%f"))
    if any(m.concept.scheme_designator == PRIVATE_SCHEME for m in measurements):
        scheme = Dataset()
        scheme.CodingSchemeDesignator = PRIVATE_SCHEME
        scheme.CodingSchemeName = PRIVATE_SCHEME_NAME
        scheme.CodingSchemeResponsibleOrganization = APP_NAME
        sr.CodingSchemeIdentificationSequence = [scheme]
    return sr
