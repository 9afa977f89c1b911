"""DirectSimProbe: the simulated probe as a transport-less driver, paced by deadlines on an injectable clock.

Used where the byte path does not matter: core tests, benchmarks, and trainees' renderers. The
simulated probe behind real transports (USB backend, pseudo-terminal) is `drivers/sim/firmware`.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

from drivers.base import BaseProbeDriver
from drivers.sim.renderer import FrameRenderer, SpeckleLayersRenderer
from drivers.sim.settings import SimSettings, sim_descriptor
from scanner_app.frame import BeamGeometry, DataFormat, Frame, Geometry, ImagingSettings
from scanner_app.probe import (
    ProbeDescriptor,
    ProbeDisconnected,
    ProbeEvent,
    ProbeEventKind,
    ProbeNotFound,
    SettingKey,
)


class DirectSimProbe(BaseProbeDriver):
    """A simulated probe that renders frames on its own deadlines (`next_t += period`).

    `clock` returns seconds (monotonic); with `paced=False` frames come as fast as they render, for
    tests and throughput benchmarks.
    """

    def __init__(
        self,
        renderer: FrameRenderer | None = None,
        settings: SimSettings | None = None,
        *,
        paced: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("simulated probe (direct)")
        self._renderer = renderer or SpeckleLayersRenderer()
        self.sim_settings = settings or SimSettings()
        self._paced = paced
        self._clock = clock
        self._next_deadline = 0.0
        self._t0 = 0.0
        self._seq = 0
        self._events: collections.deque[ProbeEvent] = collections.deque()
        self._wake = threading.Event()
        self.unplugged = threading.Event()  # the cable, for tests and demos: set() pulls it

    def unplug(self) -> None:
        """Pull the cable: reads raise ProbeDisconnected and connecting fails until replug()."""
        self.unplugged.set()
        self._wake.set()

    def replug(self) -> None:
        self.unplugged.clear()

    def press_button(self, kind: ProbeEventKind) -> None:
        """Simulate a button on the probe (freeze or save); callable from any thread."""
        self._events.append(ProbeEvent(kind))

    def _do_connect(self) -> ProbeDescriptor:
        if self.unplugged.is_set():
            raise ProbeNotFound("simulated probe unplugged")
        return sim_descriptor(self.sim_settings.params.geometry)

    def _do_start(self) -> None:
        self._seq = 0
        self._t0 = self._clock()
        self._next_deadline = self._t0

    def _do_stop(self) -> None:
        pass

    def _do_close(self) -> None:
        pass

    def _do_interrupt(self) -> None:
        self._wake.set()

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        if self.unplugged.is_set():
            raise ProbeDisconnected("simulated probe unplugged mid-stream")
        if self._paced:
            wait_s = self._next_deadline - self._clock()
            if wait_s > timeout_s:
                self._wake.wait(timeout_s)
                self._wake.clear()
                return None
            if wait_s > 0 and self._wake.wait(wait_s):
                self._wake.clear()
                return None
        acquired_at = self._next_deadline if self._paced else self._clock()
        self._next_deadline += 1.0 / self.sim_settings.frame_rate_hz
        if self._next_deadline < self._clock() - 1.0:
            self._next_deadline = self._clock()  # fell far behind (debugger, suspend): don't burst
        params = self.sim_settings.params
        rendered = self._renderer.render(params, acquired_at - self._t0)
        device_time_us = int(acquired_at * 1e6)
        stamp = getattr(self._renderer, "stamp", None)  # a virtual patient keeps each frame's pose
        if callable(stamp):
            stamp(device_time_us)
        descriptor = self._descriptor
        assert descriptor is not None
        pixels = rendered.pixels
        rows, cols = pixels.shape[:2]
        # Beam data carries its geometry as the PLP driver reads it from a frame header (spec 6), so
        # processing treats frames from this probe and from the firmware alike.
        beam_data = params.data_format != DataFormat.BMODE_U8
        convex = params.geometry == Geometry.CONVEX
        if beam_data and convex:
            lateral_mm = rendered.radius_mm * math.radians(rendered.fov_deg) / cols
        else:
            lateral_mm = rendered.width_mm / cols
        beam = BeamGeometry(
            geometry=params.geometry,
            width_mm=0.0 if beam_data and convex else rendered.width_mm,
            field_of_view_deg=rendered.fov_deg if beam_data and convex else 0.0,
            radius_mm=rendered.radius_mm if convex else 0.0,
            sampling_mhz=rendered.sampling_mhz if params.data_format == DataFormat.RF_I16 else 0.0,
        )
        frame = Frame(
            seq=self._seq,
            device_time_us=device_time_us,
            host_time_ns=time.monotonic_ns(),
            pixels=pixels,
            spacing_mm=(rendered.depth_mm / rows, lateral_mm),
            data_format=params.data_format,
            settings=ImagingSettings(
                depth_mm=params.depth_mm,
                gain_db=params.gain_db,
                frequency_mhz=params.frequency_mhz,
                focus_mm=params.focus_mm,
                dynamic_range_db=params.dynamic_range_db
                if params.data_format == DataFormat.BMODE_U8
                else 0.0,
                settings_id=self.sim_settings.settings_id,
            ),
            probe=descriptor.identity,
            beam=beam,
        )
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        self._counts["frames"] += 1
        return frame

    def _do_set(self, key: SettingKey, value: float) -> float:
        return self.sim_settings.set(key, value)

    def _do_get(self, key: SettingKey) -> float:
        return self.sim_settings.get(key)

    def _do_poll_events(self) -> list[ProbeEvent]:
        out: list[ProbeEvent] = []
        while self._events:
            out.append(self._events.popleft())
        return out
