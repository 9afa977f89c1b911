"""Wrist and hand: the carpal tunnel (palmar) and the dorsal extensor compartments."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, rounded, skin_and_fat, st, vein
from drivers.sim.shapes import INF, DepthFn, Ellipsoid, along_s, constant, groove, rounded_across, tube


def wrist(variant: str | None) -> Items:
    items = skin_and_fat(2.0, skin_mm=1.2, deep="pronator quadratus / thenar muscle")
    palm = (-30.0, 30.0)
    items += [
        layer("carpal bones (scaphoid, lunate, capitate)", L.BONE, 12.0, INF, s=(-10, 40), t=palm),
        layer("distal radius", L.BONE, 11.0, INF, s=(-INF, -10), t=palm),
        st("median nerve", L.NERVE, tube([(-60, -1, 3.9), (40, -1, 3.9)], 3.0, 1.2)),
        layer("flexor retinaculum", L.LIGAMENT, 2.0, 2.6, s=(-10, 25), t=(-12, 12), fibre=(0.0, 1.0, 0.0)),
        st("flexor carpi radialis tendon", L.TENDON, tube([(-60, -11, 4.5), (40, -11, 4.5)], 1.6, 1.4)),
        st("flexor pollicis longus tendon", L.TENDON, tube([(-60, -6, 7.5), (40, -6, 7.5)], 1.5, 1.3)),
    ]
    for k, t0 in enumerate((-2.0, 2.0, 6.0, 9.5)):
        items.append(
            st(
                "flexor digitorum superficialis tendons",
                L.TENDON,
                tube([(-60, t0, 6.5 + 0.3 * k), (40, t0, 6.5)], 1.6, 1.3),
            )
        )
        items.append(
            st(
                "flexor digitorum profundus tendons",
                L.TENDON,
                tube([(-60, t0, 9.6), (40, t0, 9.8)], 1.6, 1.3),
            )
        )
    radius = groove(constant(6.0), 57.0, 1.6, -2.4)
    # The radius ends at the radiocarpal joint (s = 0); the ulna carries the ECU groove (t > 84).
    radius_end = along_s([(-40, 0.0), (-3, 0.0), (-0.8, 3.5)])
    items += [
        layer(
            "distal radius (dorsal, Lister tubercle)",
            L.BONE,
            _plus(radius, radius_end),
            INF,
            s=(-INF, -0.8),
            t=(40, 84),
        ),
        layer(
            "radial styloid", L.BONE, rounded_across(constant(6.5), 38.0, 7.0), INF, s=(-INF, -2), t=(31, 40)
        ),
        layer(
            "distal ulna (ECU groove)",
            L.BONE,
            groove(constant(6.2), 88.0, 2.0, 1.6),
            INF,
            s=(-INF, -2),
            t=(84, 100),
        ),
        layer("extensor retinaculum", L.LIGAMENT, 1.8, 2.2, s=(-25, 10), t=(34, 95), fibre=(0.0, 1.0, 0.0)),
        st("APL tendon (compartment I)", L.TENDON, tube([(-60, 37.0, 3.4), (40, 36.0, 3.2)], 1.7, 1.1)),
        st("EPB tendon (compartment I)", L.TENDON, tube([(-60, 40.6, 3.3), (40, 41.0, 3.1)], 1.2, 0.9)),
        *vein("cephalic vein", tube([(-60, 33.5, 2.0), (40, 36.0, 2.0)], 0.9, 0.9)),
    ]
    items += _dorsal_carpus() + _guyon()
    for name, t0 in (
        ("ECRL tendon (compartment II)", 50.0),
        ("ECRB tendon (compartment II)", 53.8),
        ("EPL tendon (compartment III)", 60.0),
        ("EDC tendons (compartment IV)", 66.0),
        ("EDC tendons (compartment IV)", 69.5),
        ("EDC tendons (compartment IV)", 73.0),
        ("EDM tendon (compartment V)", 80.0),
        ("ECU tendon (compartment VI)", 88.0),
    ):
        items.append(st(name, L.TENDON, tube([(-60, t0, 3.5), (40, t0, 3.3)], 1.5, 1.1)))
    return rounded(
        items,
        {
            "flexor retinaculum": 3.0,
            "extensor retinaculum": 3.0,
            "dorsal radiocarpal ligament": 3.0,
            "Guyon canal": 2.0,
            "volar carpal ligament": 2.0,
        },
    )


def _plus(a: DepthFn, b: DepthFn) -> DepthFn:
    return lambda s, t: a(s, t) + b(s, t)


def _dorsal_carpus() -> Items:
    """Dorsal joints (clinical.md 1.3): the radiocarpal joint (radius to lunate and scaphoid), the
    midcarpal joint (lunate to capitate), the CMC joint, the dorsal radiocarpal ligament over the
    first, the dorsal scapholunate ligament bridging scaphoid and lunate, the radial artery in the
    snuffbox, the TFCC on the ulnar side [DK]."""
    lunate = along_s([(1.0, 9.0), (3.0, 7.2), (13.0, 7.0), (15.5, 8.8)])
    capitate = along_s([(16.5, 9.0), (18.5, 7.4), (33.0, 7.2), (35.5, 9.0)])
    metacarpal = along_s([(36.5, 9.0), (38.5, 7.3), (70.0, 7.0)])
    return [
        layer(
            "scaphoid",
            L.BONE,
            _plus(lunate, rounded_across(constant(0.0), 52.0, 7.0)),
            INF,
            s=(1, 15.5),
            t=(45, 58.5),
        ),
        layer(
            "lunate",
            L.BONE,
            _plus(lunate, rounded_across(constant(0.0), 66.0, 8.0)),
            INF,
            s=(1, 15.5),
            t=(59.5, 76),
        ),
        layer("capitate", L.BONE, capitate, INF, s=(16.5, 35.5), t=(48, 80)),
        layer("third metacarpal base", L.BONE, metacarpal, INF, s=(36.5, INF), t=(48, 80)),
        layer("dorsal radiocarpal ligament", L.LIGAMENT, 4.8, 5.8, s=(-4, 12), t=(54, 80)),
        layer(
            "dorsal scapholunate ligament",
            L.LIGAMENT,
            6.2,
            7.4,
            s=(3, 13),
            t=(57.5, 60.5),
            fibre=(0.0, 1.0, 0.0),
        ),
        layer("radiocarpal joint capsule", L.LIGAMENT, 5.8, 6.3, s=(-3, 2), t=(45, 80)),
        *artery("radial artery", tube([(1, 45.0, 6.5), (30, 47.0, 6.0)], 1.1, 1.1)),
        st("TFCC", L.FIBROCARTILAGE, Ellipsoid((3.0, 95.0, 7.0), (5.0, 5.0, 1.6))),
    ]


def _guyon() -> Items:
    """Guyon canal (clinical.md 1.3): radial to the pisiform, under the volar carpal ligament, the ulnar
    artery radial to the ulnar nerve."""
    return [
        layer("Guyon canal", L.FAT, 2.4, 6.0, s=(-2, 16), t=(19.5, 27)),
        layer("volar carpal ligament", L.LIGAMENT, 1.9, 2.4, s=(-2, 16), t=(18, 29), fibre=(0.0, 1.0, 0.0)),
        layer("pisiform", L.BONE, rounded_across(constant(4.5), 29.0, 4.0), INF, s=(0, 12), t=(26, 33)),
        *artery("ulnar artery", tube([(-60, 21.0, 3.8), (40, 21.0, 3.6)], 1.0, 1.0)),
        st("ulnar nerve", L.NERVE, tube([(-60, 24.3, 4.0), (40, 24.5, 3.8)], 1.4, 1.0)),
    ]


SCENES = {
    "wrist": SceneSpec(
        "Wrist: carpal tunnel, Guyon canal, extensor compartments I-VI, dorsal joints",
        wrist,
        {
            "carpal tunnel short axis": P(5.0, 0.0, 90.0),
            "median nerve long axis": P(0.0, -1.0),
            "dorsal compartments short axis": P(-15.0, 66.0, 90.0),
            "first extensor compartment short axis": P(-15.0, 39.0, 90.0),
            "first extensor compartment long axis": P(-15.0, 37.0),
            "sixth extensor compartment short axis": P(-15.0, 90.0, 90.0),
            "dorsal radiocarpal long axis": P(12.0, 66.0),
            "scapholunate short axis": P(8.0, 60.0, 90.0),
            "Guyon canal short axis": P(6.0, 24.0, 90.0),
        },
        20.0,
        {},
        {},
        (
            "clinical.md 1.3 (ESSR III wrist: dorsal compartments I-VI, dorsal joints, carpal tunnel, Guyon)",
            "clinical.md 3.3 (wrist 1.5-2.5 cm depth, >= 12 MHz)",
        ),
    ),
}
