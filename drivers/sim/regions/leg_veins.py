"""The DVT path down the leg: groin, thigh, popliteal fossa and calf, with their pathology variants."""

from __future__ import annotations

from drivers.sim.anatomy import SceneSpec
from drivers.sim.pose import ProbePose as P
from drivers.sim.regions.parts import (
    Items,
    L,
    abscess,
    artery,
    layer,
    lymph_node,
    offset,
    rounded,
    skin_and_fat,
    st,
    vein,
)
from drivers.sim.regions.variants import variants
from drivers.sim.shapes import INF, Ellipsoid, along_s, tube


def groin(variant: str | None) -> Items:
    clot = variant == "thrombosed_vein"
    items = skin_and_fat(12.0, skin_mm=1.8, deep="sartorius / adductor muscles")
    items += [
        layer("fascia lata", L.FASCIA, 12.0, 12.5),
        layer("femoral head / pubic bone", L.BONE, 40.0, INF, t=(-35, 25)),
        st("femoral nerve", L.NERVE, tube([(-40, -14, 20.0), (80, -14, 22.0)], 4.0, 1.4)),
        *artery("common femoral artery", tube([(-40, -2, 20.0), (40, -2, 21.5)], 3.8, 3.8)),
        *artery("superficial femoral artery", tube([(40, -2, 21.5), (150, 0, 24.0)], 3.2, 3.2)),
        *artery("deep femoral (profunda) artery", tube([(40, -5, 27.0), (150, -17, 40.0)], 2.5, 2.5)),
        *vein("common femoral vein", tube([(-40, 9, 22.0), (45, 9, 23.0)], 5.5, 5.5), clot),
        *vein("femoral vein", tube([(45, 9, 24.5), (150, 9, 29.0)], 4.5, 4.5), clot),
        *vein("deep femoral (profunda) vein", tube([(45, 9, 33.0), (150, 2, 42.0)], 3.2, 3.2)),
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
        # In the adductor canal the femoral vein lies deep to the artery, walls apart [DK].
        *artery("superficial femoral artery", tube([(-150, -1, 25.0), (150, 1, 28.0)], 3.2, 3.2)),
        *vein("femoral vein", tube([(-150, 3, 34.5), (150, 4, 37.5)], 4.5, 4.5), clot),
        *vein("great saphenous vein", tube([(-150, 30, 6.0), (150, 35, 6.0)], 2.0, 2.0)),
    ]
    if variant == "abscess":
        items += abscess((10.0, 15.0, 7.0), (12.0, 9.0, 4.0))
    return rounded(items, {"sartorius muscle": 6.0, "fascia (sartorius sheath)": 4.0})


def popliteal(variant: str | None) -> Items:
    clot = variant == "thrombosed_vein"
    items = skin_and_fat(7.0, deep="hamstring / gastrocnemius muscle")
    # Posteromedially (t > 0 medial) the medial head of gastrocnemius lies beside the fossa and the
    # semimembranosus tendon medial to it; the gastrocnemius-semimembranosus bursa's neck passes between
    # them to the joint (clinical.md 1.5, Baker cyst).
    items += [
        layer("popliteal fossa fat", L.FAT, 7.0, 32.0, t=(-12, 12)),
        st(
            "medial head of gastrocnemius",
            L.MUSCLE,
            tube([(-40, 19, 26.0), (0, 19, 24.0), (60, 17, 21.0)], [6.0, 8.0, 9.5], [8.0, 9.0, 9.5]),
        ),
        st(
            "lateral head of gastrocnemius",
            L.MUSCLE,
            tube([(-40, -19, 26.0), (0, -19, 24.0), (60, -17, 21.0)], [6.0, 8.0, 9.5], [8.0, 9.0, 9.5]),
        ),
        st("semimembranosus tendon", L.TENDON, tube([(-80, 33.5, 19.5), (5, 33.5, 20.5)], 2.6, 2.2)),
        layer(
            "femoral condyles",
            L.BONE,
            along_s([(-80, 38.0), (-10, 36.0), (0, 38.0), (4, 41.0)]),
            INF,
            s=(-INF, 4),
        ),
        layer("tibia", L.BONE, along_s([(6, 41.0), (12, 39.0), (100, 40.0)]), INF, s=(6, INF)),
        st("tibial nerve", L.NERVE, tube([(-80, 5, 12.0), (60, 4, 13.0)], 2.5, 1.5)),
        *artery("popliteal artery", tube([(-80, -2, 27.5), (60, -1, 29.5)], 3.2, 3.2)),
        *vein("popliteal vein", tube([(-80, 2, 18.5), (60, 0, 20.0)], 4.5, 4.5), clot),
    ]
    if variant in ("bakers_cyst", "ruptured_bakers_cyst"):
        # The body lies superficial to the medial gastrocnemius, under the fascia; the neck runs deep
        # between the gastrocnemius and the semimembranosus tendon to the posteromedial joint.
        items += [
            st("Baker's cyst", L.FLUID, Ellipsoid((-5.0, 22.0, 11.5), (22.0, 8.5, 3.6))),
            st("Baker's cyst neck", L.FLUID, Ellipsoid((-4.0, 27.9, 22.0), (4.0, 2.6, 12.5))),
        ]
    if variant == "ruptured_bakers_cyst":
        # Fluid tracks down from the cyst in the plane deep to the medial gastrocnemius, tapering
        # (clinical.md 2.4, ruptured / dissecting Baker cyst).
        items.append(
            st(
                "fluid dissecting from ruptured Baker's cyst",
                L.FLUID,
                tube([(5, 25, 30.0), (50, 19, 31.5), (90, 18, 31.0)], [6.0, 9.0, 4.0], [1.5, 2.0, 0.4]),
            )
        )
    return rounded(items, {"popliteal fossa fat": 4.0})


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
        # Paired veins either side of their artery, walls apart (clinical.md 2.2 step 8).
        *vein("posterior tibial veins", tube([(60, -3.5, 40.0), (250, -1.5, 38.0)], 1.8, 1.8), clot),
        *vein("posterior tibial veins", tube([(60, 6.5, 40.0), (250, 8.5, 38.0)], 1.8, 1.8), clot),
        *artery("posterior tibial artery", tube([(60, 1.5, 40.5), (250, 3.5, 38.5)], 1.1, 1.1)),
        *vein("peroneal veins", tube([(60, -18.5, 43.0), (250, -16.5, 42.0)], 1.7, 1.7)),
        *vein("peroneal veins", tube([(60, -8.5, 43.0), (250, -6.5, 42.0)], 1.7, 1.7)),
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
    return rounded(items, {"medial gastrocnemius": 6.0, "lateral gastrocnemius": 6.0})


