"""The event mechanism's contract where the app relies on it: worker signals isolate their listeners,
disconnecting works, signals carry typed values on the thread the docstrings promise."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import pytest
from psygnal import EmitLoopError

from protocols.runner import ChecklistRunner, EventKind, RunnerEvent
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.engine import AcquisitionEngine, EngineState, FrameReady, StateChanged
from scanner_app.events import worker_signal
from scanner_app.imaging_model import ImagingModel, SettingChange
from scanner_app.probe import SettingKey
from scanner_app.ring import FrameRing
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendState, SendStatus
from tests.fake_driver import ScriptedDriver
from tests.studies_support import make_frame


def _engine() -> AcquisitionEngine:
    return AcquisitionEngine(ScriptedDriver(), FrameRing(16, 64 * 48))


def _broken(_: object) -> None:
    raise ValueError("listener bug")


def test_a_raising_listener_does_not_stop_frames_or_the_listeners_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = _engine()
    engine.frame_ready.connect(_broken)
    engine.state_changed.connect(_broken)
    heard: list[FrameReady] = []
    engine.frame_ready.connect(heard.append)  # connected after the broken one
    with caplog.at_level(logging.ERROR):
        for _ in range(4):  # connect, then three frames
            engine.step()
    assert engine.state == EngineState.STREAMING
    assert engine.ring.newest_seq == 2
    assert [e.ring_seq for e in heard] == [0, 1, 2]
    failures = [r for r in caplog.records if "listener of" in r.getMessage()]
    assert len(failures) == 3 + 2  # every frame and both state changes (connecting, streaming)
    assert all(r.exc_info is not None and "listener bug" in str(r.exc_info[1]) for r in failures)


def test_a_disconnected_listener_hears_nothing() -> None:
    engine = _engine()
    first: list[FrameReady] = []
    engine.frame_ready.connect(first.append)
    engine.step()
    engine.step()
    engine.frame_ready.disconnect(first.append)
    engine.step()
    assert [e.ring_seq for e in first] == [0]
    assert engine.ring.newest_seq == 1
    assert len(engine.frame_ready) == 0


def test_engine_signals_are_typed_and_refuse_a_listener_that_cannot_take_them() -> None:
    engine = _engine()
    (param,) = engine.frame_ready.signature.parameters.values()
    assert param.annotation is FrameReady
    with pytest.raises(ValueError, match="positional"):
        engine.frame_ready.connect(lambda a, b: None)
    states: list[object] = []
    engine.state_changed.connect(states.append)
    engine.step()
    assert states == [
        StateChanged(EngineState.CONNECTING, "scripted probe"),
        StateChanged(EngineState.STREAMING),
    ]


def test_engine_signals_are_emitted_on_the_acquisition_thread() -> None:
    engine = _engine()
    threads: queue.Queue[str] = queue.Queue()
    engine.frame_ready.connect(lambda _e: threads.put(threading.current_thread().name))
    engine.start()
    try:
        assert threads.get(timeout=5) == "acquisition"
    finally:
        engine.close()
    assert not engine.running


def test_a_raising_listener_does_not_stop_the_pacs_queue(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    still = store.save_still(store.start_study(Patient("P1", "A^B"), "Op"), make_frame(1))
    sender = PacsSender(tmp_path, PacsDestination("nowhere", "127.0.0.1", 1, "NOBODY"))
    try:
        sender.status_changed.connect(_broken)
        heard: list[SendState] = []
        sender.status_changed.connect(heard.append)
        assert sender.enqueue([still]) == 1
    finally:
        sender.close()
        store.close()
    assert [(s.sop_instance_uid, s.status) for s in heard] == [(still.sop_instance_uid, SendStatus.QUEUED)]


def test_gui_models_raise_listener_bugs_to_the_caller_as_before() -> None:
    """Models and the runner keep plain psygnal semantics: a bug in a listener is not hidden."""
    model = ImagingModel(lambda key, value: None)
    heard: list[SettingChange] = []
    model.setting_changed.connect(heard.append)
    model.request(SettingKey.GAIN_DB, 3)
    assert heard == [SettingChange(SettingKey.GAIN_DB, 3.0, applied=False, requested=3.0)]
    model.view_changed.connect(_broken_no_args)
    with pytest.raises(EmitLoopError):
        model.set_grey_map("Soft")
    assert model.grey_map == "Soft"


def _broken_no_args() -> None:
    raise ValueError("listener bug")


def test_runner_changed_carries_runner_events(knee_runner: ChecklistRunner) -> None:
    got: list[RunnerEvent] = []
    knee_runner.changed.connect(got.append)
    knee_runner.next()
    assert got[-1].kind is EventKind.STEP_CHANGED and got[-1].step_id == knee_runner.current_step.id


def test_a_worker_signal_outside_the_engine_isolates_listeners_too() -> None:
    class Emitter:
        happened = worker_signal(int)

    emitter = Emitter()
    got: list[int] = []
    emitter.happened.connect(_broken)
    emitter.happened.connect(got.append)
    emitter.happened.emit(7)
    assert got == [7]


@pytest.fixture
def knee_runner() -> ChecklistRunner:
    return ChecklistRunner(load_protocol(LIBRARY_DIR / "knee.yaml"), side="left", clock=lambda: 0.0)
