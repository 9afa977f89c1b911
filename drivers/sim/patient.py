"""The virtual patient renderer: scene + probe pose + physics -> frames with ground truth.

Implements the `FrameRenderer` protocol the simulated firmware calls. Pose and scene may be changed
from another thread (keyboard, UI, a test) between renders; each render works on a snapshot.
Work is cached in two stages so a held probe costs only the per-frame stage (noise, envelope, gain,
log compression): anatomy (labels, echo, scatterers; keyed by scene, pose, grid, frequency) and the
PSF-convolved IQ image (keyed additionally by focus, bandwidth and F#). Under the anatomy, the coarse
label/echo/loss cells of a linear, untilted probe sit on columns fixed in the patient and are kept
between frames, so a probe sliding in plane computes only the columns it newly uncovers.
Vessels near the plane pulse and breathe: each frame renders the scene at its cardiac and respiratory
phase bins (`anatomy.PhasedScenes`); a new phase recomputes only the cell columns and PSF lines that
the changed vessels reach, and a held probe keeps its speckle field.
With `processes=2` a linear, untilted frame's lines are rendered in two bands, the right-hand one
by a band worker process (`band_worker`), each band the frame of a narrower probe beside the other.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.sim import artefacts
from drivers.sim import physics as ph
from drivers.sim.anatomy import (
    FLATTEN_DEPTH_MM,
    FLATTEN_STRAIN,
    PhasedScenes,
    Scene,
    block,
    changed_structures,
    compress_vessels,
    paint,
    structure_labels,
    structure_names,
    view_bounds,
)
from drivers.sim.band_worker import BandJob, BandResult, BandWorker, BandWorkerError
from drivers.sim.frame_poses import FramePoses
from drivers.sim.needle import Needle, image_plane, needle_echo, needle_masks
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderedFrame, RenderParams
from drivers.sim.scenes import build_scene
from drivers.sim.shapes import Array, Bounds, CrossTube, Shape, Tube
from drivers.sim.texture import follow_fibres, texture_db
from drivers.sim.tissues import ECHO_DB, TISSUES, Label, Texture, label_names
from scanner_app.frame import DataFormat, Geometry
from scanner_app.sim_control import INJECTATE_STRUCTURE, NEEDLE_STRUCTURE

Key = tuple[object, ...]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Anatomy:
    """Everything that depends on scene, pose, grid and frequency, but not on focus or gains."""

    index: npt.NDArray[np.uint8]  # structure index per sample (unpadded)
    labels: npt.NDArray[np.uint8]  # tissue label per sample (unpadded)
    field: npt.NDArray[np.complex64]  # attenuated, echo-weighted scatterers incl. specular (padded)
    in_view: tuple[str, ...]  # names of the structures in `index`


_PARAM_RANGES = (  # (RenderParams field, lowest, highest) the physics can render
    ("rows", 8, 4096),
    ("cols", 8, 4096),
    ("depth_mm", 1.0, 300.0),
    ("frequency_mhz", 1.0, 30.0),
    ("bandwidth_frac", 0.1, 1.5),
    ("f_number", 0.5, 10.0),
    ("dynamic_range_db", 1.0, 120.0),
)


def check_params(params: RenderParams) -> None:
    """Reject settings the physics cannot render, naming the field and the value."""
    problems = [
        f"{name}={getattr(params, name)} ({lo:g}..{hi:g})"
        for name, lo, hi in _PARAM_RANGES
        if not lo <= getattr(params, name) <= hi
    ]
    if len(params.tgc_db) != 8:
        problems.append(f"tgc_db has {len(params.tgc_db)} bands (8)")
    if params.data_format == DataFormat.RF_I16 and params.sampling_mhz < 2.0 * params.frequency_mhz:
        problems.append(f"sampling_mhz={params.sampling_mhz} (at least twice frequency_mhz)")
    if params.geometry == Geometry.LINEAR and params.width_mm <= 0:
        problems.append(f"width_mm={params.width_mm} (> 0)")
    if params.geometry == Geometry.CONVEX and (not 1.0 <= params.fov_deg <= 150.0 or params.radius_mm <= 0):
        problems.append(f"fov_deg={params.fov_deg} (1..150) / radius_mm={params.radius_mm} (> 0)")
    if problems:
        raise ValueError("RenderParams out of range: " + ", ".join(problems))


class PatientRenderer:
    """Renders the virtual patient under the virtual probe, in any PLP format and geometry."""

    def __init__(
        self, scene_id: str = "knee", variant: str | None = None, seed: int = 0, *, processes: int = 1
    ) -> None:
        """`processes=2` renders a linear, untilted frame's lines in two bands, the right-hand one in a
        helper process (`band_worker`), so a frame uses both cores; `close` stops that process."""
        if processes not in (1, 2):
            raise ValueError(f"PatientRenderer renders on 1 or 2 processes, not {processes}")
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._seed = int(seed)
        self._scene = build_scene(scene_id, variant)
        self._scene_spec: tuple[str, str | None] | None = (scene_id, variant)  # None: built in code
        self._processes = processes
        self._worker: BandWorker | None = None
        # Closes the worker if this renderer is dropped without `close`.
        self._worker_closer: weakref.finalize[[], PatientRenderer] | None = None
        self._worker_failed = False  # until `close`: frames are rendered whole, here
        self._pose = self._scene.default_pose
        self._anatomy: tuple[Key, _Anatomy] | None = None
        self._iq: tuple[Key, npt.NDArray[np.complex64], npt.NDArray[np.complex64]] | None = None  # + field
        self._cells = CellCache()
        self._phased = PhasedScenes()  # the scene with its vessels in each cardiac/respiratory phase
        self.needle: Needle | None = None  # the trainee's needle, replaced whole from any thread
        self._needle_truth: tuple[Key, _NeedleTruth] | None = None
        self._rendered: tuple[Scene, ProbePose] | None = None  # what the last `render` imaged
        self.frame_poses = FramePoses()  # what each frame sent was made of (`stamp`), by device time

    @classmethod
    def with_scene(cls, scene: Scene, seed: int = 0) -> PatientRenderer:
        """A renderer of a scene built in code (a test target, a tool), at the scene's first view."""
        renderer = cls(seed=seed)
        with renderer._lock:
            renderer._scene = scene
            renderer._scene_spec = None
            renderer._pose = scene.default_pose
        return renderer

    @staticmethod
    def label_names() -> dict[int, str]:
        """The tissue label -> name table for RenderedFrame.labels."""
        return label_names()

    @property
    def pose(self) -> ProbePose:
        with self._lock:
            return self._pose

    def set_pose(self, pose: ProbePose | Mapping[str, object]) -> None:
        """Move the probe; a mapping (from the wire or a UI) changes only the fields it names."""
        with self._lock:
            if isinstance(pose, ProbePose):
                self._pose = pose
            elif isinstance(pose, Mapping):
                self._pose = ProbePose.from_mapping(pose, base=self._pose)
            else:
                raise TypeError(f"set_pose needs a ProbePose or a mapping, got {type(pose).__name__}")

    @property
    def scene(self) -> Scene:
        with self._lock:
            return self._scene

    def set_scene(self, scene_id: str, variant: str | None = None, pose: ProbePose | None = None) -> None:
        """Switch scene (and variant); the pose moves to the scene's first view unless one is given."""
        scene = build_scene(scene_id, variant)
        with self._lock:
            self._scene = scene
            self._scene_spec = (scene_id, variant)
            self._pose = pose if pose is not None else scene.default_pose

    def start_band_worker(self, timeout_s: float = 0.0) -> bool:
        """Start the band worker of a two-process renderer now rather than at its first frame, and
        wait up to `timeout_s` for it; whether it is ready (False on one process)."""
        with self._render_lock:
            worker = self._band_worker(timeout_s) if self._processes == 2 else None
            return worker is not None

    @property
    def band_worker_pid(self) -> int | None:
        """The band worker's process id while one runs (two processes), else None."""
        worker = self._worker
        return worker.pid if worker is not None else None

    def close(self) -> None:
        """Stop the band worker, if one runs (idempotent); the next two-process frame starts another."""
        with self._render_lock:
            self._close_worker()
            self._worker_failed = False

    def _close_worker(self) -> None:
        if self._worker_closer is not None:
            self._worker_closer()  # the worker's close, once
        self._worker, self._worker_closer = None, None

    def render_band(self, job: BandJob) -> BandResult:
        """One band of a frame's lines, as a two-process `render` of the job's frame makes it: the band
        worker's side. Raises ValueError for an unknown scene or variant."""
        with self._lock:
            if self._scene_spec != (job.scene_id, job.variant):
                self._scene = build_scene(job.scene_id, job.variant)
                self._scene_spec = (job.scene_id, job.variant)
            scene = self._scene
        with self._render_lock:
            bounds = _view_bounds(job.params, job.pose)
            scene = self._phased.at(scene, job.time_s, bounds, job.pose.pressure)
            return self._band(scene, job)

    def stamp(self, device_time_us: int) -> None:
        """The frame last rendered goes out with `device_time_us`: its scene and pose are kept for its
        ground truth (`frame_poses`). The probe that sends the frame calls this, on the render's thread."""
        rendered = self._rendered
        if rendered is not None:
            self.frame_poses.record(device_time_us, *rendered)

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame:
        check_params(params)
        with self._lock:
            scene, pose, spec = self._scene, self._pose, self._scene_spec
        self._rendered = (scene, pose)
        needle = self.needle  # one needle for the whole frame: echo and ground truth agree
        with self._render_lock:
            # Vessels near the plane pulse and breathe: the scene at the frame's phase bins.
            scene = self._phased.at(scene, time_s, _view_bounds(params, pose), pose.pressure)
            if params.data_format == DataFormat.RF_I16:
                return self._render_rf(scene, pose, needle, params, time_s)
            cut = _banded_lines(params, pose) if self._processes == 2 and spec is not None else None
            if cut is not None and spec is not None:
                worker = self._band_worker()  # None while it starts, or after it failed
                whole = BandJob(*spec, pose, params, time_s, needle, 0, params.cols)
                frame = self._two_bands(scene, worker, whole, cut) if worker is not None else None
                if frame is not None:
                    grid, _ = self._grid(params, params.rows, params.cols, params.depth_mm)
                    return self._linear_frame(frame, needle, pose, params, grid)
            return self._render_image(scene, pose, needle, params, time_s)

    # -- stages ------------------------------------------------------------------------------

    def _psf(self, params: RenderParams) -> ph.Psf:
        return ph.Psf(params.frequency_mhz, params.focus_mm, params.bandwidth_frac, params.f_number)

    def _grid(self, params: RenderParams, rows: int, lines: int, depth_mm: float) -> tuple[ph.BeamGrid, Key]:
        psf = self._psf(params)
        bare = ph.BeamGrid(
            params.geometry, rows, lines, depth_mm, params.width_mm, params.fov_deg, params.radius_mm, 0, 0
        )
        pad_rows = ph.axial_kernel(psf, bare.dz_mm).size // 2
        pad_lines = max(k.size // 2 for k in ph.lateral_kernels(psf, bare))
        grid = replace(bare, pad_rows=pad_rows, pad_lines=pad_lines)
        return grid, (grid, psf)

    def _anatomy_for(
        self, scene: Scene, pose: ProbePose, grid: ph.BeamGrid, frequency_mhz: float, near: Bounds | None
    ) -> _Anatomy:
        key: Key = (scene, pose, grid, frequency_mhz, self._seed, near)  # the scene by value: phases differ
        if self._anatomy is not None and self._anatomy[0] == key:
            return self._anatomy[1]
        anatomy = build_anatomy(scene, pose, grid, frequency_mhz, self._seed, cache=self._cells, near=near)
        self._anatomy = (key, anatomy)
        return anatomy

    def _iq_for(
        self,
        scene: Scene,
        pose: ProbePose,
        needle: Needle | None,
        params: RenderParams,
        *,
        rows: int,
        lines: int,
        depth_mm: float,
        near: Bounds | None = None,
    ) -> tuple[npt.NDArray[np.complex64], _Anatomy, ph.BeamGrid]:
        """The frame's PSF-convolved IQ, its anatomy and grid; `near` as for `build_anatomy`."""
        grid, grid_key = self._grid(params, rows, lines, depth_mm)
        anatomy = self._anatomy_for(scene, pose, grid, params.frequency_mhz, near)
        key: Key = (scene, pose, grid_key, self._seed, needle, near)
        if self._iq is not None and self._iq[0] == key:
            return self._iq[1], anatomy, grid
        psf = self._psf(params)
        field = anatomy.field
        if needle is not None:  # the needle's echo joins the field before the PSF
            field = needle_echo(needle, image_plane(grid, pose), params.frequency_mhz).applied(field)
        axial = ph.axial_kernel(psf, grid.dz_mm)
        kernels = ph.field_lateral_kernels(psf, grid, pose.rotation_deg)
        prev = self._iq
        if prev is not None and prev[0][1:] == key[1:]:  # the same plane, its vessels in another phase
            iq = _reconvolved(prev[1], prev[2], field, axial=axial, kernels=kernels, pad_lines=grid.pad_lines)
        else:
            iq = ph.convolve_lateral(ph.convolve_axial(field, axial), kernels, grid.pad_lines)
        self._iq = (key, iq, field)
        return iq, anatomy, grid

    def _needle_truth_for(self, needle: Needle | None, grid: ph.BeamGrid, pose: ProbePose) -> _NeedleTruth:
        """The needle's ground truth on the grid, kept while needle, grid and pose stay the same."""
        if needle is None:
            return _NO_NEEDLE_TRUTH
        key: Key = (needle, grid, pose)
        if self._needle_truth is None or self._needle_truth[0] != key:
            self._needle_truth = (key, _NeedleTruth.on_grid(needle, grid, pose))
        return self._needle_truth[1]

    def _band(self, scene: Scene, job: BandJob) -> BandResult:
        """The job's band of its linear frame, detected: the frame of a probe that narrow, moved along
        the image plane to where those lines lie (`band_view`), with the whole frame's noise on those
        lines. `scene` is the job's, at the frame's phase."""
        pose, params, lines = job.pose, job.params, job.lines
        band_params, band_pose = band_view(params, pose, job.first_line, lines)
        near = None
        if pose.pressure > 0.0:  # the band's samples are squashed by the whole frame's vessels
            coords = ph.plane_coords(self._grid(params, params.rows, params.cols, params.depth_mm)[0], pose)
            near = view_bounds(coords.s, coords.t, coords.d, margin_mm=0.0)
        iq, anatomy, grid = self._iq_for(
            scene,
            band_pose,
            job.needle,
            band_params,
            rows=params.rows,
            lines=lines,
            depth_mm=params.depth_mm,
            near=near,
        )
        power = self._power(iq, params, grid, job.time_s, job.first_line)
        return BandResult(_linear_pixels(power, params), anatomy.index, anatomy.labels, anatomy.in_view)

    def _two_bands(self, scene: Scene, worker: BandWorker, frame: BandJob, cut: int) -> BandResult | None:
        """The frame's lines in two bands split at line `cut`, the right-hand one from the band worker
        while this thread renders the left; None if the worker fails (logged once: the frame is then
        rendered whole)."""
        job = replace(frame, first_line=cut, lines=frame.params.cols - cut)
        try:
            worker.submit(job)
            left = self._band(scene, replace(frame, first_line=0, lines=cut))
            right = worker.result()
        except BandWorkerError as exc:
            self._worker_lost(exc)
            return None
        order = {name: i for i, name in reversed(list(enumerate(structure_names(scene))))}
        return BandResult(
            np.concatenate([left.pixels, right.pixels], axis=1),
            np.concatenate([left.index, right.index], axis=1),
            np.concatenate([left.labels, right.labels], axis=1),
            tuple(sorted({*left.in_view, *right.in_view}, key=order.__getitem__)),
        )

    def _band_worker(self, timeout_s: float = 0.0) -> BandWorker | None:
        """The band worker once it has started (started here on the first call, and waited for up to
        `timeout_s`), else None."""
        if self._worker_failed:
            return None
        if self._worker is None:
            self._worker = BandWorker(self._seed)
            self._worker_closer = weakref.finalize(self, self._worker.close)
        return self._worker if self._worker.wait_ready(timeout_s) else None

    def _worker_lost(self, exc: BandWorkerError) -> None:
        log.warning("simulated probe: rendering on one core from now on: %s", exc)
        self._close_worker()
        self._worker_failed = True

    def _power(
        self,
        iq: npt.NDArray[np.complex64],
        params: RenderParams,
        grid: ph.BeamGrid,
        time_s: float,
        first: int,
    ) -> npt.NDArray[np.float32]:
        """Echo power with the frame's noise (on lines first .. of the frame) and the row gains."""
        noise = ph.frame_noise((params.rows, params.cols), self._seed, time_s)
        noisy = np.add(iq, noise[:, first : first + iq.shape[1]])
        v = noisy.view(np.float32)
        np.multiply(v, v, out=v)  # squares in place on the contiguous I/Q pairs, then one strided add
        power = np.add(v[:, 0::2], v[:, 1::2])
        power *= _row_gain_power(params, grid)[:, None]
        return power

    def _render_image(
        self, scene: Scene, pose: ProbePose, needle: Needle | None, params: RenderParams, time_s: float
    ) -> RenderedFrame:
        iq, anatomy, grid = self._iq_for(
            scene, pose, needle, params, rows=params.rows, lines=params.cols, depth_mm=params.depth_mm
        )
        power = self._power(iq, params, grid, time_s, 0)
        if params.geometry == Geometry.CONVEX:
            return self._convex_frame(scene, needle, pose, params, grid, power=power, anatomy=anatomy)
        frame = BandResult(_linear_pixels(power, params), anatomy.index, anatomy.labels, anatomy.in_view)
        return self._linear_frame(frame, needle, pose, params, grid)

    def _linear_frame(
        self,
        frame: BandResult,
        needle: Needle | None,
        pose: ProbePose,
        params: RenderParams,
        grid: ph.BeamGrid,
    ) -> RenderedFrame:
        """A linear frame from its lines' pixels, with the needle's ground truth on its labels."""
        labels, in_view = self._needle_truth_for(needle, grid, pose).applied(frame.labels, frame.in_view)
        return RenderedFrame(
            frame.pixels, params.depth_mm, params.width_mm, labels=labels, structures_in_view=in_view
        )

    def _convex_frame(
        self,
        scene: Scene,
        needle: Needle | None,
        pose: ProbePose,
        params: RenderParams,
        grid: ph.BeamGrid,
        *,
        power: npt.NDArray[np.float32],
        anatomy: _Anatomy,
    ) -> RenderedFrame:
        """A convex frame from its lines' echo power: scan converted (BMODE_U8) or as lines."""
        needle_truth = self._needle_truth_for(needle, grid, pose)
        if params.data_format == DataFormat.BMODE_U8:
            grey = ph.power_to_grey(power, params.dynamic_range_db)
            conv = ph.scan_conversion(grid, params.rows, params.cols)
            grey = ph.scan_convert(grey.astype(np.float32), conv).round().astype(np.uint8)
            index = ph.scan_convert_nearest(anatomy.index, conv)
            needle_truth = needle_truth.converted((grid.rows, grid.lines), conv)
            labels, in_view = needle_truth.applied(structure_labels(scene)[index], _in_view(scene, index))
            return RenderedFrame(
                grey, params.depth_mm, conv.width_mm, labels=labels, structures_in_view=in_view
            )
        labels, in_view = needle_truth.applied(anatomy.labels, anatomy.in_view)
        return RenderedFrame(
            _linear_pixels(power, params),
            params.depth_mm,
            params.width_mm,
            fov_deg=params.fov_deg,
            radius_mm=params.radius_mm,
            labels=labels,
            structures_in_view=in_view,
        )

    def _render_rf(
        self, scene: Scene, pose: ProbePose, needle: Needle | None, params: RenderParams, time_s: float
    ) -> RenderedFrame:
        # RF rows are samples at sampling_mhz, so the frame reaches rows * c / (2 fs) deep. The physics
        # runs on a grid no finer than the scatterer lattice and the IQ is interpolated up to the RF grid.
        dz_rf = ph.C_MM_PER_US / (2.0 * params.sampling_mhz)
        depth_mm = params.rows * dz_rf
        step = max(1, math.ceil(ph.LATTICE_MM / dz_rf))
        coarse_rows = max(8, math.ceil(params.rows / step) + 1)
        iq, anatomy, grid = self._iq_for(
            scene,
            pose,
            needle,
            params,
            rows=coarse_rows,
            lines=params.cols,
            depth_mm=coarse_rows * step * dz_rf,
        )
        z_rf = (np.arange(params.rows, dtype=np.float64) + 1.0) * dz_rf
        pos = z_rf / grid.dz_mm - 1.0
        r0 = np.clip(np.floor(pos).astype(np.intp), 0, grid.rows - 2)
        w = np.clip(pos - r0, 0.0, 1.0).astype(np.float32)[:, None]
        fine = iq[r0] * (1.0 - w) + iq[r0 + 1] * w
        fine = fine + ph.frame_noise(fine.shape, self._seed, time_s)
        row_db = _row_gain_db(params, z_rf.astype(np.float32), depth_mm)
        gain = (10.0 ** (row_db / 20.0) * ph.RF_SCALE).astype(np.float32)[:, None]
        carrier = np.exp(2j * np.pi * params.frequency_mhz * (2.0 * z_rf / ph.C_MM_PER_US)).astype(
            np.complex64
        )
        rf = (np.conj(fine) * carrier[:, None]).real * gain
        np.clip(rf, -32768.0, 32767.0, out=rf)
        near = np.clip(np.rint(pos).astype(np.intp), 0, grid.rows - 1)
        index = anatomy.index[near]
        needle_truth = self._needle_truth_for(needle, grid, pose).rows((grid.rows, grid.lines), near)
        labels, in_view = needle_truth.applied(anatomy.labels[near], _in_view(scene, index))
        convex = params.geometry == Geometry.CONVEX
        return RenderedFrame(
            rf.astype(np.int16),
            depth_mm,
            params.width_mm,
            fov_deg=params.fov_deg if convex else 0.0,
            radius_mm=params.radius_mm if convex else 0.0,
            sampling_mhz=params.sampling_mhz,
            labels=labels,
            structures_in_view=in_view,
        )


@dataclass(frozen=True, slots=True)
class _NeedleTruth:
    """Where the needle's shaft and injectate are on one image grid, as flat pixel indices (sparse:
    a frame pays for the pixels it changes, not for a whole map)."""

    shaft: npt.NDArray[np.intp]
    fluid: npt.NDArray[np.intp]

    @staticmethod
    def on_grid(needle: Needle, grid: ph.BeamGrid, pose: ProbePose) -> _NeedleTruth:
        shaft, fluid = needle_masks(needle, image_plane(grid, pose))
        return _NeedleTruth(np.flatnonzero(shaft), np.flatnonzero(fluid & ~shaft))

    def converted(self, shape: tuple[int, int], conv: ph.ScanConversion) -> _NeedleTruth:
        """The same on a convex probe's scan-converted image."""
        beam = np.zeros(shape, dtype=np.uint8)
        beam.flat[self.fluid] = 2
        beam.flat[self.shaft] = 1
        image = ph.scan_convert_nearest(beam, conv)
        return _NeedleTruth(np.flatnonzero(image == 1), np.flatnonzero(image == 2))

    def rows(self, shape: tuple[int, int], near: npt.NDArray[np.intp]) -> _NeedleTruth:
        """The same on an RF frame whose rows are the grid's rows `near`."""
        beam = np.zeros(shape, dtype=np.uint8)
        beam.flat[self.fluid] = 2
        beam.flat[self.shaft] = 1
        image = beam[near]
        return _NeedleTruth(np.flatnonzero(image == 1), np.flatnonzero(image == 2))

    def applied(
        self, labels: npt.NDArray[np.uint8], in_view: tuple[str, ...]
    ) -> tuple[npt.NDArray[np.uint8], tuple[str, ...]]:
        """Labels and structures in view with the needle's ground truth over the anatomy's."""
        if not self.shaft.size and not self.fluid.size:
            return labels, in_view
        labels = labels.copy()
        labels.flat[self.fluid] = Label.FLUID
        labels.flat[self.shaft] = Label.METAL
        extra = [NEEDLE_STRUCTURE] * bool(self.shaft.size) + [INJECTATE_STRUCTURE] * bool(self.fluid.size)
        return labels, (*in_view, *extra)


_NO_NEEDLE_TRUTH = _NeedleTruth(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))


