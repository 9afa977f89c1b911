"""SimulatorControl: what the UI may ask of a simulated patient and its virtual probe (no Qt, no driver).

The simulator panel and the exam's practice mode depend on this interface only; the composition root
(main.py) hands them the concrete one (`drivers.sim.control.SimulatorControl`) when the probe is simulated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from scanner_app.needle_guide import NeedleGuide

# The trainee's needle and what it injects, by the names the ground truth gives them (structures in
# view, RenderedFrame.structures_in_view), beside the scene's own structures.
NEEDLE_STRUCTURE = "needle"
INJECTATE_STRUCTURE = "injectate"


@dataclass(frozen=True, slots=True)
class ViewTruth:
    """What the image plane shows at a pose, from the simulator's ground truth (not read off pixels)."""

    scene_id: str
    structures_in_view: frozenset[str]
    vessels_in_view: frozenset[str]  # veins and arteries the plane cuts
    compressed_vessels: frozenset[str]  # vessels in view whose lumen the probe presses (not fully open)
    # The trainee's needle when its tip is in the slice and the image: the structure the tip is in,
    # and the structures within a millimetre or so of the tip ("" and empty otherwise).
    needle_tip_in: str = ""
    needle_tip_beside: frozenset[str] = frozenset()


BONE_SURFACE_MM = 1.0  # a bone images as its cortex: a bright line, a shadow under it
LABEL_SPACING_MM = 2.0  # other places for a name along its structure are at least this far apart


def _near_top(mask: npt.NDArray[np.bool_], rows: int) -> npt.NDArray[np.bool_]:
    """The pixels of `mask` within `rows` of its first pixel down each column."""
    top = np.where(mask.any(axis=0), mask.argmax(axis=0), mask.shape[0])
    below = np.arange(mask.shape[0])[:, None] - top[None, :]
    near: npt.NDArray[np.bool_] = mask & (below < rows)
    return near


