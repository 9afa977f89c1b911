"""Dual (split) screen for compression documentation: two halves side by side, one frozen, one live.

`Ctrl+D` (toolbar "Dual") freezes the image on screen into the left half and shows the live image in
the right half; `Tab` swaps which half is live (the live one freezes where it is); `Shift+S` (or the
panel's button) stores both halves as one still with one calibrated US region per half. `Ctrl+D`
again returns to the single image. Attached through the window's extension points only.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import QObject, QRectF, Qt, QTimer
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from scanner_app.frame import Frame
from scanner_app.imaging_model import grey_maps
from ui.theme import ALARM, OK
from ui.window_api import ScannerWindow

LIVE_REFRESH_MS = 33  # the live half follows the newest frame at about the display rate
HALVES = ("left", "right")


class ImageAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped
    """An axis that ticks only the image's extent (mm): the aspect lock leaves room around the image,
    and that room must not read depths or widths the image does not have."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.extent_mm: tuple[float, float] | None = None

    def set_extent(self, low_mm: float, high_mm: float) -> None:
        self.extent_mm = (low_mm, high_mm)
        self.picture = None  # redraw the ticks
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N803
        """pyqtgraph's ticks, without those outside the image."""
        levels: list[tuple[float, list[float]]] = super().tickValues(minVal, maxVal, size)
        if self.extent_mm is None:
            return levels
        low, high = self.extent_mm
        slack = 1e-6 * max(1.0, abs(high - low))
        return [
            (spacing, [v for v in values if low - slack <= v <= high + slack]) for spacing, values in levels
        ]


