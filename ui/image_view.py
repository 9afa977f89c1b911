"""ScannerImageView: the live image with what a sonographer reads off it: scale, focus, markers, calipers.

Overlays change only when their model changes (settings readback, measurements, annotations, freeze),
never per frame, so the per-frame path stays the seed view's `setImage` and nothing more. Each caliper's
result is drawn beside it ("A 6.2 mm") and listed in a results box on the image. With no caliper being
placed, pressing on a caliper's end or a text selects it and dragging moves it (Delete then removes the
selected one: the window's key).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QFont,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PyQt6.QtWidgets import QGraphicsItem, QLabel, QWidget

from scanner_app.annotations import AnnotationSet, BodyMarker, probe_icon_direction
from scanner_app.measurements import MeasurementSet, PointMm, snap_to_pixel_centre
from scanner_app.ring import FrameRing, RingFrame
from ui.live_view import LiveImageView
from ui.theme import ACCENT, ALARM, WARN

CALIPER_COLOUR = "#ffe14d"
PENDING_COLOUR = "#7fdcff"
SELECTED_COLOUR = "#5cff8a"
GRAB_PX = 10.0  # how near (screen pixels) a press must be to a caliper end or line to take it


PROBE_ICON_HALF_LENGTH = 22.0


class BodyMarkerWidget(QWidget):
    """The body-marker pictogram: the limb or region outline and a bar where the probe sits on it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.marker = BodyMarker()
        self._pixmap: QPixmap | None = None
        self.setFixedSize(120, 150)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    def set_marker(self, marker: BodyMarker) -> None:
        self.marker = marker
        self._pixmap = None
        self.update()

    def paintEvent(self, event: object) -> None:
        # It sits over the live image, so it repaints with every frame: draw it once into a pixmap.
        if self._pixmap is None:
            self._pixmap = QPixmap(self.size())
            self._pixmap.fill(Qt.GlobalColor.transparent)
            self._draw(QPainter(self._pixmap))
        p = QPainter(self)
        p.drawPixmap(0, 0, self._pixmap)
        p.end()

    def _draw(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(20, 22, 26, 200))
        p.setPen(QPen(QColor("#8a9099"), 2))
        w, h = self.width(), self.height()
        region = self.marker.region
        cx = w / 2
        top, bottom = 14.0, h - 24.0
        path = QPainterPath()
        if region in ("Hip", "DVT groin / thigh"):
            # pelvis and upper thigh
            path.addRoundedRect(QRectF(cx - 40, top, 80, 34), 14, 14)
            path.addRoundedRect(QRectF(cx - 16, top + 28, 32, bottom - top - 28), 12, 12)
        elif region == "Shoulder":
            path.addEllipse(QRectF(cx - 14, top, 28, 28))  # head
            path.addRoundedRect(QRectF(cx - 44, top + 32, 88, 30), 12, 12)  # shoulders
            path.addRoundedRect(QRectF(cx + 26, top + 40, 18, bottom - top - 40), 8, 8)  # arm
        elif region in ("Wrist / hand", "Ankle / foot"):
            path.addRoundedRect(QRectF(cx - 12, top, 24, (bottom - top) * 0.55), 8, 8)
            path.addRoundedRect(
                QRectF(cx - 20, top + (bottom - top) * 0.55, 40, (bottom - top) * 0.45), 12, 12
            )
        else:  # Knee, Elbow, DVT calf: a limb with a joint in the middle
            path.addRoundedRect(QRectF(cx - 16, top, 32, bottom - top), 14, 14)
            path.addEllipse(QRectF(cx - 20, (top + bottom) / 2 - 16, 40, 32))
        p.drawPath(path)
        # the probe: a bar for its footprint, with the orientation marker's dot at one end
        y = top + self.marker.probe_along * (bottom - top)
        dx, dy = probe_icon_direction(self.marker.probe_angle_deg)
        half = PROBE_ICON_HALF_LENGTH
        p.setPen(QPen(QColor(ACCENT), 5, cap=Qt.PenCapStyle.RoundCap))
        p.drawLine(QPointF(cx - dx * half, y - dy * half), QPointF(cx + dx * half, y + dy * half))
        p.setBrush(QColor(ACCENT))
        p.drawEllipse(QPointF(cx - dx * (half + 4), y - dy * (half + 4)), 3.5, 3.5)
        p.setPen(QColor("#d0d4da"))
        f = p.font()
        f.setPointSize(8)
        p.setFont(f)
        p.drawText(QRectF(0, h - 20, w, 18), Qt.AlignmentFlag.AlignCenter, f"{self.marker.side}  {region}")
        p.end()


