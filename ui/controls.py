"""Imaging controls bound to the ImagingModel: each shows the value the probe applied (its readback).

Widgets only call the model; the model drives the engine. When the model changes, widgets update with
their signals blocked, so a readback never loops back as a new request.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from scanner_app.imaging_model import GREY_MAP_NAMES, PRESETS, TGC_BANDS, ImagingModel, SettingChange
from scanner_app.probe import ProbeDescriptor, SettingKey


def _label(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    return label


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


class SettingControl(QFrame):
    """One numeric setting: title, applied value (large), a slider and − / + buttons."""

    def __init__(
        self,
        model: ImagingModel,
        key: SettingKey,
        title: str,
        *,
        unit: str,
        lo: float,
        hi: float,
        step: float,
        decimals: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model, self.key, self.unit, self.step, self.decimals = model, key, unit, step, decimals
        self.title = _label(title, "title")
        self.value_label = _label("—", "value")
        self.hint = _label("", "hint")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the scanner shortcuts
        self.minus = QPushButton("−")
        self.plus = QPushButton("+")
        for b in (self.minus, self.plus):
            b.setFixedWidth(44)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setAutoRepeat(True)
        self.set_range(lo, hi)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.hint)
        top.addWidget(self.value_label)
        row = QHBoxLayout()
        row.addWidget(self.minus)
        row.addWidget(self.slider, 1)
        row.addWidget(self.plus)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addLayout(row)
        self.slider.valueChanged.connect(self._slider_moved)
        self.minus.clicked.connect(lambda: self.model.step(self.key, -self.step))
        self.plus.clicked.connect(lambda: self.model.step(self.key, self.step))
        model.setting_changed.connect(self._on_model)
        self._show(model.value(key), None)

    def set_range(self, lo: float, hi: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(round(lo / self.step), round(hi / self.step))
        self.slider.blockSignals(False)

    @property
    def shown_value(self) -> float:
        """The value the control displays (for tests): parsed back from its label."""
        return float(self.value_label.text().split()[0])

    def _slider_moved(self, position: int) -> None:
        self.model.request(self.key, position * self.step)

    def _on_model(self, change: SettingChange) -> None:
        if change.key == self.key:
            self._show(change.value, change if change.applied else None)

    def _show(self, value: float, readback: SettingChange | None) -> None:
        self.value_label.setText(f"{_fmt(value, self.decimals)} {self.unit}")
        clamped = readback is not None and abs(readback.requested - readback.value) > 1e-6
        self.hint.setText(f"asked {_fmt(readback.requested, self.decimals)}" if clamped and readback else "")
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(round(value / self.step))
            self.slider.blockSignals(False)


class FrequencyControl(QFrame):
    """Transmit frequency, chosen from the probe's list; shows the applied frequency."""

    def __init__(self, model: ImagingModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.combo = QComboBox()
        self.combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.value_label = _label("—", "value")
        # title and applied value on top, the choice under them (as the sliders' controls): one row
        # of all three was wider than the side panel's default width at 1280 px
        top = QHBoxLayout()
        top.addWidget(_label("Frequency", "title"))
        top.addStretch(1)
        top.addWidget(self.value_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addLayout(top)
        lay.addWidget(self.combo)
        self.set_frequencies((5.0, 7.5, 10.0, 12.0, 15.0, 18.0))
        self.combo.currentIndexChanged.connect(self._chosen)
        model.setting_changed.connect(self._on_model)
        self._show(model.value(SettingKey.FREQUENCY_MHZ))

    def set_frequencies(self, freqs: tuple[float, ...]) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        for f in freqs:
            self.combo.addItem(f"{f:g} MHz", f)
        self.combo.blockSignals(False)
        self._show(self.model.value(SettingKey.FREQUENCY_MHZ))

    @property
    def shown_value(self) -> float:
        return float(self.value_label.text().split()[0])

    def _chosen(self, index: int) -> None:
        if index >= 0:
            self.model.request(SettingKey.FREQUENCY_MHZ, float(self.combo.itemData(index)))

    def _on_model(self, change: SettingChange) -> None:
        if change.key == SettingKey.FREQUENCY_MHZ:
            self._show(change.value)

    def _show(self, value: float) -> None:
        self.value_label.setText(f"{value:g} MHz")
        self.combo.blockSignals(True)
        index = self.combo.findData(value)
        if index < 0:  # a preset's frequency off the probe's list (it applied it): in its place by value
            listed = [float(self.combo.itemData(i)) for i in range(self.combo.count())]
            index = sum(f < value for f in listed)
            self.combo.insertItem(index, f"{value:g} MHz", value)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)


class TgcControl(QFrame):
    """Time-gain compensation: eight vertical sliders, shallow band on the left, each with its readback."""

    def __init__(self, model: ImagingModel, lo_db: float = -20.0, hi_db: float = 20.0) -> None:
        super().__init__()
        self.model = model
        self.sliders: list[QSlider] = []
        self.values: list[QLabel] = []
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(4)
        title = _label("TGC (dB), shallow → deep", "title")
        grid.addWidget(title, 0, 0, 1, TGC_BANDS)
        for band in range(TGC_BANDS):
            s = QSlider(Qt.Orientation.Vertical)
            s.setRange(round(lo_db), round(hi_db))
            s.setMinimumHeight(80)  # compact: the imaging tab fits a 1280 x 800 screen unscrolled
            s.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            s.valueChanged.connect(lambda v, b=band: self.model.request(SettingKey.tgc(b), float(v)))
            value = QLabel("0")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setStyleSheet("font-size: 12px;")
            grid.addWidget(s, 1, band, Qt.AlignmentFlag.AlignHCenter)
            grid.addWidget(value, 2, band)
            self.sliders.append(s)
            self.values.append(value)
        self.reset = QPushButton("Flat")
        self.reset.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reset.clicked.connect(self.flatten)
        grid.addWidget(self.reset, 3, 0, 1, TGC_BANDS)
        model.setting_changed.connect(self._on_model)
        for b in range(TGC_BANDS):
            self._show(b, model.value(SettingKey.tgc(b)))

    def flatten(self) -> None:
        """All bands back to 0 dB."""
        for band in range(TGC_BANDS):
            self.model.request(SettingKey.tgc(band), 0.0)

    def _on_model(self, change: SettingChange) -> None:
        if SettingKey.TGC_0 <= change.key <= SettingKey.TGC_7:
            self._show(change.key - SettingKey.TGC_0, change.value)

    def _show(self, band: int, value: float) -> None:
        self.values[band].setText(f"{value:+.0f}")
        s = self.sliders[band]
        if not s.isSliderDown():
            s.blockSignals(True)
            s.setValue(round(value))
            s.blockSignals(False)


class ImagingControls(QWidget):
    """The imaging tab: presets, depth, gain, frequency, focus, dynamic range, grey map and TGC."""

    def __init__(self, model: ImagingModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        lay.addWidget(_label("Preset", "title"))
        presets = QGridLayout()
        presets.setSpacing(4)
        self.preset_buttons: dict[str, QPushButton] = {}
        self._preset_group = QButtonGroup(self)
        self._preset_group.setExclusive(True)
        for i, name in enumerate(PRESETS):
            b = QPushButton(name)
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setStyleSheet("font-size: 13px; padding: 4px;")
            b.clicked.connect(lambda _=False, n=name: self.model.apply_preset(PRESETS[n], n))
            self._preset_group.addButton(b)
            presets.addWidget(b, i // 2, i % 2)
            self.preset_buttons[name] = b
        lay.addLayout(presets)
        self.depth_control = SettingControl(
            model, SettingKey.DEPTH_MM, "Depth", unit="mm", lo=10, hi=120, step=5
        )
        self.gain_control = SettingControl(
            model, SettingKey.GAIN_DB, "Gain", unit="dB", lo=-20, hi=40, step=1
        )
        self.frequency_control = FrequencyControl(model)
        self.focus_control = SettingControl(
            model, SettingKey.FOCUS_MM, "Focus", unit="mm", lo=2, hi=120, step=1
        )
        self.dynamic_range_control = SettingControl(
            model, SettingKey.DYNAMIC_RANGE_DB, "Dynamic range", unit="dB", lo=30, hi=90, step=3
        )
        for w in (
            self.depth_control,
            self.gain_control,
            self.frequency_control,
            self.focus_control,
            self.dynamic_range_control,
        ):
            lay.addWidget(w)
        grey = QHBoxLayout()
        grey.addWidget(_label("Grey map", "title"))
        grey.addStretch(1)
        self.grey_map = QComboBox()
        self.grey_map.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.grey_map.addItems(GREY_MAP_NAMES)
        self.grey_map.currentTextChanged.connect(self.model.set_grey_map)
        grey.addWidget(self.grey_map)
        lay.addLayout(grey)
        self.tgc = TgcControl(model)
        self.read_only: list[QWidget] = []  # controls of settings the source sets itself
        lay.addWidget(self.tgc)
        lay.addStretch(1)
        model.view_changed.connect(self._on_view_state)
        self._on_view_state()

    def set_probe(self, descriptor: ProbeDescriptor) -> None:
        """Limit depth and focus to what the probe can do and list its frequencies; a source that sets
        them itself (OpenIGTLink, replay: its descriptor's `read_only_settings`) shows them read-only."""
        read_only = set(descriptor.extra.get("read_only_settings", ()))
        self.read_only = [w for name, w in self._by_setting_name().items() if name in read_only]
        for name, w in self._by_setting_name().items():
            w.setEnabled(name not in read_only)
            w.setToolTip("set by the source: read-only here" if name in read_only else "")
        lo, hi = descriptor.depth_range_mm
        self.depth_control.set_range(lo, hi)
        self.focus_control.set_range(min(2.0, lo), hi)
        if descriptor.frequencies_mhz:
            self.frequency_control.set_frequencies(descriptor.frequencies_mhz)
        for c in (self.depth_control, self.focus_control):
            c._show(self.model.value(c.key), None)

    def _by_setting_name(self) -> dict[str, QWidget]:
        """The controls of settings a source may own, by the setting's name (TGC goes with gain)."""
        return {
            "depth_mm": self.depth_control,
            "gain_db": self.gain_control,
            "frequency_mhz": self.frequency_control,
            "focus_mm": self.focus_control,
            "dynamic_range_db": self.dynamic_range_control,
            "tgc_db": self.tgc,
        }

    def _on_view_state(self) -> None:
        self.grey_map.blockSignals(True)
        self.grey_map.setCurrentText(self.model.grey_map)
        self.grey_map.blockSignals(False)
        button = self.preset_buttons.get(self.model.preset_name)
        if button is not None:
            button.setChecked(True)
        else:
            checked = self._preset_group.checkedButton()
            if checked is not None:
                self._preset_group.setExclusive(False)
                checked.setChecked(False)
                self._preset_group.setExclusive(True)
