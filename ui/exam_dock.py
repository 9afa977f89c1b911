"""ExamController and its dock: the exam in the main window, from "New exam…" to the report.

One exam is an `ExamSession` (a study, and the protocol checklist it follows). Every capture the window
takes, by checklist button, key or toolbar, is labelled on the GUI thread for the current step before
it is submitted; a capture the store then fails to keep is discarded from the step. With no exam
started, captures go to an automatic anonymous practice study: a scanner never loses a capture.
In practice mode the step's simulator scene is loaded with the probe away from the target, the trainee
finds the view, and a 5 Hz check against the simulator's ground truth tells the checklist when the
probe shows it; "Go to target view" shows it without credit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from protocols.exam_session import ExamSession
from protocols.model import ScanProtocol, Step
from protocols.procedure import ProcedureRole
from protocols.runner import (
    EventKind,
    RunnerError,
    RunnerEvent,
    TimeOutRequired,
    practice_probe_poses,
    practice_start_pose,
)
from scanner_app.annotations import BodyMarker
from scanner_app.capture import ImagingMode
from scanner_app.sim_control import INJECTATE_STRUCTURE, NEEDLE_STRUCTURE, SimulatorControl
from scanner_app.studies.export import export_deidentified
from scanner_app.studies.model import Patient, Study, StudyError
from scanner_app.studies.mpps import MppsNotifier
from scanner_app.studies.pacs import read_destinations
from scanner_app.studies.previous import previous_measurements
from scanner_app.studies.report import (
    SignedReport,
    sign_and_store_report,
    time_out_refusal,
    write_html_report,
    write_pdf_report,
)
from scanner_app.studies.store import StudyStore
from ui.capture_strip import CaptureOutcome
from ui.checklist_panel import ChecklistPanel
from ui.close_prompt import (
    CANCEL,
    EXAM_END,
    EXAM_KEEP_OPEN,
    NEW_EXAM_END_FIRST,
    NEW_EXAM_REVIEW,
    AskChoice,
    ask_choice,
)
from ui.exam_dialog import ExamDialog, ExamRequest, load_procedure_map, worklist_destination, worklist_source
from ui.pacs_panel import default_pacs_config_path
from ui.report_dialog import ReportDialog, ReportSigner, SigningOutcome
from ui.sim_panel import SimulatorTab
from ui.theme import ALARM, MUTED, OK
from ui.window_api import CloseRequest, ScannerWindow

log = logging.getLogger(__name__)

PRACTICE_CHECK_MS = 200  # 5 Hz: often enough to feel immediate, cheap next to rendering
# Protocol regions to the body-marker pictograms.
BODY_MARKER_BY_REGION = {
    "shoulder": "Shoulder",
    "elbow": "Elbow",
    "wrist": "Wrist / hand",
    "hip": "Hip",
    "knee": "Knee",
    "ankle": "Ankle / foot",
    "lower limb": "DVT groin / thigh",
}
DOCK_WIDTH = 470  # the dock's width on a wide screen; the window narrows it on a small one
DOCK_MIN_WIDTH = 290  # the checklist's rows still read at this width (1280 px screens)
PRACTICE_OPERATOR = "PRACTICE^OPERATOR"
WITHDRAWN_TEXT = "Needle withdrawn: the image after the procedure shows the target without it"


def subject_text(patient: Patient) -> str:
    if patient.practice_subject:
        return f"practice subject {patient.patient_id}"
    name = patient.name.replace("^", ", ") if patient.name else ""
    return f"{name} ({patient.patient_id})" if name else patient.patient_id


class ExamController(QObject):
    """Owns the current exam session and the checklist dock; labels every capture the window takes."""

    session_changed = pyqtSignal()  # a new exam (or the automatic practice study) began
    exam_ended = pyqtSignal(dict)  # the runner's record ({} without a protocol), once the study is ended
    step_changed = pyqtSignal()  # another step, exam or the exam's end: `needle_target()` may differ
    _session_started_elsewhere = pyqtSignal()  # the worker thread opened the practice study

    def __init__(
        self,
        store: StudyStore,
        protocols: Sequence[ScanProtocol] = (),
        *,
        operator: str = "",
        ask: AskChoice = ask_choice,
        pacs_config: Path | None = None,
    ) -> None:
        super().__init__()
        self._pacs_config = pacs_config  # where the worklist and MPPS destinations are (the PACS tab's file)
        self._mpps: MppsNotifier | None = None
        self._mpps_studies: set[str] = set()  # exams told "in progress", to be told how they ended
        self._ask = ask  # the question on closing the window with an exam open
        self._keep_open_on_close = False
        self.store = store
        self.protocols = list(protocols)
        self.operator = operator
        self.session: ExamSession | None = None
        self.last_study: Study | None = None  # the study report/export act on: the last exam started
        self.last_signed: SignedReport | None = None  # the report signed last (for the status line, tests)
        self.signer = ReportSigner(self)  # signs (renders the PDF) off the GUI thread
        self.signer.finished.connect(self._signed)
        self.automatic = False  # the session is the automatic practice study (no exam started)
        self.finished_text = ""
        self.window: ScannerWindow | None = None
        self.simulator: SimulatorTab | None = None  # the simulated patient, for practice mode
        self.panel: ChecklistPanel | None = None
        self._lock = threading.Lock()
        self._explicit: tuple[str, str, str, bool] | None = None
        self._target: tuple[str, str, dict[str, float]] | None = None
        self._target_step = ""  # the step whose target `_target` is
        self._wanted: frozenset[str] = frozenset()  # what the target view shows (ground truth)
        self.practice_timer = QTimer(self)
        self.practice_timer.setInterval(PRACTICE_CHECK_MS)
        self.practice_timer.timeout.connect(self.check_practice_view)
        self._session_started_elsewhere.connect(self._on_session_changed)

    # --- the study captures go to (any thread) ---------------------------------------------------

    def current_study(self) -> Study:
        """The study being captured into; opens an anonymous practice study when there is no exam."""
        return self._ensure_session().study

    def _ensure_session(self) -> ExamSession:
        with self._lock:
            session = self.session
            if session is not None and not session.ended:
                return session
            session = ExamSession.start(
                self.store, Patient.practice(), self.operator or PRACTICE_OPERATOR, practice=True
            )
            self.session = session
            self.automatic = True
            if self.last_study is None:
                self.last_study = session.study
        if threading.current_thread() is threading.main_thread():
            self._on_session_changed()
        else:
            self._session_started_elsewhere.emit()
        return session

    # --- the window ------------------------------------------------------------------------------

    def attach(self, window: ScannerWindow, simulator: SimulatorTab | None = None) -> None:
        """Put the checklist dock and the exam actions into the window and label its captures; with
        `simulator`, practice exams load each step's scene on the simulated patient."""
        self.window = window
        self.simulator = simulator
        window.set_capture_labeller(self)
        window.closing.connect(self._on_window_closing)
        window.finishing.connect(self.close)
        # A new exam (or practice study) is another patient: the strip starts empty.
        self.session_changed.connect(window.clear_captures)
        if simulator is not None:
            simulator.changed.connect(self._on_simulator_changed)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.exam_label = QLabel()
        self.exam_label.setWordWrap(True)
        self.exam_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.exam_label)
        # Why the last capture did not count, in full (the window's status line may cut it off).
        self.not_counted_label = QLabel()
        self.not_counted_label.setWordWrap(True)
        self.not_counted_label.setStyleSheet(f"color: {ALARM};")
        self.not_counted_label.hide()
        layout.addWidget(self.not_counted_label)
        window.capture_finished.connect(self._on_capture_finished)
        row = QGridLayout()  # two by two: four buttons in a row would set the dock's width
        self.new_button = QPushButton("New exam…")
        self.new_button.clicked.connect(self.new_exam_dialog)
        self.target_button = QPushButton("Go to target view")
        self.target_button.setToolTip("Move the simulated probe onto this step's target view")
        self.target_button.clicked.connect(self.go_to_target)
        self.report_button = QPushButton("Report…")
        self.report_button.setToolTip(
            "Impression and sign-off: the report is kept with the study and sent to PACS"
        )
        self.report_button.clicked.connect(lambda _=False: self.report_dialog())
        self.export_button = QPushButton("Teaching copy…")
        self.export_button.setToolTip("Export a de-identified teaching copy of the exam")
        self.export_button.clicked.connect(lambda _=False: self.export_teaching_copy())
        for i, b in enumerate((self.new_button, self.target_button, self.report_button, self.export_button)):
            row.addWidget(b, i // 2, i % 2)
        layout.addLayout(row)
        self.panel_area = QVBoxLayout()
        self.placeholder = QLabel(
            "No exam started: captures go to an anonymous practice study.\nStart one with New exam… (Ctrl+N)."
        )
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet(f"color: {MUTED};")
        self.panel_area.addWidget(self.placeholder)
        layout.addLayout(self.panel_area, 1)
        self.dock = window.add_dock(body, "Exam", Qt.DockWidgetArea.LeftDockWidgetArea)
        self.dock.setMinimumWidth(DOCK_MIN_WIDTH)

        window.add_toolbar_separator()
        self.new_action = window.add_action(
            "new_exam", ["Ctrl+N"], "New exam (patient, protocol)", self.new_exam_dialog, "New exam…"
        )
        self.end_action = window.add_action(
            "end_exam", [], "End the exam: review what is missing, then finish", self.request_end, "End exam"
        )
        self.report_action = window.add_action(
            "report",
            [],
            "Sign the exam's report (impression, sign-off; kept and sent to PACS)…",
            self.report_dialog,
        )
        self.report_copy_action = window.add_action(
            "report_copy", [], "Save a copy of the exam's report (HTML + PDF)…", self.write_report
        )
        self.export_action = window.add_action(
            "export_teaching", [], "De-identified teaching copy of the exam…", self.export_teaching_copy
        )
        self._refresh()
        self.finish_mpps_steps()  # exams ended before the last stop whose end the RIS was not told

    # --- CaptureLabeller (GUI thread) ------------------------------------------------------------

    def label(self, kind: str, imaging_mode: str = "bmode") -> tuple[str, dict[str, str]]:
        """Label a capture about to be stored: for the checklist's current step when an exam runs.

        `imaging_mode` is the mode the image was taken in: only that counts toward a requirement."""
        session = self._ensure_session()
        explicit, self._explicit = self._explicit, None
        try:
            if explicit is not None:
                capture_id, labels = session.label_capture(
                    explicit[0],
                    explicit[1],
                    mode=explicit[2],
                    contralateral=explicit[3],
                    imaging_mode=imaging_mode,
                )
            else:
                # The body marker's probe angle (following the simulated probe, set by the operator on
                # a real one) says which plane the image is in.
                angle = self.window.models.annotations.body_marker.probe_angle_deg if self.window else None
                capture_id, labels = session.label_capture(
                    kind, imaging_mode=imaging_mode, probe_angle_deg=angle
                )
        except TimeOutRequired as exc:
            # A needle image before the time-out: stored (never lost) but refused for the needle step;
            # the window says why with the save, so the message is not overwritten by it.
            return "", {"capture_note": str(exc)}
        except RunnerError as exc:
            # The image is still stored (never lost); it just does not count toward the step.
            self._say(f"Capture kept, not counted for the step: {exc}", error=True)
            self._show_not_counted(str(exc))
            return "", {}
        taken = session.runner.find_capture(capture_id) if session.runner and capture_id else None
        if taken is not None and taken.note:
            labels["capture_note"] = taken.note  # the window says it with the save (kept with the capture)
        return capture_id, {k: str(v) for k, v in labels.items()}

    def _on_capture_finished(self, outcome: CaptureOutcome) -> None:
        note = str(outcome.labels.get("capture_note", ""))
        plane_note = str(outcome.labels.get("plane_note", ""))
        # A capture labelled for a step either did not count (its note) or counted (the reason shown
        # for the one before no longer applies); one the checklist refused keeps the refusal shown.
        if outcome.record is not None and (note or outcome.labels.get("step_id")):
            self._show_not_counted(note, plane_note)

    def _show_not_counted(self, reason: str, plane_note: str = "") -> None:
        lines = [f"Last capture kept, not counted for the step: {reason}"] if reason else []
        lines += [f"Last capture's plane: {plane_note}"] if plane_note else []
        self.not_counted_label.setText("\n".join(lines))
        self.not_counted_label.setVisible(bool(lines))

    def discard(self, capture_id: str) -> None:
        session = self.session
        if session is not None:
            session.discard_capture(capture_id)

    def relabel(self, capture_id: str, step_id: str, plane: str) -> dict[str, str]:
        """Move a capture to another step/plane of the running checklist (RunnerError if it cannot)."""
        session = self.session
        if session is None or session.ended:
            raise RunnerError("no exam is running")
        labels = session.relabel_capture(capture_id, step_id, plane)
        return {k: str(v) for k, v in labels.items()}

    def label_targets(self) -> list[tuple[str, str, str]]:
        session = self.session
        if session is None or session.ended or session.runner is None or session.runner.ended:
            return []
        return session.capture_targets()

    # --- exams -----------------------------------------------------------------------------------

    def new_exam_dialog(self) -> None:
        """Ask for the patient and protocol, then start the exam (ending the one before, once the
        operator agreed to end it)."""
        if not self._may_end_for_new_exam():
            return
        window = self.window
        worklist = worklist_destination(self._pacs_config or default_pacs_config_path())
        dialog = ExamDialog(
            self.protocols,
            has_simulator=self._sim() is not None,
            operator=self.operator,
            parent=window.dialog_parent() if window is not None else None,
            worklist=worklist_source(worklist) if worklist is not None else None,
            procedure_map=load_procedure_map(),
            station_ae=worklist.calling_ae if worklist is not None else "",
            known_patient=self.known_patient,
        )
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.request is not None:
            self.start_exam(dialog.request)

    def known_patient(self, patient_id: str) -> Patient | None:
        """The patient kept under `patient_id` in this store (as its newest study has them), or None."""
        studies = [s for s in self.store.studies_of_patient(patient_id) if not s.patient.practice_subject]
        return studies[-1].patient if studies else None  # oldest first: the newest's

    def _may_end_for_new_exam(self) -> bool:
        """An exam the operator started is open: a new exam ends it only when they say so, told what
        its checklist still misses; "Review" shows that list instead (as End exam does)."""
        session = self.session
        if session is None or session.ended or self.automatic:
            return True
        runner = session.runner
        missing = len(runner.completeness().missing) if runner is not None and not runner.ended else 0
        what = f" and its checklist misses {missing} item{'s' if missing != 1 else ''}" if missing else ""
        choices = (NEW_EXAM_END_FIRST, NEW_EXAM_REVIEW, CANCEL) if missing else (NEW_EXAM_END_FIRST, CANCEL)
        choice = self._ask(
            self._dialog_parent(),
            "Exam open",
            f"The exam of {subject_text(session.study.patient)} is still open{what}. "
            "A new exam ends it (its images and record are kept).",
            choices,
        )
        if choice == NEW_EXAM_REVIEW:
            self.request_end()
        return choice == NEW_EXAM_END_FIRST

    def start_exam(self, request: ExamRequest) -> None:
        """End the current exam (once its captures are stored), then start the requested one."""
        self._when_captures_stored(lambda: self._start(request))

    def _start(self, request: ExamRequest) -> None:
        self._end_session()
        self.operator = request.operator
        try:
            session = ExamSession.start(
                self.store,
                request.patient,
                request.operator,
                protocol=request.protocol,
                side=request.side,
                quadrant=request.quadrant,
                practice=request.practice,
                trainee=request.trainee,
                supervisor=request.supervisor,
                order=request.order,
            )
        except (StudyError, RunnerError) as exc:
            self._say(f"Exam not started: {exc}", error=True)
            return
        with self._lock:
            self.session = session
            self.automatic = False
            self.last_study = session.study
        self._mpps_started(session)
        # The status line speaks of this exam now, not of the one before ("Logbook: exam recorded").
        what = request.protocol.title if request.protocol is not None else "no protocol"
        self._say(f"Exam started: {subject_text(session.study.patient)} — {what}")
        self._on_session_changed()

    def request_end(self) -> None:
        """The operator asks to end: with a checklist running, its review lists what is still missing
        and "Finish" ends the exam; with no checklist, the exam ends now."""
        session = self.session
        runner = session.runner if session is not None else None
        if self.panel is not None and runner is not None and not runner.ended:
            self.dock.show()
            self.panel.show_review()
            return
        self.end_exam()

    def end_exam(self) -> None:
        """End the current exam (after its pending captures are stored); its study is kept."""
        self._when_captures_stored(self._end_session)

    def _end_session(self) -> None:
        session = self.session
        if session is None or session.ended:
            return
        practice_summary = (
            session.runner.practice_summary()
            if session.runner is not None and session.runner.practice
            else None
        )
        try:
            record = session.end()
        except StudyError as exc:
            self._say(f"Exam record not saved: {exc}", error=True)
            return
        self.practice_timer.stop()
        self._mpps_ended(session)
        if not self.automatic:
            self.last_study = session.study
        text = f"Exam ended: {subject_text(session.study.patient)}"
        if record:
            text += " — complete" if record.get("complete") else " — items missing"
        if practice_summary is not None:
            minutes, seconds = divmod(round(practice_summary.time_taken_s), 60)
            text += (
                f" — practice: {practice_summary.steps_done}/{practice_summary.steps_total} steps in "
                f"{minutes} min {seconds:02d} s, {len(practice_summary.views_found)}/"
                f"{practice_summary.views_total} views found"
            )
        self.finished_text = text
        self._say(text + ". Report or teaching copy from the Exam dock.")
        self._refresh()
        self.exam_ended.emit(record)
        self.step_changed.emit()  # an ended exam asks for no needle target

    def _when_captures_stored(self, fn: Callable[[], None]) -> None:
        """Run `fn` now, or once the captures already taken are stored (they belong to this exam)."""
        window = self.window
        if window is None or window.pending_captures == 0:
            fn()
            return

        def check(_outcome: object) -> None:
            if window.pending_captures == 0:
                window.capture_finished.disconnect(check)
                fn()

        window.capture_finished.connect(check)

    def _on_window_closing(self, request: CloseRequest) -> None:
        """An exam the user started is open: end it, keep it open for later, or do not close."""
        session = self.session
        self._keep_open_on_close = False
        if session is None or session.ended or self.automatic:
            return  # the automatic practice study ends quietly, as before
        who = subject_text(session.study.patient)
        choice = self._ask(
            self._dialog_parent(),
            "Exam open",
            f"The exam of {who} is still open. End it now, or keep it open and close the window "
            "(its images and checklist are kept; end it later)?",
            (EXAM_END, EXAM_KEEP_OPEN, CANCEL),
        )
        if choice == CANCEL:
            request.veto("the exam is still open")
        self._keep_open_on_close = choice == EXAM_KEEP_OPEN

    def close(self) -> None:
        """The window closes (its captures are stored): end the exam so its record is kept, or keep
        it open (its record so far saved with the study) when the user chose so."""
        self.practice_timer.stop()
        self.signer.shutdown()  # a report being signed is kept before the exam is closed
        session = self.session
        if self._keep_open_on_close and session is not None and not session.ended:
            try:
                session.keep_open()
            except StudyError as exc:
                log.error("exam record not saved on close: %s", exc)
        else:
            self._end_session()
        if self._mpps is not None:
            self._mpps.close()  # after the exam's end was handed to it
            self._mpps = None

    # --- MPPS ------------------------------------------------------------------------------------

    def _mpps_notifier(self) -> MppsNotifier | None:
        """The notifier for the PACS tab's MPPS destinations (None: there are none)."""
        if self._mpps is None:
            path = self._pacs_config or default_pacs_config_path()
            found = read_destinations(path).destinations if path.exists() else ()
            if not any(d.mpps for d in found):
                return None
            # The steps are kept with each study, so a restart mid-exam still ends them.
            self._mpps = MppsNotifier(found, store_root=self.store.root)
        return self._mpps

    def finish_mpps_steps(self) -> int:
        """Tell the MPPS destinations how exams ended that they still think in progress (the app
        stopped before telling them, or they were unreachable then); returns how many exams."""
        notifier = self._mpps_notifier()
        if notifier is None:
            return 0
        ended = []
        for study_uid in notifier.unfinished():
            try:
                study = self.store.get_study(study_uid)  # with every image kept
            except StudyError as exc:  # a folder the index does not know: not ours to end
                log.warning("MPPS step of an unknown study %s: %s", study_uid, exc)
                continue
            if study.ended_at is not None:  # one still open is ended (and told) when its exam is
                ended.append(study)
                notifier.ended(study)
        return len(ended)

    def _mpps_started(self, session: ExamSession) -> None:
        """Tell the MPPS destinations (PACS tab) that a patient's exam is in progress."""
        if session.study.patient.practice_subject:
            return
        notifier = self._mpps_notifier()
        if notifier is None:
            return
        self._mpps_studies.add(session.study.study_uid)
        notifier.started(session.study)

    def _mpps_ended(self, session: ExamSession) -> None:
        uid = session.study.study_uid
        if self._mpps is not None and uid in self._mpps_studies:
            self._mpps_studies.discard(uid)
            self._mpps.ended(self.store.get_study(uid))  # with every image kept

    # --- the checklist ---------------------------------------------------------------------------

    def _mark_body(self, session: ExamSession) -> None:
        """Put the exam's side, and its region, on the body marker, so every image shows where it is
        from. On the simulated probe the region is where the probe is, its scene (the Sim tab keeps
        the marker on it): the protocol's region there showed the groin while the probe was still on
        the knee, before a step moved it."""
        assert self.window is not None and session.runner is not None
        region = (
            None if self._sim() is not None else BODY_MARKER_BY_REGION.get(session.runner.protocol.region)
        )
        side = {"left": "L", "right": "R"}.get(session.runner.side)
        annotations = self.window.models.annotations
        marker = annotations.body_marker
        if region is not None or side is not None:
            annotations.set_body_marker(
                BodyMarker(
                    region or marker.region, side or marker.side, marker.probe_along, marker.probe_angle_deg
                )
            )

    def _start_clean(self, doppler_off: str = "") -> None:
        """A new step, exam or patient: no caliper or text of the one before may be drawn or saved, and
        the image is live (a frozen image is the step before's); with `doppler_off` (why), Doppler is
        turned off, so the step's B-mode captures are not taken (and labelled) as Doppler."""
        if self.window is not None:
            self._show_not_counted("")
            self.window.models.cine.unfreeze()
            self.window.models.measurements.clear()
            self.window.models.annotations.clear()
            if doppler_off:
                self.window.models.imaging.request_doppler_off(doppler_off)

    def _on_session_changed(self) -> None:
        session = self.session
        self.finished_text = ""
        if self.window is not None:
            if not self.automatic:
                # (not for the automatic practice study: it opens on a capture that carries its own)
                self._start_clean(doppler_off="a new exam starts in B-mode")
            if self.panel is not None:
                self.panel_area.removeWidget(self.panel)
                self.panel.hide()
                self.panel.deleteLater()
                self.panel = None
            self._target = None
            self._target_step = ""
            if session is not None and session.runner is not None:
                patient = session.study.patient
                previous = (
                    {}
                    if patient.practice_subject
                    else previous_measurements(self.store, patient.patient_id, session.study.study_uid)
                )
                panel = ChecklistPanel(
                    session.runner, measurements=self.window.models.measurements, previous=previous
                )
                panel.practice_label.setWordWrap(True)
                panel.preset_requested.connect(self.window.apply_preset)
                panel.capture_requested.connect(self.capture_for_step)
                panel.practice_target_requested.connect(self.load_practice_target)
                panel.exam_finished.connect(lambda _record: self.end_exam())
                self.panel = panel
                self.panel_area.addWidget(panel)
                self._mark_body(session)

                def mark_side(event: RunnerEvent, s: ExamSession = session) -> None:
                    if event.kind is EventKind.SIDE_CHOSEN:
                        self._mark_body(s)
                    elif event.kind is EventKind.STEP_CHANGED:
                        step = s.runner.current_step if s.runner is not None else None
                        bmode_only = step is not None and not _asks_for_doppler(step)
                        self._start_clean(doppler_off="this step asks for B-mode only" if bmode_only else "")
                        self.follow_step_scene()
                        self.step_changed.emit()

                session.runner.changed.connect(mark_side)
                self.follow_step_scene()  # before the panel announces the step (its preset)
                panel.start()
                self.window.resize_dock(self.dock, DOCK_WIDTH)  # once the checklist shows its step
                if session.runner.practice and self._sim() is not None:
                    self.practice_timer.start()
            else:
                self.practice_timer.stop()
            self.placeholder.setVisible(self.panel is None)
            self._refresh()
        self.session_changed.emit()
        self.step_changed.emit()

    def capture_for_step(self, kind: str, plane: str, mode: str, contralateral: bool) -> None:
        """A checklist capture button: take the capture, labelled for exactly that requirement."""
        assert self.window is not None
        self._explicit = (kind, plane, mode, contralateral)
        try:
            if kind == "clip":
                self.window.capture_clip()
            else:
                self.window.capture_still()
        finally:
            self._explicit = None  # not consumed when there was nothing to capture

    # --- practice --------------------------------------------------------------------------------

    def load_practice_target(self, scene_id: str, variant: str, pose: dict[str, float]) -> None:
        """A practice step began: load its scene and variant, put the probe at the step's start pose
        (away from the target) and work out what the target view shows. Asked again for the same
        step (the checklist's "Show target"), it shows the target, as "Go to target view" does."""
        session = self.session
        runner = session.runner if session is not None else None
        step_target = runner.current_step.practice if runner is not None else None
        step_id = runner.current_step.id if runner is not None else ""
        again = self._target is not None and self._target_step == step_id
        self._target = (scene_id, variant, dict(pose))
        self._target_step = step_id
        sim = self._sim()
        if sim is None:
            self._refresh()
            return
        if again:
            self.go_to_target()
            return
        wanted = (scene_id, None if variant == "normal" else variant)
        if tuple(sim.current_scene()) != wanted:
            sim.set_scene(*wanted)
        self._wanted = frozenset()
        if step_target is not None and step_target.pose:
            # What the view must show: the structures the plane cuts at the target and half a
            # tolerance around it (ground truth, at zero pressure).
            truths = [sim.view_truth(p).structures_in_view for p in practice_probe_poses(step_target)]
            # The anatomy only: a needle left from the step before is judged by the target's own
            # needle requirement, if it has one.
            self._wanted = frozenset.intersection(*truths) - {NEEDLE_STRUCTURE, INJECTATE_STRUCTURE}
            if self._withdraw_needle_for_after_image():
                self._say(WITHDRAWN_TEXT)
            sim.set_pose(**practice_start_pose(step_target))
        self._refresh_sim_panel()
        self._refresh()

    def follow_step_scene(self) -> None:
        """A plain exam (not practice) on the simulated probe: show the simulated patient the current
        step's practice scene and variant, as practice mode does, with no target, start pose or
        scoring. Another scene opens at its first view (as chosen on the Sim tab); another variant
        of the same scene keeps the probe where the sonographer has it. Nothing on a real probe."""
        session = self.session
        runner = session.runner if session is not None else None
        sim = self._sim()
        if runner is None or runner.practice or runner.ended or sim is None:
            return  # practice mode loads its targets itself (`load_practice_target`)
        target = runner.current_step.practice
        if target is None:
            return  # a step with no scene of its own keeps the one shown
        wanted = (target.scene, None if target.variant == "normal" else target.variant)
        shown = tuple(sim.current_scene())
        if shown != wanted:
            pose = sim.get_pose()
            sim.set_scene(*wanted)
            if shown[0] == target.scene:
                sim.set_pose(**pose)  # the same anatomy: the scan goes on where it was
            self._refresh_sim_panel()

    def needle_target(self) -> tuple[str, str]:
        """(scene, structure) the current step's needle must reach, as its practice target names it
        (`tip_in` or `tip_beside`); ("", "") when the step has none or no exam runs."""
        session = self.session
        runner = session.runner if session is not None else None
        if runner is None or runner.ended:
            return "", ""
        target = runner.current_step.practice
        if target is None or target.needle is None:
            return "", ""
        return target.scene, target.needle.structure

    def go_to_target(self) -> None:
        """The trainee asked to see the target: move the virtual probe onto it with no pressure. It
        counts as shown, not found: credit needs the trainee to bring the probe back there."""
        sim = self._sim()
        session = self.session
        if sim is None or self._target is None:
            return
        scene_id, variant, pose = self._target
        if sim.current_scene()[0] != scene_id:
            sim.set_scene(scene_id, None if variant == "normal" else variant)
        withdrawn = self._withdraw_needle_for_after_image()
        sim.set_pose(**{**pose, "pressure": 0.0})
        if session is not None and session.runner is not None and not session.runner.ended:
            try:
                session.runner.show_practice_view()
            except RunnerError as exc:
                log.warning("practice view not shown: %s", exc)
        self._refresh_sim_panel()
        shown = "Target view shown, not found: move away and find it yourself to have it counted"
        self._say(f"{WITHDRAWN_TEXT}. {shown}" if withdrawn else shown)

    def _withdraw_needle_for_after_image(self) -> bool:
        """A post-procedure step images the target once the needle is out: pull a needle still in
        the simulated patient back to the skin (it leaves the image), keeping what it injected,
        which the after-image shows. True when a needle was withdrawn."""
        sim = self._sim()
        session = self.session
        runner = session.runner if session is not None else None
        if sim is None or runner is None or runner.ended:
            return False
        if runner.current_step.procedure_role is not ProcedureRole.POST_PROCEDURE:
            return False
        truth = sim.needle_truth()
        if truth is None or truth.inserted_mm <= 0:
            return False
        sim.advance_needle(-truth.inserted_mm)
        return True

    def check_practice_view(self) -> None:
        """Timer tick in practice mode: does the virtual probe show the current step's target view
        (pose within tolerance, and the simulator's ground truth: structures in view, vein open)?"""
        session = self.session
        sim = self._sim()
        if session is None or session.runner is None or session.runner.ended or sim is None:
            return
        runner = session.runner
        found_before = runner.view_found()
        try:
            runner.check_practice_view(sim.current_scene()[0], sim.get_pose(), sim.view_truth(), self._wanted)
        except RunnerError as exc:
            log.warning("practice view check failed: %s", exc)
            return
        if runner.view_found() and not found_before:
            # Said where the trainee looks, replacing "Target view shown, not found" if that was last.
            self._say(f"View found: {runner.current_step.title}")

    def _sim(self) -> SimulatorControl | None:
        return self.simulator.control if self.simulator is not None else None

    def _refresh_sim_panel(self) -> None:
        if self.simulator is not None:
            self.simulator.refresh()

    def _on_simulator_changed(self) -> None:
        session = self.session
        practice = session is not None and session.runner is not None and session.runner.practice
        if practice and self._sim() is not None:
            self.practice_timer.start()
        else:
            self.practice_timer.stop()
        self.follow_step_scene()  # switched to the simulated probe mid-exam: its scene follows too
        self._refresh()

    # --- report and export -----------------------------------------------------------------------

    def _study_for_actions(self, what: str) -> Study | None:
        """The last exam's study for `what` ("report", "export"), or None, said in words: when there
        is none yet, or it has since been deleted here (by hand or by retention, once a PACS
        committed it; the PACS keeps it)."""
        study = self.last_study
        if study is None:
            self._say(f"No study to {what} yet", error=True)
            return None
        try:
            self.store.get_study(study.study_uid)
        except StudyError:
            self.last_study = None
            self._refresh()
            self._say(
                f"No study to {what}: {study.study_id} was deleted from this scanner (the PACS keeps it)",
                error=True,
            )
            return None
        return study

    def _titles_for(self, study: Study) -> dict[str, str]:
        """The protocol's measurement titles by id, so the report names each in words."""
        titles: dict[str, str] = {}
        for protocol in self.protocols:
            if protocol.id == study.protocol_id:
                for step in protocol.steps:
                    for follow_up in step.follow_ups:
                        titles.update({m.id: m.title for m in follow_up.measurements})
        return titles

    def report_dialog(self) -> None:
        """Ask for the impression and who signs, then sign the report (ending the exam first)."""
        study = self._study_for_actions("report")
        if study is None:
            return
        dialog = self.make_report_dialog(study)
        try:
            dialog.exec()  # it stays open, responsive, while the report is signed on the worker
        finally:
            self.signer.finished.disconnect(dialog.signing_finished)

    def make_report_dialog(self, study: Study) -> ReportDialog:
        """The sign-off dialog for `study`, signing through `sign_report` and closing once signed."""
        dialog = ReportDialog(
            self.store.get_study(study.study_uid), self._dialog_parent(), sign=self.sign_report
        )
        self.signer.finished.connect(dialog.signing_finished)
        return dialog

    def sign_report(self, impression: str, signed_by: str) -> None:
        """Sign the last exam's report once its captures are stored and it has ended; the report is
        kept with the study (HTML, PDF, Encapsulated PDF) and queued for the PACS the study went to.
        The signing runs on the signer's worker thread: `signer.finished` tells how it ended."""
        study = self._study_for_actions("report")
        if study is None:
            self.signer.fail("no study to report")
            return

        def sign() -> None:
            session = self.session
            if session is not None and session.study.study_uid == study.study_uid and not session.ended:
                # A procedure is not signed (nor its exam ended by signing) before its time-out is
                # recorded: the exam stays open so the Time-out tab can still record it.
                runner = session.runner
                refusal = time_out_refusal(runner.record().procedure) if runner is not None else ""
                if refusal:
                    why = f"{refusal}. Record it on the Time-out tab (or skip it with a reason), then sign"
                    self._say(f"Report not signed: {why}", error=True)
                    self.signer.fail(why)
                    return
                self._end_session()
            store, uid, titles = self.store, study.study_uid, self._titles_for(study)
            self.signer.submit(
                lambda: sign_and_store_report(store, uid, impression, signed_by, titles=titles)
            )

        self._when_captures_stored(sign)

    def _signed(self, outcome: SigningOutcome) -> None:
        if outcome.signed is None:
            self._say(f"Report not signed: {outcome.error}", error=True)
            return
        self.last_signed = signed = outcome.signed
        self._say(
            f"Report signed and kept with the study ({signed.pdf.name}); it goes to PACS with the study"
        )

    def write_report(self, folder: Path | None = None) -> tuple[Path, Path] | None:
        """Write the exam's report as HTML and PDF into `folder` (asked for when None)."""
        study = self._study_for_actions("report")
        if study is None:
            return None
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self._dialog_parent(), "Folder for the report")
            if not chosen:
                return None
            folder = Path(chosen)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            titles = self._titles_for(study)
            html = write_html_report(
                self.store, study.study_uid, folder / f"report-{study.study_id}.html", titles=titles
            )
            pdf = write_pdf_report(
                self.store, study.study_uid, folder / f"report-{study.study_id}.pdf", titles=titles
            )
        except (StudyError, OSError) as exc:
            self._say(f"Report not written: {exc}", error=True)
            return None
        self._say(f"Report written: {html} and {pdf.name}")
        return html, pdf

    def export_teaching_copy(self, folder: Path | None = None) -> Any:
        """Export a de-identified copy of the exam's captures into `folder` (asked for when None)."""
        study = self._study_for_actions("export")
        if study is None:
            return None
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(
                self._dialog_parent(), "Empty folder for the teaching copy"
            )
            if not chosen:
                return None
            folder = Path(chosen)
        try:
            export = export_deidentified(self.store, study.study_uid, folder)
        except (StudyError, OSError) as exc:
            self._say(f"Teaching copy not exported: {exc}", error=True)
            return None
        self._say(f"Teaching copy ({len(export.files)} images, {export.pseudonym}) in {folder}")
        return export

    # --- display ---------------------------------------------------------------------------------

    def _dialog_parent(self) -> QWidget | None:
        return self.window.dialog_parent() if self.window is not None else None

    def _say(self, text: str, error: bool = False) -> None:
        if self.window is not None:
            self.window.show_message(text, error)

    def _refresh(self) -> None:
        window = self.window
        if window is None:
            return
        session = self.session
        practice_mode = (
            session is not None
            and session.runner is not None
            and session.runner.practice
            and not session.runner.ended
        )
        self.target_button.setVisible(practice_mode and self._sim() is not None)
        self.target_button.setEnabled(self._target is not None)
        has_study = self.last_study is not None
        for w in (self.report_button, self.export_button):
            w.setEnabled(has_study)
        self.report_action.setEnabled(has_study)
        self.report_copy_action.setEnabled(has_study)
        self.export_action.setEnabled(has_study)
        self.end_action.setEnabled(session is not None and not session.ended)
        if session is None:
            title, line = "no exam", "<b>No exam</b>"
        else:
            who = subject_text(session.study.patient)
            protocol = session.protocol
            what = protocol.title if protocol is not None else "no protocol"
            if self.automatic:
                what = "automatic practice study (no exam started)"
            mode = " · PRACTICE" if practice_mode else ""
            title = f"{who} — {what}{mode}"
            state = "ended" if session.ended else "capturing"
            line = (
                f"<b>{who}</b><br><span style='color:{MUTED}'>{what}{mode} · study "
                f"{session.study.study_id} · {state}</span>"
            )
        if self.finished_text:
            line += f"<br><span style='color:{OK}'>{self.finished_text}</span>"
        window.set_context_title(title)
        self.exam_label.setText(line)


def _asks_for_doppler(step: Step) -> bool:
    """Whether a step asks for a capture in a Doppler mode (a follow-up's, asked only once its finding
    is chosen, does not keep Doppler on: the operator turns it on for it)."""
    return any(r.mode is not ImagingMode.BMODE for r in step.captures)
