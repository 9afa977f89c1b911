"""The new-exam dialog with today's worklist, one scheduled procedure picked (docs/screenshots).

A private Orthanc with its Modality Worklists plugin (as the tests start it, tests/orthanc_fixture.py)
serves four scheduled procedures written into a temporary folder; the dialog asks it, the 08:30 one is
picked and fills the patient, the accession and (from protocols/procedures.yaml) the protocol.
Saved as docs/screenshots/worklist.png, or OUT.png. Run from the repository root, under a display
(`xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python docs/screenshot_worklist.py [OUT.png]`)
or with QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs"))

from PyQt6.QtWidgets import QApplication  # noqa: E402
from take_screenshots import wait_until  # noqa: E402

from protocols.procedure_map import ProcedureProtocolMap  # noqa: E402
from protocols.validation import load_library  # noqa: E402
from scanner_app.studies.pacs import PacsDestination  # noqa: E402
from tests.orthanc_fixture import CALLING_AE, OrthancServer  # noqa: E402
from tests.worklist_support import write_worklist_file  # noqa: E402
from ui.exam_dialog import ExamDialog, worklist_source  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots" / "worklist.png"
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_dark_theme(app)
    today = dt.date.today().strftime("%Y%m%d")
    with tempfile.TemporaryDirectory() as tmp:
        server = OrthancServer(Path(tmp), worklists=True)
        server.start()
        try:
            for name, pid, acc, time, proc, code in (
                ("Müller^Jörg", "P-2041", "ACC-26-0830", "083000", "US SHOULDER LEFT", "USSHL"),
                ("Doe^Jane", "P-1177", "ACC-26-0915", "091500", "US KNEE RIGHT", "USKNEER"),
                ("Okafor^Chidi", "P-3310", "ACC-26-1040", "104000", "US DVT 2 POINT", "USDVT2"),
                ("Tanaka^Yuki", "P-0987", "ACC-26-1130", "113000", "US HIP", "USHIP"),
            ):
                write_worklist_file(
                    server.worklist_dir, patient_name=name, patient_id=pid, accession=acc,
                    scheduled_date=today, scheduled_time=time, procedure=proc, procedure_code=code,
                )  # fmt: skip
            protocols, _ = load_library()
            dest = PacsDestination(
                "ris", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE, worklist=True
            )
            dialog = ExamDialog(
                protocols,
                has_simulator=False,
                operator="Nguyen^Lan",
                worklist=worklist_source(dest),
                procedure_map=ProcedureProtocolMap.load(),
                station_ae=CALLING_AE,
            )
            dialog.resize(1200, 640)
            dialog.show()
            wait_until(lambda: dialog.worklist_list.topLevelItemCount() == 4)
            dialog.worklist_list.setCurrentItem(dialog.worklist_list.topLevelItem(0))
            dialog.side.setCurrentText("left")
            app.processEvents()
            out.parent.mkdir(parents=True, exist_ok=True)
            dialog.grab().save(str(out))
            dialog.reject()
            print(f"wrote {out}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
