"""The Practice tab in the window: the anatomy overlay names what the simulated knee shows, each name
on its structure and none over another, and follows the probe; a quiz in progress is graded from
ground truth by clicks on the image and answers; a view search is graded, its path plotted, and
scores reach the logbook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.direct import DirectSimProbe
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import named_views
from drivers.sim.settings import SimSettings
from protocols.validation import load_library
from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url
from scanner_app.programme.practice import practice_scores
from scanner_app.programme.quiz import NO, YES, AnswerKind, Competency
from scanner_app.sim_control import LabelMap
from tests.ui_support import make_engine, open_window, wait_streaming
from ui.main_window import MainWindow
from ui.practice_panel import OVERLAY_KEY, AnatomyOverlay, PracticePanel

ROWS, COLS = 200, 160


class Rig:
    def __init__(self, window: MainWindow, control: SimulatorControl, panel: PracticePanel) -> None:
        self.window, self.control, self.panel = window, control, panel


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ProgrammeDatabase]:
    with open_database(sqlite_url(tmp_path)) as opened:
        yield opened


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path, db: ProgrammeDatabase) -> Iterator[Rig]:
    renderer = PatientRenderer("knee")
    control = SimulatorControl(renderer)
    probe = DirectSimProbe(renderer, SimSettings(RenderParams(rows=ROWS, cols=COLS), frame_rate_hz=30.0))
    window = open_window(qtbot, tmp_path, make_engine(probe))
    targets = [s.practice for p in load_library(views=named_views())[0] for s in p.steps if s.practice]
    panel = PracticePanel(control, db=db, person=lambda: "tom", targets=targets, seed=1)
    panel.attach(window)
    window.show_side_tab(panel)
    wait_streaming(qtbot, window)
    yield Rig(window, control, panel)
    window.close()


def _labels_now(rig: Rig):  # type: ignore[no-untyped-def]
    labels = rig.panel.current_labels()
    assert labels is not None
    return labels


def test_the_overlay_names_the_structures_in_view_and_follows_the_probe(qtbot: QtBot, rig: Rig) -> None:
    overlay = rig.panel.overlay
    assert not overlay.isVisible()
    qtbot.keyClick(rig.window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: overlay.isVisible() and bool(overlay.shown_names), timeout=3000)
    names = {n for n, _x, _d in overlay.shown_names}
    assert {"quadriceps tendon", "subcutaneous fat", "femur"} <= names
    labels = _labels_now(rig)
    frame = rig.window.view.current
    assert frame is not None and labels.depth_mm == pytest.approx(frame.frame.height_mm)
    for name, x, d in overlay.shown_names:
        # On the structure's own pixels, inside the image.
        assert 0 <= x <= labels.width_mm and 0 <= d <= labels.depth_mm
        assert labels.structure_at(x, d) == name
    texts = overlay.childItems()
    assert sorted(t.toPlainText() for t in texts) == sorted(n for n, _x, _d in overlay.shown_names)  # type: ignore[attr-defined]
    # Slide the probe below the patella: the names follow on the next refresh.
    rig.control.set_scene("knee", None)
    rig.control.set_pose(position_mm=72.0)  # the "patellar tendon long axis" view
    qtbot.waitUntil(lambda: "patellar tendon" in {n for n, *_ in overlay.shown_names}, timeout=3000)
    qtbot.keyClick(rig.window, OVERLAY_KEY[-1], Qt.KeyboardModifier.ShiftModifier)
    assert not overlay.isVisible()


def test_names_stay_with_a_frozen_image_when_the_probe_moves(qtbot: QtBot, rig: Rig) -> None:
    """Frozen, the names are those of the image on screen however the probe moves; live again, they
    follow the probe."""
    overlay = rig.panel.overlay

    def shown() -> set[str]:
        return {n for n, *_ in overlay.shown_names}

    qtbot.keyClick(rig.window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: "quadriceps tendon" in shown(), timeout=3000)
    qtbot.keyClick(rig.window, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: rig.window.models.cine.frozen, timeout=3000)
    rig.panel.refresh_overlay()
    frozen = shown()
    assert "quadriceps tendon" in frozen
    rig.control.set_pose(position_mm=72.0)  # the "patellar tendon long axis" view
    rig.panel.refresh_overlay()
    assert shown() == frozen and "patellar tendon" not in shown()
    labels = _labels_now(rig)  # what a quiz grades against: the frozen image's structures
    assert "quadriceps tendon" in labels.in_view() and "patellar tendon" not in labels.in_view()
    qtbot.keyClick(rig.window, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: "patellar tendon" in shown(), timeout=3000)


def test_names_of_neighbouring_structures_do_not_cover_each_other(qtbot: QtBot, rig: Rig) -> None:
    """The calf's posterior tibial veins lie either side of their artery, a few millimetres apart: the
    second name goes above or below its point rather than over the first; each is still anchored on
    its own structure."""
    overlay = rig.panel.overlay
    rig.control.set_scene("calf", None)
    rig.control.set_pose(**named_views()["calf"]["posterior tibial veins short axis"])
    qtbot.keyClick(rig.window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: "posterior tibial artery" in {n for n, *_ in overlay.shown_names}, timeout=5000)
    labels = _labels_now(rig)
    for name, x, d in overlay.shown_names:
        assert labels.structure_at(x, d) == name
    texts = overlay.childItems()
    view = rig.window.view
    boxes = [view.mapFromScene(t.sceneBoundingRect()).boundingRect() for t in texts]  # on screen
    overlapping = [
        (texts[i].toPlainText(), texts[j].toPlainText())  # type: ignore[attr-defined]
        for i in range(len(boxes))
        for j in range(i)
        if boxes[i].intersects(boxes[j])
    ]
    assert overlapping == []
    assert len(texts) >= 6


def test_no_name_hides_under_a_widget_on_the_view(qtbot: QtBot) -> None:
    """A name whose point lies just above a widget on the view (the body marker in the image's
    corner, where a newcomer found the condyles' and the pubic bone's names half hidden) goes above
    its point, clear of it, still anchored on its structure."""
    view = pg.GraphicsView()
    box = pg.ViewBox(invertY=True, enableMouse=False)
    view.setCentralItem(box)
    overlay = AnatomyOverlay()
    box.addItem(overlay)
    box.setRange(xRange=(0.0, 40.0), yRange=(0.0, 40.0), padding=0.0)
    view.resize(400, 400)
    marker = QLabel("body marker", view)
    marker.setGeometry(10, 250, 120, 140)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    box.setRange(xRange=(0.0, 40.0), yRange=(0.0, 40.0), padding=0.0)  # now that the box has its size

    def image_mm(x_px: int, y_px: int) -> QPointF:
        return overlay.mapFromScene(view.mapToScene(QPoint(x_px, y_px)))

    qtbot.waitUntil(lambda: image_mm(400, 400).x() > 35.0, timeout=3000)
    # Just above the marker's top edge: a name centred there would cover the marker's top.
    under = image_mm(marker.geometry().center().x(), marker.geometry().top() - 4)
    index = np.zeros((400, 400), dtype=np.uint8)  # 0.1 mm pixels: a pixel of the screen each
    row, col = round(under.y() * 10), round(under.x() * 10)
    index[row - 1 : row + 2, col - 20 : col + 21] = 1  # a 4 mm sliver 0.3 mm thick
    hidden = LabelMap(index, ("coupling gel", "test nodule"), ("", "muscle"), 40.0, 40.0)
    overlay.set_labels(hidden)
    ((name, x, d),) = overlay.shown_names
    assert hidden.structure_at(x, d) == name
    (text,) = overlay.childItems()
    assert not view.mapFromScene(text.sceneBoundingRect()).boundingRect().intersects(marker.geometry())


def test_a_quiz_in_progress_is_graded_from_ground_truth(
    qtbot: QtBot, rig: Rig, db: ProgrammeDatabase
) -> None:
    panel = rig.panel
    panel.overlay_button.setChecked(True)
    qtbot.mouseClick(panel.quiz_start, Qt.MouseButton.LeftButton)
    assert panel.quiz is not None and panel.quiz.question is not None
    assert panel.quiz.question.kind is AnswerKind.CLICK and "tendon" in panel.question.text()
    assert not panel.overlay.isVisible()  # the names would give the answer away
    labels = panel.quiz.labels
    assert labels is not None
    x, d = labels.centroid_mm("quadriceps tendon") or (0.0, 0.0)
    rig.window.image_clicked.emit(x, d + 0.0)
    assert panel.last_graded is not None and panel.last_graded.correct
    assert panel.feedback.text().startswith("Right")
    # The fluid question: yes/no buttons; the suprapatellar recess holds fluid.
    question = panel.quiz.question
    assert question is not None and question.competency is Competency.FLUID
    assert panel.answer_buttons[YES].isVisible() and panel.answer_buttons[NO].isVisible()
    qtbot.mouseClick(panel.answer_buttons[NO], Qt.MouseButton.LeftButton)
    assert panel.last_graded is not None and not panel.last_graded.correct
    assert "suprapatellar recess" in panel.feedback.text()
    # Subcutaneous tissue or muscle: answer whatever the ground truth says.
    question = panel.quiz.question
    assert question is not None and question.competency is Competency.TISSUE
    if question.kind is AnswerKind.CHOICE:
        assert panel.mark.isVisible()
        qtbot.mouseClick(panel.answer_buttons[question.answer], Qt.MouseButton.LeftButton)
    else:
        target = (
            "subcutaneous fat"
            if question.target.startswith("subcutaneous")
            else "vastus medialis / lateralis muscle"
        )
        rig.window.image_clicked.emit(*(labels.centroid_mm(target) or (0.0, 0.0)))
    assert panel.last_graded is not None and panel.last_graded.correct
    assert panel.quiz.finished and "67 %" in panel.question.text()
    assert panel.overlay.isVisible()
    kept = practice_scores(db, "tom", "quiz")
    assert [round(s.score_percent) for s in kept] == [67] and kept[0].scene_id == "knee"
    assert "Click the tendon" in kept[0].detail


def test_a_view_search_is_graded_with_its_path_and_kept(
    qtbot: QtBot, rig: Rig, db: ProgrammeDatabase
) -> None:
    panel = rig.panel
    knee = [i for i in range(panel.targets.count()) if panel.targets.itemData(i).scene == "knee"]
    assert knee
    panel.targets.setCurrentIndex(knee[0])
    target = panel.targets.currentData()
    qtbot.mouseClick(panel.view_start, Qt.MouseButton.LeftButton)
    start = rig.control.get_pose()
    assert start["position_mm"] != pytest.approx(target.pose["position_mm"])
    # The trainee slides halfway, then onto the target.
    rig.control.set_pose(position_mm=(start["position_mm"] + target.pose["position_mm"]) / 2)
    panel.sample_path()
    rig.control.set_pose(
        **{k: target.pose[k] for k in ("position_mm", "lateral_mm", "rotation_deg", "tilt_deg")}
    )
    qtbot.mouseClick(panel.view_done, Qt.MouseButton.LeftButton)
    grade = panel.last_view_grade
    assert grade is not None and grade.within_tolerance and grade.score_percent == pytest.approx(100.0)
    assert len(panel.path.samples) == 3 and "100 %" in panel.view_result.text()
    assert len(panel.path_plot.listDataItems()) >= 2  # the path and the target
    kept = practice_scores(db, "tom", "view")
    assert [s.item for s in kept] == [target.view]
    assert panel.progress_plot.listDataItems()
