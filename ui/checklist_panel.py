"""The protocol checklist panel: shows and drives a ChecklistRunner; asks for presets, captures, views.

The panel never talks to a driver. It emits:
- `preset_requested(dict)` with depth_mm, frequency_mhz and focus_mm when a step starts;
- `capture_requested(kind, plane, mode, contralateral)` when the operator presses a capture button (the
  window takes the capture, then calls `runner.record_capture(...)` and stores the labels it returns);
- `practice_target_requested(scene_id, variant, pose)` when a practice step starts;
- `exam_finished(dict)` with the exam record (`ExamRecord.to_dict()`) after the end-of-exam review.
Call `start()` once the signals are connected, to announce the first step.
"""

from __future__ import annotations

from collections.abc import Mapping

from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PyQt6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from protocols.model import CaptureRequirement, CaptureSide, ImagingMode, Step
from protocols.runner import ChecklistRunner, EventKind, RunnerError, RunnerEvent, StepStatus
from scanner_app.measurements import DistanceMeasurement, MeasurementSet
from scanner_app.studies.previous import PreviousMeasurement

# Colours readable on both dark and light backgrounds.
STATUS_STYLE: dict[StepStatus, tuple[str, str]] = {
    StepStatus.PENDING: ("○", "#8b949e"),
    StepStatus.CURRENT: ("▶", "#58a6ff"),
    StepStatus.DONE: ("✓", "#3fb950"),
    StepStatus.INCOMPLETE: ("!", "#d29922"),
    StepStatus.SKIPPED: ("↷", "#a371f7"),
}
FOUND_COLOUR = "#3fb950"
MISSING_COLOUR = "#d29922"
MUTED_COLOUR = "#8b949e"


def _requirement_text(req: CaptureRequirement) -> str:
    parts = [f"{req.count} × {req.kind.value}", req.plane.value.replace("_", " ")]
    if req.mode is not ImagingMode.BMODE:
        parts.append(req.mode.value.replace("_", " "))
    if req.side is CaptureSide.CONTRALATERAL:
        parts.append("OTHER side")
    text = ", ".join(parts)
    return f"{text} — {req.note}" if req.note else text


