"""The simulated patient's Doppler (issue 14 item 4): IQ synthesised from the scenes' vessels, processed
by the real colour and spectral processing, gives what the anatomy and the circulation say: triphasic
femoral arteries at their peak speed, phasic veins, augmentation and Valsalva, no flow in a thrombosed
vein or a Baker's cyst, a filling defect around a partial thrombus, hyperaemia in inflamed variants."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from drivers.plp_driver import PlpProbeDriver
from drivers.sim import haemodynamics as hd
from drivers.sim.anatomy import Scene, Structure
from drivers.sim.control import SimulatorControl
from drivers.sim.doppler_iq import (
    AnatomyIqModel,
    Flow,
    IqRequest,
    SceneTruth,
    artery_peak_m_s,
    vein_mean_m_s,
)
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.patient import PatientRenderer
from drivers.sim.physics import probe_axes
from drivers.sim.pose import ProbePose
from drivers.sim.scenes import build_scene
from drivers.sim.shapes import Ellipsoid, Tube
from drivers.sim.tissues import Label
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from scanner_app.doppler import DopplerMode, IqPacket
from scanner_app.doppler_measurements import (
    arterial_measurements,
    augmentation_response,
    phasicity,
    trace_series,
)
from scanner_app.doppler_processing import ColorFlowProcessor, FlowBox, FlowFrame, nyquist_velocity_cm_s
from scanner_app.frame import Frame, Geometry
from scanner_app.probe import SettingKey
from scanner_app.spectral import SpectralProcessor as Spectral
from scanner_app.spectral import SpectralSettings, SpectrumLine

F0_MHZ = 6.25
WIDTH_MM = 38.0
PW_PULSES = 64
TILT_DEG = 20.0  # heel-toe along the vessel, as a sonographer does for a long-axis Doppler
STEER_DEG = 20.0


def tube_of(scene: Scene, name: str) -> Tube:
    st = next(s for s in scene.structures if s.name == name and s.vessel is not None)
    assert isinstance(st.shape, Tube)
    return st.shape


def long_axis(tube: Tube, s_mm: float, tilt_deg: float = TILT_DEG) -> ProbePose:
    """The probe along the vessel's centre line at s, tilted so its beam looks down the flow."""
    t, _ = tube.centre(np.float32([s_mm]))
    return ProbePose(position_mm=s_mm, lateral_mm=float(t[0]), tilt_deg=tilt_deg)


def gate_on_axis(tube: Tube, pose: ProbePose) -> float:
    """Range along the central image line to the vessel's centre line (where a sonographer puts the gate)."""
    _, b = probe_axes(pose)
    z = 20.0
    for _ in range(20):
        s = pose.position_mm + z * b[0]
        _, d = tube.centre(np.float32([s]))
        z = float(d[0]) / b[2]
    return z


def flow_angle_deg(tube: Tube, pose: ProbePose, steer_deg: float) -> float:
    """The angle between the steered beam and the vessel at the gate: what the angle cursor is set to."""
    a, b = probe_axes(pose)
    beam = math.cos(math.radians(steer_deg)) * b + math.sin(math.radians(steer_deg)) * a
    s = pose.position_mm + gate_on_axis(tube, pose) * b[0]
    t2, d2 = tube.centre(np.float32([s + 0.5]))
    t1, d1 = tube.centre(np.float32([s - 0.5]))
    along = np.array([1.0, float(t2[0] - t1[0]), float(d2[0] - d1[0])])
    return math.degrees(math.acos(abs(along @ beam) / np.linalg.norm(along)))


def spectrum(
    scene: Scene,
    pose: ProbePose,
    gate_mm: float,
    *,
    seconds: float,
    prf_hz: float,
    angle_deg: float,
    invert: bool = False,
    manoeuvres: hd.Manoeuvres = hd.AT_REST,
    gate_size_mm: float = 1.6,
) -> list[SpectrumLine]:
    """`seconds` of pw packets from the simulated patient through the real spectral processing."""
    model = AnatomyIqModel()
    truth = SceneTruth(None, 40.0, WIDTH_MM, scene, pose, manoeuvres)
    processor = Spectral(prf_hz, F0_MHZ, SpectralSettings(angle_deg=angle_deg, invert=invert))
    half = gate_size_mm / 2
    request = IqRequest(
        DopplerMode.PW, Geometry.LINEAR, 9, 1, PW_PULSES, prf_hz, gate_mm - half, gate_mm + half,
        WIDTH_MM / 2, WIDTH_MM / 2, STEER_DEG, F0_MHZ,
    )  # fmt: skip
    lines: list[SpectrumLine] = []
    for i in range(round(seconds * prf_hz / PW_PULSES)):
        lines += processor.feed(model.synthesize(request, truth, i * PW_PULSES / prf_hz))
    return lines


