"""OpenIGTLink benchmarks (run by hand): igtl:// against the PLP USB path, and stream-out's cost.

    python bench/bench_igtl.py

1. 512 x 512 frames through igtl:// from a local server (another process) against the simulated PLP
   USB path, in the same run: unpaced frames/s, then latency at 60 frames/s (sender's wall-clock
   timestamp to the driver handing the frame over, same machine).
2. Stream-out to two clients (other processes) at 60 frames/s: the acquisition's frame rate and
   latency with and without it, and what each client got and lost.
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyigtl

from drivers.igtl_source import IgtlProbeDriver
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware
from drivers.sim.renderer import RenderedFrame, RenderParams
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from scanner_app.engine import AcquisitionEngine
from scanner_app.ring import FrameRing
from scanner_app.stream_out import IgtlStreamServer

ROWS = COLS = 512
TIMESTAMP_OFFSET = 2 + 12 + 20  # header: version, type, device name, then the two timestamp words


class FixedRenderer:
    """One precomputed frame, so the benchmark measures the link, not the renderer."""

    def __init__(self, rows: int, cols: int) -> None:
        self._px = np.random.default_rng(0).integers(0, 256, (rows, cols), dtype=np.uint8)

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame:
        return RenderedFrame(self._px, params.depth_mm, params.width_mm)


def serve_images(port: int, rate_hz: float, seconds: float) -> None:
    """A minimal OpenIGTLink server: one packed 512 x 512 IMAGE resent with a fresh timestamp.

    The CRC covers the body only, so restamping the header costs nothing and the sender is never
    the bottleneck."""
    pixels = np.random.default_rng(1).integers(0, 256, (1, ROWS, COLS), dtype=np.uint8)
    matrix = np.diag([0.1, 0.1, 1.0, 1.0])
    message = bytearray(pyigtl.ImageMessage(pixels, matrix, device_name="Image").pack())
    with socket.create_server(("127.0.0.1", port)) as listener:
        conn, _ = listener.accept()
        with conn:
            t0 = time.monotonic()
            next_t = t0
            while time.monotonic() - t0 < seconds:
                now = time.time()
                struct.pack_into(">II", message, TIMESTAMP_OFFSET, int(now), int((now % 1) * 2**32))
                try:
                    conn.sendall(message)
                except OSError:
                    return
                if rate_hz:
                    next_t += 1 / rate_hz
                    time.sleep(max(0.0, next_t - time.monotonic()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def igtl_run(rate_hz: float, seconds: float) -> tuple[float, list[float]]:
    """(frames/s, latencies in ms) reading igtl:// from a server in another process."""
    port = free_port()
    server = multiprocessing.Process(target=serve_images, args=(port, rate_hz, seconds + 1.0))
    server.start()
    driver = IgtlProbeDriver("127.0.0.1", port)
    for _ in range(100):
        try:
            driver.connect()
            break
        except Exception:
            time.sleep(0.05)
    driver.start()
    n, latencies = 0, []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for frame in driver.read_frames(0.1):
            n += 1
            assert frame.tracking is not None and frame.tracking.sender_time_s is not None
            latencies.append((time.time() - frame.tracking.sender_time_s) * 1e3)
    fps = n / (time.perf_counter() - t0)
    driver.close()
    server.join(timeout=seconds + 5)
    return fps, latencies


def plp_usb_run(rate_hz: float, seconds: float) -> tuple[float, float, float]:
    """(frames/s, latency p50, p99 ms) of the simulated PLP USB path through the engine."""
    fw = SimFirmware(
        FixedRenderer(ROWS, COLS), RenderParams(rows=ROWS, cols=COLS), paced=rate_hz > 0,
        frame_rate_hz=rate_hz or 30.0,
    )  # fmt: skip
    engine = AcquisitionEngine(
        PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw), FrameRing(64, ROWS * COLS)
    )
    engine.start()
    time.sleep(0.5)
    before = engine.status().frames_received
    t0 = time.perf_counter()
    time.sleep(seconds)
    status = engine.status()
    fps = (status.frames_received - before) / (time.perf_counter() - t0)
    engine.close()
    return fps, status.latency_p50_ms, status.latency_p99_ms


def read_and_discard(port: int, seconds: float) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(0.5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            try:
                if not s.recv(1 << 20):
                    return
            except TimeoutError:
                continue


def stream_out_run(clients: int, seconds: float) -> None:
    fw = SimFirmware(FixedRenderer(ROWS, COLS), RenderParams(rows=ROWS, cols=COLS), frame_rate_hz=60.0)
    ring = FrameRing(64, ROWS * COLS)
    engine = AcquisitionEngine(PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw), ring)
    server = IgtlStreamServer(ring, port=0) if clients else None
    readers = [
        multiprocessing.Process(target=read_and_discard, args=(server.port, seconds + 1.0))
        for _ in range(clients if server else 0)
    ]
    for r in readers:
        r.start()
    engine.start()
    time.sleep(0.5)
    before = engine.status().frames_received
    t0 = time.perf_counter()
    time.sleep(seconds)
    status = engine.status()
    fps = (status.frames_received - before) / (time.perf_counter() - t0)
    engine.close()
    sent = ""
    if server is not None:
        sent = ", ".join(
            f"client {i}: sent {c.sent} dropped {c.dropped}" for i, c in enumerate(server.clients())
        )
        server.stop()
    for r in readers:
        r.join(timeout=seconds + 5)
    print(
        f"  60 frames/s PLP USB acquisition with stream-out to {clients} clients: {fps:.1f} frames/s, "
        f"latency p50 {status.latency_p50_ms:.1f} ms p99 {status.latency_p99_ms:.1f} ms  {sent}"
    )


def main() -> None:
    seconds = 3.0
    fps, _ = igtl_run(0, seconds)
    usb_fps, _, _ = plp_usb_run(0, seconds)
    mb = ROWS * COLS / 1e6
    print(
        f"512x512 unpaced: igtl:// {fps:.0f} frames/s ({fps * mb:.0f} MB/s); "
        f"PLP USB (simulated bus) {usb_fps:.0f} frames/s ({usb_fps * mb:.0f} MB/s)"
    )
    fps, latencies = igtl_run(60.0, seconds)
    q = statistics.quantiles(latencies, n=100)
    usb_fps, p50, p99 = plp_usb_run(60.0, seconds)
    print(
        f"512x512 at 60 frames/s: igtl:// {fps:.1f} frames/s, sender-to-driver latency p50 {q[49]:.2f} ms "
        f"p99 {q[98]:.2f} ms; PLP USB {usb_fps:.1f} frames/s, engine latency p50 {p50:.2f} ms "
        f"p99 {p99:.2f} ms"
    )
    print("stream-out (its cost on acquisition):")
    stream_out_run(0, seconds)
    stream_out_run(2, seconds)


if __name__ == "__main__":
    main()
