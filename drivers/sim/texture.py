"""Tissue microstructure as brightness modulation (dB) fixed in patient coordinates.

Speckle alone looks like liver everywhere; sonographers recognise MSK tissues by their structure:
fibrillar tendon, pennate muscle septa, fat lobules with septa, honeycomb nerve fascicles.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from drivers.sim.anatomy import Scene, fibre_field
from drivers.sim.physics import anisotropy_db
from drivers.sim.shapes import Array
from drivers.sim.tissues import TISSUES, Texture


def cell_random(i: Array, j: Array, k: Array, salt: int) -> Array:
    """A uniform 0..1 value per integer cell (i, j, k), fixed for the patient."""
    h = (i.astype(np.int32) * np.int32(73856093)) ^ (j.astype(np.int32) * np.int32(19349663))
    h = h ^ (k.astype(np.int32) * np.int32(83492791)) ^ np.int32(salt)
    u = h.astype(np.uint32)
    u = u ^ (u >> np.uint32(13))
    u = u * np.uint32(0x5BD1E995)
    u = u ^ (u >> np.uint32(15))
    return (u & np.uint32(0xFFFF)).astype(np.float32) / np.float32(65536.0)


def _dots(a: Array, b: Array, pitch_mm: float, radius: float, salt: int) -> Array:
    """Whether (a, b) lies within `radius` pitches of a fibre centre, one centre anywhere in each cell.

    The discs are cross-sections of fibres running along the third axis, so a plane across the fibres
    shows scattered dots and a plane along them shows lines. With radius <= 0.5 the only centres that
    can be that close lie in the 2 x 2 cells around the point shifted by half a cell.
    """
    fa, fb = a / pitch_mm, b / pitch_mm
    ia0, ib0 = np.floor(fa - 0.5), np.floor(fb - 0.5)
    zero = np.zeros((1, 1), dtype=np.float32)
    # The samples far outnumber the cells they can reach: hash each cell's centre once into a table
    # over those cells and look it up (the same values as hashing per sample, a fraction of the work).
    lo_a, lo_b = float(ia0.min()), float(ib0.min())
    n_a, n_b = int(ia0.max() - lo_a) + 2, int(ib0.max() - lo_b) + 2
    table: tuple[Array, Array] | None = None
    if n_a * n_b <= 4 * math.prod(np.broadcast_shapes(ia0.shape, ib0.shape)):
        cells_a = (lo_a + np.arange(n_a, dtype=np.float32))[:, None]
        cells_b = (lo_b + np.arange(n_b, dtype=np.float32))[None, :]
        table = (
            cell_random(cells_a, cells_b, zero, salt).ravel(),
            cell_random(cells_a, cells_b, zero, salt + 1).ravel(),
        )
        flat0 = (ia0 - np.float32(lo_a)).astype(np.intp) * n_b + (ib0 - np.float32(lo_b)).astype(np.intp)
    inside: Array | None = None
    for da in (0.0, 1.0):
        for db in (0.0, 1.0):
            ia, ib = ia0 + da, ib0 + db
            if table is not None:
                flat = flat0 + int(da * n_b + db)
                ca, cb = ia + table[0].take(flat), ib + table[1].take(flat)
            else:
                ca = ia + cell_random(ia, ib, zero, salt)
                cb = ib + cell_random(ia, ib, zero, salt + 1)
            hit = (fa - ca) ** 2 + (fb - cb) ** 2 <= radius * radius
            inside = hit if inside is None else inside | hit
    assert inside is not None
    return inside


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
    # Fascicles run along the pennation angle in the s-d plane, wrapped in bright perimysium: lines
    # along the fibres in long axis, scattered bright dots ("starry sky") in short axis.
    pennation = math.radians(14.0)  # a Python float: the coordinates stay float32
    v = d * math.cos(pennation) + s * math.sin(pennation)  # across the fibres, in the s-d plane
    septum = _dots(t, v, 1.1, 0.18, 23)  # 10 % of the muscle: the mean echo stays that of the old septa
    return np.where(septum, np.float32(8.0), np.float32(-3.1)).astype(np.float32)


def _fibrillar(s: Array, t: Array, d: Array, *, pitch_mm: float, bright_db: float, dark_db: float) -> Array:
    # Fibre bundles along s: parallel streaks in long axis, dots in short axis (cut across). The
    # bundles fill 28 % of the tissue; the levels set its mean echo against muscle (anisotropy targets).
    wav = (0.15 * np.sin(s / 6.0)).astype(np.float32)
    bundle = _dots(t, d + wav, pitch_mm, 0.3, 37)
    return np.where(bundle, np.float32(bright_db), np.float32(dark_db)).astype(np.float32)


def _nerve(s: Array, t: Array, d: Array) -> Array:
    # Hypoechoic fascicles (discs across the nerve) in a bright epineurium: honeycomb in short axis,
    # dark bands in long axis.
    fascicle = _dots(t, d, 0.75, 0.36, 41)
    return np.where(fascicle, np.float32(-7.0), np.float32(6.6)).astype(np.float32)


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
        return _fibrillar(s, t, d, pitch_mm=0.55, bright_db=4.0, dark_db=-8.0)
    if kind is Texture.LIGAMENT:
        return _fibrillar(
            (s + 2.0 * np.sin(d)).astype(np.float32), t, d, pitch_mm=0.7, bright_db=4.2, dark_db=-3.5
        )
    if kind is Texture.NERVE:
        return _nerve(s, t, d)
    if kind is Texture.DEBRIS:
        return _debris(s, t, d)
    return np.zeros((1, 1), dtype=np.float32)


def follow_fibres(
    scene: Scene,
    index: npt.NDArray[np.uint8],
    coords: tuple[Array, Array, Array],
    beam_dir: npt.NDArray[np.float32],
    echo_db: npt.NDArray[np.float32],
) -> npt.NDArray[np.bool_] | None:
    """Texture and anisotropy of structures whose fibres follow their shape, in place (dB); their cells.

    `echo_db` holds, at the cells `index` at patient `coords` (mm), each structure's echo with the
    anisotropy of its single `fibre_dir`. For a structure with `fibres_follow_shape`
    (anatomy.fibre_field) that anisotropy is swapped for the one of its local fibre direction, so
    the echo darkens where the fibres turn away from perpendicular to `beam_dir` (3, 1, 1 or
    columns), and its texture is drawn along its course, so the streaks bend with it. Returns the
    cells so textured (the caller textures the rest), or None when there are none.
    """
    done: npt.NDArray[np.bool_] | None = None
    for i, st in enumerate(scene.structures, start=1):  # few structures have a fibre field: test each
        tissue = TISSUES[st.label]
        if not st.fibres_follow_shape or not (tissue.anisotropic or tissue.texture != Texture.NONE):
            continue
        inside = index == i
        cols = np.flatnonzero(inside.any(axis=0))
        if cols.size == 0:
            continue
        rows = np.flatnonzero(inside[:, int(cols[0]) : int(cols[-1]) + 1].any(axis=1))
        r, c = slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
        s, t, d = (
            a[r if a.shape[0] > 1 else slice(None), c if a.shape[1] > 1 else slice(None)] for a in coords
        )
        fibre, off_t, off_d = fibre_field(st, s, t, d)
        delta = np.zeros((1, 1), dtype=np.float32)
        if tissue.texture != Texture.NONE:
            delta = texture_db(
                Texture(tissue.texture), s, (t - off_t).astype(np.float32), (d - off_d).astype(np.float32)
            )
            done = inside if done is None else done | inside
        if tissue.anisotropic:
            beam = beam_dir[:, :, c] if beam_dir.shape[2] > 1 else beam_dir
            local = anisotropy_db(np.stack(np.broadcast_arrays(*fibre)), beam)
            delta = delta + local - anisotropy_db(st.fibre_dir, beam)
        box = echo_db[r, c]
        np.add(box, np.broadcast_to(delta, box.shape), out=box, where=inside[r, c])
    return done
