"""Doppler captures from the window (issue 14, items 5 and 6): over the real PLP driver and the simulated
USB probe, a still or clip taken while colour, power or PW is shown stores what the screen shows (RGB
with the colour box and its bar, or the duplex image with the spectrum and its measurements), labelled
with that mode, so only it fills a Doppler requirement of the checklist; a frozen image keeps the
colour box of the cine frame shown, and a capture of it stores that box."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pytestqt.qtbot import QtBot

from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from protocols.runner import ChecklistRunner
from protocols.validation import LIBRARY_DIR, load_library, load_protocol
from scanner_app.capture import FolderCaptureSink, ImagingMode
from scanner_app.doppler import DopplerMode
from scanner_app.doppler_capture import DopplerContent, duplex_clip_content, spectral_measurements
from scanner_app.doppler_pipeline import DopplerPipeline, FlowOverlay, colour_bar
from scanner_app.doppler_processing import FlowBox
from scanner_app.engine import AcquisitionEngine
from scanner_app.frame import Geometry
from scanner_app.ring import FrameRing
from scanner_app.spectral import SpectrumLine
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from scanner_app.studies.doppler_dicom import compose_doppler_still
from scanner_app.studies.model import StudyCapture
from tests.studies_support import dciodvfy, make_frame
from tests.ui_support import open_window, wait_streaming
from ui.close_prompt import EXAM_END
from ui.doppler_panel import DopplerPanel, DopplerView
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import MainWindow

CAPTURE_TIMEOUT_MS = 10000


class DopplerRig:
    """A window on the Doppler-capable simulated USB probe with the Doppler panel, a study store and
    an exam controller labelling every capture."""

    def __init__(
        self,
        window: MainWindow,
        panel: DopplerPanel,
        fw: SimFirmware,
        store: StudyStore,
        exams: ExamController,
        backend: SimUsbBackend | None = None,
    ) -> None:
        self.window, self.panel, self.fw, self.store, self.exams = window, panel, fw, store, exams
        self.backend = backend  # the simulated cable, to pull and plug back in

    def start_dvt(self, step_id: str) -> ChecklistRunner:
        request = ExamRequest(
            patient=Patient("DVT-001", "Doe^Jane", "19700203", "F"),
            operator="Op^One",
            trainee="",
            supervisor="",
            protocol=load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml"),
            quadrant=None,
            side="left",
            practice=False,
        )
        self.exams.start_exam(request)
        runner = self.exams.session.runner if self.exams.session else None
        assert runner is not None
        runner.go_to([s.id for s in runner.steps].index(step_id))
        return runner

    def take(self, qtbot: QtBot, capture: Any) -> StudyCapture:
        with qtbot.waitSignal(self.window.capture_finished, timeout=CAPTURE_TIMEOUT_MS) as blocker:
            capture()
        outcome = blocker.args[0]
        assert outcome.record is not None, outcome.error
        return self.store.get_capture(outcome.record.capture_id)

    def recent_colour_frames(self, seconds: float) -> int:
        """How many of the frames of the last `seconds` have a colour (not power) overlay of their own."""
        ring = self.window.engine.ring
        newest = ring.get(ring.newest_seq)
        if newest is None:
            return 0
        end = newest.frame.host_time_ns
        frames = ring.frames_between(end - int(seconds * 1e9), end)
        overlays = [self.panel.pipeline.overlay_for(rf.frame.seq) for rf in frames]
        return sum(1 for o in overlays if o is not None and not o.power_display)

    def show(self, qtbot: QtBot, view: DopplerView) -> None:
        """Turn `view` on and wait until the probe reads it back and the window labels captures so."""
        self.panel.set_view(view)
        qtbot.waitUntil(lambda: self.fw.settings.doppler.mode == view.probe_mode, timeout=3000)
        wanted = {
            DopplerView.OFF: "bmode",
            DopplerView.COLOUR: "color_doppler",
            DopplerView.POWER: "power_doppler",
            DopplerView.PW: "spectral_doppler",
        }[view]
        qtbot.waitUntil(lambda: self.window.imaging_mode.value == wanted, timeout=3000)


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[DopplerRig]:
    fw = SimFirmware(params=small_params(rows=128, cols=96), frame_rate_hz=30.0, events_on_interrupt=True)
    backend = SimUsbBackend(fw)
    driver = PlpProbeDriver(UsbTransport(backend=backend), device=fw)
    engine = AcquisitionEngine(driver, FrameRing(60, 128 * 96))
    store = StudyStore(tmp_path / "studies")
    protocols, _ = load_library()
    exams = ExamController(store, protocols, operator="Op^One", ask=lambda *_question: EXAM_END)
    sink = StudyCaptureSink(store, exams.current_study)
    window = open_window(qtbot, tmp_path, engine, sink=sink, start=False)
    panel = DopplerPanel(engine, DopplerPipeline(engine))
    panel.attach(window)
    exams.attach(window)
    engine.start()
    wait_streaming(qtbot, window)
    qtbot.waitUntil(lambda: panel.mode.count() == 4, timeout=5000)  # the descriptor arrived
    yield DopplerRig(window, panel, fw, store, exams, backend)
    window.close()
    driver.close()
    store.close()


def _regions(ds: pydicom.Dataset) -> list[int]:
    return [int(r.RegionDataType) for r in ds.SequenceOfUltrasoundRegions]


def _clean(path: Path) -> None:
    errors, _warnings = dciodvfy(path)
    assert errors == []


def _annotation(record: StudyCapture, name: str) -> dict[str, Any]:
    return next(a for a in record.annotations if a.get("name") == name)


def test_a_colour_still_is_rgb_with_its_flow_region_and_fills_the_colour_requirement(
    qtbot: QtBot, rig: DopplerRig
) -> None:
    runner = rig.start_dvt("cfv_compression")
    runner.choose_finding("acute_dvt")  # its follow-up asks for colour Doppler stills
    rig.show(qtbot, DopplerView.COLOUR)
    qtbot.waitUntil(lambda: rig.panel.shown_overlay is not None, timeout=8000)
    record = rig.take(qtbot, rig.window.capture_still)
    taken = runner.captures()[-1]
    assert (taken.mode, taken.extra) == ("color_doppler", False)
    # It filled a requirement that asks for colour Doppler (the step's or its follow-up's).
    filled = [req for fu, req, n in runner.capture_progress() if fu == taken.follow_up_id and n]
    assert [req.mode.value for req in filled if req.plane.value == taken.plane] == ["color_doppler"]
    assert record.labels.imaging_mode == "color_doppler"
    path = rig.store.capture_path(record)
    ds = pydicom.dcmread(path)
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation) == (3, "RGB")
    assert ds.ImageType[3] == "0011"  # 2D + colour Doppler
    assert _regions(ds) == [1, 2]  # tissue, colour flow
    tissue, colour = ds.SequenceOfUltrasoundRegions
    pixels = ds.pixel_array
    box = pixels[colour.RegionLocationMinY0 : colour.RegionLocationMaxY1 + 1,
                 colour.RegionLocationMinX0 : colour.RegionLocationMaxX1 + 1]  # fmt: skip
    red, blue = box[..., 0].astype(int), box[..., 2].astype(int)
    assert np.count_nonzero(red > blue + 40) > 20  # the test vessel flows toward the probe: red
    # The colour bar beside the image, outside every region: red at its top (+Nyquist), blue at its foot.
    assert pixels.shape[1] > tissue.RegionLocationMaxX1 + 1
    bar = pixels[colour.RegionLocationMinY0 : colour.RegionLocationMaxY1 + 1, -1].astype(int)
    assert bar[0, 0] > bar[0, 2] and bar[-1, 2] > bar[-1, 0]
    assert colour.PulseRepetitionFrequency == round(rig.fw.settings.doppler.prf_hz)  # the scale's PRF
    nyquist = _annotation(record, "Colour scale (Nyquist)")
    assert nyquist["unit"] == "cm/s" and nyquist["value"] > 0
    _clean(path)


def test_colour_shown_again_after_the_probe_reconnects_is_stored_as_colour(
    qtbot: QtBot, rig: DopplerRig
) -> None:
    """The engine puts colour back on a reconnected probe and the screen shows it again: a still then
    is colour Doppler, not grey labelled B-mode (found with newcomer 8's scene change)."""
    rig.show(qtbot, DopplerView.COLOUR)
    assert rig.backend is not None
    with qtbot.waitSignal(rig.window.bridge.probe_connected, timeout=10000):
        rig.backend.unplug()
        rig.backend.replug()
    qtbot.waitUntil(lambda: rig.fw.settings.doppler.mode == DopplerMode.FLOW, timeout=5000)
    qtbot.waitUntil(lambda: rig.panel.shown_overlay is not None, timeout=8000)  # colour on screen again
    assert rig.panel.view_mode == DopplerView.COLOUR
    record = rig.take(qtbot, rig.window.capture_still)
    assert record.labels.imaging_mode == "color_doppler"
    assert pydicom.dcmread(rig.store.capture_path(record)).SamplesPerPixel == 3


def test_power_still_and_colour_clip(qtbot: QtBot, rig: DopplerRig) -> None:
    rig.start_dvt("cfv_compression")
    rig.show(qtbot, DopplerView.POWER)
    qtbot.waitUntil(
        lambda: rig.panel.shown_overlay is not None and rig.panel.shown_overlay.power_display, timeout=8000
    )
    power = rig.take(qtbot, rig.window.capture_still)
    assert power.labels.imaging_mode == "power_doppler"
    assert pydicom.dcmread(rig.store.capture_path(power)).ImageType[3] == "0101"  # 2D + power

    rig.show(qtbot, DopplerView.COLOUR)
    qtbot.waitUntil(lambda: rig.recent_colour_frames(0.4) >= 8, timeout=8000)
    clip = rig.take(qtbot, lambda: rig.window.capture_clip(0.3))
    path = rig.store.capture_path(clip)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation) == (3, "RGB")
    assert int(ds.NumberOfFrames) == clip.number_of_frames >= 5
    assert clip.labels.imaging_mode == "color_doppler" and _regions(ds) == [1, 2]
    _clean(path)


