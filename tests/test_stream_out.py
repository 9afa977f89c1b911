"""Stream-out: the live image as OpenIGTLink IMAGE messages with spacing and orientation, the pose as
a TRANSFORM, to an independent client in another process and to several at once; a client that reads
nothing loses frames (counted) while the others keep up."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.igtl_source import IgtlProbeDriver
from scanner_app.frame import Frame
from scanner_app.ring import FrameRing
from scanner_app.stream_out import IgtlStreamServer, sim_pose_matrix
from tests.factories import make_frame

PEER = Path(__file__).with_name("igtl_client_peer.py")
POSE = sim_pose_matrix({"position_mm": 120.0, "lateral_mm": -15.0, "rotation_deg": 0.0, "tilt_deg": 0.0})


def numbered_frame(index: int, shape: tuple[int, int] = (96, 64)) -> Frame:
    pixels = np.full(shape, 30, dtype=np.uint8)
    pixels[0, 0] = index % 256
    pixels[0, 1] = (index // 256) % 256
    frame = make_frame(index, pixels=pixels, spacing_mm=(0.25, 0.5))
    return frame


class Pusher:
    """Pushes numbered frames into the ring from a thread of its own, as the acquisition would."""

    def __init__(
        self, ring: FrameRing, period_s: float, count: int, shape: tuple[int, int] = (96, 64)
    ) -> None:
        self.ring, self.period_s, self.count, self.shape = ring, period_s, count, shape
        self.pushed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        while self.pushed < self.count and not self.stop.wait(self.period_s):
            self.ring.push(numbered_frame(self.pushed, self.shape))
            self.pushed += 1

    def join(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[IgtlStreamServer]:
    ring = FrameRing(capacity_frames=64, slot_bytes=256 * 256)
    out = IgtlStreamServer(ring, port=0, pose_source=lambda: POSE)
    yield out
    out.stop()


def test_an_independent_client_sees_image_spacing_orientation_and_pose(server: IgtlStreamServer) -> None:
    assert server.host == "127.0.0.1"  # off the network unless an address is given
    peer = subprocess.Popen([sys.executable, str(PEER), str(server.port)], stdout=subprocess.PIPE, text=True)
    pusher = Pusher(server._ring, 0.02, 10_000)
    try:
        assert peer.stdout is not None
        line = peer.stdout.readline()
    finally:
        pusher.join()
        peer.kill()
        peer.wait(timeout=10)
        if peer.stdout is not None:
            peer.stdout.close()
    got = json.loads(line)
    assert got["shape"] == [1, 96, 64]  # one slice of 96 rows x 64 columns
    assert got["spacing_i"] == pytest.approx(0.5, rel=1e-5)  # columns: lateral
    assert got["spacing_j"] == pytest.approx(0.25, rel=1e-5)  # rows: axial, pointing into the body (+y)
    assert got["direction_j"] == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)
    assert got["pose_translation"] == pytest.approx([-15.0, 0.0, 120.0], abs=1e-4)
    index = got["corner"]
    assert got["timestamp"] == pytest.approx(index * 1000 / 1e6, abs=1e-3)  # the frame's own clock


def test_a_slow_client_loses_frames_and_the_others_keep_up(server: IgtlStreamServer) -> None:
    slow = socket.create_connection((server.host, server.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    fast = IgtlProbeDriver(server.host, server.port, "Image")
    fast.connect()
    fast.start()
    count = 400
    pusher = Pusher(server._ring, 0.003, count, shape=(256, 256))
    last_seen = -1
    try:
        for _ in range(2000):
            for frame in fast.read_frames(0.05):
                last_seen = int(frame.pixels[0, 0]) + 256 * int(frame.pixels[0, 1])
            if pusher.pushed == count and last_seen == count - 1:
                break
    finally:
        pusher.join()
        fast.close()
        stats = server.clients()
        slow.close()
    assert last_seen == count - 1  # the reading client got the newest frame
    assert len(stats) == 2
    fast_stats, slow_stats = sorted(stats, key=lambda s: s.dropped)
    assert slow_stats.dropped > 0  # the slow one lost frames, counted
    assert slow_stats.sent < fast_stats.sent
    assert fast_stats.dropped < slow_stats.dropped
