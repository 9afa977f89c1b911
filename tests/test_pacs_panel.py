"""The PACS tab against a real Orthanc: a destination edited and saved, verified, and a study sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import Study
from scanner_app.studies.pacs import PacsDestination, PacsSender
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.pacs_scp import TestScp
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
        assert "destination 1 ('x'): field 'host' is missing" in panel.config_label.text()
        assert panel.destinations == []
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


def _study(store: StudyStore) -> tuple[Study, list[str]]:
    study = store.start_study(Patient("P-TAB", "Tab^Pat"), "Op^One")
    store.save_still(study, make_frame(1))
    store.save_clip(study, [make_frame(i) for i in range(2, 5)])
    return study, [c.sop_instance_uid for c in store.list_captures(study.study_uid)]


def _fill_form(panel: PacsPanel, name: str, scp: TestScp) -> None:
    panel.name_edit.setText(name)
    panel.host_edit.setText("127.0.0.1")
    panel.port_spin.setValue(scp.port)
    panel.called_edit.setText(scp.ae_title)
    panel.calling_edit.setText(CALLING_AE)


def _patient_sender(root: Path, dest: PacsDestination) -> PacsSender:
    """A sender that backs off for 10 minutes: only "Retry now" brings it back within the test."""
    return PacsSender(root, dest, base_delay_s=600.0, timeout_s=5.0)


def test_send_problems_are_shown_and_fixed_from_the_tab(qtbot: QtBot, tmp_path: Path) -> None:
    """Waiting (with the time), failed (with the reason), then Retry now, Retry failed and Resend."""
    store = StudyStore(tmp_path / "studies")
    study, uids = _study(store)
    scp = TestScp()  # not started: the PACS is down
    panel = PacsPanel(
        store, tmp_path / "pacs.json", current_study_uid=lambda: study.study_uid, make_sender=_patient_sender
    )
    qtbot.addWidget(panel)

    def all_shown(pattern: str) -> bool:
        return all(re.fullmatch(pattern, panel.status_of(uid, "pacs")) for uid in uids)

    try:
        _fill_form(panel, "pacs", scp)
        assert panel.save_destination()
        assert panel.send_selected_study() == len(uids)
        qtbot.waitUntil(lambda: all_shown(r"waiting until \d\d:\d\d:\d\d"), timeout=TIMEOUT_MS)
        assert all("connection refused" in panel.reason_of(uid, "pacs") for uid in uids)

        scp.store_status = 0xC000  # the PACS comes back, but refuses these images
        scp.start()
        panel.retry_now_button.click()
        qtbot.waitUntil(lambda: all_shown("failed"), timeout=TIMEOUT_MS)
        assert all("0xC000" in panel.reason_of(uid, "pacs") for uid in uids)
        assert panel.send_selected_study() == 0
        assert f"{len(uids)} failed earlier: Retry failed" in panel.send_label.text()

        scp.store_status = 0x0000  # its administrator fixed it
        panel.retry_failed_button.click()
        qtbot.waitUntil(lambda: all_shown("sent"), timeout=TIMEOUT_MS)
        assert sorted(scp.stored) == sorted(uids)
        assert panel.send_selected_study() == 0
        assert f"{len(uids)} already sent: Resend study" in panel.send_label.text()

        panel.resend_button.click()
        qtbot.waitUntil(lambda: len(scp.stored) == 2 * len(uids) and all_shown("sent"), timeout=TIMEOUT_MS)
        assert sorted(scp.stored) == sorted(uids * 2)
    finally:
        panel.shutdown()
        scp.stop()
        store.close()


def test_a_destination_re_pointed_in_the_tab_sends_the_study_to_the_new_pacs(
    qtbot: QtBot, tmp_path: Path
) -> None:
    store = StudyStore(tmp_path / "studies")
    study, uids = _study(store)
    config = tmp_path / "pacs.json"
    panel = PacsPanel(store, config, current_study_uid=lambda: study.study_uid)
    qtbot.addWidget(panel)
    try:
        with TestScp("OLDPACS") as old, TestScp("NEWPACS") as new:
            _fill_form(panel, "hospital", old)
            assert panel.save_destination()
            assert panel.send_selected_study() == len(uids)
            qtbot.waitUntil(
                lambda: all(panel.status_of(u, "hospital") == "sent" for u in uids), timeout=TIMEOUT_MS
            )
            _fill_form(panel, "hospital", new)  # the same destination, by name, now another PACS
            assert panel.save_destination()
            assert [d.called_ae for d in panel.destinations] == ["NEWPACS"]
            assert all(panel.status_of(u, "hospital") == "" for u in uids)  # nothing sent there yet
            assert panel.send_selected_study() == len(uids)
            qtbot.waitUntil(
                lambda: all(panel.status_of(u, "hospital") == "sent" for u in uids), timeout=TIMEOUT_MS
            )
            assert sorted(new.stored) == sorted(uids) and sorted(old.stored) == sorted(uids)
    finally:
        panel.shutdown()
        store.close()


def test_a_bad_destination_is_named_in_the_tab_and_the_good_ones_still_work(
    qtbot: QtBot, tmp_path: Path
) -> None:
    store = StudyStore(tmp_path / "studies")
    config = tmp_path / "pacs_destinations.json"
    good = {"name": "main", "host": "127.0.0.1", "port": 11112, "called_ae": "MAIN"}
    bad = {"name": "old", "host": "pacs.local", "port": 104.9, "called_ae": "OLD"}
    config.write_text(json.dumps([good, bad]))
    panel = PacsPanel(store, config)
    qtbot.addWidget(panel)
    try:
        assert [d.name for d in panel.destinations] == ["main"] and list(panel.senders) == ["main"]
        shown = panel.config_label.text()
        assert str(config) in shown and "destination 2 ('old')" in shown and "port 104.9" in shown, shown
        assert "\n" not in shown

        panel.name_edit.setText("second")
        panel.host_edit.setText("127.0.0.1")
        panel.called_edit.setText("PACS\nTWO")
        assert panel.save_destination() is False
        assert "called_ae" in panel.echo_label.text() and "not a valid AE title" in panel.echo_label.text()
        panel.called_edit.setText("PACS2")
        panel.host_edit.setText("")
        assert panel.save_destination() is False and "host is empty" in panel.echo_label.text()
        panel.host_edit.setText("127.0.0.1")
        assert panel.save_destination()
        # Saving keeps the bad entry as it was written, for someone to fix; nothing is converted.
        saved = json.loads(config.read_text())
        assert [e["name"] for e in saved] == ["main", "second", "old"] and saved[2] == bad
    finally:
        panel.shutdown()
        store.close()


def test_removing_a_destination_asks_first_and_says_it_did(qtbot: QtBot, tmp_path: Path) -> None:
    from tests.orthanc_fixture import _free_port

    store = StudyStore(tmp_path / "studies")
    config = tmp_path / "pacs.json"
    answers: list[str] = []
    asked: list[str] = []

    def ask(_parent: object, _title: str, question: str, choices: object) -> str:
        asked.append(question)
        return answers.pop(0)

    panel = PacsPanel(store, config, ask=ask)
    qtbot.addWidget(panel)
    try:
        # With nowhere to send, Send is greyed and the tab says why.
        assert not panel.send_button.isEnabled() and panel.no_destination_label.isVisibleTo(panel)
        panel.name_edit.setText("Main PACS")
        panel.host_edit.setText("127.0.0.1")
        panel.port_spin.setValue(_free_port())
        panel.called_edit.setText("MAINPACS")
        assert panel.save_destination()
        answers.append("Cancel")
        panel.remove_button.click()
        assert [d.name for d in panel.destinations] == ["Main PACS"]
        assert [d["name"] for d in json.loads(config.read_text())] == ["Main PACS"]
        assert panel.send_button.isEnabled() and not panel.no_destination_label.isVisibleTo(panel)
        assert "Main PACS" in asked[-1]
        answers.append("Remove Main PACS")
        panel.remove_button.click()
        assert panel.destinations == [] and json.loads(config.read_text()) == []
        assert panel.echo_label.text().startswith("Removed Main PACS")
        assert not panel.remove_button.isEnabled() and panel.no_destination_label.isVisibleTo(panel)
    finally:
        panel.shutdown()
        store.close()
