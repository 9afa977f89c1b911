"""The free-space warning: shown in the window's status line once the study folder's disk runs low,
with how much is left; gone again when space is freed; an unreadable folder says so."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytestqt.qtbot import QtBot

from tests.ui_support import open_window
from ui.disk_space import DiskSpaceWatch


def test_low_space_is_warned_in_the_status_line_and_the_warning_goes_when_space_is_freed(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window = open_window(qtbot, tmp_path, start=False)
    free_now = shutil.disk_usage(tmp_path).free  # the real disk's free space
    watch = DiskSpaceWatch(tmp_path, low_free_bytes=free_now * 2)
    watch.attach(window)
    assert watch.isVisible()
    assert f"{free_now / 1e9:.1f} GB left" in watch.text() and str(tmp_path) in watch.toolTip()
    # Status items stay inside the window (image-first layout): the warning is not cut off-screen.
    assert window.rect().contains(watch.mapTo(window, watch.rect().topLeft()))

    watch.low_free_bytes = free_now // 2
    watch.check()
    assert not watch.isVisible()
    window.close()


def test_a_folder_whose_space_cannot_be_read_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    window = open_window(qtbot, tmp_path, start=False)
    watch = DiskSpaceWatch(tmp_path / "gone")  # no such folder: disk_usage raises
    watch.attach(window)
    assert watch.isVisible() and "Cannot read the free space" in watch.text()
    window.close()
