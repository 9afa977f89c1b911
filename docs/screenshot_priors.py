"""The department's systems in the window, at 1280 x 800 (docs/screenshots): the new-exam dialog listing
a real worklist, then the patient's MRI fetched from the PACS and shown beside the live image.

A private Orthanc with its Modality Worklists plugin (as the tests start it, tests/orthanc_fixture.py)
serves today's scheduled procedures and holds an earlier MRI of the knee (16 sagittal slices of a
phantom with an effusion). The window is built as main.py builds it (the exam dock, the PACS and Priors
tabs) on the simulated knee, with its configuration in a temporary folder naming that Orthanc as the
worklist PACS. "New exam…" is opened for real, Doe^Jane's 09:15 knee picked and OK pressed; then the
Priors tab finds her studies, lists the MRI's series and "Show beside the image" fetches it by C-GET.

Run from the repository root under a 1280 x 800 display, as the screen is grabbed with the dialog on it:
`xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python docs/screenshot_priors.py [OUT_DIR]`.
Writes worklist-1280x800.png and priors-1280x800.png.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from PyQt6.QtCore import QTimer
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication
from shot_support import ROOT, SHOTS, make_app, wait_until

PATIENT_ID = "P-1177"
SLICES = 16
SIZE = 256


def _mr_phantom(index: int) -> np.ndarray:
    """A sagittal proton-density fat-saturated knee, roughly: dark marrow, grey muscle, bright fluid
    (an effusion in the suprapatellar recess, largest on the middle slices)."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    image = np.full((SIZE, SIZE), 60.0)
    leg = ((x - 128) / 95) ** 2 + ((y - 128) / 130) ** 2 < 1.0
    image[leg] = 420.0
    femur = ((x - 120) / 38) ** 2 + ((y - 60) / 75) ** 2 < 1.0
    tibia = ((x - 125) / 36) ** 2 + ((y - 205) / 55) ** 2 < 1.0
    image[femur | tibia] = 160.0
    cartilage = (np.abs(np.hypot((x - 120) / 38, (y - 60) / 75) - 1.0) < 0.05) & (y > 100)
    image[cartilage] = 900.0
    patella = ((x - 185) / 12) ** 2 + ((y - 95) / 24) ** 2 < 1.0
    image[patella] = 170.0
    depth = 1.0 - abs(index - SLICES / 2) / (SLICES / 2)
    effusion = ((x - 170) / (10 + 14 * depth)) ** 2 + ((y - 50) / (18 + 18 * depth)) ** 2 < 1.0
    image[effusion & leg] = 1250.0
    image += rng.normal(0.0, 25.0, image.shape)
    return np.clip(image, 0, 4095).astype(np.uint16)


