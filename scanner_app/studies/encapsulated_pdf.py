"""The signed report as a DICOM Encapsulated PDF (PS3.3 A.45.1), in the study it reports on.

Same Study Instance UID and patient module as the images, its own series (modality DOC), so a PACS
files it with the exam; a viewer shows the PDF as it was signed.
"""

from __future__ import annotations

from datetime import datetime

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from scanner_app.studies.dicom_writer import (
    APP_NAME,
    APP_VERSION,
    _dicom_date,
    _dicom_time,
    new_instance,
)
from scanner_app.studies.model import Study

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
REPORT_SERIES_DESCRIPTION = "Signed report"
# LOINC 18748-4 "Diagnostic imaging study": what kind of document this is, for a PACS to sort it.
_DOCUMENT_CONCEPT = ("18748-4", "LN", "Diagnostic imaging study")


def build_encapsulated_pdf(
    study: Study,
    pdf: bytes,
    *,
    title: str,
    sop_instance_uid: str,
    series_uid: str,
    series_number: int,
    instance_number: int,
    created_at: datetime,
) -> Dataset:
    """An Encapsulated PDF Storage dataset holding `pdf`, with the study's patient and study modules."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("the encapsulated document must be a PDF")
    ds = new_instance(ENCAPSULATED_PDF_STORAGE, sop_instance_uid, study, created_at)

    # Encapsulated Document Series
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = REPORT_SERIES_DESCRIPTION

    # General Equipment and SC Equipment: the workstation made the document
    ds.Manufacturer = APP_NAME
    ds.SoftwareVersions = f"{APP_NAME} {APP_VERSION}"
    ds.ConversionType = "WSD"  # workstation

    # Encapsulated Document
    ds.InstanceNumber = instance_number
    ds.ContentDate = _dicom_date(created_at)
    ds.ContentTime = _dicom_time(created_at)
    ds.AcquisitionDateTime = created_at.strftime("%Y%m%d%H%M%S.%f")
    ds.BurnedInAnnotation = "YES"  # the patient's name and ID are printed on every page
    ds.DocumentTitle = title[:64]
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = _DOCUMENT_CONCEPT
    ds.ConceptNameCodeSequence = DicomSequence([code])
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB must have an even length; the padding byte is not part of the document (its length says so).
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")

    return ds
