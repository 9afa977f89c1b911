"""Small builders for frames in tests."""

from __future__ import annotations

import numpy as np

from scanner_app.frame import DataFormat, Frame, ImagingSettings, ProbeIdentity

PROBE = ProbeIdentity("test", "T1", "0001", "1.0")
SETTINGS = ImagingSettings(
    depth_mm=40.0, gain_db=0.0, frequency_mhz=10.0, focus_mm=20.0, dynamic_range_db=60.0
)


def make_frame(
    seq: int = 0,
    pixels: np.ndarray | None = None,
    host_time_ns: int = 0,
    shape: tuple[int, int] = (64, 48),
    spacing_mm: tuple[float, float] = (0.1, 0.2),
    settings: ImagingSettings = SETTINGS,
) -> Frame:
    if pixels is None:
        pixels = np.full(shape, seq % 256, dtype=np.uint8)
    return Frame(
        seq=seq,
        device_time_us=seq * 1000,
        host_time_ns=host_time_ns,
        pixels=pixels,
        spacing_mm=spacing_mm,
        data_format=DataFormat.BMODE_U8,
        settings=settings,
        probe=PROBE,
    )
