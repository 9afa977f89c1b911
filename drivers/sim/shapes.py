"""Analytic shapes in patient millimetres (s along the limb, t across it, d below the skin).

Every `mask` takes broadcastable coordinate arrays, so a probe plane aligned with the limb passes
row and column vectors and most tests stay cheap. `bounds` lets the renderer skip shapes out of view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
DepthFn = Callable[[Array, Array], Array]
INF = float("inf")
Bounds = tuple[float, float, float, float, float, float]  # s_min, s_max, t_min, t_max, d_min, d_max


def smooth_curve(xp: Sequence[float], fp: Sequence[float]) -> Callable[[Array], Array]:
    """A smooth curve through the points: monotone cubic Hermite (PCHIP, Fritsch-Carlson).

    Tangent-continuous where linear interpolation kinks, and it never overshoots the points (a bone
    surface stays between its control depths, so bounds taken from the points stay valid). Constant
    beyond the end points, like `np.interp`.
    """
    x = np.asarray(xp, dtype=np.float64)
    f = np.asarray(fp, dtype=np.float64)
    if x.size == 1:
        return lambda q: np.full(np.shape(q), f[0], dtype=np.float32)
    h = np.diff(x)
    delta = np.diff(f) / h
    m = np.empty_like(f)
    m[0], m[-1] = delta[0], delta[-1]
    for k in range(1, x.size - 1):
        if delta[k - 1] * delta[k] > 0.0:
            w1, w2 = 2.0 * h[k] + h[k - 1], h[k] + 2.0 * h[k - 1]
            m[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
        else:
            m[k] = 0.0  # a local extremum: flat there, so the curve does not overshoot
    x32, f32, m32, h32 = (a.astype(np.float32) for a in (x, f, m, h))

    def curve(q: Array) -> Array:
        i = np.clip(np.searchsorted(x32, q, side="right") - 1, 0, x32.size - 2)
        hi = h32[i]
        u = np.clip((q - x32[i]) / hi, 0.0, 1.0)
        u2 = u * u
        u3 = u2 * u
        out = (
            (2 * u3 - 3 * u2 + 1) * f32[i]
            + (u3 - 2 * u2 + u) * hi * m32[i]
            + (-2 * u3 + 3 * u2) * f32[i + 1]
            + (u3 - u2) * hi * m32[i + 1]
        )
        return np.asarray(out, dtype=np.float32)

    return curve


def along_s(points: Sequence[tuple[float, float]]) -> DepthFn:
    """A depth that varies smoothly along the limb through [(s_mm, depth_mm), ...] (see smooth_curve)."""
    curve = smooth_curve([p[0] for p in points], [p[1] for p in points])

    def depth(s: Array, t: Array) -> Array:
        return curve(s)

    return depth


def across_t(points: Sequence[tuple[float, float]]) -> DepthFn:
    """A depth varying smoothly across the limb through [(t_mm, depth_mm), ...]: a bone in cross-section."""
    curve = smooth_curve([p[0] for p in points], [p[1] for p in points])

    def depth(s: Array, t: Array) -> Array:
        return curve(t)

    return depth


def constant(depth_mm: float) -> DepthFn:
    """A depth that is the same everywhere."""

    def depth(s: Array, t: Array) -> Array:
        return np.full((1, 1), depth_mm, dtype=np.float32)

    return depth


def rounded_across(base: DepthFn, t0_mm: float, radius_mm: float) -> DepthFn:
    """A surface curved across the limb like a cylinder of `radius_mm` whose crest (at t0) follows `base`.

    A bone head or shaft seen in short axis: a convex arc, not a flat line; beyond the radius the
    surface stays at the arc's lowest depth (base + radius).
    """

    def depth(s: Array, t: Array) -> Array:
        sag = radius_mm - np.sqrt(np.maximum(radius_mm**2 - (t - t0_mm) ** 2, 0.0))
        out: Array = (base(s, t) + sag).astype(np.float32)
        return out

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


Span = tuple[Array, Array]  # (lo, hi) per column: inside where lo <= d < hi (empty where hi <= lo)


def _closed(lo: Array, hi: Array, inside: Mask | None = None) -> Span:
    """The span lo <= d <= hi as half-open [lo, next float above hi); empty where `inside` is False."""
    hi = np.nextafter(hi.astype(np.float32), np.float32(np.inf))
    if inside is not None:
        lo, hi = np.where(inside, lo, np.float32(np.inf)), np.where(inside, hi, np.float32(-np.inf))
    return lo.astype(np.float32, copy=False), hi.astype(np.float32, copy=False)


def _limited(span: Span, cond: Mask) -> Span:
    """The span, emptied where `cond` (a row vector or scalar) is False."""
    lo, hi = span
    if bool(np.all(cond)):
        return span
    return np.where(cond, lo, np.float32(np.inf)), np.where(cond, hi, np.float32(-np.inf))


@dataclass(frozen=True, slots=True)
class Slab:
    """The tissue between two surfaces, optionally limited along and across the limb."""

    top: DepthFn
    bottom: DepthFn
    s_range: tuple[float, float] = (-INF, INF)
    t_range: tuple[float, float] = (-INF, INF)
    d_range: tuple[float, float] = (0.0, INF)  # loose depth bounds for culling
    taper_mm: float = 0.0  # > 0: the layer thins to nothing over this distance inside its s/t limits

    def mask(self, s: Array, t: Array, d: Array) -> Mask:
        top, bottom = self.top(s, t), self.bottom(s, t)
        if self.taper_mm > 0.0:
            top, bottom = self._tapered(s, t, top, bottom)
        m: Mask = (d >= top) & (d < bottom)
        if self.s_range != (-INF, INF):
            m = _and_small(m, (s >= self.s_range[0]) & (s < self.s_range[1]))
        if self.t_range != (-INF, INF):
            m = _and_small(m, (t >= self.t_range[0]) & (t < self.t_range[1]))
        return m

    def span(self, s: Array, t: Array) -> Span | None:
        """The depths inside at (s, t), as `mask` decides them: top <= d < bottom."""
        top, bottom = self.top(s, t), self.bottom(s, t)
        if self.taper_mm > 0.0:
            top, bottom = self._tapered(s, t, top, bottom)
        span: Span = (top.astype(np.float32, copy=False), bottom.astype(np.float32, copy=False))
        if self.s_range != (-INF, INF):
            span = _limited(span, (s >= self.s_range[0]) & (s < self.s_range[1]))
        if self.t_range != (-INF, INF):
            span = _limited(span, (t >= self.t_range[0]) & (t < self.t_range[1]))
        return span

    def _tapered(self, s: Array, t: Array, top: Array, bottom: Array) -> tuple[Array, Array]:
        """Top and bottom drawn together near the limits: a rounded (elliptical) end, not a cut edge."""
        reach = np.full((1, 1), np.inf, dtype=np.float32)
        for (lo, hi), x in ((self.s_range, s), (self.t_range, t)):
            if lo > -INF:
                reach = np.minimum(reach, x - lo)
            if hi < INF:
                reach = np.minimum(reach, hi - x)
        u = np.clip(reach / self.taper_mm, 0.0, 1.0)
        w = np.sqrt(u * (2.0 - u))  # quarter ellipse: 0 at the limit, 1 a taper length inside it
        mid, half = 0.5 * (top + bottom), 0.5 * (bottom - top) * w
        return (mid - half).astype(np.float32), (mid + half).astype(np.float32)

    @property
    def bounds(self) -> Bounds:
        return (*self.s_range, *self.t_range, *self.d_range)


def _smooth(s: Array, xp: tuple[float, ...], fp: tuple[float, ...]) -> Array:
    """A tube's centre line or radius at s: straight between two points, a smooth curve through more."""
    if len(xp) <= 2 or len(set(fp)) == 1:
        return np.interp(s, xp, fp).astype(np.float32)
    return _curve(xp, fp)(s)


