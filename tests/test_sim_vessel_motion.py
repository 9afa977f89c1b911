"""Vessels that move in the rendered image: arteries pulse with the heart, veins breathe, a thrombosed
vein stays put, and compression still closes every patent vein at every phase. Checked on the
renderer's ground-truth labels and pixels against the waveforms of drivers/sim/vessel_motion.py."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from drivers.sim import vessel_motion as vm
from drivers.sim.anatomy import (
    CARDIAC_PHASES,
    RESPIRATORY_PHASES,
    Scene,
    VesselKind,
    VesselPhase,
    compress_vessels,
    paint,
    vessel_phase,
    vessels_in_phase,
)
from drivers.sim.doppler_iq import AnatomyIqModel, IqRequest, SceneTruth
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderedFrame, RenderParams
from drivers.sim.scenes import SCENES, build_scene
from drivers.sim.shapes import Tube
from drivers.sim.tissues import Label
from scanner_app.doppler import DopplerMode
from scanner_app.frame import Geometry
from tests.sim_support import count_cell_columns, count_painted_cells

HEART_S = 60.0 / vm.HEART_RATE_PER_MIN
BREATH_S = 60.0 / vm.RESPIRATORY_RATE_PER_MIN
PARAMS = RenderParams(rows=320, cols=256, depth_mm=40.0)
VIEWS = [("groin", "CFV short axis"), ("popliteal", "popliteal short axis")]


def _bin_centres(period_s: float, bins: int) -> npt.NDArray[np.float64]:
    return (np.arange(bins) + 0.5) / bins * period_s


def _cardiac_scales() -> npt.NDArray[np.float64]:
    """The artery's diameter scale at the centre of each cardiac bin, from the waveform itself."""
    return np.array([vm.arterial_diameter_scale(float(t)) for t in _bin_centres(HEART_S, CARDIAC_PHASES)])


def _breath_scales() -> npt.NDArray[np.float64]:
    """A leg vein's diameter scale at the centre of each respiratory bin."""
    return np.array([vm.venous_diameter_scale(float(t)) for t in _bin_centres(BREATH_S, RESPIRATORY_PHASES)])


def _time_in(cardiac: int, respiratory: int) -> float:
    """A scene time that falls in both bins (the cycles repeat together every 12 s)."""
    for t in np.arange(0.0, 12.0, 0.002):
        if vessel_phase(float(t)) == VesselPhase(cardiac, respiratory):
            return float(t)
    raise AssertionError((cardiac, respiratory))


EXTREMES = [  # (cardiac bin, respiratory bin): systole / end diastole x inspiration / expiration
    (int(np.argmax(_cardiac_scales())), int(np.argmax(_breath_scales()))),
    (int(np.argmax(_cardiac_scales())), int(np.argmin(_breath_scales()))),
    (int(np.argmin(_cardiac_scales())), int(np.argmax(_breath_scales()))),
    (int(np.argmin(_cardiac_scales())), int(np.argmin(_breath_scales()))),
]


def _renderer(scene_id: str, view: str, variant: str | None = None, pressure: float = 0.0) -> PatientRenderer:
    r = PatientRenderer(scene_id, variant, seed=5)
    pose = SCENES[scene_id].views[view]
    r.set_pose(ProbePose(pose.position_mm, pose.lateral_mm, pose.rotation_deg, 0.0, pressure))
    return r


def _area(frame: RenderedFrame, label: Label) -> int:
    assert frame.labels is not None
    return int(np.count_nonzero(frame.labels == label))


