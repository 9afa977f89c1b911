"""The simulated probe's Doppler IQ: what one IQ packet is to hold, and the physics that makes it.

The firmware (`drivers/sim/firmware.py`) builds an `IqRequest` from its Doppler settings and asks an
`IqModel` for the samples: `synthesize(request, truth, time_s) -> complex64 (lines, pulses, samples)`,
in i16 counts. Swapping the physics means handing the firmware another `IqModel`.

`AnatomyIqModel` places every IQ sample in the virtual patient (the probe's pose, the beam steered
within the image plane, the vessels compressed, pulsing and breathing as the B-mode shows them at
that time) and asks the scene what is there:
- a vessel lumen (`Structure.vessel`): blood with a parabolic profile across the tube's ellipse,
  moving along the tube's centre line, arteries distally with the triphasic waveform and veins
  toward the heart with the venous one (`drivers/sim/haemodynamics.py`, manoeuvres included);
  a thrombosed vein (or a thrombus painted inside a lumen) has no flow, nor has a cyst;
- hyperaemia: small vessels with slow low-resistance flow scattered in inflamed tissue, in
  tendinosis and in the synovium lining a joint effusion or a gouty joint (`HYPERAEMIA`);
- everywhere: stationary tissue clutter (zero Doppler) as strong as the tissue's echo, and white
  noise.
Each blood sample's phase is 4π f0/c times its displacement toward the probe, the integral of
its velocity, so the Doppler shift is f_d = 2 v cosθ f0 / c with θ between the beam (steer
included) and the vessel, and a flow beyond the Nyquist velocity aliases. Consecutive pw packets
carry on the integral, so they join without a phase jump. Without a scene (a renderer with no
virtual patient), a fixed test vessel 15-21 mm deep flows steadily at `TEST_FLOW_M_S`, rising
toward the last column at `VESSEL_ANGLE_DEG`. Spec 10: positive Doppler shift is flow toward the probe.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from drivers.sim import haemodynamics as hd
from drivers.sim.anatomy import PhasedScenes, Scene, VesselKind, compress_vessels, paint, structure_labels
from drivers.sim.physics import probe_axes
from drivers.sim.pose import ProbePose
from drivers.sim.shapes import Bounds, Tube
from drivers.sim.tissues import ECHO_DB, Label
from scanner_app.doppler import SPEED_OF_SOUND_M_S, DopplerMode
from scanner_app.frame import Geometry

FULL_SCALE_COUNTS = 8000.0  # i16 counts of tissue clutter of amplitude 1 (muscle's echo)
MAX_CLUTTER = 2.0  # the brightest echoes (skin, bone, tendon) clip here, +6 dB over muscle
LUMEN_CLUTTER = 0.005  # what is left of the tissue signal in a lumen or cyst (sidelobes, reverberation)
BLOOD = 0.02  # blood backscatter as the Doppler receive chain sees it, 34 dB under muscle
SPOT_BLOOD = 0.012  # the few red cells of a small vessel
NOISE = 0.0005
NOISE_BANK = 1 << 19  # complex noise samples drawn once; each packet takes a window at random
VESSEL_ANGLE_DEG = 30.0  # the test vessel rises toward the last column at this angle
TEST_VESSEL_MM = (15.0, 21.0)  # depth of the fixed test vessel when there is no scene
TEST_FLOW_M_S = 0.3
CONVEX_RADIUS_MM = 40.0
SPOT_RADIUS_MM = (0.35, 0.7)
SPOTS_PER_MM3 = 0.08
SPOT_PEAK_M_S = (0.03, 0.08)
RIM_MM = 1.2  # synovium: tissue within this distance outside the fluid it lines
MAX_SPOTS = 1000
# Labels no small vessel runs in.
NO_SPOTS = frozenset({Label.GEL, Label.BONE, Label.FLUID, Label.CARTILAGE, Label.URATE, Label.THROMBUS})
# Variant -> (tissue label, where) of the hyperaemic small vessels; INFLAMED tissue always has them.
HYPERAEMIA: dict[str, tuple[tuple[Label, str], ...]] = {
    "achilles_tendinosis": ((Label.TENDINOSIS, "inside"),),
    "effusion": ((Label.FLUID, "rim"),),
    "gout_double_contour": ((Label.FLUID, "rim"), (Label.URATE, "rim")),
}
ALWAYS_HYPERAEMIC = ((Label.INFLAMED, "inside"),)


class Flow(enum.IntEnum):
    """The waveform channel of a sample: which normalised waveform its blood follows."""

    NONE = 0
    ARTERY = 1
    VEIN = 2
    SPOT = 3
    TEST = 4


def artery_peak_m_s(radius_mm: float) -> float:
    """Centre-line systolic peak of a limb artery of this lumen radius: ~90 cm/s for the CFA."""
    return min(1.0, max(0.5, 0.45 + 0.12 * radius_mm))


def vein_mean_m_s(radius_mm: float) -> float:
    """Centre-line mean speed of a leg vein at rest: ~10 cm/s for the CFV (phasic 4-15 cm/s)."""
    return min(0.12, max(0.03, 0.03 + 0.012 * radius_mm))


@dataclass(frozen=True, slots=True)
class IqRequest:
    """What one IQ packet is to hold (the fields of its header, spec 10)."""

    mode: DopplerMode
    geometry: Geometry
    samples: int
    lines: int
    pulses: int
    prf_hz: float
    top_mm: float
    bottom_mm: float
    left: float  # linear: mm from the first column; convex: degrees from the centre line
    right: float
    steer_deg: float
    frequency_mhz: float


@dataclass(frozen=True, slots=True)
class SceneTruth:
    """Simulator ground truth at the current pose: tissue labels on the B-mode grid, and the virtual
    patient itself (scene, probe pose, the manoeuvres under way) when the renderer has one.

    `labels` rows span depth 0 to `depth_mm`, columns the `width_mm` from the first column.
    """

    labels: npt.NDArray[np.uint8] | None
    depth_mm: float
    width_mm: float
    scene: Scene | None = None
    pose: ProbePose | None = None
    manoeuvres: hd.Manoeuvres = field(default_factory=hd.Manoeuvres)
    radius_mm: float = CONVEX_RADIUS_MM


class IqModel(Protocol):
    """Anything that makes IQ for a request; the firmware calls it on its own thread."""

    def synthesize(
        self, request: IqRequest, truth: SceneTruth | None, time_s: float
    ) -> npt.NDArray[np.complex64]:
        """Samples (lines, pulses, samples) in i16 counts; `time_s` is the scene time of the first pulse."""
        ...


@dataclass(frozen=True, slots=True)
class FlowMap:
    """What each (line, sample) of a request holds: its waveform channel, its blood's speed toward the
    probe per unit of that waveform (m/s; the angle to the beam included), its clutter amplitude."""

    channel: npt.NDArray[np.intp]
    toward_m_s: npt.NDArray[np.float64]
    clutter: npt.NDArray[np.float64]
    blood: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Spots:
    """Hyperaemic small vessels of a scene, in patient mm: centres (n, 3), radii, unit directions, speeds."""

    centres: npt.NDArray[np.float64]
    radii_mm: npt.NDArray[np.float64]
    directions: npt.NDArray[np.float64]
    peak_m_s: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Fields:
    """A flow map made ready for synthesis: clutter of every (line × sample) row, and the blood rows
    with their channel, speed toward the probe and scatterer amplitude (counts)."""

    map: FlowMap
    clutter: npt.NDArray[np.complex64]
    flow_rows: npt.NDArray[np.intp]
    channel: npt.NDArray[np.intp]
    toward_m_s: npt.NDArray[np.float64]
    blood: npt.NDArray[np.complex64]


def waveforms(
    t_s: npt.NDArray[np.float64], manoeuvres: hd.Manoeuvres, circulation: hd.Circulation
) -> npt.NDArray[np.float64]:
    """(channels, times): the normalised speed of every `Flow` channel at `t_s`."""
    out = np.zeros((len(Flow), t_s.size))
    out[Flow.ARTERY] = hd.arterial_flow(t_s, circulation)
    out[Flow.VEIN] = hd.venous_flow(t_s, manoeuvres, circulation)
    out[Flow.SPOT] = hd.microvascular_flow(t_s, circulation)
    out[Flow.TEST] = 1.0
    return out


class AnatomyIqModel:
    """IQ of the virtual patient's blood, clutter and noise (see the module docstring)."""

    def __init__(self, seed: int = 0, circulation: hd.Circulation = hd.NORMAL) -> None:
        self._seed = seed
        self.circulation = circulation
        self._noise_rng = np.random.default_rng(seed + 1)
        self._map_cache: tuple[tuple[object, ...], FlowMap] | None = None
        self._spot_cache: tuple[tuple[object, ...], Spots] | None = None
        self._fields_cache: _Fields | None = None
        self._phased = (
            PhasedScenes()
        )  # the vessels in their cardiac/respiratory phase, as the B-mode draws them
        # Drawn here, not with the first packet, so a stream's first packet is not late.
        z = self._noise_rng.standard_normal((NOISE_BANK, 2), dtype=np.float32)
        self._noise_bank = ((z[:, 0] + 1j * z[:, 1]) * (NOISE / math.sqrt(2) * FULL_SCALE_COUNTS)).astype(
            np.complex64
        )
        # The displacement integral carried over to the next pw packet: (time of the last pulse,
        # PRF, the waveforms there, their integrals there).
        self._carry: tuple[float, float, npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def synthesize(
        self, request: IqRequest, truth: SceneTruth | None, time_s: float
    ) -> npt.NDArray[np.complex64]:
        r = request
        fields = self._fields(r, truth, time_s)
        t = time_s + np.arange(r.pulses) / r.prf_hz
        manoeuvres = truth.manoeuvres if truth is not None else hd.AT_REST
        travelled = self._displacement(r, t, waveforms(t, manoeuvres, self.circulation))  # (channels, pulses)
        k = 4 * math.pi * r.frequency_mhz * 1e6 / SPEED_OF_SOUND_M_S  # phase per metre toward the probe
        # Worked as (line × sample, pulse) rows, so the blood samples are whole rows; transposed at the end.
        iq = np.repeat(fields.clutter[:, None], r.pulses, axis=1)  # stationary clutter: zero Doppler
        if fields.flow_rows.size:
            phase = (k * fields.toward_m_s)[:, None] * travelled[fields.channel]  # (n, pulses)
            iq[fields.flow_rows] += fields.blood[:, None] * np.exp(1j * phase).astype(np.complex64)
        iq += self._noise(iq.size).reshape(iq.shape)
        out: npt.NDArray[np.complex64] = np.ascontiguousarray(
            iq.reshape(r.lines, r.samples, r.pulses).transpose(0, 2, 1)
        )
        return out

    def _noise(self, n: int) -> npt.NDArray[np.complex64]:
        """n complex white-noise samples in counts: a window of a bank drawn once, at a random place."""
        if n > NOISE_BANK // 2:
            z = self._noise_rng.standard_normal((n, 2), dtype=np.float32)
            scale = NOISE / math.sqrt(2) * FULL_SCALE_COUNTS
            return ((z[:, 0] + 1j * z[:, 1]) * scale).astype(np.complex64)
        at = int(self._noise_rng.integers(0, NOISE_BANK - n))
        return self._noise_bank[at : at + n]

    def _fields(self, r: IqRequest, truth: SceneTruth | None, time_s: float) -> _Fields:
        """The flow map with its scatterers, as rows of (line × sample), in counts (cached with the map)."""
        fmap = self.flow_map(r, truth, time_s)
        if self._fields_cache is not None and self._fields_cache.map is fmap:
            return self._fields_cache
        rows = np.flatnonzero(fmap.channel.ravel())
        clutter = (self._speckle(r, 0) * fmap.clutter * FULL_SCALE_COUNTS).ravel().astype(np.complex64)
        blood = (self._speckle(r, 1) * fmap.blood * FULL_SCALE_COUNTS).ravel()[rows].astype(np.complex64)
        fields = _Fields(
            fmap, clutter, rows, fmap.channel.ravel()[rows], fmap.toward_m_s.ravel()[rows], blood
        )
        self._fields_cache = fields
        return fields

    def _displacement(
        self, r: IqRequest, t: npt.NDArray[np.float64], w: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """∫ w dt at each pulse (trapezoids at the PRF), continuing the last packet when this one
        follows it pulse for pulse (pw), else from 0 (a new ensemble: its offset does not matter)."""
        dt = 1.0 / r.prf_hz
        start = np.zeros(w.shape[0])
        carry = self._carry
        if carry is not None and carry[1] == r.prf_hz and abs(t[0] - carry[0] - dt) < 1e-3 * dt:
            start = carry[3] + (carry[2] + w[:, 0]) * (dt / 2)
        steps = (w[:, 1:] + w[:, :-1]) * (dt / 2)
        out = np.concatenate([start[:, None], start[:, None] + np.cumsum(steps, axis=1)], axis=1)
        if r.mode == DopplerMode.PW:
            self._carry = (float(t[-1]), r.prf_hz, w[:, -1].copy(), out[:, -1].copy())
        return out

    def _speckle(self, r: IqRequest, layer: int) -> npt.NDArray[np.complex128]:
        """Complex scattering amplitudes fixed in space while the box or gate stays where it is."""
        key = (self._seed, layer, r.lines, r.samples, round(r.top_mm * 100), round(r.left * 100))
        rng = np.random.default_rng([abs(int(x)) for x in key])
        z = rng.standard_normal((r.lines, r.samples, 2)) / math.sqrt(2)
        out: npt.NDArray[np.complex128] = z[..., 0] + 1j * z[..., 1]
        return out

    # -- where the blood is -------------------------------------------------------------------

    def flow_map(self, r: IqRequest, truth: SceneTruth | None, time_s: float | None = None) -> FlowMap:
        """The request's samples in the patient (cached while scene, pose and box stay).

        At `time_s` the vessels in a colour box have the calibre the B-mode shows then (its phase bins).
        """
        scene = truth.scene if truth is not None else None
        pose = truth.pose if truth is not None else None
        geometry = (r.geometry, r.samples, r.lines, r.top_mm, r.bottom_mm, r.left, r.right, r.steer_deg)
        if scene is None or pose is None or truth is None:
            key: tuple[object, ...] = ("test", *geometry)
        else:
            if time_s is not None and r.mode == DopplerMode.FLOW:
                # Colour: each ensemble sees the vessels as the B-mode draws them at its time. Not the
                # spectral gate: its packets join into one stream, where a calibre stepping from bin to
                # bin would put clutter steps (broadband energy) into the spectrum.
                scene = self._phased.at(scene, time_s, _box_bounds(r, pose, truth), pose.pressure)
            key = (
                scene,
                pose,
                truth.width_mm,
                truth.radius_mm,
                *geometry,
            )  # the scene by value: phases differ
        if self._map_cache is not None and self._map_cache[0] == key:
            return self._map_cache[1]
        if scene is None or pose is None or truth is None:
            fmap = _test_vessel_map(r)
        else:
            fmap = self._scene_map(r, scene, pose, truth)
        self._map_cache = (key, fmap)
        return fmap

    def _scene_map(self, r: IqRequest, scene: Scene, pose: ProbePose, truth: SceneTruth) -> FlowMap:
        points, beam = sample_positions(r, pose, truth.width_mm, truth.radius_mm)  # (lines, samples, 3)
        # The painter is fastest with depth growing down the rows: work on (samples, lines).
        s, t, d = (np.ascontiguousarray(points[..., i].T, dtype=np.float32) for i in range(3))
        d = compress_vessels(scene, pose.pressure, s, t, d)
        index = paint(scene, s, t, d).T  # (lines, samples)
        s, t, d = s.T, t.T, d.T
        labels = structure_labels(scene)[index]
        echo = 10.0 ** (ECHO_DB[labels].astype(np.float64) / 20.0)
        clutter = np.clip(echo, LUMEN_CLUTTER, MAX_CLUTTER)
        channel = np.zeros(index.shape, np.intp)
        toward = np.zeros(index.shape)
        blood = np.zeros(index.shape)
        toward_probe = -beam  # (lines, 3): flow along this is toward the probe (positive shift)
        for i in np.flatnonzero(np.bincount(index.ravel(), minlength=len(scene.structures) + 1)):
            st = scene.structures[i - 1] if i > 0 else None
            if st is None or not isinstance(st.shape, Tube):
                continue
            if st.vessel not in (VesselKind.ARTERY, VesselKind.VEIN) or st.label == Label.THROMBUS:
                continue  # a thrombosed vein keeps its lumen and has no flow
            at = np.nonzero(index == i)
            tube = st.shape
            si, ti, di = s[at], t[at], d[at]
            tc, dc = tube.centre(si)
            rt, rd = tube.radii(si)
            profile = np.clip(1.0 - ((ti - tc) / rt) ** 2 - ((di - dc) / rd) ** 2, 0.0, 1.0)
            # Along the centre line, toward larger s (distal): the tube's tangent at each sample.
            t2, d2 = tube.centre(si + np.float32(0.5))
            t1, d1 = tube.centre(si - np.float32(0.5))
            tangent = np.stack([np.ones_like(si), t2 - t1, d2 - d1], axis=-1).astype(np.float64)
            tangent /= np.linalg.norm(tangent, axis=-1, keepdims=True)
            cos_beam = np.einsum("ij,ij->i", tangent, toward_probe[at[0]])
            radius = float(np.mean(tube.rt_pts) + np.mean(tube.rd_pts)) / 2
            if st.vessel is VesselKind.ARTERY:
                channel[at], speed = Flow.ARTERY, artery_peak_m_s(radius)
            else:
                channel[at], speed = Flow.VEIN, -vein_mean_m_s(radius)  # veins run toward the heart
            toward[at] = speed * profile * cos_beam
            blood[at] = BLOOD
        self._add_spots(scene, (s, t, d), labels, toward_probe, channel, toward, blood)
        return FlowMap(channel, toward, clutter, blood)

    def _add_spots(  # noqa: PLR0917
        self,
        scene: Scene,
        coords: tuple[npt.NDArray[np.float32], ...],
        labels: npt.NDArray[np.uint8],
        toward_probe: npt.NDArray[np.float64],
        channel: npt.NDArray[np.intp],
        toward: npt.NDArray[np.float64],
        blood: npt.NDArray[np.float64],
    ) -> None:
        spots = self.spots(scene)
        if spots.centres.size == 0:
            return
        free = (channel == Flow.NONE) & ~np.isin(labels, list(NO_SPOTS))
        at = np.nonzero(free)
        if at[0].size == 0:
            return
        p = np.stack([c[at].astype(np.float64) for c in coords], axis=-1)  # (n, 3)
        lo, hi = p.min(axis=0) - SPOT_RADIUS_MM[1], p.max(axis=0) + SPOT_RADIUS_MM[1]
        near = np.flatnonzero(np.all((spots.centres >= lo) & (spots.centres <= hi), axis=1))
        for j in near:
            r2 = np.sum((p - spots.centres[j]) ** 2, axis=1) / spots.radii_mm[j] ** 2
            inside = np.flatnonzero(r2 < 1.0)
            if inside.size == 0:
                continue
            rows, cols = at[0][inside], at[1][inside]
            cos_beam = toward_probe[rows] @ spots.directions[j]
            channel[rows, cols] = Flow.SPOT
            toward[rows, cols] = spots.peak_m_s[j] * (1.0 - r2[inside]) * cos_beam
            blood[rows, cols] = SPOT_BLOOD

    def spots(self, scene: Scene) -> Spots:
        """The scene's hyperaemic small vessels (cached per scene)."""
        key = (id(scene), scene.scene_id, scene.variant, self._seed)
        if self._spot_cache is None or self._spot_cache[0] != key:
            self._spot_cache = (key, hyperaemia_spots(scene, self._seed))
        return self._spot_cache[1]


def sample_positions(
    r: IqRequest, pose: ProbePose, width_mm: float, radius_mm: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Patient (s, t, d) of every (line, sample) of the request, and each line's beam direction (lines, 3),
    steered within the image plane (positive toward the last column, spec 10)."""
    a, b = probe_axes(pose)
    origin = np.array([pose.position_mm, pose.lateral_mm, 0.0])
    z = np.linspace(r.top_mm, r.bottom_mm, r.samples)[None, :]
    lateral = np.linspace(r.left, r.right, r.lines)[:, None]
    steer = math.radians(r.steer_deg)
    if r.geometry == Geometry.LINEAR:
        pa, pb = np.broadcast_arrays(lateral - width_mm / 2.0, z)
        beam = np.broadcast_to(math.cos(steer) * b + math.sin(steer) * a, (r.lines, 3))
    else:
        angle = np.radians(lateral)
        pa = (radius_mm + z) * np.sin(angle)
        pb = (radius_mm + z) * np.cos(angle) - radius_mm
        along = angle[:, 0] + steer
        beam = np.sin(along)[:, None] * a + np.cos(along)[:, None] * b
    points = origin + pa[..., None] * a + pb[..., None] * b
    return points, np.asarray(beam, np.float64)


BOX_MARGIN_MM = 15.0  # vessels this far outside the box may still reach into it (compression, curvature)


def _box_bounds(r: IqRequest, pose: ProbePose, truth: SceneTruth) -> Bounds:
    """A box (s, t, d) around the request's samples: the vessels that can be in it."""
    corners, _ = sample_positions(replace(r, lines=3, samples=3), pose, truth.width_mm, truth.radius_mm)
    lo = corners.reshape(-1, 3).min(axis=0) - BOX_MARGIN_MM
    hi = corners.reshape(-1, 3).max(axis=0) + BOX_MARGIN_MM
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]), float(lo[2]), float(hi[2]))


