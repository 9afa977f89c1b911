"""Headless acquisition: run the engine with no window for a while and summarise what came in."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scanner_app.engine import AcquisitionEngine, EngineState, ProbeConnected, StateChanged, StatusReport
from scanner_app.probe import DOPPLER_SETTING_FIELDS, ProbeDescriptor

# The headless hook for Doppler processing (`scanner_app/doppler_processing.py`, issue 14 item 2):
# called with the engine before acquisition starts (to listen to `iq_ready`), it returns what to add
# to the summary under "doppler" at the end (velocities in cm/s, power). Without it the summary
# carries the IQ counters only.
DopplerSummaryHook = Callable[[AcquisitionEngine], Callable[[], dict[str, Any]]]


class AcquisitionWatch:
    """Follows an engine for a summary: whether it failed, and the probe it last connected to."""

    def __init__(self, engine: AcquisitionEngine) -> None:
        self.failed = threading.Event()
        self.descriptor: ProbeDescriptor | None = None
        engine.state_changed.connect(self._on_state)
        engine.probe_connected.connect(self._on_connected)

    def _on_state(self, event: StateChanged) -> None:
        if event.state == EngineState.ERROR:
            self.failed.set()

    def _on_connected(self, event: ProbeConnected) -> None:
        self.descriptor = event.descriptor


def run_headless(
    engine: AcquisitionEngine, seconds: float, doppler_hook: DopplerSummaryHook | None = None
) -> dict[str, Any]:
    """Acquire for `seconds` (or until the engine errors, or Ctrl+C) and return the summary; an
    interrupted run still gives its summary, over the time it ran, marked `interrupted`."""
    watch = AcquisitionWatch(engine)
    doppler_summary = doppler_hook(engine) if doppler_hook is not None else None
    started = time.monotonic()
    interrupted = False
    engine.start()
    try:
        try:
            watch.failed.wait(seconds)
        except KeyboardInterrupt:
            interrupted = True
        status = engine.status()
    finally:
        engine.close()
    ran_s = round(min(seconds, time.monotonic() - started), 2) if interrupted else seconds
    summary = acquisition_summary(engine, status, ran_s, watch.descriptor)
    summary["interrupted"] = interrupted
    if doppler_summary is not None:
        summary["doppler"] = doppler_summary()
    return summary


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
    # Frames the probe could not send (spec 5): no seq gap shows them, only its STATUS does.
    summary["probe_tx_dropped"] = status.probe_tx_dropped
    summary["link_saturated"] = status.probe_tx_dropped > 0
    if descriptor is not None:
        summary["descriptor"] = descriptor.to_json_dict()
        if descriptor.doppler is not None:
            # Spec 10: IQ packets received, lost (seq gaps, host overrun) and dropped as malformed.
            summary["iq_packets"] = status.iq_packets
            summary["iq_dropped"] = status.iq_dropped
            summary["iq_malformed"] = status.iq_malformed
            in_force = engine.settings_in_force()
            summary["doppler_settings"] = {
                name: in_force[key] for key, name in DOPPLER_SETTING_FIELDS.items() if key in in_force
            }
    return summary


def _finite(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None


def format_summary(summary: dict[str, Any]) -> str:
    """A few human lines for the terminal."""
    lat = summary["latency_ms"]
    lines = [
        # After the run the engine is closed ("disconnected"): only an error is worth naming here.
        f"probe: {summary['probe']}" + (f" ({summary['state']})" if summary.get("error") else ""),
        f"frames received: {summary['frames_received']} in {summary['seconds']} s "
        f"({summary['frame_rate_hz']} frames/s)",
        f"frames dropped: {summary['frames_dropped']}, errors: {summary['errors']}, "
        f"reconnects: {summary['reconnects']}",
        latency_line(lat),
        f"probe dropped: {summary.get('probe_tx_dropped', 0)}",
        # The link counters the README's fault accounting names (spec 1 receiver rules).
        f"link: CRC errors {summary.get('crc_errors', 0)}, resyncs {summary.get('resyncs', 0)}, "
        f"malformed {summary.get('malformed', 0)}, unknown packets {summary.get('unknown_packets', 0)}",
    ]
    if "iq_packets" in summary:
        lines.append(
            f"IQ packets: {summary['iq_packets']}, dropped: {summary['iq_dropped']}, "
            f"malformed: {summary['iq_malformed']}"
        )
    doppler = summary.get("doppler")
    if doppler is not None:
        lines.append(doppler_line(doppler))
    if summary.get("link_saturated"):
        lines.append(link_saturated_message(summary["probe_tx_dropped"]))
    if summary.get("error"):
        lines.append(f"error: {summary['error']}")
    if summary.get("interrupted"):
        lines.append(f"interrupted (Ctrl+C) after {summary['seconds']:.1f} s")
    return "\n".join(lines)


def latency_line(latency_ms: dict[str, float | None]) -> str:
    """Latency percentiles in words; a run too short to time a frame says so rather than `None`."""
    if latency_ms["p50"] is None:
        return "latency: no frame was timed (run longer)"
    return f"latency: p50 {latency_ms['p50']} ms, p99 {latency_ms['p99']} ms"


def link_saturated_message(probe_tx_dropped: int) -> str:
    """What to tell the user when the probe drops frames the link cannot carry (spec 5 `tx_dropped`)."""
    return (
        f"link saturated: the probe dropped {probe_tx_dropped} frames; lower the frame rate or the frame size"
    )


def write_stats_json(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def doppler_line(doppler: dict[str, Any]) -> str:
    """The Doppler part of the summary in words (velocities in cm/s, angle-corrected)."""
    if doppler.get("spectral_lines"):
        if "spectral_peak_cm_s" not in doppler:
            return f"pw Doppler: {doppler['spectral_lines']} spectral lines, no flow in the gate"
        return (
            f"pw Doppler: {doppler['spectral_lines_with_flow']} of {doppler['spectral_lines']} spectral "
            f"lines with flow; peak {doppler['spectral_peak_cm_s']:.1f} cm/s, mean "
            f"{doppler['spectral_mean_cm_s']:.1f} cm/s, max trace {doppler['max_trace_cm_s']:.1f} cm/s "
            f"(angle {doppler['angle_deg']:g}°)"
        )
    if "flow_mean_cm_s" in doppler:
        return (
            f"colour Doppler: flow in {doppler['flow_ensembles_with_flow']} ensembles; mean "
            f"{doppler['flow_mean_cm_s']:.1f} cm/s, power {doppler['flow_power_db']:.1f} dB"
        )
    return "Doppler: no flow found"
