"""The Teaching tab: file cases flagged for teaching into the de-identified library with their tags,
search the library, plan a lecture-then-scan session from the chosen cases and the practice views of
the same anatomy, write its slides and log who came.

The rules (who may file or plan, what is copied) are in `scanner_app.programme.teaching`; this tab
only offers them to whoever is signed in on the Programme tab. Its lists (flags to file, search
results, who came) are read on a worker thread and shown when they come (`refreshed`, `searched`,
`session_shown`), so a slow shared database never stalls the window. Attached through the window's
extension points only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from PyQt6.QtCore import pyqtBoundSignal, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.people import NotAllowed, User
from scanner_app.programme.quality import FlagReason, ReviewedCase, cases
from scanner_app.programme.teaching import (
    PracticeStep,
    TeachingCase,
    TeachingSession,
    TeachingTags,
    add_teaching_case,
    attendance,
    build_session_slides,
    is_filed,
    log_attendance,
    plan_session,
    search_cases,
)
from scanner_app.studies import StudyStore
from scanner_app.studies.model import StudyError
from ui.db_worker import DbWorker
from ui.window_api import ScannerWindow

ROLE_DATA = 256  # Qt.ItemDataRole.UserRole
FLAGS_SINCE = date(2000, 1, 1)


class TeachingPanel(QWidget):
    """The Teaching tab (see the module docstring)."""

    refreshed = pyqtSignal()  # the flags to file, the search results and the session shown anew
    searched = pyqtSignal()  # the library's search results shown
    session_shown = pyqtSignal()  # the planned session and who came shown

    def __init__(
        self,
        db: ProgrammeDatabase,
        store: StudyStore,
        library_dir: Path,
        *,
        user: Callable[[], User | None],
        practice_steps_for: Callable[[str], list[PracticeStep]],
        today: Callable[[], date] = date.today,
    ) -> None:
        super().__init__()
        self.db, self.store, self.library_dir = db, store, library_dir
        self._user, self._steps_for, self._today = user, practice_steps_for, today
        self.session: TeachingSession | None = None
        self.worker = DbWorker("teaching", self)

        self.to_file = QListWidget()
        self.title = QLineEdit()
        self.region = QLineEdit()
        self.structure = QLineEdit()
        self.pathology = QLineEdit()
        self.correlation = QLineEdit()
        self.correlation.setPlaceholderText("from the outcomes when empty")
        self.file_button = QPushButton("Copy into the library")
        self.file_button.clicked.connect(self.file_selected)
        filing = QGroupBox("Flagged for teaching")
        form = QFormLayout(filing)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a field under its label when narrow
        form.addRow(self.to_file)
        for label, field in (
            ("Title", self.title),
            ("Region", self.region),
            ("Structure", self.structure),
            ("Pathology", self.pathology),
            ("Correlation", self.correlation),
        ):
            form.addRow(label, field)
        form.addRow(self.file_button)

        self.search_text = QLineEdit()
        self.search_text.setPlaceholderText("search: words in title, tags, finding, outcome")
        self.search_text.returnPressed.connect(self.search)
        self.search_region = QLineEdit()
        self.search_region.setPlaceholderText("region")
        self.search_region.returnPressed.connect(self.search)
        search_button = QPushButton("Search")
        search_button.clicked.connect(self.search)
        self.results = QListWidget()
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        library = QGroupBox("Library")
        library_layout = QVBoxLayout(library)
        library_layout.addWidget(self.search_text)  # the words on a row of their own: the tab stays narrow
        row = QHBoxLayout()
        row.addWidget(self.search_region, 1)
        row.addWidget(search_button)
        library_layout.addLayout(row)
        library_layout.addWidget(self.results)

        self.session_title = QLineEdit()
        self.session_title.setPlaceholderText("e.g. Anterior knee: effusion")
        self.plan_button = QPushButton("Plan the lecture")
        self.plan_button.setToolTip("Plan a lecture-then-scan session with the cases selected in the library")
        self.plan_button.clicked.connect(self.plan)
        self.slides_button = QPushButton("Write slides")
        self.slides_button.clicked.connect(self.write_slides)
        self.attend_button = QPushButton("I attended")
        self.attend_button.clicked.connect(self.attend)
        self.session_info = QLabel("")
        self.session_info.setWordWrap(True)
        sessions = QGroupBox("Lecture, then scan")
        session_layout = QVBoxLayout(sessions)
        session_layout.addWidget(self.session_title)
        session_layout.addWidget(self.plan_button)  # on its own row, the other two beside (short: tooltip)
        buttons = QHBoxLayout()
        for b in (self.slides_button, self.attend_button):
            buttons.addWidget(b)
        session_layout.addLayout(buttons)
        session_layout.addWidget(self.session_info)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        for w in (filing, library, sessions, self.message):
            layout.addWidget(w)
        layout.addStretch(1)
        self.refresh()

    def attach(self, window: ScannerWindow) -> None:
        window.add_side_tab(self, "Teaching")
        window.finishing.connect(self.worker.shutdown)

    def refresh(self) -> None:
        """The teaching flags not filed yet, the library search and who came, read again (on the worker)."""
        tomorrow = self._today() + timedelta(days=1)
        search = self._search_query()
        session = self.session

        def query() -> tuple[list[ReviewedCase], list[TeachingCase], list[str]]:
            flagged = cases(self.db, FLAGS_SINCE, tomorrow, FlagReason.TEACHING)
            waiting = [case for case in flagged if not is_filed(self.db, case.flag.study_uid)]
            came = attendance(self.db, session.id) if session is not None else []
            return waiting, search(), came

        def show(lists: tuple[list[ReviewedCase], list[TeachingCase], list[str]]) -> None:
            waiting, found, came = lists
            self.to_file.clear()
            for case in waiting:
                flag_line = f"{case.flag.flagged_at:%Y-%m-%d}  {case.flag.finding or '(no finding)'}"
                item = QListWidgetItem(flag_line)
                item.setData(ROLE_DATA, case)
                self.to_file.addItem(item)
            self._show_results(found)
            self._show_attendance(session, came)
            self.refreshed.emit()

        self.worker.run(query, show, lambda error: self._failed(error, self.refreshed))

    def _failed(self, error: Exception, done: pyqtBoundSignal) -> None:
        self.message.setText(f"Not read from the programme database: {error}")
        done.emit()

    def file_selected(self) -> None:
        item = self.to_file.currentItem()
        user = self._user()
        if item is None or user is None:
            self.message.setText("Sign in on the Programme tab and choose a flagged case.")
            return
        case: ReviewedCase = item.data(ROLE_DATA)
        tags = TeachingTags(
            self.region.text().strip(),
            self.structure.text().strip(),
            self.pathology.text().strip(),
            self.correlation.text().strip(),
        )
        if not tags.region:
            self.message.setText("A teaching case needs its region.")
            return
        title = self.title.text().strip() or case.flag.finding or "Teaching case"
        try:
            filed = add_teaching_case(self.db, self.store, case.flag.study_uid, self.library_dir, tags,
                                      title=title, by=user)  # fmt: skip
        except (ValueError, NotAllowed, StudyError) as exc:
            self.message.setText(str(exc))
            return
        self.message.setText(f"Filed “{filed.title}” as {filed.pseudonym} (de-identified).")
        self.refresh()

    def search(self) -> None:
        """Search the library for the words and region typed (on the worker)."""

        def show(found: list[TeachingCase]) -> None:
            self._show_results(found)
            self.searched.emit()

        self.worker.run(self._search_query(), show, lambda error: self._failed(error, self.searched))

    def _search_query(self) -> Callable[[], list[TeachingCase]]:
        words, region = self.search_text.text(), self.search_region.text().strip()
        return lambda: search_cases(self.db, words, region=region)

    def _show_results(self, found: list[TeachingCase]) -> None:
        self.results.clear()
        for case in found:
            item = QListWidgetItem(_case_line(case))
            item.setToolTip(f"{case.finding}\n{case.outcome}")
            item.setData(ROLE_DATA, case)
            self.results.addItem(item)

    def plan(self) -> None:
        user = self._user()
        chosen: list[TeachingCase] = [i.data(ROLE_DATA) for i in self.results.selectedItems()]
        if user is None or not chosen:
            self.message.setText("Sign in on the Programme tab and select the cases for the lecture.")
            return
        region = chosen[0].tags.region
        title = self.session_title.text().strip() or f"{region}: {len(chosen)} cases"
        try:
            self.session = plan_session(self.db, title, region=region, held_on=self._today(), cases=chosen,
                                        practice_steps=self._steps_for(region), by=user)  # fmt: skip
        except (ValueError, NotAllowed) as exc:
            self.message.setText(str(exc))
            return
        self._show_session()

    def write_slides(self) -> None:
        if self.session is None:
            return
        folder = self.library_dir / "sessions" / f"session-{self.session.id:04d}"
        try:
            page = build_session_slides(self.db, self.session, folder)
        except OSError as exc:
            self.message.setText(f"Slides not written: {exc}")
            return
        self.message.setText(f"Slides: {page} (open in a browser; arrow keys move)")

    def attend(self) -> None:
        user = self._user()
        if self.session is None or user is None:
            return
        log_attendance(self.db, self.session.id, user.username)
        self._show_session()

    def _show_session(self) -> None:
        """The planned session and who came (read on the worker)."""
        s = self.session
        if s is None:
            self._show_attendance(None, [])
            self.session_shown.emit()
            return

        def show(came: list[str]) -> None:
            self._show_attendance(s, came)
            self.session_shown.emit()

        self.worker.run(
            lambda: attendance(self.db, s.id), show, lambda error: self._failed(error, self.session_shown)
        )

    def _show_attendance(self, s: TeachingSession | None, attended: list[str]) -> None:
        if s is not self.session:
            return  # another session was planned meanwhile: its own reading shows it
        for b in (self.slides_button, self.attend_button):
            b.setEnabled(s is not None)
        if s is None:
            self.session_info.setText("")
            return
        views = ", ".join(p.view for p in s.practice_steps) or "none for this region"
        came = ", ".join(attended) or "nobody yet"
        self.session_info.setText(
            f"{s.title} ({s.held_on.isoformat()}): {len(s.case_ids)} cases, then scan: {views}."
            f"\nAttended: {came}"
        )


def _case_line(case: TeachingCase) -> str:
    tags = " · ".join(
        t for t in (case.tags.region, case.tags.structure, case.tags.pathology, case.tags.correlation) if t
    )
    return f"{case.title}  [{tags}]"
