"""Reads protocol YAML files into `ScanProtocol` values, naming the file and line of every problem found.

The YAML is composed into a node tree (not constructed straight to dicts) so that every value keeps
its start mark; each check reports `path:line: what is wrong`. A file is read completely and all of
its problems are listed, so a radiologist editing one can fix them in one pass.

Practice targets name a simulator view; given the simulator's `ViewCatalogue` (the composition root
passes it: protocols never import the simulator), each target's scene and view are checked against it
and the view's pose is taken from it.
"""

from __future__ import annotations

import difflib
import enum
import functools
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from protocols.model import (
    INCIDENTAL_PREFIX,
    POSE_KEYS,
    CaptureRequirement,
    CaptureSide,
    Finding,
    FollowUp,
    ImagingMode,
    IncidentalCatalogue,
    MeasurementSpec,
    NeedleTarget,
    Plane,
    PracticeTarget,
    Preset,
    ProtocolKind,
    Quadrant,
    ScanProtocol,
    Side,
    Step,
    ViewCatalogue,
)
from protocols.procedure import DOCUMENT_FIELDS, ProcedureRole, ProcedureSpec
from scanner_app.capture import CaptureKind

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
"""The protocols shipped with the app."""

INCIDENTALS_FILE = Path(__file__).resolve().parent / "incidental_findings.yaml"
"""The unexpected findings every scanning step offers (outside LIBRARY_DIR: it is not a protocol)."""

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """One problem in one protocol file, at a 1-based line."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ProtocolFileError(Exception):
    """Raised by `load_protocol` when a file has problems; `errors` lists every one."""

    def __init__(self, errors: Sequence[ProtocolError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = tuple(errors)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping (key: value lines)"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return {
        _STR_TAG: "text",
        _INT_TAG: "a whole number",
        _FLOAT_TAG: "a number",
        _BOOL_TAG: "true/false",
        _NULL_TAG: "nothing (empty)",
    }.get(node.tag, f"a value tagged {node.tag}")


class _Reader:
    """Walks one file's node tree, converting values and collecting errors with line numbers."""

    def __init__(
        self, path: str, views: ViewCatalogue | None, incidentals: IncidentalCatalogue | None = None
    ) -> None:
        self.path = path
        self.views = views  # the simulator's named views, to check and resolve practice targets against
        self.incidentals = incidentals  # added to every scanning step's findings and follow-ups
        self.errors: list[ProtocolError] = []
        self._loader = yaml.SafeLoader("")

    def error(self, node_or_line: yaml.Node | int, message: str) -> None:
        line = node_or_line if isinstance(node_or_line, int) else _line(node_or_line)
        self.errors.append(ProtocolError(self.path, line, message))

    def _scalar(self, node: yaml.ScalarNode) -> object:
        return self._loader.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node, what: str, required: Sequence[str], optional: Sequence[str]
    ) -> dict[str, yaml.Node] | None:
        """Key -> value node of a mapping; reports unknown, duplicate and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping (key: value lines), not {_describe(node)}")
            return None
        allowed = [*required, *optional]
        out: dict[str, yaml.Node] = {}
        suggested: set[str] = set()  # a misspelt key is reported once, not again as a missing one
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key_node.tag != _STR_TAG:
                self.error(key_node, f"{what}: keys must be words, not {_describe(key_node)}")
                continue
            if key in out:
                self.error(key_node, f"{what}: key '{key}' appears twice (first at line {_line(out[key])})")
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; allowed keys: {', '.join(allowed)}"
                suggested.update(close)
                if node.flow_style and value_node.tag == _NULL_TAG:
                    # `{title: Compressible, phasic}` reads 'phasic' as a key: the usual cause.
                    hint += " (a comma inside { } splits text: put text with commas in quotes)"
                self.error(key_node, f"{what}: unknown key '{key}'{hint}")
                continue
            out[key] = value_node
        for key in required:
            if key not in out and key not in suggested:
                self.error(node, f"{what}: missing required key '{key}'")
        return out

    def text(self, node: yaml.Node, what: str, allow_empty: bool = False) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG:
            self.error(node, f"{what} must be text, not {_describe(node)}")
            return None
        value = str(node.value).strip()
        if not value and not allow_empty:
            self.error(node, f"{what} must not be empty")
            return None
        return value

    def identifier(self, node: yaml.Node, what: str) -> str | None:
        value = self.text(node, what)
        if value is not None and not _ID_RE.match(value):
            self.error(node, f"{what} '{value}' must be lower-case letters, digits and underscores")
            return None
        return value

    def integer(self, node: yaml.Node, what: str, minimum: int) -> int | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT_TAG:
            self.error(node, f"{what} must be a whole number, not {_describe(node)}")
            return None
        value = self._scalar(node)
        assert isinstance(value, int)
        if value < minimum:
            self.error(node, f"{what} must be at least {minimum}, got {value}")
            return None
        return value

    def number(self, node: yaml.Node, what: str, positive: bool = False) -> float | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (_INT_TAG, _FLOAT_TAG):
            self.error(node, f"{what} must be a number, not {_describe(node)}")
            return None
        value = self._scalar(node)
        assert isinstance(value, int | float)
        if positive and not value > 0:
            self.error(node, f"{what} must be greater than 0, got {value}")
            return None
        return float(value)

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL_TAG:
            self.error(node, f"{what} must be true or false, not {_describe(node)}")
            return None
        return bool(self._scalar(node))

    def choice(self, node: yaml.Node, what: str, enum_type: type[E]) -> E | None:
        value = self.text(node, what)
        if value is None:
            return None
        allowed = [str(m.value) for m in enum_type]
        if value not in allowed:
            self.error(node, f"{what} '{value}' is not one of: {', '.join(allowed)}")
            return None
        return enum_type(value)

    def items(self, node: yaml.Node, what: str, allow_empty: bool = True) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, not {_describe(node)}")
            return []
        if not node.value and not allow_empty:
            self.error(node, f"{what} must not be empty")
        return list(node.value)

    def texts(self, node: yaml.Node, what: str, allow_empty: bool = True) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(self.items(node, what, allow_empty)):
            value = self.text(item, f"{what} item {i + 1}")
            if value is not None:
                out.append(value)
        return tuple(out)

    def each(
        self, node: yaml.Node, what: str, read: Callable[[yaml.Node, str], T | None], allow_empty: bool = True
    ) -> tuple[T, ...]:
        out = []
        for i, item in enumerate(self.items(node, what, allow_empty)):
            value = read(item, f"{what} item {i + 1}")
            if value is not None:
                out.append(value)
        return tuple(out)


def _unique(reader: _Reader, nodes: Iterable[tuple[str, yaml.Node]], what: str) -> None:
    seen: dict[str, int] = {}
    for ident, node in nodes:
        if ident in seen:
            reader.error(node, f"duplicate {what} '{ident}' (first at line {seen[ident]})")
        else:
            seen[ident] = _line(node)


def _capture(r: _Reader, node: yaml.Node, what: str) -> CaptureRequirement | None:
    m = r.mapping(node, what, ("kind", "plane"), ("count", "mode", "side", "note"))
    if m is None:
        return None
    kind = r.choice(m["kind"], f"{what} kind", CaptureKind) if "kind" in m else None
    plane = r.choice(m["plane"], f"{what} plane", Plane) if "plane" in m else None
    count = r.integer(m["count"], f"{what} count", 1) if "count" in m else 1
    mode = r.choice(m["mode"], f"{what} mode", ImagingMode) if "mode" in m else ImagingMode.BMODE
    side = r.choice(m["side"], f"{what} side", CaptureSide) if "side" in m else CaptureSide.EXAM
    note = r.text(m["note"], f"{what} note") if "note" in m else ""
    if kind is None or plane is None or count is None or mode is None or side is None or note is None:
        return None
    return CaptureRequirement(kind, plane, count, mode, side, note)


def _captures(r: _Reader, node: yaml.Node, what: str) -> tuple[CaptureRequirement, ...]:
    """A list of capture requirements; two asking for the same kind/plane/mode/side must be merged."""
    out: list[CaptureRequirement] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for i, item in enumerate(r.items(node, what)):
        req = _capture(r, item, f"{what} item {i + 1}")
        if req is None:
            continue
        key = (req.kind.value, req.plane.value, req.mode.value, req.side.value)
        if key in seen:
            r.error(
                item,
                f"{what} item {i + 1} repeats item {seen[key]} (same kind, plane, mode, side): use count",
            )
            continue
        seen[key] = i + 1
        out.append(req)
    return tuple(out)


def _measurement(r: _Reader, node: yaml.Node, what: str) -> MeasurementSpec | None:
    m = r.mapping(node, what, ("id", "title", "unit"), ())
    if m is None or len(m) < 3:
        return None
    ident = r.identifier(m["id"], f"{what} id")
    title = r.text(m["title"], f"{what} title")
    unit = r.text(m["unit"], f"{what} unit")
    if ident is None or title is None or unit is None:
        return None
    return MeasurementSpec(ident, title, unit)


def _finding(r: _Reader, node: yaml.Node, what: str) -> Finding | None:
    m = r.mapping(node, what, ("id", "title", "appearance"), ())
    if m is None or len(m) < 3:
        return None
    ident = r.identifier(m["id"], f"{what} id")
    title = r.text(m["title"], f"{what} title")
    appearance = r.text(m["appearance"], f"{what} appearance")
    if ident is None or title is None or appearance is None:
        return None
    return Finding(ident, title, appearance)


def _preset(r: _Reader, node: yaml.Node, what: str) -> Preset | None:
    m = r.mapping(node, what, ("depth_mm", "frequency_mhz", "focus_mm"), ())
    if m is None or len(m) < 3:
        return None
    depth = r.number(m["depth_mm"], f"{what} depth_mm", positive=True)
    freq = r.number(m["frequency_mhz"], f"{what} frequency_mhz", positive=True)
    focus = r.number(m["focus_mm"], f"{what} focus_mm", positive=True)
    if depth is None or freq is None or focus is None:
        return None
    if focus > depth:
        r.error(m["focus_mm"], f"{what} focus_mm ({focus:g}) is deeper than depth_mm ({depth:g})")
        return None
    return Preset(depth, freq, focus)


def _pose(r: _Reader, node: yaml.Node, what: str, positive: bool) -> dict[str, float] | None:
    m = r.mapping(node, what, POSE_KEYS, ())
    if m is None or len(m) < len(POSE_KEYS):
        return None
    out = {k: r.number(m[k], f"{what} {k}", positive=positive) for k in POSE_KEYS}
    if any(v is None for v in out.values()):
        return None
    return {k: float(v) for k, v in out.items() if v is not None}


def _needle_target(r: _Reader, node: yaml.Node, what: str) -> NeedleTarget | None:
    reported = len(r.errors)
    m = r.mapping(node, what, (), ("tip_in", "tip_beside", "injectate"))
    if m is None:
        return None
    where = [k for k in ("tip_in", "tip_beside") if k in m]
    if len(where) != 1:
        if not where and len(r.errors) > reported:
            return None  # a misspelt key, already reported
        r.error(node, f"{what} needs exactly one of tip_in (the structure the tip enters) or tip_beside")
        return None
    structure = r.text(m[where[0]], f"{what} {where[0]}")
    injectate = r.boolean(m["injectate"], f"{what} injectate") if "injectate" in m else False
    if structure is None or injectate is None:
        return None
    if where[0] == "tip_in":
        return NeedleTarget(tip_in=structure, injectate=injectate)
    return NeedleTarget(tip_beside=structure, injectate=injectate)


def _practice(r: _Reader, node: yaml.Node, what: str) -> PracticeTarget | None:
    required = ("scene", "variant", "view", "tolerance")
    m = r.mapping(node, what, required, ("needle",))
    if m is None or not all(k in m for k in required):
        return None
    scene = r.text(m["scene"], f"{what} scene")
    variant = r.text(m["variant"], f"{what} variant")
    view = r.text(m["view"], f"{what} view")
    tolerance = _pose(r, m["tolerance"], f"{what} tolerance", positive=True)
    needle = _needle_target(r, m["needle"], f"{what} needle") if "needle" in m else None
    if scene is None or variant is None or view is None or tolerance is None:
        return None
    if "needle" in m and needle is None:
        return None
    if r.views is None:  # loaded without the simulator: the target stays a name, with no pose
        return PracticeTarget(scene, variant, view, tolerance, needle=needle)
    pose = _view_pose(r, r.views, m, what, scene=scene, view=view)
    if pose is None:
        return None
    return PracticeTarget(scene, variant, view, tolerance, pose, needle)


def _view_pose(
    r: _Reader, views: ViewCatalogue, m: dict[str, yaml.Node], what: str, *, scene: str, view: str
) -> dict[str, float] | None:
    """The pose the simulator gives `view` of `scene`; None after reporting an unknown scene or view."""
    scene_views = views.get(scene)
    if scene_views is None:
        r.error(m["scene"], f"{what} scene '{scene}' is not one of: {', '.join(views)}")
        return None
    pose = scene_views.get(view)
    if pose is None:
        close = difflib.get_close_matches(view, list(scene_views), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = ", ".join(scene_views) or "none"
        r.error(m["view"], f"{what} view '{view}' is not a view of scene '{scene}' ({known}){hint}")
        return None
    return {k: float(pose[k]) for k in POSE_KEYS}


def _follow_up(r: _Reader, node: yaml.Node, what: str) -> tuple[FollowUp, yaml.Node] | None:
    m = r.mapping(node, what, ("when", "title"), ("id", "instructions", "captures", "measurements"))
    if m is None or "when" not in m or "title" not in m:
        return None
    when = r.identifier(m["when"], f"{what} when")
    title = r.text(m["title"], f"{what} title")
    ident = r.identifier(m["id"], f"{what} id") if "id" in m else (when and f"{when}_follow_up")
    instructions = r.text(m["instructions"], f"{what} instructions") if "instructions" in m else ""
    captures = _captures(r, m["captures"], f"{what} captures") if "captures" in m else ()
    measurements = (
        r.each(m["measurements"], f"{what} measurements", lambda n, w: _measurement(r, n, w))
        if "measurements" in m
        else ()
    )
    if not captures and not measurements and not instructions:
        r.error(node, f"{what} asks for nothing: give captures, measurements or instructions")
        return None
    if when is None or title is None or ident is None or instructions is None:
        return None
    return FollowUp(ident, when, title, instructions, captures, measurements), m["when"]


_STEP_REQUIRED = ("id", "title", "position", "probe", "plane", "structures", "captures", "findings")
_STEP_OPTIONAL = (
    "mandatory",
    "manoeuvre",
    "instructions",
    "preset",
    "follow_ups",
    "mark_area_of_pain",
    "practice",
    "procedure_role",
)


def _peek_id(node: yaml.Node) -> str | None:
    """The id a mapping declares, if it has a plain one, so messages can name it before it is checked."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == "id" and isinstance(v, yaml.ScalarNode) and v.value:
                return str(v.value)
    return None


