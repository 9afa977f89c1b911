"""The "Time-out" side tab of a procedure exam: the time-out checklist, then the documentation fields.

Shown only while a procedure protocol runs (the composition root hands it each new exam's runner);
it edits the runner's Qt-free `ProcedureRecord` and follows its `changed` signal, with its own widgets'
signals blocked while it does. Needle-step images wait for the time-out: the runner refuses to count
them, and this tab says what is still open. Attached through the window's extension points only.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from protocols.procedure import (
    MAX_NEEDLE_LENGTH_MM,
    MAX_PAIN,
    NEEDLE_GAUGES,
    TIME_OUT_ITEMS,
    ProcedureError,
    ProcedureRecord,
    Tolerance,
)
from protocols.runner import ChecklistRunner
from ui.theme import ALARM, OK
from ui.window_api import ScannerWindow

NONE_TEXT = "—"  # a field not filled in yet
# The side tab is narrow and a box's text cannot wrap: short words on the boxes (each narrower than
# the panel's narrowest page, with room for another screen's fonts), the whole item in their tooltips.
SHORT_TITLES = {
    "patient_identity": "Identity (2 IDs)",
    "site_side_marked": "Site and side",
    "consent": "Consent signed",
    "allergies": "Allergies asked",
    "anticoagulation": "Anticoagulants",
}
FIELD_MIN_WIDTH_PX = 90


class ProcedureRecordPanel(QWidget):
    """Time-out and procedure documentation for the running procedure exam."""

    def __init__(self) -> None:
        super().__init__()
        self.record: ProcedureRecord | None = None
        self._window: ScannerWindow | None = None
        self._in_window = False

        self.plan = QLabel()
        self.plan.setWordWrap(True)
        self.checks: dict[str, QCheckBox] = {}
        time_out = QGroupBox("Time-out")  # a title cannot wrap: when, in a wrapped line under it
        box = QVBoxLayout(time_out)
        when = QLabel("Before the first needle image")
        when.setWordWrap(True)
        box.addWidget(when)
        for item, title in TIME_OUT_ITEMS:
            check = QCheckBox(SHORT_TITLES.get(item, title))
            check.setToolTip(title)
            check.toggled.connect(lambda on, item=item: self._confirm(item, on))
            self.checks[item] = check
            box.addWidget(check)
        self.skip_reason = QLineEdit()
        self.skip_reason.setPlaceholderText("Reason to skip it")
        self.skip_reason.setMinimumWidth(FIELD_MIN_WIDTH_PX)
        self.skip_button = QPushButton("Skip time-out")
        self.skip_button.clicked.connect(self.skip_time_out)
        # The button under its reason, not beside it: side by side they were wider than the panel.
        box.addWidget(self.skip_reason)
        box.addWidget(self.skip_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.time_out_state = QLabel()
        self.time_out_state.setWordWrap(True)
        box.addWidget(self.time_out_state)

        self.medication = QLineEdit()
        self.dose_mg = self._amount(1000.0, " mg")
        self.volume_ml = self._amount(500.0, " ml")
        self.needle_gauge = QComboBox()
        self.needle_gauge.addItem(NONE_TEXT, None)
        for gauge in NEEDLE_GAUGES:
            self.needle_gauge.addItem(f"{gauge} G", gauge)
        self.needle_length_mm = self._amount(MAX_NEEDLE_LENGTH_MM, " mm")
        self.approach = QLineEdit()
        self.complications = QLineEdit()
        self.complications.setPlaceholderText("none")
        self.tolerance = QComboBox()
        self.tolerance.addItem(NONE_TEXT, "")
        for tolerance in Tolerance:
            self.tolerance.addItem(tolerance.value.capitalize(), tolerance.value)
        self.pain_before = self._pain()
        self.pain_after = self._pain()
        details = QGroupBox("Procedure")
        form = QFormLayout(details)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a field under its label when narrow
        for label, widget in (
            ("Medication", self.medication), ("Dose", self.dose_mg), ("Volume", self.volume_ml),
            ("Needle gauge", self.needle_gauge), ("Needle length", self.needle_length_mm),
            ("Approach", self.approach), ("Complications", self.complications),
            ("Tolerance", self.tolerance), ("Pain before", self.pain_before),
            ("Pain after", self.pain_after),
        ):  # fmt: skip
            widget.setMinimumWidth(FIELD_MIN_WIDTH_PX)
            widget.setToolTip({"Pain before": "0–10, before the procedure",
                               "Pain after": "0–10, right after the procedure"}.get(label, ""))  # fmt: skip
            form.addRow(label, widget)
        for line in (self.medication, self.approach, self.complications):
            line.editingFinished.connect(self._apply)
            # a long agent or approach scrolls inside its field: the whole text is in its tooltip
            line.textChanged.connect(line.setToolTip)
        for spin in (self.dose_mg, self.volume_ml, self.needle_length_mm):
            spin.valueChanged.connect(self._apply)
        for combo in (self.needle_gauge, self.tolerance, self.pain_before, self.pain_after):
            combo.currentIndexChanged.connect(self._apply)
        self.missing = QLabel()
        self.missing.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.plan)
        layout.addWidget(time_out)
        layout.addWidget(details)
        layout.addWidget(self.missing)
        layout.addStretch(1)

    @staticmethod
    def _amount(maximum: float, suffix: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0.0, maximum)
        spin.setDecimals(1)
        spin.setSuffix(suffix)
        spin.setSpecialValueText(NONE_TEXT)  # 0 reads as "not filled in"
        return spin

    @staticmethod
    def _pain() -> QComboBox:
        combo = QComboBox()
        combo.addItem(NONE_TEXT, None)
        for score in range(MAX_PAIN + 1):
            combo.addItem(str(score), score)
        return combo

    # --- the window and the exam -----------------------------------------------------------------

    def attach(self, window: ScannerWindow) -> None:
        """Remember the window; the tab appears when a procedure exam starts (`set_runner`)."""
        self._window = window

    def set_runner(self, runner: ChecklistRunner | None) -> None:
        """A new exam began: show this tab for a procedure protocol's runner, hide it otherwise."""
        if self.record is not None:
            self.record.changed.disconnect(self.refresh)
        self.record = runner.procedure if runner is not None else None
        window = self._window
        if self.record is None:
            if window is not None and self._in_window:
                window.remove_side_tab(self)
                self._in_window = False
            return
        self.record.changed.connect(self.refresh)
        spec = self.record.spec
        self.plan.setText(f"<b>Target:</b> {spec.target}<br><b>Approach:</b> {spec.approach}")
        self.skip_reason.clear()
        self.refresh()
        if window is not None:
            if not self._in_window:
                window.add_side_tab(self, "Time-out")
                self._in_window = True
            window.show_side_tab(self)

    # --- edits -----------------------------------------------------------------------------------

    def _confirm(self, item: str, on: bool) -> None:
        if self.record is not None:
            self.record.confirm(item, on)

    def skip_time_out(self) -> None:
        if self.record is None:
            return
        try:
            self.record.skip_time_out(self.skip_reason.text())
        except ProcedureError as exc:
            self._say(str(exc), error=True)

    def _apply(self) -> None:
        """Every field into the record at once (each checked there)."""
        if self.record is None:
            return
        try:
            self.record.document(
                medication=self.medication.text(),
                dose_mg=self.dose_mg.value() or None,
                volume_ml=self.volume_ml.value() or None,
                needle_gauge=self.needle_gauge.currentData(),
                needle_length_mm=self.needle_length_mm.value() or None,
                approach=self.approach.text(),
                complications=self.complications.text(),
                tolerance=self.tolerance.currentData(),
                pain_before=self.pain_before.currentData(),
                pain_after=self.pain_after.currentData(),
            )
        except (ProcedureError, ValueError) as exc:
            self._say(f"Procedure not documented: {exc}", error=True)

    def _say(self, text: str, error: bool = False) -> None:
        if self._window is not None:
            self._window.show_message(text, error)

    # --- the record to the widgets ---------------------------------------------------------------

    def refresh(self) -> None:
        record = self.record
        if record is None:
            return
        widgets: list[QWidget] = [
            *self.checks.values(), self.medication, self.dose_mg, self.volume_ml, self.needle_gauge,
            self.needle_length_mm, self.approach, self.complications, self.tolerance, self.pain_before,
            self.pain_after,
        ]  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        try:
            for item, check in self.checks.items():
                check.setChecked(record.confirmed(item))
            d = record.details
            self.medication.setText(d.medication)
            self.dose_mg.setValue(d.dose_mg or 0.0)
            self.volume_ml.setValue(d.volume_ml or 0.0)
            self.needle_gauge.setCurrentIndex(max(0, self.needle_gauge.findData(d.needle_gauge)))
            self.needle_length_mm.setValue(d.needle_length_mm or 0.0)
            self.approach.setText(d.approach)
            self.complications.setText(d.complications)
            self.tolerance.setCurrentIndex(max(0, self.tolerance.findData(d.tolerance)))
            self.pain_before.setCurrentIndex(max(0, self.pain_before.findData(d.pain_before)))
            self.pain_after.setCurrentIndex(max(0, self.pain_after.findData(d.pain_after)))
            for line in (self.medication, self.approach, self.complications):
                line.setCursorPosition(0)  # a text longer than its field shows its start, not its end
        finally:
            for w in widgets:
                w.blockSignals(False)
        if record.time_out_complete:
            state, colour = f"Time-out complete at {record.time_out_at[11:16]}", OK
        elif record.time_out_skip_reason:
            state, colour = f"Time-out skipped: {record.time_out_skip_reason}", ALARM
        else:
            state, colour = "Needle images wait for the time-out", ALARM
        self.time_out_state.setText(state)
        self.time_out_state.setStyleSheet(f"color: {colour}; font-weight: 600;")
        missing = record.missing()
        self.missing.setText(f"Still to document: {', '.join(missing)}" if missing else "Documented")
        self.missing.setAlignment(Qt.AlignmentFlag.AlignLeft)
