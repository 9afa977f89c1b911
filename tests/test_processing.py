"""Display processing: beam data to B-mode with correct millimetre calibration."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from scanner_app.frame import BeamGeometry, DataFormat, Frame, Geometry, ImagingSettings, ProbeIdentity
from scanner_app.processing import DisplayProcessor, envelope_of_rf

PROBE = ProbeIdentity("v", "m", "s")


def beam_frame(
    pixels: np.ndarray, fmt: DataFormat, geometry: Geometry, depth_mm: float, **beam: float
) -> Frame:
    return Frame(
        0, 0, 0, pixels, (depth_mm / pixels.shape[0], 1.0), fmt,
        ImagingSettings(depth_mm, 0.0, 5.0, 20.0, 0.0), PROBE, BeamGeometry(geometry, **beam),
    )  # fmt: skip


def test_convex_point_lands_at_its_millimetre_position() -> None:
    rows, cols, depth, fov, radius = 400, 64, 80.0, 60.0, 40.0
    env = np.full((rows, cols), 10, np.uint16)
    # A bright target 50 mm deep on the line 15 degrees right of centre.
    r_idx = int(50.0 / (depth / rows))
    c_idx = int((15.0 + fov / 2) / (fov / cols))
    env[r_idx - 1 : r_idx + 2, c_idx - 1 : c_idx + 2] = 65535
    out = DisplayProcessor(256)(
        beam_frame(
            env, DataFormat.ENVELOPE_U16, Geometry.CONVEX, depth, field_of_view_deg=fov, radius_mm=radius
        )
    )
    assert out.data_format == DataFormat.BMODE_U8 and out.pixels.shape == (256, 256)
    s = out.spacing_mm[0]
    assert out.spacing_mm[0] == out.spacing_mm[1]
    row, col = np.unravel_index(np.argmax(out.pixels), out.pixels.shape)
    # Where that target is in the image: apex above the top, x centred.
    theta = math.radians((c_idx + 0.5) * fov / cols - fov / 2)
    r = radius + (r_idx + 0.5) * depth / rows
    y_top = radius * math.cos(math.radians(fov / 2))
    x_half = (radius + depth) * math.sin(math.radians(fov / 2))
    assert row * s == pytest.approx(r * math.cos(theta) - y_top, abs=2 * s)
    assert col * s == pytest.approx(r * math.sin(theta) + x_half, abs=2 * s)
    assert out.settings.dynamic_range_db == 60.0  # the host default when the header says 0


def test_linear_resample_keeps_calibration_and_dynamic_range_from_the_engine() -> None:
    env = np.full((200, 100), 65535, np.uint16)
    env[100:] = 65  # 60 dB below full scale
    proc = DisplayProcessor(128, dynamic_range_db=lambda: 40.0)
    out = proc(beam_frame(env, DataFormat.ENVELOPE_U16, Geometry.LINEAR, 40.0, width_mm=20.0))
    assert out.spacing_mm == (40.0 / 128, 40.0 / 128)
    assert out.height_mm == pytest.approx(40.0, abs=out.spacing_mm[0])
    assert out.width_mm == pytest.approx(20.0, abs=out.spacing_mm[0])
    assert out.pixels[10].min() == 255 and out.pixels[-10].max() == 0  # -60 dB is below a 40 dB range
    assert out.settings.dynamic_range_db == 40.0


def test_rf_envelope_detection() -> None:
    t = np.arange(1024)
    envelope = 10000 * np.exp(-(((t - 500) / 60.0) ** 2))
    rf = (envelope * np.cos(2 * np.pi * 0.2 * t)).astype(np.int16)[:, None].repeat(4, axis=1)
    env = envelope_of_rf(rf)
    assert np.max(np.abs(env[100:900, 0] - envelope[100:900])) < 0.03 * 10000


def test_bmode_passes_through_and_maps_are_cached() -> None:
    proc = DisplayProcessor(64)
    b = beam_frame(np.zeros((8, 8), np.uint8), DataFormat.BMODE_U8, Geometry.LINEAR, 10.0)
    assert proc(b) is b
    f = beam_frame(
        np.zeros((32, 16), np.uint16),
        DataFormat.ENVELOPE_U16,
        Geometry.CONVEX,
        50.0,
        field_of_view_deg=50.0,
        radius_mm=30.0,
    )
    proc(f)
    proc(f)
    assert len(proc._maps) == 1


def test_processing_returns_a_new_frame_with_its_source_format_and_leaves_the_input_alone() -> None:
    env = np.full((40, 16), 1000, np.uint16)
    beam = BeamGeometry(Geometry.CONVEX, field_of_view_deg=50.0, radius_mm=30.0)
    sent = dataclasses.replace(beam_frame(env, DataFormat.ENVELOPE_U16, Geometry.LINEAR, 50.0), beam=beam)
    out = DisplayProcessor(64)(sent)
    assert out is not sent
    assert out.data_format is DataFormat.BMODE_U8 and out.source_format is DataFormat.ENVELOPE_U16
    assert out.beam == beam and out.beam.apex_mm == (-30.0, 0.0)  # the sector it was made from
    # The frame the probe sent is untouched: same format, no source format, same geometry.
    assert sent.data_format is DataFormat.ENVELOPE_U16 and sent.source_format is None
    assert sent.beam == beam and sent.pixels.dtype == np.uint16
