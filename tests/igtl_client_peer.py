"""An independent OpenIGTLink client for the tests, in its own process: pyigtl's own client.

`python tests/igtl_client_peer.py PORT` connects to 127.0.0.1:PORT, waits for an IMAGE from device
`Image` and a TRANSFORM from `ProbeToReference`, and prints what it got as one JSON line.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pyigtl


def main() -> int:
    client = pyigtl.OpenIGTLinkClient(host="127.0.0.1", port=int(sys.argv[1]))
    try:
        image = client.wait_for_message("Image", timeout=20)
        pose = client.wait_for_message("ProbeToReference", timeout=20)
    finally:
        client.stop()
    if image is None or pose is None:
        print(json.dumps({"error": "nothing arrived"}), flush=True)
        return 1
    matrix = np.asarray(image.ijk_to_world_matrix)
    print(
        json.dumps(
            {
                "shape": list(image.image.shape),
                "spacing_i": float(np.linalg.norm(matrix[:3, 0])),
                "spacing_j": float(np.linalg.norm(matrix[:3, 1])),
                "direction_j": [float(v) for v in matrix[:3, 1] / np.linalg.norm(matrix[:3, 1])],
                "timestamp": float(image.timestamp),
                "corner": int(image.image[0, 0, 0]),
                "pose_translation": [float(v) for v in np.asarray(pose.matrix)[:3, 3]],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
