"""The Practice tab: an anatomy overlay naming the structures in view, the identification quiz, view
acquisition graded by pose and time with the probe path shown afterwards, and the trainee's progress.

Everything is graded from the simulator's ground truth (`SimulatorControl.label_map`), never from
pixels; scores go into the signed-in trainee's logbook. Attached through the window's extension
points only; without a simulated probe the tab says so and grades nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, QSizeF, Qt, QTimer
from PyQt6.QtGui import QPainter
from PyQt6.QtWidgets import (
    QComboBox,
    QGraphicsObject,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyleOptionGraphicsItem,
    QVBoxLayout,
    QWidget,
)

from protocols.model import PracticeTarget
from protocols.runner import practice_start_pose
from scanner_app.frame import Geometry
from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.practice import (
    PracticeScore,
    ProbePath,
    ViewGrade,
    grade_view,
    practice_scores,
    progress_series,
    record_score,
)
from scanner_app.programme.quiz import FIRST_TRACK, NO, YES, AnswerKind, Graded, QuizSession
from scanner_app.sim_control import LabelMap, SimulatorControl
from ui.window_api import ScannerWindow

OVERLAY_KEY = "Shift+A"
OVERLAY_REFRESH_MS = 250  # the overlay follows the probe at this period while shown
PATH_SAMPLE_MS = 100
LABEL_COLOUR = (255, 230, 90)
# Where a name goes when its place is taken, as the text's vertical anchor: on its point, just above
# it, just below, then a line further each way (the paired veins beside an artery, a nerve beside it).
LABEL_ROWS = (0.5, 1.1, -0.1, 2.1, -1.1)
MARK_COLOUR = (255, 80, 200)


class AnatomyOverlay(QGraphicsObject):
    """Names of the structures in view, each centred on a point inside its own pixels
    (`LabelMap.label_points_mm`), in image mm (a container of text items that keep their size on
    screen). A name that would cover one already placed, or reach under the view's body marker or
    settings text, moves along its own structure to the next free point, the smaller structures'
    first; only where its structure has no free point does it go just above or below its best one."""

    def __init__(self) -> None:
        super().__init__()
        self._texts: list[pg.TextItem] = []
        self.shown_names: list[tuple[str, float, float]] = []  # (name, x_mm, depth_mm) drawn now
        self._layout: object = None  # what the names were laid out for: them, their screen points

    def boundingRect(self) -> QRectF:
        return QRectF()

    def paint(
        self, painter: QPainter | None, option: QStyleOptionGraphicsItem | None, widget: QWidget | None = None
    ) -> None:
        pass  # the children draw

    def set_labels(self, labels: LabelMap | None) -> None:
        """Name what `labels` shows (nothing for None)."""
        placed: list[tuple[str, float, float]] = []
        places: dict[str, list[tuple[float, float]]] = {}  # each name's other places on its structure
        if labels is not None:
            for name in _smallest_first(labels):
                if name in ("skin",):
                    continue  # the top line of every image: naming it hides the subcutaneous label
                where = labels.label_points_mm(name)
                if where:
                    placed.append((name, *where[0]))
                    places[name] = where
        # Laid out again when the names move on screen too (the window resized, a new depth's scale).
        overlays = self._overlays_on_screen()
        points = [self._on_screen(x, d) for _name, x, d in placed]
        layout = (placed, points, overlays)
        if layout == self._layout:
            return
        self._layout = layout
        width_mm = labels.width_mm if labels is not None else 0.0
        for text in self._texts:
            text.setParentItem(None)
            if text.scene() is not None:
                text.scene().removeItem(text)
        self._texts = []
        shown: list[tuple[str, float, float]] = []
        taken = list(overlays)  # and the names placed so far
        for name, _x, _d in placed:
            text = pg.TextItem(name, color=LABEL_COLOUR, anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 140))
            text.setParentItem(self)
            self._texts.append(text)
            size = text.boundingRect().size()
            px, pd, across, row = self._place(places[name], size, width_mm, taken)
            text.setAnchor((across, row))
            text.setPos(px, pd)
            shown.append((name, px, pd))
            on = self._on_screen(px, pd)
            if on is not None:
                taken.append(_box(on, size, across, row))
        self.shown_names = shown

    def _place(
        self, places: list[tuple[float, float]], size: QSizeF, width_mm: float, taken: list[QRectF]
    ) -> tuple[float, float, float, float]:
        """(x_mm, depth_mm, across, row) for a name of `size` on screen: centred on the first of its
        structure's `places` clear of the `taken` screen boxes (a name moved a line up or down
        leaves a thin layer for its neighbour's: the recess's name landed on the fat pad); where
        none is clear, just above or below the first, else on it over another."""
        for x, d in places:
            at = self._on_screen(x, d)
            across = _across(x, width_mm)
            if at is None or not any(_box(at, size, across, 0.5).intersects(t) for t in taken):
                return x, d, across, 0.5
        x, d = places[0]
        at = self._on_screen(x, d)
        across = _across(x, width_mm)
        assert at is not None  # shown in a view, else the first place was taken as it is
        free = (r for r in LABEL_ROWS if not any(_box(at, size, across, r).intersects(t) for t in taken))
        return x, d, across, next(free, LABEL_ROWS[0])

    def _overlays_on_screen(self) -> list[QRectF]:
        """Where the view's own overlays are (its body marker, the settings text): names keep clear."""
        scene = self.scene()
        views = scene.views() if scene is not None else []
        if not views:
            return []
        view = views[0]
        children = view.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
        return [QRectF(w.geometry()) for w in children if w.isVisible() and w is not view.viewport()]

    def _on_screen(self, x_mm: float, depth_mm: float) -> QPointF | None:
        """Where an image point is on the first view's screen, None while not shown in one."""
        scene = self.scene()
        views = scene.views() if scene is not None else []
        if not views:
            return None
        return views[0].mapFromScene(self.mapToScene(QPointF(x_mm, depth_mm))).toPointF()