@pytest.mark.parametrize(("scene_id", "view"), VIEWS)
def test_the_artery_in_the_labels_pulses_with_the_heart_by_the_waveforms_distension(
    scene_id: str, view: str
) -> None:
    r = _renderer(scene_id, view)
    step = HEART_S / CARDIAC_PHASES  # one frame in each cardiac bin (at its centre), two and a half beats
    times = np.arange(0.5, 2.5 * CARDIAC_PHASES) * step
    area = np.array([_area(r.render(PARAMS, float(t)), Label.ARTERY_LUMEN) for t in times])
    assert area.min() > 500
    swing = area.max() / area.min() - 1.0
    scales = _cardiac_scales()
    expected = (scales.max() / scales.min()) ** 2 - 1.0  # area goes as the diameter squared
    assert 0.05 <= swing <= 0.2, swing  # a physiologic pulsation, not a jump nor a still vessel
    assert swing == pytest.approx(expected, abs=0.03), (swing, expected)
    # Periodic with the heartbeat: one period later the artery has the same area, half a period not
    # (up to the few edge pixels a breathing vein beside it paints over).
    lag = CARDIAC_PHASES
    assert np.all(np.abs(area[lag:] - area[:-lag]) <= 0.02 * area.min())
    half = round(HEART_S / 2 / step)
    assert np.max(np.abs(area[half:] - area[:-half])) > 0.5 * (area.max() - area.min())
    # Fast upstroke, slow run-off: the area rises to its peak in well under half the cycle.
    first = area[:lag]
    assert np.argmax(first) < 0.3 * lag


@pytest.mark.parametrize(("scene_id", "view"), VIEWS)
def test_the_vein_breathes_with_the_respiratory_period_not_the_heartbeat(scene_id: str, view: str) -> None:
    r = _renderer(scene_id, view)
    step = BREATH_S / RESPIRATORY_PHASES / 2  # two frames in each breath bin, one and a half breaths
    times = np.arange(0.25, 3 * RESPIRATORY_PHASES) * step
    area = np.array([_area(r.render(PARAMS, float(t)), Label.VEIN_LUMEN) for t in times])
    assert area.min() > 500
    scales = _breath_scales()
    expected = (scales.max() / scales.min()) ** 2 - 1.0
    swing = area.max() / area.min() - 1.0
    assert swing == pytest.approx(expected, abs=0.06), (swing, expected)
    lag = round(BREATH_S / step)
    assert np.all(np.abs(area[lag:] - area[:-lag]) <= 0.01 * area.min())
    # The two frames in each breath bin fall in different cardiac bins: the heart does not move the vein.
    assert np.all(np.abs(area[0::2] - area[1::2]) <= 0.01 * area.min())
    beats = [
        vessel_phase(float(a)).cardiac != vessel_phase(float(b)).cardiac
        for a, b in zip(times[0::2], times[1::2], strict=True)
    ]
    assert sum(beats) > 0.8 * len(beats)


def test_a_thrombosed_vein_stays_still_while_the_artery_beside_it_pulses() -> None:
    r = _renderer("groin", "CFV short axis", "thrombosed_vein")
    times = np.arange(0.0, BREATH_S, BREATH_S / 40)
    frames = [r.render(PARAMS, float(t)) for t in times]
    clot = np.array([_area(f, Label.THROMBUS) for f in frames])
    artery = np.array([_area(f, Label.ARTERY_LUMEN) for f in frames])
    assert clot.min() > 500
    assert clot.max() == clot.min()
    first = frames[0].labels
    assert first is not None
    assert all(np.array_equal(f.labels == Label.THROMBUS, first == Label.THROMBUS) for f in frames)
    assert artery.max() > 1.05 * artery.min()


