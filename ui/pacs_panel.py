"""PacsPanel: PACS destinations (edited here, kept as JSON in the config folder), C-ECHO, and study sending.

Each destination has a PacsSender thread, started with the panel and stopped and joined by `shutdown()`
(`attach` makes the panel the window's PACS tab and calls it when the window finishes closing). Their
`status_changed` is emitted on the sender's thread and reaches the list through a SendStatusBridge
(ui/bridge.py). C-ECHO runs on a worker thread so the window never waits on the network.

Destinations marked for storage commitment are asked, once their images are sent, to commit them: a
CommitmentService thread (started when one is marked) asks and listens for the reports; the list's
Commitment column and the study line follow its states through a CommitmentBridge. With a retention
of N days (preferences), committed studies older than that are deleted on a worker thread at start,
every hour and after commitments arrive (scanner_app.studies.retention). "Delete study…" deletes the
chosen study by hand, after asking, on the same worker (StudyStore.delete_study refuses an open study
or one with an image no PACS committed, and the tab says which). The retention days and the commitment
port are set in the tab and saved to the preferences: the retention from its next pass, the port when
the commitment listener next starts.

A destinations file with bad entries still loads its good ones; the bad ones are named in the tab and
kept in the file (saving writes them back unchanged) until someone fixes them.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QResizeEvent
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from scanner_app.preferences import Preferences
from scanner_app.studies.commitment import CommitmentService, CommitmentState
from scanner_app.studies.model import CommitmentStatus, Study, StudyError, StudyNotDeletable
from scanner_app.studies.pacs import (
    COMPRESSION_JPEG_BASELINE,
    COMPRESSION_LOSSLESS,
    DestinationError,
    EchoResult,
    PacsDestination,
    PacsSender,
    SendState,
    SendStatus,
    read_destinations,
    same_destination_name,
    verify,
)
from scanner_app.studies.retention import RetentionReport, apply_retention
from scanner_app.studies.store import StudyStore
from ui.bridge import CommitmentBridge, SendStatusBridge
from ui.close_prompt import CANCEL, AskChoice, ask_choice
from ui.theme import ACCENT, ALARM, MUTED, OK, WARN
from ui.user_folders import user_path
from ui.window_api import ScannerWindow

log = logging.getLogger(__name__)

CONFIG_NAME = "pacs_destinations.json"
STATUS_COLOUR = {
    SendStatus.QUEUED: WARN,
    SendStatus.SENDING: ACCENT,
    SendStatus.SENT: OK,
    SendStatus.FAILED: ALARM,
}
MAX_STUDIES_LISTED = 50
COMMITMENT_COLOUR = {
    CommitmentStatus.REQUESTED: WARN,
    CommitmentStatus.COMMITTED: OK,
    CommitmentStatus.FAILED: ALARM,
    CommitmentStatus.NOT_SUPPORTED: MUTED,
}
# Where PACS storage commitment reports reach the scanner unless the caller says (all interfaces).
DEFAULT_COMMITMENT_LISTEN = ("", 11112)
RETENTION_INTERVAL_MS = 3_600_000
TO_COLUMN, STATUS_COLUMN, COMMITMENT_COLUMN, REASON_COLUMN = 1, 2, 3, 4
QUEUE_HEADERS = ("Image", "To", "Status", "Commitment", "Reason")
REASON_MIN_SHARE = 0.3  # of the queue's width, the reason's at least: the other columns are elided first
# Where a line of the tab may break inside a destination's "AE@host:port": one word that long made the
# side panel scroll sideways at 1280 px.
_ADDRESS_BREAKS = re.compile(r"(?<=@)|(?<=:)(?=\d)")


def breakable(text: str) -> str:
    """`text` with a zero-width space where an address may break across lines (after '@', and after
    the ':' before a port), so a wrapped label fits the side panel's width."""
    return _ADDRESS_BREAKS.sub("\u200b", text)


class SendQueueTree(QTreeWidget):
    """The send queue: its columns share its width whatever the side panel's (each cell elided, its
    whole text in its tooltip), so it never scrolls sideways; the last (the reason) takes the rest."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(QUEUE_HEADERS))
        self.setHeaderLabels(list(QUEUE_HEADERS))
        header_item = self.headerItem()
        assert header_item is not None
        for column, title in enumerate(QUEUE_HEADERS):
            header_item.setToolTip(column, title)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setRootIsDecorated(False)
        header = self.header()
        assert header is not None
        header.setStretchLastSection(False)  # sized here: stretched, it keeps a default width at least
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header.setMinimumSectionSize(1)
        self._fit_soon = QTimer(self)  # once per burst of status changes: it reads every row
        self._fit_soon.setSingleShot(True)
        self._fit_soon.setInterval(0)
        self._fit_soon.timeout.connect(self.fit_columns)

    def fit_soon(self) -> None:
        self._fit_soon.start()

    def fit_columns(self) -> None:
        """Each shown column but the last as wide as its widest cell or title; when together they
        would leave the last less than REASON_MIN_SHARE, the short ones ('#12 still') stay whole and
        the long ones are narrowed in proportion."""
        header, viewport = self.header(), self.viewport()
        assert header is not None and viewport is not None
        width = viewport.width()
        shown = [c for c in range(self.columnCount() - 1) if not self.isColumnHidden(c)]
        wanted = {c: max(self.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in shown}
        room = round(width * (1.0 - REASON_MIN_SHARE))
        given = dict(wanted)
        if sum(wanted.values()) > room:
            short = {c: px for c, px in wanted.items() if px <= room // 2}
            if sum(short.values()) > room // 2:
                short = {}
            long_room = room - sum(short.values())
            long_total = sum(px for c, px in wanted.items() if c not in short)
            given = {c: short.get(c, px * long_room // max(1, long_total)) for c, px in wanted.items()}
        for column, px in given.items():
            header.resizeSection(column, px)
        header.resizeSection(self.columnCount() - 1, max(1, width - sum(given.values())))

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self.fit_columns()


MAX_RETENTION_DAYS = 3650
DELETE_STUDY = "Delete study"


def default_pacs_config_path() -> Path:
    return user_path(CONFIG_NAME, config=True)


def _whole_number(text: str, low: int, high: int) -> int | None:
    """`text` as a whole number within low..high, else None."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _describe_study(study: Study) -> str:
    """'S-12 (Doe, Jane, P-1, 2026-11-29 14:02)': how the tab names a study to delete."""
    patient = study.patient
    if patient.practice_subject:
        who = "practice subject"
    else:
        name = ", ".join(part for part in patient.name.split("^")[:2] if part)
        who = f"{name}, {patient.patient_id}" if name else patient.patient_id
    return f"{study.study_id} ({who}, {study.started_at:%Y-%m-%d %H:%M})"


