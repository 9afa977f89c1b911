"""How long a durable still capture takes (DICOM encode + fsync + rename + dir fsync + index commit).

Run by hand: `python bench/bench_studies_capture.py`. Baseline, measured in the same run: writing the
same number of bytes to a file with flush + fsync and nothing else.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner_app.frame import DataFormat, Frame, ImagingSettings, ProbeIdentity
from scanner_app.studies import Patient, StudyStore

ROWS, COLS, N = 512, 512, 40


def main() -> None:
    rng = np.random.default_rng(0)
    frame = Frame(
        seq=0,
        device_time_us=0,
        host_time_ns=0,
        pixels=rng.integers(0, 256, (ROWS, COLS), dtype=np.uint8),
        spacing_mm=(0.1, 0.1),
        data_format=DataFormat.BMODE_U8,
        settings=ImagingSettings(50, 30, 7.5, 25, 60),
        probe=ProbeIdentity("Bench", "B1", "0"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = StudyStore(root / "store")
        study = store.start_study(Patient.practice(), "Bench^Op")
        capture_s = []
        for _ in range(N):
            t0 = time.perf_counter()
            record = store.save_still(study, frame)
            capture_s.append(time.perf_counter() - t0)
        size = store.capture_path(record).stat().st_size
        store.close()
        payload = os.urandom(size)
        base_s = []
        for i in range(N):
            t0 = time.perf_counter()
            with open(root / f"raw{i}", "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            base_s.append(time.perf_counter() - t0)
    cap, base = statistics.median(capture_s), statistics.median(base_s)
    print(f"{ROWS}x{COLS} still, {size} bytes, {N} runs")
    print(f"durable capture: median {cap * 1e3:.2f} ms, max {max(capture_s) * 1e3:.2f} ms")
    print(f"baseline write+fsync: median {base * 1e3:.2f} ms")
    print(f"ratio capture/baseline: {cap / base:.2f}")


if __name__ == "__main__":
    main()
