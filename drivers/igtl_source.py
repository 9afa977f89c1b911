"""IgtlProbeDriver: frames from any OpenIGTLink server (a PlusServer, 3D Slicer, pyigtl) as a probe.

IMAGE messages become frames with the spacing of the message's matrix; TRANSFORM messages (PLUS's
`ProbeToReference`) travel with the next frames. The sender owns depth, gain and the rest: setting
them is refused as not applied, and the descriptor says which are read-only.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from drivers.base import BaseProbeDriver
from drivers.igtl_link import MessageSplitter, RawMessage, StreamCorrupt
from drivers.registry import FoundProbe, ProbeKind, ProbeOptions
from scanner_app.frame import (
    DataFormat,
    Frame,
    FrameTracking,
    ImagingSettings,
    Matrix4,
    ProbeIdentity,
    as_matrix4,
)
from scanner_app.probe import (
    SETTING_FIELDS,
    LinkFault,
    ProbeDescriptor,
    ProbeDisconnected,
    ProbeDriver,
    ProbeError,
    ProbeNotFound,
    ProbeRefused,
    SettingKey,
    SettingNotApplied,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 18944  # the OpenIGTLink port PlusServer and Slicer use
CONNECT_TIMEOUT_S = 2.0
RECV_BYTES = 1 << 20
DRAIN_MAX_S = 0.02  # once a frame is in, what has already arrived is taken for at most this long
# OpenIGTLink carries no transmit frequency; the frame's settings need a positive one. Recorded as
# "unknown" in the descriptor; this value only keeps the frame valid.
UNKNOWN_FREQUENCY_MHZ = 1.0
READ_ONLY_SETTINGS = (*SETTING_FIELDS.values(), "tgc_db")  # the sender sets them all


def parse_igtl_spec(spec: str) -> tuple[str, int, str | None]:
    """(host, port, device name or None) from `igtl://HOST[:PORT][/DEVICE]`; ValueError if malformed."""
    parts = urlsplit(spec)
    if parts.scheme != "igtl" or not parts.hostname:
        raise ValueError(
            f"bad probe {spec!r}: expected igtl://HOST:PORT[/DEVICE], e.g. igtl://127.0.0.1:18944"
        )
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"bad port in {spec!r}: give a number 1-65535") from None
    device = parts.path.strip("/") or None
    return parts.hostname, port, device


def image_to_frame_pixels(image: npt.NDArray[np.generic], device: str) -> npt.NDArray[np.uint8]:
    """The 2-D grey pixels of an IMAGE message's array (axes k, j, i[, components]); ProbeRefused
    naming the reason for what is not a 2-D ultrasound frame."""
    if image.ndim == 3:
        components = 1
    elif image.ndim == 4:
        components = int(image.shape[3])
    else:
        raise ProbeRefused(f"{device}: an image of {image.ndim} axes is not a 2-D frame")
    slices, rows, cols = (int(n) for n in image.shape[:3])
    if slices != 1:
        raise ProbeRefused(
            f"{device}: sends a 3-D volume ({cols} x {rows} x {slices}); this app shows 2-D ultrasound frames"
        )
    if image.dtype != np.uint8:
        raise ProbeRefused(f"{device}: sends {image.dtype} pixels; a 2-D ultrasound frame is 8-bit grey")
    plane = image[0]
    if components == 1:
        grey: npt.NDArray[np.uint8] = np.ascontiguousarray(plane, dtype=np.uint8)
        return grey
    if components in (3, 4):
        # RGB(A): shown as its luminance (ITU-R BT.601), the grey a B-mode display would give.
        rgb = plane[..., :3].astype(np.float32)
        grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    raise ProbeRefused(f"{device}: sends {components}-component pixels; expected grey or RGB")


def spacing_from_matrix(ijk_to_world: npt.NDArray[np.floating]) -> tuple[float, float]:
    """(axial, lateral) mm per pixel: the lengths of the matrix's j (row) and i (column) axes."""
    lateral = float(np.linalg.norm(ijk_to_world[:3, 0]))
    axial = float(np.linalg.norm(ijk_to_world[:3, 1]))
    if not (math.isfinite(axial) and math.isfinite(lateral) and axial > 0 and lateral > 0):
        raise ValueError(f"image matrix gives no pixel size ({axial}, {lateral})")
    return axial, lateral


