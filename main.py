"""Composition root: reads the command line, builds driver, engine and window.

The only place that chooses a simulated or a real probe.
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy loads: the simulator's matrix products are small, and with
# OpenBLAS's default of a thread a core they stalled for 110-130 ms (p95) whenever the other core
# was busy (bench/README.md), against 18-28 ms on one thread. The user may still set more.
for _blas_threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas_threads, "1")

import argparse
import functools
import logging
import math
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from drivers.registry import ProbeOptions, ProbeRegistry
from scanner_app.doppler import DopplerMode
from scanner_app.engine import AcquisitionEngine
from scanner_app.frame import Matrix4
from scanner_app.probe import ProbeDescriptor, ProbeDriver, ProbeError, SettingKey
from scanner_app.processing import DisplayProcessor
from scanner_app.ring import FrameRing
from scanner_app.sim_control import SimulatorControl

if TYPE_CHECKING:
    from PyQt6.QtWidgets import QWidget

    from scanner_app.headless import DopplerSummaryHook
    from scanner_app.needle_practice import NeedleScore
    from scanner_app.preferences import Preferences
    from scanner_app.recorder import SessionRecorder
    from scanner_app.replay_control import ReplayControl
    from scanner_app.stream_out import IgtlStreamServer
    from scanner_app.studies.model import Study
    from scanner_app.studies.store import StudyStore
    from ui.exam_dock import ExamController
    from ui.needle_panel import NeedleTab
    from ui.programme_panel import ProgrammePanel
    from ui.sim_panel import SimulatorTab
    from ui.window_api import ScannerWindow

DISPLAY_FRAME_BYTES = 512 * 512  # ring slot size: one display frame (grows if a probe sends larger)
MAX_CINE_BYTES = 4 * 10**9  # the cine ring is preallocated: refuse what the machine cannot hold


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="scanner-app", description="Scanner-side ultrasound app.")
    p.add_argument(
        "--probe",
        help="probe to use: sim (default; the simulated probe on a simulated USB bus), sim-serial "
        "(the simulated probe on a pseudo-terminal), usb[:VID:PID], serial:PORT[@BAUD]",
    )
    p.add_argument(
        "--usb-backend",
        metavar="MODULE:ATTR",
        help="pyusb backend for --probe usb: an object or a factory (usb.backend.libusb1:get_backend)",
    )
    p.add_argument("--list-probes", action="store_true", help="list USB probes and serial ports, then exit")
    p.add_argument(
        "--list-worklist",
        metavar="AE@HOST:PORT",
        help="print the Modality Worklist's scheduled US procedures (JSON, one a line), then exit "
        "(status 1 when the worklist cannot be reached, 2 for a malformed address)",
    )
    p.add_argument("--calling-ae", metavar="AE", help="--list-worklist: our AE title (default SCANNERAPP)")
    p.add_argument("--date", metavar="YYYYMMDD", help="--list-worklist: the scheduled date (default today)")
    p.add_argument("--headless", action="store_true", help="acquire with no window and print a summary")
    p.add_argument("--seconds", type=float, help="headless: how long to acquire (default 10)")
    p.add_argument(
        "--stats-json",
        type=Path,
        help="headless: also write the summary as JSON here (with --protocol: and the exam's outcome)",
    )
    p.add_argument("--protocol", metavar="ID", help="headless: walk this protocol with scripted captures")
    p.add_argument(
        "--capture-every", type=float, metavar="S", help="headless --protocol: capture every S s (default 2)"
    )
    p.add_argument(
        "--study-dir",
        type=Path,
        default=None,
        help="where studies are kept as DICOM (default: a 'studies' folder in the user's data location, "
        "e.g. ~/.local/share/scanner-app/studies)",
    )
    p.add_argument(
        "--programme-db",
        metavar="URL",
        help="the logbook, credentialing and QA database: sqlite:///PATH or a department's "
        "postgresql+psycopg://USER@HOST:PORT/DB (default: programme.sqlite3 in the study folder)",
    )
    p.add_argument(
        "--check-protocols",
        nargs="*",
        metavar="PATH",
        help="check protocol files (default: the shipped library) and exit non-zero on errors",
    )
    p.add_argument(
        "--doppler",
        choices=("off", "flow", "pw"),
        help="headless: Doppler mode to set on a Doppler-capable probe; the IQ counters go in the summary",
    )
    p.add_argument(
        "--gate-depth-mm", type=float, metavar="D", help="headless --doppler pw: gate centre depth"
    )
    p.add_argument(
        "--angle-deg", type=float, metavar="A", help="headless --doppler pw: angle correction (beam to flow)"
    )
    p.add_argument(
        "--frame-rate",
        type=float,
        help=f"frame rate to ask of the probe (Hz, default 30; {SERIAL_FRAME_RATE_HZ:g} on a serial line)",
    )
    p.add_argument("--cine-seconds", type=float, help="length of the cine buffer (s, default 10)")
    p.add_argument(
        "--sim-processes",
        type=int,
        choices=(1, 2),
        help="--probe sim: render each frame on 1 process or 2 (default 2 on a machine with 2 or more cores)",
    )
    p.add_argument(
        "--record",
        type=Path,
        metavar="PATH",
        help="record every frame to a PLUS/3D Slicer sequence file (PATH.igs.nrrd or PATH.seq.nrrd)",
    )
    p.add_argument(
        "--stream-out",
        metavar="[HOST:]PORT",
        help="serve the live image over OpenIGTLink (for 3D Slicer); binds 127.0.0.1 unless HOST is given",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


# What each kind of run is called in messages, and the runs each option belongs to. An option given to
# a run that would not use it is refused with one line, never silently ignored.
_RUN_NAMES = {
    "check": "--check-protocols",
    "list": "--list-probes",
    "worklist": "--list-worklist",
    "headless": "--headless without --protocol",
    "exam": "--headless --protocol",
    "window": "the window (no --headless)",
}
_ACQUIRING = frozenset({"headless", "exam", "window"})
_OPTION_RUNS: dict[str, tuple[str, frozenset[str]]] = {
    "probe": ("--probe", _ACQUIRING),
    "usb_backend": ("--usb-backend", _ACQUIRING | {"list"}),
    "list_probes": ("--list-probes", frozenset({"list"})),
    "list_worklist": ("--list-worklist", frozenset({"worklist"})),
    "calling_ae": ("--calling-ae", frozenset({"worklist"})),
    "date": ("--date", frozenset({"worklist"})),
    "headless": ("--headless", frozenset({"headless", "exam"})),
    "seconds": ("--seconds", frozenset({"headless", "exam"})),
    "stats_json": ("--stats-json", frozenset({"headless", "exam"})),
    "protocol": ("--protocol", frozenset({"exam"})),
    "capture_every": ("--capture-every", frozenset({"exam"})),
    "study_dir": ("--study-dir", frozenset({"exam", "window"})),
    "programme_db": ("--programme-db", frozenset({"exam", "window"})),
    "doppler": ("--doppler", frozenset({"headless"})),
    "gate_depth_mm": ("--gate-depth-mm", frozenset({"headless"})),
    "angle_deg": ("--angle-deg", frozenset({"headless"})),
    "frame_rate": ("--frame-rate", _ACQUIRING),
    "cine_seconds": ("--cine-seconds", _ACQUIRING),
    "sim_processes": ("--sim-processes", _ACQUIRING),
    "record": ("--record", _ACQUIRING),
    "stream_out": ("--stream-out", _ACQUIRING),
}
SERIAL_PROBES = ("sim-serial", "serial")
SERIAL_FRAME_RATE_HZ = 2.0  # 128 x 256 B-mode over 921600 baud: about 2.8 frames/s at most (spec 9)
_DEFAULTS = {"probe": "sim", "seconds": 10.0, "capture_every": 2.0, "frame_rate": 30.0, "cine_seconds": 10.0}


def _run_kind(args: argparse.Namespace) -> str:
    if args.check_protocols is not None:
        return "check"
    if args.list_probes:
        return "list"
    if args.list_worklist is not None:
        return "worklist"
    if args.headless:
        return "exam" if args.protocol is not None else "headless"
    return "window"


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (one line, exit 2) options the run would ignore and values that make no sense; fill defaults."""
    run = _run_kind(args)
    for dest, (flag, runs) in _OPTION_RUNS.items():
        given = getattr(args, dest) not in (None, False)
        if given and run not in runs:
            if dest == "protocol":
                parser.error(
                    "--protocol runs a scripted exam and needs --headless "
                    "(in the window, pick it in the checklist)"
                )
            wanted = " or ".join(_RUN_NAMES[r] for r in sorted(runs, key=list(_RUN_NAMES).index))
            parser.error(f"{flag} does nothing with {_RUN_NAMES[run]}; it goes with {wanted}")
    if args.frame_rate is None and args.probe is not None and args.probe.split(":")[0] in SERIAL_PROBES:
        # The serial line is the slow path (spec 6): ask for what it carries, not 30 frames/s of which
        # the probe would have to drop nine in ten.
        args.frame_rate = SERIAL_FRAME_RATE_HZ
    for dest, value in _DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)
    for flag, value in (
        ("--seconds", args.seconds),
        ("--frame-rate", args.frame_rate),
        ("--cine-seconds", args.cine_seconds),
        ("--capture-every", args.capture_every),
    ):
        if not (math.isfinite(value) and value > 0):
            parser.error(f"{flag} must be a positive finite number (got {value:g})")
    cine_bytes = args.cine_seconds * args.frame_rate * DISPLAY_FRAME_BYTES
    if cine_bytes > MAX_CINE_BYTES:
        parser.error(
            f"a {args.cine_seconds:g} s cine at {args.frame_rate:g} frames/s needs "
            f"{cine_bytes / 1e9:.1f} GB; keep it under {MAX_CINE_BYTES / 1e9:.0f} GB (shorter --cine-seconds)"
        )
    for flag, value in (("--gate-depth-mm", args.gate_depth_mm), ("--angle-deg", args.angle_deg)):
        if value is not None and args.doppler != "pw":
            parser.error(f"{flag} sets the pulsed-wave gate; it goes with --doppler pw")
    if args.gate_depth_mm is not None and not (math.isfinite(args.gate_depth_mm) and args.gate_depth_mm > 0):
        parser.error(f"--gate-depth-mm must be a positive finite number (got {args.gate_depth_mm:g})")
    if args.angle_deg is not None and not (math.isfinite(args.angle_deg) and abs(args.angle_deg) < 90):
        parser.error(f"--angle-deg must be between -90 and 90 (got {args.angle_deg:g})")
    if args.usb_backend and not (args.probe.startswith("usb") or args.list_probes):
        parser.error("--usb-backend goes with --probe usb[:VID:PID] or --list-probes")
    if args.sim_processes is not None and args.probe != "sim":
        parser.error("--sim-processes goes with --probe sim (the simulated probe on a simulated USB bus)")
    if args.sim_processes is None:
        args.sim_processes = 2 if (os.cpu_count() or 1) >= 2 else 1
    if args.study_dir is not None and args.study_dir.exists() and not args.study_dir.is_dir():
        parser.error(f"--study-dir {args.study_dir} is a file; give a folder (it is made if missing)")
    if args.programme_db is not None:
        from scanner_app.programme.db import ProgrammeDbError, check_url

        try:
            check_url(args.programme_db)
        except ProgrammeDbError as exc:
            parser.error(f"--programme-db: {exc}")
    if args.stats_json is not None:
        # Found out now, not after the whole run.
        if args.stats_json.is_dir():
            parser.error(f"--stats-json {args.stats_json} is a folder; give a file name")
        if not args.stats_json.parent.is_dir():
            parser.error(f"--stats-json {args.stats_json}: no folder {args.stats_json.parent}")


