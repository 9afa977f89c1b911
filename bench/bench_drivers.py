"""Driver benchmarks (run by hand): USB path throughput, serial line efficiency, ENVELOPE display time.

    python bench/bench_drivers.py

Each figure is printed with a baseline measured in the same run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.pty_link import SimSerialDevice
from drivers.sim.renderer import RenderedFrame, RenderParams
from drivers.transports import SerialTransport
from scanner_app.frame import BeamGeometry, DataFormat, Frame, Geometry, ImagingSettings, ProbeIdentity
from scanner_app.processing import DisplayProcessor


class FixedRenderer:
    """Hands out one precomputed frame, so the benchmark measures the link, not the renderer."""

    def __init__(self, rows: int, cols: int) -> None:
        self._px = np.random.default_rng(0).integers(0, 256, (rows, cols), dtype=np.uint8)

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame:
        return RenderedFrame(self._px, params.depth_mm, params.width_mm)


def bench_usb() -> None:
    """The USB path against memcpy+CRC of the same bytes and a naive parser (issue 16): see
    bench_frame_path.py, which replaced this one's copy-of-zeros baseline."""
    from bench.bench_frame_path import bench_usb as frame_path_usb

    frame_path_usb(runs=1)


def bench_serial(seconds: float = 6.0, baud: int = 921600) -> None:
    rows, cols = 128, 256
    fw = SimFirmware(FixedRenderer(rows, cols), small_params(rows, cols), paced=False)
    device = SimSerialDevice(fw, baud=baud)
    driver = PlpProbeDriver(SerialTransport(device.port, baud), device=device)
    driver.connect()
    driver.start()
    times = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        f = driver.read_frame(0.5)
        if f is not None:
            times.append(time.perf_counter())
    driver.stop()
    counts = driver.counters()
    driver.close()
    device.close()
    packet_bytes = 28 + 48 + rows * cols + 4
    theoretical = baud / 10 / packet_bytes
    # Rate over whole frame intervals (first to last), not the partial first frame.
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    errors = sum(counts[k] for k in ("crc_errors", "frames_dropped", "resyncs", "malformed"))
    print(
        f"serial {baud} baud, 128x256 BMODE_U8: {rate:.3f} frames/s vs line maximum {theoretical:.3f} "
        f"({100 * rate / theoretical:.1f} %; target >= 97 %), {len(times)} frames, errors {errors}"
    )


def bench_display(repeats: int = 100) -> None:
    px = np.random.default_rng(0).rayleigh(3000, (1024, 128)).clip(0, 65535).astype(np.uint16)
    frame = Frame(
        0, 0, 0, px, (0.1, 0.5), DataFormat.ENVELOPE_U16, ImagingSettings(100, 0, 3.5, 50, 0),
        ProbeIdentity("b", "b", "b"), BeamGeometry(Geometry.CONVEX, field_of_view_deg=60.0, radius_mm=40.0),
    )  # fmt: skip
    proc = DisplayProcessor(512)
    proc(frame)  # build the map once, as on the first frame of a geometry
    t0 = time.perf_counter()
    for _ in range(repeats):
        proc(frame)
    per_ms = (time.perf_counter() - t0) / repeats * 1e3
    np.zeros((512, 512), np.uint8)
    t1 = time.perf_counter()
    for _ in range(repeats):
        px.astype(np.float32)[:512, :128].astype(np.uint8)
    base_ms = (time.perf_counter() - t1) / repeats * 1e3
    print(
        f"ENVELOPE_U16 1024x128 convex -> 512x512 display: {per_ms:.2f} ms/frame (target <= 5 ms); "
        f"baseline one float32 convert of the input {base_ms:.2f} ms"
    )


if __name__ == "__main__":
    bench_display()
    bench_usb()
    bench_serial()
