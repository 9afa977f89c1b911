"""Knee: quadriceps and patellar tendons, suprapatellar recess, menisci, MCL, ITB, patellar retinacula
and MPFL; effusion and gout."""

from __future__ import annotations

import numpy as np

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import Items, L, layer, offset, rounded, st
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Array, DepthFn, Ellipsoid, across_t, along_s, tube


def knee(variant: str | None) -> Items:
    femur = along_s([(-150, 24.0), (-20, 24.0), (10, 28.0), (40, 38.0)])
    # The vasti end at the patella: below it the patellar tendon lies in the subcutaneous fat, on
    # Hoffa's fat pad, and the fat reaches the tibia beside it (a newcomer saw "vastus" there).
    fat_bottom = along_s([(38, 5.0), (46, 10.5), (95, 10.5), (105, 5.0)])
    items: Items = [
        layer("vastus medialis / lateralis muscle", L.MUSCLE, fat_bottom, INF),
        layer("skin", L.SKIN, 0.0, 1.5),
        layer("subcutaneous fat", L.FAT, 1.5, fat_bottom),
    ]
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
        # Hoffa's fat pad fills the space under the patellar tendon down to the femur and tibia and
        # across to the condyles (painted before the bones, which cover its deep part).
        layer("infrapatellar (Hoffa) fat pad", L.FAT, 10.5, 45.0, s=(44, 95), t=(-30, 30)),
        layer("femur", L.BONE, femur, INF, t=ant),
        layer("femoral trochlear cartilage", L.CARTILAGE, offset(femur, -2.5), femur, s=(-30, 40), t=ant),
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
        # Pes anserinus: sartorius, gracilis and semitendinosus converge distal-anterior to the MCL
        # insertion (clinical.md 1.5), anterior to posterior, sartorius the most superficial.
        st("sartorius tendon (pes anserinus)", L.TENDON, tube([(40, 44, 4.6), (95, 42, 5.0)], 2.6, 0.8)),
        st("gracilis tendon (pes anserinus)", L.TENDON, tube([(40, 50, 5.4), (95, 45.5, 5.6)], 1.8, 0.9)),
        st(
            "semitendinosus tendon (pes anserinus)",
            L.TENDON,
            tube([(40, 55, 5.6), (95, 48.5, 5.8)], 2.0, 1.0),
        ),
        layer("iliotibial band", L.LIGAMENT, 3.4, 5.4, s=(-70, 22), t=(-78, -42)),
        *_retinacula(),
    ]
    # Soft-tissue layers end in rounded tips, not cut edges.
    return rounded(
        items,
        {
            "suprapatellar (quadriceps) fat pad": 8.0,
            "prefemoral fat pad": 8.0,
            "suprapatellar recess": 6.0,
            "suprapatellar recess (effusion)": 4.0,
            "infrapatellar (Hoffa) fat pad": 6.0,
            "medial collateral ligament": 6.0,
            "iliotibial band": 6.0,
            "urate on cartilage (double contour)": 3.0,
            "femoral trochlear cartilage": 3.0,
            "medial patellar retinaculum": 3.0,
            "medial patellofemoral ligament (MPFL)": 3.0,
            "lateral patellar retinaculum": 3.0,
        },
    )


def _retinacula() -> Items:
    """Beside the patella (t ±22..±46, its upper half), transverse: the retinacula fan out from the
    patellar edges towards the femoral condyles, over the capsule; on the medial side the MPFL runs
    deep to the medial retinaculum from the upper medial patellar border and dips to the femur near
    the adductor tubercle, beyond the articular cartilage, where it meets the MCL's territory (ESSR V,
    anterior knee; issue 17 item 4). Thin hyperechoic bands: retinaculum ~1.5 mm, lateral ~2 mm,
    MPFL ~1.5 mm thick and ~15 mm wide at the patella [DK]. The condyles' patellofemoral facets lie
    12-18 mm deep beside the patella, rising to the epicondyle [DK]; at this level the condyle (under
    its capsule and fat) is the bands' deep landmark, not the tibia.
    """
    items: Items = []
    for side, name in ((1.0, "medial"), (-1.0, "lateral")):
        edge = (21.0, 52.0) if side > 0 else (-52.0, -21.0)
        band = (21.0, 46.0) if side > 0 else (-46.0, -21.0)
        # ~2 mm of cartilage on the articular facet, thinning to nothing at its margin (t ±44).
        thickness = across_t(sorted([(side * 22.0, 2.0), (side * 38.0, 2.0), (side * 44.0, 0.0)]))
        condyle = across_t(
            sorted([(side * 22.0, 18.0), (side * 36.0, 14.5), (side * 46.0, 11.5), (side * 52.0, 10.5)])
        )
        deep_mm = 6.5 if side > 0 else 7.0

        def cartilage(s: Array, t: Array, bone: DepthFn = condyle, mm: DepthFn = thickness) -> Array:
            out: Array = (bone(s, t) - mm(s, t)).astype(np.float32)
            return out

        items += [
            layer(f"{name} femoral condyle", L.BONE, condyle, INF, s=(2, 24), t=edge),
            # The capsule and its fat fill the space down to the bone (no tibia at this level).
            layer(f"{name} parapatellar capsule and fat", L.FAT, deep_mm, condyle, s=(2, 24), t=edge),
            layer(f"{name} femoral condyle cartilage", L.CARTILAGE, cartilage, condyle, s=(2, 24), t=edge),
            layer(
                f"{name} patellar retinaculum",
                L.LIGAMENT,
                5.0,
                deep_mm,
                s=(-4, 40),
                t=band,
                fibre=(0.0, 1.0, 0.0),
            ),
        ]
    mpfl_top = across_t([(20.0, 6.9), (36.0, 6.9), (50.0, 9.8)])
    items.append(
        layer(
            "medial patellofemoral ligament (MPFL)",
            L.LIGAMENT,
            mpfl_top,
            offset(mpfl_top, 1.5),
            s=(4, 20),
            t=(20.0, 50.0),
            fibre=(0.0, 1.0, 0.0),
        )
    )
    return items


SCENES = {
    "knee": SceneSpec(
        "Knee: quadriceps and patellar tendons, suprapatellar recess, MCL, ITB, retinacula",
        knee,
        {
            "suprapatellar long axis": P(-25.0, 0.0),
            "patellar tendon long axis": P(72.0, 0.0),
            "suprapatellar short axis": P(-25.0, 0.0, 90.0),
            "MCL coronal": P(0.0, 57.0),
            "iliotibial band": P(-20.0, -60.0),
            "pes anserinus long axis": P(68.0, 47.0),
            "pes anserinus short axis": P(80.0, 46.0, 90.0),
            "medial retinaculum and MPFL short axis": P(12.0, 32.0, 90.0),
            "lateral retinaculum short axis": P(12.0, -32.0, 90.0),
        },
        35.0,
        variants("effusion", "gout_double_contour"),
        {"effusion": "suprapatellar long axis", "gout_double_contour": "suprapatellar long axis"},
        (
            "clinical.md 1.5 (ESSR V knee: quadriceps and patellar tendons, recess, MCL, ITB)",
            "clinical.md 3.2 (tendon and cartilage thickness, femoral cortex 2-4 cm deep)",
            "clinical.md 3.1 (double contour over hyaline cartilage)",
            "clinical.md 3.1 (ligament: compact, less ordered fibrils than tendon); retinacula, MPFL [DK]",
        ),
    ),
}
