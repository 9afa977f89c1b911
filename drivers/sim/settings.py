"""The simulated probe's settings: ranges, clamping (so readback can differ from setpoint) and descriptor."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from drivers.sim.renderer import RenderParams
from scanner_app.doppler import DopplerCapability, DopplerMode, box_within_image
from scanner_app.frame import DataFormat, Geometry
from scanner_app.probe import DOPPLER_SETTING_FIELDS, SETTING_FIELDS, ProbeDescriptor, SettingKey

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
    # Doppler (spec 10); lateral ranges depend on the array (`doppler_ranges`), angles and
    # frequencies snap to the lists the descriptor gives.
    SettingKey.DOPPLER_MODE: (0.0, 2.0),
    SettingKey.PRF_HZ: (500.0, 20000.0),
    SettingKey.BOX_TOP_MM: (0.0, 79.0),
    SettingKey.BOX_BOTTOM_MM: (1.0, 80.0),
    SettingKey.GATE_DEPTH_MM: (1.0, 79.0),
    SettingKey.GATE_SIZE_MM: (0.5, 10.0),
    SettingKey.ENSEMBLE: (4.0, 32.0),
}
STEER_ANGLES_DEG = {Geometry.LINEAR: (-20.0, -10.0, 0.0, 10.0, 20.0), Geometry.CONVEX: (0.0,)}
DOPPLER_FREQUENCIES_MHZ = {Geometry.LINEAR: (5.0, 6.25, 7.5), Geometry.CONVEX: (2.0, 2.5, 3.0)}
LATERAL_RANGE = {Geometry.LINEAR: (0.0, 38.0), Geometry.CONVEX: (-30.0, 30.0)}  # mm / degrees


def doppler_ranges(geometry: Geometry) -> dict[SettingKey, tuple[float, float]]:
    """(min, max) of every Doppler key for this array; the lateral ones in mm (linear) or degrees."""
    lateral = LATERAL_RANGE[geometry]
    steer, freqs = STEER_ANGLES_DEG[geometry], DOPPLER_FREQUENCIES_MHZ[geometry]
    return {
        **{k: SETTING_RANGES[k] for k in DOPPLER_SETTING_FIELDS if k in SETTING_RANGES},
        SettingKey.BOX_LEFT_MM: lateral,
        SettingKey.BOX_RIGHT_MM: lateral,
        SettingKey.GATE_LATERAL_MM: lateral,
        SettingKey.STEER_DEG: (min(steer), max(steer)),
        SettingKey.DOPPLER_FREQUENCY_MHZ: (min(freqs), max(freqs)),
    }


def sim_doppler_capability(geometry: Geometry) -> DopplerCapability:
    """The descriptor's `doppler` field of the simulated probe (spec 10)."""
    return DopplerCapability(
        modes=(DopplerMode.FLOW, DopplerMode.PW),
        prf_range_hz=SETTING_RANGES[SettingKey.PRF_HZ],
        ensemble_range=(
            int(SETTING_RANGES[SettingKey.ENSEMBLE][0]),
            int(SETTING_RANGES[SettingKey.ENSEMBLE][1]),
        ),
        steer_angles_deg=STEER_ANGLES_DEG[geometry],
        frequencies_mhz=DOPPLER_FREQUENCIES_MHZ[geometry],
    )


@dataclass(frozen=True, slots=True)
class SimDopplerSettings:
    """The simulated probe's Doppler settings (keys 16-27), by the names of `DOPPLER_SETTING_FIELDS`."""

    doppler_mode: float = 0.0
    prf_hz: float = 5000.0
    box_top_mm: float = 10.0
    box_bottom_mm: float = 30.0
    box_left_mm: float = 9.5
    box_right_mm: float = 28.5
    steer_deg: float = 0.0
    gate_depth_mm: float = 18.0
    gate_size_mm: float = 2.0
    gate_lateral_mm: float = 19.0
    ensemble: float = 12.0
    doppler_frequency_mhz: float = 6.25

    @classmethod
    def defaults(cls, geometry: Geometry) -> SimDopplerSettings:
        if geometry == Geometry.CONVEX:
            return cls(box_left_mm=-15.0, box_right_mm=15.0, gate_lateral_mm=0.0, doppler_frequency_mhz=2.5)
        return cls()

    @property
    def mode(self) -> DopplerMode:
        return DopplerMode(int(self.doppler_mode))

    def box_within(self, depth_mm: float) -> SimDopplerSettings:
        """These settings with the flow box clamped to an image `depth_mm` deep (box_within_image)."""
        top, bottom = box_within_image(self.box_top_mm, self.box_bottom_mm, depth_mm)
        return dataclasses.replace(self, box_top_mm=top, box_bottom_mm=bottom)