def colour(
    scene: Scene, pose: ProbePose, box: tuple[float, float, float, float], *, prf_hz: float = 5000.0
) -> list[FlowFrame]:
    """A second of colour ensembles (30 a second) over `box` (top, bottom, left, right mm)."""
    model = AnatomyIqModel()
    truth = SceneTruth(None, 40.0, WIDTH_MM, scene, pose)
    top, bottom, left, right = box
    request = IqRequest(
        DopplerMode.FLOW, Geometry.LINEAR, round((bottom - top) / 0.2) + 1, round((right - left) / 0.5) + 1,
        12, prf_hz, top, bottom, left, right, STEER_DEG, F0_MHZ,
    )  # fmt: skip
    processor = ColorFlowProcessor()
    flow_box = FlowBox(Geometry.LINEAR, top, bottom, left, right, STEER_DEG)
    return [
        processor.process(model.synthesize(request, truth, i / 30), prf_hz, F0_MHZ, flow_box)
        for i in range(30)
    ]


# -- the circulation on its own ---------------------------------------------------------------


def test_the_waveforms_are_triphasic_phasic_and_respond_to_the_manoeuvres() -> None:
    t = np.linspace(0.0, 12.0, 12001)
    artery = hd.arterial_flow(t)
    assert artery.max() == pytest.approx(1.0, abs=0.02) and artery.min() < -0.2  # systole and reversal
    beats = np.diff((hd.cardiac_phase(t) < 0.5).astype(int)) == 1
    assert np.count_nonzero(beats) == pytest.approx(12 * 70 / 60, abs=1)
    rest = hd.venous_flow(t)
    assert rest.mean() == pytest.approx(1.0, abs=0.05) and rest.min() > 0.3 and rest.max() > 1.5
    squeezed = hd.venous_flow(t, hd.AT_REST.after(hd.Manoeuvre.AUGMENTATION, 6.0))
    assert squeezed[t < 6.0].max() == pytest.approx(rest[t < 6.0].max())  # nothing before the squeeze
    assert squeezed[(t > 6.0) & (t < 7.0)].max() > 4 * rest.mean()
    strain = hd.AT_REST.after(hd.Manoeuvre.VALSALVA, 4.0)
    assert strain.straining(5.0) and strain.after(hd.Manoeuvre.VALSALVA, 5.0) is strain  # already straining
    released = strain.after(hd.Manoeuvre.RELEASE, 8.0)
    assert not released.straining(8.5) and hd.AT_REST.after(hd.Manoeuvre.RELEASE, 1.0) == hd.AT_REST
    held = hd.venous_flow(t, released)
    assert np.abs(held[(t > 4.6) & (t < 8.0)]).max() < 0.05  # the flow stops while straining …
    assert held[(t > 4.0) & (t < 4.5)].min() < -0.1  # … after a brief reflux as the valves close
    assert held[(t > 8.0) & (t < 9.0)].max() > 2.0  # the release lets a surge through
    assert hd.vein_calibre(np.array([6.0]), released)[0] > 1.2 > hd.vein_calibre(np.array([2.0]))[0]


# -- arteries and veins through the real processing ---------------------------------------------


