"""ExamDialog: "New exam…": who is scanned (or an anonymous practice subject), by whom, and which protocol.

The patient is entered as DICOM keeps it: family and given name (stored as the person name
"Family^Given"), a birth date typed as YYYY-MM-DD or DD/MM/YYYY (or picked from a calendar that opens
about fifty years back), sex as M, F or O. Every typed field is checked against its DICOM VR as it is
typed, with the error on a line of its own under it that is kept when there is none: the fields never
move as errors come and go, so a click lands where it was aimed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QDate, QPoint, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QPainter, QPaintEvent
from PyQt6.QtWidgets import (
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from protocols.model import ScanProtocol, Side
from protocols.procedure_map import DEFAULT_PROCEDURE_MAP, ProcedureMapError, ProcedureProtocolMap
from scanner_app.studies.model import ExamOrder, FieldValueError, Patient, StudyError, check_dicom_value
from scanner_app.studies.pacs import PacsDestination, read_destinations
from scanner_app.studies.report import format_date, format_person_name
from scanner_app.studies.worklist import WorklistEntry, WorklistQuery, ordered_side, query_worklist
from ui.theme import ALARM
from ui.user_folders import user_path

log = logging.getLogger(__name__)

SEXES = (("", "not given"), ("M", "M — Male"), ("F", "F — Female"), ("O", "O — Other"))
BIRTH_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d")
CALENDAR_YEARS_BACK = 50  # the calendar opens near a typical patient's birth year, not at 1900
QUOTED_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"")  # the typed value an error quotes (Python's repr)


def name_parts_problem(family: str, given: str) -> None:
    """FieldValueError when the two name fields hold DICOM's separators: each field is one component,
    so "^" (between components) or "=" (between groups) typed there would store a different name.
    A name pasted whole in DICOM form into the family field alone ("Doe^Jane") stays allowed."""
    fields = (("given name", given), ("family name", family)) if given.strip() else (("given name", given),)
    for label, text in fields:
        for mark, role in (("^", "components"), ("=", "component groups")):
            if mark in text:
                raise FieldValueError(
                    "name", f"{label} {text.strip()!r} contains {mark!r}, which DICOM reads as between {role}"
                )


def person_name(family: str, given: str) -> str:
    """The DICOM person name "Family^Given" of the two fields. "Smith, John" typed as the family name
    (and no given name) is read as family, given; a name already in DICOM form ("Doe^Jane") is kept."""
    family, given = family.strip(), given.strip()
    if not given and "^" not in family and "," in family:
        family, _, given = family.partition(",")
        family, given = family.strip(), given.strip()
    return f"{family}^{given}" if given else family


def typed_person(pn: str) -> str:
    """A DICOM person name as the form shows and takes it: "Smith^Ann" -> "Smith, Ann"."""
    family, _, given = pn.partition("^")
    given = given.split("^")[0]
    return f"{family}, {given}" if given else family


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


def _date_words(dicom_date: str) -> str:
    """A DICOM DA (YYYYMMDD) as the report writes dates; as given when it is no date."""
    try:
        return format_date(dt.datetime.strptime(dicom_date, "%Y%m%d").date())
    except ValueError:
        return dicom_date


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


WorklistSource = Callable[[WorklistQuery], list[WorklistEntry]]  # raises StudyError with the reason
QUERY_TIMEOUT_S = 5.0
PROCEDURE_MAP_NAME = "procedures.yaml"


def worklist_destination(pacs_config: Path) -> PacsDestination | None:
    """The first destination of the PACS tab's file marked as the worklist, or None."""
    if not pacs_config.exists():
        return None
    return next((d for d in read_destinations(pacs_config).destinations if d.worklist), None)


def worklist_source(dest: PacsDestination) -> WorklistSource:
    return lambda query: query_worklist(dest, query, QUERY_TIMEOUT_S)


def load_procedure_map() -> ProcedureProtocolMap | None:
    """The department's procedure table (procedures.yaml in the configuration folder), else the one
    shipped; None (logged) when it cannot be read, so the protocol is then chosen by hand."""
    own = user_path(PROCEDURE_MAP_NAME, config=True)
    try:
        return ProcedureProtocolMap.load(own if own.exists() else DEFAULT_PROCEDURE_MAP)
    except ProcedureMapError as exc:
        log.error("%s", exc)
        return None


