"""Test-wide rules: Qt offscreen, a timeout on every test, no thread or child process may outlive its
test, and no test sees the user's own configuration or data folders."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The folders QStandardPaths (and main.py's fallbacks) take the app's preferences, PACS destinations,
# captures and studies from, relative to HOME.
USER_FOLDERS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_CACHE_HOME": ".cache",
    "XDG_STATE_HOME": ".local/state",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--probe-usb", default=None, help="run hardware tests on the USB probe VID:PID")
    parser.addoption(
        "--probe-port", default=None, help="run hardware tests on the serial probe at PORT[@BAUD]"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--probe-usb") or config.getoption("--probe-port"):
        return
    skip = pytest.mark.skip(reason="real hardware: give --probe-usb VID:PID or --probe-port PORT")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def user_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME and XDG folders for each test: a window built with the default preferences, a PACS
    panel with the default destinations, or `main.main` with the default study folder reads and writes
    here, never in the user's ~/.config/scanner-app or ~/.local/share/scanner-app, and nothing one test
    saves there (preferences are saved when a window closes) is read by the next."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for variable, folder in USER_FOLDERS.items():
        monkeypatch.setenv(variable, str(home / folder))
    return home


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running: every thread must be stopped and joined."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith(("QThread", "Dummy"))
    ]
    # A thread that was asked to stop may need a moment to return from its last call.
    for t in leaked:
        t.join(timeout=2.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked running threads: {still}"


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves a child process running (the simulated probe's band worker): whoever
    starts one stops and joins it."""
    before = set(multiprocessing.active_children())
    yield
    leaked = [p for p in multiprocessing.active_children() if p not in before]
    for p in leaked:
        p.join(timeout=2.0)
    still = [f"{p.name} (pid {p.pid})" for p in leaked if p.is_alive()]
    for p in leaked:
        if p.is_alive():  # stopped here so it does not fail the tests after this one too
            p.kill()
            p.join(timeout=2.0)
    assert not still, f"test leaked running child processes: {still}"


QUESTION_LEFT_OPEN_S = 5.0


@pytest.fixture(autouse=True)
def no_question_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail (never hang) a test that leaves a modal question box unanswered: after a few seconds the
    box takes its default button, the test goes on, and then fails naming the question. Tests that
    expect a question answer it themselves (tests/review_support.py) or hand the feature an `ask`."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    import time

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication, QMessageBox

    opened_at: dict[int, float] = {}
    left_open: list[str] = []

    def check() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            return
        first = opened_at.setdefault(id(box), time.monotonic())
        if time.monotonic() - first > QUESTION_LEFT_OPEN_S:
            left_open.append(box.text())
            default = box.defaultButton()
            if default is not None:
                default.click()
            else:
                box.reject()

    watchdog = QTimer()
    watchdog.timeout.connect(check)
    watchdog.start(250)
    yield
    watchdog.stop()
    assert not left_open, f"a question box was left for nobody to answer: {left_open}"
