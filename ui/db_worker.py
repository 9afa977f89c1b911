"""DbWorker: a side tab's programme-database reads on a worker thread, each result handed back to the
GUI thread, so a slow shared database never stalls the window while a tab refreshes.

One worker thread a tab, so its queries run one at a time in the order asked and their results come
back in that order (the last shown is the newest). `shutdown()` (the window's `finishing`) cancels
what has not started, waits for a query under way and joins the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PyQt6.QtCore import QObject, pyqtSignal

log = logging.getLogger(__name__)

T = TypeVar("T")


class DbWorker(QObject):
    """Runs `query()` on its thread; `then(result)` or `failed(error)` runs on the GUI thread."""

    _done = pyqtSignal(object, object)  # (the GUI-thread callback, its argument); queued from the worker

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"db-{name}")
        self._closed = False
        self.pending = 0  # queries asked for whose result has not been handed back yet
        self._done.connect(self._deliver)

    def run(
        self, query: Callable[[], T], then: Callable[[T], None], failed: Callable[[Exception], None]
    ) -> None:
        if self._closed:
            return  # the window is closing: nothing more to show

        def work() -> None:
            try:
                result: Any = query()
            except Exception as exc:  # a database down or refusing: shown by the tab, never lost here
                log.warning("programme database query failed: %s", exc)
                self._done.emit(failed, exc)
                return
            self._done.emit(then, result)

        self.pending += 1
        self._pool.submit(work)

    def _deliver(self, callback: Callable[[Any], None], value: object) -> None:
        self.pending -= 1
        callback(value)

    def shutdown(self) -> None:
        """Cancel the queries not started, finish the one under way, join the thread."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
