"""Tissue microstructure as brightness modulation (dB) fixed in patient coordinates.

Speckle alone looks like liver everywhere; sonographers recognise MSK tissues by their structure:
fibrillar tendon, pennate muscle septa, fat lobules with septa, honeycomb nerve fascicles.
"""

from __future__ import annotations

import numpy as np

from drivers.sim.shapes import Array
from drivers.sim.tissues import Texture


def cell_random(i: Array, j: Array, k: Array, salt: int) -> Array:
    """A uniform 0..1 value per integer cell (i, j, k), fixed for the patient."""
    h = (i.astype(np.int32) * np.int32(73856093)) ^ (j.astype(np.int32) * np.int32(19349663))
    h = h ^ (k.astype(np.int32) * np.int32(83492791)) ^ np.int32(salt)
    u = h.astype(np.uint32)
    u = u ^ (u >> np.uint32(13))
    u = u * np.uint32(0x5BD1E995)
    u = u ^ (u >> np.uint32(15))
    return (u & np.uint32(0xFFFF)).astype(np.float32) / np.float32(65536.0)


def _fat(s: Array, t: Array, d: Array) -> Array:
    # Thin echogenic septa roughly parallel to the skin, separating hypoechoic lobules.
    # Lobule layers of uneven height; a septum is drawn only on some lobules, so lines break up.
    u = d + 0.7 * np.sin(s / 4.3 + t / 5.0) + 0.5 * np.sin(t / 3.1 - s / 7.7) + 0.3 * np.sin(s / 1.9)
    layers = u / 1.9
    layer_idx = np.floor(layers)
    phase = layers - layer_idx  # == layers % 1.0 bit for bit in float32, without the slow remainder
    lobule = cell_random(np.floor(s / 4.0 + 0.5 * layer_idx), np.floor(t / 4.0), layer_idx, 11)
    septum = (phase < 0.08) & (lobule > 0.35)
    return np.where(septum, np.float32(7.0), -3.0 + 3.0 * lobule).astype(np.float32, copy=False)


def _muscle(s: Array, t: Array, d: Array) -> Array:
    # Pennate perimysium septa in long axis; broken into dots ("starry sky") in short axis.
    pennation = np.deg2rad(14.0)
    v = d * np.cos(pennation) + s * np.sin(pennation)
    phase = (v / 1.7) % 1.0
    keep = cell_random(np.floor(s / 4.0), np.floor(t / 0.9), np.floor(v / 1.7), 23) > 0.25
    return np.where((phase < 0.11) & keep, np.float32(8.0), np.float32(-2.0)).astype(np.float32)


def _fibrillar(s: Array, t: Array, d: Array, pitch_mm: float, contrast_db: float) -> Array:
    # Parallel fibre bundles: long streaks along the fibres, dots across them.
    wav = 0.15 * np.sin(s / 6.0)
    bundle = cell_random(np.floor((d + wav) / pitch_mm), np.floor(t / pitch_mm), np.zeros_like(d), 37)
    return np.where(bundle > 0.55, np.float32(contrast_db * 0.4), np.float32(-contrast_db * 0.6)).astype(
        np.float32
    )


def _nerve(s: Array, t: Array, d: Array) -> Array:
    # Hypoechoic fascicles in a bright epineurium: honeycomb in short axis, bands in long axis.
    ft = (t / 0.75) % 1.0
    row = np.floor(d / 0.6)
    fd = (d / 0.6 + 0.0 * ft) % 1.0
    ft = (ft + 0.5 * (row % 2)) % 1.0
    edge = np.minimum(np.minimum(ft, 1.0 - ft), np.minimum(fd, 1.0 - fd))
    return np.where(edge < 0.16, np.float32(7.0), np.float32(-7.0)).astype(np.float32)


def _debris(s: Array, t: Array, d: Array) -> Array:
    spot = cell_random(np.floor(s / 0.5), np.floor(t / 0.5), np.floor(d / 0.5), 53)
    return np.where(spot > 0.88, np.float32(16.0), np.float32(0.0)).astype(np.float32)


def texture_db(kind: Texture, s: Array, t: Array, d: Array) -> Array:
    """Brightness modulation in dB of tissue texture `kind` at the given patient coordinates."""
    if kind is Texture.FAT:
        return _fat(s, t, d)
    if kind is Texture.MUSCLE:
        return _muscle(s, t, d)
    if kind is Texture.FIBRILLAR:
        return _fibrillar(s, t, d, pitch_mm=0.28, contrast_db=10.0)
    if kind is Texture.LIGAMENT:
        return _fibrillar((s + 2.0 * np.sin(d)).astype(np.float32), t, d, pitch_mm=0.45, contrast_db=7.0)
    if kind is Texture.NERVE:
        return _nerve(s, t, d)
    if kind is Texture.DEBRIS:
        return _debris(s, t, d)
    return np.zeros((1, 1), dtype=np.float32)
