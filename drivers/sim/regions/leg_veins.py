"""The DVT path down the leg: groin (with the inguinal canal above it), thigh, popliteal fossa and calf,
with their pathology variants."""

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
        *_inguinal_walls(),
        st("femoral nerve", L.NERVE, tube([(-40, -14, 20.0), (80, -14, 22.0)], 4.0, 1.4)),
        # Above the inguinal ligament (s < -12) the vessels are the external iliacs, diving into the
        # pelvis deep to the inguinal canal [DK].
        *artery("external iliac artery", tube([(-45, -5, 38.0), (-30, -4, 35.0), (-12, -2, 20.5)], 3.8, 3.8)),
        *vein("external iliac vein", tube([(-45, 11, 40.0), (-30, 10, 37.0), (-12, 9, 22.3)], 5.5, 5.5)),
        *artery("common femoral artery", tube([(-12, -2, 20.5), (40, -2, 21.5)], 3.8, 3.8)),
        *artery("superficial femoral artery", tube([(40, -2, 21.5), (150, 0, 24.0)], 3.2, 3.2)),
        *artery("deep femoral (profunda) artery", tube([(40, -5, 27.0), (150, -17, 40.0)], 2.5, 2.5)),
        *vein("common femoral vein", tube([(-12, 9, 22.3), (45, 9, 23.0)], 5.5, 5.5), clot),
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
    return rounded(items + _inguinal_canal(variant == "inguinal_hernia"), _CANAL_ENDS)


# The canal's walls end in rounded tips, not cut edges.
_CANAL_ENDS = {
    "external oblique aponeurosis": 4.0,
    "internal oblique / transversus abdominis muscle": 4.0,
    "preperitoneal fat": 4.0,
    "transversalis fascia (canal floor)": 3.0,
    "transversalis fascia (Hesselbach triangle)": 3.0,
    "rectus abdominis muscle": 4.0,
}


def _inguinal_walls() -> Items:
    """The layers above the inguinal ligament, painted before the vessels that run deep to them."""
    return [
        layer("external oblique aponeurosis", L.FASCIA, 12.0, 12.8, s=(-45, -9), t=(-40, 70)),
        layer(
            "internal oblique / transversus abdominis muscle", L.MUSCLE, 12.8, 19.2, s=(-45, -12), t=(-40, 50)
        ),
        layer("rectus abdominis muscle", L.MUSCLE, 12.8, 24.0, s=(-INF, -16), t=(48, 80)),
        layer("preperitoneal fat", L.FAT, 19.8, 40.0, s=(-45, -12), t=(-40, 50)),
        # One fascia in two named parts, overlapping so their rounded ends do not open a gap.
        layer("transversalis fascia (canal floor)", L.FASCIA, 19.2, 19.8, s=(-40, -12), t=(-20, 7)),
        layer("transversalis fascia (Hesselbach triangle)", L.FASCIA, 19.2, 19.8, s=(-40, -12), t=(1, 48)),
    ]


def _inguinal_canal(hernia: bool) -> Items:
    """Above the inguinal ligament (s -40..-10): the inguinal canal runs across the groin (along t),
    from the deep ring just above the femoral vessels (t about -5) medially to the superficial ring
    (t about 45), under the external oblique aponeurosis, its floor the transversalis fascia; the
    inferior epigastric artery and its two veins rise medial to the deep ring, deep to the floor,
    with Hesselbach's triangle medial to them. The canal is modelled straight across the limb (its
    slight obliquity ignored) [engineering approximation]. Sizes typical adult [DK]: cord ~12 mm
    wide and ~5 mm thick, inferior epigastric artery ~2.5 mm, canal 1.5-2 cm under the skin.
    Indirect hernia [DK]: a peritoneal sac of fat enters at the deep ring, lateral to the inferior
    epigastric vessels, and runs along the cord; drawn here as it lies at rest (static: the B-mode
    does not follow the Valsalva manoeuvre).
    """
    items: Items = [
        # The aponeurosis' lower edge rolls under into the inguinal ligament: fibres run across.
        st(
            "inguinal ligament",
            L.LIGAMENT,
            Ellipsoid((-10.0, 10.0, 14.0), (2.5, 50.0, 1.8)),
            fibre_dir=(0.0, 1.0, 0.0),
        ),
        st("deep inguinal ring", L.FAT, Ellipsoid((-24.0, -5.0, 19.5), (4.0, 4.0, 2.2))),
        st(
            "spermatic cord (inguinal canal)",
            L.FAT,
            Ellipsoid((-24.0, 19.0, 16.2), (6.0, 25.0, 2.6)),
            fibre_dir=(0.0, 1.0, 0.0),
        ),
        # The cord's vas deferens and vessels: a few bright strands along the canal.
        st("vas deferens (spermatic cord)", L.FASCIA, Ellipsoid((-24.0, 20.0, 16.6), (1.5, 20.0, 1.0))),
        *artery(
            "inferior epigastric artery",
            tube([(-110, 24.0, 17.5), (-60, 12.0, 21.0), (-24, 4.0, 22.5), (-16, 2.5, 24.5)], 1.25, 1.25),
        ),
        *vein(
            "inferior epigastric veins",
            tube([(-110, 20.0, 18.0), (-60, 8.0, 21.5), (-24, 0.0, 23.0), (-16, -1.5, 25.0)], 1.0, 1.0),
        ),
        *vein(
            "inferior epigastric veins",
            tube([(-110, 28.0, 18.0), (-60, 16.0, 21.5), (-24, 8.0, 23.0), (-16, 6.5, 25.0)], 1.0, 1.0),
        ),
    ]
    if hernia:
        sac = Ellipsoid((-24.0, 8.0, 15.8), (4.5, 15.0, 2.7))
        items += [
            st(
                "indirect inguinal hernia sac (peritoneum)", L.FASCIA, Ellipsoid(sac.centre, (5.0, 15.5, 3.2))
            ),
            st("indirect inguinal hernia (fat in the sac)", L.FAT, sac),
        ]
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
        "Groin: CFV, CFA, saphenofemoral junction, inguinal node, inguinal canal",
        groin,
        {
            "CFV short axis": P(0.0, 4.0, 90.0),
            "saphenofemoral junction short axis": P(15.0, 8.0, 90.0),
            "CFV long axis": P(10.0, 9.0),
            "femoral bifurcation short axis": P(60.0, 0.0, 90.0),
            "inguinal lymph node short axis": P(5.0, 27.0, 90.0),
            "area of symptoms short axis": P(8.0, -15.0, 90.0),
            "inguinal canal long axis": P(-24.0, 10.0, 90.0),
        },
        40.0,
        variants("thrombosed_vein", "lymph_node", "abscess", "inguinal_hernia"),
        {
            "thrombosed_vein": "CFV short axis",
            "lymph_node": "inguinal lymph node short axis",
            "abscess": "area of symptoms short axis",
            "inguinal_hernia": "inguinal canal long axis",
        },
        (*SOURCES, "clinical.md 1 (seed exam: groin hernia with Valsalva); inguinal canal anatomy [DK]"),
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
