"""A capture labelled Doppler is the Doppler the operator saw (newcomer 7): over the real PLP driver and
the simulated USB probe, the report shows a colour still in colour with its bar; a steered colour box is
stored where the screen drew it; a still whose box shows no colour is not labelled colour Doppler."""

from __future__ import annotations

import base64
import io

import numpy as np
import numpy.typing as npt
import pydicom
from PIL import Image
from pytestqt.qtbot import QtBot

from scanner_app.probe import SettingKey
from scanner_app.studies.report import build_report, render_html
from tests.test_doppler_capture import DopplerRig, rig  # noqa: F401 - the rig fixture
from ui.doppler_panel import DopplerView


def _coloured(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where a picture shows colour, not grey: red or blue well above the other."""
    r, b = rgb[..., 0].astype(int), rgb[..., 2].astype(int)
    return np.abs(r - b) > 40


def test_the_report_shows_a_colour_still_in_colour_with_its_colour_bar(
    qtbot: QtBot,
    rig: DopplerRig,  # noqa: F811
) -> None:
    runner = rig.start_dvt("cfv_compression")
    runner.choose_finding("acute_dvt")
    rig.show(qtbot, DopplerView.COLOUR)
    qtbot.waitUntil(
        lambda: rig.panel.shown_overlay is not None and bool(rig.panel.shown_overlay.rgba[..., 3].any()),
        timeout=8000,
    )
    record = rig.take(qtbot, rig.window.capture_still)
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
