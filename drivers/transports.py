"""Transports: move PLP bytes to and from a probe over USB (pyusb) or a serial line (pyserial), nothing else.

Every failure a user can cause or fix becomes a `ProbeError` subclass with one line that says what
to do; an unplugged device becomes `ProbeDisconnected`. What the libraries raise when a device
vanishes (pyserial's SerialException, OSError, the raw `termios.error` it lets through; pyusb's
USBError and NoBackendError) is turned into those here, in one place a transport, so nothing else
escapes: the engine reports the probe disconnected and looks again every 500 ms (spec 7).
"""

from __future__ import annotations

import array
import contextlib
import errno
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from scanner_app.probe import LinkFault, ProbeDisconnected, ProbeError, ProbeNotFound

PLP_USB_IDS: tuple[tuple[int, int], ...] = ((0x1209, 0x0001),)
EP_BULK_OUT = 0x01
EP_BULK_IN = 0x81
EP_INTR_IN = 0x82
REQ_GET_PLP_VERSION = 0x01
REQ_RESET_STREAM = 0x02
_VENDOR_IN = 0xC0  # device-to-host | vendor | device
_VENDOR_OUT = 0x40
# Spec 7: large transfers, 64 KiB or more. Several frames a transfer, so few packets are split across
# two transfers (a split packet is gathered by the parser: one more copy of it).
USB_READ_BYTES = 2 * 1024 * 1024
USB_TIMEOUT_MS = 100
USB_EVENT_WAIT_MS = 20  # the event reader's blocking read: how long close() may wait for it
USB_READ_POOL = 8  # read buffers kept for reuse; more are only lent while frames still view them


class Transport(Protocol):
    """A byte pipe to one probe. `read` returns b"" on a timeout with no data."""

    @property
    def name(self) -> str: ...

    # Spec 6/7: how long to wait for the HELLO reply and how many times to send it.
    hello_timeout_s: float
    hello_attempts: int

    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes | memoryview: ...

    def read_events(self) -> bytes | memoryview: ...

    def reset_stream(self) -> None: ...

    def discard_input(self) -> None: ...


def format_usb_id(vid: int, pid: int) -> str:
    return f"{vid:04x}:{pid:04x}"