def _doppler_unavailable(args: argparse.Namespace, descriptor: ProbeDescriptor) -> str:
    """Why `--doppler` cannot be had from this probe ("" when it can): its descriptor says (spec 10)."""
    wanted = getattr(args, "doppler", None)
    if wanted in (None, "off"):
        return ""
    capability = descriptor.doppler
    if capability is None:
        return f"{descriptor.vendor} {descriptor.model} does no Doppler (its descriptor has no doppler field)"
    if not capability.offers(DopplerMode[wanted.upper()]):
        offered = ", ".join(m.wire_name for m in capability.modes)
        return (
            f"{descriptor.vendor} {descriptor.model} does not offer --doppler {wanted} (it offers {offered})"
        )
    return ""


def _request_doppler(args: argparse.Namespace, engine: AcquisitionEngine) -> None:
    """Headless --doppler and --gate-depth-mm: SET through the engine, readback in the summary."""
    if args.doppler is None:
        return
    engine.request_setting(SettingKey.DOPPLER_MODE, DopplerMode[args.doppler.upper()])
    if args.gate_depth_mm is not None:
        engine.request_setting(SettingKey.GATE_DEPTH_MM, args.gate_depth_mm)


def _gate_clamped(asked_mm: float | None, summary: dict[str, Any]) -> str:
    """A line when the probe put the gate elsewhere than --gate-depth-mm asked ("" otherwise)."""
    applied = summary.get("doppler_settings", {}).get("gate_depth_mm")
    if asked_mm is None or applied is None or abs(float(applied) - asked_mm) < 0.5:
        return ""
    return (
        f"scanner-app: note: --gate-depth-mm {asked_mm:g} is outside what the probe offers; it put the "
        f"gate at {float(applied):g} mm"
    )


