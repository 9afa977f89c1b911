"""A probe behind a transport, in the test process: answers commands and streams what a test gives it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from drivers.plp_codec import (
    Opcode,
    PacketParser,
    ReplyStatus,
    decode_command,
    decode_set_args,
    encode_reply,
    f32,
)
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.settings import sim_descriptor
from scanner_app.engine import AcquisitionEngine, EngineState
from scanner_app.ring import FrameRing


class LoopbackProbe:
    """A transport with a probe behind it: answers HELLO, START, STOP, SET, GET and PING, then streams
    `frames` after START. SET and GET answer `readback` when given, else the value asked for."""

    hello_timeout_s = 0.2
    hello_attempts = 2
    name = "loopback probe"

    def __init__(self, frames: Sequence[bytes] = (), descriptor: bytes | None = None) -> None:
        self.frames = list(frames)
        self.descriptor = descriptor or json.dumps(sim_descriptor().to_json_dict()).encode()
        self.readback: float | None = None
        self.statuses: list[bytes] = []
        self.now = 0.0
        self._parser = PacketParser()
        self._inbox = bytearray()

    def clock(self) -> float:
        return self.now

    def clock_ns(self) -> int:
        return int(self.now * 1e9)

    def open(self) -> None:
        self._inbox.clear()

    def close(self) -> None:
        pass

    def reset_stream(self) -> None:
        self._inbox.clear()

    def discard_input(self) -> None:
        self._inbox.clear()

    def read_events(self) -> bytes:
        return b""

    def write(self, data: bytes) -> None:
        for packet in self._parser.feed(data):
            opcode, args = decode_command(packet.payload)
            answer = b""
            if opcode == Opcode.HELLO:
                answer = self.descriptor
            elif opcode == Opcode.SET:
                _key, value = decode_set_args(args)
                answer = f32(value if self.readback is None else self.readback)
            elif opcode == Opcode.GET:
                answer = f32(1.0 if self.readback is None else self.readback)
            self._inbox += encode_reply(packet.seq, opcode, ReplyStatus.OK, answer)
            if opcode == Opcode.START:
                self._inbox += b"".join(self.frames) + b"".join(self.statuses)

    def read(self, timeout_s: float) -> bytes:
        if not self._inbox:
            self.now += timeout_s
            return b""
        data = bytes(self._inbox[:4096])
        del self._inbox[:4096]
        return data


def streaming_engine(probe: LoopbackProbe) -> tuple[AcquisitionEngine, PlpProbeDriver]:
    driver = PlpProbeDriver(probe, clock=probe.clock)
    engine = AcquisitionEngine(driver, FrameRing(8, 64 * 1024), clock_ns=probe.clock_ns)
    engine.step()
    assert engine.state == EngineState.STREAMING, engine.reason
    return engine, driver
