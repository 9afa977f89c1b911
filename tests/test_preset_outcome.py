"""A preset sent through the engine (issue 19): a probe that applies it reads each setting back; a
replayed case applies none and says why, setting by setting, and imaging goes on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.replay import ReplayProbeDriver
from scanner_app.engine import AcquisitionEngine
from scanner_app.preset_outcome import PresetOutcome, apply_preset
from scanner_app.probe import ProbeDriver, SettingKey
from scanner_app.ring import FrameRing
from scanner_app.sequence_file import SequenceWriter
from tests.factories import make_frame
from tests.fake_driver import ScriptedDriver

PRESET = {"depth_mm": 30.0, "frequency_mhz": 12.0, "focus_mm": 14.0}


def write_case(path: Path, frames: int = 10) -> Path:
    writer = SequenceWriter(path)
    for i in range(frames):
        writer.write(make_frame(i, pixels=np.full((64, 48), 10 + i, dtype=np.uint8)))
    return writer.close()


def streaming(driver: ProbeDriver) -> Iterator[AcquisitionEngine]:
    engine = AcquisitionEngine(driver, FrameRing(16, 64 * 48))
    engine.start()
    try:
        assert engine.ring.wait_for_frame_after(-1, timeout_s=5.0)  # connected and imaging
        yield engine
    finally:
        engine.close()


@pytest.fixture
def scripted() -> Iterator[AcquisitionEngine]:
    yield from streaming(ScriptedDriver())


@pytest.fixture
def replayed(tmp_path: Path) -> Iterator[AcquisitionEngine]:
    yield from streaming(ReplayProbeDriver(write_case(tmp_path / "case.igs.nrrd")))


def test_a_probe_that_applies_the_preset_reads_each_setting_back(scripted: AcquisitionEngine) -> None:
    outcome = apply_preset(scripted, PRESET)
    assert outcome.status == "applied" and outcome.not_applied == {}
    assert outcome.applied == pytest.approx(PRESET)
    assert scripted.settings_in_force()[SettingKey.DEPTH_MM] == pytest.approx(30.0)  # kept in force


def test_a_replay_applies_no_preset_says_why_and_goes_on(replayed: AcquisitionEngine) -> None:
    outcome = apply_preset(replayed, PRESET)
    assert outcome.status == "not applied" and outcome.applied == {}
    assert set(outcome.not_applied) == set(PRESET)
    assert all("is a recording" in reason for reason in outcome.not_applied.values())
    record = outcome.to_record()
    assert record["status"] == "not applied" and record["not_applied"] == outcome.not_applied
    # Imaging goes on after the refusals.
    newest = replayed.ring.newest_seq
    assert replayed.ring.wait_for_frame_after(newest, timeout_s=5.0)


def test_partly_applied_when_some_settings_are_refused() -> None:
    outcome = PresetOutcome({"focus_mm": 14.0}, {"depth_mm": "read-only"})
    assert outcome.status == "partly applied"
