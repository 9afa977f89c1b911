"""Render every virtual-patient scene and variant at two frequencies into docs/sim-gallery.png.

Run from the repository root: `python docs/make_sim_gallery.py [--views]`. With `--motion` it writes
docs/sim-motion.png instead: a strip of frames of a slide along the limb, a heel-toe tilt and a
short-axis sweep, so anyone can see the speckle move with the probe (it translates on a slide,
changes gradually on a sweep). PyQt6 is used only here, to draw the captions and write the PNG; the
renderer itself never imports Qt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter

from drivers.sim.patient import PatientRenderer
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import RenderParams
from drivers.sim.scenes import build_scene, list_scenes
from scanner_app.frame import Geometry

TILE = 300
CAPTION = 34


def _frequencies(scene_id: str) -> tuple[float, float]:
    return (3.5, 6.0) if scene_id == "hip" else (7.5, 15.0)


def render_tiles(all_views: bool) -> list[tuple[str, np.ndarray]]:
    tiles: list[tuple[str, np.ndarray]] = []
    for info in list_scenes():
        for variant in [None, *info.variants]:
            views = list(build_scene(info.scene_id, variant).views.items())
            for view_name, pose in views if all_views and variant is None else views[:1]:
                renderer = PatientRenderer(info.scene_id, variant, seed=1)
                renderer.set_pose(pose)
                for f in _frequencies(info.scene_id):
                    geometry = Geometry.CONVEX if info.scene_id == "hip" else Geometry.LINEAR
                    params = RenderParams(rows=TILE, cols=TILE, depth_mm=info.depth_mm, frequency_mhz=f,
                                          focus_mm=info.depth_mm * 0.45, width_mm=38.0, geometry=geometry,
                                          fov_deg=60.0, radius_mm=45.0)  # fmt: skip
                    frame = renderer.render(params, 0.0)
                    name = f"{info.scene_id}{'/' + variant if variant else ''}: {view_name} @ {f:g} MHz"
                    tiles.append((name, np.asarray(frame.pixels, dtype=np.uint8)))
    return tiles


MOTION_STEPS = 6


def render_motion() -> list[tuple[str, np.ndarray]]:
    """Three rows of frames, each row one move from a start: the QA phantom's cysts and wires for the
    slide and the tilt (landmarks to follow), the groin's femoral vessels for the short-axis sweep."""
    moves = (
        ("slide along", "qa_phantom", ProbePose(position_mm=-4.0), {"position_mm": 0.6}),
        ("tilt", "qa_phantom", ProbePose(position_mm=-4.0), {"tilt_deg": 1.0}),
        (
            "short-axis sweep",
            "groin",
            ProbePose(position_mm=0.0, lateral_mm=4.0, rotation_deg=90.0),
            {"position_mm": 0.4},
        ),
    )
    params = RenderParams(
        rows=TILE, cols=TILE, depth_mm=20.0, width_mm=19.0, frequency_mhz=12.0, focus_mm=12.0
    )
    tiles: list[tuple[str, np.ndarray]] = []
    for title, scene_id, start, step in moves:
        renderer = PatientRenderer(scene_id, seed=1)
        pose = start
        for k in range(MOTION_STEPS):
            renderer.set_pose(pose)
            done = ", ".join(f"{key.split('_')[0]} {value * k:+.1f}" for key, value in step.items())
            tiles.append(
                (
                    f"{scene_id} {title}: {done}",
                    np.asarray(renderer.render(params, 0.0).pixels, dtype=np.uint8),
                )
            )
            pose = pose.nudged(**step)
    return tiles


def compose(tiles: list[tuple[str, np.ndarray]], columns: int) -> QImage:
    rows = (len(tiles) + columns - 1) // columns
    w, h = columns * TILE, rows * (TILE + CAPTION)
    canvas = QImage(w, h, QImage.Format.Format_RGB32)
    canvas.fill(QColor(20, 20, 28))
    painter = QPainter(canvas)
    painter.setFont(QFont("DejaVu Sans", 8))
    painter.setPen(QColor(230, 230, 150))
    for k, (name, pixels) in enumerate(tiles):
        x, y = (k % columns) * TILE, (k // columns) * (TILE + CAPTION)
        grey = np.ascontiguousarray(pixels)
        img = QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1], QImage.Format.Format_Grayscale8)
        painter.drawImage(x, y + CAPTION, img)
        painter.drawText(x + 3, y + 2, TILE - 6, CAPTION - 2, Qt.TextFlag.TextWordWrap, name)
    painter.end()
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--views", action="store_true", help="render every named view, not just the first")
    parser.add_argument("--motion", action="store_true", help="write the slide / tilt / sweep strip")
    parser.add_argument("--out", default=None)
    parser.add_argument("--columns", type=int, default=8)
    args = parser.parse_args()
    if args.out is None:
        args.out = str(Path(__file__).with_name("sim-motion.png" if args.motion else "sim-gallery.png"))
    app = QGuiApplication.instance() or QGuiApplication([])  # fonts need an application
    tiles = render_motion() if args.motion else render_tiles(args.views)
    image = compose(tiles, MOTION_STEPS if args.motion else args.columns)
    if not image.save(args.out):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out}: {len(tiles)} tiles")
    del app


if __name__ == "__main__":
    main()
