"""Validation of the virtual patient's physics against reference/simulation.md §4 targets."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from drivers.sim import physics as ph
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from drivers.sim.tissues import Label
from scanner_app.frame import DataFormat, Geometry

# A patch of the QA phantom far from its cysts and wires: homogeneous, attenuation 0.5 dB/cm/MHz.
HOMOGENEOUS = ProbePose(position_mm=100.0)
ENV = DataFormat.ENVELOPE_U16


def envelope(renderer: PatientRenderer, **kw: object) -> tuple[npt.NDArray[np.float64], RenderParams]:
    params = RenderParams(data_format=ENV, **kw)  # type: ignore[arg-type]
    frame = renderer.render(params, 0.0)
    return np.asarray(frame.pixels, dtype=np.float64), params


def phantom(pose: ProbePose = HOMOGENEOUS) -> PatientRenderer:
    r = PatientRenderer("qa_phantom", seed=3)
    r.set_pose(pose)
    return r


def half_width(profile: npt.NDArray[np.float64]) -> float:
    """Full width at half maximum (in samples) of a peaked profile, by linear interpolation."""
    p = profile / profile.max()
    k = int(np.argmax(p))
    right = k
    while right + 1 < p.size and p[right + 1] >= 0.5:
        right += 1
    left = k
    while left - 1 >= 0 and p[left - 1] >= 0.5:
        left -= 1
    r = right + (p[right] - 0.5) / (p[right] - p[right + 1])
    l_ = left - (p[left] - 0.5) / (p[left] - p[left - 1])
    return float(r - l_)


def autocov_fwhm(env: npt.NDArray[np.float64], axis: int) -> float:
    x = env - env.mean()
    n = x.shape[axis]
    lags = np.arange(0, min(40, n // 4))
    ac = []
    for lag in lags:
        a = np.take(x, np.arange(0, n - lag), axis=axis)
        b = np.take(x, np.arange(lag, n), axis=axis)
        ac.append(float(np.mean(a * b)))
    acf = np.asarray(ac) / ac[0]
    sym = np.concatenate([acf[:0:-1], acf])
    return half_width(sym)


def test_speckle_snr_on_linear_envelope_is_rayleigh() -> None:
    env, _ = envelope(
        phantom(), rows=256, cols=256, depth_mm=20.0, width_mm=20.0, tgc_compensation_db_cm_mhz=0.5
    )
    region = env[40:220, 20:236]
    snr = region.mean() / region.std()
    assert snr == pytest.approx(1.91, abs=0.1)


def test_speckle_size_matches_configured_psf() -> None:
    params = dict(
        rows=400,
        cols=300,
        depth_mm=16.0,
        width_mm=15.0,
        frequency_mhz=5.0,
        focus_mm=11.0,
        tgc_compensation_db_cm_mhz=0.5,
    )
    env, p = envelope(phantom(), **params)
    region = env[252:298, 10:290]  # the lateral band centred at 11 mm, away from the edges
    psf = ph.Psf(p.frequency_mhz, p.focus_mm, p.bandwidth_frac, p.f_number)
    axial_mm = autocov_fwhm(region, axis=0) * p.depth_mm / p.rows
    lateral_mm = autocov_fwhm(region, axis=1) * p.width_mm / p.cols
    assert axial_mm == pytest.approx(psf.axial_fwhm_mm, rel=0.25)
    assert lateral_mm == pytest.approx(float(psf.lateral_fwhm_mm(11.0)), rel=0.25)


def gcnr(inside: npt.NDArray[np.float64], outside: npt.NDArray[np.float64]) -> float:
    bins = np.histogram_bin_edges(np.concatenate([inside, outside]), bins=100)
    hi, _ = np.histogram(inside, bins=bins)
    ho, _ = np.histogram(outside, bins=bins)
    return 1.0 - float(np.minimum(hi / hi.sum(), ho / ho.sum()).sum())


def test_six_mm_cyst_at_10_mhz_has_gcnr_above_0_9() -> None:
    # The 6 mm cyst of the phantom sits at s = 8 mm, 12 mm deep.
    env, p = envelope(phantom(ProbePose(position_mm=8.0)), rows=256, cols=256, depth_mm=20.0, width_mm=20.0)
    z = (np.arange(p.rows) + 1.0) * p.depth_mm / p.rows
    x = (np.arange(p.cols) + 0.5 - p.cols / 2) * p.width_mm / p.cols
    r = np.hypot(z[:, None] - 12.0, x[None, :])
    assert gcnr(env[r < 2.4], env[(r > 3.6) & (r < 5.0)]) >= 0.9


def row_mean_db(env: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 10.0 * np.log10(np.mean(env**2, axis=1))


def test_flat_tgc_brightness_falls_at_the_two_way_attenuation() -> None:
    env, p = envelope(
        phantom(),
        rows=200,
        cols=128,
        depth_mm=40.0,
        width_mm=20.0,
        frequency_mhz=5.0,
        tgc_compensation_db_cm_mhz=0.0,
    )
    z = (np.arange(p.rows) + 1.0) * p.depth_mm / p.rows
    keep = (z > 5) & (z < 38)
    slope_db_per_mm = np.polyfit(z[keep], row_mean_db(env)[keep], 1)[0]
    expected = -2.0 * 0.5 * p.frequency_mhz / 10.0
    assert slope_db_per_mm == pytest.approx(expected, rel=0.15)


def column_db(env: npt.NDArray[np.float64], rows: slice, cols: npt.NDArray[np.bool_]) -> float:
    return float(10.0 * np.log10(np.mean(env[rows][:, cols] ** 2)))


def test_bone_casts_a_shadow_at_least_20_db_deep() -> None:
    # Over the lower pole of the patella: bone on the left half of the image, tendon and fat pad beside.
    r = PatientRenderer("knee", seed=2)
    r.set_pose(ProbePose(position_mm=46.0))
    params = RenderParams(rows=200, cols=160, depth_mm=30.0, data_format=ENV)
    frame = r.render(params, 0.0)
    env = np.asarray(frame.pixels, dtype=np.float64)
    assert frame.labels is not None
    bone_above = (frame.labels[: params.rows // 2] == Label.BONE).any(axis=0)
    deep = slice(int(params.rows * 15 / 30), int(params.rows * 25 / 30))
    assert bone_above.sum() > 20 and (~bone_above).sum() > 20
    assert column_db(env, deep, ~bone_above) - column_db(env, deep, bone_above) >= 20.0


def test_fluid_enhances_what_lies_behind_it() -> None:
    # Columns through the 6 and 8 mm cysts (s = 5..9) vs columns through nothing (s = 13..17).
    env, p = envelope(phantom(ProbePose(position_mm=0.0)), rows=300, cols=190, depth_mm=36.0, width_mm=38.0)
    x = (np.arange(p.cols) + 0.5 - p.cols / 2) * p.width_mm / p.cols
    deep = slice(int(p.rows * 30 / 36), int(p.rows * 35 / 36))
    behind = (x > 5.5) & (x < 8.5)
    beside = (x > 13.5) & (x < 16.5)
    assert column_db(env, deep, behind) - column_db(env, deep, beside) >= 3.0


def tendon_minus_muscle_db(tilt_deg: float) -> float:
    # Achilles long axis where the tendon lies directly on muscle (proximal to Kager's fat pad).
    r = PatientRenderer("ankle", seed=4)
    r.set_pose(ProbePose(position_mm=-80.0, tilt_deg=tilt_deg))
    params = RenderParams(
        rows=160, cols=128, depth_mm=16.0, width_mm=20.0, frequency_mhz=12.0, data_format=ENV
    )
    frame = r.render(params, 0.0)
    assert frame.labels is not None
    power = np.asarray(frame.pixels, dtype=np.float64) ** 2
    return float(
        10 * np.log10(power[frame.labels == Label.TENDON].mean() / power[frame.labels == Label.MUSCLE].mean())
    )


def test_tendon_anisotropy_follows_crass() -> None:
    assert tendon_minus_muscle_db(0.0) > 3.0
    assert tendon_minus_muscle_db(8.0) < 0.0
    assert tendon_minus_muscle_db(12.0) < 0.0


def wire_widths_mm(frequency_mhz: float, focus_mm: float) -> dict[float, float]:
    """Lateral FWHM of the wire column (s = -15 mm) at each wire depth."""
    r = phantom(ProbePose(position_mm=-15.0))
    params = RenderParams(
        rows=500,
        cols=256,
        depth_mm=50.0,
        width_mm=10.0,
        frequency_mhz=frequency_mhz,
        focus_mm=focus_mm,
        data_format=ENV,
        tgc_compensation_db_cm_mhz=0.5,
    )
    frame = r.render(params, 0.0)
    env = np.asarray(frame.pixels, dtype=np.float64)
    widths = {}
    for depth in (10.0, 20.0, 40.0):
        row = round(depth / (params.depth_mm / params.rows)) - 1
        profile = env[row - 2 : row + 3].max(axis=0)
        widths[depth] = half_width(profile) * params.width_mm / params.cols
    return widths


def test_wire_lateral_width_at_focus_is_wavelength_times_f_number() -> None:
    widths = wire_widths_mm(10.0, focus_mm=20.0)
    wavelength_mm = ph.C_MM_PER_US / 10.0
    assert widths[20.0] == pytest.approx(wavelength_mm * 2.0, rel=0.25)
    assert widths[40.0] > 1.3 * widths[20.0]


def test_higher_frequency_resolves_finer_and_reaches_less_deep() -> None:
    assert wire_widths_mm(15.0, 20.0)[20.0] < 0.8 * wire_widths_mm(7.5, 20.0)[20.0]

    def reach_mm(frequency_mhz: float) -> float:
        params = RenderParams(
            rows=300,
            cols=64,
            depth_mm=120.0,
            width_mm=20.0,
            frequency_mhz=frequency_mhz,
            gain_db=40.0,
            tgc_compensation_db_cm_mhz=0.0,
            data_format=ENV,
        )
        env = np.asarray(phantom().render(params, 0.0).pixels, dtype=np.float64)
        noise_power = (ph.ENVELOPE_SCALE**2) * 10 ** ((ph.NOISE_DB + params.gain_db) / 10)
        below = np.flatnonzero(np.mean(env**2, axis=1) < 4.0 * noise_power)
        return float((below[0] + 1) * params.depth_mm / params.rows) if below.size else params.depth_mm

    shallow, deep = reach_mm(15.0), reach_mm(7.5)
    assert shallow < 0.7 * deep


def lumen_pixels(variant: str | None, pressure: float) -> int:
    r = PatientRenderer("groin", variant, seed=5)
    r.set_pose(ProbePose(position_mm=0.0, lateral_mm=4.0, rotation_deg=90.0, pressure=pressure))
    frame = r.render(RenderParams(rows=200, cols=160, depth_mm=40.0), 0.0)
    assert frame.labels is not None
    label = Label.THROMBUS if variant == "thrombosed_vein" else Label.VEIN_LUMEN
    return int(np.count_nonzero(frame.labels == label))


def test_patent_vein_collapses_and_thrombosed_vein_does_not() -> None:
    open_area, pressed_area = lumen_pixels(None, 0.0), lumen_pixels(None, 1.0)
    assert open_area > 500
    assert pressed_area <= 0.1 * open_area
    clot_open, clot_pressed = lumen_pixels("thrombosed_vein", 0.0), lumen_pixels("thrombosed_vein", 1.0)
    assert clot_open > 500
    assert clot_pressed >= 0.8 * clot_open


def test_same_pose_and_seed_give_bit_identical_frames() -> None:
    params = RenderParams(rows=96, cols=80, depth_mm=30.0)
    for fmt in DataFormat:
        p = dataclasses.replace(params, data_format=fmt)
        a = PatientRenderer("knee", seed=9).render(p, 0.5)
        b = PatientRenderer("knee", seed=9).render(p, 0.5)
        assert np.array_equal(a.pixels, b.pixels)
        c = PatientRenderer("knee", seed=10).render(p, 0.5)
        assert not np.array_equal(a.pixels, c.pixels)


@pytest.mark.parametrize("rotation_deg", [0.0, 90.0])
def test_a_1_mm_slide_gives_the_same_speckle_shifted(rotation_deg: float) -> None:
    # 0.1 mm per line, so 1 mm is 10 lines; in long axis the slide is along the limb, in short axis across.
    params = RenderParams(rows=160, cols=200, depth_mm=20.0, width_mm=20.0, data_format=ENV)
    start = dataclasses.replace(HOMOGENEOUS, rotation_deg=rotation_deg)
    moved = start.nudged(position_mm=1.0) if rotation_deg == 0.0 else start.nudged(lateral_mm=1.0)
    r = phantom(start)
    a = np.asarray(r.render(params, 0.0).pixels, dtype=np.float64)
    r.set_pose(moved)
    b = np.asarray(r.render(params, 0.0).pixels, dtype=np.float64)
    overlap_a, overlap_b = a[20:140, 10 + 20 : 180], b[20:140, 20:170]
    assert np.corrcoef(overlap_a.ravel(), overlap_b.ravel())[0, 1] >= 0.95


def test_tgc_and_gain_act_in_db() -> None:
    r = phantom()
    base = RenderParams(rows=160, cols=64, depth_mm=40.0, data_format=ENV)
    a = np.asarray(r.render(base, 0.0).pixels, dtype=np.float64)
    boosted = dataclasses.replace(base, gain_db=6.0, tgc_db=(0, 0, 0, 0, 0, 0, 10, 10))
    b = np.asarray(r.render(boosted, 0.0).pixels, dtype=np.float64)
    gain = row_mean_db(b) - row_mean_db(a)
    assert gain[10:40].mean() == pytest.approx(6.0, abs=0.3)  # shallow: gain only
    assert gain[-15:].mean() == pytest.approx(16.0, abs=0.5)  # deepest band: gain + TGC


def test_bmode_dynamic_range_and_formats() -> None:
    r = phantom(ProbePose(position_mm=8.0))
    params = RenderParams(rows=128, cols=128, depth_mm=20.0, width_mm=20.0)
    frame = r.render(params, 0.0)
    assert frame.pixels.dtype == np.uint8 and frame.pixels.shape == (128, 128)
    assert frame.width_mm == 20.0 and frame.labels is not None and frame.labels.shape == (128, 128)
    narrow = r.render(dataclasses.replace(params, dynamic_range_db=30.0), 0.0)
    assert np.std(narrow.pixels.astype(float)) > np.std(frame.pixels.astype(float))
    rf = r.render(
        dataclasses.replace(params, data_format=DataFormat.RF_I16, rows=512, sampling_mhz=40.0), 0.0
    )
    assert rf.pixels.dtype == np.int16 and rf.sampling_mhz == 40.0
    assert rf.depth_mm == pytest.approx(512 * ph.C_MM_PER_US / 80.0)
    spectrum = np.abs(np.fft.rfft(rf.pixels.astype(float), axis=0)).mean(axis=1)
    peak_mhz = np.argmax(spectrum[1:]) + 1
    assert peak_mhz * 40.0 / 512 == pytest.approx(10.0, rel=0.15)  # carrier at the transmit frequency


def test_convex_bmode_is_scan_converted_and_envelope_is_beam_lines() -> None:
    r = PatientRenderer("hip", seed=1)
    params = RenderParams(
        rows=120,
        cols=100,
        depth_mm=60.0,
        frequency_mhz=5.0,
        geometry=Geometry.CONVEX,
        fov_deg=60.0,
        radius_mm=45.0,
    )
    bmode = r.render(params, 0.0)
    assert bmode.width_mm == pytest.approx(2 * (45.0 + 60.0) * np.sin(np.radians(30.0)))
    assert bmode.pixels[-1, 0] == 0 and bmode.pixels[-1, -1] == 0  # outside the sector
    env = r.render(dataclasses.replace(params, data_format=ENV), 0.0)
    assert env.fov_deg == 60.0 and env.radius_mm == 45.0 and env.pixels.shape == (120, 100)


def test_bad_params_are_rejected_with_the_field_named() -> None:
    r = phantom()
    with pytest.raises(ValueError, match="frequency_mhz"):
        r.render(RenderParams(frequency_mhz=0.0), 0.0)
    with pytest.raises(ValueError, match="tgc_db"):
        r.render(RenderParams(tgc_db=(0.0,) * 3), 0.0)


def test_compression_keeps_the_artery_and_the_skin() -> None:
    def labels_at(pressure: float) -> npt.NDArray[np.uint8]:
        r = PatientRenderer("groin", seed=5)
        r.set_pose(ProbePose(position_mm=0.0, lateral_mm=4.0, rotation_deg=90.0, pressure=pressure))
        frame = r.render(RenderParams(rows=200, cols=160, depth_mm=40.0), 0.0)
        assert frame.labels is not None
        return frame.labels

    relaxed, pressed = labels_at(0.0), labels_at(1.0)
    artery = int(np.count_nonzero(relaxed == Label.ARTERY_LUMEN))
    assert artery > 200
    assert np.count_nonzero(pressed == Label.ARTERY_LUMEN) >= 0.9 * artery
    skin_rows = slice(0, 8)  # 1.6 mm: inside the 1.8 mm skin
    assert np.array_equal(relaxed[skin_rows], pressed[skin_rows])


@pytest.mark.parametrize("lines", [37, 256, 512])
def test_banded_convolutions_match_a_direct_convolution(lines: int) -> None:
    # The PSF convolutions run as banded matrix products per block: check them against np.convolve.
    psf = ph.Psf(10.0, 20.0, 0.6, 2.0)
    grid = ph.BeamGrid(Geometry.LINEAR, 200, lines, 40.0, 38.0, 60.0, 40.0, 0, 0)
    kernels = ph.lateral_kernels(psf, grid)
    pad = max(k.size // 2 for k in kernels)
    axial = ph.axial_kernel(psf, grid.dz_mm)
    half = axial.size // 2
    rng = np.random.default_rng(1)
    shape = (200 + 2 * half, lines + 2 * pad)
    field = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    got_axial = ph.convolve_axial(field, axial)
    want_axial = np.stack([np.convolve(field[:, j], axial, "valid") for j in range(shape[1])], axis=1)
    np.testing.assert_allclose(got_axial, want_axial, rtol=0, atol=1e-5)
    got = ph.convolve_lateral(got_axial, kernels, pad)
    edges = np.linspace(0, 200, len(kernels) + 1).round().astype(int)
    for band, k in enumerate(kernels):
        for r in range(int(edges[band]), int(edges[band + 1])):
            h = k.size // 2
            want = np.convolve(want_axial[r, pad - h : pad + lines + h], k, "valid")
            np.testing.assert_allclose(got[r], want, rtol=0, atol=1e-5)