SOURCES = (
    "clinical.md 2.2 (SRU whole-leg steps: CFV, SFJ, femoral/profunda, popliteal, calf veins)",
    "clinical.md 3.1 (veins compressible, arteries not)",
    "clinical.md 3.2 (popliteal vessels 2-4 cm deep)",
    "clinical.md 2.3 (area of symptoms: Baker cysts, nodes, abscess)",
)

SCENES = {
    "groin": SceneSpec(
        "Groin (DVT): CFV, CFA, saphenofemoral junction, inguinal node",
        groin,
        {
            "CFV short axis": P(0.0, 4.0, 90.0),
            "saphenofemoral junction short axis": P(15.0, 8.0, 90.0),
            "CFV long axis": P(10.0, 9.0),
            "femoral bifurcation short axis": P(60.0, 0.0, 90.0),
            "inguinal lymph node short axis": P(5.0, 27.0, 90.0),
            "area of symptoms short axis": P(8.0, -15.0, 90.0),
        },
        40.0,
        variants("thrombosed_vein", "lymph_node", "abscess"),
        {
            "thrombosed_vein": "CFV short axis",
            "lymph_node": "inguinal lymph node short axis",
            "abscess": "area of symptoms short axis",
        },
        SOURCES,
    ),
    "thigh": SceneSpec(
        "Thigh (DVT): femoral vein and artery",
        thigh,
        {
            "femoral vein short axis": P(0.0, 2.0, 90.0),
            "femoral vein long axis": P(0.0, 3.5),
            "area of symptoms short axis": P(10.0, 16.0, 90.0),
        },
        45.0,
        variants("thrombosed_vein", "abscess"),
        {"thrombosed_vein": "femoral vein short axis", "abscess": "area of symptoms short axis"},
        SOURCES,
    ),
    "popliteal": SceneSpec(
        "Popliteal fossa (DVT): popliteal vein and artery, Baker's cyst",
        popliteal,
        {
            "popliteal short axis": P(0.0, 0.0, 90.0),
            "popliteal vein long axis": P(0.0, 1.0),
            "posteromedial short axis": P(-5.0, 26.0, 90.0),
            "Baker's cyst long axis": P(-5.0, 22.0),
        },
        40.0,
        variants("thrombosed_vein", "bakers_cyst", "ruptured_bakers_cyst"),
        {
            "thrombosed_vein": "popliteal short axis",
            "bakers_cyst": "posteromedial short axis",
            "ruptured_bakers_cyst": "posteromedial short axis",
        },
        (*SOURCES, "clinical.md 1.5 (Baker cyst neck between medial gastrocnemius and semimembranosus)"),
    ),
    "calf": SceneSpec(
        "Calf (DVT): posterior tibial, peroneal, gastrocnemius and soleal veins",
        calf,
        {
            "posterior tibial veins short axis": P(120.0, 1.0, 90.0),
            "medial gastrocnemius long axis": P(150.0, 20.0),
        },
        48.0,
        variants("thrombosed_vein", "gastrocnemius_tear", "ruptured_bakers_cyst"),
        {
            "thrombosed_vein": "posterior tibial veins short axis",
            "gastrocnemius_tear": "medial gastrocnemius long axis",
            "ruptured_bakers_cyst": "medial gastrocnemius long axis",
        },
        (*SOURCES, "clinical.md 2.3 (incidental findings: muscle tear with hematoma)"),
    ),
}
