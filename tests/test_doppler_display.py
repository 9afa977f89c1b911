"""The Doppler display (issue 14 item 3): the window over the real PLP driver and the simulated USB
probe, whose placeholder IQ has a test vessel 15-21 mm deep flowing at 0.3 m/s. PW shows the spectral
strip with its columns, colour shows the overlay inside the box, a control reaches the probe and its
readback is shown, and a probe without Doppler is offered none."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from drivers.plp_driver import PlpProbeDriver
from drivers.sim.doppler_iq import TEST_FLOW_M_S, VESSEL_ANGLE_DEG
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import UsbTransport
from scanner_app.doppler import DopplerMode
from scanner_app.doppler_pipeline import DopplerPipeline
from scanner_app.engine import AcquisitionEngine
from scanner_app.probe import SettingKey
from scanner_app.ring import FrameRing
from tests.ui_support import open_window, wait_streaming
from ui.doppler_panel import DopplerPanel, DopplerView
from ui.main_window import MainWindow


@pytest.fixture
def doppler_window(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[MainWindow, DopplerPanel, SimFirmware]]:
    fw = SimFirmware(params=small_params(rows=128, cols=96), frame_rate_hz=30.0, events_on_interrupt=True)
    driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw)
    engine = AcquisitionEngine(driver, FrameRing(60, 128 * 96))
    panel = DopplerPanel(engine, DopplerPipeline(engine))
    window = open_window(qtbot, tmp_path, engine, start=False)
    panel.attach(window)
    engine.start()
    wait_streaming(qtbot, window)
    qtbot.waitUntil(lambda: panel.mode.count() == 4, timeout=5000)  # the descriptor arrived
    yield window, panel, fw
    window.close()
    driver.close()


def test_pw_shows_the_spectral_strip_and_its_columns_arrive(
    qtbot: QtBot, doppler_window: tuple[MainWindow, DopplerPanel, SimFirmware]
) -> None:
    window, panel, fw = doppler_window
    assert not panel.strip.isVisible()
    window.actions_by_name["doppler_pw"].trigger()  # Ctrl+W
    assert panel.view_mode == DopplerView.PW and panel.strip.isVisible()
    qtbot.waitUntil(lambda: fw.settings.doppler.mode == DopplerMode.PW, timeout=3000)
    qtbot.waitUntil(lambda: panel.strip.columns_shown >= 20, timeout=8000)
    lines = list(panel.pipeline.spectrum_lines)
    # The test vessel's flow seen along the unsteered beam, toward the probe, no angle correction.
    along_beam_cm_s = 100 * TEST_FLOW_M_S * math.sin(math.radians(VESSEL_ANGLE_DEG))
    peaks = [float(line.velocity_cm_s[int(np.argmax(line.power_db))]) for line in lines[-10:]]
    assert np.median(peaks) == pytest.approx(along_beam_cm_s, rel=0.1)
    assert panel.gate.isVisible() and len(panel.gate.xData) == 6  # the gate line and its two ticks
    assert not panel.overlay.isVisible()


def test_colour_shows_the_overlay_inside_the_box(
    qtbot: QtBot, doppler_window: tuple[MainWindow, DopplerPanel, SimFirmware]
) -> None:
    window, panel, fw = doppler_window
    window.actions_by_name["doppler_colour"].trigger()  # Ctrl+F
    qtbot.waitUntil(lambda: fw.settings.doppler.mode == DopplerMode.FLOW, timeout=3000)
    qtbot.waitUntil(lambda: panel.overlay.image is not None, timeout=8000)
    flow = panel.pipeline.newest_flow()
    assert flow is not None and flow.coloured_pixels > 0
    d = fw.settings.doppler
    rect = panel.overlay.mapRectToParent(panel.overlay.boundingRect())
    # Drawn in mm exactly over the probe's box (its readback), and coloured only where the vessel is.
    assert rect.left() == pytest.approx(d.box_left_mm, abs=0.01)
    assert rect.top() == pytest.approx(d.box_top_mm, abs=0.01)
    assert rect.bottom() == pytest.approx(d.box_bottom_mm, abs=0.01)
    alpha = flow.rgba[..., 3]
    depths = np.linspace(flow.box.top_mm, flow.box.bottom_mm, alpha.shape[0])
    coloured_rows = depths[alpha.any(axis=1)]
    assert 14.0 <= np.median(coloured_rows) <= 22.0
    red, blue = flow.rgba[..., 0][alpha > 0], flow.rgba[..., 2][alpha > 0]
    assert np.mean(red > blue) > 0.8  # the test vessel flows toward the probe: red
    assert panel.overlay.isVisible() and panel.box_roi.isVisible() and not panel.strip.isVisible()
    assert panel.bar_top.toPlainText().startswith("+")


def test_a_control_reaches_the_probe_and_shows_its_readback(
    qtbot: QtBot, doppler_window: tuple[MainWindow, DopplerPanel, SimFirmware]
) -> None:
    _window, panel, fw = doppler_window
    panel.gate_depth.slider.setValue(round(25.0 / panel.gate_depth.step))
    qtbot.waitUntil(lambda: fw.settings.doppler.gate_depth_mm == 25.0, timeout=3000)
    qtbot.waitUntil(lambda: panel.gate_depth.value_label.text() == "25.0 mm", timeout=3000)
    panel.prf.slider.setValue(round(30000 / panel.prf.step))  # beyond the slider: clamped to its top
    qtbot.waitUntil(lambda: panel.applied.get(SettingKey.PRF_HZ) == 20000.0, timeout=3000)
    assert fw.settings.doppler.prf_hz == 20000.0
    # Moving the colour box with the mouse's ROI sends the box; the probe's readback places it.
    panel.box_roi.setPos((12.0, 14.0), finish=True)
    # Four SETs applied one after another on the acquisition thread (top, bottom, then left, right):
    # wait for the left edge itself; the test once read it just before it arrived.
    qtbot.waitUntil(lambda: fw.settings.doppler.box_left_mm == pytest.approx(12.0), timeout=3000)
    assert fw.settings.doppler.box_top_mm == pytest.approx(14.0)
    qtbot.waitUntil(lambda: "14.0–" in panel.box_label.text(), timeout=3000)


def test_a_probe_without_doppler_is_offered_none(qtbot: QtBot, tmp_path: Path) -> None:
    window = open_window(qtbot, tmp_path, start=False)  # the direct simulated probe: no IQ, no doppler
    engine = window.engine
    panel = DopplerPanel(engine, DopplerPipeline(engine))
    panel.attach(window)
    engine.start()
    try:
        qtbot.waitUntil(lambda: "does no Doppler" in panel.status.text(), timeout=5000)
        assert [panel.mode.itemData(i) for i in range(panel.mode.count())] == [DopplerView.OFF]
        assert not panel.mode.isEnabled() and panel.controls.isHidden()
        window.actions_by_name["doppler_colour"].trigger()
        assert panel.view_mode == DopplerView.OFF and not panel.overlay.isVisible()
        assert SettingKey.DOPPLER_MODE not in engine.settings_in_force()
    finally:
        window.close()


def test_a_shallower_image_takes_the_colour_box_in_with_it(
    qtbot: QtBot, doppler_window: tuple[MainWindow, DopplerPanel, SimFirmware]
) -> None:
    """The newcomer's popliteal fossa: colour with the 10-30 mm box, then the image made 25 mm deep.
    The box is clamped to the image, its label says so, and no colour is drawn below the image."""
    window, panel, fw = doppler_window
    window.actions_by_name["doppler_colour"].trigger()
    qtbot.waitUntil(lambda: "10.0–30.0 mm deep" in panel.box_label.text(), timeout=8000)
    panel.engine.request_setting(SettingKey.DEPTH_MM, 25.0)  # what a preset or Depth down sends
    qtbot.waitUntil(lambda: "10.0–25.0 mm deep" in panel.box_label.text(), timeout=8000)
    assert panel.applied[SettingKey.BOX_BOTTOM_MM] == 25.0 == fw.settings.doppler.box_bottom_mm
    roi_top, roi_height = panel.box_roi.pos()[1], panel.box_roi.size()[1]
    assert roi_top + roi_height == pytest.approx(25.0)

    def drawn_past_image() -> float | None:
        flow = panel.shown_overlay
        return None if flow is None or flow.box.bottom_mm > 25.0 + 1e-6 else flow.box.bottom_mm

    qtbot.waitUntil(lambda: drawn_past_image() is not None, timeout=8000)
    rect = panel.overlay.mapRectToParent(panel.overlay.boundingRect())
    assert rect.bottom() <= 25.0 + 1e-6 and rect.top() == pytest.approx(10.0, abs=0.01)
    # The operator drags the box down past the image: it ends at the image's last row, and the app
    # does not even ask for more.
    asked: list[float] = []
    panel.engine.setting_applied.connect(
        lambda e: asked.append(e.requested) if e.key == SettingKey.BOX_BOTTOM_MM else None
    )
    panel.box_roi.setPos((10.0, 20.0), finish=True)
    qtbot.waitUntil(lambda: fw.settings.doppler.box_top_mm == pytest.approx(20.0), timeout=8000)
    qtbot.waitUntil(lambda: "20.0–25.0 mm deep" in panel.box_label.text(), timeout=8000)
    assert asked and all(bottom == 25.0 for bottom in asked)
