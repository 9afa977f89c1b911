"""Upper-extremity veins for DVT: internal jugular, subclavian, axillary, brachial, basilic, cephalic.

One unrolled path from the neck to the elbow: s runs from the lower neck (s < -40) under the clavicle
(s -40..0, infraclavicular) through the axilla (s 0..80) down the medial arm (s 80..250); t = 0 is
the deep vessel line, positive t medial, negative lateral. Every deep vein runs beside its artery
(walls apart, so a compressed vein never borrows the artery's space); the basilic vein lies medial
and superficial, the cephalic lateral and superficial. Compression behaves as in the leg (clinical.md
3.1: veins compressible, arteries not); the subclavian segment behind the clavicle cannot be reached
by the probe, so the scene begins it infraclavicularly [DK: the retroclavicular segment is judged by
Doppler]. Neck and arm veins narrow on inspiration (vessel_motion). Sizes are typical adult values
[DK]: IJV ~10-12 mm, CCA ~7 mm, axillary vein ~8-9 mm, brachial veins ~3-4 mm paired.
"""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, artery, layer, skin_and_fat, st, vein
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, along_s, rounded_across, tube

NECK_AND_ARM = -1.0  # calibre narrows on inspiration


def arm_veins(variant: str | None) -> Items:
    clot = variant == "thrombosed_vein"
    fat = along_s([(-120, 3.0), (-40, 4.0), (0, 8.0), (80, 6.0), (250, 4.0)])
    items = skin_and_fat(5.0, deep="arm and chest wall muscle")
    items[2] = layer("subcutaneous fat", L.FAT, 1.5, fat)  # thicker over the axilla
    items += [
        # Directly under the fat (a fixed 4 mm top left a gap of gel, a black line across the neck).
        layer("sternocleidomastoid muscle", L.MUSCLE, fat, 11.0, s=(-130, -45), t=(-20, 25)),
        layer(
            "clavicle", L.BONE, along_s([(-46, 9.0), (-42, 7.0), (-38, 8.0)]), INF, s=(-46, -36), t=(-40, 40)
        ),
        layer("pectoralis major muscle", L.MUSCLE, fat, 14.0, s=(-36, 60), t=(-40, 40)),
        layer("pectoralis minor muscle", L.MUSCLE, 14.5, 19.0, s=(-10, 45), t=(-30, 30)),
        layer("biceps brachii muscle", L.MUSCLE, 4.0, 16.0, s=(90, INF), t=(-30, 0)),
        layer(
            "humerus",
            L.BONE,
            rounded_across(along_s([(80, 30.0), (250, 27.0)]), -8.0, 12.0),
            INF,
            s=(80, INF),
            t=(-25, 5),
        ),
        # Neck: the IJV lies lateral and superficial to the common carotid artery.
        *artery("common carotid artery", tube([(-130, -6, 19.0), (-50, -6, 21.0)], 3.5, 3.5)),
        *vein(
            "internal jugular vein",
            tube([(-130, 6.5, 16.0), (-50, 6.5, 17.0)], 5.5, 5.5),
            inspiration=NECK_AND_ARM,
        ),
        st("vagus nerve", L.NERVE, tube([(-130, 0.5, 23.0), (-50, 0.5, 24.0)], 1.2, 1.0)),
        # Infraclavicular and axillary segments: vein medial (and a little superficial) to the artery.
        *artery(
            "subclavian / axillary artery",
            tube([(-36, -5, 24.0), (0, -5, 24.0), (60, -6, 22.0), (90, -4, 16.0)], 3.3, 3.3),
        ),
        *vein(
            "subclavian vein",
            tube([(-36, 7, 21.0), (0, 7, 21.5)], 5.0, 5.0),
            clot,
            inspiration=NECK_AND_ARM,
        ),
        *vein(
            "axillary vein",
            tube([(0, 7, 21.5), (60, 7, 19.5), (90, 6, 14.0)], 4.8, 4.8),
            clot,
            inspiration=NECK_AND_ARM,
        ),
        st("brachial plexus cords", L.NERVE, tube([(-36, -12.5, 23.0), (90, -12, 17.0)], 2.2, 1.5)),
        # Arm: paired brachial veins either side of the brachial artery, the median nerve beside them.
        *artery("brachial artery", tube([(90, -4, 16.0), (120, 0, 12.0), (250, 0, 11.0)], 2.2, 2.2)),
        *vein("brachial veins", tube([(90, 6, 14.0), (120, 6.5, 12.5), (250, 6.5, 11.5)], 1.8, 1.8), clot),
        *vein("brachial veins", tube([(110, -6.5, 12.5), (250, -6.5, 11.5)], 1.8, 1.8), clot),
        st("median nerve", L.NERVE, tube([(90, -12, 14.0), (250, -12, 11.0)], 2.0, 1.4)),
        # Superficial veins: the basilic pierces the deep fascia in the mid arm, the cephalic stays lateral.
        *vein("basilic vein", tube([(90, 22, 12.0), (150, 20, 7.0), (250, 20, 4.5)], 2.6, 2.6)),
        *vein("cephalic vein", tube([(-10, -30, 9.0), (90, -26, 4.5), (250, -26, 3.8)], 2.0, 2.0)),
    ]
    return items


SCENES = {
    "arm_veins": SceneSpec(
        "Upper-extremity veins (DVT): internal jugular, subclavian, axillary, brachial, basilic, cephalic",
        arm_veins,
        {
            "internal jugular vein short axis": P(-90.0, 0.0, 90.0),
            "internal jugular vein long axis": P(-90.0, 5.0),
            "subclavian vein short axis": P(-22.0, 0.0, 90.0),
            "axillary vein short axis": P(40.0, 0.0, 90.0),
            "axillary vein long axis": P(40.0, 5.0),
            "brachial veins short axis": P(170.0, 0.0, 90.0),
            "basilic vein short axis": P(170.0, 20.0, 90.0),
            "cephalic vein short axis": P(170.0, -26.0, 90.0),
        },
        40.0,
        variants("thrombosed_vein"),
        {"thrombosed_vein": "axillary vein short axis"},
        (
            "clinical.md 3.1 (veins anechoic and fully compressible, arteries thick-walled and not)",
            "clinical.md 2.2 (compression technique, 2-cm intervals, transverse with and without pressure)",
            "[DK] upper-extremity venous anatomy and sizes; retroclavicular subclavian judged by Doppler",
        ),
    ),
}