def _clear_layout(layout: QGridLayout | QVBoxLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item is not None and (w := item.widget()) is not None:
            w.hide()
            w.setParent(None)  # out of findChildren at once; deleted when control returns to Qt
            w.deleteLater()


class BodyDiagram(QWidget):
    """A front-view body outline; a click picks a point in normalised (0..1) coordinates."""

    point_picked = pyqtSignal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(120, 220)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._point: tuple[float, float] | None = None
        self.setToolTip("Click where it hurts (anatomical position: the patient's right is on your left)")

    def set_point(self, point: tuple[float, float] | None) -> None:
        self._point = point
        self.update()

    def point(self) -> tuple[float, float] | None:
        return self._point

    def _frame(self) -> QRectF:
        # Keep a 1:2 body aspect inside the widget.
        w, h = float(self.width()), float(self.height())
        bw = min(w, h / 2.0)
        return QRectF((w - bw) / 2.0, (h - 2 * bw) / 2.0, bw, 2 * bw)

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        f = self._frame()
        pos = event.position()
        x = (pos.x() - f.left()) / f.width()
        y = (pos.y() - f.top()) / f.height()
        if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0:
            self.set_point((x, y))
            self.point_picked.emit(x, y)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        f = self._frame()

        def r(x: float, y: float, w: float, h: float) -> QRectF:
            return QRectF(f.left() + x * f.width(), f.top() + y * f.height(), w * f.width(), h * f.height())

        outline = QPainterPath()
        outline.addEllipse(r(0.40, 0.00, 0.20, 0.10))  # head
        outline.addRoundedRect(r(0.30, 0.11, 0.40, 0.36), 8, 8)  # trunk
        outline.addRoundedRect(r(0.15, 0.12, 0.13, 0.36), 6, 6)  # right arm (viewer's left)
        outline.addRoundedRect(r(0.72, 0.12, 0.13, 0.36), 6, 6)  # left arm
        outline.addRoundedRect(r(0.31, 0.48, 0.17, 0.50), 6, 6)  # right leg
        outline.addRoundedRect(r(0.52, 0.48, 0.17, 0.50), 6, 6)  # left leg
        text_colour = self.palette().windowText().color()
        p.setPen(QPen(text_colour, 1.5))
        p.setBrush(QColor(128, 128, 128, 50))
        p.drawPath(outline)
        p.drawText(r(0.0, 0.0, 0.2, 0.1), Qt.AlignmentFlag.AlignCenter, "R")
        p.drawText(r(0.8, 0.0, 0.2, 0.1), Qt.AlignmentFlag.AlignCenter, "L")
        if self._point is not None:
            c = QPointF(f.left() + self._point[0] * f.width(), f.top() + self._point[1] * f.height())
            p.setPen(QPen(QColor("#f85149"), 2))
            p.setBrush(QColor(248, 81, 73, 160))
            p.drawEllipse(c, 7.0, 7.0)
        p.end()


class ChecklistPanel(QWidget):
    """Shows a protocol's steps and the current step's instructions; drives the given ChecklistRunner."""

    preset_requested = pyqtSignal(dict)
    capture_requested = pyqtSignal(str, str, str, bool)  # kind, plane, mode, contralateral
    practice_target_requested = pyqtSignal(str, str, dict)  # scene_id, variant, pose
    exam_finished = pyqtSignal(dict)

    def __init__(
        self,
        runner: ChecklistRunner,
        parent: QWidget | None = None,
        *,
        measurements: MeasurementSet | None = None,
        previous: Mapping[str, PreviousMeasurement] | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.previous = dict(previous or {})  # the patient's earlier values, for follow-up
        self.calipers = measurements  # the image's calipers, offered to the measurement field
        self.setObjectName("checklistPanel")
        font = self.font()
        font.setPointSize(max(font.pointSize(), 12))
        self.setFont(font)
        self._offered: tuple[str, float] | None = None  # the caliper the measurement field last offered
        self._build()
        self._scroll_kept = 0
        self._scroll_timer = QTimer(self)
        self._scroll_timer.setSingleShot(True)
        self._scroll_timer.setInterval(0)
        self._scroll_timer.timeout.connect(lambda: self._restore_scroll(self._scroll_kept))
        # Until the position is moved by anything but this panel (the user), the rebuilt rows' later
        # layout passes (the range growing back) put the kept position back too: a clamp to a
        # passing, shorter range must not stick.
        self._scroll_pending = False
        self._restoring = False
        bar = self.detail_scroll.verticalScrollBar()
        assert bar is not None
        bar.rangeChanged.connect(self._on_scroll_range)
        bar.valueChanged.connect(self._on_scroll_value)
        callback = self._on_runner_event
        runner.changed.connect(callback)
        # The runner may outlive the panel: stop listening when the panel goes (psygnal's weak reference
        # to the bound method is not enough: the Python wrapper can outlive the deleted widget).
        self.destroyed.connect(lambda _=None, r=runner, cb=callback: r.changed.disconnect(cb))
        if measurements is not None:
            offer = self._offer_caliper
            measurements.changed.connect(offer)
            self.destroyed.connect(lambda _=None, m=measurements, cb=offer: m.changed.disconnect(cb))
        self.refresh()

    # --- construction ----------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack)

        exam = QWidget()
        layout = QVBoxLayout(exam)
        layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.header)

        self.side_row = QWidget()
        side_layout = QHBoxLayout(self.side_row)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(QLabel("Examined side:"))
        self.side_buttons: dict[str, QPushButton] = {}
        for side in ("left", "right", "bilateral"):
            b = QPushButton(side.capitalize())
            b.clicked.connect(lambda _=False, s=side: self._choose_side(s))
            side_layout.addWidget(b)
            self.side_buttons[side] = b
        side_layout.addStretch(1)
        layout.addWidget(self.side_row)

        # Steps above, the current step below: the panel lives beside the image in a narrow dock,
        # and the step's instructions and capture buttons need the whole width.
        body = QVBoxLayout()
        layout.addLayout(body, 1)
        self.steps_list = QListWidget()
        self.steps_list.setMaximumHeight(120)
        self.steps_list.setWordWrap(True)
        self.steps_list.itemClicked.connect(self._step_clicked)
        body.addWidget(self.steps_list)

        # The practice target's state ("View found") heads the step, outside its scrolling pane: on a
        # 1280 x 800 screen the pane shows a few rows, and the trainee scanning must see it change.
        self.practice_row = QWidget()
        pr = QHBoxLayout(self.practice_row)
        pr.setContentsMargins(4, 0, 4, 0)
        self.practice_label = QLabel()
        self.practice_label.setTextFormat(Qt.TextFormat.RichText)
        self.practice_label.setWordWrap(True)  # scene, variant and state: longer than the dock is wide
        pr.addWidget(self.practice_label, 1)
        self.practice_button = QPushButton("Show target")
        self.practice_button.clicked.connect(self._request_practice_target)
        pr.addWidget(self.practice_button)
        body.addWidget(self.practice_row)

        scroll = self.detail_scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        detail = QWidget()
        self.detail_layout = QVBoxLayout(detail)
        self.detail_layout.setContentsMargins(4, 0, 4, 0)
        scroll.setWidget(detail)
        body.addWidget(scroll, 1)

        self.step_title = QLabel()
        title_font = QFont(self.font())
        title_font.setPointSize(self.font().pointSize() + 5)
        title_font.setBold(True)
        self.step_title.setFont(title_font)
        self.step_title.setWordWrap(True)
        self.detail_layout.addWidget(self.step_title)

        # What to capture first: it is what the sonographer acts on; the how-to follows.
        self.captures_box = QGroupBox("To capture")
        self.captures_layout = QGridLayout(self.captures_box)
        # The requirement's words wrap and give way; its Capture button always shows whole.
        self.captures_layout.setColumnStretch(1, 1)
        self.captures_layout.setColumnStretch(1, 1)
        self.detail_layout.addWidget(self.captures_box)
        self.instructions = QLabel()
        self.instructions.setWordWrap(True)
        self.instructions.setTextFormat(Qt.TextFormat.RichText)
        self.detail_layout.addWidget(self.instructions)

        self.pain_box = QGroupBox("Area of pain")
        pain = QHBoxLayout(self.pain_box)
        self.body_diagram = BodyDiagram()
        self.body_diagram.setFixedWidth(90)
        pain.addWidget(self.body_diagram)
        pain_form = QVBoxLayout()
        self.pain_region = QLineEdit()
        self.pain_region.setPlaceholderText("Region, e.g. left calf")
        self.pain_side = QComboBox()
        self.pain_side.addItems(["left", "right", "midline"])
        # The diagram is in anatomical position, so a click also says the side; a wrong side on a
        # pain mark would send the sonographer to the other leg.
        self.body_diagram.point_picked.connect(self._side_from_diagram)
        self.pain_button = QPushButton("Mark pain")  # short: the group box says what for
        self.pain_button.clicked.connect(self._mark_pain)
        self.pain_status = QLabel()
        self.pain_status.setWordWrap(True)
        pain_hint = QLabel("Click the diagram, then name the region:")
        pain_hint.setWordWrap(True)  # the panel sits in a narrow dock
        for w in (pain_hint, self.pain_region, self.pain_side):
            pain_form.addWidget(w)
        pain_form.addWidget(self.pain_button)
        pain_form.addWidget(self.pain_status)
        pain_form.addStretch(1)
        pain.addLayout(pain_form, 1)
        self.detail_layout.addWidget(self.pain_box)

        self.findings_box = QGroupBox("Findings")
        fl = QVBoxLayout(self.findings_box)
        # Fusion's check boxes are nearly invisible on dark palettes: draw them plainly. A style
        # sheet drops the inherited font size, so it restates it, and is set per check box only.
        self._check_style = (
            f"QCheckBox {{ font-size: {self.font().pointSize() + 1}pt; }}"
            "QCheckBox::indicator { width: 16px; height: 16px; border-radius: 3px;"
            f" border: 2px solid {MUTED_COLOUR}; }}"
            f"QCheckBox::indicator:checked {{ background: {FOUND_COLOUR}; border-color: {FOUND_COLOUR}; }}"
        )
        self.findings_layout = QVBoxLayout()
        self.findings_layout.setSpacing(2)
        fl.addLayout(self.findings_layout)
        self.finding_boxes: dict[str, QCheckBox] = {}
        self.detail_layout.addWidget(self.findings_box)

        self.measure_box = QGroupBox("Measurements")
        ml = QGridLayout(self.measure_box)  # the measurement's name on its own row: names are long
        self.measure_choice = QComboBox()
        self.measure_choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.measure_choice.setMinimumContentsLength(16)
        self.measure_value = QDoubleSpinBox()
        self.measure_value.setRange(0.0, 10000.0)
        self.measure_value.setDecimals(1)
        # Empty until a value is typed or taken from a caliper: a value left from another measurement
        # (or step) must not be recorded as this one's.
        self.measure_value.setSpecialValueText("enter a value")
        self._value_for: tuple[str, object] | None = None  # (step, measurement) the field's value is for
        self.measure_button = QPushButton("Record")
        self.measure_button.clicked.connect(self._record_measurement)
        # One click puts the caliper's value (the selected one, else the newest) into the field.
        self.caliper_button = QPushButton()
        self.caliper_button.setObjectName("useCaliper")
        self.caliper_button.clicked.connect(self.use_caliper)
        self.measure_choice.currentIndexChanged.connect(lambda _i: self._measurement_chosen())
        ml.addWidget(self.measure_choice, 0, 0, 1, 2)
        ml.addWidget(self.caliper_button, 1, 0, 1, 2)
        ml.addWidget(self.measure_value, 2, 0)
        ml.addWidget(self.measure_button, 2, 1)
        self.detail_layout.addWidget(self.measure_box)
        # What was recorded for this step stays in view (the box above goes once nothing is asked).
        self.recorded_label = QLabel()
        self.previous_label = QLabel()
        self.previous_label.setObjectName("previousMeasurements")
        self.previous_label.setWordWrap(True)
        self.recorded_label.setWordWrap(True)
        self.detail_layout.addWidget(self.previous_label)
        self.detail_layout.addWidget(self.recorded_label)
        self.detail_layout.addStretch(1)

        skip_row = QHBoxLayout()
        self.skip_reason = QLineEdit()
        self.skip_reason.setPlaceholderText("Reason to skip this step")
        # Only a click puts the cursor here: passed the focus (a hidden button, a new exam) it would
        # take the probe's keys (Ctrl+Left, Alt+Left) from the window.
        self.skip_reason.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.skip_reason.textChanged.connect(lambda t: self.skip_button.setEnabled(bool(t.strip())))
        self.skip_button = QPushButton("Skip step")
        self.skip_button.setEnabled(False)
        self.skip_button.clicked.connect(self._skip)
        skip_row.addWidget(self.skip_reason, 1)
        skip_row.addWidget(self.skip_button)
        layout.addLayout(skip_row)

        nav = QHBoxLayout()
        self.back_button = QPushButton("◀ Back")
        self.next_button = QPushButton("Next ▶")
        self.end_button = QPushButton("End exam…")
        self.back_button.clicked.connect(self._back)
        self.next_button.clicked.connect(self._next)
        self.end_button.clicked.connect(self.show_review)
        for b in (self.back_button, self.next_button):
            nav.addWidget(b)
        nav.addStretch(1)
        nav.addWidget(self.end_button)
        layout.addLayout(nav)
        self.error_label = QLabel()
        palette = self.error_label.palette()
        palette.setColor(self.error_label.foregroundRole(), QColor("#f85149"))
        self.error_label.setPalette(palette)
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)
        self.stack.addWidget(exam)

        review = QWidget()
        rl = QVBoxLayout(review)
        self.review_title = QLabel()
        self.review_title.setFont(title_font)
        self.review_title.setWordWrap(True)
        rl.addWidget(self.review_title)
        self.practice_summary = QLabel()
        self.practice_summary.setWordWrap(True)
        rl.addWidget(self.practice_summary)
        rl.addWidget(QLabel("Click an item to go back to its step."))
        self.review_list = QListWidget()
        self.review_list.setWordWrap(True)
        self.review_list.itemClicked.connect(self._review_item_clicked)
        rl.addWidget(self.review_list, 1)
        self.return_button = QPushButton("Return to exam")
        self.return_button.clicked.connect(lambda: self.stack.setCurrentIndex(0))
        self.finish_button = QPushButton("Finish exam")
        self.finish_button.clicked.connect(self._finish)
        # one above the other: side by side, with the finish button's longer text, they would set
        # the dock's width and push the window past a 1280 px screen
        rl.addWidget(self.return_button)
        rl.addWidget(self.finish_button)
        self.stack.addWidget(review)

    # --- runner -> view --------------------------------------------------------------------------

    def start(self) -> None:
        """Announce the current step (preset, practice target); call once the signals are connected."""
        self._announce_step()

    def _on_runner_event(self, event: RunnerEvent) -> None:
        # A capture, a finding, a measurement: the operator stays where they were in the step (the
        # rebuilt rows would otherwise move focus and the scroll with it); a new step starts at its top.
        bar = self.detail_scroll.verticalScrollBar()
        assert bar is not None
        if event.kind is EventKind.STEP_CHANGED:
            kept = 0
        elif self._scroll_pending:
            # Nothing but this panel moved it since the last rebuild: the bar's value may be a passing
            # clamp to a shorter range, the kept position is the one the operator left it at.
            kept = self._scroll_kept
        else:
            kept = bar.value()
        self._scroll_kept = kept
        self._scroll_pending = True
        self.refresh()
        self._restore_scroll(kept)
        self._scroll_timer.start()  # again once the new rows are laid out
        if event.kind is EventKind.STEP_CHANGED:
            self._announce_step()

    def _on_scroll_range(self, _minimum: int, maximum: int) -> None:
        if self._scroll_pending:
            self._set_scroll(min(self._scroll_kept, maximum))

    def _on_scroll_value(self, _value: int) -> None:
        if not self._restoring:
            self._scroll_pending = False

    def _set_scroll(self, value: int) -> None:
        bar = self.detail_scroll.verticalScrollBar()
        assert bar is not None
        self._restoring = True
        try:
            bar.setValue(value)
        finally:
            self._restoring = False

    def _restore_scroll(self, value: int) -> None:
        widget = self.detail_scroll.widget()
        if widget is not None and widget.layout() is not None:
            layout = widget.layout()
            assert layout is not None
            layout.activate()
        self._set_scroll(value)

    def _announce_step(self) -> None:
        step = self.runner.current_step
        if step.preset is not None:
            self.preset_requested.emit(step.preset.as_dict())
        if self.runner.practice and step.practice is not None:
            self._request_practice_target()

    def _request_practice_target(self) -> None:
        target = self.runner.current_step.practice
        if target is not None:
            self.practice_target_requested.emit(target.scene, target.variant, dict(target.pose))

    def refresh(self) -> None:
        """Redraw everything from the runner's state."""
        focused = QApplication.focusWidget()
        detail = self.detail_scroll.widget()
        if focused is not None and detail is not None and detail.isAncestorOf(focused):
            # The rows are rebuilt: a focused button hidden now would pass the focus to the next
            # widget, and the pane would scroll to show it. The pane itself keeps the focus instead.
            self.detail_scroll.setFocus(Qt.FocusReason.OtherFocusReason)
        r = self.runner
        step = r.current_step
        side = r.side or "side not chosen"
        quadrant = f" · {r.protocol.quadrant(r.quadrant).title}" if r.quadrant else ""
        mode = " · PRACTICE" if r.practice else ""
        self.header.setText(
            f"<b style='font-size:15pt'>{r.protocol.title}</b><br>"
            f"<span style='color:{MUTED_COLOUR}'>Side: {side}{quadrant}{mode} · "
            f"step {r.index + 1} of {len(r.steps)}</span>"
        )
        self.side_row.setVisible(r.protocol.side.value == "ask" and not r.side and not r.ended)
        self._fill_steps()
        self.step_title.setText(step.title + ("" if step.mandatory else "  (optional)"))
        self.instructions.setText(self._instructions_html(step))
        self._fill_practice(step)
        self._fill_captures(step)
        self.pain_box.setVisible(step.mark_area_of_pain)
        aop = r.area_of_pain
        self.body_diagram.set_point((aop.x, aop.y) if aop else self.body_diagram.point())
        self.pain_status.setText(
            f"Marked: {aop.region} ({aop.side})"
            if aop
            else "<span style='color:#d29922'>Not marked yet</span>"
        )
        self._fill_findings(step)
        self._fill_measurements()
        self.back_button.setEnabled(r.index > 0 and not r.ended)
        self.next_button.setEnabled(r.index + 1 < len(r.steps) and not r.ended)
        self.skip_button.setEnabled(bool(self.skip_reason.text().strip()) and not r.ended)
        self.end_button.setEnabled(not r.ended)

    def _fill_steps(self) -> None:
        self.steps_list.blockSignals(True)
        self.steps_list.clear()
        for i, s in enumerate(self.runner.steps):
            status = self.runner.step_status(s.id)
            glyph, colour = STATUS_STYLE[status]
            extra = "" if s.mandatory else " (optional)"
            item = QListWidgetItem(f"{glyph}  {i + 1}. {s.title}{extra}")
            item.setForeground(QColor(colour))
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setToolTip(status.value)
            if status is StepStatus.CURRENT:
                f = item.font()
                f.setBold(True)
                item.setFont(f)
            self.steps_list.addItem(item)
        self.steps_list.setCurrentRow(self.runner.index)
        self.steps_list.blockSignals(False)

    def _instructions_html(self, step: Step) -> str:
        rows = [("Position", step.position), ("Probe", step.probe)]
        if step.plane is not None:
            rows.append(("Plane", step.plane.value.replace("_", " ")))
        if step.manoeuvre:
            rows.append(("Manoeuvre", step.manoeuvre))
        if step.structures:
            rows.append(("Identify", "; ".join(step.structures)))
        if step.instructions:
            rows.append(("Note", step.instructions))
        if step.preset is not None:
            p = step.preset
            rows.append(
                ("Preset", f"depth {p.depth_mm:g} mm · {p.frequency_mhz:g} MHz · focus {p.focus_mm:g} mm")
            )
        cells = "".join(
            f"<tr><td style='padding:2px 10px 2px 0; color:{MUTED_COLOUR}' valign='top'><b>{k}</b></td>"
            f"<td style='padding:2px 0'>{v}</td></tr>"
            for k, v in rows
        )
        return f"<table>{cells}</table>"

    def _fill_practice(self, step: Step) -> None:
        target = step.practice
        show = self.runner.practice and target is not None
        self.practice_row.setVisible(show)
        if target is None or not show:
            return
        if self.runner.view_found(step.id):
            state = f"<b style='color:{FOUND_COLOUR}'>●&nbsp;View found</b>"
        elif self.runner.view_shown(step.id):
            state = f"<span style='color:{MISSING_COLOUR}'>◐&nbsp;Shown, not found: find it yourself</span>"
        else:
            state = f"<span style='color:{MISSING_COLOUR}'>○&nbsp;Find the view</span>"
        self.practice_label.setText(f"Practice target: {target.scene} / {target.variant} — {state}")

    def _fill_captures(self, step: Step) -> None:
        _clear_layout(self.captures_layout)
        self.capture_rows: list[tuple[QPushButton, bool]] = []  # (button, requirement met)
        captured = self.runner.captures(step.id)
        progress = self.runner.capture_progress(step.id)
        row = 0
        # One width whatever a mark says ("0/2", "✓"): a capture must not rewrap the rows (and move
        # the pane's scroll) by narrowing this column; no wider than the step's counts need, so the
        # row fits the dock at 1280 px.
        widest = max((f"{req.count}/{req.count}" for _, req, _ in progress), key=len, default="0/0")
        mark_font = QFont(self.font())
        mark_font.setBold(True)
        mark_px = QFontMetrics(mark_font).horizontalAdvance(widest) + 8
        for fu in self.runner.open_follow_ups(step.id):
            heading = f"<b>Follow-up:</b> {fu.title}" + (f" — {fu.instructions}" if fu.instructions else "")
            label = QLabel(f"<span style='color:{MISSING_COLOUR}'>{heading}</span>")
            label.setWordWrap(True)
            self.captures_layout.addWidget(label, row, 0, 1, 3)
            row += 1
        for fu_id, req, taken in progress:
            done = taken >= req.count
            colour = FOUND_COLOUR if done else MISSING_COLOUR
            mark = QLabel(f"<b style='color:{colour}'>{'✓' if done else f'{taken}/{req.count}'}</b>")
            mark.setFixedWidth(mark_px)
            prefix = "↳ " if fu_id else ""
            optional = "" if step.mandatory or fu_id else " (optional)"
            text = QLabel(prefix + _requirement_text(req) + optional)
            text.setWordWrap(True)
            # "Still" or "Clip" (the box says "To capture"): "Capture still" left the requirement's
            # words too little room in the dock at 1280 px, and the button was cut at its edge.
            button = QPushButton(req.kind.value.capitalize())
            button.setToolTip(f"Capture a {req.kind.value}: {text.text()}")
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            button.setEnabled(not self.runner.ended and bool(self.runner.side))
            button.clicked.connect(
                lambda _=False, q=req: self.capture_requested.emit(
                    q.kind.value, q.plane.value, q.mode.value, q.side is CaptureSide.CONTRALATERAL
                )
            )
            button.setObjectName(
                f"capture:{fu_id}:{req.kind.value}:{req.plane.value}:{req.mode.value}:{req.side.value}"
            )
            self.captures_layout.addWidget(mark, row, 0)
            self.captures_layout.addWidget(text, row, 1)
            self.captures_layout.addWidget(button, row, 2)
            self.capture_rows.append((button, done))
            row += 1
        extras = [c for c in captured if c.extra]
        if extras:
            note = QLabel(f"<span style='color:{MUTED_COLOUR}'>+ {len(extras)} extra capture(s) kept</span>")
            self.captures_layout.addWidget(note, row, 0, 1, 3)
        self.captures_box.setVisible(bool(progress) or bool(extras))

    def _fill_findings(self, step: Step) -> None:
        _clear_layout(self.findings_layout)
        self.finding_boxes = {}
        chosen = self.runner.findings(step.id)
        for f in step.findings:
            if f.incidental and f is step.incidental_findings[0]:
                heading = QLabel("<b>Unexpected finding</b> (flagged for QA review)")
                heading.setObjectName("incidental_heading")
                heading.setWordWrap(True)
                self.findings_layout.addWidget(heading)
            box = QCheckBox(f.title)
            box.setToolTip(f.title)  # a long title is cut at the dock's edge, not the dock widened
            box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            box.setObjectName(f"finding:{f.id}")
            box.setStyleSheet(self._check_style)
            box.setChecked(f.id in chosen)
            box.setEnabled(not self.runner.ended)
            if f.id in chosen:
                font = box.font()
                font.setBold(True)
                box.setFont(font)
            box.clicked.connect(lambda checked, fid=f.id: self._finding_toggled(fid, checked))
            appearance = QLabel(f"<span style='color:{MUTED_COLOUR}'>{f.appearance}</span>")
            appearance.setWordWrap(True)
            appearance.setContentsMargins(26, 0, 0, 4)
            self.findings_layout.addWidget(box)
            self.findings_layout.addWidget(appearance)
            self.finding_boxes[f.id] = box
        self.findings_box.setVisible(bool(step.findings))

    def _fill_measurements(self) -> None:
        pending = [
            m for m in self.runner.missing_for_step(self.runner.current_step.id) if m.what == "measurement"
        ]
        self.measure_choice.blockSignals(True)  # one choice below, not one per item
        self.measure_choice.clear()
        for m in pending:
            self.measure_choice.addItem(m.description, m.measurement_id)
        self.measure_choice.blockSignals(False)
        self.measure_box.setVisible(bool(pending))
        titles = {
            spec.id: spec.title for fu in self.runner.current_step.follow_ups for spec in fu.measurements
        }
        recorded = [
            f"{titles.get(r.measurement_id, r.measurement_id)}: {r.value:g} {r.unit}".strip()
            for r in self.runner.measurements()
        ]
        self.recorded_label.setText(
            f"<span style='color:{FOUND_COLOUR}'>✓ Recorded — " + "; ".join(recorded) + "</span>"
            if recorded
            else ""
        )
        self.recorded_label.setVisible(bool(recorded))
        # Follow-up: what this patient's earlier exam measured for the measurements of this step.
        earlier = [
            f"{m.description}: {self.previous[m.measurement_id].describe()}"
            for m in pending
            if m.measurement_id in self.previous
        ]
        self.previous_label.setText("Previously — " + "; ".join(earlier) if earlier else "")
        self.previous_label.setVisible(bool(earlier))
        self._measurement_chosen()

    def _caliper(self) -> DistanceMeasurement | None:
        """The caliper to offer for a measurement in mm: the selected distance caliper on the image,
        else the newest one."""
        if self.calipers is None or self._chosen_unit() != "mm":
            return None
        distances = [m for m in self.calipers.items if isinstance(m, DistanceMeasurement)]
        chosen = [m for m in distances if m.label == self.calipers.selected] or distances[-1:]
        return chosen[0] if chosen else None

    def _chosen_unit(self) -> str:
        measurement_id = self.measure_choice.currentData()
        for fu in self.runner.current_step.follow_ups:
            for spec in fu.measurements:
                if spec.id == measurement_id:
                    return spec.unit
        return ""

    def _measurement_chosen(self) -> None:
        """Another measurement (or step) is chosen: its field starts empty (see measure_value); the
        same one, the rows rebuilt after a capture, keeps what was typed."""
        chosen = (self.runner.current_step.id, self.measure_choice.currentData())
        if chosen != self._value_for:
            self._value_for = chosen
            self.measure_value.setValue(self.measure_value.minimum())
        self._offer_caliper()

    def _offer_caliper(self) -> None:
        caliper = self._caliper()
        self.caliper_button.setVisible(caliper is not None)
        offered = (caliper.label, caliper.distance_mm) if caliper is not None else None
        if caliper is not None:
            self.caliper_button.setText(f"Use caliper {caliper.label} ({caliper.distance_mm:.1f} mm)")
            if offered != self._offered and self.measure_box.isVisibleTo(self):
                # A caliper just drawn for a measurement the step asks for: bring its field into view
                # (below a step's findings it sat out of sight, and the caliper went unrecorded), once
                # the button just shown has its place in the layout.
                QTimer.singleShot(0, self._show_measure_field)
        self._offered = offered

    def _show_measure_field(self) -> None:
        for control in (self.caliper_button, self.measure_button):  # its button, then Record
            if control.isVisibleTo(self):
                self.detail_scroll.ensureWidgetVisible(control, 8, 8)

    def use_caliper(self) -> None:
        """Put the offered caliper's value into the measurement field (Record then keeps it)."""
        caliper = self._caliper()
        if caliper is not None:
            self.measure_value.setValue(round(caliper.distance_mm, self.measure_value.decimals()))

    # --- view -> runner --------------------------------------------------------------------------

    def _guard(self, action: str, fn: object) -> bool:
        """Run a runner verb, showing its refusal in the panel instead of raising into Qt."""
        self.error_label.clear()
        try:
            assert callable(fn)
            fn()
        except RunnerError as exc:
            self.error_label.setText(f"{action}: {exc}")
            return False
        return True

    def _choose_side(self, side: str) -> None:
        self._guard("Side", lambda: self.runner.choose_side(side))

    def _step_clicked(self, item: QListWidgetItem) -> None:
        index = int(item.data(Qt.ItemDataRole.UserRole))
        self._guard("Go to step", lambda: self.runner.go_to(index))

    def _back(self) -> None:
        self._guard("Back", self.runner.back)

    def _next(self) -> None:
        self._guard("Next", self.runner.next)

    def _skip(self) -> None:
        reason = self.skip_reason.text()
        if self._guard("Skip", lambda: self.runner.skip(reason)):
            self.skip_reason.clear()

    def _finding_toggled(self, finding_id: str, checked: bool) -> None:
        if checked:
            self._guard("Finding", lambda: self.runner.choose_finding(finding_id))
        else:
            self._guard("Finding", lambda: self.runner.clear_finding(finding_id))
        self.refresh()  # a refused change must not leave the box ticked

    def _record_measurement(self) -> None:
        measurement_id = self.measure_choice.currentData()
        if measurement_id is None:
            return
        value = self.measure_value.value()
        if value == self.measure_value.minimum():
            self.error_label.setText(
                f"Measurement: enter {self.measure_choice.currentText()} first (type it or use a caliper)"
            )
            return
        self._guard("Measurement", lambda: self.runner.record_measurement(str(measurement_id), value))

    def _side_from_diagram(self, x: float, _y: float) -> None:
        side = "right" if x < 0.47 else "left" if x > 0.53 else "midline"
        self.pain_side.setCurrentText(side)

    def _mark_pain(self) -> None:
        point = self.body_diagram.point()
        if point is None:
            self.error_label.setText("Area of pain: click the body diagram first")
            return
        region = self.pain_region.text()
        side = self.pain_side.currentText()
        self._guard("Area of pain", lambda: self.runner.mark_area_of_pain(region, side, point[0], point[1]))

    # --- end of exam -----------------------------------------------------------------------------

    def show_review(self) -> None:
        """Show the end-of-exam review: missing mandatory items and skipped steps."""
        c = self.runner.completeness()
        self.review_list.clear()
        index_of = {s.id: i for i, s in enumerate(self.runner.steps)}
        for m in c.missing:
            item = QListWidgetItem(f"Missing — {m.step_title}: {m.description}")
            item.setForeground(QColor(MISSING_COLOUR))
            item.setData(Qt.ItemDataRole.UserRole, index_of[m.step_id])
            self.review_list.addItem(item)
        for step_id, reason in c.skipped:
            item = QListWidgetItem(f"Skipped — {self.runner.steps[index_of[step_id]].title}: {reason}")
            item.setForeground(QColor(STATUS_STYLE[StepStatus.SKIPPED][1]))
            item.setData(Qt.ItemDataRole.UserRole, index_of[step_id])
            self.review_list.addItem(item)
        for step_id in c.steps_without_finding:
            item = QListWidgetItem(f"No finding chosen — {self.runner.steps[index_of[step_id]].title}")
            item.setForeground(QColor(MUTED_COLOUR))
            item.setData(Qt.ItemDataRole.UserRole, index_of[step_id])
            self.review_list.addItem(item)
        self.practice_summary.setVisible(self.runner.practice)
        if self.runner.practice:
            ps = self.runner.practice_summary()
            minutes, seconds = divmod(round(ps.time_taken_s), 60)
            self.practice_summary.setText(
                f"Practice: {ps.steps_done} of {ps.steps_total} steps done in {minutes} min {seconds:02d} s; "
                f"{len(ps.views_found)} of {ps.views_total} target views found"
            )
        if c.complete:
            self.review_title.setText("All mandatory items done")
            self.finish_button.setText("Finish exam")
        else:
            self.review_title.setText(f"{len(c.missing)} mandatory item(s) missing")
            self.finish_button.setText("Finish with items missing")
        self.stack.setCurrentIndex(1)

    def _review_item_clicked(self, item: QListWidgetItem) -> None:
        index = int(item.data(Qt.ItemDataRole.UserRole))
        self.stack.setCurrentIndex(0)
        self._guard("Go to step", lambda: self.runner.go_to(index))

    def _finish(self) -> None:
        if self.runner.ended:
            return
        record = self.runner.end_exam()
        self.stack.setCurrentIndex(0)
        self.exam_finished.emit(record.to_dict())
