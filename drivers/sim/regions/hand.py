"""Fingers: flexor tendons in their sheath under the annular pulleys, MCP and PIP joints; the thumb's
ulnar collateral ligament at the first MCP joint, with a Stener lesion.

s along the finger (proximal to distal; the MCP joint line at s = 0, PIP at 44, DIP at 70), t across
it (0 = palmar midline; the dorsal aspect is unrolled at t 40..80). Palmar: FDS superficial to FDP
over the proximal phalanx, held by the A2 pulley (a thin hyperechoic band across the tendons over the
proximal phalanx shaft) and A4 (middle phalanx); the palmar plate (fibrocartilage) under each joint;
thin anechoic hyaline cartilage on the heads. Dorsal: the extensor tendon over the joints and a small
dorsal recess. clinical.md 1.3 (ESSR III wrist/hand, ≥ 12 MHz), 3.1 (tendon, cartilage), 3.3 (depth
1.5-2.5 cm, hockey-stick probe). Sizes typical adult [DK]: flexor tendons together ~4 mm thick,
pulleys ~0.5 mm.
"""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, offset, rounded, skin_and_fat, st
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Ellipsoid, along_s, constant, rounded_across, tube


def finger(variant: str | None) -> Items:
    # Palmar bone profile: metacarpal head, proximal phalanx, middle phalanx, each with a rounded head.
    bone = rounded_across(
        along_s(
            [
                (-30, 9.5),
                (-8, 9.0),
                (-3, 9.6),
                (-0.8, 11.5),
                (0.8, 11.8),
                (3, 9.6),
                (20, 9.2),
                (40, 8.6),
                (43.2, 10.0),
                (44.8, 10.2),
                (47, 8.6),
                (66, 8.0),
                (69.2, 9.2),
            ]
        ),
        0.0,
        6.0,
    )
    items = skin_and_fat(2.2, skin_mm=1.0, deep="lumbrical / soft tissue")
    items += [
        layer("metacarpal head", L.BONE, bone, INF, s=(-INF, -0.8), t=(-10, 10)),
        layer("proximal phalanx", L.BONE, bone, INF, s=(0.8, 43.2), t=(-10, 10)),
        layer("middle phalanx", L.BONE, bone, INF, s=(44.8, 69.2), t=(-10, 10)),
        # In a joint's midline section the heads curve under: the cleft closes a few mm down.
        layer(
            "metacarpal head",
            L.BONE,
            rounded_across(constant(14.5), 0.0, 6.0),
            INF,
            s=(-0.8, 0.8),
            t=(-10, 10),
        ),
        layer(
            "proximal phalanx",
            L.BONE,
            rounded_across(constant(13.0), 0.0, 6.0),
            INF,
            s=(43.2, 44.8),
            t=(-10, 10),
        ),
        layer("metacarpal head cartilage", L.CARTILAGE, offset(bone, -0.6), bone, s=(-9, -0.8), t=(-6, 6)),
        layer(
            "proximal phalanx head cartilage", L.CARTILAGE, offset(bone, -0.5), bone, s=(38, 43.2), t=(-5, 5)
        ),
        st("MCP palmar plate", L.FIBROCARTILAGE, Ellipsoid((0.0, 0.0, 8.3), (6.0, 5.0, 1.4))),
        st("PIP palmar plate", L.FIBROCARTILAGE, Ellipsoid((44.0, 0.0, 7.8), (5.0, 4.5, 1.2))),
        st(
            "flexor tendon sheath",
            L.FLUID,
            tube([(-40, 0, 5.1), (0, 0, 5.0), (44, 0, 4.9), (80, 0, 4.6)], 4.1, 2.2),
        ),
        st(
            "flexor digitorum superficialis tendon",
            L.TENDON,
            tube([(-40, 0, 4.0), (0, 0, 3.9), (30, 0, 4.0), (44, 0, 5.4), (52, 0, 6.0)], 3.8, 0.9),
        ),
        st(
            "flexor digitorum profundus tendon",
            L.TENDON,
            tube([(-40, 0, 6.1), (0, 0, 6.0), (44, 0, 5.2), (75, 0, 4.6)], 3.6, 1.0),
        ),
        layer("A2 pulley", L.LIGAMENT, 2.6, 3.1, s=(6, 26), t=(-5, 5), fibre=(0.0, 1.0, 0.0)),
        layer("A4 pulley", L.LIGAMENT, 2.6, 3.0, s=(52, 60), t=(-4.5, 4.5), fibre=(0.0, 1.0, 0.0)),
    ]
    dorsal = (40.0, 80.0)
    back = along_s(
        [
            (-30, 4.5),
            (-3, 4.0),
            (-0.8, 5.5),
            (0.8, 5.6),
            (3, 4.2),
            (40, 3.8),
            (43.2, 4.6),
            (44.8, 4.7),
            (47, 3.7),
            (70, 3.5),
        ]
    )
    items += [
        layer("dorsal bone surface", L.BONE, rounded_across(back, 60.0, 6.0), INF, t=dorsal),
        layer("MCP dorsal recess", L.FAT, 2.6, offset(back, -0.3), s=(-8, 3), t=(55, 65)),
        st("extensor tendon", L.TENDON, tube([(-40, 60, 2.6), (0, 60, 2.4), (70, 60, 2.2)], 4.0, 0.6)),
    ]
    return items


