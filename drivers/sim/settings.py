"""The simulated probe's settings: ranges, clamping (so readback can differ from setpoint) and descriptor."""

from __future__ import annotations

import dataclasses
import threading

from drivers.sim.renderer import RenderParams
from scanner_app.frame import DataFormat, Geometry
from scanner_app.probe import SETTING_FIELDS, ProbeDescriptor, SettingKey

# (min, max) the simulated probe accepts for each key; it clamps anything outside.
SETTING_RANGES: dict[SettingKey, tuple[float, float]] = {
    SettingKey.DEPTH_MM: (10.0, 80.0),
    SettingKey.GAIN_DB: (-20.0, 40.0),
    SettingKey.FREQUENCY_MHZ: (5.0, 18.0),
    SettingKey.FOCUS_MM: (2.0, 80.0),
    SettingKey.FRAME_RATE_HZ: (1.0, 240.0),
    SettingKey.DYNAMIC_RANGE_DB: (30.0, 90.0),
    SettingKey.FORMAT: (1.0, 3.0),
    **{SettingKey.tgc(b): (-20.0, 20.0) for b in range(8)},
}


def sim_descriptor(geometry: Geometry = Geometry.LINEAR, serial: str = "SIM-0001") -> ProbeDescriptor:
    """What the simulated probe says at HELLO."""
    convex = geometry == Geometry.CONVEX
    return ProbeDescriptor(
        vendor="scanner-app",
        model="SimProbe C5-2" if convex else "SimProbe L12-5",
        serial=serial,
        firmware="sim-1.0",
        protocol=1,
        geometry="convex" if convex else "linear",
        elements=128,
        frequencies_mhz=(2.0, 3.5, 5.0) if convex else (5.0, 7.5, 10.0, 12.0, 15.0, 18.0),
        depth_range_mm=SETTING_RANGES[SettingKey.DEPTH_MM],
        formats=(1, 2, 3),
        max_frame_rate_hz=SETTING_RANGES[SettingKey.FRAME_RATE_HZ][1],
        buttons=("freeze", "save"),
        radius_mm=40.0 if convex else 0.0,
    )


class SimSettings:
    """Current settings of the simulated probe; thread-safe, clamps on set, counts applied changes."""

    def __init__(self, params: RenderParams | None = None, frame_rate_hz: float = 30.0) -> None:
        self._lock = threading.Lock()
        self._params = params or RenderParams()
        self._frame_rate_hz = frame_rate_hz
        self.settings_id = 0

    @property
    def params(self) -> RenderParams:
        with self._lock:
            return self._params

    @property
    def frame_rate_hz(self) -> float:
        with self._lock:
            return self._frame_rate_hz

    def set(self, key: SettingKey, value: float) -> float:
        """Apply `value` clamped to the probe's range; returns what was applied."""
        lo, hi = SETTING_RANGES[key]
        applied = min(max(float(value), lo), hi)
        with self._lock:
            p = self._params
            if key == SettingKey.FRAME_RATE_HZ:
                self._frame_rate_hz = applied
            elif key == SettingKey.FORMAT:
                applied = float(round(applied))
                self._params = dataclasses.replace(p, data_format=DataFormat(int(applied)))
            elif key >= SettingKey.TGC_0:
                tgc = list(p.tgc_db)
                tgc[key - SettingKey.TGC_0] = applied
                self._params = dataclasses.replace(p, tgc_db=tuple(tgc))
            else:
                self._params = dataclasses.replace(p, **{SETTING_FIELDS[key]: applied})  # type: ignore[arg-type]
            self.settings_id = (self.settings_id + 1) & 0xFFFF
        return applied

    def get(self, key: SettingKey) -> float:
        with self._lock:
            p = self._params
            if key == SettingKey.FRAME_RATE_HZ:
                return self._frame_rate_hz
            if key == SettingKey.FORMAT:
                return float(p.data_format)
            if key >= SettingKey.TGC_0:
                return p.tgc_db[key - SettingKey.TGC_0]
            return float(getattr(p, SETTING_FIELDS[key]))