def _step(r: _Reader, node: yaml.Node, what: str) -> Step | None:
    peeked = _peek_id(node)
    if peeked is not None:
        what = f"{what} (step '{peeked}')"
    m = r.mapping(node, what, _STEP_REQUIRED, _STEP_OPTIONAL)
    if m is None:
        return None
    ok = all(k in m for k in _STEP_REQUIRED)
    ident = r.identifier(m["id"], f"{what} id") if "id" in m else None
    if ident is not None:
        what = f"step '{ident}'"
    else:
        ok = False
    title = r.text(m["title"], f"{what} title") if "title" in m else None
    position = r.text(m["position"], f"{what} position") if "position" in m else None
    probe = r.text(m["probe"], f"{what} probe") if "probe" in m else None
    plane: Plane | None = None
    if "plane" in m and m["plane"].tag != _NULL_TAG:
        plane = r.choice(m["plane"], f"{what} plane", Plane)
        ok = ok and plane is not None
    structures = r.texts(m["structures"], f"{what} structures") if "structures" in m else ()
    captures = _captures(r, m["captures"], f"{what} captures") if "captures" in m else ()
    findings = (
        r.each(m["findings"], f"{what} findings", lambda n, w: _finding(r, n, w)) if "findings" in m else ()
    )
    if "findings" in m:
        _unique(
            r,
            ((str(n.value), n) for n in _finding_id_nodes(m["findings"]) if isinstance(n, yaml.ScalarNode)),
            f"{what} finding id",
        )
    for f in findings:
        if f.id.startswith(INCIDENTAL_PREFIX):
            reserved = f"ids starting '{INCIDENTAL_PREFIX}' are reserved for the shared incidental findings"
            r.error(m["findings"], f"{what} finding id '{f.id}': {reserved}")
            ok = False
    mandatory = r.boolean(m["mandatory"], f"{what} mandatory") if "mandatory" in m else True
    manoeuvre = r.text(m["manoeuvre"], f"{what} manoeuvre") if "manoeuvre" in m else ""
    instructions = r.text(m["instructions"], f"{what} instructions") if "instructions" in m else ""
    preset = _preset(r, m["preset"], f"{what} preset") if "preset" in m else None
    if "preset" in m and preset is None:
        ok = False
    if captures and "preset" not in m:
        r.error(node, f"{what} takes captures, so it needs a preset (depth_mm, frequency_mhz, focus_mm)")
        ok = False
    mark_pain = (
        r.boolean(m["mark_area_of_pain"], f"{what} mark_area_of_pain") if "mark_area_of_pain" in m else False
    )
    practice = _practice(r, m["practice"], f"{what} practice") if "practice" in m else None
    if "practice" in m and practice is None:
        ok = False
    role: ProcedureRole | None = None
    if "procedure_role" in m:
        role = r.choice(m["procedure_role"], f"{what} procedure_role", ProcedureRole)
        ok = ok and role is not None
    follow_ups: list[FollowUp] = []
    if "follow_ups" in m:
        finding_ids = {f.id for f in findings}
        for fu, when_node in r.each(m["follow_ups"], f"{what} follow_ups", lambda n, w: _follow_up(r, n, w)):
            if fu.when not in finding_ids:
                known = ", ".join(sorted(finding_ids)) or "none"
                r.error(
                    when_node,
                    f"{what} follow-up '{fu.id}' opens on unknown finding '{fu.when}' (findings: {known})",
                )
                ok = False
            follow_ups.append(fu)
        _unique(r, ((fu.id, node) for fu in follow_ups), f"{what} follow-up id")
    if not ok or None in (ident, title, position, probe, mandatory, manoeuvre, instructions, mark_pain):
        return None
    if plane is not None and r.incidentals is not None:  # a step that scans offers the incidentals
        findings = (*findings, *r.incidentals.findings)
        follow_ups.extend(r.incidentals.follow_ups)
    assert ident is not None and title is not None and position is not None and probe is not None
    assert (
        mandatory is not None and manoeuvre is not None and instructions is not None and mark_pain is not None
    )
    return Step(
        id=ident,
        title=title,
        position=position,
        probe=probe,
        plane=plane,
        structures=structures,
        captures=captures,
        findings=findings,
        mandatory=mandatory,
        manoeuvre=manoeuvre,
        instructions=instructions,
        preset=preset,
        follow_ups=tuple(follow_ups),
        mark_area_of_pain=mark_pain,
        practice=practice,
        procedure_role=role,
        line=_line(node),
    )


