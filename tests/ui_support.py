"""Shared pieces for the UI tests: a real engine over the direct simulated probe, and the window around it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

from pytestqt.qtbot import QtBot

from drivers.sim.direct import DirectSimProbe
from drivers.sim.renderer import RenderParams
from drivers.sim.settings import SimSettings
from scanner_app.capture import CaptureSink, FolderCaptureSink
from scanner_app.engine import AcquisitionEngine
from scanner_app.preferences import Preferences
from scanner_app.probe import ProbeDriver
from scanner_app.ring import FrameRing
from ui.main_window import MainWindow, ScannerModels

ROWS, COLS = 128, 96


def make_engine(driver: ProbeDriver | None = None, capacity: int = 90) -> AcquisitionEngine:
    """A real engine over a small, paced simulated probe (30 frames/s, 128 x 96 pixels)."""
    if driver is None:
        driver = DirectSimProbe(settings=SimSettings(RenderParams(rows=ROWS, cols=COLS), frame_rate_hz=30.0))
    return AcquisitionEngine(driver, FrameRing(capacity, ROWS * COLS))


def window_models(
    engine: AcquisitionEngine, tmp_path: Path, sink: CaptureSink | None = None
) -> ScannerModels:
    """The window's models as main.py wires them, with preferences and captures under `tmp_path`."""
    return ScannerModels.for_engine(
        engine,
        Preferences(tmp_path / "config" / "preferences.json"),
        sink or FolderCaptureSink(tmp_path / "captures"),
    )


def open_window(
    qtbot: QtBot,
    tmp_path: Path,
    engine: AcquisitionEngine | None = None,
    *,
    sink: CaptureSink | None = None,
    start: bool = True,
) -> MainWindow:
    engine = engine or make_engine()
    window = MainWindow(engine, window_models(engine, tmp_path, sink), switch_probe=switched_at_once)
    qtbot.addWidget(window)
    window.resize(1200, 900)
    with qtbot.waitExposed(window):
        window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)  # window shortcuts need an active window
    if start:
        engine.start()
    return window


def switched_at_once(spec: str) -> Future[None]:
    """A probe switch that is done before it is reported (a picker with nothing behind it)."""
    done: Future[None] = Future()
    done.set_result(None)
    return done


def wait_streaming(qtbot: QtBot, window: MainWindow) -> None:
    """Wait until the window shows live frames."""
    qtbot.waitUntil(lambda: window.view.current is not None and window.view.draws >= 2, timeout=5000)


def window_fixture(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    """Body of each test file's `window` fixture: a started window, closed (engine joined) afterwards."""
    w = open_window(qtbot, tmp_path)
    yield w
    w.close()


def small_sim_probe() -> DirectSimProbe:
    """The direct simulated probe at the tests' frame size (it has a cable: unplug()/replug())."""
    return DirectSimProbe(settings=SimSettings(RenderParams(rows=ROWS, cols=COLS), frame_rate_hz=30.0))
