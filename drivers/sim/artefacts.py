"""Pulse-echo artefacts the straight-ray convolution model leaves out, added to the anatomy cells.

physics.py follows one straight ray per line and returns one echo per interface. Real images also
show (mechanisms as in Kremkau & Taylor, J Ultrasound Med 1986;5:227):
- reverberation: sound bouncing between the probe face and a strong shallow interface returns
  repeat echoes at 2x, 3x ... its depth, each weaker than the one before;
- comet tails (ring-down): sound trapped inside a small strong reflector (metal, calcification)
  leaks back as a short bright tail right under it, fading with depth;
- refraction edge shadows: where the beam meets the curved wall of a round structure (cyst, vessel
  or tendon in short axis) at a grazing angle it is bent and spread, leaving a thin shadow running
  deep from each lateral edge.

Each artefact is computed down its own column of cells from that column alone, so the renderer's
patient-fixed lattice cache (drivers/sim/patient.py `_Cells`) stays valid, and it runs in the
anatomy stage: a held probe pays nothing for it. Levels are design choices [engineering
approximation], set so the artefacts are faint on soft-tissue interfaces and plain under bone,
metal and calcification, as on scanners.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt

from drivers.sim.anatomy import Scene
from drivers.sim.physics import C_MM_PER_US
from drivers.sim.shapes import Array, CrossTube, Ellipsoid, Tube
from drivers.sim.tissues import TISSUES, Label

REVERB_MAX_DEPTH_MM = 12.0  # interfaces deeper than this return their repeats too weak to show
REVERB_MIN_AMPLITUDE = 1.0  # specular echo (re 0 dB speckle) an interface needs to reverberate
REVERB_FACE_REFLECTION = 0.5  # probe face and lens: each round trip keeps this x the interface's reflection
REVERB_MAX_RATIO = 0.5  # ... but never more than this of the echo before (gas, metal)
REVERB_REPEATS = 4  # repeats after the primary echo at 2x .. 5x its depth
# Cortical bone's surface is rough on the scale of the wavelength: its repeats lose coherence each trip
# and fade faster than a smooth needle's or plate's; its shadow stays dark (>= 20 dB, the physics target).
REVERB_BONE_FACTOR = 0.6

COMET_LEVEL = 0.7  # the tail's first echo, relative to the reflector's own specular echo
COMET_DECAY_MM = 0.9  # the tail fades by 1/e every this much depth
COMET_LENGTH_MM = 3.5  # ... and is cut here
# A reflector thicker than this along the beam (a plate, a screw's shaft) does not ring down: its
# surface reverberates with the probe instead (the needle and small fragments do ring).
COMET_MAX_THICKNESS_MM = 1.5
COMET_FULL_THICKNESS_MM = 0.6  # a reflector thinner than this along the beam rings for less long

EDGE_ANGLE_START_DEG = 45.0  # beam to wall normal where the edge shadow starts ...
EDGE_ANGLE_FULL_DEG = 72.0  # ... and where it is at its deepest
EDGE_SHADOW_LOSS = 0.8  # amplitude lost under the edge at its deepest
REFRACTING = frozenset(
    {
        Label.FLUID,
        Label.COMPLEX_FLUID,
        Label.HEMATOMA,
        Label.VEIN_LUMEN,
        Label.ARTERY_LUMEN,
        Label.VESSEL_WALL,
        Label.THROMBUS,
        Label.TENDON,
        Label.NODE_CORTEX,
    }
)  # round structures whose speed of sound differs from the tissue around them enough to bend the beam


def add_artefacts(
    scene: Scene,
    coords: tuple[Array, Array, Array],
    beam_dir: npt.NDArray[np.float32],
    *,
    index: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.uint8],
    z_mm: npt.NDArray[np.float32],
    before_db: npt.NDArray[np.float32],
    reflection: npt.NDArray[np.float32],
    amp: npt.NDArray[np.float32],
    specular: npt.NDArray[np.complex64],
    frequency_mhz: float,
) -> None:
    """Add edge shadows, comet tails and reverberation to one block of cells, in place.

    Cells are (rows, columns) at ranges `z_mm` (rows, mm along the beam); `coords` are their patient
    (s, t, d) in mm (broadcastable), `beam_dir` the unit beam (3, 1, 1 or columns). `amp` is the
    attenuated echo amplitude and `specular` the coherent interface echo of each cell (both re 0 dB
    speckle); `before_db` the two-way loss reaching each cell's interface and `reflection` that
    interface's amplitude reflection coefficient (physics.attenuation_db).
    """
    edge_shadows(scene, coords, beam_dir, index=index, amp=amp, specular=specular)
    k2 = np.float32(4.0 * math.pi * frequency_mhz / C_MM_PER_US)
    comet_tails(labels, z_mm, amp=amp, specular=specular, k2=k2)
    reverberation(z_mm, before_db, reflection, specular=specular, k2=k2, labels=labels)


def _first_last(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last row of each column where `mask` holds (meaningful where it holds anywhere)."""
    first = mask.argmax(axis=0)
    last = mask.shape[0] - 1 - mask[::-1].argmax(axis=0)
    return first.astype(np.intp), last.astype(np.intp)


