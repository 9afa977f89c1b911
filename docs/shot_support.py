"""What the screenshot scripts share: the themed app, a window on the simulated patient at 512 x 512
and 30 frames/s with its preferences and captures in a temporary folder, and waiting for a state.

The scripts run as `python docs/screenshot_*.py` (this folder first on sys.path), so they import it as
`shot_support`; it puts the repository root on sys.path for them.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PyQt6.QtTest import QTest  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from drivers.sim.direct import DirectSimProbe  # noqa: E402
from drivers.sim.patient import PatientRenderer  # noqa: E402
from drivers.sim.renderer import RenderParams  # noqa: E402
from drivers.sim.settings import SimSettings  # noqa: E402
from scanner_app.capture import CaptureSink, FolderCaptureSink  # noqa: E402
from scanner_app.engine import AcquisitionEngine  # noqa: E402
from scanner_app.preferences import Preferences  # noqa: E402
from scanner_app.ring import FrameRing  # noqa: E402
from ui.main_window import MainWindow, ScannerModels  # noqa: E402
from ui.theme import apply_dark_theme  # noqa: E402

SHOTS = ROOT / "docs" / "screenshots"


def wait_until(cond: Callable[[], bool], timeout_ms: int = 10000) -> None:
    """Let Qt run until `cond()` holds; TimeoutError when it does not within `timeout_ms`."""
    waited = 0
    while not cond():
        if waited > timeout_ms:
            raise TimeoutError("screenshot state not reached")
        QTest.qWait(20)
        waited += 20


def make_app() -> QApplication:
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    return app


def temp_folder() -> Path:
    """Where a script keeps preferences, captures and studies: never the user's own."""
    return Path(tempfile.mkdtemp(prefix="scanner-shots-"))


def sim_window(
    renderer: PatientRenderer,
    tmp: Path,
    sink: CaptureSink | None = None,
    size: tuple[int, int] = (1600, 1000),
) -> tuple[MainWindow, AcquisitionEngine]:
    """A scanner window (not shown, engine not started) on `renderer`; captures to `sink` or a folder."""
    driver = DirectSimProbe(renderer, SimSettings(RenderParams(rows=512, cols=512), frame_rate_hz=30.0))
    engine = AcquisitionEngine(driver, FrameRing(300, 512 * 512))
    models = ScannerModels.for_engine(
        engine, Preferences(tmp / "preferences.json"), sink or FolderCaptureSink(tmp / "captures")
    )
    window = MainWindow(engine, models)
    window.resize(*size)
    return window, engine
