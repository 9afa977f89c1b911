"""Stream-out from the window (issue 19): the toolbar toggle starts and stops the OpenIGTLink server,
the status line shows its address and each client's dropped frames, and a port in use is refused in
the message line."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
from pytestqt.qtbot import QtBot

from scanner_app.ring import FrameRing
from tests.factories import make_frame
from tests.ui_support import open_window
from ui.stream_out_control import StreamOutControl


class FastPusher:
    """Pushes large frames into a ring from a thread of its own, faster than a client that reads
    nothing can take them."""

    def __init__(self, ring: FrameRing) -> None:
        self.ring = ring
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        seq = 0
        while not self.stop.wait(0.003):
            self.ring.push(make_frame(seq, pixels=np.full((256, 256), seq % 256, dtype=np.uint8)))
            seq += 1

    def join(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_toggle_serves_and_shows_each_clients_dropped_frames(qtbot: QtBot, tmp_path: Path) -> None:
    window = open_window(qtbot, tmp_path, start=False)
    ring = FrameRing(capacity_frames=64, slot_bytes=256 * 256)
    control = StreamOutControl(ring, port=0)
    control.attach(window)
    action = window.actions_by_name["stream_out"]
    pusher = FastPusher(ring)
    slow: socket.socket | None = None
    try:
        assert not action.isChecked() and control.label.text() == ""
        action.trigger()
        assert action.isChecked() and control.server is not None
        port = control.server.port
        qtbot.waitUntil(lambda: f"127.0.0.1:{port} · no client" in control.label.text(), timeout=3000)
        slow = socket.create_connection(("127.0.0.1", port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it reads nothing
        qtbot.waitUntil(lambda: "1 client, dropped" in control.label.text(), timeout=5000)
        # Its counter grows while it reads nothing: the server drops frames for it, counted.
        qtbot.waitUntil(lambda: int(control.label.text().rsplit("dropped ", 1)[1]) > 0, timeout=20000)
        assert "dropped" in control.label.toolTip() and "sent" in control.label.toolTip()
        action.trigger()
        assert not action.isChecked() and control.server is None and control.label.text() == ""
        assert "Stream-out stopped" in window.message_label.text()
        assert refused(port)
    finally:
        pusher.join()
        if slow is not None:
            slow.close()
        control.stop()
        window.close()


def test_a_port_in_use_is_refused_and_the_toggle_stays_off(qtbot: QtBot, tmp_path: Path) -> None:
    window = open_window(qtbot, tmp_path, start=False)
    taken = socket.create_server(("127.0.0.1", 0))
    control = StreamOutControl(FrameRing(8, 64 * 48), port=taken.getsockname()[1])
    control.attach(window)
    try:
        window.actions_by_name["stream_out"].trigger()
        assert control.server is None and not window.actions_by_name["stream_out"].isChecked()
        assert "Stream-out not started" in window.message_label.text()
    finally:
        taken.close()
        window.close()


def test_a_server_started_on_the_command_line_is_shown_on_and_stopped_by_the_window(
    qtbot: QtBot, tmp_path: Path
) -> None:
    from scanner_app.stream_out import IgtlStreamServer

    window = open_window(qtbot, tmp_path, start=False)
    ring = FrameRing(8, 64 * 48)
    server = IgtlStreamServer(ring, port=0)
    control = StreamOutControl(ring, server=server)
    control.attach(window)
    assert window.actions_by_name["stream_out"].isChecked()
    assert f"127.0.0.1:{server.port}" in control.label.text()
    window.close()  # finishing: the window stops it
    assert control.server is None and refused(server.port)
