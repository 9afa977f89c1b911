"""SimPanel: with the simulated probe only: choose the scene and pathology, and move the virtual probe.

The panel talks to the simulator through the Qt-free `SimulatorControl` protocol
(`scanner_app.sim_control`); main.py hands it the adapter over the physics simulator. `SimulatorTab`
is the simulator feature in the window: the panel as a side tab while the probe is a simulated one.
The pose is shown as a small picture of the probe on the limb, which takes the mouse (drag to move,
wheel to rotate, shift+wheel for pressure). The keys that move the probe are window actions the tab
adds (enabled while a simulator is present), so they work wherever the focus is and never take a
scanner key (S saves a still; tilt is Alt+Up/Down). The body marker follows the scene and the probe.
With a simulated probe that makes Doppler, the patient's manoeuvres for a venous study are there too:
a calf squeeze (augmentation, `Ctrl+Alt+A`) and a Valsalva held and released (`Ctrl+Alt+V`).
"""

from __future__ import annotations

import functools

from PyQt6.QtCore import QObject, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QColor, QMouseEvent, QPainter, QPen, QWheelEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from scanner_app.annotations import BodyMarker
from scanner_app.sim_control import SimulatorControl
from ui.theme import ACCENT, MUTED
from ui.window_api import ScannerWindow

__all__ = ["SimPanel", "SimulatorControl", "SimulatorTab"]


# (key, title, min, max, slider steps per unit, keyboard step)
POSE_AXES: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("position_mm", "Along limb (mm)", -150.0, 300.0, 1.0, 5.0),
    ("lateral_mm", "Across (mm)", -90.0, 90.0, 1.0, 2.0),
    ("rotation_deg", "Rotation (°)", -180.0, 180.0, 1.0, 5.0),
    ("tilt_deg", "Tilt (°)", -30.0, 30.0, 1.0, 2.0),
    ("pressure", "Pressure", 0.0, 1.0, 100.0, 0.05),
)
AXIS_LIMITS = {key: (lo, hi) for key, _, lo, hi, _, _ in POSE_AXES}

# The probe's keys, as window actions: (action name, keys, help text, pose key, multiple of its step).
# None of them is a scanner key (arrows alone step depth and cine, S saves a still, +/- gain).
POSE_ACTIONS: tuple[tuple[str, str, str, str, float], ...] = (
    ("sim_proximal", "Ctrl+Up", "Sim probe: slide up the limb", "position_mm", -1.0),
    ("sim_distal", "Ctrl+Down", "Sim probe: slide down the limb", "position_mm", 1.0),
    ("sim_left", "Ctrl+Left", "Sim probe: slide across (left)", "lateral_mm", -1.0),
    ("sim_right", "Ctrl+Right", "Sim probe: slide across (right)", "lateral_mm", 1.0),
    ("sim_rotate_left", "Alt+Left", "Sim probe: rotate anticlockwise", "rotation_deg", -1.0),
    ("sim_rotate_right", "Alt+Right", "Sim probe: rotate clockwise", "rotation_deg", 1.0),
    ("sim_tilt_up", "Alt+Up", "Sim probe: tilt (heel-toe) up", "tilt_deg", 1.0),
    ("sim_tilt_down", "Alt+Down", "Sim probe: tilt (heel-toe) down", "tilt_deg", -1.0),
    ("sim_press", "PgUp", "Sim probe: press harder", "pressure", 1.0),
    ("sim_release", "PgDown", "Sim probe: press lighter", "pressure", -1.0),
)
# The patient's manoeuvres, as window actions: (action name, keys, help text, what the slot does).
MANOEUVRE_ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("sim_augmentation", "Ctrl+Alt+A", "Sim patient: calf squeeze (augmentation)", "squeeze"),
    ("sim_valsalva", "Ctrl+Alt+V", "Sim patient: Valsalva — strain / release", "valsalva"),
)
# Simulator scenes to the body-marker pictograms (the QA phantom has none).
BODY_MARKER_BY_SCENE = {
    "shoulder": "Shoulder",
    "elbow": "Elbow",
    "wrist": "Wrist / hand",
    "hip": "Hip",
    "knee": "Knee",
    "ankle": "Ankle / foot",
    "groin": "DVT groin / thigh",
    "thigh": "DVT groin / thigh",
    "popliteal": "Knee",
    "calf": "DVT calf",
    "finger": "Wrist / hand",
    "thumb_mcp": "Wrist / hand",
    "foreign_body": "Wrist / hand",  # the volar forearm just above the wrist
    "distal_radius": "Wrist / hand",
    "first_mtp": "Ankle / foot",
    "anterior_leg": "DVT calf",  # the lower leg's pictogram
}
# Scenes no pictogram draws: the marker keeps the exam's region (the phantom, the neck and arm veins,
# the chest wall).
NO_BODY_MARKER = frozenset({"qa_phantom", "arm_veins", "costal_margin"})


