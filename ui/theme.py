"""The scanner's dark theme: black image surround, grey panels, large readable controls."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QFont, QPalette
from PyQt6.QtWidgets import QApplication

ACCENT = "#3fa9f5"
WARN = "#f5a623"
ALARM = "#e5484d"
OK = "#46c46c"
TEXT = "#e6e6e6"
MUTED = "#9aa0a6"

STYLESHEET = f"""
QWidget {{ background: #16181b; color: {TEXT}; font-size: 15px; }}
QMainWindow, QStatusBar {{ background: #0e0f11; }}
QToolBar {{ background: #0e0f11; border: none; spacing: 4px; padding: 2px; }}
QToolButton {{ background: #24272c; border: 1px solid #33373d; border-radius: 6px; padding: 3px 9px;
    min-height: 24px; font-size: 14px; }}
QToolButton:hover {{ background: #2d3137; }}
QToolButton:checked {{ background: {ACCENT}; color: #0b0c0d; border-color: {ACCENT}; }}
QPushButton {{ background: #24272c; border: 1px solid #33373d; border-radius: 6px; padding: 6px 10px;
    min-height: 32px; }}
QPushButton:checked {{ background: {ACCENT}; color: #0b0c0d; }}
QPushButton:hover {{ background: #2d3137; }}
QTabWidget::pane {{ border: 1px solid #2a2d32; top: -1px; }}
QTabBar::tab {{ background: #1d2024; padding: 8px 8px; min-width: 50px; border: 1px solid #2a2d32;
    border-bottom: none; }}
QTabBar::tab:selected {{ background: #2a2e34; color: white; }}
QTabBar::tab:east {{ padding: 10px 3px; min-width: 0px; min-height: 40px; border: 1px solid #2a2d32;
    border-left: none; font-size: 14px; }}
QTabBar::tab:east:selected {{ border-right: 3px solid {ACCENT}; }}
QComboBox {{ background: #24272c; border: 1px solid #33373d; border-radius: 6px; padding: 4px 8px;
    min-height: 30px; }}
QListWidget {{ background: #0e0f11; border: 1px solid #2a2d32; }}
QSlider::groove:horizontal {{ height: 8px; background: #2f3338; border-radius: 4px; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 22px; margin: -8px 0; border-radius: 11px; }}
QSlider::groove:vertical {{ width: 8px; background: #2f3338; border-radius: 4px; }}
QSlider::handle:vertical {{ background: {ACCENT}; height: 22px; margin: 0 -8px; border-radius: 11px; }}
QLabel#value {{ font-size: 22px; font-weight: 600; color: white; }}
QLabel#title {{ color: {MUTED}; font-size: 13px; text-transform: uppercase; }}
QLabel#hint {{ color: {WARN}; font-size: 12px; }}
QLineEdit {{ background: #24272c; border: 1px solid {ACCENT}; padding: 4px; font-size: 16px; }}
QCheckBox {{ spacing: 8px; }}
QCheckBox::indicator {{ width: 16px; height: 16px; border: 2px solid {MUTED}; border-radius: 3px;
    background: #0e0f11; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: #4a4f56; }}
QLineEdit:disabled, QComboBox:disabled, QPushButton:disabled {{ background: #1b1d20; border-color: #2a2d32;
    color: #5f646b; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Install the palette and stylesheet on the application."""
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor("#16181b"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Base, QColor("#0e0f11"))
    palette.setColor(QPalette.ColorRole.Text, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Button, QColor("#24272c"))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSize(11)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