@pytest.mark.parametrize(("scene_id", "view"), VIEWS)
def test_the_image_follows_the_moving_lumen(scene_id: str, view: str) -> None:
    """Pixels that are lumen in one phase and wall or tissue in another are darker when they are lumen."""
    r = _renderer(scene_id, view)
    (big_c, big_r), _, _, (small_c, small_r) = EXTREMES
    wide, narrow = r.render(PARAMS, _time_in(big_c, big_r)), r.render(PARAMS, _time_in(small_c, small_r))
    assert wide.labels is not None and narrow.labels is not None
    for label in (Label.ARTERY_LUMEN, Label.VEIN_LUMEN):
        inside_wide, inside_narrow = wide.labels == label, narrow.labels == label
        ring = inside_wide & ~inside_narrow  # lumen only in the wide phase
        assert np.count_nonzero(ring) > 0.05 * np.count_nonzero(inside_narrow), label
        grey_wide = float(wide.pixels[ring].mean())
        grey_narrow = float(narrow.pixels[ring].mean())
        assert grey_wide < grey_narrow - 15.0, (label, grey_wide, grey_narrow)
        for frame, inside in ((wide, inside_wide), (narrow, inside_narrow)):
            outside = _around(inside, 8) & ~inside
            assert float(frame.pixels[inside].mean()) < float(frame.pixels[outside].mean()) - 30.0, label


def _around(mask: npt.NDArray[np.bool_], pixels: int) -> npt.NDArray[np.bool_]:
    """`mask` grown by `pixels` in rows and columns (a box dilation)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    out = np.zeros_like(mask)
    out[
        max(0, rows[0] - pixels) : rows[-1] + pixels + 1,
        max(0, cols[0] - pixels) : cols[-1] + pixels + 1,
    ] = True
    return out


def _vein_sections() -> list[tuple[str, int]]:
    return [
        (scene_id, i)
        for scene_id in SCENES
        for i, st in enumerate(build_scene(scene_id).structures, start=1)
        if st.vessel is VesselKind.VEIN and isinstance(st.shape, Tube)
    ]


def _section(
    scene: Scene, coords: tuple[npt.NDArray[np.float32], ...], pressure: float
) -> npt.NDArray[np.intp]:
    """Pixels of each structure in the short-axis section `coords` (s, t row, d column) under pressure."""
    s, t, d = coords
    dd = compress_vessels(scene, pressure, s, t, d)
    index = paint(scene, s, t, np.broadcast_to(dd, np.broadcast_shapes(t.shape, dd.shape)))
    return np.bincount(index.ravel(), minlength=len(scene.structures) + 1)


@pytest.mark.parametrize(("scene_id", "vein"), _vein_sections())
def test_every_patent_vein_closes_and_its_artery_stays_whole_at_every_extreme_phase(
    scene_id: str, vein: int
) -> None:
    base = build_scene(scene_id)
    for cardiac, respiratory in EXTREMES:
        scene = vessels_in_phase(base, VesselPhase(cardiac, respiratory))
        shape = scene.structures[vein - 1].shape
        assert isinstance(shape, Tube)
        s_mm = 0.5 * (shape.s_pts[0] + shape.s_pts[-1])
        tc, dc = (float(x) for x in shape.centre(np.float32(s_mm)))
        s = np.full((1, 1), s_mm, dtype=np.float32)
        t = (tc + np.arange(-20.0, 20.0, 0.1, dtype=np.float32))[None, :]
        d = np.arange(0.0, dc + 20.0, 0.1, dtype=np.float32)[:, None]

        relaxed, pressed = _section(scene, (s, t, d), 0.0), _section(scene, (s, t, d), 1.0)
        phase = (scene_id, scene.structures[vein - 1].name, cardiac, respiratory)
        assert relaxed[vein] > 100, phase
        assert pressed[vein] <= 0.1 * relaxed[vein], (*phase, relaxed[vein], pressed[vein])
        for j, st in enumerate(scene.structures, start=1):
            if st.vessel is VesselKind.ARTERY and relaxed[j] > 50:
                assert 0.9 <= pressed[j] / relaxed[j] <= 1.02, (*phase, st.name, relaxed[j], pressed[j])


@pytest.mark.parametrize(
    ("scene_id", "view"),
    [*VIEWS, ("thigh", "femoral vein short axis"), ("arm_veins", "axillary vein short axis")],
)
def test_rendered_compression_shuts_the_vein_and_keeps_the_artery_at_every_extreme_phase(
    scene_id: str, view: str
) -> None:
    relaxed, pressed = _renderer(scene_id, view), _renderer(scene_id, view, pressure=1.0)
    for cardiac, respiratory in EXTREMES:
        t = _time_in(cardiac, respiratory)
        a, b = relaxed.render(PARAMS, t), pressed.render(PARAMS, t)
        vein_open, vein_shut = _area(a, Label.VEIN_LUMEN), _area(b, Label.VEIN_LUMEN)
        artery_open, artery_pressed = _area(a, Label.ARTERY_LUMEN), _area(b, Label.ARTERY_LUMEN)
        assert vein_open > 300 and artery_open > 150
        assert vein_shut <= 0.1 * vein_open, (cardiac, respiratory, vein_open, vein_shut)
        assert 0.9 * artery_open <= artery_pressed <= 1.02 * artery_open, (cardiac, respiratory)


def test_a_phase_change_recomputes_only_the_columns_the_vessels_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A held probe over the groin: a new phase repaints the vessels' columns, not the whole plane,
    and gives the same bits as a renderer that draws that phase afresh."""
    computed = count_cell_columns(monkeypatch)
    held = _renderer("groin", "CFV short axis")
    first = held.render(PARAMS, 0.0)
    whole = sum(computed)
    assert first.labels is not None
    # Only the heart's phase changes, then the breath's too: the arteries' columns, then the veins' also.
    for t, most in ((_time_in(2, 0), 0.5), (_time_in(5, 0), 0.5), (_time_in(5, 8), 0.8)):
        computed.clear()
        got = held.render(PARAMS, t)
        assert 0 < sum(computed) < most * whole, (t, sum(computed), whole)
        want = _renderer("groin", "CFV short axis").render(PARAMS, t)
        assert np.array_equal(got.pixels, want.pixels)
        assert got.labels is not None and want.labels is not None
        assert np.array_equal(got.labels, want.labels)
    # A view of the same scene away from its vessels: a new phase leaves its anatomy as it was.
    away = _renderer("hip", "greater trochanter short axis")
    away.render(PARAMS, 0.0)
    computed.clear()
    away.render(PARAMS, HEART_S * 0.12)
    assert computed == []


