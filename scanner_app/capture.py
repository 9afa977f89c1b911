"""Captures: the `CaptureSink` interface every store implements, and a folder sink (.npy + PNG + JSON).

The DICOM study store plugs into the same interface. A sink writes each capture completely or not at
all (temporary names, then rename), and raises `CaptureSinkError` with a message a user can act on.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import json
import os
import struct
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scanner_app.doppler import DopplerMode
from scanner_app.dual_image import compose_dual
from scanner_app.frame import Frame
from scanner_app.probe import SETTING_FIELDS

if TYPE_CHECKING:
    from scanner_app.doppler_capture import DopplerContent


class CaptureKind(enum.StrEnum):
    """A capture is one still image or one multi-frame clip: the same two words for the sinks, the
    study store and the protocol checklists."""

    STILL = "still"
    CLIP = "clip"


class ImagingMode(enum.StrEnum):
    """The imaging mode a capture was taken in (its label), and the mode a protocol asks a capture for.

    One vocabulary for the window's labels, the study store and the checklists: a capture counts for a
    requirement only if it was taken in the mode the requirement names.
    """

    BMODE = "bmode"
    COLOR_DOPPLER = "color_doppler"
    POWER_DOPPLER = "power_doppler"
    SPECTRAL_DOPPLER = "spectral_doppler"

    @property
    def words(self) -> str:
        """How a message names the mode: "B-mode", "colour Doppler", ..."""
        return _MODE_WORDS[self]


_MODE_WORDS = {
    ImagingMode.BMODE: "B-mode",
    ImagingMode.COLOR_DOPPLER: "colour Doppler",
    ImagingMode.POWER_DOPPLER: "power Doppler",
    ImagingMode.SPECTRAL_DOPPLER: "spectral Doppler",
}


def imaging_mode_of(doppler: DopplerMode, *, power: bool = False) -> ImagingMode:
    """The capture mode for the probe's Doppler mode as read back: FLOW is colour (or power, which is
    the same IQ shown otherwise), PW is spectral (duplex included), OFF is B-mode."""
    if doppler is DopplerMode.PW:
        return ImagingMode.SPECTRAL_DOPPLER
    if doppler is DopplerMode.FLOW:
        return ImagingMode.POWER_DOPPLER if power else ImagingMode.COLOR_DOPPLER
    return ImagingMode.BMODE


class CaptureSinkError(Exception):
    """A capture could not be stored (disk full, folder missing, not writable)."""


@dataclass(frozen=True, slots=True)
class StoredCapture:
    """What a sink stored: still or clip, where, and how many frames; `note` says what the user should
    know about how it was stored (a clip kept as two parts), or is empty."""

    kind: CaptureKind
    location: str
    frame_count: int
    capture_id: str
    note: str = ""
    # Every id the capture was stored under when it is more than one (a clip split at a depth
    # change): deleting or relabelling the capture acts on all of them. Empty: just `capture_id`.
    part_ids: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return self.part_ids or (self.capture_id,)


def frame_metadata(frame: Frame) -> dict[str, Any]:
    s = frame.settings
    return {
        "seq": frame.seq,
        "device_time_us": frame.device_time_us,
        "spacing_mm": list(frame.spacing_mm),
        "rows": frame.rows,
        "cols": frame.cols,
        "data_format": frame.data_format.name,
        "geometry": frame.beam.geometry.name,
        "settings": {name: getattr(s, name) for name in SETTING_FIELDS.values()},
        "probe": {"vendor": frame.probe.vendor, "model": frame.probe.model, "serial": frame.probe.serial},
    }  # fmt: skip


def encode_png(pixels: npt.NDArray[np.uint8]) -> bytes:
    """A PNG of an 8-bit grey (rows x cols) or RGB (rows x cols x 3) image, using only zlib."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"PNG needs uint8 grey or RGB pixels, got {pixels.dtype} {pixels.shape}")
    rows, cols = pixels.shape[:2]
    colour_type = 0 if pixels.ndim == 2 else 2
    raw = np.ascontiguousarray(pixels).reshape(rows, -1)
    scanlines = np.hstack([np.zeros((rows, 1), np.uint8), raw]).tobytes()  # filter byte 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", cols, rows, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanlines, 6))
        + (chunk(b"IEND", b""))
    )


def _display_u8(frame: Frame) -> npt.NDArray[np.uint8]:
    px = frame.pixels
    if px.dtype == np.uint8:
        return np.asarray(px, dtype=np.uint8)
    a = np.abs(px.astype(np.float32))
    top = float(a.max()) or 1.0
    return (a / top * 255).astype(np.uint8)


