"""Needle guide geometry: the path, its depth marks on the image's mm scale, and the target readout."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scanner_app.needle_guide import (
    Approach,
    NeedleGuide,
    depth_marks,
    entry_point,
    guide_segment,
    target_readout,
)

WIDTH_MM, DEPTH_MM = 38.0, 40.0


@pytest.mark.parametrize("approach", [Approach.IN_PLANE_LEFT, Approach.IN_PLANE_RIGHT])
@pytest.mark.parametrize("angle_deg", [20.0, 35.0, 60.0])
def test_depth_marks_lie_on_the_path_at_their_depth(approach: Approach, angle_deg: float) -> None:
    guide = NeedleGuide(approach, angle_deg, entry_offset_mm=4.0)
    marks = depth_marks(guide, WIDTH_MM, DEPTH_MM, every_mm=5.0)
    assert marks, "a needle at this angle crosses the image"
    # Independent of the module: the needle leaves the skin 4 mm beyond the probe's end and each mark
    # sits where tan(angle) says the path reaches its depth.
    entry_x = -4.0 if approach == Approach.IN_PLANE_LEFT else WIDTH_MM + 4.0
    sign = 1.0 if approach == Approach.IN_PLANE_LEFT else -1.0
    for m in marks:
        assert m.y_mm == pytest.approx(m.depth_mm)
        assert m.x_mm == pytest.approx(entry_x + sign * m.depth_mm / math.tan(math.radians(angle_deg)))
        assert 0.0 <= m.x_mm <= WIDTH_MM and m.depth_mm % 5.0 == pytest.approx(0.0, abs=1e-9)
    depths = [m.depth_mm for m in marks]
    assert np.diff(depths) == pytest.approx([5.0] * (len(depths) - 1))


def test_the_segment_is_clipped_to_the_image() -> None:
    guide = NeedleGuide(Approach.IN_PLANE_LEFT, 30.0, entry_offset_mm=10.0)
    (x0, y0), (x1, y1) = guide_segment(guide, WIDTH_MM, DEPTH_MM) or ((0, 0), (0, 0))
    # It enters the image at its left edge, 10 mm from the entry: tan(30°) * 10 mm deep.
    assert x0 == pytest.approx(0.0) and y0 == pytest.approx(10.0 * math.tan(math.radians(30.0)))
    # ... and leaves it at the right edge (48 mm from the entry), above the bottom.
    assert x1 == pytest.approx(WIDTH_MM) and y1 == pytest.approx(48.0 * math.tan(math.radians(30.0)))
    steep_far = NeedleGuide(Approach.IN_PLANE_LEFT, 80.0, entry_offset_mm=30.0)
    assert guide_segment(steep_far, WIDTH_MM, DEPTH_MM) is None  # it never reaches the image
    assert depth_marks(steep_far, WIDTH_MM, DEPTH_MM) == []


def test_target_readout_gives_the_path_length_and_how_far_off_the_guide() -> None:
    guide = NeedleGuide(Approach.IN_PLANE_RIGHT, 45.0, entry_offset_mm=2.0)
    ex, ey = entry_point(guide, WIDTH_MM)
    assert (ex, ey) == (40.0, 0.0)
    on_path = (40.0 - 20.0, 20.0)  # 45°: as deep as it is across
    r = target_readout(guide, WIDTH_MM, on_path)
    assert r.entry_to_target_mm == pytest.approx(20.0 * math.sqrt(2.0))
    assert r.off_guide_mm == pytest.approx(0.0, abs=1e-9) and r.angle_to_target_deg == pytest.approx(45.0)
    below = (20.0, 25.0)  # 5 mm deeper: 5 * cos 45° off the line, needing a steeper angle
    r = target_readout(guide, WIDTH_MM, below)
    assert r.off_guide_mm == pytest.approx(5.0 * math.cos(math.radians(45.0)))
    assert r.angle_to_target_deg == pytest.approx(math.degrees(math.atan2(25.0, 20.0)))


def test_out_of_plane_is_the_centre_line() -> None:
    guide = NeedleGuide(Approach.OUT_OF_PLANE, target_depth_mm=12.0)
    assert guide_segment(guide, WIDTH_MM, DEPTH_MM) == ((19.0, 0.0), (19.0, DEPTH_MM))
    r = target_readout(guide, WIDTH_MM, (21.0, 12.0))
    assert r.off_guide_mm == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"angle_deg": 90.0}, "angle_deg must be 5..85"),
        ({"angle_deg": float("nan")}, "angle_deg must be a finite number"),
        ({"entry_offset_mm": -1.0}, "must not be negative"),
    ],
)
def test_impossible_guides_are_refused_in_words(kwargs: dict[str, float], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        NeedleGuide(**kwargs)  # type: ignore[arg-type]