def _doppler_summary_hook(args: argparse.Namespace) -> DopplerSummaryHook | None:
    """With --doppler flow or pw: every IQ packet processed, velocities in the summary."""
    if args.doppler in (None, "off"):
        return None
    from scanner_app.doppler_summary import headless_summary_hook

    return headless_summary_hook(args.angle_deg or 0.0)


def load_usb_backend(spec: str | None) -> Any:
    """The backend named by --usb-backend MODULE:ATTR (an object, or a factory called with no arguments)."""
    from drivers.plp_kinds import load_usb_backend as load

    return load(spec)


def probe_registry() -> ProbeRegistry:
    """Every kind of probe source this app knows; a vendor driver is added here and nowhere else."""
    from drivers.igtl_source import IgtlProbes
    from drivers.plp_kinds import SerialProbes, UsbProbes
    from drivers.replay import ReplayProbes
    from drivers.sim.kinds import SimProbes, SimSerialProbes

    return ProbeRegistry(
        [SimProbes(), SimSerialProbes(), UsbProbes(), SerialProbes(), IgtlProbes(), ReplayProbes()]
    )


def make_driver(spec: str, usb_backend: str | None = None, sim_processes: int = 1) -> ProbeDriver:
    """The driver for a --probe value; raises ValueError naming what is wrong."""
    options = ProbeOptions(usb_backend=usb_backend, sim_processes=sim_processes)
    return probe_registry().make_driver(spec, options)


def list_probes(usb_backend: str | None) -> str:
    """Each kind of probe source with what it found here, one a line."""
    return probe_registry().list_probes(ProbeOptions(usb_backend=usb_backend))


