"""LiveImageView: the ultrasound image in mm, drawn from the newest frame at most once per display refresh."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyqtgraph as pg
from PyQt6.QtCore import QRectF, QTimer
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QWidget

from scanner_app.frame import Frame
from scanner_app.ring import FrameRing, RingFrame

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class _TimedImageItem(pg.ImageItem):  # type: ignore[misc]
    """An ImageItem that tells when the frame it shows was actually painted (for latency figures)."""

    def __init__(self) -> None:
        super().__init__()
        self.frame: Frame | None = None
        self.on_painted: Callable[[Frame], None] | None = None

    def paint(self, painter, *args) -> None:  # type: ignore[no-untyped-def]
        super().paint(painter, *args)
        if self.frame is not None and self.on_painted is not None:
            self.on_painted(self.frame)


class LiveImageView(pg.GraphicsLayoutWidget):  # type: ignore[misc]
    """Shows frames at their true aspect with a depth scale in mm.

    `frame_available()` is connected to the bridge's coalesced signal. Time is cut into display
    periods; a frame is drawn as soon as it is there if nothing was drawn yet in the current period,
    otherwise one single-shot timer draws the newest frame at the start of the next period. So it
    never draws more often than the display refreshes and adds no wait to a frame that is on time.
    (Spacing draws a whole period after the last one would delay every slightly early frame.)
    """

    def __init__(
        self,
        ring: FrameRing,
        take_notice: Callable[[], None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent=parent)
        self.setBackground("k")
        self.ring = ring
        self._take_notice = take_notice
        self.plot = self.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showAxis("right")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.getAxis("right").setLabel("depth", units="mm")
        self.image = _TimedImageItem()
        self.image.on_painted = self._painted
        self.plot.addItem(self.image)
        self.current: RingFrame | None = None
        self._shown_geometry: tuple[float, float] | None = None
        self._last_draw_period = -1
        screen = QGuiApplication.primaryScreen()
        refresh_hz = screen.refreshRate() if screen is not None else 60.0
        self.display_period_s = 1.0 / (refresh_hz if refresh_hz and refresh_hz >= 20 else 60.0)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._draw_newest)
        self.frozen = False
        self.draws = 0
        self.paint_latencies_ms: list[float] = []  # acquisition-to-paint, for benchmarks and the status bar
        self.painted_frame: Callable[[Frame], None] | None = None

    def frame_available(self) -> None:
        if self.frozen or self._timer.isActive():
            return
        now_s = time.perf_counter()
        if int(now_s / self.display_period_s) > self._last_draw_period:
            self._draw_newest()
        else:
            next_period_s = (self._last_draw_period + 1) * self.display_period_s
            self._timer.start(max(0, round((next_period_s - now_s) * 1000)))

    def _draw_newest(self) -> None:
        self._take_notice()
        if self.frozen:
            return
        latest = self.ring.peek_latest()
        if latest is not None and (self.current is None or latest.ring_seq != self.current.ring_seq):
            self.show_frame(latest)

    def show_frame(self, ring_frame: RingFrame) -> None:
        """Draw one frame (the newest when live; any cine frame when frozen)."""
        frame = ring_frame.frame
        self.current = ring_frame
        self._last_draw_period = int(time.perf_counter() / self.display_period_s)
        self.draws += 1
        self.image.frame = frame
        self.image.setImage(frame.pixels, autoLevels=False, levels=(0, 255))
        geometry = (frame.width_mm, frame.height_mm)
        if geometry != self._shown_geometry:
            self._shown_geometry = geometry
            self.image.setRect(QRectF(0.0, 0.0, frame.width_mm, frame.height_mm))
            self.plot.setRange(xRange=(0, frame.width_mm), yRange=(0, frame.height_mm), padding=0.0)

    def _painted(self, frame: Frame) -> None:
        latency_ms = (time.monotonic_ns() - frame.host_time_ns) / 1e6
        if len(self.paint_latencies_ms) < 100_000:
            self.paint_latencies_ms.append(latency_ms)
        if self.painted_frame is not None:
            self.painted_frame(frame)
