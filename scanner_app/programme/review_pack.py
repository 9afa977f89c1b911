"""The quarterly quality review pack: the period's flagged cases as HTML slides and a PDF.

Each case shows its de-identified key images (pixels and calipers only: no name, ID, date or typed
text), the ultrasound finding, what later imaging, surgery or the lab found, and the reviewer's
verdict. No slide names the operator: the meeting is for everyone's learning. Statistics per finding
are for all; per operator only in a reviewer's (or administrator's) copy, or the viewer's own line.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PIL import Image as PilImage

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.people import User
from scanner_app.programme.quality import Classification, ReviewedCase, cases, review_stats
from scanner_app.studies.dicom_writer import first_frame
from scanner_app.studies.model import StudyError
from scanner_app.studies.report_images import ImageGeometry, png_of, render_key_image
from scanner_app.studies.store import StudyStore

MAX_IMAGES_PER_CASE = 3
VERDICT_WORDS = {
    Classification.CONCORDANT: "Concordant",
    Classification.GOOD_CALL: "Good call",
    Classification.MISS: "Miss (false negative)",
    Classification.OVERCALL: "Overcall (false positive)",
    Classification.INDETERMINATE: "Indeterminate",
}


@dataclass(frozen=True, slots=True)
class ReviewPack:
    html_path: Path
    pdf_path: Path
    cases: int


def quarter_of(day: date) -> tuple[date, date]:
    """[first day, first day of the next quarter) of the quarter `day` falls in."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end = date(day.year + (first_month == 10), 1 if first_month == 10 else first_month + 3, 1)
    return start, end


def _case_images(store: StudyStore | None, case: ReviewedCase, folder: Path, number: int) -> list[Path]:
    """The flagged image, or the study's key images (else its first captures), as PNG files."""
    if store is None:
        return []
    try:
        study = store.get_study(case.flag.study_uid)
    except StudyError:
        return []  # scanned on another workstation: the slide says so
    chosen = [c for c in study.captures if c.sop_instance_uid == case.flag.sop_instance_uid]
    chosen = chosen or [c for c in study.captures if c.labels.key_image] or list(study.captures)
    paths = []
    for i, record in enumerate(chosen[:MAX_IMAGES_PER_CASE]):
        ds = store.read_dataset(record)
        # Calipers and the body marker, not typed text: it may hold a name or a date.
        shown = [{k: v for k, v in a.items() if k != "texts"} for a in record.annotations]
        image = render_key_image(first_frame(ds), ImageGeometry.of(ds), shown)
        path = folder / f"case{number:02d}-{i + 1}.png"
        path.write_bytes(png_of(image))
        paths.append(path)
    return paths


