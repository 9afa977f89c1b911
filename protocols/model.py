"""The protocol vocabulary: frozen values a validated protocol file becomes, and their allowed words."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from protocols.procedure import ProcedureRole, ProcedureSpec

# The protocol files' words for a capture's kind and mode are the core's (the window labels captures
# with them too).
from scanner_app.capture import CaptureKind
from scanner_app.capture import ImagingMode as ImagingMode  # noqa: PLC0414 (re-exported)


class Side(enum.StrEnum):
    """Which side a protocol examines; ASK means the operator chooses when the exam starts."""

    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"
    ASK = "ask"


class ProtocolKind(enum.StrEnum):
    """What sort of exam a protocol guides."""

    NORMAL_ANATOMY = "normal_anatomy"
    AREA_OF_PAIN = "area_of_pain"
    VENOUS_WITH_AREA_OF_PAIN = "venous_with_area_of_pain"
    PROCEDURE = "procedure"


class Plane(enum.StrEnum):
    """Scan plane of a step or a capture, relative to the structure or to the body."""

    LONG_AXIS = "long_axis"
    SHORT_AXIS = "short_axis"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    TRANSVERSE = "transverse"
    OBLIQUE = "oblique"


class CaptureSide(enum.StrEnum):
    """Side of a capture relative to the exam: the examined side or the opposite one, for comparison."""

    EXAM = "exam"
    CONTRALATERAL = "contralateral"


POSE_KEYS: tuple[str, ...] = ("position_mm", "lateral_mm", "rotation_deg", "tilt_deg")
"""Probe pose coordinates of a practice target, in the simulator's scene frame."""

ViewCatalogue = Mapping[str, Mapping[str, Mapping[str, float]]]
"""The simulator's named views: scene id -> view name -> probe pose (at least the POSE_KEYS).

Protocols never import the simulator; whoever loads protocols for practice (the composition root,
`main.py`) passes the simulator's catalogue in, and validation checks each target's scene and view
against it and takes the view's pose from it.
"""


@dataclass(frozen=True, slots=True)
class CaptureRequirement:
    """Captures a step needs: `count` stills or clips in one plane, mode and side."""

    kind: CaptureKind
    plane: Plane
    count: int = 1
    mode: ImagingMode = ImagingMode.BMODE
    side: CaptureSide = CaptureSide.EXAM
    note: str = ""


@dataclass(frozen=True, slots=True)
class MeasurementSpec:
    """A measurement a follow-up asks for, with its unit."""

    id: str
    title: str
    unit: str


@dataclass(frozen=True, slots=True)
class Preset:
    """Imaging settings to apply when a step starts."""

    depth_mm: float
    frequency_mhz: float
    focus_mm: float

    def as_dict(self) -> dict[str, float]:
        return {"depth_mm": self.depth_mm, "frequency_mhz": self.frequency_mhz, "focus_mm": self.focus_mm}


INCIDENTAL_PREFIX = "incidental_"
"""Ids of the shared incidental findings start with this; a protocol's own findings may not."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding a step can show, with a one-line appearance to recognise it.

    `incidental` marks an unexpected finding from the shared list every scanning step offers
    (`protocols/incidental_findings.yaml`): it neither clears nor is cleared by the step's own
    normal/pathology choice, and it is flagged for QA review in the exam record.
    """

    id: str
    title: str
    appearance: str
    incidental: bool = False


@dataclass(frozen=True, slots=True)
class FollowUp:
    """Extra captures and measurements that become required when a finding is chosen."""

    id: str
    when: str  # finding id that opens this follow-up
    title: str
    instructions: str = ""
    captures: tuple[CaptureRequirement, ...] = ()
    measurements: tuple[MeasurementSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class IncidentalCatalogue:
    """The unexpected findings every scanning step offers, with the follow-ups they open.

    One shared definition (`protocols/incidental_findings.yaml`) applied by validation to every step
    that scans (has a plane), so no protocol file repeats it.
    """

    findings: tuple[Finding, ...]
    follow_ups: tuple[FollowUp, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NeedleTarget:
    """What a needle step's practice view needs besides the probe's pose: the simulated needle seen
    in the image plane with its tip in (`tip_in`) or beside (`tip_beside`, a perineural target) a
    structure of the scene, named as the simulator's ground truth names it; with `injectate`, the
    injected fluid in the plane too. Exactly one of `tip_in` and `tip_beside` is given."""

    tip_in: str = ""
    tip_beside: str = ""
    injectate: bool = False

    @property
    def structure(self) -> str:
        """The structure the tip must reach."""
        return self.tip_in or self.tip_beside


@dataclass(frozen=True, slots=True)
class PracticeTarget:
    """A view to find in the simulator: scene, variant and the simulator's name for the view.

    The protocol file names the view (e.g. "patellar tendon long axis") and a tolerance per pose
    coordinate; the simulator owns the view's pose. `pose` is that pose, filled in when the protocol
    is loaded with the simulator's `ViewCatalogue` and empty otherwise (no practice without one).
    """

    scene: str
    variant: str
    view: str
    tolerance: dict[str, float]
    pose: dict[str, float] = field(default_factory=dict)
    needle: NeedleTarget | None = None  # a needle step: the needle must be shown reaching a structure


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a protocol: how to position and scan, what to see, what to capture and record."""

    id: str
    title: str
    position: str
    probe: str
    plane: Plane | None
    structures: tuple[str, ...]
    captures: tuple[CaptureRequirement, ...]
    findings: tuple[Finding, ...]
    mandatory: bool = True
    manoeuvre: str = ""
    instructions: str = ""
    preset: Preset | None = None
    follow_ups: tuple[FollowUp, ...] = ()
    mark_area_of_pain: bool = False
    practice: PracticeTarget | None = None
    procedure_role: ProcedureRole | None = None  # a procedure step's images: target, needle or after
    line: int = 0  # line of the step in its file, for messages

    @property
    def own_findings(self) -> tuple[Finding, ...]:
        """The step's own findings, without the shared incidental ones."""
        return tuple(f for f in self.findings if not f.incidental)

    @property
    def incidental_findings(self) -> tuple[Finding, ...]:
        """The shared unexpected findings this step offers (empty for a step that does not scan)."""
        return tuple(f for f in self.findings if f.incidental)

    def finding(self, finding_id: str) -> Finding:
        for f in self.findings:
            if f.id == finding_id:
                return f
        raise KeyError(f"step {self.id!r} has no finding {finding_id!r}")


@dataclass(frozen=True, slots=True)
class Quadrant:
    """A focused subset of a protocol's steps (the ESSR 'area of the complaint' exam)."""

    id: str
    title: str
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScanProtocol:
    """A validated scan protocol: identity, sources and ordered steps, with optional focused quadrants."""

    id: str
    title: str
    version: int
    region: str
    side: Side
    kind: ProtocolKind
    sources: tuple[str, ...]
    steps: tuple[Step, ...]
    description: str = ""
    quadrants: tuple[Quadrant, ...] = ()
    procedure: ProcedureSpec | None = None  # a procedure protocol's target, approach and documentation
    path: str = ""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"protocol {self.id!r} has no step {step_id!r}")

    def quadrant(self, quadrant_id: str) -> Quadrant:
        for q in self.quadrants:
            if q.id == quadrant_id:
                return q
        raise KeyError(f"protocol {self.id!r} has no quadrant {quadrant_id!r}")
