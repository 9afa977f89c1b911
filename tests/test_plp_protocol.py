"""PLP driver byte tables: every command and error path as bytes sent and bytes answered (no mock.patch).

`ScriptedTransport` replays a table of (expected bytes from the host, bytes the probe answers); a
host write that differs, or table rows left over at the end, fail the test. Time is a fake clock
that a read with nothing to give advances by its timeout, so reply timeouts cost no wall time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from drivers.plp_codec import (
    FrameHeader,
    Opcode,
    PacketKind,
    ReplyStatus,
    encode_command,
    encode_event,
    encode_frame_payload,
    encode_packet,
    encode_reply,
    f32,
    set_args,
)
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.settings import sim_descriptor
from scanner_app.frame import DataFormat, Geometry
from scanner_app.probe import (
    LinkFault,
    ProbeDisconnected,
    ProbeError,
    ProbeEventKind,
    ProbeNotFound,
    ProbeRefused,
    SettingKey,
)

DESCRIPTOR = json.dumps(sim_descriptor().to_json_dict()).encode()
SILENCE = None  # a row that answers nothing: the probe lost the command


class ScriptedTransport:
    """A transport that checks each host write against a table and plays back the probe's answer."""

    hello_timeout_s = 0.2
    hello_attempts = 2

    def __init__(self, table: list[tuple[bytes, bytes | None]], unsolicited: bytes = b"") -> None:
        self.table = list(table)
        self._inbox = bytearray(unsolicited)
        self.now = 0.0
        self.opened = self.closed = self.resets = 0
        self.disconnect_on_read = False

    name = "scripted probe"

    def clock(self) -> float:
        return self.now

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def reset_stream(self) -> None:
        self.resets += 1

    def discard_input(self) -> None:
        self._inbox.clear()

    def push(self, data: bytes) -> None:
        self._inbox += data

    def write(self, data: bytes) -> None:
        assert self.table, f"unexpected write {data.hex()}"
        expected, answer = self.table.pop(0)
        assert data == expected, f"host sent {data.hex()}, table expects {expected.hex()}"
        if answer is not None:
            self._inbox += answer

    def read(self, timeout_s: float) -> bytes:
        if self.disconnect_on_read:
            raise ProbeDisconnected("scripted probe unplugged")
        if not self._inbox:
            self.now += timeout_s
            return b""
        data = bytes(self._inbox[:50])  # in small pieces: packets span reads
        del self._inbox[:50]
        return data

    def read_events(self) -> bytes:
        return b""


@contextmanager
def protocol(
    table: list[tuple[bytes, bytes | None]], unsolicited: bytes = b""
) -> Iterator[tuple[PlpProbeDriver, ScriptedTransport]]:
    transport = ScriptedTransport(table, unsolicited)
    driver = PlpProbeDriver(transport, clock=transport.clock)
    yield driver, transport
    assert not transport.table, f"{len(transport.table)} table rows never sent"


def cmd(seq: int, opcode: int, args: bytes = b"") -> bytes:
    return encode_command(seq, opcode, args)


def ok(seq: int, opcode: int, data: bytes = b"", status: int = ReplyStatus.OK, version: int = 1) -> bytes:
    return encode_reply(seq, opcode, status, data, version=version)


HELLO = (cmd(1, Opcode.HELLO, b"\x01"), ok(1, Opcode.HELLO, DESCRIPTOR))


def frame(seq: int, rows: int = 4, cols: int = 2) -> bytes:
    header = FrameHeader(
        1, 0, rows, cols, 3, 40.0, 20.0, frequency_mhz=10.0, gain_db=6.0, focus_mm=15.0, dynamic_range_db=60.0
    )
    return encode_packet(
        PacketKind.FRAME, seq, 5000 + seq, encode_frame_payload(header, np.full((rows, cols), seq, np.uint8))
    )


def test_hello_gives_the_descriptor_after_reset() -> None:
    with protocol([HELLO]) as (driver, t):
        d = driver.connect()
    assert d.protocol == 1 and d.model == "SimProbe L12-5" and d.buttons == ("freeze", "save")
    assert t.opened == 1 and t.resets == 1


def test_hello_from_another_protocol_version_is_refused_naming_both() -> None:
    descriptor = json.dumps({**json.loads(DESCRIPTOR), "protocol": 2}).encode()
    with (
        protocol([(cmd(1, Opcode.HELLO, b"\x01"), ok(1, Opcode.HELLO, descriptor, version=2))]) as (
            driver,
            _,
        ),
        pytest.raises(ProbeRefused, match=r"PLP/2.*PLP/1"),
    ):
        driver.connect()


def test_hello_unanswered_twice_means_no_probe() -> None:
    hello = cmd(1, Opcode.HELLO, b"\x01")
    with (
        protocol([(hello, SILENCE), (hello, SILENCE)]) as (driver, _),
        pytest.raises(ProbeNotFound, match="no PLP/1 probe answered"),
    ):
        driver.connect()


def test_hello_with_unreadable_descriptor_is_refused() -> None:
    table = [(cmd(1, Opcode.HELLO, b"\x01"), ok(1, Opcode.HELLO, b"not json"))]
    with protocol(table) as (driver, _), pytest.raises(ProbeRefused, match="descriptor"):
        driver.connect()


