"""Key images for the report: a copy of the stored image with its calipers, text, depth scale and body
marker burned in, as the sonographer saw them on the screen (the stored DICOM stays clean).

Measurement points are (x_mm, depth_mm) as `scanner_app.measurements` keeps them: x from the image's
left edge, depth below the skin line, which lies `depth_origin_mm` below the top row (the US region's
reference pixel says where). The copy has square pixels, so the picture has the true shape.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from scanner_app.annotations import probe_icon_direction
from scanner_app.studies.doppler_dicom import REGION_TISSUE

MIN_LONG_SIDE_PX = 480  # small images are enlarged so labels and ticks stay legible
CALIPER_RGB = (255, 214, 0)
TEXT_RGB = (255, 255, 255)
SCALE_RGB = (170, 210, 255)
OUTLINE_RGB = (0, 0, 0)
MARKER_BOX_RGB = (24, 26, 30)
MARKER_LINE_RGB = (150, 156, 165)
PROBE_RGB = (255, 150, 40)
Rgb = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class KeyImage:
    """One key image for the report: a PNG with square pixels and its caption."""

    png: bytes
    caption: str
    width_px: int
    height_px: int


@dataclass(frozen=True, slots=True)
class ImageGeometry:
    """How a stored image maps to millimetres: (axial, lateral) spacing and where the skin line is."""

    spacing_mm: tuple[float, float]
    depth_origin_mm: float
    # The tissue image's extent (cols, rows) from the top-left corner, where the depth scale belongs:
    # a colour bar beside it or a spectrum strip below it has no depth. None: the whole image.
    tissue_px: tuple[int, int] | None = None

    @classmethod
    def of(cls, ds: Dataset) -> ImageGeometry:
        """From the US region calibration (cm per pixel, reference pixel at the skin line)."""
        regions = ds.SequenceOfUltrasoundRegions
        region = regions[0]
        axial_mm = float(region.PhysicalDeltaY) * 10.0
        lateral_mm = float(region.PhysicalDeltaX) * 10.0
        skin_row = int(region.get("ReferencePixelY0", 0)) + int(region.get("RegionLocationMinY0", 0))
        physical_y_mm = float(region.get("ReferencePixelPhysicalValueY", 0.0)) * 10.0
        tissue = [r for r in regions if int(r.get("RegionDataType", 0)) == REGION_TISSUE]
        extent = (
            (
                max(int(r.RegionLocationMaxX1) for r in tissue) + 1,
                max(int(r.RegionLocationMaxY1) for r in tissue) + 1,
            )
            if tissue
            else None
        )
        return cls((axial_mm, lateral_mm), skin_row * axial_mm - physical_y_mm, extent)


# The screen's font, condensed (fonts-dejavu-extra) so a caliper's legend keeps clear of the depth
# scale, else plain (fonts-dejavu-core): both have × and ², Pillow's own font lacks them.
BURN_FONTS = ("DejaVuSansCondensed.ttf", "DejaVuSans.ttf")
# What stands in for a character the font has no glyph for (an empty box reads as nothing).
STAND_INS = {"×": "x", "²": "2", "³": "3", "µ": "u", "°": " deg"}
_NO_GLYPH = "\U000f0000"  # a private-use character no font draws: its mask is the missing-glyph box


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in BURN_FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue  # not installed
    return ImageFont.load_default(size=size)  # Pillow's own, with stand-ins for what it cannot draw


def has_glyph(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, char: str) -> bool:
    """Whether `font` draws `char` as itself, not as its missing-glyph box."""
    missing, mask = font.getmask(_NO_GLYPH), font.getmask(char)
    return (mask.size, bytes(mask)) != (missing.size, bytes(missing))


def drawable_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """`text` with each character `font` lacks replaced by its ASCII stand-in ("L 27.6 x D 5.8 mm")."""
    return "".join(c if c not in STAND_INS or has_glyph(font, c) else STAND_INS[c] for c in text)


def render_key_image(
    pixels: npt.NDArray[np.uint8], geometry: ImageGeometry, annotations: Sequence[Mapping[str, Any]]
) -> Image.Image:
    """The image with square pixels (enlarged if small) and the capture's overlays drawn in, as RGB;
    `pixels` grey (rows, cols) or RGB (rows, cols, 3): a colour image keeps its colours."""
    axial_mm, lateral_mm = geometry.spacing_mm
    rows, cols = pixels.shape[:2]
    width_mm, height_mm = cols * lateral_mm, rows * axial_mm
    tissue_cols, tissue_rows = geometry.tissue_px or (cols, rows)
    tissue_mm = (min(tissue_cols, cols) * lateral_mm, min(tissue_rows, rows) * axial_mm)
    px_per_mm = max(1.0 / axial_mm, 1.0 / lateral_mm)
    px_per_mm *= max(1.0, MIN_LONG_SIDE_PX / (max(width_mm, height_mm) * px_per_mm))
    size = (round(width_mm * px_per_mm), round(height_mm * px_per_mm))
    plain = Image.fromarray(np.ascontiguousarray(pixels), mode="RGB" if pixels.ndim == 3 else "L")
    image = plain.resize(size, Image.Resampling.BILINEAR).convert("RGB")
    _Overlay(image, px_per_mm, geometry.depth_origin_mm, tissue_mm).draw(annotations)
    return image


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def measurement_text(entry: Mapping[str, Any]) -> str:
    """A caliper's result as the screen shows it: '6.2 mm', or 'L 10.1 × D 4.2 mm, 33.4 mm²'."""
    if "distance_mm" in entry or "value_mm" in entry:
        return f"{float(entry.get('distance_mm', entry.get('value_mm'))):.1f} mm"
    if "length_mm" in entry and "depth_mm" in entry:
        text = f"L {float(entry['length_mm']):.1f} × D {float(entry['depth_mm']):.1f} mm"
        if "area_mm2" in entry:
            text += f", {float(entry['area_mm2']):.1f} mm²"
        return text
    if "value" in entry:
        return f"{entry['value']} {entry.get('unit', '')}".strip()
    return ""