def test_the_common_femoral_artery_is_triphasic_at_the_models_peak_speed() -> None:
    scene = build_scene("groin")
    cfa = tube_of(scene, "common femoral artery")
    pose = long_axis(cfa, 0.0)
    angle = flow_angle_deg(cfa, pose, STEER_DEG)
    # Flow runs distally, away from the steered beam: inverted, as a sonographer shows an artery.
    lines = spectrum(
        scene, pose, gate_on_axis(cfa, pose), seconds=3.5, prf_hz=12000.0, angle_deg=angle, invert=True
    )
    trace = trace_series(lines)
    m = arterial_measurements(trace.forward_cm_s, trace.times_s)
    truth_cm_s = 100 * artery_peak_m_s((cfa.rt_pts[0] + cfa.rd_pts[0]) / 2)
    assert 80.0 <= truth_cm_s <= 100.0
    assert m.psv_cm_s == pytest.approx(truth_cm_s, rel=0.1)
    assert m.cycles >= 3 and m.resistive_index > 0.9  # pulsatile, high resistance: no diastolic flow
    # The early-diastolic reversal, in every cycle: a quarter of the systolic peak below the line.
    assert trace.reverse_cm_s.min() < -0.15 * truth_cm_s
    cycle_s = 60.0 / 70.0
    for k in range(3):
        in_cycle = (trace.times_s > k * cycle_s + 0.2) & (trace.times_s < k * cycle_s + 0.35)
        assert trace.reverse_cm_s[in_cycle].min() < -0.1 * truth_cm_s


def test_above_the_nyquist_velocity_the_artery_aliases() -> None:
    scene = build_scene("groin")
    cfa = tube_of(scene, "common femoral artery")
    pose = long_axis(cfa, 0.0)
    angle = flow_angle_deg(cfa, pose, STEER_DEG)
    prf = 5000.0
    nyquist = nyquist_velocity_cm_s(prf, F0_MHZ) / math.cos(math.radians(angle))
    assert 100 * artery_peak_m_s(3.8) > 1.2 * nyquist
    lines = spectrum(
        scene, pose, gate_on_axis(cfa, pose), seconds=2.0, prf_hz=prf, angle_deg=angle, invert=True
    )
    trace = trace_series(lines)
    assert trace.forward_cm_s.max() <= nyquist + 1.0  # the peak cannot be shown …
    # … it wraps round to the other edge of the scale in systole
    assert trace.reverse_cm_s.min() < -0.8 * nyquist


def test_the_common_femoral_vein_is_phasic_and_flows_toward_the_heart() -> None:
    scene = build_scene("groin")
    cfv = tube_of(scene, "common femoral vein")
    pose = long_axis(cfv, 10.0)
    angle = flow_angle_deg(cfv, pose, STEER_DEG)
    lines = spectrum(scene, pose, gate_on_axis(cfv, pose), seconds=8.0, prf_hz=5000.0, angle_deg=angle)
    trace = trace_series(lines)
    # Toward the heart is toward the beam steered distally: above the line, nothing below it.
    assert np.nanmin(trace.mean_cm_s) > 0 and trace.reverse_cm_s.min() > -2.0
    p = phasicity(trace.forward_cm_s, trace.times_s)
    assert p.index > 0.4  # respiratory variation
    assert 10.0 <= p.max_cm_s <= 22.0
    assert p.max_cm_s > 100 * vein_mean_m_s(5.5) > p.min_cm_s


@pytest.mark.parametrize("vein", ["common femoral vein", "popliteal vein"])
def test_a_calf_squeeze_raises_the_venous_peak_several_fold(vein: str) -> None:
    scene = build_scene("groin" if vein.startswith("common") else "popliteal")
    tube = tube_of(scene, vein)
    pose = long_axis(tube, 10.0)
    angle = flow_angle_deg(tube, pose, STEER_DEG)
    squeeze_s = 4.0
    lines = spectrum(
        scene, pose, gate_on_axis(tube, pose), seconds=7.0, prf_hz=10000.0, angle_deg=angle,
        manoeuvres=hd.AT_REST.after(hd.Manoeuvre.AUGMENTATION, squeeze_s),
    )  # fmt: skip
    trace = trace_series(lines)
    response = augmentation_response(trace.forward_cm_s, trace.times_s, squeeze_s)
    assert response.ratio >= 3.0
    peak_at = trace.times_s[np.argmax(trace.forward_cm_s)]
    assert squeeze_s < peak_at < squeeze_s + 1.5


