"""ProbePanel: connection state, who the probe is, link counters, and a picker to switch probes."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from scanner_app.engine import EngineState, StateChanged, StatusReport
from scanner_app.probe import ProbeDescriptor
from ui.theme import ALARM, MUTED, OK, WARN

STATE_COLOURS = {
    EngineState.STREAMING: OK,
    EngineState.CONNECTING: WARN,
    EngineState.STALLED: WARN,
    EngineState.DISCONNECTED: ALARM,
    EngineState.ERROR: ALARM,
}

SwitchProbe = Callable[[str], None]  # starts a switch; raises ValueError (or OSError) at once for a bad spec


# A driver's reason may advise a command-line option; in the window the Probe tab does the same.
_WINDOW_ADVICE = (
    (re.compile(r"or give its id with --probe usb:VID:PID"),
     "or type its id (usb:VID:PID) under Switch probe in the Probe tab"),
    (re.compile(r"check the VID:PID given to --probe usb"),
     "check the usb:VID:PID chosen under Switch probe in the Probe tab"),
    (re.compile(r"or list ports with --list-probes"), "or pick its port under Switch probe in the Probe tab"),
    (re.compile(r"\(see --list-probes\)"), "(pick it under Switch probe in the Probe tab)"),
    (re.compile(r" or give --usb-backend"), ", then choose the probe again in the Probe tab"),
)  # fmt: skip
_ANY_OPTION = re.compile(r"--[a-z][a-z-]+")


def for_window(reason: str) -> str:
    """A driver's reason as advice for someone at the window (no command-line options)."""
    for pattern, advice in _WINDOW_ADVICE:
        reason = pattern.sub(advice, reason)
    if _ANY_OPTION.search(reason):
        reason += " — in the window: choose the probe under Switch probe in the Probe tab"
    return reason


def banner_text(state: EngineState, reason: str) -> str | None:
    """What the image banner says for a link state (None while streaming)."""
    if state == EngineState.STREAMING:
        return None
    headline = {
        EngineState.CONNECTING: "Connecting to the probe…",
        EngineState.STALLED: "Probe stalled — restarting the stream…",
        EngineState.DISCONNECTED: "PROBE DISCONNECTED — reconnecting…",
        EngineState.ERROR: "PROBE ERROR — not retrying",
    }[state]
    return f"{headline}\n{for_window(reason)}" if reason else headline


