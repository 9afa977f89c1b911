"""The PACS tab against a real Orthanc: a destination edited and saved, verified, and a study sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from scanner_app.studies import Patient, StudyStore
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.studies_support import make_frame
from ui.pacs_panel import PacsPanel

TIMEOUT_MS = 20000


@pytest.mark.orthanc
def test_verify_and_send_a_study_to_orthanc(qtbot: QtBot, tmp_path: Path, orthanc: OrthancServer) -> None:  # noqa: F811
    store = StudyStore(tmp_path / "studies")
    study = store.start_study(Patient("P-PACS", "Pacs^Pat"), "Op^One")
    store.save_still(study, make_frame(1), {"laterality": "R", "body_part": "KNEE"})
    store.save_clip(study, [make_frame(i) for i in range(2, 6)], {"laterality": "R", "body_part": "KNEE"})
    config = tmp_path / "config" / "pacs_destinations.json"
    panel = PacsPanel(store, config, current_study_uid=lambda: study.study_uid)
    qtbot.addWidget(panel)
    try:
        assert panel.destinations == [] and not panel.send_button.isEnabled()
        panel.name_edit.setText("orthanc")
        panel.host_edit.setText("127.0.0.1")
        panel.port_spin.setValue(orthanc.dicom_port)
        panel.called_edit.setText(orthanc.aet)
        panel.calling_edit.setText("THIS AE TITLE IS FAR TOO LONG")
        assert panel.save_destination() is False and "not a valid AE title" in panel.echo_label.text()
        panel.calling_edit.setText(CALLING_AE)
        assert panel.save_destination() is True
        assert json.loads(config.read_text())[0]["port"] == orthanc.dicom_port

        panel.verify_button.click()
        qtbot.waitUntil(lambda: panel.echo_label.text().startswith(("✓", "✗")), timeout=TIMEOUT_MS)
        assert panel.echo_label.text().startswith("✓"), panel.echo_label.text()

        assert panel.study_combo.currentData() == study.study_uid
        assert panel.send_selected_study() == 2
        uids = [c.sop_instance_uid for c in store.list_captures(study.study_uid)]
        assert all(panel.status_of(uid, "orthanc") in ("queued", "sent") for uid in uids)
        qtbot.waitUntil(
            lambda: all(panel.status_of(uid, "orthanc") == "sent" for uid in uids), timeout=TIMEOUT_MS
        )
        assert set(uids) <= set(orthanc.sop_instance_uids())
    finally:
        panel.shutdown()
    # A new panel (the next start) reads the saved destination and shows what was sent.
    again = PacsPanel(store, config)
    qtbot.addWidget(again)
    try:
        assert [d.name for d in again.destinations] == ["orthanc"]
        assert all(again.status_of(uid, "orthanc") == "sent" for uid in uids)
    finally:
        again.shutdown()
        store.close()


def test_verify_failure_is_shown_and_a_bad_config_file_is_reported(qtbot: QtBot, tmp_path: Path) -> None:
    from tests.orthanc_fixture import _free_port

    store = StudyStore(tmp_path / "studies")
    config = tmp_path / "pacs.json"
    config.write_text('[{"name": "x"}]')
    panel = PacsPanel(store, config)
    qtbot.addWidget(panel)
    try:
        assert "incomplete or malformed" in panel.echo_label.text() and panel.destinations == []
        panel.name_edit.setText("nobody")
        panel.host_edit.setText("127.0.0.1")
        panel.port_spin.setValue(_free_port())
        panel.called_edit.setText("NOBODY")
        assert panel.save_destination()
        panel.verify_selected()
        qtbot.waitUntil(lambda: panel.echo_label.text().startswith(("✓", "✗")), timeout=TIMEOUT_MS)
        assert panel.echo_label.text().startswith("✗")
        assert panel.send_selected_study() == 0  # no study yet: said so, nothing queued
        assert "Choose a destination and a study" in panel.echo_label.text()
    finally:
        panel.shutdown()
        store.close()
