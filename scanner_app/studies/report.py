"""Exam report: protocol steps, findings, measurements and key images, as HTML and as PDF (reportlab).

The report is built from what is on disk (study.json and the DICOM files), so it shows exactly what
was kept. The protocol run record is the runner's opaque dict; the keys read here are `title`,
`steps` (list of dicts with id/title/status/note), `findings` (strings or dicts with `text`) and
`measurements` (dicts with label/value/unit or value_mm); anything else is listed as data.

Person names are shown from their DICOM components ("Family, Given Middle, Prefix Suffix", then the
ideographic and phonetic groups); in the PDF, runs of Chinese, Japanese and Korean text are set in
reportlab's built-in CID fonts, since the standard PDF fonts have no such glyphs.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from scanner_app.capture import CaptureKind
from scanner_app.studies.dicom_writer import first_frame, write_file_atomic
from scanner_app.studies.model import Study, StudyCapture
from scanner_app.studies.store import StudyStore

_KNOWN_RECORD_KEYS = ("title", "steps", "findings", "measurements", "protocol_id")


@dataclass(frozen=True, slots=True)
class KeyImage:
    """One key image for the report: a PNG with square pixels and its caption."""

    png: bytes
    caption: str
    width_px: int
    height_px: int


@dataclass(frozen=True, slots=True)
class ReportContent:
    """Everything a report shows, independent of HTML or PDF."""

    title: str
    header: tuple[tuple[str, str], ...]
    steps: tuple[tuple[str, str, str, str], ...]  # id, title, status, note
    findings: tuple[str, ...]
    measurements: tuple[tuple[str, str, str], ...]  # label, value, source
    key_images: tuple[KeyImage, ...]
    other_record_data: str


def _png_square_pixels(pixels: npt.NDArray[np.uint8], spacing_mm: tuple[float, float]) -> KeyImage:
    """Resample so one pixel is as tall as it is wide, so the picture has the true shape."""
    axial_mm, lateral_mm = spacing_mm
    rows, cols = pixels.shape
    image = Image.fromarray(np.ascontiguousarray(pixels), mode="L")
    if lateral_mm > axial_mm:
        image = image.resize((round(cols * lateral_mm / axial_mm), rows), Image.Resampling.BILINEAR)
    elif axial_mm > lateral_mm:
        image = image.resize((cols, round(rows * axial_mm / lateral_mm)), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return KeyImage(buffer.getvalue(), "", image.width, image.height)


def _key_image(store: StudyStore, record: StudyCapture) -> KeyImage:
    ds = store.read_dataset(record)
    pixels = first_frame(ds)
    region = ds.SequenceOfUltrasoundRegions[0]
    spacing_mm = (float(region.PhysicalDeltaY) * 10.0, float(region.PhysicalDeltaX) * 10.0)
    image = _png_square_pixels(pixels, spacing_mm)
    caption = f"#{record.instance_number} {record.labels.describe() or record.kind.value}"
    if record.kind is CaptureKind.CLIP:
        caption += f" (clip, first of {record.number_of_frames} frames)"
    return KeyImage(image.png, caption, image.width_px, image.height_px)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _measurement_value(m: Mapping[str, Any]) -> str:
    if "value_mm" in m:
        return f"{float(m['value_mm']):.1f} mm"
    if "value" in m:
        unit = str(m.get("unit", ""))
        return f"{_text(m['value'])} {unit}".strip()
    return _text({k: v for k, v in m.items() if k != "label"})


def build_report(store: StudyStore, study_uid: str, *, max_key_images: int = 12) -> ReportContent:
    """Gather the report's content from the stored study."""
    study = store.get_study(study_uid)
    record: Mapping[str, Any] = study.protocol_record or {}
    header = _header(study)
    steps: list[tuple[str, str, str, str]] = []
    for step in record.get("steps", []) or []:
        if isinstance(step, Mapping):
            steps.append(
                (
                    _text(step.get("id", "")),
                    _text(step.get("title", "")),
                    _text(step.get("status", "")),
                    _text(step.get("note", step.get("findings", ""))),
                )
            )
    findings = tuple(
        _text(f.get("text", f)) if isinstance(f, Mapping) else _text(f)
        for f in record.get("findings", []) or []
    )
    measurements: list[tuple[str, str, str]] = []
    for m in record.get("measurements", []) or []:
        if isinstance(m, Mapping):
            measurements.append((_text(m.get("label", "")), _measurement_value(m), "protocol"))
    for capture in study.captures:
        for a in capture.annotations:
            if "value_mm" in a or "value" in a:
                measurements.append(
                    (_text(a.get("label", "")), _measurement_value(a), f"image #{capture.instance_number}")
                )
    flagged = [c for c in study.captures if c.labels.key_image]
    chosen = flagged or [c for c in study.captures if c.kind is CaptureKind.STILL]
    key_images = tuple(_key_image(store, c) for c in chosen[:max_key_images])
    other = {k: v for k, v in record.items() if k not in _KNOWN_RECORD_KEYS}
    title = _text(record.get("title") or study.description or study.protocol_id or "Ultrasound examination")
    return ReportContent(
        title=title,
        header=header,
        steps=tuple(steps),
        findings=findings,
        measurements=tuple(measurements),
        key_images=key_images,
        other_record_data=json.dumps(other, indent=2, ensure_ascii=False) if other else "",
    )


