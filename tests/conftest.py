"""Test-wide rules: Qt offscreen, a timeout on every test, and no thread may outlive its test."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--probe-usb", default=None, help="run hardware tests on the USB probe VID:PID")
    parser.addoption("--probe-port", default=None, help="run hardware tests on the serial probe at PORT[@BAUD]")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--probe-usb") or config.getoption("--probe-port"):
        return
    skip = pytest.mark.skip(reason="real hardware: give --probe-usb VID:PID or --probe-port PORT")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


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
