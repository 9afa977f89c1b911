"""Headless scripted capture: stills on the frames' own clock, into a study that is then ended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from scanner_app.frame import Frame
from scanner_app.studies import StudyError, StudyStore
from scanner_app.studies.headless import run_headless_study
from tests.studies_support import make_frame


def _frames(count: int) -> Iterator[Frame]:
    return (make_frame(i) for i in range(count))  # 25 frames/s of host time


def test_captures_on_the_frame_clock(tmp_path: Path) -> None:
    # 100 frames = 4 s of probe time; run 2 s, a still every 0.5 s -> at 0, 0.5, 1.0, 1.5 s
    result = run_headless_study(_frames(100), "knee-anterior", 2.0, 0.5, tmp_path)
    assert [c.instance_number for c in result.captures] == [1, 2, 3, 4]
    assert result.frames_seen == 51  # frame 50 is at 2.0 s and ends the run
    with StudyStore(tmp_path) as store:
        study = store.get_study(result.study_uid)
        assert study.ended_at is not None and study.protocol_record is not None
        assert study.protocol_record["captures"] == 4
        assert study.patient.practice_subject
        # the stills are the first frames at or after each tick: 0.0, 0.52, 1.0 and 1.52 s
        for record, seq in zip(study.captures, [0, 13, 25, 38], strict=True):
            np.testing.assert_array_equal(store.read_dataset(record).pixel_array, make_frame(seq).pixels)


def test_callable_source_that_ends_early(tmp_path: Path) -> None:
    frames = iter([make_frame(i) for i in range(10)])
    result = run_headless_study(lambda: next(frames, None), "ankle", 60.0, 0.2, tmp_path)
    # 10 frames span 0.36 s: stills at 0 and 0.2 s (frames 0 and 5), then the source ends
    assert len(result.captures) == 2 and result.frames_seen == 10


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="capture_every_s"):
        run_headless_study([], "x", 1.0, 0.0, tmp_path)
