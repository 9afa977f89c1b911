"""Each name the anatomy overlay draws sits on its own structure in the image the trainee sees: the
point the drawn text hangs from (its middle, or the middle of its inner side at an image's edge) is,
in the label map of the same frame, that name's structure. A newcomer at 1280 x 800 found the knee's
names a layer off: the suprapatellar recess's on the fat pad above it, the vastus's on the recess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPointF
from PyQt6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.settings import SimSettings
from scanner_app.sim_control import LabelMap
from tests.full_window_support import app_theme
from tests.ui_support import make_engine, open_window, wait_streaming
from ui.main_window import MainWindow
from ui.practice_panel import AnatomyOverlay, PracticePanel


def _misplaced(overlay: AnatomyOverlay, labels: LabelMap) -> list[tuple[str, str]]:
    """(name, the structure under the point its text hangs from) for every name drawn off its own."""
    wrong = []
    for text in overlay.childItems():
        assert isinstance(text, pg.TextItem)
        box = text.sceneBoundingRect()
        across = text.anchor.x()  # the text's horizontal anchor: 0 left, 0.5 middle, 1 right
        hangs = overlay.mapFromScene(QPointF(box.left() + across * box.width(), box.center().y()))
        under = labels.structure_at(hangs.x(), hangs.y())
        if under != text.toPlainText():
            wrong.append((text.toPlainText(), under))
    return wrong


@pytest.mark.parametrize("lateral_mm", [-12.0, -6.0, 0.0, 6.0, 12.0])
def test_knee_names_sit_on_their_structures_in_a_small_image(qtbot: QtBot, lateral_mm: float) -> None:
    """The knee above the patella as the newcomer's 1280 x 800 screen showed it (40 mm in 633 px,
    the settings text in the top left corner): thin layers one above another, names a line tall."""
    control = SimulatorControl(PatientRenderer("knee"))
    control.set_pose(lateral_mm=lateral_mm)
    labels = control.label_map(512, 512, 40.0, 38.0)
    with app_theme():  # the app's font: names as tall as the newcomer's
        _lay_out_and_check(qtbot, labels)


def _lay_out_and_check(qtbot: QtBot, labels: LabelMap) -> None:
    view = pg.GraphicsView()
    box = pg.ViewBox(invertY=True, enableMouse=False)
    view.setCentralItem(box)
    overlay = AnatomyOverlay()
    box.addItem(overlay)
    view.resize(601, 633)
    settings = QLabel("SimProbe L12-5\nD 40 mm  G +0 dB\nF 9 MHz  DR 60 dB\nFocus 25 mm  30 fps", view)
    settings.setGeometry(0, 0, 170, 80)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    box.setRange(xRange=(0.0, 38.0), yRange=(0.0, 40.0), padding=0.0)
    qtbot.waitUntil(lambda: overlay.mapFromScene(view.mapToScene(600, 632)).y() > 38.0, timeout=3000)
    overlay.set_labels(labels)
    assert len(overlay.childItems()) >= 7
    assert _misplaced(overlay, labels) == []
    for name, x, d in overlay.shown_names:
        assert labels.structure_at(x, d) == name


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[MainWindow, PracticePanel]]:
    renderer = PatientRenderer("knee")
    control = SimulatorControl(renderer)
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=256, cols=256), frame_rate_hz=30.0))
    window = open_window(qtbot, tmp_path, make_engine(probe))
    panel = PracticePanel(control, seed=1)
    panel.attach(window)
    window.show_side_tab(panel)
    window.resize(1280, 800)
    wait_streaming(qtbot, window)
    yield window, panel
    window.close()


def test_names_on_the_live_knee_sit_on_their_structures(
    qtbot: QtBot, window: tuple[MainWindow, PracticePanel]
) -> None:
    """In the window at 1280 x 800, laid out again from the label map of the frame now shown."""
    _main, panel = window
    panel.overlay_button.setChecked(True)
    overlay = panel.overlay
    qtbot.waitUntil(lambda: overlay.isVisible() and len(overlay.shown_names) >= 7, timeout=5000)
    labels = panel.current_labels()
    assert labels is not None
    panel.refresh_overlay()
    assert _misplaced(overlay, labels) == []
