"""Doppler captures in DICOM: colour stills and clips as RGB with tissue and colour-flow regions, duplex
stills and clips with a spectral region a PACS viewer measures velocities with; all dciodvfy-clean."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from scanner_app.doppler_processing import FlowBox, FlowFrame
from scanner_app.frame import Frame, Geometry
from scanner_app.spectral import SpectrumLine
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import Study, StudyError
from tests.studies_support import dciodvfy, make_frame

SPACING_MM = (0.1, 0.1)
BIN_CM_S = 1.5
AXIS_CM_S = np.arange(-32, 32) * BIN_CM_S  # 64 bins, zero at bin 32
LINE_DT_S = 0.01
PEAK_CM_S = 30.0
VESSEL_CM_S = 20.0  # toward the probe


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StudyStore]:
    with StudyStore(tmp_path / "store") as s:
        yield s


def _study(store: StudyStore) -> Study:
    return store.start_study(Patient("DVT-1", "Doe^Jane", "19700203", "F"), "Op^One")


def _bmode(seq: int = 1) -> Frame:
    # Dark tissue, so colour is written everywhere flow is found (the colour-write priority).
    frame = make_frame(seq, rows=48, cols=40, spacing_mm=SPACING_MM)
    return dataclasses.replace(frame, pixels=np.full((48, 40), 40, dtype=np.uint8))


def _flow(velocity_cm_s: float = VESSEL_CM_S) -> FlowFrame:
    """A box from 1 to 3 mm deep and 1 to 3 mm across, flow in its lower half only."""
    lines, samples = 11, 21
    velocity = np.full((lines, samples), velocity_cm_s, dtype=np.float32)
    valid = np.zeros((lines, samples), dtype=bool)
    valid[:, samples // 2 :] = True
    return FlowFrame(
        velocity_cm_s=velocity,
        power_db=np.where(valid, -20.0, -90.0).astype(np.float32),
        variance=np.zeros((lines, samples), dtype=np.float32),
        valid=valid,
        power_valid=valid.copy(),
        box=FlowBox(Geometry.LINEAR, top_mm=1.0, bottom_mm=3.0, left=1.0, right=3.0),
        nyquist_cm_s=40.0,
        prf_hz=4000.0,
        f0_mhz=5.0,
        wall_cutoff_hz=50.0,
    )


def _spectrum(count: int = 20) -> list[SpectrumLine]:
    power = np.full(AXIS_CM_S.shape, -80.0, dtype=np.float32)
    power[int(np.argmin(np.abs(AXIS_CM_S - PEAK_CM_S)))] = -10.0
    return [
        SpectrumLine(
            power_db=power,
            velocity_cm_s=AXIS_CM_S,
            time_s=1.0 + i * LINE_DT_S,
            max_cm_s=PEAK_CM_S,
            forward_cm_s=PEAK_CM_S,
            reverse_cm_s=0.0,
            mean_cm_s=PEAK_CM_S,
            noise_floor_db=-80.0,
            nyquist_cm_s=48.0,
            angle_deg=60.0,
            inverted=False,
        )
        for i in range(count)
    ]


def _physical(region: Dataset, col: int, row: int) -> tuple[float, float]:
    """A pixel's physical (x, y) in a region, as a viewer computes it (PS3.3 C.8.5.5.1)."""
    x = (col - region.RegionLocationMinX0 - region.ReferencePixelX0) * region.PhysicalDeltaX
    y = (row - region.RegionLocationMinY0 - region.ReferencePixelY0) * region.PhysicalDeltaY
    return x + region.ReferencePixelPhysicalValueX, y + region.ReferencePixelPhysicalValueY


def _clean(path: Path) -> None:
    errors, _warnings = dciodvfy(path)
    assert errors == []


