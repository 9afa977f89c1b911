"""The simulated probe's source of pixels: what a renderer takes and gives, and a first placeholder.

The firmware (`drivers/sim/`) asks a `FrameRenderer` for each frame; the virtual-patient physics
implements the same protocol. `SpeckleLayersRenderer` is the placeholder: stable speckle in a few
tissue layers that drift slowly, enough to exercise the acquisition path end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from scanner_app.frame import DataFormat, Geometry


@dataclass(frozen=True, slots=True)
class RenderParams:
    """Imaging settings and output shape for one simulated frame."""

    depth_mm: float = 40.0
    gain_db: float = 0.0
    frequency_mhz: float = 10.0
    focus_mm: float = 20.0
    dynamic_range_db: float = 60.0
    tgc_db: tuple[float, ...] = (0.0,) * 8
    data_format: DataFormat = DataFormat.BMODE_U8
    geometry: Geometry = Geometry.LINEAR
    rows: int = 512
    cols: int = 512
    width_mm: float = 38.0  # linear aperture
    fov_deg: float = 60.0  # convex
    radius_mm: float = 40.0  # convex
    sampling_mhz: float = 40.0  # RF
    # Beam and receive model used by the virtual patient (drivers/sim/patient.py).
    bandwidth_frac: float = 0.6  # -6 dB fractional bandwidth of the pulse
    f_number: float = 2.0  # receive/transmit F-number: lateral FWHM = wavelength * F# at the focus
    # Depth gain ramp the machine applies before the TGC sliders (assumed tissue attenuation);
    # 0 means a flat TGC, so the image falls off with depth at the true two-way attenuation.
    tgc_compensation_db_cm_mhz: float = 0.7


@dataclass(frozen=True, slots=True)
class RenderedFrame:
    """One rendered frame in the requested PLP format, with simulator-only ground truth."""

    pixels: npt.NDArray[np.generic]  # uint8 (BMODE), uint16 (ENVELOPE) or int16 (RF), rows x cols
    depth_mm: float
    width_mm: float  # BMODE: image width; linear ENVELOPE/RF: lateral extent of the lines
    fov_deg: float = 0.0
    radius_mm: float = 0.0
    sampling_mhz: float = 0.0
    labels: npt.NDArray[np.uint8] | None = None  # tissue label of each pixel, same grid as pixels
    structures_in_view: tuple[str, ...] = field(default_factory=tuple)


class FrameRenderer(Protocol):
    """Anything that renders a frame for given settings; the firmware calls it on its own thread."""

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame: ...


class SpeckleLayersRenderer:
    """Placeholder renderer: skin, fat, muscle and bone layers with fixed speckle that drifts sideways."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        # A speckle field fixed in "patient" coordinates, wider than any view so the view can drift.
        self._speckle = rng.rayleigh(1.0, size=(1024, 2048)).astype(np.float32)

    def render(self, params: RenderParams, time_s: float) -> RenderedFrame:
        rows, cols = params.rows, params.cols
        depth = np.linspace(0.0, params.depth_mm, rows, dtype=np.float32)[:, None]
        # Layers (mm): skin 0-2, fat 2-8, muscle 8-30, bone surface at 30 with shadow below.
        echo = np.where(depth < 2, 1.6, np.where(depth < 8, 0.6, np.where(depth < 30, 1.0, 0.05)))
        echo = np.where(np.abs(depth - 30) < 0.6, 4.0, echo).astype(np.float32)
        shift = int(time_s * 40.0) % 1024  # slow lateral drift, 40 px/s
        r0 = np.arange(rows) * 1024 // max(rows, 1)
        speckle = self._speckle[r0][:, shift : shift + cols]
        atten_db = -2 * 0.5 * params.frequency_mhz * depth / 10.0
        tgc = np.interp(depth[:, 0], np.linspace(0, params.depth_mm, 8), params.tgc_db)[:, None]
        env_db = (
            20 * np.log10(echo * speckle + 1e-3)
            + atten_db
            + tgc
            + params.gain_db
            + 2 * 0.5 * params.frequency_mhz * depth / 10.0
        )
        if params.data_format == DataFormat.BMODE_U8:
            dr = max(params.dynamic_range_db, 1.0)
            img = np.clip((env_db + dr - 30) / dr * 255.0, 0, 255).astype(np.uint8)
            return RenderedFrame(img, params.depth_mm, params.width_mm)
        env = np.clip(10 ** (env_db / 20.0) * 2000.0, 0, 65535)
        if params.data_format == DataFormat.ENVELOPE_U16:
            return RenderedFrame(
                env.astype(np.uint16), params.depth_mm, params.width_mm,
                fov_deg=params.fov_deg if params.geometry == Geometry.CONVEX else 0.0,
                radius_mm=params.radius_mm if params.geometry == Geometry.CONVEX else 0.0,
            )  # fmt: skip
        # RF: modulate the envelope onto the carrier at the sampling rate.
        t = np.arange(rows, dtype=np.float32)[:, None] / params.sampling_mhz
        rf = np.clip(env * np.cos(2 * np.pi * params.frequency_mhz * t) / 2, -32768, 32767)
        return RenderedFrame(
            rf.astype(np.int16), params.depth_mm, params.width_mm,
            fov_deg=params.fov_deg if params.geometry == Geometry.CONVEX else 0.0,
            radius_mm=params.radius_mm if params.geometry == Geometry.CONVEX else 0.0,
            sampling_mhz=params.sampling_mhz,
        )  # fmt: skip
