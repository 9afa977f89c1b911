"""Renders the checklist panel mid DVT study, at the area-of-symptoms step, to docs/checklist-dvt.png.

Run from the repository root: `QT_QPA_PLATFORM=offscreen python docs/screenshot_checklist.py [OUT.png]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

from protocols.model import CaptureSide
from protocols.runner import ChecklistRunner
from protocols.validation import LIBRARY_DIR, load_protocol
from ui.checklist_panel import ChecklistPanel


def dark_palette() -> QPalette:
    """A plain dark palette like the app's, so the screenshot shows the panel as it will be used."""
    p = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#0d1117",
        QPalette.ColorRole.WindowText: "#e6edf3",
        QPalette.ColorRole.Base: "#161b22",
        QPalette.ColorRole.AlternateBase: "#1f242c",
        QPalette.ColorRole.Text: "#e6edf3",
        QPalette.ColorRole.Button: "#21262d",
        QPalette.ColorRole.ButtonText: "#e6edf3",
        QPalette.ColorRole.Highlight: "#1f6feb",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#161b22",
        QPalette.ColorRole.ToolTipText: "#e6edf3",
        QPalette.ColorRole.PlaceholderText: "#8b949e",
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    return p


def dvt_in_progress() -> ChecklistRunner:
    """A left-leg DVT study with the venous steps done and the area of symptoms under way."""
    protocol = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml")
    t = [0.0]
    runner = ChecklistRunner(protocol, side="left", clock=lambda: t[0])
    runner.mark_area_of_pain("left calf, posteromedial", "left", 0.58, 0.78, note="swollen, tender")
    n = 0
    while runner.current_step.id != "area_of_symptoms":
        step = runner.current_step
        for req in step.captures:
            for _ in range(req.count):
                n += 1
                runner.record_capture(
                    kind=req.kind.value,
                    plane=req.plane.value,
                    capture_id=f"img-{n}",
                    mode=req.mode.value,
                    contralateral=req.side is CaptureSide.CONTRALATERAL,
                )
        if step.findings:
            runner.choose_finding("normal")
        t[0] += 90.0
        runner.next()
    runner.choose_finding("ruptured_baker_cyst")
    runner.record_capture(kind="still", plane="transverse", capture_id="img-area-1")
    return runner


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "checklist-dvt.png"
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    panel = ChecklistPanel(dvt_in_progress())
    panel.resize(1180, 1280)
    panel.show()
    app.processEvents()
    panel.grab().save(str(out))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
