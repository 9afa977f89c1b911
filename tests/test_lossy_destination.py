"""A destination set to JPEG Baseline gets clips lossy (grey MONOCHROME2, colour YBR_FULL_422 at 4:2:2),
as new derived instances that say so; every other destination, and a PACS that turns JPEG down, gets
them lossless; the store's own copy is never touched."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian
from pytestqt.qtbot import QtBot

from scanner_app.doppler_processing import FlowBox, FlowFrame
from scanner_app.frame import Geometry
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.dicom_writer import US_MULTIFRAME_IMAGE_STORAGE
from scanner_app.studies.lossy import (
    JPEG_BASELINE,
    LossyCompressionError,
    jpeg_baseline_copy,
    lossy_instance_uid,
)
from scanner_app.studies.model import StudyCapture
from scanner_app.studies.pacs import (
    COMPRESSION_JPEG_BASELINE,
    DestinationError,
    PacsDestination,
    PacsSender,
    SendStatus,
)
from scanner_app.studies.rle import RLE_LOSSLESS
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.pacs_scp import TestScp
from tests.report_support import knee_frame
from tests.studies_support import dciodvfy

# Measured at quality 90: speckle about 36 dB, colour flow over speckle about 35 dB. Below 30 dB a
# JPEG is visibly blocky; bit-exact would be infinite.
MIN_PSNR_DB = 30.0


def _flow(index: int) -> FlowFrame:
    """Flow toward the probe, then away (red, then blue) in a box 5-15 mm deep, 8-24 mm across."""
    lines, samples = 24, 40
    velocity = np.full((lines, samples), 20.0 if index % 2 == 0 else -20.0, dtype=np.float32)
    valid = np.zeros((lines, samples), dtype=bool)
    valid[6:18, 10:30] = True
    return FlowFrame(
        velocity_cm_s=velocity,
        power_db=np.where(valid, -20.0, -90.0).astype(np.float32),
        variance=np.zeros((lines, samples), dtype=np.float32),
        valid=valid,
        power_valid=valid.copy(),
        box=FlowBox(Geometry.LINEAR, top_mm=5.0, bottom_mm=15.0, left=8.0, right=24.0),
        nyquist_cm_s=40.0,
        prf_hz=4000.0,
        f0_mhz=5.0,
        wall_cutoff_hz=50.0,
    )


def _psnr_db(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> float:
    mse = float(np.mean((np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _captures(store: StudyStore) -> tuple[StudyCapture, StudyCapture, StudyCapture]:
    """A colour-flow clip, a B-mode clip (kept RLE) and a still, in one study."""
    study = store.start_study(Patient("P-JPEG", "Doe^Jane", "19700203", "F"), "Op^One")
    frames = [knee_frame(i) for i in range(4)]
    colour = store.save_doppler_clip(
        study, frames, [_flow(i) for i in range(4)], labels={"imaging_mode": "color_doppler"}
    )
    grey = store.save_clip(study, frames)
    still = store.save_still(study, frames[0])
    return colour, grey, still


def _jpeg_sampling(ds: Dataset) -> list[tuple[int, int]]:
    """The (horizontal, vertical) sampling factors of each component of the first JPEG frame."""
    first = next(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    with Image.open(io.BytesIO(first)) as image:
        return [(h, v) for _id, h, v, _table in image.layer]  # type: ignore[attr-defined]


def test_a_colour_clip_becomes_a_derived_ybr_full_422_jpeg_instance(tmp_path: Path) -> None:
    with StudyStore(tmp_path / "store") as store:
        colour, grey, _still = _captures(store)
        original = store.read_dataset(colour)
        expected = original.pixel_array
        lossy = jpeg_baseline_copy(original)
        path = tmp_path / "lossy.dcm"
        lossy.save_as(path, enforce_file_format=True)
        grey_path = tmp_path / "grey.dcm"
        jpeg_baseline_copy(store.read_dataset(grey)).save_as(grey_path, enforce_file_format=True)
        kept = store.read_dataset(colour)
    back = pydicom.dcmread(path)
    assert back.file_meta.TransferSyntaxUID == JPEG_BASELINE
    assert (back.PhotometricInterpretation, back.PlanarConfiguration) == ("YBR_FULL_422", 0)
    assert _jpeg_sampling(back) == [(2, 1), (1, 1), (1, 1)]  # 4:2:2, as the name says
    assert back.LossyImageCompression == "01" and back.LossyImageCompressionMethod == "ISO_10918_1"
    stored_bytes = expected.nbytes
    jpeg_bytes = sum(len(f) for f in generate_frames(back.PixelData, number_of_frames=4))
    assert float(back.LossyImageCompressionRatio) == pytest.approx(stored_bytes / jpeg_bytes, abs=0.01)
    assert float(back.LossyImageCompressionRatio) > 2.0
    assert back.SOPInstanceUID == lossy_instance_uid(colour.sop_instance_uid) != colour.sop_instance_uid
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert back.ImageType[0] == "DERIVED"
    (source,) = back.SourceImageSequence
    assert source.ReferencedSOPInstanceUID == colour.sop_instance_uid
    assert source.PurposeOfReferenceCodeSequence[0].CodeValue == "121320"
    assert back.DerivationCodeSequence[0].CodeValue == "113040"
    assert _psnr_db(back.pixel_array, expected) > MIN_PSNR_DB  # decoded back to RGB by pydicom
    assert dciodvfy(path)[0] == []
    assert dciodvfy(grey_path)[0] == []
    grey_back = pydicom.dcmread(grey_path)
    assert grey_back.PhotometricInterpretation == "MONOCHROME2" and _jpeg_sampling(grey_back) == [(1, 1)]
    # The store's copy is untouched: still the lossless original.
    assert kept.SOPInstanceUID == colour.sop_instance_uid and kept.LossyImageCompression == "00"
    assert kept.PhotometricInterpretation == "RGB"
    np.testing.assert_array_equal(kept.pixel_array, expected)
    with pytest.raises(LossyCompressionError, match="already lossy"):
        jpeg_baseline_copy(back)


def test_the_compression_setting_round_trips_and_is_checked() -> None:
    dest = PacsDestination("Web", "pacs", 104, "WEBPACS", compression=COMPRESSION_JPEG_BASELINE)
    assert dest.to_json()["compression"] == "jpeg-baseline"
    assert PacsDestination.from_json(dest.to_json()) == dest
    plain = PacsDestination("Main", "pacs", 104, "MAIN")
    assert "compression" not in plain.to_json()  # older files stay as they were
    with pytest.raises(DestinationError, match="jpeg-2000") as err:
        PacsDestination("Web", "pacs", 104, "WEBPACS", compression="jpeg-2000")
    assert err.value.field == "compression"


def test_only_a_destination_set_for_it_proposes_jpeg_baseline(tmp_path: Path) -> None:
    with StudyStore(tmp_path):
        pass
    offered = {}
    for dest in (
        PacsDestination("Main", "127.0.0.1", 104, "MAIN"),
        PacsDestination("Web", "127.0.0.1", 105, "WEB", compression=COMPRESSION_JPEG_BASELINE),
    ):
        sender = PacsSender(tmp_path, dest)
        offered[dest.name] = {ts for cx in sender._ae.requested_contexts for ts in cx.transfer_syntax}
        sender.close()
    assert JPEG_BASELINE not in offered["Main"]
    assert JPEG_BASELINE in offered["Web"]


def test_a_pacs_that_turns_jpeg_down_gets_the_clip_lossless(tmp_path: Path) -> None:
    with StudyStore(tmp_path) as store:
        colour, grey, _still = _captures(store)
        expected = {c.sop_instance_uid: store.read_dataset(c).pixel_array for c in (colour, grey)}
        # pynetdicom's default: uncompressed transfer syntaxes only.
        with TestScp("NOJPEG") as scp:
            dest = PacsDestination(
                "Web", "127.0.0.1", scp.port, "NOJPEG", compression=COMPRESSION_JPEG_BASELINE
            )
            sender = PacsSender(tmp_path, dest, timeout_s=5)
            try:
                sender.enqueue([colour, grey])
                sender.send_due()
                assert [s.status for s in sender.states()] == [SendStatus.SENT] * 2
            finally:
                sender.close()
    assert sorted(scp.received) == sorted(expected)  # the originals' UIDs: no lossy copy was made
    for uid, pixels in expected.items():
        theirs = scp.received[uid]
        assert theirs.file_meta.TransferSyntaxUID != JPEG_BASELINE and theirs.LossyImageCompression == "00"
        np.testing.assert_array_equal(theirs.pixel_array, pixels)


@pytest.mark.orthanc
def test_orthanc_gets_jpeg_from_a_lossy_destination_and_bit_exact_from_a_default_one(
    orthanc: OrthancServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    with StudyStore(tmp_path) as store:
        colour, grey, still = _captures(store)
        originals = {c.sop_instance_uid: store.read_dataset(c) for c in (colour, grey, still)}
        lossy_dest = PacsDestination(
            "Web",
            "127.0.0.1",
            orthanc.dicom_port,
            orthanc.aet,
            CALLING_AE,
            compression=COMPRESSION_JPEG_BASELINE,
        )
        plain_dest = PacsDestination("Main", "127.0.0.1", orthanc.dicom_port, orthanc.aet, CALLING_AE)
        for dest, send in ((lossy_dest, PacsSender.enqueue), (plain_dest, PacsSender.resend)):
            sender = PacsSender(tmp_path, dest, timeout_s=5)
            try:
                send(sender, [colour, grey, still])
                sender.send_due()
                assert [s.status for s in sender.states()] == [SendStatus.SENT] * 3
            finally:
                sender.close()

    def theirs(uid: str) -> Dataset:
        (oid,) = [o for o in orthanc.get("/instances") if orthanc.get(f"/instances/{o}")["MainDicomTags"]
                  ["SOPInstanceUID"] == uid]  # fmt: skip
        return pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{oid}/file")))

    lossy_uids = {lossy_instance_uid(colour.sop_instance_uid), lossy_instance_uid(grey.sop_instance_uid)}
    assert sorted(orthanc.sop_instance_uids()) == sorted({*originals, *lossy_uids})
    # The lossy destination: the clips as JPEG Baseline, the colour one YBR_FULL_422; the still as kept.
    web_colour = theirs(lossy_instance_uid(colour.sop_instance_uid))
    assert web_colour.file_meta.TransferSyntaxUID == JPEG_BASELINE
    assert web_colour.PhotometricInterpretation == "YBR_FULL_422" and web_colour.LossyImageCompression == "01"
    assert _psnr_db(web_colour.pixel_array, originals[colour.sop_instance_uid].pixel_array) > MIN_PSNR_DB
    web_grey = theirs(lossy_instance_uid(grey.sop_instance_uid))
    assert (web_grey.file_meta.TransferSyntaxUID, web_grey.PhotometricInterpretation) == (
        JPEG_BASELINE,
        "MONOCHROME2",
    )
    assert _psnr_db(web_grey.pixel_array, originals[grey.sop_instance_uid].pixel_array) > MIN_PSNR_DB
    # The default destination: every image bit-exact under its own UID, the grey clip RLE as kept.
    for uid, original in originals.items():
        mine = theirs(uid)
        assert mine.LossyImageCompression == "00"
        assert mine.file_meta.TransferSyntaxUID in (RLE_LOSSLESS, ExplicitVRLittleEndian)
        np.testing.assert_array_equal(mine.pixel_array, original.pixel_array)
    assert theirs(grey.sop_instance_uid).file_meta.TransferSyntaxUID == RLE_LOSSLESS
    assert theirs(colour.sop_instance_uid).SOPClassUID == US_MULTIFRAME_IMAGE_STORAGE


def test_the_pacs_tab_sets_and_shows_a_destinations_clip_compression(qtbot: QtBot, tmp_path: Path) -> None:
    from ui.pacs_panel import PacsPanel

    config = tmp_path / "pacs.json"
    with StudyStore(tmp_path / "studies") as store:
        panel = PacsPanel(store, config)
        qtbot.addWidget(panel)
        try:
            panel.name_edit.setText("Web")
            panel.host_edit.setText("127.0.0.1")
            panel.port_spin.setValue(11112)
            panel.called_edit.setText("WEBPACS")
            panel.compression_combo.setCurrentIndex(panel.compression_combo.findText("JPEG (lossy)"))
            assert panel.save_destination() is True
            panel.name_edit.setText("Main")
            panel.compression_combo.setCurrentIndex(panel.compression_combo.findText("Lossless"))
            assert panel.save_destination() is True
        finally:
            panel.shutdown()
        assert [d.get("compression") for d in json.loads(config.read_text())] == ["jpeg-baseline", None]
        again = PacsPanel(store, config)
        qtbot.addWidget(again)
        try:
            again.dest_list.setCurrentRow(0)
            assert again.compression_combo.currentText() == "JPEG (lossy)"
            again.dest_list.setCurrentRow(1)
            assert again.compression_combo.currentText() == "Lossless"
        finally:
            again.shutdown()
