"""Convex depth origin (issue 11 item 4): depth is measured from the skin, the array face on the centre
line, not from the top row of a scan-converted image (the chord across the ends of the array).

Point targets at known depths on the centre line are rendered as convex ENVELOPE beam data, scan
converted, found as the brightest pixels, and the depth the scale, the focus marker, a caliper click
and the DICOM US region give for them must be the true depth within one pixel.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt
from pytestqt.qtbot import QtBot

from scanner_app.annotations import AnnotationSet
from scanner_app.frame import BeamGeometry, DataFormat, Frame, Geometry, ImagingSettings
from scanner_app.measurements import MeasurementSet
from scanner_app.processing import DisplayProcessor
from scanner_app.ring import FrameRing
from scanner_app.studies.store import Patient, StudyStore
from tests.factories import PROBE
from ui.image_view import ScannerImageView

RADIUS_MM, FOV_DEG, DEPTH_MM = 50.0, 60.0, 60.0
SAMPLES, LINES = 600, 129  # odd: the middle line runs down the centre line
TARGET_DEPTHS_MM = (8.0, 25.0, 47.5)
FOCUS_MM = 25.0
# The chord across the ends of a 50 mm radius, 60 degree array lies this far above the skin.
CHORD_ABOVE_SKIN_MM = RADIUS_MM * (1 - math.cos(math.radians(FOV_DEG / 2)))


def _convex_envelope_with_targets() -> Frame:
    """Convex ENVELOPE beam data: faint speckle-free background, point targets on the middle line."""
    depth_per_sample = DEPTH_MM / SAMPLES
    sample_depths = (np.arange(SAMPLES) + 0.5) * depth_per_sample  # sample centres below the array
    lines = np.arange(LINES) - (LINES - 1) / 2
    env = np.full((SAMPLES, LINES), 30, dtype=np.float64)
    for depth in TARGET_DEPTHS_MM:
        axial = np.exp(-0.5 * ((sample_depths - depth) / 0.3) ** 2)
        lateral = np.exp(-0.5 * (lines / 0.8) ** 2)
        env += 60000.0 * np.outer(axial, lateral)
    settings = ImagingSettings(
        depth_mm=DEPTH_MM, gain_db=0.0, frequency_mhz=3.5, focus_mm=FOCUS_MM, dynamic_range_db=60.0
    )
    return Frame(
        seq=1,
        device_time_us=0,
        host_time_ns=0,
        pixels=np.minimum(env, 65535).astype(np.uint16),
        spacing_mm=(depth_per_sample, math.radians(FOV_DEG) / LINES * RADIUS_MM),
        data_format=DataFormat.ENVELOPE_U16,
        settings=settings,
        probe=PROBE,
        beam=BeamGeometry(Geometry.CONVEX, field_of_view_deg=FOV_DEG, radius_mm=RADIUS_MM),
    )


def _display_frame() -> Frame:
    return DisplayProcessor(display_size_px=512)(_convex_envelope_with_targets())


def _target_rows(frame: Frame) -> list[int]:
    """Rows of the brightest pixel of each target, along the image's middle column."""
    middle = frame.pixels[:, frame.cols // 2 - 2 : frame.cols // 2 + 2].max(axis=1).astype(int)
    rows = []
    spacing = frame.spacing_mm[0]
    for depth in TARGET_DEPTHS_MM:
        # search a window around where the target must be, wherever the origin is
        lo = int((depth - 3.0) / spacing)
        hi = int((depth + CHORD_ABOVE_SKIN_MM + 3.0) / spacing)
        rows.append(lo + int(np.argmax(middle[lo:hi])))
    return rows


def test_convex_display_frame_carries_the_skin_below_its_top_row() -> None:
    frame = _display_frame()
    assert frame.depth_origin_mm == pytest.approx(CHORD_ABOVE_SKIN_MM, abs=1e-9)
    assert frame.depth_origin_mm == pytest.approx(6.70, abs=0.01)
    spacing = frame.spacing_mm[0]
    for depth, row in zip(TARGET_DEPTHS_MM, _target_rows(frame), strict=True):
        # the bright pixel's centre, measured from the frame's depth origin, is the true depth
        assert (row + 0.5) * spacing - frame.depth_origin_mm == pytest.approx(depth, abs=spacing)


def test_linear_display_frame_has_its_skin_at_the_top() -> None:
    linear = BeamGeometry(Geometry.LINEAR, width_mm=38.0)
    frame = dataclasses.replace(_convex_envelope_with_targets(), beam=linear)
    assert DisplayProcessor(display_size_px=256)(frame).depth_origin_mm == 0.0


def test_scale_focus_and_caliper_read_depth_from_the_skin(qtbot: QtBot) -> None:
    frame = _display_frame()
    ring = FrameRing(4, frame.pixels.nbytes)
    ring.push(frame)
    measurements = MeasurementSet()
    view = ScannerImageView(ring, lambda: None, measurements, AnnotationSet())
    qtbot.addWidget(view)
    view.resize(900, 900)
    with qtbot.waitExposed(view):
        view.show()
    latest = ring.peek_latest()
    assert latest is not None
    view.show_frame(latest)
    spacing = frame.spacing_mm[0]
    col = frame.cols // 2
    rows = _target_rows(frame)
    # Scale: the view's y is the depth its axis labels; each target's pixel sits at its depth.
    major, _minor = view.plot.getAxis("right")._tickLevels  # the ticks as set
    assert major[0] == (0.0, "0") and (20.0, "20") in major
    for depth, row in zip(TARGET_DEPTHS_MM, rows, strict=True):
        at = view.image.mapToView(QPointF(col + 0.5, row + 0.5))
        assert at.y() == pytest.approx(depth, abs=spacing)
    # Focus: the marker points at the focal depth on that same scale.
    assert view.focus_marker.isVisible()
    assert view.focus_marker.pos().y() == pytest.approx(FOCUS_MM, abs=1e-9)
    # Calipers: each end of a caliper placed on a target reads that target's depth.
    measurements.begin("distance")
    for row in rows[:2]:
        pos = view.mapFromScene(view.image.mapToScene(QPointF(col + 0.5, row + 0.5)))
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    (m,) = measurements.items
    for point, depth in zip(m.points, TARGET_DEPTHS_MM[:2], strict=True):
        assert point[1] == pytest.approx(depth, abs=spacing)
    view.close()


def test_dicom_region_reference_point_is_the_skin(tmp_path: Path) -> None:
    frame = _display_frame()
    store = StudyStore(tmp_path)
    study = store.start_study(Patient("P-1", "Doe^Jane", "19800101", "F"), "Op^One")
    ds = store.read_dataset(store.save_still(study, frame))
    store.close()
    (region,) = ds.SequenceOfUltrasoundRegions
    spacing = frame.spacing_mm[0]
    ref_row = region.RegionLocationMinY0 + region.ReferencePixelY0
    for depth, row in zip(TARGET_DEPTHS_MM, _target_rows(frame), strict=True):
        # PS3.3 C.8.5.5.1: physical value = reference value + (pixel - reference pixel) x delta
        depth_cm = region.ReferencePixelPhysicalValueY + (row - ref_row) * region.PhysicalDeltaY
        assert depth_cm * 10 == pytest.approx(depth, abs=spacing)
    # depth 0 lies in the reference row: the skin on the centre line, not the image's top row
    assert ref_row == round(CHORD_ABOVE_SKIN_MM / spacing)
