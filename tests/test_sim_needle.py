"""The simulated needle: its echo against the beam's incidence, out-of-plane dot, injectate, ground
truth of the tip, and practice scoring from that truth."""

from __future__ import annotations

import dataclasses
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from drivers.sim.control import SimulatorControl
from drivers.sim.needle import Collection, Needle
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from drivers.sim.tissues import Label
from scanner_app.frame import DataFormat, Geometry
from scanner_app.needle_guide import Approach, NeedleGuide
from scanner_app.needle_practice import NeedlePractice, logbook_facts
from scanner_app.programme.db import open_database, sqlite_url
from scanner_app.programme.logbook import entries, record_exam

PARAMS = RenderParams(depth_mm=30.0, frequency_mhz=12.0, focus_mm=10.0, rows=512, cols=512, width_mm=38.0)
POSE = ProbePose(-12.0, 45.0)  # the shoulder's supraspinatus long axis: deltoid over the tendon
DZ = PARAMS.depth_mm / PARAMS.rows
PITCH = PARAMS.width_mm / PARAMS.cols


def frame(needle: Needle | None) -> np.ndarray:
    r = PatientRenderer("shoulder", seed=3)
    r.set_pose(POSE)
    r.needle = needle
    return r.render(PARAMS, 0.0).pixels.astype(np.float64)


def needle_to(tip_depth_mm: float, angle_deg: float, **kw: float) -> Needle:
    """An in-plane needle from the left whose tip is under the probe's centre at `tip_depth_mm`."""
    reach = tip_depth_mm / math.tan(math.radians(angle_deg))
    entry = (POSE.position_mm - reach, POSE.lateral_mm, 0.0)
    needle = Needle(entry, 0.0, angle_deg, bend_mm=kw.get("bend_mm", 0.0))
    return needle.advanced(tip_depth_mm / math.sin(math.radians(angle_deg)))


def shaft_brightness(image: np.ndarray, angle_deg: float, tip_depth_mm: float) -> float:
    """Mean grey on the shaft between 5.5 and 7 mm deep (the tip, at 8 mm, left out)."""
    values = []
    for row in range(round(5.5 / DZ), round(7.0 / DZ)):
        y = (row + 1) * DZ
        x = -(tip_depth_mm - y) / math.tan(math.radians(angle_deg))  # mm from the centre
        col = round(x / PITCH + PARAMS.cols / 2 - 0.5)
        values.append(image[row, col - 1 : col + 2].max())
    return float(np.mean(values))


def test_the_shaft_is_brightest_with_the_beam_square_to_it() -> None:
    bright = {a: shaft_brightness(frame(needle_to(8.0, a)), a, 8.0) for a in (10.0, 45.0, 70.0)}
    tissue = shaft_brightness(frame(None), 10.0, 8.0)  # the same pixels without a needle
    assert bright[10.0] > bright[45.0] > bright[70.0], bright
    assert bright[10.0] > tissue + 60, (bright, tissue)  # a near-horizontal needle stands out clearly


def test_reverberation_and_shadow_under_an_in_plane_shaft() -> None:
    with_needle, without = frame(needle_to(8.0, 10.0)), frame(None)
    # Columns 4-12 mm left of the centre, each aligned on its own shaft row (6-7.3 mm deep there).
    profile, before = [], []
    for x in np.arange(-12.0, -4.0, PITCH):
        col = round(x / PITCH + PARAMS.cols / 2 - 0.5)
        shaft_row = round((8.0 + x * math.tan(math.radians(10.0))) / DZ - 1.0)
        profile.append(with_needle[shaft_row : shaft_row + 60, col])
        before.append(without[shaft_row : shaft_row + 60, col])
    p, p0 = np.mean(profile, axis=0), np.mean(before, axis=0)
    spacing = 0.72 / math.cos(math.radians(10.0)) / DZ  # a 22 G shaft's diameter along the beam, rows
    for k, margin in ((1, 40), (2, 20)):  # bands under the shaft at the wall spacing, fading
        band = round(k * spacing)
        assert p[band - 2 : band + 3].max() > p0[band - 2 : band + 3].mean() + margin, (k, p, p0)
    between = slice(round(0.35 * spacing), round(0.65 * spacing))
    assert p[between].mean() < p0[between].mean() - 20  # between the bands: the shaft's shadow
    assert p[0] > p0[0] + 80  # and the shaft itself


