"""An independent OpenIGTLink peer for the tests, run in its own process: pyigtl's own server.

`python tests/igtl_peer.py PORT [--frames N] [--rate HZ] [--faults]` serves IMAGE messages of device
`Image_Reference` (0.2 mm rows, 0.1 mm columns, sender time 1000 s + 0.05 s per frame) with a
`ProbeToReference` TRANSFORM before each (x translation = frame index); `--faults` first sends a STRING,
a truncated IMAGE and an IMAGE with a wrong CRC. It prints "listening" once the port is open, and
serves until killed (after N frames it only idles).
"""

from __future__ import annotations

import argparse
import sys
import threading

import numpy as np
import pyigtl

ROWS, COLS = 48, 64
AXIAL_MM, LATERAL_MM = 0.2, 0.1
DEVICE = "Image_Reference"
SENDER_T0_S = 1000.0
SENDER_PERIOD_S = 0.05


def image_matrix() -> np.ndarray:
    """i (columns) along x at 0.1 mm, j (rows) along y at 0.2 mm, origin (10, 20, 30) mm."""
    m = np.eye(4)
    m[:3, 0] = (LATERAL_MM, 0.0, 0.0)
    m[:3, 1] = (0.0, AXIAL_MM, 0.0)
    m[:3, 3] = (10.0, 20.0, 30.0)
    return m


def frame_pixels(index: int) -> np.ndarray:
    pixels = np.zeros((1, ROWS, COLS), dtype=np.uint8)  # (k, j, i): one slice
    pixels[0, :, :] = np.arange(COLS, dtype=np.uint8)[None, :]
    pixels[0, 0, 0] = index % 256  # which frame this is
    return pixels


class _RawMessage(pyigtl.MessageBase):
    """A message whose bytes the peer chooses, to send what a broken server would."""

    def __init__(self, data: bytes) -> None:
        super().__init__(device_name=DEVICE)
        self._data = data
        self._valid_message = True

    def pack(self) -> bytes:
        return self._data


def faulty_messages() -> list[pyigtl.MessageBase]:
    string = pyigtl.StringMessage("hello", device_name="Text")
    truncated = pyigtl.ImageMessage(frame_pixels(0), image_matrix(), device_name=DEVICE)
    truncated._pack_content = lambda: b"\x00\x01\x01"  # type: ignore[method-assign]  # a body too short
    bad_crc = bytearray(pyigtl.ImageMessage(frame_pixels(0), image_matrix(), device_name=DEVICE).pack())
    bad_crc[-1] ^= 0xFF
    return [string, truncated, _RawMessage(bytes(bad_crc))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--faults", action="store_true")
    args = parser.parse_args()
    server = pyigtl.OpenIGTLinkServer(port=args.port, local_server=True)
    print("listening", flush=True)
    if args.faults:
        for message in faulty_messages():
            server.send_message(message, wait=True)  # waits for a client
    tick = threading.Event()
    for index in range(args.frames):
        pose = np.eye(4)
        pose[0, 3] = float(index)
        timestamp = SENDER_T0_S + index * SENDER_PERIOD_S
        server.send_message(
            pyigtl.TransformMessage(pose, timestamp=timestamp, device_name="ProbeToReference"), wait=False
        )
        image = pyigtl.ImageMessage(
            frame_pixels(index), image_matrix(), timestamp=timestamp, device_name=DEVICE
        )
        server.send_message(image, wait=True)
        tick.wait(1.0 / args.rate)
    threading.Event().wait()  # idle until killed
    return 0


if __name__ == "__main__":
    sys.exit(main())
