"""The speckle moves with the probe (issue 13): a 3-D scatterer field fixed in the patient, sampled at the
exact beam positions and integrated over the elevation slice.

Numbers measured here, on the app's default line pitch (512 lines over 38 mm) and an odd one:
- in-plane slides of any size up to 2 mm translate the speckle (overlap correlation >= 0.95; 0.02 mm
  >= 0.99), in long axis (along the limb) and short axis (across it);
- out-of-plane moves decorrelate it gradually: half the slice thickness 0.2..0.8, twice < 0.2;
- partial volume: a 2 mm cyst is not black where the slice is thicker than it, and is where the slice is
  thinner; a 6 mm cyst keeps gCNR >= 0.9.
The convex probe samples the same field along its fan: slides up to 2 mm >= 0.92 over the overlap
(0.94-0.95 measured), elevation moves and partial volume as above, speckle SNR still Rayleigh.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from drivers.sim import physics as ph
from drivers.sim.anatomy import Structure
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from drivers.sim.shapes import Ellipsoid
from drivers.sim.tissues import Label
from scanner_app.frame import DataFormat, Geometry

ENV = DataFormat.ENVELOPE_U16
HOMOGENEOUS_S_MM = 100.0  # a patch of the QA phantom far from its cysts and wires
DEFAULT_PITCH = {"cols": 512, "width_mm": 38.0}  # the app's default linear probe
ODD_PITCH = {"cols": 301, "width_mm": 25.3}  # 0.08405 mm: no slide below divides into it
SLIDES_MM = (0.02, 0.13, 0.41, 0.61, 1.0, 1.29, 1.66, 1.95)  # none within 0.09 line of a whole line
FAN_DEG, FAN_RADIUS_MM = 60.0, 40.0  # the simulated C5-2
CONVEX = {"geometry": Geometry.CONVEX, "fov_deg": FAN_DEG, "radius_mm": FAN_RADIUS_MM}


def envelope(renderer: PatientRenderer, pose: ProbePose, **kw: object) -> npt.NDArray[np.float64]:
    renderer.set_pose(pose)
    params = RenderParams(data_format=ENV, **kw)  # type: ignore[arg-type]
    return np.asarray(renderer.render(params, 0.0).pixels, dtype=np.float64)


def correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def overlap_correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], shift_lines: int) -> float:
    """Correlation of frame a with frame b moved `shift_lines` to the right (the nearest whole line)."""
    rows = slice(10, a.shape[0] - 10)
    edge = 12  # lines the lateral PSF half-width spoils at the frame's edges
    n = a.shape[1] - shift_lines - 2 * edge
    return correlation(a[rows, edge + shift_lines : edge + shift_lines + n], b[rows, edge : edge + n])


@pytest.mark.parametrize("rotation_deg", [0.0, 90.0])
@pytest.mark.parametrize("pitch", [DEFAULT_PITCH, ODD_PITCH], ids=["512-over-38mm", "301-over-25.3mm"])
def test_in_plane_slides_of_any_size_translate_the_speckle(
    rotation_deg: float, pitch: dict[str, float]
) -> None:
    params = {"rows": 160, "depth_mm": 16.0, **pitch}
    line_mm = pitch["width_mm"] / pitch["cols"]
    start = ProbePose(position_mm=HOMOGENEOUS_S_MM, rotation_deg=rotation_deg)
    r = PatientRenderer("qa_phantom", seed=3)
    a = envelope(r, start, **params)
    seen = {}
    for slide in SLIDES_MM:
        moved = start.nudged(position_mm=slide) if rotation_deg == 0.0 else start.nudged(lateral_mm=slide)
        b = envelope(r, moved, **params)
        seen[slide] = overlap_correlation(a, b, round(slide / line_mm))
    assert all(abs(s / line_mm - round(s / line_mm)) > 0.09 for s in SLIDES_MM)
    assert seen[0.02] >= 0.99, seen
    assert min(seen.values()) >= 0.95, seen


def test_the_slide_test_can_tell_a_moved_speckle_from_a_new_one() -> None:
    # The same slide against a different patient (seed): the overlap measure must not pass it.
    params = {"rows": 160, "depth_mm": 16.0, **DEFAULT_PITCH}
    pose = ProbePose(position_mm=HOMOGENEOUS_S_MM)
    a = envelope(PatientRenderer("qa_phantom", seed=3), pose, **params)
    b = envelope(PatientRenderer("qa_phantom", seed=4), pose.nudged(position_mm=1.0), **params)
    assert overlap_correlation(a, b, round(1.0 / (38.0 / 512))) < 0.2


def elevation_correlations(
    rotation_deg: float, depth_mm: float, frequency_mhz: float = 10.0, probe: dict[str, object] | None = None
) -> dict[float, float]:
    """Correlation of the speckle band around depth_mm after out-of-plane moves, in slice thicknesses.

    Rows are 0.1 mm of range: on a convex fan the band is an arc, all of its lines taken.
    """
    params = {"rows": 320, "depth_mm": 32.0, "frequency_mhz": frequency_mhz, **(probe or DEFAULT_PITCH)}
    slice_mm = float(ph.elevation_fwhm_mm(frequency_mhz, depth_mm))
    start = ProbePose(position_mm=HOMOGENEOUS_S_MM, rotation_deg=rotation_deg)
    r = PatientRenderer("qa_phantom", seed=3)
    a = envelope(r, start, **params)
    z = (np.arange(320) + 1.0) * 0.1
    band = (z > depth_mm - 1.5) & (z < depth_mm + 1.5)
    out = {}
    for fraction in (0.25, 0.5, 1.0, 2.0):
        step = fraction * slice_mm
        moved = start.nudged(lateral_mm=step) if rotation_deg == 0.0 else start.nudged(position_mm=step)
        out[fraction] = correlation(a[band], envelope(r, moved, **params)[band])
    return out


@pytest.mark.parametrize(("rotation_deg", "depth_mm"), [(0.0, 18.0), (0.0, 6.0), (90.0, 12.0), (90.0, 28.0)])
def test_out_of_plane_moves_decorrelate_gradually_over_the_slice(
    rotation_deg: float, depth_mm: float
) -> None:
    seen = elevation_correlations(rotation_deg, depth_mm)
    assert 0.2 <= seen[0.5] <= 0.8, seen
    assert seen[2.0] < 0.2, seen
    assert seen[0.25] > seen[0.5] > seen[1.0], seen  # gradual, not all at once


def test_the_slice_is_thinner_at_higher_frequency() -> None:
    # The same 0.3 mm sweep step at the elevation focus keeps more of the speckle at 7.5 than at 15 MHz.
    def after_step(frequency_mhz: float) -> float:
        params = {"rows": 300, "depth_mm": 30.0, "frequency_mhz": frequency_mhz, **DEFAULT_PITCH}
        start = ProbePose(position_mm=HOMOGENEOUS_S_MM)
        r = PatientRenderer("qa_phantom", seed=3)
        a, b = envelope(r, start, **params), envelope(r, start.nudged(lateral_mm=0.3), **params)
        band = slice(160, 200)  # 16-20 mm: the elevation focus
        return correlation(a[band], b[band])

    assert after_step(7.5) > after_step(15.0) + 0.1


def phantom_with_spheres(*spheres: tuple[float, float]) -> PatientRenderer:
    """The QA phantom plus fluid spheres (depth, diameter) at s = 100 mm, on the long-axis plane t = 0."""
    base = PatientRenderer("qa_phantom").scene
    extra = tuple(
        Structure(
            f"{dia:g} mm sphere at {depth:g} mm",
            Label.FLUID,
            Ellipsoid((HOMOGENEOUS_S_MM, 0.0, depth), (dia / 2,) * 3),
        )
        for depth, dia in spheres
    )
    scene = dataclasses.replace(base, structures=base.structures + extra)
    renderer = PatientRenderer.with_scene(scene, seed=3)
    renderer.set_pose(ProbePose(position_mm=HOMOGENEOUS_S_MM))
    return renderer


def ring_power_db(
    env: npt.NDArray[np.float64],
    depth_mm: float,
    inner_mm: float,
    outer_mm: tuple[float, float],
    pixel_mm: float,
) -> float:
    """Mean power inside radius inner_mm of (depth, centre line) re the ring outer_mm around it, in dB."""
    z = (np.arange(env.shape[0]) + 1.0) * pixel_mm
    x = (np.arange(env.shape[1]) + 0.5 - env.shape[1] / 2.0) * pixel_mm
    r = np.hypot(z[:, None] - depth_mm, x[None, :])
    inside = np.mean(env[r < inner_mm] ** 2)
    ring = np.mean(env[(r > outer_mm[0]) & (r < outer_mm[1])] ** 2)
    return float(10.0 * np.log10(inside / ring))


def test_a_2_mm_cyst_fills_in_where_the_slice_is_thicker_than_it() -> None:
    shallow, focal = 5.0, 18.0
    assert ph.elevation_fwhm_mm(10.0, shallow) > 2.0 > ph.elevation_fwhm_mm(10.0, focal) * 2.0
    r = phantom_with_spheres((shallow, 2.0), (focal, 2.0))
    params = {"rows": 250, "cols": 250, "depth_mm": 25.0, "width_mm": 25.0, "frequency_mhz": 10.0}
    frame = r.render(RenderParams(data_format=ENV, **params), 0.0)  # type: ignore[arg-type]
    env = np.asarray(frame.pixels, dtype=np.float64)
    assert frame.labels is not None and frame.labels[49, 125] == Label.FLUID  # the cyst is in the plane
    centre_shallow = ring_power_db(env, shallow, 0.3, (2.0, 3.5), 0.1)
    centre_focal = ring_power_db(env, focal, 0.3, (2.0, 3.5), 0.1)
    assert centre_shallow > -15.0  # grey, not black: the slice holds tissue either side of the cyst
    assert centre_focal < -25.0  # black where the slice is thinner than the cyst
    assert centre_shallow < -2.0  # still darker than the tissue around it


def gcnr(inside: npt.NDArray[np.float64], outside: npt.NDArray[np.float64]) -> float:
    bins = np.histogram_bin_edges(np.concatenate([inside, outside]), bins=100)
    hi, _ = np.histogram(inside, bins=bins)
    ho, _ = np.histogram(outside, bins=bins)
    return 1.0 - float(np.minimum(hi / hi.sum(), ho / ho.sum()).sum())


def test_a_6_mm_cyst_keeps_its_contrast_where_the_slice_is_thick() -> None:
    depth = 6.0
    r = phantom_with_spheres((depth, 6.0))
    params = {"rows": 250, "cols": 250, "depth_mm": 25.0, "width_mm": 25.0, "frequency_mhz": 10.0}
    env = np.asarray(r.render(RenderParams(data_format=ENV, **params), 0.0).pixels, dtype=np.float64)  # type: ignore[arg-type]
    z = (np.arange(250) + 1.0) * 0.1
    x = (np.arange(250) + 0.5 - 125) * 0.1
    rr = np.hypot(z[:, None] - depth, x[None, :])
    assert gcnr(env[rr < 2.4], env[(rr > 3.6) & (rr < 5.0)]) >= 0.9


def test_a_small_tilt_keeps_the_speckle_under_the_probe_centre() -> None:
    # Tilting rocks the plane about the skin contact: near the centre line and the skin the tissue
    # barely moves (< 0.03 mm at 0.5 degrees), so its speckle must stay; the image edges move a row.
    params = {"rows": 300, "cols": 512, "depth_mm": 30.0, "width_mm": 38.0}
    r = PatientRenderer("qa_phantom", seed=3)
    start = ProbePose(position_mm=HOMOGENEOUS_S_MM)
    a = envelope(r, start, **params)
    centre = (slice(20, 80), slice(216, 296))  # 2-8 mm deep, +-3 mm about the centre line
    for tilt_deg in (0.25, 0.5):
        b = envelope(r, start.nudged(tilt_deg=tilt_deg), **params)
        assert correlation(a[centre], b[centre]) >= 0.9, tilt_deg
    far = envelope(r, start.nudged(tilt_deg=5.0), **params)
    assert correlation(a[centre], far[centre]) < 0.8  # a large tilt does change it


# -- the convex probe: the same field, sampled along the fan's beams ---------------------------------


def fan_on_points(
    env: npt.NDArray[np.float64],
    depth_mm: float,
    x_mm: npt.NDArray[np.float64],
    y_mm: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """A convex envelope (range rows x angle lines) at the points (x across, y deep) from the probe's
    centre, bilinearly; and which points lie on the fan, 12 lines (the PSF's spoiled edge) inside it."""
    rows, lines = env.shape
    fr = (np.hypot(x_mm, y_mm + FAN_RADIUS_MM) - FAN_RADIUS_MM) / (depth_mm / rows) - 1.0
    fc = np.arctan2(x_mm, y_mm + FAN_RADIUS_MM) / np.radians(FAN_DEG / lines) + lines / 2.0 - 0.5
    on = (fr >= 0) & (fr <= rows - 2) & (fc >= 12) & (fc <= lines - 13)
    r0, c0 = np.clip(np.floor(fr), 0, rows - 2).astype(int), np.clip(np.floor(fc), 0, lines - 2).astype(int)
    wr, wc = np.clip(fr - r0, 0.0, 1.0), np.clip(fc - c0, 0.0, 1.0)
    top = env[r0, c0] * (1 - wc) + env[r0, c0 + 1] * wc
    bottom = env[r0 + 1, c0] * (1 - wc) + env[r0 + 1, c0 + 1] * wc
    return top * (1 - wr) + bottom * wr, on


def fan_overlap_correlation(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], slide_mm: float, depth_mm: float
) -> float:
    """Correlation of fan a with fan b taken slide_mm to the side, over the tissue both frames see.

    Each frame is first divided by its mean along each range row: the measure compares speckle, not
    the depth gain ramp both frames share.
    """
    y, x = np.meshgrid(np.arange(3.0, depth_mm - 3.0, 0.05), np.arange(-40.0, 40.0, 0.05), indexing="ij")
    va, on_a = fan_on_points(a / a.mean(axis=1, keepdims=True), depth_mm, x, y)
    vb, on_b = fan_on_points(b / b.mean(axis=1, keepdims=True), depth_mm, x - slide_mm, y)
    both = on_a & on_b
    return correlation(va[both], vb[both])


