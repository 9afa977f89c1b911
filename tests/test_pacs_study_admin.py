"""The PACS tab's study administration: a study deleted by hand (only an ended one a PACS committed,
after asking, with the refusal's reason shown), and the retention days and commitment port set in the
tab, checked, saved to the preferences and applied."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from scanner_app.preferences import Preferences
from scanner_app.studies import StudyStore
from scanner_app.studies.model import Study, StudyError
from scanner_app.studies.pacs import PacsDestination
from tests.commitment_scp import CommitmentScp
from tests.full_window_support import close_full_window, open_full_window
from tests.orthanc_fixture import CALLING_AE, _free_port
from tests.studies_support import capture_uids, stored_study
from ui.pacs_panel import PacsPanel

TIMEOUT_MS = 30000


def _join_dicom_threads() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(("AcceptorThread", "RequestorThread")):
            thread.join(10)


class _Answers:
    """A scripted `ask`: hands out the answers in order and keeps the questions."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.questions: list[str] = []

    def __call__(self, _parent: object, _title: str, question: str, _choices: Sequence[str]) -> str:
        self.questions.append(question)
        return self.answers.pop(0)


def _choose(panel: PacsPanel, study: Study) -> None:
    index = panel.study_combo.findData(study.study_uid)
    assert index >= 0, study.study_id
    panel.study_combo.setCurrentIndex(index)


def _listed(panel: PacsPanel) -> set[str]:
    return {str(panel.study_combo.itemData(i)) for i in range(panel.study_combo.count())}


def test_a_committed_study_is_deleted_by_hand_and_an_uncommitted_or_open_one_is_not(
    qtbot: QtBot, tmp_path: Path
) -> None:
    store = StudyStore(tmp_path / "studies")
    gone = stored_study(store, "P-GONE", "Admin^Pat")
    kept = stored_study(store, "P-KEPT", "Admin^Pat")
    still_open = stored_study(store, "P-OPEN", "Admin^Pat", end=False)
    kept_clip = capture_uids(store, kept)[1]
    listen = ("127.0.0.1", _free_port())
    scp = CommitmentScp(listen, refuse=frozenset({kept_clip}))
    scp.start()
    config = tmp_path / "pacs.json"
    dest = PacsDestination("pacs", "127.0.0.1", scp.port, scp.ae_title, CALLING_AE, commitment=True)
    config.write_text(json.dumps([dest.to_json()]))
    ask = _Answers()
    panel = PacsPanel(store, config, commitment_listen=listen, ask=ask)
    qtbot.addWidget(panel)
    try:
        for study in (gone, kept):
            _choose(panel, study)
            assert panel.send_selected_study() == 2
        expected = {
            (uid, "pacs"): "committed" for uid in capture_uids(store, gone) + capture_uids(store, kept)
        }
        expected[(kept_clip, "pacs")] = "failed"
        qtbot.waitUntil(
            lambda: all(panel.commitment_of(*key) == shown for key, shown in expected.items()),
            timeout=TIMEOUT_MS,
        )
        gone_uids = capture_uids(store, gone)

        # Cancelled: nothing happens.
        _choose(panel, gone)
        assert panel.delete_button.isEnabled()
        ask.answers.append("Cancel")
        assert not panel.delete_selected_study()
        assert store.get_study(gone.study_uid).study_id == gone.study_id
        question = ask.questions[-1]
        assert gone.study_id in question and "Admin, Pat, P-GONE" in question, question
        assert f"{gone.started_at:%Y-%m-%d %H:%M}" in question and "2 image(s)" in question, question

        # Deleted: gone from the store, its folder, the tab's study list and status rows.
        ask.answers.append("Delete study")
        with qtbot.waitSignal(panel.deletion_finished, timeout=TIMEOUT_MS):
            panel.delete_button.click()
        with pytest.raises(StudyError):
            store.get_study(gone.study_uid)
        assert not (store.root / gone.directory).exists()
        assert gone.study_uid not in _listed(panel)
        assert all(panel.status_of(uid, "pacs") == "" for uid in gone_uids)
        assert panel.send_label.text().startswith(f"Deleted study {gone.study_id} (Admin, Pat, P-GONE")

        # Refused: the clip no PACS committed is named, and nothing is lost.
        _choose(panel, kept)
        ask.answers.append("Delete study")
        assert panel.delete_selected_study()
        assert "1 not committed by any PACS (#2 clip)" in ask.questions[-1], ask.questions[-1]
        qtbot.waitUntil(lambda: panel.send_label.text().startswith("Not deleted"), timeout=TIMEOUT_MS)
        assert "1 of 2 image(s) not committed by any PACS (#2 clip)" in panel.send_label.text()
        assert kept.study_uid in _listed(panel)
        assert len(store.get_study(kept.study_uid).captures) == 2
        assert all(store.capture_path(c).is_file() for c in store.list_captures(kept.study_uid))

        # Open: the button is off, and asking anyway is refused without a question.
        _choose(panel, still_open)
        assert not panel.delete_button.isEnabled()
        asked = len(ask.questions)
        assert not panel.delete_selected_study()
        assert len(ask.questions) == asked
        assert "still open" in panel.send_label.text()
        assert {s.study_uid for s in store.list_studies()} == {kept.study_uid, still_open.study_uid}
    finally:
        panel.shutdown()
        scp.stop()
        store.close()
        _join_dicom_threads()


