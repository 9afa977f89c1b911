"""The clinical report of an exam: who and what, the protocol's steps and findings in words, the
measurements with their image and step, the impression and sign-off, and key images with their
calipers burned in; as HTML and as PDF (reportlab), and as the PDF a PACS keeps (encapsulated_pdf).

The report is built from what is on disk (study.json and the DICOM files), so it shows exactly what
was kept. The protocol record is the checklist runner's `ExamRecord.to_dict()` (steps with step_id,
title, status, skip_reason, findings [{id, title}], measurements [{measurement_id, value, unit}]); an
older record's keys (steps with id/note, top-level findings and measurements) are read too. Nothing is
ever shown as raw data: a value the report cannot put in words is left out.

Person names are shown from their DICOM components ("Family, Given Middle, Prefix Suffix", then the
ideographic and phonetic groups); in the PDF, runs of Chinese, Japanese and Korean text are set in
reportlab's built-in CID fonts, since the standard PDF fonts have no such glyphs.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from scanner_app.capture import CaptureKind, ImagingMode
from scanner_app.doppler_capture import is_doppler_setting
from scanner_app.studies.dicom_writer import APP_NAME, APP_VERSION, first_frame, write_file_atomic
from scanner_app.studies.model import Study, StudyCapture, StudyDocument, StudyError
from scanner_app.studies.report_images import (
    ImageGeometry,
    KeyImage,
    measurement_text,
    png_of,
    render_key_image,
)
from scanner_app.studies.store import REPORT_HTML, REPORT_PDF, StudyStore

__all__ = ["KeyImage", "ReportContent", "build_report", "render_html", "render_pdf", "sign_and_store_report"]

SEX_WORDS = {"M": "Male", "F": "Female", "O": "Other"}
SIDE_WORDS = {"R": "right", "L": "left", "B": "both sides"}
STATUS_WORDS = {
    "done": "Done",
    "skipped": "Skipped",
    "incomplete": "Incomplete",
    "pending": "Not done",
    "current": "Not finished",
}
NOT_SIGNED = "Not signed: preliminary report"


@dataclass(frozen=True, slots=True)
class StepRow:
    """One protocol step as the report lists it."""

    title: str
    status: str  # "Done", "Skipped: dressing", "Incomplete: missing 1 still, long axis"
    findings: str  # finding titles in words, "" when none were recorded


@dataclass(frozen=True, slots=True)
class MeasurementRow:
    """One measurement: what, how much, from which step and on which image(s)."""

    label: str
    value: str  # with its unit: "6.2 mm"
    step: str
    image: str  # "#3", "#3, #4" or "" when it was not made on an image


@dataclass(frozen=True, slots=True)
class ReportContent:
    """Everything a report shows, independent of HTML or PDF."""

    title: str
    header: tuple[tuple[str, str], ...]
    steps: tuple[StepRow, ...]
    findings: tuple[str, ...]  # sentences: "Suprapatellar recess: joint effusion; effusion depth 6.2 mm."
    measurements: tuple[MeasurementRow, ...]
    impression: str
    signed: str  # "Signed by Jones, Ann on 14 Jan 2025 at 11:02", or NOT_SIGNED
    key_images: tuple[KeyImage, ...]
    patient_line: str  # on every page: name, ID, birth date
    author: str  # who signed, else the operator
    subject: str
    qa_review: tuple[str, ...] = ()  # unexpected findings to review: "Popliteal vein: Unexpected: Baker cyst"
    procedure: tuple[tuple[str, str], ...] = ()  # a guided procedure's documentation: (what, value) rows


def format_date(value: date) -> str:
    """A date as a person reads it, unambiguous in any locale: '14 Jan 1965'."""
    return f"{value.day} {value.strftime('%b %Y')}"


def _birth_date(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def age_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def humanise_id(identifier: str) -> str:
    """'effusion_depth_mm' -> 'Effusion depth': for an id the protocol gave no title for."""
    words = identifier.replace("-", "_").split("_")
    if len(words) > 1 and words[-1] in ("mm", "cm", "mm2", "ml", "cms", "deg", "s"):
        words = words[:-1]
    text = " ".join(w for w in words if w)
    return text[:1].upper() + text[1:]


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value) if isinstance(value, str) else ""
    return f"{float(value):.1f}" if isinstance(value, float) else str(value)


def _words(value: object) -> str:
    """A value a person can read, or '' (never a dump of a dict or a list)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    if isinstance(value, Mapping):
        return _words(value.get("title") or value.get("text") or "")
    if isinstance(value, list | tuple):
        return ", ".join(w for w in (_words(v) for v in value) if w)
    return ""


