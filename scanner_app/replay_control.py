"""ReplayControl: what the window may ask of a replayed case (no Qt, no driver): pause, resume, seek.

The composition root (main.py) hands the replay probe itself to the replay panel when the source is
a recording.
"""

from __future__ import annotations

from typing import Protocol


class ReplayControl(Protocol):
    """Playback of a recorded case played as a probe."""

    @property
    def frame_count(self) -> int: ...

    @property
    def position(self) -> int:
        """Index of the next frame to play."""
        ...

    @property
    def paused(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def seek(self, index: int) -> None:
        """Show frame `index` next (held there while paused)."""
        ...
