"""Turns the runner's labels for a capture into the study store's DICOM labels (side, body part, step)."""

from __future__ import annotations

from typing import Any

from protocols.model import Plane, ProtocolKind, ScanProtocol

# DICOM Body Part Examined (PS3.16 CID 4031 code meanings' CS values) for each protocol region.
BODY_PART_BY_REGION = {
    "shoulder": "SHOULDER",
    "elbow": "ELBOW",
    "wrist": "WRIST",
    "hand": "HAND",
    "hip": "HIP",
    "knee": "KNEE",
    "ankle": "ANKLE",
    "foot": "FOOT",
    "lower limb": "LEG",
}

# US Image Type value 3 (the exam type) for each kind of protocol: venous exams are vascular.
EXAM_TYPE_BY_KIND = {
    ProtocolKind.NORMAL_ANATOMY: "MUSCULOSKELETAL",
    ProtocolKind.AREA_OF_PAIN: "MUSCULOSKELETAL",
    ProtocolKind.VENOUS_WITH_AREA_OF_PAIN: "VASCULAR",
    ProtocolKind.PROCEDURE: "MUSCULOSKELETAL",
}

LATERALITY_BY_SIDE = {"left": "L", "right": "R", "bilateral": "B"}

# The planes a probe lies in, by its angle to the limb on the body marker (0: along it, 90: across).
LONG_PLANES = frozenset({Plane.LONG_AXIS, Plane.SAGITTAL, Plane.CORONAL})
SHORT_PLANES = frozenset({Plane.SHORT_AXIS, Plane.TRANSVERSE})
# Within this of along or across the limb the plane is taken as known; between them it is oblique.
ORIENTATION_TOLERANCE_DEG = 30.0


def angle_from_limb_deg(probe_angle_deg: float) -> float:
    """The angle (0-90 degrees) between the probe on the body marker and the limb's axis."""
    angle = abs(probe_angle_deg) % 180.0
    return min(angle, 180.0 - angle)


def planes_of_probe_angle(probe_angle_deg: float) -> frozenset[Plane]:
    """The planes an image taken at this body-marker probe angle lies in: the long-axis planes near 0
    (or 180), the short-axis planes near 90, and between them (more than `ORIENTATION_TOLERANCE_DEG`
    from both) oblique."""
    from_long = angle_from_limb_deg(probe_angle_deg)
    if from_long <= ORIENTATION_TOLERANCE_DEG:
        return LONG_PLANES
    if 90.0 - from_long <= ORIENTATION_TOLERANCE_DEG:
        return SHORT_PLANES
    return frozenset({Plane.OBLIQUE})


def study_labels(protocol: ScanProtocol, runner_labels: dict[str, str]) -> dict[str, Any]:
    """Labels for `StudyStore.save_still/save_clip` from what `ChecklistRunner.record_capture` returned."""
    step = protocol.step(runner_labels["step_id"])
    return {
        "laterality": LATERALITY_BY_SIDE.get(runner_labels.get("side", ""), ""),
        "body_part": BODY_PART_BY_REGION.get(protocol.region, ""),
        "exam_type": EXAM_TYPE_BY_KIND.get(protocol.kind, ""),
        "protocol_id": protocol.id,
        "step_id": step.id,
        "step_title": step.title,
        "plane": runner_labels.get("plane", "").replace("_", " "),
        "imaging_mode": runner_labels.get("mode", "bmode"),
    }