def _step_id(step: Mapping[str, Any]) -> str:
    return str(step.get("step_id") or step.get("id") or "")


def _caliper_entries(capture: StudyCapture) -> list[Mapping[str, Any]]:
    """The capture's own measurements: calipers (older captures kept them without a "type") and a
    Doppler capture's named measurements (PSV, RI...), not the Doppler settings stored beside them."""
    return [
        a
        for a in capture.annotations
        if (a.get("type") == "measurement" or ("type" not in a and ("value_mm" in a or "value" in a)))
        and not is_doppler_setting(a)
    ]


def _doppler_settings_text(capture: StudyCapture) -> str:
    """The Doppler settings a capture was taken with, for its caption: 'PRF 5000 Hz, angle...'."""
    parts = []
    for a in capture.annotations:
        if a.get("type") == "measurement" and is_doppler_setting(a):
            value = a.get("value")
            shown = f"{value:g}" if isinstance(value, float) else _words(value)
            parts.append(f"{_words(a.get('name'))} {shown} {_words(a.get('unit', ''))}".strip())
    return ", ".join(parts)


def build_report(
    store: StudyStore,
    study_uid: str,
    *,
    titles: Mapping[str, str] | None = None,
    max_key_images: int = 12,
) -> ReportContent:
    """Gather the report's content from the stored study; `titles` names measurement ids in words
    (the protocol's measurement titles), else the ids are turned into words. Key images: every image
    a measurement points to, then key-flagged images or stills up to `max_key_images`."""
    study = store.get_study(study_uid)
    record: Mapping[str, Any] = study.protocol_record or {}
    names = dict(titles or {})
    raw_steps = [s for s in record.get("steps", []) or [] if isinstance(s, Mapping)]
    step_titles = {_step_id(s): _words(s.get("title", "")) for s in raw_steps}
    for c in study.captures:
        if c.labels.step_id and c.labels.step_title:
            step_titles.setdefault(c.labels.step_id, c.labels.step_title)
    images_of_step: dict[str, list[StudyCapture]] = {}
    for c in study.captures:
        images_of_step.setdefault(c.labels.step_id, []).append(c)
    missing_of_step: dict[str, list[str]] = {}
    for item in record.get("missing", []) or []:
        if isinstance(item, Mapping):
            missing_of_step.setdefault(str(item.get("step_id", "")), []).append(
                _words(item.get("description"))
            )

    steps: list[StepRow] = []
    findings: list[str] = []
    measurements: list[MeasurementRow] = []
    referenced: list[StudyCapture] = []  # the images measurement and procedure rows point to
    for s in raw_steps:
        sid = _step_id(s)
        title = step_titles.get(sid) or humanise_id(sid)
        status_key = _words(s.get("status", "")).lower()
        status = STATUS_WORDS.get(status_key, status_key.capitalize())
        reason = _words(s.get("skip_reason") or (s.get("note") if status_key == "skipped" else ""))
        if status_key == "skipped":
            status = f"Skipped: {reason}" if reason else "Skipped (no reason given)"
        elif missing_of_step.get(sid):
            status = f"{status}: missing {'; '.join(m for m in missing_of_step[sid] if m)}"
        found = [_words(f) for f in s.get("findings", []) or []]
        if not found and status_key != "skipped" and isinstance(s.get("note"), str):
            found = [s["note"]]  # an older record's free-text note
        found = [f for f in found if f]
        typed: list[str] = []
        for m in s.get("measurements", []) or []:
            if not isinstance(m, Mapping):
                continue
            mid = str(m.get("measurement_id") or m.get("id") or m.get("label") or "")
            label = names.get(mid) or _words(m.get("title")) or humanise_id(mid)
            value = f"{_number(m.get('value'))} {_words(m.get('unit', ''))}".strip()
            on = _images_for(images_of_step.get(sid, []), m.get("value"))
            referenced += on
            measurements.append(MeasurementRow(label, value, title, _numbers(on)))
            typed.append(f"{label[:1].lower()}{label[1:]} {value}")
        steps.append(StepRow(title, status, ", ".join(found)))
        if found or typed:
            findings.append(f"{title}: {'; '.join([*found, *typed])}.")
    # an older record's top-level findings and measurements
    findings += [
        f"{w}." if not w.endswith(".") else w
        for w in (_words(f) for f in record.get("findings", []) or [])
        if w
    ]
    for m in record.get("measurements", []) or []:
        if isinstance(m, Mapping):
            value = measurement_text(m) or f"{_number(m.get('value'))} {_words(m.get('unit', ''))}".strip()
            measurements.append(MeasurementRow(_words(m.get("label", "")), value, "", ""))
    for c in study.captures:
        for a in _caliper_entries(c):
            label = _words(a.get("label") or a.get("name") or "")
            kind = {"distance": "caliper", "two_axis": "length × depth"}.get(str(a.get("kind", "")), "")
            shown = f"{label} ({kind})" if kind and len(label) <= 2 else label
            step = step_titles.get(c.labels.step_id, "") or c.labels.step_title
            referenced.append(c)
            measurements.append(MeasurementRow(shown, measurement_text(a), step, _numbers([c])))

    qa_review = tuple(
        f"{_words(q.get('step_title')) or humanise_id(str(q.get('step_id', '')))}: {_words(q.get('title'))}"
        for q in record.get("qa_review", []) or []
        if isinstance(q, Mapping) and _words(q.get("title"))
    )
    for _role, documented in _procedure_images(record.get("procedure"), study.captures):
        referenced += documented  # the images the procedure block points to
    key_images = tuple(
        _key_image(store, c, step_titles) for c in _key_captures(study.captures, referenced, max_key_images)
    )
    title = _words(record.get("protocol_title") or record.get("title")) or study.description
    title = title or humanise_id(study.protocol_id) or "Ultrasound examination"
    return ReportContent(
        title=title,
        header=_header(study, title, record),
        steps=tuple(steps),
        findings=tuple(findings),
        measurements=tuple(measurements),
        impression=study.sign_off.impression if study.sign_off else "",
        signed=_signed_text(study),
        key_images=key_images,
        patient_line=_patient_line(study),
        author=format_person_name(study.sign_off.signed_by if study.sign_off else study.operator),
        subject=f"Ultrasound report: {title}, {format_date(study.started_at.date())}",
        qa_review=qa_review,
        procedure=_procedure_rows(record.get("procedure"), study.captures),
    )