def test_retention_and_commitment_port_are_set_in_the_tab_saved_and_applied(
    qtbot: QtBot, tmp_path: Path
) -> None:
    store = StudyStore(tmp_path / "studies")
    prefs_path = tmp_path / "preferences.json"
    first_port, new_port, later_port = _free_port(), _free_port(), _free_port()
    panel = PacsPanel(
        store,
        tmp_path / "pacs.json",
        commitment_listen=("127.0.0.1", first_port),
        preferences=Preferences(prefs_path),
    )
    qtbot.addWidget(panel)
    try:
        assert panel.retention_edit.text() == "0"
        assert panel.commitment_port_edit.text() == str(first_port)
        assert not panel.run_retention()  # off

        # Bad values are named and change nothing.
        for days, port, named in (("4000", str(new_port), "'4000'"), ("30", "70000", "'70000'")):
            panel.retention_edit.setText(days)
            panel.commitment_port_edit.setText(port)
            panel.apply_settings_button.click()
            assert named in panel.settings_label.text(), panel.settings_label.text()
            assert "Nothing was changed" in panel.settings_label.text()
        panel.retention_edit.setText("a week")
        panel.apply_settings_button.click()
        assert "'a week'" in panel.settings_label.text()
        assert not prefs_path.exists() and panel.retention_days == 0 and not panel.run_retention()

        # Good values: saved, read back by the next start, and retention on at once.
        panel.retention_edit.setText("30")
        panel.commitment_port_edit.setText(str(new_port))
        panel.apply_settings_button.click()
        reread = Preferences(prefs_path)
        assert (reread.get("retention_days"), reread.get("commitment_port")) == (30, new_port)
        assert "older than 30 day(s)" in panel.settings_label.text()
        with qtbot.waitSignal(panel.retention_finished, timeout=TIMEOUT_MS):
            assert panel.run_retention()

        # The listener, started after the change, listens on the new port.
        panel.name_edit.setText("pacs")
        panel.host_edit.setText("127.0.0.1")
        panel.port_spin.setValue(_free_port())
        panel.called_edit.setText("NOBODY")
        panel.commitment_check.setChecked(True)
        assert panel.save_destination()
        assert panel.commitments is not None and panel.commitments.listener.port == new_port

        # Once listening, a new port waits for the next start, and the tab says so.
        panel.commitment_port_edit.setText(str(later_port))
        panel.apply_settings_button.click()
        assert f"keeps port {new_port} until the app is restarted" in panel.settings_label.text()
        assert Preferences(prefs_path).get("commitment_port") == later_port
        assert panel.commitments.listener.port == new_port
    finally:
        panel.shutdown()
        store.close()
        _join_dicom_threads()


def test_the_app_s_pacs_tab_saves_its_settings_to_the_app_s_preferences(qtbot: QtBot, tmp_path: Path) -> None:
    """main.py hands the tab the preferences it reads at start (and the window saves at close)."""
    full = open_full_window(qtbot, tmp_path)
    try:
        panel = full.window.findChild(PacsPanel)
        assert panel is not None
        port = _free_port()
        panel.retention_edit.setText("90")
        panel.commitment_port_edit.setText(str(port))
        panel.apply_settings_button.click()
        reread = Preferences(tmp_path / "preferences.json")
        assert (reread.get("retention_days"), reread.get("commitment_port")) == (90, port)
        assert panel.retention_days == 90
    finally:
        close_full_window(full)