@pytest.mark.parametrize("cols", [256, 512])
def test_convex_slides_of_any_size_translate_the_speckle(cols: int) -> None:
    # On a fan the overlap stays a little below a linear probe's >= 0.95 (1 mm: 0.94 with 256 lines,
    # 0.95 with 512). A slide moves each tissue point onto a beam at another angle, so its PSF turns
    # with it (as on a real convex probe), and a slanted beam meets the field's depth layers at
    # another phase (sampling some twice); the measure's resampling of the fan adds a little.
    params = {"rows": 400, "cols": cols, "depth_mm": 40.0, "frequency_mhz": 5.0, "focus_mm": 20.0, **CONVEX}
    start = ProbePose(position_mm=HOMOGENEOUS_S_MM)
    r = PatientRenderer("qa_phantom", seed=3)
    a = envelope(r, start, **params)
    seen = {
        s: fan_overlap_correlation(a, envelope(r, start.nudged(position_mm=s), **params), s, 40.0)
        for s in SLIDES_MM
    }
    assert seen[0.02] >= 0.99, seen
    assert min(seen.values()) >= 0.92, seen
    other = envelope(PatientRenderer("qa_phantom", seed=4), start.nudged(position_mm=1.0), **params)
    assert fan_overlap_correlation(a, other, 1.0, 40.0) < 0.2  # another patient's speckle does not pass


