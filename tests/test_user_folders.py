"""No test reads or writes the user's own configuration or data folders (issue 11 item 20): every
default location the app uses resolves inside the test's own HOME (tests/conftest.py `user_home`)."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

import main
from ui.main_window import default_capture_dir, default_preferences_path
from ui.pacs_panel import default_pacs_config_path


def test_default_config_and_data_locations_are_inside_the_tests_home(qtbot: QtBot, user_home: Path) -> None:
    names = (QCoreApplication.organizationName(), QCoreApplication.applicationName())
    try:
        study_dir = main.default_study_dir()  # names the application "scanner-app", as the app does
        locations = [default_preferences_path(), default_capture_dir(), default_pacs_config_path(), study_dir]
    finally:
        QCoreApplication.setOrganizationName(names[0])
        QCoreApplication.setApplicationName(names[1])
    for location in locations:
        assert location.is_relative_to(user_home), location
    assert study_dir.parts[-3:] == ("share", "scanner-app", "studies")  # as the README says
    assert study_dir.is_relative_to(user_home / ".local" / "share")


def test_an_older_nested_folder_is_read_while_the_new_one_is_absent(qtbot: QtBot, user_home: Path) -> None:
    new_studies = main.default_study_dir()
    assert new_studies == user_home / ".local" / "share" / "scanner-app" / "studies"
    assert default_preferences_path() == user_home / ".config" / "scanner-app" / "preferences.json"
    # An earlier version kept them one folder deeper (organisation and application both named).
    old_studies = user_home / ".local" / "share" / "scanner-app" / "scanner-app" / "studies"
    old_studies.mkdir(parents=True)
    old_prefs = user_home / ".config" / "scanner-app" / "scanner-app" / "preferences.json"
    old_prefs.parent.mkdir(parents=True)
    old_prefs.write_text("{}")
    assert main.default_study_dir() == old_studies
    assert default_preferences_path() == old_prefs
    new_studies.mkdir(parents=True)  # once the new one exists, it wins
    assert main.default_study_dir() == new_studies
