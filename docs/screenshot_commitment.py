"""The PACS tab after a study was sent to a PACS with storage commitment: each image "committed"
(docs/screenshots/pacs_commitment.png, or OUT.png).

A private Orthanc (as the tests start it, tests/orthanc_fixture.py) receives a knee study of three
images, is asked to commit them, and reports on its own association to the tab's listener. Run from
the repository root with QT_QPA_PLATFORM=offscreen: `.venv/bin/python docs/screenshot_commitment.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shot_support import SHOTS, make_app, temp_folder, wait_until

from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.pacs import PacsDestination
from tests.orthanc_fixture import CALLING_AE, OrthancServer, _free_port
from tests.studies_support import make_frame
from ui.pacs_panel import PacsPanel, save_destinations


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SHOTS / "pacs_commitment.png"
    app = make_app()
    tmp = temp_folder()
    listen_port = _free_port()
    server = OrthancServer(tmp / "orthanc", modality_port=listen_port)
    server.start()
    store = StudyStore(tmp / "studies")
    try:
        study = store.start_study(Patient("P-2041", "Müller^Jörg"), "Nguyen^Lan", protocol_id="knee")
        knee = {"laterality": "R", "body_part": "KNEE"}
        store.save_still(study, make_frame(1), knee)
        store.save_still(study, make_frame(2), knee)
        store.save_clip(study, [make_frame(i) for i in range(3, 9)], knee)
        store.end_study(study)
        config = tmp / "pacs.json"
        dest = PacsDestination(
            "department PACS", "127.0.0.1", server.dicom_port, server.aet, CALLING_AE, commitment=True
        )
        save_destinations(config, [dest])
        panel = PacsPanel(
            store, config, lambda: study.study_uid, commitment_listen=("127.0.0.1", listen_port)
        )
        # The side panel's width, and the whole tab's height (it scrolls there; squeezed, rows overlap).
        layout = panel.layout()
        panel.resize(400, max(1000, layout.heightForWidth(400) if layout is not None else 0))
        panel.show()
        panel.send_selected_study()
        uids = [c.sop_instance_uid for c in store.list_captures(study.study_uid)]
        wait_until(lambda: all(panel.commitment_of(u, dest.name) == "committed" for u in uids), 30000)
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        panel.grab().save(str(out))
        panel.shutdown()
        print(f"wrote {out}")
    finally:
        store.close()
        server.stop()


if __name__ == "__main__":
    main()
