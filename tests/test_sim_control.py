"""The simulator panel's control and the PLP extension commands move the same virtual probe."""

from __future__ import annotations

import json

import pytest

from drivers.plp_codec import Opcode, ReplyStatus
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.control import SimulatorControl
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport


def test_control_lists_scenes_and_moves_the_probe() -> None:
    renderer = PatientRenderer("knee")
    control = SimulatorControl(renderer)
    scenes = {sid: variants for sid, _title, variants in control.list_scenes()}
    assert "popliteal" in scenes and "bakers_cyst" in scenes["popliteal"]
    control.set_scene("popliteal", "bakers_cyst")
    assert control.current_scene() == ("popliteal", "bakers_cyst")
    control.set_pose(lateral_mm=5.0, pressure=2.0)  # pressure beyond full is clamped
    pose = control.get_pose()
    assert pose["lateral_mm"] == 5.0 and pose["pressure"] == 1.0
    assert renderer.pose == ProbePose(**pose)
    with pytest.raises(ValueError, match="slide_mm"):
        control.set_pose(slide_mm=1.0)


def test_pose_mapping_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="unknown pose field"):
        ProbePose.from_mapping({"x_mm": 1})
    with pytest.raises(ValueError, match="tilt_deg must be a number"):
        ProbePose.from_mapping({"tilt_deg": "steep"})
    assert ProbePose.from_mapping({"pressure": 0.5}, base=ProbePose(position_mm=3)).position_mm == 3


def test_extension_commands_drive_the_renderer_over_usb() -> None:
    renderer = PatientRenderer("knee")
    firmware = SimFirmware(renderer, small_params(64, 48))
    driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(firmware)), device=firmware)
    driver.connect()
    try:
        status, _ = driver.send_command(
            Opcode.SIM_SET_SCENE, json.dumps({"scene": "groin", "variant": "thrombosed_vein"}).encode()
        )
        assert status == ReplyStatus.OK and renderer.scene.scene_id == "groin"
        status, _ = driver.send_command(Opcode.SIM_SET_POSE, json.dumps({"pressure": 0.8}).encode())
        assert status == ReplyStatus.OK and renderer.pose.pressure == 0.8
        status, _ = driver.send_command(Opcode.SIM_SET_POSE, json.dumps({"warp_mm": 1}).encode())
        assert status == ReplyStatus.BAD_ARGUMENT and renderer.pose.pressure == 0.8
        status, _ = driver.send_command(Opcode.SIM_SET_SCENE, json.dumps({"scene": "moon"}).encode())
        assert status == ReplyStatus.BAD_ARGUMENT and renderer.scene.scene_id == "groin"
    finally:
        driver.close()