def _reconvolved(
    iq: npt.NDArray[np.complex64],
    old_field: npt.NDArray[np.complex64],
    field: npt.NDArray[np.complex64],
    *,
    axial: npt.NDArray[np.float32],
    kernels: Sequence[npt.NDArray[np.float32]],
    pad_lines: int,
) -> npt.NDArray[np.complex64]:
    """The PSF image of `field`, given `iq` of `old_field`: only lines a changed column reaches are redone.

    The axial PSF keeps to its column and the lateral one reaches `pad_lines` either side, so output
    line j (padded columns j .. j + 2 pad_lines) is the same bits as before unless one of those changed.
    """
    lines = iq.shape[1]
    if old_field.shape != field.shape or not (old_field.flags.c_contiguous and field.flags.c_contiguous):
        return ph.convolve_lateral(ph.convolve_axial(field, axial), kernels, pad_lines)
    changed = np.flatnonzero((old_field.view(np.int64) != field.view(np.int64)).any(axis=0))
    if changed.size == 0:
        return iq
    p = pad_lines
    hit = np.zeros(lines + 1, dtype=np.int32)  # +1 at a run's start, -1 after its end
    np.add.at(hit, np.clip(changed - 2 * p, 0, lines), 1)
    np.add.at(hit, np.clip(changed + 1, 0, lines), -1)
    redo = np.cumsum(hit[:lines]) > 0
    if np.count_nonzero(redo) > 0.75 * lines:
        return ph.convolve_lateral(ph.convolve_axial(field, axial), kernels, pad_lines)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], redo.view(np.int8), [0]])))
    runs = [[int(a), int(b)] for a, b in zip(edges[0::2], edges[1::2], strict=True)]
    merged = [runs[0]]
    for a, b in runs[1:]:  # runs this close share their input columns: one call is cheaper
        if a - merged[-1][1] < 2 * p:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    out = iq.copy()
    for a, b in merged:
        out[:, a:b] = ph.convolve_lateral(ph.convolve_axial(field[:, a : b + 2 * p], axial), kernels, p)
    return out


