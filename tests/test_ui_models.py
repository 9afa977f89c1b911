"""Qt-free models behind the scanner screen: imaging settings, measurements, cine, captures, preferences."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scanner_app.annotations import AnnotationSet, BodyMarker
from scanner_app.capture import CaptureSinkError, FolderCaptureSink, encode_png
from scanner_app.cine import CineModel
from scanner_app.frame import DataFormat, Frame, ImagingSettings, ProbeIdentity
from scanner_app.imaging_model import ImagingModel
from scanner_app.measurements import MeasurementSet, pixel_centre_mm, snap_to_pixel_centre
from scanner_app.preferences import Preferences
from scanner_app.probe import SettingKey
from scanner_app.ring import FrameRing


def _frame(seq: int, t_ns: int, rows: int = 8, cols: int = 6) -> Frame:
    return Frame(
        seq=seq, device_time_us=seq * 1000, host_time_ns=t_ns,
        pixels=np.full((rows, cols), seq % 256, np.uint8), spacing_mm=(0.5, 0.25),
        data_format=DataFormat.BMODE_U8, settings=ImagingSettings(40, 0, 10, 20, 60),
        probe=ProbeIdentity("v", "m", "s"),
    )  # fmt: skip


def test_imaging_model_requests_and_readback() -> None:
    sent: list[tuple[SettingKey, float]] = []
    m = ImagingModel(lambda k, v: sent.append((k, v)))
    heard = []
    m.setting_changed.connect(heard.append)
    m.request(SettingKey.DEPTH_MM, 200)
    assert sent == [(SettingKey.DEPTH_MM, 200.0)] and m.value(SettingKey.DEPTH_MM) == 200.0
    m.step(SettingKey.DEPTH_MM, 5)  # readback not back yet: steps from the request
    assert sent[-1] == (SettingKey.DEPTH_MM, 205.0)
    m.on_applied(SettingKey.DEPTH_MM, 205.0, 80.0)
    assert m.value(SettingKey.DEPTH_MM) == 80.0 and heard[-1].applied and heard[-1].requested == 205.0
    m.step(SettingKey.DEPTH_MM, -5)  # readback in: steps from what the probe does
    assert sent[-1] == (SettingKey.DEPTH_MM, 75.0)
    with pytest.raises(ValueError, match="finite"):
        m.request(SettingKey.GAIN_DB, float("nan"))


def test_apply_preset_checks_everything_before_sending() -> None:
    sent: list[tuple[SettingKey, float]] = []
    m = ImagingModel(lambda k, v: sent.append((k, v)))
    with pytest.raises(ValueError, match="unknown preset key 'colour'"):
        m.apply_preset({"depth_mm": 30, "colour": 1})
    with pytest.raises(ValueError, match="tgc_db must be 8 numbers"):
        m.apply_preset({"tgc_db": [1, 2]})
    with pytest.raises(ValueError, match="focus_mm must be a finite number"):
        m.apply_preset({"focus_mm": "deep"})
    assert sent == []
    m.apply_preset({"name": "Calf", "depth_mm": 40, "tgc_db": [0, 1, 2, 3, 4, 5, 6, 7]})
    assert (SettingKey.TGC_7, 7.0) in sent and m.preset_name == "Calf"


def test_measurement_math_in_mm() -> None:
    spacing = (0.5, 0.25)
    assert pixel_centre_mm(0, 0, spacing) == (0.125, 0.25)
    assert snap_to_pixel_centre((0.3, 0.9), spacing) == (0.375, 0.75)
    ms = MeasurementSet()
    a = ms.add_distance((0.0, 0.0), (3.0, 4.0))
    b = ms.add_two_axis((0, 0), (10, 0), (5, -2), (5, 2))
    assert (a.label, a.distance_mm) == ("A", 5.0)
    assert (b.label, b.length_mm, b.depth_mm) == ("B", 10.0, 4.0)
    assert b.area_mm2 == pytest.approx(math.pi * 10.0)
    assert json.loads(json.dumps(ms.to_json()))[1]["area_mm2"] == pytest.approx(math.pi * 10, abs=1e-3)
    with pytest.raises(ValueError, match="unknown measurement kind"):
        ms.begin("angle")
    for _ in range(27):
        ms.add_distance((0, 0), (1, 1))
    assert ms.items[-1].label == "C1"


def test_cine_freeze_step_play_and_loop() -> None:
    ring = FrameRing(10, 64)
    for i in range(15):
        ring.push(_frame(i, i * 33_000_000))
    held: list[bool] = []
    cine = CineModel(ring, held.append)
    cine.freeze()
    assert held == [True] and (cine.first_seq, cine.last_seq, cine.length) == (5, 14, 10)
    assert cine.frame_period_s() == pytest.approx(0.033)
    cine.step(-20)
    assert cine.position == 5 and cine.current().frame.seq == 5
    cine.seek(14)
    cine.set_playing(True)
    cine.advance()
    assert cine.position == 5  # looped
    cine.set_loop(False)
    cine.seek(14)
    cine.advance()
    assert not cine.playing and cine.position == 14
    assert [rf.ring_seq for rf in cine.frames()] == list(range(5, 15))
    cine.unfreeze()
    assert held == [True, False] and cine.current() is None


def test_folder_sink_writes_complete_captures(tmp_path: Path) -> None:
    sink = FolderCaptureSink(tmp_path / "caps")
    ann = AnnotationSet()
    ann.add_text("note", 1, 2)
    rec = sink.save_still(_frame(3, 0), {"side": "L"}, ann.to_json(), [{"label": "A", "distance_mm": 5.0}])
    meta = json.loads(Path(rec.location).read_text())
    assert meta["annotations"]["texts"][0]["text"] == "note" and meta["measurements"][0]["label"] == "A"
    assert np.load(tmp_path / "caps" / meta["pixels_file"]).shape == (8, 6)
    clip = sink.save_clip([_frame(i, i * 10**7) for i in range(4)], {}, {}, [])
    assert clip.frame_count == 4
    assert np.load(Path(clip.location).with_suffix(".npy")).shape == (4, 8, 6)
    with pytest.raises(CaptureSinkError, match="empty"):
        sink.save_clip([], {}, {}, [])


def test_folder_sink_failure_is_a_capture_error_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(CaptureSinkError, match="could not save the still"):
        FolderCaptureSink(blocker / "caps").save_still(_frame(1, 0), {}, {}, [])


def test_png_is_readable(tmp_path: Path) -> None:
    from PyQt6.QtGui import QImage

    pixels = (np.arange(12 * 7) % 256).astype(np.uint8).reshape(12, 7)
    image = QImage.fromData(encode_png(pixels))
    assert (image.width(), image.height()) == (7, 12)
    assert image.pixelColor(3, 2).red() == pixels[2, 3]


def test_annotations_and_preferences(tmp_path: Path) -> None:
    ann = AnnotationSet()
    with pytest.raises(ValueError, match="needs some text"):
        ann.add_text("  ", 0, 0)
    with pytest.raises(ValueError, match="unknown body marker"):
        ann.set_body_marker(BodyMarker("Neck"))
    prefs = Preferences(tmp_path / "sub" / "p.json")
    prefs.set("clip_seconds", 4)
    prefs.save()
    assert Preferences(tmp_path / "sub" / "p.json").get("clip_seconds") == 4.0
    with pytest.raises(KeyError, match="unknown preference"):
        prefs.set("colour", 1)
