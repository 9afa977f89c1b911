"""The Doppler feature: its side tab of controls, the colour box and gate over the live image, the
colour bar, and the spectral strip under the image (issue 14, display).

Probe settings (mode, PRF, steer, gate, box) go through `engine.request_setting` and each control
shows the probe's readback; display choices (colour or power, baseline, invert, wall filter, colour
gain, angle) go to the `DopplerPipeline` as one value. Processing runs on the acquisition thread
(`scanner_app.doppler_pipeline`); this module only draws what the pipeline made.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Sequence

import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from scanner_app.capture import ImagingMode, imaging_mode_of
from scanner_app.cine import CineModel
from scanner_app.doppler import DopplerCapability, DopplerMode, box_within_image
from scanner_app.doppler_capture import (
    LIVE_STILL_LOOKBACK_S,
    DopplerContent,
    duplex_clip_content,
    live_still_frame,
    shows_flow,
    spectral_measurements,
)
from scanner_app.doppler_pipeline import DopplerPipeline, FlowImage, FlowOverlay, colour_bar
from scanner_app.doppler_processing import nyquist_velocity_cm_s
from scanner_app.engine import AcquisitionEngine, ProbeConnected, SettingApplied, SettingFailed
from scanner_app.frame import Frame
from scanner_app.probe import DOPPLER_SETTING_FIELDS, ProbeDescriptor, SettingKey
from ui.bridge import DopplerBridge, EngineBridge
from ui.window_api import ScannerWindow

OVERLAY_Z = 5.0  # above the B-mode image, below the calipers' labels
SPECTRAL_STRIP_PX = 220


class DopplerView(enum.Enum):
    """What the operator chose: the probe mode plus, for flow, colour or power display."""

    OFF = "Off"
    COLOUR = "Colour"
    POWER = "Power"
    PW = "PW"

    @property
    def probe_mode(self) -> DopplerMode:
        return {DopplerView.OFF: DopplerMode.OFF, DopplerView.PW: DopplerMode.PW}.get(self, DopplerMode.FLOW)


class _Row(QFrame):
    """One numeric control: title, value (the probe's readback for probe settings), a slider."""

    def __init__(
        self,
        title: str,
        unit: str,
        span: tuple[float, float, float],
        send: Callable[[float], None],
        decimals: int = 0,
    ) -> None:
        """`span` is (lowest, highest, step) in the unit."""
        super().__init__()
        lo, hi, step = span
        self.unit, self.step, self.decimals, self._send = unit, step, decimals, send
        self.title = QLabel(title)
        self.value_label = QLabel("—")
        self.hint = QLabel("")
        self.hint.setStyleSheet("color: #d9a441;")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the scanner shortcuts
        self.set_range(lo, hi)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.hint)
        top.addWidget(self.value_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 1, 4, 1)
        lay.setSpacing(1)
        lay.addLayout(top)
        lay.addWidget(self.slider)
        self.slider.valueChanged.connect(lambda pos: self._send(pos * self.step))

    def set_range(self, lo: float, hi: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(round(lo / self.step), round(hi / self.step))
        self.slider.blockSignals(False)

    def show_value(self, value: float, requested: float | None = None) -> None:
        """The value in force; with `requested`, the probe's readback ("asked" when it clamped)."""
        self.value_label.setText(f"{value:.{self.decimals}f} {self.unit}")
        clamped = requested is not None and abs(requested - value) > 1e-6
        self.hint.setText(f"asked {requested:.{self.decimals}f}" if clamped and requested is not None else "")
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(round(value / self.step))
            self.slider.blockSignals(False)


class SpectralStrip(pg.GraphicsLayoutWidget):  # type: ignore[misc]
    """The scrolling spectrum under the image: time (s) across, velocity (cm/s) up, the max trace."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("k")
        self.setFixedHeight(SPECTRAL_STRIP_PX)
        self.plot = self.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setLabel("left", "velocity (cm/s)")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.trace = pg.PlotDataItem(pen=pg.mkPen("#ffd84a", width=1.5), connect="finite")
        self.plot.addItem(self.trace)
        self.zero_line = pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("#5fb0ff", width=1))
        self.plot.addItem(self.zero_line)
        self.columns_shown = 0


class DopplerPanel(QWidget):
    """The Doppler side tab and everything it draws over and under the image; `attach(window)`."""

    def __init__(self, engine: AcquisitionEngine, pipeline: DopplerPipeline) -> None:
        super().__init__()
        self.engine = engine
        self.pipeline = pipeline
        self.bridge = EngineBridge(engine, self)
        self.doppler_bridge = DopplerBridge(pipeline, self)
        self.capability: DopplerCapability | None = None
        self.view_mode = DopplerView.OFF
        self.applied: dict[SettingKey, float] = {}
        self._window: ScannerWindow | None = None
        self._cine: CineModel | None = None
        self._convex = False
        self.shown_overlay: FlowImage | FlowOverlay | None = None  # the colour box on screen

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.mode = QComboBox()
        self.mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode.activated.connect(lambda _i: self.set_view(self.mode.currentData()))
        self.scale_label = QLabel("")
        self.box_label = QLabel("")
        self.box_label.setWordWrap(True)
        self.scale_label.setWordWrap(True)
        request = engine.request_setting
        self.prf = _Row("PRF", "Hz", (500, 20000, 250), lambda v: request(SettingKey.PRF_HZ, v))
        self.steer = QComboBox()
        self.steer.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.steer.activated.connect(
            lambda _i: request(SettingKey.STEER_DEG, float(self.steer.currentData()))
        )
        self.gate_depth = _Row(
            "Gate depth", "mm", (1, 79, 0.5), lambda v: request(SettingKey.GATE_DEPTH_MM, v), decimals=1
        )
        self.gate_size = _Row(
            "Gate size", "mm", (0.5, 10, 0.5), lambda v: request(SettingKey.GATE_SIZE_MM, v), decimals=1
        )
        self.baseline = _Row("Baseline", "× Nyq", (-0.8, 0.8, 0.1), lambda v: self._display(baseline=v), 1)
        self.wall = _Row("Wall filter", "Hz", (0, 400, 25), lambda v: self._display(wall_cutoff_hz=v))
        self.gain = _Row("Colour gain", "dB", (-20, 30, 1), lambda v: self._display(colour_gain_db=v))
        self.angle = _Row("Angle correction", "°", (-70, 70, 2), lambda v: self._display(angle_deg=v))
        self.invert = QCheckBox("Invert")
        self.invert.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.invert.toggled.connect(lambda on: self._display(invert=on))
        # Which measurements a duplex capture keeps: PSV/EDV/RI (artery) or phasicity/augmentation (vein).
        self.vessel = QComboBox()
        self.vessel.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.vessel.addItem("Vein", False)
        self.vessel.addItem("Artery", True)
        d = pipeline.display
        for row, value in (
            (self.baseline, d.baseline),
            (self.wall, d.wall_cutoff_hz),
            (self.gain, d.colour_gain_db),
            (self.angle, d.angle_deg),
        ):
            row.show_value(value)

        self.controls = QWidget()
        c = QVBoxLayout(self.controls)
        c.setContentsMargins(0, 0, 0, 0)
        c.addWidget(self.scale_label)
        c.addWidget(self.prf)
        steer_row = QHBoxLayout()
        steer_row.addWidget(QLabel("Steer"))
        steer_row.addStretch(1)
        steer_row.addWidget(self.steer)
        c.addLayout(steer_row)
        c.addWidget(self.box_label)
        vessel_row = QHBoxLayout()
        vessel_row.addWidget(QLabel("Measure as"))
        vessel_row.addStretch(1)
        vessel_row.addWidget(self.vessel)
        c.addLayout(vessel_row)
        for w in (
            self.gate_depth,
            self.gate_size,
            self.angle,
            self.baseline,
            self.invert,
            self.wall,
            self.gain,
        ):
            c.addWidget(w)
        lay = QVBoxLayout(self)
        mode_row = QHBoxLayout()
        mode_row.addWidget(QLabel("Mode"))
        mode_row.addWidget(self.mode, 1)
        lay.addLayout(mode_row)
        lay.addWidget(self.status)
        lay.addWidget(self.controls)
        lay.addStretch(1)

        # what is drawn over and under the image
        self.overlay = pg.ImageItem()
        self.overlay.setZValue(OVERLAY_Z)
        self.box_roi = pg.RectROI([9.5, 10.0], [19.0, 20.0], pen=pg.mkPen("#e8e8e8", width=1.5))
        self.box_roi.setZValue(OVERLAY_Z + 1)
        self.box_roi.sigRegionChangeFinished.connect(self._box_moved)
        self.colour_bar = pg.ImageItem()
        self.colour_bar.setZValue(OVERLAY_Z)
        self.bar_top = pg.TextItem("", color="#e8e8e8", anchor=(0.0, 0.0))
        self.bar_bottom = pg.TextItem("", color="#e8e8e8", anchor=(0.0, 1.0))
        self.gate = pg.PlotDataItem(pen=pg.mkPen("#7fff7f", width=2), connect="pairs")
        self.gate.setZValue(OVERLAY_Z + 1)
        self.angle_cursor = pg.PlotDataItem(pen=pg.mkPen("#7fff7f", width=1.5))
        self.angle_cursor.setZValue(OVERLAY_Z + 1)
        self.strip = SpectralStrip()

        self.bridge.probe_connected.connect(self._on_connected)
        self.bridge.setting_applied.connect(self._on_applied)
        self.bridge.setting_failed.connect(self._on_failed)
        self.doppler_bridge.doppler_available.connect(self._draw)
        self.set_probe(engine.driver.descriptor)

    # -- attach --------------------------------------------------------------------------------

    def attach(self, window: ScannerWindow) -> None:
        self._window = window
        self._cine = window.models.cine
        self._cine.changed.connect(self._on_cine)
        window.set_doppler_capture(self)
        window.models.imaging.doppler_off_requested.connect(self._on_doppler_off_requested)
        window.add_side_tab(self, "Doppler")
        for item in (
            self.overlay,
            self.colour_bar,
            self.bar_top,
            self.bar_bottom,
            self.box_roi,
            self.gate,
            self.angle_cursor,
        ):
            window.add_image_item(item)
        window.add_below_image(self.strip)
        window.add_action(
            "doppler_colour", ["Ctrl+F"], "Colour Doppler on / off", lambda: self._toggle(DopplerView.COLOUR)
        )
        window.add_action(
            "doppler_power",
            ["Ctrl+Shift+F"],
            "Power Doppler on / off",
            lambda: self._toggle(DopplerView.POWER),
        )
        window.add_action(
            "doppler_pw",
            ["Ctrl+W"],
            "Pulsed-wave Doppler (duplex) on / off",
            lambda: self._toggle(DopplerView.PW),
        )
        self._show_items()

    # -- probe ---------------------------------------------------------------------------------

    def set_probe(self, descriptor: ProbeDescriptor | None) -> None:
        """Offer what the probe's descriptor says (spec 10); a probe without `doppler` gets nothing."""
        self.capability = descriptor.doppler if descriptor is not None else None
        self._convex = descriptor is not None and descriptor.geometry == "convex"
        cap = self.capability
        self.mode.clear()
        views = [DopplerView.OFF]
        if cap is not None and cap.offers(DopplerMode.FLOW):
            views += [DopplerView.COLOUR, DopplerView.POWER]
        if cap is not None and cap.offers(DopplerMode.PW):
            views.append(DopplerView.PW)
        for v in views:
            self.mode.addItem(v.value, v)
        self.mode.setEnabled(len(views) > 1)
        self.controls.setVisible(cap is not None)
        if descriptor is None:
            self.status.setText("No probe connected.")
        elif cap is None:
            self.status.setText(f"{descriptor.vendor} {descriptor.model} does no Doppler.")
        else:
            self.status.setText("")
            self.prf.set_range(*cap.prf_range_hz)
            self.steer.clear()
            for a in cap.steer_angles_deg:
                self.steer.addItem(f"{a:+g}°", a)
        if self.view_mode not in views:
            self.view_mode = DopplerView.OFF
        self.mode.setCurrentIndex(views.index(self.view_mode))
        self._show_items()
        self._sync_imaging_mode()

    def set_view(self, view: DopplerView) -> None:
        """Choose off / colour / power / PW: the probe mode goes through the engine (readback)."""
        offered = [self.mode.itemData(i) for i in range(self.mode.count())]
        if view not in offered:
            if self._window is not None:
                self._window.show_message(f"{view.value} Doppler is not offered by this probe", True)
            return
        if self._convex and view in (DopplerView.COLOUR, DopplerView.POWER):
            # The box and its overlay are drawn as a rectangle in mm; a convex box is a sector in
            # degrees, which they would misplace. Refused until the overlay is scan-converted.
            self.mode.setCurrentIndex(offered.index(self.view_mode))
            if self._window is not None:
                self._window.show_message(
                    f"{view.value} Doppler is not available on a convex probe yet (its colour box would "
                    "not lie over the sector): use PW, or a linear probe",
                    True,
                )
            return
        if view.probe_mode != self.view_mode.probe_mode:
            self.pipeline.clear()
            self.engine.request_setting(SettingKey.DOPPLER_MODE, int(view.probe_mode))
        self.view_mode = view
        self._display(power_display=view == DopplerView.POWER)
        self.mode.setCurrentIndex(offered.index(view))
        self._show_items()
        self._sync_imaging_mode()

    def _on_doppler_off_requested(self, reason: str) -> None:
        """A new exam or a B-mode step: Doppler left on would label its B-mode captures as Doppler."""
        if self.view_mode == DopplerView.OFF:
            return
        was = self.view_mode
        self.set_view(DopplerView.OFF)
        if self._window is not None:
            self._window.show_message(f"{was.value} Doppler turned off: {reason}")

    def _sync_imaging_mode(self) -> None:
        """The window labels captures with the mode the probe read back (colour or power as chosen)."""
        if self._window is None:
            return
        applied = self.applied.get(SettingKey.DOPPLER_MODE)
        probe_mode = DopplerMode(int(applied)) if applied is not None else DopplerMode.OFF
        if probe_mode != self.view_mode.probe_mode:
            probe_mode = DopplerMode.OFF  # not yet in force (or refused): nothing Doppler is shown
        mode = imaging_mode_of(probe_mode, power=self.view_mode == DopplerView.POWER)
        self._window.set_imaging_mode(mode.value)

    def _toggle(self, view: DopplerView) -> None:
        self.set_view(DopplerView.OFF if self.view_mode == view else view)
        if self._window is not None and self.view_mode != DopplerView.OFF:
            self._window.show_side_tab(self)

    def _display(self, **changes: object) -> None:
        self.pipeline.set_display(dataclasses.replace(self.pipeline.display, **changes))  # type: ignore[arg-type]
        d = self.pipeline.display
        self.baseline.show_value(d.baseline)
        self.wall.show_value(d.wall_cutoff_hz)
        self.gain.show_value(d.colour_gain_db)
        self.angle.show_value(d.angle_deg)
        self._draw_gate()

    # -- readback ------------------------------------------------------------------------------

    def _on_connected(self, event: ProbeConnected) -> None:
        self.applied.pop(SettingKey.DOPPLER_MODE, None)  # a probe starts with Doppler off
        self.pipeline.clear()  # its FRAME seqs start again at 0: no overlay of the last link may match
        self.set_probe(event.descriptor)
        if self.capability is not None:
            self._request_setup(event.descriptor)

    def _request_setup(self, descriptor: ProbeDescriptor) -> None:
        """Send the whole Doppler setup (what was in force, else a starting one), so every control and
        the box and gate show the probe's readback from the start, and a reconnected or new probe
        gets the same setup."""
        cap = self.capability
        assert cap is not None
        latest = self.engine.ring.peek_latest()
        width = latest.frame.width_mm if latest is not None else 38.0
        convex = descriptor.geometry == "convex"
        lo, hi = (-15.0, 15.0) if convex else (0.25 * width, 0.75 * width)
        start = {
            SettingKey.PRF_HZ: min(max(5000.0, cap.prf_range_hz[0]), cap.prf_range_hz[1]),
            SettingKey.DOPPLER_FREQUENCY_MHZ: cap.frequencies_mhz[len(cap.frequencies_mhz) // 2],
            SettingKey.STEER_DEG: min(cap.steer_angles_deg, key=abs),
            SettingKey.ENSEMBLE: float(min(max(12, cap.ensemble_range[0]), cap.ensemble_range[1])),
            SettingKey.BOX_TOP_MM: 10.0,
            SettingKey.BOX_BOTTOM_MM: 30.0,
            SettingKey.BOX_LEFT_MM: lo,
            SettingKey.BOX_RIGHT_MM: hi,
            SettingKey.GATE_DEPTH_MM: 18.0,
            SettingKey.GATE_SIZE_MM: 2.0,
            SettingKey.GATE_LATERAL_MM: (lo + hi) / 2,
        }
        wanted = {key: self.applied.get(key, value) for key, value in start.items()}
        depth = self._image_depth_mm()
        if depth is not None:
            box = box_within_image(wanted[SettingKey.BOX_TOP_MM], wanted[SettingKey.BOX_BOTTOM_MM], depth)
            wanted[SettingKey.BOX_TOP_MM], wanted[SettingKey.BOX_BOTTOM_MM] = box
        for key, value in wanted.items():
            self.engine.request_setting(key, value)
        if self.view_mode != DopplerView.OFF:
            # The engine puts the mode in force back on a reconnected probe without a readback, and
            # the screen shows its colour again: asked for anew, its readback labels the captures so
            # (else they were stored grey as B-mode under a colour image).
            self.engine.request_setting(SettingKey.DOPPLER_MODE, int(self.view_mode.probe_mode))

    def _image_depth_mm(self) -> float | None:
        """How deep the image is (the probe's depth readback, else the newest frame's); None before
        either is known."""
        depth = self.engine.settings_in_force().get(SettingKey.DEPTH_MM)
        if depth is not None:
            return depth
        latest = self.engine.ring.peek_latest()
        return latest.frame.settings.depth_mm if latest is not None else None

    def _on_failed(self, event: SettingFailed) -> None:
        if event.key in DOPPLER_SETTING_FIELDS:
            self.status.setText(f"{DOPPLER_SETTING_FIELDS[event.key]}: {event.reason}")

    def _on_applied(self, event: SettingApplied) -> None:
        key = event.key
        if key == SettingKey.DEPTH_MM:
            self._keep_box_in_image(event.applied)
        if key not in DOPPLER_SETTING_FIELDS:
            return
        self.applied[key] = event.applied
        if key == SettingKey.PRF_HZ:
            self.prf.show_value(event.applied, event.requested)
        elif key == SettingKey.GATE_DEPTH_MM:
            self.gate_depth.show_value(event.applied, event.requested)
        elif key == SettingKey.GATE_SIZE_MM:
            self.gate_size.show_value(event.applied, event.requested)
        elif key == SettingKey.STEER_DEG:
            index = self.steer.findData(event.applied)
            if index >= 0:
                self.steer.setCurrentIndex(index)
        elif key == SettingKey.DOPPLER_MODE:
            if int(event.applied) != int(self.view_mode.probe_mode):
                self.status.setText(f"the probe applied Doppler mode {int(event.applied)}")
            self._sync_imaging_mode()
        self._update_scale()
        self._update_box()
        self._draw_gate()

    def _update_scale(self) -> None:
        prf = self.applied.get(SettingKey.PRF_HZ)
        f0 = self.applied.get(SettingKey.DOPPLER_FREQUENCY_MHZ)
        if prf and f0:
            self.scale_label.setText(f"Scale ±{nyquist_velocity_cm_s(prf, f0):.1f} cm/s at {f0:g} MHz")

    def _update_box(self) -> None:
        keys = (
            SettingKey.BOX_LEFT_MM,
            SettingKey.BOX_TOP_MM,
            SettingKey.BOX_RIGHT_MM,
            SettingKey.BOX_BOTTOM_MM,
        )
        if not all(k in self.applied for k in keys):
            return
        left, top, right, bottom = (self.applied[k] for k in keys)
        self.box_label.setText(f"Box {top:.1f}–{bottom:.1f} mm deep, {left:.1f}–{right:.1f} mm across")
        if getattr(self.box_roi, "isMoving", False):
            return  # the operator is dragging it: the readback of the drop will place it
        self.box_roi.blockSignals(True)
        self.box_roi.setPos((left, top), update=False)
        self.box_roi.setSize((right - left, bottom - top))
        self.box_roi.blockSignals(False)
        self._place_colour_bar()

    def _keep_box_in_image(self, depth_mm: float) -> None:
        """The image became `depth_mm` deep: a box reaching below it is asked for again inside it, and
        the probe's readback (which may have clamped it already) relabels and places it."""
        top, bottom = self.applied.get(SettingKey.BOX_TOP_MM), self.applied.get(SettingKey.BOX_BOTTOM_MM)
        if top is None or bottom is None or max(top, bottom) <= depth_mm:
            return
        top, bottom = box_within_image(min(top, bottom), max(top, bottom), depth_mm)
        self.engine.request_setting(SettingKey.BOX_TOP_MM, top)
        self.engine.request_setting(SettingKey.BOX_BOTTOM_MM, bottom)

    def _box_moved(self) -> None:
        x, y = self.box_roi.pos()
        w, h = self.box_roi.size()
        top, bottom = float(y), float(y + h)
        depth = self._image_depth_mm()
        if depth is not None:  # dragged below the image: it ends at the image's last row
            top, bottom = box_within_image(top, bottom, depth)
        request = self.engine.request_setting
        request(SettingKey.BOX_TOP_MM, top)
        request(SettingKey.BOX_BOTTOM_MM, bottom)
        request(SettingKey.BOX_LEFT_MM, float(x))
        request(SettingKey.BOX_RIGHT_MM, float(x + w))

    # -- drawing (GUI thread: only what the pipeline made) -------------------------------------

    def _show_items(self) -> None:
        flow = self.view_mode in (DopplerView.COLOUR, DopplerView.POWER)
        pw = self.view_mode == DopplerView.PW
        for item in (self.overlay, self.box_roi, self.colour_bar, self.bar_top, self.bar_bottom):
            item.setVisible(flow)
        self.gate.setVisible(pw)
        self.angle_cursor.setVisible(pw)
        self.strip.setVisible(pw)
        if not flow:
            self.overlay.clear()
        self._draw_gate()

    def _frozen(self) -> bool:
        return self._cine is not None and self._cine.frozen

    def _on_cine(self) -> None:
        """Frozen: the box shows the overlay of the cine frame shown (none if it had none), never a
        live one; live again: the newest."""
        if self.view_mode not in (DopplerView.COLOUR, DopplerView.POWER):
            return
        cine = self._cine
        current = cine.current() if cine is not None and cine.frozen else None
        overlay: FlowImage | FlowOverlay | None
        if cine is not None and cine.frozen:
            overlay = self.pipeline.overlay_for(current.frame.seq) if current is not None else None
        else:
            overlay = self.pipeline.newest_flow()
        if overlay is not None:
            self._draw_flow(overlay)
        else:
            self.overlay.clear()
            self.shown_overlay = None

    def _draw(self) -> None:
        self.doppler_bridge.take_notice()
        if self._frozen():
            return  # what arrives after the freeze belongs to no frame on screen
        if self.view_mode in (DopplerView.COLOUR, DopplerView.POWER):
            flow = self.pipeline.newest_flow()
            if flow is not None:
                self._draw_flow(flow)
        elif self.view_mode == DopplerView.PW:
            self._draw_spectrum()

    def _draw_flow(self, flow: FlowImage | FlowOverlay) -> None:
        b = flow.box
        self.shown_overlay = flow
        self.overlay.setImage(flow.rgba, autoLevels=False, levels=(0, 255))
        self.overlay.setRect(QRectF(b.left, b.top_mm, b.right - b.left, b.bottom_mm - b.top_mm))
        self._place_colour_bar(flow)

    def _place_colour_bar(self, flow: FlowImage | FlowOverlay | None = None) -> None:
        keys = (SettingKey.BOX_RIGHT_MM, SettingKey.BOX_TOP_MM, SettingKey.BOX_BOTTOM_MM)
        if flow is not None:
            right, top, bottom = flow.box.right, flow.box.top_mm, flow.box.bottom_mm
        elif all(k in self.applied for k in keys):
            right, top, bottom = (self.applied[k] for k in keys)
        else:
            return
        power = self.view_mode == DopplerView.POWER
        rgb = colour_bar(power, self.pipeline.display.invert)
        self.colour_bar.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.colour_bar.setRect(QRectF(right + 1.0, top, 1.2, bottom - top))
        if flow is not None and not power:
            self.bar_top.setText(f"+{flow.nyquist_cm_s:.1f}\ncm/s")
            self.bar_bottom.setText(f"−{flow.nyquist_cm_s:.1f}")
        elif power:
            self.bar_top.setText("power")
            self.bar_bottom.setText("")
        self.bar_top.setPos(right + 2.4, top)
        self.bar_bottom.setPos(right + 2.4, bottom)

    def _draw_spectrum(self) -> None:
        view = self.pipeline.spectrum_view()
        if view is None:
            return
        t0, t1 = float(view.time_s[0]), float(view.time_s[-1])
        step = float(view.velocity_cm_s[1] - view.velocity_cm_s[0]) if view.velocity_cm_s.size > 1 else 1.0
        v0 = float(view.velocity_cm_s[0]) - step / 2
        v1 = float(view.velocity_cm_s[-1]) + step / 2
        width = max(t1 - t0, 1e-3)
        self.strip.image.setImage(view.image, autoLevels=False, levels=(0, 255))
        self.strip.image.setRect(QRectF(t0, v0, width, v1 - v0))
        self.strip.trace.setData(view.time_s, view.max_cm_s)
        self.strip.plot.setXRange(t0, t0 + max(width, 1.0), padding=0.0)
        self.strip.plot.setYRange(v0, v1, padding=0.0)
        self.strip.columns_shown = view.time_s.size

    def _draw_gate(self) -> None:
        """The sample volume: a short line along the beam with a tick at each end; the angle cursor."""
        a = self.applied
        if not all(
            k in a for k in (SettingKey.GATE_DEPTH_MM, SettingKey.GATE_SIZE_MM, SettingKey.GATE_LATERAL_MM)
        ):
            return
        x, z, half = (
            a[SettingKey.GATE_LATERAL_MM],
            a[SettingKey.GATE_DEPTH_MM],
            a[SettingKey.GATE_SIZE_MM] / 2,
        )
        steer = math.radians(a.get(SettingKey.STEER_DEG, 0.0))
        dx, dz = math.sin(steer), math.cos(steer)  # along the (steered) beam
        tick = 1.5
        xs = [x - half * dx, x + half * dx]
        zs = [z - half * dz, z + half * dz]
        for end in (-1, 1):
            cx, cz = x + end * half * dx, z + end * half * dz
            xs += [cx - tick * dz, cx + tick * dz]
            zs += [cz + tick * dx, cz - tick * dx]
        self.gate.setData(xs, zs)
        # The angle cursor: a line through the gate along the flow, at the angle-correction angle
        # from the beam (the operator aligns it with the vessel).
        theta = steer + math.radians(self.pipeline.display.angle_deg)
        length = 5.0
        ux, uz = math.sin(theta), math.cos(theta)
        self.angle_cursor.setData([x - length * ux, x + length * ux], [z - length * uz, z + length * uz])

    # -- captures (the window asks; GUI thread) --------------------------------------------------

    def doppler_content(
        self, frames: Sequence[Frame], clip: bool
    ) -> tuple[list[Frame], DopplerContent] | None:
        """What the display showed with these frames: each frame's own colour box (colour, power), or
        for a duplex still the spectral sweep on screen with its measurements, for a duplex clip the
        sweep as it stood with each frame. A live colour still may keep an earlier frame of the last
        beat (`live_still_frame`): the frames returned are the ones to store."""
        if self.view_mode in (DopplerView.COLOUR, DopplerView.POWER):
            if not clip and len(frames) == 1 and not self._frozen():
                frames = [self._live_still_frame(frames[0])]
            return self._flow_content(list(frames))
        if self.view_mode == DopplerView.PW and clip and frames:
            artery = bool(self.vessel.currentData())
            return duplex_clip_content(list(frames), self.pipeline.spectrum_history(), artery=artery)
        if self.view_mode == DopplerView.PW and not clip and frames:
            lines = self.pipeline.spectrum_snapshot()
            if len(lines) < 2:
                return None
            measured = spectral_measurements(lines, artery=bool(self.vessel.currentData()))
            return [frames[-1]], DopplerContent(
                ImagingMode.SPECTRAL_DOPPLER, spectrum=lines, measurements=measured
            )
        return None

    def _live_still_frame(self, shown: Frame) -> Frame:
        if shows_flow(self.pipeline.overlay_for(shown.seq)):
            return shown  # the frame on screen has its colour: no need to copy the last beat's frames
        end = shown.host_time_ns
        recent = self.engine.ring.frames_between(end - int(LIVE_STILL_LOOKBACK_S * 1e9), end)
        earlier = [rf.frame for rf in recent if rf.frame.seq < shown.seq]
        return live_still_frame([*earlier, shown], self.pipeline.overlay_for)

    def _flow_content(self, frames: list[Frame]) -> tuple[list[Frame], DopplerContent] | None:
        pairs = [(f, self.pipeline.overlay_for(f.seq)) for f in frames]
        shown = [(f, o) for f, o in pairs if o is not None]
        if not shown:
            return None
        last_frame, last = shown[-1]
        # One multi-frame image keeps one size, calibration, box and map: the run that ends the clip.
        run = [
            (f, o)
            for f, o in shown
            if f.pixels.shape == last_frame.pixels.shape
            and f.spacing_mm == last_frame.spacing_mm
            and o.box == last.box
            and o.power_display == last.power_display
        ]
        mode = ImagingMode.POWER_DOPPLER if last.power_display else ImagingMode.COLOR_DOPPLER
        content = DopplerContent(
            mode, overlays=tuple(o for _f, o in run), bar=colour_bar(last.power_display, last.invert)
        )
        return [f for f, _o in run], content
