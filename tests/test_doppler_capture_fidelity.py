"""A capture labelled Doppler is the Doppler the operator saw (newcomer 7): over the real PLP driver and
the simulated USB probe, the report shows a colour still in colour with its bar; a steered colour box is
stored where the screen drew it; a still whose box shows no colour is not labelled colour Doppler. A
colour still is reviewed as kept (newcomer 8): in colour, its caption and thumbnail naming its mode, and
the report's depth scale leaves its colour bar as stored."""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from PyQt6.QtGui import QImage
from pytestqt.qtbot import QtBot

from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.patient import PatientRenderer
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from protocols.validation import load_library
from scanner_app.doppler_capture import live_still_frame, shows_flow
from scanner_app.doppler_pipeline import DopplerPipeline, FlowOverlay, colour_bar
from scanner_app.doppler_processing import FlowBox
from scanner_app.engine import AcquisitionEngine
from scanner_app.frame import Geometry
from scanner_app.probe import SettingKey
from scanner_app.ring import FrameRing
from scanner_app.studies import StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from scanner_app.studies.doppler_dicom import compose_doppler_still
from scanner_app.studies.model import StudyCapture
from scanner_app.studies.report import build_report, render_html
from scanner_app.studies.report_images import SCALE_RGB, ImageGeometry, render_key_image
from tests.studies_support import make_frame
from tests.test_doppler_capture import DopplerRig, _trace_lines, rig  # noqa: F401 - the rig fixture
from tests.ui_support import open_window, wait_streaming
from ui.close_prompt import EXAM_END
from ui.doppler_panel import DopplerPanel, DopplerView
from ui.exam_dock import ExamController


