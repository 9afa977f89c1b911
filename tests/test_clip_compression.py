"""Clips are kept RLE Lossless: every frame decompresses bit-exact, the file is dciodvfy-clean, a PACS
that takes RLE gets it as it is and one that does not gets the same pixels uncompressed."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.decoders.rle import _rle_decode_frame
from pydicom.uid import ExplicitVRLittleEndian

from scanner_app.frame import Frame
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendStatus
from scanner_app.studies.rle import RLE_LOSSLESS, encode_rle_frame
from scanner_app.studies.store import CLIP_NONE
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.pacs_scp import TestScp
from tests.report_support import knee_frame
from tests.studies_support import dciodvfy, make_frame


def _convex(frame: Frame) -> Frame:
    """The frame with black outside a fan, as a convex probe's image has."""
    rows, cols = frame.pixels.shape
    y, x = np.mgrid[0:rows, 0:cols]
    outside = np.abs(x - cols / 2) > (y + 20) * 0.6
    return dataclasses.replace(frame, pixels=np.where(outside, 0, frame.pixels).astype(np.uint8))


def _decoded(frame: np.ndarray) -> np.ndarray:
    rows, cols = frame.shape[:2]
    samples = 1 if frame.ndim == 2 else 3
    raw = np.frombuffer(bytes(_rle_decode_frame(encode_rle_frame(frame), rows, cols, samples, 8)), np.uint8)
    return raw.reshape(rows, cols) if samples == 1 else raw.reshape(samples, rows, cols).transpose(1, 2, 0)


@pytest.mark.parametrize(
    "row",
    [
        [7] * 128,
        [7] * 129,
        [7] * 130,
        [7] * 131,
        [1, 2] * 100,
        [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 3],
        [5],
        [9, 9],
        list(range(256)),
        [3] * 300 + list(range(200)) + [3] * 2,
    ],
)
def test_rle_rows_round_trip_bit_exact(row: list[int]) -> None:
    frame = np.array([row, row[::-1]], dtype=np.uint8)  # a row boundary inside a run, too
    np.testing.assert_array_equal(_decoded(frame), frame)


def test_rle_frames_round_trip_bit_exact() -> None:
    rng = np.random.default_rng(5)
    for frame in (
        rng.integers(0, 256, (61, 77), dtype=np.uint8),
        rng.integers(0, 3, (40, 513), dtype=np.uint8),
        np.zeros((16, 16), np.uint8),
        rng.integers(0, 2, (8, 9, 3), dtype=np.uint8),
    ):
        np.testing.assert_array_equal(_decoded(frame), frame)
    with pytest.raises(ValueError, match="uint8"):
        encode_rle_frame(np.zeros((4, 4), np.uint16))


def test_a_clip_is_kept_rle_and_reads_back_bit_exact(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "rle")
    study = store.start_study(Patient("P-RLE"), "Op^One")
    frames = [_convex(knee_frame(i)) for i in range(6)]
    record = store.save_clip(study, frames)
    still = store.save_still(study, frames[0])
    path = store.capture_path(record)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == RLE_LOSSLESS and ds.LossyImageCompression == "00"
    np.testing.assert_array_equal(ds.pixel_array, np.stack([f.pixels for f in frames]))
    assert store.read_dataset(still).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian  # stills stay
    errors, _ = dciodvfy(path)
    assert errors == []
    plain_store = StudyStore(tmp_path / "plain", clip_compression=CLIP_NONE)
    plain_study = plain_store.start_study(Patient("P-RLE"), "Op^One")
    plain = plain_store.capture_path(plain_store.save_clip(plain_study, frames))
    assert pydicom.dcmread(plain).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert path.stat().st_size < 0.9 * plain.stat().st_size  # the black outside the image: smaller
    with pytest.raises(StudyError, match="clip compression"):
        StudyStore(tmp_path / "bad", clip_compression="zip")
    store.close()
    plain_store.close()


def test_a_pacs_without_rle_gets_the_same_instance_uncompressed(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(Patient("P-RLE"), "Op^One")
    frames = [make_frame(i) for i in range(4)]
    record = store.save_clip(study, frames)
    with TestScp("NORLE") as scp:  # pynetdicom's default: uncompressed transfer syntaxes only
        sender = PacsSender(tmp_path, PacsDestination("plain", "127.0.0.1", scp.port, "NORLE"), timeout_s=5)
        try:
            sender.enqueue([record])
            sender.send_due()
            assert [s.status for s in sender.states()] == [SendStatus.SENT]
        finally:
            sender.close()
    theirs = scp.received[record.sop_instance_uid]
    assert theirs.file_meta.TransferSyntaxUID != RLE_LOSSLESS
    np.testing.assert_array_equal(theirs.pixel_array, np.stack([f.pixels for f in frames]))
    store.close()


@pytest.mark.orthanc
def test_orthanc_keeps_the_rle_clip_bit_exact(orthanc: OrthancServer, tmp_path: Path) -> None:  # noqa: F811
    store = StudyStore(tmp_path)
    study = store.start_study(Patient("P-RLE"), "Op^One")
    frames = [knee_frame(i) for i in range(5)]
    record = store.save_clip(study, frames)
    dest = PacsDestination("Orthanc", "127.0.0.1", orthanc.dicom_port, orthanc.aet, CALLING_AE)
    sender = PacsSender(tmp_path, dest, timeout_s=5)
    try:
        sender.enqueue([record])
        sender.send_due()
        assert [s.status for s in sender.states()] == [SendStatus.SENT]
    finally:
        sender.close()
    (oid,) = orthanc.get("/instances")
    theirs = pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{oid}/file")))
    assert theirs.SOPInstanceUID == record.sop_instance_uid
    assert theirs.file_meta.TransferSyntaxUID == RLE_LOSSLESS  # negotiated: sent as kept
    np.testing.assert_array_equal(theirs.pixel_array, np.stack([f.pixels for f in frames]))
    store.close()
