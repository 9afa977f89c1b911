"""Needle practice on the simulator, scored from its ground truth (no Qt).

`NeedlePractice` is what the trainee's keys go through: each move is passed to the simulator
(`NeedleSimulator`, a part of `scanner_app.sim_control.SimulatorControl`) and the ground truth after
it is kept, so the score says what happened, not what the image looked like:

- the tip in the target structure at the end;
- the time from the first advance to the end;
- redirections: a new pass after the needle went in, that is an advance after a withdrawal or after
  an angle change (keys pressed in a row count once: withdraw, re-angle, advance is one);
- advances made with the tip out of the imaging slice (not seen when advanced);
- the vessels and nerves the shaft passed through at any time.

`logbook_facts` turns a score into a practice entry of the trainee's logbook.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from scanner_app.needle_guide import NeedleGuide
from scanner_app.programme.logbook import ExamFacts
from scanner_app.sim_control import NeedleTruth


class NeedleSimulator(Protocol):
    """The needle verbs of a simulated patient (`SimulatorControl` has them)."""

    def place_needle(self, guide: NeedleGuide) -> None: ...

    def advance_needle(self, mm: float) -> None: ...

    def angle_needle(self, delta_deg: float) -> None: ...

    def inject(self, ml: float) -> None: ...

    def reset_needle(self) -> None: ...

    def needle_truth(self) -> NeedleTruth | None: ...


@dataclass(frozen=True, slots=True)
class NeedleScore:
    """The grade of one needle placement."""

    target: str
    tip_structure: str
    time_s: float
    advances: int
    redirections: int
    blind_advances: int  # advances with the tip not in the imaging slice
    vessels_and_nerves_crossed: frozenset[str]
    injected_ml: float
    in_plane: bool

    @property
    def tip_in_target(self) -> bool:
        return self.tip_structure == self.target

    @property
    def passed(self) -> bool:
        """In the target without passing through a vessel or nerve."""
        return self.tip_in_target and not self.vessels_and_nerves_crossed

    def summary(self) -> str:
        """One line for the logbook and the screen."""
        where = "in the target" if self.tip_in_target else f"in the {self.tip_structure}, not the target"
        crossed = ", ".join(sorted(self.vessels_and_nerves_crossed)) or "none"
        approach = "in-plane" if self.in_plane else "out-of-plane"
        return (
            f"Needle practice ({approach}) to the {self.target}: tip {where}; {self.time_s:.0f} s; "
            f"{self.redirections} redirection(s); {self.blind_advances} of {self.advances} advance(s) "
            f"with the tip not seen; vessels/nerves crossed: {crossed}; injected {self.injected_ml:g} ml; "
            f"{'PASS' if self.passed else 'NOT PASSED'}"
        )


class NeedlePractice:
    """One practice placement toward `target`, its moves recorded with the simulator's truth."""

    def __init__(
        self, sim: NeedleSimulator, target: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sim = sim
        self.target = target
        self._clock = clock
        self._started: float | None = None
        self._ended: float | None = None
        self.advances = 0
        self.redirections = 0
        self.blind_advances = 0
        self.crossed: set[str] = set()
        self._went_in = False
        self._new_pass_pending = False  # a withdrawal or re-angling since the last advance
        self._in_plane = True

    def place(self, guide: NeedleGuide) -> None:
        """A new needle at the skin for `guide` (the attempt starts at its first advance)."""
        self._sim.place_needle(guide)
        self._in_plane = guide.in_plane

    def advance(self, mm: float) -> NeedleTruth:
        """Push the needle in (`mm` > 0); counts a redirection when it starts a new pass."""
        if mm <= 0:
            raise ValueError(f"advance by a positive distance, got {mm} mm (withdraw to pull back)")
        if self._started is None:
            self._started = self._clock()
        self._sim.advance_needle(mm)
        truth = self._truth()
        self.advances += 1
        if self._went_in and self._new_pass_pending:
            self.redirections += 1
        self._went_in, self._new_pass_pending = True, False
        if not truth.tip_visible:
            self.blind_advances += 1
        return truth

    def withdraw(self, mm: float) -> NeedleTruth:
        if mm <= 0:
            raise ValueError(f"withdraw by a positive distance, got {mm} mm")
        self._sim.advance_needle(-mm)
        self._new_pass_pending = self._went_in
        return self._truth()

    def angle(self, delta_deg: float) -> NeedleTruth:
        self._sim.angle_needle(delta_deg)
        self._new_pass_pending = self._went_in
        return self._truth()

    def inject(self, ml: float) -> NeedleTruth:
        self._sim.inject(ml)
        return self._truth()

    def _truth(self) -> NeedleTruth:
        truth = self._sim.needle_truth()
        if truth is None:
            raise ValueError("there is no needle: place one first")
        self.crossed |= truth.vessels_and_nerves_crossed
        return truth

    def finish(self) -> NeedleScore:
        """End the attempt (the clock stops here) and grade where the tip is."""
        if self._ended is None:
            self._ended = self._clock()
        return self.score()

    def score(self) -> NeedleScore:
        """The grade now (time running until `finish`)."""
        truth = self._sim.needle_truth()
        now = self._ended if self._ended is not None else self._clock()
        return NeedleScore(
            target=self.target,
            tip_structure=truth.tip_structure if truth is not None else "coupling gel",
            time_s=0.0 if self._started is None else now - self._started,
            advances=self.advances,
            redirections=self.redirections,
            blind_advances=self.blind_advances,
            vessels_and_nerves_crossed=frozenset(self.crossed),
            injected_ml=truth.injected_ml if truth is not None else 0.0,
            in_plane=self._in_plane,
        )


def logbook_facts(
    score: NeedleScore, *, trainee: str, supervisor: str = "", region: str, performed_on: date
) -> ExamFacts:
    """A practice entry of the trainee's logbook for this attempt (its own id, not a study's)."""
    return ExamFacts(
        study_uid=f"needle-practice-{uuid.uuid4()}",
        performed_on=performed_on,
        region=region,
        operator=trainee,
        supervisor=supervisor,
        protocol_id="needle_practice",
        findings=score.summary(),
        practice=True,
    )
