"""Wrist and hand: the carpal tunnel (palmar) and the dorsal extensor compartments."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, skin_and_fat, st
from drivers.sim.shapes import INF, constant, groove, tube


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
    dorsal = (40.0, 100.0)
    radius = groove(constant(6.0), 57.0, 1.6, -2.4)
    items += [
        layer("distal radius (dorsal, Lister tubercle)", L.BONE, radius, INF, t=dorsal),
        layer("extensor retinaculum", L.LIGAMENT, 1.8, 2.2, s=(-25, 10), t=(45, 95), fibre=(0.0, 1.0, 0.0)),
    ]
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
    return items


SCENES = {
    "wrist": SceneSpec(
        "Wrist: carpal tunnel and dorsal extensor compartments",
        wrist,
        {
            "carpal tunnel short axis": P(5.0, 0.0, 90.0),
            "median nerve long axis": P(0.0, -1.0),
            "dorsal compartments short axis": P(-15.0, 66.0, 90.0),
        },
        20.0,
        {},
    ),
}
