"""Tissue echotexture seen across the fibres (short axis): tendon dots, muscle "starry sky", nerve honeycomb.

The textures are fibres in 3-D (discs in the cross-section, running along the fibre), so the same tissue
shows lines in long axis and dots in short axis. Measured on the texture maps themselves, at 0.02 mm.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from drivers.sim.texture import texture_db
from drivers.sim.tissues import Texture

STEP_MM = 0.02


def runs_mm(bright: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Lengths (mm) of the bright runs along the last axis of a boolean map."""
    padded = np.pad(bright.astype(np.int8), ((0, 0), (1, 1)))
    edges = np.diff(padded, axis=1)
    starts, ends = np.nonzero(edges == 1), np.nonzero(edges == -1)
    return (ends[1] - starts[1]) * STEP_MM


def short_axis(kind: Texture) -> npt.NDArray[np.float32]:
    """The texture on a 20 x 10 mm cross-section (t across, d down) at s = 7 mm."""
    t = (np.arange(1000, dtype=np.float32) * STEP_MM)[None, :]
    d = (5.0 + np.arange(500, dtype=np.float32) * STEP_MM)[:, None]
    return np.broadcast_to(texture_db(kind, np.full((1, 1), 7.0, dtype=np.float32), t, d), (500, 1000))


def long_axis(kind: Texture) -> npt.NDArray[np.float32]:
    """The texture on a 20 x 10 mm plane along the limb (s across, d down) at t = 3 mm."""
    s = (np.arange(1000, dtype=np.float32) * STEP_MM)[None, :]
    d = (5.0 + np.arange(500, dtype=np.float32) * STEP_MM)[:, None]
    return np.broadcast_to(texture_db(kind, s, np.full((1, 1), 3.0, dtype=np.float32), d), (500, 1000))


def test_tendon_shows_lines_in_long_axis_and_dots_in_short_axis() -> None:
    along = long_axis(Texture.FIBRILLAR) > 0
    across = short_axis(Texture.FIBRILLAR) > 0
    # Long axis: bright streaks run along the limb for millimetres.
    assert np.median(runs_mm(along)) > 3.0
    # Short axis: the same bundles are dots no wider than about half a millimetre, in both directions.
    assert np.median(runs_mm(across)) < 0.5
    assert np.median(runs_mm(across.T)) < 0.5
    assert 0.15 < across.mean() < 0.4  # sparse dots, not half the section bright


def test_muscle_short_axis_is_a_starry_sky_not_dashed_lines() -> None:
    across = short_axis(Texture.MUSCLE) > 0
    assert 0.05 < across.mean() < 0.2  # sparse bright perimysium
    assert np.percentile(runs_mm(across), 90) < 0.45  # dots across the image...
    assert np.percentile(runs_mm(across.T), 90) < 0.45  # ... and down it
    along = long_axis(Texture.MUSCLE) > 0
    assert np.median(runs_mm(along)) > 0.6  # oblique fascicle lines in long axis: longer runs


def test_nerve_short_axis_is_a_honeycomb_of_dark_fascicles() -> None:
    across = short_axis(Texture.NERVE) < 0  # dark fascicles
    assert 0.3 < across.mean() < 0.5
    assert np.median(runs_mm(across)) < 0.6 and np.median(runs_mm(across.T)) < 0.6
    along = long_axis(Texture.NERVE) < 0
    assert np.median(runs_mm(along)) > 3.0  # fascicles run along the nerve