def _finding_id_nodes(node: yaml.Node) -> list[yaml.Node]:
    """The `id` value node of each finding mapping, to point duplicate-id errors at the right line."""
    out: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.MappingNode):
                out.extend(v for k, v in item.value if getattr(k, "value", None) == "id")
    return out


def _quadrant(r: _Reader, node: yaml.Node, what: str) -> tuple[Quadrant, yaml.Node] | None:
    m = r.mapping(node, what, ("id", "title", "steps"), ())
    if m is None or len(m) < 3:
        return None
    ident = r.identifier(m["id"], f"{what} id")
    title = r.text(m["title"], f"{what} title")
    steps = r.texts(m["steps"], f"{what} steps", allow_empty=False)
    if ident is None or title is None or not steps:
        return None
    return Quadrant(ident, title, steps), m["steps"]


_PROTOCOL_REQUIRED = ("id", "title", "version", "region", "side", "kind", "sources", "steps")
_PROTOCOL_OPTIONAL = ("description", "quadrants", "procedure")


def _procedure(r: _Reader, node: yaml.Node) -> ProcedureSpec | None:
    """A procedure protocol's plan: target anatomy, approach, fields to document, follow-up weeks."""
    what = "procedure"
    m = r.mapping(node, what, ("target", "approach", "document"), ("follow_up_weeks",))
    if m is None or not all(k in m for k in ("target", "approach", "document")):
        return None
    target = r.text(m["target"], f"{what} target")
    approach = r.text(m["approach"], f"{what} approach")
    document = r.texts(m["document"], f"{what} document", allow_empty=False)
    ok = target is not None and approach is not None and bool(document)
    for item, name in zip(r.items(m["document"], f"{what} document"), document, strict=False):
        if name not in DOCUMENT_FIELDS:
            r.error(item, f"{what} document: unknown field '{name}' (fields: {', '.join(DOCUMENT_FIELDS)})")
            ok = False
    weeks: list[int] = []
    if "follow_up_weeks" in m:
        for i, item in enumerate(r.items(m["follow_up_weeks"], f"{what} follow_up_weeks")):
            week = r.integer(item, f"{what} follow_up_weeks item {i + 1}", 1)
            ok = ok and week is not None
            weeks.append(week or 0)
    if not ok:
        return None
    assert target is not None and approach is not None
    if "follow_up_weeks" in m:
        return ProcedureSpec(target, approach, document, tuple(sorted(set(weeks))))
    return ProcedureSpec(target, approach, document)


