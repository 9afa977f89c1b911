"""The vocabulary shared by the engine and every probe driver: setting keys, descriptor, events, errors.

The driver base class lives in `drivers/base.py`; the engine only needs the structural `ProbeDriver`
protocol below, so the core does not depend on any driver package.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from scanner_app.doppler import DopplerCapability, IqPacket
from scanner_app.frame import Frame, ProbeIdentity


class SettingKey(enum.IntEnum):
    """PLP/1 SET/GET keys (spec section 2; Doppler keys 16-27, spec section 10)."""

    DEPTH_MM = 1
    GAIN_DB = 2
    FREQUENCY_MHZ = 3
    FOCUS_MM = 4
    FRAME_RATE_HZ = 5
    DYNAMIC_RANGE_DB = 6
    FORMAT = 7
    TGC_0 = 8
    TGC_1 = 9
    TGC_2 = 10
    TGC_3 = 11
    TGC_4 = 12
    TGC_5 = 13
    TGC_6 = 14
    TGC_7 = 15
    DOPPLER_MODE = 16  # 0 off, 1 flow, 2 pw (scanner_app.doppler.DopplerMode)
    PRF_HZ = 17
    BOX_TOP_MM = 18
    BOX_BOTTOM_MM = 19
    BOX_LEFT_MM = 20  # linear: mm from the first column; convex: degrees from the centre line
    BOX_RIGHT_MM = 21
    STEER_DEG = 22  # positive steers toward the last column
    GATE_DEPTH_MM = 23
    GATE_SIZE_MM = 24
    GATE_LATERAL_MM = 25
    ENSEMBLE = 26
    DOPPLER_FREQUENCY_MHZ = 27

    @classmethod
    def tgc(cls, band: int) -> SettingKey:
        if not 0 <= band < 8:
            raise ValueError(f"TGC band {band} is out of range 0-7")
        return cls(cls.TGC_0 + band)


# The imaging settings that are one number each, by the one name every layer gives them: the field of
# a frame's `ImagingSettings`, a preset or protocol file key, the simulator's render parameter. TGC
# bands are a list (`SettingKey.tgc(band)`, preset key "tgc_db"); frame rate and format are settings
# of the stream, not of the image.
SETTING_FIELDS: dict[SettingKey, str] = {
    SettingKey.DEPTH_MM: "depth_mm",
    SettingKey.GAIN_DB: "gain_db",
    SettingKey.FREQUENCY_MHZ: "frequency_mhz",
    SettingKey.FOCUS_MM: "focus_mm",
    SettingKey.DYNAMIC_RANGE_DB: "dynamic_range_db",
}

# The Doppler settings (spec section 10), by the spec's names. A table of their own: they are settings
# of the Doppler acquisition, not fields of a B-mode frame's `ImagingSettings`.
DOPPLER_SETTING_FIELDS: dict[SettingKey, str] = {
    SettingKey.DOPPLER_MODE: "doppler_mode",
    SettingKey.PRF_HZ: "prf_hz",
    SettingKey.BOX_TOP_MM: "box_top_mm",
    SettingKey.BOX_BOTTOM_MM: "box_bottom_mm",
    SettingKey.BOX_LEFT_MM: "box_left_mm",
    SettingKey.BOX_RIGHT_MM: "box_right_mm",
    SettingKey.STEER_DEG: "steer_deg",
    SettingKey.GATE_DEPTH_MM: "gate_depth_mm",
    SettingKey.GATE_SIZE_MM: "gate_size_mm",
    SettingKey.GATE_LATERAL_MM: "gate_lateral_mm",
    SettingKey.ENSEMBLE: "ensemble",
    SettingKey.DOPPLER_FREQUENCY_MHZ: "doppler_frequency_mhz",
}


@dataclass(frozen=True, slots=True)
class ProbeDescriptor:
    """What a probe says about itself at HELLO (spec section 4)."""

    vendor: str
    model: str
    serial: str
    firmware: str
    protocol: int
    geometry: str  # "linear" or "convex"
    elements: int
    frequencies_mhz: tuple[float, ...]
    depth_range_mm: tuple[float, float]
    formats: tuple[int, ...]
    max_frame_rate_hz: float
    buttons: tuple[str, ...] = ()
    radius_mm: float = 0.0
    doppler: DopplerCapability | None = None  # spec 10: absent means the probe does no Doppler
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> ProbeIdentity:
        return ProbeIdentity(self.vendor, self.model, self.serial, self.firmware)

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> ProbeDescriptor:
        """Build from the HELLO JSON; unknown fields go to `extra`, missing required ones raise ValueError.

        A `doppler` field that is present but malformed raises too: a probe that cannot say what
        Doppler it does is not described.
        """
        known = {
            "vendor", "model", "serial", "firmware", "protocol", "geometry", "elements",
            "frequencies_mhz", "depth_mm", "formats", "max_frame_rate_hz", "buttons", "radius_mm", "doppler",
        }  # fmt: skip
        missing = [k for k in ("vendor", "model", "serial", "protocol", "depth_mm") if k not in d]
        if missing:
            raise ValueError(f"probe descriptor lacks {', '.join(missing)}")
        try:
            depth = d["depth_mm"]
            return cls(
                vendor=str(d["vendor"]),
                model=str(d["model"]),
                serial=str(d["serial"]),
                firmware=str(d.get("firmware", "")),
                protocol=int(d["protocol"]),
                geometry=str(d.get("geometry", "linear")),
                elements=int(d.get("elements", 0)),
                frequencies_mhz=tuple(float(f) for f in d.get("frequencies_mhz", ())),
                depth_range_mm=(float(depth[0]), float(depth[1])),
                formats=tuple(int(f) for f in d.get("formats", (1,))),
                max_frame_rate_hz=float(d.get("max_frame_rate_hz", 30.0)),
                buttons=tuple(str(b) for b in d.get("buttons", ())),
                radius_mm=float(d.get("radius_mm", 0.0)),
                doppler=DopplerCapability.from_json_dict(d["doppler"]) if "doppler" in d else None,
                extra={k: v for k, v in d.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"probe descriptor is incomplete or malformed: {exc!r}") from exc

    def to_json_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "vendor": self.vendor,
            "model": self.model,
            "serial": self.serial,
            "firmware": self.firmware,
            "protocol": self.protocol,
            "geometry": self.geometry,
            "elements": self.elements,
            "frequencies_mhz": list(self.frequencies_mhz),
            "depth_mm": list(self.depth_range_mm),
            "formats": list(self.formats),
            "max_frame_rate_hz": self.max_frame_rate_hz,
            "buttons": list(self.buttons),
        }
        if self.geometry == "convex":
            d["radius_mm"] = self.radius_mm
        if self.doppler is not None:
            d["doppler"] = self.doppler.to_json_dict()
        d.update(self.extra)
        return d


class ProbeEventKind(enum.IntEnum):
    """PLP/1 EVENT codes (spec section 5)."""

    BUTTON_FREEZE = 1
    BUTTON_SAVE = 2
    OVERHEAT = 3
    FAULT = 4
    SHUTTING_DOWN = 5


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    """Something the probe reported outside the frame stream: a button, a fault, a status report."""

    kind: ProbeEventKind | None  # None for a STATUS report
    text: str = ""
    status: dict[str, Any] | None = None


class ProbeError(Exception):
    """A probe or link problem, with a message a user can act on."""


class ProbeNotFound(ProbeError):
    """No probe at the configured place (port missing, no USB device, not a PLP probe)."""


class ProbeDisconnected(ProbeError):
    """The probe went away (unplug, port closed); the engine looks for it again."""


class ProbeRefused(ProbeError):
    """The probe answered but cannot be used (another protocol version, a fault); not retried."""


class SettingNotApplied(ProbeError):
    """A setting this source cannot apply (an OpenIGTLink sender, a replay owns it); the engine reports
    it as not applied and imaging goes on."""


class LinkFault(ProbeError):
    """A command went unanswered after its retry, or the link broke mid-stream."""


class ProbeDriver(Protocol):
    """What the acquisition engine needs of a driver; `drivers.base.BaseProbeDriver` implements it.

    Every call but `interrupt` is made from the engine's acquisition thread only.
    """

    @property
    def descriptor(self) -> ProbeDescriptor | None: ...

    @property
    def display_name(self) -> str: ...

    def connect(self) -> ProbeDescriptor: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def read_frame(self, timeout_s: float) -> Frame | None: ...

    def read_frames(self, timeout_s: float) -> list[Frame]: ...

    def read_iq(self) -> list[IqPacket]: ...

    def set_setting(self, key: SettingKey, value: float) -> float: ...

    def get_setting(self, key: SettingKey) -> float: ...

    def poll_events(self) -> list[ProbeEvent]: ...

    def counters(self) -> dict[str, int]: ...

    def interrupt(self) -> None: ...