class ProbePanel(QWidget):
    """Shows the link's health from StateChanged/StatusReport/ProbeConnected; picks another probe."""

    def __init__(
        self,
        probe_specs: Sequence[str],
        switch_probe: SwitchProbe | None,
        current_spec: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._switch_probe = switch_probe
        self.state_label = QLabel("● disconnected")
        self.state_label.setStyleSheet(f"font-size: 20px; font-weight: 700; color: {ALARM};")
        self.reason_label = QLabel("")
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet(f"color: {MUTED};")
        self.descriptor_label = QLabel("no probe yet")
        self.descriptor_label.setWordWrap(True)
        self.counters: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a long value under its title
        for key, title in (
            ("rate", "Frame rate"),
            ("received", "Frames"),
            ("dropped", "Dropped"),
            ("errors", "Errors"),
            ("reconnects", "Reconnects"),
            ("latency", "Latency p50/p99"),
        ):
            value = QLabel("—")
            value.setStyleSheet("font-size: 16px; font-weight: 600;")
            value.setAlignment(Qt.AlignmentFlag.AlignRight)
            form.addRow(title, value)
            self.counters[key] = value
        self.picker = QComboBox()
        self.picker.setEditable(True)  # a serial port path can be typed in
        self.picker.addItems(list(probe_specs))
        if current_spec:
            self.picker.setCurrentText(current_spec)
        self.connect_button = QPushButton("Use this probe")
        self.connect_button.setEnabled(switch_probe is not None)
        self.connect_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.connect_button.clicked.connect(self._switch)
        self.switch_error = QLabel("")
        self.switch_error.setWordWrap(True)
        self.switch_error.setStyleSheet(f"color: {ALARM};")
        self.switch_status = QLabel("")  # "switching to …", then which probe is in use
        self.switch_status.setWordWrap(True)
        self.switch_status.setStyleSheet(f"color: {MUTED};")
        lay = QVBoxLayout(self)
        lay.addWidget(self.state_label)
        lay.addWidget(self.reason_label)
        probe_title = QLabel("Probe")
        probe_title.setObjectName("title")
        lay.addWidget(probe_title)
        lay.addWidget(self.descriptor_label)
        counters_title = QLabel("Link")
        counters_title.setObjectName("title")
        lay.addWidget(counters_title)
        lay.addLayout(form)
        picker_title = QLabel("Switch probe")
        picker_title.setObjectName("title")
        lay.addWidget(picker_title)
        lay.addWidget(self.picker)  # the button under the picker: a long spec never widens the tab
        lay.addWidget(self.connect_button)
        lay.addWidget(self.switch_status)
        lay.addWidget(self.switch_error)
        lay.addStretch(1)

    def on_state(self, event: StateChanged) -> None:
        colour = STATE_COLOURS.get(event.state, MUTED)
        self.state_label.setText(f"● {event.state.value}")
        self.state_label.setStyleSheet(f"font-size: 20px; font-weight: 700; color: {colour};")
        self.reason_label.setText(for_window(event.reason) if event.state != EngineState.STREAMING else "")
        if event.state != EngineState.STREAMING:
            # the engine sends no status while it waits to reconnect: don't leave a stale rate up
            self.counters["rate"].setText("0.0 /s")

    def on_connected(self, descriptor: ProbeDescriptor) -> None:
        d = descriptor
        freqs = ", ".join(f"{f:g}" for f in d.frequencies_mhz)
        self.descriptor_label.setText(
            f"<b>{d.vendor} {d.model}</b><br>serial {d.serial} · firmware {d.firmware}<br>"
            f"{d.geometry}, {d.elements} elements · {freqs} MHz<br>"
            f"depth {d.depth_range_mm[0]:g}–{d.depth_range_mm[1]:g} mm"
            f" · up to {d.max_frame_rate_hz:g} frames/s"
        )

    def on_status(self, s: StatusReport) -> None:
        c = self.counters
        c["rate"].setText(f"{s.frame_rate_hz:.1f} /s")
        c["received"].setText(str(s.frames_received))
        c["dropped"].setText(str(s.frames_dropped))
        c["errors"].setText(str(s.errors))
        c["reconnects"].setText(str(s.reconnects))
        if math.isnan(s.latency_p50_ms):
            c["latency"].setText("—")
        else:
            c["latency"].setText(f"{s.latency_p50_ms:.1f} / {s.latency_p99_ms:.1f} ms")
        for key, limit in (("dropped", 0), ("errors", 0)):
            value = int(c[key].text())
            c[key].setStyleSheet(
                f"font-size: 16px; font-weight: 600; color: {WARN if value > limit else 'white'};"
            )

    def _switch(self) -> None:
        spec = self.picker.currentText().strip()
        self.switch_error.setText("")
        if self._switch_probe is None or not spec:
            return
        try:
            self._switch_probe(spec)
        except (ValueError, OSError) as exc:
            self.switch_error.setText(f"Could not use {spec!r}: {exc}")

    def set_switching(self, spec: str) -> None:
        """A switch is under way in the background: say so, and take no other choice until it ends."""
        self.picker.setEnabled(False)
        self.connect_button.setEnabled(False)
        self.switch_error.setText("")
        self.switch_status.setText(f"Switching to {spec}…")

    def switch_finished(self, spec: str, error: str | None) -> None:
        self.picker.setEnabled(True)
        self.connect_button.setEnabled(self._switch_probe is not None)
        if error is None:
            self.switch_status.setText(f"Using {spec}")
        else:
            self.switch_status.setText("")
            self.switch_error.setText(f"Could not use {spec!r}: {error}")