ROUND = (Ellipsoid, Tube, CrossTube)  # shapes whose walls curve across the image plane


def _wall_normal(shape: object, s: Array, t: Array, d: Array) -> tuple[Array, Array, Array]:
    """Outward normal (s, t, d; not unit) of a round shape's wall through the points (1-D, mm)."""
    if isinstance(shape, Ellipsoid):
        (cs, ct, cd), (a, b, c) = shape.centre, shape.radii
        return (s - cs) / a**2, (t - ct) / b**2, (d - cd) / c**2
    if isinstance(shape, Tube):  # across the tube; its slow course along s is left out
        tc, dc = shape.centre(s)
        rt, rd = shape.radii(s)
        return np.zeros_like(s), (t - tc) / rt**2, (d - dc) / rd**2
    assert isinstance(shape, CrossTube)
    return s - shape.s_mm, np.zeros_like(s), d - shape.d_mm


def edge_shadows(
    scene: Scene,
    coords: tuple[Array, Array, Array],
    beam_dir: npt.NDArray[np.float32],
    *,
    index: npt.NDArray[np.uint8],
    amp: npt.NDArray[np.float32],
    specular: npt.NDArray[np.complex64],
) -> None:
    """Darken each column below a round structure it enters at a grazing angle (refraction), in place.

    The angle is between the beam and the wall's normal where the column first meets the structure
    (from its analytic shape); past EDGE_ANGLE_START_DEG the column loses up to EDGE_SHADOW_LOSS of
    its amplitude from the structure's deepest cell down. Overlapping structures (a vessel's wall and
    lumen) do not darken twice: each column keeps its strongest shadow.
    """
    refracting = np.zeros(len(scene.structures) + 1, dtype=np.bool_)
    for i, st in enumerate(scene.structures, start=1):
        refracting[i] = st.label in REFRACTING and not st.point_target and isinstance(st.shape, ROUND)
    inside = refracting.take(index)
    if not inside.any():
        return
    rows, cols = index.shape
    # Where each run of one structure down a column starts and ends, in one pass over the cells.
    new_run = index[1:] != index[:-1]
    entry, leave = inside.copy(), inside
    entry[1:] &= new_run
    leave[:-1] &= new_run
    # Flat (row-major) positions: a (structure, column)'s first entry is its shallowest.
    flat_in = np.flatnonzero(entry)
    r_in, c_in = np.divmod(flat_in, cols)
    key, at = np.unique(index.ravel()[flat_in].astype(np.intp) * cols + c_in, return_index=True)
    flat_out = np.flatnonzero(leave)
    r_out, c_out = np.divmod(flat_out, cols)
    out_key = (index.ravel()[flat_out].astype(np.intp) * cols + c_out)[::-1]
    _, last_at = np.unique(out_key, return_index=True)  # the same keys; reversed, so the deepest exit
    first, col, last = r_in[at], c_in[at], r_out[::-1][last_at]
    ids = key // cols
    s, t, d = (np.broadcast_to(a, index.shape)[first, col] for a in coords)
    normal = np.empty((3, key.size), dtype=np.float32)
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    for k0, k1 in itertools.pairwise(bounds):
        part = slice(int(k0), int(k1))
        normal[:, part] = _wall_normal(scene.structures[int(ids[k0]) - 1].shape, s[part], t[part], d[part])
    beam = np.broadcast_to(beam_dir.reshape(3, -1), (3, cols))[:, col]
    cos_inc = np.abs((normal * beam).sum(axis=0)) / np.maximum(np.linalg.norm(normal, axis=0), 1e-9)
    angle = np.degrees(np.arccos(np.clip(cos_inc, 0.0, 1.0)))
    ramp = np.clip((angle - EDGE_ANGLE_START_DEG) / (EDGE_ANGLE_FULL_DEG - EDGE_ANGLE_START_DEG), 0.0, 1.0)
    gain = (1.0 - EDGE_SHADOW_LOSS * ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)
    shadow = gain < 1.0
    if not shadow.any():
        return
    # The strongest shadow of each column, from below the structure that casts it.
    order = np.argsort(gain[shadow], kind="stable")
    col_s, gain_s, start_s = col[shadow][order], gain[shadow][order], last[shadow][order] + 1
    shaded, strongest = np.unique(col_s, return_index=True)
    g, start = gain_s[strongest], start_s[strongest]
    r0 = int(start.min())
    below = np.arange(r0, rows)[:, None] >= start[None, :]
    factor = np.where(below, g[None, :], np.float32(1.0))
    amp[r0:, shaded] *= factor
    specular[r0:, shaded] *= factor