PROCEDURE_ROLE_WORDS = (
    ("pre_procedure", "Pre-procedure images"),
    ("needle", "Needle in the target"),
    ("post_procedure", "Post-procedure images"),
)
TIME_OUT_WORDS = {
    "patient_identity": "identity",
    "site_side_marked": "site and side marked",
    "consent": "consent",
    "allergies": "allergies",
    "anticoagulation": "anticoagulation",
}


def time_out_refusal(procedure: object) -> str:
    """Why a procedure's report may not be signed ("" when it may, or the exam is no procedure).

    `procedure` is the exam record's procedure block. A guided procedure is signed off only with its
    time-out recorded: completed, or its skipping recorded with a reason (the Time-out tab's one
    override, e.g. an emergency aspiration). Anything else is a hard stop, said in words."""
    if not isinstance(procedure, Mapping):
        return ""
    raw_time_out = procedure.get("time_out")
    time_out: Mapping[str, Any] = raw_time_out if isinstance(raw_time_out, Mapping) else {}
    if time_out.get("complete") or _words(time_out.get("skip_reason")).strip():
        return ""
    items = [i for i in time_out.get("items", []) or [] if isinstance(i, Mapping)]
    open_items = [
        TIME_OUT_WORDS.get(str(i.get("id")), _words(i.get("title"))) for i in items if not i.get("confirmed")
    ]
    unconfirmed = f"{', '.join(x for x in open_items if x) or 'its items'} not confirmed"
    return f"No time-out recorded: {unconfirmed}, and no reason given to skip it"


