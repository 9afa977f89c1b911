"""The scene catalogue, ground truth, probe pose and the renderer's public contract."""

from __future__ import annotations

import dataclasses
import itertools
import queue
import threading

import numpy as np
import numpy.typing as npt
import pytest

from drivers.sim import physics as ph
from drivers.sim.anatomy import compress_vessels
from drivers.sim.patient import PatientRenderer, _compressed, anatomy_steps
from drivers.sim.pose import ProbePose
from drivers.sim.regions import leg_veins
from drivers.sim.renderer import FrameRenderer, RenderParams
from drivers.sim.scenes import REGIONS, SCENES, build_scene, list_scenes, named_views
from drivers.sim.tissues import TISSUES, Label, label_names
from scanner_app.frame import DataFormat, Geometry
from tests.sim_support import count_cell_columns, count_painted_cells

ALL = [(info.scene_id, v) for info in list_scenes() for v in [None, *info.variants]]


def test_catalogue_covers_the_protocols_and_the_dvt_path() -> None:
    ids = {info.scene_id for info in list_scenes()}
    assert {"qa_phantom", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"} <= ids
    assert {"groin", "thigh", "popliteal", "calf"} <= ids
    assert {"arm_veins", "first_mtp", "finger"} <= ids
    variants = {v for info in list_scenes() for v in info.variants}
    assert variants == {
        "effusion",
        "bakers_cyst",
        "ruptured_bakers_cyst",
        "gastrocnemius_tear",
        "thrombosed_vein",
        "achilles_tendinosis",
        "gout_double_contour",
        "gout_tophus",
        "abscess",
        "lymph_node",
        "stener_lesion",
        "inguinal_hernia",
        "muscle_hernia",
        "calcific_tendinitis",
        "proud_screw",
    }
    for info in list_scenes():
        assert info.title and info.views and all(info.variants.values())


def test_each_region_module_adds_its_own_scenes_and_no_scene_twice() -> None:
    assert sum(len(region.SCENES) for region in REGIONS) == len(SCENES)  # a repeated id would be lost
    assert set(leg_veins.SCENES) == {"groin", "thigh", "popliteal", "calf"}
    for scene_id, spec in SCENES.items():
        assert set(spec.variant_views) <= set(spec.variants), scene_id
        assert set(spec.variant_views.values()) <= set(spec.views), scene_id


def test_named_views_give_each_views_pose_as_plain_data() -> None:
    views = named_views()
    assert list(views) == [info.scene_id for info in list_scenes()]
    assert views["knee"]["patellar tendon long axis"] == {
        "position_mm": 72.0,
        "lateral_mm": 0.0,
        "rotation_deg": 0.0,
        "tilt_deg": 0.0,
        "pressure": 0.0,
    }
    for info in list_scenes():
        assert tuple(views[info.scene_id]) == info.views
        for name, pose in views[info.scene_id].items():
            assert ProbePose.from_mapping(pose) == build_scene(info.scene_id).views[name]


@pytest.mark.parametrize(("scene_id", "variant"), ALL)
def test_every_scene_and_variant_renders_in_every_format_and_geometry(
    scene_id: str, variant: str | None
) -> None:
    r = PatientRenderer(scene_id, variant, seed=1)
    depth = SCENES[scene_id].depth_mm
    for geometry in Geometry:
        for fmt in DataFormat:
            rows = 200 if fmt == DataFormat.RF_I16 else 48
            params = RenderParams(
                rows=rows,
                cols=40,
                depth_mm=depth,
                data_format=fmt,
                geometry=geometry,
                frequency_mhz=7.5,
                sampling_mhz=30.0,
            )
            frame = r.render(params, 0.0)
            assert frame.pixels.dtype == fmt.dtype
            assert frame.labels is not None and frame.labels.shape == frame.pixels.shape
            assert int(frame.labels.max()) < len(TISSUES)
            assert frame.structures_in_view


KEY_STRUCTURES = {
    ("knee", "suprapatellar long axis"): {
        "quadriceps tendon",
        "suprapatellar recess",
        "femur",
        "femoral trochlear cartilage",
        "prefemoral fat pad",
    },
    ("knee", "patellar tendon long axis"): {"patellar tendon", "infrapatellar (Hoffa) fat pad"},
    ("knee", "MCL coronal"): {"medial collateral ligament", "medial meniscus"},
    ("shoulder", "supraspinatus long axis"): {
        "supraspinatus tendon",
        "subacromial-subdeltoid bursa",
        "humeral head / greater tuberosity",
        "deltoid muscle",
    },
    ("shoulder", "long head of biceps short axis"): {"long head of biceps tendon"},
    ("elbow", "anterior short axis"): {"distal biceps tendon", "brachial artery", "median nerve"},
    ("elbow", "common extensor long axis"): {"common extensor tendon", "radial head"},
    ("wrist", "carpal tunnel short axis"): {
        "median nerve",
        "flexor retinaculum",
        "flexor digitorum profundus tendons",
    },
    ("hip", "anterior oblique long axis"): {
        "anterior synovial recess",
        "femoral head and neck / acetabulum",
        "anterosuperior labrum",
    },
    ("ankle", "Achilles long axis"): {"Achilles tendon", "Kager fat pad"},
    ("groin", "CFV short axis"): {"common femoral vein", "common femoral artery"},
    ("groin", "saphenofemoral junction short axis"): {"great saphenous vein", "common femoral vein"},
    ("thigh", "femoral vein short axis"): {"femoral vein", "superficial femoral artery"},
    ("popliteal", "popliteal short axis"): {"popliteal vein", "popliteal artery", "tibial nerve"},
    ("calf", "posterior tibial veins short axis"): {"posterior tibial veins", "soleal vein"},
}


@pytest.mark.parametrize(("scene_id", "view"), list(KEY_STRUCTURES))
def test_views_show_their_key_structures(scene_id: str, view: str) -> None:
    r = PatientRenderer(scene_id, seed=1)
    r.set_pose(SCENES[scene_id].views[view])
    geometry = Geometry.CONVEX if scene_id == "hip" else Geometry.LINEAR
    params = RenderParams(rows=120, cols=100, depth_mm=SCENES[scene_id].depth_mm, geometry=geometry)
    in_view = set(r.render(params, 0.0).structures_in_view)
    assert KEY_STRUCTURES[(scene_id, view)] <= in_view, KEY_STRUCTURES[(scene_id, view)] - in_view


@pytest.mark.parametrize(
    ("scene_id", "variant", "view", "structure"),
    [
        ("knee", "effusion", "suprapatellar long axis", "suprapatellar recess (effusion)"),
        ("knee", "gout_double_contour", "suprapatellar long axis", "urate on cartilage (double contour)"),
        ("popliteal", "bakers_cyst", "posteromedial short axis", "Baker's cyst"),
        (
            "calf",
            "ruptured_bakers_cyst",
            "medial gastrocnemius long axis",
            "fluid dissecting from ruptured Baker's cyst",
        ),
        (
            "calf",
            "gastrocnemius_tear",
            "medial gastrocnemius long axis",
            "hematoma between medial gastrocnemius and soleus",
        ),
        ("ankle", "achilles_tendinosis", "Achilles long axis", "Achilles tendinosis (fusiform, hypoechoic)"),
        ("groin", "abscess", "CFV short axis", "abscess"),
        ("groin", "lymph_node", "saphenofemoral junction short axis", "inguinal lymph node"),
    ],
)
def test_pathology_variants_appear_in_their_view(
    scene_id: str, variant: str, view: str, structure: str
) -> None:
    r = PatientRenderer(scene_id, variant, seed=1)
    r.set_pose(SCENES[scene_id].views[view])
    frame = r.render(RenderParams(rows=120, cols=100, depth_mm=SCENES[scene_id].depth_mm), 0.0)
    assert structure in frame.structures_in_view
    normal = PatientRenderer(scene_id, seed=1)
    normal.set_pose(SCENES[scene_id].views[view])
    assert structure not in normal.render(RenderParams(rows=120, cols=100), 0.0).structures_in_view


def test_effusion_is_anechoic_fluid_in_ground_truth_and_image() -> None:
    r = PatientRenderer("knee", "effusion", seed=1)
    r.set_pose(SCENES["knee"].views["suprapatellar long axis"])
    frame = r.render(RenderParams(rows=140, cols=120, depth_mm=35.0), 0.0)
    assert frame.labels is not None
    fluid = frame.labels == Label.FLUID
    fat = frame.labels == Label.FAT
    assert fluid.sum() > 500
    assert frame.pixels[fluid].mean() < 0.3 * frame.pixels[fat].mean()


def test_label_table_names_every_label() -> None:
    names = label_names()
    assert set(names) == {int(label) for label in Label}
    assert names[Label.BONE] == "bone" and names[Label.VEIN_LUMEN] == "venous blood"


def test_unknown_scene_or_variant_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown scene 'liver'"):
        build_scene("liver")
    with pytest.raises(ValueError, match=r"no variant 'effusion'.*thrombosed_vein"):
        PatientRenderer("groin", "effusion")


def test_pose_nudges_and_clamps() -> None:
    pose = ProbePose().nudged(
        position_mm=2.0, lateral_mm=-1.0, rotation_deg=450.0, tilt_deg=60.0, pressure=2.0
    )
    assert pose == ProbePose(2.0, -1.0, 90.0, 45.0, 1.0)
    assert pose.nudged(pressure=-5.0).pressure == 0.0
    with pytest.raises(ValueError, match="pressure"):
        ProbePose(pressure=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pose.tilt_deg = 0.0  # type: ignore[misc]


def test_renderer_satisfies_the_frame_renderer_protocol_and_switches_scene() -> None:
    r: FrameRenderer = PatientRenderer()
    assert isinstance(r, PatientRenderer)
    assert r.scene.scene_id == "knee" and r.pose == SCENES["knee"].views["suprapatellar long axis"]
    r.set_scene("groin", "thrombosed_vein")
    assert r.scene.variant == "thrombosed_vein" and r.pose == build_scene("groin").default_pose
    frame = r.render(RenderParams(rows=64, cols=64, depth_mm=40.0), 0.0)
    assert "common femoral vein" in frame.structures_in_view


def test_pose_can_change_from_another_thread_between_renders() -> None:
    r = PatientRenderer("qa_phantom", seed=2)
    params = RenderParams(rows=48, cols=48, depth_mm=20.0)
    done: queue.Queue[ProbePose] = queue.Queue()

    def driver() -> None:
        pose = r.pose
        for _ in range(20):
            pose = pose.nudged(position_mm=0.5)
            r.set_pose(pose)
        done.put(pose)

    t = threading.Thread(target=driver, name="pose-driver")
    t.start()
    for k in range(10):
        r.render(params, k / 30.0)
    final = done.get(timeout=10.0)
    t.join(timeout=10.0)
    assert r.pose == final
    moved = r.render(params, 1.0)
    fresh = PatientRenderer("qa_phantom", seed=2)
    fresh.set_pose(final)
    assert np.array_equal(moved.pixels, fresh.render(params, 1.0).pixels)


@pytest.mark.parametrize(
    "params",
    [
        RenderParams(rows=96, cols=80, depth_mm=30.0),  # one anatomy column per line
        RenderParams(rows=128, cols=80, depth_mm=10.0, width_mm=6.0),  # columns two lines wide
    ],
)
def test_sliding_probe_reuses_anatomy_columns_without_changing_a_bit(
    params: RenderParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    import drivers.sim.patient as patient_module

    computed = count_cell_columns(monkeypatch)
    sliding = PatientRenderer("groin", seed=4)
    start = dataclasses.replace(sliding.pose, rotation_deg=0.0)  # long axis: position moves in plane
    pitch = params.width_mm / params.cols
    # In plane both ways (long axis along the limb, short axis across it), with jumps, pressure and turns.
    moves: list[dict[str, float]] = [{}, {"position_mm": 0.3 * pitch}, {"position_mm": 2.6 * pitch}]
    moves += [{"position_mm": -5.0 * pitch}, {"position_mm": 30.0}, {"pressure": 0.4}, {"pressure": -0.4}]
    moves += [{"rotation_deg": 90.0}, {"lateral_mm": 1.3 * pitch}, {"lateral_mm": -4.1 * pitch}]
    moves += [{"rotation_deg": 30.0}, {"position_mm": 0.5}]
    pose = start
    same_phase_s = 12.0  # 14 heartbeats and 3 breaths: the vessels pulse and breathe back to where they were
    for i, move in enumerate(moves):
        pose = pose.nudged(**move)
        sliding.set_pose(pose)
        computed.clear()
        got = sliding.render(params, same_phase_s * i)
        if i in (1, 2, 3, 8, 9):  # small in-plane slides: only uncovered columns (and a margin) are computed
            assert sum(computed) <= patient_module.LATTICE_PREFETCH + 6 < params.cols // 2
        fresh = PatientRenderer("groin", seed=4)
        fresh.set_pose(pose)
        want = fresh.render(params, same_phase_s * i)
        assert np.array_equal(got.pixels, want.pixels), move
        assert got.labels is not None and want.labels is not None
        assert np.array_equal(got.labels, want.labels), move
        assert got.structures_in_view == want.structures_in_view


def test_a_short_axis_slide_at_the_limbs_origin_reuses_anatomy_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In exact short axis at position 0 the plane's offset is lateral x cos 90° = 1e-17 mm: a slide
    across must still find its columns (it recomputed the whole plane every frame)."""
    import drivers.sim.patient as patient_module

    computed = count_cell_columns(monkeypatch)
    params = RenderParams(rows=96, cols=80, depth_mm=30.0)
    sliding = PatientRenderer("groin", seed=4)
    pose = sliding.scene.views["CFV short axis"]
    assert pose.position_mm == 0.0 and pose.rotation_deg == 90.0
    sliding.set_pose(pose)
    sliding.render(params, 0.0)
    for step in (0.3, 1.7, -2.2):
        pose = pose.nudged(lateral_mm=step * params.width_mm / params.cols)
        sliding.set_pose(pose)
        computed.clear()
        got = sliding.render(params, 12.0)  # 14 heartbeats and 3 breaths: the vessels as at 0 s
        assert sum(computed) <= patient_module.LATTICE_PREFETCH + 6 < params.cols // 2, step
        fresh = PatientRenderer("groin", seed=4)
        fresh.set_pose(pose)
        assert np.array_equal(got.pixels, fresh.render(params, 12.0).pixels), step


def test_pressing_in_place_reuses_the_planes_tissue_without_changing_a_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pressure moves tissue in depth only: a pressed frame takes its tissue from the unpressed plane's
    cells (painting afresh only what comes up from below them and the rows of the veins, whose
    breathing the pressure damps), the same bits however it got there."""

    painted = count_painted_cells(monkeypatch)
    params = RenderParams(rows=96, cols=80, depth_mm=30.0)
    pressing = PatientRenderer("groin", seed=4)
    pose = pressing.scene.views["CFV short axis"]
    pressing.set_pose(pose)
    pressing.render(params, 0.0)
    whole = sum(painted)
    for pressure in (0.3, 0.6, 1.0, 0.5):
        pose = dataclasses.replace(pose, pressure=pressure)
        pressing.set_pose(pose)
        painted.clear()
        got = pressing.render(params, 12.0)  # 14 heartbeats and 3 breaths: the vessels as at 0 s
        # A vein breathes only as much as the probe leaves it open, so a new pressure repaints the
        # rows its calibre reaches; pressed flat at 0.6 and at 1.0 it is the same vein.
        assert sum(painted) < (0.1 if pressure == 1.0 else 0.25) * whole, (pressure, sum(painted), whole)
        fresh = PatientRenderer("groin", seed=4)
        fresh.set_pose(pose)
        want = fresh.render(params, 12.0)
        assert np.array_equal(got.pixels, want.pixels), pressure
        assert got.labels is not None and want.labels is not None
        assert np.array_equal(got.labels, want.labels), pressure


@pytest.mark.parametrize(("scene_id", "view"), [("groin", "CFV short axis"), ("calf", None)])
def test_pressure_is_worked_out_on_the_cells_and_interpolated_for_the_speckle_between_them(
    scene_id: str,
    view: str | None,
) -> None:
    """The cells (whose tissue the frame shows) take their exact patient depth under pressure; the
    samples between them an interpolated one, close enough that under 2 % of them take their speckle
    from another row than the exact depth would give."""
    renderer = PatientRenderer(scene_id)
    pose = (renderer.scene.views[view] if view else renderer.pose).nudged(pressure=0.8)
    grid, _ = renderer._grid(RenderParams(rows=512, cols=512, depth_mm=40.0), 512, 512, 40.0)
    coords = ph.plane_coords(grid, pose)
    rs, cs = anatomy_steps(grid)
    assert (rs, cs) == (2, 2)
    got = _compressed(renderer.scene, 0.8, coords, rs, cs)
    exact = np.broadcast_to(compress_vessels(renderer.scene, 0.8, coords.s, coords.t, coords.d), got.shape)
    assert not np.array_equal(exact, np.broadcast_to(coords.d, got.shape))
    np.testing.assert_array_equal(got[::rs, ::cs], exact[::rs, ::cs])
    other_row = np.rint(got / grid.dz_mm) != np.rint(exact / grid.dz_mm)
    assert 0.0 < other_row.mean() < 0.02


def test_frames_vary_with_time_only_through_noise() -> None:
    r = PatientRenderer("qa_phantom", seed=2)
    params = RenderParams(rows=64, cols=64, depth_mm=20.0, data_format=DataFormat.ENVELOPE_U16)
    a = r.render(params, 0.0).pixels.astype(float)
    b = r.render(params, 0.5).pixels.astype(float)
    assert not np.array_equal(a, b)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_a_probe_held_pressed_flat_keeps_the_tissue_still_while_the_patient_breathes() -> None:
    """A vein pressed flat cannot fill with the breath: the tissue the probe holds stays where it is
    from one breath phase to the next (it jumped by up to a millimetre when the squash followed the
    vein's breathing calibre), while the vein pressed half way still breathes."""

    def shallow_rows_over_a_breath(pressure: float) -> list[npt.NDArray[np.float64]]:
        renderer = PatientRenderer("groin", seed=1)
        renderer.set_pose(renderer.scene.views["CFV short axis"].nudged(pressure=pressure))
        params = RenderParams(rows=256, cols=192, depth_mm=40.0, data_format=DataFormat.ENVELOPE_U16)
        # 4 s at 0.25 s: every respiratory phase bin of a breath (and whatever cardiac bins fall there).
        frames = [renderer.render(params, 0.25 * k).pixels.astype(np.float64) for k in range(17)]
        return [f[25:100] for f in frames]  # 4-16 mm: the tissue above the femoral vessels

    def lowest_correlation(frames: list[npt.NDArray[np.float64]]) -> float:
        return min(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) for a, b in itertools.pairwise(frames))

    # Pressed flat: 0.98 (the artery beside it still pulses), where following the calibre gave 0.80.
    assert lowest_correlation(shallow_rows_over_a_breath(1.0)) > 0.95
    assert lowest_correlation(shallow_rows_over_a_breath(0.3)) < 0.95
