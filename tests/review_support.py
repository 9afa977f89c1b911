"""Shared pieces for the review, dual screen and safe-close tests: a window on the simulated groin with
a study store and the exam, and a helper that answers the next question box as a user would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import named_views
from drivers.sim.settings import SimSettings
from protocols.model import ScanProtocol
from protocols.validation import LIBRARY_DIR, load_library, load_protocol
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from tests.ui_support import make_engine, open_window, wait_streaming
from ui.close_prompt import CLIP_DISCARD, EXAM_END, AskChoice, ask_choice
from ui.dual_view import DualScreen
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import MainWindow
from ui.sim_panel import SimulatorTab

CAPTURE_TIMEOUT_MS = 10000
QUESTION_POLLS = 500  # 10 ms apart: a question box shows within 5 s or the helper gives up


class GroinRig:
    """A window on the simulated groin with a study store, the exam (DVT protocols) and the dual screen."""

    def __init__(
        self, window: MainWindow, store: StudyStore, exams: ExamController, sim: SimulatorControl
    ) -> None:
        self.window, self.store, self.exams, self.sim = window, store, exams, sim
        self.dual = DualScreen()
        self.dual.attach(window)

    def start_dvt(self, *, protocol: ScanProtocol | None = None, patient_id: str = "DVT-001") -> None:
        dvt = protocol or load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml", views=named_views())
        self.exams.start_exam(
            ExamRequest(
                patient=Patient(patient_id, "Doe^Jane", "19650114", "F"),
                operator="Op^One",
                trainee="",
                supervisor="",
                protocol=dvt,
                quadrant=None,
                side="right",
                practice=False,
            )
        )

    def go_to_step(self, step_id: str) -> None:
        session = self.exams.session
        assert session is not None and session.runner is not None
        runner = session.runner
        runner.go_to([s.id for s in runner.steps].index(step_id))


def groin_rig(qtbot: QtBot, tmp_path: Path, ask: AskChoice = ask_choice) -> Iterator[GroinRig]:
    """Body of a `rig` fixture; the window is closed afterwards (answer its questions with `ask`)."""
    renderer = PatientRenderer("groin")
    sim = SimulatorControl(renderer)
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=160, cols=120), frame_rate_hz=30.0))
    store = StudyStore(tmp_path / "studies")
    exams = ExamController(store, load_library(views=named_views())[0], operator="Op^One", ask=ask)
    window = open_window(
        qtbot, tmp_path, make_engine(probe), sink=StudyCaptureSink(store, exams.current_study)
    )
    exams.attach(window, SimulatorTab(window, sim))
    rig = GroinRig(window, store, exams, sim)
    wait_streaming(qtbot, window)
    yield rig
    if window.isVisible():  # a test that failed half-way: close without leaving a question open
        closed = window.isHidden
        answer_next_question(CLIP_DISCARD, until=closed)
        answer_next_question(EXAM_END, until=closed)
        window.close()
    store.close()


def answer_next_question(choice: str, until: Callable[[], bool] = lambda: False) -> list[str]:
    """Click `choice` in the next question box (a modal QMessageBox) that offers it; returns the
    questions answered, filled in once the box has shown. Gives up when `until()` is true or after
    QUESTION_POLLS polls (then the test fails on what it expected of the answer)."""
    asked: list[str] = []

    def poll(left: int) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            for button in box.buttons():
                if button.text() == choice:
                    asked.append(box.text())
                    button.click()
                    return
        if left > 0 and not until():
            QTimer.singleShot(10, lambda: poll(left - 1))

    QTimer.singleShot(0, lambda: poll(QUESTION_POLLS))
    return asked
