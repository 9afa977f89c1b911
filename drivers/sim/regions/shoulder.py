"""Shoulder: supraspinatus over the humeral head, SASD bursa, long head of biceps, subscapularis."""

from __future__ import annotations

from dataclasses import replace

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, offset, rounded, skin_and_fat, st
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Ellipsoid, across_t, along_s, constant, groove, rounded_across, tube


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
        # Its fibres follow the head's curve down to the footprint (anisotropy where they turn).
        replace(
            layer(
                "supraspinatus tendon", L.TENDON, offset(head, -6.6), offset(head, -1.3), s=(-45, 8), t=lat
            ),
            fibres_follow_shape=True,
        ),
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
        # Under the acromion (s < -42) the supraspinatus muscle and the bursa run medially.
        layer(
            "acromion",
            L.BONE,
            along_s([(-90, 4.5), (-50, 5.0), (-44, 6.5), (-42, 9.0)]),
            INF,
            s=(-INF, -42),
            t=lat,
        ),
        layer("supraspinatus muscle", L.MUSCLE, offset(head, -9.0), offset(head, -1.3), s=(-INF, -45), t=lat),
    ]
    items += _posterior() + _superior()
    if variant == "calcific_tendinitis":
        # A hard deposit in the supraspinatus about 1 cm from its footprint, where barbotage aims
        # (calcific_barbotage.yaml: target): an oval of a few mm, bright with a shadow [DK].
        items.append(st("calcific deposit", L.CALCIFICATION, Ellipsoid((-10.0, 45.0, 13.6), (4.0, 3.0, 1.4))))
    return rounded(
        items,
        {
            "subacromial-subdeltoid bursa": 5.0,
            "subscapularis tendon": 5.0,
            "transverse humeral ligament": 2.0,
            "acromioclavicular capsule": 3.0,
            "coracoacromial ligament": 3.0,
            "infraspinatus muscle": 5.0,
            "teres minor muscle": 5.0,
        },
    )


def _posterior() -> Items:
    """Posterior (t 95..200), hand on the opposite shoulder; s runs cranio-caudal, so the transverse
    plane (rotation 90) lies along the infraspinatus and teres minor: their tendons over the humeral
    head, the posterior labrum on the glenoid rim, the posterior recess, and medially the spinoglenoid
    notch (clinical.md 1.1 step 5)."""
    head = rounded_across(constant(22.0), 122.0, 26.0)
    fibres = (0.0, 1.0, 0.0)
    return [
        layer("humeral head (posterior)", L.BONE, head, INF, t=(95, 146)),
        layer(
            "posterior humeral head cartilage",
            L.CARTILAGE,
            offset(head, -1.2),
            head,
            s=(-20, 30),
            t=(128, 146),
        ),
        layer(
            "glenoid (posterior)",
            L.BONE,
            across_t([(146, 32.0), (150, 27.0), (175, 28.0), (200, 29.0)]),
            INF,
            t=(146, 200),
        ),
        st("posterior labrum", L.FIBROCARTILAGE, Ellipsoid((5.0, 149.0, 24.5), (25.0, 3.6, 2.6))),
        st("posterior recess", L.FLUID, Ellipsoid((5.0, 143.0, 24.3), (18.0, 3.0, 0.8))),
        layer(
            "infraspinatus tendon",
            L.TENDON,
            offset(head, -5.5),
            offset(head, -1.2),
            s=(-14, 12),
            t=(98, 150),
            fibre=fibres,
        ),
        layer("infraspinatus muscle", L.MUSCLE, 9.0, 21.0, s=(-14, 12), t=(150, 200), fibre=fibres),
        layer(
            "teres minor tendon",
            L.TENDON,
            offset(head, -4.5),
            offset(head, -1.2),
            s=(16, 36),
            t=(100, 148),
            fibre=fibres,
        ),
        layer("teres minor muscle", L.MUSCLE, 9.0, 20.0, s=(16, 36), t=(148, 200), fibre=fibres),
        layer(
            "scapular neck (spinoglenoid notch)",
            L.BONE,
            groove(constant(28.5), 184.0, 3.5, 5.0),
            INF,
            s=(-30, 12),
            t=(175, 200),
        ),
        st(
            "spinoglenoid notch (suprascapular vessels)",
            L.FAT,
            Ellipsoid((0.0, 184.0, 30.5), (12.0, 2.8, 2.2)),
        ),
    ]


def _superior() -> Items:
    """Superior (t -140..-60), neutral, probe coronal: the acromioclavicular joint (clavicle, capsule,
    joint space) and, further lateral-anterior, the coracoacromial ligament from the acromion to the
    coracoid (clinical.md 1.1 step 6)."""
    band = (-140.0, -60.0)
    return [
        layer(
            "clavicle",
            L.BONE,
            along_s([(-60, 4.5), (-5, 4.2), (-2, 6.0), (-1, 9.0)]),
            INF,
            s=(-INF, -1),
            t=band,
        ),
        layer(
            "acromion",
            L.BONE,
            along_s([(1, 9.0), (2, 6.2), (6, 5.0), (34, 5.5), (38, 8.0)]),
            INF,
            s=(1, 38),
            t=band,
        ),
        st(
            "acromioclavicular joint (ACJ)", L.FIBROCARTILAGE, Ellipsoid((0.0, -100.0, 6.5), (1.4, 30.0, 2.4))
        ),
        layer("acromioclavicular capsule", L.LIGAMENT, 3.0, 3.8, s=(-7, 8), t=band),
        # The joint is a V: the clavicle and acromion meet below its narrow upper cleft.
        layer("clavicle", L.BONE, 10.0, INF, s=(-1, 1), t=band),
        layer(
            "coracoid process",
            L.BONE,
            along_s([(58, 16.0), (62, 12.0), (80, 12.5)]),
            INF,
            s=(58, INF),
            t=band,
        ),
        layer(
            "coracoacromial ligament",
            L.LIGAMENT,
            along_s([(36, 6.0), (62, 10.5)]),
            along_s([(36, 7.6), (62, 12.0)]),
            s=(36, 62),
            t=(-125, -75),
        ),
        layer("supraspinatus muscle", L.MUSCLE, 10.0, 22.0, s=(-60, -12), t=(-140, -118)),
    ]


SCENES = {
    "shoulder": SceneSpec(
        "Shoulder: biceps, subscapularis, supraspinatus, impingement, posterior cuff, ACJ",
        shoulder,
        {
            "supraspinatus long axis": P(-12.0, 45.0),
            "long head of biceps short axis": P(0.0, 0.0, 90.0),
            "subscapularis": P(0.0, -20.0, 90.0),
            "subacromial impingement coronal": P(-40.0, 45.0),
            "infraspinatus long axis": P(0.0, 120.0, 90.0),
            "posterior glenohumeral joint transverse": P(5.0, 150.0, 90.0),
            "teres minor long axis": P(26.0, 120.0, 90.0),
            "spinoglenoid notch transverse": P(-5.0, 182.0, 90.0),
            "acromioclavicular joint coronal": P(0.0, -100.0),
            "coracoacromial ligament long axis": P(48.0, -100.0),
        },
        30.0,
        variants("calcific_tendinitis"),
        {"calcific_tendinitis": "supraspinatus long axis"},
        (
            "clinical.md 1.1 (ESSR I shoulder: six mandatory items, posterior recess, CA ligament)",
            "clinical.md 3.3 (shoulder cuff 3-4 cm depth)",
        ),
    ),
}