class InlineError(QLabel):
    """A field's error on one line under it, its space kept while there is none; a longer error is
    shortened (`shown_text`), whole in its tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self.setStyleSheet(f"color: {ALARM};")
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)  # a long error never widens the form
        policy.setVerticalPolicy(QSizePolicy.Policy.Fixed)
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self.setVisible(False)

    def sizeHint(self) -> QSize:
        return QSize(0, self.fontMetrics().lineSpacing())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def show_error(self, text: str) -> None:
        self.setText(text)
        self.setToolTip(text)
        self.setVisible(True)

    def clear_error(self) -> None:
        self.clear()
        self.setToolTip("")
        self.setVisible(False)

    def shown_text(self) -> str:
        """The error as its line shows it: whole if it fits, else the typed value it quotes shortened
        first, then the reason's end (the field's name and what is wrong stay); with no value quoted,
        shortened in the middle."""
        text, width = self.text(), self.contentsRect().width()
        metrics = self.fontMetrics()
        if metrics.horizontalAdvance(text) <= width:
            return text
        quoted = QUOTED_VALUE.search(text)
        if quoted is None:
            return metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, width)
        before, after = text[: quoted.start()], text[quoted.end() :]
        room = max(width - metrics.horizontalAdvance(before + after), metrics.horizontalAdvance("'MMMM…'"))
        text = before + metrics.elidedText(quoted.group(), Qt.TextElideMode.ElideRight, room) + after
        return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)  # the reason's start stays

    def paintEvent(self, event: QPaintEvent | None) -> None:
        rect = self.contentsRect()
        shown = self.shown_text()
        style = self.style()
        assert style is not None
        painter = QPainter(self)
        style.drawItemText(
            painter, rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.palette(),
            self.isEnabled(), shown, self.foregroundRole(),
        )  # fmt: skip
        painter.end()


class ExamDialog(QDialog):
    """Asks for the patient (or practice subject), the people, the protocol, quadrant and side; with
    a worklist, lists the scheduled procedures and fills the patient and order from the one picked."""

    worklist_loaded = pyqtSignal(object)  # list[WorklistEntry], or a str saying why there is none

    def __init__(
        self,
        protocols: Sequence[ScanProtocol],
        *,
        has_simulator: bool,
        operator: str = "",
        parent: QWidget | None = None,
        worklist: WorklistSource | None = None,
        procedure_map: ProcedureProtocolMap | None = None,
        station_ae: str = "",
        known_patient: Callable[[str], Patient | None] = lambda _patient_id: None,
    ) -> None:
        """`known_patient` gives the patient already kept under an ID (the newest study's), or None."""
        super().__init__(parent)
        self.setWindowTitle("New exam")
        self._known_patient = known_patient
        self._acknowledged: Patient | None = None  # details kept for a known ID after the warning
        self.protocols = list(protocols)
        self.request: ExamRequest | None = None
        self.picked: WorklistEntry | None = None  # the scheduled procedure this exam is for
        self._worklist = worklist
        self._procedure_map = procedure_map
        self._entries: list[WorklistEntry] = []
        self._query_thread: threading.Thread | None = None
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
        self.operator = QLineEdit(typed_person(operator))
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
        # No side until one is chosen (or the protocol or the order fixes it): a default would let a
        # right knee be examined, or injected, as the left.
        self.side.setPlaceholderText("choose the side")
        self.side.setCurrentIndex(-1)
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
        self.field_errors: dict[str, InlineError] = {}
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
        column = QVBoxLayout()
        column.addLayout(form)
        column.addWidget(self.error_label)
        column.addWidget(buttons)
        layout = QHBoxLayout(self)
        self.worklist_box = self._build_worklist(station_ae)
        self.worklist_box.setVisible(worklist is not None)
        layout.addWidget(self.worklist_box, 3)
        layout.addLayout(column, 2)
        self.practice_subject.toggled.connect(self._subject_changed)
        self.protocol.currentIndexChanged.connect(lambda _: self._protocol_changed())
        self.worklist_loaded.connect(self._show_worklist)
        self._protocol_changed()
        self._subject_changed(False)
        if worklist is not None:
            self.query_worklist()

    # --- worklist --------------------------------------------------------------------------------

    def _build_worklist(self, station_ae: str) -> QGroupBox:
        box = QGroupBox("Worklist: scheduled procedures")
        column = QVBoxLayout(box)
        filters = QHBoxLayout()
        self.worklist_date = QDateEdit(QDate.currentDate())
        self.worklist_date.setCalendarPopup(True)
        self.worklist_date.setDisplayFormat("yyyy-MM-dd")
        self.worklist_modality = QLineEdit("US")
        self.worklist_modality.setMaximumWidth(50)
        self.worklist_station = QLineEdit(station_ae)
        self.worklist_station.setPlaceholderText("any station")
        # A whole AE title shows (SCANNERAPP, not its tail), so the filter can be read before a query.
        self.worklist_station.setMinimumWidth(
            self.worklist_station.fontMetrics().horizontalAdvance("SCANNERAPP__")
        )
        self.worklist_refresh = QPushButton("Refresh")
        self.worklist_refresh.clicked.connect(self.query_worklist)
        for label, widget in (
            ("Date", self.worklist_date),
            ("Modality", self.worklist_modality),
            ("Station AE", self.worklist_station),
        ):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.worklist_refresh)
        column.addLayout(filters)
        self.worklist_list = QTreeWidget()
        self.worklist_list.setHeaderLabels(["Time", "Patient", "Patient ID", "Accession", "Procedure"])
        self.worklist_list.setRootIsDecorated(False)
        self.worklist_list.setMinimumWidth(520)
        self.worklist_list.currentItemChanged.connect(lambda item, _old: self._entry_selected(item))
        column.addWidget(self.worklist_list, 1)
        self.worklist_status = QLabel()
        self.worklist_status.setWordWrap(True)
        column.addWidget(self.worklist_status)
        return box

    def query_worklist(self) -> None:
        """Ask the worklist for the filters' procedures on a worker thread; `worklist_loaded` brings
        the answer (the dialog never waits on the network)."""
        source = self._worklist
        if source is None or (self._query_thread is not None and self._query_thread.is_alive()):
            return
        try:
            query = WorklistQuery(
                self.worklist_date.date().toString("yyyyMMdd"),
                self.worklist_modality.text().strip().upper(),
                self.worklist_station.text().strip(),
            )
        except StudyError as exc:
            self._show_worklist(str(exc))
            return
        self.worklist_status.setText("Asking the worklist…")
        self.worklist_refresh.setEnabled(False)

        def run() -> None:
            answer: list[WorklistEntry] | str
            try:
                answer = source(query)
            except StudyError as exc:
                answer = str(exc)
            with contextlib.suppress(RuntimeError):  # the dialog is gone
                self.worklist_loaded.emit(answer)

        self._query_thread = threading.Thread(target=run, name="worklist-query", daemon=True)
        self._query_thread.start()

    def _show_worklist(self, answer: object) -> None:
        self.worklist_refresh.setEnabled(True)
        self.worklist_list.clear()
        if isinstance(answer, str):
            self._entries = []
            self.worklist_status.setText(answer)
            self.worklist_status.setStyleSheet(f"color: {ALARM};")
            return
        self._entries = list(answer) if isinstance(answer, list) else []
        for entry in self._entries:
            time_text = entry.scheduled_time[:4]
            item = QTreeWidgetItem(
                [
                    f"{time_text[:2]}:{time_text[2:]}" if len(time_text) == 4 else time_text,
                    format_person_name(entry.patient_name),
                    entry.patient_id,
                    entry.accession_number,
                    entry.requested_procedure,
                ]
            )
            self.worklist_list.addTopLevelItem(item)
        for col in range(4):
            self.worklist_list.resizeColumnToContents(col)
        count = len(self._entries)
        self.worklist_status.setText(
            f"{count} scheduled procedure{'s' if count != 1 else ''}: pick one to fill the exam"
            if count
            else "No scheduled procedures match: type the patient (emergency) or change the filters."
        )
        self.worklist_status.setStyleSheet("")

    def _entry_selected(self, item: QTreeWidgetItem | None) -> None:
        index = self.worklist_list.indexOfTopLevelItem(item) if item is not None else -1
        if 0 <= index < len(self._entries):
            self.pick(self._entries[index])

    def pick(self, entry: WorklistEntry) -> None:
        """Fill the patient and order from a scheduled procedure, and its protocol when the
        department's table names one."""
        self.practice_subject.setChecked(False)
        family, _, given = entry.patient_name.partition("^")
        self.patient_id.setText(entry.patient_id)
        self.family_name.setText(family)
        self.given_name.setText(given.split("^")[0])
        birth = entry.birth_date
        self.birth_date.setText(f"{birth[:4]}-{birth[4:6]}-{birth[6:]}" if len(birth) == 8 else birth)
        self.sex.setCurrentIndex(max(0, self.sex.findData(entry.sex)))
        self.accession.setText(entry.accession_number)
        self.picked = entry
        protocol_id = (
            self._procedure_map.protocol_id(entry.requested_procedure_code, entry.requested_procedure)
            if self._procedure_map is not None
            else None
        )
        if protocol_id is not None and self.protocol.findData(protocol_id) >= 0:
            self.select_protocol(protocol_id)
        side = ordered_side(entry.requested_procedure)
        if self.side.isEnabled() and side is not None:
            self.side.setCurrentText(side)  # the order's side, never the form's default
        self.worklist_status.setText(
            f"Exam for {entry.requested_procedure or 'the scheduled procedure'}, accession "
            f"{entry.accession_number or '(none)'}"
            + (
                f", referred by {format_person_name(entry.referring_physician)}"
                if entry.referring_physician
                else ""
            )
            + (". The order names no side: choose it." if self.side.isEnabled() and side is None else "")
        )
        self.worklist_status.setStyleSheet("")

    def done(self, result: int) -> None:
        """Closing waits for a worklist query in flight (it ends by its own timeout)."""
        super().done(result)
        thread, self._query_thread = self._query_thread, None
        if thread is not None:
            thread.join(QUERY_TIMEOUT_S + 5)

    def _with_error(self, field: str, beside: QWidget | None = None) -> QWidget:
        """The field's line edit (and `beside` it, a button) with its inline error below, checked as
        the user types."""
        edit, _vr = self.typed_fields[field]
        error = InlineError()
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
            name_parts_problem(self.family_name.text(), self.given_name.text())
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
        self.field_errors[field].clear_error()
        if not any(label.text() for label in self.field_errors.values()):
            self.error_label.clear()  # "Correct the fields marked in red" is true no longer
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
        self.field_errors[field].show_error(f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.problem}")

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
        elif not self.side.isEnabled():
            self.side.setCurrentIndex(-1)  # the last protocol fixed it: this one asks afresh
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
        side = self.side.currentText()
        if not side:
            if self.chosen_protocol() is not None and not self.practice_subject.isChecked():
                raise FieldValueError("side", "must be chosen (left, right or bilateral) for this protocol")
            side = "left"  # free scanning or a practice subject: the body marker's side, changed any time
        return ExamRequest(
            patient=patient,
            operator=operator,
            trainee=self.field_value("trainee"),
            supervisor=self.field_value("supervisor"),
            protocol=self.chosen_protocol(),
            quadrant=self.quadrant.currentData() if self.quadrant.isVisibleTo(self) else None,
            side=side,
            practice=self.practice.isEnabled() and self.practice.isChecked(),
            order=self._order(),
        )

    def _order(self) -> ExamOrder:
        """The order picked from the worklist (with the accession as shown), or an accession typed by
        hand; none for a practice subject."""
        if self.practice_subject.isChecked():
            return ExamOrder()
        accession = self.field_value("accession_number")
        entry = self.picked
        if entry is None or self.patient_id.text().strip() != entry.patient_id:
            # Nothing picked, or another patient typed over the pick: not that order's study.
            return ExamOrder(accession_number=accession)
        return dataclasses.replace(entry.order(), accession_number=accession)

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
            request = self._build_request()
        except StudyError as exc:
            self.error_label.setText(str(exc))
            return
        conflict = self._identity_conflict(request.patient)
        if conflict:
            self.error_label.setText(conflict)
            self.patient_id.setFocus()
            return
        self.request = request
        self.error_label.clear()
        super().accept()

    def _identity_conflict(self, patient: Patient) -> str:
        """Why these details may not be the patient already kept under this ID ('' when they are, or
        when the operator, warned once, starts again with the same details: a name changed by
        marriage). One ID for two people merges their images in PACS and the RIS."""
        if patient.practice_subject or (
            self.picked is not None and self.picked.patient_id == patient.patient_id
        ):
            return ""  # the order's patient, as the RIS knows them
        known = self._known_patient(patient.patient_id)
        if known is None or self._acknowledged == patient:
            return ""
        differs = [
            what
            for what, mine, theirs in (
                ("name", patient.name, known.name),
                ("birth date", patient.birth_date, known.birth_date),
            )
            if mine and theirs and mine.upper() != theirs.upper()
        ]
        if not differs:
            return ""
        self._acknowledged = patient
        born = f", born {_date_words(known.birth_date)}" if known.birth_date else ""
        return (
            f"Patient ID {patient.patient_id} is already {format_person_name(known.name)}{born}: the "
            f"{' and '.join(differs)} differ. Check the ID (or pick the patient's order), or press "
            "Start exam again to keep these details under this ID."
        )

    def _field_in_use(self, field: str) -> bool:
        """The patient's fields do not count for an anonymous practice subject."""
        return not (self.practice_subject.isChecked() and field in PATIENT_FIELDS)
