"""PacsPanel: PACS destinations (edited here, kept as JSON in the config folder), C-ECHO, and study sending.

Each destination has a PacsSender thread, started with the panel and stopped and joined by `shutdown()`
(`attach` makes the panel the window's PACS tab and calls it when the window finishes closing). Their
`status_changed` is emitted on the sender's thread and reaches the list through a SendStatusBridge
(ui/bridge.py). C-ECHO runs on a worker thread so the window never waits on the network.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QStandardPaths, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
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

from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import (
    EchoResult,
    PacsDestination,
    PacsSender,
    SendState,
    SendStatus,
    load_destinations,
    verify,
)
from scanner_app.studies.store import StudyStore
from ui.bridge import SendStatusBridge
from ui.theme import ALARM, MUTED, OK, WARN
from ui.window_api import ScannerWindow

log = logging.getLogger(__name__)

CONFIG_NAME = "pacs_destinations.json"
STATUS_COLOUR = {SendStatus.QUEUED: WARN, SendStatus.SENT: OK, SendStatus.FAILED: ALARM}
MAX_STUDIES_LISTED = 50


def default_pacs_config_path() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
    return Path(base or Path.home() / ".config" / "scanner-app") / CONFIG_NAME


def save_destinations(path: Path, destinations: list[PacsDestination]) -> None:
    """Write the destinations as a JSON list, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps([d.to_json() for d in destinations], indent=2), encoding="utf-8")
    os.replace(tmp, path)


