"""Procedure mode: needle guide lines and a target marker drawn over the live image.

The "Procedure" tab sets the approach (in-plane from either end, or out-of-plane), the needle's angle
to the skin and entry point (or a bracket preset), and shows the path from the entry to a dropped
target. `G` shows or hides the guide, `[` / `]` change the angle by 5°, `Shift+T` drops a target at
the next click on the image (freezing a live image first, as for calipers; Esc cancels it and its
prompt). The target stays where it was dropped in image millimetres, live or frozen, until cleared.
Overlays are redrawn only when the guide, the depth or the image width changes, never per frame, so
the live image runs as fast as without them. Attached through the window's extension points only.
"""

from __future__ import annotations

import dataclasses

import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from scanner_app.imaging_model import SettingChange
from scanner_app.needle_guide import (
    BRACKET_PRESETS,
    MAX_ANGLE_DEG,
    MIN_ANGLE_DEG,
    Approach,
    NeedleGuide,
    PointMm,
    depth_marks,
    entry_point,
    guide_segment,
    target_readout,
)
from scanner_app.probe import SettingKey
from ui.window_api import ScannerWindow

GUIDE_COLOUR = "#7fdcff"
TARGET_COLOUR = "#ff7ad9"
ANGLE_STEP_DEG = 5.0
MARK_EVERY_MM = 5.0  # a tick every 5 mm of depth, labelled every 10 mm
DEFAULT_WIDTH_MM = 38.0  # until the first frame tells the footprint's width
DROP_PROMPT = "Click the target on the image"
APPROACH_TEXT = {
    Approach.IN_PLANE_LEFT: "In-plane, from the left",
    Approach.IN_PLANE_RIGHT: "In-plane, from the right",
    Approach.OUT_OF_PLANE: "Out-of-plane",
}