def test_a_b_mode_still_at_the_spectral_step_is_kept_as_extra_and_a_duplex_still_fills_it(
    qtbot: QtBot, rig: DopplerRig
) -> None:
    runner = rig.start_dvt("cfv_doppler")
    bmode = rig.take(qtbot, rig.window.capture_still)  # Doppler off
    taken = runner.captures()[-1]
    assert (taken.mode, taken.extra) == ("bmode", True)
    assert "does not document spectral Doppler" in taken.note
    ds = pydicom.dcmread(rig.store.capture_path(bmode))
    assert bmode.labels.imaging_mode == "bmode" and ds.ImageType[3] == "0001"
    assert ds.PhotometricInterpretation == "MONOCHROME2"

    rig.panel.angle.slider.setValue(round(60 / rig.panel.angle.step))  # angle correction 60°
    rig.show(qtbot, DopplerView.PW)
    qtbot.waitUntil(lambda: len(rig.panel.pipeline.spectrum_snapshot()) >= 60, timeout=10000)
    duplex = rig.take(qtbot, rig.window.capture_still)
    taken = runner.captures()[-1]
    assert (taken.mode, taken.extra) == ("spectral_doppler", False)
    assert [m.remaining for m in runner.missing_for_step("cfv_doppler")] == [1]  # the other side
    path = rig.store.capture_path(duplex)
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "RGB" and ds.ImageType[3] == "0009"
    assert _regions(ds) == [1, 3]  # tissue, PW spectrum
    spectral = ds.SequenceOfUltrasoundRegions[1]
    assert (spectral.PhysicalUnitsXDirection, spectral.PhysicalUnitsYDirection) == (4, 7)  # s, cm/s
    assert spectral.PhysicalDeltaX > 0 and spectral.PhysicalDeltaY < 0  # time right, velocity up
    assert spectral.DopplerCorrectionAngle == 60.0
    assert _annotation(duplex, "Angle correction")["value"] == 60.0
    # The venous measurements of the sweep on screen, in cm/s, agree with the sweep's own trace.
    peak = _annotation(duplex, "Venous peak velocity")
    assert peak["unit"] == "cm/s"
    lines = rig.panel.pipeline.spectrum_snapshot()
    fastest = max(abs(line.forward_cm_s) for line in lines)
    assert 0 < peak["value"] <= fastest + 0.1
    assert 0.0 <= _annotation(duplex, "Phasicity index")["value"] <= 1.0
    assert _annotation(duplex, "Spectral scale (Nyquist)")["unit"] == "cm/s"
    _clean(path)


