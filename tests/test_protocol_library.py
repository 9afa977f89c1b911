"""The shipped protocol library: every file validates, covers its reference content and can be completed."""

from __future__ import annotations

import pytest

from drivers.sim.scenes import named_views
from protocols.model import CaptureSide, ImagingMode, Plane, ProtocolKind, ScanProtocol
from protocols.runner import ChecklistRunner
from protocols.validation import LIBRARY_DIR, load_library
from scanner_app.capture import CaptureKind

PROTOCOLS, ERRORS = load_library(views=named_views())  # as main.py loads it
BY_ID = {p.id: p for p in PROTOCOLS}

# Structures each ESSR joint table lists (reference/clinical.md sections 1.1-1.6), in the words the
# reference uses; a protocol covers one when some step's structure list contains it.
REFERENCE_STRUCTURES = {
    "shoulder": [
        "long head of biceps",
        "subscapularis",
        "lesser tuberosity",
        "supraspinatus",
        "rotator interval",
        "subacromial-subdeltoid",
        "infraspinatus",
        "teres minor",
        "posterior labrum",
        "posterior recess",
        "spinoglenoid notch",
        "acromioclavicular joint",
        "os acromiale",
        "coracoacromial ligament",
    ],
    "elbow": [
        "biceps",
        "brachialis",
        "brachial artery",
        "median nerve",
        "trochlear cartilage",
        "distal biceps tendon",
        "radial tuberosity",
        "radial nerve",
        "brachioradialis",
        "superficial branch",
        "posterior interosseous nerve",
        "supinator",
        "arcade of frohse",
        "common extensor tendon",
        "lucl",
        "radial head",
        "common flexor tendon",
        "anterior band of the ucl",
        "triceps",
        "olecranon fossa",
        "posterior recess",
        "olecranon bursa",
        "ulnar nerve",
        "epicondylar groove",
        "cubital tunnel",
    ],
    "wrist_hand": [
        "apl",
        "epb",
        "retinaculum",
        "vertical septum",
        "ecrl",
        "ecrb",
        "lister tubercle",
        "epl",
        "edc",
        "eip",
        "edm",
        "ecu",
        "distal radioulnar",
        "radiocarpal",
        "midcarpal",
        "cmc",
        "dorsal radiocarpal ligament",
        "radial artery",
        "cephalic vein",
        "scapholunate ligament",
        "tfcc",
        "median nerve",
        "flexor tendons",
        "flexor retinaculum",
        "scaphoid tubercle",
        "pisiform",
        "trapezium",
        "hook of hamate",
        "guyon canal",
        "ulnar artery",
        "fcr",
        "volar ganglion",
    ],
    "hip": [
        "anterior synovial recess",
        "femoral head",
        "femoral neck",
        "labrum",
        "iliofemoral ligament",
        "iliopsoas muscle",
        "iliopsoas tendon",
        "iliopectineal eminence",
        "femoral neurovascular bundle",
        "iliopsoas bursa",
        "gluteus minimus",
        "gluteus medius",
        "gluteus maximus",
        "fascia lata",
        "itb",
        "trochanteric bursae",
        "ischial tuberosity",
        "semimembranosus",
        "semitendinosus",
        "biceps femoris long head",
        "sciatic nerve",
    ],
    "knee": [
        "quadriceps tendon",
        "rectus femoris myotendinous junction",
        "suprapatellar fat pad",
        "prefemoral fat pad",
        "suprapatellar recess",
        "patellar tendon",
        "hoffa fat pad",
        "prepatellar bursa",
        "infrapatellar bursa",
        "femoral trochlear cartilage",
        "mcl",
        "pes anserinus",
        "sartorius",
        "gracilis",
        "semitendinosus",
        "medial meniscus",
        "iliotibial band",
        "gerdy tubercle",
        "lcl",
        "biceps femoris tendon",
        "popliteus tendon",
        "common peroneal nerve",
        "gastrocnemius-semimembranosus bursa",
        "medial gastrocnemius head",
        "semimembranosus tendon",
        "popliteal artery",
        "popliteal vein",
        "tibial nerve",
        "posterior horn of the medial meniscus",
        "posterior horn of the lateral meniscus",
        "pcl",
    ],
    "ankle_foot": [
        "tibialis anterior",
        "ehl",
        "edl",
        "anterior tibial artery",
        "deep peroneal nerve",
        "superior extensor retinaculum",
        "peroneus tertius",
        "anterior recess of the tibiotalar joint",
        "tibialis posterior",
        "fdl",
        "fhl",
        "tibial nerve",
        "posterior tibial vessels",
        "flexor retinaculum",
        "deltoid ligament",
        "peroneus brevis",
        "peroneus longus",
        "superior peroneal retinaculum",
        "atfl",
        "cfl",
        "aitfl",
        "achilles",
        "paratenon",
        "plantaris",
        "kager fat pad",
        "retrocalcaneal bursa",
        "retro-achilles bursa",
        "plantar fascia",
    ],
}

