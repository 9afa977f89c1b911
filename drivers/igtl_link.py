"""OpenIGTLink messages over a TCP socket: pyigtl encodes and decodes them; this module frames them.

pyigtl's own client and server keep only the newest message per device, poll with sleeps and share one
send queue between all clients; the app needs every frame, counted errors and one queue per client,
so it uses pyigtl's message classes (header, CRC, IMAGE, TRANSFORM) over sockets of its own.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pyigtl

HEADER_SIZE = pyigtl.MessageBase.IGTL_HEADER_SIZE  # 58 bytes (OpenIGTLink v1/v2 header)
MAX_BODY_BYTES = 256 * 1024 * 1024  # larger than any 2-D frame; beyond it the stream is not OpenIGTLink
_CRC_OFFSET = HEADER_SIZE - 8


class StreamCorrupt(Exception):
    """The byte stream cannot be OpenIGTLink (an impossible body size): only a reconnect resyncs it."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One whole message as it came off the wire, CRC checked, not yet decoded."""

    message_type: str
    device_name: str
    timestamp_s: float
    header: dict[str, Any]
    body: bytes
    crc_ok: bool

    def decode(self) -> Any:
        """The pyigtl message, or None for a type pyigtl does not know; raises on a malformed body."""
        message = pyigtl.MessageBase.create_message(self.message_type)
        if message is None:
            return None
        message.unpack(self.header, self.body)
        return message


class MessageSplitter:
    """Cuts a TCP byte stream into whole OpenIGTLink messages; keeps a partial one for the next feed."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[RawMessage]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= HEADER_SIZE:
            header_bytes = bytes(self._buffer[:HEADER_SIZE])
            try:
                header = pyigtl.MessageBase.parse_header(header_bytes)
            except (struct.error, UnicodeDecodeError) as exc:
                raise StreamCorrupt(f"unreadable OpenIGTLink header: {exc}") from exc
            body_size = int(header["body_size"])
            if body_size > MAX_BODY_BYTES:
                raise StreamCorrupt(f"OpenIGTLink body of {body_size} bytes: not a message")
            if len(self._buffer) < HEADER_SIZE + body_size:
                break
            body = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + body_size])
            del self._buffer[: HEADER_SIZE + body_size]
            (crc,) = struct.unpack(">Q", header_bytes[_CRC_OFFSET:])
            messages.append(
                RawMessage(
                    message_type=str(header["message_type"]),
                    device_name=str(header["device_name"]),
                    timestamp_s=float(header["timestamp"]),
                    header=header,
                    body=body,
                    crc_ok=crc == pyigtl.messages.CRC64(body),
                )
            )
        return messages

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)