def test_valsalva_stops_the_venous_flow_until_released() -> None:
    scene = build_scene("groin")
    cfv = tube_of(scene, "common femoral vein")
    pose = long_axis(cfv, 10.0)
    angle = flow_angle_deg(cfv, pose, STEER_DEG)
    manoeuvres = hd.AT_REST.after(hd.Manoeuvre.VALSALVA, 2.0).after(hd.Manoeuvre.RELEASE, 5.0)
    lines = spectrum(
        scene,
        pose,
        gate_on_axis(cfv, pose),
        seconds=7.0,
        prf_hz=8000.0,
        angle_deg=angle,
        manoeuvres=manoeuvres,
    )
    trace = trace_series(lines)
    before = trace.forward_cm_s[trace.times_s < 2.0]
    held = (trace.times_s > 2.8) & (trace.times_s < 5.0)
    after = trace.forward_cm_s[(trace.times_s > 5.0) & (trace.times_s < 6.5)]
    assert np.median(before) > 5.0
    assert np.count_nonzero(np.isfinite(trace.mean_cm_s[held])) <= 0.05 * np.count_nonzero(held)  # no flow
    assert after.max() > 1.5 * before.max()  # the release surge


# -- no flow where there is none; hyperaemia where it belongs --------------------------------------


def coloured_fraction(frames: list[FlowFrame]) -> float:
    return float(np.mean([f.valid.mean() for f in frames]))


def test_a_thrombosed_vein_has_no_flow_while_its_artery_still_flows() -> None:
    normal, clotted = build_scene("groin"), build_scene("groin", "thrombosed_vein")
    cfv = tube_of(normal, "common femoral vein")
    pose = long_axis(cfv, 10.0)
    gate = gate_on_axis(cfv, pose)
    box = (gate - 4.0, gate + 4.0, 9.0, 29.0)
    assert coloured_fraction(colour(normal, pose, box)) > 0.3
    assert coloured_fraction(colour(clotted, pose, box)) == 0.0
    angle = flow_angle_deg(cfv, pose, STEER_DEG)
    lines = spectrum(clotted, pose, gate, seconds=2.0, prf_hz=5000.0, angle_deg=angle)
    assert sum(math.isfinite(ln.max_cm_s) for ln in lines) <= 0.02 * len(lines)
    cfa = tube_of(clotted, "common femoral artery")
    artery_pose = long_axis(cfa, 0.0)
    artery = spectrum(
        clotted, artery_pose, gate_on_axis(cfa, artery_pose), seconds=2.0, prf_hz=12000.0,
        angle_deg=flow_angle_deg(cfa, artery_pose, STEER_DEG), invert=True,
    )  # fmt: skip
    assert trace_series(artery).forward_cm_s.max() > 70.0


def test_a_partial_thrombus_leaves_flow_only_around_its_filling_defect() -> None:
    normal = build_scene("groin")
    cfv = tube_of(normal, "common femoral vein")
    # A thrombus filling the deep half of the vein's lumen, painted after (over) the lumen.
    thrombus = Structure("partial thrombus", Label.THROMBUS, Ellipsoid((10.0, 9.0, 26.0), (60.0, 6.5, 3.5)))
    scene = dataclasses.replace(normal, structures=(*normal.structures, thrombus))
    pose = ProbePose(position_mm=10.0, lateral_mm=9.0)  # long axis, unsteered: where the blood is
    request = IqRequest(
        DopplerMode.FLOW, Geometry.LINEAR, 81, 41, 12, 5000.0, 14.0, 30.0, 9.0, 29.0, 20.0, F0_MHZ
    )
    fmap = AnatomyIqModel().flow_map(request, SceneTruth(None, 40.0, WIDTH_MM, scene, pose))
    depths = np.linspace(14.0, 30.0, 81)
    flowing = depths[(fmap.channel == Flow.VEIN).any(axis=0)]
    _, centre = cfv.centre(np.float32([10.0]))
    assert flowing.size > 0 and flowing.max() < 23.0  # the blood passes above the defect only
    assert flowing.min() < float(centre[0]) - 4.0  # up to the superficial wall
    box = (16.0, 29.0, 9.0, 29.0)
    frames = colour(scene, pose, box)  # untilted, so rows are depths; the steered beam sees the flow
    rows = np.linspace(16.0, 29.0, frames[0].samples)
    coloured_rows = rows[np.mean([f.valid for f in frames], axis=0).mean(axis=0) > 0.2]
    assert coloured_rows.size > 0 and coloured_rows.max() < 23.5


