"""The scenes the seed's own examinations practise on lie in the order the anatomy has them.

Knee retinacula and MPFL, the thumb's UCL (and a Stener lesion), the inguinal canal (and an indirect
hernia), a tibialis anterior muscle hernia and the costal margin: each test reads the ground truth
straight down one column of skin (`paint`), so it checks relations the scene data must keep, not
what a view happens to render.
"""

from __future__ import annotations

import numpy as np

from drivers.sim.anatomy import Scene, paint
from drivers.sim.scenes import build_scene


def column(scene: Scene, s_mm: float, t_mm: float, depth_mm: float = 40.0) -> list[str]:
    """Structure names met going straight down from the skin at (s, t), each run once, top first."""
    s = np.full((1, 1), s_mm, dtype=np.float32)
    t = np.full((1, 1), t_mm, dtype=np.float32)
    d = np.arange(0.0, depth_mm, 0.05, dtype=np.float32)[:, None]
    index = paint(scene, s, t, np.broadcast_to(d, (d.shape[0], 1)))[:, 0]
    names: list[str] = []
    for i in index:
        name = scene.structures[int(i) - 1].name if i > 0 else "outside"
        if not names or names[-1] != name:
            names.append(name)
    return names


def _above(names: list[str], upper: str, lower: str) -> bool:
    return upper in names and lower in names and names.index(upper) < names.index(lower)


def test_medial_retinaculum_lies_over_the_mpfl_and_both_over_the_medial_condyle() -> None:
    names = column(build_scene("knee"), 12.0, 30.0)
    assert _above(names, "medial patellar retinaculum", "medial patellofemoral ligament (MPFL)")
    assert _above(names, "medial patellofemoral ligament (MPFL)", "medial femoral condyle cartilage")
    assert names[-1] == "medial femoral condyle"
    lateral = column(build_scene("knee"), 12.0, -30.0)
    assert _above(lateral, "lateral patellar retinaculum", "lateral femoral condyle")
    assert "medial patellofemoral ligament (MPFL)" not in lateral


def test_thumb_ucl_lies_under_the_aponeurosis_and_a_stener_stump_above_its_edge() -> None:
    normal = column(build_scene("thumb_mcp"), -4.0, 0.0, 15.0)
    assert _above(normal, "adductor aponeurosis", "ulnar collateral ligament of the thumb (UCL)")
    assert _above(normal, "ulnar collateral ligament of the thumb (UCL)", "first metacarpal head")
    stener = build_scene("thumb_mcp", "stener_lesion")
    stump = "retracted ulnar collateral ligament of the thumb (Stener lesion)"
    # Proximal to the aponeurosis' edge the stump is all there is over the bone ...
    at_stump = column(stener, -9.0, 0.0, 15.0)
    assert stump in at_stump and "adductor aponeurosis" not in at_stump
    # ... and over the joint the aponeurosis lies on an empty, blood-filled ligament bed.
    at_joint = column(stener, 2.0, 0.0, 15.0)
    assert _above(at_joint, "adductor aponeurosis", "haematoma at the empty UCL insertion")
    assert not any("ulnar collateral" in n for n in at_joint)


def test_inguinal_canal_lies_under_the_aponeurosis_with_the_epigastric_vessels_medial_to_the_deep_ring() -> (
    None
):
    groin = build_scene("groin")
    cord = column(groin, -24.0, 20.0)
    assert _above(cord, "external oblique aponeurosis", "spermatic cord (inguinal canal)")
    assert _above(cord, "spermatic cord (inguinal canal)", "transversalis fascia (Hesselbach triangle)")
    # t grows medially: the deep ring is lateral to the inferior epigastric artery, which runs deep
    # to the canal's floor.
    assert "deep inguinal ring" in column(groin, -24.0, -5.0)
    artery = column(groin, -24.0, 4.0)
    assert _above(artery, "transversalis fascia (Hesselbach triangle)", "inferior epigastric artery")


def test_indirect_hernia_enters_the_canal_at_the_deep_ring_lateral_to_the_epigastric_vessels() -> None:
    hernia = build_scene("groin", "inguinal_hernia")
    sac = "indirect inguinal hernia (fat in the sac)"
    assert sac in column(hernia, -24.0, -5.0)  # at the deep ring
    assert _above(column(hernia, -24.0, 4.0), sac, "inferior epigastric artery")  # superficial to them
    assert sac not in column(build_scene("groin"), -24.0, 4.0)
    assert sac not in column(hernia, 0.0, 9.0)  # the femoral canal's level stays as it was


def test_muscle_hernia_bulges_through_a_gap_in_an_otherwise_continuous_fascia() -> None:
    fascia = "crural fascia (muscle fascia)"
    normal, hernia = build_scene("anterior_leg"), build_scene("anterior_leg", "muscle_hernia")
    for s in (-20.0, 0.0, 20.0):
        assert _above(column(normal, s, 0.0, 30.0), fascia, "tibialis anterior muscle")
        if s:
            assert fascia in column(hernia, s, 0.0, 30.0)
    at_defect = column(hernia, 0.0, 0.0, 30.0)
    assert fascia not in at_defect
    assert _above(
        at_defect, "subcutaneous fat", "herniated tibialis anterior muscle (through the fascial defect)"
    )


def test_each_lower_costal_cartilage_tip_lies_deep_to_the_one_above_with_a_junction_between() -> None:
    margin = build_scene("costal_margin")
    for s, upper, junction, lower in (
        (-3.0, "8th costal cartilage", "interchondral junction (8th-9th)", "9th costal cartilage"),
        (37.0, "9th costal cartilage", "interchondral junction (9th-10th)", "10th costal cartilage"),
    ):
        names = column(margin, s, 0.0, 30.0)
        assert _above(names, upper, junction) and _above(names, junction, lower), names