def test_set_returns_the_clamped_readback_and_keeps_setpoint_apart() -> None:
    table = [HELLO, (cmd(2, Opcode.SET, set_args(SettingKey.DEPTH_MM, 500.0)), ok(2, Opcode.SET, f32(80.0)))]
    with protocol(table) as (driver, _):
        driver.connect()
        assert driver.set_setting(SettingKey.DEPTH_MM, 500.0) == 80.0
    assert driver.setpoints[SettingKey.DEPTH_MM] == 500.0
    assert driver.applied_settings[SettingKey.DEPTH_MM] == 80.0


def test_set_bad_argument_is_a_probe_error() -> None:
    table = [
        HELLO,
        (cmd(2, Opcode.SET, set_args(15, 1e9)), ok(2, Opcode.SET, status=ReplyStatus.BAD_ARGUMENT)),
    ]
    with protocol(table) as (driver, _):
        driver.connect()
        with pytest.raises(ProbeError, match="BAD_ARGUMENT"):
            driver.set_setting(SettingKey.TGC_7, 1e9)


def test_get_and_ping() -> None:
    table = [
        HELLO,
        (cmd(2, Opcode.GET, b"\x02"), ok(2, Opcode.GET, f32(6.5))),
        (cmd(3, Opcode.PING), ok(3, Opcode.PING)),
    ]
    with protocol(table) as (driver, _):
        driver.connect()
        assert driver.get_setting(SettingKey.GAIN_DB) == 6.5
        driver.ping()


def test_lost_reply_is_retried_once_with_the_same_seq() -> None:
    ping = cmd(2, Opcode.PING)
    with protocol([HELLO, (ping, SILENCE), (ping, ok(2, Opcode.PING))]) as (driver, _t):
        driver.connect()
        driver.ping()
    assert driver.counters()["link_faults"] == 0


def test_two_lost_replies_are_a_link_fault() -> None:
    ping = cmd(2, Opcode.PING)
    with protocol([HELLO, (ping, SILENCE), (ping, SILENCE)]) as (driver, t):
        driver.connect()
        with pytest.raises(LinkFault, match="no reply to PING within 200 ms"):
            driver.ping()
    assert driver.counters()["link_faults"] == 1
    assert t.now == pytest.approx(0.4)


def test_late_reply_to_an_earlier_command_is_ignored() -> None:
    table = [HELLO, (cmd(2, Opcode.PING), ok(1, Opcode.HELLO, DESCRIPTOR) + ok(2, Opcode.PING))]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.ping()
    assert driver.counters()["stale_replies"] == 1


def test_unknown_opcode_reply() -> None:
    table = [HELLO, (cmd(2, 0x99, b"x"), ok(2, 0x99, status=ReplyStatus.UNKNOWN_OPCODE))]
    with protocol(table) as (driver, _):
        driver.connect()
        assert driver.send_command(0x99, b"x") == (ReplyStatus.UNKNOWN_OPCODE, b"")


def test_start_frames_stop() -> None:
    table = [
        HELLO,
        (cmd(2, Opcode.START), ok(2, Opcode.START) + frame(0) + frame(1) + frame(3)),
        (cmd(3, Opcode.STOP), frame(4) + ok(3, Opcode.STOP)),
    ]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.start()
        got = [driver.read_frame(0.1) for _ in range(3)]
        assert [f.seq for f in got if f] == [0, 1, 3]
        f = got[0]
        assert f is not None and f.pixels.shape == (4, 2) and f.spacing_mm == (10.0, 10.0)
        assert f.settings.gain_db == 6.0 and f.settings.settings_id == 3 and f.device_time_us == 5000
        assert f.data_format == DataFormat.BMODE_U8 and f.beam.geometry == Geometry.LINEAR
        assert f.probe.model == "SimProbe L12-5"
        driver.stop()
    counts = driver.counters()
    assert counts["frames"] == 3 and counts["frames_dropped"] == 1


def test_frames_before_start_reply_are_not_counted() -> None:
    table = [HELLO, (cmd(2, Opcode.START), frame(7) + ok(2, Opcode.START) + frame(0))]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.start()
        f = driver.read_frame(0.1)
    assert f is not None and f.seq == 0 and driver.counters()["frames_dropped"] == 0


def test_read_frame_times_out_with_none() -> None:
    with protocol([HELLO, (cmd(2, Opcode.START), ok(2, Opcode.START))]) as (driver, t):
        driver.connect()
        driver.start()
        assert driver.read_frame(0.1) is None
    assert t.now == pytest.approx(0.1)


def test_events_and_status_reach_poll_events() -> None:
    status = encode_packet(PacketKind.STATUS, 0, 0, b'{"temperature_c": 33.5, "tx_dropped": 2}')
    table = [
        HELLO,
        (cmd(2, Opcode.PING), encode_event(0, ProbeEventKind.BUTTON_SAVE) + status + ok(2, Opcode.PING)),
    ]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.ping()
        events = driver.poll_events()
    assert events[0].kind == ProbeEventKind.BUTTON_SAVE
    assert events[1].kind is None and events[1].status == {"temperature_c": 33.5, "tx_dropped": 2}


def test_unknown_packet_kind_is_skipped_and_counted() -> None:
    table = [HELLO, (cmd(2, Opcode.PING), encode_packet(0x42, 0, 0, b"new") + ok(2, Opcode.PING))]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.ping()
    assert driver.counters()["unknown_packets"] == 1


def test_unplug_while_reading_is_probe_disconnected() -> None:
    with protocol([HELLO, (cmd(2, Opcode.START), ok(2, Opcode.START))]) as (driver, t):
        driver.connect()
        driver.start()
        t.disconnect_on_read = True
        with pytest.raises(ProbeDisconnected):
            driver.read_frame(0.1)
