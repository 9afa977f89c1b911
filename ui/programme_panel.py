"""The Programme tab: who is signed in, their logbook and credentialing progress, sign-off, flags for
follow-up / teaching / QA, and (for reviewers) outcomes, verdicts and the quarterly review pack.

Every ended exam becomes a logbook entry for its operator and trainee (names typed in the exam
dialog are matched to registered users). A trainee cannot sign off, and sees only their own QA
numbers: the rules are in `scanner_app.programme`, this tab only offers what the signed-in role may do.
The signed-in person's lists (logbook, progress, sign-offs awaited, cases to review) are read on a
worker thread and shown when they come (`refreshed`), so a slow shared database never stalls the
window. Attached through the window's extension points only.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PyQt6.QtCore import QDate, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.logbook import (
    ExamFacts,
    LogbookEntry,
    awaiting_sign_off,
    entries,
    findings_text,
    person_key,
    record_exam,
    sign_off,
)
from scanner_app.programme.logbook_export import logbook_csv, logbook_pdf
from scanner_app.programme.pathways import Pathway, PathwayProgress, progress
from scanner_app.programme.people import NotAllowed, Role, User, add_user, list_users
from scanner_app.programme.people import sign_in as people_sign_in
from scanner_app.programme.procedures import record_procedure
from scanner_app.programme.quality import (
    Classification,
    FlagReason,
    OutcomeKind,
    ReviewedCase,
    add_outcome,
    cases,
    classify,
    flag,
)
from scanner_app.programme.review_pack import ReviewPack, build_review_pack, quarter_of
from scanner_app.studies import Study, StudyStore
from ui.db_worker import DbWorker
from ui.window_api import ScannerWindow

FLAG_WORDS = {
    FlagReason.QA_REVIEW: "QA review",
    FlagReason.TEACHING: "Teaching",
    FlagReason.FOLLOW_UP: "Follow-up",
}


class ProgrammePanel(QWidget):
    """The Programme side tab."""

    refreshed = pyqtSignal()  # the signed-in person's lists shown anew (or cleared: nobody signed in)

    def __init__(
        self,
        db: ProgrammeDatabase,
        store: StudyStore | None,
        pathways: list[Pathway],
        *,
        ended_study: Callable[[], Study | None],
        region_of: Callable[[str], str],
        today: Callable[[], date] = date.today,
        workstation: str = "",
        on_sign_in: Callable[[User | None], None] = lambda _user: None,
    ) -> None:
        super().__init__()
        self.db, self.store, self.pathways = db, store, pathways
        self._ended_study, self._region_of, self._today = ended_study, region_of, today
        self._on_sign_in = on_sign_in  # e.g. the new-exam dialog's operator follows who signed in
        self.workstation = workstation or socket.gethostname()
        self.user: User | None = None
        self._window: ScannerWindow | None = None
        self._recorded_text = ""  # what the tab last said of an ended exam's logbook entry
        self.worker = DbWorker("programme", self)

        self.users = QComboBox()
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setPlaceholderText("PIN")
        self.pin.setMaximumWidth(90)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_out_button = QPushButton("Sign out")
        self.who = QLabel("Nobody signed in")
        self.who.setWordWrap(True)
        # who on a row of their own, then the PIN, then who is in with Sign out: the tab fits the panel
        sign_in = QVBoxLayout()
        sign_in.addWidget(self.users)
        pin_row = QHBoxLayout()
        pin_row.addWidget(self.pin, 1)
        pin_row.addWidget(self.sign_in_button)
        sign_in.addLayout(pin_row)
        who_row = QHBoxLayout()
        who_row.addWidget(self.who, 1)
        who_row.addWidget(self.sign_out_button)
        sign_in.addLayout(who_row)
        # An administrator registers people; a new database starts with its first administrator.
        self.new_username, self.new_name, self.new_pin = QLineEdit(), QLineEdit(), QLineEdit()
        self.new_pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_role = QComboBox()
        for role in Role:
            self.new_role.addItem(role.value, role)
        self.register_button = QPushButton("Register")
        self.register_box = QGroupBox("Register a user")
        register_form = QFormLayout(self.register_box)
        register_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a field under its label
        register_form.addRow("Username", self.new_username)
        register_form.addRow("Name", self.new_name)
        register_form.addRow("Role", self.new_role)
        register_form.addRow("PIN", self.new_pin)
        register_form.addRow(self.register_button)

        self.logbook = QListWidget()
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self.export_csv_button = QPushButton("CSV…")  # short, two to a row, inside the Logbook box
        self.export_csv_button.setToolTip("Export the logbook as a CSV file")
        self.export_pdf_button = QPushButton("PDF…")
        self.export_pdf_button.setToolTip("Export the logbook as a PDF for the supervisor")
        exports = QHBoxLayout()
        exports.addWidget(self.export_csv_button)
        exports.addWidget(self.export_pdf_button)
        self.awaiting = QListWidget()
        self.sign_off_button = QPushButton("Sign off selected")
        book = QGroupBox("Logbook")
        book_layout = QVBoxLayout(book)
        book_layout.addWidget(self.logbook)
        book_layout.addWidget(self.progress)
        book_layout.addLayout(exports)
        self.sign_off_box = QWidget()  # hidden for trainees: they cannot sign off
        sign_off_layout = QVBoxLayout(self.sign_off_box)
        sign_off_layout.setContentsMargins(0, 0, 0, 0)
        sign_off_layout.addWidget(QLabel("Awaiting my sign-off"))
        sign_off_layout.addWidget(self.awaiting)
        sign_off_layout.addWidget(self.sign_off_button)
        book_layout.addWidget(self.sign_off_box)

        self.flag_reason = QComboBox()
        for reason, words in FLAG_WORDS.items():
            self.flag_reason.addItem(words, reason)
        self.flag_finding = QLineEdit()
        self.flag_finding.setPlaceholderText("the ultrasound finding, e.g. Baker's cyst 32 mm")
        self.flag_button = QPushButton("Flag the last exam")
        flags = QGroupBox("Flag")
        flag_form = QFormLayout(flags)
        flag_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        flag_form.addRow("For", self.flag_reason)
        flag_form.addRow("Finding", self.flag_finding)
        flag_form.addRow(self.flag_button)

        self.cases = QListWidget()
        self.outcome_kind = QComboBox()
        for kind in OutcomeKind:
            self.outcome_kind.addItem(kind.value.upper() if len(kind.value) <= 3 else kind.value, kind)
        self.outcome_date = QDateEdit()
        self.outcome_date.setCalendarPopup(True)
        self.outcome_date.setDisplayFormat("yyyy-MM-dd")
        self.outcome_text = QLineEdit()
        self.outcome_text.setPlaceholderText("what MRI, surgery or the lab found")
        self.outcome_button = QPushButton("Add outcome")
        self.verdict = QComboBox()
        for c in Classification:
            self.verdict.addItem(c.value.replace("_", " "), c)
        self.classify_button = QPushButton("Classify")
        self.pack_button = QPushButton("Quarterly review pack…")
        self.review = QGroupBox("Quality review")  # a title cannot wrap: short, the whole in its tooltip
        self.review.setToolTip("This quarter's flagged cases: their outcomes, verdicts and the review pack")
        review_form = QFormLayout(self.review)
        review_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        review_form.addRow(self.cases)
        self.case_detail = QLabel("")  # the selected case in full (the list's lines are cut)
        self.case_detail.setWordWrap(True)
        review_form.addRow(self.case_detail)
        self.cases.currentItemChanged.connect(
            lambda item, _old: self.case_detail.setText(item.toolTip() if item is not None else "")
        )
        review_form.addRow("Outcome", self.outcome_kind)
        review_form.addRow("Date", self.outcome_date)
        review_form.addRow("Found", self.outcome_text)
        review_form.addRow(self.outcome_button)
        review_form.addRow("Verdict", self.verdict)
        review_form.addRow(self.classify_button)
        review_form.addRow(self.pack_button)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(sign_in)
        layout.addWidget(self.register_box)
        quality = QWidget()
        quality_layout = QVBoxLayout(quality)
        quality_layout.setContentsMargins(0, 4, 0, 0)  # the page's own frame is margin enough: it fits
        quality_layout.addWidget(flags)
        quality_layout.addWidget(self.review)
        quality_layout.addStretch(1)
        self.pages = QTabWidget()  # the logbook, and flags with the quality review
        self.pages.addTab(book, "Logbook")
        self.pages.addTab(quality, "Quality")
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.message)

        self.sign_in_button.clicked.connect(self.sign_in_with_pin)
        self.pin.returnPressed.connect(self.sign_in_with_pin)
        self.sign_out_button.clicked.connect(lambda: self.sign_in(None))
        self.register_button.clicked.connect(self.register_user)
        self.sign_off_button.clicked.connect(self.sign_off_selected)
        self.flag_button.clicked.connect(self.flag_last_exam)
        self.outcome_button.clicked.connect(self.add_outcome_to_selected)
        self.classify_button.clicked.connect(self.classify_selected)
        self.export_csv_button.clicked.connect(self._ask_export_csv)
        self.export_pdf_button.clicked.connect(self._ask_export_pdf)
        self.pack_button.clicked.connect(self._ask_pack)
        self.reload_users()
        self.refresh()

    def attach(self, window: ScannerWindow) -> None:
        self._window = window
        window.add_side_tab(self, "Programme")
        window.finishing.connect(self.worker.shutdown)

    # -- the user's verbs ------------------------------------------------------------------------

    def reload_users(self) -> None:
        self.users.clear()
        for u in list_users(self.db):
            self.users.addItem(f"{u.display_name} ({u.role.value})", u)

    def sign_in_with_pin(self) -> None:
        chosen: User | None = self.users.currentData()
        if chosen is None:
            return
        try:
            user = people_sign_in(self.db, chosen.username, self.pin.text())
        except NotAllowed as exc:
            # Whoever was signed in is signed out: the workstation is now someone else's.
            self.sign_in(None)
            self._say(str(exc), error=True)
            return
        finally:
            self.pin.clear()
        self.sign_in(user)
        self._say(f"Signed in: {user.display_name}")

    def sign_in(self, user: User | None) -> None:
        """`user` has proved who they are (their PIN); None signs out."""
        self.user = user
        self.refresh()
        self._on_sign_in(user)

    def register_user(self) -> None:
        """An administrator's (or, in a new database, the first administrator's) registration."""
        first = self.users.count() == 0
        if not first and (self.user is None or self.user.role != Role.ADMINISTRATOR):
            self._say("Only an administrator registers users", error=True)
            return
        role = Role.ADMINISTRATOR if first else self.new_role.currentData()
        username = self.new_username.text().strip()
        user = User(username, self.new_name.text().strip() or username, role)
        try:
            add_user(self.db, user, pin=self.new_pin.text())
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        for w in (self.new_username, self.new_name, self.new_pin):
            w.clear()
        self.reload_users()
        self._say(f"Registered {user.display_name} ({role.value})")
        self.refresh()

    def on_exam_ended(self, record: dict[str, object]) -> None:
        """The exam just ended: a logbook entry for its operator and trainee."""
        study = self._ended_study()
        if study is None:
            return
        known = [(u.username, u.display_name) for u in list_users(self.db)]
        facts = ExamFacts(
            study_uid=study.study_uid,
            performed_on=study.started_at.date(),
            region=self._region_of(study.protocol_id) if study.protocol_id else "any",
            operator=person_key(study.operator, known),
            trainee=person_key(study.trainee, known),
            supervisor=person_key(study.supervisor, known),
            protocol_id=study.protocol_id,
            findings=findings_text(record),
            practice=bool(record.get("practice")) or study.patient.practice_subject,
            workstation=self.workstation,
        )
        made = record_exam(self.db, facts)
        record_procedure(self.db, facts, record)  # a procedure's logbook entry and pain follow-ups
        self._recorded_text = f"Logbook: exam recorded for {', '.join(e.person for e in made)}"
        self._say(self._recorded_text)
        self.refresh()

    def on_exam_started(self) -> None:
        """Another exam began: the line saying the one before was recorded is not about this one."""
        if self._recorded_text and self.message.text() == self._recorded_text:
            self.message.setText("")
        self._recorded_text = ""

    def sign_off_selected(self) -> None:
        item = self.awaiting.currentItem()
        if item is None or self.user is None:
            self._say("Select an entry awaiting your sign-off", error=True)
            return
        try:
            sign_off(self.db, item.data(256), self.user)
        except NotAllowed as exc:
            self._say(str(exc), error=True)
            return
        self._say("Signed off")
        self.refresh()

    def flag_last_exam(self) -> None:
        study = self._ended_study()
        if study is None or self.user is None:
            self._say("Sign in and end an exam before flagging it", error=True)
            return
        known = [(u.username, u.display_name) for u in list_users(self.db)]
        reason = self.flag_reason.currentData()
        flag(self.db, study.study_uid, reason, self.user, operator=person_key(study.operator, known),
             finding=self.flag_finding.text().strip())  # fmt: skip
        self._say(f"Flagged for {FLAG_WORDS[reason]}")
        self.refresh()

    def add_outcome_to_selected(self) -> None:
        case = self._selected_case()
        if case is None or self.user is None:
            return
        try:
            kind, when = self.outcome_kind.currentData(), self.outcome_date.date().toPyDate()
            add_outcome(self.db, case.flag.study_uid, kind, when, self.outcome_text.text(), by=self.user)
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self.outcome_text.clear()
        self.refresh()

    def classify_selected(self) -> None:
        case = self._selected_case()
        if case is None or self.user is None:
            return
        try:
            classify(self.db, case.flag.id, self.verdict.currentData(), by=self.user)
        except NotAllowed as exc:
            self._say(str(exc), error=True)
            return
        self.refresh()

    def export_csv(self, path: Path) -> None:
        assert self.user is not None
        path.write_text(logbook_csv(entries(self.db, self.user.username)), encoding="utf-8")

    def export_pdf(self, path: Path) -> None:
        assert self.user is not None
        name, today = self.user.username, self._today()
        done = [progress(self.db, name, p, today) for p in self.pathways]
        path.write_bytes(logbook_pdf(name, entries(self.db, name), done, today))

    def build_pack(self, out_dir: Path) -> ReviewPack:
        assert self.user is not None
        start, end = quarter_of(self._today())
        return build_review_pack(self.db, self.store, start, end, out_dir, viewer=self.user)

    # -- showing -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        user = self.user
        signed_in = user is not None
        self.who.setText(
            f"Signed in: {user.display_name} ({user.role.value})" if user else "Nobody signed in"
        )
        first = self.users.count() == 0
        self.register_box.setVisible(first or (user is not None and user.role == Role.ADMINISTRATOR))
        # a title cannot wrap: short enough for the side panel, the whole in its tooltip
        self.register_box.setTitle("The first administrator" if first else "Register a user")
        self.register_box.setToolTip(
            "A new database: create its first administrator, who then registers everyone else"
            if first else "An administrator registers people here"
        )  # fmt: skip
        self.new_role.setEnabled(not first)
        self.sign_out_button.setVisible(signed_in)
        for w in (self.export_csv_button, self.export_pdf_button, self.flag_button):
            w.setEnabled(signed_in)
        self.sign_off_button.setEnabled(signed_in and user is not None and user.may_sign_off)
        self.sign_off_box.setVisible(user is not None and user.may_sign_off)
        if user is not None:
            self.users.setCurrentIndex(
                max(0, self.users.findText(f"{user.display_name} ({user.role.value})"))
            )
        reviewer = user is not None and user.role in (Role.REVIEWER, Role.ADMINISTRATOR)
        self.review.setVisible(reviewer)
        self.pages.setCurrentIndex(1 if reviewer else 0)  # a reviewer signs in to review
        # The lists go at once (never the last person's under the next one's name), come back read.
        self.logbook.clear()
        self.awaiting.clear()
        self.cases.clear()
        self.progress.setText("")
        if user is None:
            self.refreshed.emit()
            return
        today = self._today()
        start, end = quarter_of(today)
        pathways = list(self.pathways)

        def query() -> _Lists:
            return _Lists(
                entries(self.db, user.username),
                [progress(self.db, user.username, p, today) for p in pathways],
                awaiting_sign_off(self.db, user.username),
                cases(self.db, start, end) if reviewer else [],
            )

        self.worker.run(query, lambda lists: self._show(user, today, reviewer, lists), self._failed)

    def _show(self, user: User, today: date, reviewer: bool, lists: _Lists) -> None:
        if self.user != user:
            return  # signed out or in as another meanwhile: that refresh shows theirs
        for e in reversed(lists.logbook):
            item = QListWidgetItem(_entry_short(e))
            item.setToolTip(_entry_line(e))
            self.logbook.addItem(item)
        lines = []
        for p, done in zip(self.pathways, lists.progress, strict=True):
            parts = ", ".join(f"{r.done}/{r.requirement.count}" for r in done.requirements)
            lines.append(f"{p.title}: {parts}{' ✓' if done.complete else ''}")
        self.progress.setText("\n".join(lines))
        for e in lists.awaiting:
            item = QListWidgetItem(f"{e.person}: {_entry_line(e)}")
            item.setData(256, e.id)
            self.awaiting.addItem(item)
        if reviewer:
            for case in lists.cases:
                item = QListWidgetItem(_case_line(case))
                item.setToolTip(_case_line(case))
                item.setData(256, case)
                self.cases.addItem(item)
            self.outcome_date.setDate(QDate(today.year, today.month, today.day))
        self.refreshed.emit()

    def _failed(self, error: Exception) -> None:
        self._say(f"Programme lists not read from the database: {error}", error=True)
        self.refreshed.emit()

    def _selected_case(self) -> ReviewedCase | None:
        item = self.cases.currentItem()
        if item is None:
            self._say("Select a case first", error=True)
            return None
        case: ReviewedCase = item.data(256)
        return case

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #ff6b6b;" if error else "")
        if self._window is not None:
            self._window.show_message(text, error=error)

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Logbook as CSV", "logbook.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def _ask_export_pdf(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Logbook as PDF", "logbook.pdf", "PDF (*.pdf)")
        if path:
            self.export_pdf(Path(path))

    def _ask_pack(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the review pack")
        if folder:
            pack = self.build_pack(Path(folder))
            self._say(f"Review pack: {pack.cases} cases in {pack.html_path.parent}")


@dataclass(frozen=True)
class _Lists:
    """What the tab shows of the signed-in person, read on the worker thread."""

    logbook: list[LogbookEntry]
    progress: list[PathwayProgress]
    awaiting: list[LogbookEntry]
    cases: list[ReviewedCase]


def _entry_line(e: LogbookEntry) -> str:
    signed = f"signed off by {e.signed_off_by}" if e.signed_off else "not signed off"
    practice = " (practice)" if e.practice else ""
    what = f"{e.region}  {e.protocol_id}{practice}"
    return f"{e.performed_on.isoformat()}  {what} — {e.findings or '—'} — {signed}"


def _entry_short(e: LogbookEntry) -> str:
    """One narrow line: date, region, findings and a tick when signed off (the tooltip has it all)."""
    return f"{'✓' if e.signed_off else '○'} {e.performed_on.isoformat()} {e.region}: {e.findings or '—'}"


def _case_line(case: ReviewedCase) -> str:
    verdict = case.classification.value.replace("_", " ") if case.classification else "not yet classified"
    outcome = case.outcomes[-1].text if case.outcomes else "no outcome yet"
    return f"{FLAG_WORDS[case.flag.reason]}: {case.flag.finding or '—'} → {outcome} [{verdict}]"