# Incidental findings (reference/clinical.md 2.4) a DVT study's area-of-symptoms step should prompt.
DVT_INCIDENTAL_FINDINGS = [
    "baker_cyst",
    "ruptured_baker_cyst",
    "muscle_tear",
    "plantaris_rupture",
    "hematoma",
    "effusion",
    "abscess",
    "cellulitis_edema",
    "lymph_node",
    "tendinosis",
    "gout",
    "superficial_thrombophlebitis",
    "popliteal_artery_aneurysm",
    "soft_tissue_mass",
    "lymphocele",
]


def test_every_shipped_protocol_validates() -> None:
    assert ERRORS == []
    assert len(PROTOCOLS) == len(list(LIBRARY_DIR.glob("*.yaml")))
    assert set(BY_ID) == {
        "shoulder", "elbow", "wrist_hand", "hip", "knee", "ankle_foot",
        "dvt_whole_leg", "dvt_two_point", "area_of_pain_msk", "guided_injection",
        "dvt_upper_extremity",
    }  # fmt: skip


@pytest.mark.parametrize("protocol_id", sorted(REFERENCE_STRUCTURES))
def test_normal_anatomy_protocol_covers_the_reference_structures(protocol_id: str) -> None:
    protocol = BY_ID[protocol_id]
    assert protocol.kind is ProtocolKind.NORMAL_ANATOMY
    listed = " | ".join(s.lower() for step in protocol.steps for s in step.structures)
    missing = [s for s in REFERENCE_STRUCTURES[protocol_id] if s not in listed]
    assert missing == []


@pytest.mark.parametrize("protocol_id", sorted(REFERENCE_STRUCTURES))
def test_normal_anatomy_protocol_has_focused_quadrants_covering_every_step(protocol_id: str) -> None:
    protocol = BY_ID[protocol_id]
    assert len(protocol.quadrants) >= 2
    in_quadrants = {s for q in protocol.quadrants for s in q.steps}
    assert in_quadrants == {s.id for s in protocol.steps}


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.id)
def test_each_protocol_cites_sources_and_scanning_steps_carry_presets(protocol: ScanProtocol) -> None:
    assert protocol.sources and all(("http" in s) for s in protocol.sources)
    for step in protocol.steps:
        if step.captures:
            assert step.preset is not None and step.plane is not None, step.id


def _satisfy(runner: ChecklistRunner, finding_index: int) -> None:
    """Do everything the current step asks, as an operator would, with every capture labelled."""
    step = runner.current_step
    n = 0
    if step.mark_area_of_pain and runner.area_of_pain is None:
        runner.mark_area_of_pain(protocol_region(runner.protocol), "left", 0.5, 0.5)
    if step.findings:
        runner.choose_finding(step.findings[finding_index].id)
    for item in runner.missing_for_step(step.id):
        if item.what != "capture":
            continue
        reqs = [*step.captures, *(r for fu in runner.open_follow_ups() for r in fu.captures)]
        for req in reqs:
            for _ in range(req.count):
                n += 1
                labels = runner.record_capture(
                    kind=req.kind.value,
                    plane=req.plane.value,
                    capture_id=f"{step.id}-{n}",
                    mode=req.mode.value,
                    contralateral=req.side is CaptureSide.CONTRALATERAL,
                )
                assert labels["protocol_id"] == runner.protocol.id and labels["step_id"] == step.id
        break
    for item in runner.missing_for_step(step.id):
        if item.what == "measurement":
            runner.record_measurement(item.measurement_id, 12.5)
    assert runner.missing_for_step(step.id) == [], step.id


def protocol_region(protocol: ScanProtocol) -> str:
    return protocol.region if protocol.region != "any" else "thigh"


@pytest.mark.parametrize("finding_index", [0, -1], ids=["first_finding", "last_finding"])
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.id)
def test_each_protocol_can_be_walked_to_a_complete_exam(protocol: ScanProtocol, finding_index: int) -> None:
    """Choosing the first (normal) or the last (a pathology, opening its follow-ups) finding everywhere."""
    runner = ChecklistRunner(protocol, side="left", clock=lambda: 0.0)
    while True:
        _satisfy(runner, finding_index)
        if not runner.next():
            break
    record = runner.end_exam()
    assert record.complete, record.missing
    assert all(s.status == "done" for s in record.steps)