def _procedure_rows(procedure: object, captures: Sequence[StudyCapture]) -> tuple[tuple[str, str], ...]:
    """The procedure block of the exam record as report rows; () for an exam that is no procedure."""
    if not isinstance(procedure, Mapping):
        return ()
    p = procedure
    raw_time_out = p.get("time_out")
    time_out: Mapping[str, Any] = raw_time_out if isinstance(raw_time_out, Mapping) else {}
    items = [i for i in time_out.get("items", []) or [] if isinstance(i, Mapping)]
    at = _words(time_out.get("at"))[11:16]  # hh:mm of the ISO time
    if time_out.get("complete"):
        checked = ", ".join(TIME_OUT_WORDS.get(str(i.get("id")), _words(i.get("title"))) for i in items)
        time_out_text = f"Complete{f' at {at}' if at else ''}: {checked}"
    elif time_out.get("skip_reason"):
        time_out_text = f"Skipped{f' at {at}' if at else ''}: {_words(time_out.get('skip_reason'))}"
    else:
        open_items = [TIME_OUT_WORDS.get(str(i.get("id")), "") for i in items if not i.get("confirmed")]
        time_out_text = f"Not completed (open: {', '.join(x for x in open_items if x)})"

    def amount(key: str, unit: str) -> str:
        value = p.get(key)
        return f"{value:g} {unit}" if isinstance(value, int | float) else ""  # 40 mg, not 40.0 mg

    gauge = f"{p.get('needle_gauge')} G" if isinstance(p.get("needle_gauge"), int) else ""
    needle = ", ".join(x for x in (gauge, amount("needle_length_mm", "mm")) if x)
    pain = [
        f"{p.get(key)}/10 {when}"
        for key, when in (("pain_before", "before"), ("pain_after", "right after"))
        if isinstance(p.get(key), int)
    ]
    weeks = [str(w) for w in p.get("follow_up_weeks", []) or []]
    rows = [
        ("Target", _words(p.get("target"))),
        ("Time-out", time_out_text),
        ("Medication", _words(p.get("medication"))),
        ("Dose", amount("dose_mg", "mg")),
        ("Volume", amount("volume_ml", "ml")),
        ("Needle", needle),
        ("Approach", _words(p.get("approach"))),
        ("Complications", _words(p.get("complications"))),
        ("Patient tolerance", _words(p.get("tolerance")).capitalize()),
        ("Pain score", ", ".join(pain)),
        ("Pain follow-up", f"at {' and '.join(weeks)} weeks" if weeks else ""),
    ]
    for words, documented in _procedure_images(p, captures):
        rows.append((words, _numbers(documented) or "none"))
    missing = [_words(m) for m in p.get("missing", []) or [] if _words(m)]
    if missing:
        rows.append(("Not documented", "; ".join(missing)))
    return tuple((k, v or "—") for k, v in rows)


