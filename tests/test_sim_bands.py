"""A frame on two processes (issue 13's frame time): the band worker renders the right-hand lines of a
linear frame while the renderer renders the left, and the frame is the one a single process makes.

The two renderers here are independent (each its own caches); the two-process one must give the same
pixels, labels and structures in view for every kind of move, in both image formats, on the app's
default line pitch and an odd one. On the default pitch (38/512 mm, a binary fraction) the bits are
the same; on an odd one a band's line positions round differently in the last bit (1e-6 mm), which
may move a pixel in a thousand by one grey level. Under pressure the band's last padded line takes its
cells' squash rather than the next cell's (see `_between_cells`): a few pixels by a few grey levels.
A worker that dies, hangs or fails is reported and the frame is still made, whole, in this process.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.sim.band_worker import BandJob, BandWorker, BandWorkerError
from drivers.sim.firmware import SimFirmware
from drivers.sim.needle import Needle
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderedFrame, RenderParams
from scanner_app.frame import DataFormat, Geometry

START_S = 60.0  # the worker's imports take a second or two; a loaded CI machine more
DEFAULT_PITCH = {"cols": 512, "width_mm": 38.0}
ODD_PITCH = {"cols": 301, "width_mm": 25.3}
MOVES: dict[str, Callable[[ProbePose], ProbePose]] = {
    "along 5 mm": lambda q: q.nudged(position_mm=5.0),
    "across 2 mm": lambda q: q.nudged(lateral_mm=2.0),
    "rotate 5 deg": lambda q: q.nudged(rotation_deg=5.0),
    "short-axis sweep": lambda q: (
        q.nudged(position_mm=0.5) if q.rotation_deg == 90.0 else q.nudged(rotation_deg=90.0)
    ),
}


@pytest.fixture
def two() -> Iterator[PatientRenderer]:
    renderer = PatientRenderer("knee", processes=2)
    assert renderer.start_band_worker(timeout_s=START_S), "the band worker did not start"
    yield renderer
    renderer.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def same_frame(a: RenderedFrame, b: RenderedFrame, *, odd_pitch: bool = False) -> None:
    assert a.pixels.dtype == b.pixels.dtype and a.pixels.shape == b.pixels.shape
    if odd_pitch:
        differ = a.pixels != b.pixels
        assert differ.mean() < 1e-3
        assert np.abs(a.pixels.astype(int) - b.pixels.astype(int)).max() <= 1
    else:
        assert np.array_equal(a.pixels, b.pixels)
    assert a.labels is not None and b.labels is not None and np.array_equal(a.labels, b.labels)
    assert a.structures_in_view == b.structures_in_view and a.structures_in_view
    assert (a.depth_mm, a.width_mm) == (b.depth_mm, b.width_mm)


@pytest.mark.parametrize("move", list(MOVES))
@pytest.mark.parametrize("pitch", [DEFAULT_PITCH, ODD_PITCH], ids=["512 lines", "301 lines"])
@pytest.mark.parametrize("data_format", [DataFormat.BMODE_U8, DataFormat.ENVELOPE_U16])
def test_two_processes_make_the_single_process_frame(
    two: PatientRenderer, move: str, pitch: dict[str, float], data_format: DataFormat
) -> None:
    one = PatientRenderer("knee")
    params = RenderParams(rows=384, data_format=data_format, **pitch)  # type: ignore[arg-type]
    pose = one.pose
    for i in range(4):
        pose = MOVES[move](pose)
        one.set_pose(pose)
        two.set_pose(pose)
        same_frame(one.render(params, i / 30.0), two.render(params, i / 30.0), odd_pitch=pitch is ODD_PITCH)
    assert two.band_worker_pid is not None  # the worker made the right-hand lines throughout


def test_a_pressed_frame_on_two_processes_differs_by_at_most_a_few_grey_levels(two: PatientRenderer) -> None:
    one = PatientRenderer("calf")
    two.set_scene("calf")  # the worker is told the scene with each band
    params = RenderParams(rows=384)
    pose = one.pose
    for i, pressure in enumerate((0.2, 0.6, 1.0)):
        pose = ProbePose(pose.position_mm, pose.lateral_mm, pose.rotation_deg, pressure=pressure)
        one.set_pose(pose)
        two.set_pose(pose)
        a, b = one.render(params, i / 30.0), two.render(params, i / 30.0)
        differ = a.pixels != b.pixels
        assert differ.mean() < 1e-3
        assert np.abs(a.pixels.astype(int) - b.pixels.astype(int)).max() <= 8
        assert a.labels is not None and b.labels is not None and np.array_equal(a.labels, b.labels)
        assert a.structures_in_view == b.structures_in_view
    assert two.band_worker_pid is not None


def test_a_needle_across_the_split_is_the_single_process_needle(two: PatientRenderer) -> None:
    """An in-plane needle from the left whose shaft crosses into the worker's lines, and the same
    needle advanced so its tip (the bevel's bright point) lies in them."""
    one = PatientRenderer("knee")
    params = RenderParams(rows=384)
    for i, inserted_mm in enumerate((20.0, 40.0)):
        needle = Needle((-30.0, 0.0, 0.0), 0.0, 25.0, bend_mm=0.0).advanced(inserted_mm)
        one.needle = two.needle = needle
        a, b = one.render(params, i / 30.0), two.render(params, i / 30.0)
        same_frame(a, b)
        assert "needle" in a.structures_in_view
    assert two.band_worker_pid is not None


@pytest.mark.parametrize("what", ["convex", "tilted", "RF"])
def test_frames_two_bands_cannot_make_are_made_whole_without_a_worker(what: str) -> None:
    one, two = PatientRenderer("knee"), PatientRenderer("knee", processes=2)
    params = RenderParams(rows=256, cols=256)
    if what == "convex":
        params = RenderParams(rows=256, cols=256, geometry=Geometry.CONVEX)
    elif what == "RF":
        params = RenderParams(rows=256, cols=128, data_format=DataFormat.RF_I16)
    elif what == "tilted":
        for r in (one, two):
            r.set_pose(r.pose.nudged(tilt_deg=10.0))
    try:
        a, b = one.render(params, 0.0), two.render(params, 0.0)
        assert np.array_equal(a.pixels, b.pixels)
        assert two.band_worker_pid is None
    finally:
        two.close()


def test_a_worker_that_dies_is_reported_and_the_frames_go_on(
    two: PatientRenderer, caplog: pytest.LogCaptureFixture
) -> None:
    one = PatientRenderer("knee")
    params = RenderParams(rows=256)
    same_frame(one.render(params, 0.0), two.render(params, 0.0))
    pid = two.band_worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="drivers.sim.patient"):
        for i in range(1, 4):
            pose = one.pose.nudged(position_mm=1.0)
            one.set_pose(pose)
            two.set_pose(pose)
            same_frame(one.render(params, i / 30.0), two.render(params, i / 30.0))
    assert [r.getMessage() for r in caplog.records] == [caplog.records[0].getMessage()], (
        "reported once, not every frame"
    )
    assert "one core" in caplog.records[0].getMessage() and "gone" in caplog.records[0].getMessage()
    assert two.band_worker_pid is None
    two.close()  # a new worker may start after close: the probe powered on again
    assert two.start_band_worker(timeout_s=START_S)
    assert two.band_worker_pid not in (None, pid)


