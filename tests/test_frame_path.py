"""The frame path's copies (issue 16): frame payloads are views of a handed-over read buffer, a reused
buffer is never one a frame still views, and interrupt-endpoint events come without a polling wait."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from drivers.plp_codec import (
    FrameHeader,
    PacketKind,
    PacketParser,
    decode_frame_payload,
    encode_frame_payload,
    encode_packet,
)
from drivers.plp_driver import MAX_PENDING_FRAMES, PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from scanner_app.probe import ProbeEventKind
from tests.loopback_probe import LoopbackProbe


def frame_packet(seq: int, rows: int = 64, cols: int = 48) -> tuple[bytes, np.ndarray]:
    data = np.random.default_rng(seq).integers(0, 256, (rows, cols), dtype=np.uint8)
    header = FrameHeader(1, 0, rows, cols, 0, 40.0, 38.0, frequency_mhz=10.0)
    return encode_packet(PacketKind.FRAME, seq, 0, encode_frame_payload(header, data)), data


def test_a_handed_over_buffer_is_viewed_not_copied() -> None:
    packet, data = frame_packet(1)
    buf = bytearray(packet * 2)
    (p1, _p2) = PacketParser().feed(buf, owned=True)
    _, pixels = decode_frame_payload(p1.payload)
    assert np.array_equal(pixels, data)
    assert isinstance(p1.payload, memoryview) and p1.payload.readonly
    assert np.shares_memory(np.frombuffer(buf, np.uint8), pixels)  # in place: no copy was made


def test_a_buffer_not_handed_over_is_copied_so_its_reuse_changes_nothing() -> None:
    packet, data = frame_packet(2)
    buf = bytearray(packet)
    (p,) = PacketParser().feed(buf)
    buf[:] = bytes(len(buf))  # the caller reuses its buffer
    assert np.array_equal(decode_frame_payload(p.payload)[1], data)


def test_a_packet_split_across_reads_is_whole_and_counted_once() -> None:
    packets = [frame_packet(seq) for seq in range(3)]
    stream = b"".join(p for p, _ in packets)
    parser = PacketParser(count_frame_gaps=True)
    got = []
    cut = len(packets[0][0]) + 100  # the second packet split
    for piece in (stream[:cut], stream[cut : cut + 7], stream[cut + 7 :]):
        got += parser.feed(bytearray(piece), owned=True)
    assert [p.seq for p in got] == [0, 1, 2]
    for p, (_, data) in zip(got, packets, strict=True):
        assert np.array_equal(decode_frame_payload(p.payload)[1], data)
    assert parser.counts["packets"] == 3 and parser.counts["bytes_discarded"] == 0
    assert parser.buffered == 0


def test_usb_reads_never_reuse_a_buffer_a_frame_still_views() -> None:
    fw = SimFirmware(params=small_params(32, 32), frame_rate_hz=500.0)
    transport = UsbTransport(backend=SimUsbBackend(fw), read_bytes=4096)
    driver = PlpProbeDriver(transport, device=fw)
    driver.connect()
    driver.start()
    try:
        kept = []
        deadline = time.monotonic() + 10.0
        while len(kept) < 40 and time.monotonic() < deadline:
            kept += driver.read_frames(0.5)
        copies = [f.pixels.copy() for f in kept]
        more = []
        while len(more) < 40 and time.monotonic() < deadline:
            more += driver.read_frames(0.5)  # later reads must go to other buffers
        assert len(kept) >= 40 and len(more) >= 40
        assert all(np.array_equal(f.pixels, c) for f, c in zip(kept, copies, strict=True))
        assert not any(np.shares_memory(a.pixels, b.pixels) for a in kept for b in more)
    finally:
        driver.close()


class ThreadNotingBackend(SimUsbBackend):
    """The simulated bus, noting which threads read the interrupt endpoint."""

    def __init__(self, firmware: SimFirmware) -> None:
        super().__init__(firmware)
        self.interrupt_readers: set[str] = set()

    def intr_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        self.interrupt_readers.add(threading.current_thread().name)
        return super().intr_read(dev_handle, ep, intf, buff, timeout)


def test_interrupt_events_arrive_without_a_transfer_on_the_polling_thread() -> None:
    fw = SimFirmware(params=small_params(16, 16), frame_rate_hz=30.0, events_on_interrupt=True)
    backend = ThreadNotingBackend(fw)
    driver = PlpProbeDriver(UsbTransport(backend=backend), device=fw)
    driver.connect()
    try:
        for _ in range(20):
            assert driver.poll_events() == []
        fw.press_button(ProbeEventKind.BUTTON_FREEZE)
        deadline = time.monotonic() + 5.0
        events = []
        while not events and time.monotonic() < deadline:
            events = driver.poll_events()  # the reader thread queues it; the deadline bounds the loop
        assert [e.kind for e in events] == [ProbeEventKind.BUTTON_FREEZE]
        # Polling never waited on a transfer: only the transport's own reader thread read the endpoint.
        assert backend.interrupt_readers and threading.current_thread().name not in backend.interrupt_readers
    finally:
        driver.close()


class BigReadsProbe(LoopbackProbe):
    """A loopback probe whose every read hands over all it holds (a large USB transfer), counting reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, timeout_s: float) -> bytes:
        self.reads += 1
        if not self._inbox:
            self.now += timeout_s
            return b""
        data = bytes(self._inbox)
        self._inbox.clear()
        return data


def test_read_frames_hands_out_every_frame_one_read_brings() -> None:
    probe = BigReadsProbe()
    driver = PlpProbeDriver(probe, clock=probe.clock)
    driver.connect()
    driver.start()
    probe._inbox += b"".join(frame_packet(seq)[0] for seq in range(3 * MAX_PENDING_FRAMES))
    frames = driver.read_frames(0.1)
    assert [f.seq for f in frames] == list(range(3 * MAX_PENDING_FRAMES))
    assert driver.counters()["frames_overrun"] == 0
    driver.close()


def test_read_frames_does_not_ask_an_empty_link_again() -> None:
    probe = BigReadsProbe()
    driver = PlpProbeDriver(probe, clock=probe.clock)
    driver.connect()
    driver.start()
    packets = [frame_packet(seq)[0] for seq in range(3)]
    probe._inbox += b"".join(packets)
    reads = probe.reads
    assert [f.seq for f in driver.read_frames(0.1)] == [0, 1, 2]
    assert probe.reads == reads + 1  # the read ended on a packet boundary: nothing more to wait for
    driver.close()