def _cross(xs: list[float], ys: list[float], x: float, y: float, arm: float) -> None:
    """Append a "+" at (x, y) as two segments (for a connect="pairs" curve)."""
    xs += [x - arm, x + arm, x, x]
    ys += [y, y, y - arm, y + arm]


def _overlay_label(parent: QWidget, style: str) -> QLabel:
    label = QLabel(parent)
    label.setStyleSheet(style)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.hide()
    return label


def _distance_to_segment(p: QPointF, a: QPointF, b: QPointF) -> float:
    ax, ay, bx, by = a.x(), a.y(), b.x(), b.y()
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p.x() - ax) * dx + (p.y() - ay) * dy) / length2))
    return math.hypot(p.x() - (ax + t * dx), p.y() - (ay + t * dy))


class ScannerImageView(LiveImageView):
    """LiveImageView plus focus and orientation markers, calipers, annotations, body marker and banners."""

    clicked_mm = pyqtSignal(float, float)
    free_click_mm = pyqtSignal(float, float)  # a click that placed no caliper point
    wheel_steps = pyqtSignal(int)

    def __init__(
        self,
        ring: FrameRing,
        take_notice: Callable[[], None],
        measurements: MeasurementSet,
        annotations: AnnotationSet,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ring, take_notice, parent)
        self.measurements = measurements
        self.annotations = annotations
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.vb.setMenuEnabled(False)
        axis = self.plot.getAxis("right")
        axis.enableAutoSIPrefix(False)
        axis.setLabel("depth (mm)")
        axis.setTextPen(pg.mkPen("#c8ccd2"))
        axis.setPen(pg.mkPen("#6b7078"))
        tick_font = QFont()
        tick_font.setPointSize(11)
        axis.setStyle(tickFont=tick_font, tickLength=-8)
        axis.setWidth(56)
        # focus: a triangle at the right edge of the image pointing at the focal depth
        self.focus_marker = pg.ArrowItem(
            angle=0, headLen=16, tipAngle=50, tailLen=0, brush=pg.mkBrush(ACCENT), pen=pg.mkPen(None)
        )  # angle 0 points left, at the image from the right edge
        self.plot.addItem(self.focus_marker)
        # orientation: the probe marker side is column 0 (Frame's convention), top left
        self.orientation_marker = pg.TextItem("◆", color=ACCENT, anchor=(0.0, 0.0))
        self.orientation_marker.setFont(QFont("DejaVu Sans", 14))
        self.plot.addItem(self.orientation_marker)
        self._overlay_items: list[pg.GraphicsObject] = []
        self._focus_shown: tuple[float, float] | None = None
        # (width_mm, height_mm, depth_origin_mm) the view was last fitted to
        self._fitted_geometry: tuple[float, float, float] | None = None
        self.info_label = _overlay_label(
            self, "background: transparent; color: #d8dce2; font-size: 14px; font-family: monospace;"
        )
        self.info_label.show()
        self.frozen_label = _overlay_label(
            self,
            f"background: rgba(12,40,70,210); color: white; font-size: 18px; font-weight: 700;"
            f" border: 2px solid {ACCENT}; border-radius: 6px; padding: 4px 14px;",
        )
        self.banner = _overlay_label(
            self,
            f"background: rgba(90,10,14,230); color: white; font-size: 20px; font-weight: 700;"
            f" border: 2px solid {ALARM}; border-radius: 8px; padding: 10px 20px;",
        )
        self.mode_label = _overlay_label(
            self,
            f"background: rgba(40,34,6,220); color: {WARN}; font-size: 14px;"
            " border-radius: 4px; padding: 3px 8px;",
        )
        self.results_label = _overlay_label(
            self,
            f"background: rgba(0,0,0,150); color: {CALIPER_COLOUR}; font-size: 15px;"
            " font-family: monospace; border-radius: 4px; padding: 4px 8px;",
        )
        # What a press took, while the button is down (see `_hit`); a drag moves it.
        self._grab: tuple[str, str, int] | None = None
        self._text_items: list[pg.TextItem] = []  # drawn texts, in `annotations.texts` order
        self.body_marker = BodyMarkerWidget(self)
        self.body_marker.set_marker(annotations.body_marker)
        self.body_marker.show()
        self.plot.scene().sigMouseClicked.connect(self._on_scene_click)
        self.plot.vb.sigResized.connect(lambda _vb: self.fit_image())
        measurements.changed.connect(self.redraw_overlays)
        annotations.changed.connect(self._on_annotations)

    # -- per frame: only the focus marker, and only when the frame's settings changed -----------

    def show_frame(self, ring_frame: RingFrame) -> None:
        super().show_frame(ring_frame)
        frame = ring_frame.frame
        origin = frame.depth_origin_mm
        geometry = (frame.width_mm, frame.height_mm, origin)
        if geometry != self._fitted_geometry:
            self._fitted_geometry = geometry
            # View y is depth below the skin: a convex image's top row (the chord across the array)
            # sits above depth 0, so the scale, focus marker and calipers all read depth from the skin.
            self.image.setRect(QRectF(0.0, -origin, frame.width_mm, frame.height_mm))
            self.fit_image()
            self._focus_shown = None
        focus = (frame.settings.focus_mm, frame.width_mm)
        if focus != self._focus_shown:
            self._focus_shown = focus
            in_view = 0.0 <= frame.settings.focus_mm <= frame.height_mm - origin
            self.focus_marker.setVisible(in_view)
            px_w, _ = self.plot.vb.viewPixelSize()
            self.focus_marker.setPos(frame.width_mm - 18 * px_w, frame.settings.focus_mm)
            self.orientation_marker.setPos(0.4, 0.2 - origin)

    def fit_image(self) -> None:
        """Skin line at the top, image as large as fits, depth ticks only over the image."""
        if self._fitted_geometry is None:
            return
        width_mm, height_mm, origin = self._fitted_geometry
        top = -origin  # the image's top row, above the skin on a convex image
        max_depth_mm = height_mm - origin
        vb = self.plot.vb
        w_px, h_px = max(vb.width(), 1.0), max(vb.height(), 1.0)
        if h_px / w_px > height_mm / width_mm:
            # taller than the image: pin the image's top to the top, empty space below
            self.plot.setRange(xRange=(0, width_mm), yRange=(top, top + width_mm * h_px / w_px), padding=0.0)
        else:
            extra = height_mm * w_px / h_px - width_mm
            # space on the left (for the text block); the depth scale stays against the image
            self.plot.setRange(xRange=(-extra, width_mm), yRange=(top, max_depth_mm), padding=0.0)
        major = 10.0 if max_depth_mm > 30 else 5.0
        ticks = [(float(v), f"{v:g}") for v in np.arange(0.0, max_depth_mm + 1e-6, major)]
        minor = [(float(v), "") for v in np.arange(0.0, max_depth_mm + 1e-6, major / 2)]
        self.plot.getAxis("right").setTicks([ticks, minor])

    def set_lut(self, lut: npt.NDArray[np.uint8]) -> None:
        self.image.set_display_lut(lut)

    # -- overlays ----------------------------------------------------------------------------

    def _on_annotations(self) -> None:
        self.body_marker.set_marker(self.annotations.body_marker)
        self.redraw_overlays()

    def redraw_overlays(self) -> None:
        """Rebuild calipers and text annotations (on change only).

        Every caliper line goes into one dashed curve and every end cross into one solid curve
        (connect="pairs"), and labels are cached as pixmaps: the per-frame repaint then costs a couple
        of path draws and blits however many measurements there are.
        """
        for item in self._overlay_items:
            self.plot.removeItem(item)
        self._overlay_items = []
        width_mm = self.current.frame.width_mm if self.current is not None else 0.0
        arm = self._cross_arm_mm()
        curves: dict[tuple[str, bool], tuple[list[float], list[float]]] = {}  # (colour, dashed)

        def segment(colour: str, dashed: bool, xs: list[float], ys: list[float]) -> None:
            cx, cy = curves.setdefault((colour, dashed), ([], []))
            cx += xs
            cy += ys

        for m in self.measurements.items:
            colour = SELECTED_COLOUR if m.label == self.measurements.selected else CALIPER_COLOUR
            pts = m.points
            for i in range(0, len(pts), 2):
                (ax, ay), (bx, by) = pts[i], pts[i + 1]
                segment(colour, True, [ax, bx], [ay, by])
            for x, y in pts:
                xs: list[float] = []
                ys: list[float] = []
                _cross(xs, ys, x, y, arm)
                segment(colour, False, xs, ys)
            # The result beside the (first) line's middle, clear of the line: above a flat line, to
            # the side of a steep one (the side that stays on the image).
            (ax, ay), (bx, by) = pts[0], pts[1]
            mid_x, mid_y = (ax + bx) / 2, (ay + by) / 2
            if abs(bx - ax) >= abs(by - ay):
                anchor = (0.5, 1.15)
            else:
                anchor = (-0.08, 0.5) if mid_x < width_mm * 0.6 else (1.08, 0.5)
            label = pg.TextItem(m.short_text(), color=colour, anchor=anchor, fill=pg.mkBrush(0, 0, 0, 110))
            label.setFont(QFont("DejaVu Sans", 12, QFont.Weight.Bold))
            label.setPos(mid_x, mid_y)
            self._add(label)
        for x, y in self.measurements.pending_points:
            xs, ys = [], []
            _cross(xs, ys, x, y, arm)
            segment(PENDING_COLOUR, False, xs, ys)
        for (colour, dashed), (xs, ys) in curves.items():
            style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
            pen = pg.mkPen(colour, width=1.5 if dashed else 2, style=style)
            self._add(pg.PlotCurveItem(np.array(xs), np.array(ys), pen=pen, connect="pairs"))
        self._text_items = []
        for i, t in enumerate(self.annotations.texts):
            selected = i == self.annotations.selected
            border = pg.mkPen(SELECTED_COLOUR, width=2) if selected else None
            item = pg.TextItem(
                t.text, color="#ffffff", anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 120), border=border
            )
            item.setFont(QFont("DejaVu Sans", 14, QFont.Weight.Bold))
            item.setPos(t.x_mm, t.y_mm)
            self._add(item)
            self._text_items.append(item)
        self._update_results()
        self._update_mode_label()

    def _update_results(self) -> None:
        """The results box on the image: every caliper's result, as the side tab lists them."""
        items = self.measurements.items
        if not items:
            self.results_label.hide()
            return
        self.results_label.setText("\n".join(m.text() for m in items))
        self.results_label.adjustSize()
        self.results_label.show()
        self._place_overlays()

    def _cross_arm_mm(self) -> float:
        """Half the size of a caliper cross: about 8 screen pixels at the current scale."""
        px_w, _ = self.plot.vb.viewPixelSize()
        return max(0.2, 8.0 * float(px_w))

    def _add(self, item: pg.GraphicsObject) -> None:
        if isinstance(item, pg.TextItem):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.addItem(item)
        self._overlay_items.append(item)

    def _update_mode_label(self) -> None:
        kind = self.measurements.pending_kind
        if kind is None:
            self.mode_label.hide()
            return
        need = {
            "distance": ["start", "end"],
            "two_axis": ["length start", "length end", "depth start", "depth end"],
        }
        step = need[kind][len(self.measurements.pending_points)]
        self.mode_label.setText(f"{'Distance' if kind == 'distance' else 'Length x depth'}: click the {step}")
        self.mode_label.adjustSize()
        self.mode_label.show()
        self._place_overlays()

    def set_info(self, text: str) -> None:
        self.info_label.setText(text)
        self.info_label.adjustSize()

    def set_frozen_text(self, text: str | None) -> None:
        if text is None:
            self.frozen_label.hide()
        else:
            self.frozen_label.setText(text)
            self.frozen_label.adjustSize()
            self.frozen_label.show()
            self._place_overlays()

    def set_banner(self, text: str | None) -> None:
        if text is None:
            self.banner.hide()
        else:
            self.banner.setText(text)
            self._fit_banner()
            self.banner.show()
            self._place_overlays()

    def _fit_banner(self) -> None:
        """The banner wraps within the view: a long reason is never cut off at its edges."""
        self.banner.setWordWrap(True)
        self.banner.setMaximumWidth(max(200, self.width() - 40))
        self.banner.adjustSize()

    def _place_overlays(self) -> None:
        if not hasattr(self, "body_marker"):
            return  # pyqtgraph resizes during its own __init__, before our overlays exist
        w, h = self.width(), self.height()
        self.info_label.move(10, 8)
        # under the text block, beside the image, where the eye already looks for the state
        self.frozen_label.move(10, self.info_label.y() + self.info_label.height() + 12)
        below_frozen = self.frozen_label.y() + (
            self.frozen_label.height() + 10 if self.frozen_label.isVisible() else 0
        )
        self.results_label.move(10, below_frozen)
        self.banner.move((w - self.banner.width()) // 2, h // 3)
        self.mode_label.move((w - self.mode_label.width()) // 2, h - self.mode_label.height() - 12)
        self.body_marker.move(10, h - self.body_marker.height() - 10)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        if hasattr(self, "banner") and self.banner.isVisible():
            self._fit_banner()
        self._place_overlays()

    # -- input -------------------------------------------------------------------------------

    def mm_at_scene(self, scene_pos: QPointF) -> tuple[float, float] | None:
        """The image point (x_mm, depth_mm) under a scene position, or None outside the image."""
        if self.current is None:
            return None
        p = self.plot.vb.mapSceneToView(scene_pos)
        frame = self.current.frame
        top = -frame.depth_origin_mm
        if not (0.0 <= p.x() < frame.width_mm and top <= p.y() < top + frame.height_mm):
            return None
        return (p.x(), p.y())

    def widget_pos_of_mm(self, x_mm: float, y_mm: float) -> QPointF:
        """Where a point of the image is on this widget (for tests and tools)."""
        scene = self.plot.vb.mapViewToScene(QPointF(x_mm, y_mm))
        point: QPointF = self.mapFromScene(scene).toPointF()
        return point

    def _on_scene_click(self, ev: object) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        point = self.mm_at_scene(ev.scenePos())  # type: ignore[attr-defined]
        if point is None or self.current is None:
            return
        frame = self.current.frame
        point = snap_to_pixel_centre(point, frame.spacing_mm, frame.depth_origin_mm)
        ev.accept()  # type: ignore[attr-defined]
        placing = self.measurements.placing
        if placing:
            self.measurements.add_point(point)
        self.clicked_mm.emit(point[0], point[1])
        if not placing:  # a caliper's own clicks, its last one included, are not free clicks
            self.free_click_mm.emit(point[0], point[1])

    def _mm_at_widget(self, pos: QPointF) -> PointMm:
        """The image point under a widget position, clamped to the image (for drags past its edge)."""
        p = self.plot.vb.mapSceneToView(self.mapToScene(pos.toPoint()))
        x, y = p.x(), p.y()
        if self.current is not None:
            frame = self.current.frame
            top = -frame.depth_origin_mm
            x = min(max(x, 0.0), frame.width_mm - 1e-6)
            y = min(max(y, top), top + frame.height_mm - 1e-6)
            return snap_to_pixel_centre((x, y), frame.spacing_mm, frame.depth_origin_mm)
        return (x, y)

    def _hit(self, pos: QPointF) -> tuple[str, str, int] | None:
        """What a press at this widget position takes: a caliper end ("point", label, index), a text
        ("text", "", index) or a caliper's line ("line", label, -1); the nearest end wins."""
        best: tuple[float, tuple[str, str, int]] | None = None
        for m in self.measurements.items:
            for i, (x, y) in enumerate(m.points):
                at = self.widget_pos_of_mm(x, y)
                d = math.hypot(at.x() - pos.x(), at.y() - pos.y())
                if d <= GRAB_PX and (best is None or d < best[0]):
                    best = (d, ("point", m.label, i))
        if best is not None:
            return best[1]
        scene = self.mapToScene(pos.toPoint())
        for i in reversed(range(len(self._text_items))):
            if self._text_items[i].sceneBoundingRect().contains(QPointF(scene)):
                return ("text", "", i)
        for m in self.measurements.items:
            pts = m.points
            for i in range(0, len(pts), 2):
                a = self.widget_pos_of_mm(*pts[i])
                b = self.widget_pos_of_mm(*pts[i + 1])
                if _distance_to_segment(pos, a, b) <= GRAB_PX / 2:
                    return ("line", m.label, -1)
        return None

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if event.button() == Qt.MouseButton.LeftButton and not self.measurements.placing:
            grab = self._hit(event.position())
            if grab is not None:
                what, label, index = grab
                if what == "text":
                    self.measurements.select(None)
                    self.annotations.select(index)
                else:
                    self.annotations.select(None)
                    self.measurements.select(label)
                self._grab = grab
                event.accept()
                return
            # a press on nothing drops the selection, then is an ordinary click (a text's place)
            self.measurements.select(None)
            self.annotations.select(None)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if self._grab is None:
            super().mouseMoveEvent(event)
            return
        what, label, index = self._grab
        point = self._mm_at_widget(event.position())
        if what == "point":
            self.measurements.move_point(label, index, point)
        elif what == "text":
            self.annotations.move_text(index, *point)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if self._grab is not None:
            self._grab = None  # the press took an item: no click on the image
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent | None) -> None:
        # The wheel steps the cine (frame by frame) instead of zooming.
        if event is None:
            return
        delta = event.angleDelta().y()
        if delta:
            self.wheel_steps.emit(-1 if delta > 0 else 1)
        event.accept()
