"""The scanner window with every side tab main.py gives it on the simulated probe (the simulator,
needle, procedure, Doppler, the exam with PACS and priors, the programme with follow-ups, practice
and teaching, wired by main.py's own helpers), built in the app's theme as the app builds it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import named_views
from drivers.sim.settings import SimSettings
from main import (
    _add_doppler,
    _add_exam_workflow,
    _add_practice,
    _add_programme,
    _add_teaching,
    needle_follows_steps,
)
from protocols.validation import load_library
from scanner_app.preferences import Preferences
from scanner_app.studies import StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from tests.ui_support import COLS, ROWS, make_engine, open_window
from ui.close_prompt import EXAM_END
from ui.exam_dock import ExamController
from ui.main_window import MainWindow
from ui.needle_panel import NeedleTab
from ui.procedure_panel import ProcedurePanel
from ui.programme_panel import ProgrammePanel
from ui.sim_panel import SimulatorTab
from ui.theme import apply_dark_theme


@dataclass
class FullWindow:
    window: MainWindow
    store: StudyStore
    exams: ExamController
    simulator: SimulatorTab
    sim: SimulatorControl
    programme: ProgrammePanel
    needle: NeedleTab


@contextmanager
def app_theme() -> Iterator[None]:
    """The app's theme (ui.theme: fonts, paddings, stylesheet) on the application while a window is
    built and used in it, as main.py runs; the test application's own look is given back after."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, font, sheet = app.palette(), app.font(), app.styleSheet()
    apply_dark_theme(app)
    try:
        yield
    finally:
        app.setStyleSheet(sheet)
        app.setFont(font)
        app.setPalette(palette)


def open_full_window(qtbot: QtBot, tmp_path: Path, scene: str = "knee") -> FullWindow:
    """A started window on the simulated patient with every side tab; close with `close_full_window`."""
    renderer = PatientRenderer(scene)
    sim = SimulatorControl(renderer)
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=ROWS, cols=COLS), frame_rate_hz=30.0))
    store = StudyStore(tmp_path / "studies")
    protocols = load_library(views=named_views())[0]
    exams = ExamController(store, protocols, ask=lambda *_question: EXAM_END)
    sink = StudyCaptureSink(store, exams.current_study)
    window = open_window(qtbot, tmp_path, make_engine(probe), sink=sink)
    simulator = SimulatorTab(window, sim)
    ProcedurePanel().attach(window)
    needle = NeedleTab(window, simulator)
    _add_doppler(window, window.engine)
    _add_exam_workflow(window, store, exams, simulator, Preferences(tmp_path / "preferences.json"))
    needle_follows_steps(needle, exams)
    programme = _add_programme(window, store, exams, {p.id: p.region for p in protocols}, None)
    assert programme is not None, window.message_label.text()
    _add_practice(window, simulator, programme, protocols)
    _add_teaching(window, store, programme, protocols)
    return FullWindow(window, store, exams, simulator, sim, programme, needle)


def close_full_window(full: FullWindow) -> None:
    full.window.close()
    full.store.close()


@pytest.fixture
def themed_full_window(qtbot: QtBot, tmp_path: Path) -> Iterator[FullWindow]:
    """The whole window in the app's theme (fonts, paddings), closed after the test."""
    with app_theme():
        opened = open_full_window(qtbot, tmp_path)
        try:
            yield opened
        finally:
            close_full_window(opened)