def test_a_colour_still_is_rgb_with_a_tissue_and_a_colour_flow_region(store: StudyStore) -> None:
    study = _study(store)
    labels = {"imaging_mode": "color_doppler", "exam_type": "VASCULAR", "laterality": "L"}
    record = store.save_doppler_still(study, _bmode(), _flow(), None, labels=labels)
    path = store.capture_path(record)
    ds = pydicom.dcmread(path)
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == (3, "RGB", 0)
    assert ds.ImageType[3] == "0011"  # 2D + colour Doppler
    tissue, colour = ds.SequenceOfUltrasoundRegions
    assert (tissue.RegionDataType, colour.RegionDataType) == (1, 2)
    assert (tissue.RegionFlags & 1, colour.RegionFlags & 1) == (1, 0)  # the box has priority
    # The box (1..3 mm deep, 1..3 mm across at 0.1 mm a pixel) is the colour region's rectangle.
    corners = (colour.RegionLocationMinX0, colour.RegionLocationMinY0)
    assert corners == (10, 10) and (colour.RegionLocationMaxX1, colour.RegionLocationMaxY1) == (30, 30)
    # A known pixel is at the same place in both regions: column 25, row 24 -> 2.5 cm/10, 2.4 mm deep.
    for region in (tissue, colour):
        x_cm, y_cm = _physical(region, 25, 24)
        assert (x_cm, y_cm) == pytest.approx((0.25, 0.24))
        assert (region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection) == (3, 3)
    pixels = ds.pixel_array
    assert pixels.shape == (48, 40, 3)
    # Flow toward the probe in red in the box's lower half; grey above it and outside the box.
    red, _green, blue = (int(v) for v in pixels[25, 20])
    assert red > 100 and blue == 0
    assert tuple(int(v) for v in pixels[12, 20]) == (40, 40, 40)
    assert tuple(int(v) for v in pixels[25, 35]) == (40, 40, 40)
    _clean(path)


def test_flow_away_from_the_probe_is_blue_and_power_is_orange(store: StudyStore) -> None:
    study = _study(store)
    away = store.save_doppler_still(study, _bmode(), _flow(-VESSEL_CM_S), None)
    px = pydicom.dcmread(store.capture_path(away)).pixel_array[25, 20]
    assert int(px[2]) > 100 and int(px[0]) == 0
    power = store.save_doppler_still(
        study, _bmode(), _flow(), None, labels={"imaging_mode": "power_doppler"}, power=True
    )
    px = pydicom.dcmread(store.capture_path(power)).pixel_array[25, 20]
    assert int(px[0]) == 255 and int(px[1]) > int(px[2])


def test_a_duplex_still_has_a_spectral_region_measuring_cm_s_and_seconds(store: StudyStore) -> None:
    study = _study(store)
    measurements = [
        {"name": "PSV", "value": 82.0, "unit": "cm/s"},
        {"name": "EDV", "value": 20.5, "unit": "cm/s"},
        {"name": "RI", "value": 0.75, "unit": ""},
    ]
    record = store.save_doppler_still(
        study,
        _bmode(),
        None,
        _spectrum(),
        labels={"imaging_mode": "spectral_doppler", "exam_type": "VASCULAR"},
        measurements=measurements,
    )
    path = store.capture_path(record)
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "RGB" and ds.ImageType[3] == "0009"  # 2D + PW
    tissue, spectral = ds.SequenceOfUltrasoundRegions
    assert (tissue.RegionDataType, spectral.RegionDataType, spectral.RegionSpatialFormat) == (1, 3, 3)
    assert (spectral.PhysicalUnitsXDirection, spectral.PhysicalUnitsYDirection) == (4, 7)  # s, cm/s
    assert spectral.RegionLocationMinY0 > tissue.RegionLocationMaxY1  # the strip is below the image
    # The row where the spectrum is brightest is the known peak velocity, read through the region.
    pixels = ds.pixel_array
    strip = pixels[spectral.RegionLocationMinY0 : spectral.RegionLocationMaxY1 + 1, :, 0]
    peak_row = spectral.RegionLocationMinY0 + int(np.argmax(strip[:, 5]))
    _t, velocity = _physical(spectral, 5, peak_row)
    assert velocity == pytest.approx(PEAK_CM_S)
    # The baseline row reads zero; a row above it is positive (toward the probe).
    baseline = spectral.RegionLocationMinY0 + spectral.ReferencePixelY0
    assert _physical(spectral, 0, baseline)[1] == pytest.approx(0.0)
    assert _physical(spectral, 0, baseline - 4)[1] == pytest.approx(4 * BIN_CM_S)
    # Columns are spectral lines: column 10 is 10 line intervals after the first.
    assert _physical(spectral, 10, baseline)[0] == pytest.approx(10 * LINE_DT_S)
    stored = store.get_capture(record.sop_instance_uid)
    psv = next(a for a in stored.annotations if a.get("name") == "PSV")
    assert (psv["value"], psv["unit"]) == (82.0, "cm/s")
    _clean(path)


