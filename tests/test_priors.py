"""Priors for correlation from a real Orthanc: the patient's earlier studies found by C-FIND, an MRI
series fetched by C-GET in slice order, and its pixels ready to show with the file's window."""

from __future__ import annotations

import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pytestqt.qtbot import QtBot

from scanner_app.studies.pacs import PacsDestination
from scanner_app.studies.priors import (
    PriorsError,
    find_prior_studies,
    find_series,
    load_series,
    retrieve_series,
)
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.ui_support import open_window
from ui.priors_panel import PriorsPanel

SLICES = 5


def _mr_slice(study_uid: str, series_uid: str, z_mm: float, number: int) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID, ds.PatientName = "KNEE-7", "Doe^Jane"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.Modality, ds.StudyDescription = "20260301", "MR", "MRI knee right"
    ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "PD FS sagittal", 3, number
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # sagittal: slices along x
    ds.ImagePositionPatient = [z_mm, -50.0, 50.0]
    ds.PixelSpacing = [0.4, 0.4]
    ds.WindowCenter, ds.WindowWidth = 600, 1200
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.full((32, 32), int(100 * z_mm), dtype=np.uint16).tobytes()  # each slice its own value
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _upload(server: OrthancServer, data: bytes) -> None:
    request = urllib.request.Request(server.url + "/instances", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def _dest(server: OrthancServer) -> PacsDestination:
    return PacsDestination("test-pacs", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE)


@pytest.mark.orthanc
def test_an_mri_prior_is_found_fetched_in_slice_order_and_shown(
    orthanc: OrthancServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    study_uid, series_uid = generate_uid(), generate_uid()
    for number, z in enumerate([3.0, 1.0, 5.0, 2.0, 4.0], start=1):  # stored out of order
        _upload(orthanc, _mr_slice(study_uid, series_uid, z, number))
    dest = _dest(orthanc)
    (prior,) = find_prior_studies(dest, "KNEE-7", exclude_study_uid="2.25.1")
    assert prior.study_uid == study_uid and prior.modalities == ("MR",) and "MRI knee" in prior.describe()
    assert (
        find_prior_studies(dest, "KNEE-7", exclude_study_uid=study_uid) == []
    )  # the current exam is no prior
    (series,) = find_series(dest, study_uid)
    assert (series.series_uid, series.modality, series.instances) == (series_uid, "MR", SLICES)
    paths = retrieve_series(dest, study_uid, series_uid, tmp_path / "priors")
    assert len(paths) == SLICES
    positions = [float(pydicom.dcmread(p).ImagePositionPatient[0]) for p in paths]
    # Slice order along the slices' normal, not the arrival or instance order.
    assert positions in (sorted(positions), sorted(positions, reverse=True)) and len(set(positions)) == SLICES
    images = load_series(paths)
    assert images.frames.shape == (SLICES, 32, 32)
    assert [float(f[0, 0]) for f in images.frames] == [100.0 * z for z in positions]
    assert images.window == (600.0, 1200.0) and images.spacing_mm == (0.4, 0.4)


@pytest.mark.orthanc
def test_no_priors_and_no_pacs_are_said_in_words(orthanc: OrthancServer) -> None:  # noqa: F811
    assert find_prior_studies(_dest(orthanc), "NOBODY-1") == []
    with pytest.raises(PriorsError, match="no patient ID"):
        find_prior_studies(_dest(orthanc), " ")
    gone = PacsDestination("gone", "127.0.0.1", 1, "NOBODY")
    with pytest.raises(PriorsError, match="cannot reach"):
        find_prior_studies(gone, "KNEE-7", timeout_s=2.0)


@pytest.mark.orthanc
def test_the_priors_tab_shows_the_mri_beside_the_live_image(
    qtbot: QtBot,
    orthanc: OrthancServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    study_uid, series_uid = generate_uid(), generate_uid()
    for number, z in enumerate([1.0, 2.0, 3.0, 4.0, 5.0], start=1):
        _upload(orthanc, _mr_slice(study_uid, series_uid, z, number))
    window = open_window(qtbot, tmp_path)
    panel = PriorsPanel(lambda: [_dest(orthanc)], lambda: ("KNEE-7", "2.25.99"), cache_dir=tmp_path / "cache")
    panel.attach(window)
    try:
        panel.find_button.click()
        qtbot.waitUntil(lambda: panel.studies.count() == 1, timeout=10000)
        panel.studies.setCurrentRow(0)
        qtbot.waitUntil(lambda: panel.series.count() == 1, timeout=10000)
        panel.series.setCurrentRow(0)
        panel.show_button.click()
        qtbot.waitUntil(lambda: panel.viewer.images is not None, timeout=15000)
        # Qt shows a dock added to a shown window from a queued call (QLayout::addChildWidget): the
        # test went on before it ran now and then under load, and found the dock not yet visible.
        qtbot.waitUntil(lambda: panel.dock is not None and panel.dock.isVisible(), timeout=5000)
        viewer = panel.viewer
        assert viewer.position.text() == "3/5"  # opens on the middle slice
        # The middle slice of the five (each slice's pixels are 100 x its position in mm).
        assert float(viewer.image.image[0, 0]) == 300.0
        before = viewer.image.image.copy()
        viewer.slider.setValue(0)
        assert not np.array_equal(before, viewer.image.image)  # another slice
        assert viewer.image.levels is not None and tuple(viewer.image.levels) == (
            0.0,
            1200.0,
        )  # the file's C/W
    finally:
        window.close()
