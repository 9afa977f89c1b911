"""Injury and repair: a soft-tissue foreign body in the forearm, and a distal radius volar plate.

Both scenes lie on the volar distal forearm: s along the limb (proximal to distal), t across it
(0 = the scene's reference tendon, radial side negative), d below the skin.

Foreign body: a wood splinter in the subcutaneous fat over the flexor carpi radialis tendon, between
it and the radial artery, with the median nerve on its ulnar side; a hyperechoic line that shadows,
in a thin hypoechoic halo of granulation tissue and oedema (foreign_body.yaml's sources: BMC Med
Imaging 2011;11:9, radiologykey "Foreign body ultrasound"). A splinter 1 mm across and ~12 mm long,
3-4 mm deep, is a typical one [DK].

Distal radius: the volar surface of the radius rising to its volar rim (the watershed line) with the
pronator quadratus on it, and the flexor pollicis longus running over both; the flexor carpi radialis,
radial artery, median nerve and finger flexors beside it (clinical.md 1.3). Normal is the unoperated
wrist (the other side of a plated one). `proud_screw`: a volar locking plate on the radius under the
pronator quadratus, its distal screw head standing ~2 mm proud of the plate right under the FPL,
which is thickened and hypoechoic over it in a sheath with fluid - the seed's distal radius case
(hardware_after_fixation.yaml's sources: FPL over a volar plate, tendon irritation before rupture;
tenosynovitis with sheath fluid). Plate 2 mm thick, screw heads ~4 mm across [DK].
"""

from __future__ import annotations

import math

import numpy as np

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, offset, rounded, skin_and_fat, st, vein
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, DepthFn, Ellipsoid, along_s, rounded_across, tube

# The splinter runs from (s, t, d) = (-6, 2.5, 3.2) to (6, 6.5, 4.4): its long axis is this far round
# from the limb's, which is where its long-axis view turns the probe.
SPLINTER_START, SPLINTER_END = (-6.0, 2.5, 3.2), (6.0, 6.5, 4.4)
SPLINTER_ROTATION_DEG = math.degrees(
    math.atan2(SPLINTER_END[1] - SPLINTER_START[1], SPLINTER_END[0] - SPLINTER_START[0])
)
SPLINTER_S = (SPLINTER_START[0] + SPLINTER_END[0]) / 2.0
SPLINTER_T = (SPLINTER_START[1] + SPLINTER_END[1]) / 2.0


def foreign_body(variant: str | None) -> Items:
    items = skin_and_fat(4.6, skin_mm=1.3, deep="forearm flexor muscles")
    # Along its length: a sharp tip, a 1 mm body, a broken-off blunter end; the halo wraps the ends.
    ends = [SPLINTER_START, _between(0.3), _between(0.7), SPLINTER_END]
    splinter = tube(ends, (0.15, 0.5, 0.5, 0.35), (0.15, 0.5, 0.5, 0.35))
    halo = tube([_between(-0.08), *ends[1:3], _between(1.08)], (0.3, 1.3, 1.3, 0.3), (0.3, 1.3, 1.3, 0.3))
    items += [
        layer("deep fascia", L.FASCIA, 4.6, 5.0),
        layer("distal radius", L.BONE, rounded_across(along_s([(-40, 15.0), (40, 14.0)]), 7.0, 30.0), INF),
        st("flexor carpi radialis tendon", L.TENDON, tube([(-60, 0.0, 6.6), (60, 0.0, 6.2)], 2.2, 1.5)),
        *artery("radial artery", tube([(-60, 10.0, 5.8), (60, 10.5, 5.6)], 1.1, 1.1)),
        *vein("radial vein (vena comitans)", tube([(-60, 14.4, 5.8), (60, 14.9, 5.6)], 1.0, 1.0)),
        st("median nerve", L.NERVE, tube([(-60, -9.0, 7.5), (60, -8.5, 7.0)], 2.6, 1.2), fibre_dir=(1, 0, 0)),
        # The halo first, then the splinter inside it.
        st("halo (granulation tissue, oedema)", L.GRANULATION, halo),
        st("foreign body (wood splinter)", L.WOOD, splinter),
    ]
    return items


def _between(f: float) -> tuple[float, float, float]:
    """The point a fraction `f` of the way along the splinter (beyond it outside 0..1)."""
    (s0, t0, d0), (s1, t1, d1) = SPLINTER_START, SPLINTER_END
    return (s0 + f * (s1 - s0), t0 + f * (t1 - t0), d0 + f * (d1 - d0))


def _radius_surface() -> DepthFn:
    """The volar cortex, rounded across the bone (its edges fall away in short axis)."""
    return rounded_across(along_s(list(_radius_top())), 0.0, 24.0)


def _radius_top() -> tuple[tuple[float, float], ...]:
    """The volar cortex: flat over the metaphysis, rising to the volar rim at s = 0."""
    return ((-60, 11.5), (-20, 11.0), (-8, 10.5), (-3, 9.5), (0, 8.5), (4, 9.0))


