"""Anatomy that teaches the right thing: compression, the Baker's cyst neck, views that frame their pathology,
smooth surfaces and vessel motion, all checked on ground-truth structure maps."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from drivers.sim import anatomy
from drivers.sim import physics as ph
from drivers.sim import vessel_motion as vm
from drivers.sim.anatomy import (
    Scene,
    Structure,
    VesselKind,
    compress_vessels,
    flatten,
    paint,
    structure_names,
    vessels_at,
)
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import SCENES, build_scene, list_scenes
from drivers.sim.shapes import Slab, Tube, along_s
from drivers.sim.tissues import Label
from scanner_app.frame import Geometry

WIDTH_MM = 38.0


def plane_index(
    scene: Scene, pose: ProbePose, depth_mm: float, rows: int = 300, lines: int = 190
) -> npt.NDArray[np.uint8]:
    """The structure index map of the plane under `pose` (compressed by its pressure): ground truth."""
    grid = ph.BeamGrid(Geometry.LINEAR, rows, lines, depth_mm, WIDTH_MM, 60.0, 40.0, 0, 0)
    c = ph.plane_coords(grid, pose)
    d = compress_vessels(scene, pose.pressure, c.s, c.t, c.d)
    return paint(scene, c.s, c.t, np.broadcast_to(d, np.broadcast_shapes(c.s.shape, c.t.shape, d.shape)))


def _index_of(scene: Scene, name: str, label: Label | None = None) -> list[int]:
    return [
        i
        for i, st in enumerate(scene.structures, start=1)
        if st.name == name and (label is None or st.label == label)
    ]


# -- compression ------------------------------------------------------------------------------------


def _patent_veins() -> list[tuple[str, int, float]]:
    cases = []
    for scene_id in SCENES:
        scene = build_scene(scene_id)
        for i, st in enumerate(scene.structures, start=1):
            if st.vessel is VesselKind.VEIN and isinstance(st.shape, Tube):
                s0, s1 = st.shape.s_pts[0], st.shape.s_pts[-1]
                for frac in (0.2, 0.5, 0.8):
                    cases.append((scene_id, i, s0 + frac * (s1 - s0)))
    return cases


def _section_counts(
    scene: Scene, s_mm: float, t_mm: float, depth_mm: float, pressure: float
) -> npt.NDArray[np.intp]:
    """Pixels of each structure in a 0.1 mm cross-section 40 mm wide around t_mm (short axis at s_mm)."""
    s = np.full((1, 1), s_mm, dtype=np.float32)
    t = (t_mm + np.arange(-20.0, 20.0, 0.1, dtype=np.float32))[None, :]
    d = np.arange(0.0, depth_mm, 0.1, dtype=np.float32)[:, None]
    dd = compress_vessels(scene, pressure, s, t, d)
    index = paint(scene, s, t, np.broadcast_to(dd, np.broadcast_shapes(t.shape, dd.shape)))
    return np.bincount(index.ravel(), minlength=len(scene.structures) + 1)


@pytest.mark.parametrize(
    ("scene_id", "view"),
    [
        ("groin", "CFV short axis"),
        ("popliteal", "popliteal vein long axis"),
        ("calf", None),
        ("arm_veins", None),
        ("thigh", None),
    ],
)
def test_compression_works_out_only_the_samples_that_can_move_and_gives_the_same_bits(
    scene_id: str, view: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each vein's squash is worked out only over the box of samples it can move (`_moving_box`), each
    artery only over the columns it spans (`_artery_columns`); without either, over every sample. The
    two agree exactly only if no sample that moves was left out."""
    scene = build_scene(scene_id)
    base = scene.views[view] if view is not None else scene.default_pose
    grid = ph.BeamGrid(Geometry.LINEAR, 160, 120, 40.0, WIDTH_MM, 60.0, 40.0, 0, 0)
    cut = []
    boxed = anatomy._moving_box

    def whole_plane(*args: object) -> None:
        return None

    columns = anatomy._artery_columns

    def every_column(*args: object) -> slice:
        return slice(None)

    def spy(*args: Any) -> Any:
        box = boxed(*args)
        if box is not None:
            cut.append(box[0].stop * (box[1].stop - box[1].start) < args[2].shape[0] * args[1].size)
        return box

    for pose in (base, base.nudged(rotation_deg=90.0), base.nudged(lateral_mm=3.0, rotation_deg=20.0)):
        c = ph.plane_coords(grid, pose)
        for pressure in (0.2, 0.6, 1.0):
            monkeypatch.setattr(anatomy, "_moving_box", spy)
            monkeypatch.setattr(anatomy, "_artery_columns", columns)
            got = compress_vessels(scene, pressure, c.s, c.t, c.d)
            monkeypatch.setattr(anatomy, "_moving_box", whole_plane)
            monkeypatch.setattr(anatomy, "_artery_columns", every_column)
            want = compress_vessels(scene, pressure, c.s, c.t, c.d)
            assert not np.array_equal(want, np.broadcast_to(c.d, want.shape))  # the veins do move it
            np.testing.assert_array_equal(got, want, err_msg=f"{scene_id} {pose} {pressure}")
    assert any(cut)  # some box was smaller than the plane