def test_frozen_cine_shows_each_frames_own_overlay_and_a_capture_stores_it(
    qtbot: QtBot, rig: DopplerRig
) -> None:
    rig.start_dvt("cfv_compression")
    rig.show(qtbot, DopplerView.COLOUR)
    qtbot.waitUntil(lambda: rig.recent_colour_frames(0.5) >= 10, timeout=8000)
    rig.window.toggle_freeze()
    newest = rig.panel.shown_overlay
    assert newest is not None
    for _ in range(4):
        rig.window.actions_by_name["cine_back"].trigger()
    current = rig.window.cine.current()
    assert current is not None
    shown = rig.panel.shown_overlay
    # The box shows the overlay of the frame on screen (its own, or one at most two frames older),
    # not the newest: a live overlay never lies over a frozen frame.
    assert shown is not None and shown is rig.panel.pipeline.overlay_for(current.frame.seq)
    assert 0 <= current.frame.seq - shown.frame_seq <= 2
    assert shown.frame_seq < newest.frame_seq
    drawn = rig.panel.overlay.image
    assert drawn is not None and np.array_equal(drawn, shown.rgba)

    record = rig.take(qtbot, rig.window.capture_still)
    stored = pydicom.dcmread(rig.store.capture_path(record)).pixel_array
    expected = compose_doppler_still(current.frame, shown, None, bar=colour_bar(False, shown.invert)).rgb
    assert np.array_equal(stored, expected)
    assert record.labels.imaging_mode == "color_doppler"