def test_a_bakers_cyst_has_no_flow() -> None:
    scene = build_scene("popliteal", "bakers_cyst")
    pose = scene.views["posteromedial short axis"]
    box = (9.0, 26.0, 8.0, 30.0)  # the cyst fills the view's middle
    request = IqRequest(
        DopplerMode.FLOW, Geometry.LINEAR, 86, 45, 12, 2000.0, 9.0, 26.0, 8.0, 30.0, 0.0, F0_MHZ
    )
    fmap = AnatomyIqModel().flow_map(request, SceneTruth(None, 40.0, WIDTH_MM, scene, pose))
    assert np.count_nonzero(fmap.clutter < 0.01) > 0.3 * fmap.clutter.size  # the cyst's fluid is in the box
    assert (
        coloured_fraction(colour(scene, dataclasses.replace(pose, tilt_deg=TILT_DEG), box, prf_hz=2000.0))
        == 0
    )


@pytest.mark.parametrize(
    ("scene_id", "variant", "view", "box"),
    [
        ("ankle", "achilles_tendinosis", "Achilles long axis", (2.0, 14.0, 0.0, 38.0)),
        ("knee", "effusion", "suprapatellar long axis", (10.0, 28.0, 0.0, 38.0)),
        ("knee", "gout_double_contour", "suprapatellar long axis", (10.0, 28.0, 0.0, 38.0)),
    ],
)
def test_hyperaemia_shows_flow_spots_the_normal_tissue_lacks(
    scene_id: str, variant: str, view: str, box: tuple[float, float, float, float]
) -> None:
    inflamed, normal = build_scene(scene_id, variant), build_scene(scene_id)
    pose = inflamed.views[view]
    spots = colour(inflamed, pose, box, prf_hz=1000.0)
    assert coloured_fraction(colour(normal, pose, box, prf_hz=1000.0)) == 0.0
    coloured = np.mean([f.valid for f in spots], axis=0) > 0.5
    assert coloured.sum() >= 10  # several small spots, seen frame after frame
    speeds = np.abs(np.concatenate([f.velocity_cm_s[f.valid] for f in spots]))
    assert np.median(speeds) < 8.0  # slow flow
    assert not (coloured.all(axis=1).any() or coloured.all(axis=0).any())  # spots, not a sheet


def test_the_doppler_shift_follows_the_beam_to_vessel_angle() -> None:
    """f_d = 2 v cosθ f0 / c: steering the beam further down the vessel raises the measured speed by
    the ratio of the cosines, and the vein's flow toward the heart stays toward the probe."""
    scene = build_scene("groin")
    cfv = tube_of(scene, "common femoral vein")
    pose = long_axis(cfv, 10.0)
    gate = gate_on_axis(cfv, pose)
    model = AnatomyIqModel()
    truth = SceneTruth(None, 40.0, WIDTH_MM, scene, pose)
    speeds = {}
    for steer in (0.0, 20.0):
        request = IqRequest(
            DopplerMode.FLOW,
            Geometry.LINEAR,
            5,
            3,
            12,
            5000.0,
            gate - 0.4,
            gate + 0.4,
            18.5,
            19.5,
            steer,
            F0_MHZ,
        )
        frames = [
            ColorFlowProcessor().process(
                model.synthesize(request, truth, t), 5000.0, F0_MHZ, FlowBox(Geometry.LINEAR, 0, 1, 0, 1)
            )
            for t in np.arange(0.0, 8.0, 0.25)
        ]
        speeds[steer] = np.mean([np.median(f.velocity_cm_s) for f in frames])
    cosines = {s: math.cos(math.radians(flow_angle_deg(cfv, pose, s))) for s in speeds}
    assert speeds[0.0] > 0 and speeds[20.0] > 0
    assert speeds[20.0] / speeds[0.0] == pytest.approx(cosines[20.0] / cosines[0.0], rel=0.15)


# -- a DVT practice run through the real driver -----------------------------------------------------


