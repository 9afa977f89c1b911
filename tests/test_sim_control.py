"""The simulator panel's control and the PLP extension commands move the same virtual probe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from drivers.plp_codec import Opcode, ReplyStatus
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.control import SimulatorControl
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.scenes import list_scenes, named_views
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from scanner_app.sim_control import BONE_SURFACE_MM


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


def test_ground_truth_says_what_the_plane_cuts_and_which_vein_is_pressed() -> None:
    renderer = PatientRenderer("groin")
    control = SimulatorControl(renderer)
    assert control.variant_titles("popliteal")["bakers_cyst"] != "bakers_cyst"  # a title, not the id
    open_view = control.view_truth()  # the groin's first view: CFV short axis, no pressure
    assert {"common femoral vein", "common femoral artery"} <= open_view.vessels_in_view
    assert open_view.compressed_vessels == frozenset() and open_view.scene_id == "groin"
    pressed = control.view_truth({"pressure": 0.7})
    assert "common femoral vein" in pressed.compressed_vessels  # shut, but still the vein in the plane
    assert "common femoral artery" not in pressed.compressed_vessels  # arteries stay open
    assert renderer.pose.pressure == 0.0  # asking about a pose does not move the probe
    away = control.view_truth({"lateral_mm": 80.0})
    assert "common femoral vein" not in away.structures_in_view


def test_the_cable_is_pulled_and_plugged_back() -> None:
    class Cable:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def unplug(self) -> None:
            self.calls.append("unplug")

        def replug(self) -> None:
            self.calls.append("replug")

    cable = Cable()
    control = SimulatorControl(PatientRenderer("knee"), cable)
    assert control.cable_plugged() is True
    control.set_cable_plugged(False)
    control.set_cable_plugged(False)  # already out: nothing more
    assert control.cable_plugged() is False
    control.set_cable_plugged(True)
    assert cable.calls == ["unplug", "replug"]
    no_cable = SimulatorControl(PatientRenderer("knee"))
    assert no_cable.cable_plugged() is None
    with pytest.raises(ValueError, match="no cable"):
        no_cable.set_cable_plugged(False)


def test_manoeuvres_reach_the_firmware_from_the_panel_control_and_over_usb() -> None:
    renderer = PatientRenderer("groin")
    firmware = SimFirmware(renderer, small_params(64, 48))
    control = SimulatorControl(renderer, patient=firmware)
    assert control.manoeuvres() == ("augmentation", "valsalva", "release")
    assert SimulatorControl(renderer).manoeuvres() == ()  # the direct simulated probe makes no Doppler
    control.perform("augmentation")
    assert firmware.manoeuvres.squeeze_s is not None and not control.straining()
    control.perform("valsalva")
    assert control.straining() and firmware.manoeuvres.strain_s is not None
    with pytest.raises(ValueError, match="unknown manoeuvre"):
        control.perform("cough")
    driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(firmware)), device=firmware)
    driver.connect()
    try:
        status, _ = driver.send_command(Opcode.SIM_MANOEUVRE, json.dumps({"manoeuvre": "release"}).encode())
        assert status == ReplyStatus.OK and not control.straining()
        assert firmware.manoeuvres.release_s is not None
        for bad in (b"[]", b"{}", json.dumps({"manoeuvre": "sneeze"}).encode()):
            status, _ = driver.send_command(Opcode.SIM_MANOEUVRE, bad)
            assert status == ReplyStatus.BAD_ARGUMENT
    finally:
        driver.close()


def _every_view() -> list[tuple[str, str]]:
    return [(info.scene_id, view) for info in list_scenes() for view in info.views]


@pytest.mark.parametrize("pressure", [0.0, 1.0])
def test_every_name_the_overlay_shows_sits_on_its_own_structure(pressure: float) -> None:
    """In every named view of every scene, pressed or not, a structure's name is placed on that
    structure's pixels and inside the image (the calf's paired posterior tibial veins have their
    centre on the artery between them)."""
    control = SimulatorControl(PatientRenderer("knee"))
    misplaced: list[str] = []
    for scene_id, view in _every_view():
        control.set_scene(scene_id, None)
        control.set_pose(**named_views()[scene_id][view])
        control.set_pose(pressure=pressure)
        labels = control.label_map(256, 256, 40.0, 38.0)
        for name in labels.in_view():
            where = labels.label_point_mm(name)
            assert where is not None
            x, d = where
            if not (0 < x < labels.width_mm and 0 < d < labels.depth_mm) or labels.structure_at(x, d) != name:
                misplaced.append(f"{scene_id}/{view}: {name} at ({x:.1f}, {d:.1f}) mm")
            elif labels.tissue_at(x, d) == "bone" and labels.structure_at(x, d - BONE_SURFACE_MM) == name:
                misplaced.append(f"{scene_id}/{view}: {name} deeper than its surface, in its shadow")
    assert not misplaced, misplaced


def test_no_named_view_shows_coupling_gel_under_the_skin() -> None:
    """Below the body's surface every pixel is some tissue: a gap between two layers would image as
    a black line of gel across the picture (the neck's fat and sternocleidomastoid had one)."""
    control = SimulatorControl(PatientRenderer("knee"))
    gaps: list[str] = []
    for scene_id, view in _every_view():
        control.set_scene(scene_id, None)
        control.set_pose(**named_views()[scene_id][view])
        index = control.label_map(128, 128, 40.0, 38.0).index
        body = index > 0
        surface = np.where(body.any(axis=0), body.argmax(axis=0), index.shape[0])  # per column
        below = np.arange(index.shape[0])[:, None] > surface[None, :]
        if ((index == 0) & below).any():
            gaps.append(f"{scene_id}/{view}: {int(((index == 0) & below).sum())} pixels")
    assert not gaps, gaps
