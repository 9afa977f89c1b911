"""A simulated frame's ground truth is the frame's own: the scene and probe pose that made it, found by
the frame's device time, through the PLP driver over the simulated USB bus and through the direct
probe. A trainee who freezes and then moves the probe, or scrolls back through cine, is named and
graded on the image on screen, not on where the probe is now."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from drivers.base import BaseProbeDriver
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.anatomy import Scene
from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.firmware import SimFirmware
from drivers.sim.frame_poses import FramePoses
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import build_scene
from drivers.sim.settings import SimSettings
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from scanner_app.frame import Frame
from scanner_app.sim_control import LabelMap

PARAMS = RenderParams(rows=96, cols=64, depth_mm=40.0)
PATELLAR_TENDON_VIEW_MM = 72.0  # the knee's "patellar tendon long axis" view (scenes: knee)


def _usb(renderer: PatientRenderer) -> BaseProbeDriver:
    firmware = SimFirmware(renderer=renderer, params=PARAMS, frame_rate_hz=60.0)
    return PlpProbeDriver(UsbTransport(backend=SimUsbBackend(firmware)), device=firmware)


def _direct(renderer: PatientRenderer) -> BaseProbeDriver:
    return DirectSimProbe(renderer, SimSettings(PARAMS, frame_rate_hz=60.0))


@pytest.fixture(params=[_usb, _direct], ids=["plp-usb", "direct"])
def probe(request: pytest.FixtureRequest) -> Iterator[tuple[BaseProbeDriver, SimulatorControl]]:
    make: Callable[[PatientRenderer], BaseProbeDriver] = request.param
    renderer = PatientRenderer("knee")
    driver = make(renderer)
    driver.connect()
    driver.start()
    yield driver, SimulatorControl(renderer)
    driver.close()


def _next_frame(driver: BaseProbeDriver) -> Frame:
    for _ in range(200):
        frame = driver.read_frame(0.5)
        if frame is not None:
            return frame
    raise AssertionError("the simulated probe sent no frame")


def _truth(control: SimulatorControl, frame: Frame) -> LabelMap | None:
    return control.frame_label_map(
        frame.device_time_us, frame.rows, frame.cols, frame.height_mm, frame.width_mm
    )


def test_a_frame_keeps_the_truth_of_the_pose_that_made_it(
    probe: tuple[BaseProbeDriver, SimulatorControl],
) -> None:
    driver, control = probe
    before = _next_frame(driver)
    control.set_pose(position_mm=PATELLAR_TENDON_VIEW_MM)
    after = _next_frame(driver)
    for _ in range(20):  # a frame already rendering when the probe moved is the last of the old pose
        moved = _truth(control, after)
        if moved is not None and "patellar tendon" in moved.in_view():
            break
        after = _next_frame(driver)
    moved = _truth(control, after)
    assert moved is not None and "patellar tendon" in moved.in_view()
    then = _truth(control, before)
    assert then is not None
    # The first frame's truth is still the suprapatellar view it showed, with the probe elsewhere now.
    assert "quadriceps tendon" in then.in_view() and "patellar tendon" not in then.in_view()
    assert then.index.shape == (before.rows, before.cols)
    # A device time from before the probe sent anything has no truth.
    assert _truth(control, dataclasses.replace(before, device_time_us=-1)) is None


def _scene() -> Scene:
    return build_scene("knee", None)


def test_a_held_probe_keeps_one_run_and_a_restarted_clock_forgets_the_old_frames() -> None:
    poses = FramePoses(max_runs=3)
    scene, here = _scene(), ProbePose()
    there = here.nudged(position_mm=5.0)
    for t_us in (1_000, 2_000, 3_000):
        poses.record(t_us, scene, here)
    poses.record(4_000, scene, there)
    assert poses.at(1_000) == (scene, here) and poses.at(3_000) == (scene, here)
    assert poses.at(4_000) == (scene, there)
    assert poses.at(3_500) is None and poses.at(999) is None and poses.at(4_001) is None
    # The probe powered on again: its clock starts over, and the old frames' times mean nothing now.
    poses.record(500, scene, there)
    assert poses.at(500) == (scene, there) and poses.at(1_000) is None and poses.at(4_000) is None


def test_only_the_newest_runs_are_kept() -> None:
    poses = FramePoses(max_runs=2)
    scene = _scene()
    for k in range(10):
        poses.record(k, scene, ProbePose(position_mm=float(k)))
    kept = [k for k in range(10) if poses.at(k) is not None]
    assert kept[-2:] == [8, 9] and len(kept) <= 4 and poses.at(9) == (scene, ProbePose(position_mm=9.0))
    with pytest.raises(ValueError, match="at least one run"):
        FramePoses(max_runs=0)