def test_a_phase_change_along_a_vessel_repaints_only_the_rows_it_reaches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A held probe along the popliteal vein: the vein runs through every column, so a new phase
    reaches them all, but only the rows about the vessels are painted again; same bits as afresh."""
    painted = count_painted_cells(monkeypatch)
    held = _renderer("popliteal", "popliteal vein long axis")
    held.render(PARAMS, 0.0)
    whole = sum(painted)
    for t in (_time_in(0, 8), _time_in(6, 8)):  # the breath moves the vein, then the heart the artery
        painted.clear()
        got = held.render(PARAMS, t)
        assert 0 < sum(painted) < 0.6 * whole, (t, sum(painted), whole)
        want = _renderer("popliteal", "popliteal vein long axis").render(PARAMS, t)
        assert np.array_equal(got.pixels, want.pixels)
        assert got.labels is not None and want.labels is not None
        assert np.array_equal(got.labels, want.labels)


def test_a_phase_change_under_pressure_repaints_only_about_the_vessels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pressing in the calf (six veins in view): each new phase paints again only the cells about the
    vessels that changed, and only since the frame before (not since the press began); same bits as
    a renderer that draws that phase and pressure afresh."""
    painted = count_painted_cells(monkeypatch)
    held = _renderer("calf", "posterior tibial veins short axis")
    held.render(PARAMS, 0.0)
    whole = sum(painted)
    pressed = held.pose.nudged(pressure=0.5)
    held.set_pose(pressed)
    held.render(PARAMS, _time_in(0, 0))
    # The heart's phase, then the breath's too, then the heart's alone: its arteries are small.
    for t, most in ((_time_in(3, 0), 0.06), (_time_in(3, 5), 0.3), (_time_in(4, 5), 0.06)):
        painted.clear()
        got = held.render(PARAMS, t)
        assert 0 < sum(painted) < most * whole, (t, sum(painted), whole)
        fresh = _renderer("calf", "posterior tibial veins short axis")
        fresh.set_pose(pressed)
        want = fresh.render(PARAMS, t)
        assert np.array_equal(got.pixels, want.pixels)
        assert got.labels is not None and want.labels is not None
        assert np.array_equal(got.labels, want.labels)