def _coloured(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where a picture shows colour, not grey: red or blue well above the other."""
    r, b = rgb[..., 0].astype(int), rgb[..., 2].astype(int)
    return np.abs(r - b) > 40


def _colour_still(qtbot: QtBot, rig: DopplerRig) -> StudyCapture:  # noqa: F811
    """Colour on, a still taken once the colour box on screen shows flow."""
    rig.show(qtbot, DopplerView.COLOUR)
    qtbot.waitUntil(
        lambda: rig.panel.shown_overlay is not None and bool(rig.panel.shown_overlay.rgba[..., 3].any()),
        timeout=8000,
    )
    return rig.take(qtbot, rig.window.capture_still)


def test_the_report_shows_a_colour_still_in_colour_with_its_colour_bar(
    qtbot: QtBot,
    rig: DopplerRig,  # noqa: F811
) -> None:
    runner = rig.start_dvt("cfv_compression")
    runner.choose_finding("acute_dvt")
    record = _colour_still(qtbot, rig)
    ds = pydicom.dcmread(rig.store.capture_path(record))
    stored = np.asarray(ds.pixel_array)
    colour_at = _coloured(stored)
    tissue = ds.SequenceOfUltrasoundRegions[0]
    assert colour_at[:, : tissue.RegionLocationMaxX1 + 1].sum() > 20  # the still holds the sim's flow

    content = build_report(rig.store, record.study_uid)
    [key] = [k for k in content.key_images if k.caption.startswith(f"#{record.instance_number} ")]
    assert "colour Doppler" in key.caption
    picture = np.asarray(Image.open(io.BytesIO(key.png)).convert("RGB"))
    # Each stored pixel maps to the key image by the same scale both ways (square pixels, enlarged).
    rows = (np.arange(stored.shape[0]) + 0.5) * picture.shape[0] / stored.shape[0]
    cols = (np.arange(stored.shape[1]) + 0.5) * picture.shape[1] / stored.shape[1]
    sampled = picture[np.ix_(rows.astype(int), cols.astype(int))]
    image_cols = slice(0, int(tissue.RegionLocationMaxX1) + 1)
    flow = colour_at[:, image_cols]
    shown = _coloured(sampled)[:, image_cols]
    assert shown[flow].mean() > 0.8  # colour where the stored still has it
    assert shown[~flow].mean() < 0.02  # and grey elsewhere
    # The colour bar beside the box: red at its top (+Nyquist), blue at its foot, as stored.
    bar_rows = np.flatnonzero(colour_at[:, -1])
    assert bar_rows.size > 4
    top, foot = picture[int(rows[bar_rows[0]]), -1], picture[int(rows[bar_rows[-1]]), -1]
    assert int(top[0]) > int(top[2]) + 40 and int(foot[2]) > int(foot[0]) + 40
    # The HTML report embeds that very picture (the PDF draws the same PNG).
    assert base64.b64encode(key.png).decode() in render_html(content)


def test_a_colour_still_is_reviewed_in_colour_and_named_colour_doppler(
    qtbot: QtBot,
    rig: DopplerRig,  # noqa: F811
) -> None:
    """Double-clicking its thumbnail shows the still as kept, flow and bar in colour, and the review's
    caption and the thumbnail's tooltip name its mode as the report's caption does."""
    rig.start_dvt("cfv_compression")
    record = _colour_still(qtbot, rig)
    stored = np.asarray(pydicom.dcmread(rig.store.capture_path(record)).pixel_array)
    assert _coloured(stored).sum() > 20  # the still holds the sim's flow and its bar

    strip = rig.window.strip
    item = strip.item(strip.count() - 1)
    assert item is not None and item.toolTip().startswith("Colour Doppler still taken ")
    thumbnail = strip.outcomes[-1].thumbnail  # the strip's picture of it: in colour too
    assert thumbnail.ndim == 3 and _coloured(thumbnail).sum() > 0
    strip.itemActivated.emit(item)  # what a double-click does
    dialog = rig.window.review.dialog
    assert dialog is not None
    np.testing.assert_array_equal(dialog.frames[0], stored)  # what is shown is what was kept: RGB
    shown = dialog.image.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = shown.width(), shown.height()
    bits = shown.constBits()
    assert bits is not None
    bits.setsize(shown.sizeInBytes())
    picture = np.frombuffer(bits, np.uint8).reshape(height, shown.bytesPerLine())[:, : width * 3]
    assert _coloured(picture.reshape(height, width, 3)).sum() > 20  # on screen in colour, not grey
    assert "colour Doppler still, 1 frame" in dialog.where.text()


@pytest.mark.parametrize("duplex", [False, True], ids=["colour", "colour duplex"])
def test_the_report_image_depth_scale_leaves_the_colour_bar_and_spectrum_as_stored(duplex: bool) -> None:
    """The burned-in depth scale runs down the tissue image's right edge: the colour bar in the margin
    beside it (newcomer 8: under the scale's numbers) and a spectrum strip below it stay as stored."""
    frame = dataclasses.replace(
        make_frame(1, rows=120, cols=100, spacing_mm=(0.2, 0.2)), pixels=np.full((120, 100), 60, np.uint8)
    )
    rgba = np.zeros((21, 11, 4), np.uint8)
    rgba[...] = (200, 30, 10, 255)
    box = FlowBox(Geometry.LINEAR, top_mm=2.0, bottom_mm=20.0, left=5.0, right=15.0)
    overlay = FlowOverlay(rgba, box, 40.0, 5.0, 4000.0, False, False, frame_seq=1)
    t = np.arange(0.0, 1.0, 0.01)
    spectrum = _trace_lines(t, 20.0 + 10.0 * np.sin(t * 6)) if duplex else None
    composed = compose_doppler_still(frame, overlay, spectrum, bar=colour_bar(False, False))
    assert composed.rgb.shape[1] > frame.cols  # the bar's margin
    ds = Dataset()
    ds.SequenceOfUltrasoundRegions = list(composed.regions)
    drawn = np.asarray(render_key_image(composed.rgb, ImageGeometry.of(ds), []))
    size = (drawn.shape[1], drawn.shape[0])
    plain = np.asarray(Image.fromarray(composed.rgb).resize(size, Image.Resampling.BILINEAR))
    scale = drawn.shape[1] / composed.rgb.shape[1]
    right, bottom = round(frame.cols * scale), round(frame.rows * scale)
    np.testing.assert_array_equal(drawn[:, right:], plain[:, right:])  # the colour bar, untouched
    np.testing.assert_array_equal(drawn[bottom:], plain[bottom:])  # the spectrum (if any), untouched
    on_tissue = (drawn[:bottom, :right] == SCALE_RGB).all(axis=-1)
    assert on_tissue[:, right - right // 10 :].sum() > bottom  # the scale is there, at the image's edge


def test_a_steered_colour_box_is_stored_where_the_screen_drew_it_over_the_flow(
    qtbot: QtBot,
    rig: DopplerRig,  # noqa: F811
) -> None:
    """Steered +20 degrees, the still's colour lies in the box the display drew (mm for mm), across
    its whole width over the simulated vessel, not slid sideways by depth x tan(steer)."""
    rig.start_dvt("cfv_compression")
    rig.show(qtbot, DopplerView.COLOUR)
    rig.window.engine.request_setting(SettingKey.STEER_DEG, 20.0)

    def steered_flow_shown() -> bool:
        o = rig.panel.shown_overlay
        return o is not None and o.box.steer_deg == 20.0 and bool(o.rgba[..., 3].any())

    qtbot.waitUntil(steered_flow_shown, timeout=8000)
    item = rig.panel.overlay
    drawn = item.mapRectToParent(item.boundingRect())  # the colour box on screen, in mm
    record = rig.take(qtbot, rig.window.capture_still)
    ds = pydicom.dcmread(rig.store.capture_path(record))
    tissue, colour_region = ds.SequenceOfUltrasoundRegions
    dx, dz = float(tissue.PhysicalDeltaX) * 10, float(tissue.PhysicalDeltaY) * 10
    skin_row = int(tissue.ReferencePixelY0)
    image = np.asarray(ds.pixel_array)[:, : int(tissue.RegionLocationMaxX1) + 1]
    rows, cols = np.nonzero(_coloured(image))
    assert rows.size > 20  # the test vessel's flow
    x_mm, depth_mm = cols * dx, (rows - skin_row) * dz
    # Inside the box drawn on screen (a pixel's tolerance) ...
    assert drawn.left() - dx <= x_mm.min() and x_mm.max() <= drawn.right() + dx
    assert drawn.top() - dz <= depth_mm.min() and depth_mm.max() <= drawn.bottom() + dz
    # ... and across all of it: the vessel runs the width of the image, so its colour fills the box's
    # width from the left edge (slid by depth x tan 20, about 6 mm at the vessel, it would not).
    assert x_mm.min() <= drawn.left() + 2 * dx and x_mm.max() >= drawn.right() - 2 * dx
    # The colour-flow region is that rectangle too.
    assert abs(int(colour_region.RegionLocationMinX0) * dx - drawn.left()) <= 1.5 * dx
    assert abs(int(colour_region.RegionLocationMaxX1) * dx - drawn.right()) <= 1.5 * dx


@pytest.fixture
def artery_rig(qtbot: QtBot, tmp_path: Path) -> Iterator[DopplerRig]:
    """The rig on the popliteal fossa: its artery's colour flashes in systole only."""
    fw = SimFirmware(
        PatientRenderer("popliteal"),
        params=small_params(rows=128, cols=96),
        frame_rate_hz=30.0,
        events_on_interrupt=True,
    )
    driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw)
    engine = AcquisitionEngine(driver, FrameRing(90, 128 * 96))
    store = StudyStore(tmp_path / "studies")
    protocols, _ = load_library()
    exams = ExamController(store, protocols, operator="Op^One", ask=lambda *_question: EXAM_END)
    window = open_window(
        qtbot, tmp_path, engine, sink=StudyCaptureSink(store, exams.current_study), start=False
    )
    panel = DopplerPanel(engine, DopplerPipeline(engine))
    panel.attach(window)
    exams.attach(window)
    engine.start()
    wait_streaming(qtbot, window)
    qtbot.waitUntil(lambda: panel.mode.count() == 4, timeout=5000)
    yield DopplerRig(window, panel, fw, store, exams)
    window.close()
    driver.close()
    store.close()


def test_a_live_colour_still_of_pulsatile_flow_keeps_the_colour_the_operator_saw(
    qtbot: QtBot, artery_rig: DopplerRig
) -> None:
    """Pressed between two systoles (the frame on screen has an empty box, frames of the last beat had
    colour), the still keeps the last frame that showed the flow, in colour and labelled so."""
    artery_rig.start_dvt("popliteal")
    artery_rig.show(qtbot, DopplerView.COLOUR)
    pipeline = artery_rig.panel.pipeline

    def between_systoles() -> bool:
        current = artery_rig.window.view.current
        if current is None or shows_flow(pipeline.overlay_for(current.frame.seq)):
            return False
        end = current.frame.host_time_ns
        recent = artery_rig.window.engine.ring.frames_between(end - int(0.8e9), end)
        return any(shows_flow(pipeline.overlay_for(rf.frame.seq)) for rf in recent)

    qtbot.waitUntil(between_systoles, timeout=10000)
    record = artery_rig.take(qtbot, artery_rig.window.capture_still)  # at once: the same frame is on screen
    assert record.labels.imaging_mode == "color_doppler"
    ds = pydicom.dcmread(artery_rig.store.capture_path(record))
    tissue = ds.SequenceOfUltrasoundRegions[0]
    image = np.asarray(ds.pixel_array)[:, : int(tissue.RegionLocationMaxX1) + 1]
    assert _coloured(image).sum() > 0  # the artery's colour, not an empty box


def test_a_live_still_keeps_the_frame_on_screen_when_no_frame_of_the_beat_showed_flow() -> None:
    """An occluded vein: no colour in any recent box, so the frame on screen (its empty box is the
    finding); a frame whose box lay elsewhere is not taken for the one on screen."""
    frames = [make_frame(seq) for seq in range(1, 5)]
    box = FlowBox(Geometry.LINEAR, top_mm=1.0, bottom_mm=3.0, left=1.0, right=3.0)
    moved = dataclasses.replace(box, left=2.0)
    empty = np.zeros((11, 11, 4), np.uint8)
    red = empty.copy()
    red[5:, :] = (200, 30, 10, 255)

    def overlay(rgba: npt.NDArray[np.uint8], where: FlowBox, seq: int) -> FlowOverlay:
        return FlowOverlay(rgba, where, 40.0, 5.0, 4000.0, False, False, frame_seq=seq)

    none_shown = {f.seq: overlay(empty, box, f.seq) for f in frames}
    assert live_still_frame(frames, none_shown.get) is frames[-1]
    elsewhere = {**none_shown, 2: overlay(red, moved, 2)}
    assert live_still_frame(frames, elsewhere.get) is frames[-1]
    systole = {**elsewhere, 1: overlay(red, box, 1), 3: overlay(red, box, 3)}
    assert live_still_frame(frames, systole.get) is frames[2]  # the newest that showed it
    on_screen = {**systole, 4: overlay(red, box, 4)}
    assert live_still_frame(frames, on_screen.get) is frames[-1]