def save_destinations(path: Path, destinations: list[PacsDestination], keep: Sequence[object] = ()) -> None:
    """Write the destinations (then the unusable entries in `keep`, unchanged) as a JSON list, whole or
    not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    entries = [d.to_json() for d in destinations] + list(keep)
    tmp.write_text(json.dumps(entries, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


class PacsPanel(QWidget):
    """Edit destinations, verify them, send a study, and follow each capture's send status."""

    echo_finished = pyqtSignal(str, object)  # destination name, EchoResult
    retention_finished = pyqtSignal(object)  # RetentionReport, from the retention worker
    deletion_finished = pyqtSignal(str, object)  # study UID, the deleted Study or the StudyError

    def __init__(
        self,
        store: StudyStore,
        config_path: Path | None = None,
        current_study_uid: Callable[[], str | None] = lambda: None,
        parent: QWidget | None = None,
        *,
        make_sender: Callable[[Path, PacsDestination], PacsSender] = PacsSender,
        commitment_listen: tuple[str, int] = DEFAULT_COMMITMENT_LISTEN,
        retention_days: int = 0,
        ask: AskChoice = ask_choice,
        preferences: Preferences | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._ask = ask  # the question before a destination or a study is removed
        self._preferences = preferences  # where the retention and commitment port are saved (None: not)
        self._make_sender = make_sender
        self.config_path = config_path or default_pacs_config_path()
        self._current_study_uid = current_study_uid
        self.destinations: list[PacsDestination] = []
        self.senders: dict[str, PacsSender] = {}
        self._echo_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pacs-echo")
        self._rows: dict[tuple[str, str], QTreeWidgetItem] = {}
        self._capture_names: dict[str, str] = {}
        self._closed = False
        self._unusable_entries: list[object] = []  # bad entries of the file, written back on save
        self._config_unreadable = False
        self._build()
        self._commitment_listen = commitment_listen
        self.commitments: CommitmentService | None = None  # started once a destination wants it
        self._commitment_states: dict[tuple[str, str], CommitmentState] = {}
        self._sent: set[tuple[str, str]] = set()  # rows (image, destination) the PACS confirmed
        self._commitment_bridge = CommitmentBridge(self)
        self._commitment_bridge.status_changed.connect(self._show_commitment)
        self.retention_days = retention_days
        self.last_retention: RetentionReport | None = None
        self._retention_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="retention"
        )
        self._retention_running = False
        self.retention_finished.connect(self._show_retention)
        self._deleting: str | None = None  # the study being deleted by hand, on the retention worker
        self.deletion_finished.connect(self._show_deletion)
        self.retention_edit.setText(str(retention_days))
        self.commitment_port_edit.setText(str(commitment_listen[1]))
        self._retention_timer = QTimer(self)
        self._retention_timer.setInterval(RETENTION_INTERVAL_MS)
        self._retention_timer.timeout.connect(self.run_retention)
        self._retention_soon = QTimer(self)  # after commitments arrive: once, when they have
        self._retention_soon.setSingleShot(True)
        self._retention_soon.setInterval(1000)
        self._retention_soon.timeout.connect(self.run_retention)
        # The study line reads the index: once per burst of commitment reports, not once per image.
        self._study_line_soon = QTimer(self)
        self._study_line_soon.setSingleShot(True)
        self._study_line_soon.setInterval(0)
        self._study_line_soon.timeout.connect(self._show_study_commitment)
        self._status_bridge = SendStatusBridge(self)
        self._status_bridge.status_changed.connect(self._show_state)
        self.echo_finished.connect(self._show_echo)
        if self.config_path.exists():
            self._load_config()
        for dest in self.destinations:
            self._start_sender(dest)
        self._fill_destinations()
        self.refresh_studies()
        if self.retention_days > 0:
            self._retention_timer.start()
            self.run_retention()

    def _load_config(self) -> None:
        found = read_destinations(self.config_path)
        self.destinations = list(found.destinations)
        self._config_unreadable = not found.readable
        self._unusable_entries = list(found.unusable)
        for line in found.errors:
            log.error("%s", line)
        self.config_label.setText("\n".join(found.errors))
        self.config_label.setVisible(bool(found.errors))

    # --- construction ----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        box = QGroupBox("Destinations")
        bl = QVBoxLayout(box)
        self.config_label = QLabel()  # what is wrong with the destinations file, until it is fixed
        self.config_label.setWordWrap(True)
        self.config_label.setStyleSheet(f"color: {ALARM}; font-weight: 600;")
        self.config_label.setVisible(False)
        bl.addWidget(self.config_label)
        self.dest_list = QListWidget()
        self.dest_list.setMaximumHeight(90)
        self.dest_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # elided
        self.dest_list.currentRowChanged.connect(self._destination_selected)
        bl.addWidget(self.dest_list)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow panel: fields below
        self.name_edit = QLineEdit()
        self.host_edit = QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(104)
        self.called_edit = QLineEdit()
        self.calling_edit = QLineEdit("SCANNERAPP")
        form.addRow("Name", self.name_edit)
        form.addRow("Host", self.host_edit)
        form.addRow("Port", self.port_spin)
        form.addRow("Called AE", self.called_edit)
        form.addRow("Calling AE", self.calling_edit)
        # Short boxes and a wrapped note: the tab fits the side panel's width (never scrolls sideways).
        self.worklist_check = QCheckBox("Worklist")
        self.worklist_check.setToolTip(
            "Modality Worklist: the new-exam dialog lists this PACS's scheduled procedures"
        )
        self.mpps_check = QCheckBox("MPPS")
        self.mpps_check.setToolTip("Tell this PACS when an exam starts and ends")
        form.addRow("Services", self.worklist_check)
        form.addRow("", self.mpps_check)
        self.commitment_check = QCheckBox("Commitment")
        self.commitment_check.setToolTip(
            "Storage commitment: ask this PACS to confirm it keeps each image sent (only then may a study "
            "be deleted here)"
        )
        form.addRow("", self.commitment_check)
        services_note = QLabel(
            "Worklist: its scheduled exams in New exam. MPPS: tell it when an exam starts and ends. "
            "Commitment: ask it to confirm it keeps each image sent (then a study may be deleted here)."
        )
        services_note.setWordWrap(True)
        services_note.setStyleSheet("color: #8b949e;")
        form.addRow("", services_note)
        self.compression_combo = QComboBox()  # how clips travel to this destination
        self.compression_combo.addItem("Lossless", COMPRESSION_LOSSLESS)
        self.compression_combo.addItem("JPEG (lossy)", COMPRESSION_JPEG_BASELINE)
        self.compression_combo.setToolTip(
            "Lossless: clips as the store keeps them (RLE), or uncompressed. JPEG: clips sent as JPEG "
            "Baseline copies (new, derived instances) when this PACS accepts it; the store keeps its "
            "lossless originals."
        )
        form.addRow("Clips", self.compression_combo)
        bl.addLayout(form)
        row = QGridLayout()  # two buttons a row: the tab fits the side panel
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Add the destination, or update the one with this name")
        self.save_button.clicked.connect(self.save_destination)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_destination)
        self.verify_button = QPushButton("Verify (C-ECHO)")
        self.verify_button.clicked.connect(self.verify_selected)
        row.addWidget(self.save_button, 0, 0)
        row.addWidget(self.remove_button, 0, 1)
        row.addWidget(self.verify_button, 1, 0, 1, 2)
        bl.addLayout(row)
        self.echo_label = QLabel()
        self.echo_label.setWordWrap(True)
        bl.addWidget(self.echo_label)
        layout.addWidget(box)

        send = QGroupBox("Send")
        sl = QVBoxLayout(send)
        self.study_combo = QComboBox()
        # As narrow as the panel: a long study name is elided here, shown whole in the list.
        self.study_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.study_combo.setMinimumContentsLength(4)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("List the stored studies again")
        self.refresh_button.clicked.connect(self.refresh_studies)
        # The study on a row of its own, and two buttons a row at most: the tab fits the side panel
        # at its narrowest (a newcomer's tab scrolled sideways at 1280 px).
        sl.addWidget(self.study_combo)
        srow = QHBoxLayout()
        srow.addStretch(1)
        srow.addWidget(self.refresh_button)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Queue the study's images not yet queued, sent or failed")
        self.send_button.clicked.connect(self.send_selected_study)
        self.resend_button = QPushButton("Resend study")
        self.resend_button.setToolTip("Send every image of the study again, sent and failed ones too")
        self.resend_button.clicked.connect(self.resend_selected_study)
        srow.addWidget(self.send_button)
        sl.addLayout(srow)
        resend_row = QHBoxLayout()
        resend_row.addStretch(1)
        resend_row.addWidget(self.resend_button)
        sl.addLayout(resend_row)
        # Why the buttons are greyed when they are: there is nowhere to send to yet.
        self.no_destination_label = QLabel("No PACS destination yet: add one above (Save) to send studies.")
        self.no_destination_label.setWordWrap(True)
        sl.addWidget(self.no_destination_label)
        rrow = QHBoxLayout()
        self.retry_failed_button = QPushButton("Retry failed")
        self.retry_failed_button.setToolTip("Queue again every image this destination refused")
        self.retry_failed_button.clicked.connect(self.retry_failed)
        self.retry_now_button = QPushButton("Retry now")
        self.retry_now_button.setToolTip("Stop waiting: try the queued images at once (the PACS is back)")
        self.retry_now_button.clicked.connect(self.retry_now)
        rrow.addStretch(1)
        rrow.addWidget(self.retry_failed_button)
        sl.addLayout(rrow)
        now_row = QHBoxLayout()
        now_row.addStretch(1)
        now_row.addWidget(self.retry_now_button)
        sl.addLayout(now_row)
        self.send_label = QLabel()
        self.send_label.setWordWrap(True)
        sl.addWidget(self.send_label)
        self.commitment_label = QLabel()  # the chosen study: how many of its images are committed
        self.commitment_label.setWordWrap(True)
        sl.addWidget(self.commitment_label)
        self.study_combo.currentIndexChanged.connect(lambda _index: self._show_study_commitment())
        self.retention_label = QLabel()  # what the last retention pass deleted or could not
        self.retention_label.setWordWrap(True)
        self.retention_label.setVisible(False)
        sl.addWidget(self.retention_label)
        drow = QHBoxLayout()
        self.delete_button = QPushButton("Delete study…")
        self.delete_button.setToolTip(
            "Delete the chosen study from this scanner, once its exam has ended and a PACS has committed "
            "every image (asks first)"
        )
        self.delete_button.setEnabled(False)
        self.delete_button.clicked.connect(self.delete_selected_study)
        drow.addStretch(1)
        drow.addWidget(self.delete_button)
        sl.addLayout(drow)
        layout.addWidget(send)

        kept = QGroupBox("Storage here")
        kl = QFormLayout(kept)
        self.retention_edit = QLineEdit()
        self.retention_edit.setMaximumWidth(70)
        self.retention_edit.setToolTip(
            "Delete committed, ended studies older than this many days "
            f"(0: never; at most {MAX_RETENTION_DAYS})"
        )
        self.commitment_port_edit = QLineEdit()
        self.commitment_port_edit.setMaximumWidth(70)
        self.commitment_port_edit.setToolTip(
            "The TCP port where PACS storage commitment reports reach this scanner (1 to 65535); the PACS "
            "must send them to this port too"
        )
        kl.addRow("Retention (days)", self.retention_edit)
        kl.addRow("Commitment port", self.commitment_port_edit)
        self.apply_settings_button = QPushButton("Apply")
        self.apply_settings_button.setToolTip("Check, save and apply the retention and the commitment port")
        self.apply_settings_button.clicked.connect(self.apply_settings)
        kl.addRow("", self.apply_settings_button)
        self.settings_label = QLabel()  # what applying did, or which value is wrong
        self.settings_label.setWordWrap(True)
        kl.addRow(self.settings_label)
        layout.addWidget(kept)

        self.status_tree = SendQueueTree()
        layout.addWidget(self.status_tree, 1)
        # The queue's cells are elided in the narrow panel: the chosen row (else the last with a
        # reason) in words, wrapped.
        self.row_label = QLabel()
        self.row_label.setWordWrap(True)
        self.row_label.setStyleSheet(f"color: {MUTED};")
        layout.addWidget(self.row_label)
        self.status_tree.currentItemChanged.connect(lambda _now, _before: self._show_row())
        self._last_reason_row: QTreeWidgetItem | None = None

    # --- destinations ----------------------------------------------------------------------------

    def _fill_destinations(self) -> None:
        self.dest_list.blockSignals(True)
        self.dest_list.clear()
        for d in self.destinations:
            self.dest_list.addItem(d.describe())
            item = self.dest_list.item(self.dest_list.count() - 1)
            if item is not None:
                item.setToolTip(d.describe())  # elided in the narrow list
        self.dest_list.blockSignals(False)
        if self.destinations:
            self.dest_list.setCurrentRow(0)
            self._destination_selected(0)
        enabled = bool(self.destinations)
        for b in (
            self.remove_button,
            self.verify_button,
            self.send_button,
            self.resend_button,
            self.retry_failed_button,
            self.retry_now_button,
        ):
            b.setEnabled(enabled)
        self.no_destination_label.setVisible(not enabled)
        # Columns that would say the same on every row are left out: the side panel is narrow.
        self.status_tree.setColumnHidden(TO_COLUMN, len(self.destinations) < 2)
        self.status_tree.setColumnHidden(COMMITMENT_COLUMN, not any(d.commitment for d in self.destinations))
        self.status_tree.fit_soon()
        self._sync_commitments()

    def _destination_selected(self, row: int) -> None:
        if not 0 <= row < len(self.destinations):
            return
        d = self.destinations[row]
        self.name_edit.setText(d.name)
        self.host_edit.setText(d.host)
        self.port_spin.setValue(d.port)
        self.called_edit.setText(d.called_ae)
        self.calling_edit.setText(d.calling_ae)
        self.worklist_check.setChecked(d.worklist)
        self.mpps_check.setChecked(d.mpps)
        self.compression_combo.setCurrentIndex(max(0, self.compression_combo.findData(d.compression)))
        self.commitment_check.setChecked(d.commitment)

    def selected_destination(self) -> PacsDestination | None:
        row = self.dest_list.currentRow()
        return self.destinations[row] if 0 <= row < len(self.destinations) else None

    def save_destination(self) -> bool:
        """Add or update (by name) the destination in the form, save the file and restart its sender."""
        fields = {
            "name": self.name_edit,
            "host": self.host_edit,
            "port": self.port_spin,
            "called_ae": self.called_edit,
            "calling_ae": self.calling_edit,
        }
        if self._config_unreadable:
            self._error(f"{self.config_path} cannot be read: fix or remove it first (it was not overwritten)")
            return False
        try:
            dest = PacsDestination(
                name=self.name_edit.text().strip(),
                host=self.host_edit.text().strip(),
                port=self.port_spin.value(),
                called_ae=self.called_edit.text().strip(),
                calling_ae=self.calling_edit.text().strip(),
                worklist=self.worklist_check.isChecked(),
                mpps=self.mpps_check.isChecked(),
                compression=str(self.compression_combo.currentData()),
                commitment=self.commitment_check.isChecked(),
            )
        except DestinationError as exc:
            self._error(str(exc))
            if exc.field in fields:
                fields[exc.field].setFocus()
            return False
        index = next(
            (i for i, d in enumerate(self.destinations) if same_destination_name(d.name, dest.name)), None
        )
        updated = list(self.destinations)
        if index is None:
            updated.append(dest)
        else:
            updated[index] = dest
        try:
            save_destinations(self.config_path, updated, self._unusable_entries)
        except OSError as exc:
            self._error(f"cannot save {self.config_path}: {exc}")
            return False
        if index is not None:
            self._stop_sender(self.destinations[index].name)
        self.destinations = updated
        self._start_sender(dest)
        self._fill_destinations()
        self.dest_list.setCurrentRow(self.destinations.index(dest))
        self.echo_label.setText(breakable(f"Saved {dest.describe()}"))
        self.echo_label.setStyleSheet(f"color: {OK};")
        return True

    def remove_destination(self) -> None:
        dest = self.selected_destination()
        if dest is None:
            return
        if self._config_unreadable:
            self._error(f"{self.config_path} cannot be read: fix or remove it first (it was not overwritten)")
            return
        remove = f"Remove {dest.name}"
        question = (
            f"Remove the destination {dest.describe()}? Images not yet sent to it will not be sent; "
            "what it already has stays there."
        )
        if self._ask(self, "Remove PACS destination", question, (remove, CANCEL)) != remove:
            return
        remaining = [d for d in self.destinations if d.name != dest.name]
        try:
            save_destinations(self.config_path, remaining, self._unusable_entries)
        except OSError as exc:
            self._error(f"cannot save {self.config_path}: {exc}")
            return
        self.destinations = remaining
        self._stop_sender(dest.name)
        self._fill_destinations()
        self.echo_label.setText(breakable(f"Removed {dest.describe()}"))
        self.echo_label.setStyleSheet("")

    def _start_sender(self, dest: PacsDestination) -> None:
        sender = self._make_sender(self.store.root, dest)
        self._status_bridge.watch(sender)
        sender.start()
        self.senders[dest.name] = sender
        for state in sender.states():
            self._show_state(state)

    def _stop_sender(self, name: str) -> None:
        sender = self.senders.pop(name, None)
        if sender is not None:
            sender.close()
        # Its rows described that sender's PACS: a re-pointed name shows the new one's states.
        for key in [k for k in self._rows if k[1] == name]:
            item = self._rows.pop(key)
            self.status_tree.takeTopLevelItem(self.status_tree.indexOfTopLevelItem(item))

    # --- verify and send -------------------------------------------------------------------------

    def verify_selected(self) -> None:
        """C-ECHO the selected destination on a worker thread; the answer shows below the form."""
        dest = self.selected_destination()
        if dest is None:
            self._error("Add a destination first")
            return
        self.echo_label.setText(breakable(f"Verifying {dest.describe()}…"))
        self.echo_label.setStyleSheet(f"color: {MUTED};")
        self.verify_button.setEnabled(False)

        def run() -> None:
            try:
                result = verify(dest)
            except Exception as exc:  # any failure is the user's answer, not a crash
                result = EchoResult(False, f"{dest.describe()}: {exc}")
            self.echo_finished.emit(dest.name, result)

        self._echo_pool.submit(run)

    def _show_echo(self, _name: str, result: EchoResult) -> None:
        self.verify_button.setEnabled(bool(self.destinations))
        self.echo_label.setText(breakable(("✓ " if result.ok else "✗ ") + result.message))
        self.echo_label.setStyleSheet(f"color: {OK if result.ok else ALARM}; font-weight: 600;")

    def refresh_studies(self) -> list[Study]:
        """List the stored studies, newest first, with the current one selected; returns them all."""
        chosen = self.study_combo.currentData()
        current = self._current_study_uid()
        self.study_combo.blockSignals(True)
        self.study_combo.clear()
        stored = self.store.list_studies()
        for s in list(reversed(stored))[:MAX_STUDIES_LISTED]:
            who = "practice" if s.patient.practice_subject else s.patient.patient_id
            n = len(s.captures)
            text = (
                f"{s.study_id} · {who} · {s.protocol_id or 'no protocol'} · {n} image{'' if n == 1 else 's'}"
            )
            self.study_combo.addItem(text, s.study_uid)
        self.study_combo.blockSignals(False)
        for uid in (current, chosen):
            index = self.study_combo.findData(uid) if uid else -1
            if index >= 0:
                self.study_combo.setCurrentIndex(index)
                break
        self._show_study_commitment()
        return stored

    def _chosen(self) -> tuple[PacsSender, Study] | None:
        dest = self.selected_destination()
        uid = self.study_combo.currentData()
        if dest is None or not uid:
            self._error("Choose a destination and a study first")
            return None
        try:
            study = self.store.get_study(str(uid))
        except StudyError as exc:
            self._error(str(exc))
            return None
        self._name_captures(str(uid))
        return self.senders[dest.name], study

    def send_selected_study(self) -> int:
        """Queue the chosen study's captures for the selected destination; returns how many were added."""
        chosen = self._chosen()
        if chosen is None:
            return 0
        sender, study = chosen
        added = sender.enqueue_study(study)
        ours = {c.sop_instance_uid for c in study.captures}
        others = [s for s in sender.states() if s.sop_instance_uid in ours]
        counts = {status: sum(1 for s in others if s.status is status) for status in SendStatus}
        notes = []
        if counts[SendStatus.SENT]:
            notes.append(f"{counts[SendStatus.SENT]} already sent: Resend study sends them again")
        if counts[SendStatus.FAILED]:
            notes.append(f"{counts[SendStatus.FAILED]} failed earlier: Retry failed sends them again")
        waiting = counts[SendStatus.QUEUED] - added
        if waiting > 0:
            notes.append(f"{waiting} already waiting in the queue")
        note = f" ({'; '.join(notes)})" if notes else ""
        self._say(f"{added} image(s) queued for {sender.destination.describe()}{note}")
        return added

    def resend_selected_study(self) -> int:
        """Queue every capture of the chosen study again, whatever its state; returns how many."""
        chosen = self._chosen()
        if chosen is None:
            return 0
        sender, study = chosen
        count = sender.resend(study.captures)
        self._say(f"{count} image(s) queued again for {sender.destination.describe()}")
        return count

    def retry_failed(self) -> int:
        """Queue again every capture the selected destination refused; returns how many."""
        sender = self._selected_sender()
        if sender is None:
            return 0
        count = sender.retry_failed()
        self._say(f"{count} failed image(s) queued again for {sender.destination.describe()}")
        return count

    def retry_now(self) -> int:
        """Wake the selected destination's sender: its waiting images are tried at once."""
        sender = self._selected_sender()
        if sender is None:
            return 0
        count = sender.retry_now()
        self._say(f"Trying {count} waiting image(s) for {sender.destination.describe()} now")
        return count

    def _selected_sender(self) -> PacsSender | None:
        dest = self.selected_destination()
        if dest is None:
            self._error("Add a destination first")
            return None
        return self.senders[dest.name]

    def _say(self, text: str) -> None:
        self.send_label.setText(breakable(text))
        self.send_label.setStyleSheet(f"color: {OK};")

    def _name_captures(self, study_uid: str | None = None) -> None:
        """The queue's names of the instances: '#N still', '#N clip', '#N report' (a signed report's
        PDF or structured report, sent with the study)."""
        for c in self.store.list_captures(study_uid):
            self._capture_names[c.sop_instance_uid] = f"#{c.instance_number} {c.kind.value}"
        try:
            studies = [self.store.get_study(study_uid)] if study_uid else self.store.list_studies()
        except StudyError:
            return  # deleted meanwhile: its rows go with it
        for d in (d for study in studies for d in study.documents):
            self._capture_names[d.sop_instance_uid] = f"#{d.instance_number} report"

    def _show_state(self, state: SendState) -> None:
        sender = self.senders.get(state.destination)
        if sender is None or (state.identity is not None and state.identity != sender.identity):
            return  # from a sender since stopped, or one whose name now points at another PACS
        key = (state.sop_instance_uid, state.destination)
        item = self._rows.get(key)
        if item is None:
            if state.sop_instance_uid not in self._capture_names:
                self._name_captures()
                # An instance new to the queue may be new to its study (a report signed since): the
                # study line counts it at once, not when the commitment reports come.
                self._study_line_soon.start()
            item = QTreeWidgetItem(self.status_tree)
            item.setText(0, self._capture_names.get(state.sop_instance_uid, state.sop_instance_uid[-12:]))
            item.setToolTip(0, f"{item.text(0)}: {state.sop_instance_uid}")
            item.setText(TO_COLUMN, state.destination)
            item.setToolTip(TO_COLUMN, sender.destination.describe())
            self._rows[key] = item
        item.setText(STATUS_COLUMN, state.describe(time.time()))
        item.setToolTip(STATUS_COLUMN, item.text(STATUS_COLUMN))
        item.setForeground(STATUS_COLUMN, QColor(STATUS_COLOUR[state.status]))
        item.setText(REASON_COLUMN, state.last_error if state.status is not SendStatus.SENT else "")
        item.setToolTip(REASON_COLUMN, state.last_error)
        if item.text(REASON_COLUMN):
            self._last_reason_row = item
        if state.status is SendStatus.SENT:
            self._sent.add(key)
            if self.commitments is not None and sender.destination.commitment:
                self.commitments.wake()  # ask about it now, not at the next idle check
        else:
            self._sent.discard(key)
        self._render_commitment(key)
        self.status_tree.fit_soon()
        self._show_row()

    def _show_row(self) -> None:
        """The chosen queue row in words (else the last with a reason): image, destination, status and
        reason, whole."""
        item = self.status_tree.currentItem() or self._last_reason_row
        if item is None or self.status_tree.indexOfTopLevelItem(item) < 0:
            self.row_label.setText("")
            return
        parts = [f"{item.text(0)} → {item.text(TO_COLUMN)}: {item.text(STATUS_COLUMN)}"]
        parts += [item.text(c) for c in (COMMITMENT_COLUMN, REASON_COLUMN) if item.text(c)]
        self.row_label.setText(breakable(" — ".join(parts)))

    def status_of(self, sop_instance_uid: str, destination: str) -> str:
        """The status shown for a capture ('' if not listed): for tests and the help text."""
        item = self._rows.get((sop_instance_uid, destination))
        return item.text(STATUS_COLUMN) if item is not None else ""

    def name_of(self, sop_instance_uid: str, destination: str) -> str:
        """What the queue calls a capture or document ('#3 still', '#8 report'; '' if not listed)."""
        item = self._rows.get((sop_instance_uid, destination))
        return item.text(0) if item is not None else ""

    def reason_of(self, sop_instance_uid: str, destination: str) -> str:
        """The reason shown beside a capture's status ('' if none or not listed)."""
        item = self._rows.get((sop_instance_uid, destination))
        return item.text(REASON_COLUMN) if item is not None else ""

    # --- storage commitment and retention --------------------------------------------------------

    def _sync_commitments(self) -> None:
        """Start the commitment service once a destination wants it, and give it the destinations."""
        if self.commitments is None and not self._closed and any(d.commitment for d in self.destinations):
            host, port = self._commitment_listen
            service = CommitmentService(self.store.root, host, port)
            self._commitment_bridge.watch(service)
            try:
                service.start()
            except StudyError as exc:
                service.close()
                log.error("%s", exc)
                self._error(f"Storage commitment is off: {exc}")
                return
            self.commitments = service
            self.commitments.set_destinations(self.destinations)
            for state in service.states():
                self._show_commitment(state)
        elif self.commitments is not None:
            self.commitments.set_destinations(self.destinations)
        for key in self._rows:
            self._render_commitment(key)

    def _show_commitment(self, state: CommitmentState) -> None:
        key = (state.sop_instance_uid, state.destination)
        self._commitment_states[key] = state
        self._render_commitment(key)
        if not self._closed:
            self._study_line_soon.start()
        if state.status is CommitmentStatus.COMMITTED and self.retention_days > 0 and not self._closed:
            self._retention_soon.start()

    def _render_commitment(self, key: tuple[str, str]) -> None:
        """The Commitment column of one row: the PACS's answer, or "not supported" for a destination
        not set up for it (never committed, whatever it holds)."""
        item = self._rows.get(key)
        if item is None:
            return
        sender = self.senders.get(key[1])
        state = self._commitment_states.get(key)
        if state is not None and (sender is None or state.identity == sender.identity):
            text, colour, tip = state.status.value, COMMITMENT_COLOUR[state.status], state.reason
        elif key in self._sent and sender is not None and not sender.destination.commitment:
            text, colour = CommitmentStatus.NOT_SUPPORTED.value, MUTED
            tip = f"{key[1]} is not set up for storage commitment: its copies are never counted as committed"
        else:
            text, colour, tip = "", MUTED, ""
        item.setText(COMMITMENT_COLUMN, text)
        item.setForeground(COMMITMENT_COLUMN, QColor(colour))
        item.setToolTip(COMMITMENT_COLUMN, tip)

    def commitment_of(self, sop_instance_uid: str, destination: str) -> str:
        """The commitment shown for a capture ('' if none or not listed)."""
        item = self._rows.get((sop_instance_uid, destination))
        return item.text(COMMITMENT_COLUMN) if item is not None else ""

    def _show_study_commitment(self) -> None:
        uid = self.study_combo.currentData()
        self.delete_button.setEnabled(False)
        if not uid:
            self.commitment_label.setText("")
            return
        try:
            study = self.store.get_study(str(uid))
            missing = self.store.uncommitted(str(uid))
        except StudyError:
            self.commitment_label.setText("")
            return
        # An open study may not be deleted: the button says so rather than the store refusing later.
        self.delete_button.setEnabled(study.ended_at is not None and self._deleting is None)
        self.delete_button.setToolTip(
            "Delete the chosen study from this scanner once a PACS has committed every image (asks first)"
            if study.ended_at is not None
            else "The study's exam is still open: end it before deleting the study"
        )
        # Every instance of the study counts, its images and its signed report's documents (PDF and
        # structured report) alike: the deletion needs each committed. Said in words once it has
        # documents, so the total growing when a report is signed reads as what it is.
        images, documents = len(study.captures), len(study.documents)
        total = images + documents
        what = f"{images} image(s) and {documents} report document(s)" if documents else f"{total} image(s)"
        if total and not missing:
            text, colour = f"Study committed: all {what} kept by PACS", OK
        elif total and documents:
            text, colour = f"Study: {total - len(missing)} of {total} committed ({what})", MUTED
        elif total:
            text, colour = f"Study: {total - len(missing)} of {what} committed", MUTED
        else:
            text, colour = "", MUTED
        self.commitment_label.setText(text)
        self.commitment_label.setStyleSheet(f"color: {colour};")

    def run_retention(self) -> bool:
        """Delete committed studies older than `retention_days` on the worker; False when off or busy."""
        if self.retention_days <= 0 or self._retention_running or self._closed:
            return False
        self._retention_running = True
        days = self.retention_days

        def run() -> None:
            try:
                report = apply_retention(self.store, days)
            except Exception as exc:  # reported in the tab, never a crash of the worker
                log.exception("retention failed")
                report = RetentionReport((), (f"retention failed: {exc}",))
            self.retention_finished.emit(report)

        self._retention_pool.submit(run)
        return True

    def _show_retention(self, report: RetentionReport) -> None:
        self._retention_running = False
        self.last_retention = report
        if report.deleted or report.failed:
            self.retention_label.setText(f"Retention ({self.retention_days} days): {report.describe()}")
            self.retention_label.setStyleSheet(f"color: {ALARM if report.failed else MUTED};")
            self.retention_label.setVisible(True)
            stored = self.refresh_studies()
            if report.deleted:
                self._forget_deleted_rows(stored)

    def _forget_deleted_rows(self, studies: list[Study]) -> None:
        """Drop the send-status rows of images no longer among the stored `studies`."""
        kept = {c.sop_instance_uid for s in studies for c in s.captures}
        kept |= {d.sop_instance_uid for s in studies for d in s.documents}
        for key in [k for k in self._rows if k[0] not in kept]:  # deleted here: nothing left to follow
            item = self._rows.pop(key)
            self.status_tree.takeTopLevelItem(self.status_tree.indexOfTopLevelItem(item))

    # --- deleting a study by hand ----------------------------------------------------------------

    def delete_selected_study(self) -> bool:
        """Ask, then delete the chosen study on the retention worker; False if not asked or not started.
        The answer (deleted, or why not) shows below the Send buttons."""
        uid = self.study_combo.currentData()
        if not uid or self._closed:
            self._problem("Choose a study first")
            return False
        if self._deleting is not None:
            self._problem("A study is being deleted: wait for it to finish")
            return False
        try:
            study = self.store.get_study(str(uid))
            missing = self.store.uncommitted(str(uid))
        except StudyError as exc:
            self._problem(str(exc))
            return False
        if study.ended_at is None:
            self._problem(f"Study {study.study_id} is still open: end the exam before deleting it")
            return False
        total = len(study.captures) + len(study.documents)
        committed = (
            f"a PACS has committed all {total}"
            if not missing
            else f"{len(missing)} not committed by any PACS ({', '.join(missing)}): it will be refused"
        )
        question = (
            f"Delete study {_describe_study(study)} with {total} image(s) from this scanner? "
            f"{committed[0].upper()}{committed[1:]}."
        )
        if self._ask(self, "Delete study", question, (DELETE_STUDY, CANCEL)) != DELETE_STUDY:
            return False
        self._deleting = str(uid)
        self.delete_button.setEnabled(False)
        self.send_label.setText(f"Deleting study {study.study_id}…")
        self.send_label.setStyleSheet(f"color: {MUTED};")

        def run() -> None:
            result: Study | StudyError
            try:
                result = self.store.delete_study(str(uid))
            except StudyError as exc:
                result = exc
            except Exception as exc:  # reported in the tab, never a crash of the worker
                log.exception("deleting study %s failed", uid)
                result = StudyError(f"could not delete study {study.study_id}: {exc}")
            self.deletion_finished.emit(str(uid), result)

        self._retention_pool.submit(run)  # one worker: never beside a retention pass on the same store
        return True

    def _show_deletion(self, _uid: str, result: Study | StudyError) -> None:
        self._deleting = None
        if isinstance(result, Study):
            total = len(result.captures) + len(result.documents)
            self._say(
                f"Deleted study {_describe_study(result)}: its {total} image(s) are gone from this scanner; "
                "the PACS that committed them keeps them"
            )
            self._forget_deleted_rows(self.refresh_studies())
            return
        why = "Not deleted" if isinstance(result, StudyNotDeletable) else "Delete failed"
        self._problem(f"{why}: {result}")
        self._show_study_commitment()

    def _problem(self, text: str) -> None:
        self.send_label.setText(breakable(text))
        self.send_label.setStyleSheet(f"color: {ALARM}; font-weight: 600;")

    # --- retention and commitment port settings --------------------------------------------------

    def apply_settings(self) -> bool:
        """Check the retention days and the commitment port, save them to the preferences and apply
        them; a bad value is named below the fields and nothing changes."""
        days_text = self.retention_edit.text().strip()
        port_text = self.commitment_port_edit.text().strip()
        days = _whole_number(days_text, 0, MAX_RETENTION_DAYS)
        port = _whole_number(port_text, 1, 65535)
        problems = []
        if days is None:
            problems.append(
                f"Retention (days) {days_text!r} is not a whole number from 0 (never) to {MAX_RETENTION_DAYS}"
            )
        if port is None:
            problems.append(f"Commitment port {port_text!r} is not a whole number from 1 to 65535")
        if days is None or port is None:
            self.settings_label.setText("; ".join(problems) + ". Nothing was changed.")
            self.settings_label.setStyleSheet(f"color: {ALARM}; font-weight: 600;")
            return False
        self.retention_days = days
        if days > 0 and not self._closed:
            if not self._retention_timer.isActive():
                self._retention_timer.start()
            kept = (
                f"Committed, ended studies older than {days} day(s) are deleted from the next pass (hourly)."
            )
        else:
            self._retention_timer.stop()
            kept = "Studies are kept until deleted by hand."
        host, listening = self._commitment_listen
        self._commitment_listen = (host, port)
        if self.commitments is not None and port != self.commitments.listener.port:
            # Restarting the listener here would join the service's thread on the window's thread.
            heard = (
                f" The commitment listener keeps port {self.commitments.listener.port} until the app is "
                f"restarted, then listens on {port}."
            )
        elif port != listening:
            heard = f" Commitment reports are heard on port {port}."
        else:
            heard = ""
        if self._preferences is not None:
            self._preferences.set("retention_days", days)
            self._preferences.set("commitment_port", port)
            self._preferences.save()
        self.settings_label.setText(f"Saved. {kept}{heard}")
        self.settings_label.setStyleSheet(f"color: {OK};")
        return True

    def _error(self, text: str) -> None:
        self.echo_label.setText(breakable(text))
        self.echo_label.setStyleSheet(f"color: {ALARM}; font-weight: 600;")

    def attach(self, window: ScannerWindow) -> None:
        """The PACS side tab; the senders stop once the window's captures are stored and the exam ended."""
        window.add_side_tab(self, "PACS")
        window.finishing.connect(self.shutdown)

    def shutdown(self) -> None:
        """Stop and join every sender thread and the C-ECHO thread."""
        if self._closed:
            return
        self._closed = True
        self._retention_timer.stop()
        self._retention_soon.stop()
        self._study_line_soon.stop()
        for name in list(self.senders):
            self._stop_sender(name)
        if self.commitments is not None:
            self.commitments.close()
            self.commitments = None
        self._echo_pool.shutdown(wait=True)
        self._retention_pool.shutdown(wait=True)
