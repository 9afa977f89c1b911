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
    assert study_dir.parts[-3:] == ("scanner-app", "scanner-app", "studies")
    assert study_dir.is_relative_to(user_home / ".local" / "share")