def _mr_slice(study_uid: str, series_uid: str, index: int) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = PATIENT_ID, "Doe^Jane", "19700215", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.StudyTime, ds.Modality = "20260612", "101500", "MR"
    ds.StudyDescription, ds.AccessionNumber = "MRI KNEE RIGHT", "ACC-26-0612"
    ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "PD FS sagittal", 3, index + 1
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.ImagePositionPatient = [-30.0 + 3.5 * index, -80.0, 80.0]
    ds.SliceThickness = 3.0
    ds.PixelSpacing = [0.6, 0.6]
    ds.WindowCenter, ds.WindowWidth = 600, 1300
    ds.Rows = ds.Columns = SIZE
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = _mr_phantom(index).tobytes()
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else SHOTS
    tmp = Path(tempfile.mkdtemp(prefix="scanner-priors-shot-"))
    for variable, folder in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
        os.environ[variable] = str(tmp / folder)  # the configuration written below, never the user's
    sys.path.insert(0, str(ROOT))

    import main as app_main
    from drivers.sim.control import SimulatorControl
    from drivers.sim.direct import DirectSimProbe
    from drivers.sim.patient import PatientRenderer
    from drivers.sim.renderer import RenderParams
    from drivers.sim.scenes import named_views
    from drivers.sim.settings import SimSettings
    from protocols.validation import load_library
    from scanner_app.engine import AcquisitionEngine
    from scanner_app.preferences import Preferences
    from scanner_app.ring import FrameRing
    from scanner_app.studies import StudyStore
    from scanner_app.studies.capture_sink import StudyCaptureSink
    from scanner_app.studies.pacs import PacsDestination
    from tests.orthanc_fixture import CALLING_AE, OrthancServer
    from tests.worklist_support import write_worklist_file
    from ui.close_prompt import EXAM_END
    from ui.exam_dialog import ExamDialog
    from ui.exam_dock import ExamController
    from ui.main_window import MainWindow, ScannerModels
    from ui.pacs_panel import default_pacs_config_path, save_destinations
    from ui.priors_panel import PriorsPanel
    from ui.sim_panel import SimulatorTab

    app = make_app()
    today = dt.date.today().strftime("%Y%m%d")
    server = OrthancServer(tmp / "orthanc", worklists=True)
    server.start()
    store = StudyStore(tmp / "studies")
    try:
        for name, pid, acc, time, proc, code in (
            ("Müller^Jörg", "P-2041", "ACC-26-0830", "083000", "US SHOULDER LEFT", "USSHL"),
            ("Doe^Jane", PATIENT_ID, "ACC-26-0915", "091500", "US KNEE RIGHT", "USKNEER"),
            ("Okafor^Chidi", "P-3310", "ACC-26-1040", "104000", "US DVT 2 POINT", "USDVT2"),
            ("Tanaka^Yuki", "P-0987", "ACC-26-1130", "113000", "US HIP", "USHIP"),
        ):
            write_worklist_file(
                server.worklist_dir, patient_name=name, patient_id=pid, accession=acc,
                scheduled_date=today, scheduled_time=time, procedure=proc, procedure_code=code,
            )  # fmt: skip
        study_uid, series_uid = generate_uid(), generate_uid()
        for index in range(SLICES):
            server.upload(_mr_slice(study_uid, series_uid, index))
        dest = PacsDestination("PACS", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE, worklist=True)
        default_pacs_config_path().parent.mkdir(parents=True, exist_ok=True)
        save_destinations(default_pacs_config_path(), [dest])

        renderer = PatientRenderer("knee", "effusion")
        probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=512, cols=512), frame_rate_hz=25.0))
        engine = AcquisitionEngine(probe, FrameRing(120, 512 * 512))
        protocols = load_library(views=named_views())[0]
        exams = ExamController(store, protocols, operator="Nguyen^Lan", ask=lambda *_q: EXAM_END)
        preferences = Preferences(tmp / "preferences.json")
        models = ScannerModels.for_engine(engine, preferences, StudyCaptureSink(store, exams.current_study))
        window = MainWindow(engine, models, switch_probe=lambda spec: None)
        simulator = SimulatorTab(window, SimulatorControl(renderer))
        app_main._add_exam_workflow(window, store, exams, simulator, preferences)
        window.resize(1280, 800)
        window.move(0, 0)
        window.show()
        engine.start()
        wait_until(lambda: window.view.draws > 5)
        out_dir.mkdir(parents=True, exist_ok=True)

        def pick_and_grab() -> None:
            dialog = QApplication.activeModalWidget()
            assert isinstance(dialog, ExamDialog), dialog
            wait_until(lambda: dialog.worklist_list.topLevelItemCount() == 4)
            dialog.worklist_list.setCurrentItem(dialog.worklist_list.topLevelItem(1))  # Doe^Jane, 09:15
            QTest.qWait(300)
            screen = app.primaryScreen()
            assert screen is not None
            screen.grabWindow(0).save(str(out_dir / "worklist-1280x800.png"))
            dialog.ok_button.click()

        QTimer.singleShot(200, pick_and_grab)
        exams.new_exam_dialog()  # modal, as the user meets it; the timer picks and presses OK
        wait_until(lambda: exams.session is not None and not exams.session.study.patient.practice_subject)

        priors = next(w for w in window.findChildren(PriorsPanel))
        window.show_side_tab(priors)
        priors.find_button.click()
        wait_until(lambda: priors.studies.count() == 1, 15000)
        priors.studies.setCurrentRow(0)
        wait_until(lambda: priors.series.count() == 1, 15000)
        priors.series.setCurrentRow(0)
        priors.show_button.click()
        wait_until(lambda: priors.viewer.images is not None, 20000)
        QTest.qWait(600)  # a few fresh live frames, the dock laid out
        window.grab().save(str(out_dir / "priors-1280x800.png"))
        print(f"wrote {out_dir}/worklist-1280x800.png and priors-1280x800.png; files in {tmp}")
        window.close()  # its `finishing` ends the exam and stops the PACS and priors workers
        engine.close()
        app.processEvents()
    finally:
        store.close()
        server.stop()


if __name__ == "__main__":
    main()