def distal_radius(variant: str | None) -> Items:
    plated = variant == "proud_screw"
    radius = _radius_surface()
    items = skin_and_fat(3.0, skin_mm=1.2, deep="forearm flexor muscles")
    items += [
        # Beyond the radiocarpal joint (s = 4) the lunate's surface rises from the joint's notch.
        layer(
            "carpal bones (scaphoid, lunate)",
            L.BONE,
            along_s([(4, 13.0), (7, 10.8), (20, 10.5)]),
            INF,
            s=(4, INF),
            t=(-14, 14),
        ),
        layer("distal radius", L.BONE, radius, INF, s=(-INF, 4)),
        # The pronator quadratus lies on the radius; over a plate it is lifted by the plate.
        layer(
            "pronator quadratus muscle",
            L.MUSCLE,
            offset(radius, -5.5 if plated else -4.0),
            offset(radius, -2.2 if plated else 0.0),
            s=(-50, -6),
            t=(-14, 14),
            fibre=(0.0, 1.0, 0.0),
        ),
    ]
    if plated:
        items += _plate()
    fpl = tube([(-60, -3, 4.4), (-10, -3, 4.4), (-3, -3, 5.2), (5, -3, 6.0), (30, -3, 8.0)], 1.8, 1.2)
    items += [
        st("flexor carpi radialis tendon", L.TENDON, tube([(-60, -10, 3.9), (30, -11, 4.2)], 1.8, 1.3)),
        *artery("radial artery", tube([(-60, -15.5, 4.6), (30, -16.0, 4.4)], 1.1, 1.1)),
        st("median nerve", L.NERVE, tube([(-60, 4.0, 3.8), (30, 4.0, 3.9)], 2.6, 1.1)),
        st("flexor pollicis longus tendon", L.TENDON, fpl),
    ]
    for t0 in (6.5, 10.0):
        items.append(
            st("flexor digitorum tendons", L.TENDON, tube([(-60, t0, 6.4), (30, t0, 6.8)], 1.6, 1.2))
        )
    if plated:
        items = _irritated(items)
    return rounded(items, {"pronator quadratus muscle": 4.0})


def _plate() -> Items:
    """A volar locking plate on the cortex, its screw heads seated in it, the distal one under the FPL
    not seated: its head stands ~2 mm proud of the plate."""
    radius = _radius_surface()
    plate = layer(
        "volar locking plate", L.METAL, offset(radius, -2.2), offset(radius, -0.2), s=(-40, -4), t=(-11, 11)
    )
    seated = [(-8.0, t) for t in (-8.0, 2.0, 7.0)] + [(-20.0, 0.0), (-30.0, 0.0)]
    heads = [
        st("locking screw heads", L.METAL, Ellipsoid((s, t, _depth(s, t) - 1.2), (1.9, 1.9, 0.9)))
        for s, t in seated
    ]
    proud = st(
        "proud screw head", L.METAL, Ellipsoid((-8.0, -3.0, _depth(-8.0, -3.0) - 3.2), (1.9, 1.9, 1.2))
    )
    return [plate, *heads, proud]


def _depth(s: float, t: float) -> float:
    """The radius's volar cortex depth at (s, t), to seat things on it."""
    at_s, at_t = np.full((1, 1), s, dtype=np.float32), np.full((1, 1), t, dtype=np.float32)
    return float(_radius_surface()(at_s, at_t)[0, 0])


def _irritated(items: Items) -> Items:
    """The FPL over the proud screw: thickened and hypoechoic, in a sheath with fluid."""
    # Both swell from the tendon's own size at their ends, so nothing is cut square.
    sheath = tube(
        [(-18, -3, 4.4), (-12, -3, 4.4), (-8, -3, 4.6), (-3, -3, 5.3), (1, -3, 5.7)],
        (1.8, 2.7, 2.9, 2.7, 1.8),
        (1.2, 2.0, 2.2, 2.0, 1.2),
    )
    thick = tube(
        [(-15, -3, 4.4), (-11, -3, 4.4), (-8, -3, 4.5), (-4, -3, 5.1), (-1, -3, 5.4)],
        (1.8, 2.1, 2.2, 2.1, 1.8),
        (1.2, 1.4, 1.5, 1.4, 1.2),
    )
    fpl_at = next(i for i, it in enumerate(items) if it.name == "flexor pollicis longus tendon")
    return [
        *items[:fpl_at],
        st("FPL tendon sheath (fluid)", L.FLUID, sheath),
        items[fpl_at],
        st("flexor pollicis longus tendon", L.TENDINOSIS, thick),
        *items[fpl_at + 1 :],
    ]


SCENES = {
    "foreign_body": SceneSpec(
        "Forearm: soft-tissue foreign body (wood splinter) by the FCR tendon and radial artery",
        foreign_body,
        {
            "foreign body long axis": P(SPLINTER_S, SPLINTER_T, SPLINTER_ROTATION_DEG),
            "foreign body short axis": P(SPLINTER_S, SPLINTER_T, SPLINTER_ROTATION_DEG + 90.0),
        },
        25.0,
        {},
        {},
        (
            "foreign_body.yaml sources: hyperechoic focus, posterior shadowing (wood), hypoechoic halo",
            "clinical.md 1.3 (volar wrist: FCR, radial artery, median nerve)",
            "clinical.md 3.3 (superficial structures, high-frequency linear probe)",
        ),
    ),
    "distal_radius": SceneSpec(
        "Distal radius (volar): FPL over the pronator quadratus; volar plate with a proud screw",
        distal_radius,
        {
            "FPL long axis": P(-8.0, -3.0),
            "volar distal radius short axis": P(-8.0, 0.0, 90.0),
        },
        20.0,
        variants("proud_screw"),
        {"proud_screw": "FPL long axis"},
        (
            "clinical.md 1.3 (ESSR III wrist: volar tendons, median nerve, radial artery)",
            "hardware_after_fixation.yaml sources: FPL over a volar plate; proud screw, tenosynovitis",
            "clinical.md 3.3 (wrist 1.5-2.5 cm depth, >= 12 MHz)",
        ),
    ),
}
