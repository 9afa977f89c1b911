"""Composition root: reads the command line, builds driver, engine and window.

The only place that chooses a simulated or a real probe.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from scanner_app.engine import AcquisitionEngine
from scanner_app.probe import ProbeDriver, ProbeError, SettingKey
from scanner_app.ring import FrameRing

DISPLAY_FRAME_BYTES = 512 * 512  # ring slot size: one display frame (grows if a probe sends larger)


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="scanner-app", description="Scanner-side ultrasound app.")
    p.add_argument("--probe", default="sim", help="probe to use: sim (default)")
    p.add_argument("--headless", action="store_true", help="acquire with no window and print a summary")
    p.add_argument("--seconds", type=float, default=10.0, help="headless: how long to acquire")
    p.add_argument("--stats-json", type=Path, help="headless: also write the summary as JSON here")
    p.add_argument("--frame-rate", type=float, default=30.0, help="frame rate to ask of the probe (Hz)")
    p.add_argument("--cine-seconds", type=float, default=10.0, help="length of the cine buffer (s)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


def make_driver(spec: str) -> ProbeDriver:
    """The driver for a --probe value; raises ValueError naming what is wrong."""
    if spec == "sim":
        from drivers.sim.direct import DirectSimProbe

        return DirectSimProbe()
    raise ValueError(f"unknown probe {spec!r}; expected sim")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.seconds <= 0 or args.frame_rate <= 0 or args.cine_seconds <= 0:
        parser.error("--seconds, --frame-rate and --cine-seconds must be positive")
    try:
        driver = make_driver(args.probe)
    except (ValueError, ProbeError) as exc:
        parser.error(str(exc))
    ring = FrameRing.for_seconds(args.cine_seconds, args.frame_rate, DISPLAY_FRAME_BYTES)
    engine = AcquisitionEngine(driver, ring)
    engine.request_setting(SettingKey.FRAME_RATE_HZ, args.frame_rate)

    if args.headless:
        from scanner_app.headless import format_summary, run_headless, write_stats_json

        summary = run_headless(engine, args.seconds)
        print(format_summary(summary))
        if args.stats_json:
            write_stats_json(summary, args.stats_json)
        return 0 if summary["error"] is None else 1

    from PyQt6.QtWidgets import QApplication

    from ui.main_window import DEFAULT_PROBE_SPECS, MainWindow
    from ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setOrganizationName("scanner-app")
    app.setApplicationName("scanner-app")  # names the configuration folder for preferences
    apply_dark_theme(app)

    def switch_probe(spec: str) -> None:
        """The probe picker's choice: build the new driver first, so a bad spec leaves the old one running."""
        try:
            new_driver = make_driver(spec)
        except ProbeError as exc:
            raise ValueError(str(exc)) from exc
        engine.close()
        engine.driver = new_driver
        engine.start()

    window = MainWindow(
        engine, probe_specs=DEFAULT_PROBE_SPECS, switch_probe=switch_probe, current_probe=args.probe
    )
    window.show()
    engine.start()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
