"""Headless acquisition: run the engine with no window for a while and summarise what came in."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

from scanner_app.engine import AcquisitionEngine, EngineState, ProbeConnected, StateChanged
from scanner_app.probe import ProbeDescriptor


def run_headless(engine: AcquisitionEngine, seconds: float) -> dict[str, Any]:
    """Acquire for `seconds` (or until the engine errors) and return the summary."""
    failed = threading.Event()
    descriptors: list[ProbeDescriptor] = []

    def on_state(event: StateChanged) -> None:
        if event.state == EngineState.ERROR:
            failed.set()

    def on_connected(event: ProbeConnected) -> None:
        descriptors.append(event.descriptor)

    engine.state_changed.connect(on_state)
    engine.probe_connected.connect(on_connected)
    engine.start()
    try:
        failed.wait(seconds)
        status = engine.status()
    finally:
        engine.close()
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
    # Frames the probe could not send (spec 5): no seq gap shows them, only its STATUS does.
    summary["probe_tx_dropped"] = status.probe_tx_dropped
    summary["link_saturated"] = status.probe_tx_dropped > 0
    if descriptors:
        summary["descriptor"] = descriptors[-1].to_json_dict()
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
        f"probe dropped: {summary.get('probe_tx_dropped', 0)}",
    ]
    if summary.get("link_saturated"):
        lines.append(link_saturated_message(summary["probe_tx_dropped"]))
    if summary.get("error"):
        lines.append(f"error: {summary['error']}")
    return "\n".join(lines)


def link_saturated_message(probe_tx_dropped: int) -> str:
    """What to tell the user when the probe drops frames the link cannot carry (spec 5 `tx_dropped`)."""
    return (
        f"link saturated: the probe dropped {probe_tx_dropped} frames; lower the frame rate or the frame size"
    )


def write_stats_json(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