def test_dvt_whole_leg_follows_the_sru_components() -> None:
    dvt = BY_ID["dvt_whole_leg"]
    assert dvt.kind is ProtocolKind.VENOUS_WITH_AREA_OF_PAIN
    assert [s.id for s in dvt.steps][:2] == ["setup", "cfv_compression"]
    assert dvt.step("setup").mark_area_of_pain
    # Compression every 2 cm along the femoral, popliteal and calf veins.
    for sid in ("femoral_vein", "popliteal", "calf_veins"):
        assert "every 2 cm" in dvt.step(sid).manoeuvre
    # Spectral Doppler of the CFV on both sides; of the popliteal vein on the symptomatic side.
    cfv = {(c.mode, c.side) for c in dvt.step("cfv_doppler").captures}
    assert cfv == {
        (ImagingMode.SPECTRAL_DOPPLER, CaptureSide.EXAM),
        (ImagingMode.SPECTRAL_DOPPLER, CaptureSide.CONTRALATERAL),
    }
    pop = {(c.mode, c.side) for c in dvt.step("popliteal").captures if c.mode is not ImagingMode.BMODE}
    assert pop == {
        (ImagingMode.SPECTRAL_DOPPLER, CaptureSide.EXAM),
        (ImagingMode.COLOR_DOPPLER, CaptureSide.EXAM),
    }
    calf = " ".join(dvt.step("calf_veins").structures)
    assert "posterior tibial" in calf and "peroneal" in calf and "soleal" in calf and "gastrocnemius" in calf
    area = dvt.step("area_of_symptoms")
    assert area.mark_area_of_pain
    assert {c.plane for c in area.captures} == {Plane.TRANSVERSE, Plane.LONG_AXIS}
    ids = [f.id for f in area.findings]
    assert [f for f in DVT_INCIDENTAL_FINDINGS if f not in ids] == []
    # Every pathology in the area of symptoms opens a follow-up that documents or measures it.
    assert {fu.when for fu in area.follow_ups} == set(ids) - {"normal"}


def test_two_point_covers_groin_and_popliteal_and_the_negative_pathway() -> None:
    two = BY_ID["dvt_two_point"]
    text = " ".join(s for step in two.steps for s in step.structures)
    for s in ("common femoral vein", "saphenofemoral junction", "profunda", "popliteal vein", "trifurcation"):
        assert s in text
    assert "5–7 days" in two.step("disposition").instructions


def test_area_of_pain_exam_marks_the_site_scans_two_planes_moves_and_compares() -> None:
    aop = BY_ID["area_of_pain_msk"]
    assert aop.kind is ProtocolKind.AREA_OF_PAIN
    assert aop.step("mark_site").mark_area_of_pain
    assert {c.plane for c in aop.step("two_planes").captures} == {Plane.LONG_AXIS, Plane.SHORT_AXIS}
    dynamic = aop.step("dynamic")
    assert dynamic.manoeuvre and [c.kind for c in dynamic.captures] == [CaptureKind.CLIP]
    assert [c.side for c in aop.step("compare_other_side").captures] == [CaptureSide.CONTRALATERAL]


def test_injection_checklist_has_time_out_needle_and_image_after() -> None:
    inj = BY_ID["guided_injection"]
    assert inj.kind is ProtocolKind.PROCEDURE
    ids = [s.id for s in inj.steps]
    assert (
        ids.index("target_scan")
        < ids.index("time_out")
        < ids.index("needle_guidance")
        < ids.index("image_after")
    )
    assert "confirmed" in [f.id for f in inj.step("time_out").findings]
    assert any(c.kind is CaptureKind.CLIP for c in inj.step("needle_guidance").captures)
    assert inj.step("image_after").captures


def test_practice_targets_are_reachable_poses() -> None:
    targets = [(p.id, s.id, s.practice) for p in PROTOCOLS for s in p.steps if s.practice is not None]
    assert len(targets) >= 15
    for pid, sid, t in targets:
        assert t is not None
        runner = ChecklistRunner(BY_ID[pid], side="right", practice=True, clock=lambda: 0.0)
        runner.go_to([s.id for s in runner.steps].index(sid))
        assert runner.check_practice_view(t.scene, dict(t.pose)), (pid, sid)