@pytest.mark.parametrize(("scene_id", "vein", "s_mm"), _patent_veins())
def test_every_patent_vein_closes_under_full_pressure_and_its_arteries_keep_their_area(
    scene_id: str, vein: int, s_mm: float
) -> None:
    scene = build_scene(scene_id)
    shape = scene.structures[vein - 1].shape
    assert isinstance(shape, Tube)
    tc, dc = (float(x) for x in shape.centre(np.float32(s_mm)))
    relaxed = _section_counts(scene, s_mm, tc, dc + 20.0, 0.0)
    pressed = _section_counts(scene, s_mm, tc, dc + 20.0, 1.0)
    assert relaxed[vein] > 100
    assert pressed[vein] <= 0.1 * relaxed[vein], (
        scene_id,
        scene.structures[vein - 1].name,
        relaxed[vein],
        pressed[vein],
    )
    for j, st in enumerate(scene.structures, start=1):
        if st.vessel is VesselKind.ARTERY and relaxed[j] > 50:
            ratio = pressed[j] / relaxed[j]
            assert 0.9 <= ratio <= 1.02, (scene_id, st.name, relaxed[j], pressed[j])  # neither lost nor grown


def test_thigh_compression_moves_the_superficial_femoral_artery_without_stretching_it() -> None:
    scene = build_scene("thigh")
    pose = scene.views["femoral vein short axis"]
    (artery,) = _index_of(scene, "superficial femoral artery", Label.ARTERY_LUMEN)
    relaxed = plane_index(scene, pose, 45.0)
    pressed = plane_index(scene, ProbePose(pose.position_mm, pose.lateral_mm, 90.0, 0.0, 1.0), 45.0)
    rows_r = np.flatnonzero((relaxed == artery).any(axis=1))
    rows_p = np.flatnonzero((pressed == artery).any(axis=1))
    height_r, height_p = rows_r[-1] - rows_r[0], rows_p[-1] - rows_p[0]
    assert 0.9 * height_r <= height_p <= 1.02 * height_r  # no tail below it
    assert np.count_nonzero(pressed == artery) <= 1.02 * np.count_nonzero(relaxed == artery)


