"""The PACS tab at 1280 x 800 with a send queue that waits for a PACS that is down: the queue's
columns fit the side panel (the reason elided, its whole text in a tooltip), and nothing on the tab
needs a sideways scroll bar (a newcomer's queue was cut after "Image, To, St…" and the tab scrolled);
the study line counts what it says it counts, before and after the report is signed."""

from __future__ import annotations

from PyQt6.QtWidgets import QScrollArea, QTabWidget
from pytestqt.qtbot import QtBot

from drivers.sim.scenes import named_views
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient
from tests.full_window_support import FullWindow, themed_full_window
from tests.pacs_scp import TestScp
from tests.studies_support import make_frame
from tests.test_side_tabs_fit import _open_side_panel, _sideways_px
from ui.exam_dialog import ExamRequest
from ui.pacs_panel import REASON_COLUMN, STATUS_COLUMN, PacsPanel
from ui.side_panel import EXPANDED_MIN_WIDTH_PX

full = themed_full_window  # the fixture, shared
TIMEOUT_MS = 20_000


def _pacs_panel(full: FullWindow) -> PacsPanel:
    panels = full.window.findChildren(PacsPanel)
    assert len(panels) == 1
    return panels[0]


def _add_refusing_destination(panel: PacsPanel) -> None:
    """Add the destination "TestPACS" through the tab's form, at a port nothing listens on."""
    scp = TestScp()  # never started: its port refuses connections
    panel.name_edit.setText("TestPACS")
    panel.host_edit.setText("127.0.0.1")
    panel.port_spin.setValue(scp.port)
    panel.called_edit.setText("NOPACS")
    assert panel.save_destination()


def _queue_waiting_for_a_pacs_that_is_down(qtbot: QtBot, full: FullWindow, panel: PacsPanel) -> list[str]:
    store = full.store
    study = store.start_study(Patient("NC6-001", "Testperson^Anna"), "Op^One")
    for i in range(3):
        store.save_still(study, make_frame(i))
    store.save_clip(study, [make_frame(10 + i) for i in range(3)])
    uids = [c.sop_instance_uid for c in store.list_captures(study.study_uid)]
    _add_refusing_destination(panel)
    panel.refresh_studies()
    panel.study_combo.setCurrentIndex(panel.study_combo.findData(study.study_uid))
    assert panel.send_selected_study() == len(uids)
    qtbot.waitUntil(
        lambda: all("connection refused" in panel.reason_of(u, "TestPACS") for u in uids), timeout=TIMEOUT_MS
    )
    return uids


def _queue_overflow_px(panel: PacsPanel) -> int:
    """How far the queue's shown columns reach past its visible width (0: they fit)."""
    tree = panel.status_tree
    header = tree.header()
    assert header is not None
    shown = [c for c in range(tree.columnCount()) if not tree.isColumnHidden(c)]
    right = max(header.sectionViewportPosition(c) + header.sectionSize(c) for c in shown)
    return max(0, right - tree.viewport().width(), tree.horizontalScrollBar().maximum())


def _tree_right_edge_in_page(panel: PacsPanel, area: QScrollArea) -> int:
    viewport = area.viewport()
    assert viewport is not None
    tree = panel.status_tree
    return tree.mapTo(viewport, tree.rect().topRight()).x()


def test_the_pacs_tab_and_its_send_queue_fit_the_side_panel_at_1280_by_800(
    qtbot: QtBot, full: FullWindow
) -> None:
    window = full.window
    panel = _pacs_panel(full)
    uids = _queue_waiting_for_a_pacs_that_is_down(qtbot, full, panel)
    _open_side_panel(qtbot, window)
    pacs = window.side_tab_titles().index("PACS")
    area = QTabWidget.widget(window.tabs, pacs)
    assert isinstance(area, QScrollArea)
    for width in (window.tabs.width(), EXPANDED_MIN_WIDTH_PX):  # the default, then the narrowest
        window.splitter.setSizes([sum(window.splitter.sizes()) - width, width])
        qtbot.waitUntil(lambda width=width: window.tabs.width() == width, timeout=3000)
        assert _sideways_px(qtbot, window, pacs) == 0, f"side panel {width} px wide"
        qtbot.waitUntil(lambda: _queue_overflow_px(panel) == 0, timeout=3000)
        assert _tree_right_edge_in_page(panel, area) < area.viewport().width()
        header = panel.status_tree.header()
        assert (
            header is not None
            and header.sectionSize(REASON_COLUMN) > 0.25 * panel.status_tree.viewport().width()
        )
    # ...and the last row with a reason (or the one chosen) is under the queue in words, wrapped.
    assert "connection refused (is the PACS running" in panel.row_label.text().replace("\u200b", "")
    assert _tree_right_edge_in_page(panel, area) < area.viewport().width()
    for uid in uids:  # what an elided cell cuts is in its tooltip
        item = panel._rows[(uid, "TestPACS")]
        assert "connection refused" in item.toolTip(REASON_COLUMN)
        assert item.toolTip(STATUS_COLUMN) == panel.status_of(uid, "TestPACS")


def test_the_study_line_counts_the_signed_reports_documents_once_signed(
    qtbot: QtBot, full: FullWindow
) -> None:
    """A newcomer's study line read 'Study: 0 of 7' after the report was signed, and 'of 9' only once
    the report's two documents reached the queue: it counts the study's every instance (images and
    the report's PDF and structured report) as soon as they are kept, and names both kinds."""
    panel = _pacs_panel(full)
    exams = full.exams
    exams.start_exam(ExamRequest(
        patient=Patient("NC6-002", "Testperson^Anna", "19700203", "F"), operator="Op^One", trainee="",
        supervisor="", quadrant=None, side="left", practice=False,
        protocol=load_protocol(LIBRARY_DIR / "dvt_two_point.yaml", views=named_views()),
    ))  # fmt: skip
    session = exams.session
    assert session is not None
    for i in range(2):
        full.store.save_still(session.study, make_frame(i))
    exams.end_exam()
    uid = session.study.study_uid
    _add_refusing_destination(panel)  # nothing is committed
    panel.refresh_studies()
    assert panel.study_combo.currentData() == uid
    assert panel.send_selected_study() == 2
    assert panel.commitment_label.text() == "Study: 0 of 2 image(s) committed"
    with qtbot.waitSignal(exams.signer.finished, timeout=20_000):
        exams.sign_report("No deep vein thrombosis.", "Jones^Ann")
    assert exams.last_signed is not None
    documents = full.store.get_study(uid).documents
    assert len(documents) == 2  # the PDF and the structured report
    said = "Study: 0 of 4 committed (2 image(s) and 2 report document(s))"
    assert panel.commitment_label.text() == said  # at once: not when they reach the queue
    # In the queue the report's documents are named as such, not by the end of their UIDs.
    qtbot.waitUntil(
        lambda: all(panel.name_of(d.sop_instance_uid, "TestPACS") for d in documents), timeout=TIMEOUT_MS
    )
    assert {panel.name_of(d.sop_instance_uid, "TestPACS") for d in documents} == {
        f"#{d.instance_number} report" for d in documents
    }
    assert panel.commitment_label.text() == said