def _row_gain_power(params: RenderParams, grid: ph.BeamGrid) -> npt.NDArray[np.float32]:
    """Per-row power gain of a B-mode/envelope frame; cached, as it depends only on settings."""
    return _row_gain_power_cached(
        grid,
        depth_mm=params.depth_mm,
        gain_db=params.gain_db,
        tgc_db=tuple(params.tgc_db),
        compensation_db_cm_mhz=params.tgc_compensation_db_cm_mhz,
        frequency_mhz=params.frequency_mhz,
    )


@lru_cache(maxsize=16)
def _row_gain_power_cached(
    grid: ph.BeamGrid,
    *,
    depth_mm: float,
    gain_db: float,
    tgc_db: tuple[float, ...],
    compensation_db_cm_mhz: float,
    frequency_mhz: float,
) -> npt.NDArray[np.float32]:
    z = grid.z_mm()[grid.pad_rows : grid.pad_rows + grid.rows]
    row_db = ph.tgc_row_db(
        z,
        depth_mm,
        gain_db=gain_db,
        tgc_db=tgc_db,
        compensation_db_cm_mhz=compensation_db_cm_mhz,
        frequency_mhz=frequency_mhz,
    )
    gain: npt.NDArray[np.float32] = (10.0 ** (row_db / 10.0)).astype(np.float32)
    gain.flags.writeable = False  # cached and shared
    return gain


def _row_gain_db(
    params: RenderParams, z_mm: npt.NDArray[np.float32], depth_mm: float
) -> npt.NDArray[np.float32]:
    return ph.tgc_row_db(
        z_mm,
        depth_mm,
        gain_db=params.gain_db,
        tgc_db=params.tgc_db,
        compensation_db_cm_mhz=params.tgc_compensation_db_cm_mhz,
        frequency_mhz=params.frequency_mhz,
    )


VIEW_MARGIN_MM = 15.0  # beyond the plane: PSF padding, vein compression (10 mm) and the slice's thickness


def _view_bounds(params: RenderParams, pose: ProbePose) -> Bounds:
    """A box (s, t, d) holding everything a frame at `pose` can show or be changed by."""
    depth_mm = params.depth_mm
    if params.data_format == DataFormat.RF_I16:
        depth_mm = max(depth_mm, params.rows * ph.C_MM_PER_US / (2.0 * params.sampling_mhz))
    if params.geometry == Geometry.CONVEX:
        half = math.radians(min(params.fov_deg, 180.0) / 2.0)
        lateral = (params.radius_mm + depth_mm) * math.sin(half)
        top = -params.radius_mm * (1.0 - math.cos(half))
    else:
        lateral, top = params.width_mm / 2.0, 0.0
    a, b = ph.probe_axes(pose)
    origin = np.array([pose.position_mm, pose.lateral_mm, 0.0])
    corners = np.array([origin + a * pa + b * pb for pa in (-lateral, lateral) for pb in (top, depth_mm)])
    lo, hi = corners.min(axis=0) - VIEW_MARGIN_MM, corners.max(axis=0) + VIEW_MARGIN_MM
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]), float(lo[2]), float(hi[2]))


def _linear_pixels(power: npt.NDArray[np.float32], params: RenderParams) -> npt.NDArray[np.generic]:
    """A frame's pixels from its echo power, before any scan conversion: grey levels (BMODE_U8) or
    the envelope (ENVELOPE_U16)."""
    if params.data_format == DataFormat.BMODE_U8:
        return ph.power_to_grey(power, params.dynamic_range_db)
    env = np.sqrt(power) * np.float32(ph.ENVELOPE_SCALE)
    np.clip(env, 0.0, 65535.0, out=env)
    return env.astype(np.uint16)


def band_view(
    params: RenderParams, pose: ProbePose, first: int, lines: int
) -> tuple[RenderParams, ProbePose]:
    """The params and pose of a linear probe whose lines are lines first .. first + lines of the one
    `params` and untilted `pose` make: the same line pitch, its centre moved along the image plane."""
    pitch_mm = params.width_mm / params.cols
    offset_mm = (first + lines / 2.0 - params.cols / 2.0) * pitch_mm
    rot = math.radians(pose.rotation_deg)
    cos_r, sin_r = math.cos(rot), math.sin(rot)
    # Exactly 0 in long and short axis (see _lattice_cells): the plane stays where it was.
    cos_r, sin_r = (0.0 if abs(cos_r) < 1e-12 else cos_r), (0.0 if abs(sin_r) < 1e-12 else sin_r)
    moved = replace(
        pose, position_mm=pose.position_mm + offset_mm * cos_r, lateral_mm=pose.lateral_mm + offset_mm * sin_r
    )
    return replace(params, cols=lines, width_mm=lines * pitch_mm), moved


def _banded_lines(params: RenderParams, pose: ProbePose) -> int | None:
    """Where a two-process frame splits its lines (a whole number of anatomy cells in), or None for a
    frame rendered whole: a convex or tilted probe's lines do not all lie along one plane's line."""
    if params.geometry != Geometry.LINEAR or pose.tilt_deg != 0.0:
        return None
    bare = ph.BeamGrid(
        params.geometry,
        params.rows,
        params.cols,
        params.depth_mm,
        params.width_mm,
        params.fov_deg,
        params.radius_mm,
        0,
        0,
    )
    cs = anatomy_steps(bare)[1]
    cut = params.cols // 2 // cs * cs
    return cut if cut > 0 else None


def _in_view_cells(scene: Scene, cells: _Cells, columns: npt.NDArray[np.intp]) -> tuple[str, ...]:
    names = structure_names(scene)
    present = np.flatnonzero(cells.present.take(columns, axis=1).any(axis=1))
    return tuple(dict.fromkeys(names[i] for i in present if i > 0))


def _in_view(scene: Scene, index: npt.NDArray[np.uint8]) -> tuple[str, ...]:
    names = structure_names(scene)
    present = np.flatnonzero(np.bincount(index.ravel(), minlength=len(names)))
    return tuple(dict.fromkeys(names[i] for i in present if i > 0))