@pytest.fixture
def groin_probe() -> Iterator[tuple[PlpProbeDriver, SimFirmware, SimulatorControl]]:
    """The simulated probe on the groin over the simulated USB bus, as fast as it can make data (its
    pw pulses run on its own scene clock, so seconds of spectrum take less than that to make)."""
    renderer = PatientRenderer("groin")
    firmware = SimFirmware(renderer, small_params(rows=128, cols=96), paced=False)
    driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(firmware)), device=firmware)
    yield driver, firmware, SimulatorControl(renderer, patient=firmware)
    driver.close()


def frames_after(driver: PlpProbeDriver, firmware: SimFirmware, count: int = 2) -> list[Frame]:
    """Frames rendered after now (the pose just changed), each read waiting on the link."""
    first = firmware.frame_seq
    got: list[Frame] = []
    deadline = time.monotonic() + 10.0
    while len(got) < count and time.monotonic() < deadline:
        got += [f for f in driver.read_frames(0.2) if f.seq > first]
        driver.read_iq()
    assert len(got) >= count
    return got


def iq_after(driver: PlpProbeDriver, first_seq: int, count: int) -> list[IqPacket]:
    """`count` IQ packets from seq `first_seq` on, in order and without a gap."""
    got: list[IqPacket] = []
    deadline = time.monotonic() + 30.0
    while len(got) < count and time.monotonic() < deadline:
        driver.read_frames(0.1)
        got += [p for p in driver.read_iq() if p.seq >= first_seq]
    assert len(got) >= count, f"{len(got)} of {count} IQ packets"
    assert [p.seq for p in got] == list(range(got[0].seq, got[0].seq + len(got)))
    return got


def lumen_grey(frame: Frame, x_mm: tuple[float, float], depth_mm: tuple[float, float]) -> float:
    dz, dx = frame.spacing_mm
    rows = slice(round(depth_mm[0] / dz), round(depth_mm[1] / dz))
    cols = slice(round(x_mm[0] / dx), round(x_mm[1] / dx))
    return float(np.asarray(frame.pixels)[rows, cols].mean())


