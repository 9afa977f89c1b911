"""Writes a recording frame after frame until killed, printing each frame's count once it is written
(the kill test's victim: `python tests/recording_writer.py PATH`)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from scanner_app.sequence_file import SequenceWriter
from tests.factories import make_frame


def main() -> int:
    writer = SequenceWriter(Path(sys.argv[1]))
    index = 0
    while True:
        pixels = np.full((64, 48), index % 256, dtype=np.uint8)
        writer.write(make_frame(index, pixels=pixels))
        index += 1
        print(index, flush=True)


if __name__ == "__main__":
    sys.exit(main())