def _structure_echo_db(scene: Scene, beam_dir: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """Mean echo (dB) of each structure index, with anisotropy for the current beam direction(s)."""
    one_beam = beam_dir.size == 3  # linear: one direction for all lines, so the values can be cached
    out = [np.full((1, 1), ECHO_DB[Label.GEL], dtype=np.float32)]
    for st in scene.structures:
        if not TISSUES[st.label].anisotropic:
            out.append(np.full((1, 1), ECHO_DB[st.label], dtype=np.float32))
        elif one_beam:
            out.append(_anisotropic_echo_db(st.label, st.fibre_dir, beam_dir.tobytes()))
        else:
            out.append(
                np.full((1, 1), ECHO_DB[st.label], dtype=np.float32)
                + ph.anisotropy_db(st.fibre_dir, beam_dir)
            )
    return out


@lru_cache(maxsize=256)
def _anisotropic_echo_db(
    label: Label, fibre_dir: tuple[float, float, float], beam: bytes
) -> npt.NDArray[np.float32]:
    beam_dir = np.frombuffer(beam, dtype=np.float32).reshape(3, 1, 1)
    echo: npt.NDArray[np.float32] = np.full((1, 1), ECHO_DB[label], dtype=np.float32) + ph.anisotropy_db(
        fibre_dir, beam_dir
    )
    echo.flags.writeable = False  # cached and shared
    return echo


def anatomy_steps(grid: ph.BeamGrid) -> tuple[int, int]:
    """Decimation of the label/echo map in rows and lines, keeping its pixels finer than ~0.16 mm.

    Tissue boundaries and textures do not need the speckle's sampling: the PSF already blurs them over
    several samples, and painting shapes at half resolution in each direction quarters the work.
    """
    fine_mm = 0.16
    row_step = 2 if 2.0 * grid.dz_mm <= fine_mm else 1
    col_step = 2 if 2.0 * float(grid.lateral_pitch_mm(grid.depth_mm / 2.0)) <= fine_mm else 1
    return row_step, col_step


def _decimate(a: npt.NDArray[np.float32], rs: int, cs: int) -> npt.NDArray[np.float32]:
    return a[:: rs if a.shape[0] > 1 else 1, :: cs if a.shape[1] > 1 else 1]


@dataclass(frozen=True, slots=True)
class _Cells:
    """The anatomy on coarse cells: rows decimated by `rs`, one column per cell column.

    Every value is pointwise in patient coordinates or accumulated down its own column, so a column's
    cells do not depend on which other columns were computed with it (the lattice cache relies on this).
    Tissue-only cells (`of_tissue`) carry index, labels and echo, and empty arrays for the rest.
    """

    index: npt.NDArray[np.uint8]  # structure index
    labels: npt.NDArray[np.uint8]  # tissue label
    echo_db: npt.NDArray[np.float32]  # the cell's own echo: tissue, texture, partial volume
    amp: npt.NDArray[np.float32]  # echo amplitude after the two-way loss down the line
    loss_db: npt.NDArray[np.float32]  # two-way loss reaching the cell
    specular: npt.NDArray[np.complex64]  # coherent interface echo, added at the cell's first row
    present: npt.NDArray[np.bool_]  # (structures + 1, columns): structure index seen in the image rows

    @staticmethod
    def of_tissue(
        index: npt.NDArray[np.uint8], labels: npt.NDArray[np.uint8], echo_db: npt.NDArray[np.float32]
    ) -> _Cells:
        none = (0, 0)
        return _Cells(
            index,
            labels,
            echo_db,
            np.empty(none, np.float32),
            np.empty(none, np.float32),
            np.empty(none, np.complex64),
            np.empty(none, np.bool_),
        )

    def columns(self, c0: int, c1: int) -> _Cells:
        cols = slice(c0, c1)
        return _Cells(
            self.index[:, cols],
            self.labels[:, cols],
            self.echo_db[:, cols],
            self.amp[:, cols],
            self.loss_db[:, cols],
            self.specular[:, cols],
            self.present[:, cols],
        )

    @staticmethod
    def concat(parts: Sequence[_Cells]) -> _Cells:
        if len(parts) == 1:
            return parts[0]
        return _Cells(
            np.concatenate([p.index for p in parts], axis=1),
            np.concatenate([p.labels for p in parts], axis=1),
            np.concatenate([p.echo_db for p in parts], axis=1),
            np.concatenate([p.amp for p in parts], axis=1),
            np.concatenate([p.loss_db for p in parts], axis=1),
            np.concatenate([p.specular for p in parts], axis=1),
            np.concatenate([p.present for p in parts], axis=1),
        )


def _cells(
    scene: Scene,
    coords: tuple[Array, Array, Array],
    beam_dir: npt.NDArray[np.float32],
    *,
    grid: ph.BeamGrid,
    frequency_mhz: float,
    rs: int,
    normal: tuple[float, float, float],
    old: _Cells | None = None,
    changed: Sequence[Bounds] = (),
    margin_mm: float = 0.0,
    tissue_only: bool = False,
) -> _Cells:
    """Structure map, echo, texture, attenuation and specular echoes on cells at patient (s, t, d).

    Given `old`, the same cells made for another version of the scene whose `changed` structures
    (their bounds before and after) differ, only the cells those structures reach (`_boxes_reaching`,
    across the plane within `margin_mm`) are painted afresh; the loss and echoes down each column are
    redone whole, since they carry the change below.
    `present` covers the cell rows of the unpadded image (rows `grid.pad_rows` .. `+ grid.rows`).
    `tissue_only` leaves out everything down the columns (`_Cells.of_tissue`).
    """
    rows = np.broadcast_shapes(*(a.shape for a in coords))[0]
    z_cells = _cell_z_mm(grid, rs, rows)
    thickest_mm = _column_thickest_mm(grid, rs, frequency_mhz)
    if old is None:
        index_, labels_, echo_db = _tissue(
            scene,
            coords,
            beam_dir,
            z_mm=z_cells,
            thickest_mm=thickest_mm,
            frequency_mhz=frequency_mhz,
            normal=normal,
        )
    else:
        boxes = _boxes_reaching(coords, changed, margin_mm)
        if not boxes:
            return old
        index_, labels_, echo_db = old.index.copy(), old.labels.copy(), old.echo_db.copy()
        for band, cols in boxes:
            s_, t_, d_ = (block(a, band, cols) for a in coords)
            index_[band, cols], labels_[band, cols], echo_db[band, cols] = _tissue(
                scene,
                (s_, t_, d_),
                beam_dir[:, :, cols] if beam_dir.shape[2] > 1 else beam_dir,
                z_mm=z_cells[band],
                thickest_mm=thickest_mm,
                frequency_mhz=frequency_mhz,
                normal=normal,
            )
    if tissue_only:
        return _Cells.of_tissue(index_, labels_, echo_db)
    return _down_columns(
        scene, coords, beam_dir, (index_, labels_, echo_db), grid=grid, frequency_mhz=frequency_mhz, rs=rs
    )


Tissue = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.float32]]  # index, label, echo


def _down_columns(
    scene: Scene,
    coords: tuple[Array, Array, Array],
    beam_dir: npt.NDArray[np.float32],
    tissue: Tissue,
    *,
    grid: ph.BeamGrid,
    frequency_mhz: float,
    rs: int,
) -> _Cells:
    """The cells of a plane whose tissue is given: the loss, interface echoes and artefacts down
    each column."""
    index_, labels_, echo_db = tissue
    z_cells = _cell_z_mm(grid, rs, index_.shape[0])
    loss_db, before_db, reflection = ph.attenuation_db(labels_, frequency_mhz, grid.dz_mm * rs)
    amp = ph.db_to_amplitude(echo_db - loss_db)

    # Specular interface echoes: coherent along the interface (same carrier phase at the same depth).
    small = index_.shape
    specular = np.zeros(small, dtype=np.complex64)
    rr, cc = np.nonzero(reflection > 0.02)
    if rr.size:
        angle = np.broadcast_to(ph.specular_gain(beam_dir), (1, small[1]))[0, cc]
        echo_amp = reflection[rr, cc] * np.float32(ph.SPECULAR_GAIN) * angle
        echo_amp = echo_amp * ph.db_to_amplitude(-before_db[rr, cc])  # loss on the way to the interface
        # The carrier phase depends only on the row: once per row.
        phase = np.exp(2j * np.pi * (2.0 * frequency_mhz / ph.C_MM_PER_US) * z_cells)
        specular[rr, cc] = (echo_amp * phase.take(rr)).astype(np.complex64)
    artefacts.add_artefacts(
        scene,
        coords,
        beam_dir,
        index=index_,
        labels=labels_,
        z_mm=z_cells,
        before_db=before_db,
        reflection=reflection,
        amp=amp,
        specular=specular,
        frequency_mhz=frequency_mhz,
    )
    image_rows = index_[grid.pad_rows // rs : (grid.pad_rows + grid.rows - 1) // rs + 1]
    n = len(scene.structures) + 1
    flat = np.multiply(image_rows, small[1], dtype=np.intp)  # (index, column) pairs
    flat += np.arange(small[1])
    present = np.bincount(flat.ravel(), minlength=n * small[1]).reshape(n, small[1]) > 0
    return _Cells(index_, labels_, echo_db, amp, loss_db, specular, present)


def _cell_z_mm(grid: ph.BeamGrid, rs: int, rows: int) -> npt.NDArray[np.float32]:
    """Range (mm) of `rows` cell rows `rs` grid rows apart from the grid's first padded row; the same
    values as `grid.z_mm()[::rs]`, continued below the grid when `rows` asks for more."""
    i = np.arange(-grid.pad_rows, -grid.pad_rows + rows * rs, rs, dtype=np.float32)
    return ((i + 1.0) * grid.dz_mm).astype(np.float32)


def _thickest_slice_mm(frequency_mhz: float, z_mm: npt.NDArray[np.float32]) -> float:
    """The elevation slice's largest FWHM (mm) over the ranges `z_mm`."""
    return float(ph.elevation_fwhm_mm(frequency_mhz, np.maximum(z_mm, 0.0)).max())


def _column_thickest_mm(grid: ph.BeamGrid, rs: int, frequency_mhz: float) -> float:
    """The slice at its thickest over the image's cell rows: it sets the partial-volume planes of
    every row of a column (rows painted below the image included, so they match the rows above)."""
    return _thickest_slice_mm(frequency_mhz, grid.z_mm()[::rs])


def _tissue(
    scene: Scene,
    coords: tuple[Array, Array, Array],
    beam_dir: npt.NDArray[np.float32],
    *,
    z_mm: npt.NDArray[np.float32],
    thickest_mm: float,
    frequency_mhz: float,
    normal: tuple[float, float, float],
) -> Tissue:
    """Structure index, tissue label and echo (dB: tissue, anisotropy, texture, partial volume) of
    each cell at patient (s, t, d), cell rows at ranges `z_mm`, in a column whose slice is at most
    `thickest_mm` (FWHM) thick.

    Every value depends on its own cell alone (partial volume on its pair of rows: the first row
    must be even), so any block of rows and columns gives the same bits as the whole frame.
    """
    s_, t_, d_ = coords
    index_ = paint(scene, s_, t_, d_)
    small = index_.shape
    labels_ = structure_labels(scene).take(index_)
    per_structure = _structure_echo_db(scene, beam_dir)
    if all(e.size == 1 for e in per_structure):
        echo_db = np.asarray([float(e.ravel()[0]) for e in per_structure], dtype=np.float32).take(index_)
    else:  # convex: anisotropy differs line by line
        echo_db = np.empty(small, dtype=np.float32)
        for i in np.flatnonzero(np.bincount(index_.ravel(), minlength=len(per_structure))):
            np.copyto(echo_db, np.broadcast_to(per_structure[i], small), where=index_ == i)
    bent = follow_fibres(scene, index_, coords, beam_dir, echo_db)
    _add_textures(echo_db, labels_, s_, t_, d_, skip=bent)
    pv_db = _partial_volume_db(
        scene, coords, index_, normal=normal, z_mm=z_mm, thickest_mm=thickest_mm, frequency_mhz=frequency_mhz
    )
    if pv_db is not None:
        echo_db += pv_db
    return index_, labels_, echo_db


def _boxes_reaching(
    coords: tuple[Array, Array, Array], changed: Sequence[Bounds], margin_mm: float
) -> list[tuple[slice, slice]]:
    """Blocks (rows, columns) of the cells at patient (s, t, d) that the changed structures' bounds
    reach: per structure, the columns whose (s, t) come within `margin_mm` of its bounds across the
    plane and, in them, the rows whose depths come within half a millimetre of its depth bounds (the
    first row even: see _tissue). Blocks that overlap are merged, so no cell is painted twice; a
    calf's vessels at their own depths repaint a few small blocks, not one spanning them all.
    """
    s, t, d = coords
    rows, columns = np.broadcast_shapes(s.shape, t.shape, d.shape)
    s_lo, s_hi = _per_column(s, columns, np.min), _per_column(s, columns, np.max)
    t_lo, t_hi = _per_column(t, columns, np.min), _per_column(t, columns, np.max)
    boxes: list[tuple[int, int, int, int]] = []
    for b in changed:
        across = _columns_reaching([b], (s_lo, s_hi), (t_lo, t_hi), margin_mm)
        found = np.flatnonzero(across)
        if found.size == 0:
            continue
        c0, c1 = int(found[0]), int(found[-1]) + 1
        d_box = np.broadcast_to(d, (rows, d.shape[1]))[:, c0:c1] if d.shape[1] > 1 else d.reshape(rows, 1)
        deep = np.flatnonzero((d_box.max(axis=1) >= b[4] - 0.5) & (d_box.min(axis=1) <= b[5] + 0.5))
        if deep.size:
            r0 = int(deep[0])
            boxes.append((r0 - r0 % 2, int(deep[-1]) + 1, c0, c1))
    merged: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes):
        r0, r1, c0, c1 = box
        # Merge with every block it overlaps, until it overlaps none (a merge can reach another).
        while True:
            hit = [m for m in merged if m[0] < r1 and r0 < m[1] and m[2] < c1 and c0 < m[3]]
            if not hit:
                break
            for m in hit:
                merged.remove(m)
                r0, r1, c0, c1 = min(r0, m[0]), max(r1, m[1]), min(c0, m[2]), max(c1, m[3])
        merged.append((r0, r1, c0, c1))
    return [(slice(r0, r1), slice(c0, c1)) for r0, r1, c0, c1 in merged]