RINGS = np.asarray([t.rings for t in TISSUES], dtype=np.bool_)  # per tissue label


def comet_tails(
    labels: npt.NDArray[np.uint8],
    z_mm: npt.NDArray[np.float32],
    *,
    amp: npt.NDArray[np.float32],
    specular: npt.NDArray[np.complex64],
    k2: np.float32,
) -> None:
    """Add a tapering coherent tail under every small strong reflector (tissues that ring, no thicker
    along the beam than COMET_MAX_THICKNESS_MM), in place.

    The tail starts at the reflector's deepest cell in the column, at COMET_LEVEL of the reflector's
    echo there, and fades over COMET_DECAY_MM, less where the reflector is thinner along the
    beam than COMET_FULL_THICKNESS_MM (its edges), so the tail tapers; the sound
    rings inside the reflector, so the tissue's attenuation below does not touch it. `k2` is the
    two-way wavenumber (rad/mm) giving each tail echo its carrier phase.
    """
    ring = RINGS.take(labels)
    cols = np.flatnonzero(ring.any(axis=0))
    if cols.size == 0:
        return
    first, last = _first_last(ring[:, cols])
    rows = labels.shape[0]
    dz = float(z_mm[1] - z_mm[0]) if z_mm.size > 1 else 1.0
    extent_mm = (last - first + 1) * dz
    small = extent_mm <= COMET_MAX_THICKNESS_MM
    if not small.any():
        return
    cols, first, last, extent_mm = cols[small], first[small], last[small], extent_mm[small]
    # The reflector's echo: its top interface's, or (no interface drawn) its own cells' amplitude.
    top = np.abs(specular[first, cols])
    own = np.where(ring[:, cols], amp[:, cols], 0.0).max(axis=0)
    source = np.maximum(top, own).astype(np.float32)
    # Thinner parts of the reflector (its edges) trap less sound and ring shorter: the tail tapers.
    thickness = np.minimum(extent_mm / COMET_FULL_THICKNESS_MM, 1.0)
    decay_mm = np.float32(COMET_DECAY_MM) * np.maximum(thickness, 0.2).astype(np.float32)
    n = max(1, math.ceil(COMET_LENGTH_MM / dz))
    for k in range(1, n + 1):
        r = last + k
        keep = r < rows
        if not keep.any():
            break
        level = COMET_LEVEL * np.exp(-(k - 1) * dz / decay_mm[keep])
        z = z_mm[r[keep]]
        echo = (source[keep] * level) * np.exp(1j * k2 * z)
        specular[r[keep], cols[keep]] += echo.astype(np.complex64)