class PacsPanel(QWidget):
    """Edit destinations, verify them, send a study, and follow each capture's send status."""

    echo_finished = pyqtSignal(str, object)  # destination name, EchoResult

    def __init__(
        self,
        store: StudyStore,
        config_path: Path | None = None,
        current_study_uid: Callable[[], str | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.config_path = config_path or default_pacs_config_path()
        self._current_study_uid = current_study_uid
        self.destinations: list[PacsDestination] = []
        self.senders: dict[str, PacsSender] = {}
        self._echo_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pacs-echo")
        self._rows: dict[tuple[str, str], QTreeWidgetItem] = {}
        self._capture_names: dict[str, str] = {}
        self._closed = False
        self._build()
        self._status_bridge = SendStatusBridge(self)
        self._status_bridge.status_changed.connect(self._show_state)
        self.echo_finished.connect(self._show_echo)
        if self.config_path.exists():
            try:
                self.destinations = load_destinations(self.config_path)
            except StudyError as exc:
                self._error(str(exc))
        for dest in self.destinations:
            self._start_sender(dest)
        self._fill_destinations()
        self.refresh_studies()

    # --- construction ----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        box = QGroupBox("Destinations")
        bl = QVBoxLayout(box)
        self.dest_list = QListWidget()
        self.dest_list.setMaximumHeight(90)
        self.dest_list.currentRowChanged.connect(self._destination_selected)
        bl.addWidget(self.dest_list)
        form = QFormLayout()
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
        bl.addLayout(form)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Add the destination, or update the one with this name")
        self.save_button.clicked.connect(self.save_destination)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_destination)
        self.verify_button = QPushButton("Verify (C-ECHO)")
        self.verify_button.clicked.connect(self.verify_selected)
        for b in (self.save_button, self.remove_button, self.verify_button):
            row.addWidget(b)
        bl.addLayout(row)
        self.echo_label = QLabel()
        self.echo_label.setWordWrap(True)
        bl.addWidget(self.echo_label)
        layout.addWidget(box)

        send = QGroupBox("Send")
        sl = QVBoxLayout(send)
        self.study_combo = QComboBox()
        sl.addWidget(self.study_combo)
        srow = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_studies)
        self.send_button = QPushButton("Send study")
        self.send_button.clicked.connect(self.send_selected_study)
        srow.addWidget(self.refresh_button)
        srow.addStretch(1)
        srow.addWidget(self.send_button)
        sl.addLayout(srow)
        self.send_label = QLabel()
        self.send_label.setWordWrap(True)
        sl.addWidget(self.send_label)
        layout.addWidget(send)

        self.status_tree = QTreeWidget()
        self.status_tree.setHeaderLabels(["Image", "To", "Status", "Reason"])
        self.status_tree.setRootIsDecorated(False)
        self.status_tree.setWordWrap(True)
        layout.addWidget(self.status_tree, 1)

    # --- destinations ----------------------------------------------------------------------------

    def _fill_destinations(self) -> None:
        self.dest_list.blockSignals(True)
        self.dest_list.clear()
        for d in self.destinations:
            self.dest_list.addItem(d.describe())
        self.dest_list.blockSignals(False)
        if self.destinations:
            self.dest_list.setCurrentRow(0)
            self._destination_selected(0)
        enabled = bool(self.destinations)
        for b in (self.remove_button, self.verify_button, self.send_button):
            b.setEnabled(enabled)

    def _destination_selected(self, row: int) -> None:
        if not 0 <= row < len(self.destinations):
            return
        d = self.destinations[row]
        self.name_edit.setText(d.name)
        self.host_edit.setText(d.host)
        self.port_spin.setValue(d.port)
        self.called_edit.setText(d.called_ae)
        self.calling_edit.setText(d.calling_ae)

    def selected_destination(self) -> PacsDestination | None:
        row = self.dest_list.currentRow()
        return self.destinations[row] if 0 <= row < len(self.destinations) else None

    def save_destination(self) -> bool:
        """Add or update (by name) the destination in the form, save the file and restart its sender."""
        try:
            dest = PacsDestination(
                name=self.name_edit.text().strip(),
                host=self.host_edit.text().strip(),
                port=self.port_spin.value(),
                called_ae=self.called_edit.text().strip(),
                calling_ae=self.calling_edit.text().strip(),
            )
            if not dest.host:
                raise StudyError(f"PACS {dest.name}: the host is empty")
            others = [d for d in self.destinations if d.name != dest.name]
            save_destinations(self.config_path, [*others, dest])
        except (StudyError, OSError) as exc:
            self._error(str(exc))
            return False
        index = next((i for i, d in enumerate(self.destinations) if d.name == dest.name), None)
        if index is None:
            self.destinations.append(dest)
        else:
            self.destinations[index] = dest
        self._stop_sender(dest.name)
        self._start_sender(dest)
        self._fill_destinations()
        self.dest_list.setCurrentRow(self.destinations.index(dest))
        self.echo_label.setText(f"Saved {dest.describe()}")
        self.echo_label.setStyleSheet(f"color: {OK};")
        return True

    def remove_destination(self) -> None:
        dest = self.selected_destination()
        if dest is None:
            return
        remaining = [d for d in self.destinations if d.name != dest.name]
        try:
            save_destinations(self.config_path, remaining)
        except OSError as exc:
            self._error(f"cannot save {self.config_path}: {exc}")
            return
        self.destinations = remaining
        self._stop_sender(dest.name)
        self._fill_destinations()

    def _start_sender(self, dest: PacsDestination) -> None:
        sender = PacsSender(self.store.root, dest)
        self._status_bridge.watch(sender)
        sender.start()
        self.senders[dest.name] = sender
        for state in sender.states():
            self._show_state(state)

    def _stop_sender(self, name: str) -> None:
        sender = self.senders.pop(name, None)
        if sender is not None:
            sender.close()

    # --- verify and send -------------------------------------------------------------------------

    def verify_selected(self) -> None:
        """C-ECHO the selected destination on a worker thread; the answer shows below the form."""
        dest = self.selected_destination()
        if dest is None:
            self._error("Add a destination first")
            return
        self.echo_label.setText(f"Verifying {dest.describe()}…")
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
        self.echo_label.setText(("✓ " if result.ok else "✗ ") + result.message)
        self.echo_label.setStyleSheet(f"color: {OK if result.ok else ALARM}; font-weight: 600;")

    def refresh_studies(self) -> None:
        """List the stored studies, newest first, with the current one selected."""
        chosen = self.study_combo.currentData()
        current = self._current_study_uid()
        self.study_combo.blockSignals(True)
        self.study_combo.clear()
        studies = list(reversed(self.store.list_studies()))[:MAX_STUDIES_LISTED]
        for s in studies:
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

    def send_selected_study(self) -> int:
        """Queue the chosen study's captures for the selected destination; returns how many were added."""
        dest = self.selected_destination()
        uid = self.study_combo.currentData()
        if dest is None or not uid:
            self._error("Choose a destination and a study first")
            return 0
        try:
            study = self.store.get_study(str(uid))
        except StudyError as exc:
            self._error(str(exc))
            return 0
        self._name_captures(str(uid))
        added = self.senders[dest.name].enqueue_study(study)
        already = len(study.captures) - added
        note = f" ({already} already queued or sent)" if already else ""
        self.send_label.setText(f"{added} image(s) queued for {dest.describe()}{note}")
        self.send_label.setStyleSheet(f"color: {OK};")
        return added

    def _name_captures(self, study_uid: str | None = None) -> None:
        for c in self.store.list_captures(study_uid):
            self._capture_names[c.sop_instance_uid] = f"#{c.instance_number} {c.kind.value}"

    def _show_state(self, state: SendState) -> None:
        key = (state.sop_instance_uid, state.destination)
        item = self._rows.get(key)
        if item is None:
            if state.sop_instance_uid not in self._capture_names:
                self._name_captures()
            item = QTreeWidgetItem(self.status_tree)
            item.setText(0, self._capture_names.get(state.sop_instance_uid, state.sop_instance_uid[-12:]))
            item.setText(1, state.destination)
            self._rows[key] = item
        item.setText(2, state.status.value)
        item.setForeground(2, QColor(STATUS_COLOUR[state.status]))
        item.setText(3, state.last_error if state.status is not SendStatus.SENT else "")
        item.setToolTip(3, state.last_error)

    def status_of(self, sop_instance_uid: str, destination: str) -> str:
        """The status shown for a capture ('' if not listed): for tests and the help text."""
        item = self._rows.get((sop_instance_uid, destination))
        return item.text(2) if item is not None else ""

    def _error(self, text: str) -> None:
        self.echo_label.setText(text)
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
        for name in list(self.senders):
            self._stop_sender(name)
        self._echo_pool.shutdown(wait=True)
