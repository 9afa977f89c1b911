"""A knee exam run through the real checklist and store, for the clinical report tests."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from protocols.exam_session import ExamSession
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.frame import Frame
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import annotation_entries
from tests.studies_support import make_frame

SPACING_MM = (0.125, 0.125)
EFFUSION_DEPTH_MM = 6.2
CALIPER_POINTS_MM = ((16.0, 8.0), (16.0, 8.0 + EFFUSION_DEPTH_MM))


def knee_frame(seq: int, rows: int = 320, cols: int = 256) -> Frame:
    """Speckle with a bright tendon band and a dark effusion below it (40 mm deep, 32 mm wide)."""
    rng = np.random.default_rng(seq)
    tissue = rng.rayleigh(38.0, size=(rows, cols))
    depth = np.arange(rows)[:, None] * SPACING_MM[0]
    x = np.arange(cols)[None, :] * SPACING_MM[1]
    tissue += 120.0 * np.exp(-(((depth - 5.0) / 1.2) ** 2))  # tendon
    lens = ((x - 16.0) / 11.0) ** 2 + ((depth - 11.1) / 3.1) ** 2 < 1.0  # effusion, 6.2 mm deep
    tissue = np.where(lens, tissue * 0.12, tissue)
    tissue *= np.exp(-depth / 60.0)  # attenuation
    pixels = np.clip(tissue, 0, 255).astype(np.uint8)
    return replace(make_frame(seq, rows, cols, SPACING_MM), pixels=pixels)


@dataclass
class KneeExam:
    store: StudyStore
    study_uid: str
    caliper_image: int  # the instance number of the image with the caliper


def run_knee_exam(store: StudyStore, *, signed: bool = False) -> KneeExam:
    """Anterior knee, right: quadriceps tendon, suprapatellar recess with an effusion (caliper and the
    typed depth), patellar tendon skipped; findings in the protocol's words."""
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    patient = Patient("KNEE-001", "Doe^Jane", birth_date="19650114", sex="F")
    session = ExamSession.start(
        store, patient, "Smith^Olivia", protocol=knee, side="right", quadrant="anterior",
        trainee="Lee^Sam", supervisor="Jones^Ann",
    )  # fmt: skip
    runner = session.runner
    assert runner is not None
    marker = {"region": "Knee", "side": "R", "probe_along": 0.3, "probe_angle_deg": 90.0}
    plain = annotation_entries({"preset": "Knee"}, {"texts": [], "body_marker": marker}, [])
    seq = 1
    caliper_image = 0
    while True:
        step = runner.current_step
        if step.id == "patellar_tendon":
            runner.skip("dressing over the tendon")  # moves on by itself
            if runner.current_step.id == step.id:
                break
            continue
        else:
            if step.id == "suprapatellar_recess":
                runner.choose_finding("effusion")
            else:
                runner.choose_finding(step.findings[0].id)
            for _fu_id, req, taken in runner.capture_progress():
                for _ in range(req.count - taken):
                    _, labels = session.label_capture(req.kind.value, req.plane.value, mode=req.mode.value)
                    entries = plain
                    if step.id == "suprapatellar_recess" and not caliper_image:
                        caliper = {
                            "label": "A",
                            "kind": "distance",
                            "points_mm": [list(p) for p in CALIPER_POINTS_MM],
                            "distance_mm": EFFUSION_DEPTH_MM,
                        }
                        texts = {
                            "texts": [{"text": "SPR LONG", "x_mm": 8.0, "y_mm": 25.0}],
                            "body_marker": marker,
                        }
                        entries = annotation_entries({"preset": "Knee"}, texts, [caliper])
                    if req.kind.value == "clip":
                        record = store.save_clip(
                            session.study, [knee_frame(seq + i) for i in range(3)], labels, entries
                        )
                    else:
                        record = store.save_still(session.study, knee_frame(seq), labels, entries)
                    if entries is not plain:
                        caliper_image = record.instance_number
                    seq += 3
            if step.id == "suprapatellar_recess":
                runner.record_measurement("effusion_depth_mm", EFFUSION_DEPTH_MM)
        if not runner.next():
            break
    session.end()
    if signed:
        store.sign_report(
            session.study.study_uid, "Small suprapatellar effusion.\nTendons intact.", "Jones^Ann"
        )
    return KneeExam(store, session.study.study_uid, caliper_image)
