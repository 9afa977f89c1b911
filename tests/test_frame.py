import numpy as np
import pytest

from scanner_app.frame import DataFormat
from scanner_app.probe import ProbeDescriptor, SettingKey
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
