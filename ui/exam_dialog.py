"""ExamDialog: "New exam…": who is scanned (or an anonymous practice subject), by whom, and which protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PyQt6.QtCore import QDate
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from protocols.model import ScanProtocol, Side
from scanner_app.studies.model import FieldValueError, Patient, StudyError, check_dicom_value
from ui.theme import ALARM

SEXES = (("", "not given"), ("F", "female"), ("M", "male"), ("O", "other"))


@dataclass(frozen=True, slots=True)
class ExamRequest:
    """What the dialog asked for: enough to start an ExamSession."""

    patient: Patient
    operator: str
    trainee: str
    supervisor: str
    protocol: ScanProtocol | None
    quadrant: str | None
    side: str
    practice: bool


class ExamDialog(QDialog):
    """Asks for the patient (or practice subject), the people, the protocol, quadrant and side."""

    def __init__(
        self,
        protocols: Sequence[ScanProtocol],
        *,
        has_simulator: bool,
        operator: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New exam")
        self.protocols = list(protocols)
        self.request: ExamRequest | None = None
        form = QFormLayout()
        self.practice_subject = QCheckBox("Practice subject (anonymous: phantom, volunteer, simulator)")
        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("Family^Given")
        self.birth_date = QDateEdit()
        self.birth_date.setDisplayFormat("yyyy-MM-dd")
        self.birth_date.setCalendarPopup(True)
        self.birth_date.setMinimumDate(QDate(1900, 1, 1))
        self.birth_date.setSpecialValueText("not given")  # the minimum date means "no birth date"
        self.birth_date.setDate(self.birth_date.minimumDate())
        self.sex = QComboBox()
        for code, text in SEXES:
            self.sex.addItem(text, code)
        self.operator = QLineEdit(operator)
        self.operator.setPlaceholderText("Family^Given (required)")
        self.trainee = QLineEdit()
        self.supervisor = QLineEdit()
        self.protocol = QComboBox()
        self.protocol.addItem("(no protocol: free scanning)", None)
        for p in self.protocols:
            self.protocol.addItem(p.title, p.id)
        self.quadrant = QComboBox()
        self.side = QComboBox()
        self.side.addItems(["left", "right", "bilateral"])
        self.practice = QCheckBox("Practice with the simulator")
        self.practice.setVisible(has_simulator)
        self.practice.setEnabled(has_simulator)
        # Each typed field, by the name the study model gives it, with its DICOM VR and its inline error.
        self.typed_fields: dict[str, tuple[QLineEdit, str]] = {
            "patient_id": (self.patient_id, "LO"),
            "name": (self.patient_name, "PN"),
            "operator": (self.operator, "PN"),
            "trainee": (self.trainee, "PN"),
            "supervisor": (self.supervisor, "PN"),
        }
        self.field_errors: dict[str, QLabel] = {}
        form.addRow(self.practice_subject)
        form.addRow("Patient ID", self._with_error("patient_id"))
        form.addRow("Name", self._with_error("name"))
        form.addRow("Birth date", self.birth_date)
        form.addRow("Sex", self.sex)
        form.addRow("Operator", self._with_error("operator"))
        form.addRow("Trainee", self._with_error("trainee"))
        form.addRow("Supervisor", self._with_error("supervisor"))
        form.addRow("Protocol", self.protocol)
        self.quadrant_label = QLabel("Quadrant")
        form.addRow(self.quadrant_label, self.quadrant)
        self.side_label = QLabel("Side")
        form.addRow(self.side_label, self.side)
        if has_simulator:
            form.addRow(self.practice)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ALARM}; font-weight: 600;")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert self.ok_button is not None
        self.ok_button.setText("Start exam")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.practice_subject.toggled.connect(self._subject_changed)
        self.protocol.currentIndexChanged.connect(lambda _: self._protocol_changed())
        self._protocol_changed()
        self._subject_changed(False)

    def _with_error(self, field: str) -> QWidget:
        """The field's line edit with its inline error below it, checked as the user types."""
        edit, vr = self.typed_fields[field]
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet(f"color: {ALARM};")
        error.setVisible(False)
        self.field_errors[field] = error
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(edit)
        column.addWidget(error)
        edit.textChanged.connect(lambda text: self._check_field(field, vr, text))
        return box

    def _check_field(self, field: str, vr: str, text: str) -> bool:
        try:
            check_dicom_value(field, vr, text.strip())
        except FieldValueError as exc:
            self._show_field_error(field, str(exc))
            return False
        self.field_errors[field].clear()
        self.field_errors[field].setVisible(False)
        return True

    def _show_field_error(self, field: str, text: str) -> None:
        self.field_errors[field].setText(text)
        self.field_errors[field].setVisible(True)

    def chosen_protocol(self) -> ScanProtocol | None:
        pid = self.protocol.currentData()
        return next((p for p in self.protocols if p.id == pid), None)

    def select_protocol(self, protocol_id: str) -> None:
        index = self.protocol.findData(protocol_id)
        if index < 0:
            raise ValueError(f"no protocol {protocol_id!r} in the list")
        self.protocol.setCurrentIndex(index)

    def _subject_changed(self, practice_subject: bool) -> None:
        for w in (self.patient_id, self.patient_name, self.birth_date, self.sex):
            w.setEnabled(not practice_subject)

    def _protocol_changed(self) -> None:
        protocol = self.chosen_protocol()
        self.quadrant.clear()
        quadrants = protocol.quadrants if protocol is not None else ()
        if quadrants:
            self.quadrant.addItem("complete exam (all steps)", None)
            for q in quadrants:
                self.quadrant.addItem(q.title, q.id)
        self.quadrant.setVisible(bool(quadrants))
        self.quadrant_label.setVisible(bool(quadrants))
        fixed = protocol is not None and protocol.side is not Side.ASK
        if fixed and protocol is not None:
            self.side.setCurrentText(protocol.side.value)
        self.side.setEnabled(not fixed)

    def _build_request(self) -> ExamRequest:
        """The request, or StudyError saying what to correct."""
        if self.practice_subject.isChecked():
            patient = Patient.practice()
        else:
            date = self.birth_date.date()
            birth = "" if date == self.birth_date.minimumDate() else date.toString("yyyyMMdd")
            patient = Patient(
                patient_id=self.patient_id.text().strip(),
                name=self.patient_name.text().strip(),
                birth_date=birth,
                sex=str(self.sex.currentData()),
            )
        operator = self.operator.text().strip()
        if not operator:
            raise FieldValueError("operator", "must not be empty (DICOM Operators' Name)")
        for field in ("operator", "trainee", "supervisor"):
            edit, vr = self.typed_fields[field]
            check_dicom_value(field, vr, edit.text().strip())
        return ExamRequest(
            patient=patient,
            operator=operator,
            trainee=self.trainee.text().strip(),
            supervisor=self.supervisor.text().strip(),
            protocol=self.chosen_protocol(),
            quadrant=self.quadrant.currentData() if self.quadrant.isVisibleTo(self) else None,
            side=self.side.currentText(),
            practice=self.practice.isEnabled() and self.practice.isChecked(),
        )

    def accept(self) -> None:
        """OK: refused while a field is wrong; its inline error shows and it keeps (or takes) the focus."""
        try:
            self.request = self._build_request()
        except StudyError as exc:
            self.error_label.setText(str(exc))
            field = exc.field if isinstance(exc, FieldValueError) else ""
            if field in self.typed_fields:
                edit = self.typed_fields[field][0]
                self._show_field_error(field, str(exc))
                edit.setFocus()
                edit.selectAll()
            return
        self.error_label.clear()
        super().accept()
