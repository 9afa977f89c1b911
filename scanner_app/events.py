"""Events: the one way the Qt-free layers tell others something happened (psygnal signals).

Classes declare typed signals (`state_changed = Signal(StateChanged)`, `changed = Signal()`) and
listeners `connect`/`disconnect`. Two kinds:

- `Signal` (psygnal's own) for models driven on the GUI thread (imaging, cine, measurements,
  annotations, the checklist runner): they emit on the thread that changed them, and a listener
  that raises propagates to the caller as psygnal's `EmitLoopError`, as any bug would.
- `worker_signal(...)` for what a worker thread emits (the acquisition engine, the PACS sender):
  each listener runs in its own guard, so one that raises is logged with its traceback and the
  others still hear the event; the worker never sees the exception and keeps going.

psygnal holds bound methods weakly and lambdas strongly: a listener that lives shorter than the
emitter and connects a lambda must disconnect it itself.
"""

from __future__ import annotations

import logging
from typing import Any

from psygnal import Signal, SignalInstance

log = logging.getLogger(__name__)


class _GuardedSignalInstance(SignalInstance):
    """A signal whose listeners cannot stop each other or the emitter.

    psygnal stops its emit loop at the first listener that raises; this overrides that loop (the
    immediate re-emission mode, the one `worker_signal` sets) to guard each call instead.
    tests/test_events.py pins the behaviour, so a psygnal upgrade that changes its internals fails there.
    """

    def _run_emit_loop_immediate(self) -> None:
        args = self._emit_queue.popleft()
        for caller in list(self._slots):
            if not caller._is_alive():
                continue  # its object was collected during this emit: already disconnected
            try:
                caller.cb(args)
            except Exception:
                log.exception("listener of %s failed; the others still hear it", self.name)


def worker_signal(*types: type[Any], description: str = "") -> Signal:
    """A typed signal emitted on a worker thread, where a faulty listener must not stop the work."""
    return Signal(
        *types, description=description, reemission="immediate", signal_instance_class=_GuardedSignalInstance
    )
