"""SimUsbBackend: a pyusb backend (`usb.backend.IBackend`) that presents the simulated probe as a USB device.

`usb.core.find(idVendor=0x1209, idProduct=0x0001, backend=SimUsbBackend(firmware))` finds it, with
device, configuration, interface and endpoint descriptors as spec 7 describes: vendor interface 0,
bulk OUT 0x01, bulk IN 0x81, interrupt IN 0x82, vendor requests GET_PLP_VERSION and RESET_STREAM,
and string descriptors. `unplug()` makes every transfer fail as libusb does ("No such device",
errno 19, LIBUSB_ERROR_NO_DEVICE) and hides the device; `replug()` brings it back power-cycled.
`unplug_at(call)` pulls the cable during the next call of that backend method (tests of each step).
`deny_access` and `busy` make opening fail as a device without permission or claimed elsewhere does.
"""

from __future__ import annotations

import array
import errno
import threading
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from drivers.sim.firmware import ByteQueue, SimFirmware
from drivers.transports import (
    EP_BULK_IN,
    EP_BULK_OUT,
    EP_INTR_IN,
    REQ_GET_PLP_VERSION,
    REQ_RESET_STREAM,
)

SIM_VID = 0x1209
SIM_PID = 0x0001
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_ACCESS = -3
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_BUSY = -6
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_PIPE = -9


def _no_device() -> usb.core.USBError:
    return usb.core.USBError(
        "No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
    )


@dataclass
class _Desc:
    """A descriptor as pyusb reads it: plain attributes."""

    fields: dict[str, Any]
    extra_descriptors: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class _SimDeviceId:
    """The backend's opaque device identity (one per plug-in)."""

    generation: int


@dataclass
class _Handle:
    generation: int
    claimed: set[int] = field(default_factory=set)


class SimUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """The simulated probe on a simulated USB bus, behind the real pyusb API."""

    def __init__(
        self,
        firmware: SimFirmware,
        vid: int = SIM_VID,
        pid: int = SIM_PID,
        *,
        manufacturer: str = "scanner-app",
        product: str = "SimProbe",
    ) -> None:
        self.firmware = firmware
        self.vid = vid
        self.pid = pid
        self._strings = {1: manufacturer, 2: product, 3: "SIM-0001"}
        self._generation = 1
        self._plugged = True
        self._lock = threading.Lock()
        self.deny_access = False  # open fails with LIBUSB_ERROR_ACCESS (no permission)
        self.busy = False  # claiming interface 0 fails with LIBUSB_ERROR_BUSY
        self.plugs = 0
        self.unplugs = 0
        self._unplug_at: str | None = None

    # -- the simulated cable ------------------------------------------------------------------

    @property
    def plugged(self) -> bool:
        return self._plugged

    def unplug(self) -> None:
        """Pull the cable: open handles die, transfers fail with "No such device"."""
        with self._lock:
            self._plugged = False
            self._generation += 1
            self.unplugs += 1
        self.firmware.injected["unplugs"] += 1
        # Wake readers blocked on the queues so they see the unplug now.
        self.firmware.out.close()
        self.firmware.interrupt_out.close()

    def replug(self) -> None:
        """Plug it back in: a freshly powered probe (default settings, not streaming)."""
        self.firmware.power_cycle()
        self.firmware.out.reopen()
        self.firmware.interrupt_out.reopen()
        with self._lock:
            self._plugged = True
            self.plugs += 1

    def unplug_at(self, call: str) -> None:
        """Pull the cable during the next call of the backend method named `call` (`bulk_write`, ...)."""
        self._unplug_at = call

    def _maybe_unplug(self, call: str) -> None:
        if self._unplug_at == call:
            self._unplug_at = None
            self.unplug()

    def _check(self, handle: _Handle) -> None:
        if not self._plugged or handle.generation != self._generation:
            raise _no_device()

    # -- enumeration and descriptors ----------------------------------------------------------

    def enumerate_devices(self) -> Any:
        if self._plugged:
            yield _SimDeviceId(self._generation)

    def get_parent(self, dev: Any) -> None:
        return None

    def get_device_descriptor(self, dev: Any) -> _Desc:
        return _Desc(
            dict(
                bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
                bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=self.vid, idProduct=self.pid,
                bcdDevice=0x0100, iManufacturer=1, iProduct=2, iSerialNumber=3, bNumConfigurations=1,
                address=dev.generation % 127 + 1, bus=1, port_number=1, port_numbers=(1,), speed=3,
            )
        )  # fmt: skip

    def get_configuration_descriptor(self, dev: Any, config: int) -> _Desc:
        if config != 0:
            raise IndexError("configuration index out of range")
        return _Desc(
            dict(
                bLength=9, bDescriptorType=2, wTotalLength=9 + 9 + 3 * 7, bNumInterfaces=1,
                bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80, bMaxPower=250,
            )
        )  # fmt: skip

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> _Desc:
        if config != 0 or intf != 0 or alt != 0:
            raise IndexError("interface index out of range")
        return _Desc(
            dict(
                bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0, bNumEndpoints=3,
                bInterfaceClass=0xFF, bInterfaceSubClass=0, bInterfaceProtocol=0, iInterface=0,
            )
        )  # fmt: skip

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> _Desc:
        endpoints = [(EP_BULK_OUT, 2, 512, 0), (EP_BULK_IN, 2, 512, 0), (EP_INTR_IN, 3, 64, 4)]
        if config != 0 or intf != 0 or alt != 0 or not 0 <= ep < len(endpoints):
            raise IndexError("endpoint index out of range")
        address, attributes, size, interval = endpoints[ep]
        return _Desc(
            dict(
                bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=attributes,
                wMaxPacketSize=size, bInterval=interval, bRefresh=0, bSynchAddress=0,
            )
        )  # fmt: skip

    # -- handles and interfaces ---------------------------------------------------------------

    def open_device(self, dev: Any) -> _Handle:
        self._maybe_unplug("open_device")
        if not self._plugged or dev.generation != self._generation:
            raise _no_device()
        if self.deny_access:
            raise usb.core.USBError(
                "Access denied (insufficient permissions)", LIBUSB_ERROR_ACCESS, errno.EACCES
            )
        self.firmware.start()  # a plugged-in device is powered (idempotent)
        return _Handle(dev.generation)

    def close_device(self, dev_handle: _Handle) -> None:
        dev_handle.claimed.clear()

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._maybe_unplug("set_configuration")
        self._check(dev_handle)

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._maybe_unplug("get_configuration")
        self._check(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._check(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        self._maybe_unplug("claim_interface")
        self._check(dev_handle)
        if self.busy:
            raise usb.core.USBError("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.claimed.discard(intf)
        self._check(dev_handle)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._check(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        self._check(dev_handle)
        self.firmware.reset_stream()

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        pass

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        pass

    # -- transfers ----------------------------------------------------------------------------

    def bulk_write(
        self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        self._maybe_unplug("bulk_write")
        self._check(dev_handle)
        if ep != EP_BULK_OUT:
            raise usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)
        self.firmware.receive(memoryview(data).cast("B"))
        return len(data)

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        self._maybe_unplug("bulk_read")
        if ep != EP_BULK_IN:
            raise usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)
        return self._read(dev_handle, self.firmware.out, buff, timeout)

    def intr_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        if ep != EP_INTR_IN:
            raise usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)
        return self._read(dev_handle, self.firmware.interrupt_out, buff, timeout)

    def _read(self, handle: _Handle, queue: ByteQueue, buff: array.array[int], timeout: int) -> int:
        self._check(handle)
        n = queue.read_into(memoryview(buff).cast("B"), (timeout or 1000) / 1000.0)
        self._check(handle)  # unplugged while we waited
        if n == 0:
            raise usb.core.USBTimeoutError("Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)
        return n

    def ctrl_transfer(  # noqa: PLR0917 - pyusb calls it positionally, with USB field names
        self,
        dev_handle: _Handle,
        bmRequestType: int,  # noqa: N803
        bRequest: int,  # noqa: N803
        wValue: int,  # noqa: N803
        wIndex: int,  # noqa: N803
        data: array.array[int],
        timeout: int,
    ) -> int:
        self._maybe_unplug("ctrl_transfer")
        self._check(dev_handle)
        direction_in = bool(bmRequestType & 0x80)
        req_type = (bmRequestType >> 5) & 3
        if req_type == 2 and direction_in and bRequest == REQ_GET_PLP_VERSION:
            return self._answer(data, bytes([self.firmware.faults.protocol_version]))
        if req_type == 2 and not direction_in and bRequest == REQ_RESET_STREAM:
            self.firmware.reset_stream()
            return 0
        if (
            req_type == 0 and direction_in and bRequest == 0x06 and (wValue >> 8) == 3
        ):  # GET_DESCRIPTOR string
            index = wValue & 0xFF
            if index == 0:
                return self._answer(data, bytes([4, 3, 0x09, 0x04]))  # LANGID en-US
            text = self._strings.get(index)
            if text is not None:
                body = text.encode("utf-16-le")
                return self._answer(data, bytes([2 + len(body), 3]) + body)
        raise usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)

    @staticmethod
    def _answer(data: array.array[int], reply: bytes) -> int:
        n = min(len(data), len(reply))
        data[:n] = array.array("B", reply[:n])
        return n


def get_backend() -> SimUsbBackend:
    """For `--usb-backend drivers.sim.usb_backend:get_backend`: a simulated probe with its own firmware."""
    return SimUsbBackend(SimFirmware(events_on_interrupt=True))
