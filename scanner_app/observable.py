"""Observable: the change notice the Qt-free UI models share (widgets subscribe, models call `_changed`)."""

from __future__ import annotations

from collections.abc import Callable


class Observable:
    """A model that tells its subscribers it changed; they read the new state themselves."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