def test_a_colour_clip_is_multi_frame_rgb(store: StudyStore) -> None:
    study = _study(store)
    frames = [_bmode(seq) for seq in range(1, 6)]
    flows = [_flow(VESSEL_CM_S * (1 - 2 * (i % 2))) for i in range(5)]  # alternating direction
    record = store.save_doppler_clip(study, frames, flows, labels={"imaging_mode": "color_doppler"})
    path = store.capture_path(record)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"
    assert (ds.NumberOfFrames, ds.SamplesPerPixel, ds.PhotometricInterpretation) == (5, 3, "RGB")
    pixels = ds.pixel_array
    assert pixels.shape == (5, 48, 40, 3)
    assert int(pixels[0, 25, 20, 0]) > 100 and int(pixels[1, 25, 20, 2]) > 100  # red, then blue
    assert [r.RegionDataType for r in ds.SequenceOfUltrasoundRegions] == [1, 2]
    _clean(path)


def test_a_duplex_clip_is_multi_frame_rgb_with_the_sweep_as_it_stood_at_each_frame(
    store: StudyStore,
) -> None:
    study = _study(store)
    frames = [_bmode(seq) for seq in range(1, 6)]
    lines = _spectrum(60)  # more lines than the image is wide (40 columns): the strip scrolls
    shown = (10, 25, 40, 50, 60)
    record = store.save_duplex_clip(
        study, frames, lines, shown, labels={"imaging_mode": "spectral_doppler", "exam_type": "VASCULAR"}
    )
    path = store.capture_path(record)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame
    assert (ds.NumberOfFrames, ds.SamplesPerPixel, ds.PhotometricInterpretation) == (5, 3, "RGB")
    assert ds.ImageType[3] == "0009"  # 2D + PW
    tissue, spectral = ds.SequenceOfUltrasoundRegions
    assert (tissue.RegionDataType, spectral.RegionDataType, spectral.RegionSpatialFormat) == (1, 3, 3)
    assert (spectral.PhysicalUnitsXDirection, spectral.PhysicalUnitsYDirection) == (4, 7)  # s, cm/s
    assert spectral.RegionLocationMinY0 > tissue.RegionLocationMaxY1  # the strip is below the image
    assert spectral.RegionLocationMaxX1 == 39  # as wide as the image
    pixels = ds.pixel_array
    assert pixels.shape[:3] == (5, 48 + 4 + AXIS_CM_S.size, 40)
    strip = pixels[:, spectral.RegionLocationMinY0 : spectral.RegionLocationMaxY1 + 1, :, 0]
    # Frame 0 showed 10 lines: those columns lit, the rest of the strip still black.
    lit = (strip.max(axis=1) > 0).sum(axis=1)
    assert list(lit) == [10, 25, 40, 40, 40]
    # Through the region, the brightest row reads the known peak velocity in every frame that shows it.
    for i in range(5):
        peak_row = spectral.RegionLocationMinY0 + int(np.argmax(strip[i, :, 5]))
        assert _physical(spectral, 5, peak_row)[1] == pytest.approx(PEAK_CM_S)
    assert _physical(spectral, 10, spectral.RegionLocationMinY0)[0] == pytest.approx(10 * LINE_DT_S)
    assert spectral.DopplerCorrectionAngle == 60.0
    # The B-mode above is each frame's own.
    assert int(pixels[0, 0, 0, 0]) == 40
    _clean(path)


def test_a_duplex_clip_refuses_frames_that_change_size(store: StudyStore) -> None:
    study = _study(store)
    other = dataclasses.replace(_bmode(2), pixels=np.zeros((40, 40), np.uint8))
    with pytest.raises(StudyError, match="change size"):
        store.save_duplex_clip(study, [_bmode(1), other], _spectrum(), (10, 20))