def _check_procedure_steps(r: _Reader, root: yaml.Node, kind: ProtocolKind, steps: tuple[Step, ...]) -> None:
    """Procedure roles belong to procedure protocols, and one of these needs its needle-in-target image."""
    roles = [s for s in steps if s.procedure_role is not None]
    if roles and kind is not ProtocolKind.PROCEDURE:
        r.error(roles[0].line, f"step '{roles[0].id}': procedure_role is for protocols of kind 'procedure'")
        return
    if kind is ProtocolKind.PROCEDURE and roles:
        needle = [s for s in roles if s.procedure_role is ProcedureRole.NEEDLE]
        if not any(req.kind is CaptureKind.STILL for s in needle for req in s.captures):
            r.error(root, "a procedure protocol needs a step with procedure_role: needle that asks for a "
                    "still (the needle-in-target image)")  # fmt: skip


def _protocol(r: _Reader, root: yaml.Node) -> ScanProtocol | None:
    m = r.mapping(root, "protocol", _PROTOCOL_REQUIRED, _PROTOCOL_OPTIONAL)
    if m is None:
        return None
    ident = r.identifier(m["id"], "protocol id") if "id" in m else None
    title = r.text(m["title"], "title") if "title" in m else None
    version = r.integer(m["version"], "version", 1) if "version" in m else None
    region = r.text(m["region"], "region") if "region" in m else None
    side = r.choice(m["side"], "side", Side) if "side" in m else None
    kind = r.choice(m["kind"], "kind", ProtocolKind) if "kind" in m else None
    sources = r.texts(m["sources"], "sources", allow_empty=False) if "sources" in m else ()
    description = r.text(m["description"], "description") if "description" in m else ""
    procedure = _procedure(r, m["procedure"]) if "procedure" in m else None
    if "procedure" in m and kind is not None and kind is not ProtocolKind.PROCEDURE:
        r.error(m["procedure"], "a procedure block is for protocols of kind 'procedure'")
    steps: tuple[Step, ...] = ()
    written_step_ids: set[str] = set()  # every step's id as written, valid step or not
    if "steps" in m:
        steps = r.each(m["steps"], "steps", lambda n, w: _step(r, n, w), allow_empty=False)
        id_nodes = [(_peek_id(item), item) for item in r.items(m["steps"], "steps")]
        _unique(r, ((i, n) for i, n in id_nodes if i is not None), "step id")
        written_step_ids = {i for i, _ in id_nodes if i is not None}
    quadrants: list[Quadrant] = []
    if "quadrants" in m:
        for q, steps_node in r.each(m["quadrants"], "quadrants", lambda n, w: _quadrant(r, n, w)):
            for sid in q.steps:
                # A step with its own error is reported there, not again as unknown here.
                if sid not in written_step_ids:
                    r.error(steps_node, f"quadrant '{q.id}' lists unknown step '{sid}'")
            quadrants.append(q)
        _unique(r, ((q.id, m["quadrants"]) for q in quadrants), "quadrant id")
    if kind is not None:
        _check_procedure_steps(r, root, kind, steps)
    if r.errors or None in (ident, title, version, region, side, kind, description):
        return None
    assert ident is not None and title is not None and version is not None and region is not None
    assert side is not None and kind is not None and description is not None
    return ScanProtocol(
        id=ident,
        title=title,
        version=version,
        region=region,
        side=side,
        kind=kind,
        sources=sources,
        steps=steps,
        description=description,
        quadrants=tuple(quadrants),
        procedure=procedure,
        path=r.path,
    )


