"""Text burned into a key image reads as the screen shows it: a length x depth caliper's × and ² are
drawn as glyphs, not as the empty boxes of a font that lacks them (a newcomer's report read
"L 27.6☐D 5.8 mm, 125.4 mm☐"); without the screen's font, ASCII stand-ins are drawn instead."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import ImageDraw, ImageFont

from scanner_app.studies import report_images
from scanner_app.studies.report_images import ImageGeometry, has_glyph, render_key_image

LXD = {
    "type": "measurement",
    "label": "A",
    "points_mm": [[5.0, 10.0], [32.6, 10.0], [18.0, 8.0], [18.0, 13.8]],
    "length_mm": 27.6,
    "depth_mm": 5.8,
    "area_mm2": 125.4,
}


def _drawn_texts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Render a key image with the L x D caliper, recording each text drawn and its font."""
    drawn: list[tuple[str, Any]] = []
    original = ImageDraw.ImageDraw.text

    def recording(self: ImageDraw.ImageDraw, xy: Any, text: Any, *args: Any, **kwargs: Any) -> None:
        drawn.append((str(text), kwargs.get("font")))
        original(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", recording)
    pixels = np.full((200, 190), 60, dtype=np.uint8)
    render_key_image(pixels, ImageGeometry((0.2, 0.2), 0.0), [LXD])
    return drawn


def test_the_caliper_legend_is_drawn_in_glyphs_the_font_has(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _drawn_texts(monkeypatch)
    legend = [(text, font) for text, font in drawn if text.startswith("A  L 27.6")]
    assert legend, [t for t, _f in drawn]
    for text, font in drawn:
        assert [c for c in text if not has_glyph(font, c)] == [], text
    (text, _font), *_ = legend
    assert text == "A  L 27.6 × D 5.8 mm, 125.4 mm²"  # the screen's font has both


def test_without_the_screens_font_stand_ins_are_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_images, "BURN_FONTS", ("no-such-font.ttf",))
    drawn = _drawn_texts(monkeypatch)
    for text, font in drawn:
        assert [c for c in text if not has_glyph(font, c)] == [], text
    assert "A  L 27.6 x D 5.8 mm, 125.4 mm2" in [t for t, _f in drawn]


def test_a_missing_glyph_is_told_apart() -> None:
    """Pillow's own font lacks × and ² (the boxes the newcomer saw) and has x and 2."""
    pillows = ImageFont.load_default(size=13)
    assert not has_glyph(pillows, "×") and not has_glyph(pillows, "²")
    assert has_glyph(pillows, "x") and has_glyph(pillows, "2") and has_glyph(pillows, " ")
