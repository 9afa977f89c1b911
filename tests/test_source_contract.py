"""One contract for the sources that set their own imaging (OpenIGTLink, replay): the generic verbs of
`tests/test_probe_contract.py` that do not assume a settable PLP/1 probe, run against each."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.base import BaseProbeDriver
from drivers.igtl_source import IgtlProbeDriver
from drivers.replay import ReplayProbeDriver
from scanner_app.engine import AcquisitionEngine, EngineState
from scanner_app.probe import SETTING_FIELDS, ProbeDescriptor, SettingKey, SettingNotApplied
from scanner_app.ring import FrameRing
from scanner_app.sequence_file import SequenceWriter
from tests import igtl_peer
from tests.factories import make_frame


@pytest.fixture
def igtl() -> Iterator[BaseProbeDriver]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    peer = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("igtl_peer.py")), str(port), "--rate", "100"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert peer.stdout is not None and peer.stdout.readline().strip() == "listening"
    driver = IgtlProbeDriver("127.0.0.1", port, igtl_peer.DEVICE)
    yield driver
    driver.close()
    peer.kill()
    peer.wait(timeout=10)
    peer.stdout.close()


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[BaseProbeDriver]:
    writer = SequenceWriter(tmp_path / "case.igs.nrrd")
    for i in range(5):
        writer.write(make_frame(i, pixels=np.full((64, 48), i, dtype=np.uint8)))
    driver = ReplayProbeDriver(writer.close())
    yield driver
    driver.close()


@pytest.fixture(params=["igtl", "replay"])
def source(request: pytest.FixtureRequest) -> BaseProbeDriver:
    driver: BaseProbeDriver = request.getfixturevalue(request.param)
    return driver


def test_descriptor_says_which_settings_are_read_only(source: BaseProbeDriver) -> None:
    d = source.connect()
    assert isinstance(d, ProbeDescriptor) and d.formats
    assert set(SETTING_FIELDS.values()) <= set(d.extra["read_only_settings"])


def test_settings_are_not_applied_and_frames_stream_in_order(source: BaseProbeDriver) -> None:
    source.connect()
    with pytest.raises(SettingNotApplied):
        source.set_setting(SettingKey.DEPTH_MM, 30.0)
    assert SettingKey.DEPTH_MM not in source.applied_settings
    source.start()
    got = []
    for _ in range(100):
        got += source.read_frames(0.1)
        if len(got) >= 5:
            break
    source.stop()
    assert len(got) >= 5
    seqs = [f.seq for f in got]
    assert seqs == sorted(seqs)
    assert all(f.rows * f.spacing_mm[0] == pytest.approx(f.settings.depth_mm) for f in got)
    assert all(f.host_time_ns > 0 for f in got)
    assert all(isinstance(n, int) and n >= 0 for n in source.counters().values())


def test_close_then_connect_again(source: BaseProbeDriver) -> None:
    source.connect()
    source.close()
    assert source.descriptor is None and not source.streaming
    assert source.connect().formats


def test_through_the_engine(source: BaseProbeDriver) -> None:
    states: queue.Queue[EngineState] = queue.Queue()
    engine = AcquisitionEngine(source, FrameRing(8, 64 * 1024))
    engine.state_changed.connect(lambda e: states.put(e.state))
    engine.request_setting(SettingKey.FRAME_RATE_HZ, 30.0)  # as main.py does: refused, imaging goes on
    engine.start()
    try:
        assert engine.ring.wait_for_frame_after(2, 5.0)
    finally:
        engine.close()
    seen = []
    while not states.empty():
        seen.append(states.get_nowait())
    assert EngineState.STREAMING in seen and EngineState.ERROR not in seen
