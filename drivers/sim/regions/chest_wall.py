"""Costal margin: the cartilages of ribs 8 to 10 and the interchondral junctions between them.

s along the costal margin (superomedial to inferolateral: the 8th cartilage, then the 9th, then the
10th), t across it (0 = the cartilages' long axis). Ribs 8-10 do not reach the sternum: each
cartilage's tip is held to the underside of the one above by a short fibrous interchondral junction,
where a slipping rib's tip rides over or under its neighbour. Costal (hyaline) cartilage images as
a homogeneous hypoechoic band inside a bright perichondrium (clinical.md 3.1, hyaline cartilage);
above it the abdominal wall muscles, below it the transversus abdominis and diaphragm slips.
Sizes typical adult [DK]: fat ~6 mm, cartilage ~8 mm thick and ~12 mm wide, tips tapering to ~3 mm,
each tip overlapping the cartilage above by ~8-10 mm.
"""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, skin_and_fat, st
from drivers.sim.shapes import Ellipsoid, Tube

PERICHONDRIUM_MM = 0.4


def _cartilage(name: str, lumen: Tube) -> Items:
    """A costal cartilage in its perichondrium (the bright rim painted first, the cartilage in it)."""
    return [st(name, L.FASCIA, lumen.grown(PERICHONDRIUM_MM)), st(name, L.CARTILAGE, lumen)]


def _tapered(points: list[tuple[float, float, float, float]]) -> Tube:
    """A cartilage along the margin through [(s, depth, half-width, half-thickness), ...] at t = 0."""
    return Tube(
        tuple(float(p[0]) for p in points),
        (0.0,) * len(points),
        tuple(float(p[1]) for p in points),
        tuple(float(p[2]) for p in points),
        tuple(float(p[3]) for p in points),
    )


def costal_margin(variant: str | None) -> Items:
    items = skin_and_fat(6.0, deep="transversus abdominis / diaphragm")
    items += [
        layer("external oblique / rectus abdominis muscle", L.MUSCLE, 6.0, 10.5),
        layer("abdominal wall fascia", L.FASCIA, 10.5, 11.0),
        # Each cartilage tapers to its tip medially (tucked under the one above) and, where it turns
        # up towards its own rib, leaves the plane laterally: both ends thin to a point here.
        *_cartilage(
            "8th costal cartilage",
            _tapered([(-90, 15.5, 6, 4), (-6, 15.5, 6, 4), (2, 15.5, 4.5, 2.8), (8, 15.6, 1.5, 0.6)]),
        ),
        *_cartilage(
            "9th costal cartilage",
            _tapered(
                [
                    (-12, 22.3, 2.0, 0.6),
                    (-6, 21.8, 3.5, 1.6),
                    (2, 20.5, 5.0, 2.6),
                    (14, 17.0, 6.0, 4.0),
                    (34, 15.5, 6.0, 4.0),
                    (42, 15.5, 4.5, 2.8),
                    (48, 15.6, 1.5, 0.6),
                ]
            ),
        ),
        *_cartilage(
            "10th costal cartilage",
            _tapered(
                [
                    (30, 22.3, 2.0, 0.6),
                    (36, 21.8, 3.2, 1.4),
                    (44, 20.5, 4.5, 2.3),
                    (56, 17.0, 5.5, 3.6),
                    (120, 16.0, 5.5, 3.6),
                ]
            ),
        ),
        # Fibrous bands between each tip and the cartilage above it.
        st("interchondral junction (8th-9th)", L.LIGAMENT, Ellipsoid((-3.0, 0.0, 19.4), (6.0, 4.5, 0.8))),
        st("interchondral junction (9th-10th)", L.LIGAMENT, Ellipsoid((37.0, 0.0, 19.6), (6.0, 4.0, 0.8))),
    ]
    return items


SCENES = {
    "costal_margin": SceneSpec(
        "Costal margin: costal cartilages of ribs 8-10 and their junctions",
        costal_margin,
        {
            "9th-10th interchondral junction long axis": P(40.0, 0.0),
            "8th-9th interchondral junction long axis": P(0.0, 0.0),
            "9th costal cartilage short axis": P(25.0, 0.0, 90.0),
        },
        30.0,
        {},
        {},
        (
            "clinical.md 1 (general rules: dynamic images, compare with the other side); slipping rib [DK]",
            "clinical.md 3.1 (hyaline cartilage hypoechoic with a bright surface; fascia hyperechoic)",
        ),
    ),
}
