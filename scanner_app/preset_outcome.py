"""A preset sent through the engine and what became of it: each setting's readback, or why the source
did not apply it (an OpenIGTLink sender or a replay owns depth and gain), for the exam record."""

from __future__ import annotations

import queue
import time
from collections.abc import Mapping
from dataclasses import dataclass

from scanner_app.engine import AcquisitionEngine, SettingApplied, SettingFailed
from scanner_app.probe import SETTING_FIELDS, SettingKey

ANSWER_TIMEOUT_S = 2.0  # a PLP probe reads back in milliseconds; longer means it did not answer


@dataclass(frozen=True, slots=True)
class PresetOutcome:
    """What the source did with a preset: readbacks of the settings it applied, reasons for the rest."""

    applied: dict[str, float]  # setting name (depth_mm, ...) -> the value the source applied
    not_applied: dict[str, str]  # setting name -> why it was not applied

    @property
    def status(self) -> str:
        """'applied', 'not applied' (none of it) or 'partly applied'."""
        if not self.not_applied:
            return "applied"
        return "partly applied" if self.applied else "not applied"

    def to_record(self) -> dict[str, object]:
        """For the exam record: the status with the readbacks and reasons."""
        return {"status": self.status, "applied": dict(self.applied), "not_applied": dict(self.not_applied)}


def apply_preset(
    engine: AcquisitionEngine, preset: Mapping[str, float], timeout_s: float = ANSWER_TIMEOUT_S
) -> PresetOutcome:
    """Request each setting of `preset` (names as in a protocol file) and wait for the engine's answer
    to each; a setting with no answer within `timeout_s` is not applied ("no answer"). The engine must
    be connected (a request made before the probe connects is applied then, without an answer)."""
    names = {name: SettingKey(key) for key, name in SETTING_FIELDS.items()}
    wanted = {names[name]: float(value) for name, value in preset.items()}
    answers: queue.SimpleQueue[SettingApplied | SettingFailed] = queue.SimpleQueue()

    def heard(event: SettingApplied | SettingFailed) -> None:  # on the acquisition thread
        answers.put(event)

    engine.setting_applied.connect(heard)
    engine.setting_failed.connect(heard)
    applied: dict[str, float] = {}
    not_applied: dict[str, str] = {}
    try:
        for key, value in wanted.items():
            engine.request_setting(key, value)
        deadline = time.monotonic() + timeout_s
        pending = set(wanted)
        while pending:
            try:
                event = answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                for key in pending:
                    not_applied[SETTING_FIELDS[key]] = f"no answer from the source within {timeout_s:g} s"
                break
            if event.key not in pending:
                continue  # another request's answer
            pending.discard(event.key)
            if isinstance(event, SettingApplied):
                applied[SETTING_FIELDS[event.key]] = event.applied
            else:
                not_applied[SETTING_FIELDS[event.key]] = event.reason
    finally:
        engine.setting_applied.disconnect(heard)
        engine.setting_failed.disconnect(heard)
    return PresetOutcome(applied, not_applied)
