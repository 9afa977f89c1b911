"""ExamDialog: "New exam…": who is scanned (or an anonymous practice subject), by whom, and which protocol.

The patient is entered as DICOM keeps it: family and given name (stored as the person name
"Family^Given"), a birth date typed as YYYY-MM-DD or DD/MM/YYYY (or picked from a calendar that opens
about fifty years back), sex as M, F or O. Every typed field is checked against its DICOM VR as it is
typed, with the error beside it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from PyQt6.QtCore import QDate, QPoint
from PyQt6.QtWidgets import (
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from protocols.model import ScanProtocol, Side
from scanner_app.studies.model import ExamOrder, FieldValueError, Patient, StudyError, check_dicom_value
from ui.theme import ALARM

SEXES = (("", "not given"), ("M", "M — Male"), ("F", "F — Female"), ("O", "O — Other"))
BIRTH_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d")
CALENDAR_YEARS_BACK = 50  # the calendar opens near a typical patient's birth year, not at 1900


def person_name(family: str, given: str) -> str:
    """The DICOM person name "Family^Given" of the two fields. "Smith, John" typed as the family name
    (and no given name) is read as family, given; a name already in DICOM form ("Doe^Jane") is kept."""
    family, given = family.strip(), given.strip()
    if not given and "^" not in family and "," in family:
        family, _, given = family.partition(",")
        family, given = family.strip(), given.strip()
    return f"{family}^{given}" if given else family


# The form's words for its fields, in errors (the DICOM attribute ids stay out of sight).
FIELD_LABELS = {
    "patient_id": "Patient ID",
    "name": "Name",
    "birth_date": "Birth date",
    "accession_number": "Accession",
    "operator": "Operator",
    "trainee": "Trainee",
    "supervisor": "Supervisor",
}
PATIENT_FIELDS = frozenset({"patient_id", "name", "birth_date", "accession_number"})
STAFF_FIELDS = frozenset({"operator", "trainee", "supervisor"})


def parse_birth_date(text: str, today: dt.date | None = None) -> str:
    """DICOM DA (YYYYMMDD) of a typed birth date (YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD), "" for none.

    Raises FieldValueError("birth_date", ...) for anything else or a date outside 1900..today.
    """
    text = text.strip()
    if not text:
        return ""
    for pattern in BIRTH_DATE_FORMATS:
        try:
            date = dt.datetime.strptime(text, pattern).date()
            break
        except ValueError:
            continue
    else:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4}|\d{8}", text):
            raise FieldValueError("birth_date", f"{text}: there is no such day in the calendar")
        raise FieldValueError("birth_date", f"{text!r} is not a date: type YYYY-MM-DD or DD/MM/YYYY")
    if not dt.date(1900, 1, 1) <= date <= (today or dt.date.today()):
        raise FieldValueError("birth_date", f"{date.isoformat()} is not a possible birth date (1900..today)")
    return date.strftime("%Y%m%d")


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
    order: ExamOrder = dataclasses.field(default_factory=ExamOrder)  # accession, referrer, Study UID


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
        self.family_name = QLineEdit()
        self.family_name.setPlaceholderText('Family name (or "Family, Given")')
        self.given_name = QLineEdit()
        self.given_name.setPlaceholderText("Given name(s)")
        self.birth_date = QLineEdit()
        self.birth_date.setPlaceholderText("YYYY-MM-DD or DD/MM/YYYY")
        self.calendar_button = QPushButton("Calendar…")
        self.calendar_button.clicked.connect(self.open_calendar)
        self.calendar = QCalendarWidget()
        self.calendar.clicked.connect(self._date_picked)
        self.calendar.activated.connect(self._date_picked)
        self.calendar_menu = QMenu(self)
        picker = QWidgetAction(self.calendar_menu)
        picker.setDefaultWidget(self.calendar)
        self.calendar_menu.addAction(picker)
        self.sex = QComboBox()
        for code, text in SEXES:
            self.sex.addItem(text, code)
        self.accession = QLineEdit()
        self.accession.setPlaceholderText("from the order (RIS); empty if there is none")
        self.operator = QLineEdit(operator)
        self.operator.setPlaceholderText("Family, Given (required)")
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
            "name": (self.family_name, "PN"),  # with the given name: one DICOM person name
            "birth_date": (self.birth_date, "DA"),
            "accession_number": (self.accession, "SH"),
            "operator": (self.operator, "PN"),
            "trainee": (self.trainee, "PN"),
            "supervisor": (self.supervisor, "PN"),
        }
        self.field_errors: dict[str, QLabel] = {}
        form.addRow(self.practice_subject)
        form.addRow("Patient ID", self._with_error("patient_id"))
        form.addRow("Family name", self._with_error("name"))
        form.addRow("Given name", self.given_name)
        form.addRow("Birth date", self._with_error("birth_date", self.calendar_button))
        form.addRow("Sex", self.sex)
        form.addRow("Accession", self._with_error("accession_number"))
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

    def _with_error(self, field: str, beside: QWidget | None = None) -> QWidget:
        """The field's line edit (and `beside` it, a button) with its inline error below, checked as
        the user types."""
        edit, _vr = self.typed_fields[field]
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet(f"color: {ALARM};")
        error.setVisible(False)
        self.field_errors[field] = error
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        if beside is None:
            column.addWidget(edit)
        else:
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(beside)
            column.addLayout(row)
        column.addWidget(error)
        edit.textChanged.connect(lambda _text: self._check_field(field))
        if field == "name":
            self.given_name.textChanged.connect(lambda _text: self._check_field(field))
        return box

    def field_value(self, field: str) -> str:
        """The DICOM value of a typed field (the person name of both name fields, the birth date as
        YYYYMMDD); FieldValueError when it is not one."""
        edit, vr = self.typed_fields[field]
        if field == "name":
            value = person_name(self.family_name.text(), self.given_name.text())
        elif field in STAFF_FIELDS:  # "Smith, Ann" typed is the person name Smith^Ann
            value = person_name(edit.text(), "")
        elif field == "birth_date":
            value = parse_birth_date(edit.text())
        else:
            value = edit.text().strip()
        check_dicom_value(field, vr, value)
        return value

    def _check_field(self, field: str) -> bool:
        try:
            self.field_value(field)
        except FieldValueError as exc:
            self._show_field_error(field, exc)
            return False
        self.field_errors[field].clear()
        self.field_errors[field].setVisible(False)
        return True

    def open_calendar(self) -> None:
        """The calendar below its button, at the typed date or about fifty years ago."""
        try:
            typed = parse_birth_date(self.birth_date.text())
        except FieldValueError:
            typed = ""
        if typed:
            date = QDate(int(typed[:4]), int(typed[4:6]), int(typed[6:]))
        else:
            date = QDate.currentDate().addYears(-CALENDAR_YEARS_BACK)
        self.calendar.setMinimumDate(QDate(1900, 1, 1))
        self.calendar.setMaximumDate(QDate.currentDate())
        self.calendar.setSelectedDate(date)
        self.calendar.setCurrentPage(date.year(), date.month())
        self.calendar_menu.popup(self.calendar_button.mapToGlobal(QPoint(0, self.calendar_button.height())))

    def _date_picked(self, date: QDate) -> None:
        self.birth_date.setText(date.toString("yyyy-MM-dd"))
        self.calendar_menu.hide()

    def _show_field_error(self, field: str, exc: FieldValueError) -> None:
        """Under the field, in the form's words: "Birth date: …", never the attribute's id."""
        self.field_errors[field].setText(f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.problem}")
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
        for w in (
            self.patient_id,
            self.family_name,
            self.given_name,
            self.birth_date,
            self.calendar_button,
            self.sex,
            self.accession,
        ):
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
            patient = Patient(
                patient_id=self.patient_id.text().strip(),
                name=self.field_value("name"),
                birth_date=self.field_value("birth_date"),
                sex=str(self.sex.currentData()),
            )
        operator = self.field_value("operator")
        if not operator:
            raise FieldValueError("operator", "must be filled in")
        return ExamRequest(
            patient=patient,
            operator=operator,
            trainee=self.field_value("trainee"),
            supervisor=self.field_value("supervisor"),
            protocol=self.chosen_protocol(),
            quadrant=self.quadrant.currentData() if self.quadrant.isVisibleTo(self) else None,
            side=self.side.currentText(),
            practice=self.practice.isEnabled() and self.practice.isChecked(),
            order=self._order(),
        )

    def _order(self) -> ExamOrder:
        """The order typed (an accession number) or picked from the worklist; none for practice."""
        if self.practice_subject.isChecked():
            return ExamOrder()
        return ExamOrder(accession_number=self.field_value("accession_number"))

    def accept(self) -> None:
        """OK: refused while any field is wrong; every wrong field shows its error, and the first of
        them takes the focus."""
        wrong = [f for f in self.typed_fields if not self._check_field(f) and self._field_in_use(f)]
        for field, edit in (("patient_id", self.patient_id), ("operator", self.operator)):
            if self._field_in_use(field) and not edit.text().strip():
                self._show_field_error(field, FieldValueError(field, "must be filled in"))
                wrong.append(field)
        if wrong:
            self.error_label.setText("Correct the fields marked in red.")
            first = min(wrong, key=list(self.typed_fields).index)
            edit = self.typed_fields[first][0]
            edit.setFocus()
            edit.selectAll()
            return
        try:
            self.request = self._build_request()
        except StudyError as exc:
            self.error_label.setText(str(exc))
            return
        self.error_label.clear()
        super().accept()

    def _field_in_use(self, field: str) -> bool:
        """The patient's fields do not count for an anonymous practice subject."""
        return not (self.practice_subject.isChecked() and field in PATIENT_FIELDS)