def _across(x_mm: float, width_mm: float) -> float:
    """The text's horizontal anchor for a name at `x_mm`: at a side of the image it grows inward."""
    return 0.0 if x_mm < 0.2 * width_mm else 1.0 if x_mm > 0.8 * width_mm else 0.5


def _box(at: QPointF, size: QSizeF, across: float, row: float) -> QRectF:
    """The screen rectangle of a text of `size` anchored at (across, row) of itself on point `at`."""
    return QRectF(at.x() - across * size.width(), at.y() - row * size.height(), size.width(), size.height())


def _smallest_first(labels: LabelMap) -> list[str]:
    """The names in view, the structures with the fewest pixels first: they have the least room."""
    pixels = np.bincount(labels.index.ravel(), minlength=len(labels.names))
    area: dict[str, int] = {}
    for i, name in enumerate(labels.names):
        if i > 0 and pixels[i]:
            area[name] = area.get(name, 0) + int(pixels[i])
    return sorted(area, key=area.__getitem__)


class PracticePanel(QWidget):
    """The Practice tab (see the module docstring)."""

    def __init__(
        self,
        control: SimulatorControl | None,
        *,
        db: ProgrammeDatabase | None = None,
        person: Callable[[], str] = lambda: "",
        targets: Sequence[PracticeTarget] = (),
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
        probe_moved: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        self._control = control
        self._probe_moved = probe_moved  # the Sim tab shows the scene and pose again
        self._db = db
        self._person = person
        self._clock = clock
        self._seed = seed
        self._window: ScannerWindow | None = None
        self.overlay = AnatomyOverlay()
        self.overlay.setVisible(False)
        self.mark = pg.ScatterPlotItem(size=14, symbol="+", pen=pg.mkPen(MARK_COLOUR, width=3), brush=None)
        self.mark.setVisible(False)
        self.quiz: QuizSession | None = None
        self.last_graded: Graded | None = None
        self.view_target: PracticeTarget | None = None
        self.path = ProbePath()
        self.last_view_grade: ViewGrade | None = None
        self._view_started_s = 0.0

        self.status = QLabel()
        self.status.setWordWrap(True)
        overlay_box = QGroupBox("Anatomy overlay")
        self.overlay_button = QPushButton(f"Names ({OVERLAY_KEY})")
        self.overlay_button.setCheckable(True)
        self.overlay_button.toggled.connect(self.set_overlay)
        QVBoxLayout(overlay_box).addWidget(self.overlay_button)

        quiz_box = QGroupBox("Quiz: which tissue?")  # a title cannot wrap: short, whole in its tooltip
        quiz_box.setToolTip("Quiz: tendon, fluid, fat or muscle")
        self.quiz_start = QPushButton("Start")
        self.quiz_start.clicked.connect(self.start_quiz)
        self.quiz_ask = QPushButton("Ask")
        self.quiz_ask.setToolTip("Ask about the image on screen now")
        self.quiz_ask.clicked.connect(self.ask)
        self.quiz_skip = QPushButton("Skip")
        self.quiz_skip.clicked.connect(self.skip)
        self.question = QLabel("")
        self.question.setWordWrap(True)
        self.question.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.feedback = QLabel("")
        self.feedback.setWordWrap(True)
        self.answer_buttons: dict[str, QPushButton] = {}
        answers = QGridLayout()
        for i, text in enumerate((YES, NO, "subcutaneous tissue", "muscle")):
            button = QPushButton(text.capitalize())
            button.clicked.connect(lambda _c=False, t=text: self.answer(t))
            button.setVisible(False)
            self.answer_buttons[text] = button
            if i < 2:  # Yes and No side by side
                answers.addWidget(button, 0, i)
            else:  # one above the other across both columns: side by side they overflow a 1280 px screen
                answers.addWidget(button, i - 1, 0, 1, 2)
        quiz_buttons = QHBoxLayout()
        for b in (self.quiz_start, self.quiz_ask, self.quiz_skip):
            quiz_buttons.addWidget(b)
        quiz_layout = QVBoxLayout(quiz_box)
        quiz_layout.addLayout(quiz_buttons)
        quiz_layout.addWidget(self.question)
        quiz_layout.addLayout(answers)
        quiz_layout.addWidget(self.feedback)

        view_box = QGroupBox("Find the view")
        self.targets = QComboBox()
        self.targets.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.targets.setMinimumContentsLength(12)
        for target in targets:
            if target.pose:
                self.targets.addItem(f"{target.view} ({target.scene})", target)
        self.view_start = QPushButton("Start")
        self.view_start.clicked.connect(self.start_view)
        self.view_done = QPushButton("Done: grade")
        self.view_done.clicked.connect(self.finish_view)
        self.view_result = QLabel("")
        self.view_result.setWordWrap(True)
        self.path_plot = pg.PlotWidget()
        self.path_plot.setMinimumSize(120, 140)
        self.path_plot.setLabel("bottom", "position", "mm")
        self.path_plot.setLabel("left", "lateral", "mm")
        view_layout = QVBoxLayout(view_box)
        view_layout.addWidget(self.targets)
        row = QHBoxLayout()
        for w in (self.view_start, self.view_done):
            row.addWidget(w)
        view_layout.addLayout(row)
        view_layout.addWidget(self.view_result)
        view_layout.addWidget(self.path_plot)

        progress_box = QGroupBox("Progress")
        self.progress_plot = pg.PlotWidget()
        self.progress_plot.setMinimumSize(120, 140)
        self.progress_plot.setLabel("bottom", "days")
        self.progress_plot.setLabel("left", "score", "%")
        self.progress_plot.setYRange(0, 100)
        self.progress_plot.addLegend(offset=(5, 5))
        QVBoxLayout(progress_box).addWidget(self.progress_plot)

        layout = QVBoxLayout(self)
        for box in (self.status, overlay_box, quiz_box, view_box, progress_box):
            layout.addWidget(box)
        layout.addStretch(1)

        self._overlay_timer = QTimer(self)
        self._overlay_timer.setInterval(OVERLAY_REFRESH_MS)
        self._overlay_timer.timeout.connect(self.refresh_overlay)
        self._path_timer = QTimer(self)
        self._path_timer.setInterval(PATH_SAMPLE_MS)
        self._path_timer.timeout.connect(self.sample_path)
        self._show_quiz_state()
        self.set_control(control)

    # -- wiring ------------------------------------------------------------------------------------

    def attach(self, window: ScannerWindow) -> None:
        self._window = window
        window.add_side_tab(self, "Practice")
        window.add_image_item(self.overlay)
        window.add_image_item(self.mark)
        window.add_action(
            "anatomy_overlay", [OVERLAY_KEY], "Anatomy overlay on/off", self.overlay_button.toggle
        )
        window.image_clicked.connect(self.on_image_clicked)
        self.refresh_progress()

    def set_control(self, control: SimulatorControl | None) -> None:
        """The simulated probe's control now (None: a real probe, nothing to grade against)."""
        self._control = control
        for w in (self.overlay_button, self.quiz_start, self.view_start):
            w.setEnabled(control is not None)
        self.status.setText(
            "Graded from the simulated patient's ground truth."
            if control is not None
            else "Practice needs the simulated probe (a real one has no ground truth)."
        )
        if control is None:
            self.overlay_button.setChecked(False)

    # -- ground truth of the image on screen ---------------------------------------------------------

    def current_labels(self) -> LabelMap | None:
        """The ground truth of the image now shown, None without one: of the frame itself (the scene
        and pose that made it), so names and grades stay with a frozen or cine frame however the
        probe has moved since."""
        if self._control is None or self._window is None:
            return None
        cine = self._window.models.cine
        # Frozen: the cine frame on screen; live: the newest.
        ring_frame = cine.current() or cine.ring.get(cine.ring.newest_seq)
        if ring_frame is None:
            return None
        frame = ring_frame.frame
        if frame.beam.geometry != Geometry.LINEAR or frame.depth_origin_mm != 0.0:
            return None  # the simulator's truth is a linear plane (its probe is linear)
        return self._control.frame_label_map(
            frame.device_time_us, frame.rows, frame.cols, frame.height_mm, frame.width_mm
        )

    # -- overlay -------------------------------------------------------------------------------------

    def set_overlay(self, on: bool) -> None:
        self.overlay.setVisible(on and not self._asking())
        if on:
            self._overlay_timer.start()
            self.refresh_overlay()
        else:
            self._overlay_timer.stop()
            self.overlay.set_labels(None)

    def refresh_overlay(self) -> None:
        if self.overlay_button.isChecked():
            self.overlay.set_labels(self.current_labels())

    # -- quiz ----------------------------------------------------------------------------------------

    def start_quiz(self) -> None:
        self.quiz = QuizSession(FIRST_TRACK, seed=self._seed)
        self.feedback.setText("")
        self.ask()

    def ask(self) -> None:
        """Pose the current competency's question about the image on screen."""
        if self.quiz is None or self.quiz.finished:
            return
        labels = self.current_labels()
        question = self.quiz.ask(labels) if labels is not None else None
        if question is None:
            self.question.setText(
                f"This image cannot show {self.quiz.competency}: move the probe and ask again, or skip."
            )
        self._show_quiz_state()

    def skip(self) -> None:
        if self.quiz is not None and not self.quiz.finished:
            self.quiz.skip()
            self._after_answer()

    def answer(self, given: str) -> None:
        if self.quiz is None or self.quiz.question is None or self.quiz.question.kind is AnswerKind.CLICK:
            return
        self._show_graded(self.quiz.answer(given, self.current_labels()))

    def on_image_clicked(self, x_mm: float, depth_mm: float) -> None:
        if self.quiz is None or self.quiz.question is None or self.quiz.question.kind is not AnswerKind.CLICK:
            return
        self._show_graded(self.quiz.answer_click(x_mm, depth_mm, self.current_labels()))

    def _asking(self) -> bool:
        return self.quiz is not None and self.quiz.question is not None

    def _show_graded(self, graded: Graded) -> None:
        self.last_graded = graded
        verdict = "Right" if graded.correct else "Wrong"
        self.feedback.setText(f"{verdict}: {graded.question.prompt} — there was {graded.truth}.")
        self._after_answer()

    def _after_answer(self) -> None:
        assert self.quiz is not None
        if self.quiz.finished:
            score = self.quiz.score_percent()
            self.question.setText(f"Quiz done: {score:.0f} % ({len(self.quiz.graded)} answered)")
            if self.quiz.graded:
                self._record(
                    kind="quiz",
                    item=",".join(self.quiz.track),
                    score=score,
                    time_s=0.0,
                    detail=_answers(self.quiz.graded),
                )
        else:
            self.ask()
        self._show_quiz_state()

    def _show_quiz_state(self) -> None:
        question = self.quiz.question if self.quiz is not None else None
        if question is not None:
            self.question.setText(
                question.prompt + (" (click on the image)" if question.kind is AnswerKind.CLICK else "")
            )
        for text, button in self.answer_buttons.items():
            button.setVisible(question is not None and (
                (question.kind is AnswerKind.YES_NO and text in (YES, NO))
                or (question.kind is AnswerKind.CHOICE and text in question.choices)
            ))  # fmt: skip
        marked = question.marked_mm if question is not None else None
        self.mark.setData([marked[0]] if marked else [], [marked[1]] if marked else [])
        self.mark.setVisible(marked is not None)
        running = self.quiz is not None and not self.quiz.finished
        self.quiz_ask.setEnabled(running and question is None)
        self.quiz_skip.setEnabled(running)
        # The names would give the answers away while a question is up.
        self.overlay.setVisible(self.overlay_button.isChecked() and question is None)

    # -- view acquisition ----------------------------------------------------------------------------

    def start_view(self) -> None:
        """Put the probe at the target's start pose and time the search, recording the path."""
        target = self.targets.currentData()
        if self._control is None or target is None:
            return
        self.view_target = target
        self._control.set_scene(target.scene, target.variant or None)
        self._control.set_pose(**practice_start_pose(target))
        self._probe_moved()
        self.path = ProbePath()
        self._view_started_s = self._clock()
        self.sample_path()
        self._path_timer.start()
        self.view_result.setText(f"Find: {target.view}. Press Done when the view is on screen.")

    def sample_path(self) -> None:
        if self._control is not None:
            self.path.add(self._clock() - self._view_started_s, self._control.get_pose())

    def finish_view(self) -> None:
        target = self.view_target
        if self._control is None or target is None:
            return
        self._path_timer.stop()
        self.sample_path()
        grade = grade_view(
            self._control.get_pose(), target.pose, target.tolerance, self._clock() - self._view_started_s
        )
        self.last_view_grade = grade
        self.view_target = None
        errors = ", ".join(f"{k} {v:.1f}" for k, v in grade.errors.items())
        self.view_result.setText(
            f"{target.view}: {grade.score_percent:.0f} % — "
            f"{'within' if grade.within_tolerance else 'outside'} "
            f"tolerance (off by {errors}), {grade.time_s:.0f} s, path {self.path.length_mm():.0f} mm"
        )
        self._plot_path(target)
        self._record(
            kind="view",
            item=target.view,
            score=grade.score_percent,
            time_s=grade.time_s,
            detail=self.path.to_json(),
            scene=target.scene,
        )

    def _plot_path(self, target: PracticeTarget) -> None:
        plot = self.path_plot
        plot.clear()
        xs = [s.pose["position_mm"] for s in self.path.samples]
        ys = [s.pose["lateral_mm"] for s in self.path.samples]
        plot.plot(xs, ys, pen=pg.mkPen((120, 200, 255), width=2))
        if xs:
            plot.plot([xs[0]], [ys[0]], pen=None, symbol="o", symbolBrush=(200, 200, 200), symbolSize=8)
        tx, ty = target.pose["position_mm"], target.pose["lateral_mm"]
        plot.plot([tx], [ty], pen=None, symbol="star", symbolBrush=(255, 200, 0), symbolSize=14)
        wx, wy = target.tolerance.get("position_mm", 0.0), target.tolerance.get("lateral_mm", 0.0)
        box = pg.QtWidgets.QGraphicsRectItem(tx - wx, ty - wy, 2 * wx, 2 * wy)
        box.setPen(pg.mkPen((255, 200, 0), style=pg.QtCore.Qt.PenStyle.DashLine))
        plot.addItem(box)

    # -- logbook and progress ------------------------------------------------------------------------

    def _record(
        self, *, kind: str, item: str, score: float, time_s: float, detail: str, scene: str = ""
    ) -> None:
        person = self._person()
        if self._db is None or not person:
            self.feedback.setText(
                self.feedback.text() + "\n(Not kept: sign in on the Programme tab to keep scores.)"
            )
            return
        scene_id = scene or (self._control.current_scene()[0] if self._control is not None else "")
        record_score(
            self._db,
            PracticeScore(person, kind, item, score, datetime.now(UTC), scene_id, time_s, detail),
        )
        self.refresh_progress()

    def refresh_progress(self) -> None:
        """Plot the signed-in person's quiz and view scores over time."""
        self.progress_plot.clear()
        person = self._person()
        if self._db is None or not person:
            return
        for kind, colour in (("quiz", (120, 220, 120)), ("view", (120, 180, 255))):
            points = progress_series(practice_scores(self._db, person, kind))
            if points:
                self.progress_plot.plot(
                    [p[0] for p in points], [p[1] for p in points], pen=pg.mkPen(colour, width=2),
                    symbol="o", symbolBrush=colour, symbolSize=6, name=kind,
                )  # fmt: skip


def _answers(graded: Sequence[Graded]) -> str:
    return "; ".join(
        f"{g.question.prompt}: {g.given} ({'right' if g.correct else 'wrong'}, {g.truth})" for g in graded
    )
