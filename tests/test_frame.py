import dataclasses

import numpy as np
import pytest

from drivers.sim.direct import DirectSimProbe
from scanner_app.frame import BeamGeometry, DataFormat, Geometry, ImagingSettings
from scanner_app.imaging_model import DEFAULT_SETTINGS, PRESET_KEYS
from scanner_app.probe import SETTING_FIELDS, ProbeDescriptor, SettingKey
from tests.factories import make_frame


def test_frame_pixels_are_read_only_and_calibrated() -> None:
    pixels = np.zeros((100, 50), np.uint8)
    frame = make_frame(pixels=pixels, spacing_mm=(0.4, 0.8))
    with pytest.raises(ValueError):
        frame.pixels[0, 0] = 1
    pixels[0, 0] = 7  # the caller's own array stays writable
    assert frame.height_mm == pytest.approx(40.0)
    assert frame.width_mm == pytest.approx(40.0)
    assert (frame.rows, frame.cols) == (100, 50)


def test_frame_is_frozen() -> None:
    frame = make_frame()
    with pytest.raises(AttributeError):
        frame.seq = 3  # type: ignore[misc]


def test_frame_beam_geometry_cannot_be_changed_by_a_reader() -> None:
    beam = BeamGeometry(Geometry.CONVEX, width_mm=0.0, field_of_view_deg=60.0, radius_mm=40.0)
    frame = dataclasses.replace(make_frame(), beam=beam)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.beam.radius_mm = 10.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.settings.depth_mm = 10.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        frame.beam["source_format"] = 2.0  # type: ignore[index]
    assert frame.beam.radius_mm == 40.0 and frame.beam.apex_mm == (-40.0, 0.0)
    assert BeamGeometry(Geometry.LINEAR, width_mm=38.0).apex_mm is None
    # Every part of a frame but its (read-only) pixels is an immutable value: hashable throughout.
    for f in dataclasses.fields(frame):
        if f.name != "pixels":
            hash(getattr(frame, f.name))


def test_data_format_element_types() -> None:
    assert DataFormat.BMODE_U8.dtype.itemsize == 1
    assert DataFormat.ENVELOPE_U16.dtype.kind == "u"
    assert DataFormat.RF_I16.dtype.kind == "i"


def test_tgc_keys() -> None:
    assert SettingKey.tgc(0) == 8 and SettingKey.tgc(7) == 15
    with pytest.raises(ValueError, match="TGC band 8"):
        SettingKey.tgc(8)


def test_descriptor_round_trip_keeps_unknown_fields() -> None:
    d = {
        "vendor": "v", "model": "m", "serial": "s", "firmware": "f", "protocol": 1, "geometry": "convex",
        "elements": 64, "radius_mm": 40.0, "frequencies_mhz": [3.5], "depth_mm": [20, 200], "formats": [1, 2],
        "max_frame_rate_hz": 30, "buttons": ["freeze"], "colour": "blue",
    }  # fmt: skip
    desc = ProbeDescriptor.from_json_dict(d)
    assert desc.extra == {"colour": "blue"}
    assert desc.depth_range_mm == (20.0, 200.0)
    assert ProbeDescriptor.from_json_dict(desc.to_json_dict()) == desc


def test_descriptor_missing_field_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="vendor"):
        ProbeDescriptor.from_json_dict({"model": "m"})


def test_setting_fields_cover_every_imaging_setting_the_readback_path_uses() -> None:
    # The keys the controls request and show readbacks for, TGC bands aside, are the table's keys;
    # its names are exactly the fields a frame carries its settings in.
    shown = {k for k in DEFAULT_SETTINGS if not SettingKey.TGC_0 <= k <= SettingKey.TGC_7}
    assert shown == set(SETTING_FIELDS)
    frame_fields = {f.name for f in dataclasses.fields(ImagingSettings)} - {"settings_id"}
    assert set(SETTING_FIELDS.values()) == frame_fields
    assert set(PRESET_KEYS) == frame_fields


def test_each_readback_reaches_the_frame_field_the_table_names() -> None:
    probe = DirectSimProbe(paced=False)
    probe.connect()
    readbacks = {key: probe.set_setting(key, 1e6) for key in SETTING_FIELDS}  # each clamps to its maximum
    probe.start()
    frame = probe.read_frame(1.0)
    probe.stop()
    probe.close()
    assert frame is not None
    for key, name in SETTING_FIELDS.items():
        assert readbacks[key] < 1e6 and probe.get_setting(key) == readbacks[key]
        assert getattr(frame.settings, name) == pytest.approx(readbacks[key]), name
