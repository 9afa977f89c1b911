"""The simulated probe's kinds for the registry: `sim` (on a simulated USB bus) and `sim-serial` (a pty)."""

from __future__ import annotations

from drivers.plp_driver import PlpProbeDriver
from drivers.registry import FoundProbe, ProbeKind, ProbeOptions
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.patient import PatientRenderer
from drivers.transports import SerialTransport, UsbTransport
from scanner_app.probe import ProbeDriver


class SimProbes(ProbeKind):
    name = "sim"
    syntax = "sim"
    summary = "the simulated probe on a simulated USB bus (the default)"

    def make_driver(self, spec: str, options: ProbeOptions) -> ProbeDriver:
        from drivers.sim.usb_backend import SimUsbBackend

        renderer = PatientRenderer(processes=options.sim_processes)
        firmware = SimFirmware(renderer, events_on_interrupt=True)
        return PlpProbeDriver(UsbTransport(backend=SimUsbBackend(firmware)), device=firmware)

    def discover(self, options: ProbeOptions) -> list[FoundProbe]:
        return [FoundProbe("sim", "always there")]

    def matches(self, spec: str) -> bool:
        return spec == "sim"


class SimSerialProbes(ProbeKind):
    name = "sim-serial"
    syntax = "sim-serial"
    summary = "the simulated probe on a pseudo-terminal (the slow serial path)"

    def make_driver(self, spec: str, options: ProbeOptions) -> ProbeDriver:
        from drivers.sim.pty_link import SimSerialDevice

        # One process: at 128 x 256 and 2 frames/s a second one would cost more than it saves.
        device = SimSerialDevice(SimFirmware(PatientRenderer(), small_params(128, 256)), baud=921600)
        return PlpProbeDriver(SerialTransport(device.port, device.baud), device=device)

    def discover(self, options: ProbeOptions) -> list[FoundProbe]:
        return [FoundProbe("sim-serial", "always there")]

    def matches(self, spec: str) -> bool:
        return spec == "sim-serial"