def _per_column(a: Array, columns: int, reduce: Callable[..., Array]) -> Array:
    """A per-sample array's lowest or highest value down each of `columns` columns."""
    return np.broadcast_to(reduce(a, axis=0), (columns,))


PARTIAL_VOLUME_PLANES = (-0.7, -0.35, 0.35, 0.7)  # off-plane samples, in thickest-slice FWHMs


def _partial_volume_db(
    scene: Scene,
    coords: tuple[Array, Array, Array],
    index_: npt.NDArray[np.uint8],
    *,
    normal: tuple[float, float, float],
    z_mm: npt.NDArray[np.float32],
    thickest_mm: float,
    frequency_mhz: float,
) -> npt.NDArray[np.float32] | None:
    """Echo change (dB) from the tissue beside the image plane within the slice thickness, or None.

    The slice adds the echo power of everything it covers, weighted by the square of its elevation
    profile: a cyst thinner than the slice fills in, a bright structure just off the plane shows
    faintly. The structures are painted on planes either side at fixed offsets, weighted per row by
    the slice profile at that depth (planes set apart by `thickest_mm`, the thickest slice FWHM of
    the column); the attenuation down the line stays the plane's own. `normal` is the slice normal
    (s, t) and the plane's offset along it. Only the cells near structures whose bounds end within
    the slice change (`_near_slice_edges`), painted on every other cell row; a cell takes the change
    of its coarse cell only if both hold the same structure, so in-plane edges stay sharp.
    """
    full_shape = index_.shape
    e_max = max(abs(k) for k in PARTIAL_VOLUME_PLANES) * thickest_mm
    near = _near_slice_edges(scene, coords, normal, e_max)
    rows_near, cols_near = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
    if rows_near.size == 0:
        return None
    r0, r1 = int(rows_near[0]), int(rows_near[-1]) + 1
    c0, c1 = int(cols_near[0]), int(cols_near[-1]) + 1
    r0 -= r0 % 2  # keep the coarse rows aligned with the whole frame's (columns are not decimated:

    # cells computed in chunks of columns must not depend on where a chunk starts)
    def window_of(a: Array) -> Array:
        rows = slice(r0, r1) if a.shape[0] > 1 else slice(None)
        return a[rows, slice(c0, c1) if a.shape[1] > 1 else slice(None)]

    coords = (window_of(coords[0]), window_of(coords[1]), window_of(coords[2]))
    index_ = index_[r0:r1, c0:c1]
    z_mm = z_mm[r0:r1]

    def coarse(a: Array) -> Array:
        return a[:: 2 if a.shape[0] > 1 else 1]

    s_, t_, d_ = (coarse(a) for a in coords)
    index_c = index_[::2]
    fwhm = ph.elevation_fwhm_mm(frequency_mhz, np.maximum(z_mm[::2], 0.0))
    sigma = fwhm / 2.3548
    power = (10.0 ** (ECHO_DB[structure_labels(scene)] / 10.0)).astype(np.float32)
    centre = power.take(index_c)
    total = centre.copy()
    weight_sum = np.ones((index_c.shape[0], 1), dtype=np.float32)
    changed = False
    offsets = [k * thickest_mm for k in PARTIAL_VOLUME_PLANES]
    planes = [(_shifted(s_, e * normal[0]), _shifted(t_, e * normal[1])) for e in offsets]
    for e, off in zip(offsets, _paint_planes(scene, planes, d_), strict=True):
        w = np.exp(-((e / sigma) ** 2)).astype(np.float32)[:, None]  # power profile at each row
        weight_sum += w
        if np.array_equal(off, index_c):
            total += w * centre
            continue
        changed = True
        total += w * power.take(off)
    if not changed:
        return None
    ratio = total / (weight_sum * np.maximum(centre, np.float32(1e-12)))
    pv_c = (10.0 * np.log10(ratio)).astype(np.float32)
    rows = index_.shape[0]
    up = np.repeat(pv_c, 2, axis=0)[:rows]
    same = np.repeat(index_c, 2, axis=0)[:rows] == index_
    out = np.zeros(full_shape, dtype=np.float32)
    # Only the cells near a slice edge: the window's other cells would depend on the window's extent.
    out[r0:r1, c0:c1] = np.where(same & near[r0:r1, c0:c1], up, np.float32(0.0))
    return out


def _paint_planes(
    scene: Scene, planes: Sequence[tuple[Array, Array]], d: Array
) -> list[npt.NDArray[np.uint8]]:
    """`paint` of several planes (s, t) at the same depths in one call, side by side.

    Painting costs mostly a fixed amount per structure for an untilted plane (one depth span per
    column), so one call over all the planes' columns costs little more than one plane.
    """
    shapes = [np.broadcast_shapes(s.shape, t.shape, d.shape) for s, t in planes]
    rows, cols = shapes[0]
    flat = all(s.shape[0] == 1 and t.shape[0] == 1 for s, t in planes)
    height = 1 if flat else rows
    s_all = np.concatenate([np.broadcast_to(s, (height, cols)) for s, _ in planes], axis=1)
    t_all = np.concatenate([np.broadcast_to(t, (height, cols)) for _, t in planes], axis=1)
    d_all = d if d.shape[1] == 1 else np.concatenate([np.broadcast_to(d, (rows, cols))] * len(planes), axis=1)
    index = paint(scene, s_all, t_all, d_all)
    return [index[:, i * cols : (i + 1) * cols] for i in range(len(planes))]


def _near_slice_edges(
    scene: Scene, coords: tuple[Array, Array, Array], normal: tuple[float, float, float], e_max: float
) -> npt.NDArray[np.bool_]:
    """The cells near structures whose bounds end within e_max of the plane.

    Elsewhere every plane of the slice holds the same structure as the image plane (up to shapes
    curving inside their bounds), so partial volume has nothing to add there.
    """
    n_s, n_t, n0 = normal
    s_, t_, d_ = coords
    shape = np.broadcast_shapes(s_.shape, t_.shape, d_.shape)
    hit = np.zeros(shape, dtype=bool)
    for st in scene.structures:
        s0, s1, t0, t1, d0, d1 = st.shape.bounds
        lo = hi = 0.0
        for comp, a, b in ((n_s, s0, s1), (n_t, t0, t1)):
            if abs(comp) > 1e-9:
                lo, hi = lo + min(comp * a, comp * b), hi + max(comp * a, comp * b)
        if not (abs(n0 - lo) <= e_max or abs(n0 - hi) <= e_max):
            continue
        hit |= (
            (s_ >= s0 - e_max)
            & (s_ <= s1 + e_max)
            & (t_ >= t0 - e_max)
            & (t_ <= t1 + e_max)
            & (d_ >= d0)
            & (d_ <= d1)
        )
    return hit


def _shifted(a: Array, by_mm: float) -> Array:
    return a if by_mm == 0.0 else (a + np.float32(by_mm)).astype(np.float32)


