"""Headless acquisition: run the engine with no window for a while and summarise what came in."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

from scanner_app.engine import AcquisitionEngine, EngineState, ProbeConnected, StateChanged, StatusReport
from scanner_app.probe import ProbeDescriptor


class AcquisitionWatch:
    """Follows an engine for a summary: whether it failed, and the probe it last connected to."""

    def __init__(self, engine: AcquisitionEngine) -> None:
        self.failed = threading.Event()
        self.descriptor: ProbeDescriptor | None = None
        engine.subscribe(self._on_event)

    def _on_event(self, event: object) -> None:
        if isinstance(event, StateChanged) and event.state == EngineState.ERROR:
            self.failed.set()
        elif isinstance(event, ProbeConnected):
            self.descriptor = event.descriptor


def run_headless(engine: AcquisitionEngine, seconds: float) -> dict[str, Any]:
    """Acquire for `seconds` (or until the engine errors) and return the summary."""
    watch = AcquisitionWatch(engine)
    engine.start()
    try:
        watch.failed.wait(seconds)
        status = engine.status()
    finally:
        engine.close()
    return acquisition_summary(engine, status, seconds, watch.descriptor)


def acquisition_summary(
    engine: AcquisitionEngine, status: StatusReport, seconds: float, descriptor: ProbeDescriptor | None
) -> dict[str, Any]:
    """What came in over `seconds`: frames, rate, drops, errors, link counters, latency; `engine` closed."""
    summary: dict[str, Any] = {
        "seconds": seconds,
        "probe": engine.driver.display_name,
        "state": engine.state.value,
        "error": engine.reason if engine.state == EngineState.ERROR else None,
        "frames_received": status.frames_received,
        "frame_rate_hz": round(status.frames_received / seconds, 2) if seconds > 0 else 0.0,
        "frames_dropped": status.frames_dropped,
        "errors": status.errors,
        "reconnects": status.reconnects,
        "latency_ms": {"p50": _finite(status.latency_p50_ms), "p99": _finite(status.latency_p99_ms)},
        "counters": status.counters,
    }
    # The link counters a reader looks for first, at top level (spec 1 receiver rules).
    for key in ("crc_errors", "resyncs", "malformed", "unknown_packets", "link_faults"):
        summary[key] = status.counters.get(key, 0)
    if descriptor is not None:
        summary["descriptor"] = descriptor.to_json_dict()
    return summary


def _finite(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None


def format_summary(summary: dict[str, Any]) -> str:
    """A few human lines for the terminal."""
    lat = summary["latency_ms"]
    lines = [
        f"probe: {summary['probe']} ({summary['state']})",
        f"frames received: {summary['frames_received']} in {summary['seconds']} s "
        f"({summary['frame_rate_hz']} frames/s)",
        f"frames dropped: {summary['frames_dropped']}, errors: {summary['errors']}, "
        f"reconnects: {summary['reconnects']}",
        f"latency: p50 {lat['p50']} ms, p99 {lat['p99']} ms",
    ]
    if summary.get("error"):
        lines.append(f"error: {summary['error']}")
    return "\n".join(lines)


def write_stats_json(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
