"""Building blocks the regions assemble their scenes from: layers, vessels, nodes, collections."""

from __future__ import annotations

from dataclasses import replace

from drivers.sim.anatomy import Structure, VesselKind
from drivers.sim.shapes import INF, DepthFn, Ellipsoid, Shape, Slab, Tube, constant
from drivers.sim.tissues import Label

L = Label
Items = list[Structure]


def st(name: str, label: Label, shape: Shape, **kw: object) -> Structure:
    return Structure(name, label, shape, **kw)  # type: ignore[arg-type]


def layer(
    name: str,
    label: Label,
    top: float | DepthFn,
    bottom: float | DepthFn,
    *,
    s: tuple[float, float] = (-INF, INF),
    t: tuple[float, float] = (-INF, INF),
    fibre: tuple[float, float, float] = (1.0, 0.0, 0.0),
    taper: float = 0.0,
) -> Structure:
    """Tissue between two surfaces; `taper` (mm) rounds its ends inside the s/t limits (soft tissue)."""
    top_fn = constant(top) if isinstance(top, int | float) else top
    bottom_fn = constant(bottom) if isinstance(bottom, int | float) else bottom
    # Constant surfaces give tight depth bounds, so the painter can skip rows outside them.
    d_range = (
        (float(top), float(bottom))
        if isinstance(top, int | float) and isinstance(bottom, int | float)
        else (0.0, INF)
    )
    return Structure(name, label, Slab(top_fn, bottom_fn, s, t, d_range, taper), fibre_dir=fibre)


def rounded(items: Items, ends_mm: dict[str, float]) -> Items:
    """The items with the named layers' ends rounded over the given lengths (see `layer`'s taper)."""
    return [
        replace(it, shape=replace(it.shape, taper_mm=ends_mm[it.name]))
        if it.name in ends_mm and isinstance(it.shape, Slab)
        else it
        for it in items
    ]


def offset(fn: DepthFn, by_mm: float) -> DepthFn:
    """The surface `fn` moved `by_mm` deeper (negative: shallower)."""
    return lambda s, t: fn(s, t) + by_mm


def skin_and_fat(fat_bottom_mm: float, skin_mm: float = 1.5, deep: str = "muscle") -> Items:
    return [
        layer(deep, L.MUSCLE, fat_bottom_mm, INF),
        layer("skin", L.SKIN, 0.0, skin_mm),
        layer("subcutaneous fat", L.FAT, skin_mm, fat_bottom_mm),
    ]


def vessel(name: str, lumen: Tube, kind: VesselKind) -> Items:
    """Wall then lumen; only the lumen carries the compression behaviour (the warp moves the wall too)."""
    wall_mm = 0.9 if kind is VesselKind.ARTERY else 0.45
    label = (
        L.THROMBUS
        if kind is VesselKind.THROMBOSED_VEIN
        else (L.ARTERY_LUMEN if kind is VesselKind.ARTERY else L.VEIN_LUMEN)
    )
    return [st(name, L.VESSEL_WALL, lumen.grown(wall_mm)), st(name, label, lumen, vessel=kind)]


VEIN_OVAL = (1.15, 0.85)  # a patent vein at rest is an oval wider than deep; an artery stays round [DK]
THROMBUS_DISTENSION = 1.15  # an acutely thrombosed vein is round and as wide as the patent oval


def vein(name: str, lumen: Tube, thrombosed: bool = False, *, inspiration: float = 1.0) -> Items:
    """A vein from its nominal (round) lumen: drawn oval, or round and distended when thrombosed.

    `inspiration` +1: the calibre widens breathing in (leg veins); -1: it narrows (neck and arm veins,
    drawn towards the thorax). See drivers/sim/vessel_motion.py.
    """
    if thrombosed:  # acute thrombus distends the vein and rounds it [DK]
        radii = tuple(r * THROMBUS_DISTENSION for r in lumen.rt_pts)
        return vessel(
            name, Tube(lumen.s_pts, lumen.t_pts, lumen.d_pts, radii, radii), VesselKind.THROMBOSED_VEIN
        )
    wide, deep = VEIN_OVAL
    oval = Tube(
        lumen.s_pts,
        lumen.t_pts,
        lumen.d_pts,
        tuple(r * wide for r in lumen.rt_pts),
        tuple(r * deep for r in lumen.rd_pts),
    )
    wall, inner = vessel(name, oval, VesselKind.VEIN)
    return [wall, replace(inner, inspiration=inspiration)]


def artery(name: str, lumen: Tube) -> Items:
    return vessel(name, lumen, VesselKind.ARTERY)


def lymph_node(centre: tuple[float, float, float], radii: tuple[float, float, float], hilum: float) -> Items:
    s, t, d = centre
    a, b, c = radii
    return [
        st("inguinal lymph node", L.NODE_CORTEX, Ellipsoid(centre, radii)),
        st(
            "inguinal lymph node",
            L.NODE_HILUM,
            Ellipsoid((s, t, d + 0.1 * c), (a * hilum, b * hilum, c * hilum)),
        ),
    ]


def abscess(centre: tuple[float, float, float], radii: tuple[float, float, float]) -> Items:
    grown = tuple(r + 1.5 for r in radii)
    return [
        st("abscess wall (hyperaemic rim)", L.INFLAMED, Ellipsoid(centre, grown, wobble=0.18)),  # type: ignore[arg-type]
        st("abscess", L.COMPLEX_FLUID, Ellipsoid(centre, radii, wobble=0.22)),
    ]
