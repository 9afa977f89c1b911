"""Sequence files PLUS and 3D Slicer read (`.igs.nrrd` / `.seq.nrrd`): frames, timestamps, spacing and
per-frame transforms under PLUS's `Seq_FrameNNNN_*` keys.

A NRRD header states the frame count before the pixels, so frames are first appended to a `.partial`
folder (pixels, then one metadata line per whole frame, each flushed): a recording cut short by a
kill or a full disk keeps every whole frame, and `recover_recording` turns the folder into the file.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from scanner_app.frame import Frame, Matrix4

SEQUENCE_SUFFIXES = (".igs.nrrd", ".seq.nrrd")
PARTIAL_SUFFIX = ".partial"
_PIXELS = "pixels.raw"
_FRAMES = "frames.jsonl"
_COPY_CHUNK = 16 * 1024 * 1024


class RecordingError(Exception):
    """A recording could not be written or read, with what was kept and what to do."""


@dataclass(frozen=True, slots=True)
class SequenceFrame:
    """One frame as a sequence file holds it."""

    index: int
    timestamp_s: float
    pixels: npt.NDArray[np.uint8]
    transforms: tuple[tuple[str, Matrix4], ...] = ()


@dataclass(frozen=True, slots=True)
class SequenceInfo:
    """What a whole recording shares: pixel size (mm) and image orientation."""

    rows: int
    cols: int
    spacing_mm: tuple[float, float]  # (axial, lateral)
    frame_count: int


def _frame_line(frame: Frame, index: int) -> dict[str, Any]:
    tracking = frame.tracking
    if tracking is not None and tracking.sender_time_s is not None:
        timestamp = tracking.sender_time_s
    else:
        timestamp = frame.device_time_us / 1e6
    named = tracking.transforms if tracking is not None else ()
    transforms = {name: [v for row in m for v in row] for name, m in named}
    if tracking is not None and tracking.image_to_world is not None:
        transforms["ImageToWorld"] = [v for row in tracking.image_to_world for v in row]
    return {"i": index, "t": timestamp, "transforms": transforms}


class SequenceWriter:
    """Appends frames to `<path>.partial/`; `close()` writes `<path>` and removes the folder.

    Every frame must have the first frame's size and 8-bit grey pixels (a sequence file is one volume).
    """

    def __init__(self, path: Path) -> None:
        if not str(path).endswith(SEQUENCE_SUFFIXES):
            raise RecordingError(f"{path}: a sequence file ends in .igs.nrrd or .seq.nrrd")
        self.path = path
        self.partial = Path(str(path) + PARTIAL_SUFFIX)
        try:
            self.partial.mkdir(parents=True, exist_ok=False)
            self._pixels: IO[bytes] = open(self.partial / _PIXELS, "wb")  # noqa: SIM115 - held open
            self._frames: IO[str] = open(self.partial / _FRAMES, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise RecordingError(f"cannot start a recording at {path}: {exc}") from exc
        self.frames_written = 0
        self.bytes_written = 0
        self._shape: tuple[int, int] | None = None

    def write(self, frame: Frame) -> None:
        pixels = np.ascontiguousarray(frame.pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 2:
            raise RecordingError(f"frame {frame.seq}: only 8-bit grey 2-D frames are recorded")
        shape = (int(pixels.shape[0]), int(pixels.shape[1]))
        if self._shape is None:
            self._shape = shape
            self._write_info(frame)
        elif shape != self._shape:
            raise RecordingError(
                f"frame {frame.seq} is {shape[1]} x {shape[0]}, the recording {self._shape[1]} x "
                f"{self._shape[0]}: a depth change ends a recording; start a new one"
            )
        line = json.dumps(_frame_line(frame, self.frames_written)) + "\n"
        try:
            # Pixels first, then the line that makes the frame whole: a kill between them leaves
            # pixels without a line, which recovery ignores.
            self._pixels.write(pixels.tobytes())
            self._pixels.flush()
            self._frames.write(line)
            self._frames.flush()
        except OSError as exc:
            self._fail(exc)
        self.frames_written += 1
        self.bytes_written += pixels.nbytes

    def _write_info(self, frame: Frame) -> None:
        info = {"rows": frame.rows, "cols": frame.cols, "spacing_mm": list(frame.spacing_mm)}
        try:
            (self.partial / "info.json").write_text(json.dumps(info), encoding="utf-8")
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        kept = f"the {self.frames_written} whole frames written are kept in {self.partial}"
        if exc.errno == errno.ENOSPC:
            raise RecordingError(f"disk full: recording stopped; {kept} (free space, then recover)") from exc
        raise RecordingError(f"recording stopped: {exc}; {kept}") from exc

    def discard(self) -> None:
        """Give up a recording that holds no frame worth keeping: its partial folder goes."""
        for f in (self._pixels, self._frames):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.partial, ignore_errors=True)

    def close(self) -> Path:
        """Write the sequence file from the frames so far; on failure the partial folder is kept."""
        for f in (self._pixels, self._frames):
            try:
                f.close()
            except OSError:
                pass
        return recover_recording(self.partial, self.path)


def _header(info: SequenceInfo, lines: list[dict[str, Any]]) -> str:
    axial, lateral = info.spacing_mm
    out = [
        "NRRD0004",
        "# PLUS / 3D Slicer sequence file written by scanner-app",
        "type: unsigned char",
        "dimension: 3",
        "space: left-posterior-superior",
        f"sizes: {info.cols} {info.rows} {info.frame_count}",
        f"space directions: ({lateral!r},0,0) (0,{axial!r},0) none",
        "kinds: domain domain list",
        "endian: little",
        "encoding: raw",
        "space origin: (0,0,0)",
        "UltrasoundImageOrientation:=MF",
        "UltrasoundImageType:=BRIGHTNESS",
    ]
    for line in lines:
        key = f"Seq_Frame{line['i']:04d}_"
        out.append(f"{key}FrameNumber:={line['i']}")
        out.append(f"{key}Timestamp:={line['t']!r}")
        out.append(f"{key}UnfilteredTimestamp:={line['t']!r}")
        out.append(f"{key}ImageStatus:=OK")
        for name, values in line["transforms"].items():
            out.append(f"{key}{name}Transform:={' '.join(repr(float(v)) for v in values)}")
            out.append(f"{key}{name}TransformStatus:=OK")
    return "\n".join(out) + "\n\n"


def recover_recording(partial: Path, path: Path | None = None) -> Path:
    """Write the sequence file for every whole frame in a `.partial` folder, then remove the folder."""
    if path is None:
        if not partial.name.endswith(PARTIAL_SUFFIX):
            raise RecordingError(f"{partial} is not a partial recording (no {PARTIAL_SUFFIX} suffix)")
        path = partial.with_name(partial.name[: -len(PARTIAL_SUFFIX)])
    try:
        raw = json.loads((partial / "info.json").read_text(encoding="utf-8"))
        rows, cols = int(raw["rows"]), int(raw["cols"])
        spacing = (float(raw["spacing_mm"][0]), float(raw["spacing_mm"][1]))
        lines = []
        with open(partial / _FRAMES, encoding="utf-8") as f:
            for text in f:
                if not text.endswith("\n"):
                    break  # cut short mid-line: that frame is not whole
                lines.append(json.loads(text))
        frame_bytes = rows * cols
        whole = min(len(lines), (partial / _PIXELS).stat().st_size // frame_bytes)
    except (OSError, ValueError, KeyError) as exc:
        raise RecordingError(f"{partial}: no recording to recover ({exc})") from exc
    if whole == 0:
        raise RecordingError(f"{partial}: the recording holds no whole frame")
    info = SequenceInfo(rows, cols, spacing, whole)
    temporary = path.with_name(path.name + ".writing")
    try:
        with open(temporary, "wb") as out, open(partial / _PIXELS, "rb") as pixels:
            out.write(_header(info, lines[:whole]).encode("ascii"))
            remaining = whole * frame_bytes
            while remaining:
                chunk = pixels.read(min(_COPY_CHUNK, remaining))
                if not chunk:
                    raise RecordingError(f"{partial}: pixels end early")
                out.write(chunk)
                remaining -= len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        why = "disk full" if exc.errno == errno.ENOSPC else str(exc)
        raise RecordingError(
            f"cannot write {path}: {why}; the frames are kept in {partial} (free space, then recover)"
        ) from exc
    shutil.rmtree(partial, ignore_errors=True)
    return path


def read_sequence(path: Path) -> tuple[SequenceInfo, list[SequenceFrame]]:
    """Every frame of a PLUS/Slicer sequence file (grey, `sizes: cols rows frames`), via pynrrd."""
    import nrrd

    try:
        data, header = nrrd.read(str(path), index_order="C")
    except Exception as exc:  # pynrrd raises its own and numpy's errors
        raise RecordingError(f"{path}: not a readable NRRD sequence ({exc})") from exc
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.dtype != np.uint8:
        raise RecordingError(f"{path}: expected 8-bit grey frames, got {data.dtype} of shape {data.shape}")
    directions = np.asarray(header.get("space directions", np.eye(3)), dtype=np.float64)
    lateral = float(np.linalg.norm(directions[0])) if np.all(np.isfinite(directions[0])) else 1.0
    axial = float(np.linalg.norm(directions[1])) if np.all(np.isfinite(directions[1])) else 1.0
    frames = []
    for index in range(data.shape[0]):
        key = f"Seq_Frame{index:04d}_"
        timestamp = float(header.get(key + "Timestamp", index))
        transforms = []
        for name, value in header.items():
            if name.startswith(key) and name.endswith("Transform"):
                values = [float(v) for v in str(value).split()]
                if len(values) == 16:
                    matrix = np.array(values).reshape(4, 4)
                    transforms.append((name[len(key) : -len("Transform")], _matrix4(matrix)))
        frames.append(SequenceFrame(index, timestamp, data[index], tuple(sorted(transforms))))
    info = SequenceInfo(int(data.shape[1]), int(data.shape[2]), (axial, lateral), int(data.shape[0]))
    return info, frames


def _matrix4(m: npt.NDArray[np.float64]) -> Matrix4:
    return tuple((float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in m)