def test_doppler_sees_the_vessels_where_the_b_mode_draws_them() -> None:
    """The colour box over the CFA at systole and at end diastole: blood where the labels' lumen is."""
    scene_id, view = VIEWS[0]
    r = _renderer(scene_id, view)
    pose = r.pose
    request = IqRequest(
        DopplerMode.FLOW, Geometry.LINEAR, PARAMS.rows, PARAMS.cols, 8, 4000.0,
        0.0, PARAMS.depth_mm, 0.0, PARAMS.width_mm, 0.0, 6.0,
    )  # fmt: skip
    model = AnatomyIqModel()
    (sys_c, _), _, (dia_c, _), _ = EXTREMES
    blood_area = []
    for cardiac in (sys_c, dia_c):
        t = _time_in(cardiac, 0)
        frame = r.render(PARAMS, t)
        assert frame.labels is not None
        truth = SceneTruth(frame.labels, PARAMS.depth_mm, PARAMS.width_mm, r.scene, pose)
        artery_blood = (model.flow_map(request, truth, t).channel.T == 1).astype(float)  # (samples, lines)
        lumen = (frame.labels == Label.ARTERY_LUMEN).astype(float)
        # The IQ samples and the B-mode pixels sit on slightly different grids: compare areas and centres.
        assert artery_blood.sum() == pytest.approx(lumen.sum(), rel=0.04), cardiac
        for axis in (0, 1):
            at = np.arange(lumen.shape[axis])
            centre_blood = float((artery_blood.sum(axis=1 - axis) * at).sum() / artery_blood.sum())
            centre_lumen = float((lumen.sum(axis=1 - axis) * at).sum() / lumen.sum())
            assert centre_blood == pytest.approx(centre_lumen, abs=1.5)
        blood_area.append(float(artery_blood.sum()))
    assert blood_area[0] > 1.1 * blood_area[1]  # the Doppler's artery pulses too


@pytest.mark.parametrize(
    ("geometry", "tilt_deg"), [(Geometry.LINEAR, 15.0), (Geometry.CONVEX, 0.0), (Geometry.CONVEX, -10.0)]
)
def test_a_phase_change_on_a_tilted_or_convex_plane_recomputes_only_the_vessels_columns(
    geometry: Geometry, tilt_deg: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cells on the beam grid itself (heel-toed for Doppler, a curved array): the same saving and bits."""
    computed = count_cell_columns(monkeypatch)
    params = RenderParams(rows=160, cols=128, depth_mm=40.0, geometry=geometry)
    view = SCENES["groin"].views["CFV short axis"]
    pose = ProbePose(view.position_mm, view.lateral_mm, view.rotation_deg, tilt_deg, 0.0)
    held = PatientRenderer("groin", seed=5)
    held.set_pose(pose)
    held.render(params, 0.0)
    whole = sum(computed)
    for t in (_time_in(3, 0), _time_in(3, 9)):
        computed.clear()
        got = held.render(params, t)
        assert 0 < sum(computed) < 0.8 * whole, (t, sum(computed), whole)
        fresh = PatientRenderer("groin", seed=5)
        fresh.set_pose(pose)
        want = fresh.render(params, t)
        assert np.array_equal(got.pixels, want.pixels)
        assert got.labels is not None and want.labels is not None
        assert np.array_equal(got.labels, want.labels)