def test_a_pw_clip_is_kept_as_duplex_with_the_sweep_scrolling_under_it(qtbot: QtBot, rig: DopplerRig) -> None:
    runner = rig.start_dvt("cfv_doppler")
    rig.panel.angle.slider.setValue(round(60 / rig.panel.angle.step))  # angle correction 60°
    rig.show(qtbot, DopplerView.PW)
    qtbot.waitUntil(lambda: len(rig.panel.pipeline.spectrum_snapshot()) >= 60, timeout=10000)
    clip = rig.take(qtbot, lambda: rig.window.capture_clip(0.5))
    assert clip.labels.imaging_mode == "spectral_doppler"
    assert runner.captures()[-1].mode == "spectral_doppler"
    path = rig.store.capture_path(clip)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation) == (3, "RGB")
    assert int(ds.NumberOfFrames) == clip.number_of_frames >= 5
    assert ds.ImageType[3] == "0009" and _regions(ds) == [1, 3]  # 2D + PW: tissue, PW spectrum
    tissue, spectral = ds.SequenceOfUltrasoundRegions
    assert (spectral.PhysicalUnitsXDirection, spectral.PhysicalUnitsYDirection) == (4, 7)  # s, cm/s
    assert spectral.PhysicalDeltaX > 0 and spectral.PhysicalDeltaY < 0  # time right, velocity up
    assert spectral.DopplerCorrectionAngle == 60.0
    assert spectral.RegionLocationMinY0 > tissue.RegionLocationMaxY1
    pixels = ds.pixel_array
    strip = pixels[:, spectral.RegionLocationMinY0 : spectral.RegionLocationMaxY1 + 1]
    assert not np.array_equal(strip[0], strip[-1])  # the sweep moved on during the clip
    assert _annotation(clip, "Spectral scale (Nyquist)")["unit"] == "cm/s"
    assert _annotation(clip, "Angle correction")["value"] == 60.0
    _clean(path)


def test_a_pw_clip_takes_the_lines_shown_by_each_frames_time() -> None:
    frames = [make_frame(i, rows=48, cols=40) for i in range(5)]  # at 1.00, 1.04, ... 1.16 s host time
    odd = make_frame(9, rows=30, cols=40)  # another depth: not in the run that ends the clip
    times = np.arange(0.5, 1.305, 0.01)  # a line every 10 ms, until after the clip
    lines = _trace_lines(times, np.full(times.size, 20.0))
    history = [(round(t * 1e9), line) for t, line in zip(times, lines, strict=True)]
    got = duplex_clip_content([*frames[:2], odd, *frames[2:]], history, artery=False)
    assert got is not None
    run, content = got
    assert run == frames and content.mode is ImagingMode.SPECTRAL_DOPPLER
    # Frame 0 (1.00 s) had 51 lines shown; its strip is the image's 40 columns wide, so the clip keeps
    # lines from the 12th (index 11) to the last shown with its last frame (1.16 s: index 66).
    assert content.spectrum[0] is lines[11] and content.spectrum[-1] is lines[66]
    assert content.spectrum_shown == (40, 44, 48, 52, 56)
    assert any(m["name"] == "Venous peak velocity" for m in content.measurements)
    # Nothing shown yet by the clip's end: no duplex content (kept as B-mode).
    assert duplex_clip_content(frames, history[70:], artery=False) is None
    assert duplex_clip_content(frames, [], artery=False) is None