def thumb_mcp(variant: str | None) -> Items:
    """The ulnar side of the thumb's MCP joint in coronal long axis (s along the thumb, the joint line
    at s = 0; t across it, 0 = the ulnar midline): the ulnar collateral ligament (UCL) from the
    metacarpal head to the base of the proximal phalanx, bridging the joint recess, under the thin
    adductor aponeurosis, which reaches the extensor hood over the proximal phalanx.

    Sizes typical adult [DK]: UCL ~14 mm long, ~7 mm wide, ~1.5 mm thick; aponeurosis ~0.5 mm;
    skin and fat ~2 mm over the joint. Stener lesion [DK]: the UCL torn from the phalanx and retracted
    proximally, its rounded stump superficial and proximal to the aponeurosis' edge ("yo-yo on a
    string"), the empty insertion filled by haematoma.
    """
    stener = variant == "stener_lesion"
    # Metacarpal head (its cartilage over it) and the base of the proximal phalanx, both rounded
    # across (short axis) with their crest under the ligament.
    head = rounded_across(along_s([(-30, 5.4), (-8, 5.0), (-3, 5.4), (-0.8, 7.2)]), 0.0, 10.0)
    base = rounded_across(along_s([(0.8, 7.0), (2.5, 5.4), (8, 5.0), (30, 5.3)]), 0.0, 10.0)
    items = skin_and_fat(2.0, skin_mm=1.0, deep="adductor pollicis muscle / soft tissue")
    items += [
        layer("first MCP joint recess", L.FAT, 4.6, 8.0, s=(-4, 4), t=(-6, 6)),
        layer("first metacarpal head", L.BONE, head, INF, s=(-INF, -0.8), t=(-10, 10)),
        layer("proximal phalanx of the thumb", L.BONE, base, INF, s=(0.8, INF), t=(-10, 10)),
        # In the joint's coronal section the cleft closes a few mm down (the head curves under).
        layer("first metacarpal head", L.BONE, 8.5, INF, s=(-0.8, 0.8), t=(-10, 10)),
        layer(
            "first metacarpal head cartilage",
            L.CARTILAGE,
            offset(head, -0.5),
            head,
            s=(-8, -0.8),
            t=(-8, 8),
        ),
    ]
    if stener:
        items += [
            st(
                "haematoma at the empty UCL insertion",
                L.HEMATOMA,
                Ellipsoid((3.0, 0.0, 4.0), (5.0, 3.0, 1.0)),
            ),
            layer("adductor aponeurosis", L.FASCIA, 2.3, 2.8, s=(-4, 26), t=(-9, 9)),
            # The stump is folded back on itself: ligament whose fibres no longer lie along the
            # thumb, so it images as a heterogeneous, mostly hypoechoic knot (anisotropy).
            st(
                "retracted ulnar collateral ligament of the thumb (Stener lesion)",
                L.LIGAMENT,
                Ellipsoid((-9.0, 0.0, 3.1), (4.0, 3.5, 1.4)),
                fibre_dir=(0.5, 0.0, 0.87),
            ),
        ]
    else:
        items += [
            st(
                "ulnar collateral ligament of the thumb (UCL)",
                L.LIGAMENT,
                tube([(-8, 0, 4.0), (0, 0, 4.2), (7, 0, 4.0)], 3.5, 0.9),
            ),
            layer("adductor aponeurosis", L.FASCIA, 2.3, 2.8, s=(-12, 26), t=(-9, 9)),
        ]
    return rounded(items, {"adductor aponeurosis": 3.0, "first MCP joint recess": 2.0})


SCENES = {
    "finger": SceneSpec(
        "Finger: flexor tendons and pulleys, MCP and PIP joints",
        finger,
        {
            "flexor tendons long axis": P(22.0, 0.0),
            "A2 pulley short axis": P(16.0, 0.0, 90.0),
            "MCP joint palmar long axis": P(-2.0, 0.0),
            "PIP joint palmar long axis": P(46.0, 0.0),
            "MCP joint dorsal long axis": P(0.0, 60.0),
        },
        15.0,
        {},
        {},
        (
            "clinical.md 1.3 (ESSR III: flexor tendons, joints; ≥ 12 MHz)",
            "clinical.md 3.1 (tendon fibrillar, hyaline cartilage anechoic, fibrocartilage hyperechoic)",
            "clinical.md 3.3 (fingers 1.5-2.5 cm depth, hockey-stick linear probe)",
        ),
    ),
    "thumb_mcp": SceneSpec(
        "Thumb MCP joint: ulnar collateral ligament under the adductor aponeurosis",
        thumb_mcp,
        {
            "thumb UCL coronal long axis": P(0.0, 0.0),
            "thumb UCL short axis": P(-3.0, 0.0, 90.0),
        },
        15.0,
        variants("stener_lesion"),
        {"stener_lesion": "thumb UCL coronal long axis"},
        (
            "clinical.md 1.3 (ESSR III wrist/hand; thumb UCL from issue 17 item 2) [DK]",
            "clinical.md 3.1 (ligament compact fibrillar, hyaline cartilage anechoic, fascia hyperechoic)",
            "clinical.md 3.3 (fingers 1.5-2.5 cm depth, hockey-stick linear probe)",
        ),
    ),
}
