"""ReportDialog: the radiologist's impression and sign-off for an exam's report."""

from __future__ import annotations

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

from scanner_app.studies.model import FieldValueError, Study, check_dicom_value
from scanner_app.studies.report import format_person_name
from ui.theme import ALARM, MUTED


def person_name_from_text(text: str) -> str:
    """'Jones, Ann' (as people type it) or 'Jones^Ann' -> the DICOM person name 'Jones^Ann'."""
    text = text.strip()
    if "^" in text or "," not in text:
        return text
    family, given = (part.strip() for part in text.split(",", 1))
    return f"{family}^{given}" if given else family


class ReportDialog(QDialog):
    """Impression (free text) and who signs; accepted only with both, and a name DICOM can keep."""

    def __init__(self, study: Study, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
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
        self.accept()
