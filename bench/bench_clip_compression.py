"""Clip compression: bytes and write time of a 300-frame 512 x 512 clip, uncompressed vs RLE Lossless
(what the store writes by default) vs JPEG-LS lossless (pydicom + pyjpegls, for comparison), measured
in the same run, and each read back and checked bit-exact.

Run by hand: `python bench/bench_clip_compression.py [FRAMES]`. Two kinds of frames: a speckle sector
with black outside it and attenuation (like a convex image), and pure noise (the worst case).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.uid import JPEGLSLossless

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner_app.frame import DataFormat, Frame, ImagingSettings, ProbeIdentity
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.store import CLIP_NONE, CLIP_RLE

ROWS = COLS = 512


def sector_frames(n: int) -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:ROWS, 0:COLS].astype(float)
    angle = np.degrees(np.arctan2(x - COLS / 2, y + 60))
    inside = (np.abs(angle) < 35) & (np.hypot(x - COLS / 2, y + 60) < ROWS + 40)
    frames = []
    for _ in range(n):
        tissue = rng.rayleigh(40.0, (ROWS, COLS)) * np.exp(-y / 700.0)
        frames.append(np.where(inside, np.clip(tissue, 0, 255), 0).astype(np.uint8))
    return frames


def noise_frames(n: int) -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (ROWS, COLS), dtype=np.uint8) for _ in range(n)]


def as_frames(pixels: list[npt.NDArray[np.uint8]]) -> list[Frame]:
    settings = ImagingSettings(50, 30, 7.5, 25, 60)
    probe = ProbeIdentity("Bench", "B1", "0")
    timing = [(i * 33_333, i * 33_333_000) for i in range(len(pixels))]
    return [
        Frame(i, t[0], t[1], p, (0.1, 0.1), DataFormat.BMODE_U8, settings, probe)
        for i, (p, t) in enumerate(zip(pixels, timing, strict=True))
    ]


def run(label: str, pixels: list[npt.NDArray[np.uint8]], root: Path) -> None:
    frames = as_frames(pixels)
    expected = np.stack(pixels)
    print(f"{label}: {len(frames)} frames of {ROWS} x {COLS} ({expected.nbytes / 1e6:.1f} MB of pixels)")
    for codec in (CLIP_NONE, CLIP_RLE):
        store = StudyStore(root / f"{label}-{codec}", clip_compression=codec)
        study = store.start_study(Patient.practice(), "Bench^Op")
        started = time.perf_counter()
        record = store.save_clip(study, frames)
        write_s = time.perf_counter() - started
        path = store.capture_path(record)
        started = time.perf_counter()
        back = pydicom.dcmread(path).pixel_array
        read_s = time.perf_counter() - started
        exact = np.array_equal(back, expected)
        print(f"  {codec:8s} {path.stat().st_size / 1e6:7.1f} MB  write {write_s:6.2f} s  "
              f"read+decode {read_s:5.2f} s  bit-exact {exact}")  # fmt: skip
        if codec == CLIP_NONE:
            plain = pydicom.dcmread(path)
        store.close()
    started = time.perf_counter()
    plain.compress(JPEGLSLossless, generate_instance_uid=False)
    out = root / f"{label}-jpegls.dcm"
    plain.save_as(out, enforce_file_format=True)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    back = pydicom.dcmread(out).pixel_array
    read_s = time.perf_counter() - started
    exact = np.array_equal(back, expected)
    print(f"  {'jpeg-ls':8s} {out.stat().st_size / 1e6:7.1f} MB  write {write_s:6.2f} s  "
          f"read+decode {read_s:5.2f} s  bit-exact {exact}  (not written by the app)")  # fmt: skip


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp:
        run("sector", sector_frames(n), Path(tmp))
        run("noise", noise_frames(n), Path(tmp))


if __name__ == "__main__":
    main()
