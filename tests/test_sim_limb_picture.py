"""The Sim tab's limb picture draws the probe as the body marker does: along the limb in long axis."""

from __future__ import annotations

import numpy as np
from PyQt6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from drivers.sim.control import SimulatorControl
from drivers.sim.patient import PatientRenderer
from scanner_app.annotations import probe_icon_direction
from ui.sim_panel import SimPanel
from ui.theme import ACCENT


def _footprint_extent(panel: SimPanel) -> tuple[int, int]:
    """(width, height) in pixels of the accent-coloured footprint on the limb picture."""
    image = panel.picture.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    buffer = image.constBits()
    assert buffer is not None
    buffer.setsize(image.sizeInBytes())
    pixels = np.frombuffer(buffer, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    rgb = pixels[:, : image.width(), 2::-1].astype(int)  # BGRA in memory
    accent = QColor(ACCENT)
    # The footprint is the accent blended over the limb: bluish, unlike the brown limb and dark ground.
    blue = (rgb[..., 2] > rgb[..., 0] + 40) & (abs(rgb[..., 2] - accent.blue()) < 120)
    ys, xs = np.nonzero(blue)
    assert len(xs), "no footprint drawn"
    return int(xs.max() - xs.min()), int(ys.max() - ys.min())


def test_long_axis_lies_along_the_limb_and_short_axis_across(qtbot: QtBot) -> None:
    renderer = PatientRenderer("knee")
    panel = SimPanel(SimulatorControl(renderer))
    qtbot.addWidget(panel)
    panel.resize(300, 420)
    panel.show()
    qtbot.waitExposed(panel)
    for rotation_deg in (0.0, 90.0):
        panel.change_pose(rotation_deg=rotation_deg)  # as the Sim tab's rotation does
        panel.picture.repaint()
        width, height = _footprint_extent(panel)
        dx, dy = probe_icon_direction(rotation_deg)  # the body marker's footprint direction
        if abs(dy) > abs(dx):
            assert height > 2 * width, (rotation_deg, width, height)
        else:
            assert width > 2 * height, (rotation_deg, width, height)


def test_reset_probe_brings_a_lost_trainee_back_to_the_scenes_first_view(qtbot: QtBot) -> None:
    """Choosing the scene already chosen changes nothing; Reset probe goes back to its first view,
    unpressed, and keeps the scene, the variant and a needle already in the patient."""
    renderer = PatientRenderer("knee")
    sim = SimulatorControl(renderer)
    panel = SimPanel(sim)
    qtbot.addWidget(panel)
    first = sim.get_pose()
    panel.change_pose(
        position_mm=first["position_mm"] + 17.0, rotation_deg=40.0, tilt_deg=-16.0, pressure=0.6
    )
    assert sim.get_pose() != first
    panel.reset_button.click()
    assert sim.get_pose() == {**first, "pressure": 0.0}
    assert panel.pose == sim.get_pose()  # the sliders show it
    assert sim.current_scene() == ("knee", None)
