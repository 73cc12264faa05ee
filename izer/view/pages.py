"""The HTML of the local review page: pure functions from records to text.

Every value that comes from the store (patient names, descriptions, UIDs, attribute values)
goes through :func:`html.escape`; the pages load nothing from elsewhere (the style sheet and
the script are served by the page itself, so that the Content-Security-Policy
``default-src 'self'`` holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from izer.engine.viewing import ViewInstance, ViewKind, ViewSeries, ViewStudy

__all__ = [
    "SCRIPT",
    "STYLESHEET",
    "display_date",
    "display_name",
    "instance_page",
    "message_page",
    "study_list_page",
    "study_page",
]

#: Thumbnail side on the list and study pages, and on an instance page.
LIST_THUMBNAIL = 192
INSTANCE_PICTURE = 512

STYLESHEET = """\
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 0.6em; }
h2 { font-size: 1.1em; margin: 1.2em 0 0.4em; }
a { color: #0b57a4; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
td.picture { width: 200px; text-align: center; }
img.thumb { max-width: 100%; background: #222; }
.items { display: flex; flex-wrap: wrap; gap: 1em; }
figure.item { margin: 0; padding: 0.5em; background: #fff; border: 1px solid #ddd; }
figure.item video, figure.item iframe { width: 480px; max-width: 90vw; }
figure.item iframe { height: 600px; border: 1px solid #ccc; }
.note { color: #8a4b00; max-width: 480px; overflow-wrap: anywhere; }
.muted { color: #666; }
table.details td.value { font-family: ui-monospace, monospace; white-space: pre-wrap; }
nav { margin-bottom: 1em; }
"""

#: Writes what the media elements report into the page: ``data-duration`` on each video
#: (from ``loadedmetadata``), ``data-natural-width`` on each picture once loaded.
SCRIPT = """\
"use strict";
function noteDuration(video) {
  if (video.readyState >= 1) {
    video.dataset.duration = String(video.duration);
    const label = document.getElementById("duration-" + video.id);
    if (label && isFinite(video.duration)) {
      label.textContent = video.duration.toFixed(1) + " s";
    }
  }
}
for (const video of document.querySelectorAll("video")) {
  video.addEventListener("loadedmetadata", () => noteDuration(video));
  video.addEventListener("durationchange", () => noteDuration(video));
  video.addEventListener("error", () => {
    video.dataset.error = String(video.error ? video.error.code : "unknown");
    video.dataset.errorMessage = video.error ? video.error.message : "";
  });
  noteDuration(video);
}
function noteSize(img) {
  if (img.complete) {
    img.dataset.naturalWidth = String(img.naturalWidth);
  }
}
for (const img of document.querySelectorAll("img")) {
  img.addEventListener("load", () => noteSize(img));
  img.addEventListener("error", () => { img.dataset.naturalWidth = "0"; });
  noteSize(img);
}
"""


def display_name(person_name: str) -> str:
    """A DICOM person name (PS3.5 6.2, ``Family^Given^Middle^Prefix^Suffix``) as
    ``Family, Given Middle``; only the first (alphabetic) group is shown."""
    alphabetic = person_name.split("=")[0]
    parts = [part.strip() for part in alphabetic.split("^")]
    family = parts[0] if parts else ""
    rest = " ".join(p for p in (parts[3:4] + parts[1:3] + parts[4:5]) if p)
    if family and rest:
        return f"{family}, {rest}"
    return family or rest


def display_date(date: str) -> str:
    """A DA value (``YYYYMMDD``, PS3.5 6.2) as ``YYYY-MM-DD``; anything else as it is."""
    text = date.strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _page(title: str, body: str, base: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} - izer review</title>"
        f'<link rel="stylesheet" href="{escape(base)}/static/review.css">'
        f'<script src="{escape(base)}/static/review.js" defer></script>'
        f"</head><body>\n{body}\n</body></html>\n"
    )


def _thumb(base: str, sop_uid: str, alt: str, size: int = LIST_THUMBNAIL) -> str:
    size_query = "" if size == LIST_THUMBNAIL else f"?size={size}"
    return (
        f'<img class="thumb" src="{escape(base)}/thumb/{escape(sop_uid)}.jpg{size_query}" '
        f'alt="{escape(alt)}" loading="eager">'
    )


def study_list_page(studies: Sequence[ViewStudy], base: str) -> str:
    """The list of local studies: picture, patient, date, description and counts.

    ``base`` is the path every link starts with (``/<token>``).
    """
    if not studies:
        body = '<h1>Local studies</h1>\n<p class="muted">The local store holds no study yet.</p>'
        return _page("Local studies", body, base)
    rows = []
    for study in studies:
        record = study.record
        link = f"{escape(base)}/study/{escape(record.study_instance_uid)}"
        name = display_name(record.patient_name)
        picture = (
            f'<a href="{link}">{_thumb(base, study.cover_sop_uid, f"First picture of {name}")}</a>'
            if study.cover_sop_uid
            else '<span class="muted">no picture</span>'
        )
        rows.append(
            f'<tr class="study" data-study-uid="{escape(record.study_instance_uid)}">'
            f'<td class="picture">{picture}</td>'
            f'<td class="patient-name"><a href="{link}">{escape(name)}</a></td>'
            f'<td class="patient-id">{escape(record.patient_id)}</td>'
            f'<td class="date">{escape(display_date(record.study_date))}</td>'
            f'<td class="description">{escape(record.description)}</td>'
            f'<td class="accession">{escape(record.accession_number)}</td>'
            f'<td class="counts">{record.series_count} series, '
            f"{_count(record.instance_count, 'instance')}</td></tr>"
        )
    body = (
        "<h1>Local studies</h1>\n"
        '<table class="studies"><thead><tr><th>Picture</th><th>Patient</th>'
        "<th>Patient ID</th><th>Date</th><th>Description</th><th>Accession</th>"
        "<th>Contents</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )
    return _page("Local studies", body, base)


def _study_heading(study: ViewStudy) -> str:
    record = study.record
    name = escape(display_name(record.patient_name))
    facts = " &middot; ".join(
        escape(text)
        for text in (
            f"ID {record.patient_id}" if record.patient_id else "",
            display_date(record.study_date),
            record.description,
            f"Accession {record.accession_number}" if record.accession_number else "",
        )
        if text
    )
    return f'<h1><span class="patient-name">{name}</span></h1>\n<p class="facts">{facts}</p>'


def _item_title(item: ViewInstance) -> str:
    label = {
        ViewKind.STILL: "Still",
        ViewKind.VIDEO: "Video",
        ViewKind.DOCUMENT: "PDF document",
        ViewKind.OTHER: item.sop_class_name,
    }[item.kind]
    return f"{label} {item.instance_number}" if item.instance_number is not None else label


def _item(item: ViewInstance, base: str) -> str:
    sop = escape(item.sop_instance_uid)
    details = f"{escape(base)}/instance/{sop}"
    title = escape(_item_title(item))
    if item.kind is ViewKind.VIDEO and not item.not_playable:
        element_id = f"video-{sop.replace('.', '-')}"
        media = (
            f'<video id="{element_id}" controls preload="metadata" '
            f'src="{escape(base)}/video/{sop}.mp4" '
            f'poster="{escape(base)}/thumb/{sop}.jpg"></video>'
            f'<span class="duration muted" id="duration-{element_id}"></span>'
        )
    elif item.kind is ViewKind.VIDEO:
        media = (
            f'<a href="{details}">{_thumb(base, item.sop_instance_uid, _item_title(item))}</a>'
            f'<p class="note">{escape(item.not_playable)}</p>'
        )
    elif item.kind is ViewKind.DOCUMENT:
        pdf = f"{escape(base)}/pdf/{sop}.pdf"
        media = (
            f'<iframe class="document" src="{pdf}" title="{title}"></iframe>'
            f'<p><a href="{pdf}">Open the PDF</a></p>'
        )
    elif item.kind is ViewKind.STILL:
        media = f'<a href="{details}">{_thumb(base, item.sop_instance_uid, _item_title(item))}</a>'
    else:
        media = '<p class="muted">nothing to show here; see its attributes</p>'
    return (
        f'<figure class="item {item.kind.value}" data-sop-uid="{sop}">{media}'
        f'<figcaption>{title} &middot; <a href="{details}">attributes</a></figcaption></figure>'
    )


def _series(series: ViewSeries, base: str) -> str:
    record = series.record
    number = f"Series {record.series_number}" if record.series_number is not None else "Series"
    heading = " &middot; ".join(
        escape(text)
        for text in (
            number,
            record.modality,
            record.description,
            _count(len(series.instances), "instance"),
        )
        if text
    )
    items = "\n".join(_item(item, base) for item in series.instances)
    return (
        f'<section class="series" data-series-uid="{escape(record.series_instance_uid)}">'
        f'<h2>{heading}</h2>\n<div class="items">\n{items}\n</div></section>'
    )


def study_page(study: ViewStudy, base: str) -> str:
    """One study: its series with thumbnails, playable videos, PDF documents and links to
    each instance's attributes."""
    body = (
        f'<nav><a href="{escape(base)}/">&larr; All studies</a></nav>\n'
        + _study_heading(study)
        + "\n"
        + "\n".join(_series(series, base) for series in study.series)
    )
    return _page(display_name(study.record.patient_name) or "Study", body, base)


def instance_page(item: ViewInstance, details: Sequence[tuple[str, str, str]], base: str) -> str:
    """One instance: its picture (or player, or document) and every attribute as text."""
    rows = "\n".join(
        f'<tr><td class="tag">{escape(tag)}</td><td class="name">{escape(name)}</td>'
        f'<td class="value">{escape(value)}</td></tr>'
        for tag, name, value in details
    )
    if item.kind in (ViewKind.STILL, ViewKind.DOCUMENT) or item.not_playable:
        picture = (
            f"<p>{_thumb(base, item.sop_instance_uid, _item_title(item), INSTANCE_PICTURE)}</p>"
        )
    elif item.kind is ViewKind.VIDEO:
        picture = _item(item, base)
    else:
        picture = ""
    study_link = f"{escape(base)}/study/{escape(item.study_instance_uid)}"
    body = (
        f'<nav><a href="{escape(base)}/">&larr; All studies</a> &middot; '
        f'<a href="{study_link}">the study</a></nav>\n'
        f"<h1>{escape(_item_title(item))}</h1>\n"
        f'<p class="facts">{escape(item.sop_class_name)} &middot; '
        f"{escape(item.sop_instance_uid)}</p>\n{picture}\n"
        '<table class="details"><thead><tr><th>Tag</th><th>Attribute</th><th>Value</th>'
        f"</tr></thead>\n<tbody>\n{rows}\n</tbody></table>"
    )
    return _page(_item_title(item), body, base)


def message_page(title: str, text: str, base: str) -> str:
    """A short page saying what could not be shown (unknown study, unreadable file)."""
    body = (
        f'<nav><a href="{escape(base)}/">&larr; All studies</a></nav>\n'
        f"<h1>{escape(title)}</h1>\n<p>{escape(text)}</p>"
    )
    return _page(title, body, base)
