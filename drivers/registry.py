"""ProbeRegistry: every kind of probe source, chosen in one place from a spec string (`usb:1209:0001`).

Each kind is a small `ProbeKind` registered by the composition root (main.py), so a vendor driver is
added there without touching the window or the engine, and the real drivers never import the
simulator's kinds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from scanner_app.probe import ProbeDriver


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """Command-line choices some kinds need besides their spec (the others ignore them)."""

    usb_backend: str | None = None  # --usb-backend MODULE:ATTR, for usb[:VID:PID]
    sim_processes: int = 1  # --sim-processes: the simulated probe renders on 1 or 2 processes


@dataclass(frozen=True, slots=True)
class FoundProbe:
    """One source a kind found on this machine: the spec that opens it and what it is."""

    spec: str
    description: str = ""


class ProbeKind(ABC):
    """One kind of source: how its spec reads, how to build its driver, what it finds here."""

    name: str = ""  # the spec's first word: "usb", "serial", "igtl", ...
    syntax: str = ""  # shown in help and errors: "usb[:VID:PID]"
    summary: str = ""  # one line: what this kind of source is

    def matches(self, spec: str) -> bool:
        return spec == self.name or spec.startswith(self.name + ":")

    @abstractmethod
    def make_driver(self, spec: str, options: ProbeOptions) -> ProbeDriver:
        """The driver for `spec`; raises ValueError naming what is wrong with the spec."""

    def discover(self, options: ProbeOptions) -> list[FoundProbe]:
        """Sources of this kind present now; raises ValueError or ProbeError when it cannot look."""
        return []


class ProbeRegistry:
    """The kinds of source, in the order `--list-probes` and the error messages give them."""

    def __init__(self, kinds: Iterable[ProbeKind] = ()) -> None:
        self._kinds: list[ProbeKind] = []
        for kind in kinds:
            self.register(kind)

    def register(self, kind: ProbeKind) -> None:
        if any(k.name == kind.name for k in self._kinds):
            raise ValueError(f"a probe kind named {kind.name!r} is already registered")
        self._kinds.append(kind)

    @property
    def kinds(self) -> tuple[ProbeKind, ...]:
        return tuple(self._kinds)

    def kind_for(self, spec: str) -> ProbeKind:
        # The longest name first, so "sim-serial" is never taken for "sim".
        for kind in sorted(self._kinds, key=lambda k: -len(k.name)):
            if kind.matches(spec):
                return kind
        expected = ", ".join(k.syntax for k in self._kinds)
        raise ValueError(f"unknown probe {spec!r}; expected {expected}")

    def make_driver(self, spec: str, options: ProbeOptions = ProbeOptions()) -> ProbeDriver:
        return self.kind_for(spec).make_driver(spec, options)

    def list_probes(self, options: ProbeOptions = ProbeOptions()) -> str:
        """Each kind with its syntax, then what it found (or why it could not look), one a line."""
        lines: list[str] = []
        for kind in self._kinds:
            lines.append(f"{kind.syntax}: {kind.summary}")
            try:
                found = kind.discover(options)
            except Exception as exc:  # one kind that cannot look must not hide the others
                lines.append(f"  (not searched: {exc})")
                continue
            lines.extend(f"  {p.spec}  {p.description}".rstrip() for p in found)
            if not found:
                lines.append("  (none found)")
        return "\n".join(lines)
