"""A person's logbook as CSV (for spreadsheets) and PDF (to print and keep), with pathway progress."""

from __future__ import annotations

import csv
import io
from datetime import date
from xml.sax.saxutils import escape

from scanner_app.programme.logbook import LogbookEntry
from scanner_app.programme.pathways import PathwayProgress

CSV_COLUMNS = (
    "date", "study_uid", "role", "region", "protocol", "supervised", "supervisor", "findings", "practice",
    "signed_off_by", "signed_off_at", "workstation",
)  # fmt: skip


def _row(e: LogbookEntry) -> list[str]:
    return [
        e.performed_on.isoformat(), e.study_uid, e.role_in_exam, e.region, e.protocol_id,
        "yes" if e.supervised else "no", e.supervisor, e.findings, "yes" if e.practice else "no",
        e.signed_off_by, e.signed_off_at.isoformat(timespec="minutes") if e.signed_off_at else "",
        e.workstation,
    ]  # fmt: skip


def logbook_csv(entries: list[LogbookEntry]) -> str:
    """One line per entry under a header of CSV_COLUMNS."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_row(e) for e in entries)
    return out.getvalue()


def logbook_pdf(person: str, entries: list[LogbookEntry], progress: list[PathwayProgress], on: date) -> bytes:
    """The logbook on A4 landscape: pathway progress first, then every entry with its sign-off."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            title=f"Logbook: {person}")  # fmt: skip
    story: list[object] = [
        Paragraph(f"Ultrasound logbook — {escape(person)}", styles["Title"]),
        Paragraph(
            f"As of {on.isoformat()}: {len(entries)} examinations, "
            f"{sum(e.signed_off for e in entries)} signed off.",
            body,
        ),
        Spacer(1, 4 * mm),
    ]
    for p in progress:
        state = "complete" if p.complete else "in progress"
        story.append(Paragraph(f"<b>{escape(p.pathway.title)}</b> — {state}", body))
        for r in p.requirements:
            story.append(Paragraph(
                f"{escape(r.requirement.title)}: {r.done} of {r.requirement.count} "
                f"since {r.window_start.isoformat()}", body))  # fmt: skip
        if p.excluded_qa_failed:
            story.append(Paragraph(f"{p.excluded_qa_failed} examination(s) not counted: QA review "
                                   "classified them a miss or an overcall.", body))  # fmt: skip
        story.append(Spacer(1, 3 * mm))
    header = ["Date", "Role", "Region", "Protocol", "Supervised by", "Findings", "Signed off"]
    rows = [[Paragraph(f"<b>{h}</b>", body) for h in header]]
    for e in entries:
        signed = f"{e.signed_off_by} {e.signed_off_at:%Y-%m-%d}" if e.signed_off_at else "—"
        cells = [e.performed_on.isoformat(), e.role_in_exam, e.region, e.protocol_id,
                 e.supervisor or "—", e.findings or "—", signed]  # fmt: skip
        if e.practice:
            cells[3] += " (practice)"
        rows.append([Paragraph(escape(c), body) for c in cells])
    table = Table(
        rows, repeatRows=1, colWidths=[24 * mm, 20 * mm, 24 * mm, 38 * mm, 34 * mm, 88 * mm, 38 * mm]
    )
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))  # fmt: skip
    story.append(table)
    doc.build(story)
    return out.getvalue()
