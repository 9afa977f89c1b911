"""Every side tab of the scanner window at 1280 x 800 (the default side-panel width), with whether each
page needs a horizontal scroll bar, to check that no tab is clipped or scrolls sideways.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1280x800x24" python docs/screenshot_side_tabs.py [OUT_DIR]
Writes OUT_DIR/side-NN-<tab>.png (a temporary folder without OUT_DIR) and prints one line a tab. The
window is wired as main.py wires it on the simulated probe; its study store, programme database and
preferences go to a temporary folder, never the user's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QScrollArea, QTabWidget
from shot_support import make_app, sim_window, temp_folder, wait_until

from drivers.sim.control import SimulatorControl
from drivers.sim.patient import PatientRenderer
from drivers.sim.scenes import named_views
from main import _add_doppler, _add_exam_workflow, _add_practice, _add_programme, _add_teaching
from protocols.validation import load_library
from scanner_app.studies import StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from ui.exam_dock import ExamController
from ui.needle_panel import NeedleTab
from ui.procedure_panel import ProcedurePanel
from ui.sim_panel import SimulatorTab


def main() -> int:
    _app = make_app()  # kept until the window is closed
    tmp = temp_folder()
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else tmp / "shots"
    out.mkdir(parents=True, exist_ok=True)
    renderer = PatientRenderer("knee", "effusion")
    store = StudyStore(tmp / "studies")
    protocols = load_library(views=named_views())[0]
    exams = ExamController(store, protocols)
    window, engine = sim_window(renderer, tmp, StudyCaptureSink(store, exams.current_study), (1280, 800))
    simulator = SimulatorTab(window, SimulatorControl(renderer))
    ProcedurePanel().attach(window)
    _needle = NeedleTab(window, simulator)
    _add_doppler(window, engine)
    _add_exam_workflow(window, store, exams, simulator, window.prefs)
    programme = _add_programme(window, store, exams, {p.id: p.region for p in protocols}, None)
    assert programme is not None
    _add_practice(window, simulator, programme, protocols)
    _add_teaching(window, store, programme, protocols)
    window.show()
    engine.start()
    needing = 0
    try:
        wait_until(lambda: window.view.draws > 5)
        window.tabs.set_collapsed(False)  # the exam's dock folds it at 1280 px; a click on a tab opens it
        wait_until(lambda: window.tabs.width() > window.tabs.rail_width())
        print(f"window {window.width()} x {window.height()}, side panel {window.tabs.width()} px")
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            QTest.qWait(200)
            area = QTabWidget.widget(window.tabs, index)
            assert isinstance(area, QScrollArea)
            sideways = area.horizontalScrollBar().maximum()
            needing += sideways > 0
            title = window.tabs.tabText(index)
            path = out / f"side-{index:02d}-{title.lower().replace(' ', '-')}.png"
            window.grab().save(str(path))
            print(f"{title:12s} sideways scroll {sideways:3d} px  {path}")
    finally:
        window.close()  # stops the engine and ends the programme's work, as the app's window does
        store.close()
        window.deleteLater()  # the widgets go before the application does
        QTest.qWait(100)
    return 1 if needing else 0


if __name__ == "__main__":
    sys.exit(main())
