"""Worklist files for Orthanc's Modality Worklists plugin: one scheduled procedure step a file."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MWL_FIND = "1.2.840.10008.5.1.4.31"  # Modality Worklist Information Model - FIND


def write_worklist_file(
    folder: Path,
    *,
    patient_name: str,
    patient_id: str,
    accession: str,
    scheduled_date: str,
    scheduled_time: str = "093000",
    modality: str = "US",
    station_ae: str = "SCANNERAPP",
    procedure: str = "US KNEE RIGHT",
    procedure_code: str = "USKNEER",
    birth_date: str = "19700215",
    sex: str = "F",
    referring: str = "House^Gregory",
    study_uid: str = "",
) -> str:
    """Write one worklist entry as `accession`.wl in `folder`; return its Study Instance UID."""
    study_uid = study_uid or generate_uid()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = referring
    ds.StudyInstanceUID = study_uid
    ds.RequestedProcedureDescription = procedure
    ds.RequestedProcedureID = f"RP-{accession}"
    code = Dataset()
    code.CodeValue = procedure_code
    code.CodingSchemeDesignator = "99RIS"
    code.CodeMeaning = procedure
    ds.RequestedProcedureCodeSequence = [code]
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = station_ae
    step.ScheduledProcedureStepStartDate = scheduled_date
    step.ScheduledProcedureStepStartTime = scheduled_time
    step.ScheduledProcedureStepDescription = procedure
    step.ScheduledProcedureStepID = f"SPS-{accession}"
    ds.ScheduledProcedureStepSequence = [step]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MWL_FIND
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(folder / f"{accession}.wl", enforce_file_format=True)
    return study_uid
