"""Where the app keeps the user's files: ~/.config/scanner-app and ~/.local/share/scanner-app.

The folders are named here, not by Qt's organisation and application names (both "scanner-app" made
Qt's AppDataLocation ~/.local/share/scanner-app/scanner-app). A file or folder that only that older
location has is still read from there, so nothing an earlier version kept is lost.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QStandardPaths

APP_FOLDER = "scanner-app"


def user_path(name: str, *, config: bool) -> Path:
    """`name` in the app's configuration folder (`config`) or data folder, or in the older nested one
    when only that has it."""
    if config:
        location, fallback = QStandardPaths.StandardLocation.GenericConfigLocation, Path(".config")
    else:
        location, fallback = QStandardPaths.StandardLocation.GenericDataLocation, Path(".local", "share")
    base = Path(QStandardPaths.writableLocation(location) or Path.home() / fallback) / APP_FOLDER
    new, old = base / name, base / APP_FOLDER / name
    return old if old.exists() and not new.exists() else new
