"""Needle practice on the simulated probe: the "Needle" tab and its keys.

While the probe is a simulated one, the tab places a needle where a planned approach puts it (in-plane
from either end at an angle, or out-of-plane to cross the slice at a depth), and the trainee drives
it with keys or the tab's buttons: `Shift+N` a new needle, `Shift+Up` / `Shift+Down` advance /
withdraw 1 mm, `Shift+Right` / `Shift+Left` steeper / flatter by 2°, `Shift+I` inject 0.5 ml,
`Shift+E` end the attempt and score it. The tab shows the simulator's ground truth as it goes (the
structure the tip is in, whether the tip is in the slice) and the score from
`scanner_app.needle_practice`. It talks to the simulator through `SimulatorControl` only and attaches
through the window's extension points.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PyQt6.QtCore import QObject, Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from scanner_app.needle_guide import MAX_ANGLE_DEG, MIN_ANGLE_DEG, Approach, NeedleGuide
from scanner_app.needle_practice import NeedlePractice, NeedleScore
from scanner_app.sim_control import INJECTATE_STRUCTURE, NEEDLE_STRUCTURE, NeedleTruth, SimulatorControl
from ui.procedure_panel import APPROACH_TEXT
from ui.sim_panel import SimulatorTab
from ui.window_api import ScannerWindow

STEP_MM = 1.0
ANGLE_STEP_DEG = 2.0
INJECT_ML = 0.5
DEFAULT_TARGET = "subacromial-subdeltoid bursa"

# (action name, key, help text, what the slot does)
NEEDLE_ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("needle_place", "Shift+N", "Sim needle: a new needle at the skin (the tab's approach)", "place"),
    ("needle_advance", "Shift+Up", "Sim needle: advance 1 mm", "advance"),
    ("needle_withdraw", "Shift+Down", "Sim needle: withdraw 1 mm", "withdraw"),
    ("needle_steeper", "Shift+Right", "Sim needle: 2° steeper", "steeper"),
    ("needle_flatter", "Shift+Left", "Sim needle: 2° flatter", "flatter"),
    ("needle_inject", "Shift+I", "Sim needle: inject 0.5 ml", "inject"),
    ("needle_score", "Shift+E", "Sim needle: end the attempt and score it", "score"),
)


class NeedlePanel(QWidget):
    """The approach, the target, the needle's buttons, the truth at the tip and the score."""

    def __init__(
        self, sim: SimulatorControl, on_score: Callable[[NeedleScore], None] = lambda _s: None
    ) -> None:
        super().__init__()
        self.sim = sim
        self._on_score = on_score  # e.g. into the signed-in trainee's logbook
        self.practice: NeedlePractice | None = None
        self.last_score: NeedleScore | None = None
        self.approach = QComboBox()
        self.approach.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.approach.setMinimumContentsLength(14)
        for approach, text in APPROACH_TEXT.items():
            self.approach.addItem(text, approach)
        self.angle = QDoubleSpinBox()
        self.angle.setRange(MIN_ANGLE_DEG, MAX_ANGLE_DEG)
        self.angle.setValue(25.0)
        self.angle.setSuffix(" °")
        self.entry = QDoubleSpinBox()
        self.entry.setRange(0.0, 50.0)
        self.entry.setValue(5.0)
        self.entry.setSuffix(" mm")
        self.crossing = QDoubleSpinBox()
        self.crossing.setRange(1.0, 100.0)
        self.crossing.setValue(10.0)
        self.crossing.setSuffix(" mm")
        self.target = QComboBox()
        self.target.setToolTip("The structure the tip must reach (from the structures in view)")
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target.setMinimumContentsLength(14)
        self.target.activated.connect(self._picked)
        self._chosen = ""  # the target the trainee picked in this scene, kept over refills
        self._step_scene, self._step_target = "", ""  # the current step's needle target (set_step_target)
        self._scene = sim.current_scene()
        self._shown_inserted_mm = 0.0  # how far in the needle was when its truth was last shown
        for w in (self.approach, self.angle, self.entry, self.crossing, self.target):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.buttons: dict[str, QPushButton] = {}
        tips = {what: text for _name, _key, text, what in NEEDLE_ACTIONS}
        # Short texts, two to a row, the key under the verb: one line each, two buttons were wider than
        # the panel on a newcomer's 1280 x 800 screen; the tooltips say all.
        grid = QGridLayout()
        for i, (what, text) in enumerate(
            (
                ("place", "New\n⇧N"),
                ("inject", "Inject\n⇧I"),
                ("advance", "Advance\n⇧↑"),
                ("withdraw", "Withdraw\n⇧↓"),
                ("flatter", "Flatter\n⇧←"),
                ("steeper", "Steeper\n⇧→"),
                ("score", "Score\n⇧E"),
                ("remove", "Remove"),
            )
        ):
            b = QPushButton(text)
            b.setToolTip(tips.get(what, "Remove the needle"))
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(functools.partial(self.do, what))
            grid.addWidget(b, i // 2, i % 2)
            self.buttons[what] = b
        self.truth_label = QLabel("No needle: choose the approach, then New needle (Shift+N)")
        self.truth_label.setWordWrap(True)
        self.score_label = QLabel("")
        self.score_label.setWordWrap(True)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a field under its label when narrow
        form.addRow("Approach", self.approach)
        form.addRow("Angle to skin", self.angle)
        form.addRow("Entry beyond probe", self.entry)
        form.addRow("Out-of-plane depth", self.crossing)
        form.addRow("Target", self.target)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(grid)
        layout.addWidget(self.truth_label)
        layout.addWidget(self.score_label)
        layout.addStretch(1)
        self.fill_targets()

    def guide(self) -> NeedleGuide:
        return NeedleGuide(
            approach=Approach(self.approach.currentData()),
            angle_deg=self.angle.value(),
            entry_offset_mm=self.entry.value(),
            target_depth_mm=self.crossing.value(),
        )

    def fill_targets(self) -> None:
        """The structures the image plane cuts now, and always the trainee's pick and the step's
        target in this scene (the probe may be away from them); selected: the trainee's pick, else
        the step's target, else the bursa when it is listed, else the first."""
        scene = self.sim.current_scene()[0]
        step_target = self._step_target if self._step_scene == scene else ""
        names = self.sim.view_truth().structures_in_view - {NEEDLE_STRUCTURE, INJECTATE_STRUCTURE}
        names |= {n for n in (self._chosen, step_target) if n}
        self.target.clear()
        self.target.addItems(sorted(names))
        for wanted in (self._chosen, step_target, DEFAULT_TARGET):
            index = self.target.findText(wanted) if wanted else -1
            if index >= 0:
                self.target.setCurrentIndex(index)
                return
        self.target.setCurrentIndex(0)

    def set_step_target(self, scene_id: str, structure: str) -> None:
        """The current step's needle target ("" for none): selected, over an earlier pick, because
        this is what the step asks for; listed only while its scene is the one shown."""
        self._step_scene, self._step_target = scene_id, structure
        if structure:
            self._chosen = ""
        self.fill_targets()

    def follow_scene(self) -> None:
        """The simulator may show another scene or variant: the list follows it, and a needle the
        change took out (`set_scene` removes it) is no longer shown as in."""
        shown = self.sim.current_scene()
        if shown == self._scene:
            # A pose change: the list keeps (the tip's truth is refreshed by the needle's verbs), but
            # a needle the exam withdrew (the image after a procedure) is no longer shown as in.
            truth = self.sim.needle_truth() if self.practice is not None else None
            if truth is not None and truth.inserted_mm != self._shown_inserted_mm:
                self.show_truth(truth)
            return
        self._scene = shown
        self._chosen = ""  # a structure of the scene before
        if self.practice is not None and self.sim.needle_truth() is None:
            self.practice = None
            self.truth_label.setText("No needle: the scene changed; New needle (Shift+N)")
        self.fill_targets()

    def _picked(self, _index: int) -> None:
        self._chosen = self.target.currentText()  # the trainee's own choice (`activated`: by hand only)

    def do(self, what: str) -> None:
        """One of the needle's verbs (a key or a button); a refused one is shown, not raised."""
        try:
            truth = self._do(what)
        except ValueError as exc:
            self.truth_label.setText(str(exc))
            return
        if truth is not None:
            self.show_truth(truth)

    def _do(self, what: str) -> NeedleTruth | None:
        if what == "place":
            self.fill_targets()
            self.practice = NeedlePractice(self.sim, self.target.currentText())
            self.practice.place(self.guide())
            self.score_label.setText("")
            return self.sim.needle_truth()
        if what == "remove":
            self.sim.reset_needle()
            self.practice = None
            self.truth_label.setText("No needle")
            return None
        if self.practice is None:
            raise ValueError("No needle: New needle (Shift+N) first")
        p = self.practice
        if what == "score":
            self.last_score = p.finish()
            self.score_label.setText(self.last_score.summary())
            self._on_score(self.last_score)
            return None
        verbs = {
            "advance": lambda: p.advance(STEP_MM),
            "withdraw": lambda: p.withdraw(STEP_MM),
            "steeper": lambda: p.angle(ANGLE_STEP_DEG),
            "flatter": lambda: p.angle(-ANGLE_STEP_DEG),
            "inject": lambda: p.inject(INJECT_ML),
        }
        return verbs[what]()

    def show_truth(self, truth: NeedleTruth) -> None:
        self._shown_inserted_mm = truth.inserted_mm
        seen = "tip in the slice" if truth.tip_visible else "tip NOT in the slice"
        crossed = ", ".join(sorted(truth.vessels_and_nerves_crossed))
        where = (
            f"Tip in: {truth.tip_structure} ({truth.tip_depth_mm:.1f} mm deep, {seen})"
            if truth.inserted_mm > 0
            else "Needle at the skin, not in the patient"  # new, or withdrawn for the image after
        )
        text = f"{where}\n{truth.inserted_mm:.0f} mm in at {truth.angle_deg:.0f}°"
        if truth.injected_ml:
            text += f", {truth.injected_ml:g} ml injected"
        if crossed:
            text += f"\nCrossed: {crossed}"
        self.truth_label.setText(text)


class NeedleTab(QObject):
    """The needle practice feature: the Needle tab and its keys while the probe is a simulated one."""

    def __init__(self, window: ScannerWindow, simulator: SimulatorTab) -> None:
        super().__init__()
        self._window = window
        self.on_score: Callable[[NeedleScore], None] = lambda _score: None  # where scores go
        self._simulator = simulator
        self._panel: NeedlePanel | None = None
        self._step_target = ("", "")  # (scene, structure) of the current step's needle, for a new panel
        self.actions: dict[str, QAction] = {}
        for name, key, text, what in NEEDLE_ACTIONS:
            self.actions[name] = window.add_action(name, [key], text, functools.partial(self.do, what))
        simulator.changed.connect(self._follow)
        simulator.shown.connect(self._follow_scene)  # the Sim tab's choice, or the exam's step
        self._follow()

    @property
    def panel(self) -> NeedlePanel | None:
        return self._panel

    def do(self, what: str) -> None:
        if self._panel is not None:
            self._panel.do(what)

    def set_step_target(self, scene_id: str, structure: str) -> None:
        """The exam's current step needs the needle's tip in or beside `structure` of `scene_id`
        ("" for a step with no needle target): the Target list selects it (the composition root
        connects this to the exam's step changes)."""
        self._step_target = (scene_id, structure)
        if self._panel is not None:
            self._panel.set_step_target(scene_id, structure)

    def _follow_scene(self) -> None:
        if self._panel is not None:
            self._panel.follow_scene()

    def _follow(self) -> None:
        """A probe switch: a tab for the new simulator, none for a real probe."""
        if self._panel is not None:
            self._window.remove_side_tab(self._panel)
            self._panel.deleteLater()
            self._panel = None
        control = self._simulator.control
        if control is not None:
            # Late-bound: main.py sets `on_score` once the logbook exists, after the tab is made.
            self._panel = NeedlePanel(control, on_score=lambda score: self.on_score(score))  # noqa: PLW0108
            self._panel.set_step_target(*self._step_target)
            self._window.add_side_tab(self._panel, "Needle")
        for action in self.actions.values():
            action.setEnabled(control is not None)