def _test_vessel_map(r: IqRequest) -> FlowMap:
    """No scene: tissue with the fixed test vessel, flowing toward the probe along the unsteered beam."""
    depths = np.linspace(r.top_mm, r.bottom_mm, r.samples)
    top, bottom = TEST_VESSEL_MM
    u = (depths - top) / (bottom - top)
    inside = ((u > 0) & (u < 1))[None, :].repeat(r.lines, axis=0)
    profile = np.where(inside, 1 - (2 * u - 1) ** 2, 0.0)
    toward = math.sin(math.radians(VESSEL_ANGLE_DEG - r.steer_deg))
    return FlowMap(
        channel=np.where(inside, Flow.TEST, Flow.NONE).astype(np.intp),
        toward_m_s=TEST_FLOW_M_S * profile * toward,
        clutter=np.where(inside, LUMEN_CLUTTER, 1.0),
        blood=np.where(inside, BLOOD, 0.0),
    )


def hyperaemia_spots(scene: Scene, seed: int = 0) -> Spots:
    """Small vessels scattered through the scene's inflamed tissue (`HYPERAEMIA`), fixed in the patient."""
    rules = (*HYPERAEMIA.get(scene.variant or "", ()), *ALWAYS_HYPERAEMIC)
    rng = np.random.default_rng([seed, 7, *scene.scene_id.encode(), *(scene.variant or "").encode()])
    centres: list[npt.NDArray[np.float64]] = []
    for label, where in rules:
        for st in scene.structures:
            if st.label != label:
                continue
            b = st.shape.bounds
            margin = RIM_MM if where == "rim" else 0.0
            lo = np.array([max(b[0], -300.0), max(b[2], -300.0), max(b[4], 0.0)]) - margin
            hi = np.array([min(b[1], 300.0), min(b[3], 300.0), min(b[5], scene.depth_mm)]) + margin
            volume = float(np.prod(np.maximum(hi - lo, 0.0)))
            if volume <= 0:
                continue
            candidates = lo + (hi - lo) * rng.random((min(40000, max(200, int(volume * 0.5))), 3))
            keep = _inside(st.shape, candidates)
            if where == "rim":
                shell = np.zeros(len(candidates), bool)
                for axis in range(3):
                    for sign in (-1.0, 1.0):
                        shifted = candidates.copy()
                        shifted[:, axis] += sign * RIM_MM
                        shell |= _inside(st.shape, shifted)
                keep = shell & ~keep
            chosen = candidates[keep]
            wanted = round(len(chosen) / len(candidates) * volume * SPOTS_PER_MM3)
            centres.append(chosen[: min(wanted, MAX_SPOTS)])
    c = np.concatenate(centres) if centres else np.zeros((0, 3))
    c = c[:MAX_SPOTS]
    n = len(c)
    # Small vessels run mostly up and down through the tissue (feeding in from the deep side).
    direction = np.column_stack([rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.choice([-1.0, 1.0], n)])
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
    return Spots(
        centres=c,
        radii_mm=rng.uniform(*SPOT_RADIUS_MM, n),
        directions=direction,
        peak_m_s=rng.uniform(*SPOT_PEAK_M_S, n),
    )


def _inside(shape: object, points: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    s, t, d = (points[:, i].astype(np.float32)[None, :] for i in range(3))
    mask: npt.NDArray[np.bool_] = np.broadcast_to(shape.mask(s, t, d), s.shape)[0]  # type: ignore[attr-defined]
    return mask