def sim_descriptor(
    geometry: Geometry = Geometry.LINEAR, serial: str = "SIM-0001", *, doppler: bool = False
) -> ProbeDescriptor:
    """What the simulated probe says at HELLO; with `doppler`, its Doppler capability (the firmware,
    which sends IQ; the direct simulator does not)."""
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
        doppler=sim_doppler_capability(geometry) if doppler else None,
    )


class SimSettings:
    """Current settings of the simulated probe; thread-safe, clamps on set, counts applied changes."""

    def __init__(self, params: RenderParams | None = None, frame_rate_hz: float = 30.0) -> None:
        self._lock = threading.Lock()
        self._params = params or RenderParams()
        self._frame_rate_hz = frame_rate_hz
        self._doppler = SimDopplerSettings.defaults(self._params.geometry)
        self.settings_id = 0

    @property
    def params(self) -> RenderParams:
        with self._lock:
            return self._params

    @property
    def frame_rate_hz(self) -> float:
        with self._lock:
            return self._frame_rate_hz

    @property
    def doppler(self) -> SimDopplerSettings:
        with self._lock:
            return self._doppler

    def set(self, key: SettingKey, value: float) -> float:
        """Apply `value` clamped to the probe's range; returns what was applied."""
        if key in DOPPLER_SETTING_FIELDS:
            return self._set_doppler(key, value)
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
            if key == SettingKey.DEPTH_MM:  # a shallower image takes the flow box in with it
                self._doppler = self._doppler.box_within(applied)
            self.settings_id = (self.settings_id + 1) & 0xFFFF
        return applied

    def _set_doppler(self, key: SettingKey, value: float) -> float:
        geometry = self._params.geometry
        lo, hi = doppler_ranges(geometry)[key]
        applied = min(max(float(value), lo), hi)
        if key in (SettingKey.DOPPLER_MODE, SettingKey.ENSEMBLE):
            applied = float(round(applied))
        elif key == SettingKey.STEER_DEG:
            applied = min(STEER_ANGLES_DEG[geometry], key=lambda a: abs(a - applied))
        elif key == SettingKey.DOPPLER_FREQUENCY_MHZ:
            applied = min(DOPPLER_FREQUENCIES_MHZ[geometry], key=lambda f: abs(f - applied))
        with self._lock:
            doppler = dataclasses.replace(self._doppler, **{DOPPLER_SETTING_FIELDS[key]: applied})
            if key in (SettingKey.BOX_TOP_MM, SettingKey.BOX_BOTTOM_MM):  # not past the image's depth
                doppler = doppler.box_within(self._params.depth_mm)
                applied = float(getattr(doppler, DOPPLER_SETTING_FIELDS[key]))
            self._doppler = doppler
            self.settings_id = (self.settings_id + 1) & 0xFFFF
        return applied

    def get(self, key: SettingKey) -> float:
        with self._lock:
            if key in DOPPLER_SETTING_FIELDS:
                return float(getattr(self._doppler, DOPPLER_SETTING_FIELDS[key]))
            p = self._params
            if key == SettingKey.FRAME_RATE_HZ:
                return self._frame_rate_hz
            if key == SettingKey.FORMAT:
                return float(p.data_format)
            if key >= SettingKey.TGC_0:
                return p.tgc_db[key - SettingKey.TGC_0]
            return float(getattr(p, SETTING_FIELDS[key]))
