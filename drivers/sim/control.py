"""SimulatorControl: the simulator panel's handle on the virtual patient (scene, variant, probe pose,
the manoeuvres of a Doppler study), its ground truth (what the image plane cuts, which vessels the
probe presses) and its cable."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from drivers.sim import physics as ph
from drivers.sim.anatomy import Scene, VesselKind, compress_vessels, lumen_fraction, paint, structure_names
from drivers.sim.haemodynamics import Manoeuvre
from drivers.sim.needle import (
    Needle,
    image_plane,
    is_vessel_or_nerve,
    needle_masks,
    structure_at,
    structures_along,
    structures_near,
    tip_visible,
)
from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.scenes import SCENES, list_scenes
from drivers.sim.shapes import Array
from drivers.sim.tissues import label_names
from scanner_app.frame import Geometry
from scanner_app.needle_guide import NeedleGuide, entry_point
from scanner_app.sim_control import INJECTATE_STRUCTURE, NEEDLE_STRUCTURE, LabelMap, NeedleTruth, ViewTruth

# The ground truth is judged on a coarse plane: a 38 mm linear probe, as the simulated one has.
TRUTH_WIDTH_MM = 38.0
TRUTH_ROWS, TRUTH_LINES = 96, 48
# A vessel counts as open when its lumen keeps this fraction of its height ("at zero pressure", with
# the slack a resting hand gives: a patent vein stays open below a pressure of about 0.06).
OPEN_LUMEN_FRACTION = 0.9


class SimulatorCable(Protocol):
    """The simulated probe's cable: the USB backend, the serial device or the direct driver."""

    def unplug(self) -> None: ...

    def replug(self) -> None: ...


class SimulatedPatient(Protocol):
    """Who does the manoeuvres: the simulated firmware, which times them on the clock of its IQ."""

    def perform(self, manoeuvre: Manoeuvre) -> None: ...

    def straining(self) -> bool: ...


