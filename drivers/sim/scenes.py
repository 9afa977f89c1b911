"""The catalogue of virtual patients: QA phantom, six joints, the DVT path, and pathology variants.

Coordinates are patient millimetres on the unrolled skin of the limb: s along the limb (proximal to
distal), t across it (0 = the scene's main aspect, e.g. anterior), d below the skin. Sizes follow
reference/clinical.md §3.2 where it gives them (skin 1-2 mm, patellar tendon 5 mm, Achilles 5-6 mm,
cartilage 2-3 mm, femoral cortex 2-4 cm deep suprapatellar, popliteal vessels 2-4 cm deep); the rest
are typical adult values [engineering approximation].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drivers.sim.anatomy import Scene, Structure, VesselKind
from drivers.sim.pose import ProbePose
from drivers.sim.shapes import (
    INF,
    CrossTube,
    DepthFn,
    Ellipsoid,
    Shape,
    Slab,
    Tube,
    along_s,
    constant,
    groove,
    tube,
)
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
) -> Structure:
    top_fn = constant(top) if isinstance(top, int | float) else top
    bottom_fn = constant(bottom) if isinstance(bottom, int | float) else bottom
    # Constant surfaces give tight depth bounds, so the painter can skip rows outside them.
    d_range = (
        (float(top), float(bottom))
        if isinstance(top, int | float) and isinstance(bottom, int | float)
        else (0.0, INF)
    )
    return Structure(name, label, Slab(top_fn, bottom_fn, s, t, d_range), fibre_dir=fibre)


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


def vein(name: str, lumen: Tube, thrombosed: bool = False) -> Items:
    return vessel(name, lumen, VesselKind.THROMBOSED_VEIN if thrombosed else VesselKind.VEIN)


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


# -- the QA phantom -----------------------------------------------------------------------------

PHANTOM_CYSTS = (
    (-9.0, 12.0, 2.0),
    (-2.0, 12.0, 4.0),
    (8.0, 12.0, 6.0),
    (-6.0, 25.0, 6.0),
    (7.0, 25.0, 8.0),
    (0.0, 38.0, 6.0),
    (11.0, 38.0, 3.0),
)  # (s, depth, diameter) mm
PHANTOM_WIRES = tuple((-15.0, float(d)) for d in range(5, 50, 5)) + tuple(
    (float(s), 32.0) for s in (-10, -5, 0, 5, 10)
)


def qa_phantom(variant: str | None) -> Items:
    items = [layer("tissue-mimicking background", L.PHANTOM, 0.0, INF)]
    for s, d, dia in PHANTOM_CYSTS:
        items.append(st(f"anechoic cyst {dia:g} mm at {d:g} mm", L.FLUID, CrossTube(s, d, dia / 2.0)))
    for s, d in PHANTOM_WIRES:
        items.append(st(f"wire target s={s:g} d={d:g} mm", L.WIRE, CrossTube(s, d, 0.05), point_target=True))
    return items


# -- joints ---------------------------------------------------------------------------------------


def knee(variant: str | None) -> Items:
    femur = along_s([(-150, 24.0), (-20, 24.0), (10, 28.0), (40, 38.0)])
    items = skin_and_fat(5.0, deep="vastus medialis / lateralis muscle")
    ant = (-30.0, 30.0)
    items += [
        # Flat ovals in short axis: quadriceps tendon ~7 mm thick (clinical.md: 6-8 mm).
        st(
            "quadriceps tendon",
            L.TENDON,
            tube([(-75, 0, 8.3), (-40, 0, 8.6), (3, 0, 8.6)], 14.0, [2.8, 3.4, 3.4]),
        ),
        layer("suprapatellar (quadriceps) fat pad", L.FAT, 12.0, 16.0, s=(-50, 0), t=(-20, 20)),
        layer("prefemoral fat pad", L.FAT, 16.8, femur, s=(-65, 5), t=(-22, 22)),
        layer("vastus intermedius muscle", L.MUSCLE, 16.8, femur, s=(-150, -65), t=ant),
        layer("femur", L.BONE, femur, INF, t=ant),
        layer("femoral trochlear cartilage", L.CARTILAGE, offset(femur, -2.5), femur, s=(-25, 40), t=ant),
    ]
    if variant == "effusion":
        recess_bottom = along_s([(-62, 16.8), (-50, 22.0), (-15, 24.5), (-2, 21.0), (3, 16.8)])
        items.append(
            layer("suprapatellar recess (effusion)", L.FLUID, 16.0, recess_bottom, s=(-62, 3), t=(-20, 20))
        )
    else:
        items.append(layer("suprapatellar recess", L.FLUID, 16.0, 16.8, s=(-45, -2), t=(-18, 18)))
    if variant == "gout_double_contour":
        items.append(
            layer(
                "urate on cartilage (double contour)",
                L.URATE,
                offset(femur, -2.9),
                offset(femur, -2.4),
                s=(-20, 35),
                t=(-16, 16),
            )
        )
    items += [
        layer(
            "patella",
            L.BONE,
            along_s([(-2, 9.0), (3, 5.6), (40, 5.6), (46, 9.0)]),
            INF,
            s=(-2, 46),
            t=(-22, 22),
        ),
        # Patellar tendon ~5 mm thick proximally (clinical.md §3.2), rising slightly to the tibial tuberosity.
        st(
            "patellar tendon",
            L.TENDON,
            tube([(44, 0, 8.0), (100, 0, 8.7)], 13.0, 2.5),
            fibre_dir=(1.0, 0.0, 0.013),
        ),
        layer(
            "infrapatellar (Hoffa) fat pad",
            L.FAT,
            11.2,
            along_s([(44, 16), (60, 25), (90, 22)]),
            s=(44, 95),
            t=(-25, 25),
        ),
        layer(
            "tibia",
            L.BONE,
            along_s([(80, 30.0), (95, 15.0), (100, 11.3), (150, 11.3)]),
            INF,
            s=(80, INF),
            t=ant,
        ),
    ]
    for side, t0, name in ((1.0, 30.0, "medial"), (-1.0, -30.0, "lateral")):
        tr = (t0, t0 + 60.0) if side > 0 else (t0 - 60.0, t0)
        tm = t0 + side * 27.0
        items += [
            layer(
                f"{name} femoral condyle",
                L.BONE,
                along_s([(-150, 12.0), (-8, 9.5), (-1, 11.0)]),
                INF,
                s=(-INF, -1),
                t=tr,
            ),
            layer(
                f"{name} tibial plateau",
                L.BONE,
                along_s([(1, 11.0), (6, 9.5), (150, 10.0)]),
                INF,
                s=(1, INF),
                t=tr,
            ),
            st(f"{name} meniscus", L.FIBROCARTILAGE, Ellipsoid((0.0, tm, 8.7), (6.0, 25.0, 2.6))),
        ]
    items += [
        layer("medial collateral ligament", L.LIGAMENT, 4.2, 6.6, s=(-35, 35), t=(42, 72)),
        st("pes anserinus tendons", L.TENDON, tube([(40, 50, 5.0), (95, 45, 5.5)], 6.0, 1.0)),
        layer("iliotibial band", L.LIGAMENT, 3.4, 5.4, s=(-70, 22), t=(-78, -42)),
    ]
    return items


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


def elbow(variant: str | None) -> Items:
    items = skin_and_fat(4.0, deep="brachialis muscle")
    ant = (-40.0, 30.0)
    humerus = along_s([(-80, 24.0), (0, 24.0), (20, 30.0)])
    items += [
        layer("biceps brachii muscle", L.MUSCLE, 4.0, 9.0, s=(-150, -20), t=(-15, 15)),
        st(
            "distal biceps tendon",
            L.TENDON,
            tube([(-60, 0, 7.0), (0, 0, 10.0), (40, 0, 20.0)], 3.0, 2.0),
            fibre_dir=(1.0, 0.0, 0.15),
        ),
        *artery("brachial artery", tube([(-80, 8, 12.0), (60, 8, 14.0)], 1.8, 1.8)),
        st("median nerve", L.NERVE, tube([(-80, 14, 12.0), (60, 14, 13.0)], 2.5, 1.5)),
        layer("distal humerus (trochlea, capitellum)", L.BONE, humerus, INF, t=ant),
        layer("humeral articular cartilage", L.CARTILAGE, offset(humerus, -1.5), humerus, s=(-15, 20), t=ant),
    ]
    lat = (30.0, 90.0)
    items += [
        layer(
            "common extensor tendon", L.TENDON, 3.5, along_s([(-5, 8.2), (40, 6.5)]), s=(-5, 45), t=(40, 80)
        ),
        layer(
            "lateral epicondyle",
            L.BONE,
            along_s([(-60, 9.0), (-5, 8.3), (0, 9.5), (5, 12.0)]),
            INF,
            s=(-INF, 6),
            t=lat,
        ),
        layer(
            "radial head",
            L.BONE,
            along_s([(8, 12.5), (12, 11.0), (26, 11.0), (30, 13.0)]),
            INF,
            s=(8, INF),
            t=lat,
        ),
        layer(
            "capitellar cartilage",
            L.CARTILAGE,
            along_s([(0, 8.4), (5, 10.5)]),
            along_s([(0, 9.5), (5, 12.0)]),
            s=(0, 6),
            t=lat,
        ),
    ]
    return items


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


def hip(variant: str | None) -> Items:
    bone = along_s(
        [
            (-60, 36.0),
            (-38, 38.0),
            (-34, 43.0),
            (-30, 41.0),
            (-20, 40.5),
            (-10, 42.0),
            (0, 46.0),
            (15, 49.0),
            (35, 49.0),
            (55, 44.0),
        ]
    )
    items = skin_and_fat(14.0, skin_mm=2.0, deep="sartorius / rectus femoris muscle")
    items += [
        layer("iliopsoas muscle", L.MUSCLE, 28.0, INF, t=(-5, 30)),
        st("iliopsoas tendon", L.TENDON, tube([(-60, 8, 34.0), (60, 8, 36.0)], 4.0, 1.8)),
        layer(
            "joint capsule / iliofemoral ligament",
            L.LIGAMENT,
            offset(bone, -4.5),
            offset(bone, -1.0),
            s=(-32, 40),
            t=(-30, 30),
        ),
        layer(
            "anterior synovial recess",
            L.FLUID,
            offset(bone, -1.0),
            offset(bone, -0.3),
            s=(-5, 40),
            t=(-25, 25),
        ),
        layer("femoral head and neck / acetabulum", L.BONE, bone, INF),
        layer("femoral head cartilage", L.CARTILAGE, offset(bone, -1.5), bone, s=(-31, -8), t=(-30, 30)),
        st("anterosuperior labrum", L.FIBROCARTILAGE, Ellipsoid((-34.0, 0.0, 40.0), (3.5, 30.0, 2.6))),
        *artery("common femoral artery", tube([(-60, 38, 22.0), (60, 38, 24.0)], 4.0, 4.0)),
        *vein("common femoral vein", tube([(-60, 49, 23.0), (60, 49, 25.0)], 5.5, 5.5)),
        st("femoral nerve", L.NERVE, tube([(-60, 27, 24.0), (60, 27, 25.0)], 4.0, 1.5)),
    ]
    return items


def ankle(variant: str | None) -> Items:
    items = skin_and_fat(3.0, deep="flexor hallucis longus / soleus muscle")
    post = (-30.0, 30.0)
    calcaneus = along_s([(-8, 25.0), (-3, 14.0), (0, 10.5), (8, 10.0), (30, 10.0)])
    # Flat-oval in short axis, 5.6 mm AP (clinical.md: 5-6 mm), inserting on the calcaneus at s = 0.
    achilles = tube([(-100, 0, 5.9), (-10, 0, 6.0), (5, 0, 7.0)], [7.0, 7.5, 8.5], [2.8, 2.8, 3.0])
    items += [
        layer("Kager fat pad", L.FAT, 8.8, 22.0, s=(-60, -2), t=(-15, 15)),
        layer("calcaneus", L.BONE, calcaneus, INF, s=(-8, INF), t=post),
        st("retrocalcaneal bursa", L.FLUID, Ellipsoid((-3.5, 0.0, 11.3), (2.5, 6.0, 1.0))),
        st("paratenon", L.FASCIA, achilles.grown(0.3)),
        st("Achilles tendon", L.TENDON, achilles),
    ]
    if variant == "achilles_tendinosis":
        # Fusiform, hypoechoic, with a convex deep margin (AP ~10 mm against a normal 5-6 mm).
        items.append(
            st(
                "Achilles tendinosis (fusiform, hypoechoic)",
                L.TENDINOSIS,
                tube([(-64, 0, 5.9), (-40, 0, 7.6), (-16, 0, 5.9)], [7.0, 8.5, 7.0], [2.7, 5.0, 2.7]),
            )
        )
    ant = (55.0, 120.0)
    tibia = along_s([(-150, 13.0), (-10, 14.0), (0, 19.0), (10, 21.0), (60, 21.0)])
    items += [
        layer("distal tibia / talus", L.BONE, tibia, INF, t=ant),
        layer("talar dome cartilage", L.CARTILAGE, offset(tibia, -1.5), tibia, s=(2, 40), t=ant),
        layer(
            "anterior recess of the tibiotalar joint",
            L.FLUID,
            along_s([(-3, 16.5), (6, 18.0)]),
            along_s([(-3, 17.1), (6, 18.8)]),
            s=(-3, 6),
            t=(60, 100),
        ),
        st("tibialis anterior tendon", L.TENDON, tube([(-60, 70, 4.5), (40, 70, 5.0)], 3.5, 2.0)),
        st("extensor hallucis longus tendon", L.TENDON, tube([(-60, 80, 6.0), (40, 80, 5.5)], 2.0, 1.5)),
        st("extensor digitorum longus tendon", L.TENDON, tube([(-60, 91, 6.0), (40, 91, 5.5)], 2.5, 1.5)),
        *artery("anterior tibial artery", tube([(-60, 84, 11.0), (40, 84, 11.5)], 1.0, 1.0)),
        st("deep peroneal nerve", L.NERVE, tube([(-60, 86.5, 11.0), (40, 86.5, 11.5)], 1.0, 0.8)),
    ]
    return items


# -- the DVT path -----------------------------------------------------------------------------------


def groin(variant: str | None) -> Items:
    clot = variant == "thrombosed_vein"
    items = skin_and_fat(12.0, skin_mm=1.8, deep="sartorius / adductor muscles")
    items += [
        layer("fascia lata", L.FASCIA, 12.0, 12.5),
        layer("femoral head / pubic bone", L.BONE, 40.0, INF, t=(-35, 25)),
        st("femoral nerve", L.NERVE, tube([(-40, -14, 20.0), (80, -14, 22.0)], 4.0, 1.4)),
        *artery("common femoral artery", tube([(-40, -2, 20.0), (40, -2, 21.5)], 3.8, 3.8)),
        *artery("superficial femoral artery", tube([(40, -2, 21.5), (150, 0, 24.0)], 3.2, 3.2)),
        *artery("deep femoral (profunda) artery", tube([(40, -4, 24.0), (150, -12, 36.0)], 2.5, 2.5)),
        *vein("common femoral vein", tube([(-40, 9, 22.0), (45, 9, 23.0)], 5.5, 5.5), clot),
        *vein("femoral vein", tube([(45, 8, 24.0), (150, 6, 28.0)], 4.5, 4.5), clot),
        *vein("deep femoral (profunda) vein", tube([(45, 3, 28.0), (150, -6, 38.0)], 3.2, 3.2)),
        *vein("great saphenous vein", tube([(14, 10, 15.5), (25, 16, 9.0), (150, 30, 6.0)], 2.5, 2.5)),
    ]
    if variant == "lymph_node":
        items += lymph_node((5.0, 27.0, 10.0), (16.0, 9.0, 6.5), hilum=0.25)
    else:
        items += lymph_node((5.0, 27.0, 7.0), (7.0, 4.0, 2.5), hilum=0.6)
    if variant == "abscess":
        items += abscess((8.0, -15.0, 7.5), (12.0, 8.0, 4.5))
    return items


def thigh(variant: str | None) -> Items:
    clot = variant == "thrombosed_vein"
    items = skin_and_fat(10.0, skin_mm=1.8, deep="vastus medialis / adductor muscles")
    items += [
        layer("sartorius muscle", L.MUSCLE, 10.0, 22.0, t=(-15, 25)),
        layer("fascia (sartorius sheath)", L.FASCIA, 21.6, 22.2, t=(-15, 25)),
        layer("femur", L.BONE, 42.0, INF, t=(-60, -8)),
        *artery("superficial femoral artery", tube([(-150, -1, 28.0), (150, 1, 31.0)], 3.2, 3.2)),
        *vein("femoral vein", tube([(-150, 3, 34.0), (150, 4, 37.0)], 4.5, 4.5), clot),
        *vein("great saphenous vein", tube([(-150, 30, 6.0), (150, 35, 6.0)], 2.0, 2.0)),
    ]
    if variant == "abscess":
        items += abscess((10.0, 15.0, 7.0), (12.0, 9.0, 4.0))
    return items


def popliteal(variant: str | None) -> Items:
    clot = variant == "thrombosed_vein"
    items = skin_and_fat(7.0, deep="hamstring / gastrocnemius muscle")
    items += [
        layer("popliteal fossa fat", L.FAT, 7.0, 32.0, t=(-12, 12)),
        layer("medial head of gastrocnemius", L.MUSCLE, 7.0, INF, s=(-20, INF), t=(12, 45)),
        layer("lateral head of gastrocnemius", L.MUSCLE, 7.0, INF, s=(-20, INF), t=(-45, -12)),
        st("semimembranosus tendon", L.TENDON, tube([(-80, 30, 10.0), (5, 28, 14.0)], 3.0, 2.5)),
        layer(
            "femoral condyles",
            L.BONE,
            along_s([(-80, 38.0), (-10, 36.0), (0, 38.0), (4, 41.0)]),
            INF,
            s=(-INF, 4),
        ),
        layer("tibia", L.BONE, along_s([(6, 41.0), (12, 39.0), (100, 40.0)]), INF, s=(6, INF)),
        st("tibial nerve", L.NERVE, tube([(-80, 5, 12.0), (60, 4, 13.0)], 2.5, 1.5)),
        *artery("popliteal artery", tube([(-80, -2, 25.0), (60, -1, 27.0)], 3.2, 3.2)),
        *vein("popliteal vein", tube([(-80, 2, 18.5), (60, 0, 20.0)], 4.5, 4.5), clot),
    ]
    if variant in ("bakers_cyst", "ruptured_bakers_cyst"):
        items += [
            st("Baker's cyst", L.FLUID, Ellipsoid((-5.0, 30.0, 16.0), (22.0, 10.0, 7.0))),
            st("Baker's cyst neck", L.FLUID, Ellipsoid((-3.0, 24.0, 26.0), (4.0, 2.5, 7.0))),
        ]
    if variant == "ruptured_bakers_cyst":
        items.append(
            layer(
                "fluid dissecting from ruptured Baker's cyst",
                L.FLUID,
                along_s([(10, 16.0), (90, 19.0)]),
                along_s([(10, 22.0), (50, 22.0), (90, 19.3)]),
                s=(10, 90),
                t=(15, 40),
            )
        )
    return items


def calf(variant: str | None) -> Items:
    clot = variant == "thrombosed_vein"
    gastroc = along_s([(40, 22.0), (150, 18.0), (190, 7.0)])
    items = skin_and_fat(6.0, deep="soleus muscle")
    items += [
        layer("medial gastrocnemius", L.MUSCLE, 6.0, gastroc, s=(-INF, 190), t=(0, 50)),
        layer("lateral gastrocnemius", L.MUSCLE, 6.0, gastroc, s=(-INF, 180), t=(-40, 0)),
        layer(
            "gastrocnemius-soleus aponeurosis",
            L.FASCIA,
            gastroc,
            offset(gastroc, 0.7),
            s=(-INF, 195),
            t=(-40, 50),
        ),
        layer("deep fascia (deep posterior compartment)", L.FASCIA, 35.0, 35.6, t=(-40, 40)),
        layer("tibia", L.BONE, 48.0, INF, t=(-5, 35)),
        layer("fibula", L.BONE, 46.0, INF, t=(-40, -24)),
        *vein("medial gastrocnemius vein", tube([(60, 20, 12.0), (180, 22, 11.0)], 2.0, 2.0), clot),
        *vein("soleal vein", tube([(60, 5, 28.0), (220, 6, 30.0)], 2.5, 2.5), clot),
        *vein("posterior tibial veins", tube([(60, -2, 40.0), (250, 0, 38.0)], 1.8, 1.8), clot),
        *vein("posterior tibial veins", tube([(60, 5, 40.0), (250, 7, 38.0)], 1.8, 1.8), clot),
        *artery("posterior tibial artery", tube([(60, 1.5, 40.5), (250, 3.5, 38.5)], 1.1, 1.1)),
        *vein("peroneal veins", tube([(60, -17, 43.0), (250, -15, 42.0)], 1.7, 1.7)),
        *vein("peroneal veins", tube([(60, -10, 43.0), (250, -8, 42.0)], 1.7, 1.7)),
        *artery("peroneal artery", tube([(60, -13.5, 43.5), (250, -11.5, 42.5)], 1.0, 1.0)),
    ]
    if variant == "gastrocnemius_tear":
        items += [
            st(
                "hematoma between medial gastrocnemius and soleus",
                L.HEMATOMA,
                tube([(105, 22, 18.5), (150, 22, 17.0), (188, 22, 8.0)], [6.0, 14.0, 6.0], [0.4, 3.2, 0.6]),
            ),
            st(
                "torn medial gastrocnemius myotendinous junction",
                L.HEMATOMA,
                Ellipsoid((165.0, 22.0, 12.0), (9.0, 12.0, 3.0), wobble=0.3),
            ),
        ]
    if variant == "ruptured_bakers_cyst":
        items.append(
            st(
                "fluid dissecting from ruptured Baker's cyst",
                L.FLUID,
                tube([(40, 24, 23.5), (110, 24, 20.5), (172, 24, 15.0)], [12.0, 14.0, 5.0], [2.5, 2.0, 0.3]),
            )
        )
    return items


# -- registry -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """How to build a scene, its views and the variants it supports."""

    title: str
    build: Callable[[str | None], Items]
    views: dict[str, ProbePose]
    depth_mm: float
    variants: dict[str, str]


# The view that best shows each pathology; switching a scene to a variant starts there.
VARIANT_VIEWS: dict[tuple[str, str], str] = {
    ("popliteal", "bakers_cyst"): "posteromedial short axis",
    ("popliteal", "ruptured_bakers_cyst"): "posteromedial short axis",
    ("calf", "gastrocnemius_tear"): "medial gastrocnemius long axis",
    ("calf", "ruptured_bakers_cyst"): "medial gastrocnemius long axis",
    ("groin", "lymph_node"): "saphenofemoral junction short axis",
}

VARIANT_TITLES = {
    "effusion": "knee joint effusion",
    "gout_double_contour": "gout: double-contour sign",
    "bakers_cyst": "Baker's cyst",
    "ruptured_bakers_cyst": "ruptured (dissecting) Baker's cyst",
    "gastrocnemius_tear": "medial gastrocnemius tear (tennis leg)",
    "thrombosed_vein": "deep vein thrombosis (non-compressible vein)",
    "achilles_tendinosis": "Achilles tendinosis",
    "abscess": "soft-tissue abscess",
    "lymph_node": "enlarged inguinal lymph node",
}


def _v(*ids: str) -> dict[str, str]:
    return {i: VARIANT_TITLES[i] for i in ids}


P = ProbePose
SCENES: dict[str, SceneSpec] = {
    "qa_phantom": SceneSpec(
        "QA phantom: speckle, anechoic cysts, wire targets",
        qa_phantom,
        {"cysts and wires": P(0.0, 0.0)},
        50.0,
        {},
    ),
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
    "elbow": SceneSpec(
        "Elbow: distal biceps, brachial artery, median nerve, common extensor",
        elbow,
        {
            "anterior short axis": P(-20.0, 4.0, 90.0),
            "distal biceps long axis": P(5.0, 0.0),
            "common extensor long axis": P(8.0, 60.0),
        },
        30.0,
        {},
    ),
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
    "hip": SceneSpec(
        "Hip: anterior recess, femoral head and neck, labrum, femoral vessels",
        hip,
        {"anterior oblique long axis": P(0.0, 0.0), "femoral neurovascular short axis": P(0.0, 38.0, 90.0)},
        60.0,
        {},
    ),
    "knee": SceneSpec(
        "Knee: quadriceps and patellar tendons, suprapatellar recess, MCL, ITB",
        knee,
        {
            "suprapatellar long axis": P(-25.0, 0.0),
            "patellar tendon long axis": P(72.0, 0.0),
            "suprapatellar short axis": P(-25.0, 0.0, 90.0),
            "MCL coronal": P(0.0, 57.0),
            "iliotibial band": P(-20.0, -60.0),
        },
        35.0,
        _v("effusion", "gout_double_contour"),
    ),
    "ankle": SceneSpec(
        "Ankle: Achilles tendon, Kager fat pad, anterior tendons",
        ankle,
        {
            "Achilles long axis": P(-30.0, 0.0),
            "Achilles short axis": P(-40.0, 0.0, 90.0),
            "anterior ankle long axis": P(0.0, 72.0),
        },
        25.0,
        _v("achilles_tendinosis"),
    ),
    "groin": SceneSpec(
        "Groin (DVT): CFV, CFA, saphenofemoral junction, inguinal node",
        groin,
        {
            "CFV short axis": P(0.0, 4.0, 90.0),
            "saphenofemoral junction short axis": P(15.0, 8.0, 90.0),
            "CFV long axis": P(10.0, 9.0),
        },
        40.0,
        _v("thrombosed_vein", "lymph_node", "abscess"),
    ),
    "thigh": SceneSpec(
        "Thigh (DVT): femoral vein and artery",
        thigh,
        {"femoral vein short axis": P(0.0, 2.0, 90.0), "femoral vein long axis": P(0.0, 3.5)},
        45.0,
        _v("thrombosed_vein", "abscess"),
    ),
    "popliteal": SceneSpec(
        "Popliteal fossa (DVT): popliteal vein and artery, Baker's cyst",
        popliteal,
        {
            "popliteal short axis": P(0.0, 0.0, 90.0),
            "popliteal vein long axis": P(0.0, 1.0),
            "posteromedial short axis": P(-5.0, 26.0, 90.0),
        },
        40.0,
        _v("thrombosed_vein", "bakers_cyst", "ruptured_bakers_cyst"),
    ),
    "calf": SceneSpec(
        "Calf (DVT): posterior tibial, peroneal, gastrocnemius and soleal veins",
        calf,
        {
            "posterior tibial veins short axis": P(120.0, 1.0, 90.0),
            "medial gastrocnemius long axis": P(150.0, 20.0),
        },
        48.0,
        _v("thrombosed_vein", "gastrocnemius_tear", "ruptured_bakers_cyst"),
    ),
}


@dataclass(frozen=True, slots=True)
class SceneInfo:
    """What `list_scenes` tells a UI: the scene id and title, and its variants (id -> title)."""

    scene_id: str
    title: str
    variants: dict[str, str]
    views: tuple[str, ...]
    depth_mm: float


def list_scenes() -> list[SceneInfo]:
    """Every scene id with its title, supported variants, named views and suggested depth."""
    return [SceneInfo(k, v.title, dict(v.variants), tuple(v.views), v.depth_mm) for k, v in SCENES.items()]


def _views_for(scene_id: str, variant: str | None, views: dict[str, ProbePose]) -> dict[str, ProbePose]:
    first = VARIANT_VIEWS.get((scene_id, variant or ""))
    if first is None:
        return dict(views)
    return {first: views[first], **{k: v for k, v in views.items() if k != first}}


def build_scene(scene_id: str, variant: str | None = None) -> Scene:
    """The scene `scene_id` with pathology `variant` switched on (None = normal)."""
    spec = SCENES.get(scene_id)
    if spec is None:
        raise ValueError(f"unknown scene {scene_id!r}; known scenes: {', '.join(SCENES)}")
    if variant is not None and variant not in spec.variants:
        known = ", ".join(spec.variants) or "none"
        raise ValueError(f"scene {scene_id!r} has no variant {variant!r}; its variants: {known}")
    return Scene(
        scene_id,
        spec.title,
        tuple(spec.build(variant)),
        _views_for(scene_id, variant, spec.views),
        spec.depth_mm,
        variant,
        spec.variants.get(variant) if variant else None,
    )
