"""The command line: probe choice, one-line errors with exit status 2, and the headless summary."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import serial

import main
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from scanner_app.probe import ProbeError


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main.main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_sim_headless_stats_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "stats.json"
    code, _ = run(["--headless", "--seconds", "0.6", "--stats-json", str(stats)], capsys)
    assert code == 0
    s = json.loads(stats.read_text())
    for key in (
        "frames_received",
        "frames_dropped",
        "crc_errors",
        "resyncs",
        "malformed",
        "unknown_packets",
        "reconnects",
    ):
        assert key in s
    assert s["frames_received"] > 0 and s["descriptor"]["protocol"] == 1
    assert threading.active_count() == 1 or all(t.name != "sim-firmware" for t in threading.enumerate())


def test_sim_serial_headless(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--probe", "sim-serial", "--headless", "--seconds", "0.8"], capsys)
    assert code == 0 and "frames received" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--probe", "serial:/dev/does-not-exist"], "does not exist"),
        (["--probe", "serial:/dev/null"], "is not a serial port"),
        (["--probe", "usb:zz:1"], "bad USB id"),
        (["--probe", "usb", "--usb-backend", "nosuchmodule:x"], "cannot load --usb-backend"),
        (["--probe", "bogus"], "unknown probe"),
    ],
)
def test_user_errors_are_one_line_with_status_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run([*argv, "--headless", "--seconds", "0.1"], capsys)
    assert code == 2 and says in out and out.strip().count("\n") == 0


def test_a_port_where_no_probe_answers(capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()  # a tty with nothing behind it
    name = os.ttyname(slave)
    try:
        code, out = run(["--probe", f"serial:{name}", "--headless", "--seconds", "0.1"], capsys)
    finally:
        os.close(master)
        os.close(slave)
    assert code == 2 and "no PLP/1 probe answered" in out and name in out


def test_busy_serial_port(capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    holder = serial.Serial(name, exclusive=True)
    try:
        code, out = run(["--probe", f"serial:{name}", "--headless", "--seconds", "0.1"], capsys)
    finally:
        holder.close()
        os.close(master)
        os.close(slave)
    assert code == 2 and "busy" in out


def test_usb_permission_and_busy_messages() -> None:
    fw = SimFirmware()
    backend = SimUsbBackend(fw)
    driver = PlpProbeDriver(UsbTransport(backend=backend), device=fw)
    try:
        backend.deny_access = True
        with pytest.raises(ProbeError, match=r"no permission.*udev rule"):
            driver.connect()
        backend.deny_access = False
        backend.busy = True
        with pytest.raises(ProbeError, match="busy"):
            driver.connect()
    finally:
        driver.close()


def test_list_probes_with_the_simulated_bus(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--list-probes", "--usb-backend", "drivers.sim.usb_backend:get_backend"], capsys)
    assert code == 0 and "usb:1209:0001" in out


@pytest.mark.parametrize(("argv", "processes"), [([], 2), (["--sim-processes", "1"], 1)])
def test_the_simulated_probe_renders_on_two_processes_unless_told(
    argv: list[str], processes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    parser = main.build_parser()
    args = parser.parse_args(["--headless", *argv])
    main.check_options(parser, args)
    assert args.sim_processes == processes
    driver = main.make_driver(args.probe, sim_processes=args.sim_processes)
    assert isinstance(driver, PlpProbeDriver) and isinstance(driver.device, SimFirmware)
    renderer = driver.device.renderer
    try:  # a band worker starts only on two processes
        assert renderer.start_band_worker(timeout_s=60.0) is (processes == 2)  # type: ignore[attr-defined]
    finally:
        renderer.close()  # type: ignore[attr-defined]


def test_one_core_renders_on_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    parser = main.build_parser()
    args = parser.parse_args(["--headless"])
    main.check_options(parser, args)
    assert args.sim_processes == 1


def test_sim_processes_goes_with_the_simulated_probe(capsys: pytest.CaptureFixture[str]) -> None:
    parser = main.build_parser()
    with pytest.raises(SystemExit) as stopped:
        main.check_options(
            parser, parser.parse_args(["--probe", "sim-serial", "--sim-processes", "2", "--headless"])
        )
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "--sim-processes goes with --probe sim" in err and err.count("\n") == 1
