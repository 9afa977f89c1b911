"""Shared helpers for the studies tests: small synthetic frames and a DICOM validator wrapper."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from scanner_app.frame import DataFormat, Frame, ImagingSettings, ProbeIdentity
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import Study

PROBE = ProbeIdentity(vendor="SimSound", model="L12-Sim", serial="SN-0042", firmware="fw 1.4")
SETTINGS = ImagingSettings(
    depth_mm=40.0, gain_db=30.0, frequency_mhz=7.5, focus_mm=20.0, dynamic_range_db=60.0
)
SPACING_MM = (0.2, 0.3)  # (axial, lateral)


def make_frame(
    seq: int, rows: int = 48, cols: int = 32, spacing_mm: tuple[float, float] = SPACING_MM
) -> Frame:
    """A small B-mode frame whose pixels depend on seq, so frames are told apart after a round trip."""
    rng = np.random.default_rng(seq)
    pixels = rng.integers(0, 256, size=(rows, cols), dtype=np.uint8)
    return Frame(
        seq=seq,
        device_time_us=seq * 40_000,  # 25 frames/s
        host_time_ns=1_000_000_000 + seq * 40_000_000,
        pixels=pixels,
        spacing_mm=spacing_mm,
        data_format=DataFormat.BMODE_U8,
        settings=SETTINGS,
        probe=PROBE,
    )


def stored_study(store: StudyStore, patient_id: str, name: str, *, end: bool = True) -> Study:
    """A study of `patient_id` with a still and a three-frame clip, its exam ended unless `end` is
    False, as the store now holds it."""
    study = store.start_study(Patient(patient_id, name), "Op^One")
    store.save_still(study, make_frame(1))
    store.save_clip(study, [make_frame(i) for i in range(2, 5)])
    if end:
        store.end_study(study)
    return store.get_study(study.study_uid)


def capture_uids(store: StudyStore, study: Study) -> list[str]:
    """The SOP Instance UIDs of the study's captures, in the store's order."""
    return [c.sop_instance_uid for c in store.list_captures(study.study_uid)]


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """Run dicom3tools' dciodvfy on a file: (errors, warnings). Fails clearly if it is not installed."""
    exe = shutil.which("dciodvfy")
    assert exe, "dciodvfy is not installed: apt-get install -y dicom3tools"
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=30, check=False)
    lines = (out.stdout + out.stderr).splitlines()
    errors = [line for line in lines if "Error" in line]
    warnings = [line for line in lines if "Warning" in line]
    return errors, warnings