class DualPanel(QWidget):
    """The two halves: a calibrated image (depth and width in mm) and a caption each."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoFillBackground(True)
        self.setStyleSheet("background: black;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("k")
        layout.addWidget(self.plots, 1)
        bar = QHBoxLayout()
        self.hint = QLabel("Tab: switch the live half · Shift+S: save both as one image · Ctrl+D: back")
        self.hint.setStyleSheet("color: #c9d1d9;")
        # Wrapped, never a minimum width of its own: a narrow image column must not widen the window
        # (at 1280 pixels that cut the hint and pushed the side panel off screen).
        self.hint.setWordWrap(True)
        self.hint.setMinimumWidth(0)
        self.save_button = QPushButton("Save dual image")
        self.save_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bar.addWidget(self.hint, 1)
        bar.addWidget(self.save_button)
        layout.addLayout(bar)
        self.images: dict[str, pg.ImageItem] = {}
        self.captions: dict[str, pg.TextItem] = {}
        self.plot_items: dict[str, pg.PlotItem] = {}
        self.axes: dict[str, tuple[ImageAxis, ImageAxis]] = {}  # (across, depth) per half
        for column, half in enumerate(HALVES):
            across, depth = ImageAxis("bottom"), ImageAxis("left")
            self.axes[half] = (across, depth)
            plot = self.plots.addPlot(row=0, col=column, axisItems={"bottom": across, "left": depth})
            plot.invertY(True)
            plot.setAspectLocked(True)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.setLabel("left", "depth", units="mm")
            plot.setLabel("bottom", "mm")
            image = pg.ImageItem(axisOrder="row-major")
            plot.addItem(image)
            caption = pg.TextItem(anchor=(0, 0))
            plot.addItem(caption)
            self.images[half], self.captions[half], self.plot_items[half] = image, caption, plot

    def show_frame(self, half: str, frame: Frame, live: bool) -> None:
        image = self.images[half]
        image.setImage(frame.pixels, autoLevels=False, levels=(0, 255))
        origin = frame.depth_origin_mm
        image.setRect(QRectF(0.0, -origin, frame.width_mm, frame.height_mm))
        across, depth = self.axes[half]
        across.set_extent(0.0, frame.width_mm)
        depth.set_extent(-origin, frame.height_mm - origin)
        self.plot_items[half].setRange(
            xRange=(0.0, frame.width_mm), yRange=(-origin, frame.height_mm - origin), padding=0.02
        )
        caption = self.captions[half]
        caption.setPos(1.0, -origin + 1.0)
        word = "LIVE" if live else "❄ FROZEN"
        caption.setHtml(
            f"<span style='color:{OK if live else ALARM}; font-size:14pt; font-weight:600'>"
            f"{'1' if half == 'left' else '2'} {word}</span>"
            f"<br><span style='color:#c9d1d9'>D {frame.settings.depth_mm:.0f} mm</span>"
        )

    def set_lut(self, lut: object) -> None:
        for image in self.images.values():
            image.setLookupTable(lut)


class DualScreen(QObject):
    """Split screen through `ScannerWindow`: its actions, the image panel, the models and `capture_dual`."""

    def __init__(self) -> None:
        super().__init__()
        self.window: ScannerWindow | None = None
        self.panel: DualPanel | None = None
        self.active = ""  # the live half, "" when the dual screen is off
        self.frames: dict[str, Frame] = {}
        self._shown_seq = -1
        self.timer = QTimer(self)
        self.timer.setInterval(LIVE_REFRESH_MS)
        self.timer.timeout.connect(self.refresh_live)

    def attach(self, window: ScannerWindow) -> None:
        self.window = window
        window.add_action(
            "dual", ["Ctrl+D"], "Dual screen: freeze this image left, live image right / back",
            self.toggle, "Dual",
        )  # fmt: skip
        self.swap_action = window.add_action(
            "dual_swap", ["Tab"], "Dual screen: switch the live half", self.swap
        )
        self.save_action = window.add_action(
            "dual_save", ["Shift+S"], "Dual screen: save both halves as one image", self.save
        )
        for action in (self.swap_action, self.save_action):
            action.setEnabled(False)  # Tab keeps moving focus while the dual screen is off
        window.finishing.connect(self.timer.stop)

    @property
    def on(self) -> bool:
        return bool(self.active)

    def toggle(self) -> None:
        if self.on:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        """Freeze the image on screen into the left half; the right half is live."""
        window = self.window
        assert window is not None
        frame = self._current_frame()
        if frame is None:
            window.show_message("Dual screen: no image yet", error=True)
            return
        if self.panel is None:
            self.panel = DualPanel()
            self.panel.save_button.clicked.connect(lambda _=False: self.save())
        window.models.cine.unfreeze()  # the other half is live
        self.panel.set_lut(grey_maps()[window.models.imaging.grey_map])
        self.frames = {"left": frame}
        self.active = "right"
        self._shown_seq = -1
        self.panel.show_frame("left", frame, live=False)
        window.show_image_panel(self.panel)
        for action in (self.swap_action, self.save_action):
            action.setEnabled(True)
        self.timer.start()
        self.refresh_live()
        window.show_message("Dual screen: left frozen, right live")  # the keys are in the hint below it

    def stop(self) -> None:
        self.timer.stop()
        self.active = ""
        self.frames = {}
        for action in (self.swap_action, self.save_action):
            action.setEnabled(False)
        if self.window is not None:
            self.window.show_image_panel(None)

    def swap(self) -> None:
        """The live half freezes where it is; the other half goes live."""
        if not self.on or self.panel is None:
            return
        frozen = self.active
        if frozen in self.frames:
            self.panel.show_frame(frozen, self.frames[frozen], live=False)
        self.active = "left" if frozen == "right" else "right"
        self._shown_seq = -1
        self.refresh_live()

    def refresh_live(self) -> None:
        """Show the newest frame (the cine frame when frozen) in the live half, if it is new."""
        window, panel = self.window, self.panel
        if window is None or panel is None or not self.on:
            return
        cine = window.models.cine
        ring_frame = cine.current() if cine.frozen else cine.ring.peek_latest()
        if ring_frame is None or ring_frame.ring_seq == self._shown_seq:
            return
        self._shown_seq = ring_frame.ring_seq
        self.frames[self.active] = ring_frame.frame
        panel.show_frame(self.active, ring_frame.frame, live=True)

    def save(self) -> None:
        """Store both halves, as shown, as one image."""
        window = self.window
        if window is None or not self.on:
            return
        if set(self.frames) != set(HALVES):
            window.show_message("Dual image not saved: one half has no image yet", error=True)
            return
        window.capture_dual(self.frames["left"], self.frames["right"])

    def _current_frame(self) -> Frame | None:
        assert self.window is not None
        cine = self.window.models.cine
        ring_frame = cine.current() if cine.frozen else cine.ring.peek_latest()
        return ring_frame.frame if ring_frame is not None else None