def list_worklist(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--list-worklist: one JSON object a line per scheduled US procedure step; 1 when the worklist
    cannot be asked (the reason on stderr)."""
    import json

    from scanner_app.studies.model import StudyError
    from scanner_app.studies.pacs import destination_from_address
    from scanner_app.studies.worklist import WorklistQuery, query_worklist

    try:
        dest = destination_from_address(args.list_worklist, args.calling_ae or "SCANNERAPP")
        query = WorklistQuery(args.date) if args.date else WorklistQuery.today()
    except StudyError as exc:
        parser.error(f"--list-worklist: {exc}")
    try:
        entries = query_worklist(dest, query)
    except StudyError as exc:
        print(f"scanner-app: error: {exc}", file=sys.stderr)
        return 1
    for entry in entries:
        print(json.dumps(entry.to_json(), ensure_ascii=False))
    return 0


def configure_logging(verbose: bool) -> None:
    """The app's log on stderr, one line a message (INFO with --verbose, else WARNING).

    pynetdicom's own log stays off the console: it tells a PACS, worklist or commitment peer that
    cannot be reached (an expected state, retried with back-off) as two ERROR lines per try, beside
    the app's own line that already says it in words with what to check. Only its CRITICAL passes.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    check_options(parser, args)
    if args.check_protocols is not None:
        from drivers.sim.scenes import named_views
        from protocols.validation import check_protocols

        return check_protocols(args.check_protocols, named_views())
    protocol = None
    if args.protocol is not None:
        protocol = _find_protocol(args.protocol)
        if protocol is None:
            parser.error(f"unknown protocol {args.protocol!r}; --check-protocols lists the library")
    if args.list_probes:
        try:
            print(list_probes(args.usb_backend))
        except ValueError as exc:
            parser.error(str(exc))
        return 0
    if args.list_worklist is not None:
        return list_worklist(parser, args)
    try:
        driver = make_driver(args.probe, args.usb_backend, args.sim_processes)
    except ValueError as exc:
        print(f"scanner-app: error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, driver)
    finally:
        _release_sim_device(driver)


def _run(args: argparse.Namespace, driver: ProbeDriver) -> int:
    try:
        # Fail fast on what the user can fix (no such port, not a probe, busy, no permission),
        # rather than retrying in the background forever.
        descriptor = driver.connect()
    except ProbeError as exc:
        print(f"scanner-app: error: {exc}", file=sys.stderr)
        return 2
    finally:
        driver.close()
    doppler_error = _doppler_unavailable(args, descriptor)
    if doppler_error:
        print(f"scanner-app: error: {doppler_error}", file=sys.stderr)
        return 2
    ring = FrameRing.for_seconds(args.cine_seconds, args.frame_rate, DISPLAY_FRAME_BYTES)
    processor = DisplayProcessor()
    engine = AcquisitionEngine(driver, ring, processor=processor)
    processor.dynamic_range_source = lambda: engine.settings_in_force().get(SettingKey.DYNAMIC_RANGE_DB)
    engine.request_setting(SettingKey.FRAME_RATE_HZ, args.frame_rate)
    try:
        outputs = SessionOutputs.start(args, engine)
    except ValueError as exc:
        print(f"scanner-app: error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run_engine(args, engine, driver, outputs)
    finally:
        outputs.stop()


def _run_engine(
    args: argparse.Namespace, engine: AcquisitionEngine, driver: ProbeDriver, outputs: SessionOutputs
) -> int:
    if args.headless and args.protocol is not None:
        try:
            return _run_scripted_exam(args, engine)
        except KeyboardInterrupt:
            engine.close()
            print("scanner-app: interrupted (Ctrl+C): the captures taken so far are kept in the study")
            return 130
    if args.headless:
        from scanner_app.headless import format_summary, run_headless, write_stats_json

        _request_doppler(args, engine)
        summary = run_headless(engine, args.seconds, _doppler_summary_hook(args))
        print(format_summary(summary))
        clamped = _gate_clamped(args.gate_depth_mm, summary)
        if clamped:
            print(clamped, file=sys.stderr)
        if args.stats_json:
            write_stats_json(summary, args.stats_json)
        if summary["interrupted"]:
            return 130  # the shell's code for Ctrl+C; the summary and its JSON are written
        return 0 if summary["error"] is None else 1

    from PyQt6.QtWidgets import QApplication

    from scanner_app.capture import CaptureSink, FolderCaptureSink
    from scanner_app.preferences import Preferences
    from scanner_app.stream_out import DEFAULT_PORT as DEFAULT_STREAM_PORT
    from scanner_app.studies.folder_lock import StudyFolderBusy
    from ui.disk_space import DiskSpaceWatch
    from ui.dual_view import DualScreen
    from ui.main_window import (
        DEFAULT_PROBE_SPECS,
        MainWindow,
        ScannerModels,
        default_capture_dir,
        default_preferences_path,
    )
    from ui.needle_panel import NeedleTab
    from ui.procedure_panel import ProcedurePanel
    from ui.recording_control import RecordingControl
    from ui.replay_panel import ReplayPanel
    from ui.sim_panel import SimulatorTab
    from ui.stream_out_control import StreamOutControl
    from ui.theme import apply_dark_theme
    from ui.user_folders import user_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("scanner-app")  # the folders are named by ui.user_folders, not by Qt
    apply_dark_theme(app)

    def switch_probe(spec: str) -> Future[None]:
        """The probe picker's choice: build the new driver first, so a bad spec leaves the old one
        running; the engine then switches in the background (the window says so and reports the end)."""
        new_driver = make_driver(spec, sim_processes=args.sim_processes)  # ValueError: the picker shows it
        old_driver = engine.driver
        try:
            done = engine.switch_driver(new_driver)
        except ProbeError as exc:
            _release_sim_device(new_driver)
            raise ValueError(str(exc)) from exc
        # On the switch's worker thread: give back the simulated device no longer in use.
        done.add_done_callback(
            lambda future: _release_sim_device(new_driver if future.exception() else old_driver)
        )
        return done

    preferences = Preferences(default_preferences_path())
    try:
        store, store_error = _open_study_store(args.study_dir or default_study_dir())
    except StudyFolderBusy as exc:  # another window owns the folder: one line and status 2, as headless
        print(f"scanner-app: error: {exc}", file=sys.stderr)
        engine.close()
        _release_sim_device(engine.driver)
        return 2
    exams = None
    sink: CaptureSink
    if store is not None:
        from drivers.sim.scenes import named_views
        from protocols.validation import load_library
        from scanner_app.studies.capture_sink import StudyCaptureSink
        from ui.exam_dock import ExamController

        # Practice targets name simulator views; the simulator's catalogue gives their poses.
        protocols, _errors = load_library(views=named_views())  # broken files: see --check-protocols
        exams = ExamController(store, protocols)
        sink = StudyCaptureSink(store, exams.current_study)
    else:  # plain files, only when the study store cannot be opened
        sink = FolderCaptureSink(Path(preferences.get("capture_dir") or default_capture_dir()))
    models = ScannerModels.for_engine(engine, preferences, sink)
    window = MainWindow(
        engine,
        models,
        probe_specs=(*DEFAULT_PROBE_SPECS, "igtl://127.0.0.1:18944"),  # replay:PATH can be typed in
        switch_probe=switch_probe,
        current_probe=args.probe,
    )
    simulator = SimulatorTab(window, sim_control(driver))
    dual_screen = DualScreen()  # split screen for compression documentation (Ctrl+D)
    dual_screen.attach(window)
    ProcedurePanel().attach(window)
    _needle_tab = NeedleTab(window, simulator)  # needle practice while the probe is simulated (kept alive)
    _add_doppler(window, engine)
    window.probe_switched.connect(lambda _spec: simulator.set_control(sim_control(engine.driver)))
    if store is not None and exams is not None:
        _add_exam_workflow(window, store, exams, simulator, preferences)
        needle_follows_steps(_needle_tab, exams)
        programme = _add_programme(
            window, store, exams, {p.id: p.region for p in protocols}, args.programme_db
        )
        _add_practice(window, simulator, programme, protocols)
        if programme is not None:
            _needle_tab.on_score = needle_scores_to_logbook(programme)
        if programme is not None:
            _add_teaching(window, store, programme, protocols)
        captures_folder = store.root
    else:
        window.show_message(f"Study store unavailable: {store_error}; captures are kept as plain files", True)
        captures_folder = Path(preferences.get("capture_dir") or default_capture_dir())
    DiskSpaceWatch(captures_folder).attach(window)
    RecordingControl(engine.ring, user_path("recordings", config=False)).attach(window)
    stream_host, stream_port = parse_stream_out(args.stream_out or str(DEFAULT_STREAM_PORT))
    StreamOutControl(
        engine.ring, stream_host, stream_port, stream_pose_source(engine), server=outputs.take_server()
    ).attach(window)
    replay = ReplayPanel(window)
    replay.set_control(replay_control(driver))
    window.probe_switched.connect(lambda _spec: replay.set_control(replay_control(engine.driver)))
    outputs.show_progress(window)
    window.show()
    engine.start()
    ctrl_c = CtrlCCloses(window)
    try:
        return int(app.exec())
    finally:
        ctrl_c.restore()
        engine.close()
        _release_sim_device(engine.driver)  # the one in use now, after any switch
        if store is not None:
            store.close()
        _tear_down(window)


class CtrlCCloses:
    """Ctrl+C in the terminal closes the window as its close button does (the same questions about a
    recording clip or an open exam), rather than raising KeyboardInterrupt inside whatever slot runs.

    Python runs a signal handler only between bytecodes, so a timer gives it a turn while Qt waits.
    """

    def __init__(self, window: QWidget) -> None:
        from PyQt6.QtCore import QTimer

        self._window = window
        self._previous = signal.signal(signal.SIGINT, self._close)
        self._tick = QTimer(window)
        self._tick.timeout.connect(lambda: None)
        self._tick.start(200)
        logging.getLogger("scanner-app").info("window open; Ctrl+C here closes it")

    def _close(self, _signum: int, _frame: object) -> None:
        print("scanner-app: Ctrl+C: closing the window", file=sys.stderr)
        self._window.close()

    def restore(self) -> None:
        self._tick.stop()
        signal.signal(signal.SIGINT, self._previous)


def _tear_down(window: QWidget) -> None:
    """Delete the window and collect what it leaves while the QApplication still exists: left to the
    interpreter's exit, PyQt's own clean-up met a wrapper of an object already gone and the app
    ended in a segmentation fault (status 139) on every quit."""
    import gc

    from PyQt6.QtCore import QEvent
    from PyQt6.QtWidgets import QApplication

    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()


class SessionOutputs:
    """--record and --stream-out: the recorder and the OpenIGTLink server on the engine's ring."""

    def __init__(self, recorder: SessionRecorder | None, server: IgtlStreamServer | None) -> None:
        self.recorder, self.server = recorder, server

    @classmethod
    def start(cls, args: argparse.Namespace, engine: AcquisitionEngine) -> SessionOutputs:
        """Both as asked; ValueError naming what cannot be started (a port in use, a bad path)."""
        from scanner_app.recorder import SessionRecorder
        from scanner_app.sequence_file import RecordingError
        from scanner_app.stream_out import IgtlStreamServer

        server = None
        if args.stream_out is not None:
            host, port = parse_stream_out(args.stream_out)
            try:
                server = IgtlStreamServer(engine.ring, host, port, pose_source=stream_pose_source(engine))
            except OSError as exc:
                raise ValueError(
                    f"--stream-out {args.stream_out}: cannot listen ({exc.strerror or exc})"
                ) from exc
            print(f"scanner-app: streaming OpenIGTLink on {server.host}:{server.port}", file=sys.stderr)
        recorder = None
        if args.record is not None:
            try:
                recorder = SessionRecorder(engine.ring, args.record)
            except RecordingError as exc:
                if server is not None:
                    server.stop()
                raise ValueError(str(exc)) from exc
        return cls(recorder, server)

    def take_server(self) -> IgtlStreamServer | None:
        """The stream-out server, handed to the window's toggle, which stops it from then on."""
        server, self.server = self.server, None
        return server

    def show_progress(self, window: ScannerWindow) -> None:
        """The recording's frame count and any error in the window's message line, once a second."""
        recorder = self.recorder
        if recorder is None:
            return
        from PyQt6.QtCore import QTimer

        timer = QTimer(window)  # type: ignore[arg-type]  # the window is a QWidget

        def show() -> None:
            p = recorder.progress()
            if p.error:
                window.show_message(f"Recording stopped: {p.error}", True)
                timer.stop()
            else:
                window.show_message(f"Recording: {p.frames} frames, {p.bytes / 1e6:.0f} MB")

        timer.timeout.connect(show)
        timer.start(1000)

    def stop(self) -> None:
        if self.server is not None:
            dropped = self.server.dropped_total()
            self.server.stop()
            print(
                f"scanner-app: stream-out stopped ({dropped} frames dropped for slow clients)",
                file=sys.stderr,
            )
        if self.recorder is not None:
            p = self.recorder.stop()
            if p.path is not None:
                print(f"recorded {p.frames} frames to {p.path}")
            if p.error:
                print(f"scanner-app: error: recording: {p.error}", file=sys.stderr)


def stream_pose_source(engine: AcquisitionEngine) -> Callable[[], Matrix4 | None]:
    """The simulated probe's pose for stream-out, whichever driver the engine has now (None for others)."""
    from scanner_app.stream_out import sim_pose_matrix

    def pose() -> Matrix4 | None:
        control = sim_control(engine.driver)
        return sim_pose_matrix(control.get_pose()) if control is not None else None

    return pose


def parse_stream_out(text: str) -> tuple[str, int]:
    """(host, port) from --stream-out [HOST:]PORT; 127.0.0.1 unless a host is given."""
    host, _, port_text = text.rpartition(":")
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise ValueError(f"bad --stream-out {text!r}: expected [HOST:]PORT, e.g. 18944") from None
    return host or "127.0.0.1", port


def default_study_dir() -> Path:
    """'studies' in the user's data folder, ~/.local/share/scanner-app/studies (or the older
    ~/.local/share/scanner-app/scanner-app/studies when only that exists)."""
    from ui.user_folders import user_path

    return user_path("studies", config=False)


def _open_study_store(study_dir: Path) -> tuple[StudyStore | None, str]:
    """(the study store, "") or (None, why) when it cannot be opened; the reason is also printed.
    StudyFolderBusy (another scanner-app has the folder) is raised."""
    import sqlite3

    from scanner_app.studies.folder_lock import StudyFolderBusy
    from scanner_app.studies.model import StudyError
    from scanner_app.studies.store import StudyStore

    try:
        return StudyStore(study_dir), ""
    except StudyFolderBusy:
        raise  # a second window on the same folder is refused, not run on plain files
    except (OSError, StudyError, sqlite3.Error) as exc:
        # StudyStoreUnavailable (locked, full, read-only, in use by another instance) changes nothing.
        print(
            f"scanner-app: warning: {exc}; captures will be saved as plain files in the capture folder "
            "instead (no DICOM, no exams, no PACS)",
            file=sys.stderr,
        )
        return None, str(exc)


def needle_follows_steps(needle: NeedleTab, exams: ExamController) -> None:
    """The Needle tab selects the target the exam's current step asks the needle to reach."""
    exams.step_changed.connect(lambda: needle.set_step_target(*exams.needle_target()))


def _add_exam_workflow(
    window: ScannerWindow,
    store: StudyStore,
    exams: ExamController,
    simulator: SimulatorTab,
    preferences: Preferences,
) -> None:
    """The exam dock, the PACS tab, and their shutdown when the window closes."""
    from ui.pacs_panel import DEFAULT_COMMITMENT_LISTEN, PacsPanel
    from ui.priors_panel import PriorsPanel
    from ui.procedure_record_panel import ProcedureRecordPanel

    exams.attach(window, simulator)
    # A procedure exam's time-out and documentation, in their own tab while one runs.
    procedure_record = ProcedureRecordPanel()
    procedure_record.attach(window)
    exams.session_changed.connect(
        lambda: procedure_record.set_runner(exams.session.runner if exams.session is not None else None)
    )
    exams.exam_ended.connect(lambda _record: procedure_record.set_runner(None))  # kept with the study now

    def current_uid() -> str | None:
        return exams.last_study.study_uid if exams.last_study is not None else None

    # Storage commitment reports come to this port; committed studies older than the retention
    # (days, 0: off) are deleted locally. Both are set in the tab, which saves them to the preferences.
    port = int(preferences.get("commitment_port"))
    pacs = PacsPanel(
        store,
        current_study_uid=current_uid,
        commitment_listen=("", port if 0 < port < 65536 else DEFAULT_COMMITMENT_LISTEN[1]),
        retention_days=max(0, int(preferences.get("retention_days"))),
        preferences=preferences,
    )
    pacs.attach(window)  # after the exam: its `finishing` handler (the exam's end) runs first
    exams.session_changed.connect(pacs.refresh_studies)
    exams.exam_ended.connect(lambda _record: pacs.refresh_studies())
    # A signed report adds its documents to the study (and to the queue of every PACS it went to).
    exams.signer.finished.connect(lambda _outcome: pacs.refresh_studies())

    def current_patient() -> tuple[str, str] | None:
        session = exams.session
        if session is None or session.study.patient.practice_subject:
            return None
        return session.study.patient.patient_id, session.study.study_uid

    # Priors for correlation, fetched from the same PACS destinations.
    PriorsPanel(lambda: pacs.destinations, current_patient).attach(window)


def _add_programme(
    window: ScannerWindow, store: StudyStore, exams: ExamController, regions: dict[str, str], url: str | None
) -> ProgrammePanel | None:
    """The Programme tab (logbook, credentialing, QA review); without it when its database cannot be
    opened (the scanner works on, and the message says why)."""
    from scanner_app.programme.db import ProgrammeDbError, open_database, sqlite_url
    from scanner_app.programme.pathways import PathwayError, load_pathways
    from scanner_app.programme.people import User
    from ui.follow_up_panel import FollowUpPanel
    from ui.programme_panel import ProgrammePanel

    try:
        db = open_database(url or sqlite_url(store.root))
        pathways = load_pathways()
    except (ProgrammeDbError, PathwayError) as exc:
        window.show_message(f"Logbook and QA unavailable: {exc}", error=True)
        return None

    def ended_study() -> Study | None:
        session = exams.session
        return session.study if session is not None else None

    def operator_follows(user: User | None) -> None:
        # New exams are the signed-in person's: "Olivia Smith" becomes the operator Smith^Olivia.
        if user is not None:
            *given, family = user.display_name.split() or [user.username]
            exams.operator = f"{family}^{' '.join(given)}" if given else family

    panel = ProgrammePanel(
        db, store, pathways, ended_study=ended_study, region_of=lambda pid: regions.get(pid, "any"),
        on_sign_in=operator_follows,
    )  # fmt: skip
    panel.attach(window)
    exams.exam_ended.connect(panel.on_exam_ended)
    exams.session_changed.connect(panel.on_exam_started)
    follow_ups = FollowUpPanel(db, lambda: panel.user)  # pain scores after procedures, outcomes
    follow_ups.attach(window)
    exams.exam_ended.connect(lambda _record: follow_ups.refresh())
    window.finishing.connect(db.close)
    return panel


def _add_practice(
    window: ScannerWindow, simulator: SimulatorTab, programme: ProgrammePanel | None, protocols: list[Any]
) -> None:
    """The Practice tab: the anatomy overlay, the quiz and view grading on the simulated probe's ground
    truth; scores go to the logbook of whoever is signed in on the Programme tab."""
    from ui.practice_panel import PracticePanel

    targets = [s.practice for p in protocols for s in p.steps if s.practice is not None and s.practice.pose]
    practice = PracticePanel(
        simulator.control,
        db=programme.db if programme is not None else None,
        person=lambda: (
            programme.user.username if programme is not None and programme.user is not None else ""
        ),
        targets=targets,
        probe_moved=simulator.refresh,
    )
    practice.attach(window)
    simulator.changed.connect(lambda: practice.set_control(simulator.control))


def needle_scores_to_logbook(programme: ProgrammePanel) -> Callable[[NeedleScore], None]:
    """Each scored needle attempt into the logbook of whoever is signed in (pass 100 %, fail 0 %, with
    what was measured in the detail); nothing when nobody is."""
    import socket
    from datetime import UTC, datetime

    from scanner_app.programme.practice import PracticeScore, record_score

    def keep(score: NeedleScore) -> None:
        user = programme.user
        if user is None:
            programme.message.setText("Needle score not kept: nobody is signed in on the Programme tab")
            return
        record_score(programme.db, PracticeScore(
            person=user.username, kind="needle", item=score.target or "needle placement",
            score_percent=100.0 if score.passed else 0.0, practiced_at=datetime.now(UTC),
            time_s=score.time_s, detail=score.summary(), workstation=socket.gethostname(),
        ))  # fmt: skip

    return keep


def _add_teaching(
    window: ScannerWindow, store: StudyStore, programme: ProgrammePanel, protocols: list[Any]
) -> None:
    """The Teaching tab: the de-identified teaching library (in the user's data folder) and
    lecture-then-scan sessions whose scanning half is the practice views of the lecture's region."""
    from scanner_app.programme.teaching import PracticeStep
    from ui.teaching_panel import TeachingPanel
    from ui.user_folders import user_path

    def steps_for(region: str) -> list[PracticeStep]:
        return [
            PracticeStep(s.practice.scene, s.practice.variant, s.practice.view)
            for p in protocols
            if p.region == region
            for s in p.steps
            if s.practice is not None
        ]

    TeachingPanel(
        programme.db, store, user_path("teaching", config=False), user=lambda: programme.user,
        practice_steps_for=steps_for,
    ).attach(window)  # fmt: skip


def _add_doppler(window: ScannerWindow, engine: AcquisitionEngine) -> None:
    """The Doppler tab, overlays and spectral strip; its processing runs on the acquisition thread."""
    from scanner_app.doppler_pipeline import DopplerPipeline
    from ui.doppler_panel import DopplerPanel

    DopplerPanel(engine, DopplerPipeline(engine)).attach(window)


def _find_protocol(protocol_id: str) -> Any:
    from protocols.validation import load_library

    protocols, _ = load_library()
    return next((p for p in protocols if p.id == protocol_id), None)


def _run_scripted_exam(args: argparse.Namespace, engine: AcquisitionEngine) -> int:
    """--headless --protocol: walk the protocol with scripted captures into a study."""
    import sqlite3

    from protocols.scripted_exam import run_scripted_exam
    from scanner_app.engine import EngineState
    from scanner_app.headless import AcquisitionWatch, acquisition_summary, format_summary, write_stats_json
    from scanner_app.preset_outcome import apply_preset
    from scanner_app.programme.db import sqlite_url
    from scanner_app.studies.model import StudyError
    from scanner_app.studies.store import StudyStore

    cursor = engine.ring.cursor()

    def next_frame() -> Any:
        # Frames in order from the ring; None when acquisition has failed or gone quiet.
        while engine.state != EngineState.ERROR:
            drained = cursor.drain(max_frames=1)
            if drained.frames:
                return drained.frames[0].frame
            if not engine.ring.wait_for_frame_after(cursor.next_seq - 1, timeout_s=5.0):
                return None
        return None

    protocol = _find_protocol(args.protocol)
    study_dir = args.study_dir or default_study_dir()
    try:
        # StudyStoreUnavailable (locked, full, read-only, in use) says what to do in one line.
        store = StudyStore(study_dir)
    except StudyError as exc:
        print(f"scanner-app: error: {exc}", file=sys.stderr)
        return 2
    watch = AcquisitionWatch(engine)
    engine.start()
    try:
        with store:
            result = run_scripted_exam(
                next_frame, protocol, store, seconds=args.seconds, capture_every_s=args.capture_every,
                apply_preset=functools.partial(apply_preset, engine),
            )  # fmt: skip
            study = store.get_study(result.study_uid)
        status = engine.status()
    except (StudyError, OSError, sqlite3.Error) as exc:
        print(f"scanner-app: error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    record = result.record
    captures, frames = len(result.captures), result.frames_seen
    print(f"study {result.study_uid} in {study_dir}: {captures} captures, {frames} frames")
    summary = acquisition_summary(engine, status, args.seconds, watch.descriptor)
    print(format_summary(summary))
    logged, logbook_line = _log_scripted_exam(
        args.programme_db or sqlite_url(study_dir), study, record, protocol.region
    )
    print(logbook_line, file=sys.stdout if logged else sys.stderr)
    if record.get("complete"):
        print(f"protocol {protocol.id}: complete")
    else:
        missing = "; ".join(
            f"{item.get('step_title', '?')} ({item.get('description', '')})"
            for item in record.get("missing") or []
        )
        print(
            f"protocol {protocol.id}: incomplete; steps still to capture: {missing} "
            f"(a longer --seconds or a shorter --capture-every takes more captures)"
        )
    not_applied = [
        step["preset"] for step in record.get("steps") or [] if (step.get("preset") or {}).get("not_applied")
    ]
    if not_applied:
        reason = next(iter(not_applied[0]["not_applied"].values()))
        print(
            f"presets not applied by this source at {len(not_applied)} step(s), so recorded in the exam "
            f"(e.g. {reason})"
        )
    if args.stats_json:
        summary["exam"] = {**result.outcome(), "study_dir": str(study_dir)}
        write_stats_json(summary, args.stats_json)
    if engine.state == EngineState.ERROR:
        print(f"scanner-app: error: acquisition failed: {engine.reason}", file=sys.stderr)
        return 1
    return 0 if logged else 1  # the study is kept; the exam missing from the logbook is a failure


def _log_scripted_exam(url: str, study: Study, record: dict[str, Any], region: str) -> tuple[bool, str]:
    """The headless exam's logbook entry (--programme-db): whether it was kept, and a line saying so."""
    import socket

    from scanner_app.programme.db import ProgrammeDbError, open_database
    from scanner_app.programme.logbook import ExamFacts, findings_text, person_key, record_exam
    from scanner_app.programme.procedures import record_procedure

    facts = ExamFacts(
        study_uid=study.study_uid, performed_on=study.started_at.date(), region=region,
        operator=person_key(study.operator, []), protocol_id=study.protocol_id,
        findings=findings_text(record), workstation=socket.gethostname(),
        practice=study.patient.practice_subject,  # no patient to follow up after a scripted run
    )  # fmt: skip
    try:
        with open_database(url) as db:
            record_exam(db, facts)
            record_procedure(db, facts, record)  # a procedure protocol's record: its procedure logbook
    except ProgrammeDbError as exc:
        return False, f"scanner-app: error: the study is kept, but the exam is not in the logbook: {exc}"
    return True, f"logbook: exam recorded for {facts.operator}"


def sim_control(driver: ProbeDriver) -> SimulatorControl | None:
    """The simulator panel's handle when the probe is the simulated one, else None."""
    from drivers.sim.control import SimulatedPatient, SimulatorCable, SimulatorControl
    from drivers.sim.patient import PatientRenderer

    device = getattr(driver, "device", None)
    firmware = getattr(device, "firmware", device)  # the serial device wraps its firmware
    renderer = getattr(firmware, "renderer", None)
    # The cable to pull: the simulated USB bus, the serial device, or the direct driver itself.
    candidates = (getattr(getattr(driver, "transport", None), "backend", None), device, driver)
    cable = next(
        (
            c
            for c in candidates
            if callable(getattr(c, "unplug", None)) and callable(getattr(c, "replug", None))
        ),
        None,
    )
    if not isinstance(renderer, PatientRenderer):
        return None
    # The firmware does the patient's manoeuvres (it times them on its IQ's clock); the direct
    # simulated probe makes no Doppler and has none.
    patient = firmware if callable(getattr(firmware, "perform", None)) else None
    return SimulatorControl(
        renderer, cast("SimulatorCable | None", cable), cast("SimulatedPatient | None", patient)
    )


def replay_control(driver: ProbeDriver) -> ReplayControl | None:
    """The replay panel's handle when the probe is a recorded case, else None."""
    from drivers.replay import ReplayProbeDriver

    return driver if isinstance(driver, ReplayProbeDriver) else None


def _release_sim_device(driver: ProbeDriver) -> None:
    """The simulated serial probe owns a pty and a directory: give them back when the app ends."""
    close = getattr(getattr(driver, "device", None), "close", None)
    if callable(close):
        close()


if __name__ == "__main__":
    sys.exit(main())