def _procedure_images(
    procedure: object, captures: Sequence[StudyCapture]
) -> list[tuple[str, list[StudyCapture]]]:
    """Each documentation role of a procedure (pre-procedure, needle in the target, ...) in words,
    with the images taken at its steps; [] for an exam that is no procedure."""
    raw_steps = procedure.get("image_steps") if isinstance(procedure, Mapping) else None
    steps: Mapping[str, Any] = raw_steps if isinstance(raw_steps, Mapping) else {}
    return (
        [
            (words, [c for c in captures if c.labels.step_id in set(steps.get(role, []) or [])])
            for role, words in PROCEDURE_ROLE_WORDS
        ]
        if isinstance(procedure, Mapping)
        else []
    )


def _images_for(captures: Sequence[StudyCapture], value: object) -> list[StudyCapture]:
    """The image(s) a typed measurement was made on: the step's image whose caliper shows the same
    value, else the step's images (it was typed in that step, from what they show)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        for c in captures:
            for a in _caliper_entries(c):
                shown = a.get("distance_mm", a.get("value_mm"))
                if isinstance(shown, int | float) and round(float(shown), 1) == round(float(value), 1):
                    return [c]
    return list(captures)


def _numbers(captures: Sequence[StudyCapture]) -> str:
    return ", ".join(f"#{c.instance_number}" for c in captures)


def _key_captures(
    captures: Sequence[StudyCapture], referenced: Sequence[StudyCapture], most: int
) -> list[StudyCapture]:
    """The report's key images, in the order taken: every image a row of the report points to (a
    measurement's, a procedure step's: each must be there to see, however many), then those flagged
    as key images, else the stills, up to `most` in all."""
    flagged = [c for c in captures if c.labels.key_image]
    chosen = flagged or [c for c in captures if c.kind is CaptureKind.STILL]
    shown = {c.instance_number: c for c in referenced}
    for c in chosen:
        if len(shown) >= most:
            break
        shown.setdefault(c.instance_number, c)
    return sorted(shown.values(), key=lambda c: c.instance_number)


def _key_image(store: StudyStore, record: StudyCapture, step_titles: Mapping[str, str]) -> KeyImage:
    ds = store.read_dataset(record)
    # In colour when stored in colour: a colour Doppler image in grey shows no flow (and a grey bar).
    image = render_key_image(first_frame(ds), ImageGeometry.of(ds), record.annotations)
    labels = record.labels
    parts = [f"#{record.instance_number}"]
    step = step_titles.get(labels.step_id) or labels.step_title
    # The mode it was taken in, always: a B-mode still kept at a step that asked for colour must not
    # read as that step's colour image.
    mode = ImagingMode(labels.imaging_mode).words
    parts += [p for p in (step, labels.plane, SIDE_WORDS.get(labels.laterality, ""), mode) if p]
    caption = " · ".join(parts)
    if record.kind is CaptureKind.CLIP:
        caption += f" (clip, first of {record.number_of_frames} frames)"
    settings = _doppler_settings_text(record)
    if settings:
        caption += f" ({settings})"
    return KeyImage(png_of(image), caption, image.width, image.height)


def _signed_text(study: Study) -> str:
    s = study.sign_off
    if s is None:
        return NOT_SIGNED
    when = s.signed_at
    return f"Signed by {format_person_name(s.signed_by)} on {format_date(when.date())} at {when:%H:%M}"


def _patient_line(study: Study) -> str:
    p = study.patient
    if p.practice_subject:
        return f"Practice subject {p.patient_id}"
    born = _birth_date(p.birth_date)
    parts = [format_person_name(p.name) or "(no name)", f"ID {p.patient_id}"]
    if born is not None:
        parts.append(f"born {format_date(born)}")
    return " · ".join(parts)


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


def _header(study: Study, title: str, record: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    p = study.patient
    born = _birth_date(p.birth_date)
    birth = ""
    if born is not None:
        birth = f"{format_date(born)} (age {age_years(born, study.started_at.date())})"
    elif p.birth_date:
        birth = p.birth_date
    side = {"left": "left", "right": "right", "bilateral": "both sides"}.get(
        _words(record.get("side", "")), ""
    )
    rows = [
        ("Patient", "Practice subject" if p.practice_subject else format_person_name(p.name)),
        ("Birth date", birth),
        ("Sex", SEX_WORDS.get(p.sex, p.sex)),
        ("Patient ID", p.patient_id),
        ("Accession", study.accession_number),
        ("Referring physician", format_person_name(study.referring_physician)),
        ("Exam date", f"{format_date(study.started_at.date())} {study.started_at:%H:%M}"),
        ("Protocol", f"{title} ({side})" if side else title),
        ("Area of pain", _area_of_pain_words(record.get("area_of_pain"))),
        ("Images kept", _images_kept_words(study.captures)),
        ("Operator", format_person_name(study.operator)),
        ("Trainee", format_person_name(study.trainee)),
        ("Supervising radiologist", format_person_name(study.supervisor)),
    ]
    return tuple((k, v) for k, v in rows if v)


def _area_of_pain_words(area: object) -> str:
    """The pain site the sonographer marked ('left calf: tender lump'), '' when none was."""
    if not isinstance(area, Mapping):
        return ""
    where = " ".join(w for w in (_words(area.get("side")), _words(area.get("region"))) if w)
    note = _words(area.get("note"))
    return f"{where}: {note}" if where and note else where or note


def _images_kept_words(captures: Sequence[StudyCapture]) -> str:
    """How many stills and clips the study keeps ('4 stills, 2 clips'): the report prints only some."""
    stills = sum(c.kind is CaptureKind.STILL for c in captures)
    clips = len(captures) - stills
    counts = [(stills, "still"), (clips, "clip")]
    return ", ".join(f"{n} {word}{'s' if n != 1 else ''}" for n, word in counts if n)


_HTML_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#eee}.header th{background:none;border:none;padding:2px 12px 2px 0}"
    ".header td{border:none;padding:2px 24px 2px 0}"
    "figure{display:inline-block;margin:8px;vertical-align:top}"
    ".impression{white-space:pre-wrap;border-left:4px solid #446;padding-left:1em}"
    ".signed{font-weight:bold}.unsigned{color:#a00;font-weight:bold}"
)


def render_html(content: ReportContent) -> str:
    """A self-contained HTML page (images embedded as PNG data URIs)."""
    e = html.escape
    pairs = list(content.header)
    header_rows = [pairs[i : i + 2] for i in range(0, len(pairs), 2)]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(content.title)}</title>",
        f"<style>{_HTML_STYLE}</style></head><body>",
        f"<h1>Ultrasound report: {e(content.title)}</h1>",
        '<table class="header">',
        *(
            "<tr>" + "".join(f"<th>{e(k)}</th><td>{e(v)}</td>" for k, v in row) + "</tr>"
            for row in header_rows
        ),
        "</table>",
    ]
    if content.steps:
        parts += [
            "<h2>Protocol steps</h2>",
            "<table><tr><th>Step</th><th>Status</th><th>Findings</th></tr>",
            *(
                f"<tr><td>{e(s.title)}</td><td>{e(s.status)}</td><td>{e(s.findings or '—')}</td></tr>"
                for s in content.steps
            ),
            "</table>",
        ]
    parts.append("<h2>Findings</h2>")
    parts.append("".join(f"<p>{e(f)}</p>" for f in content.findings) or "<p>No findings were recorded.</p>")
    if content.qa_review:
        parts.append("<h2>Flagged for QA review</h2>")
        parts.append("".join(f"<p>{e(q)}</p>" for q in content.qa_review))
    if content.procedure:
        parts += [
            "<h2>Procedure</h2>",
            '<table class="procedure">',
            *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in content.procedure),
            "</table>",
        ]
    if content.measurements:
        parts += [
            "<h2>Measurements</h2>",
            "<table><tr><th>Measurement</th><th>Value</th><th>Step</th><th>Image</th></tr>",
            *(
                f"<tr><td>{e(m.label)}</td><td>{e(m.value)}</td><td>{e(m.step or '—')}</td>"
                f"<td>{e(m.image or '—')}</td></tr>"
                for m in content.measurements
            ),
            "</table>",
        ]
    parts.append("<h2>Impression</h2>")
    if content.impression:
        parts.append(f'<p class="impression">{e(content.impression)}</p>')
    else:
        parts.append("<p>No impression yet.</p>")
    css = "unsigned" if content.signed == NOT_SIGNED else "signed"
    parts.append(f'<p class="{css}">{e(content.signed)}</p>')
    if content.key_images:
        parts.append("<h2>Key images</h2>")
        for image in content.key_images:
            data = base64.b64encode(image.png).decode("ascii")
            width = min(image.width_px, 360)
            height = round(image.height_px * width / image.width_px)
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" width="{width}" '
                f'height="{height}" alt="{e(image.caption)}"><figcaption>{e(image.caption)}'
                "</figcaption></figure>"
            )
    parts.append(f"<hr><p><small>{e(content.patient_line)} · {APP_NAME} {APP_VERSION}</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(
    store: StudyStore, study_uid: str, path: Path, *, titles: Mapping[str, str] | None = None
) -> Path:
    content = build_report(store, study_uid, titles=titles)
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


def render_pdf(content: ReportContent, *, now: datetime | None = None) -> bytes:
    """The same report as a PDF document (A4), made with reportlab; its metadata names the report,
    its author and subject, and its creation date is `now` (the real time, never reportlab's
    fixed 'invariant' date)."""
    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import Image as PdfImage
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_cjk_fonts()
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)
    e = pdf_markup
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)),
        ]
    )
    width = A4[0] - 36 * mm

    def table(rows: Sequence[Sequence[str]], header: Sequence[str], widths: Sequence[float]) -> Table:
        cells = [[Paragraph(f"<b>{e(h)}</b>", body) for h in header]]
        cells += [[Paragraph(e(cell or "—"), body) for cell in row] for row in rows]
        t = Table(cells, colWidths=[w * width for w in widths], hAlign="LEFT", repeatRows=1)
        t.setStyle(grid)
        return t

    pairs = list(content.header)
    header_cells = [
        [
            item
            for k, v in pairs[i : i + 2]
            for item in (Paragraph(f"<b>{e(k)}</b>", small), Paragraph(e(v), body))
        ]
        for i in range(0, len(pairs), 2)
    ]
    if header_cells and len(header_cells[-1]) == 2:
        header_cells[-1] += [Paragraph("", body), Paragraph("", body)]
    header = Table(header_cells, colWidths=[0.17 * width, 0.33 * width] * 2, hAlign="LEFT")
    header.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, -1), (-1, -1), 0.8, colors.black),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    story: list[Any] = [Paragraph(e(f"Ultrasound report: {content.title}"), styles["Title"]), header]
    if content.steps:
        story += [
            Paragraph("Protocol steps", styles["Heading2"]),
            table([(s.title, s.status, s.findings) for s in content.steps], ("Step", "Status", "Findings"),
                  (0.34, 0.30, 0.36)),
        ]  # fmt: skip
    story.append(Paragraph("Findings", styles["Heading2"]))
    story += [Paragraph(e(f), body) for f in content.findings] or [
        Paragraph("No findings were recorded.", body)
    ]
    if content.qa_review:
        story.append(Paragraph("Flagged for QA review", styles["Heading2"]))
        story += [Paragraph(e(q), body) for q in content.qa_review]
    if content.procedure:
        story += [
            Paragraph("Procedure", styles["Heading2"]),
            table(list(content.procedure), ("Procedure", "Documented"), (0.28, 0.72)),
        ]
    if content.measurements:
        story += [
            Paragraph("Measurements", styles["Heading2"]),
            table(
                [(m.label, m.value, m.step, m.image) for m in content.measurements],
                ("Measurement", "Value", "Step", "Image"),
                (0.32, 0.22, 0.34, 0.12),
            ),
        ]
    impression = e(content.impression).replace("\n", "<br/>") if content.impression else "No impression yet."
    signed_colour = "#aa0000" if content.signed == NOT_SIGNED else "#000000"
    story.append(
        KeepTogether(
            [
                Paragraph("Impression", styles["Heading2"]),
                Paragraph(impression, body),
                Spacer(1, 4 * mm),
                Paragraph(f'<font color="{signed_colour}"><b>{e(content.signed)}</b></font>', body),
            ]
        )
    )
    if content.key_images:
        # the heading goes with the first row of pictures, never alone at the foot of a page
        story.append(Paragraph("Key images", ParagraphStyle("kh", parent=styles["Heading2"], keepWithNext=1)))
        cell_w, max_h = width / 2 - 4 * mm, 95 * mm
        cells: list[Any] = []
        for image in content.key_images:
            scale = min(cell_w / image.width_px, max_h / image.height_px)
            picture = PdfImage(
                io.BytesIO(image.png), width=image.width_px * scale, height=image.height_px * scale
            )
            cells.append([picture, Paragraph(e(image.caption), small)])
        rows = [cells[i : i + 2] for i in range(0, len(cells), 2)]
        if len(rows[-1]) == 1:
            rows[-1].append("")
        for row in rows:  # one table a row, so a page break falls between rows of pictures
            pictures = Table([row], colWidths=[width / 2] * 2, hAlign="LEFT")
            pictures.setStyle(
                TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "LEFT")])
            )
            story.append(pictures)

    def footer(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.Color(0.3, 0.3, 0.3))
        line = content.patient_line if cjk_font_for(content.patient_line) is None else ""
        canvas.drawString(18 * mm, 10 * mm, line)
        canvas.drawRightString(
            A4[0] - 18 * mm, 10 * mm, f"{content.signed.split(' on ')[0]} · page {doc.page}"
        )
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"Ultrasound report: {content.title}",
        author=content.author,
        subject=content.subject,
        creator=f"{APP_NAME} {APP_VERSION}",
        invariant=0,  # the real creation date, even where rl_config.invariant is set for tests
    )
    saved = rl_config.invariant
    rl_config.invariant = 0
    try:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    finally:
        rl_config.invariant = saved
    return buffer.getvalue()


def write_pdf_report(
    store: StudyStore, study_uid: str, path: Path, *, titles: Mapping[str, str] | None = None
) -> Path:
    content = build_report(store, study_uid, titles=titles)
    write_file_atomic(Path(path), render_pdf(content))
    return Path(path)


@dataclass(frozen=True, slots=True)
class SignedReport:
    """A signed report as kept: HTML and PDF in the study's folder, and the PACS document."""

    html: Path
    pdf: Path
    document: StudyDocument
    structured: StudyDocument  # the measurements and findings as a Comprehensive SR


def sign_and_store_report(
    store: StudyStore,
    study_uid: str,
    impression: str,
    signed_by: str,
    *,
    titles: Mapping[str, str] | None = None,
) -> SignedReport:
    """Sign the report (impression, signer, now), keep it with the study as HTML and PDF, as an
    Encapsulated PDF in the study's own report series and its measurements and findings as a
    Comprehensive SR, both queued for every PACS the study went to. A procedure without its
    time-out recorded is refused (StudyError, `time_out_refusal`)."""
    refusal = time_out_refusal((store.get_study(study_uid).protocol_record or {}).get("procedure"))
    if refusal:
        raise StudyError(f"{refusal} (a procedure's report is signed only with its time-out recorded)")
    store.sign_report(study_uid, impression, signed_by)
    content = build_report(store, study_uid, titles=titles)
    pdf = render_pdf(content)
    html_path = store.write_report_file(study_uid, REPORT_HTML, render_html(content).encode("utf-8"))
    pdf_path = store.write_report_file(study_uid, REPORT_PDF, pdf)
    document = store.save_report_document(study_uid, pdf, f"Ultrasound report: {content.title}")
    structured = store.save_structured_report(study_uid, content.findings)
    return SignedReport(html_path, pdf_path, document, structured)