def format_person_name(value: str) -> str:
    """A DICOM PN for people: "Family, Given Middle, Prefix Suffix", with the ideographic and phonetic
    groups (family name first, space-separated) after it in parentheses; empty parts leave no gaps."""
    groups = [[c.strip() for c in (g.split("^") + [""] * 5)[:5]] for g in value.split("=")[:3]]
    texts: list[str] = []
    for i, (family, given, middle, prefix, suffix) in enumerate(groups):
        if i == 0:
            given_middle = " ".join(x for x in (given, middle) if x)
            prefix_suffix = " ".join(x for x in (prefix, suffix) if x)
            texts.append(", ".join(x for x in (family, given_middle, prefix_suffix) if x))
        else:
            texts.append(" ".join(x for x in (prefix, family, given, middle, suffix) if x))
    first, others = texts[0], [t for t in texts[1:] if t]
    if not first:
        return ", ".join(others)
    return f"{first} ({', '.join(others)})" if others else first


def _header(study: Study) -> tuple[tuple[str, str], ...]:
    p = study.patient
    rows = [
        ("Patient", "Practice subject" if p.practice_subject else format_person_name(p.name)),
        ("Patient ID", p.patient_id),
        ("Birth date", p.birth_date),
        ("Sex", p.sex),
        ("Study date", study.started_at.strftime("%Y-%m-%d %H:%M")),
        ("Protocol", study.protocol_id),
        ("Operator", format_person_name(study.operator)),
        ("Trainee", format_person_name(study.trainee)),
        ("Supervisor", format_person_name(study.supervisor)),
        ("Accession", study.accession_number),
    ]
    return tuple((k, v) for k, v in rows if v)