def test_the_plain_folder_sink_keeps_a_duplex_clip_as_composed_rgb(tmp_path: Path) -> None:
    frames = [make_frame(i, rows=48, cols=40) for i in range(3)]
    times = np.arange(0.0, 0.5, 0.01)
    lines = tuple(_trace_lines(times, np.full(times.size, 20.0)))
    content = DopplerContent(ImagingMode.SPECTRAL_DOPPLER, spectrum=lines, spectrum_shown=(10, 30, 50))
    stored = FolderCaptureSink(tmp_path).save_doppler_clip(
        frames, content, {"imaging_mode": "spectral_doppler"}, {}, []
    )
    pixels = np.load(tmp_path / f"{stored.capture_id}.npy")
    assert pixels.shape == (3, 48 + 4 + 64, 40, 3)
    assert np.array_equal(pixels[1, :48, :, 0], frames[1].pixels)


def test_a_convex_probe_is_refused_the_colour_box(qtbot: QtBot, rig: DopplerRig) -> None:
    rig.panel._convex = True  # as a convex probe's descriptor sets it
    rig.panel.set_view(DopplerView.COLOUR)
    assert rig.panel.view_mode == DopplerView.OFF
    assert "not available on a convex probe" in rig.window.message_label.text()
    assert rig.fw.settings.doppler.mode == DopplerMode.OFF


def _trace_lines(times_s: np.ndarray, forward_cm_s: np.ndarray) -> list[SpectrumLine]:
    """Spectral columns carrying only a known automatic trace (the measurements read nothing else)."""
    axis = np.linspace(-100.0, 100.0, 64)
    power = np.full(64, -80.0, np.float32)
    return [
        SpectrumLine(power, axis, float(t), float(v), float(v), 0.0, float(v), -80.0, 100.0, 60.0, False)
        for t, v in zip(times_s, forward_cm_s, strict=True)
    ]


def test_duplex_measurements_artery_and_vein_from_known_traces() -> None:
    t = np.arange(0.0, 4.0, 0.01)
    # An artery at 60 beats/min: 20 cm/s at end diastole, a systolic peak of 80 cm/s.
    artery = 20.0 + 60.0 * np.exp(-(((t % 1.0) - 0.3) ** 2) / (2 * 0.04**2))
    got = {m["name"]: m for m in spectral_measurements(_trace_lines(t, artery), artery=True)}
    assert got["PSV"]["value"] == pytest.approx(80.0, rel=0.02) and got["PSV"]["unit"] == "cm/s"
    assert got["EDV"]["value"] == pytest.approx(20.0, rel=0.05)
    assert got["RI"]["value"] == pytest.approx(0.75, abs=0.02)

    # A vein: respiratory phasicity (10 to 20 cm/s over 4 s breaths), then a calf squeeze's surge to
    # about 60 cm/s at 6.5 s.
    t = np.arange(0.0, 9.0, 0.01)
    vein = 15.0 + 5.0 * np.sin(2 * np.pi * t / 4.0)
    calm = {m["name"]: m for m in spectral_measurements(_trace_lines(t, vein), artery=False)}
    assert 0.3 < calm["Phasicity index"]["value"] < 0.75
    assert "Augmentation (peak / before)" not in calm  # no squeeze, no augmentation claimed
    assert "PSV" not in calm
    squeezed = vein + 45.0 * np.exp(-((t - 6.5) ** 2) / (2 * 0.25**2))
    got = {m["name"]: m for m in spectral_measurements(_trace_lines(t, squeezed), artery=False)}
    surge = got["Augmentation (peak / before)"]
    assert surge["value"] == pytest.approx(squeezed.max() / 15.0, rel=0.15)  # peak over the mean before
    assert got["Venous peak velocity"]["value"] == pytest.approx(squeezed.max(), abs=0.1)
    assert surge["peak_cm_s"] == pytest.approx(squeezed.max(), rel=0.02)