def build_review_pack(
    db: ProgrammeDatabase, store: StudyStore | None, start: date, end: date, out_dir: Path, *, viewer: User
) -> ReviewPack:
    """Write `index.html` (slides: arrow keys or click to move) and `review-pack.pdf` into `out_dir`
    for the cases flagged in [start, end) that a reviewer has classified. Raises OSError when the
    folder cannot be written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images_dir = out_dir / "images"
    images_dir.mkdir(exist_ok=True)
    reviewed = [c for c in cases(db, start, end) if c.classification is not None]
    stats = review_stats(db, start, end, viewer)
    images = [_case_images(store, c, images_dir, n + 1) for n, c in enumerate(reviewed)]
    title = f"Quality review {start.isoformat()} to {end.isoformat()}"
    html_path = out_dir / "index.html"
    html_path.write_text(
        _html(title, reviewed, images, stats.by_finding, stats.by_operator), encoding="utf-8"
    )
    pdf_path = out_dir / "review-pack.pdf"
    pdf_path.write_bytes(_pdf(title, reviewed, images, stats.by_finding, stats.by_operator))
    return ReviewPack(html_path, pdf_path, len(reviewed))


def _outcome_lines(case: ReviewedCase) -> list[str]:
    return [f"{o.kind.value.upper()}: {o.text}" for o in case.outcomes] or ["No outcome recorded yet"]


def _counts_table(rows: dict[str, Counter[str]]) -> list[list[str]]:
    verdicts = list(Classification)
    table = [["", *[VERDICT_WORDS[v] for v in verdicts]]]
    for name, counts in sorted(rows.items()):
        table.append([name, *[str(counts.get(v.value, 0)) for v in verdicts]])
    return table


def _html(
    title: str, reviewed: list[ReviewedCase], images: list[list[Path]],
    by_finding: dict[str, Counter[str]], by_operator: dict[str, Counter[str]],
) -> str:  # fmt: skip
    e = html.escape
    slides = [f"<section><h1>{e(title)}</h1><p>{len(reviewed)} reviewed cases</p></section>"]
    for n, (case, pics) in enumerate(zip(reviewed, images, strict=True), start=1):
        imgs = "".join(f'<img src="images/{p.name}" alt="case {n} image">' for p in pics) or (
            "<p><i>Images are on another workstation or in PACS.</i></p>"
        )
        outcomes = "".join(f"<li>{e(line)}</li>" for line in _outcome_lines(case))
        verdict = VERDICT_WORDS[case.classification] if case.classification else ""
        note = f"<p>{e(case.note)}</p>" if case.note else ""
        slides.append(
            f"<section><h2>Case {n}</h2><div class=imgs>{imgs}</div>"
            f"<p><b>Ultrasound:</b> {e(case.flag.finding or '—')}</p>"
            f"<p><b>Outcome:</b></p><ul>{outcomes}</ul>"
            f"<p class=verdict><b>Verdict:</b> {e(verdict)}</p>{note}</section>"
        )
    for heading, rows in (("By finding", by_finding), ("By operator", by_operator)):
        if rows:
            body = "".join(
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _counts_table(rows)
            )
            slides.append(f"<section><h2>{heading}</h2><table>{body}</table></section>")
    return _PAGE.replace("{title}", e(title)).replace("{slides}", "\n".join(slides))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body { margin: 0; background: #111; color: #eee; font-family: sans-serif; }
section { display: none; min-height: 100vh; box-sizing: border-box; padding: 3vh 4vw; }
section.on { display: block; }
.imgs img { max-height: 55vh; max-width: 30vw; margin-right: 1vw; border: 1px solid #444; }
table { border-collapse: collapse; } td { border: 1px solid #555; padding: 4px 10px; }
.verdict { font-size: 1.4em; }
</style></head><body>
{slides}
<script>
const s = document.querySelectorAll("section"); let i = 0;
function show(n) {
  s[i].classList.remove("on"); i = Math.max(0, Math.min(s.length - 1, n)); s[i].classList.add("on");
}
s[0].classList.add("on");
document.addEventListener("keydown", ev => { if (ev.key === "ArrowRight" || ev.key === " ") show(i + 1);
  if (ev.key === "ArrowLeft") show(i - 1); });
document.addEventListener("click", () => show(i + 1));
</script></body></html>
"""


def _pdf(
    title: str, reviewed: list[ReviewedCase], images: list[list[Path]],
    by_finding: dict[str, Counter[str]], by_operator: dict[str, Counter[str]],
) -> bytes:  # fmt: skip
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    e = html.escape
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=title)
    story: list[object] = [
        Paragraph(e(title), styles["Title"]),
        Paragraph(f"{len(reviewed)} reviewed cases", body),
    ]
    for n, (case, pics) in enumerate(zip(reviewed, images, strict=True), start=1):
        story += [PageBreak(), Paragraph(f"Case {n}", styles["Heading1"])]
        if pics:
            cells = []
            for p in pics:
                with PilImage.open(p) as im:
                    w, h = im.size
                scale = min(85 * mm / w, 95 * mm / h)
                cells.append(Image(str(p), width=w * scale, height=h * scale))
            story.append(Table([cells]))
        else:
            story.append(Paragraph("<i>Images are on another workstation or in PACS.</i>", body))
        story.append(Paragraph(f"<b>Ultrasound:</b> {e(case.flag.finding or '—')}", body))
        story += [Paragraph(f"<b>Outcome:</b> {e(line)}", body) for line in _outcome_lines(case)]
        verdict = VERDICT_WORDS[case.classification] if case.classification else ""
        story.append(Paragraph(f"<b>Verdict:</b> {e(verdict)}", styles["Heading2"]))
        if case.note:
            story.append(Paragraph(e(case.note), body))
    for heading, rows in (("By finding", by_finding), ("By operator", by_operator)):
        if rows:
            table = Table(_counts_table(rows))
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey)]))
            story += [PageBreak(), Paragraph(heading, styles["Heading1"]), table]
    doc.build(story)
    return out.getvalue()
