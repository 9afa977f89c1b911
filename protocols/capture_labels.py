"""Turns the runner's labels for a capture into the study store's DICOM labels (side, body part, step)."""

from __future__ import annotations

from typing import Any

from protocols.model import ScanProtocol

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

LATERALITY_BY_SIDE = {"left": "L", "right": "R", "bilateral": "B"}


def study_labels(protocol: ScanProtocol, runner_labels: dict[str, str]) -> dict[str, Any]:
    """Labels for `StudyStore.save_still/save_clip` from what `ChecklistRunner.record_capture` returned."""
    step = protocol.step(runner_labels["step_id"])
    return {
        "laterality": LATERALITY_BY_SIDE.get(runner_labels.get("side", ""), ""),
        "body_part": BODY_PART_BY_REGION.get(protocol.region, ""),
        "protocol_id": protocol.id,
        "step_id": step.id,
        "step_title": step.title,
        "plane": runner_labels.get("plane", "").replace("_", " "),
    }