class CaptureSink(ABC):
    """Where captures go: the two verbs written once; a store implements `_save(kind, frames, ...)`.

    `annotations` and `measurements` are JSON-ready dicts/lists.
    """

    def save_still(
        self,
        frame: Frame,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        return self._save(CaptureKind.STILL, [frame], labels, annotations, measurements)

    def save_clip(
        self,
        frames: Sequence[Frame],
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        if not frames:
            raise CaptureSinkError("the clip is empty: no frames in the chosen time span")
        return self._save(CaptureKind.CLIP, list(frames), labels, annotations, measurements)

    def save_dual(
        self,
        left: Frame,
        right: Frame,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        """Two frames side by side as one still (split screen); a store that knows calibrated regions
        overrides this to keep each half's calibration."""
        composite, _halves = compose_dual(left, right)
        return self._save(CaptureKind.STILL, [composite], labels, annotations, measurements)

    def save_doppler_still(
        self,
        frame: Frame,
        doppler: DopplerContent,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        """A colour, power or duplex still as the screen showed it: `frame` with `doppler`'s overlay
        (and colour bar) or spectrum; a store that keeps only grey images refuses."""
        raise CaptureSinkError(f"{type(self).__name__} cannot keep Doppler images")

    def save_doppler_clip(
        self,
        frames: Sequence[Frame],
        doppler: DopplerContent,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        """A colour or power clip: frame i with `doppler.overlays[i]`."""
        raise CaptureSinkError(f"{type(self).__name__} cannot keep Doppler clips")

    def read_frames(self, record: StoredCapture) -> npt.NDArray[np.uint8]:
        """The stored pixels of a capture as uint8 for review, as kept: (frames, rows, cols) grey, or
        (frames, rows, cols, 3) RGB for a colour (Doppler) capture, which in grey shows no flow."""
        raise CaptureSinkError(f"{type(self).__name__} cannot read captures back")

    def delete(self, record: StoredCapture) -> None:
        """Remove a stored capture (every part of it)."""
        raise CaptureSinkError(f"{type(self).__name__} cannot delete captures")

    def relabel(self, record: StoredCapture, labels: Mapping[str, str]) -> None:
        """Give a stored capture new protocol labels (step, plane)."""
        raise CaptureSinkError(f"{type(self).__name__} cannot relabel captures")

    @abstractmethod
    def _save(
        self,
        kind: CaptureKind,
        frames: list[Frame],
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture: ...


class FolderCaptureSink(CaptureSink):
    """Writes each capture into a folder: NAME.npy (pixels), NAME.png (first frame), NAME.json (all else)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._counter = itertools.count(1)

    def _name(self, kind: CaptureKind) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        while True:
            name = f"{kind}-{stamp}-{next(self._counter):04d}"
            if not (self.folder / f"{name}.json").exists():
                return name

    def save_doppler_still(
        self,
        frame: Frame,
        doppler: DopplerContent,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        rgb = _doppler_rgb([frame], doppler)
        entries = [*measurements, *doppler.measurements, *doppler.scale_entries()]
        return self._save(CaptureKind.STILL, [frame], labels, annotations, entries, rgb=rgb)

    def save_doppler_clip(
        self,
        frames: Sequence[Frame],
        doppler: DopplerContent,
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
    ) -> StoredCapture:
        rgb = _doppler_rgb(list(frames), doppler)
        entries = [*measurements, *doppler.measurements, *doppler.scale_entries()]
        return self._save(CaptureKind.CLIP, list(frames), labels, annotations, entries, rgb=rgb)

    def _save(
        self,
        kind: CaptureKind,
        frames: list[Frame],
        labels: Mapping[str, str],
        annotations: Mapping[str, Any],
        measurements: Sequence[Mapping[str, Any]],
        *,
        rgb: npt.NDArray[np.uint8] | None = None,
    ) -> StoredCapture:
        """`rgb` (frames, rows, cols, 3): the composed Doppler image(s) stored instead of the grey."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = self._name(kind)
            if rgb is not None:
                pixels: npt.NDArray[np.generic] = rgb[0] if kind is CaptureKind.STILL else rgb
            elif kind is CaptureKind.STILL:
                pixels = frames[0].pixels
            else:
                shapes = {f.pixels.shape for f in frames}
                if len(shapes) > 1:
                    # Depth changed mid-clip: keep the frames of the most recent shape, whole.
                    last = frames[-1].pixels.shape
                    frames = [f for f in frames if f.pixels.shape == last]
                pixels = np.stack([f.pixels for f in frames])
            meta = {
                "kind": kind,
                "labels": dict(labels),
                "annotations": dict(annotations),
                "measurements": [dict(m) for m in measurements],
                "frame_count": len(frames),
                "frames": [frame_metadata(f) for f in frames],
                "duration_s": (frames[-1].host_time_ns - frames[0].host_time_ns) / 1e9,
                "pixels_file": f"{name}.npy",
                "preview_file": f"{name}.png",
            }
            written: list[Path] = []
            try:
                for suffix, data in (
                    (".npy", _npy_bytes(pixels)),
                    (".png", encode_png(rgb[0] if rgb is not None else _display_u8(frames[0]))),
                    (".json", json.dumps(meta, indent=1).encode()),  # last: its presence marks completeness
                ):
                    target = self.folder / f"{name}{suffix}"
                    tmp = target.with_suffix(suffix + ".part")
                    with open(tmp, "wb") as fh:
                        fh.write(data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, target)
                    written.append(target)
            except BaseException:
                for p in written:
                    p.unlink(missing_ok=True)
                for suffix in (".npy", ".png", ".json"):
                    (self.folder / f"{name}{suffix}.part").unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise CaptureSinkError(
                f"could not save the {kind} in {self.folder}: {exc.strerror or exc}"
            ) from exc
        return StoredCapture(kind, str(self.folder / f"{name}.json"), len(frames), name)

    def read_frames(self, record: StoredCapture) -> npt.NDArray[np.uint8]:
        pixels = np.load(self.folder / f"{record.capture_id}.npy")
        rgb = pixels.ndim == 4 or (pixels.ndim == 3 and record.kind is CaptureKind.STILL)
        if pixels.ndim == (3 if rgb else 2):
            pixels = pixels[np.newaxis]  # a still: one frame
        if pixels.dtype != np.uint8:
            a = np.abs(pixels.astype(np.float32))
            pixels = (a / (float(a.max()) or 1.0) * 255).astype(np.uint8)
        return np.asarray(pixels, dtype=np.uint8)

    def delete(self, record: StoredCapture) -> None:
        try:
            # The JSON first: without it the capture is incomplete, so never half-listed.
            for suffix in (".json", ".npy", ".png"):
                (self.folder / f"{record.capture_id}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            raise CaptureSinkError(f"could not delete {record.capture_id}: {exc.strerror or exc}") from exc

    def relabel(self, record: StoredCapture, labels: Mapping[str, str]) -> None:
        path = self.folder / f"{record.capture_id}.json"
        try:
            meta = json.loads(path.read_text())
            meta["labels"] = {**meta.get("labels", {}), **labels}
            tmp = path.with_suffix(".json.part")
            tmp.write_text(json.dumps(meta, indent=1))
            os.replace(tmp, path)
        except (OSError, ValueError) as exc:
            raise CaptureSinkError(f"could not relabel {record.capture_id}: {exc}") from exc


def shown_pixels(frames: Sequence[Frame], doppler: DopplerContent | None) -> npt.NDArray[np.generic]:
    """The last frame as it is kept: in colour for a colour or power capture (its overlay and bar,
    as stored), else its own pixels; for the capture's thumbnail, so a colour capture shows colour."""
    last = frames[-1]
    if doppler is None or not doppler.overlays:
        return last.pixels
    one = dataclasses.replace(doppler, overlays=doppler.overlays[-1:])
    try:
        rgb: npt.NDArray[np.uint8] = _doppler_rgb([last], one)[0]
    except CaptureSinkError:
        return last.pixels  # the store says why when it keeps the capture
    return rgb


def _doppler_rgb(frames: list[Frame], doppler: DopplerContent) -> npt.NDArray[np.uint8]:
    """The Doppler images as the DICOM store composes them (one composition for both stores)."""
    from scanner_app.studies.doppler_dicom import (  # the studies build on this module
        compose_doppler_still,
        compose_duplex_clip,
    )
    from scanner_app.studies.model import StudyCaptureError

    if doppler.spectrum and len(frames) > 1:
        shown = doppler.spectrum_shown or (len(doppler.spectrum),) * len(frames)
        try:
            return compose_duplex_clip(frames, doppler.spectrum, shown)[0]
        except StudyCaptureError as exc:
            raise CaptureSinkError(str(exc)) from exc
    flows = doppler.overlays or (None,) * len(frames)
    if len(flows) != len(frames):
        raise CaptureSinkError(f"{len(frames)} frames but {len(flows)} colour overlays")
    spectrum = doppler.spectrum or None
    try:
        images = [
            compose_doppler_still(f, flow, spectrum, power=doppler.power, bar=doppler.bar).rgb
            for f, flow in zip(frames, flows, strict=True)
        ]
    except StudyCaptureError as exc:
        raise CaptureSinkError(str(exc)) from exc
    return np.stack(images)


def _npy_bytes(pixels: npt.NDArray[np.generic]) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(pixels))
    return buf.getvalue()
