"""Scripted exams: a protocol walked without a screen, every capture labelled and kept as DICOM."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from protocols.scripted_exam import SCRIPTED_TIME_OUT_SKIP, run_scripted_exam
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.preset_outcome import PresetOutcome
from scanner_app.studies import StudyStore
from tests.cli_support import run_main
from tests.studies_support import dciodvfy, make_frame


def _source(count: int):
    frames = iter([make_frame(i) for i in range(count)])  # 25 frames/s of host time
    return lambda: next(frames, None)


def test_knee_walked_to_completion_with_every_capture_labelled(tmp_path: Path) -> None:
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    with StudyStore(tmp_path) as store:
        result = run_scripted_exam(_source(2000), knee, store, seconds=80, capture_every_s=0.2, side="right")
        assert result.record["complete"] is True
        study = store.get_study(result.study_uid)
        assert study.ended_at is not None and study.protocol_record == result.record
        step_ids = {s.id for s in knee.steps}
        assert len(study.captures) == len(result.captures) > len(knee.steps)
        for capture in study.captures:
            ds = store.read_dataset(capture)
            assert ds.ImageLaterality == "R" and ds.BodyPartExamined == "KNEE"
            assert any(f"step {sid} " in ds.ImageComments for sid in step_ids)
        # Every mandatory step got its captures.
        for step in knee.steps:
            if step.mandatory and step.captures:
                assert any(f"step {step.id} " in store.read_dataset(c).ImageComments for c in study.captures)


def test_clip_requirements_become_multiframe_clips(tmp_path: Path) -> None:
    dvt = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml")
    assert any(r.kind.value == "clip" for s in dvt.steps for r in s.captures)
    with StudyStore(tmp_path) as store:
        result = run_scripted_exam(_source(3000), dvt, store, seconds=120, capture_every_s=0.5, side="left")
        clips = [c for c in result.captures if c.kind == "clip"]
        assert clips
        ds = store.read_dataset(clips[0])
        assert int(ds.NumberOfFrames) > 1 and ds.BodyPartExamined == "LEG"
        errors, _ = dciodvfy(store.capture_path(clips[0]))
        assert errors == []
        assert result.record["area_of_pain"] is not None


def test_source_that_ends_early_keeps_what_was_captured(tmp_path: Path) -> None:
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    with StudyStore(tmp_path) as store:
        result = run_scripted_exam(_source(30), knee, store, seconds=60, capture_every_s=0.2)
        assert 0 < len(result.captures) < 10
        assert result.record["complete"] is False
        study = store.get_study(result.study_uid)
        assert study.ended_at is not None and len(study.captures) == len(result.captures)


@pytest.mark.slow  # three seconds of simulated scanning
def test_headless_protocol_run_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_main(
        ["--headless", "--probe", "sim", "--protocol", "knee", "--seconds", "3",
         "--capture-every", "0.5", "--study-dir", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert "captures" in run.out and "latency: p50" in run.out
    # Three seconds cannot cover the knee: the user is told which steps are still to capture.
    assert "incomplete; steps still to capture: " in run.out
    assert "Popliteal fossa, menisci and PCL (" in run.out
    # How many captures three seconds hold depends on the machine's load (4 on a quiet one, fewer
    # while other tests run): what the summary says was kept is what the folder holds.
    said = re.search(r": (\d+) captures, \d+ frames", run.out)
    assert said is not None, run.out
    files = sorted(tmp_path.rglob("*.dcm"))
    assert len(files) == int(said.group(1)) >= 1
    errors, _ = dciodvfy(files[0])
    assert errors == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--headless", "--protocol", "no-such"], "unknown protocol 'no-such'"),
        (["--protocol", "knee"], "needs --headless"),
        (["--headless", "--protocol", "knee", "--capture-every", "0"], "--capture-every must be a posit"),
        (["--headless", "--usb-backend", "x:y"], "--usb-backend goes with --probe usb"),
        (["--headless", "--protocol", "knee", "--study-dir", "/proc/none"], "cannot open the study folder"),
        (["--headless", "--protocol", "knee", "--study-dir", __file__], "is a file; give a folder"),
    ],
)
def test_bad_protocol_options(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(args, capsys)
    assert run.code == 2 and needle in run.err


def test_check_protocols_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = run_main(["--check-protocols"], capsys)
    assert ok.code == 0 and "knee.yaml" in ok.out
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\ntitle: [unclosed\n")
    bad = run_main(["--check-protocols", str(broken)], capsys)
    assert bad.code != 0 and "broken.yaml:" in bad.err


def test_a_source_that_applies_no_preset_has_each_recorded_as_not_applied(tmp_path: Path) -> None:
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    sent: list[dict[str, float]] = []

    def refuse(preset: Mapping[str, float]) -> PresetOutcome:
        sent.append(dict(preset))
        return PresetOutcome({}, {name: f"{name} is as it was recorded" for name in preset})

    with StudyStore(tmp_path) as store:
        result = run_scripted_exam(
            _source(2000), knee, store, seconds=80, capture_every_s=0.2, side="right", apply_preset=refuse
        )
        study = store.get_study(result.study_uid)
    # Each step's preset was sent once, in step order, and the exam went on to completion.
    with_preset = [s for s in knee.steps if s.preset is not None]
    assert sent == [s.preset.as_dict() for s in with_preset if s.preset is not None]
    assert result.record["complete"] is True and len(result.captures) > len(knee.steps)
    for step in result.record["steps"]:
        if step["step_id"] in {s.id for s in with_preset}:
            assert step["preset"]["status"] == "not applied"
            assert step["preset"]["not_applied"]["depth_mm"] == "depth_mm is as it was recorded"
    assert study.protocol_record == result.record  # kept with the study
    assert result.outcome()["presets"] == {s.id: "not applied" for s in with_preset}


def test_a_scripted_procedure_records_that_it_held_no_time_out(tmp_path: Path) -> None:
    bursa = load_protocol(LIBRARY_DIR / "sasd_bursa_injection.yaml")
    with StudyStore(tmp_path) as store:
        result = run_scripted_exam(_source(1000), bursa, store, seconds=40, capture_every_s=0.2, side="right")
    procedure = result.record["procedure"]
    assert procedure["time_out"]["complete"] is False
    assert procedure["time_out"]["skip_reason"] == SCRIPTED_TIME_OUT_SKIP
    assert procedure["images"]["needle"]  # the needle step's images were taken after it, and counted
