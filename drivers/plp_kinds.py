"""The PLP/1 probe kinds for the registry: `usb[:VID:PID]` and `serial:PORT[@BAUD]`."""

from __future__ import annotations

import importlib
from typing import Any

from drivers.plp_driver import PlpProbeDriver
from drivers.registry import FoundProbe, ProbeKind, ProbeOptions
from drivers.transports import PLP_USB_IDS, SerialTransport, UsbTransport, format_usb_id, parse_usb_id
from scanner_app.probe import ProbeDriver

DEFAULT_BAUD = 921600


def load_usb_backend(spec: str | None) -> Any:
    """The backend named by --usb-backend MODULE:ATTR (an object, or a factory called with no arguments)."""
    if spec is None:
        return None

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"bad --usb-backend {spec!r}: expected MODULE:ATTR")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load --usb-backend {spec!r}: {exc}") from None
    import usb.backend

    if not isinstance(obj, usb.backend.IBackend) and callable(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise ValueError(f"--usb-backend {spec!r} failed to make a backend: {exc}") from None
    if obj is None:
        raise ValueError(f"--usb-backend {spec!r} gave no backend (is its library installed?)")
    if not isinstance(obj, usb.backend.IBackend):
        raise ValueError(f"--usb-backend {spec!r} is a {type(obj).__name__}, not a pyusb backend")
    return obj


class UsbProbes(ProbeKind):
    name = "usb"
    syntax = "usb[:VID:PID]"
    summary = "a PLP/1 probe on USB (the known VID:PIDs, or the one given)"

    def make_driver(self, spec: str, options: ProbeOptions) -> ProbeDriver:
        ids = (parse_usb_id(spec[4:]),) if spec.startswith("usb:") else PLP_USB_IDS
        backend = load_usb_backend(options.usb_backend)
        bus_firmware = getattr(backend, "firmware", None)  # a simulated bus: power its probe with the link
        return PlpProbeDriver(UsbTransport(ids, backend=backend), device=bus_firmware)

    def discover(self, options: ProbeOptions) -> list[FoundProbe]:
        transport = UsbTransport(PLP_USB_IDS, backend=load_usb_backend(options.usb_backend))
        return [
            FoundProbe(
                f"usb:{format_usb_id(dev.idVendor, dev.idProduct)}", f"bus {dev.bus} address {dev.address}"
            )
            for dev in transport.find_devices()
        ]


class SerialProbes(ProbeKind):
    name = "serial"
    syntax = "serial:PORT[@BAUD]"
    summary = f"a PLP/1 probe on a serial port (default {DEFAULT_BAUD} baud)"

    def make_driver(self, spec: str, options: ProbeOptions) -> ProbeDriver:
        port, _, baud_text = spec[len("serial:") :].partition("@")
        if not port:
            raise ValueError("--probe serial:PORT[@BAUD] needs a port, e.g. serial:/dev/ttyUSB0@921600")
        try:
            baud = int(baud_text) if baud_text else DEFAULT_BAUD
            if baud <= 0:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"bad baud rate {baud_text!r} in --probe {spec}: give a positive integer"
            ) from None
        return PlpProbeDriver(SerialTransport(port, baud))

    def discover(self, options: ProbeOptions) -> list[FoundProbe]:
        from serial.tools import list_ports

        ports = sorted(list_ports.comports(), key=lambda p: p.device)
        return [FoundProbe(f"serial:{p.device}", str(p.description)) for p in ports]
