"""Shared helpers for the studies tests: small synthetic frames and a DICOM validator wrapper."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from scanner_app.frame import DataFormat, Frame, ImagingSettings, ProbeIdentity

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


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """Run dicom3tools' dciodvfy on a file: (errors, warnings). Fails clearly if it is not installed."""
    exe = shutil.which("dciodvfy")
    assert exe, "dciodvfy is not installed: apt-get install -y dicom3tools"
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=30, check=False)
    lines = (out.stdout + out.stderr).splitlines()
    errors = [line for line in lines if "Error" in line]
    warnings = [line for line in lines if "Warning" in line]
    return errors, warnings
