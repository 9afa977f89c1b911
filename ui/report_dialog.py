"""ReportDialog: the radiologist's impression and sign-off for an exam's report; ReportSigner: signs it
(the PDF is rendered) on a worker thread, so the window and the dialog stay responsive meanwhile."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from scanner_app.studies.model import FieldValueError, Study, StudyError, check_dicom_value
from scanner_app.studies.report import SignedReport, format_person_name
from ui.theme import ALARM, MUTED

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SigningOutcome:
    """A signing's end: the signed report, or why it was not signed."""

    signed: SignedReport | None
    error: str = ""


class ReportSigner(QObject):
    """Runs signing jobs (store the sign-off, render HTML and PDF, keep the documents) one at a time on
    a worker thread; `finished(SigningOutcome)` comes on the GUI thread."""

    finished = pyqtSignal(object)  # SigningOutcome, on the GUI thread
    _done = pyqtSignal(object)  # from the worker; queued to the GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="report")
        self.busy = False
        self._done.connect(self._finish)

    def submit(self, job: Callable[[], SignedReport]) -> None:
        self.busy = True

        def run() -> None:
            try:
                outcome = SigningOutcome(job())
            except (StudyError, OSError, ValueError) as exc:
                outcome = SigningOutcome(None, str(exc))
            self._done.emit(outcome)

        self._pool.submit(run)

    def fail(self, error: str) -> None:
        """A signing that could not start: its outcome at once, as a job's would come."""
        self.finished.emit(SigningOutcome(None, error))

    def shutdown(self) -> None:
        """Finish a signing under way (the report is kept), then join the thread."""
        self._pool.shutdown(wait=True)

    def _finish(self, outcome: SigningOutcome) -> None:
        self.busy = False
        self.finished.emit(outcome)


def person_name_from_text(text: str) -> str:
    """'Jones, Ann' (as people type it) or 'Jones^Ann' -> the DICOM person name 'Jones^Ann'."""
    text = text.strip()
    if "^" in text or "," not in text:
        return text
    family, given = (part.strip() for part in text.split(",", 1))
    return f"{family}^{given}" if given else family


class ReportDialog(QDialog):
    """Impression (free text) and who signs; accepted only with both, and a name DICOM can keep.

    With `sign`, "Sign and keep" hands (impression, signer) to it and the dialog waits, responsive,
    showing that it signs, until `signing_finished` says how it ended: accepted once signed, or the
    reason shown and the form editable again.
    """

    def __init__(
        self, study: Study, parent: QWidget | None = None, sign: Callable[[str, str], None] | None = None
    ) -> None:
        super().__init__(parent)
        self._sign = sign
        self.signing = False
        self.setWindowTitle("Sign the report")
        self.impression = ""
        self.signed_by = ""
        layout = QVBoxLayout(self)
        p = study.patient
        who = "Practice subject" if p.practice_subject else format_person_name(p.name) or p.patient_id
        about = QLabel(f"<b>{who}</b> · {p.patient_id} · study {study.study_id}")
        layout.addWidget(about)
        if study.ended_at is None:
            note = QLabel("The exam is still open: signing ends it first.")
            note.setStyleSheet(f"color: {MUTED};")
            layout.addWidget(note)
        form = QFormLayout()
        self.impression_edit = QPlainTextEdit()
        self.impression_edit.setPlaceholderText("Impression: what the exam shows, in your words")
        self.signer_edit = QLineEdit()
        self.signer_edit.setPlaceholderText("Family, Given")
        previous = study.sign_off
        if previous is not None:
            self.impression_edit.setPlainText(previous.impression)
        signer = previous.signed_by if previous is not None else (study.supervisor or study.operator)
        self.signer_edit.setText(format_person_name(signer) if "=" not in signer else signer)
        form.addRow("Impression", self.impression_edit)
        form.addRow("Signed by", self.signer_edit)
        layout.addLayout(form)
        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {ALARM};")
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)
        self.progress_label = QLabel()
        self.progress_label.setStyleSheet(f"color: {MUTED};")
        layout.addWidget(self.progress_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons = buttons
        sign_button = buttons.addButton("Sign and keep", QDialogButtonBox.ButtonRole.AcceptRole)
        assert sign_button is not None
        self.sign_button = sign_button
        sign_button.setToolTip("Keep the signed report with the study and queue it for the PACS")
        buttons.accepted.connect(self.try_accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, 360)

    def try_accept(self) -> None:
        impression = self.impression_edit.toPlainText().strip()
        signer = person_name_from_text(self.signer_edit.text())
        if not impression:
            self.error_label.setText("Write the impression before signing.")
            return
        if not signer:
            self.error_label.setText("Give the name of the person signing.")
            return
        try:
            check_dicom_value("signed_by", "PN", signer)
        except FieldValueError as exc:
            self.error_label.setText(str(exc))
            return
        self.impression, self.signed_by = impression, signer
        if self._sign is None:
            self.accept()
            return
        self.error_label.setText("")
        self._set_signing(True)
        self._sign(impression, signer)

    def signing_finished(self, outcome: SigningOutcome) -> None:
        """The signing ended: close when signed, else say why and let the user try again."""
        if not self.signing:
            return
        self._set_signing(False)
        if outcome.signed is not None:
            self.accept()
        else:
            self.error_label.setText(f"Report not signed: {outcome.error}")

    def reject(self) -> None:
        if not self.signing:  # a signing under way finishes; the dialog closes with it
            super().reject()

    def _set_signing(self, signing: bool) -> None:
        self.signing = signing
        for widget in (self.impression_edit, self.signer_edit, self.buttons):
            widget.setEnabled(not signing)
        self.progress_label.setText("Signing: the report is being made and kept…" if signing else "")
