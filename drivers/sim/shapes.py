"""Analytic shapes in patient millimetres (s along the limb, t across it, d below the skin).

Every `mask` takes broadcastable coordinate arrays, so a probe plane aligned with the limb passes
row and column vectors and most tests stay cheap. `bounds` lets the renderer skip shapes out of view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
DepthFn = Callable[[Array, Array], Array]
INF = float("inf")
Bounds = tuple[float, float, float, float, float, float]  # s_min, s_max, t_min, t_max, d_min, d_max


def along_s(points: Sequence[tuple[float, float]]) -> DepthFn:
    """A depth that varies piecewise-linearly along the limb: [(s_mm, depth_mm), ...]."""
    s_pts = np.asarray([p[0] for p in points], dtype=np.float32)
    d_pts = np.asarray([p[1] for p in points], dtype=np.float32)

    def depth(s: Array, t: Array) -> Array:
        return np.interp(s, s_pts, d_pts).astype(np.float32)

    return depth


def constant(depth_mm: float) -> DepthFn:
    """A depth that is the same everywhere."""

    def depth(s: Array, t: Array) -> Array:
        return np.full((1, 1), depth_mm, dtype=np.float32)

    return depth


def groove(base: DepthFn, t0_mm: float, width_mm: float, dip_mm: float) -> DepthFn:
    """A surface with a Gaussian groove (positive dip: deeper) across the limb at t0."""

    def depth(s: Array, t: Array) -> Array:
        out: Array = (base(s, t) + dip_mm * np.exp(-(((t - t0_mm) / width_mm) ** 2))).astype(np.float32)
        return out

    return depth


def _and_small(mask: Mask, cond: Mask) -> Mask:
    """mask & cond, where cond is usually a row/column vector: combined once, skipped when all true."""
    if np.broadcast_shapes(mask.shape, cond.shape) == mask.shape and bool(np.all(cond)):
        return mask
    out: Mask = mask & cond
    return out


@dataclass(frozen=True, slots=True)
class Slab:
    """The tissue between two surfaces, optionally limited along and across the limb."""

    top: DepthFn
    bottom: DepthFn
    s_range: tuple[float, float] = (-INF, INF)
    t_range: tuple[float, float] = (-INF, INF)
    d_range: tuple[float, float] = (0.0, INF)  # loose depth bounds for culling

    def mask(self, s: Array, t: Array, d: Array) -> Mask:
        m: Mask = (d >= self.top(s, t)) & (d < self.bottom(s, t))
        if self.s_range != (-INF, INF):
            m = _and_small(m, (s >= self.s_range[0]) & (s < self.s_range[1]))
        if self.t_range != (-INF, INF):
            m = _and_small(m, (t >= self.t_range[0]) & (t < self.t_range[1]))
        return m

    @property
    def bounds(self) -> Bounds:
        return (*self.s_range, *self.t_range, *self.d_range)


@dataclass(frozen=True, slots=True)
class Tube:
    """An elliptical tube running along the limb; centre and radii interpolate along s."""

    s_pts: tuple[float, ...]
    t_pts: tuple[float, ...]
    d_pts: tuple[float, ...]
    rt_pts: tuple[float, ...]
    rd_pts: tuple[float, ...]

    def centre(self, s: Array) -> tuple[Array, Array]:
        return (
            np.interp(s, self.s_pts, self.t_pts).astype(np.float32),
            np.interp(s, self.s_pts, self.d_pts).astype(np.float32),
        )

    def radii(self, s: Array) -> tuple[Array, Array]:
        return (
            np.interp(s, self.s_pts, self.rt_pts).astype(np.float32),
            np.interp(s, self.s_pts, self.rd_pts).astype(np.float32),
        )

    def mask(self, s: Array, t: Array, d: Array) -> Mask:
        tc, dc = self.centre(s)
        rt, rd = self.radii(s)
        inside: Mask = ((t - tc) / rt) ** 2 + ((d - dc) / rd) ** 2 <= 1.0
        return _and_small(inside, (s >= self.s_pts[0]) & (s <= self.s_pts[-1]))

    def grown(self, by_mm: float) -> Tube:
        """The same tube with both radii larger by `by_mm` (a wall around a lumen)."""
        return Tube(
            self.s_pts,
            self.t_pts,
            self.d_pts,
            tuple(r + by_mm for r in self.rt_pts),
            tuple(r + by_mm for r in self.rd_pts),
        )

    @property
    def bounds(self) -> Bounds:
        rt, rd = max(self.rt_pts), max(self.rd_pts)
        return (
            self.s_pts[0],
            self.s_pts[-1],
            min(self.t_pts) - rt,
            max(self.t_pts) + rt,
            min(self.d_pts) - rd,
            max(self.d_pts) + rd,
        )


def tube(
    points: Sequence[tuple[float, float, float]],
    rt_mm: float | Sequence[float],
    rd_mm: float | Sequence[float],
) -> Tube:
    """A tube through [(s, t, d), ...] with constant or per-point radii across (rt) and in depth (rd)."""
    n = len(points)
    rts = tuple(float(r) for r in rt_mm) if isinstance(rt_mm, Sequence) else (float(rt_mm),) * n
    rds = tuple(float(r) for r in rd_mm) if isinstance(rd_mm, Sequence) else (float(rd_mm),) * n
    return Tube(
        tuple(float(p[0]) for p in points),
        tuple(float(p[1]) for p in points),
        tuple(float(p[2]) for p in points),
        rts,
        rds,
    )


@dataclass(frozen=True, slots=True)
class Ellipsoid:
    """An axis-aligned ellipsoid (cysts, nodes, collections); `wobble` roughens its outline."""

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    wobble: float = 0.0

    def mask(self, s: Array, t: Array, d: Array) -> Mask:
        us = (s - self.centre[0]) / self.radii[0]
        ut = (t - self.centre[1]) / self.radii[1]
        ud = (d - self.centre[2]) / self.radii[2]
        r2 = us**2 + ut**2 + ud**2
        if self.wobble:
            r2 = r2 * (1.0 + self.wobble * np.sin(5.0 * np.arctan2(ud, us + ut)) * np.cos(3.0 * us))
        inside: Mask = r2 <= 1.0
        return inside

    @property
    def bounds(self) -> Bounds:
        (s, t, d), (a, b, c) = self.centre, self.radii
        k = 1.0 + self.wobble
        return (s - a * k, s + a * k, t - b * k, t + b * k, d - c * k, d + c * k)


@dataclass(frozen=True, slots=True)
class CrossTube:
    """A circular cylinder running across the limb (along t): phantom cysts seen in long axis."""

    s_mm: float
    d_mm: float
    radius_mm: float
    t_range: tuple[float, float] = (-INF, INF)

    def mask(self, s: Array, t: Array, d: Array) -> Mask:
        m: Mask = (s - self.s_mm) ** 2 + (d - self.d_mm) ** 2 <= self.radius_mm**2
        if self.t_range != (-INF, INF):
            m = _and_small(m, (t >= self.t_range[0]) & (t < self.t_range[1]))
        return m

    @property
    def bounds(self) -> Bounds:
        r = self.radius_mm
        return (self.s_mm - r, self.s_mm + r, *self.t_range, self.d_mm - r, self.d_mm + r)


Shape = Slab | Tube | Ellipsoid | CrossTube