def _apply_cells(
    field: npt.NDArray[np.complex64], cells: _Cells, col_of_line: npt.NDArray[np.intp], rs: int
) -> None:
    """Weight the scatterers by their cell's amplitude and add the specular echoes."""
    h = field.shape[0]
    h2 = (h // rs) * rs
    amp = cells.amp.take(col_of_line, axis=1)  # (cell rows, lines)
    body = field[:h2].reshape(h2 // rs, rs, field.shape[1])  # broadcast over the rs rows of each cell
    body *= amp[: h2 // rs, None, :]
    if h2 < h:
        field[h2:] *= amp[-1:]
    field[::rs] += cells.specular.take(col_of_line, axis=1)


LATTICE_PREFETCH = 24  # lattice columns computed beyond the frame's edge when the probe slides past it


class _Lattice:
    """Cells on a run of patient-fixed lattice columns, and the plane (and scene) they were made for."""

    def __init__(self) -> None:
        self.key: Key | None = None
        self.k0 = 0  # lattice number of the first cached column
        self.cells: _Cells | None = None


class CellCache:
    """The last frame's cells on patient-fixed lattice columns, reused while the probe slides in plane.

    A column's cells depend only on its patient coordinates (see `_Cells`), so reusing them gives the
    same bits as computing them afresh: frames do not depend on the path the probe took.
    """

    def __init__(self) -> None:
        self.lattice = _Lattice()
        # While the probe presses, only the unpressed plane's tissue is needed (`_pressed_cells`): its
        # own lattice skips the loss and echoes down the columns when a vessel's phase changes.
        self.tissue = _Lattice()
        # The undeformed plane field of the last pressed frame: pressing harder or lighter reuses it.
        self.field_key: Key | None = None
        self.field: npt.NDArray[np.complex64] | None = None
        self.last_field_key: Key | None = None  # the last frame's field: a held probe asks for it again
        self.grid_cells: tuple[Key, _Cells] | None = None  # convex or tilted: the last frame's cells


def _lattice_cells(
    scene: Scene,
    pose: ProbePose,
    grid: ph.BeamGrid,
    frequency_mhz: float,
    *,
    rs: int,
    cs: int,
    d_rows: Array,
    cache: CellCache | None,
    tissue_only: bool = False,
) -> tuple[_Cells, npt.NDArray[np.intp]]:
    """Cells of a linear, untilted probe on columns fixed in the patient, and each line's column.

    The columns lie along the image plane `cs` line pitches apart, at whole multiples of that pitch
    from the plane's origin; each line takes the nearest. A probe sliding in plane (along the limb in
    long axis, across it in short axis) then finds most of its columns already computed.
    `tissue_only` cells carry their tissue alone (see `_cells`), in the cache's own lattice for them.
    """
    rot = math.radians(pose.rotation_deg)
    cos_r, sin_r = math.cos(rot), math.sin(rot)
    # Exactly 0 in long and short axis (cos 90° is 6e-17): else a slide across in short axis moves
    # the plane by 1e-18 mm, which no cached column would match.
    cos_r, sin_r = (0.0 if abs(cos_r) < 1e-12 else cos_r), (0.0 if abs(sin_r) < 1e-12 else sin_r)
    pitch = cs * grid.line_pitch
    u_probe = pose.position_mm * cos_r + pose.lateral_mm * sin_r  # in-plane position of the probe centre
    n_plane = -pose.position_mm * sin_r + pose.lateral_mm * cos_r  # out-of-plane offset of the plane
    k = np.floor((u_probe + grid.line_pos().astype(np.float64)) / pitch + 0.5).astype(np.intp)
    lo, hi = int(k[0]), int(k[-1]) + 1
    beam = ph.plane_coords_beam(pose)
    # A changed structure reaches the columns within partial volume's reach, and a pitch for the
    # lines' rounding to columns.
    margin_mm = _slice_margin_mm(grid, frequency_mhz) + pitch

    def columns_st(k0: int, k1: int) -> tuple[Array, Array]:
        u = (np.arange(k0, k1, dtype=np.float64) * pitch).astype(np.float32)[None, :]
        return _along(-n_plane * sin_r, cos_r, u), _along(n_plane * cos_r, sin_r, u)

    def compute(k0: int, k1: int, old: _Cells | None = None, changed: Sequence[Bounds] = ()) -> _Cells:
        return _cells(
            scene,
            (*columns_st(k0, k1), d_rows),
            beam,
            grid=grid,
            frequency_mhz=frequency_mhz,
            rs=rs,
            normal=(-sin_r, cos_r, n_plane),
            old=old,
            changed=changed,
            margin_mm=margin_mm,
            tissue_only=tissue_only,
        )

    key: Key = (scene, d_rows.shape[0], grid.rows, grid.pad_rows, grid.depth_mm, rs, pitch)
    key += (pose.rotation_deg, n_plane, frequency_mhz)
    if cache is None:
        return compute(lo, hi), k - lo
    lattice = cache.tissue if tissue_only else cache.lattice
    full = cache.lattice
    if (
        tissue_only
        and (lattice.key is None or lattice.key[1:] != key[1:])  # not this plane yet, in any phase
        and full.key is not None
        and full.cells is not None
        and full.key[2:] == key[2:]
        and full.cells.index.shape[0] < d_rows.shape[0]
    ):
        # Pressing starts: the unpressed plane's tissue, and the rows below it painted (from an even
        # row: see _tissue) in the scene those cells were made for.
        then = full.key[0]
        assert isinstance(then, Scene)
        r = full.cells.index.shape[0] // 2 * 2
        below = _tissue(
            then,
            (*columns_st(full.k0, full.k0 + full.cells.index.shape[1]), d_rows[r:]),
            beam,
            z_mm=_cell_z_mm(grid, rs, d_rows.shape[0])[r:],
            thickest_mm=_column_thickest_mm(grid, rs, frequency_mhz),
            frequency_mhz=frequency_mhz,
            normal=(-sin_r, cos_r, n_plane),
        )
        lattice.key, lattice.k0 = (then, d_rows.shape[0], *full.key[2:]), full.k0
        lattice.cells = _Cells.of_tissue(
            np.concatenate([full.cells.index[:r], below[0]]),
            np.concatenate([full.cells.labels[:r], below[1]]),
            np.concatenate([full.cells.echo_db[:r], below[2]]),
        )
    if (
        lattice.key is not None
        and lattice.key[0] is not scene
        and lattice.key[1:] == key[1:]
        and lattice.cells is not None
    ):
        # The same plane of another version of the scene (vessels in another phase): keep the columns
        # the changed structures cannot reach.
        refreshed = _refreshed_columns(
            lattice, scene, compute, pitch=pitch, normal=(-sin_r, cos_r, n_plane), margin_mm=margin_mm
        )
        if refreshed is not None:
            lattice.key, lattice.cells = key, refreshed
    cached = lattice.cells if lattice.key == key else None
    c0 = lattice.k0
    c1 = c0 + cached.index.shape[1] if cached is not None else c0
    if cached is not None and lo < c1 and hi > c0:
        # Compute uncovered columns with a margin ahead, so a slow slide pays the per-call cost rarely.
        b0 = lo - LATTICE_PREFETCH if lo < c0 else max(c0, lo - 2 * LATTICE_PREFETCH)
        b1 = hi + LATTICE_PREFETCH if hi > c1 else min(c1, hi + 2 * LATTICE_PREFETCH)
        parts = [compute(b0, c0)] if b0 < c0 else []
        parts.append(cached.columns(max(b0, c0) - c0, min(b1, c1) - c0))
        if b1 > c1:
            parts.append(compute(c1, b1))
        cells = _Cells.concat(parts)
    else:
        b0, cells = lo, compute(lo, hi)
    lattice.key, lattice.k0, lattice.cells = key, b0, cells
    return cells, k - b0


def _refreshed_columns(
    lattice: _Lattice,
    scene: Scene,
    compute: Callable[[int, int, _Cells, Sequence[Bounds]], _Cells],
    *,
    pitch: float,
    normal: tuple[float, float, float],
    margin_mm: float,
) -> _Cells | None:
    """The cached cells made for `scene`, recomputing only the columns a changed structure reaches.

    None when the cached cells are of another scene altogether. A column reaches a structure when
    its (s, t) lies within the structure's bounds, before or after the change, widened by `margin_mm`
    (the slice's half-thickness: partial volume paints planes beside the image plane).
    """
    assert lattice.key is not None and lattice.cells is not None
    old = lattice.key[0]
    changed = changed_structures(old, scene) if isinstance(old, Scene) else None
    if changed is None:
        return None
    cells, k0 = lattice.cells, lattice.k0
    n_s, n_t, n0 = normal  # (-sin r, cos r, offset): column u lies at (n0 n_s + n_t u, n0 n_t - n_s u)
    u = np.arange(k0, k0 + cells.index.shape[1], dtype=np.float64) * pitch
    s, t = n0 * n_s + n_t * u, n0 * n_t - n_s * u
    hit = _columns_reaching([c.bounds for c in changed], (s, s), (t, t), margin_mm)
    return _repainted(
        cells,
        changed,
        hit,
        lambda a, b, old_cells, near: compute(k0 + a, k0 + b, old_cells, near),
        s_range=(s, s),
        margin_mm=margin_mm,
    )


def _slice_margin_mm(grid: ph.BeamGrid, frequency_mhz: float) -> float:
    """How far beside the image plane partial volume reaches (its outermost plane at the deepest row):
    a structure changed farther away than this leaves the cells as they were."""
    fwhm_mm = _thickest_slice_mm(frequency_mhz, grid.z_mm())
    return max(abs(e) for e in PARTIAL_VOLUME_PLANES) * fwhm_mm


def _columns_reaching(
    changed: Sequence[Bounds],
    s_range: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]],
    t_range: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]],
    margin_mm: float,
) -> npt.NDArray[np.bool_]:
    """Columns whose (s, t) extent (lowest, highest per column) comes within `margin_mm` of the bounds
    (s0, s1, t0, t1, ...) of a changed structure."""
    (s_lo, s_hi), (t_lo, t_hi), m = s_range, t_range, margin_mm
    hit = np.zeros(np.shape(s_lo), dtype=np.bool_)
    for b in changed:
        hit |= (s_hi >= b[0] - m) & (s_lo <= b[1] + m) & (t_hi >= b[2] - m) & (t_lo <= b[3] + m)
    return hit


def _depths_near(shapes: Sequence[Shape], s_lo: float, s_hi: float) -> list[Bounds]:
    """The bounds of the shapes that reach s in [s_lo, s_hi], a tube's depths narrowed to where it
    lies there.

    A vessel's bounds span its whole course (the external iliac artery dives 25 mm); a short-axis
    plane meets only a few millimetres of it. The course is sampled every 0.25 mm, finer than its
    curves bend, and the rows' half-millimetre margin (`_rows_reaching`) covers the rest.
    """
    out = []
    for shape in shapes:
        b = shape.bounds
        lo, hi = max(s_lo, b[0]), min(s_hi, b[1])
        if lo > hi:
            continue
        if isinstance(shape, Tube):
            s = np.linspace(lo, hi, max(2, math.ceil((hi - lo) / 0.25) + 1), dtype=np.float32)[None, :]
            dc, rd = shape.centre(s)[1], shape.radii(s)[1]
            b = (*b[:4], max(b[4], float((dc - rd).min())), min(b[5], float((dc + rd).max())))
        out.append(b)
    return out


def _repainted(
    cells: _Cells,
    changed: Sequence[Shape],
    hit: npt.NDArray[np.bool_],
    compute: Callable[[int, int, _Cells, Sequence[Bounds]], _Cells],
    *,
    s_range: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]],
    margin_mm: float,
) -> _Cells:
    """`cells` with the `hit` columns (their s from s_range's lowest to highest) repainted by
    compute(a, b, old cells, depths), over the depths the `changed` shapes have near those columns."""
    if not hit.any():
        return cells
    s_lo, s_hi = float(s_range[0][hit].min()) - margin_mm, float(s_range[1][hit].max()) + margin_mm
    near = _depths_near(changed, s_lo, s_hi)
    return _patched(cells, hit, lambda a, b, old: compute(a, b, old, near))


def _patched(
    cells: _Cells, hit: npt.NDArray[np.bool_], recompute: Callable[[int, int, _Cells], _Cells]
) -> _Cells:
    """`cells` with each run of `hit` columns [a, b) redone by recompute(a, b, those columns' cells);
    `cells` itself when none is hit (it is never changed in place: a cache may hold it)."""
    if not hit.any():
        return cells
    out = _Cells(*(getattr(cells, name).copy() for name in _Cells.__slots__))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], hit.view(np.int8), [0]])))
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        part = recompute(int(a), int(b), cells.columns(int(a), int(b)))
        for name in _Cells.__slots__:
            getattr(out, name)[:, a:b] = getattr(part, name)
    return out


def _compressed(
    scene: Scene, pressure: float, coords: ph.PlaneCoords, rs: int, cs: int, *, near: Bounds | None = None
) -> Array:
    """Patient depth of every sample (rows, columns) under pressure (`compress_vessels`), worked out on
    the anatomy's cells (every rs-th row and cs-th line) and interpolated between them.

    The cells' tissue comes from the exact depths; the speckle of the samples between them from a
    depth within a rounding of the exact one (each takes its field's nearest row). A quarter of the
    samples: the squash is two dozen passes over them per vein, and a calf has six veins in view.
    """
    if pressure <= 0.0:
        return coords.d
    s, t, d = coords.s, coords.t, coords.d
    frame = near if near is not None else view_bounds(s, t, d, margin_mm=0.0)
    on_cells = compress_vessels(scene, pressure, *(_decimate(a, rs, cs) for a in (s, t, d)), near=frame)
    return _between_cells(on_cells, rs, cs, np.broadcast_shapes(s.shape, t.shape, d.shape))