class SimulatorControl:
    """Scene and pose control of an in-process simulated probe; the composition root hands it to the UI.

    A simulated probe in another process is driven the same way through the PLP extension commands
    SIM_SET_SCENE, SIM_SET_POSE and SIM_MANOEUVRE (`drivers/sim/firmware.py`).
    """

    def __init__(
        self,
        renderer: PatientRenderer,
        cable: SimulatorCable | None = None,
        patient: SimulatedPatient | None = None,
    ) -> None:
        self._renderer = renderer
        self._cable = cable
        self._patient = patient
        self._plugged = True
        self._needle_in_plane = True
        self._last_label_map: tuple[Scene, tuple[object, ...], LabelMap] | None = None

    def list_scenes(self) -> list[tuple[str, str, list[str]]]:
        """(scene id, title, variant ids) for every scene."""
        return [(s.scene_id, s.title, list(s.variants)) for s in list_scenes()]

    def variant_titles(self, scene_id: str) -> dict[str, str]:
        spec = SCENES.get(scene_id)
        return dict(spec.variants) if spec is not None else {}

    def current_scene(self) -> tuple[str, str | None]:
        s = self._renderer.scene
        return s.scene_id, s.variant

    def set_scene(self, scene_id: str, variant: str | None) -> None:
        self._renderer.set_scene(scene_id, variant or None)
        self._renderer.needle = None  # another patient: the needle stays with the one it was in

    def get_pose(self) -> dict[str, float]:
        """position_mm, lateral_mm, rotation_deg (-180..180), tilt_deg, pressure (0..1)."""
        pose = self._renderer.pose.to_dict()
        pose["rotation_deg"] = (pose["rotation_deg"] + 180.0) % 360.0 - 180.0
        return pose

    def start_pose(self) -> dict[str, float]:
        pose = self._renderer.scene.default_pose.to_dict()
        pose["rotation_deg"] = (pose["rotation_deg"] + 180.0) % 360.0 - 180.0
        return {**pose, "pressure": 0.0}

    def set_pose(self, **changes: float) -> None:
        """Change the named pose fields; the others stay. Out-of-range tilt or pressure is clamped."""
        pose = self._renderer.pose
        deltas = {k: v - getattr(pose, k) for k, v in changes.items() if k in ProbePose.__dataclass_fields__}
        unknown = set(changes) - set(deltas)
        if unknown:
            raise ValueError(f"unknown pose field(s) {sorted(unknown)}")
        self._renderer.set_pose(pose.nudged(**deltas))

    def view_truth(self, pose: Mapping[str, float] | None = None) -> ViewTruth:
        """The structures the plane cuts at `pose` (now when None), with vessel compression applied."""
        scene = self._renderer.scene
        at = self._renderer.pose if pose is None else ProbePose.from_mapping(pose, base=self._renderer.pose)
        grid = ph.BeamGrid(
            Geometry.LINEAR, TRUTH_ROWS, TRUTH_LINES, scene.depth_mm, TRUTH_WIDTH_MM, 60.0, 40.0, 0, 0
        )
        coords = ph.plane_coords(grid, at)
        d = compress_vessels(scene, at.pressure, coords.s, coords.t, coords.d)
        index = paint(scene, coords.s, coords.t, d)
        names = structure_names(scene)
        present = np.flatnonzero(np.bincount(index.ravel(), minlength=len(names)))
        in_view = frozenset(names[i] for i in present if i > 0)
        vessels = {st.name: st.vessel for st in scene.structures if st.vessel is not None}
        # A vein pressed shut leaves the plane's labels; it is still "in view" for the judge.
        cut = _vessels_cut(scene, coords.s, coords.t, coords.d)
        vessels_in_view = frozenset(n for n in cut | in_view if n in vessels)
        compressed = frozenset(
            n
            for n in vessels_in_view
            if vessels[n] is not VesselKind.ARTERY
            and lumen_fraction(vessels[n], at.pressure) < OPEN_LUMEN_FRACTION  # type: ignore[arg-type]
        )
        needle = self._renderer.needle
        if needle is None:
            return ViewTruth(scene.scene_id, in_view | vessels_in_view, vessels_in_view, compressed)
        plane = image_plane(grid, at)
        shaft, fluid = needle_masks(needle, plane)
        shown = {NEEDLE_STRUCTURE} if shaft.any() else set()
        shown |= {INJECTATE_STRUCTURE} if fluid.any() else set()
        tip_in, beside = "", frozenset[str]()
        if tip_visible(needle, plane):
            tip_in, beside = structure_at(scene, needle.tip_mm()), structures_near(scene, needle.tip_mm())
        return ViewTruth(
            scene.scene_id, in_view | vessels_in_view | shown, vessels_in_view, compressed, tip_in, beside
        )

    def label_map(self, rows: int, cols: int, depth_mm: float, width_mm: float) -> LabelMap:
        """The structure under each pixel of a linear image at the probe's pose now (pressed as the
        probe presses), painted as the renderer paints its labels."""
        return self._label_map(
            self._renderer.scene,
            self._renderer.pose,
            rows=rows,
            cols=cols,
            depth_mm=depth_mm,
            width_mm=width_mm,
        )

    def frame_label_map(
        self, device_time_us: int, rows: int, cols: int, depth_mm: float, width_mm: float
    ) -> LabelMap | None:
        """`label_map` of the frame the probe sent with `device_time_us`, at the scene and pose that
        made it (PatientRenderer.frame_poses); None when that frame is no longer known."""
        made = self._renderer.frame_poses.at(device_time_us)
        if made is None:
            return None
        return self._label_map(*made, rows=rows, cols=cols, depth_mm=depth_mm, width_mm=width_mm)

    def _label_map(
        self, scene: Scene, at: ProbePose, *, rows: int, cols: int, depth_mm: float, width_mm: float
    ) -> LabelMap:
        key = (at, rows, cols, depth_mm, width_mm)
        last = self._last_label_map
        if last is not None and last[0] is scene and last[1] == key:
            return last[2]  # a frozen image, or a held probe: the same truth again
        grid = ph.BeamGrid(Geometry.LINEAR, rows, cols, depth_mm, width_mm, 60.0, 40.0, 0, 0)
        coords = ph.plane_coords(grid, at)
        d = compress_vessels(scene, at.pressure, coords.s, coords.t, coords.d)
        index = np.ascontiguousarray(np.broadcast_to(paint(scene, coords.s, coords.t, d), (rows, cols)))
        index.flags.writeable = False
        tissue_of = label_names()
        tissues = (tissue_of[0], *(tissue_of[int(st.label)] for st in scene.structures))
        labels = LabelMap(index, structure_names(scene), tissues, depth_mm, width_mm)
        self._last_label_map = (scene, key, labels)
        return labels

    def manoeuvres(self) -> tuple[str, ...]:
        return tuple(m.value for m in Manoeuvre) if self._patient is not None else ()

    def perform(self, manoeuvre: str) -> None:
        if self._patient is None:
            raise ValueError("this simulated probe makes no Doppler: it has no manoeuvres")
        try:
            chosen = Manoeuvre(manoeuvre)
        except ValueError:
            known = ", ".join(m.value for m in Manoeuvre)
            raise ValueError(f"unknown manoeuvre {manoeuvre!r}; known: {known}") from None
        self._patient.perform(chosen)

    def straining(self) -> bool:
        return self._patient is not None and self._patient.straining()

    def cable_plugged(self) -> bool | None:
        return None if self._cable is None else self._plugged

    def set_cable_plugged(self, plugged: bool) -> None:
        if self._cable is None:
            raise ValueError("this simulated probe has no cable to pull")
        if plugged == self._plugged:
            return
        if plugged:
            self._cable.replug()
        else:
            self._cable.unplug()
        self._plugged = plugged

    # -- the trainee's needle ----------------------------------------------------------------------

    def place_needle(self, guide: NeedleGuide) -> None:
        """The needle at the skin where `guide` plans it from the probe now (image mm -> patient mm)."""
        pose = self._renderer.pose
        a, _ = ph.probe_axes(pose)
        rot = math.radians(pose.rotation_deg)
        along = np.array([math.cos(rot), math.sin(rot), 0.0])  # the array's direction over the skin
        normal = np.array([-math.sin(rot), math.cos(rot), 0.0])
        centre = np.array([pose.position_mm, pose.lateral_mm, 0.0])
        if guide.in_plane:
            x_mm, _ = entry_point(guide, TRUTH_WIDTH_MM)
            entry = centre + (x_mm - TRUTH_WIDTH_MM / 2.0) * along * math.hypot(a[0], a[1])
            heading = along if x_mm < 0 else -along
            angle = guide.angle_deg
        else:  # from the probe's side, aimed to cross the slice under the centre at the target depth
            reach = guide.target_depth_mm / math.tan(math.radians(guide.angle_deg))
            entry = centre - reach * normal
            heading, angle = normal, guide.angle_deg
        self._needle_in_plane = guide.in_plane
        self._renderer.needle = Needle(
            (float(entry[0]), float(entry[1]), 0.0),
            math.degrees(math.atan2(heading[1], heading[0])),
            angle,
        )

    def _needle(self) -> Needle:
        needle = self._renderer.needle
        if needle is None:
            raise ValueError("there is no needle: place one first")
        return needle

    def advance_needle(self, mm: float) -> None:
        self._renderer.needle = self._needle().advanced(mm)

    def angle_needle(self, delta_deg: float) -> None:
        self._renderer.needle = self._needle().angled(delta_deg)

    def inject(self, ml: float) -> None:
        self._renderer.needle = self._needle().injected(ml)

    def reset_needle(self) -> None:
        self._renderer.needle = None

    def needle_truth(self) -> NeedleTruth | None:
        needle = self._renderer.needle
        if needle is None:
            return None
        scene = self._renderer.scene
        tip = needle.tip_mm()
        crossed = structures_along(scene, needle)
        grid = ph.BeamGrid(
            Geometry.LINEAR, TRUTH_ROWS, TRUTH_LINES, scene.depth_mm, TRUTH_WIDTH_MM, 60.0, 40.0, 0, 0
        )
        return NeedleTruth(
            in_plane=self._needle_in_plane,
            angle_deg=needle.angle_deg,
            inserted_mm=needle.inserted_mm,
            tip_structure=structure_at(scene, tip) if needle.inserted_mm > 0 else "coupling gel",
            tip_depth_mm=tip[2],
            tip_visible=tip_visible(needle, image_plane(grid, self._renderer.pose)),
            structures_crossed=crossed,
            vessels_and_nerves_crossed=frozenset(n for n in crossed if is_vessel_or_nerve(scene, n)),
            injected_ml=sum(c.volume_ml for c in needle.injectate),
        )


def _vessels_cut(scene: Scene, s: Array, t: Array, d: Array) -> set[str]:
    """Names of the vessels the uncompressed plane cuts (where they are before any pressure)."""
    index = paint(scene, s, t, d)
    names = structure_names(scene)
    present = np.flatnonzero(np.bincount(index.ravel(), minlength=len(names)))
    return {names[i] for i in present if i > 0 and scene.structures[i - 1].vessel is not None}