class ProcedurePanel(QWidget):
    """The Procedure tab and its overlays on the image."""

    def __init__(self) -> None:
        super().__init__()
        self.guide = NeedleGuide()
        self.target: PointMm | None = None
        self.dropping = False
        self._window: ScannerWindow | None = None
        self._width_mm = DEFAULT_WIDTH_MM
        self._depth_mm = 40.0
        self._items: list[pg.GraphicsObject] = []

        self.show_guide = QCheckBox("Show needle guide (G)")
        self.approach = QComboBox()
        for approach, text in APPROACH_TEXT.items():
            self.approach.addItem(text, approach)
        self.preset = QComboBox()
        self.preset.addItem("—")
        self.preset.addItems(list(BRACKET_PRESETS))
        self.angle = QDoubleSpinBox()
        self.angle.setRange(MIN_ANGLE_DEG, MAX_ANGLE_DEG)
        self.angle.setSingleStep(ANGLE_STEP_DEG)
        self.angle.setSuffix(" °")
        self.entry = QDoubleSpinBox()
        self.entry.setRange(0.0, 50.0)
        self.entry.setSuffix(" mm")
        self.crossing = QDoubleSpinBox()
        self.crossing.setRange(0.0, 300.0)
        self.crossing.setSuffix(" mm")
        self.drop_button = QPushButton("Drop target ⇧T")  # short: the tab fits the side panel's width
        self.drop_button.setToolTip("Drop a target at the next click on the image (Shift+T; freezes)")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the dropped target")
        self.readout = QLabel("No target: drop one on the image")
        self.readout.setWordWrap(True)

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a field under its label when narrow
        form.addRow("Approach", self.approach)
        form.addRow("Bracket", self.preset)
        form.addRow("Angle to skin", self.angle)
        form.addRow("Entry beyond probe", self.entry)
        form.addRow("Out-of-plane depth", self.crossing)
        buttons = QHBoxLayout()
        buttons.addWidget(self.drop_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.show_guide)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.readout)
        layout.addStretch(1)
        self._show_guide_values()

        self.show_guide.toggled.connect(lambda _=False: self.redraw())
        self.approach.currentIndexChanged.connect(self._from_controls)
        self.angle.valueChanged.connect(self._from_controls)
        self.entry.valueChanged.connect(self._from_controls)
        self.crossing.valueChanged.connect(self._from_controls)
        self.preset.currentTextChanged.connect(self._on_preset)
        self.drop_button.clicked.connect(self.begin_drop)
        self.clear_button.clicked.connect(self.clear_target)

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, window: ScannerWindow) -> None:
        self._window = window
        window.add_side_tab(self, "Procedure")
        window.add_action("needle_guide", ["G"], "Procedure: needle guide on / off", self.toggle_guide)
        window.add_action(
            "needle_angle_less", ["["], "Procedure: needle angle −5°", lambda: self.step_angle(-1)
        )
        window.add_action(
            "needle_angle_more", ["]"], "Procedure: needle angle +5°", lambda: self.step_angle(1)
        )
        window.add_action("needle_target", ["Shift+T"], "Procedure: drop a target (freezes)", self.begin_drop)
        window.image_clicked.connect(self._on_image_click)
        window.cancelled.connect(self.cancel_drop)
        models = window.models
        models.imaging.setting_changed.connect(self._on_setting)
        self._depth_mm = models.imaging.value(SettingKey.DEPTH_MM)
        models.cine.changed.connect(self._follow_width)

    def _on_setting(self, change: SettingChange) -> None:
        if change.key == SettingKey.DEPTH_MM:
            self._depth_mm = change.value
            self.redraw()

    def _follow_width(self) -> None:
        """The footprint's width comes with the frames (it changes only with the probe)."""
        assert self._window is not None
        latest = self._window.models.cine.ring.peek_latest()
        if latest is not None and abs(latest.frame.width_mm - self._width_mm) > 1e-6:
            self._width_mm = latest.frame.width_mm
            self.redraw()

    # -- the operator's verbs ---------------------------------------------------------------------

    def toggle_guide(self) -> None:
        self._follow_width()
        self.show_guide.setChecked(not self.show_guide.isChecked())

    def step_angle(self, steps: int) -> None:
        self.angle.setValue(self.angle.value() + steps * ANGLE_STEP_DEG)

    def set_guide(self, guide: NeedleGuide) -> None:
        self.guide = guide
        self._show_guide_values()
        self.redraw()

    def begin_drop(self) -> None:
        """The next click on the image drops the target; a live image is frozen first."""
        self.dropping = True
        if self._window is not None:
            if not self._window.models.cine.frozen:
                self._window.models.cine.freeze()
            self._window.show_message(DROP_PROMPT)

    def cancel_drop(self) -> None:
        """Esc: no target is dropped at the next click, and the prompt asking for it goes."""
        if self.dropping:
            self.dropping = False
            if self._window is not None:
                self._window.clear_message(DROP_PROMPT)

    def clear_target(self) -> None:
        self.target = None
        self.redraw()

    def _on_image_click(self, x_mm: float, y_mm: float) -> None:
        if not self.dropping:
            return
        self.dropping = False
        self.target = (x_mm, y_mm)
        self.redraw()
        if self._window is not None:  # replaces DROP_PROMPT
            self._window.show_message("Target dropped: " + self.readout_text().replace("\n", "; "))

    def _on_preset(self, name: str) -> None:
        preset = BRACKET_PRESETS.get(name)
        if preset is not None:
            # A bracket fixes the angle and entry, not the side the operator works from.
            self.set_guide(dataclasses.replace(preset, approach=self.guide.approach))

    def _from_controls(self) -> None:
        self.guide = NeedleGuide(
            approach=self.approach.currentData(),
            angle_deg=self.angle.value(),
            entry_offset_mm=self.entry.value(),
            target_depth_mm=self.crossing.value(),
        )
        self.redraw()

    def _show_guide_values(self) -> None:
        widgets = (self.approach, self.angle, self.entry, self.crossing)
        for w in widgets:
            w.blockSignals(True)
        self.approach.setCurrentIndex(list(APPROACH_TEXT).index(self.guide.approach))
        self.angle.setValue(self.guide.angle_deg)
        self.entry.setValue(self.guide.entry_offset_mm)
        self.crossing.setValue(self.guide.target_depth_mm)
        for w in widgets:
            w.blockSignals(False)

    # -- drawing ------------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Replace the overlay items (called on changes only, never per frame)."""
        if self._window is None:
            return
        for item in self._items:
            self._window.remove_image_item(item)
        self._items = []
        if self.show_guide.isChecked():
            self._draw_guide()
        if self.target is not None:
            self._draw_target(self.target)
        self.readout.setText(self.readout_text())

    def readout_text(self) -> str:
        if self.target is None:
            return "No target: drop one on the image (Shift+T)"
        r = target_readout(self.guide, self._width_mm, self.target)
        if not self.guide.in_plane:
            return f"Target at {self.target[1]:.1f} mm deep, {r.off_guide_mm:.1f} mm from the centre mark"
        return (
            f"Entry → target {r.entry_to_target_mm:.1f} mm\n{r.off_guide_mm:.1f} mm off the guide\n"
            f"angle to reach it {r.angle_to_target_deg:.0f}°"
        )

    def _add(self, item: pg.GraphicsObject) -> None:
        item.setZValue(20)
        assert self._window is not None
        self._window.add_image_item(item)
        self._items.append(item)

    def _draw_guide(self) -> None:
        width, depth = self._width_mm, self._depth_mm
        segment = guide_segment(self.guide, width, depth)
        if segment is None:
            return
        (x0, y0), (x1, y1) = segment
        pen = pg.mkPen(GUIDE_COLOUR, width=2, style=Qt.PenStyle.DashLine)
        self._add(pg.PlotCurveItem([x0, x1], [y0, y1], pen=pen))
        marks = depth_marks(self.guide, width, depth, MARK_EVERY_MM)
        if not self.guide.in_plane:
            cross = self.guide.target_depth_mm
            ring = pg.mkPen(GUIDE_COLOUR, width=2)
            self._add(pg.ScatterPlotItem([x0], [cross], symbol="o", size=14, pen=ring, brush=None))
        if marks:
            xs, ys = [m.x_mm for m in marks], [m.y_mm for m in marks]
            self._add(pg.ScatterPlotItem(xs, ys, symbol="+", size=12, pen=pg.mkPen(GUIDE_COLOUR), brush=None))
        for m in marks:
            if round(m.depth_mm) % 10 == 0:
                label = pg.TextItem(f"{m.depth_mm:g}", color=GUIDE_COLOUR, anchor=(-0.2, 0.5))
                label.setPos(m.x_mm, m.y_mm)
                self._add(label)

    def _draw_target(self, target: PointMm) -> None:
        x, y = target
        self._add(pg.ScatterPlotItem([x], [y], symbol="x", size=14, pen=pg.mkPen(TARGET_COLOUR, width=2)))
        if self.show_guide.isChecked() and self.guide.in_plane:
            ex, ey = entry_point(self.guide, self._width_mm)
            path = pg.PlotCurveItem(
                [ex, x], [ey, y], pen=pg.mkPen(TARGET_COLOUR, width=1, style=Qt.PenStyle.DotLine)
            )
            self._add(path)
