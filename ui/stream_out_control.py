"""StreamOutControl: the OpenIGTLink stream-out (for 3D Slicer) switched on and off from the window,
with the address it serves and each client's dropped frames in the status line."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, QTimer
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QLabel

from scanner_app.frame import Matrix4
from scanner_app.ring import FrameRing
from scanner_app.stream_out import DEFAULT_PORT, ClientStats, IgtlStreamServer
from ui.window_api import ScannerWindow

STATUS_MS = 500


def status_text(address: str, clients: list[ClientStats]) -> str:
    """'IGTL out 127.0.0.1:18944 · 2 clients, dropped 0 / 37': the address and each client's drops."""
    if not clients:
        return f"IGTL out {address} · no client"
    dropped = " / ".join(str(c.dropped) for c in clients)
    noun = "client" if len(clients) == 1 else "clients"
    return f"IGTL out {address} · {len(clients)} {noun}, dropped {dropped}"


class StreamOutControl(QObject):
    """One stream-out server at a time on the engine's ring, started and stopped by a toolbar toggle.

    A server already started from the command line (`--stream-out`) is handed in as `server`: the
    toggle then shows it on and stops it like its own.
    """

    def __init__(
        self,
        ring: FrameRing,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        pose_source: Callable[[], Matrix4 | None] | None = None,
        server: IgtlStreamServer | None = None,
    ) -> None:
        super().__init__()
        self.ring, self.host, self.port, self.pose_source = ring, host, port, pose_source
        self.server = server
        self.label = QLabel("")
        self.label.hide()  # an empty item would still take its place (and spacing) in the status line
        self.timer = QTimer(self)
        self.timer.setInterval(STATUS_MS)
        self.timer.timeout.connect(self.show_status)
        self.action: QAction | None = None
        self.window: ScannerWindow | None = None

    def attach(self, window: ScannerWindow) -> None:
        self.window = window
        self.action = window.add_action(
            "stream_out", ["Ctrl+Shift+I"],
            "Start / stop serving the live image over OpenIGTLink (3D Slicer's OpenIGTLinkIF)",
            self.toggle, "IGTL out",
        )  # fmt: skip
        self.action.setCheckable(True)
        window.add_status_widget(self.label)
        window.finishing.connect(self.stop)
        self._show_running()

    @property
    def running(self) -> bool:
        return self.server is not None

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        if self.server is None:
            try:
                self.server = IgtlStreamServer(self.ring, self.host, self.port, pose_source=self.pose_source)
            except OSError as exc:
                self._say(f"Stream-out not started on {self.host}:{self.port}: {exc.strerror or exc}", True)
        self._show_running()

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            dropped = server.dropped_total()  # the clients connected now; stop() forgets them
            server.stop()
            self._say(f"Stream-out stopped ({dropped} frames dropped for slow clients)")
        self._show_running()

    def show_status(self) -> None:
        server = self.server
        if server is None:
            return
        clients = server.clients()
        self.label.setText(status_text(f"{server.host}:{server.port}", clients))
        self.label.setToolTip(
            "\n".join(f"{c.address}: {c.sent} sent, {c.dropped} dropped" for c in clients) or "No client"
        )

    def _show_running(self) -> None:
        running = self.running
        if self.action is not None:
            self.action.setChecked(running)
        self.label.setVisible(running)
        if running:
            self.timer.start()
            self.show_status()
        else:
            self.timer.stop()
            self.label.setText("")
            self.label.setToolTip("")

    def _say(self, text: str, error: bool = False) -> None:
        if self.window is not None:
            self.window.show_message(text, error)
