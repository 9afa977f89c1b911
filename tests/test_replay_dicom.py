"""Replay of foreign ultrasound DICOM written here by hand with pydicom (RGB, palette colour, JPEG
baseline YBR), through the engine and ring: calipers in mm match the region's calibration."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.processing import convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from drivers.replay import ReplayProbeDriver, load_case
from scanner_app.engine import AcquisitionEngine
from scanner_app.measurements import distance_mm, pixel_centre_mm
from scanner_app.processing import DisplayProcessor
from scanner_app.ring import FrameRing

ROWS, COLS, FRAMES = 80, 64, 3
DELTA_X_CM, DELTA_Y_CM = 0.02, 0.025  # 0.2 mm across, 0.25 mm down
MARKS = ((10, 20), (50, 20))  # two bright targets 40 rows apart: 10 mm


def grey_frames() -> np.ndarray:
    frames = np.full((FRAMES, ROWS, COLS), 40, dtype=np.uint8)
    for i in range(FRAMES):
        frames[i, 70:, :] = 60 + 20 * i  # which frame this is
        for r, c in MARKS:
            frames[i, r, c - 1 : c + 2] = 250  # one row tall: its row is the peak
    return frames


def us_dataset(photometric: str, samples: int, transfer_syntax: str, region: bool = True) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame Image
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Manufacturer = "Another Scanner Co"
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLS, FRAMES
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.FrameTime = 50.0
    ds.FrameIncrementPointer = 0x00181063
    if region:
        r = Dataset()
        r.RegionSpatialFormat, r.RegionDataType, r.RegionFlags = 1, 1, 0
        r.RegionLocationMinX0, r.RegionLocationMinY0 = 0, 0
        r.RegionLocationMaxX1, r.RegionLocationMaxY1 = COLS - 1, ROWS - 1
        r.PhysicalUnitsXDirection, r.PhysicalUnitsYDirection = 3, 3
        r.PhysicalDeltaX, r.PhysicalDeltaY = DELTA_X_CM, DELTA_Y_CM
        ds.SequenceOfUltrasoundRegions = [r]
    return ds


def write_rgb(path: Path) -> None:
    ds = us_dataset("RGB", 3, ExplicitVRLittleEndian)
    rgb = np.repeat(grey_frames()[..., None], 3, axis=-1)
    ds.PixelData = rgb.tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_palette(path: Path) -> None:
    ds = us_dataset("PALETTE COLOR", 1, ExplicitVRLittleEndian)
    ramp = (np.arange(256, dtype=np.uint16) * 257).astype("<u2")  # a grey palette, 16-bit entries
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", ramp.tobytes())
    ds.PixelData = grey_frames().tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_ybr(path: Path) -> None:
    ds = us_dataset("YBR_FULL", 3, ExplicitVRLittleEndian)
    rgb = np.repeat(grey_frames()[..., None], 3, axis=-1)
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_jpeg(path: Path, region: bool = True) -> None:
    ds = us_dataset("YBR_FULL_422", 3, JPEGBaseline8Bit, region=region)
    fragments = []
    for frame in grey_frames():
        buffer = io.BytesIO()
        Image.fromarray(np.repeat(frame[..., None], 3, axis=-1), "RGB").save(buffer, "JPEG", quality=95)
        fragments.append(buffer.getvalue())
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize(
    "write", [write_rgb, write_palette, write_ybr, write_jpeg], ids=["rgb", "palette", "ybr", "jpeg"]
)
def test_foreign_dicom_replays_with_calipers_in_region_mm(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "foreign.dcm"
    write(path)
    case = load_case(path)
    assert case.calibrated and len(case.frames) == FRAMES
    assert [f.time_s for f in case.frames] == pytest.approx([0.0, 0.05, 0.10])

    ring = FrameRing(capacity_frames=16, slot_bytes=ROWS * COLS)
    engine = AcquisitionEngine(ReplayProbeDriver(path), ring, processor=DisplayProcessor())
    engine.start()
    try:
        assert ring.wait_for_frame_after(-1, timeout_s=10.0)
        got = ring.peek_latest()
    finally:
        engine.close()
    assert got is not None
    frame = got.frame
    assert frame.spacing_mm == pytest.approx((DELTA_Y_CM * 10, DELTA_X_CM * 10))
    # The grey the scanner showed, whatever the colour model it was stored in.
    assert abs(int(frame.pixels[30, 5]) - 40) <= 3
    assert abs(int(frame.pixels[MARKS[0]]) - 250) <= 8
    # Calipers on the two targets, found in the replayed pixels (JPEG blurs, the peak stays).
    column = frame.pixels[:, MARKS[0][1]].astype(int)
    top = int(np.argmax(column[:30]))
    bottom = 30 + int(np.argmax(column[30:65]))
    assert (top, bottom) == (MARKS[0][0], MARKS[1][0])
    a = pixel_centre_mm(top, MARKS[0][1], frame.spacing_mm, frame.depth_origin_mm)
    b = pixel_centre_mm(bottom, MARKS[1][1], frame.spacing_mm, frame.depth_origin_mm)
    assert distance_mm(a, b) == pytest.approx(40 * DELTA_Y_CM * 10)  # 10 mm, as the region says


def test_dicom_without_regions_is_marked_uncalibrated(tmp_path: Path) -> None:
    path = tmp_path / "plain.dcm"
    write_jpeg(path, region=False)
    driver = ReplayProbeDriver(path)
    descriptor = driver.connect()
    driver.close()
    assert descriptor.extra["calibrated"] is False


def test_a_folder_of_stills_replays_uncalibrated(tmp_path: Path) -> None:
    for i, frame in enumerate(grey_frames()):
        Image.fromarray(frame, "L").save(tmp_path / f"still_{i:02d}.png")
    case = load_case(tmp_path)
    assert not case.calibrated and len(case.frames) == FRAMES
    assert int(case.frames[2].pixels[75, 0]) == 100