def test_out_of_plane_needle_is_a_dot_where_it_crosses_the_slice() -> None:
    without = frame(None)
    # Across the slice (heading along t) at 45°, the tip just past the slice at 8 mm deep.
    entry = (POSE.position_mm, POSE.lateral_mm - 8.0, 0.0)
    oop = Needle(entry, 90.0, 45.0, bend_mm=0.0).advanced(8.2 * math.sqrt(2.0))
    rows, cols = np.nonzero(frame(oop) - without > 60)
    assert rows.size > 0, "no dot"
    assert np.ptp(cols) * PITCH < 2.0 and np.ptp(rows) * DZ < 6.0  # a dot (and its ring-down), no line
    assert abs(np.median(cols) * PITCH - PARAMS.width_mm / 2) < 1.0 and abs(np.median(rows) * DZ - 8.0) < 2.0
    _, cols_in = np.nonzero(frame(needle_to(8.0, 20.0)) - without > 60)
    assert np.ptp(cols_in) * PITCH > 10.0  # the same test sees an in-plane shaft as a line
    # Stopping 1 mm short of the slice, only the edge of the beam sees it: a dimmer dot.
    short = Needle(entry, 90.0, 45.0, bend_mm=0.0).advanced(7.0 * math.sqrt(2.0))
    assert (frame(short) - without).max() < (frame(oop) - without).max()


def test_injectate_is_an_anechoic_collection_of_its_volume() -> None:
    centre = (POSE.position_mm, POSE.lateral_mm, 12.0)
    needle = Needle((-30.0, 45.0, 0.0), 0.0, 30.0, injectate=(Collection(centre, 0.5),))
    image, without = frame(needle), frame(None)
    radius = Collection(centre, 0.5).radius_mm
    assert radius == pytest.approx(4.92, abs=0.01)  # (3 V / 4 pi)^(1/3), 1 ml = 1000 mm^3
    inside = image[round(11.0 / DZ) : round(13.0 / DZ), 240:272]
    edge = image[round((12.0 + radius + 1.0) / DZ), 240:272]
    assert inside.mean() < 0.3 * without[round(11.0 / DZ) : round(13.0 / DZ), 240:272].mean()
    assert edge.mean() > 3 * inside.mean()  # a millimetre past its radius the tissue is back


def test_ground_truth_tells_the_structure_the_tip_is_in() -> None:
    r = PatientRenderer("shoulder")
    r.set_pose(POSE)
    sim = SimulatorControl(r)
    assert sim.needle_truth() is None
    sim.place_needle(NeedleGuide(Approach.IN_PLANE_LEFT, 25.0, entry_offset_mm=5.0))
    seen = []
    for _ in range(25):
        sim.advance_needle(1.0)
        truth = sim.needle_truth()
        assert truth is not None
        seen.append(truth.tip_structure)
    assert seen[0] == "skin" and "deltoid muscle" in seen
    assert truth.tip_structure == "subacromial-subdeltoid bursa"
    assert truth.tip_depth_mm == pytest.approx(25.0 * math.sin(math.radians(25.0)))
    assert truth.tip_visible and truth.in_plane and not truth.vessels_and_nerves_crossed
    sim.advance_needle(1.0)
    assert sim.needle_truth().tip_structure == "supraspinatus tendon"  # type: ignore[union-attr]
    sim.reset_needle()
    assert sim.needle_truth() is None
    sim.place_needle(NeedleGuide(Approach.IN_PLANE_LEFT, 25.0))
    sim.set_scene("knee", None)  # another patient: no needle in them
    assert sim.needle_truth() is None


