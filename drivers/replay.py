"""ReplayProbeDriver: a recorded case played as a probe, at its original timing, looping, with pause and
seek, through the same engine and ring as any probe.

It plays a sequence file (`.igs.nrrd` / `.seq.nrrd`, this app's or PLUS's), an ultrasound DICOM
(single or multi-frame; grey, RGB, palette colour, YBR, JPEG: calibration from its Sequence of
Ultrasound Regions, else marked uncalibrated), or a folder of stills (uncalibrated).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from drivers.base import BaseProbeDriver
from drivers.registry import FoundProbe, ProbeKind, ProbeOptions
from scanner_app.frame import DataFormat, Frame, FrameTracking, ImagingSettings, Matrix4, ProbeIdentity
from scanner_app.probe import (
    SETTING_FIELDS,
    ProbeDescriptor,
    ProbeDriver,
    ProbeError,
    ProbeNotFound,
    ProbeRefused,
    SettingKey,
    SettingNotApplied,
)
from scanner_app.sequence_file import SEQUENCE_SUFFIXES, RecordingError, read_sequence

STILL_PERIOD_S = 1.0  # a folder of stills has no timing: one a second
DEFAULT_FRAME_PERIOD_S = 1 / 30  # a DICOM without Frame Time
PAUSED_REPEAT_S = 0.5  # while paused the current frame is sent again, so the stream never looks stalled
STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
UNKNOWN_FREQUENCY_MHZ = 1.0  # a recording rarely says; the frame needs a positive value
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    """One frame of a recorded case: grey pixels, when it was made (s), the transforms with it."""

    pixels: npt.NDArray[np.uint8]
    time_s: float
    transforms: tuple[tuple[str, Matrix4], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordedCase:
    """A whole recording, loaded: frames in order, their pixel size, whether it is calibrated."""

    frames: tuple[ReplayFrame, ...]
    spacing_mm: tuple[float, float]  # (axial, lateral); (1, 1) when uncalibrated
    calibrated: bool
    kind: str  # "sequence", "dicom", "stills"
    name: str


def to_grey(pixels: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """8-bit grey from grey or RGB pixels (RGB by luminance, ITU-R BT.601)."""
    array = np.asarray(pixels)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = np.rint(array[..., :3].astype(np.float32) @ _LUMA)
    elif array.ndim != 2:
        raise ProbeRefused(f"pixels of shape {array.shape} are not a 2-D image")
    if array.dtype != np.uint8:
        top = float(array.max()) if array.size else 0.0
        array = array.astype(np.float32) * (255.0 / top) if top > 255 else array
    grey: npt.NDArray[np.uint8] = np.clip(array, 0, 255).astype(np.uint8)
    return grey


def load_sequence(path: Path) -> RecordedCase:
    try:
        info, frames = read_sequence(path)
    except RecordingError as exc:
        raise ProbeNotFound(str(exc)) from exc
    return RecordedCase(
        tuple(ReplayFrame(f.pixels, f.timestamp_s, f.transforms) for f in frames),
        info.spacing_mm,
        calibrated=True,
        kind="sequence",
        name=path.name,
    )


def dicom_region_spacing(ds: object) -> tuple[float, float] | None:
    """(axial, lateral) mm from the first 2-D region in cm (units 3) of the Sequence of Ultrasound Regions."""
    for region in getattr(ds, "SequenceOfUltrasoundRegions", None) or ():
        units_x = getattr(region, "PhysicalUnitsXDirection", None)
        units_y = getattr(region, "PhysicalUnitsYDirection", None)
        dx, dy = getattr(region, "PhysicalDeltaX", None), getattr(region, "PhysicalDeltaY", None)
        if units_x == 3 and units_y == 3 and dx and dy:
            return abs(float(dy)) * 10.0, abs(float(dx)) * 10.0
    return None


def load_dicom(path: Path) -> RecordedCase:
    import pydicom
    from pydicom.pixels.processing import apply_color_lut
    from pydicom.pixels.utils import pixel_array

    try:
        ds = pydicom.dcmread(path)
        array = pixel_array(ds)  # YBR (JPEG or not) comes out as RGB
    except Exception as exc:  # pydicom raises many kinds for what is not a readable image
        raise ProbeNotFound(f"{path}: not a readable DICOM image ({exc})") from exc
    frame_count = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frame_count == 1:
        array = array[None]
    if str(getattr(ds, "PhotometricInterpretation", "")) == "PALETTE COLOR":
        array = apply_color_lut(array, ds)
    period_s = DEFAULT_FRAME_PERIOD_S
    if getattr(ds, "FrameTime", None):
        period_s = float(ds.FrameTime) / 1000.0
    elif getattr(ds, "CineRate", None):
        period_s = 1.0 / float(ds.CineRate)
    spacing = dicom_region_spacing(ds)
    frames = tuple(ReplayFrame(to_grey(array[i]), i * period_s) for i in range(frame_count))
    return RecordedCase(frames, spacing or (1.0, 1.0), spacing is not None, "dicom", path.name)


def load_stills(folder: Path) -> RecordedCase:
    from PIL import Image

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in STILL_SUFFIXES)
    if not paths:
        raise ProbeNotFound(f"{folder}: no stills ({', '.join(STILL_SUFFIXES)})")
    frames = []
    for i, p in enumerate(paths):
        with Image.open(p) as image:
            frames.append(ReplayFrame(to_grey(np.asarray(image.convert("L"))), i * STILL_PERIOD_S))
    return RecordedCase(tuple(frames), (1.0, 1.0), False, "stills", folder.name)


def load_case(path: Path) -> RecordedCase:
    """The recording at `path`, by what it is; ProbeNotFound when there is none or it is unreadable."""
    if path.is_dir():
        return load_stills(path)
    if not path.is_file():
        raise ProbeNotFound(f"no recording at {path}")
    if path.name.endswith(SEQUENCE_SUFFIXES) or path.suffix == ".nrrd":
        return load_sequence(path)
    return load_dicom(path)


class ReplayProbeDriver(BaseProbeDriver):
    """Plays a `RecordedCase` at its own timing (injectable clock); pause, resume, seek from any thread."""

    def __init__(
        self,
        path: Path,
        *,
        loop: bool = True,
        speed: float = 1.0,
        clock_s: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(f"replay:{path}")
        self.path, self.loop, self.speed = path, loop, speed
        self._clock_s = clock_s
        self._wake = threading.Event()
        self._sleep = sleep or self._wake.wait
        self._lock = threading.Lock()
        self._case: RecordedCase | None = None
        self._index = 0  # the next frame to play
        self._due_s = 0.0  # when it is due, on the clock
        self._paused = False
        self._seq = 0
        self._loops = 0
        self._shown: ReplayFrame | None = None

    # -- playback controls (any thread) -----------------------------------------------------

    @property
    def case(self) -> RecordedCase | None:
        return self._case

    @property
    def frame_count(self) -> int:
        """Frames in the recording (0 until it is loaded by the first connect)."""
        return len(self._case.frames) if self._case is not None else 0

    @property
    def position(self) -> int:
        """Index of the next frame to play."""
        return self._index

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        with self._lock:
            self._paused = True
        self._wake.set()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._due_s = self._clock_s()
        self._wake.set()

    def seek(self, index: int) -> None:
        """Play frame `index` next (clamped to the recording), now."""
        with self._lock:
            count = len(self._case.frames) if self._case else 0
            self._index = min(max(0, index), max(0, count - 1))
            self._due_s = self._clock_s()
            self._shown = None
        self._wake.set()

    # -- hooks --------------------------------------------------------------------------------

    def _do_connect(self) -> ProbeDescriptor:
        if self._case is None:
            self._case = load_case(self.path)
        case = self._case
        first = case.frames[0].pixels
        depth = first.shape[0] * case.spacing_mm[0]
        return ProbeDescriptor(
            vendor="Replay",
            model=case.kind,
            serial=case.name,
            firmware="",
            protocol=0,
            geometry="linear",
            elements=0,
            frequencies_mhz=(),
            depth_range_mm=(depth, depth),
            formats=(int(DataFormat.BMODE_U8),),
            max_frame_rate_hz=0.0,
            extra={
                "source": "replay",
                "calibrated": case.calibrated,
                "frames": len(case.frames),
                "read_only_settings": [*SETTING_FIELDS.values(), "tgc_db"],
            },
        )

    def _do_start(self) -> None:
        with self._lock:
            self._due_s = self._clock_s()

    def _do_stop(self) -> None:
        """Nothing to stop: frames are made on read."""

    def _do_close(self) -> None:
        self._wake.set()

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        case = self._case
        if case is None:
            raise ProbeError(f"{self.display_name}: not connected")
        deadline = self._clock_s() + timeout_s
        with self._lock:
            due = self._due_s
        wait = due - self._clock_s()
        if wait > timeout_s:
            self._wake.clear()
            self._sleep(max(0.0, deadline - self._clock_s()))
            return None
        if wait > 0:
            self._wake.clear()
            self._sleep(wait)
        with self._lock:
            loops = self._loops  # of the frame about to be shown, before a wrap counts the next loop
            if self._due_s > self._clock_s():
                return None  # paused, sought or woken: the next read looks again
            if self._paused:
                if self._shown is None:  # sought while paused: show that frame; resume goes on after it
                    self._shown = case.frames[self._index]
                    self._index = (self._index + 1) % len(case.frames)
                shown = self._shown
                self._due_s = self._clock_s() + PAUSED_REPEAT_S
            else:
                shown = case.frames[self._index]
                self._advance(case)
            self._shown = shown
        return self._frame(case, shown, loops)

    def _advance(self, case: RecordedCase) -> None:
        """Step to the next frame and set when it is due, by the recording's own intervals."""
        i = self._index
        if i + 1 < len(case.frames):
            interval = case.frames[i + 1].time_s - case.frames[i].time_s
            self._index = i + 1
        else:
            interval = _typical_interval(case)
            self._index = 0
            self._loops += 1
            if not self.loop:
                self._paused = True
        self._due_s += max(interval, 0.0) / self.speed

    def _frame(self, case: RecordedCase, shown: ReplayFrame, loops: int) -> Frame:
        self._seq += 1
        self._counts["frames"] += 1
        self._counts["loops"] = self._loops
        span = case.frames[-1].time_s - case.frames[0].time_s + _typical_interval(case)
        recorded_s = shown.time_s + loops * span  # grows across loops: a clock that never goes back
        axial = case.spacing_mm[0]
        return Frame(
            seq=self._seq,
            device_time_us=round(recorded_s * 1e6),
            host_time_ns=time.monotonic_ns(),
            pixels=shown.pixels,
            spacing_mm=case.spacing_mm,
            data_format=DataFormat.BMODE_U8,
            settings=ImagingSettings(
                depth_mm=shown.pixels.shape[0] * axial,
                gain_db=0.0,
                frequency_mhz=UNKNOWN_FREQUENCY_MHZ,
                focus_mm=0.0,
                dynamic_range_db=0.0,
            ),
            probe=ProbeIdentity("Replay", case.kind, case.name),
            tracking=FrameTracking(transforms=shown.transforms, sender_time_s=shown.time_s),
        )

    def _do_set(self, key: SettingKey, value: float) -> float:
        raise SettingNotApplied(
            f"{self.display_name} is a recording: {key.name.lower()} is as it was recorded"
        )

    def _do_get(self, key: SettingKey) -> float:
        raise SettingNotApplied(f"{self.display_name}: {key.name.lower()} is not known for a recording")

    def _do_interrupt(self) -> None:
        self._wake.set()


def _typical_interval(case: RecordedCase) -> float:
    times = [f.time_s for f in case.frames]
    if len(times) < 2:
        return STILL_PERIOD_S
    return float(np.median(np.diff(times)))


class ReplayProbes(ProbeKind):
    name = "replay"
    syntax = "replay:PATH"
    summary = "a recording played as a probe: .igs.nrrd/.seq.nrrd, ultrasound DICOM, or a folder of stills"

    def make_driver(self, spec: str, options: ProbeOptions) -> ProbeDriver:
        path = spec[len("replay:") :]
        if not path:
            raise ValueError("--probe replay:PATH needs a recording, e.g. replay:case.igs.nrrd")
        return ReplayProbeDriver(Path(path).expanduser())

    def discover(self, options: ProbeOptions) -> list[FoundProbe]:
        return [FoundProbe("replay:PATH", "give a recording")]
