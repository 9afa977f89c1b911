"""The questions asked when the window closes with something unfinished (a clip recording, an exam).

One function asks: a QMessageBox with one button per choice, the last being "Cancel" (also Esc and
the window's close button). It is handed to the features that ask, so a test can hand a scripted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtWidgets import QMessageBox, QWidget

# (parent, title, question, choices) -> the choice taken; the last choice is the one that changes nothing
AskChoice = Callable[[QWidget | None, str, str, Sequence[str]], str]

CLIP_SAVE = "Stop and save the clip"
CLIP_DISCARD = "Discard the clip"
EXAM_END = "End the exam"
EXAM_KEEP_OPEN = "Keep it open (resume later)"
NEW_EXAM_END_FIRST = "End it, then start the new exam"
NEW_EXAM_REVIEW = "Review what is missing"
CANCEL = "Cancel"


def ask_choice(parent: QWidget | None, title: str, question: str, choices: Sequence[str]) -> str:
    """Ask with a message box; Esc or closing the box takes the last choice (Cancel)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(question)
    buttons = []
    for i, text in enumerate(choices):
        last = i == len(choices) - 1
        role = QMessageBox.ButtonRole.RejectRole if last else QMessageBox.ButtonRole.AcceptRole
        buttons.append(box.addButton(text, role))
    box.setDefaultButton(buttons[0])
    box.setEscapeButton(buttons[-1])
    box.exec()
    clicked = box.clickedButton()
    for text, button in zip(choices, buttons, strict=True):
        if button is clicked:
            return text
    return choices[-1]