@pytest.mark.parametrize(
    ("scene_id", "view", "fascia"),
    [
        ("groin", "CFV short axis", "fascia lata"),
        ("thigh", "femoral vein short axis", "fascia (sartorius sheath)"),
    ],
)
def test_pressure_bends_the_fascia_over_a_vein_smoothly(scene_id: str, view: str, fascia: str) -> None:
    scene = build_scene(scene_id)
    pose = scene.views[view]
    (i,) = _index_of(scene, fascia)
    depth = SCENES[scene_id].depth_mm
    pressed = plane_index(scene, ProbePose(pose.position_mm, pose.lateral_mm, 90.0, 0.0, 1.0), depth)
    relaxed = plane_index(scene, pose, depth)
    mm_per_row, mm_per_line = depth / pressed.shape[0], WIDTH_MM / pressed.shape[1]

    def top_mm(index: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        return np.argmax(index == i, axis=0) * mm_per_row

    both = (relaxed == i).any(axis=0) & (pressed == i).any(axis=0)  # the fascia's extent across the limb
    assert both.sum() > 0.8 * both.size
    before, after = top_mm(relaxed)[both], top_mm(pressed)[both]
    dip = after - before
    assert dip.max() > 0.5  # the fascia over the collapsing vein does come down...
    span = round(1.0 / mm_per_line)  # slopes over 1 mm, above the row quantisation
    slope = np.abs(after[span:] - after[:-span]) / (span * mm_per_line)
    assert slope.max() < 0.75, slope.max()  # ...in a smooth sag, no vertical notch edges
    assert np.count_nonzero(dip > 0.25) > 0.3 * dip.size  # and over a width, not a slot


# -- Baker's cyst --------------------------------------------------------------------------------------


def test_bakers_cyst_neck_lies_between_medial_gastrocnemius_and_semimembranosus() -> None:
    """In the transverse posteromedial view (the neck in its long axis, deep to superficial)."""
    scene = build_scene("popliteal", "bakers_cyst")
    index = plane_index(scene, scene.views["posteromedial short axis"], 40.0)
    (neck,), (mg,), (sm,) = (
        _index_of(scene, n)
        for n in ("Baker's cyst neck", "medial head of gastrocnemius", "semimembranosus tendon")
    )
    mm_per_line = WIDTH_MM / index.shape[1]
    background = set(_index_of(scene, "hamstring / gastrocnemius muscle")) | set(
        _index_of(scene, "Baker's cyst")
    )
    rows = [r for r in range(index.shape[0]) if (index[r] == neck).any() and (index[r] == sm).any()]
    assert len(rows) >= 10

    def first_beside(row: npt.NDArray[np.uint8]) -> tuple[int, int, float, float]:
        """The first structure other than the background on each side of the neck, and its distance (mm)."""
        cols = np.flatnonzero(row == neck)
        left = [(c, int(row[c])) for c in range(cols[0] - 1, -1, -1) if row[c] not in background]
        right = [(c, int(row[c])) for c in range(cols[-1] + 1, row.size) if row[c] not in background]
        (lc, li), (rc, ri) = left[0], right[0]
        return li, ri, (cols[0] - lc) * mm_per_line, (rc - cols[-1]) * mm_per_line

    # Lines run from lateral (t small) to medial (t large) in this short-axis view.
    for r in rows:
        lateral, medial, _, _ = first_beside(index[r])
        assert (lateral, medial) == (mg, sm), r
    widest = max(rows, key=lambda r: int(np.count_nonzero(index[r] == sm)))
    _, _, gap_mg, gap_sm = first_beside(index[widest])
    assert gap_mg < 1.5 and gap_sm < 1.5  # the neck squeezes between the two


def test_bakers_cyst_long_axis_view_shows_the_cyst_over_the_medial_gastrocnemius() -> None:
    scene = build_scene("popliteal", "bakers_cyst")
    index = plane_index(scene, scene.views["Baker's cyst long axis"], 40.0)
    (cyst,), (mg,) = _index_of(scene, "Baker's cyst"), _index_of(scene, "medial head of gastrocnemius")
    columns = np.flatnonzero((index == cyst).any(axis=0))
    assert columns.size > 0.6 * index.shape[1]  # the cyst's ~44 mm length fills most of the frame
    for c in columns[:: max(1, columns.size // 10)]:
        rows_cyst, rows_mg = np.flatnonzero(index[:, c] == cyst), np.flatnonzero(index[:, c] == mg)
        assert rows_mg.size and rows_cyst.max() < rows_mg.min()  # superficial to the muscle


def test_bakers_cyst_does_not_paint_over_the_semimembranosus_tendon() -> None:
    pose = SCENES["popliteal"].views["posteromedial short axis"]
    normal, cyst = build_scene("popliteal"), build_scene("popliteal", "bakers_cyst")
    (sm_n,), (sm_c,) = _index_of(normal, "semimembranosus tendon"), _index_of(cyst, "semimembranosus tendon")
    a = np.count_nonzero(plane_index(normal, pose, 40.0) == sm_n)
    b = np.count_nonzero(plane_index(cyst, pose, 40.0) == sm_c)
    assert a > 200 and b == a
    assert "Baker's cyst" in structure_names(cyst)


# -- views frame their pathology -------------------------------------------------------------------------


def test_enlarged_lymph_node_is_wholly_in_frame_in_its_view() -> None:
    scene = build_scene("groin", "lymph_node")
    index = plane_index(scene, scene.views["inguinal lymph node short axis"], 40.0)
    node = np.isin(index, _index_of(scene, "inguinal lymph node"))
    cols = np.flatnonzero(node.any(axis=0))
    rows = np.flatnonzero(node.any(axis=1))
    assert node.sum() > 2000
    assert cols[0] > 5 and cols[-1] < index.shape[1] - 6 and rows[-1] < index.shape[0] - 6
    assert scene.default_pose == scene.views["inguinal lymph node short axis"]


def _identity(st: Structure) -> tuple[object, ...]:
    """What tells a variant's structure from the normal one: name, tissue and (value-typed) shape."""
    return (st.name, st.label, None if isinstance(st.shape, Slab) else st.shape)


VARIANT_CASES = [(info.scene_id, v) for info in list_scenes() for v in info.variants]


@pytest.mark.parametrize(("scene_id", "variant"), VARIANT_CASES)
def test_every_variant_has_a_named_view_that_shows_it(scene_id: str, variant: str) -> None:
    spec = SCENES[scene_id]
    assert variant in spec.variant_views, f"{scene_id}/{variant}: no view named for it"
    scene = build_scene(scene_id, variant)
    view = spec.variant_views[variant]
    index = plane_index(scene, scene.views[view], spec.depth_mm)
    normal = build_scene(scene_id)
    normal_structures = {_identity(st) for st in normal.structures}
    shown = [scene.structures[i - 1] for i in np.unique(index) if i > 0]
    pathology = [st.name for st in shown if _identity(st) not in normal_structures]
    assert pathology, f"{scene_id}/{variant}: view {view!r} shows none of the variant's structures"


# -- smooth geometry -----------------------------------------------------------------------------------


def test_bone_profiles_are_smooth_curves_through_their_points_without_overshoot() -> None:
    points = [(-45, 26.0), (-30, 20.0), (-15, 17.5), (0, 17.0), (8, 17.5), (15, 20.0), (40, 22.0)]
    surface = along_s(points)
    s = np.linspace(-45, 40, 1701, dtype=np.float32)
    d = surface(s, np.zeros_like(s)).astype(np.float64)
    for sp, dp in points:
        assert abs(float(surface(np.float32([sp]), np.float32([0]))[0]) - dp) < 1e-4
    assert d.min() >= 17.0 - 1e-4 and d.max() <= 26.0 + 1e-4
    slope = np.diff(d) / np.diff(s.astype(np.float64))
    linear_slope = np.diff(np.interp(s, [p[0] for p in points], [p[1] for p in points])) / np.diff(s)
    assert np.abs(np.diff(slope)).max() < 0.2 * np.abs(np.diff(linear_slope)).max()  # no kinks


def test_veins_are_oval_and_arteries_round() -> None:
    for scene_id in ("groin", "thigh", "popliteal", "calf", "arm_veins"):
        for st in build_scene(scene_id).structures:
            if isinstance(st.shape, Tube) and st.vessel is VesselKind.VEIN:
                assert st.shape.rt_pts[0] > 1.2 * st.shape.rd_pts[0], st.name
            if isinstance(st.shape, Tube) and st.vessel is VesselKind.ARTERY:
                assert st.shape.rt_pts[0] == st.shape.rd_pts[0], st.name


# -- vessel motion -----------------------------------------------------------------------------------------


def test_arterial_diameter_follows_a_cardiac_cycle_at_about_70_per_minute() -> None:
    times = np.arange(0.0, 10.0, 0.005)
    scale = np.array([vm.arterial_diameter_scale(float(x)) for x in times])
    assert 1.0 - 1e-6 <= scale.min() < 1.01 and 1.06 < scale.max() <= 1.1
    peaks = np.flatnonzero((scale[1:-1] > scale[:-2]) & (scale[1:-1] >= scale[2:]) & (scale[1:-1] > 1.07)) + 1
    rate = 60.0 / float(np.median(np.diff(times[peaks])))
    assert 65.0 <= rate <= 75.0
    rise = times[np.argmax(scale[: peaks[0] + 1])] % (60.0 / rate)
    assert rise < 0.2  # a fast systolic upstroke, then a slower diastolic run-off


def test_venous_calibre_follows_breathing_at_about_15_per_minute() -> None:
    times = np.arange(0.0, 16.0, 0.01)
    leg = np.array([vm.venous_diameter_scale(float(x)) for x in times])
    arm = np.array([vm.venous_diameter_scale(float(x), inspiration=-1.0) for x in times])
    assert 0.85 < leg.min() < 0.95 and 1.05 < leg.max() < 1.15
    crossings = np.flatnonzero((leg[:-1] < 1.0) & (leg[1:] >= 1.0))
    assert 60.0 / float(np.median(np.diff(times[crossings]))) == pytest.approx(15.0, abs=1.0)
    assert np.corrcoef(leg, arm)[0, 1] < -0.99


def test_vessels_at_pulses_the_artery_and_leaves_a_thrombosed_vein_alone() -> None:
    scene = build_scene("groin", "thrombosed_vein")
    period = 60.0 / vm.HEART_RATE_PER_MIN
    diastole, systole = vessels_at(scene, 0.0), vessels_at(scene, 0.12 * period)
    (cfa,) = _index_of(scene, "common femoral artery", Label.ARTERY_LUMEN)
    (cfv,) = _index_of(scene, "common femoral vein", Label.THROMBUS)
    a0, a1 = diastole.structures[cfa - 1].shape, systole.structures[cfa - 1].shape
    assert isinstance(a0, Tube) and isinstance(a1, Tube)
    assert a1.rt_pts[0] / a0.rt_pts[0] == pytest.approx(1.0 + vm.ARTERIAL_DISTENSION, rel=0.01)
    wall0, wall1 = diastole.structures[cfa - 2].shape, systole.structures[cfa - 2].shape
    assert isinstance(wall0, Tube) and isinstance(wall1, Tube)
    assert wall1.rt_pts[0] - a1.rt_pts[0] == pytest.approx(
        wall0.rt_pts[0] - a0.rt_pts[0]
    )  # wall keeps its thickness
    assert systole.structures[cfv - 1] == scene.structures[cfv - 1]


# -- views behind every protocol capture step and the new regions ------------------------------------

VIEW_STRUCTURES = {
    ("arm_veins", "internal jugular vein short axis"): {"internal jugular vein", "common carotid artery"},
    ("arm_veins", "subclavian vein short axis"): {
        "subclavian vein",
        "subclavian / axillary artery",
        "pectoralis major muscle",
    },
    ("arm_veins", "axillary vein short axis"): {
        "axillary vein",
        "subclavian / axillary artery",
        "brachial plexus cords",
    },
    ("arm_veins", "brachial veins short axis"): {"brachial veins", "brachial artery", "median nerve"},
    ("arm_veins", "basilic vein short axis"): {"basilic vein"},
    ("arm_veins", "cephalic vein short axis"): {"cephalic vein"},
    ("first_mtp", "first MTP dorsal long axis"): {
        "first metatarsal head",
        "proximal phalanx base",
        "metatarsal head cartilage",
        "dorsal recess fat",
        "extensor hallucis longus tendon",
    },
    ("first_mtp", "first MTP dorsal short axis"): {"first metatarsal head", "metatarsal head cartilage"},
    ("first_mtp", "first MTP medial long axis"): {"first metatarsal head", "medial collateral ligament"},
    ("finger", "flexor tendons long axis"): {
        "flexor digitorum superficialis tendon",
        "flexor digitorum profundus tendon",
        "A2 pulley",
        "proximal phalanx",
    },
    ("finger", "A2 pulley short axis"): {
        "A2 pulley",
        "flexor digitorum profundus tendon",
        "proximal phalanx",
    },
    ("finger", "MCP joint palmar long axis"): {
        "metacarpal head",
        "metacarpal head cartilage",
        "MCP palmar plate",
    },
    ("finger", "PIP joint palmar long axis"): {
        "middle phalanx",
        "PIP palmar plate",
        "proximal phalanx head cartilage",
    },
    ("finger", "MCP joint dorsal long axis"): {"extensor tendon", "MCP dorsal recess"},
    ("ankle", "anterior tendons short axis"): {
        "tibialis anterior tendon",
        "extensor hallucis longus tendon",
        "extensor digitorum longus tendon",
        "anterior tibial artery",
        "deep peroneal nerve",
    },
    ("ankle", "medial tendons short axis"): {
        "tibialis posterior tendon",
        "flexor digitorum longus tendon",
        "posterior tibial artery",
        "posterior tibial veins",
        "tibial nerve",
        "flexor hallucis longus tendon",
        "flexor retinaculum",
    },
    ("ankle", "deltoid ligament coronal"): {"deltoid ligament", "medial malleolus"},
    ("ankle", "peroneal tendons short axis"): {
        "peroneus brevis tendon",
        "peroneus longus tendon",
        "superior peroneal retinaculum",
        "lateral malleolus (fibula)",
    },
    ("ankle", "peroneal tendons long axis"): {"peroneus brevis tendon", "peroneus longus tendon"},
    ("ankle", "ATFL long axis"): {
        "anterior talofibular ligament (ATFL)",
        "lateral malleolus tip",
        "talus (lateral)",
    },
    ("ankle", "CFL long axis"): {"calcaneofibular ligament (CFL)", "calcaneus"},
    ("ankle", "AITFL long axis"): {"anterior inferior tibiofibular ligament (AITFL)"},
    ("ankle", "plantar fascia long axis"): {
        "plantar fascia",
        "calcaneus (plantar tuberosity)",
        "heel fat pad",
    },
    ("elbow", "radial nerve short axis"): {"radial nerve", "brachioradialis muscle"},
    ("elbow", "posterior interosseous nerve short axis"): {
        "posterior interosseous nerve (PIN)",
        "superficial branch of the radial nerve",
        "supinator muscle",
    },
    ("elbow", "common flexor long axis"): {
        "common flexor tendon",
        "medial epicondyle",
        "anterior band of the UCL",
    },
    ("elbow", "ulnar nerve short axis"): {"ulnar nerve", "olecranon / epicondylar groove"},
    ("elbow", "cubital tunnel short axis"): {"ulnar nerve", "cubital tunnel retinaculum"},
    ("elbow", "posterior elbow long axis"): {
        "triceps tendon",
        "olecranon",
        "posterior fat pad (olecranon fossa)",
        "posterior recess",
        "triceps muscle",
    },
    ("hip", "greater trochanter short axis"): {
        "greater trochanter",
        "gluteus medius tendon (lateral facet)",
        "gluteus minimus tendon (anterior facet)",
        "fascia lata / iliotibial band (ITB)",
    },
    ("hip", "gluteus medius long axis"): {"gluteus medius tendon (lateral facet)", "greater trochanter"},
    ("hip", "gluteus minimus long axis"): {"gluteus minimus tendon (anterior facet)", "greater trochanter"},
    ("hip", "hamstring origin short axis"): {
        "gluteus maximus",
        "conjoint tendon (semitendinosus and biceps femoris long head)",
        "semimembranosus tendon",
        "sciatic nerve",
    },
    ("hip", "hamstring origin long axis"): {
        "ischial tuberosity",
        "conjoint tendon (semitendinosus and biceps femoris long head)",
    },
    ("knee", "pes anserinus long axis"): {"gracilis tendon (pes anserinus)", "medial tibial plateau"},
    ("knee", "pes anserinus short axis"): {
        "sartorius tendon (pes anserinus)",
        "gracilis tendon (pes anserinus)",
        "semitendinosus tendon (pes anserinus)",
    },
    ("shoulder", "subacromial impingement coronal"): {
        "acromion",
        "subacromial-subdeltoid bursa",
        "supraspinatus tendon",
    },
    ("shoulder", "infraspinatus long axis"): {"infraspinatus tendon", "humeral head (posterior)"},
    ("shoulder", "posterior glenohumeral joint transverse"): {
        "posterior labrum",
        "posterior recess",
        "glenoid (posterior)",
        "infraspinatus tendon",
    },
    ("shoulder", "teres minor long axis"): {"teres minor tendon"},
    ("shoulder", "spinoglenoid notch transverse"): {"spinoglenoid notch (suprascapular vessels)"},
    ("shoulder", "acromioclavicular joint coronal"): {
        "acromioclavicular joint (ACJ)",
        "clavicle",
        "acromion",
        "acromioclavicular capsule",
    },
    ("shoulder", "coracoacromial ligament long axis"): {"coracoacromial ligament", "coracoid process"},
    ("wrist", "first extensor compartment short axis"): {
        "APL tendon (compartment I)",
        "EPB tendon (compartment I)",
        "extensor retinaculum",
        "radial styloid",
    },
    ("wrist", "sixth extensor compartment short axis"): {
        "ECU tendon (compartment VI)",
        "distal ulna (ECU groove)",
    },
    ("wrist", "dorsal radiocarpal long axis"): {
        "distal radius (dorsal, Lister tubercle)",
        "lunate",
        "capitate",
        "dorsal radiocarpal ligament",
    },
    ("wrist", "scapholunate short axis"): {"scaphoid", "lunate", "dorsal scapholunate ligament"},
    ("wrist", "Guyon canal short axis"): {"Guyon canal", "ulnar nerve", "ulnar artery", "pisiform"},
    ("groin", "femoral bifurcation short axis"): {
        "superficial femoral artery",
        "femoral vein",
        "deep femoral (profunda) artery",
        "deep femoral (profunda) vein",
    },
}


@pytest.mark.parametrize(("scene_id", "view"), list(VIEW_STRUCTURES))
def test_new_views_cut_their_structures(scene_id: str, view: str) -> None:
    scene = build_scene(scene_id)
    index = plane_index(scene, scene.views[view], SCENES[scene_id].depth_mm)
    names = structure_names(scene)
    counts = np.bincount(index.ravel(), minlength=len(names))
    shown: dict[str, int] = {}
    for i in np.flatnonzero(counts):
        if i > 0:
            shown[names[i]] = shown.get(names[i], 0) + int(counts[i])
    missing = {
        n for n in VIEW_STRUCTURES[(scene_id, view)] if shown.get(n, 0) < 20
    }  # a visible patch, not a pixel
    assert not missing, f"{scene_id}/{view}: missing {missing}; shows {sorted(shown)}"


def test_soft_tissue_layers_end_in_rounded_tips_not_cut_edges() -> None:
    scene = build_scene("knee")
    (pad,) = _index_of(scene, "suprapatellar (quadriceps) fat pad")
    s = np.arange(-60.0, 10.0, 0.1, dtype=np.float32)[None, :]  # the pad spans s -50..0
    t = np.zeros((1, 1), dtype=np.float32)
    d = np.arange(0.0, 30.0, 0.05, dtype=np.float32)[:, None]
    thickness = np.count_nonzero(scene.structures[pad - 1].shape.mask(s, t, d), axis=0) * 0.05
    inside = thickness[(s[0] > -50) & (s[0] < 0)]
    assert inside.max() == pytest.approx(4.0, abs=0.1)  # full thickness in the middle...
    ends = np.concatenate([inside[:10], inside[-10:]])  # ...the first and last 1 mm
    assert ends.max() < 0.7 * inside.max() and ends.min() < 0.3 * inside.max()
    steps = np.abs(np.diff(thickness))
    assert steps.max() < 0.25 * inside.max()  # no jump from full thickness to nothing


@pytest.mark.parametrize(
    ("scene_id", "view"),
    [
        ("popliteal", "popliteal short axis"),
        ("thigh", "femoral vein short axis"),
        ("arm_veins", "axillary vein short axis"),
        ("arm_veins", "internal jugular vein short axis"),
    ],
)
def test_rendered_labels_show_the_vein_shut_and_the_artery_whole_at_full_pressure(
    scene_id: str, view: str
) -> None:
    """End to end through the renderer (its cached lattice columns and the decimated label cells)."""

    def labels(pressure: float) -> npt.NDArray[np.uint8]:
        r = PatientRenderer(scene_id, seed=3)
        pose = SCENES[scene_id].views[view]
        r.set_pose(ProbePose(pose.position_mm, pose.lateral_mm, pose.rotation_deg, 0.0, pressure))
        frame = r.render(RenderParams(rows=240, cols=200, depth_mm=SCENES[scene_id].depth_mm), 0.0)
        assert frame.labels is not None
        return frame.labels

    relaxed, pressed = labels(0.0), labels(1.0)
    vein_open, vein_pressed = (int(np.count_nonzero(x == Label.VEIN_LUMEN)) for x in (relaxed, pressed))
    artery_open, artery_pressed = (int(np.count_nonzero(x == Label.ARTERY_LUMEN)) for x in (relaxed, pressed))
    assert vein_open > 300 and artery_open > 150
    assert vein_pressed <= 0.1 * vein_open, (vein_open, vein_pressed)
    assert 0.9 * artery_open <= artery_pressed <= 1.02 * artery_open, (artery_open, artery_pressed)


def test_an_acutely_thrombosed_vein_is_round_and_distended() -> None:
    normal, clotted = build_scene("groin"), build_scene("groin", "thrombosed_vein")
    (open_vein,) = _index_of(normal, "common femoral vein", Label.VEIN_LUMEN)
    (clot,) = _index_of(clotted, "common femoral vein", Label.THROMBUS)
    a, b = normal.structures[open_vein - 1].shape, clotted.structures[clot - 1].shape
    assert isinstance(a, Tube) and isinstance(b, Tube)
    assert b.rt_pts[0] == b.rd_pts[0]  # round
    assert b.rt_pts[0] * b.rd_pts[0] > 1.3 * a.rt_pts[0] * a.rd_pts[0]  # and larger than the patent oval


def test_every_scene_cites_the_reference_it_follows() -> None:
    for scene_id, spec in SCENES.items():
        assert spec.sources, scene_id
        if scene_id != "qa_phantom":
            assert any("clinical.md" in s for s in spec.sources), scene_id


def test_pressure_thins_the_superficial_tissue_and_keeps_the_skin_under_the_probe() -> None:
    d = np.linspace(-2.0, 60.0, 621, dtype=np.float32)
    assert np.array_equal(flatten(0.0, d), d)
    pressed = flatten(1.0, d)
    assert np.all(np.diff(pressed) > 0)  # monotonic: no tissue folds over
    assert pressed[d <= 0].tolist() == d[d <= 0].tolist()  # the skin stays under the probe face
    shift = pressed - d
    assert 0.5 < float(shift[-1]) <= 0.6  # deep structures come ~0.6 mm closer at full pressure
    assert float(shift[np.searchsorted(d, 5.0)]) > 0.35 * float(shift[-1])  # most of it in the top layers


def test_neck_and_arm_veins_narrow_on_inspiration_while_leg_veins_widen() -> None:
    inspiration = 60.0 / vm.RESPIRATORY_RATE_PER_MIN / 2.0  # half a breath in: peak inspiration
    for scene_id, name, wider in (
        ("arm_veins", "internal jugular vein", False),
        ("arm_veins", "axillary vein", False),
        ("groin", "common femoral vein", True),
    ):
        scene = build_scene(scene_id)
        (i,) = _index_of(scene, name, Label.VEIN_LUMEN)
        before, after = scene.structures[i - 1].shape, vessels_at(scene, inspiration).structures[i - 1].shape
        assert isinstance(before, Tube) and isinstance(after, Tube)
        ratio = after.rt_pts[0] / before.rt_pts[0]
        assert ratio == pytest.approx(1.1 if wider else 0.9, abs=0.01), (scene_id, name, ratio)


@pytest.mark.parametrize("rotation_deg", [0.0, 7.0, 90.0])
def test_painting_by_depth_spans_matches_painting_by_masks(rotation_deg: float) -> None:
    # An untilted, uncompressed plane paints each shape as one span of rows per column (the fast
    # path); the same plane with its depths given per sample goes through every shape's mask.
    grid = ph.BeamGrid(Geometry.LINEAR, 260, 150, 40.0, WIDTH_MM, 60.0, 40.0, 3, 5)
    compared = 0
    for scene_id in SCENES:
        scene = build_scene(scene_id)
        for pose in scene.views.values():
            c = ph.plane_coords(grid, pose.nudged(rotation_deg=rotation_deg, tilt_deg=-pose.tilt_deg))
            assert c.d.shape[1] == 1  # one depth per row: the span path
            fast = paint(scene, c.s, c.t, c.d)
            full = np.broadcast_to(c.d, np.broadcast_shapes(c.s.shape, c.t.shape, c.d.shape)).copy()
            assert np.array_equal(fast, paint(scene, c.s, c.t, full)), (scene_id, pose)
            compared += int(np.count_nonzero(fast))
    assert compared > 100_000  # the planes hold anatomy, not only gel
