"""ImagingModel: the imaging settings the user asked for and the probe applied; it drives the engine.

Widgets call `request`; the model forwards to the engine (`engine.request_setting`) and emits
`setting_changed`. The bridge feeds `SettingApplied` readbacks back in through `on_applied`, so every control
can show what the probe really applied (which may be clamped), not only what was asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from scanner_app.probe import SETTING_FIELDS, SettingKey

TGC_BANDS = 8

# The settings a preset may carry, by the names a protocol file uses.
PRESET_KEYS: dict[str, SettingKey] = {name: key for key, name in SETTING_FIELDS.items()}

# Musculoskeletal and vascular starting points for a linear probe (depth, frequency, focus).
PRESETS: dict[str, dict[str, float]] = {
    "Shoulder": {"depth_mm": 40.0, "frequency_mhz": 10.0, "focus_mm": 20.0},
    "Elbow": {"depth_mm": 30.0, "frequency_mhz": 12.0, "focus_mm": 12.0},
    "Wrist / hand": {"depth_mm": 20.0, "frequency_mhz": 15.0, "focus_mm": 8.0},
    "Hip": {"depth_mm": 70.0, "frequency_mhz": 7.5, "focus_mm": 40.0},
    "Knee": {"depth_mm": 40.0, "frequency_mhz": 10.0, "focus_mm": 18.0},
    "Ankle / foot": {"depth_mm": 25.0, "frequency_mhz": 12.0, "focus_mm": 10.0},
    "DVT groin / thigh": {"depth_mm": 50.0, "frequency_mhz": 7.5, "focus_mm": 25.0},
    "DVT calf": {"depth_mm": 50.0, "frequency_mhz": 7.5, "focus_mm": 35.0},  # paired veins 3-5 cm deep
}

DEFAULT_SETTINGS: dict[SettingKey, float] = {
    SettingKey.DEPTH_MM: 40.0,
    SettingKey.GAIN_DB: 0.0,
    SettingKey.FREQUENCY_MHZ: 10.0,
    SettingKey.FOCUS_MM: 20.0,
    SettingKey.DYNAMIC_RANGE_DB: 60.0,
    **{SettingKey.tgc(b): 0.0 for b in range(TGC_BANDS)},
}


def _lut_from_curve(curve: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    return np.clip(np.round(curve * 255.0), 0, 255).astype(np.uint8)


def grey_maps() -> dict[str, npt.NDArray[np.uint8]]:
    """Display look-up tables (256 entries; grey maps are 1-D, tinted ones 256 x 3). View-only."""
    x = np.linspace(0.0, 1.0, 256)
    s_curve = 0.5 - 0.5 * np.cos(np.pi * x)
    sepia = np.stack([x**0.9, x**1.0 * 0.92, x**1.2 * 0.75], axis=1)
    return {
        "Linear": _lut_from_curve(x),
        "Soft": _lut_from_curve(x**0.7),
        "Contrast": _lut_from_curve(s_curve),
        "Dark": _lut_from_curve(x**1.5),
        "Sepia": _lut_from_curve(sepia),
    }


GREY_MAP_NAMES: tuple[str, ...] = tuple(grey_maps())


@dataclass(frozen=True, slots=True)
class SettingChange:
    """What listeners hear: a key, its value now, and whether the value is the probe's readback."""

    key: SettingKey
    value: float
    applied: bool
    requested: float


class ImagingModel:
    """Requested and applied imaging settings, the grey map and the active preset (no Qt).

    Its signals are emitted on the thread that changed it (the GUI thread; readbacks come through the
    bridge): `setting_changed` for every request and readback, `view_changed` for view-only state
    (grey map, preset name); `doppler_off_requested` when a new exam, or a step that asks for no
    Doppler, starts (the Doppler display, which owns the Doppler mode, turns itself off).
    """

    setting_changed = Signal(SettingChange)
    view_changed = Signal()
    doppler_off_requested = Signal(str)  # why, in words ("a new exam")

    def __init__(self, request_setting: Callable[[SettingKey, float], None]) -> None:
        self._request_setting = request_setting
        self.requested: dict[SettingKey, float] = dict(DEFAULT_SETTINGS)
        self.applied: dict[SettingKey, float] = {}
        self._awaiting: set[SettingKey] = set()  # requested, readback not back yet
        self.grey_map = "Linear"
        self.preset_name = ""

    @property
    def awaiting_readback(self) -> bool:
        """A request (a preset's, a key's) whose readback has not come back yet."""
        return bool(self._awaiting)

    def value(self, key: SettingKey) -> float:
        """The probe's readback when there is one, else what was asked."""
        return self.applied.get(key, self.requested[key])

    def request(self, key: SettingKey, value: float) -> None:
        """Ask the probe for a setting; `setting_changed` tells the request now and the readback later."""
        key = SettingKey(key)
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"setting {key.name} needs a finite number, got {value!r}")
        self.requested[key] = value
        self._awaiting.add(key)
        self._request_setting(key, value)
        self.setting_changed.emit(SettingChange(key, value, applied=False, requested=value))

    def step(self, key: SettingKey, delta: float) -> None:
        """Change a setting relative to where it is going: the last request while its readback is still
        on the way (so quick repeated presses add up), else the applied value (so a clamped setting
        steps back from what the probe really does)."""
        base = self.requested[key] if key in self._awaiting else self.value(key)
        self.request(key, base + delta)

    def push_all(self) -> None:
        """Send every requested setting to the probe (start-up, after a probe switch)."""
        for key, value in self.requested.items():
            self._request_setting(key, value)

    def on_applied(self, key: SettingKey, requested: float, applied: float) -> None:
        """A readback from the probe (SettingApplied)."""
        key = SettingKey(key)
        self.applied[key] = applied
        if requested == self.requested.get(key):
            self._awaiting.discard(key)
        self.setting_changed.emit(SettingChange(key, applied, applied=True, requested=requested))

    def request_doppler_off(self, reason: str) -> None:
        """New imaging that is B-mode only (a new exam, a B-mode step): Doppler must not carry over."""
        self.doppler_off_requested.emit(reason)

    def set_grey_map(self, name: str) -> None:
        if name not in GREY_MAP_NAMES:
            raise ValueError(f"unknown grey map {name!r}; expected one of {', '.join(GREY_MAP_NAMES)}")
        self.grey_map = name
        self.view_changed.emit()

    def apply_preset(self, preset: Mapping[str, object], name: str = "") -> None:
        """Apply a preset: keys from PRESET_KEYS, plus optional "tgc_db" (8 numbers) and "name".

        Raises ValueError naming the first unknown key or bad value before anything is sent.
        """
        changes: list[tuple[SettingKey, float]] = []
        for k, v in preset.items():
            if k == "name":
                continue
            if k == "tgc_db":
                if not isinstance(v, list | tuple) or len(v) != TGC_BANDS:
                    raise ValueError(f"preset tgc_db must be {TGC_BANDS} numbers, got {v!r}")
                changes += [(SettingKey.tgc(b), _number(k, x)) for b, x in enumerate(v)]
            elif k in PRESET_KEYS:
                changes.append((PRESET_KEYS[k], _number(k, v)))
            else:
                raise ValueError(f"unknown preset key {k!r}; expected {', '.join([*PRESET_KEYS, 'tgc_db'])}")
        for key, value in changes:
            self.request(key, value)
        self.preset_name = name or str(preset.get("name", ""))
        self.view_changed.emit()


def _number(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(float(v)):
        raise ValueError(f"preset {name} must be a finite number, got {v!r}")
    return float(v)
