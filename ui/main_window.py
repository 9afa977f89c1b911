"""MainWindow: the scanner screen: image, imaging controls, cine, captures, measurements and probe.

Composition only: widgets change the Qt-free models (`ScannerModels`, built by main.py); models drive
the engine; the bridge brings the engine's events back. Features (exam, PACS, simulator, ...) attach
through the extension points listed in `ui.window_api.ScannerWindow` and touch nothing else. Closing
the window asks features (`closing`, which they may veto), saves preferences, finishes pending
captures, stops the engine's thread, then lets features finish (`finishing`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

from PyQt6.QtCore import QByteArray, QCoreApplication, QEvent, QObject, QRect, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QFocusEvent, QKeySequence, QResizeEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QGraphicsObject,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSizePolicy,
    QSlider,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from scanner_app.annotations import BODY_MARKERS, BodyMarker
from scanner_app.capture import CaptureSink, ImagingMode, StoredCapture, shown_pixels
from scanner_app.doppler_capture import DopplerContent
from scanner_app.dual_image import compose_dual
from scanner_app.engine import (
    AcquisitionEngine,
    EngineState,
    ProbeConnected,
    ProbeEventReceived,
    SettingApplied,
    SettingFailed,
    StateChanged,
    StatusReport,
)
from scanner_app.frame import Frame
from scanner_app.headless import link_saturated_message
from scanner_app.imaging_model import PRESETS, SettingChange, grey_maps
from scanner_app.probe import ProbeDescriptor, ProbeEventKind, SettingKey
from ui.bridge import DopplerBridge, EngineBridge
from ui.capture_review import CaptureReview
from ui.capture_strip import CaptureOutcome, CaptureStrip, CaptureWorker
from ui.cine_bar import CineBar
from ui.close_prompt import CANCEL, CLIP_DISCARD, CLIP_SAVE, ask_choice
from ui.controls import ImagingControls
from ui.help_overlay import HelpOverlay
from ui.image_view import ScannerImageView
from ui.measure_panel import MeasurePanel
from ui.probe_panel import ProbePanel, banner_text
from ui.side_panel import EXPANDED_MIN_WIDTH_PX, SidePanel, let_narrow
from ui.theme import ALARM, OK
from ui.user_folders import user_path
from ui.window_api import CaptureLabeller, CloseRequest, DopplerCaptureSource, ScannerModels

__all__ = ["CaptureLabeller", "CloseRequest", "MainWindow", "ScannerModels"]

DEFAULT_PROBE_SPECS = ("sim", "sim-serial", "usb", "serial:/dev/ttyUSB0")
WINDOW_TITLE = "Scanner"
DEPTH_STEP_MM = 5.0
GAIN_STEP_DB = 1.0
_SETTING_WORDS = {SettingKey.DEPTH_MM: "depth", SettingKey.GAIN_DB: "gain"}
# Image first: with a dock open the image column keeps this share of the window's width (with the
# toolbar and the bottom row, about 60 % of the window's area at 1280 x 800 and 1280 x 720).
IMAGE_MIN_WIDTH_SHARE = 0.7
DOCK_SHARE = 0.23  # a feature's dock at most this share of the window's width (its minimum wins)
SIDE_PANEL_SHARE = 0.24
SIDE_PANEL_MAX_PX = 400
CLOSE_WAIT_S = 5.0  # how long closing the window waits for the acquisition thread's last frame
SIDE_PANEL_MAX_SHARE = 0.26  # the image keeps the rest (image-first)
STRIP_THUMB_PX = 40
STRIP_CELL_PX = STRIP_THUMB_PX + 64  # room for a caption's step number, plane and Doppler mode
STATE_LABEL_MAX_PX = 280
MESSAGE_MIN_PX = 120  # the status message's least width (it wraps to two lines; the whole in its tooltip)
FREEZE_TEXTS = ("❄ Freeze", "▶ Live")  # the freeze button's text, live and frozen
STATUS_USUAL_TEXTS = (
    "streaming",
    "120.0 frames/s",
    "drops 9999",
)  # the widest the line shows while streaming
SCROLL_BAR_PX = 16


def default_preferences_path() -> Path:
    return user_path("preferences.json", config=True)


def default_capture_dir() -> Path:
    return user_path("captures", config=False)


class MainWindow(QMainWindow):
    """The scanner's main window (a `ScannerWindow` for features); closing it stops acquisition and
    joins the engine's thread."""

    capture_finished = pyqtSignal(object)  # CaptureOutcome, after the strip and messages are updated
    closing = pyqtSignal(object)  # CloseRequest: the user asks to close; a feature may veto
    finishing = pyqtSignal()  # the close goes ahead and captures are stored: features finish now
    image_clicked = pyqtSignal(float, float)  # (x_mm, depth_mm) a click on the image, no caliper placing
    cancelled = pyqtSignal()  # Esc with no help, text box or caliper of the window's own to close first
    probe_switched = pyqtSignal(str)  # the probe picker's switch is done: the new probe's spec
    _switch_done = pyqtSignal(str, object)  # (spec, Future) from the switch's worker thread

    def __init__(
        self,
        engine: AcquisitionEngine,
        models: ScannerModels,
        *,
        probe_specs: Sequence[str] = DEFAULT_PROBE_SPECS,
        switch_probe: Callable[[str], Future[None]] | None = None,
        current_probe: str = "sim",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self._models = models
        self.prefs = models.preferences
        self._switch_probe = switch_probe
        self.extra_labels: dict[str, str] = {}  # e.g. the protocol step; stored with every capture
        self._capture_labeller: CaptureLabeller | None = None  # the exam: labels every capture for its step
        self._imaging_mode = ImagingMode.BMODE  # the mode in force (the Doppler feature's readback)
        self._doppler_source: DopplerCaptureSource | None = None  # what Doppler showed with a capture
        # ids from the labeller, in submission order: the worker's single thread finishes jobs in order
        self._labelled_ids: collections.deque[str] = collections.deque()
        self.descriptor: ProbeDescriptor | None = None
        self.status: StatusReport | None = None
        self._clip_start_ns: int | None = None
        self._closed = False
        self.setWindowTitle(WINDOW_TITLE)

        # models (read-only names for the window's own widgets and the tests)
        self.imaging = models.imaging
        self.cine = models.cine
        self.measurements = models.measurements
        self.annotations = models.annotations
        self._load_preferences()

        # engine side
        self.bridge = EngineBridge(engine, self)
        self.view = ScannerImageView(
            engine.ring, self.bridge.take_frame_notice, self.measurements, self.annotations, self
        )
        self.cine_bar = CineBar(self.cine)
        self.strip = CaptureStrip(step_numbers=self._step_numbers)
        self.worker = CaptureWorker(self)
        self.review = CaptureReview(
            self.strip, models.capture_sink, lambda: self._capture_labeller, say=self._message, parent=self
        )
        self._image_panel: QWidget | None = None  # a feature's widget over the image (dual screen)

        # side panels
        self.controls = ImagingControls(self.imaging)
        self.measure_panel = MeasurePanel(
            self.measurements, begin=self.begin_measurement, delete=self.delete_selected
        )
        self.probe_panel = ProbePanel(probe_specs, self._switch if switch_probe else None, current_probe)
        self.tabs = SidePanel()
        self.tabs.addTab(self.controls, "Imaging")
        self.tabs.addTab(self._annotate_tab(), "Measure")
        self.tabs.addTab(self.probe_panel, "Probe")
        self._build_layout()

        self.annotation_edit = QLineEdit(self.view)
        self.annotation_edit.setPlaceholderText("annotation text, Enter to place")
        self.annotation_edit.setFixedWidth(320)
        self.annotation_edit.hide()
        self.annotation_edit.returnPressed.connect(self._place_annotation)
        self.annotation_edit.installEventFilter(self)  # leaving the box places its text
        self._annotation_at: tuple[float, float] | None = None
        self._last_click_mm: tuple[float, float] | None = None

        # status bar
        self.state_label = QLabel("disconnected")
        self.rate_label = QLabel("— frames/s")
        self.drops_label = QLabel("drops 0")
        self._probe_drops_told = 0  # the probe's own drops last shown (StatusReport.probe_tx_dropped)
        self.message_label = QLabel("")
        self._place_status_widgets()

        self.shortcut_table: list[tuple[str, str]] = []
        self.actions_by_name: dict[str, QAction] = {}
        self._build_actions()
        # Over the whole window, a child of it: a child of the splitter would become a third pane.
        self.help = HelpOverlay(self.shortcut_table, self)

        # wiring
        self.bridge.frame_available.connect(self.view.frame_available)
        self.bridge.state_changed.connect(self._on_state)
        self.bridge.status_reported.connect(self._on_status)
        self.bridge.probe_connected.connect(self._on_connected)
        self.bridge.setting_applied.connect(self._on_setting_applied)
        self.bridge.setting_failed.connect(self._on_setting_failed)
        self.bridge.probe_event.connect(self._on_probe_event)
        self._switch_done.connect(self._on_switch_done)  # queued: the future completes on a worker
        self.worker.finished.connect(self._on_capture_done)
        self.view.clicked_mm.connect(self._on_image_click)
        self.view.free_click_mm.connect(self._on_free_click)
        self.view.wheel_steps.connect(self._cine_step)
        # The image refitted (a side tab opened, the window resized): the text box stays on its point.
        self.view.plot.vb.sigResized.connect(lambda _vb: self._follow_annotation_box())
        self.imaging.setting_changed.connect(self._on_setting_change)
        self.imaging.view_changed.connect(self._on_view_state)
        self.cine.changed.connect(self._on_cine)
        self._on_view_state()
        self._update_info()
        self.view.set_banner(banner_text(engine.state, engine.reason))
        self._restore_layout()
        self.imaging.push_all()

    # -- construction helpers ----------------------------------------------------------------

    def _annotate_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.measure_panel, 1)
        form = QFormLayout()
        self.body_region = QComboBox()
        self.body_region.addItems(BODY_MARKERS)
        self.body_side = QComboBox()
        self.body_side.addItems(["R", "L"])
        self.body_probe_along = QSlider(Qt.Orientation.Horizontal)
        self.body_probe_along.setRange(0, 100)
        self.body_probe_angle = QSlider(Qt.Orientation.Horizontal)
        self.body_probe_angle.setRange(-90, 90)
        for w in (self.body_region, self.body_side, self.body_probe_along, self.body_probe_angle):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        form.addRow("Body marker", self.body_region)
        form.addRow("Side", self.body_side)
        form.addRow("Probe along", self.body_probe_along)
        form.addRow("Probe angle", self.body_probe_angle)
        lay.addLayout(form)
        self._show_body_marker()
        for signal in (self.body_region.currentTextChanged, self.body_side.currentTextChanged):
            signal.connect(lambda _: self._body_marker_from_widgets())
        for slider in (self.body_probe_along, self.body_probe_angle):
            slider.valueChanged.connect(lambda _: self._body_marker_from_widgets())
        self.annotations.changed.connect(self._show_body_marker)
        return tab

    def _build_actions(self) -> None:
        toolbar = self._toolbar = QToolBar("Scanner")
        toolbar.setObjectName("scannerToolBar")  # names it in the saved window state
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        add = self.add_action
        depth, gain = SettingKey.DEPTH_MM, SettingKey.GAIN_DB
        freeze = add("freeze", ["F", "Space"], "Freeze / unfreeze", self.toggle_freeze, FREEZE_TEXTS[0])
        # As wide as its wider text: were the button to narrow on freeze, every toolbar button after
        # it would move under the pointer (a click right after F landed on the next button).
        button = toolbar.widgetForAction(freeze)
        if button is not None:
            widths = []
            for text in FREEZE_TEXTS:
                freeze.setText(text)
                widths.append(button.sizeHint().width())
            freeze.setText(FREEZE_TEXTS[0])
            button.setMinimumWidth(max(widths))
        add("still", ["S"], "Save still image", self.capture_still, "Still")
        add("clip", ["C"], "Save clip (last seconds)", self.capture_clip, "Clip")
        self.record_action = add("record", ["Shift+C"], "Start / stop clip recording",
                                 self.toggle_clip_recording, "● Rec")  # fmt: skip
        self.record_action.setCheckable(True)
        add("distance", ["D"], "Distance caliper (freezes)", lambda: self.begin_measurement("distance"),
            "Distance")  # fmt: skip
        add("two_axis", ["A"], "Length × depth, ellipse area (freezes)",
            lambda: self.begin_measurement("two_axis"), "L×D")  # fmt: skip
        add("text", ["T"], "Text annotation (freezes)", self.begin_annotation, "Text")
        add("delete", ["Del", "Backspace"], "Delete the selected caliper or text (else the last caliper)",
            self.delete_selected)  # fmt: skip
        add("depth_less", ["Up"], "Depth: shallower", lambda: self._acquisition_step(depth, -DEPTH_STEP_MM))
        add("depth_more", ["Down"], "Depth: deeper", lambda: self._acquisition_step(depth, DEPTH_STEP_MM))
        add("gain_up", ["+", "="], "Gain up", lambda: self._acquisition_step(gain, GAIN_STEP_DB))
        add("gain_down", ["-"], "Gain down", lambda: self._acquisition_step(gain, -GAIN_STEP_DB))
        add("cine_back", ["Left", ","], "Cine: previous frame (freezes)", lambda: self._cine_step(-1))
        add("cine_fwd", ["Right", "."], "Cine: next frame", lambda: self._cine_step(1))
        add("cine_first", ["Home"], "Cine: first frame", lambda: self.cine.seek(self.cine.first_seq))
        add("cine_last", ["End"], "Cine: last frame", lambda: self.cine.seek(self.cine.last_seq))
        add("play", ["P"], "Cine: play / pause", lambda: self.cine.set_playing(not self.cine.playing))
        add("loop", ["L"], "Cine: loop on / off", lambda: self.cine.set_loop(not self.cine.loop))
        add("body_marker", ["B"], "Next body marker", self._next_body_marker)
        for i, name in enumerate(PRESETS):
            add(
                f"preset_{i + 1}",
                [f"Ctrl+{i + 1}"],
                f"Preset: {name}",
                functools.partial(self._preset_key, name),
            )
        add("cancel", ["Esc"], "Cancel caliper, text or target drop / close help", self.cancel)
        toolbar.addSeparator()
        add("help", ["F1", "?"], "Show / hide this help", self.help_toggle, "Help (F1)")
        # Closing goes through closeEvent, so the exam's close prompt and saving still apply.
        add("quit", ["Ctrl+Q"], "Quit (asks first when an exam is open)", self.close)

    # -- extension points (ui.window_api.ScannerWindow) ---------------------------------------

    def add_side_tab(self, widget: QWidget, title: str) -> None:
        """A feature's tab beside Imaging, Measure and Probe."""
        self.tabs.addTab(widget, title)

    def remove_side_tab(self, widget: QWidget) -> None:
        index = self.tabs.indexOf(widget)
        if index >= 0:
            self.tabs.removeTab(index)

    def show_side_tab(self, widget: QWidget) -> None:
        """Bring a feature's tab forward (unfolding the side panel if it is folded to its rail)."""
        self.tabs.setCurrentWidget(widget)
        self.tabs.set_collapsed(False)

    def add_image_item(self, item: QGraphicsObject) -> None:
        """A feature's item drawn over the live image, in mm (the colour box, the Doppler gate)."""
        self.view.plot.addItem(item)

    def remove_image_item(self, item: QGraphicsObject) -> None:
        self.view.plot.removeItem(item)

    def add_below_image(self, widget: QWidget) -> None:
        """A feature's strip between the live image and the cine bar (the spectral display)."""
        self._image_column.insertWidget(self._image_column.indexOf(self.view) + 1, widget)

    def side_tab_titles(self) -> list[str]:
        return [self.tabs.tabText(i) for i in range(self.tabs.count())]

    def add_dock(
        self, widget: QWidget, title: str, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea
    ) -> QDockWidget:
        """A feature's dock beside the image, movable to either side (not floated, not closed)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower().replace(' ', '_')}Dock")  # names it in saved window state
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.LeftDockWidgetArea)
        dock.setWidget(widget)
        let_narrow(widget)  # its later rows (an exam's missing items) wrap rather than widen the window
        self._place_new_dock(dock, area)
        return dock

    def resize_dock(self, dock: QDockWidget, width_px: int) -> None:
        """The feature's wish for its dock's width; the image keeps the largest share of the window."""
        self._fit_dock(dock, width_px)

    def add_action(
        self,
        name: str,
        keys: Sequence[str],
        text: str,
        slot: Callable[[], object],
        toolbar_text: str = "",
    ) -> QAction:
        """An action with its shortcuts (listed in the F1 help under `text`), on the toolbar when
        `toolbar_text` is given; `name` must be new."""
        if name in self.actions_by_name:
            raise ValueError(f"an action named {name!r} is already in the window")
        action = QAction(toolbar_text or text, self)
        action.setToolTip(text)
        # Symbols typed with Shift ("?", "+") arrive with the Shift modifier on some keyboards.
        also = [f"Shift+{k}" for k in keys if k in ("?", "+")]
        action.setShortcuts([QKeySequence(k) for k in [*keys, *also]])
        # Whatever has the focus in any of the app's windows (a modal dialog excepted): a text field
        # keeps the keys it types with (Qt gives it the ShortcutOverride), nothing else takes them.
        action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.triggered.connect(lambda _=False: slot())
        self.addAction(action)
        if toolbar_text:
            self._toolbar.addAction(action)
        self.actions_by_name[name] = action
        if keys:
            self.add_help_entry(" / ".join(k if k != " " else "Space" for k in keys), text)
        return action

    def add_toolbar_separator(self) -> None:
        self._toolbar.addSeparator()

    def add_help_entry(self, keys: str, text: str) -> None:
        """A line in the F1 help for keys handled elsewhere than an action (a panel's own keys)."""
        self.shortcut_table.append((keys, text))

    def add_status_widget(self, widget: QWidget) -> None:
        """A feature's permanent item in the status line, left of the frame rate."""
        self._status_row.insertWidget(self._status_row.indexOf(self.state_label), widget)

    def set_capture_labeller(self, labeller: CaptureLabeller | None) -> None:
        """The one labeller of every capture (the exam), or None."""
        self._capture_labeller = labeller

    def set_imaging_mode(self, mode: str) -> None:
        """The imaging mode in force (the Doppler feature follows the probe's readback): in a Doppler
        mode a capture stores, and is labelled with, what the Doppler source says was shown."""
        self._imaging_mode = ImagingMode(mode)

    def set_doppler_capture(self, source: DopplerCaptureSource | None) -> None:
        """The one source of Doppler captures (the Doppler feature), or None."""
        self._doppler_source = source

    @property
    def imaging_mode(self) -> ImagingMode:
        """The imaging mode in force, as last set by `set_imaging_mode`."""
        return self._imaging_mode

    # -- models and verbs features may use ----------------------------------------------------

    @property
    def models(self) -> ScannerModels:
        return self._models

    @property
    def sink(self) -> CaptureSink:
        return self._models.capture_sink

    @property
    def pending_captures(self) -> int:
        """Captures taken and not yet stored (or failed)."""
        return self.worker.pending

    def set_context_title(self, text: str) -> None:
        """What the window is about now (the exam's subject), shown in its title; "" for none."""
        self.setWindowTitle(f"{WINDOW_TITLE} — {text}" if text else WINDOW_TITLE)

    def dialog_parent(self) -> QWidget:
        return self

    def apply_preset(self, preset: Mapping[str, object]) -> None:
        """Apply an imaging preset: depth_mm, frequency_mhz, focus_mm (gain_db, dynamic_range_db,
        tgc_db optional) and an optional "name"; a name that is a body region also sets the marker.
        A frozen image is unfrozen first (its calipers go): a preset is new imaging (a new step)."""
        self.cine.unfreeze()
        self.imaging.apply_preset(preset, str(preset.get("name", "")))

    def show_message(self, text: str, error: bool = False) -> None:
        """A line in the status bar (red for errors)."""
        self._message(text, error)

    def clear_message(self, text: str) -> None:
        """Empty the status line if it still shows `text` (a prompt that has ended), not a newer line."""
        if self.message_label.text() == text:
            self._message("")

    def toggle_freeze(self) -> None:
        self.cine.toggle_freeze()

    def capture_still(self) -> None:
        """Store the frame on screen (the cine frame when frozen) with its annotations and measurements."""
        self._place_typed_text()
        ring_frame = self.cine.current() if self.cine.frozen else self.view.current
        if ring_frame is None:
            self._message("Nothing to capture yet: no image", error=True)
            return
        frame = ring_frame.frame
        doppler, note = self._doppler_content([frame], clip=False)
        if doppler is not None:
            frame = doppler[0][-1]  # a live colour still: the last beat's frame that showed the flow
        mode = doppler[1].mode if doppler is not None else ImagingMode.BMODE
        # A live still carries no calipers or text: they belong to the frozen image they were made on.
        labels, ann, meas = self._capture_context(
            "still", [ring_frame.ring_seq] if self.cine.frozen else [], mode, note
        )
        save: Callable[[], StoredCapture]
        content = doppler[1] if doppler is not None else None
        if content is not None:
            colour = content
            save = lambda: self.sink.save_doppler_still(frame, colour, labels, ann, meas)  # noqa: E731
        else:
            save = lambda: self.sink.save_still(frame, labels, ann, meas)  # noqa: E731
        self.worker.submit(
            "still",
            save,
            lambda: shown_pixels([frame], content),
            ann,
            meas,
            labels=labels,
        )

    def capture_dual(self, left: Frame, right: Frame) -> None:
        """Store two frames side by side as one still (split screen), labelled like any still.

        The calipers on screen belong to the single image, not to the halves: none are stored with it.
        """
        labels, ann, _meas = self._capture_context("still", [], ImagingMode.BMODE)  # the halves are grey
        composite, _halves = compose_dual(left, right)
        self.worker.submit(
            "still",
            lambda: self.sink.save_dual(left, right, labels, ann, []),
            lambda: composite.pixels,
            ann,
            [],
            labels=labels,
        )

    def clear_captures(self) -> None:
        """A new exam or patient begins: the strip starts empty (the captures stay stored)."""
        self.strip.clear_captures()

    def show_image_panel(self, panel: QWidget | None) -> None:
        """Show a feature's widget over the live image, or (None) the live image again."""
        if self._image_panel is not None and self._image_panel is not panel:
            self._image_panel.hide()
        self._image_panel = panel
        if panel is not None:
            panel.setParent(self.view)
            panel.setGeometry(self.view.rect())
            panel.show()
            panel.raise_()
        self.view.removeEventFilter(self)
        if panel is not None:
            self.view.installEventFilter(self)  # keeps the panel the size of the image

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        resized = event is not None and event.type() == QEvent.Type.Resize
        if watched is self.view and resized and self._image_panel is not None:
            self._image_panel.setGeometry(self.view.rect())
        if watched is self.annotation_edit and isinstance(event, QFocusEvent) and event.lostFocus():
            # Another control taken (a click, Tab) ends the typing as on a scanner: the text stays. A
            # box left open would look as if it took the keys while they went to the shortcuts. Another
            # window or a popup taking the keys for a while is no leaving: they come back to the box.
            passing = (Qt.FocusReason.ActiveWindowFocusReason, Qt.FocusReason.PopupFocusReason)
            if self.annotation_edit.isVisible() and event.reason() not in passing:
                self._place_annotation()
        return super().eventFilter(watched, event)

    def capture_clip(self, seconds: float | None = None) -> None:
        """Store the last `seconds` (preferences' clip length by default): up to now when live, up to the
        shown cine frame when frozen."""
        self._place_typed_text()
        seconds = float(seconds if seconds is not None else self.prefs.get("clip_seconds"))
        if self.cine.frozen:
            current = self.cine.current()
            end_ns = current.frame.host_time_ns if current is not None else time.monotonic_ns()
        else:
            end_ns = time.monotonic_ns()
        self._submit_clip(end_ns - int(seconds * 1e9), end_ns)

    def toggle_clip_recording(self) -> None:
        """Start a clip now; the second press stores everything since (as far back as the cine holds)."""
        if self._clip_start_ns is None:
            self._clip_start_ns = time.monotonic_ns()
            self.record_action.setChecked(True)
            self._message("● Recording clip… (Shift+C to stop)")
        else:
            start, self._clip_start_ns = self._clip_start_ns, None
            self.record_action.setChecked(False)
            self._submit_clip(start, time.monotonic_ns())

    def begin_measurement(self, kind: str) -> None:
        """Start a caliper ("distance" or "two_axis") on the frozen image, freezing a live one first."""
        if self.view.current is None:
            self._message("Nothing to measure yet: no image", error=True)
            return
        self.cine.freeze()
        self.measurements.begin(kind)

    def delete_selected(self) -> None:
        """Delete the selected text or caliper; with none selected, the caliper being placed or the last."""
        if self.annotations.selected is not None and not self.measurements.placing:
            self.annotations.remove(self.annotations.selected)
        else:
            self.measurements.remove_last()

    def begin_annotation(self) -> None:
        """Open the text box where the image was last clicked (else at its centre); a click on the image
        moves it there. Until Enter places the text (or Esc drops it) the keys type into it, none is a
        shortcut. The text belongs to the frozen image, so a live one is frozen first."""
        if self.view.current is not None:
            self.cine.freeze()
        frame = self.view.current.frame if self.view.current is not None else None
        if self._last_click_mm is not None:
            self._annotation_at = self._last_click_mm
        elif frame is not None:
            self._annotation_at = (frame.width_mm / 2, frame.height_mm / 2)
        else:
            self._annotation_at = (10.0, 10.0)
        self.annotation_edit.clear()
        self._show_annotation_box()
        # A click on the image must not take the keys from the box (they would be shortcuts again).
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.annotation_edit.show()
        self.annotation_edit.setFocus()

    def help_toggle(self) -> None:
        if not self.help.isVisible():
            # Built anew each time it opens: features may have added entries, and its columns follow
            # the window's width now.
            self.help.deleteLater()
            self.help = HelpOverlay(self.shortcut_table, self)
        self.help.toggle()

    def cancel(self) -> None:
        if self.help.isVisible():
            self.help.hide()
        elif self.annotation_edit.isVisible():
            self._close_annotation_box()
        else:
            self.measurements.cancel()
            self.measurements.select(None)
            self.annotations.select(None)
            self.cancelled.emit()  # a feature's prompt (a target drop) ends with its message

    # -- internals ---------------------------------------------------------------------------

    def _doppler_content(
        self, frames: list[Frame], *, clip: bool
    ) -> tuple[tuple[list[Frame], DopplerContent] | None, str]:
        """(frames and what Doppler showed with them, or None for a B-mode capture; a note saying why a
        capture in a Doppler mode is stored as B-mode, or "")."""
        if self._imaging_mode is ImagingMode.BMODE:
            return None, ""
        got = self._doppler_source.doppler_content(frames, clip) if self._doppler_source else None
        if got is None:
            shown = "clip" if clip else "image"
            return None, f"no {self._imaging_mode.words} was shown with this {shown}: kept as B-mode"
        return got, ""

    def _step_numbers(self) -> dict[str, int]:
        """Each checklist step's number by its id, as the checklist numbers them (for the strip)."""
        targets = self._capture_labeller.label_targets() if self._capture_labeller is not None else []
        steps = dict.fromkeys(step_id for step_id, _title, _plane in targets)
        return {step_id: i + 1 for i, step_id in enumerate(steps)}

    def _capture_context(
        self, kind: str, image_seqs: Sequence[int], mode: ImagingMode, note: str = ""
    ) -> tuple[dict[str, str], dict[str, object], list[dict[str, object]]]:
        """Labels, annotations and measurements of a capture about to be submitted (exactly once each):
        the texts and calipers made on its frames (`image_seqs`, ring seqs; none for a live capture);
        `mode` is the mode of what is stored, `note` why it is not the mode in force."""
        # Before the labeller: labelling may open the practice study, which must not lose them.
        ann = dict(self.annotations.for_frames(image_seqs))
        meas = list(self.measurements.for_frames(image_seqs))
        marker = self.annotations.body_marker
        labels = {
            "preset": self.imaging.preset_name,
            "body_region": marker.region,
            "side": marker.side,
            "grey_map": self.imaging.grey_map,
            **self.extra_labels,
            "imaging_mode": mode.value,
        }
        if note:
            labels["imaging_note"] = note
        if self.descriptor is not None:
            labels["probe"] = f"{self.descriptor.vendor} {self.descriptor.model} {self.descriptor.serial}"
        capture_id = ""
        if self._capture_labeller is not None:
            capture_id, step_labels = self._capture_labeller.label(kind, mode.value)
            labels.update(step_labels)
        self._labelled_ids.append(capture_id)
        return labels, ann, meas

    def _submit_clip(self, start_ns: int, end_ns: int) -> None:
        ring_frames = self.engine.ring.frames_between(start_ns, end_ns)
        frames: list[Frame] = [rf.frame for rf in ring_frames]
        if not frames:
            self._message("Clip not saved: no frames in that time span", error=True)
            return
        seqs = [rf.ring_seq for rf in ring_frames] if self.cine.frozen else []
        doppler, note = self._doppler_content(frames, clip=True)
        mode = doppler[1].mode if doppler is not None else ImagingMode.BMODE
        labels, ann, meas = self._capture_context("clip", seqs, mode, note)
        save: Callable[[], StoredCapture]
        content = doppler[1] if doppler is not None else None
        if doppler is not None:
            shown, colour = doppler
            frames = shown
            save = lambda: self.sink.save_doppler_clip(shown, colour, labels, ann, meas)  # noqa: E731
        else:
            save = lambda: self.sink.save_clip(frames, labels, ann, meas)  # noqa: E731
        # Until the clip is written (seconds for a long colour clip) the line says so: "Recording"
        # left there read as still recording, and a second Shift+C started another clip.
        self._message(f"Saving clip ({len(frames)} frames)…")
        self.worker.submit(
            "clip",
            save,
            lambda: shown_pixels(frames, content),
            ann,
            meas,
            labels=labels,
        )

    def _on_capture_done(self, outcome: CaptureOutcome) -> None:
        self.worker.job_done()
        capture_id = self._labelled_ids.popleft() if self._labelled_ids else ""
        if outcome.record is None and capture_id and self._capture_labeller is not None:
            self._capture_labeller.discard(capture_id)  # not on disk: it must not count for its step
        if outcome.record is None:
            self._message(
                f"{outcome.kind.capitalize()} NOT saved: {outcome.error} — live imaging continues", error=True
            )
        else:
            self.strip.add_capture(dataclasses.replace(outcome, labeller_id=capture_id))
            n = outcome.record.frame_count
            note = f" — {outcome.record.note}" if outcome.record.note else ""
            # A capture in another mode than its step asks for is kept, but the operator must hear why
            # it did not count (the labeller's note).
            refused = outcome.labels.get("capture_note", "")
            grey = outcome.labels.get("imaging_note", "")
            note += f" — {grey}" if grey else ""
            note += f" — not counted for the step: {refused}" if refused else ""
            self._message(
                f"{outcome.kind.capitalize()} saved ({n} frame{'' if n == 1 else 's'}){note}",
                error=bool(refused or grey),
            )
        self.capture_finished.emit(outcome)

    def _message(self, text: str, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setToolTip(text)  # the whole reason, whatever fits on the line
        self.message_label.setStyleSheet(f"color: {ALARM if error else OK}; font-weight: 600;")

    def _place_annotation(self) -> None:
        text = self.annotation_edit.text().strip()
        self._close_annotation_box()
        if text and self._annotation_at is not None:
            self.annotations.add_text(text, *self._annotation_at)

    def _place_typed_text(self) -> None:
        """Text still being typed is on the image as the user sees it: a capture keeps it (Still and
        Clip from the toolbar do not take the keys from the box, so it would not have been placed)."""
        if self.annotation_edit.isVisible():
            self._place_annotation()

    def _close_annotation_box(self) -> None:
        """Hide the text box (placing nothing); keys it had go back to the image's shortcuts."""
        had_keys = self.annotation_edit.hasFocus()  # not when left for another control: that keeps them
        self.annotation_edit.hide()
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        if had_keys:
            self.view.setFocus()

    def _show_annotation_box(self) -> None:
        """The box centred where its text will be placed, kept inside the image's widget."""
        width, height = self.annotation_edit.width(), self.annotation_edit.sizeHint().height()
        if self._annotation_at is not None and self.view.current is not None:
            at = self.view.widget_pos_of_mm(*self._annotation_at).toPoint()
            x, y = at.x() - width // 2, at.y() - height // 2
        else:
            x, y = (self.view.width() - width) // 2, 50
        x = min(max(0, x), max(0, self.view.width() - width))
        y = min(max(0, y), max(0, self.view.height() - height))
        self.annotation_edit.move(x, y)

    def _follow_annotation_box(self) -> None:
        if self.annotation_edit.isVisible():
            self._show_annotation_box()

    def _on_image_click(self, x_mm: float, y_mm: float) -> None:
        self._last_click_mm = (x_mm, y_mm)

    def _on_free_click(self, x_mm: float, y_mm: float) -> None:
        """A click placing no caliper point: with the text box open it moves the box (the text's place),
        as the cursor of a scanner's text mode; else it is the features' (`image_clicked`)."""
        if self.annotation_edit.isVisible():
            self._annotation_at = (x_mm, y_mm)
            self._show_annotation_box()
            self.annotation_edit.setFocus()
        else:
            self.image_clicked.emit(x_mm, y_mm)

    def _cine_step(self, frames: int) -> None:
        if not self.cine.frozen:
            self.cine.freeze()
        self.cine.step(frames)

    def _on_cine(self) -> None:
        c = self.cine
        self._set_acquisition_enabled(not c.frozen)
        if c.frozen:
            self.view.frozen = True
            current = c.current()
            if current is not None and (
                self.view.current is None or self.view.current.ring_seq != current.ring_seq
            ):
                self.view.show_frame(current)
            # Calipers and text belong to the frame on screen: each cine frame shows its own.
            image_seq = current.ring_seq if current is not None else None
            self.measurements.bind(image_seq)
            self.annotations.bind(image_seq)
            self.view.set_frozen_text(f"❄ FROZEN   {c.index + 1}/{c.length}")
            self.rate_label.setText("frozen")
            self.actions_by_name["freeze"].setText(FREEZE_TEXTS[1])
        else:
            # Live again: the frozen images' calipers and text are gone, as on a scanner.
            self.measurements.clear()
            self.measurements.bind(None)
            self.annotations.clear()
            self.annotations.bind(None)
            if self.annotation_edit.isVisible():
                self._close_annotation_box()
            self.view.frozen = False
            self.view.set_frozen_text(None)
            self.actions_by_name["freeze"].setText(FREEZE_TEXTS[0])
            self.view.frame_available()

    def _set_acquisition_enabled(self, enabled: bool) -> None:
        """Acquisition settings apply to new frames only: while frozen they would make the overlay lie
        about the image on screen, so their controls are off (the grey map, view only, stays)."""
        c = self.controls
        for w in (c.depth_control, c.gain_control, c.frequency_control, c.focus_control,
                  c.dynamic_range_control, c.tgc, *c.preset_buttons.values()):  # fmt: skip
            w.setEnabled(enabled and w not in c.read_only)  # a source's own settings stay read-only

    def _acquisition_step(self, key: SettingKey, delta: float) -> None:
        """A depth or gain key: refused while frozen (it would change the next frames, not this one)."""
        if self.cine.frozen:
            self._message(f"Frozen: unfreeze (F) to change {_SETTING_WORDS.get(key, key.name)}", error=True)
            return
        self.imaging.step(key, delta)

    def _preset_key(self, name: str) -> None:
        if self.cine.frozen:
            self._message("Frozen: unfreeze (F) to change the preset", error=True)
            return
        self.apply_preset({**PRESETS[name], "name": name})

    def _on_setting_applied(self, event: SettingApplied) -> None:
        self.imaging.on_applied(event.key, event.requested, event.applied)

    def _on_setting_failed(self, event: SettingFailed) -> None:
        self._message(f"{event.key.name} not applied: {event.reason}", error=True)

    def _on_probe_event(self, event: ProbeEventReceived) -> None:
        kind = event.event.kind
        if kind == ProbeEventKind.BUTTON_FREEZE:
            self.toggle_freeze()
        elif kind == ProbeEventKind.BUTTON_SAVE:
            self.capture_still()
        elif kind in (ProbeEventKind.OVERHEAT, ProbeEventKind.FAULT, ProbeEventKind.SHUTTING_DOWN):
            self._message(f"Probe reports {kind.name.lower()}: {event.event.text}", error=True)

    def _on_state(self, event: StateChanged) -> None:
        text = event.state.value
        if event.reason and event.state != EngineState.STREAMING:
            text += f": {event.reason}"
        # Cut to its place with an ellipsis (the whole reason is in the tooltip and the Probe tab): a
        # label's full text would set the window's minimum width, and a long reason (a pulled cable's)
        # pushed the side panel off a 1280 px screen.
        metrics = self.state_label.fontMetrics()
        self.state_label.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, STATE_LABEL_MAX_PX))
        self.state_label.setToolTip(text)
        self.probe_panel.on_state(event)
        if event.state != EngineState.STREAMING:
            self.rate_label.setText("0.0 frames/s")
            self.status = None  # no status comes while reconnecting: show no stale frame rate
            self._update_info()
        self.view.set_banner(banner_text(event.state, event.reason))
        # a stale live image must not pass for a live one: dim it until frames flow again
        self.view.image.setOpacity(1.0 if event.state == EngineState.STREAMING else 0.35)

    def _on_status(self, status: StatusReport) -> None:
        self.status = status
        # While frozen no frame enters the ring, so its rate says nothing about the probe.
        self.rate_label.setText("frozen" if self.cine.frozen else f"{status.frame_rate_hz:.1f} frames/s")
        self.drops_label.setText(f"drops {status.frames_dropped}")
        if status.probe_tx_dropped > self._probe_drops_told:
            # The probe drops what the link cannot carry: no gap in the frames shows it, so say it.
            self._probe_drops_told = status.probe_tx_dropped
            self._message(link_saturated_message(status.probe_tx_dropped), error=True)
        self.probe_panel.on_status(status)
        self._update_info()

    def _on_connected(self, event: ProbeConnected) -> None:
        self.descriptor = event.descriptor
        self.probe_panel.on_connected(event.descriptor)
        self.controls.set_probe(event.descriptor)
        self._update_info()

    def _on_setting_change(self, change: SettingChange) -> None:
        if change.applied:
            self._update_info()

    def _on_view_state(self) -> None:
        self.view.set_lut(grey_maps()[self.imaging.grey_map])
        name = self.imaging.preset_name
        if name in BODY_MARKERS and name != self.annotations.body_marker.region:
            m = self.annotations.body_marker
            self.annotations.set_body_marker(BodyMarker(name, m.side, m.probe_along, m.probe_angle_deg))
        self._update_info()

    def _update_info(self) -> None:
        v = self.imaging.value
        probe = self.descriptor.model if self.descriptor is not None else "no probe"
        fps = f"{self.status.frame_rate_hz:.0f} fps" if self.status is not None else ""
        self.view.set_info(
            f"{probe}   {self.imaging.preset_name or ''}\n"
            f"D {v(SettingKey.DEPTH_MM):.0f} mm   G {v(SettingKey.GAIN_DB):+.0f} dB\n"
            f"F {v(SettingKey.FREQUENCY_MHZ):g} MHz  DR {v(SettingKey.DYNAMIC_RANGE_DB):.0f} dB\n"
            f"Focus {v(SettingKey.FOCUS_MM):.0f} mm   {fps}"
        )

    def _show_body_marker(self) -> None:
        m = self.annotations.body_marker
        widgets = (self.body_region, self.body_side, self.body_probe_along, self.body_probe_angle)
        for w in widgets:
            w.blockSignals(True)
        self.body_region.setCurrentText(m.region)
        self.body_side.setCurrentText(m.side)
        self.body_probe_along.setValue(round(m.probe_along * 100))
        self.body_probe_angle.setValue(round(m.probe_angle_deg))
        for w in widgets:
            w.blockSignals(False)

    def _body_marker_from_widgets(self) -> None:
        self.annotations.set_body_marker(
            BodyMarker(
                self.body_region.currentText(),
                self.body_side.currentText(),
                self.body_probe_along.value() / 100.0,
                float(self.body_probe_angle.value()),
            )
        )

    def _next_body_marker(self) -> None:
        m = self.annotations.body_marker
        region = BODY_MARKERS[(BODY_MARKERS.index(m.region) + 1) % len(BODY_MARKERS)]
        self.annotations.set_body_marker(BodyMarker(region, m.side, m.probe_along, m.probe_angle_deg))

    def _switch(self, spec: str) -> None:
        """Start a probe switch; it completes in the background (the old probe may take seconds to
        let go) and `_on_switch_done` reports it. The GUI thread never waits on a device."""
        assert self._switch_probe is not None
        self.cine.unfreeze()
        self.view.setFocus()  # give the keys back to the scanner shortcuts
        done = self._switch_probe(spec)  # raises ValueError for an unknown spec; the panel shows it
        self.probe_panel.set_switching(spec)
        self._message(f"Switching to {spec}…")
        done.add_done_callback(lambda future: self._report_switch(spec, future))

    def _report_switch(self, spec: str, future: Future[None]) -> None:
        try:
            self._switch_done.emit(spec, future)
        except RuntimeError:
            pass  # the window is gone (closed while the switch waited): nobody to tell

    def _on_switch_done(self, spec: str, future: Future[None]) -> None:
        error = future.exception()
        self.probe_panel.switch_finished(spec, None if error is None else str(error))
        if error is not None:
            self._message(f"Could not switch to {spec}: {error}", error=True)
            return
        self._message(f"Using {spec}")
        self.prefs.set("probe_spec", spec)
        self.imaging.push_all()
        self.probe_switched.emit(spec)

    # -- layout: the image first -------------------------------------------------------------

    def _build_layout(self) -> QSplitter:
        """The image column (the image; under it the cine bar and the status line beside the
        thumbnails) and the side panel, in a splitter the user drags; the panel folds to a rail."""
        self.strip.setIconSize(QSize(STRIP_THUMB_PX, STRIP_THUMB_PX))
        # one row of thumbnails, labels elided to their cell, room for the strip's scroll bar
        self.strip.setGridSize(QSize(STRIP_CELL_PX, STRIP_THUMB_PX + 22))
        self.strip.setFixedHeight(STRIP_THUMB_PX + 40)
        self.strip.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip.setMinimumWidth(2 * STRIP_CELL_PX)  # two captions at least; more as room allows
        # the cine bar's buttons as compact as the toolbar's: the height goes to the image
        self.cine_bar.setStyleSheet("QPushButton { min-height: 20px; padding: 3px 10px; }")
        self._status_row = QHBoxLayout()
        self._status_row.setContentsMargins(6, 0, 6, 0)
        self._status_row.setSpacing(12)
        bottom = QGridLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.setSpacing(2)
        bottom.addWidget(self.cine_bar, 0, 0)
        self._status_line = QWidget()  # its least width is fixed (_place_status_widgets)
        self._status_line.setLayout(self._status_row)
        bottom.addWidget(self._status_line, 1, 0)
        bottom.addWidget(self.strip, 0, 1, 2, 1)
        bottom.setColumnStretch(0, 3)
        bottom.setColumnStretch(1, 2)
        column = QWidget()
        lay = QVBoxLayout(column)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.view, 1)
        lay.addLayout(bottom)
        self._image_column = lay  # add_below_image puts a feature's strip under the view
        splitter = self.splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(column)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(5)
        splitter.splitterMoved.connect(lambda _pos, _index: self._remember_side_width())
        self.tabs.collapsed_changed.connect(self._on_side_collapsed)
        self._side_width_px = 0
        self._user_placed_docks: set[str] = set()  # docks whose place and width came from preferences
        self._state_restored = False
        self.setCentralWidget(splitter)
        return splitter

    def _place_status_widgets(self) -> None:
        """The status line under the image: the message (wrapped; whole in its tooltip), then the link."""
        self.message_label.setWordWrap(True)
        # a long message wraps instead of widening the window (and cutting itself off at the edge)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message_label.setMinimumWidth(MESSAGE_MIN_PX)
        # At most two lines: a longer message must not push the image up (its whole text is in the
        # tooltip and the message's own place: the Probe tab, the exam's panel, the console).
        self.message_label.setMaximumHeight(2 * self.message_label.fontMetrics().lineSpacing() + 4)
        self.state_label.setMaximumWidth(STATE_LABEL_MAX_PX)  # the whole reason: tooltip and Probe tab
        self._status_row.addWidget(self.message_label, 1)
        for w in (self.state_label, self.rate_label, self.drops_label):
            self._status_row.addWidget(w)
        # The line's texts change all the time (the frame rate, "frozen", drops, the probe's state):
        # were they to set the image column's least width, the splitter would move the image sideways
        # at each change (freezing moved it 23 px at 1280 x 800). Its least width is that of its usual
        # texts instead; a longer one is cut at the line's end (the message wraps, the state is elided).
        least = self.message_label.minimumWidth()
        for label, text in zip(
            (self.state_label, self.rate_label, self.drops_label), STATUS_USUAL_TEXTS, strict=True
        ):
            shown = label.text()
            label.ensurePolished()  # measured in the theme's font and padding
            label.setText(text)
            least += label.minimumSizeHint().width() + self._status_row.spacing()
            label.setText(shown)
        margins = self._status_row.contentsMargins()
        self._status_line.setMinimumWidth(least + margins.left() + margins.right())

    def _default_side_width(self) -> int:
        """A share of the window, at least the imaging controls' own width (they never scroll sideways),
        and wide enough for the scanner's own tabs (Measure, Probe) while that stays within
        SIDE_PANEL_MAX_SHARE of the window. Feature tabs are laid out to fit that width at 1280 px
        (tests/test_side_tabs_fit.py); one that cannot would scroll sideways."""
        margin = SCROLL_BAR_PX + self.tabs.rail_width() + 4
        self.controls.ensurePolished()  # measured in the theme's fonts and paddings
        imaging = self.controls.minimumSizeHint().width() + margin
        own_tabs = max(page.minimumSizeHint().width() for page in (self.measure_panel, self.probe_panel))
        fits_own = min(own_tabs + margin, round(self.width() * SIDE_PANEL_MAX_SHARE))
        share = min(SIDE_PANEL_MAX_PX, round(self.width() * SIDE_PANEL_SHARE))
        return max(EXPANDED_MIN_WIDTH_PX, imaging, share, fits_own)

    def _restore_layout(self) -> None:
        """A size that fits the screen, then what the user left: geometry, docks, side panel."""
        screen = self.screen()
        available = screen.availableGeometry() if screen is not None else QRect(0, 0, 1500, 950)
        self.resize(min(1500, available.width()), min(950, available.height()))
        p = self.prefs
        geometry = str(p.get("window_geometry"))
        if geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode()))
        state = str(p.get("window_state"))
        if state:
            # docks are added later by features: restoreDockWidget() then puts each where it was
            self._state_restored = self.restoreState(QByteArray.fromBase64(state.encode()))
        side = p.get("side_panel")
        side = side if isinstance(side, dict) else {}
        width = side.get("width_px")
        self._side_width_px = width if isinstance(width, int) and width > 0 else self._default_side_width()
        self.splitter.setSizes([max(1, self.width() - self._side_width_px), self._side_width_px])
        self.tabs.set_collapsed(side.get("collapsed") is True)

    def _save_layout(self) -> None:
        p = self.prefs
        p.set("window_geometry", bytes(self.saveGeometry().toBase64().data()).decode())
        p.set("window_state", bytes(self.saveState().toBase64().data()).decode())
        p.set("side_panel", {"width_px": self._side_width_px, "collapsed": self.tabs.collapsed})

    def _remember_side_width(self) -> None:
        if not self.tabs.collapsed:
            self._side_width_px = self.tabs.width()

    def _on_side_collapsed(self, collapsed: bool) -> None:
        if collapsed and self.tabs.expanded_width_px > 0:
            self._side_width_px = self.tabs.expanded_width_px
        side = self.tabs.rail_width() if collapsed else self._side_width_px
        total = sum(self.splitter.sizes())
        self.splitter.setSizes([max(1, total - side), side])

    def _place_new_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> None:
        """Where the user left the dock (the saved window state), else in `area`; then fitted."""
        if self._state_restored and self.restoreDockWidget(dock):
            self._user_placed_docks.add(dock.objectName())
        else:
            least = max(dock.minimumWidth(), dock.minimumSizeHint().width())
            if self.minimumSizeHint().width() + least > self.width():
                # Fold the side panel first: a dock added beside it would widen the window past
                # the screen (a 1280 px one), and the window would not narrow again once folded.
                self.tabs.set_collapsed(True)
            self.addDockWidget(area, dock)
        self._fit_dock(dock, dock.sizeHint().width())

    def _fit_dock(self, dock: QDockWidget, width_px: int) -> None:
        """Size a feature's dock, narrower on a small screen; fold the side panel to its rail when
        the image would no longer have the largest share."""
        placed_by_user = dock.objectName() in self._user_placed_docks
        if placed_by_user:
            width_px = dock.width()
        else:
            least = max(1, dock.minimumWidth(), dock.minimumSizeHint().width())
            width_px = min(width_px, max(least, round(self.width() * DOCK_SHARE)))
        side = self.tabs.rail_width() if self.tabs.collapsed else self._side_width_px
        if self.width() - width_px - side < IMAGE_MIN_WIDTH_SHARE * self.width():
            self.tabs.set_collapsed(True)
        if not placed_by_user:
            self.resizeDocks([dock], [width_px], Qt.Orientation.Horizontal)

    # -- preferences -------------------------------------------------------------------------

    def _load_preferences(self) -> None:
        p = self.prefs
        for name, value in dict(p.get("settings")).items():
            if name in SettingKey.__members__ and isinstance(value, int | float):
                self.imaging.requested[SettingKey[name]] = float(value)
        try:
            self.imaging.set_grey_map(str(p.get("grey_map")))
        except ValueError:
            pass
        self.imaging.preset_name = str(p.get("preset"))
        try:
            self.annotations.set_body_marker(
                BodyMarker(str(p.get("body_marker_region")), str(p.get("body_marker_side")))
            )
        except ValueError:
            pass

    def save_preferences(self) -> None:
        p = self.prefs
        p.set("grey_map", self.imaging.grey_map)
        p.set("preset", self.imaging.preset_name)
        # what the probe applied (a clamped request is not worth repeating at the next start)
        p.set("settings", {k.name: self.imaging.value(k) for k in self.imaging.requested})
        p.set("body_marker_region", self.annotations.body_marker.region)
        p.set("body_marker_side", self.annotations.body_marker.side)
        self._save_layout()
        p.save()

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        if self.help.isVisible():
            self.help.place()

    def _ask_about_recording(self) -> str:
        """Closing while a clip records: save it, discard it, or do not close ("" if not recording)."""
        if self._clip_start_ns is None:
            return ""
        seconds = (time.monotonic_ns() - self._clip_start_ns) / 1e9
        return ask_choice(
            self,
            "Clip recording",
            f"A clip is being recorded ({seconds:.0f} s). Stop and save it before closing?",
            (CLIP_SAVE, CLIP_DISCARD, CANCEL),
        )

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if not self._closed:
            recording = self._ask_about_recording()
            request = CloseRequest()
            if recording == CANCEL:
                request.veto("the clip is still recording")
            else:
                self.closing.emit(request)
            if request.vetoed:
                self._message("Not closed: " + "; ".join(request.veto_reasons), error=True)
                if event is not None:
                    event.ignore()
                return
            if recording == CLIP_SAVE:
                self.toggle_clip_recording()  # stops and submits it: stored below, before features end
            elif recording == CLIP_DISCARD:
                self._clip_start_ns = None
                self.record_action.setChecked(False)
            self._closed = True
            self.cine_bar.timer.stop()
            self.save_preferences()
            # A frame on a loaded machine can take more than the second a stop waits by default; the
            # window's objects go next, so no thread may still be emitting into them.
            self.engine.close(timeout_s=CLOSE_WAIT_S)
            for engine_bridge in self.findChildren(EngineBridge):
                engine_bridge.detach()
            for doppler_bridge in self.findChildren(DopplerBridge):
                doppler_bridge.detach()
            self.worker.shutdown()  # pending captures finish; nothing already taken is lost
            # Their outcomes are queued signals: deliver them now, so a capture that failed is
            # un-counted (and one that worked is listed) before the exam is ended below.
            QCoreApplication.sendPostedEvents(None, QEvent.Type.MetaCall.value)
            self.finishing.emit()
        super().closeEvent(event)