def _between_cells(on_cells: Array, rs: int, cs: int, shape: tuple[int, ...]) -> Array:
    """Samples of `shape` (rows, columns) linearly interpolated from their values on every rs-th row
    and cs-th column (`on_cells`, as `_decimate` takes them); those keep their values exactly, and
    the samples past the last cell row or column take its values."""
    out = on_cells
    for axis, step in ((0, rs), (1, cs)):
        if step == 1 or out.shape[axis] == 1:
            continue
        i = np.arange(shape[axis])
        k0 = np.minimum(i // step, out.shape[axis] - 1)
        k1 = np.minimum(k0 + 1, out.shape[axis] - 1)
        w = ((i - k0 * step) / step).astype(np.float32).reshape((-1, 1) if axis == 0 else (1, -1))
        a = out.take(k0, axis=axis)
        out = a + w * (out.take(k1, axis=axis) - a)
    return np.ascontiguousarray(np.broadcast_to(out, shape))


def _along(c0: float, c: float, u: Array) -> Array:
    """c0 + c u, or the constant alone when c is zero so an aligned coordinate stays a scalar."""
    if abs(c) <= 1e-12:
        return np.full((1, 1), c0, dtype=np.float32)
    return (np.float32(c0) + np.float32(c) * u).astype(np.float32)


TEXTURE_OF_LABEL = np.asarray([t.texture for t in TISSUES], dtype=np.uint8)


def _add_textures(
    echo_db: npt.NDArray[np.float32],
    labels: npt.NDArray[np.uint8],
    s: npt.NDArray[np.float32],
    t: npt.NDArray[np.float32],
    d: npt.NDArray[np.float32],
    *,
    skip: npt.NDArray[np.bool_] | None = None,
) -> None:
    """Add each tissue's texture (dB) where it is (not where `skip`), only over the rows it occupies."""
    kinds = TEXTURE_OF_LABEL.take(labels)
    for kind in np.flatnonzero(np.bincount(kinds.ravel(), minlength=len(Texture))):
        if kind == Texture.NONE:
            continue
        in_kind = kinds == kind
        if skip is not None:  # cells already textured along their own fibres (texture.follow_fibres)
            in_kind &= ~skip
        rows = np.flatnonzero(in_kind.any(axis=1))
        if rows.size == 0:
            continue
        r = slice(int(rows[0]), int(rows[-1]) + 1)
        cols = np.flatnonzero(in_kind[r].any(axis=0))
        c = slice(int(cols[0]), int(cols[-1]) + 1)
        # Textures are pointwise in patient coordinates: evaluate them only over the kind's bounding box.
        sub = (
            a[r if a.shape[0] > 1 else slice(None), c if a.shape[1] > 1 else slice(None)] for a in (s, t, d)
        )
        tex = texture_db(Texture(int(kind)), *sub)
        box = echo_db[r, c]
        np.add(box, tex, out=box, where=in_kind[r, c])


def _on_cells(
    coords: ph.PlaneCoords, rs: int, cs: int
) -> tuple[tuple[Array, Array, Array], npt.NDArray[np.float32]]:
    """The beam grid's patient coordinates (s, t, d) and beam directions at its cells: every rs-th row
    and cs-th line."""
    beam = coords.beam_dir[:, :, ::cs] if coords.beam_dir.shape[2] > 1 else coords.beam_dir
    return (_decimate(coords.s, rs, cs), _decimate(coords.t, rs, cs), _decimate(coords.d, rs, cs)), beam


def _pressed_cells(
    scene: Scene,
    grid: ph.BeamGrid,
    frequency_mhz: float,
    lattice: tuple[_Cells, npt.NDArray[np.intp]],
    *,
    coords: ph.PlaneCoords,
    rs: int,
    cs: int,
    normal: tuple[float, float, float],
) -> tuple[_Cells, npt.NDArray[np.intp]]:
    """Cells of a pressed, untilted linear probe, on the beam grid decimated, and each line's column.

    Pressure moves tissue in depth only (`compress_vessels`): each cell takes the tissue (index,
    label, echo) of the unpressed plane's cell nearest the patient depth its sample came from, from
    the lattice cells of the same pose (kept while the probe presses in place), then the loss and
    echoes down each column are worked out afresh. The tissue is that of the nearest cell row
    (0.16 mm) rather than of the exact depth, as the speckle takes its nearest row (`_scatterer_field`).
    The lattice reaches below the image as far as full pressure's flattening lifts tissue from
    (`_pressed_rows_below`); tissue from deeper still is painted where it is.
    """
    base, lattice_col = lattice
    (s_, t_, d_), beam_ = _on_cells(coords, rs, cs)
    rows, columns = base.index.shape[0], d_.shape[1]
    # Cell row r lies at range (r rs - pad_rows + 1) dz; cell column j takes line j cs.
    source = np.rint((d_ * np.float32(1.0 / grid.dz_mm) + np.float32(grid.pad_rows - 1)) / np.float32(rs))
    row = source.astype(np.intp)
    deep = row >= rows
    np.clip(row, 0, rows - 1, out=row)
    flat = row * base.index.shape[1] + lattice_col[np.arange(columns) * cs][None, :]
    tissue = (base.index.ravel().take(flat), base.labels.ravel().take(flat), base.echo_db.ravel().take(flat))
    if deep.any():
        r0 = int(np.flatnonzero(deep.any(axis=1))[0])
        r0 -= r0 % 2  # see _tissue
        band = slice(r0, None)
        painted = _tissue(
            scene,
            (s_, t_, d_[band]),
            beam_,
            z_mm=_cell_z_mm(grid, rs, d_.shape[0])[band],
            thickest_mm=_column_thickest_mm(grid, rs, frequency_mhz),
            frequency_mhz=frequency_mhz,
            normal=normal,
        )
        for whole, part in zip(tissue, painted, strict=True):
            np.copyto(whole[band], np.asarray(part), where=deep[band])
    cells = _down_columns(scene, (s_, t_, d_), beam_, tissue, grid=grid, frequency_mhz=frequency_mhz, rs=rs)
    lines = grid.lines + 2 * grid.pad_lines
    return cells, np.minimum(np.arange(lines) // cs, columns - 1)


def _pressed_rows_below(grid: ph.BeamGrid, rs: int) -> int:
    """Cell rows a pressed plane's tissue may come from below the grid: the flattening's deepest
    shift at full pressure (`anatomy.flatten`), and one for rounding. A vein's squash only lifts."""
    return math.ceil(FLATTEN_STRAIN * FLATTEN_DEPTH_MM / (rs * grid.dz_mm)) + 1


def _anatomy_cells(
    scene: Scene,
    pose: ProbePose,
    grid: ph.BeamGrid,
    frequency_mhz: float,
    *,
    coords: ph.PlaneCoords,
    d_skin: Array,
    rs: int,
    cs: int,
    cache: CellCache | None,
) -> tuple[_Cells, npt.NDArray[np.intp]]:
    """The structure map, echo and attenuation on coarse cells, and the cell column of every line.

    `coords` are the samples' patient coordinates under the probe's pressure, `d_skin` their depths
    without it.
    """
    lattice = None
    if grid.geometry == Geometry.LINEAR and pose.tilt_deg == 0.0:
        d_rows = _decimate(d_skin, rs, 1)  # (cell rows, 1): the unpressed plane's depth is its range
        if pose.pressure > 0.0:  # pressed tissue comes from down to the flattening's reach below
            d_rows = _cell_z_mm(grid, rs, d_rows.shape[0] + _pressed_rows_below(grid, rs))[:, None]
        lattice = _lattice_cells(
            scene,
            replace(pose, pressure=0.0),
            grid,
            frequency_mhz,
            rs=rs,
            cs=cs,
            d_rows=d_rows,
            cache=cache,
            tissue_only=pose.pressure > 0.0,
        )
        if pose.pressure <= 0.0:
            return lattice
    rot = math.radians(pose.rotation_deg)
    n_plane = -pose.position_mm * math.sin(rot) + pose.lateral_mm * math.cos(rot)
    normal = (-math.sin(rot), math.cos(rot), n_plane)
    if lattice is not None:
        return _pressed_cells(scene, grid, frequency_mhz, lattice, coords=coords, rs=rs, cs=cs, normal=normal)
    # Convex or tilted: cells on the beam grid itself, decimated.
    (s_, t_, d_), beam_ = _on_cells(coords, rs, cs)
    margin_mm = _slice_margin_mm(grid, frequency_mhz) + 0.5  # a changed structure's reach across

    def compute(c0: int, c1: int, old: _Cells | None = None, changed: Sequence[Bounds] = ()) -> _Cells:
        def cols(a: Array) -> Array:
            return a[..., c0:c1] if a.shape[-1] > 1 else a

        sub = (cols(s_), cols(t_), cols(d_))
        return _cells(
            scene,
            sub,
            cols(beam_),
            grid=grid,
            frequency_mhz=frequency_mhz,
            rs=rs,
            normal=normal,
            old=old,
            changed=changed,
            margin_mm=margin_mm,
        )

    columns = np.broadcast_shapes(s_.shape, t_.shape, d_.shape)[1]
    key: Key = (scene, pose, grid, frequency_mhz, rs, cs)
    previous = cache.grid_cells if cache is not None and pose.pressure <= 0.0 else None
    cells = None
    if previous is not None and previous[0][0] is not scene and previous[0][1:] == key[1:]:
        # The same plane of another version of the scene (vessels in another phase): recompute only the
        # columns whose samples come within reach of a changed structure.
        changed = changed_structures(previous[0][0], scene) if isinstance(previous[0][0], Scene) else None
        if changed is not None:
            full = (d_.shape[0], columns)
            s_range = (np.broadcast_to(s_, full).min(axis=0), np.broadcast_to(s_, full).max(axis=0))
            t_range = (np.broadcast_to(t_, full).min(axis=0), np.broadcast_to(t_, full).max(axis=0))
            hit = _columns_reaching([c.bounds for c in changed], s_range, t_range, margin_mm)
            cells = _repainted(previous[1], changed, hit, compute, s_range=s_range, margin_mm=margin_mm)
    if cells is None:
        cells = compute(0, columns)
    if cache is not None and pose.pressure <= 0.0:
        cache.grid_cells = (key, cells)
    lines = grid.lines + 2 * grid.pad_lines
    return cells, np.minimum(np.arange(lines) // cs, cells.index.shape[1] - 1)


def build_anatomy(
    scene: Scene,
    pose: ProbePose,
    grid: ph.BeamGrid,
    frequency_mhz: float,
    seed: int,
    *,
    cache: CellCache | None = None,
    near: Bounds | None = None,
) -> _Anatomy:
    """Labels, echo, attenuation and scatterers for one pose: the physics before the PSF.

    A `cache` keeps the last frame's lattice cells (linear, untilted probe) for the next call. Under
    pressure, the vessels that squash the tissue are those within reach of the samples, or of the
    bounds `near` if given: a band of a frame's lines takes the whole frame's (`compress_vessels`).
    """
    coords = ph.plane_coords(grid, pose)
    d_skin = coords.d
    rs, cs = anatomy_steps(grid)
    d = _compressed(scene, pose.pressure, coords, rs, cs, near=near)
    coords = ph.PlaneCoords(coords.s, coords.t, d, coords.range_mm, coords.beam_dir)
    # One thread: splitting the frame's stages over two threads measured no faster on the 2-core
    # machine (the stages are hundreds of short numpy calls that queue on the GIL; bench/README.md),
    # and the app's window needs the other core.
    cells, col_of_line = _anatomy_cells(
        scene, pose, grid, frequency_mhz, coords=coords, d_skin=d_skin, rs=rs, cs=cs, cache=cache
    )
    field = _scatterer_field(grid, pose, coords, frequency_mhz, seed, cache=cache)
    _apply_cells(field, cells, col_of_line, rs)
    points = _add_point_targets(
        scene, pose, grid, frequency_mhz, field=field, loss_db=cells.loss_db, col_of_line=col_of_line, rs=rs
    )
    # Index and labels of the unpadded image straight from the cells (each pixel copies its cell).
    c0 = grid.pad_rows // rs
    c1 = (grid.pad_rows + grid.rows - 1) // rs + 1
    lines_col = col_of_line[grid.pad_lines : grid.pad_lines + grid.lines]
    index, labels = cells.index[c0:c1].take(lines_col, axis=1), cells.labels[c0:c1].take(lines_col, axis=1)
    if rs > 1:
        first = grid.pad_rows - c0 * rs
        index = np.repeat(index, rs, axis=0)[first : first + grid.rows]
        labels = np.repeat(labels, rs, axis=0)[first : first + grid.rows]
    if points:
        for row, line, i in points:
            index[row, line] = i
        labels = structure_labels(scene).take(index)
        in_view = _in_view(scene, index)
    else:  # the structures present in the cells the image touches
        in_view = _in_view_cells(scene, cells, np.unique(lines_col))
    return _Anatomy(index, labels, field, in_view)


def _sampled_plane_field(
    grid: ph.BeamGrid, pose: ProbePose, coords: ph.PlaneCoords, frequency_mhz: float, seed: int
) -> npt.NDArray[np.complex64]:
    """The 3-D field for a tilted linear or a convex probe, taken from an untilted linear field.

    An untilted linear field of the same patient is computed on an aux grid covering the samples, its
    lines half a field cell apart (a linear grid's line pitch) and its rows the grid's row pitch; each
    sample takes its nearest aux row and interpolates between the two aux lines either side of its
    in-plane position, so a small tilt or a slide changes the speckle as much as the samples move.
    A slanted convex beam steps less than a row in depth, so it takes some aux rows twice but skips
    none: a slide, which moves its samples in depth, keeps the rows it sums (rows 1/cos(half the fan)
    finer would skip rows on the central beams, and a 1 mm slide correlated about 0.90, not 0.94).
    The aux field's slice profile follows its depth bands, and its carrier phase each layer's depth: a
    convex beam's slice thickness is that of its depth below the skin rather than of its range (a
    depth cos(angle) of the arc's, 0.87 at 30 degrees); the phase changes no statistics, the layers
    being independent, and a move shifts it with the speckle.
    """
    rot = math.radians(pose.rotation_deg)
    cr, sr = math.cos(rot), math.sin(rot)
    if pose.tilt_deg != 0.0:
        s, t = np.broadcast_arrays(coords.s, coords.t)
        u = (s - np.float32(pose.position_mm)) * np.float32(cr) + (
            t - np.float32(pose.lateral_mm)
        ) * np.float32(sr)
        m = _aux_map(_aux_lines(grid, u), grid.dz_mm, np.broadcast_to(coords.d, u.shape))
    elif pose.pressure <= 0.0:  # the samples sit where the grid alone puts them
        m = _untilted_aux_map(grid)
    else:  # pressed: the tissue each sample sees comes from another depth, not from another line
        m = _aux_map(_untilted_aux_lines(grid), grid.dz_mm, coords.d)
    aux = ph.BeamGrid(
        Geometry.LINEAR,
        m.rows,
        m.lines.count,
        m.rows * m.dz_mm,
        m.lines.count * m.lines.pitch_mm,
        60.0,
        40.0,
        m.pad_rows,
        0,
    )
    centre = m.lines.centre_mm
    flat = ProbePose(pose.position_mm + centre * cr, pose.lateral_mm + centre * sr, pose.rotation_deg)
    field = ph.plane_field(aux, flat, frequency_mhz, seed).ravel()
    out: npt.NDArray[np.complex64] = field.take(m.index)
    out += (field.take(m.index + 1) - out) * m.lines.weight
    return out


@dataclass(frozen=True, slots=True)
class _AuxLines:
    """The aux grid's lines and where a plane's samples fall between them (`_sampled_plane_field`)."""

    count: int
    pitch_mm: float
    centre_mm: float  # in-plane position of the aux grid's centre, from the probe's
    left: npt.NDArray[np.intp]  # each sample's aux line on its left
    weight: npt.NDArray[np.float32]  # each sample's weight on the aux line on its right


@dataclass(frozen=True, slots=True)
class _AuxMap:
    """The aux grid covering a plane's samples, and each sample's place on it."""

    lines: _AuxLines
    rows: int
    pad_rows: int
    dz_mm: float
    index: npt.NDArray[np.intp]  # flat aux index of each sample's nearest row, on the line left of it


def _aux_lines(grid: ph.BeamGrid, u: Array) -> _AuxLines:
    """Aux lines covering samples at in-plane position u (from the probe's), half a field cell apart."""
    pitch = ph.field_pitch_mm(grid) / ph.FIELD_PITCH_LINES
    u_lo, u_hi = float(u.min()), float(u.max())
    lines = math.ceil((u_hi - u_lo) / pitch) + 3
    centre = (u_lo + u_hi) / 2.0
    # Aux line j sits at u = centre + (j + 0.5 - lines / 2) pitch.
    x = (u - np.float32(centre)) * np.float32(1.0 / pitch) + np.float32(lines / 2.0 - 0.5)
    left = np.clip(np.floor(x), 0, lines - 2).astype(np.intp)
    weight = np.clip(x - left, 0.0, 1.0).astype(np.float32)
    left.flags.writeable = weight.flags.writeable = False  # cached and shared
    return _AuxLines(lines, pitch, centre, left, weight)


def _aux_map(lines: _AuxLines, dz_mm: float, d: Array) -> _AuxMap:
    """Aux rows dz_mm apart covering samples at depth d, and each sample's flat aux index."""
    pad = max(0, math.ceil(-float(d.min()) / dz_mm) + 1)
    rows = max(8, math.ceil(float(d.max()) / dz_mm) + 2)
    # Aux row i sits at depth (i - pad + 1) dz.
    row = np.rint(d * np.float32(1.0 / dz_mm)).astype(np.intp)
    row += pad - 1
    np.clip(row, 0, rows + 2 * pad - 1, out=row)
    row *= lines.count
    index = np.add(row, lines.left, out=row if row.shape == lines.left.shape else None)
    index.flags.writeable = False  # cached and shared
    return _AuxMap(lines, rows, pad, dz_mm, index)


@lru_cache(maxsize=8)
def _untilted_aux_lines(grid: ph.BeamGrid) -> _AuxLines:
    """The aux lines of an untilted plane: the same wherever the probe is, however turned or pressed."""
    at_origin = ph.plane_coords(grid, ProbePose())  # s is the in-plane position, t is 0
    return _aux_lines(
        grid, np.broadcast_to(at_origin.s, np.broadcast_shapes(at_origin.s.shape, at_origin.d.shape))
    )


@lru_cache(maxsize=8)
def _untilted_aux_map(grid: ph.BeamGrid) -> _AuxMap:
    """The aux map of an untilted plane under no pressure: the same wherever the probe is."""
    return _aux_map(_untilted_aux_lines(grid), grid.dz_mm, ph.plane_coords(grid, ProbePose()).d)


def _scatterer_field(
    grid: ph.BeamGrid,
    pose: ProbePose,
    coords: ph.PlaneCoords,
    frequency_mhz: float,
    seed: int,
    *,
    cache: CellCache | None = None,
) -> npt.NDArray[np.complex64]:
    """The speckle field of the frame: the patient's 3-D field integrated over the elevation slice.

    An untilted linear probe computes it on its own grid; a tilted linear or a convex plane samples
    the untilted field of the same patient (`_sampled_plane_field`).
    Under pressure each sample takes the field of the (undeformed) row its tissue came from, so the
    speckle moves with the tissue; the undeformed field is kept for the next pressed frame.
    """
    if grid.geometry == Geometry.CONVEX or pose.tilt_deg != 0.0:
        sampled: Key = ("sampled", grid, pose, frequency_mhz, seed)
        return _held_field(
            cache, sampled, lambda: _sampled_plane_field(grid, pose, coords, frequency_mhz, seed)
        )
    key: Key = (grid, pose.position_mm, pose.lateral_mm, pose.rotation_deg, frequency_mhz, seed)
    if coords.d.shape[0] == 1 or coords.d.shape[1] == 1:  # not compressed: the field is used up in place
        return _held_field(cache, key, lambda: ph.plane_field(grid, pose, frequency_mhz, seed))
    if cache is not None and cache.field_key == key and cache.field is not None:
        field = cache.field
    else:
        field = ph.plane_field(grid, pose, frequency_mhz, seed)
        if cache is not None:
            cache.field_key, cache.field = key, field
    rows, lines = field.shape
    # The flat index of (source row, same line): one take, ~2x faster than take_along_axis. Worked
    # out in floats, exact for whole numbers (float32 below 2^24), converted to indices once.
    exact: type[np.floating[Any]] = np.float32 if rows * lines < 1 << 24 else np.float64
    src = np.broadcast_to(coords.d, field.shape) * exact(1.0 / grid.dz_mm)
    np.rint(src, out=src)
    src += exact(grid.pad_rows - 1)
    np.clip(src, 0, rows - 1, out=src)
    src *= exact(lines)
    src += np.arange(lines, dtype=exact)
    remapped: npt.NDArray[np.complex64] = field.ravel().take(src.astype(np.intp))
    return remapped


def _held_field(
    cache: CellCache | None, key: Key, make: Callable[[], npt.NDArray[np.complex64]]
) -> npt.NDArray[np.complex64]:
    """`make()`, the frame's field, which the caller uses up; a copy of it kept while the probe is held.

    A held probe rebuilds its anatomy when the vessels change phase, not its speckle: from the second
    frame at one pose on, the field is copied rather than made again.
    """
    if cache is None:
        return make()
    if cache.field_key == key and cache.field is not None:
        return cache.field.copy()
    fresh = make()
    if cache.last_field_key == key:
        cache.field_key, cache.field = key, fresh.copy()
    cache.last_field_key = key
    return fresh


def _add_point_targets(
    scene: Scene,
    pose: ProbePose,
    grid: ph.BeamGrid,
    frequency_mhz: float,
    *,
    field: npt.NDArray[np.complex64],
    loss_db: npt.NDArray[np.float32],
    col_of_line: npt.NDArray[np.intp],
    rs: int,
) -> list[tuple[int, int, int]]:
    """Wires across the limb, imaged where they cross the plane, as coherent point reflectors.

    Returns (row, line, structure index) of each wire inside the unpadded image: it owns that pixel.
    """
    a, b = ph.probe_axes(pose)
    placed = []
    for i, st in enumerate(scene.structures, start=1):
        if not (st.point_target and isinstance(st.shape, CrossTube)):
            continue
        w = st.shape
        # Solve C + pa*a + pb*b = (s_w, *, d_w) for pa, pb (t free along the wire).
        m = np.array([[a[0], b[0]], [a[2], b[2]]])
        if abs(np.linalg.det(m)) < 1e-6 or not (w.t_range[0] <= pose.lateral_mm < w.t_range[1]):
            continue
        pa, pb = np.linalg.solve(m, np.array([w.s_mm - pose.position_mm, w.d_mm]))
        if grid.geometry == Geometry.LINEAR:
            rng, lat = pb, pa / grid.line_pitch
        else:
            rng = math.hypot(pa, pb + grid.radius_mm) - grid.radius_mm
            lat = math.atan2(pa, pb + grid.radius_mm) / grid.line_pitch
        row = round(rng / grid.dz_mm - 1.0) + grid.pad_rows
        col = round(lat + grid.lines / 2.0 - 0.5) + grid.pad_lines
        if not (0 <= row < field.shape[0] and 0 <= col < field.shape[1]):
            continue
        amp = 10.0 ** ((ECHO_DB[st.label] - loss_db[row // rs, col_of_line[col]]) / 20.0)
        phase = np.exp(2j * np.pi * (2.0 * frequency_mhz / ph.C_MM_PER_US) * rng)
        field[row, col] += np.complex64(amp * phase)
        if (
            grid.pad_rows <= row < grid.pad_rows + grid.rows
            and grid.pad_lines <= col < grid.pad_lines + grid.lines
        ):
            placed.append((row - grid.pad_rows, col - grid.pad_lines, i))
    return placed
