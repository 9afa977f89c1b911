"""The "Follow-ups" side tab: patient-reported pain scores due after guided procedures, entered when the
patient answers, and the quarter's procedure outcomes per protocol.

Who is signed in comes from the Programme tab (`user`); an operator sees the follow-ups of their own
procedures, a reviewer or administrator everyone's (as the quality review shows statistics). The
lists are read on a worker thread (`refreshed` when they are shown), so a slow shared database never
stalls the window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QShowEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.people import User
from scanner_app.programme.procedures import FollowUpDue, enter_pain_score, follow_ups_due
from scanner_app.programme.quality import ProcedureOutcomeSummary, procedure_outcome_summary
from scanner_app.programme.review_pack import quarter_of
from ui.db_worker import DbWorker
from ui.window_api import ScannerWindow

ITEM_DATA = 256  # Qt.ItemDataRole.UserRole


def _mean(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


class FollowUpPanel(QWidget):
    """Pain follow-ups due (as of today) and the procedure outcomes of the quarter."""

    refreshed = pyqtSignal()  # the lists shown are the database's as of the last refresh

    def __init__(
        self,
        db: ProgrammeDatabase,
        user: Callable[[], User | None],
        *,
        today: Callable[[], date] = date.today,
    ) -> None:
        super().__init__()
        self.db, self._user, self._today = db, user, today
        self._window: ScannerWindow | None = None
        self.worker = DbWorker("follow-ups", self)
        self.due = QListWidget()
        self.due.setWordWrap(True)  # a long follow-up wraps within the tab rather than scrolling sideways
        self.due.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.score = QComboBox()
        for score in range(11):
            self.score.addItem(str(score), score)
        self.enter_button = QPushButton("Enter pain score")
        self.enter_button.setToolTip("Record the pain score for the selected follow-up")
        self.refresh_button = QPushButton("Refresh")
        row = QHBoxLayout()
        row.addWidget(QLabel("Pain (0–10)"))
        row.addWidget(self.score, 1)
        due_box = QGroupBox("Pain follow-ups due")
        due_layout = QVBoxLayout(due_box)
        due_layout.addWidget(self.due)
        due_layout.addLayout(row)
        due_layout.addWidget(self.enter_button)  # under the score: the row fits the side panel's width
        self.outcomes = QLabel("")
        self.outcomes.setWordWrap(True)
        outcome_box = QGroupBox("Outcomes this quarter")  # a title cannot wrap: short, whole in its tooltip
        outcome_box.setToolTip("Procedure outcomes of this quarter, per protocol")
        QVBoxLayout(outcome_box).addWidget(self.outcomes)
        layout = QVBoxLayout(self)
        layout.addWidget(due_box)
        layout.addWidget(outcome_box)
        layout.addWidget(self.refresh_button)
        layout.addStretch(1)
        self.enter_button.clicked.connect(self.enter_selected)
        self.refresh_button.clicked.connect(self.refresh)

    def attach(self, window: ScannerWindow) -> None:
        self._window = window
        window.add_side_tab(self, "Follow-ups")
        window.finishing.connect(self.worker.shutdown)

    def showEvent(self, event: QShowEvent | None) -> None:
        self.refresh()  # whoever signed in on the Programme tab since
        super().showEvent(event)

    def refresh(self) -> None:
        """Read the signed-in person's follow-ups and outcomes on the worker; shown when they come."""
        user = self._user()
        if user is None:
            self.due.clear()
            self.outcomes.setText("Sign in on the Programme tab to see follow-ups and outcomes.")
            self.enter_button.setEnabled(False)
            self.refreshed.emit()
            return
        today = self._today()
        mine = None if user.sees_everyones_qa else user.username
        start, end = quarter_of(today)

        def query() -> tuple[list[FollowUpDue], list[ProcedureOutcomeSummary]]:
            return (
                follow_ups_due(self.db, today, operator=mine),
                procedure_outcome_summary(self.db, start, end, user),
            )

        self.worker.run(query, lambda lists: self._show(user, today, *lists), self._failed)

    def _show(
        self, user: User, today: date, dues: list[FollowUpDue], summaries: list[ProcedureOutcomeSummary]
    ) -> None:
        if self._user() != user:
            return  # signed out or in as another meanwhile: that refresh shows theirs
        self.due.clear()
        self.enter_button.setEnabled(True)
        for due in dues:
            overdue = (today - due.due_on).days
            late = f", {overdue} days overdue" if overdue > 0 else ""
            text = (
                f"{due.weeks} weeks after {due.protocol_id.replace('_', ' ')} on {due.performed_on} "
                f"({due.operator}{late}) · study …{due.study_uid[-8:]}"
            )
            item = QListWidgetItem(text)
            item.setData(ITEM_DATA, due)
            self.due.addItem(item)
        lines = []
        for s in summaries:
            weeks = ", ".join(
                f"{w} wk {_mean(m)} (n={s.answered_at_weeks[w]})" for w, m in s.mean_pain_at_weeks.items()
            )
            lines.append(
                f"{s.protocol_id.replace('_', ' ')}: {s.procedures} done, {s.with_complications} with "
                f"complications; pain {_mean(s.mean_pain_before)} before → {_mean(s.mean_pain_after)} "
                f"after{'; ' + weeks if weeks else ''}"
            )
        self.outcomes.setText("\n".join(lines) or "No procedures this quarter.")
        self.refreshed.emit()

    def _failed(self, error: Exception) -> None:
        self.outcomes.setText(f"Follow-ups not read from the programme database: {error}")
        self.refreshed.emit()

    def enter_selected(self) -> None:
        user = self._user()
        item = self.due.currentItem()
        if user is None or item is None:
            self._say("Select a follow-up (signed in) first", error=True)
            return
        due: FollowUpDue = item.data(ITEM_DATA)
        score = int(self.score.currentData())
        enter_pain_score(self.db, due.study_uid, due.weeks, score, by=user, on=self._today())
        self._say(f"Pain {score}/10 at {due.weeks} weeks recorded")
        self.refresh()

    def _say(self, text: str, error: bool = False) -> None:
        if self._window is not None:
            self._window.show_message(text, error)
