"""LiveImageView: the ultrasound image in mm, drawn from the newest frame at most once per display refresh."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, QTimer
from PyQt6.QtGui import QGuiApplication, QImage
from PyQt6.QtWidgets import QWidget

from scanner_app.frame import Frame
from scanner_app.ring import FrameRing, RingFrame

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

GREY_LUT = np.arange(256, dtype=np.uint8)


def rgb32_lut(lut: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """A 256-entry grey (256,) or colour (256, 3) LUT as opaque 0xFFRRGGBB words."""
    rgb = lut.astype(np.uint32)
    if rgb.ndim == 1:
        rgb = np.stack([rgb, rgb, rgb], axis=1)
    return np.asarray(0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2], dtype=np.uint32)


class _TimedImageItem(pg.ImageItem):  # type: ignore[misc]
    """An ImageItem that tells when the frame it shows was actually painted (for latency figures).

    A uint8 frame under the identity grey map goes to Qt as it is, a Grayscale8 image viewing the
    frame's pixels: no conversion and no copy per frame. Measured against pyqtgraph's own path
    (`setImage(uint8, levels=(0, 255))`, an Indexed8 image with a colour table per frame), 512 x 512
    in an 800 x 800 window: 0.71 of its process CPU and 0.84 of its GUI-thread CPU; converting to
    RGB32 first cost less process CPU (0.51) but more on the GUI thread (1.20), where it delays the
    paint (bench/README.md). Another grey or colour map goes through Qt's Indexed8 to RGB32
    conversion (0.1-0.2 ms, against 0.4 ms for numpy's take; Qt draws Indexed8 itself slowly).
    """

    def __init__(self) -> None:
        super().__init__()
        self.frame: Frame | None = None
        self.on_painted: Callable[[Frame], None] | None = None
        self.display_lut: npt.NDArray[np.uint8] = GREY_LUT
        self._colour_table: list[int] | None = None  # None: the identity grey map
        self._viewed: npt.NDArray[np.uint8] | None = None  # the pixels `qimage` views, if it views any

    def set_display_lut(self, lut: npt.NDArray[np.uint8]) -> None:
        """The grey map (view only): 256 grey levels or 256 x 3 colours."""
        if lut.shape not in ((256,), (256, 3)) or lut.dtype != np.uint8:
            raise ValueError(f"a display LUT is 256 or 256x3 uint8 entries, got {lut.shape} {lut.dtype}")
        self.display_lut = lut
        identity = lut.ndim == 1 and bool((lut == GREY_LUT).all())
        self._colour_table = None if identity else [int(v) for v in rgb32_lut(lut)]
        self._renderRequired = True
        self.update()

    def render(self) -> None:
        image = self.image
        if image is None or image.dtype != np.uint8 or image.ndim != 2:
            super().render()
            return
        rows, cols = image.shape
        image = np.ascontiguousarray(image)
        # The stubs want bytes; QImage takes any buffer, and a memoryview spares a copy per frame.
        if self._colour_table is None:
            # The QImage views `image`: it is kept alive beside it (frames' pixels are read-only values).
            self.qimage = QImage(image.data, cols, rows, cols, QImage.Format.Format_Grayscale8)  # type: ignore[call-overload]
            self._viewed = image
        else:
            source = QImage(image.data, cols, rows, cols, QImage.Format.Format_Indexed8)  # type: ignore[call-overload]
            source.setColorTable(self._colour_table)
            # convertToFormat makes a new image that owns its pixels, so `image` may go away after this
            self.qimage = source.convertToFormat(QImage.Format.Format_RGB32)
            self._viewed = None
        self._renderRequired = False
        self._unrenderable = False

    def paint(self, painter, *args) -> None:  # type: ignore[no-untyped-def]
        super().paint(painter, *args)
        if self.frame is not None and self.on_painted is not None:
            self.on_painted(self.frame)


DRAW_BURST = 1.5  # draws the pacing may spend at once: slack for a probe's jitter at the display rate


class LiveImageView(pg.GraphicsLayoutWidget):  # type: ignore[misc]
    """Shows frames at their true aspect with a depth scale in mm.

    `frame_available()` is connected to the bridge's coalesced signal. Draws are paced by a token
    bucket filled at the display rate and holding at most `DRAW_BURST` draws, so over any interval T
    it draws at most T x refresh rate + DRAW_BURST times. A frame is drawn as soon as it is there
    while a token is left. Otherwise it is not drawn late: the next frame takes the draw on arrival,
    and only if none comes does a fallback timer draw the newest frame a period after the token is
    due. Waiting for the token instead locks a probe at the display rate into drawing every frame
    late by the same amount (measured: p50 7 to 9 ms, from 1.5 ms; a fixed gate a whole period after
    the last draw drew 42 of 60 frames/s at 13 ms).
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
        self._tokens = DRAW_BURST
        self._tokens_at_s = time.perf_counter()
        screen = QGuiApplication.primaryScreen()
        refresh_hz = screen.refreshRate() if screen is not None else 60.0
        self.display_period_s = 1.0 / (refresh_hz if refresh_hz and refresh_hz >= 20 else 60.0)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setSingleShot(True)
        # The timer goes back through the gate: a timer may fire a little early.
        self._timer.timeout.connect(self.frame_available)
        self.frozen = False
        self.draws = 0
        # Acquisition-to-paint of the recent frames, for benchmarks; bounded so a day's scanning
        # does not grow it.
        self.paint_latencies_ms: collections.deque[float] = collections.deque(maxlen=10_000)
        self.painted_frame: Callable[[Frame], None] | None = None

    def frame_available(self) -> None:
        if self.frozen:
            return
        self._take_notice()  # first, so a frame arriving from here on signals again
        if self.current is not None and self.ring.newest_seq == self.current.ring_seq:
            return  # nothing new (a caller other than the bridge)
        now_s = time.perf_counter()
        self._tokens = min(DRAW_BURST, self._tokens + (now_s - self._tokens_at_s) / self.display_period_s)
        self._tokens_at_s = now_s
        if self._tokens >= 1.0:
            self._timer.stop()
            self._draw_newest()
        elif not self._timer.isActive():
            fallback_s = (1.0 - self._tokens + 1.0) * self.display_period_s
            self._timer.start(math.ceil(fallback_s * 1000))

    def _draw_newest(self) -> None:
        self._take_notice()
        if self.frozen:
            return
        latest = self.ring.peek_latest()
        if latest is not None and (self.current is None or latest.ring_seq != self.current.ring_seq):
            self._tokens -= 1.0
            self.show_frame(latest)

    def show_frame(self, ring_frame: RingFrame) -> None:
        """Draw one frame (the newest when live; any cine frame when frozen)."""
        frame = ring_frame.frame
        self.current = ring_frame
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
        self.paint_latencies_ms.append(latency_ms)
        if self.painted_frame is not None:
            self.painted_frame(frame)
