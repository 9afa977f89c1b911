"""HelpOverlay: the keyboard shortcuts, drawn over the window from the same table that binds them."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QGridLayout, QLabel, QWidget

from ui.theme import ACCENT

MAX_ROWS = 17
COLUMN_WIDTH_PX = 330  # a key and what it does, at the panel's font size


class HelpOverlay(QWidget):
    """A translucent panel listing (keys, what they do); F1 or ? shows and hides it, Esc closes it."""

    def __init__(self, entries: Sequence[tuple[str, str]], parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            f"HelpOverlay {{ background: rgba(8,10,12,235); border: 2px solid {ACCENT};"
            " border-radius: 12px; }"
            " QLabel { background: transparent; font-size: 14px; }"
        )
        grid = QGridLayout(self)
        grid.setContentsMargins(28, 20, 28, 20)
        grid.setHorizontalSpacing(24)
        title = QLabel("Keyboard shortcuts")
        title.setStyleSheet("font-size: 22px; font-weight: 700;")
        grid.addWidget(title, 0, 0, 1, 4)
        # Every action is listed (the scanner's, the exam's, the simulator's), in as many columns as
        # the window is wide enough for, and as long as need be: the panel never widens the window.
        columns = max(1, min(-(-len(entries) // MAX_ROWS), parent.width() // COLUMN_WIDTH_PX))
        rows = max(1, -(-len(entries) // columns))
        self.key_labels: list[QLabel] = []
        self.text_labels: list[QLabel] = []
        for i, (keys, text) in enumerate(entries):
            col, row = 2 * (i // rows), 1 + i % rows
            k = QLabel(keys)
            k.setStyleSheet(f"color: {ACCENT}; font-weight: 700; font-family: monospace; font-size: 14px;")
            grid.addWidget(k, row, col, Qt.AlignmentFlag.AlignTop)
            # A text longer than its column wraps onto a second line rather than being cut off.
            t = QLabel(text)
            t.setWordWrap(True)
            grid.addWidget(t, row, col + 1, Qt.AlignmentFlag.AlignTop)
            self.key_labels.append(k)
            self.text_labels.append(t)
        for c in range(columns):  # the texts share the width left beside the keys
            grid.setColumnStretch(2 * c + 1, 1)
        close = QLabel("F1, ? or Esc closes this")
        close.setStyleSheet("color: #9aa0a6; font-size: 13px;")
        grid.addWidget(close, rows + 1, 0, 1, 2 * columns)
        self.hide()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.place()
            self.show()
            self.raise_()

    def place(self) -> None:
        parent = self.parentWidget()
        assert parent is not None
        self.adjustSize()
        # Inside the window whatever its size: as wide as the window allows, the texts wrapping to
        # that width; a panel still taller than the window is cut, never the window grown.
        width = min(self.width(), parent.width())
        layout = self.layout()
        height = layout.heightForWidth(width) if layout is not None and layout.hasHeightForWidth() else -1
        self.resize(width, min(height if height > 0 else self.height(), parent.height()))
        self.move((parent.width() - self.width()) // 2, max(0, (parent.height() - self.height()) // 2))
