"""Clip compression: bytes and write time of a 300-frame 512 x 512 clip, uncompressed vs RLE Lossless
(what the store writes by default) vs JPEG-LS lossless (pydicom + pyjpegls, for comparison) vs JPEG
Baseline (the lossy copy a destination set to it gets, `scanner_app.studies.lossy`), measured in the
same run, and each read back: the lossless ones checked bit-exact, JPEG by its PSNR.

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
from scanner_app.studies.lossy import JPEG_QUALITY, jpeg_baseline_copy
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
            plain_path = path
        else:
            rle_path = path
        store.close()
    plain = pydicom.dcmread(plain_path)
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
    rle = pydicom.dcmread(rle_path)  # what the sender reads from the store
    started = time.perf_counter()
    lossy = jpeg_baseline_copy(rle)
    from_rle_s = time.perf_counter() - started
    plain = pydicom.dcmread(plain_path)
    started = time.perf_counter()
    lossy = jpeg_baseline_copy(plain)
    out = root / f"{label}-jpeg.dcm"
    lossy.save_as(out, enforce_file_format=True)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    back = pydicom.dcmread(out).pixel_array
    read_s = time.perf_counter() - started
    mse = float(np.mean((back.astype(float) - expected) ** 2))
    psnr = 10 * np.log10(255.0**2 / mse) if mse else float("inf")
    print(f"  {'jpeg q' + str(JPEG_QUALITY):8s} {out.stat().st_size / 1e6:7.1f} MB  write {write_s:6.2f} s  "
          f"read+decode {read_s:5.2f} s  PSNR {psnr:.1f} dB  ratio {lossy.LossyImageCompressionRatio}:1  "
          f"(lossy, made when sending: {from_rle_s:.2f} s from the RLE original)")  # fmt: skip


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp:
        run("sector", sector_frames(n), Path(tmp))
        run("noise", noise_frames(n), Path(tmp))


if __name__ == "__main__":
    main()