class IgtlProbeDriver(BaseProbeDriver):
    """An OpenIGTLink client that follows one IMAGE device (or the first one seen) as a probe."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, device_name: str | None = None) -> None:
        super().__init__(f"igtl://{host}:{port}" + (f"/{device_name}" if device_name else ""))
        self.host, self.port, self.device_name = host, port, device_name
        self._socket: socket.socket | None = None
        self._splitter = MessageSplitter()
        self._transforms: dict[str, Matrix4] = {}
        self._seq = 0
        self._followed: str | None = device_name
        self._last_frame: Frame | None = None
        self.last_refusal = ""  # why the last image was not taken, for the status line

    # -- hooks ----------------------------------------------------------------------------

    def _do_connect(self) -> ProbeDescriptor:
        self._do_close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise ProbeNotFound(
                f"no OpenIGTLink server at {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = sock
        self._splitter = MessageSplitter()
        self._transforms.clear()
        self._followed = self.device_name
        return ProbeDescriptor(
            vendor="OpenIGTLink",
            model=self.device_name or "IMAGE",
            serial=f"{self.host}:{self.port}",
            firmware="",
            protocol=0,
            geometry="linear",
            elements=0,
            frequencies_mhz=(),
            depth_range_mm=(1.0, 300.0),  # unknown until frames come; the sender sets it
            formats=(int(DataFormat.BMODE_U8),),
            max_frame_rate_hz=0.0,
            extra={"source": "igtl", "read_only_settings": list(READ_ONLY_SETTINGS), "frequency": "unknown"},
        )

    def _do_start(self) -> None:
        """The server streams on its own; nothing to ask."""

    def _do_stop(self) -> None:
        """Nothing to tell the server: frames that keep coming are read and dropped on the next start."""

    def _do_close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        frames = self._do_read_frames(timeout_s)
        return frames[-1] if frames else None

    def _do_read_frames(self, timeout_s: float) -> list[Frame]:
        sock = self._socket
        if sock is None:
            raise ProbeDisconnected(f"{self.display_name}: not connected")
        frames: list[Frame] = []
        deadline = time.monotonic() + timeout_s
        first_frame_s = 0.0
        while True:
            remaining = deadline - time.monotonic()
            # After the first frame, take only what has already arrived.
            sock.settimeout(0.0 if frames else max(remaining, 0.0) or 0.0)
            try:
                data = sock.recv(RECV_BYTES)
            except (BlockingIOError, TimeoutError, InterruptedError):
                return frames
            except OSError as exc:
                raise ProbeDisconnected(f"{self.display_name}: connection lost ({exc})") from exc
            if not data:
                raise ProbeDisconnected(f"{self.display_name}: the server closed the connection")
            self._counts["bytes"] += len(data)
            try:
                messages = self._splitter.feed(data)
            except StreamCorrupt as exc:
                self._counts["corrupt_streams"] += 1
                raise LinkFault(f"{self.display_name}: {exc}") from exc
            for message in messages:
                frame = self._take(message)
                if frame is not None:
                    frames.append(frame)
            now = time.monotonic()
            if frames and not first_frame_s:
                first_frame_s = now
            if frames and now - first_frame_s >= DRAIN_MAX_S:
                return frames  # a sender that never pauses must not keep the read from returning
            if not frames and now >= deadline:
                return frames

    def _take(self, raw: RawMessage) -> Frame | None:
        """A frame from an IMAGE of the followed device; TRANSFORMs kept; anything else counted."""
        self._counts["messages"] += 1
        if not raw.crc_ok:
            self._counts["crc_errors"] += 1
            return None
        if raw.message_type not in ("IMAGE", "TRANSFORM"):
            self._counts["skipped_messages"] += 1
            return None
        try:
            message = raw.decode()
        except Exception as exc:  # a body pyigtl cannot read: skipped, the stream goes on
            self._counts["malformed"] += 1
            log.warning("%s: malformed %s from %r skipped: %s", self.display_name, raw.message_type,
                        raw.device_name, exc)  # fmt: skip
            return None
        if raw.message_type == "TRANSFORM":
            try:
                self._transforms[raw.device_name] = as_matrix4(message.matrix)
            except ValueError:
                self._counts["malformed"] += 1
                return None
            self._counts["transforms"] += 1
            return None
        if self._followed is None:
            self._followed = raw.device_name  # no device named: the first IMAGE device seen
        if raw.device_name != self._followed:
            self._counts["other_devices"] += 1
            return None
        try:
            return self._frame_from(message, raw)
        except ProbeRefused as exc:
            self._counts["refused_images"] += 1
            self.last_refusal = str(exc)
            if self.device_name is not None:
                raise  # the device the user named cannot be shown at all: say so, do not retry
            log.warning("%s", exc)
            return None
        except ValueError as exc:
            self._counts["malformed"] += 1
            log.warning("%s: image from %r skipped: %s", self.display_name, raw.device_name, exc)
            return None

    def _frame_from(self, message: object, raw: RawMessage) -> Frame:
        image = np.asarray(getattr(message, "image"))  # noqa: B009 - pyigtl has no types
        matrix = np.asarray(getattr(message, "ijk_to_world_matrix"), dtype=np.float64)  # noqa: B009
        pixels = image_to_frame_pixels(image, f"{self.display_name} device {raw.device_name!r}")
        axial_mm, lateral_mm = spacing_from_matrix(matrix)
        self._seq += 1
        frame = Frame(
            seq=self._seq,
            device_time_us=round(raw.timestamp_s * 1e6),
            host_time_ns=time.monotonic_ns(),
            pixels=pixels,
            spacing_mm=(axial_mm, lateral_mm),
            data_format=DataFormat.BMODE_U8,
            settings=ImagingSettings(
                depth_mm=pixels.shape[0] * axial_mm,
                gain_db=0.0,
                frequency_mhz=UNKNOWN_FREQUENCY_MHZ,
                focus_mm=0.0,
                dynamic_range_db=0.0,
            ),
            probe=ProbeIdentity("OpenIGTLink", raw.device_name, f"{self.host}:{self.port}"),
            tracking=FrameTracking(
                image_to_world=as_matrix4(matrix),
                transforms=tuple(sorted(self._transforms.items())),
                sender_time_s=raw.timestamp_s,
            ),
        )
        self._counts["frames"] += 1
        self._last_frame = frame
        return frame

    def _do_set(self, key: SettingKey, value: float) -> float:
        raise SettingNotApplied(
            f"{self.display_name} is an OpenIGTLink source: the sending device sets {key.name.lower()}"
        )

    def _do_get(self, key: SettingKey) -> float:
        frame = self._last_frame
        name = SETTING_FIELDS.get(SettingKey(key))
        if frame is None or name is None:
            raise ProbeError(f"{self.display_name}: {key.name.lower()} not known yet")
        return float(getattr(frame.settings, name))

    def _do_interrupt(self) -> None:
        """Reads block at most their timeout; nothing to wake."""


class IgtlProbes(ProbeKind):
    name = "igtl"
    syntax = "igtl://HOST:PORT[/DEVICE]"
    summary = "IMAGE messages from an OpenIGTLink server (PlusServer, 3D Slicer)"

    def matches(self, spec: str) -> bool:
        return spec.startswith("igtl://")

    def make_driver(self, spec: str, options: ProbeOptions) -> ProbeDriver:
        host, port, device = parse_igtl_spec(spec)
        return IgtlProbeDriver(host, port, device)

    def discover(self, options: ProbeOptions) -> list[FoundProbe]:
        """A server on this machine's OpenIGTLink port, if one listens."""
        try:
            with socket.create_connection(("127.0.0.1", DEFAULT_PORT), timeout=0.3):
                pass
        except OSError:
            return []
        return [FoundProbe(f"igtl://127.0.0.1:{DEFAULT_PORT}", "a server is listening")]
