"""A second process that renders one band of each frame's lines, so a frame uses both cores.

The virtual patient's stages are hundreds of short numpy calls that hold the GIL between them, so a
second thread measured no faster; a second process is not bound by the parent's GIL. The worker
holds its own `PatientRenderer` (its own caches, for the lines it is given) and is told the scene by
id and variant, never sent it: a scene holds closures, and its caches would not travel either.

A band's arrays come back through shared memory the parent owns (a pipe measured 7 ms a band at
512 x 512, more than the band saves); the pipe carries the jobs and short replies. The worker
ignores Ctrl-C (its parent decides when it stops) and exits when the pipe closes, so it cannot
outlive a parent that was killed; the block's name is then removed by multiprocessing's resource
tracker.
"""

from __future__ import annotations

import multiprocessing
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import numpy.typing as npt

from drivers.sim.needle import Needle
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from scanner_app.frame import DataFormat

READY = "ready"


class BandWorkerError(RuntimeError):
    """The band worker died, hung or failed on a band: its parent renders the frame whole itself."""


@dataclass(frozen=True, slots=True)
class BandJob:
    """One band of one frame: lines first_line .. first_line + lines of the frame `params` and `pose`
    make, at scene time `time_s`, in scene `scene_id` (and `variant`) as `build_scene` makes it."""

    scene_id: str
    variant: str | None
    pose: ProbePose
    params: RenderParams
    time_s: float
    needle: Needle | None
    first_line: int
    lines: int


@dataclass(frozen=True, slots=True)
class BandResult:
    """A band's pixels (rows x lines: grey levels, uint8, for BMODE_U8; the envelope, uint16, for
    ENVELOPE_U16), its structure index and tissue labels (rows x lines, uint8), and the structures it
    shows, in the scene's order."""

    pixels: npt.NDArray[np.generic]
    index: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.uint8]
    in_view: tuple[str, ...]


def _band_arrays(
    block: SharedMemory, job: BandJob
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """A band's pixels, index and labels laid out one after another in a shared block."""
    buf = block.buf
    assert buf is not None, "the block is closed"
    shape, n = (job.params.rows, job.lines), job.params.rows * job.lines
    pixels = np.ndarray(shape, _pixel_type(job), buffer=buf)
    offset = pixels.nbytes
    index = np.ndarray(shape, np.uint8, buffer=buf, offset=offset)
    labels = np.ndarray(shape, np.uint8, buffer=buf, offset=offset + n)
    return pixels, index, labels


def _pixel_type(job: BandJob) -> type[np.generic]:
    return np.uint8 if job.params.data_format == DataFormat.BMODE_U8 else np.uint16


def _band_bytes(job: BandJob) -> int:
    return job.params.rows * job.lines * (np.dtype(_pixel_type(job)).itemsize + 2)


class BandWorker:
    """The helper process and its pipe. One band in flight at a time: `submit`, then `result`.

    `seed` is the patient's (speckle), the same as the parent renderer's. Starting costs the child
    its imports (a second or two); `ready` says when it can take bands, without waiting.
    """

    def __init__(self, seed: int) -> None:
        context = multiprocessing.get_context("spawn")  # fork would copy the parent's threads' locks
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, seed), name="sim-band-worker", daemon=True
        )
        self._process.start()
        child.close()
        self._ready = False
        self._block: SharedMemory | None = None  # where the worker writes its bands
        self._job: BandJob | None = None  # the band in flight

    @property
    def ready(self) -> bool:
        """Whether the worker has started and can take a band (never blocks)."""
        return self.wait_ready(0.0)

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the worker to start; whether it can take a band."""
        if not self._ready and self._process.is_alive():
            try:
                self._ready = self._conn.poll(timeout_s) and self._conn.recv() == READY
            except (EOFError, OSError):
                return False
        return self._ready

    def submit(self, job: BandJob) -> None:
        """Send a band to render. Raises BandWorkerError if the worker has gone."""
        if self._block is None or self._block.size < _band_bytes(job):
            self._drop_block()  # the worker maps the new block when the job names it
            self._block = SharedMemory(create=True, size=_band_bytes(job))
        try:
            self._conn.send((job, self._block.name))
        except (OSError, ValueError) as exc:
            raise BandWorkerError(f"the band worker has gone (sending a band: {exc})") from exc
        self._job = job

    def result(self, timeout_s: float = 10.0) -> BandResult:
        """The band last submitted, its arrays views of shared memory that the next `submit` reuses.
        Raises BandWorkerError if the worker died, failed on it, or took longer than `timeout_s` (a
        band takes milliseconds)."""
        job, block, self._job = self._job, self._block, None
        assert job is not None and block is not None, "result() without submit()"
        try:
            if not self._conn.poll(timeout_s):
                raise BandWorkerError(f"the band worker sent no band within {timeout_s:g} s")
            reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise BandWorkerError(f"the band worker has gone (exit code {self._process.exitcode})") from exc
        if isinstance(reply, str):
            raise BandWorkerError(f"the band worker failed on a band: {reply}")
        return BandResult(*_band_arrays(block, job), tuple(reply))

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker and wait for it (idempotent); one that does not stop is killed."""
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
        self._drop_block()

    def _drop_block(self) -> None:
        if self._block is not None:
            self._block.close()
            self._block.unlink()
            self._block = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def block_name(self) -> str | None:
        """The shared memory block the bands come back through (its POSIX name), None before the
        first band and after `close`."""
        return self._block.name if self._block is not None else None


def _write_band(block: SharedMemory, job: BandJob, band: BandResult) -> list[str]:
    """Copy a band into the shared block (its views end here, so the block can close); its names."""
    pixels, index, labels = _band_arrays(block, job)
    pixels[...], index[...], labels[...] = band.pixels, band.index, band.labels
    return list(band.in_view)


def _serve(conn: Connection, seed: int) -> None:
    """The worker's loop: render each band it is sent until it gets None or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from drivers.sim.patient import PatientRenderer

    renderer = PatientRenderer(seed=seed)
    block: SharedMemory | None = None
    conn.send(READY)
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            job, name = message
            try:
                if block is None or block.name != name:
                    if block is not None:
                        block.close()
                    # Registered again with the parent's resource tracker (spawn shares it), which
                    # keeps one entry a name: the parent's unlink is the one that removes it.
                    block = SharedMemory(name=name)
                reply: list[str] | str = _write_band(block, job, renderer.render_band(job))
            except Exception as exc:  # the parent renders this band itself and reports why
                reply = f"{type(exc).__name__}: {exc}"
            conn.send(reply)
    finally:
        if block is not None:
            block.close()