def _compose(reader: _Reader, text: str) -> yaml.Node | None:
    """The file's node tree, or None after reporting why it is not YAML (or is empty)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        started = ""
        if exc.context_mark is not None and exc.context and exc.context_mark.line + 1 != line:
            started = f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        reader.error(line, f"not valid YAML: {exc.problem or exc}{started}")
        return None
    except yaml.YAMLError as exc:
        reader.error(1, f"not valid YAML: {exc}")
        return None
    if root is None:
        reader.error(1, "file is empty")
    return root


def parse_incidentals(
    text: str, path: str = "<text>"
) -> tuple[IncidentalCatalogue | None, list[ProtocolError]]:
    """Validate the shared incidental findings: `sources`, `findings` and the `follow_ups` they open.

    Every finding id must start with INCIDENTAL_PREFIX (so it never clashes with a step's own) and
    open at least one follow-up (an unexpected finding is always documented).
    """
    r = _Reader(path, None)
    root = _compose(r, text)
    if root is None:
        return None, r.errors
    m = r.mapping(root, "incidental findings", ("sources", "findings", "follow_ups"), ())
    if m is None or len(m) < 3:
        return None, r.errors
    sources = r.texts(m["sources"], "sources", allow_empty=False)
    findings = r.each(m["findings"], "findings", lambda n, w: _finding(r, n, w), allow_empty=False)
    _unique(r, ((str(n.value), n) for n in _finding_id_nodes(m["findings"])), "incidental finding id")
    for f in findings:
        if not f.id.startswith(INCIDENTAL_PREFIX):
            r.error(m["findings"], f"incidental finding id '{f.id}' must start with '{INCIDENTAL_PREFIX}'")
    follow_ups = []
    for fu, when_node in r.each(m["follow_ups"], "follow_ups", lambda n, w: _follow_up(r, n, w)):
        if fu.when not in {f.id for f in findings}:
            r.error(when_node, f"follow-up '{fu.id}' opens on unknown incidental finding '{fu.when}'")
        follow_ups.append(fu)
    _unique(r, ((fu.id, m["follow_ups"]) for fu in follow_ups), "incidental follow-up id")
    for f in findings:
        if not any(fu.when == f.id for fu in follow_ups):
            r.error(m["findings"], f"incidental finding '{f.id}' opens no follow-up: say how to document it")
    if r.errors:
        return None, sorted(r.errors, key=lambda e: e.line)
    incidental = tuple(Finding(f.id, f.title, f.appearance, incidental=True) for f in findings)
    return IncidentalCatalogue(incidental, tuple(follow_ups), sources), []


@functools.cache
def shipped_incidentals() -> tuple[IncidentalCatalogue | None, tuple[ProtocolError, ...]]:
    """The shipped incidental findings (read once), or None and the file's problems."""
    try:
        text = INCIDENTALS_FILE.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, (ProtocolError(str(INCIDENTALS_FILE), 0, f"cannot read file: {exc}"),)
    catalogue, errors = parse_incidentals(text, str(INCIDENTALS_FILE))
    return catalogue, tuple(errors)


def parse_protocol(
    text: str,
    path: str = "<text>",
    *,
    views: ViewCatalogue | None = None,
    incidentals: IncidentalCatalogue | bool | None = True,
) -> tuple[ScanProtocol | None, list[ProtocolError]]:
    """Validate protocol YAML text; return the protocol (None if any error) and every error found.

    With the simulator's `views`, practice targets are checked against them and get their poses.
    `incidentals`: True adds the shipped incidental findings to every scanning step, a catalogue adds
    that one, False or None none.
    """
    catalogue = shipped_incidentals()[0] if incidentals is True else incidentals or None
    reader = _Reader(path, views, catalogue)
    root = _compose(reader, text)
    if root is None:
        return None, reader.errors
    protocol = _protocol(reader, root)
    errors = sorted(reader.errors, key=lambda e: e.line)
    return (protocol if not errors else None), errors


def load_protocol(path: str | Path, *, views: ViewCatalogue | None = None) -> ScanProtocol:
    """Read and validate one protocol file; raise `ProtocolFileError` listing every problem.

    With the simulator's `views`, practice targets are checked against them and get their poses.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolFileError([ProtocolError(str(p), 0, f"cannot read file: {exc}")]) from exc
    protocol, errors = parse_protocol(text, str(p), views=views)
    if protocol is None:
        raise ProtocolFileError(errors)
    return protocol


def library_paths(paths: Iterable[str | Path] | None = None) -> list[Path]:
    """Protocol files in `paths` (files, or directories of *.yaml); default: the shipped library."""
    if paths is None:
        paths = [LIBRARY_DIR]
    out: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        else:
            out.append(p)
    return out


def load_library(
    paths: Iterable[str | Path] | None = None, *, views: ViewCatalogue | None = None
) -> tuple[list[ScanProtocol], list[ProtocolError]]:
    """Load every good protocol from `paths` (default: the shipped library) and list the broken files.

    With the simulator's `views`, practice targets are checked against them and get their poses.
    """
    protocols: list[ScanProtocol] = []
    errors: list[ProtocolError] = list(shipped_incidentals()[1])
    seen: dict[str, str] = {}
    files = library_paths(paths)
    for p in files:
        try:
            protocol = load_protocol(p, views=views)
        except ProtocolFileError as exc:
            errors.extend(exc.errors)
            continue
        if protocol.id in seen:
            errors.append(
                ProtocolError(
                    str(p), 1, f"protocol id '{protocol.id}' is already used by {seen[protocol.id]}"
                )
            )
            continue
        seen[protocol.id] = str(p)
        protocols.append(protocol)
    if not files:
        errors.append(ProtocolError(", ".join(str(p) for p in (paths or [])), 0, "no protocol files found"))
    return protocols, errors


def check_protocols(paths: list[str] | None, views: ViewCatalogue) -> int:
    """`main.py --check-protocols [PATH ...]`: print OK or each error; exit status 0 only if all good.

    `views` is the simulator's catalogue, so an unknown practice scene or view is an error here.
    """
    protocols, errors = load_library(paths or None, views=views)
    for protocol in protocols:
        print(f"OK    {protocol.path}: {protocol.id} v{protocol.version} ({len(protocol.steps)} steps)")
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)
    print(f"{len(protocols)} protocol(s) valid, {len(errors)} error(s)")
    return 1 if errors else 0
