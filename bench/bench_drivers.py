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
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import SerialTransport, UsbTransport
from scanner_app.frame import BeamGeometry, DataFormat, Frame, Geometry, ImagingSettings, ProbeIdentity
from scanner_app.processing import DisplayProcessor
from scanner_app.ring import FrameRing


class FixedRenderer:
    """Hands out one precomputed frame, so the benchmark measures the link, not the renderer."""

    def __init__(self, rows: int, cols: int) -> None:
        self._px = np.random.default_rng(0).integers(0, 256, (rows, cols), dtype=np.uint8)

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame:
        return RenderedFrame(self._px, params.depth_mm, params.width_mm)


def bench_usb(seconds: float = 3.0) -> None:
    rows = cols = 512
    fw = SimFirmware(FixedRenderer(rows, cols), RenderParams(rows=rows, cols=cols), paced=False)
    driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw)
    ring = FrameRing(64, rows * cols)
    driver.connect()
    driver.start()
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        f = driver.read_frame(0.1)
        if f is not None:
            ring.push(f)
            n += 1
    dt = time.perf_counter() - t0
    driver.stop()
    counts = driver.counters()
    driver.close()
    frame_bytes = rows * cols
    # Baseline: a plain copy loop of the same frames into a preallocated buffer.
    src = np.zeros(frame_bytes, np.uint8)
    dst = np.zeros((64, frame_bytes), np.uint8)
    m = 0
    t1 = time.perf_counter()
    while time.perf_counter() - t1 < 1.0:
        np.copyto(dst[m % 64], src)
        m += 1
    copy_mb_s = m * frame_bytes / (time.perf_counter() - t1) / 1e6
    mb_s = n * frame_bytes / dt / 1e6
    print(
        f"USB sim -> parser -> ring, 512x512 BMODE_U8 unpaced: {n / dt:.0f} frames/s, {mb_s:.0f} MB/s "
        f"(plain copy loop {copy_mb_s:.0f} MB/s, ratio {mb_s / copy_mb_s:.3f}); target >= 400 MB/s; "
        f"errors: crc {counts['crc_errors']} dropped {counts['frames_dropped']} resyncs {counts['resyncs']}"
    )


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
