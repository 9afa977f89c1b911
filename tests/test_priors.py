"""Priors at a real Orthanc: the patient's earlier MRI is found (C-FIND study and series) and its
slices retrieved (C-GET) with their pixels, the current study left out of the list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.dicom_writer import encode_dataset
from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, PacsSender
from scanner_app.studies.priors import find_prior_studies, find_series, retrieve_series
from tests.orthanc_fixture import CALLING_AE, OrthancServer, _free_port, orthanc  # noqa: F401 - fixture
from tests.studies_support import make_frame

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def _mr_slice(patient_id: str, study_uid: str, series_uid: str, number: int) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(number)
    pixels = rng.integers(0, 4096, (32, 24), dtype=np.uint16)
    ds = Dataset()
    ds.SOPClassUID = MR_IMAGE
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID = "Doe^Jane", patient_id
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.StudyDescription, ds.AccessionNumber = "20260301", "MRI KNEE RIGHT", "ACC-MR-1"
    ds.Modality, ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber = "MR", 3, "PD FS SAG", number
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 1200, 2400
    ds.PixelData = pixels.tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MR_IMAGE, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return encode_dataset(ds), pixels


@pytest.mark.orthanc
def test_the_patients_mri_is_found_and_its_slices_retrieved(orthanc: OrthancServer, tmp_path: Path) -> None:  # noqa: F811
    dest = PacsDestination("Orthanc", "127.0.0.1", orthanc.dicom_port, orthanc.aet, CALLING_AE)
    mr_study, mr_series = generate_uid(), generate_uid()
    slices = {}
    for number in (2, 1, 3):
        data, pixels = _mr_slice("P-PRIOR", mr_study, mr_series, number)
        orthanc.upload(data)
        slices[number] = pixels
    orthanc.upload(_mr_slice("SOMEONE-ELSE", generate_uid(), generate_uid(), 1)[0])
    # Today's ultrasound of the same patient, already sent: not a prior.
    store = StudyStore(tmp_path)
    today = store.start_study(Patient("P-PRIOR", "Doe^Jane"), "Op^One")
    sender = PacsSender(tmp_path, dest, timeout_s=5)
    try:
        sender.enqueue([store.save_still(today, make_frame(1))])
        sender.send_due()
    finally:
        sender.close()

    priors = find_prior_studies(dest, "P-PRIOR", exclude_study_uid=today.study_uid)
    assert [(p.study_uid, p.study_date, p.modalities) for p in priors] == [(mr_study, "20260301", ("MR",))]
    assert priors[0].description == "MRI KNEE RIGHT" and priors[0].accession_number == "ACC-MR-1"
    assert len(find_prior_studies(dest, "P-PRIOR")) == 2  # with today's
    [series] = find_series(dest, mr_study)
    assert (series.series_uid, series.modality, series.description) == (mr_series, "MR", "PD FS SAG")
    assert series.instances == 3
    images = retrieve_series(dest, mr_study, mr_series)
    assert [int(ds.InstanceNumber) for ds in images] == [1, 2, 3]
    for ds in images:
        np.testing.assert_array_equal(ds.pixel_array, slices[int(ds.InstanceNumber)])
    store.close()


def test_priors_from_nowhere_fail_with_a_reason() -> None:
    port = _free_port()
    dest = PacsDestination("none", "127.0.0.1", port, "NOBODY")
    with pytest.raises(StudyError, match=f"127.0.0.1:{port}"):
        find_prior_studies(dest, "P-1", timeout_s=2.0)
    with pytest.raises(StudyError, match="no ID"):
        find_prior_studies(dest, " ")