@lru_cache(maxsize=1024)
def _curve(xp: tuple[float, ...], fp: tuple[float, ...]) -> Callable[[Array], Array]:
    return smooth_curve(xp, fp)


@dataclass(frozen=True, slots=True)
class Tube:
    """An elliptical tube running along the limb; centre and radii follow smooth curves along s."""

    s_pts: tuple[float, ...]
    t_pts: tuple[float, ...]
    d_pts: tuple[float, ...]
    rt_pts: tuple[float, ...]
    rd_pts: tuple[float, ...]

    def centre(self, s: Array) -> tuple[Array, Array]:
        return _smooth(s, self.s_pts, self.t_pts), _smooth(s, self.s_pts, self.d_pts)

    def radii(self, s: Array) -> tuple[Array, Array]:
        return _smooth(s, self.s_pts, self.rt_pts), _smooth(s, self.s_pts, self.rd_pts)

    def mask(self, s: Array, t: Array, d: Array) -> Mask:
        tc, dc = self.centre(s)
        rt, rd = self.radii(s)
        inside: Mask = ((t - tc) / rt) ** 2 + ((d - dc) / rd) ** 2 <= 1.0
        return _and_small(inside, (s >= self.s_pts[0]) & (s <= self.s_pts[-1]))

    def span(self, s: Array, t: Array) -> Span | None:
        """The depths inside at (s, t): the ellipse's chord |d - dc| <= rd sqrt(1 - ((t - tc) / rt)^2)."""
        tc, dc = self.centre(s)
        rt, rd = self.radii(s)
        q = 1.0 - ((t - tc) / rt) ** 2
        half = rd * np.sqrt(np.maximum(q, 0.0))
        return _closed(dc - half, dc + half, (q >= 0.0) & (s >= self.s_pts[0]) & (s <= self.s_pts[-1]))

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

    def span(self, s: Array, t: Array) -> Span | None:
        """The depths inside at (s, t); None with a wobble (its outline is not one chord per column)."""
        if self.wobble:
            return None
        q = 1.0 - ((s - self.centre[0]) / self.radii[0]) ** 2 - ((t - self.centre[1]) / self.radii[1]) ** 2
        half = (self.radii[2] * np.sqrt(np.maximum(q, 0.0))).astype(np.float32)
        return _closed(np.float32(self.centre[2]) - half, np.float32(self.centre[2]) + half, q >= 0.0)

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

    def span(self, s: Array, t: Array) -> Span | None:
        """The depths inside at (s, t): the circle's chord at s."""
        q = self.radius_mm**2 - (s - self.s_mm) ** 2
        half = np.sqrt(np.maximum(q, 0.0)).astype(np.float32)
        inside = q >= 0.0
        if self.t_range != (-INF, INF):
            inside = inside & (t >= self.t_range[0]) & (t < self.t_range[1])
        return _closed(self.d_mm - half, self.d_mm + half, inside)

    @property
    def bounds(self) -> Bounds:
        r = self.radius_mm
        return (self.s_mm - r, self.s_mm + r, *self.t_range, self.d_mm - r, self.d_mm + r)


Shape = Slab | Tube | Ellipsoid | CrossTube