def test_dvt_practice_run_compression_colour_and_spectral_with_augmentation_at_the_cfv(
    groin_probe: tuple[PlpProbeDriver, SimFirmware, SimulatorControl],
) -> None:
    driver, firmware, control = groin_probe
    driver.connect()
    # 1. Compression in short axis: the vein's black lumen fills with the tissue pressed into it.
    view = build_scene("groin").views["CFV short axis"]
    control.set_pose(**view.to_dict())
    cfv = tube_of(control_scene(control), "common femoral vein")
    _, centre_d = cfv.centre(np.float32([view.position_mm]))
    x = 9.0 - view.lateral_mm + WIDTH_MM / 2  # the vein's centre across the image
    region = ((x - 2.0, x + 2.0), (float(centre_d[0]) - 3.0, float(centre_d[0]) + 3.0))
    driver.start()
    open_grey = lumen_grey(frames_after(driver, firmware)[-1], *region)
    control.set_pose(pressure=0.7)
    pressed_grey = lumen_grey(frames_after(driver, firmware)[-1], *region)
    assert "common femoral vein" in control.view_truth().compressed_vessels
    assert pressed_grey > 2 * open_grey + 10, (open_grey, pressed_grey)
    # 2. Colour in long axis, heel-toed and steered down the vein: its flow toward the heart is red.
    pose = long_axis(cfv, 10.0)
    control.set_pose(**{**pose.to_dict(), "pressure": 0.0})
    gate = gate_on_axis(cfv, pose)
    for key, value in (
        (SettingKey.STEER_DEG, STEER_DEG), (SettingKey.BOX_TOP_MM, gate - 4.0),
        (SettingKey.BOX_BOTTOM_MM, gate + 4.0), (SettingKey.BOX_LEFT_MM, 9.0),
        (SettingKey.BOX_RIGHT_MM, 29.0), (SettingKey.PRF_HZ, 5000.0), (SettingKey.DOPPLER_MODE, 1.0),
    ):  # fmt: skip
        assert driver.set_setting(key, value) == pytest.approx(value)
    ensembles = iq_after(driver, firmware.iq_seq, 10)
    processor = ColorFlowProcessor()
    flows = [
        processor.process(
            p.iq, p.prf_hz, p.frequency_mhz, FlowBox(p.geometry, p.top_mm, p.bottom_mm, p.left, p.right)
        )
        for p in ensembles
    ]
    assert all(p.mode == DopplerMode.FLOW and p.top_mm == pytest.approx(gate - 4.0) for p in ensembles)
    assert coloured_fraction(flows) > 0.3
    assert np.median(np.concatenate([f.velocity_cm_s[f.valid] for f in flows])) > 0  # toward: red
    # 3. Spectral at the CFV, then a calf squeeze: the venous peak surges several-fold.
    prf = 10000.0
    for key, value in (
        (SettingKey.GATE_DEPTH_MM, gate), (SettingKey.GATE_SIZE_MM, 1.6), (SettingKey.GATE_LATERAL_MM, 19.0),
        (SettingKey.PRF_HZ, prf), (SettingKey.DOPPLER_MODE, 2.0),
    ):  # fmt: skip
        assert driver.set_setting(key, value) == pytest.approx(value)
    first = firmware.iq_seq
    per_s = prf / PW_PULSES
    baseline = iq_after(driver, first, round(3.5 * per_s))
    control.perform("augmentation")
    squeeze_s = (firmware.iq_seq - first) * PW_PULSES / prf  # on the spectrum's clock (± one packet)
    packets = [
        *baseline,
        *iq_after(driver, baseline[-1].seq + 1, firmware.iq_seq - first + round(3.2 * per_s) - len(baseline)),
    ]
    assert all(p.mode == DopplerMode.PW and p.prf_hz == prf for p in packets)
    spectral = Spectral(prf, F0_MHZ, SpectralSettings(angle_deg=flow_angle_deg(cfv, pose, STEER_DEG)))
    trace = trace_series([line for p in packets for line in spectral.feed(p.iq)])
    assert phasicity(trace.forward_cm_s, trace.times_s, end_s=squeeze_s).index > 0.4
    response = augmentation_response(trace.forward_cm_s, trace.times_s, squeeze_s)
    assert response.ratio >= 3.0 and 8.0 < response.baseline_cm_s < 20.0, response
    # 4. The thrombosed variant: the same gate hears no flow.
    control.set_scene("groin", "thrombosed_vein")
    control.set_pose(**pose.to_dict())
    frames_after(driver, firmware)  # the IQ follows the frames' ground truth
    clotted = iq_after(driver, firmware.iq_seq, round(1.5 * per_s))
    spectral = Spectral(prf, F0_MHZ, SpectralSettings(angle_deg=flow_angle_deg(cfv, pose, STEER_DEG)))
    lines = [line for p in clotted for line in spectral.feed(p.iq)]
    assert len(lines) > 100 and sum(math.isfinite(ln.max_cm_s) for ln in lines) <= 0.02 * len(lines)


def control_scene(control: SimulatorControl) -> Scene:
    scene_id, variant = control.current_scene()
    return build_scene(scene_id, variant)


def test_steering_the_other_way_turns_the_flow_colour_over() -> None:
    """Positive steer tilts the beam toward the last column (spec 10): down the limb, so a vein's flow
    toward the heart comes toward it; steered the other way the same flow goes away from it."""
    scene = build_scene("groin")
    pose = ProbePose(position_mm=10.0, lateral_mm=9.0)  # long axis on the CFV, the probe flat
    shifts = {}
    for steer in (-20.0, 20.0):
        request = IqRequest(
            DopplerMode.FLOW, Geometry.LINEAR, 5, 3, 12, 5000.0, 22.0, 23.0, 18.5, 19.5, steer, F0_MHZ
        )
        frames = [
            ColorFlowProcessor().process(
                AnatomyIqModel().synthesize(request, SceneTruth(None, 40.0, WIDTH_MM, scene, pose), t),
                5000.0, F0_MHZ, FlowBox(Geometry.LINEAR, 22.0, 23.0, 18.5, 19.5, steer),
            )
            for t in np.arange(0.0, 4.0, 0.5)
        ]  # fmt: skip
        shifts[steer] = float(np.mean([np.median(f.velocity_cm_s) for f in frames]))
    assert shifts[20.0] > 1.0 and shifts[-20.0] < -1.0
    assert abs(shifts[20.0]) == pytest.approx(abs(shifts[-20.0]), rel=0.2)