@pytest.mark.parametrize(("rotation_deg", "depth_mm"), [(0.0, 12.0), (0.0, 25.0), (90.0, 18.0)])
def test_convex_out_of_plane_moves_decorrelate_gradually_over_the_slice(
    rotation_deg: float, depth_mm: float
) -> None:
    seen = elevation_correlations(rotation_deg, depth_mm, 5.0, {"cols": 256, **CONVEX})
    assert 0.2 <= seen[0.5] <= 0.8, seen
    assert seen[2.0] < 0.2, seen
    assert seen[0.25] > seen[0.5] > seen[1.0], seen


def test_convex_small_cysts_fill_in_where_the_slice_is_thicker_than_them() -> None:
    # At the convex probe's 5 MHz the slice is 2.5 mm at 5 mm deep and 1.4 mm at the 18 mm focus.
    shallow, focal = 5.0, 18.0
    assert ph.elevation_fwhm_mm(5.0, shallow) > 2.0 and ph.elevation_fwhm_mm(5.0, focal) * 2.0 < 4.0
    r = phantom_with_spheres((shallow, 2.0), (focal, 4.0))
    params = {"rows": 400, "cols": 256, "depth_mm": 40.0, "frequency_mhz": 5.0, "focus_mm": 20.0, **CONVEX}
    frame = r.render(RenderParams(data_format=ENV, **params), 0.0)  # type: ignore[arg-type]
    assert frame.labels is not None and frame.labels[49, 128] == Label.FLUID  # the cyst is in the plane
    y, x = np.meshgrid((np.arange(400) + 1.0) * 0.1, (np.arange(400) + 0.5 - 200) * 0.1, indexing="ij")
    env, _ = fan_on_points(np.asarray(frame.pixels, dtype=np.float64), 40.0, x, y)
    centre_shallow = ring_power_db(env, shallow, 0.3, (2.0, 3.5), 0.1)
    assert -15.0 < centre_shallow < -2.0  # grey, not black, and still darker than the tissue around it
    assert ring_power_db(env, focal, 0.3, (3.0, 4.5), 0.1) < -25.0  # black where the slice is thinner


def test_convex_speckle_keeps_rayleigh_statistics() -> None:
    params = {"rows": 400, "cols": 256, "depth_mm": 40.0, "frequency_mhz": 5.0, "focus_mm": 20.0, **CONVEX}
    env = envelope(
        PatientRenderer("qa_phantom", seed=3),
        ProbePose(position_mm=HOMOGENEOUS_S_MM),
        tgc_compensation_db_cm_mhz=0.5,
        **params,
    )
    region = env[50:350, 20:236]  # 5-35 mm of range, away from the fan's edges
    assert region.mean() / region.std() == pytest.approx(1.91, abs=0.1)