def reverberation(
    z_mm: npt.NDArray[np.float32],
    before_db: npt.NDArray[np.float32],
    reflection: npt.NDArray[np.float32],
    *,
    specular: npt.NDArray[np.complex64],
    k2: np.float32,
    labels: npt.NDArray[np.uint8] | None = None,
) -> None:
    """Add repeat echoes of each column's strongest shallow interface at 2x .. 5x its depth, in place.

    Each extra round trip between the probe face and the interface keeps REVERB_FACE_REFLECTION x
    the interface's reflection coefficient (at most REVERB_MAX_RATIO) and pays the two-way loss down
    to it (`before_db`) again; the repeat echoes keep the carrier phase of their own depth, so an
    interface across the image repeats as faint lines parallel to it.
    """
    rows = specular.shape[0]
    shallow = np.flatnonzero((z_mm > 0.0) & (z_mm <= REVERB_MAX_DEPTH_MM))
    if shallow.size == 0 or z_mm.size < 2:
        return
    band = np.abs(specular[shallow])
    at = band.argmax(axis=0)
    cols = np.flatnonzero(band.max(axis=0) >= REVERB_MIN_AMPLITUDE)
    if cols.size == 0:
        return
    r_if = shallow[at[cols]]
    primary = band[at[cols], cols]
    z_if = z_mm[r_if]
    ratio = round_trip(reflection[r_if, cols]) * np.power(
        np.float32(10.0), -before_db[r_if, cols] / np.float32(20.0)
    )
    if labels is not None:  # the tissue under the interface: bone's repeats fade faster
        ratio = np.where(labels[r_if, cols] == Label.BONE, ratio * np.float32(REVERB_BONE_FACTOR), ratio)
    z0, dz = float(z_mm[0]), float(z_mm[1] - z_mm[0])
    level = primary.astype(np.float32)
    for k in range(2, REVERB_REPEATS + 2):
        level = level * ratio
        z = k * z_if
        r = np.rint((z - z0) / dz).astype(np.intp)
        keep = r < rows
        if not keep.any():
            break
        echo = level[keep] * np.exp(1j * k2 * z[keep])
        specular[r[keep], cols[keep]] += echo.astype(np.complex64)


def round_trip(reflection: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Amplitude an echo keeps for each extra trip between the probe face and its reflector.

    `reflection` is the reflector's amplitude reflection coefficient; the tissue's loss on the way
    is the caller's (it knows the path).
    """
    r = np.asarray(reflection, dtype=np.float32)
    ratio: npt.NDArray[np.float32] = np.minimum(
        np.float32(REVERB_FACE_REFLECTION) * r, np.float32(REVERB_MAX_RATIO)
    )
    return ratio


def probe_repeats(
    range_mm: npt.NDArray[np.floating], loss: npt.NDArray[np.floating], reflection: float
) -> list[tuple[int, npt.NDArray[np.floating]]]:
    """(k, amplitude factor) of the k-th passes (k = 2 ..) of echoes between the probe and a reflector.

    For echoes from a reflector (the needle's shaft) at `range_mm` (N,) whose two-way amplitude
    loss down to it is `loss` (N,): the k-th pass arrives from k x the range with
    (round_trip x loss)^(k - 1) of the echo; echoes deeper than REVERB_MAX_DEPTH_MM do not repeat.
    """
    step = np.where(range_mm <= REVERB_MAX_DEPTH_MM, float(round_trip(reflection)) * loss, 0.0)
    return [(k, step ** (k - 1)) for k in range(2, REVERB_REPEATS + 2)]