class _Overlay:
    """Draws one capture's overlays onto its enlarged copy."""

    def __init__(
        self, image: Image.Image, px_per_mm: float, depth_origin_mm: float, tissue_mm: tuple[float, float]
    ) -> None:
        """`tissue_mm` (width, height): the part of the image the depth scale measures."""
        self.image = image
        self.draw_ = ImageDraw.Draw(image)
        self.s = px_per_mm
        self.origin_mm = depth_origin_mm
        self.tissue_mm = tissue_mm
        self.unit = max(1, round(min(image.size) / 240))  # line width and sizes grow with the picture
        self.font = _font(11 * self.unit + 2)

    def px(self, point: Sequence[float]) -> tuple[float, float]:
        return (float(point[0]) * self.s, (float(point[1]) + self.origin_mm) * self.s)

    def text(self, xy: tuple[float, float], text: str, fill: Rgb, anchor: str = "la") -> None:
        self.draw_.text(
            xy,
            drawable_text(text, self.font),
            fill=fill,
            font=self.font,
            anchor=anchor,
            stroke_width=2,
            stroke_fill=OUTLINE_RGB,
        )

    def draw(self, annotations: Sequence[Mapping[str, Any]]) -> None:
        self.depth_scale()
        legend: list[str] = []
        for entry in annotations:
            kind = entry.get("type")
            if kind == "measurement":
                line = self.caliper(entry)
                if line:
                    legend.append(line)
            elif kind == "annotations":
                for t in entry.get("texts") or ():
                    if isinstance(t, Mapping) and "x_mm" in t and "y_mm" in t:
                        self.text(self.px((t["x_mm"], t["y_mm"])), str(t.get("text", "")), TEXT_RGB, "mm")
                marker = entry.get("body_marker")
                if isinstance(marker, Mapping):
                    self.body_marker(marker)
        self.legend(legend)

    def caliper(self, entry: Mapping[str, Any]) -> str:
        label = str(entry.get("label", ""))
        value = measurement_text(entry)
        points = [self.px(p) for p in entry.get("points_mm") or () if isinstance(p, Sequence) and len(p) == 2]
        arm = 5 * self.unit
        for x, y in points:
            self.draw_.line([(x - arm, y), (x + arm, y)], fill=CALIPER_RGB, width=self.unit + 1)
            self.draw_.line([(x, y - arm), (x, y + arm)], fill=CALIPER_RGB, width=self.unit + 1)
        for a, b in zip(points[0::2], points[1::2], strict=False):
            self.dashed(a, b)
        if points:
            x, y = points[1] if len(points) > 1 else points[0]
            self.text((x + arm + 3, y - arm), label, CALIPER_RGB, "ls")
        return f"{label}  {value}".strip()

    def dashed(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        length = math.dist(a, b)
        dash = 4.0 * self.unit
        steps = max(1, int(length // dash))
        for i in range(0, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            p0 = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0)
            p1 = (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)
            self.draw_.line([p0, p1], fill=CALIPER_RGB, width=self.unit)

    def legend(self, lines: Sequence[str]) -> None:
        line_h = self.font.size + 4 if isinstance(self.font, ImageFont.FreeTypeFont) else 14
        y = 6.0
        for line in lines:
            self.text((6.0, y), line, CALIPER_RGB)
            y += line_h

    def depth_scale(self) -> None:
        """A ruler down the tissue image's right edge: a tick every 5 mm (10 mm on deep images),
        labelled in mm; clear of a colour bar beside it and of a spectrum strip below it."""
        width = min(self.image.size[0], round(self.tissue_mm[0] * self.s))
        height = min(self.image.size[1], round(self.tissue_mm[1] * self.s))
        x = width - 4 * self.unit
        depth_mm = self.tissue_mm[1] - self.origin_mm
        step = 10.0 if depth_mm > 40 else 5.0
        minor = step / 5 if depth_mm <= 15 else step / 2
        top = self.px((0.0, 0.0))[1]
        self.draw_.line([(x, top), (x, height - 1)], fill=SCALE_RGB, width=self.unit)
        font_px = self.font.size if isinstance(self.font, ImageFont.FreeTypeFont) else 12
        for i in range(int(depth_mm / minor + 1e-6) + 1):
            depth = i * minor
            y = self.px((0.0, depth))[1]
            major = abs(depth / step - round(depth / step)) < 1e-6
            tick = (8 if major else 4) * self.unit
            self.draw_.line([(x - tick, y), (x, y)], fill=SCALE_RGB, width=self.unit)
            # Labels stay inside the picture; the bottom corner is the unit's.
            if major and y < height - 2.2 * font_px:
                self.text((x - tick - 3, max(y, top + font_px / 2 + 1)), f"{depth:g}", SCALE_RGB, "rm")
        self.text((x - 3, height - 3), "mm", SCALE_RGB, "rd")

    def body_marker(self, marker: Mapping[str, Any]) -> None:
        """The pictogram in the bottom-left corner: outline of the region, the probe bar, side and region."""
        u = self.unit
        w, h = 60 * u, 78 * u
        left, top = 4 * u, self.image.size[1] - h - 4 * u
        d = self.draw_
        d.rectangle([left, top, left + w, top + h], fill=MARKER_BOX_RGB, outline=MARKER_LINE_RGB)
        region = str(marker.get("region", ""))
        cx = left + w / 2
        y0, y1 = top + 6 * u, top + h - 18 * u
        if region in ("Hip", "DVT groin / thigh"):
            d.rounded_rectangle(
                [cx - 22 * u, y0, cx + 22 * u, y0 + 18 * u], 6 * u, outline=MARKER_LINE_RGB, width=u
            )
            d.rounded_rectangle(
                [cx - 9 * u, y0 + 15 * u, cx + 9 * u, y1], 6 * u, outline=MARKER_LINE_RGB, width=u
            )
        elif region == "Shoulder":
            d.ellipse([cx - 7 * u, y0, cx + 7 * u, y0 + 14 * u], outline=MARKER_LINE_RGB, width=u)
            d.rounded_rectangle(
                [cx - 24 * u, y0 + 16 * u, cx + 24 * u, y0 + 30 * u], 6 * u, outline=MARKER_LINE_RGB, width=u
            )
        else:
            d.rounded_rectangle([cx - 9 * u, y0, cx + 9 * u, y1], 7 * u, outline=MARKER_LINE_RGB, width=u)
            mid = (y0 + y1) / 2
            d.ellipse([cx - 12 * u, mid - 9 * u, cx + 12 * u, mid + 9 * u], outline=MARKER_LINE_RGB, width=u)
        # the probe, as the screen's body marker draws it: a bar at `probe_along`, turned by its angle
        along = min(1.0, max(0.0, float(marker.get("probe_along", 0.5))))
        py = y0 + along * (y1 - y0)
        ux, uy = probe_icon_direction(float(marker.get("probe_angle_deg", 0.0)))
        dx, dy = ux * 12 * u, uy * 12 * u
        d.line([(cx - dx, py - dy), (cx + dx, py + dy)], fill=PROBE_RGB, width=3 * u)
        dot = (cx - dx * 1.2, py - dy * 1.2)
        d.ellipse([dot[0] - 2 * u, dot[1] - 2 * u, dot[0] + 2 * u, dot[1] + 2 * u], fill=PROBE_RGB)
        side = str(marker.get("side", ""))
        short = region.split(" /", maxsplit=1)[0].split(" (", maxsplit=1)[0]
        self.text((cx, top + h - 4 * u), f"{side} {short}".strip(), TEXT_RGB, "md")
