"""The OpenIGTLink source against an independent peer (pyigtl's own server in another process):
spacing, orientation and timestamps; skipped and counted faults; a server gone and back."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyigtl
import pytest

from drivers.igtl_source import IgtlProbeDriver, parse_igtl_spec
from scanner_app.engine import AcquisitionEngine, EngineState
from scanner_app.frame import Frame
from scanner_app.probe import ProbeNotFound, SettingKey, SettingNotApplied
from scanner_app.ring import FrameRing
from tests import igtl_peer

PEER = Path(__file__).with_name("igtl_peer.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PeerFactory = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def peer() -> Iterator[PeerFactory]:
    """Starts `tests/igtl_peer.py` processes; each is killed and waited for at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int, *extra: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(PEER), str(port), *extra], stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "listening"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def read_frames(driver: IgtlProbeDriver, count: int) -> list[Frame]:
    frames: list[Frame] = []
    for _ in range(200):
        frames.extend(driver.read_frames(0.1))
        if len(frames) >= count:
            return frames
    raise AssertionError(f"only {len(frames)} of {count} frames arrived")


def test_spec_parsing() -> None:
    assert parse_igtl_spec("igtl://plus.local:18945/Image_Reference") == (
        "plus.local",
        18945,
        "Image_Reference",
    )
    assert parse_igtl_spec("igtl://127.0.0.1") == ("127.0.0.1", 18944, None)
    with pytest.raises(ValueError, match="igtl://HOST"):
        parse_igtl_spec("igtl://")


def test_frames_arrive_with_spacing_orientation_timestamps_and_pose(peer: PeerFactory) -> None:
    port = free_port()
    peer(port, "--frames", "5", "--faults")
    driver = IgtlProbeDriver("127.0.0.1", port, igtl_peer.DEVICE)
    try:
        descriptor = driver.connect()
        assert "depth_mm" in descriptor.extra["read_only_settings"]
        driver.start()
        frames = read_frames(driver, 5)
        counts = driver.counters()
    finally:
        driver.close()
    assert [int(f.pixels[0, 0]) for f in frames] == [0, 1, 2, 3, 4]
    first = frames[0]
    assert first.pixels.shape == (igtl_peer.ROWS, igtl_peer.COLS)
    assert first.spacing_mm == pytest.approx((igtl_peer.AXIAL_MM, igtl_peer.LATERAL_MM), rel=1e-5)
    assert first.settings.depth_mm == pytest.approx(igtl_peer.ROWS * igtl_peer.AXIAL_MM, rel=1e-5)
    # Columns increase left to right as sent: no flip.
    assert list(first.pixels[1, :4]) == [0, 1, 2, 3]
    assert first.tracking is not None and first.tracking.image_to_world is not None
    matrix = np.array(first.tracking.image_to_world)
    assert matrix[:3, 3] == pytest.approx((10.0, 20.0, 30.0), abs=1e-3)  # origin, from the centre sent
    assert matrix[:3, 0] == pytest.approx((0.1, 0, 0), abs=1e-6)
    for index, frame in enumerate(frames):
        sender_s = igtl_peer.SENDER_T0_S + index * igtl_peer.SENDER_PERIOD_S
        assert frame.tracking is not None
        assert frame.tracking.sender_time_s == pytest.approx(sender_s, abs=1e-6)
        assert frame.device_time_us == pytest.approx(sender_s * 1e6, abs=2)
        pose = frame.tracking.transform("ProbeToReference")
        assert pose is not None and pose[0][3] == pytest.approx(index)
    assert frames[1].host_time_ns >= frames[0].host_time_ns
    # The peer's STRING, truncated IMAGE and wrong-CRC IMAGE were skipped and counted.
    assert counts["skipped_messages"] == 1
    assert counts["malformed"] == 1
    assert counts["crc_errors"] == 1
    assert counts["frames"] == 5


def test_settings_are_refused_as_not_applied(peer: PeerFactory) -> None:
    port = free_port()
    peer(port, "--frames", "1")
    driver = IgtlProbeDriver("127.0.0.1", port)
    try:
        driver.connect()
        with pytest.raises(SettingNotApplied, match="sending device sets depth_mm"):
            driver.set_setting(SettingKey.DEPTH_MM, 40.0)
    finally:
        driver.close()


def test_no_server_is_not_found() -> None:
    driver = IgtlProbeDriver("127.0.0.1", free_port())
    with pytest.raises(ProbeNotFound, match="no OpenIGTLink server"):
        driver.connect()
    driver.close()


def test_engine_reconnects_when_the_server_comes_back(peer: PeerFactory) -> None:
    port = free_port()
    first = peer(port, "--rate", "50")
    ring = FrameRing(capacity_frames=64, slot_bytes=igtl_peer.ROWS * igtl_peer.COLS)
    engine = AcquisitionEngine(IgtlProbeDriver("127.0.0.1", port, igtl_peer.DEVICE), ring)
    lost = threading.Event()
    engine.state_changed.connect(lambda e: lost.set() if e.state == EngineState.DISCONNECTED else None)
    engine.start()
    try:
        assert ring.wait_for_frame_after(-1, timeout_s=10.0)
        first.kill()
        first.wait(timeout=10)
        assert lost.wait(timeout=10.0)
        last = ring.newest_seq
        peer(port, "--rate", "50")
        assert ring.wait_for_frame_after(last, timeout_s=10.0)
        assert engine.status().reconnects >= 1
    finally:
        engine.close()


def test_a_sender_that_never_pauses_does_not_hold_the_read() -> None:
    """A read returns soon with what has arrived, even while bytes keep coming."""
    message = pyigtl.ImageMessage(
        igtl_peer.frame_pixels(7), igtl_peer.image_matrix(), device_name=igtl_peer.DEVICE
    ).pack()
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def flood() -> None:
            conn, _ = listener.accept()
            with conn:
                while not stop.is_set():
                    try:
                        conn.sendall(message)
                    except OSError:
                        return

        sender = threading.Thread(target=flood)
        sender.start()
        driver = IgtlProbeDriver("127.0.0.1", port)
        try:
            driver.connect()
            driver.start()
            started = time.monotonic()
            frames = driver.read_frames(0.1)
            took_s = time.monotonic() - started
        finally:
            driver.close()
            stop.set()
            sender.join(timeout=10)
    assert frames and all(int(f.pixels[0, 0]) == 7 for f in frames)
    assert took_s < 1.0
