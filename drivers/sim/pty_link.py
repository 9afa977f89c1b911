"""SimSerialDevice: the simulated probe as a serial port, through a pseudo-terminal paced to its baud rate.

A pty moves bytes at about 100 MB/s, far faster than any serial line, so the device side paces
its output itself: 10 bits a byte (8N1), by deadlines (`next_t += bits / baud`). The host opens
`port` (a stable symlink to the pty's slave) with pyserial like any other port. `unplug()` closes
the pty and removes `port`, so the host's next read fails and its next open finds no port, as with a
USB-serial adapter pulled out; `replug()` opens a new one behind the same `port` path.
"""

from __future__ import annotations

import os
import select
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from drivers.sim.firmware import SimFirmware

CHUNK_S = 0.005  # pace in slices of 5 ms of line time


class SimSerialDevice:
    """Firmware plus a pty pump thread; `power_on`/`power_off` start and join both."""

    def __init__(
        self,
        firmware: SimFirmware,
        baud: int = 921600,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.firmware = firmware
        self.baud = baud
        self._clock = clock
        self._dir = tempfile.TemporaryDirectory(prefix="scanner-sim-serial-")
        self.port = str(Path(self._dir.name) / "probe")
        self._master = -1
        self._slave = -1
        self._unplugged = False  # unplug() until replug(): powering on does not bring it back
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # Keep at most about one frame queued: the line is the bottleneck, and a probe sends a
        # fresh frame rather than a backlog (frames it cannot send count as tx_dropped).
        firmware.out.capacity_bytes = 1
        self._open_pty()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or line discipline: bytes pass unchanged both ways
        os.set_blocking(master, False)
        link = Path(self.port)
        tmp = link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(link)
        self._master, self._slave = master, slave

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def power_on(self) -> None:
        if self._unplugged:
            return  # the cable is out: the host's reconnect attempts find no port until replug()
        if self._master < 0:
            self._open_pty()
        self.firmware.start()
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._pump, name="sim-serial-pty", daemon=True)
            self._thread.start()

    def power_off(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.firmware.stop()

    def close(self) -> None:
        """Power off and remove the pty and its symlink."""
        self.power_off()
        self._close_pty()
        self._dir.cleanup()

    def unplug(self) -> None:
        self._unplugged = True
        self.firmware.injected["unplugs"] += 1
        self.power_off()
        self._close_pty()
        # The port goes away as a USB-serial adapter's does. Left behind, the link would point at a
        # freed /dev/pts number that any other pty on the machine may take: a "busy" port, not a gone one.
        Path(self.port).unlink(missing_ok=True)

    def replug(self) -> None:
        self._unplugged = False
        self.firmware.power_cycle()
        self._open_pty()

    def _pump(self) -> None:
        """Move host bytes to the firmware, and firmware bytes to the line at the baud rate."""
        master = self._master
        bytes_per_s = self.baud / 10.0
        chunk = max(16, int(bytes_per_s * CHUNK_S))
        pending = b""
        next_t = self._clock()
        while not self._stop.is_set():
            if not pending:
                pending = self.firmware.out.read(chunk, 0.005)
                # An idle line earns no credit: the next byte goes no earlier than now.
                next_t = max(next_t, self._clock())
            now = self._clock()
            wait_s = max(0.0, next_t - now) if pending else 0.0
            want_write = [master] if pending and wait_s == 0.0 else []
            try:
                readable, writable, _ = select.select(
                    [master], want_write, [], wait_s if not want_write else 0.02
                )
            except (OSError, ValueError):
                return
            if readable:
                try:
                    data = os.read(master, 65536)
                except BlockingIOError:
                    data = b""
                except OSError:
                    return
                if data:
                    self.firmware.receive(data)
            if writable and pending:
                try:
                    n = os.write(master, pending)
                except BlockingIOError:
                    n = 0
                except OSError:
                    return
                pending = pending[n:]
                next_t += n / bytes_per_s
