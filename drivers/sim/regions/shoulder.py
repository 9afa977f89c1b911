"""Shoulder: supraspinatus over the humeral head, SASD bursa, long head of biceps, subscapularis."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, offset, skin_and_fat, st
from drivers.sim.shapes import INF, along_s, constant, groove, tube


def shoulder(variant: str | None) -> Items:
    head = along_s([(-45, 26.0), (-30, 20.0), (-15, 17.5), (0, 17.0), (8, 17.5), (15, 20.0), (40, 22.0)])
    lat = (15.0, 80.0)
    items = skin_and_fat(3.5, deep="deltoid muscle")
    items += [
        layer(
            "subacromial-subdeltoid bursa",
            L.FLUID,
            offset(head, -7.2),
            offset(head, -6.6),
            s=(-40, 15),
            t=lat,
        ),
        layer("supraspinatus tendon", L.TENDON, offset(head, -6.6), offset(head, -1.3), s=(-45, 8), t=lat),
        layer("humeral head cartilage", L.CARTILAGE, offset(head, -1.3), head, s=(-45, 0), t=lat),
        layer("humeral head / greater tuberosity", L.BONE, head, INF, t=lat),
    ]
    ant = (-40.0, 15.0)
    humerus = groove(constant(16.0), 0.0, 4.0, 4.0)
    items += [
        layer("subscapularis tendon", L.TENDON, 10.0, 14.5, s=(-30, 30), t=(-40, -7)),
        layer("humerus (bicipital groove)", L.BONE, humerus, INF, t=ant),
        st("long head of biceps tendon", L.TENDON, tube([(-40, 0, 17.4), (40, 0, 17.8)], 3.0, 2.2)),
        layer("transverse humeral ligament", L.LIGAMENT, 14.6, 15.2, s=(-40, 40), t=(-4, 4)),
    ]
    return items


SCENES = {
    "shoulder": SceneSpec(
        "Shoulder: supraspinatus, SASD bursa, long head of biceps",
        shoulder,
        {
            "supraspinatus long axis": P(-12.0, 45.0),
            "long head of biceps short axis": P(0.0, 0.0, 90.0),
            "subscapularis": P(0.0, -20.0, 90.0),
        },
        30.0,
        {},
    ),
}