def test_a_convex_probe_shows_the_needle_dipping_across_its_lines() -> None:
    r = PatientRenderer("hip", seed=1)
    params = RenderParams(depth_mm=60.0, frequency_mhz=5.0, focus_mm=30.0, rows=256, cols=256)
    params = dataclasses.replace(params, geometry=Geometry.CONVEX, fov_deg=60.0, radius_mm=40.0)
    without = r.render(params, 0.0).pixels.astype(np.float64)
    r.needle = Needle((-40.0, 0.0, 0.0), 0.0, 30.0, bend_mm=0.0).advanced(45.0)  # in plane, from the left
    diff = r.render(params, 0.0).pixels.astype(np.float64) - without
    rows, cols = np.nonzero(diff > 60)
    assert rows.size > 50 and cols.max() < 128  # a bright shaft, in the left half it runs through
    # Along the shaft's path the rows deepen toward the centre: it dips at its angle.
    assert np.corrcoef(cols, rows)[0, 1] > 0.8


def test_a_steeper_out_of_plane_pass_leaves_the_tip_out_of_the_slice() -> None:
    r = PatientRenderer("shoulder")
    r.set_pose(POSE)
    sim = SimulatorControl(r)
    sim.place_needle(NeedleGuide(Approach.OUT_OF_PLANE, 45.0, target_depth_mm=10.5))
    sim.advance_needle(10.5 * math.sqrt(2.0))
    truth = sim.needle_truth()
    assert truth is not None and truth.tip_visible and not truth.in_plane
    assert truth.tip_structure == "subacromial-subdeltoid bursa"
    sim.advance_needle(3.0)  # through the slice and beyond: the tip leaves it
    assert not sim.needle_truth().tip_visible  # type: ignore[union-attr]


def test_the_frames_ground_truth_names_the_needle_where_the_slice_shows_it() -> None:
    r = PatientRenderer("shoulder", seed=3)
    r.set_pose(POSE)
    plain = r.render(PARAMS, 0.0)
    assert "needle" not in plain.structures_in_view and not (plain.labels == Label.METAL).any()
    r.needle = needle_to(8.0, 20.0)
    shown = r.render(PARAMS, 0.0)
    assert shown.structures_in_view[: len(plain.structures_in_view)] == plain.structures_in_view
    assert "needle" in shown.structures_in_view and "injectate" not in shown.structures_in_view
    rows, cols = np.nonzero(shown.labels == Label.METAL)
    # A line from the left edge down to the tip under the centre, at the needle's 20°.
    assert cols.min() == 0 and abs(cols.max() * PITCH - PARAMS.width_mm / 2) < 0.5
    assert abs(rows.max() * DZ - 8.0) < 0.2
    slope = np.polyfit(cols * PITCH, rows * DZ, 1)[0]
    assert slope == pytest.approx(math.tan(math.radians(20.0)), abs=0.02)
    # Slid 2 mm across (out of the slice's 1 mm), the same needle is gone from the truth.
    r.set_pose(dataclasses.replace(POSE, lateral_mm=POSE.lateral_mm + 2.0))
    assert "needle" not in r.render(PARAMS, 0.0).structures_in_view
    r.set_pose(POSE)
    r.needle = r.needle.injected(0.5)
    wet = r.render(PARAMS, 0.0)
    assert "injectate" in wet.structures_in_view
    fluid_rows, fluid_cols = np.nonzero((wet.labels == Label.FLUID) & (plain.labels != Label.FLUID))
    radius = Collection((0, 0, 0), 0.5).radius_mm
    assert abs(fluid_rows.mean() * DZ - 8.0) < 0.5 and np.ptp(fluid_cols) * PITCH == pytest.approx(
        2 * radius, abs=0.5
    )