def parse_usb_id(text: str) -> tuple[int, int]:
    """'1209:0001' -> (0x1209, 0x0001); ValueError naming the bad text."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        vid, pid = int(parts[0], 16), int(parts[1], 16)
        if not (0 <= vid <= 0xFFFF and 0 <= pid <= 0xFFFF):
            raise ValueError
    except ValueError:
        raise ValueError(f"bad USB id {text!r}: expected VID:PID in hex, for example 1209:0001") from None
    return vid, pid


def _usb_errno(exc: BaseException) -> int | None:
    return getattr(exc, "errno", None)


def _os_errno(exc: BaseException) -> int | None:
    """The errno behind an OS-level error, wherever the library put it: the attribute (OSError,
    SerialException), the first argument (`termios.error` is a bare (errno, text) pair), or the text
    ("Could not configure port: (5, 'Input/output error')", "[Errno 2] ...")."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    if exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    found = re.search(r"\[Errno (\d+)\]|\((\d+), '", str(exc))
    return int(found.group(1) or found.group(2)) if found else None


def _serial_errors() -> tuple[type[BaseException], ...]:
    """Every exception pyserial can raise on a port whose device went away."""
    import serial

    try:
        import termios  # POSIX; pyserial lets its error through unwrapped (tcflush, tcsetattr)
    except ImportError:
        return (serial.SerialException, OSError)
    return (serial.SerialException, OSError, termios.error)


def _usb_errors() -> tuple[type[BaseException], ...]:
    """Every exception pyusb can raise on a device that went away (timeouts are handled before)."""
    import usb.core

    return (usb.core.USBError, usb.core.NoBackendError, OSError)


class UsbTransport:
    """PLP over USB bulk endpoints (spec 7) via pyusb; `backend` picks libusb or the simulated bus.

    Each bulk read fills a buffer nothing else still views (`hands_over_reads`): the parser keeps
    frame payloads as views of it, so a frame's pixels go from the transfer to the ring in one copy.
    The interrupt endpoint is read by a thread of its own, blocking, so `read_events` never waits.
    """

    hello_timeout_s = 0.2
    hello_attempts = 2
    hands_over_reads = True  # a read's buffer is never written again while a view of it lives

    def __init__(
        self,
        ids: Sequence[tuple[int, int]] = PLP_USB_IDS,
        *,
        backend: Any = None,
        read_bytes: int = USB_READ_BYTES,
        timeout_ms: int = USB_TIMEOUT_MS,
    ) -> None:
        self.ids = tuple(ids)
        self._backend = backend
        self._timeout_ms = timeout_ms
        self._read_bytes = read_bytes
        self._pool: list[array.array[int]] = []
        self._dev: Any = None
        self._events: _InterruptReader | None = None
        self._where = ", ".join(format_usb_id(v, p) for v, p in self.ids)

    @property
    def name(self) -> str:
        return f"USB probe {self._where}"

    @property
    def backend(self) -> Any:
        """The pyusb backend it was given (the simulated bus, whose cable the simulator panel pulls)."""
        return self._backend

    def find_devices(self) -> list[Any]:
        """Every attached device with one of our VID:PIDs."""
        import usb.core

        try:
            found = usb.core.find(
                find_all=True,
                backend=self._backend,
                custom_match=lambda d: (d.idVendor, d.idProduct) in self.ids,
            )
            return list(found) if found is not None else []
        except usb.core.NoBackendError:
            # Not found rather than a hard error: the engine keeps looking, the message says what to do.
            raise ProbeNotFound(
                "no USB backend found: install libusb-1.0 (apt install libusb-1.0-0) or give --usb-backend"
            ) from None
        except _usb_errors() as exc:  # the bus changed under the enumeration (a device went away)
            raise ProbeNotFound(f"no USB probe {self._where} could be listed: {exc}") from None

    def open(self) -> None:
        import usb.core
        import usb.util

        if self._dev is not None:
            return
        devices = self.find_devices()
        if not devices:
            raise ProbeNotFound(
                f"no USB probe {self._where} found: plug it in, or give its id with --probe usb:VID:PID"
            )
        dev = devices[0]
        where = (
            f"USB device {format_usb_id(dev.idVendor, dev.idProduct)} (bus {dev.bus}, address {dev.address})"
        )
        try:
            try:
                cfg = dev.get_active_configuration()
            except usb.core.USBError:
                dev.set_configuration()
                cfg = dev.get_active_configuration()
            intf = usb.util.find_descriptor(cfg, bInterfaceNumber=0, bAlternateSetting=0)
            eps = {e.bEndpointAddress for e in intf} if intf is not None else set()
            if intf is None or intf.bInterfaceClass != 0xFF or not {EP_BULK_OUT, EP_BULK_IN} <= eps:
                _dispose_quietly(dev)  # the engine asks again every 500 ms: leak nothing
                raise ProbeNotFound(
                    f"{where} is not a PLP probe (no vendor interface 0 with bulk endpoints 0x01/0x81): "
                    "check the VID:PID given to --probe usb"
                )
            usb.util.claim_interface(dev, 0)
        except _usb_errors() as exc:
            _dispose_quietly(dev)
            code = _usb_errno(exc)
            if code == errno.EACCES:
                raise ProbeError(
                    f"no permission to open {where}: add a udev rule granting your user access "
                    f'(SUBSYSTEM=="usb", ATTR{{idVendor}}=="{dev.idVendor:04x}", MODE="0666") and replug it'
                ) from None
            if code == errno.EBUSY:
                raise ProbeError(
                    f"{where} is busy: another program has claimed it; close that program"
                ) from None
            if code in _USB_GONE:
                raise ProbeDisconnected(f"{where} went away while opening; plug it back in") from None
            raise ProbeError(f"{where} could not be opened: {exc}") from None
        self._dev = dev
        self._where = f"{format_usb_id(dev.idVendor, dev.idProduct)}"
        self._events = _InterruptReader(dev, self.name)

    def close(self) -> None:
        import usb.util

        events, self._events = self._events, None
        if events is not None:
            events.stop()  # before the device goes: its thread is in a transfer on it
        dev, self._dev = self._dev, None
        if dev is not None:
            try:
                usb.util.release_interface(dev, 0)
            except Exception:
                pass  # the device may already be gone: nothing to release
            _dispose_quietly(dev)

    def _device(self) -> Any:
        if self._dev is None:
            raise ProbeDisconnected(f"{self.name} is not open")
        return self._dev

    @contextlib.contextmanager
    def _link(self, doing: str) -> Iterator[None]:
        """The one place a transfer's failure becomes a disconnect (device gone) or a link fault."""
        try:
            yield
        except _usb_errors() as exc:
            if _usb_errno(exc) in _USB_GONE:
                raise ProbeDisconnected(f"{self.name} disconnected ({doing}: {exc})") from None
            raise LinkFault(f"{self.name}: {doing} failed: {exc}") from None

    def write(self, data: bytes) -> None:
        with self._link("bulk write"):
            self._device().write(EP_BULK_OUT, data, self._timeout_ms * 5)

    def read(self, timeout_s: float) -> bytes | memoryview:
        import usb.core

        timeout_ms = max(1, min(self._timeout_ms, round(timeout_s * 1000)))
        buf = self._free_buffer()
        with self._link("bulk read"):
            try:
                n = self._device().read(EP_BULK_IN, buf, timeout_ms)
            except usb.core.USBTimeoutError:
                return b""  # spec 7: a timeout with no data is normal
        return memoryview(buf)[:n]

    def _free_buffer(self) -> array.array[int]:
        """A read buffer no view points into any more (a pooled one when there is one)."""
        for buf in self._pool:
            # The pool's list, `buf` and the call's argument: nothing else, so no memoryview of it lives.
            if sys.getrefcount(buf) <= 3:
                return buf
        buf = array.array("B", bytes(self._read_bytes))
        if len(self._pool) < USB_READ_POOL:
            self._pool.append(buf)
        return buf

    def read_events(self) -> bytes | memoryview:
        """What the interrupt endpoint brought (EVENT packets) since the last call, or b"", at once."""
        if self._events is None:
            raise ProbeDisconnected(f"{self.name} is not open")
        with self._link("interrupt read"):
            return self._events.take()

    def protocol_version(self) -> int:
        """GET_PLP_VERSION vendor request."""
        with self._link("GET_PLP_VERSION"):
            data = self._device().ctrl_transfer(_VENDOR_IN, REQ_GET_PLP_VERSION, 0, 0, 1, self._timeout_ms)
        return int(data[0]) if len(data) else -1

    def reset_stream(self) -> None:
        """RESET_STREAM vendor request: the probe stops streaming and drops what it had queued."""
        with self._link("RESET_STREAM"):
            self._device().ctrl_transfer(_VENDOR_OUT, REQ_RESET_STREAM, 0, 0, None, self._timeout_ms)

    def discard_input(self) -> None:
        # Bytes already on their way to us are read and thrown away, a bounded number of times.
        for _ in range(64):
            if not self.read(0.005):
                return


_USB_GONE = (errno.ENODEV, errno.EIO, errno.ENOENT)  # what libusb says of a device no longer there


class _InterruptReader:
    """Reads the interrupt IN endpoint on its own thread, so nobody polls it on the frame path.

    A failure (the device went away) ends the thread and is raised by the next `take()`, in the
    caller's thread, where the transport turns it into a disconnect or link fault.
    """

    def __init__(self, dev: Any, name: str) -> None:
        self._dev = dev
        self._buf = array.array("B", bytes(4096))
        self._lock = threading.Lock()
        self._data = bytearray()
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"events of {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import usb.core

        while not self._stopping.is_set():
            try:
                n = self._dev.read(EP_INTR_IN, self._buf, USB_EVENT_WAIT_MS)
            except usb.core.USBTimeoutError:
                continue
            except BaseException as exc:  # handed to the reader's thread, which maps it
                with self._lock:
                    self._error = exc
                return
            with self._lock:
                self._data += memoryview(self._buf)[:n]

    def take(self) -> bytes:
        with self._lock:
            if self._error is not None and not self._data:
                raise self._error
            data = bytes(self._data)
            self._data.clear()
        return data

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(1.0)


def _dispose_quietly(dev: Any) -> None:
    import usb.util

    try:
        usb.util.dispose_resources(dev)
    except Exception:
        pass  # a device that went away may fail to be released; the OS frees it anyway


class SerialTransport:
    """PLP over a serial line (spec 6), through pyserial: 8N1, no flow control."""

    hello_timeout_s = 0.5
    hello_attempts = 4  # spec 6: the HELLO and up to 3 retries

    def __init__(self, port: str, baud: int = 921600) -> None:
        self.port = port
        self.baud = baud
        self._ser: Any = None
        self._timeout: float | None = None

    @property
    def name(self) -> str:
        return f"serial probe on {self.port}"

    def open(self) -> None:
        import serial

        if self._ser is not None:
            return
        try:
            # Opening also configures and flushes the port: a device that hangs up meanwhile
            # fails here with whatever pyserial lets through.
            self._ser = serial.Serial(self.port, self.baud, timeout=0.05, exclusive=True)
            self._timeout = 0.05
        except _serial_errors() as exc:
            raise self._open_error(exc) from None

    def _open_error(self, exc: BaseException) -> ProbeError:
        code = _os_errno(exc)
        text = str(exc)
        if code == errno.ENOENT or "[Errno 2]" in text or "No such file" in text:
            return ProbeNotFound(
                f"serial port {self.port} does not exist: check the cable, or list ports with --list-probes"
            )
        if code == errno.ENOTTY or "(25," in text or "Inappropriate ioctl" in text:
            return ProbeNotFound(
                f"{self.port} is not a serial port: give the probe's port (see --list-probes)"
            )
        if code == errno.EACCES or "[Errno 13]" in text:
            return ProbeError(
                f"no permission to open {self.port}: add your user to the dialout group "
                "(sudo usermod -aG dialout $USER) and log in again"
            )
        if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or "[Errno 16]" in text:
            return ProbeError(f"serial port {self.port} is busy: another program has it open; close it")
        # Anything else (EIO, ENXIO, ENODEV: a device that hung up while opening) is looked for again.
        return ProbeDisconnected(f"serial port {self.port} could not be opened ({text}); looking again")

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass  # a port whose device vanished may fail to close; it is released anyway

    def _port(self) -> Any:
        if self._ser is None:
            raise ProbeDisconnected(f"{self.name} is not open")
        return self._ser

    @contextlib.contextmanager
    def _link(self, doing: str) -> Iterator[None]:
        """The one place a failure on the open port becomes a disconnect (spec 7)."""
        try:
            yield
        except _serial_errors() as exc:
            raise ProbeDisconnected(f"{self.name} disconnected ({doing}: {exc})") from None

    def write(self, data: bytes) -> None:
        with self._link("write"):
            self._port().write(data)

    def read(self, timeout_s: float) -> bytes | memoryview:
        ser = self._port()
        with self._link("read"):
            if self._timeout != timeout_s:
                ser.timeout = timeout_s  # reconfigures the port (tcsetattr): only when it changes
                self._timeout = timeout_s
            waiting = ser.in_waiting
            return bytes(ser.read(max(1, waiting)))

    def read_events(self) -> bytes | memoryview:
        return b""  # events come in the one serial stream

    def reset_stream(self) -> None:
        """No RESET_STREAM on serial (spec 6): discarding input is all there is."""
        self.discard_input()

    def discard_input(self) -> None:
        with self._link("discarding input"):
            self._port().reset_input_buffer()  # tcflush: a raw termios.error on a hung-up port
