"""IgtlStreamServer: the live image as OpenIGTLink IMAGE messages (and the probe pose as a TRANSFORM)
for 3D Slicer's OpenIGTLinkIF or any OpenIGTLink client.

Off unless started; binds 127.0.0.1 unless given an address. It drains the ring on a thread of its own
and keeps a queue of two frames per client with a sender thread each: a slow client loses frames
(counted as its `dropped`), never slows acquisition or the other clients.
"""

from __future__ import annotations

import collections
import logging
import math
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyigtl

from scanner_app.frame import Frame, Matrix4
from scanner_app.ring import FrameRing

log = logging.getLogger(__name__)

DEFAULT_PORT = 18944
IMAGE_DEVICE = "Image"  # PLUS's and Slicer's usual name for the live ultrasound image
POSE_DEVICE = "ProbeToReference"
CLIENT_QUEUE_FRAMES = 2  # a client more than this behind loses the oldest
SEND_TIMEOUT_S = 5.0  # a client that takes no bytes for this long is dropped
POLL_S = 0.1  # how soon the threads notice stop()


def image_to_probe(frame: Frame) -> Matrix4:
    """Pixel (column i, row j) to the probe's mm: x across the array, y into the body, skin at y = 0."""
    lateral, axial = frame.spacing_mm[1], frame.spacing_mm[0]
    return (
        (lateral, 0.0, 0.0, -frame.width_mm / 2 + lateral / 2),  # centred on the array
        (0.0, axial, 0.0, axial / 2 - frame.depth_origin_mm),
        (0.0, 0.0, 1.0, 0.0),
        (0.0, 0.0, 0.0, 1.0),
    )


def sim_pose_matrix(pose: Mapping[str, float]) -> Matrix4:
    """The simulated probe's pose (position along the limb, lateral offset, rotation about the skin
    normal, tilt) as ProbeToReference: reference x lateral, y into the body, z along the limb."""
    rotation = math.radians(pose.get("rotation_deg", 0.0))
    tilt = math.radians(pose.get("tilt_deg", 0.0))
    about_normal = np.array(
        [[math.cos(rotation), 0, math.sin(rotation)], [0, 1, 0], [-math.sin(rotation), 0, math.cos(rotation)]]
    )
    about_array = np.array(
        [[1, 0, 0], [0, math.cos(tilt), -math.sin(tilt)], [0, math.sin(tilt), math.cos(tilt)]]
    )
    m = np.eye(4)
    m[:3, :3] = about_normal @ about_array
    m[:3, 3] = (pose.get("lateral_mm", 0.0), 0.0, pose.get("position_mm", 0.0))
    return tuple((float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in m)


def pack_frame(frame: Frame, pose: Matrix4 | None, timestamp_s: float) -> bytes:
    """One frame's messages: the pose TRANSFORM first (in force for the image), then the IMAGE."""
    data = b""
    if pose is None and frame.tracking is not None:
        pose = frame.tracking.transform(POSE_DEVICE)
    if pose is not None:
        data += pyigtl.TransformMessage(np.array(pose), timestamp=timestamp_s, device_name=POSE_DEVICE).pack()
    pixels = np.ascontiguousarray(frame.pixels, dtype=np.uint8)[None]  # (k, j, i): one slice
    image = pyigtl.ImageMessage(
        pixels, np.array(image_to_probe(frame)), timestamp=timestamp_s, device_name=IMAGE_DEVICE
    )
    packed: bytes = image.pack()
    return data + packed


@dataclass(frozen=True, slots=True)
class ClientStats:
    address: str
    sent: int
    dropped: int


class _Client:
    """One connected client: a two-frame queue and the thread that writes it to the socket."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock, self.address = sock, address
        self.sent = 0
        self.dropped = 0
        self.closed = False
        self._queue: collections.deque[bytes] = collections.deque()
        self._ready = threading.Condition()
        self.thread = threading.Thread(target=self._run, name=f"igtl-out {address}", daemon=True)

    def offer(self, data: bytes) -> None:
        with self._ready:
            if len(self._queue) >= CLIENT_QUEUE_FRAMES:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(data)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _run(self) -> None:
        try:
            while True:
                with self._ready:
                    self._ready.wait_for(lambda: self.closed or bool(self._queue), POLL_S)
                    if self.closed:
                        return
                    if not self._queue:
                        continue
                    data = self._queue.popleft()
                self.sock.sendall(data)
                self.sent += 1
        except OSError as exc:
            log.info("stream-out client %s gone: %s", self.address, exc)
        finally:
            self.closed = True
            self.sock.close()


class IgtlStreamServer:
    """Serves the ring's newest frames to every connected OpenIGTLink client until `stop()`."""

    def __init__(
        self,
        ring: FrameRing,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        pose_source: Callable[[], Matrix4 | None] | None = None,
    ) -> None:
        self._ring = ring
        self._pose_source = pose_source
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(POLL_S)
        self.host, self.port = self._listener.getsockname()[:2]
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.frames_packed = 0
        self.frames_skipped = 0  # newer frames came before an older one was packed: only the newest is sent
        self._threads = [
            threading.Thread(target=self._accept, name="igtl-out accept", daemon=True),
            threading.Thread(target=self._pump, name="igtl-out pump", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def clients(self) -> list[ClientStats]:
        with self._lock:
            return [ClientStats(c.address, c.sent, c.dropped) for c in self._clients]

    def dropped_total(self) -> int:
        with self._lock:
            return sum(c.dropped for c in self._clients)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._listener.close()
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
            client.thread.join(timeout=SEND_TIMEOUT_S + 1.0)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(SEND_TIMEOUT_S)
            client = _Client(sock, f"{address[0]}:{address[1]}")
            with self._lock:
                self._clients.append(client)
            client.thread.start()

    def _pump(self) -> None:
        cursor = self._ring.cursor()
        while not self._stop.is_set():
            if not self._ring.wait_for_frame_after(cursor.next_seq - 1, timeout_s=POLL_S):
                continue
            drained = cursor.drain()
            if not drained.frames:
                continue
            self.frames_skipped += len(drained.frames) - 1
            with self._lock:
                self._clients = [c for c in self._clients if not c.closed]
                clients = list(self._clients)
            if not clients:
                continue
            frame = drained.frames[-1].frame
            pose = self._pose_source() if self._pose_source is not None else None
            tracking = frame.tracking
            timestamp_s = (
                tracking.sender_time_s
                if tracking is not None and tracking.sender_time_s is not None
                else frame.device_time_us / 1e6
            )
            data = pack_frame(frame, pose, timestamp_s)
            self.frames_packed += 1
            for client in clients:
                client.offer(data)