def job(scene_id: str = "knee", lines: int = 64) -> BandJob:
    params = RenderParams(rows=128, cols=128)
    return BandJob(scene_id, None, ProbePose(), params, 0.0, None, 128 - lines, lines)


@pytest.fixture
def worker() -> Iterator[BandWorker]:
    w = BandWorker(seed=0)
    assert w.wait_ready(START_S)
    yield w
    w.close()


def test_a_band_the_worker_cannot_render_is_an_error_naming_why(worker: BandWorker) -> None:
    worker.submit(job("no-such-scene"))
    with pytest.raises(BandWorkerError, match=r"failed on a band: ValueError: unknown scene 'no-such-scene'"):
        worker.result()
    worker.submit(job())  # and it goes on serving
    band = worker.result()
    local = PatientRenderer("knee").render_band(job())
    assert np.array_equal(band.pixels, local.pixels) and band.in_view == local.in_view


def test_a_worker_that_hangs_is_an_error_not_a_hang(worker: BandWorker) -> None:
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        worker.submit(job())
        with pytest.raises(BandWorkerError, match=r"no band within 0.5 s"):
            worker.result(timeout_s=0.5)
    finally:
        os.kill(pid, signal.SIGCONT)


def test_close_stops_the_worker() -> None:
    renderer = PatientRenderer("knee", processes=2)
    assert renderer.start_band_worker(timeout_s=START_S)
    renderer.render(RenderParams(rows=128), 0.0)
    pid = renderer.band_worker_pid
    assert pid is not None and alive(pid)
    renderer.close()
    assert not alive(pid)
    assert renderer.band_worker_pid is None
    renderer.close()  # idempotent


def test_bands_come_back_through_shared_memory_freed_at_close() -> None:
    worker = BandWorker(seed=0)
    try:
        assert worker.wait_ready(START_S)
        worker.submit(job())
        worker.result()
        name = worker.block_name
        assert name is not None and (Path("/dev/shm") / name).exists()
    finally:
        worker.close()
    assert not (Path("/dev/shm") / name).exists()
    assert worker.block_name is None


def test_the_probe_powered_off_stops_its_band_worker() -> None:
    renderer = PatientRenderer("knee", processes=2)
    firmware = SimFirmware(renderer)
    firmware.start()
    assert renderer.start_band_worker(timeout_s=START_S)
    pid = renderer.band_worker_pid
    assert pid is not None
    firmware.stop()
    assert not alive(pid)
