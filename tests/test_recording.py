"""Recordings PLUS and Slicer read: written by the app, read back by pynrrd and by the replay probe
frame for frame; a recording cut short by a kill or a full disk keeps every whole frame."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nrrd
import numpy as np
import pytest

from drivers.replay import ReplayProbeDriver
from scanner_app.frame import Frame, FrameTracking
from scanner_app.recorder import SessionRecorder
from scanner_app.ring import FrameRing
from scanner_app.sequence_file import RecordingError, SequenceWriter, read_sequence, recover_recording
from tests.factories import make_frame

ROOT = Path(__file__).resolve().parents[1]


def tracked_frame(index: int) -> Frame:
    pose = np.eye(4)
    pose[:3, 3] = (index, 2.0 * index, -1.0)
    rng = np.random.default_rng(index)
    frame = make_frame(index, pixels=rng.integers(0, 256, (64, 48), dtype=np.uint8), spacing_mm=(0.15, 0.3))
    tracking = FrameTracking(
        transforms=(("ProbeToReference", tuple(tuple(float(v) for v in r) for r in pose)),),  # type: ignore[arg-type]
        sender_time_s=100.0 + index * 0.04,
    )
    return Frame(**{**{f: getattr(frame, f) for f in Frame.__dataclass_fields__}, "tracking": tracking})


def test_recording_is_read_back_by_pynrrd_and_by_the_replay_probe(tmp_path: Path) -> None:
    path = tmp_path / "case.igs.nrrd"
    sent = [tracked_frame(i) for i in range(6)]
    writer = SequenceWriter(path)
    for frame in sent:
        writer.write(frame)
    assert writer.close() == path
    assert not Path(str(path) + ".partial").exists()

    data, header = nrrd.read(str(path), index_order="C")
    assert data.shape == (6, 64, 48)
    for i, frame in enumerate(sent):
        assert np.array_equal(data[i], frame.pixels)
    assert np.allclose(np.linalg.norm(header["space directions"][0]), 0.3)
    assert np.allclose(np.linalg.norm(header["space directions"][1]), 0.15)
    assert float(header["Seq_Frame0003_Timestamp"]) == pytest.approx(100.12)
    pose = [float(v) for v in header["Seq_Frame0002_ProbeToReferenceTransform"].split()]
    assert pose[3] == 2.0 and pose[7] == 4.0
    assert header["Seq_Frame0002_ProbeToReferenceTransformStatus"] == "OK"
    assert header["UltrasoundImageOrientation"] == "MF"

    clock = [0.0]
    driver = ReplayProbeDriver(
        path, clock_s=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)
    )
    descriptor = driver.connect()
    assert descriptor.extra["calibrated"] is True and descriptor.extra["frames"] == 6
    driver.start()
    played = [driver.read_frame(1.0) for _ in range(7)]
    driver.close()
    assert all(f is not None for f in played)
    for i, frame in enumerate(played[:6]):
        assert frame is not None
        assert np.array_equal(frame.pixels, sent[i].pixels)
        assert frame.spacing_mm == pytest.approx((0.15, 0.3))
        assert frame.tracking is not None
        assert frame.tracking.transform("ProbeToReference") == sent[i].tracking.transform("ProbeToReference")  # type: ignore[union-attr]
    # The original timing (0.04 s apart on the clock) and a loop back to the first frame.
    assert clock[0] == pytest.approx(6 * 0.04)
    assert played[6] is not None and np.array_equal(played[6].pixels, sent[0].pixels)
    assert played[6].device_time_us > played[5].device_time_us  # time never goes back across a loop


def test_replay_pause_and_seek(tmp_path: Path) -> None:
    path = tmp_path / "case.seq.nrrd"
    writer = SequenceWriter(path)
    for i in range(5):
        writer.write(tracked_frame(i))
    writer.close()
    clock = [0.0]
    driver = ReplayProbeDriver(
        path, clock_s=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)
    )
    driver.connect()
    driver.start()
    first = driver.read_frame(1.0)
    driver.pause()
    again = [driver.read_frame(1.0) for _ in range(3)]
    driver.seek(3)
    sought = driver.read_frame(1.0)
    driver.resume()
    after = driver.read_frame(1.0)
    driver.close()
    assert first is not None and sought is not None and after is not None
    assert all(f is not None and np.array_equal(f.pixels, first.pixels) for f in again)  # paused: held
    assert np.array_equal(sought.pixels, tracked_frame(3).pixels)
    assert np.array_equal(after.pixels, tracked_frame(4).pixels)


def test_session_recorder_drains_the_ring(tmp_path: Path) -> None:
    ring = FrameRing(capacity_frames=32, slot_bytes=64 * 48)
    recorder = SessionRecorder(ring, tmp_path / "session.igs.nrrd")
    for i in range(10):
        ring.push(tracked_frame(i))
    progress = recorder.stop()
    assert progress.error == "" and progress.frames == 10 and progress.path is not None
    info, frames = read_sequence(progress.path)
    assert info.frame_count == 10
    assert [int(f.pixels[0, 0]) for f in frames] == [int(tracked_frame(i).pixels[0, 0]) for i in range(10)]


def test_a_recording_killed_mid_write_keeps_every_whole_frame(tmp_path: Path) -> None:
    path = tmp_path / "killed.igs.nrrd"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    victim = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "recording_writer.py"), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert victim.stdout is not None
    written = 0
    while written < 40:
        written = int(victim.stdout.readline())
    victim.kill()
    victim.wait(timeout=10)
    victim.stdout.close()
    recovered = recover_recording(Path(str(path) + ".partial"))
    data, header = nrrd.read(str(recovered), index_order="C")
    assert data.shape[0] >= written
    for i in range(data.shape[0]):
        assert np.all(data[i] == i % 256), f"frame {i} is not whole"
        assert f"Seq_Frame{i:04d}_Timestamp" in header


@contextlib.contextmanager
def tmpfs(mount_dir: Path, size: str) -> Iterator[Path]:
    mount_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_dir
    finally:
        busy = subprocess.run(["umount", str(mount_dir)], capture_output=True, text=True, check=False)
        if busy.returncode != 0:
            subprocess.run(["umount", "-l", str(mount_dir)], check=False)
            pytest.fail(f"{mount_dir} was still in use: {busy.stderr.strip()}")


def test_a_full_disk_stops_the_recording_with_a_clear_error_and_keeps_the_frames(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "256k") as root:
        writer = SequenceWriter(root / "full.igs.nrrd")
        with pytest.raises(RecordingError, match="disk full") as error:
            for i in range(1000):
                writer.write(make_frame(i, pixels=np.full((64, 48), i % 256, dtype=np.uint8)))
        kept = writer.frames_written
        assert kept > 10 and f"the {kept} whole frames" in str(error.value)
        with pytest.raises(RecordingError, match="disk full"):
            writer.close()  # no room for the file: the partial folder stays
        recovered = recover_recording(writer.partial, tmp_path / "rescued.igs.nrrd")
    info, frames = read_sequence(recovered)
    assert info.frame_count == kept
    assert all(int(f.pixels[5, 5]) == i % 256 for i, f in enumerate(frames))
