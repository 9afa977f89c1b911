"""The new sources from the command line: --list-probes lists every kind, a replayed case runs headless
(recorded with --record and served with --stream-out), and a protocol runs on it with its captures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scanner_app.sequence_file import SequenceWriter, read_sequence
from scanner_app.studies import StudyStore
from tests.cli_support import run_main
from tests.factories import make_frame


def write_case(path: Path, frames: int = 10) -> Path:
    writer = SequenceWriter(path)
    for i in range(frames):
        writer.write(make_frame(i, pixels=np.full((128, 96), 10 + 10 * i, dtype=np.uint8)))
    return writer.close()


def test_list_probes_names_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(["--list-probes"], capsys)
    assert run.code == 0
    for syntax in (
        "sim:",
        "sim-serial:",
        "usb[:VID:PID]:",
        "serial:PORT[@BAUD]:",
        "igtl://HOST",
        "replay:PATH:",
    ):
        assert syntax in run.out


def test_bad_source_specs_are_refused_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = run_main(["--headless", "--probe", "replay:"], capsys)
    assert run.code == 2 and "needs a recording" in run.err
    run = run_main(["--headless", "--probe", f"replay:{tmp_path / 'none.igs.nrrd'}"], capsys)
    assert run.code == 2 and "no recording at" in run.err
    run = run_main(["--headless", "--probe", "igtl://"], capsys)
    assert run.code == 2 and "igtl://HOST:PORT" in run.err
    case = write_case(tmp_path / "case.igs.nrrd")
    run = run_main(["--headless", "--probe", f"replay:{case}", "--stream-out", "nonsense"], capsys)
    assert run.code == 2 and "[HOST:]PORT" in run.err


@pytest.mark.slow  # two seconds of replay
def test_headless_replay_is_recorded_and_streamed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = write_case(tmp_path / "case.igs.nrrd")
    out = tmp_path / "again.seq.nrrd"
    run = run_main(
        ["--headless", "--probe", f"replay:{case}", "--seconds", "2", "--record", str(out),
         "--stream-out", "127.0.0.1:0"],
        capsys,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert "streaming OpenIGTLink on 127.0.0.1:" in run.err
    info, frames = read_sequence(out)
    assert info.frame_count >= 10 and info.spacing_mm == pytest.approx((0.1, 0.2))
    # Frame for frame the recorded case, looping.
    assert [int(f.pixels[0, 0]) for f in frames[:10]] == [10 + 10 * i for i in range(10)]


@pytest.mark.slow  # three seconds of a scripted exam
def test_a_protocol_runs_on_a_replayed_case(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = write_case(tmp_path / "case.igs.nrrd")
    stats = tmp_path / "stats.json"
    run = run_main(
        ["--headless", "--probe", f"replay:{case}", "--protocol", "knee", "--seconds", "3",
         "--capture-every", "0.5", "--study-dir", str(tmp_path / "studies"), "--stats-json", str(stats)],
        capsys,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert len(sorted((tmp_path / "studies").rglob("*.dcm"))) >= 4
    # A recording applies no preset: each step reached has its preset recorded as not applied, and the
    # exam went on with its captures.
    assert "presets not applied by this source" in run.out
    exam = json.loads(stats.read_text())["exam"]
    assert exam["presets"] and set(exam["presets"].values()) == {"not applied"}
    with StudyStore(tmp_path / "studies") as store:
        record = store.get_study(exam["study_uid"]).protocol_record
    assert record is not None
    reached = [step for step in record["steps"] if step["preset"] is not None]
    assert {step["step_id"] for step in reached} == set(exam["presets"])
    for step in reached:
        assert step["preset"]["status"] == "not applied" and step["preset"]["applied"] == {}
        assert "is a recording" in step["preset"]["not_applied"]["depth_mm"]
    assert exam["captures"] >= 4
