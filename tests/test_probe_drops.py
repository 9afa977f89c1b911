"""Issue 11 item 6: frames the probe itself could not send (STATUS `tx_dropped`, spec 5) reach the
headless summary, the stats JSON and the window's status bar, as counted by the simulated firmware."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

import main
from drivers.plp_codec import PacketKind, encode_packet
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.pty_link import SimSerialDevice
from drivers.transports import SerialTransport
from scanner_app.engine import AcquisitionEngine
from scanner_app.ring import FrameRing
from tests.loopback_probe import LoopbackProbe, streaming_engine
from tests.ui_support import open_window


def test_headless_sim_serial_reports_the_probes_own_drops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """30 frames/s of 32 KiB frames asked of a 921600-baud line that carries about 2.8 (spec 9)."""
    stats = tmp_path / "stats.json"
    parser = main.build_parser()
    args = parser.parse_args(
        [
            "--probe",
            "sim-serial",
            "--headless",
            "--seconds",
            "2.5",
            "--frame-rate",
            "30",
            "--stats-json",
            str(stats),
        ]
    )
    main.check_options(parser, args)  # fills the defaults, as main() does
    driver = main.make_driver(args.probe)
    try:
        code = main._run(args, driver)
    finally:
        main._release_sim_device(driver)
    assert code == 0
    firmware = driver.device.firmware  # type: ignore[attr-defined]
    summary = json.loads(stats.read_text())
    dropped = summary["probe_tx_dropped"]
    assert dropped > 0 and summary["link_saturated"] is True
    # The firmware's own count in one of its last STATUS reports (a later one may still have been on
    # the line when the run ended), and never more than it counted in all.
    assert dropped in firmware.tx_dropped_reported[-3:], (dropped, firmware.tx_dropped_reported)
    assert dropped <= firmware.tx_dropped
    printed = capsys.readouterr().out
    assert f"probe dropped: {dropped}" in printed
    assert (
        f"link saturated: the probe dropped {dropped} frames; lower the frame rate or the frame size"
        in printed
    )


def test_tx_dropped_is_summed_over_a_probe_restart() -> None:
    """A probe that powers up again counts from 0: the host keeps what it had and adds the new count."""
    probe = LoopbackProbe()
    probe.statuses = [
        encode_packet(PacketKind.STATUS, i, 0, json.dumps({"tx_dropped": n}).encode())
        for i, n in enumerate((4, 9, 2, 5))
    ]
    engine, driver = streaming_engine(probe)
    engine.step()
    assert driver.counters()["status_reports"] == 4
    assert engine.status().probe_tx_dropped == 9 + 5
    engine.close()


def test_window_says_the_link_is_saturated(qtbot: QtBot, tmp_path: Path) -> None:
    firmware = SimFirmware(params=small_params(64, 128), frame_rate_hz=30.0)  # 8 KiB frames
    device = SimSerialDevice(firmware, baud=115200)  # about 1.4 of them a second
    driver = PlpProbeDriver(SerialTransport(device.port, device.baud), device=device)
    engine = AcquisitionEngine(driver, FrameRing(30, 64 * 128))
    try:
        window = open_window(qtbot, tmp_path, engine)
        qtbot.waitUntil(lambda: "link saturated" in window.message_label.text(), timeout=8000)
        text = window.message_label.text()
        found = re.fullmatch(
            r"link saturated: the probe dropped (\d+) frames; lower the frame rate or the frame size", text
        )
        assert found is not None, text
        assert int(found.group(1)) in firmware.tx_dropped_reported and int(found.group(1)) > 0
        window.close()
    finally:
        engine.close()
        device.close()
