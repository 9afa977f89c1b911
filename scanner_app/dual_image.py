"""Dual (split screen) images: two frames side by side in one still, each half keeping its calibration.

Compression documentation (DVT) shows the vein without and with compression in one image. The two
halves may differ in depth (so in rows and mm per pixel): the composite is as tall as the taller
half, and the DICOM writer gives each half its own US region, so a viewer measures each correctly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scanner_app.frame import Frame

DUAL_GAP_PX = 4  # black columns between the halves: the two regions never touch


def compose_dual(left: Frame, right: Frame) -> tuple[Frame, list[tuple[int, Frame]]]:
    """(the side-by-side composite as one frame, [(first column, frame) of each half]).

    The composite takes the left half's settings, timing and probe; its own spacing is the left
    half's, which is right only inside the left region: readers use the regions.
    """
    rows = max(left.rows, right.rows)
    x_right = left.cols + DUAL_GAP_PX
    pixels = np.zeros((rows, x_right + right.cols), dtype=np.uint8)
    pixels[: left.rows, : left.cols] = left.pixels
    pixels[: right.rows, x_right:] = right.pixels
    beam = dataclasses.replace(left.beam, width_mm=pixels.shape[1] * left.spacing_mm[1])
    newest_ns = max(left.host_time_ns, right.host_time_ns)
    composite = dataclasses.replace(left, pixels=pixels, beam=beam, host_time_ns=newest_ns)
    return composite, [(0, left), (x_right, right)]
