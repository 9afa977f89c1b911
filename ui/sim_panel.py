"""SimPanel: with the simulated probe only: choose the scene and pathology, and move the virtual probe.

The panel talks to the simulator through the Qt-free `SimulatorControl` protocol
(`scanner_app.sim_control`); main.py hands it the adapter over the physics simulator. `SimulatorTab`
is the simulator feature in the window: the panel as a side tab while the probe is a simulated one.
The pose is shown as a small picture of the probe on the limb, which takes the mouse (drag to move,
wheel to rotate, shift+wheel for pressure) and the keyboard.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPen, QWheelEvent
from PyQt6.QtWidgets import QComboBox, QFormLayout, QLabel, QSlider, QVBoxLayout, QWidget

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

# keyboard on the limb picture: key -> (pose key, multiple of its step)
POSE_KEYS: dict[int, tuple[str, float]] = {
    Qt.Key.Key_Up: ("position_mm", -1.0),
    Qt.Key.Key_Down: ("position_mm", 1.0),
    Qt.Key.Key_Left: ("lateral_mm", -1.0),
    Qt.Key.Key_Right: ("lateral_mm", 1.0),
    Qt.Key.Key_Q: ("rotation_deg", -1.0),
    Qt.Key.Key_E: ("rotation_deg", 1.0),
    Qt.Key.Key_W: ("tilt_deg", 1.0),
    Qt.Key.Key_S: ("tilt_deg", -1.0),
    Qt.Key.Key_PageUp: ("pressure", 1.0),
    Qt.Key.Key_PageDown: ("pressure", -1.0),
}


def clamp_pose(key: str, value: float) -> float:
    lo, hi = AXIS_LIMITS[key]
    return min(max(value, lo), hi)


class LimbPicture(QWidget):
    """Top view of the limb with the probe footprint on it; mouse and keys move the probe."""

    def __init__(self, panel: SimPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.setMinimumSize(220, 260)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Drag: move the probe · wheel: rotate · shift+wheel: pressure\n"
                        "Arrows: move · Q/E: rotate · W/S: tilt · PgUp/PgDn: pressure")  # fmt: skip

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
        p.rotate(pose.get("rotation_deg", 0.0))
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
            self.setFocus()
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

    def event(self, e: QEvent | None) -> bool:
        # Take our keys before the window's shortcuts (arrows also step depth and cine elsewhere).
        if (
            e is not None
            and e.type() == QEvent.Type.ShortcutOverride
            and isinstance(e, QKeyEvent)
            and e.key() in POSE_KEYS
        ):
            e.accept()
            return True
        return super().event(e)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is not None and event.key() in POSE_KEYS:
            key, sign = POSE_KEYS[event.key()]
            self.panel.nudge(key, sign)
            event.accept()
            return
        super().keyPressEvent(event)


class SimPanel(QWidget):
    """Scene and pathology pickers, pose sliders and the limb picture, over a SimulatorControl."""

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
        self.picture = LimbPicture(self)
        self.sliders: dict[str, QSlider] = {}
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Scene", self.scene_combo)
        form.addRow("Variant", self.variant_combo)
        for key, title, lo, hi, scale, _ in POSE_AXES:
            s = QSlider(Qt.Orientation.Horizontal)
            s.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            s.setRange(round(lo * scale), round(hi * scale))
            s.valueChanged.connect(lambda v, k=key, sc=scale: self.change_pose(**{k: v / sc}))
            form.addRow(title, s)
            self.sliders[key] = s
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.picture, 1)
        lay.addWidget(self.error_label)
        self.scene_combo.currentIndexChanged.connect(self._scene_chosen)
        self.variant_combo.currentIndexChanged.connect(self._variant_chosen)
        self.refresh()

    def _fill_variants(self) -> None:
        self.variant_combo.blockSignals(True)
        self.variant_combo.clear()
        index = self.scene_combo.currentIndex()
        if 0 <= index < len(self.scenes):
            self.variant_combo.addItem("normal", None)
            for v in self.scenes[index][2]:
                if v != "normal":
                    self.variant_combo.addItem(v, v)
        self.variant_combo.blockSignals(False)

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

    def _show_pose(self) -> None:
        for key, _, _, _, scale, _ in POSE_AXES:
            s = self.sliders[key]
            s.blockSignals(True)
            s.setValue(round(self.pose.get(key, 0.0) * scale))
            s.blockSignals(False)
        self.picture.update()


# the limb picture's own keys (when it has the focus), for the F1 help
SIM_HELP_ENTRIES = (
    ("Sim: arrows", "Move the virtual probe (click the limb picture)"),
    ("Sim: Q/E W/S", "Rotate / tilt the virtual probe"),
    ("Sim: PgUp/PgDn", "Press harder / lighter"),
)


class SimulatorTab(QObject):
    """The simulator feature: the Sim side tab while the probe is a simulated one, and its keys in F1."""

    changed = pyqtSignal()  # a probe switch brought or took away the simulator

    def __init__(self, window: ScannerWindow, control: SimulatorControl | None = None) -> None:
        super().__init__()
        self._window = window
        self._control: SimulatorControl | None = None
        self._panel: SimPanel | None = None
        self._keys_listed = False
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

    def _show(self, control: SimulatorControl | None) -> None:
        if self._panel is not None:
            self._window.remove_side_tab(self._panel)
            self._panel.deleteLater()
        self._control = control
        self._panel = SimPanel(control) if control is not None else None
        if self._panel is not None:
            self._window.add_side_tab(self._panel, "Sim")
            if not self._keys_listed:
                self._keys_listed = True
                for keys, text in SIM_HELP_ENTRIES:
                    self._window.add_help_entry(keys, text)