def render_html(content: ReportContent) -> str:
    """A self-contained HTML page (images embedded as PNG data URIs)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(content.title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:left}"
        "figure{display:inline-block;margin:8px}</style></head><body>",
        f"<h1>{e(content.title)}</h1>",
        "<table>",
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in content.header),
        "</table>",
    ]
    if content.steps:
        parts += [
            "<h2>Protocol steps</h2>",
            "<table><tr><th>Step</th><th>Title</th><th>Status</th><th>Note</th></tr>",
        ]
        parts += [
            f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td><td>{e(d)}</td></tr>"
            for a, b, c, d in content.steps
        ]
        parts.append("</table>")
    if content.findings:
        parts += ["<h2>Findings</h2>", "<ul>", *(f"<li>{e(f)}</li>" for f in content.findings), "</ul>"]
    if content.measurements:
        parts += ["<h2>Measurements</h2>", "<table><tr><th>Measurement</th><th>Value</th><th>From</th></tr>"]
        parts += [
            f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td></tr>" for a, b, c in content.measurements
        ]
        parts.append("</table>")
    if content.key_images:
        parts.append("<h2>Key images</h2>")
        for image in content.key_images:
            data = base64.b64encode(image.png).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" width="{image.width_px}" '
                f'height="{image.height_px}" alt="{e(image.caption)}"><figcaption>{e(image.caption)}'
                "</figcaption></figure>"
            )
    if content.other_record_data:
        parts += ["<h2>Other record data</h2>", f"<pre>{e(content.other_record_data)}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(store: StudyStore, study_uid: str, path: Path) -> Path:
    content = build_report(store, study_uid)
    write_file_atomic(Path(path), render_html(content).encode("utf-8"))
    return Path(path)


# reportlab's built-in CID fonts (the viewer supplies the glyphs; no font file needed), per script.
CJK_FONTS = {"ja": "HeiseiKakuGo-W5", "ko": "HYSMyeongJo-Medium"}


def _script(char: str) -> str:
    """'kana', 'hangul', 'han', 'cjk' (CJK punctuation and full-width forms) or '' for anything else."""
    code = ord(char)
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF65 <= code <= 0xFF9F:
        return "kana"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3FFFF:
        return "han"
    if 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF:
        return "cjk"
    return ""


def cjk_font_for(text: str) -> str | None:
    """The CID font for the CJK characters in `text`, or None if it has none: Hangul means Korean,
    anything else (kana, kanji) Japanese. Han alone cannot tell Japanese from Chinese; the Japanese
    font is chosen, so a name in kanji shows (a simplified-Chinese character outside Adobe-Japan1 would
    not). The fonts are not embedded: the viewer supplies CJK glyphs (Acrobat's Asian fonts, or
    system CJK fonts through fontconfig for poppler)."""
    scripts = {_script(c) for c in text} - {""}
    if not scripts:
        return None
    if "hangul" in scripts and "kana" not in scripts:
        return CJK_FONTS["ko"]
    return CJK_FONTS["ja"]


def pdf_markup(text: str) -> str:
    """`text` escaped for a reportlab Paragraph, with CJK runs wrapped in a <font> of a CID font."""
    font = cjk_font_for(text)
    if font is None:
        return html.escape(text)
    out: list[str] = []
    for is_cjk, chars in itertools.groupby(text, key=lambda c: bool(_script(c))):
        chunk = html.escape("".join(chars))
        out.append(f'<font name="{font}">{chunk}</font>' if is_cjk else chunk)
    return "".join(out)


def _register_cjk_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    registered = set(pdfmetrics.getRegisteredFontNames())
    for name in CJK_FONTS.values():
        if name not in registered:
            pdfmetrics.registerFont(UnicodeCIDFont(name))


def render_pdf(content: ReportContent) -> bytes:
    """The same report as a PDF document (A4), made with reportlab."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image as PdfImage
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle, XPreformatted

    _register_cjk_fonts()
    styles = getSampleStyleSheet()
    e = pdf_markup
    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")])

    def table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> Table:
        body = [[Paragraph(e(cell), styles["BodyText"]) for cell in row] for row in rows]
        if header:
            body.insert(0, [Paragraph(f"<b>{e(h)}</b>", styles["BodyText"]) for h in header])
        t = Table(body, hAlign="LEFT")
        t.setStyle(grid)
        return t

    story: list[Any] = [
        Paragraph(e(content.title), styles["Title"]),
        table(content.header),
        Spacer(1, 6 * mm),
    ]
    if content.steps:
        story += [
            Paragraph("Protocol steps", styles["Heading2"]),
            table(content.steps, ("Step", "Title", "Status", "Note")),
        ]
    if content.findings:
        story.append(Paragraph("Findings", styles["Heading2"]))
        story += [Paragraph(f"• {e(f)}", styles["BodyText"]) for f in content.findings]
    if content.measurements:
        story += [
            Paragraph("Measurements", styles["Heading2"]),
            table(content.measurements, ("Measurement", "Value", "From")),
        ]
    if content.key_images:
        story.append(Paragraph("Key images", styles["Heading2"]))
        max_w, max_h = 80 * mm, 100 * mm
        for image in content.key_images:
            scale = min(max_w / image.width_px, max_h / image.height_px)
            story.append(
                PdfImage(io.BytesIO(image.png), width=image.width_px * scale, height=image.height_px * scale)
            )
            story.append(Paragraph(e(image.caption), styles["Italic"]))
    if content.other_record_data:
        story += [
            Paragraph("Other record data", styles["Heading2"]),
            XPreformatted(e(content.other_record_data), styles["Code"]),
        ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=content.title, author="scanner-app", invariant=1)
    doc.build(story)
    return buffer.getvalue()


def write_pdf_report(store: StudyStore, study_uid: str, path: Path) -> Path:
    content = build_report(store, study_uid)
    write_file_atomic(Path(path), render_pdf(content))
    return Path(path)