def test_the_plain_folder_sink_keeps_a_colour_still_as_composed_rgb(tmp_path: Path) -> None:
    """Without a study store (plain files), a colour still is the same composed image, not grey."""
    frame = dataclasses.replace(
        make_frame(1, rows=48, cols=40, spacing_mm=(0.1, 0.1)), pixels=np.full((48, 40), 40, np.uint8)
    )
    rgba = np.zeros((21, 11, 4), np.uint8)
    rgba[10:, :] = (200, 30, 10, 255)  # colour in the box's lower half
    box = FlowBox(Geometry.LINEAR, top_mm=1.0, bottom_mm=3.0, left=1.0, right=3.0)
    overlay = FlowOverlay(rgba, box, 40.0, 5.0, 4000.0, False, False, frame_seq=1)
    content = DopplerContent(ImagingMode.COLOR_DOPPLER, overlays=(overlay,), bar=colour_bar(False, False))
    sink = FolderCaptureSink(tmp_path)
    stored = sink.save_doppler_still(frame, content, {"imaging_mode": "color_doppler"}, {}, [])
    pixels = np.load(tmp_path / f"{stored.capture_id}.npy")
    expected = compose_doppler_still(frame, overlay, None, bar=content.bar).rgb
    assert np.array_equal(pixels, expected) and pixels.shape[1] > 40
    assert tuple(pixels[25, 20]) == (200, 30, 10) and tuple(pixels[12, 20]) == (40, 40, 40)
    meta = json.loads((tmp_path / f"{stored.capture_id}.json").read_text())
    assert meta["labels"]["imaging_mode"] == "color_doppler"
    assert any(m["name"] == "Colour scale (Nyquist)" and m["value"] == 40.0 for m in meta["measurements"])
    np.testing.assert_array_equal(sink.read_frames(stored), pixels[np.newaxis])  # reviewed as kept


def test_pw_left_on_after_a_dvt_exam_is_off_for_the_next_exam_and_for_b_mode_steps(
    qtbot: QtBot, rig: DopplerRig
) -> None:
    rig.start_dvt("cfv_doppler")
    rig.show(qtbot, DopplerView.PW)
    # A knee exam next: Doppler goes off at the probe, and a still counts for the knee's B-mode step.
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    rig.exams.start_exam(dataclasses.replace(_dvt_request(), protocol=knee, side="right"))
    qtbot.waitUntil(lambda: rig.fw.settings.doppler.mode == DopplerMode.OFF, timeout=3000)
    qtbot.waitUntil(lambda: rig.window.imaging_mode.value == "bmode", timeout=3000)
    assert rig.panel.view_mode == DopplerView.OFF
    assert "PW Doppler turned off" in rig.window.message_label.text()
    runner = rig.exams.session.runner if rig.exams.session else None
    assert runner is not None and runner.protocol.id == "knee"
    still = rig.take(qtbot, rig.window.capture_still)
    assert still.labels.imaging_mode == "bmode"
    assert not runner.captures()[-1].extra  # counted for the knee's step

    # Within a DVT exam: PW stays on for its Doppler step, goes off at a B-mode-only step.
    runner = rig.start_dvt("cfv_doppler")
    rig.show(qtbot, DopplerView.PW)
    ids = [s.id for s in runner.steps]
    runner.go_to(ids.index("cfv_compression"))  # B-mode and colour: Doppler stays
    assert rig.panel.view_mode == DopplerView.PW  # (the step change turns Doppler off synchronously)
    runner.go_to(ids.index("sfj_gsv"))  # B-mode only
    qtbot.waitUntil(lambda: rig.fw.settings.doppler.mode == DopplerMode.OFF, timeout=3000)
    assert rig.panel.view_mode == DopplerView.OFF


def _dvt_request() -> ExamRequest:
    return ExamRequest(
        patient=Patient("DVT-001", "Doe^Jane", "19700203", "F"),
        operator="Op^One",
        trainee="",
        supervisor="",
        protocol=load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml"),
        quadrant=None,
        side="left",
        practice=False,
    )