def body_marker_for(scene_id: str, pose: dict[str, float], marker: BodyMarker) -> BodyMarker:
    """The body marker showing the simulated probe: the scene's region (the side stays, the exam sets
    it), the probe's place along the pictogram and its angle to the limb (0 = long axis)."""
    region = BODY_MARKER_BY_SCENE.get(scene_id, marker.region)
    along = min(max(0.5 + pose.get("position_mm", 0.0) / 300.0, 0.08), 0.92)
    return BodyMarker(region, marker.side, along, pose.get("rotation_deg", 0.0))


def clamp_pose(key: str, value: float) -> float:
    lo, hi = AXIS_LIMITS[key]
    return min(max(value, lo), hi)


class LimbPicture(QWidget):
    """Top view of the limb with the probe footprint on it; mouse and keys move the probe."""

    def __init__(self, panel: SimPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.setMinimumSize(220, 260)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the probe's keys are window actions
        self.setToolTip(
            "Drag: move the probe · wheel: rotate · shift+wheel: pressure\n"
            "Ctrl+arrows: move · Alt+Left/Right: rotate · Alt+Up/Down: tilt · PgUp/PgDn: pressure"
        )

    def _limb_rect(self) -> QRectF:
        w, h = self.width(), self.height()
        return QRectF(w * 0.3, 10, w * 0.4, h - 20)

    def _pose_at(self, pos: QPointF) -> tuple[float, float]:
        r = self._limb_rect()
        lo_p, hi_p = AXIS_LIMITS["position_mm"]
        lo_s, hi_s = AXIS_LIMITS["lateral_mm"]
        position = lo_p + (pos.y() - r.top()) / r.height() * (hi_p - lo_p)
        slide = lo_s + (pos.x() - r.left()) / r.width() * (hi_s - lo_s)
        return clamp_pose("position_mm", position), clamp_pose("lateral_mm", slide)

    def mm_to_widget(self, position_mm: float, lateral_mm: float) -> QPointF:
        r = self._limb_rect()
        lo_p, hi_p = AXIS_LIMITS["position_mm"]
        lo_s, hi_s = AXIS_LIMITS["lateral_mm"]
        return QPointF(
            r.left() + (lateral_mm - lo_s) / (hi_s - lo_s) * r.width(),
            r.top() + (position_mm - lo_p) / (hi_p - lo_p) * r.height(),
        )

    def paintEvent(self, event: object) -> None:
        pose = self.panel.pose
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#0e0f11"))
        r = self._limb_rect()
        p.setPen(QPen(QColor("#8a9099"), 2))
        p.setBrush(QColor("#3a2f2a"))
        p.drawRoundedRect(r, r.width() / 2.5, r.width() / 2.5)
        p.setPen(QPen(QColor(MUTED), 1, Qt.PenStyle.DotLine))
        p.drawLine(QPointF(r.center().x(), r.top()), QPointF(r.center().x(), r.bottom()))
        centre = self.mm_to_widget(pose.get("position_mm", 0.0), pose.get("lateral_mm", 0.0))
        pressure = pose.get("pressure", 0.0)
        p.translate(centre)
        # The footprint is drawn along x; the limb runs down the picture, so rotation 0 (long axis, the
        # image plane along the limb) turns it a quarter clockwise: along the limb, its marker dot
        # toward the head, as the body marker draws it (annotations.probe_icon_direction).
        p.rotate(pose.get("rotation_deg", 0.0) + 90.0)
        colour = QColor(ACCENT)
        colour.setAlpha(int(110 + 145 * pressure))
        p.setPen(QPen(QColor("white"), 1))
        p.setBrush(colour)
        length = 46.0
        thickness = 10.0 + 8.0 * pressure  # a firmer press shows a fuller footprint
        p.drawRoundedRect(QRectF(-length / 2, -thickness / 2, length, thickness), 3, 3)
        p.setBrush(QColor("white"))
        p.drawEllipse(QPointF(-length / 2 - 5, 0), 3, 3)  # the probe's orientation marker
        p.resetTransform()
        p.setPen(QColor("#d0d4da"))
        p.drawText(6, self.height() - 8, f"tilt {pose.get('tilt_deg', 0.0):+.0f}°  press {pressure:.2f}")
        p.end()

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.button() == Qt.MouseButton.LeftButton:
            self._move_to(event.position())

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._move_to(event.position())

    def _move_to(self, pos: QPointF) -> None:
        position, slide = self._pose_at(pos)
        self.panel.change_pose(position_mm=position, lateral_mm=slide)

    def wheelEvent(self, event: QWheelEvent | None) -> None:
        if event is None:
            return
        notches = event.angleDelta().y() / 120.0
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.panel.nudge("pressure", notches)
        else:
            self.panel.nudge("rotation_deg", notches)
        event.accept()


COMBO_MIN_CHARS = 10


def _show_whole(combo: QComboBox) -> None:
    """The list as wide as its longest title, and the chosen title whole in the tooltip."""
    view = combo.view()
    if view is not None:
        view.setMinimumWidth(view.sizeHintForColumn(0) + 24)  # room for the list's scroll bar
    combo.setToolTip(combo.currentText())


class SimPanel(QWidget):
    """Scene and pathology pickers, pose sliders, the limb picture and the probe's cable, over a
    SimulatorControl."""

    pose_shown = pyqtSignal()  # scene or pose read back from the simulator (after any change)

    def __init__(self, sim: SimulatorControl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sim = sim
        self.scenes = sim.list_scenes()
        self.pose: dict[str, float] = dict(sim.get_pose())
        self.scene_combo = QComboBox()
        for scene_id, title, _ in self.scenes:
            self.scene_combo.addItem(title, scene_id)
        self.variant_combo = QComboBox()
        for c in (self.scene_combo, self.variant_combo):
            c.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            # As wide as the side panel, not as the longest title (that scrolled the tab sideways):
            # the chosen title is elided here and shown whole in the list and the tooltip.
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            c.setMinimumContentsLength(COMBO_MIN_CHARS)
            c.currentIndexChanged.connect(lambda _i, combo=c: _show_whole(combo))
        _show_whole(self.scene_combo)
        self.picture = LimbPicture(self)
        self.sliders: dict[str, QSlider] = {}
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        # The cable, for practising a disconnect: the window's banner and reconnect take over.
        self.cable_button = QPushButton()
        self.cable_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cable_button.clicked.connect(self.toggle_cable)
        # The patient's manoeuvres for a venous Doppler study (shown when the probe makes Doppler).
        self.squeeze_button = QPushButton("Calf squeeze")
        self.squeeze_button.setToolTip("Augmentation: squeeze the calf (Ctrl+Alt+A)")
        self.squeeze_button.clicked.connect(self.squeeze)
        self.valsalva_button = QPushButton("Valsalva")
        self.valsalva_button.setToolTip("Hold a Valsalva; press again to release (Ctrl+Alt+V)")
        self.valsalva_button.setCheckable(True)
        self.valsalva_button.clicked.connect(lambda _checked: self.toggle_valsalva())
        # A trainee lost in the anatomy starts again from the scene's first view (choosing the scene
        # already chosen changes nothing).
        self.reset_button = QPushButton("Reset probe")
        self.reset_button.setToolTip("Back to this scene's first view, no pressure")
        self.reset_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reset_button.clicked.connect(lambda _checked: self.change_pose(**self.sim.start_pose()))
        self.manoeuvre_row = QWidget()
        row = QHBoxLayout(self.manoeuvre_row)
        row.setContentsMargins(0, 0, 0, 0)
        for b in (self.squeeze_button, self.valsalva_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(b)
        scene_form = QFormLayout()  # its own label column: the pose's long labels leave the combos narrow
        scene_form.addRow("Scene", self.scene_combo)
        scene_form.addRow("Variant", self.variant_combo)
        form = QFormLayout()
        for key, title, lo, hi, scale, _ in POSE_AXES:
            s = QSlider(Qt.Orientation.Horizontal)
            s.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            s.setRange(round(lo * scale), round(hi * scale))
            s.valueChanged.connect(lambda v, k=key, sc=scale: self.change_pose(**{k: v / sc}))
            form.addRow(title, s)
            self.sliders[key] = s
        lay = QVBoxLayout(self)
        lay.addLayout(scene_form)
        lay.addLayout(form)
        lay.addWidget(self.reset_button)
        lay.addWidget(self.picture, 1)
        lay.addWidget(self.manoeuvre_row)
        self.manoeuvre_row.setVisible(bool(sim.manoeuvres()))
        lay.addWidget(self.cable_button)
        self.cable_button.setVisible(sim.cable_plugged() is not None)  # once parented: never a window
        lay.addWidget(self.error_label)
        self.scene_combo.currentIndexChanged.connect(self._scene_chosen)
        self.variant_combo.currentIndexChanged.connect(self._variant_chosen)
        self.refresh()

    def _fill_variants(self) -> None:
        self.variant_combo.blockSignals(True)
        self.variant_combo.clear()
        index = self.scene_combo.currentIndex()
        if 0 <= index < len(self.scenes):
            titles = self.sim.variant_titles(self.scenes[index][0])
            self.variant_combo.addItem("normal", None)
            for v in self.scenes[index][2]:
                if v != "normal":
                    self.variant_combo.addItem(titles.get(v) or v.replace("_", " "), v)
        self.variant_combo.blockSignals(False)
        _show_whole(self.variant_combo)

    def _scene_chosen(self, index: int) -> None:
        self._fill_variants()
        self._apply_scene()

    def _variant_chosen(self, index: int) -> None:
        self._apply_scene()

    def _apply_scene(self) -> None:
        scene_id = self.scene_combo.currentData()
        if scene_id is None:
            return
        try:
            self.sim.set_scene(str(scene_id), self.variant_combo.currentData())
            self.error_label.setText("")
        except (ValueError, KeyError) as exc:
            self.error_label.setText(f"Scene not loaded: {exc}")
        self.refresh()

    def nudge(self, key: str, steps: float) -> None:
        step = next(s for k, _, _, _, _, s in POSE_AXES if k == key)
        self.change_pose(**{key: self.pose.get(key, 0.0) + steps * step})

    def change_pose(self, **changes: float) -> None:
        """Move the virtual probe (values clamped to the panel's ranges) and show where it now is."""
        clamped = {k: clamp_pose(k, float(v)) for k, v in changes.items()}
        self.sim.set_pose(**clamped)
        self.refresh()

    def refresh(self) -> None:
        """Read scene and pose back from the simulator (moved elsewhere, or constrained) and redraw."""
        scene_id, variant = self.sim.current_scene()
        for combo, data in ((self.scene_combo, scene_id), (self.variant_combo, variant)):
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(data)))
            combo.blockSignals(False)
            if combo is self.scene_combo:
                self._fill_variants()
        self.pose = dict(self.sim.get_pose())
        self._show_pose()
        self._show_cable()
        self._show_manoeuvres()
        self.pose_shown.emit()

    def squeeze(self) -> None:
        """Squeeze the calf: the leg veins' flow surges (augmentation)."""
        if self.sim.manoeuvres():
            self.sim.perform("augmentation")

    def toggle_valsalva(self) -> None:
        """Begin a Valsalva, or release the one held."""
        if self.sim.manoeuvres():
            self.sim.perform("release" if self.sim.straining() else "valsalva")
        self._show_manoeuvres()

    def _show_manoeuvres(self) -> None:
        straining = self.sim.straining()
        self.valsalva_button.setChecked(straining)
        self.valsalva_button.setText("Release Valsalva" if straining else "Valsalva")

    def toggle_cable(self) -> None:
        """Pull the simulated probe's cable, or plug it back in."""
        plugged = self.sim.cable_plugged()
        if plugged is not None:
            self.sim.set_cable_plugged(not plugged)
        self._show_cable()

    def _show_cable(self) -> None:
        plugged = self.sim.cable_plugged()
        self.cable_button.setText(
            "Pull the probe cable" if plugged or plugged is None else "Plug the probe in"
        )

    def _show_pose(self) -> None:
        for key, _, _, _, scale, _ in POSE_AXES:
            s = self.sliders[key]
            s.blockSignals(True)
            s.setValue(round(self.pose.get(key, 0.0) * scale))
            s.blockSignals(False)
        self.picture.update()


class SimulatorTab(QObject):
    """The simulator feature: the Sim side tab and the probe's keys while the probe is a simulated
    one, and the body marker following the simulated probe."""

    changed = pyqtSignal()  # a probe switch brought or took away the simulator
    shown = pyqtSignal()  # the tab read scene and pose back: chosen here, or moved by the exam (refresh)

    def __init__(self, window: ScannerWindow, control: SimulatorControl | None = None) -> None:
        super().__init__()
        self._window = window
        self._control: SimulatorControl | None = None
        self._panel: SimPanel | None = None
        self.actions: dict[str, QAction] = {}
        self._show(control)

    @property
    def control(self) -> SimulatorControl | None:
        """The simulated patient now, or None when the probe is a real one."""
        return self._control

    @property
    def panel(self) -> SimPanel | None:
        return self._panel

    def set_control(self, control: SimulatorControl | None) -> None:
        """After a probe switch: the new probe's simulator (a new tab), or None (no tab)."""
        self._show(control)
        self.changed.emit()

    def refresh(self) -> None:
        """Show the scene and pose again after something else (the exam's practice mode) moved them."""
        if self._panel is not None:
            self._panel.refresh()

    def nudge(self, key: str, steps: float) -> None:
        """Move the simulated probe by `steps` of the axis' keyboard step (the probe's key actions)."""
        if self._panel is not None:
            self._panel.nudge(key, steps)

    def manoeuvre(self, what: str) -> None:
        """The manoeuvre keys: "squeeze" the calf, or begin / release a "valsalva"."""
        if self._panel is None:
            return
        if what == "squeeze":
            self._panel.squeeze()
        else:
            self._panel.toggle_valsalva()

    def _show(self, control: SimulatorControl | None) -> None:
        if self._panel is not None:
            self._window.remove_side_tab(self._panel)
            self._panel.deleteLater()
        self._control = control
        self._panel = SimPanel(control) if control is not None else None
        if self._panel is not None:
            self._window.add_side_tab(self._panel, "Sim")
            self._panel.pose_shown.connect(self._follow_body_marker)
            self._panel.pose_shown.connect(self.shown)
            self._follow_body_marker()
            if not self.actions:  # listed in F1 from the first simulated probe on
                for name, keys, text, key, sign in POSE_ACTIONS:
                    slot = lambda k=key, s=sign: self.nudge(k, s)  # noqa: E731
                    self.actions[name] = self._window.add_action(name, [keys], text, slot)
                for name, keys, text, what in MANOEUVRE_ACTIONS:
                    self.actions[name] = self._window.add_action(
                        name, [keys], text, functools.partial(self.manoeuvre, what)
                    )
        manoeuvres = control is not None and bool(control.manoeuvres())
        for name, action in self.actions.items():
            is_manoeuvre = any(name == m[0] for m in MANOEUVRE_ACTIONS)
            action.setEnabled(manoeuvres if is_manoeuvre else control is not None)

    def _follow_body_marker(self) -> None:
        if self._panel is None or self._control is None:
            return
        annotations = self._window.models.annotations
        marker = body_marker_for(self._control.current_scene()[0], self._panel.pose, annotations.body_marker)
        if marker != annotations.body_marker:
            annotations.set_body_marker(marker)