def test_every_frame_format_names_the_needle_in_its_ground_truth() -> None:
    r = PatientRenderer("hip", seed=1)
    r.needle = Needle((-40.0, 0.0, 0.0), 0.0, 30.0, bend_mm=0.0).advanced(45.0)  # in plane, from the left
    convex = RenderParams(depth_mm=60.0, frequency_mhz=5.0, focus_mm=30.0, rows=256, cols=256)
    convex = dataclasses.replace(convex, geometry=Geometry.CONVEX, fov_deg=60.0, radius_mm=40.0)
    rf = dataclasses.replace(PARAMS, data_format=DataFormat.RF_I16, sampling_mhz=40.0, rows=1024, cols=128)
    envelope = dataclasses.replace(PARAMS, data_format=DataFormat.ENVELOPE_U16, rows=256, cols=128)
    for params in (convex, rf, envelope):
        frame = r.render(params, 0.0)
        assert "needle" in frame.structures_in_view, params.data_format
        rows, cols = np.nonzero(frame.labels == Label.METAL)
        assert rows.size > 10 and np.corrcoef(cols, rows)[0, 1] > 0.8  # a line dipping from the left
    r.needle = None
    assert "needle" not in r.render(convex, 0.0).structures_in_view


def test_the_view_truth_tells_where_a_seen_tip_is_and_what_is_beside_it() -> None:
    r = PatientRenderer("shoulder")
    r.set_pose(POSE)
    sim = SimulatorControl(r)
    assert sim.view_truth().needle_tip_in == "" and "needle" not in sim.view_truth().structures_in_view
    sim.place_needle(NeedleGuide(Approach.IN_PLANE_LEFT, 25.0, entry_offset_mm=5.0))
    sim.advance_needle(25.0)  # the tip in the bursa (see above)
    seen = sim.view_truth()
    assert "needle" in seen.structures_in_view
    assert seen.needle_tip_in == "subacromial-subdeltoid bursa"
    # The bursa is 0.6 mm thick: the deltoid above and the tendon below are within a millimetre.
    assert {"deltoid muscle", "supraspinatus tendon"} <= seen.needle_tip_beside
    assert "humeral head / greater tuberosity" not in seen.needle_tip_beside
    away = sim.view_truth({"lateral_mm": POSE.lateral_mm + 3.0})  # the tip out of that slice
    assert away.needle_tip_in == "" and "needle" not in away.structures_in_view


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_scoring_counts_a_vessel_crossing_and_a_redirection() -> None:
    r = PatientRenderer("groin")
    r.set_pose(ProbePose(0.0, 4.0, 90.0))  # CFV short axis: the artery and vein across the image
    sim = SimulatorControl(r)
    clock = Clock()
    practice = NeedlePractice(sim, target="subcutaneous fat", clock=clock)
    practice.place(NeedleGuide(Approach.IN_PLANE_LEFT, 45.0, entry_offset_mm=5.0))
    for _ in range(26):  # down at 45° into the common femoral artery
        practice.advance(1.0)
        clock.now += 0.5
    assert "common femoral artery" in practice.crossed
    practice.withdraw(20.0)
    practice.angle(-20.0)  # two key presses of re-angling and one withdrawal: one new pass
    practice.angle(-5.0)
    truth = practice.advance(2.0)
    score = practice.finish()
    clock.now += 60.0
    assert score.redirections == 1 and score.advances == 27
    assert "common femoral artery" in score.vessels_and_nerves_crossed  # remembered after withdrawing
    assert not score.passed
    assert score.time_s == pytest.approx(13.0)
    assert score.tip_structure == truth.tip_structure
    assert practice.finish().time_s == pytest.approx(13.0)  # the clock stopped at the first finish
    assert "1 redirection(s)" in score.summary() and "common femoral artery" in score.summary()


def test_a_score_goes_into_the_trainees_logbook_as_practice(tmp_path: Path) -> None:
    r = PatientRenderer("shoulder")
    r.set_pose(POSE)
    practice = NeedlePractice(SimulatorControl(r), target="subacromial-subdeltoid bursa", clock=Clock())
    practice.place(NeedleGuide(Approach.IN_PLANE_LEFT, 25.0, entry_offset_mm=5.0))
    practice.advance(25.0)
    score = practice.finish()
    with open_database(sqlite_url(tmp_path)) as db:
        record_exam(
            db, logbook_facts(score, trainee="kim", region="shoulder", performed_on=date(2026, 11, 29))
        )
        (entry,) = entries(db, "kim")
    assert entry.practice and entry.protocol_id == "needle_practice" and entry.region == "shoulder"
    assert "tip in the target" in entry.findings and "PASS" in entry.findings
