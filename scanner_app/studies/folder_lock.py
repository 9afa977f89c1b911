"""StudyFolderLock: one app at a time on a study folder, held by an OS file lock.

The lock is `flock` on a file in the folder, so the OS releases it when the holder exits or is
killed: a crash never leaves the folder locked. The holder writes its PID into the file so a second
instance can say who has the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from scanner_app.studies.model import StudyStoreUnavailable

LOCK_NAME = "scanner-app.lock"


class StudyFolderBusy(StudyStoreUnavailable):
    """Another process holds the study folder's lock."""

    def __init__(self, root: Path, holder_pid: int | None) -> None:
        who = f"process {holder_pid}" if holder_pid else "another process"
        super().__init__(
            f"the study folder {root} is in use by another scanner-app ({who}); close that one first, "
            "or choose another folder with --study-dir"
        )
        self.root = root
        self.holder_pid = holder_pid


class StudyFolderLock:
    """An exclusive, non-blocking lock on a study folder, released by close() or by the process ending."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_NAME
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StudyFolderBusy(Path(root), holder) from None
        except OSError:
            os.close(fd)
            raise
        self._fd: int | None = fd
        # Only the holder writes, so a reader sees either the old PID or ours, never a mix.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)

    def close(self) -> None:
        """Give the folder back (the file stays: removing it would race a process opening it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    return None