@dataclass(frozen=True, slots=True)
class LabelMap:
    """The simulator's ground truth over one image (linear probe): which structure fills each pixel.

    Pixel (row, col) covers depth [row, row + 1) x `depth_mm / rows` and x [col, col + 1) x
    `width_mm / cols` in image mm (x from the first column, depth below the skin), as the live image
    is drawn. Index 0 is outside the body (coupling gel); a structure made of several parts (a vessel's
    wall and lumen) has one index per part, sharing its name.
    """

    index: npt.NDArray[np.uint8]  # (rows, cols) structure index per pixel, read-only
    names: tuple[str, ...]  # structure name of each index
    tissues: tuple[str, ...]  # tissue name of each index ("tendon", "fluid", "muscle", ...)
    depth_mm: float
    width_mm: float

    @property
    def rows(self) -> int:
        return int(self.index.shape[0])

    @property
    def cols(self) -> int:
        return int(self.index.shape[1])

    @property
    def pixel_mm(self) -> tuple[float, float]:
        """(x, depth) size of one pixel in mm."""
        return self.width_mm / self.cols, self.depth_mm / self.rows

    def index_at(self, x_mm: float, depth_mm: float) -> int:
        """The structure index at a point of the image; 0 outside the image or the body."""
        dx, dz = self.pixel_mm
        col, row = math.floor(x_mm / dx), math.floor(depth_mm / dz)
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            return 0
        return int(self.index[row, col])

    def structure_at(self, x_mm: float, depth_mm: float) -> str:
        """The name of the structure at a point ("" outside the body or the image)."""
        i = self.index_at(x_mm, depth_mm)
        return self.names[i] if i > 0 else ""

    def tissue_at(self, x_mm: float, depth_mm: float) -> str:
        """The tissue at a point ("" outside the body or the image)."""
        i = self.index_at(x_mm, depth_mm)
        return self.tissues[i] if i > 0 else ""

    def in_view(self) -> tuple[str, ...]:
        """Names of the structures with pixels in the image, in scene order, each once."""
        present = np.flatnonzero(np.bincount(self.index.ravel(), minlength=len(self.names)))
        return tuple(dict.fromkeys(self.names[i] for i in present if i > 0))

    def mask(self, name: str) -> npt.NDArray[np.bool_]:
        """The pixels of the structure `name` (all its parts)."""
        ids = [i for i, n in enumerate(self.names) if n == name and i > 0]
        return np.isin(self.index, ids)

    def tissue_mask(self, tissue: str) -> npt.NDArray[np.bool_]:
        """The pixels of every structure of tissue `tissue`."""
        ids = [i for i, t in enumerate(self.tissues) if t == tissue and i > 0]
        return np.isin(self.index, ids)

    def label_point_mm(self, name: str) -> tuple[float, float] | None:
        """(x_mm, depth_mm) where a name for the structure belongs: inside its pixels, as far from its
        edges (and the image's) as any point, within a fifth, and of those the nearest its centre. A
        centre alone can fall outside: the paired veins either side of an artery have theirs on it.
        A bone's name goes on its surface (its top `BONE_SURFACE_MM`), the bright line the image
        shows, not into the shadow under it. None when the structure is not in view.

        Worked out on every k-th pixel (k keeps the grid near 128 a side): a name needs no finer place.
        """
        found = self._label_candidates(name, 0.8)
        if found is None:
            return None
        x, d, best = found
        return float(x[best]), float(d[best])

    def label_points_mm(
        self, name: str, spacing_mm: float = LABEL_SPACING_MM, limit: int = 24
    ) -> list[tuple[float, float]]:
        """Places for the structure's name, best first: `label_point_mm`, then other points inside
        its pixels (at least half as far from its edges as the best), nearest it first and at least
        `spacing_mm` apart, at most `limit`. Where the best place is taken (another name, the body
        marker), a name moves along its own structure to one of these rather than off it."""
        found = self._label_candidates(name, 0.5)
        if found is None:
            return []
        x, d, best = found
        order = np.argsort((x - x[best]) ** 2 + (d - d[best]) ** 2, kind="stable")
        x, d = x[order], d[order]
        # Greedily, nearest the best first: each kept point rules out the candidates near it.
        free = np.ones(x.size, dtype=np.bool_)
        kept: list[tuple[float, float]] = []
        while len(kept) < limit and free.any():
            i = int(free.argmax())
            kept.append((float(x[i]), float(d[i])))
            free &= (x - x[i]) ** 2 + (d - d[i]) ** 2 >= spacing_mm**2
        return kept

    def _label_candidates(
        self, name: str, share: float
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int] | None:
        """(x_mm, depth_mm) of the structure's points at least `share` of its greatest distance from
        its edges, and which of them is the best place: of the best fifth, the nearest its centre.
        None when the structure is not in view."""
        mask = self.mask(name)
        if not mask.any():
            return None
        if self._tissue_of(name) == "bone":
            mask = _near_top(mask, rows=max(1, round(BONE_SURFACE_MM / self.pixel_mm[1])))
        k = max(1, min(self.rows, self.cols) // 128)
        coarse = np.pad(mask[k // 2 :: k, k // 2 :: k], 1)  # outside the image counts as an edge
        dx, dz = self.pixel_mm
        centre = self._centre_mm(mask)
        if not coarse.any():  # thinner than k pixels: its centre is as good as any point of it
            return np.array([centre[0]]), np.array([centre[1]]), 0
        inside = ndimage.distance_transform_edt(coarse, sampling=(dz * k, dx * k))
        rows, cols = np.nonzero(inside >= share * inside.max())
        x = ((cols - 1) * k * dx + (k // 2 + 0.5) * dx).astype(np.float64)
        d = ((rows - 1) * k * dz + (k // 2 + 0.5) * dz).astype(np.float64)
        deep = inside[rows, cols] >= 0.8 * inside.max()
        best = int(np.argmin(np.where(deep, (x - centre[0]) ** 2 + (d - centre[1]) ** 2, np.inf)))
        return x, d, best

    def _tissue_of(self, name: str) -> str:
        return next((t for n, t in zip(self.names, self.tissues, strict=True) if n == name), "")

    def centroid_mm(self, name: str) -> tuple[float, float] | None:
        """(x_mm, depth_mm) of the centre of the structure's pixels; None when it is not in view."""
        mask = self.mask(name)
        return self._centre_mm(mask) if mask.any() else None

    def _centre_mm(self, mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
        rows, cols = np.nonzero(mask)
        dx, dz = self.pixel_mm
        return (float(cols.mean()) + 0.5) * dx, (float(rows.mean()) + 0.5) * dz


@dataclass(frozen=True, slots=True)
class NeedleTruth:
    """Where the simulated needle is, from the simulator's ground truth (not read off pixels)."""

    in_plane: bool  # placed for an in-plane approach (else out-of-plane)
    angle_deg: float  # to the skin
    inserted_mm: float
    tip_structure: str  # the structure the tip is in ("coupling gel" before it enters the skin)
    tip_depth_mm: float
    tip_visible: bool  # the tip is in the imaging slice and inside the image
    structures_crossed: tuple[str, ...]  # along the shaft, skin to tip
    vessels_and_nerves_crossed: frozenset[str]  # of those, the ones a needle must not pass through
    injected_ml: float


class SimulatorControl(Protocol):
    """Scene, variant and virtual-probe pose of a simulated patient, its ground truth and its cable."""

    def list_scenes(self) -> list[tuple[str, str, list[str]]]:
        """(scene id, title, variant ids) for every scene."""
        ...

    def variant_titles(self, scene_id: str) -> dict[str, str]:
        """Variant id -> the title a person reads ("Baker's cyst" for `bakers_cyst`)."""
        ...

    def current_scene(self) -> tuple[str, str | None]:
        """(scene id, variant id or None) now shown."""
        ...

    def set_scene(self, scene_id: str, variant: str | None) -> None: ...

    def get_pose(self) -> dict[str, float]:
        """position_mm, lateral_mm, rotation_deg, tilt_deg, pressure (0..1)."""
        ...

    def set_pose(self, **changes: float) -> None: ...

    def start_pose(self) -> dict[str, float]:
        """The current scene's first view, unpressed: where a lost trainee starts again."""
        ...

    def view_truth(self, pose: Mapping[str, float] | None = None) -> ViewTruth:
        """What the current scene shows at `pose` (the probe's pose now when None)."""
        ...

    def label_map(self, rows: int, cols: int, depth_mm: float, width_mm: float) -> LabelMap:
        """The ground truth of the image the probe makes now, on a `rows` x `cols` grid over
        `depth_mm` x `width_mm` (the frame's), with the probe's pressure applied."""
        ...

    def frame_label_map(
        self, device_time_us: int, rows: int, cols: int, depth_mm: float, width_mm: float
    ) -> LabelMap | None:
        """The ground truth of the frame the probe sent with `device_time_us` (Frame.device_time_us), as
        `label_map` gives it for the scene and pose that made that frame; None when the probe no
        longer knows that frame."""
        ...

    def manoeuvres(self) -> tuple[str, ...]:
        """What the simulated patient can do for a Doppler study ("augmentation": a calf squeeze,
        "valsalva": begin straining, "release"); empty when this simulated probe makes no Doppler."""
        ...

    def perform(self, manoeuvre: str) -> None:
        """The patient does `manoeuvre` now (ValueError for one it cannot do)."""
        ...

    def straining(self) -> bool:
        """Whether the patient holds a Valsalva now."""
        ...

    def cable_plugged(self) -> bool | None:
        """Whether the simulated probe's cable is in; None when this probe has no cable to pull."""
        ...

    def set_cable_plugged(self, plugged: bool) -> None:
        """Pull the cable (the window sees a disconnect) or plug it back in (a freshly powered probe)."""
        ...

    # -- the trainee's needle (procedure practice) ------------------------------------------------

    def place_needle(self, guide: NeedleGuide) -> None:
        """A new needle at the skin, where `guide` plans it from the probe's pose now (in-plane from
        either end at its angle, or out-of-plane aimed to cross the slice at its target depth)."""
        ...

    def advance_needle(self, mm: float) -> None:
        """Push the needle in by `mm` (withdraw when negative); ValueError when there is no needle."""
        ...

    def angle_needle(self, delta_deg: float) -> None:
        """Pivot the needle about its skin entry, steeper when positive."""
        ...

    def inject(self, ml: float) -> None:
        """Inject `ml` at the tip: an anechoic collection spreads from it."""
        ...

    def reset_needle(self) -> None:
        """Take the needle out (and the injectate away)."""
        ...

    def needle_truth(self) -> NeedleTruth | None:
        """Where the needle and its tip are now; None when there is no needle."""
        ...
