"""The Needle tab follows the exam and the simulator: it selects the current step's needle target,
keeps the trainee's own pick when the target view is shown, and lists the new scene's structures
(not the old scene's needle) after a scene change, from an exam step or the Sim tab."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import named_views
from drivers.sim.settings import SimSettings
from main import needle_follows_steps
from protocols.model import ScanProtocol
from protocols.runner import ChecklistRunner
from protocols.validation import LIBRARY_DIR, load_library, load_protocol
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from tests.ui_support import make_engine, open_window, wait_streaming
from ui.close_prompt import EXAM_END
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import MainWindow
from ui.needle_panel import NeedlePanel, NeedleTab
from ui.sim_panel import SimulatorTab

SHIFT = Qt.KeyboardModifier.ShiftModifier
SCENE_TIMEOUT_MS = 3000


@dataclass
class Rig:
    window: MainWindow
    exams: ExamController
    sim: SimulatorControl
    simulator: SimulatorTab
    needle: NeedleTab

    @property
    def panel(self) -> NeedlePanel:
        assert self.needle.panel is not None
        return self.needle.panel

    def targets(self) -> list[str]:
        return [self.panel.target.itemText(i) for i in range(self.panel.target.count())]

    def runner(self) -> ChecklistRunner:
        session = self.exams.session
        assert session is not None and session.runner is not None
        return session.runner


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[Rig]:
    """The window wired as main.py wires the exam dock, the Sim tab and the Needle tab, on a knee."""
    renderer = PatientRenderer("knee")
    sim = SimulatorControl(renderer)
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=128, cols=96), frame_rate_hz=30.0))
    store = StudyStore(tmp_path / "studies")
    exams = ExamController(store, load_library(views=named_views())[0], ask=lambda *_question: EXAM_END)
    window = open_window(
        qtbot, tmp_path, make_engine(probe), sink=StudyCaptureSink(store, exams.current_study)
    )
    simulator = SimulatorTab(window, sim)
    needle = NeedleTab(window, simulator)
    exams.attach(window, simulator)
    needle_follows_steps(needle, exams)
    wait_streaming(qtbot, window)
    yield Rig(window, exams, sim, simulator, needle)
    window.close()
    store.close()


def _start(rig: Rig, file: str, practice: bool) -> ScanProtocol:
    protocol = load_protocol(LIBRARY_DIR / file, views=named_views())
    rig.exams.start_exam(
        ExamRequest(
            patient=Patient("NEEDLE-001", "Doe^Jane", "19700203", "F"),
            operator="Op^One",
            trainee="Trainee^Tim",
            supervisor="Super^Sue",
            protocol=protocol,
            quadrant=None,
            side="right",
            practice=practice,
        )
    )
    return protocol


def _go_to_needle_step(qtbot: QtBot, rig: Rig) -> tuple[str, str]:
    """Moves the exam to its first step with a needle target; that target's (scene, structure)."""
    runner = rig.runner()
    index = next(i for i, s in enumerate(runner.steps) if s.practice and s.practice.needle)
    runner.go_to(index)
    target = runner.current_step.practice
    assert target is not None and target.needle is not None
    wanted = (target.scene, None if target.variant == "normal" else target.variant)
    qtbot.waitUntil(lambda: tuple(rig.sim.current_scene()) == wanted, timeout=SCENE_TIMEOUT_MS)
    return target.scene, target.needle.structure


@pytest.mark.parametrize("file", ["knee_joint_aspiration.yaml", "glenohumeral_injection.yaml"])
def test_the_target_list_selects_the_steps_needle_target(qtbot: QtBot, rig: Rig, file: str) -> None:
    _start(rig, file, practice=True)
    _scene, structure = _go_to_needle_step(qtbot, rig)
    # The practice start pose is away from the target: listed and selected all the same.
    assert rig.panel.target.currentText() == structure
    assert rig.targets() == sorted(rig.targets())
    qtbot.keyClick(rig.window.view, Qt.Key.Key_N, SHIFT)
    assert rig.panel.practice is not None and rig.panel.practice.target == structure
    # Another step with no needle target, then back: the step's target is selected again.
    rig.runner().go_to(0)
    rig.runner().go_to(next(i for i, s in enumerate(rig.runner().steps) if s.practice and s.practice.needle))
    assert rig.panel.target.currentText() == structure


def test_go_to_target_view_keeps_the_trainees_pick(qtbot: QtBot, rig: Rig) -> None:
    _start(rig, "knee_joint_aspiration.yaml", practice=True)
    _scene, structure = _go_to_needle_step(qtbot, rig)
    target = rig.runner().current_step.practice
    assert target is not None
    # A structure the trainee sees now that the target view does not cut: the view would drop it.
    at_target = rig.sim.view_truth(target.pose).structures_in_view
    candidates = [n for n in rig.targets() if n not in at_target and n != structure]
    assert candidates, rig.targets()
    picked = candidates[0]
    rig.panel.target.setCurrentIndex(rig.panel.target.findText(picked))
    rig.panel.target.activated.emit(rig.panel.target.currentIndex())  # as a click on the list does
    rig.exams.go_to_target()
    assert rig.sim.get_pose()["position_mm"] == pytest.approx(target.pose["position_mm"])
    assert rig.panel.target.currentText() == picked
    qtbot.keyClick(rig.window.view, Qt.Key.Key_N, SHIFT)
    assert rig.panel.practice is not None and rig.panel.practice.target == picked


def test_the_list_follows_a_new_exams_scene(qtbot: QtBot, rig: Rig) -> None:
    _start(rig, "knee_joint_aspiration.yaml", practice=False)
    _go_to_needle_step(qtbot, rig)
    knee_targets = set(rig.targets())
    qtbot.keyClick(rig.window.view, Qt.Key.Key_N, SHIFT)
    assert rig.panel.practice is not None
    rig.exams.end_exam()
    _start(rig, "shoulder.yaml", practice=False)
    qtbot.waitUntil(lambda: rig.sim.current_scene()[0] == "shoulder", timeout=SCENE_TIMEOUT_MS)
    shoulder_now = rig.sim.view_truth().structures_in_view
    assert set(rig.targets()) <= shoulder_now
    assert not (knee_targets - shoulder_now) & set(rig.targets())
    assert "Tip in" not in rig.panel.truth_label.text()  # the knee's needle went with the knee
    assert rig.panel.practice is None


def test_the_list_follows_a_scene_chosen_on_the_sim_tab(rig: Rig) -> None:
    assert rig.simulator.panel is not None
    combo = rig.simulator.panel.scene_combo
    combo.setCurrentIndex(combo.findData("shoulder"))  # the trainee's choice on the Sim tab
    assert rig.sim.current_scene()[0] == "shoulder"
    assert set(rig.targets()) == rig.sim.view_truth().structures_in_view - {"needle", "injectate"}
    assert rig.panel.target.currentText() in rig.sim.view_truth().structures_in_view
