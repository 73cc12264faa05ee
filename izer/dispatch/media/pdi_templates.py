"""The web pages of the IHE PDI part: what they show, their fixed parts, and their HTML.

The fixed parts (page skeleton, style sheet, script) are Python strings, not package data
files, so that they ship with the module. Every page is self-contained: inline CSS and
JavaScript, system fonts only, no network reference, so that it works opened as ``file://``
from a CD, DVD or USB stick (IHE RAD TF-1 15, PDI). Every value from a DICOM header is escaped
(``html.escape``); pages are UTF-8.

The script marks every picture ``class="loaded"`` once the browser has decoded it, fills each
``<span class="duration">`` from the video's metadata (``loadedmetadata``), hides a player the
browser cannot use behind its note and link, and shows thumbnails full size in an overlay
(the thumbnail links open the JPEG directly when scripts are off).
"""

from __future__ import annotations

import enum
import html
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import izer
from izer.model import display_date, display_name

if TYPE_CHECKING:
    from izer.dispatch.media.pdi import MediaLabel
    from izer.encode.extract import SourceInstance

#: The folder of the web content (IHE RAD TF-3 4.47.4.1.2.2).
WEB_FOLDER = "IHE_PDI"

#: The entry page and the text file at the root (8.3 names, upper case).
INDEX_NAME = "INDEX.HTM"
README_NAME = "README.TXT"

#: Thumbnails after this many on a page load lazily (when scrolled into view).
EAGER_THUMBNAILS = 48

#: What a Modality (0008,0060) is called on the pages (PS3.3 C.7.3.1.1.1).
MODALITY_NAMES = {
    "ES": "Endoscopy",
    "US": "Ultrasound",
    "XC": "Photography",
    "GM": "Microscopy",
    "SM": "Slide microscopy",
    "OP": "Ophthalmic photography",
    "DOC": "Documents",
    "AU": "Audio",
    "CR": "Radiography",
    "DX": "Radiography",
    "XA": "X-ray angiography",
    "RF": "Fluoroscopy",
    "MG": "Mammography",
    "CT": "CT",
    "MR": "MRI",
    "NM": "Nuclear medicine",
    "PT": "PET",
    "OT": "Other",
    "SR": "Reports",
    "PR": "Presentation states",
    "KO": "Key images",
}

#: Patient's Sex (0010,0040) in words (PS3.3 C.7.1.1).
SEX_NAMES = {"M": "male", "F": "female", "O": "other"}

#: ``type`` of a playable video for ``canPlayType`` (RFC 6381 codecs parameter).
VIDEO_TYPES = {
    "h264": 'video/mp4; codecs="avc1.640028"',
    "hevc": 'video/mp4; codecs="hvc1.1.6.L120.B0"',
}


class LabelContent(enum.StrEnum):
    """What the disc holds, as the label says (IHE RAD TF-1 15.2)."""

    WEB = "DICOM PLUS WEB"
    DICOM_ONLY = "DICOM ONLY"


# -- what the pages show ----------------------------------------------------------------------


class ItemKind(enum.StrEnum):
    """How an instance is shown on the pages."""

    STILL = "still"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"


@dataclass
class WebItem:
    """One instance as written into IHE_PDI; paths relative to IHE_PDI."""

    kind: ItemKind
    number: int
    href: str
    octets: int
    caption: str
    thumb: str = ""
    poster: str = ""
    codec: str = ""
    seconds: float | None = None
    title: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class WebSeries:
    """A series on the pages: its instances, what was shown, what only DICOM viewers show
    (``hidden``: the SOP Class names), its folder and its page in IHE_PDI."""

    uid: str
    number: int | None
    modality: str
    description: str
    sources: list[SourceInstance] = field(default_factory=list)
    shown: list[WebItem] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    folder: str = ""
    page: str = ""

    @property
    def heading(self) -> str:
        kind = MODALITY_NAMES.get(self.modality, self.modality or "Series")
        number = f"Series {self.number}" if self.number is not None else "Series"
        return " · ".join(p for p in (number, self.description or kind) if p)

    def count(self, kind: ItemKind) -> int:
        return sum(1 for s in self.shown if s.kind is kind)


@dataclass
class WebStudy:
    """A study on the pages; ``page`` is empty when each series has its own page."""

    uid: str
    date: str
    time: str
    description: str
    accession: str
    institution: str
    patient: WebPatient
    series: dict[str, WebSeries] = field(default_factory=dict)
    page: str = ""

    @property
    def title(self) -> str:
        return self.description or f"Study of {display_date(self.date) or 'unknown date'}"

    @property
    def when(self) -> str:
        return " ".join(p for p in (display_date(self.date), display_time(self.time)) if p)

    def ordered(self) -> list[WebSeries]:
        return sorted(self.series.values(), key=lambda s: (s.number is None, s.number or 0, s.uid))

    def count(self, kind: ItemKind) -> int:
        return sum(s.count(kind) for s in self.series.values())

    def items(self) -> int:
        return sum(len(s.sources) for s in self.series.values())


@dataclass
class WebPatient:
    """A patient (by Patient ID and Patient's Name) and their studies."""

    name: str
    patient_id: str
    birth_date: str
    sex: str
    studies: dict[str, WebStudy] = field(default_factory=dict)

    def ordered(self) -> list[WebStudy]:
        return sorted(self.studies.values(), key=lambda s: (s.date, s.time, s.uid))


# -- formatting -------------------------------------------------------------------------------


def display_time(value: str) -> str:
    """A TM value as ``HH:MM`` (empty when it has no hours and minutes)."""
    value = value.strip()
    if len(value) >= 4 and value[:4].isdigit():
        return f"{value[:2]}:{value[2:4]}"
    return ""


def clock(seconds: float) -> str:
    """A duration as ``m:ss`` or ``h:mm:ss``, at least ``0:01``."""
    whole = max(1, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def file_size(octets: int) -> str:
    """A file size in kB, MB or GB (binary multiples), for people."""
    if octets >= 1 << 30:
        return f"{octets / (1 << 30):.1f} GB"
    if octets >= 1 << 20:
        return f"{octets / (1 << 20):.1f} MB"
    return f"{max(1, round(octets / 1024))} kB"


def esc(value: object) -> str:
    """``value`` as HTML text or attribute value."""
    return html.escape(str(value), quote=True)


def plural(count: int, word: str, many: str = "") -> str:
    """``1 image``, ``2 images`` (``many`` for irregular words)."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


# -- fixed parts ------------------------------------------------------------------------------


#: One HTML page; ``$``-placeholders are filled with already-escaped text.
PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="$generator">
<title>$title</title>
<style>
$css</style>
</head>
<body>
$body
<script>
$script</script>
</body>
</html>
"""
)

#: The style sheet of every page: calm, readable, printable; system fonts only.
CSS = """:root {
  --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --paper: #ffffff; --ground: #f4f6f8;
  --accent: #2a5d8f; --accent-soft: #e6eef6; --note: #fff8e1; --note-line: #c99a2e;
  --thumb: 160px;
}
* { box-sizing: border-box; }
html { background: var(--ground); }
body {
  margin: 0; color: var(--ink); background: var(--ground);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue",
    Arial, "Hiragino Sans", "Yu Gothic", "Noto Sans CJK JP", "Microsoft YaHei", sans-serif;
}
a { color: var(--accent); }
a:focus-visible, button:focus-visible { outline: 3px solid #8fb3d9; outline-offset: 2px; }
header.top { background: var(--paper); border-bottom: 1px solid var(--line); }
header.top .inner, main { max-width: 1100px; margin: 0 auto; padding: 18px 24px; }
.kicker {
  margin: 0; color: var(--muted); font-size: 12px; letter-spacing: .08em; text-transform: uppercase;
}
h1 { margin: 2px 0 4px; font-size: 26px; font-weight: 600; }
h2 { margin: 0 0 12px; font-size: 19px; font-weight: 600; }
h3 { margin: 0 0 8px; font-size: 16px; font-weight: 600; }
.facts { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 4px 22px; }
.facts li { color: var(--muted); }
.facts b { color: var(--ink); font-weight: 600; }
.back { display: inline-block; margin-bottom: 6px; font-size: 14px; text-decoration: none; }
.back:hover { text-decoration: underline; }
section.card {
  background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 20px; margin: 0 0 18px;
}
.columns { display: grid; grid-template-columns: minmax(0, 2fr) minmax(260px, 1fr); gap: 18px; }
@media (max-width: 820px) { .columns { grid-template-columns: 1fr; } }
pre.label-text {
  margin: 0; padding: 14px 16px; background: var(--ground); border: 1px dashed #9fb3c8;
  border-radius: 6px; font: 14px/1.45 ui-monospace, "DejaVu Sans Mono", Consolas, monospace;
  white-space: pre; overflow-x: auto;
}
.study {
  display: flex; gap: 16px; align-items: center; padding: 12px 0;
  border-top: 1px solid var(--line);
}
h2 + .study, h3 + .study { border-top: 0; padding-top: 0; }
.study + h3 { margin-top: 18px; }
.study .preview {
  flex: none; width: 96px; height: 72px; border-radius: 4px; background: #e4e9ee;
  object-fit: cover; display: block;
}
.study .what { flex: 1; min-width: 0; }
.study .title { font-weight: 600; font-size: 16px; }
.study .meta { color: var(--muted); font-size: 14px; }
.study .open {
  flex: none; padding: 7px 14px; border: 1px solid var(--accent); border-radius: 6px;
  text-decoration: none; font-weight: 600; white-space: nowrap;
}
.study .open:hover { background: var(--accent-soft); }
.series-links { margin: 4px 0 0; padding: 0; list-style: none; font-size: 14px; }
ol.steps { margin: 0; padding-left: 20px; }
ol.steps li { margin-bottom: 6px; }
.small { color: var(--muted); font-size: 13px; }
.series { margin-bottom: 18px; }
.series h2 .count { color: var(--muted); font-weight: 400; font-size: 15px; }
.grid {
  display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(var(--thumb), 1fr));
}
a.thumb {
  display: block; text-decoration: none; color: var(--muted); font-size: 13px;
  border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: var(--paper);
}
a.thumb:hover { border-color: var(--accent); }
a.thumb img {
  display: block; width: 100%; aspect-ratio: 4 / 3; object-fit: contain; background: #111;
  border-radius: 3px;
}
a.thumb span { display: block; margin-top: 4px; text-align: center; }
img.broken { visibility: hidden; }
.media {
  display: grid; gap: 16px; align-items: start; margin-bottom: 14px;
  grid-template-columns: repeat(auto-fill, minmax(320px, 1fr));
}
figure.video, figure.sound, figure.document {
  margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
  background: var(--paper);
}
figure.video video, figure.video img.poster {
  display: block; width: 100%; max-height: 420px; background: #000; border-radius: 3px;
}
figure audio { width: 100%; }
figcaption { margin-top: 6px; font-size: 14px; color: var(--muted); }
figcaption b { color: var(--ink); font-weight: 600; }
.nowrap { white-space: nowrap; }
.note {
  margin: 8px 0 0; padding: 8px 10px; background: var(--note);
  border-left: 4px solid var(--note-line);
  font-size: 14px;
}
figure.video .fallback, figure.video .stored { display: none; }
figure.video.unplayable video, figure.video.unplayable .played { display: none; }
figure.video.unplayable .fallback, figure.video.unplayable .stored { display: inline; }
figure.video.unplayable .fallback { display: block; }
.doc-icon {
  display: inline-block; min-width: 42px; padding: 10px 6px; margin-right: 10px; border-radius: 4px;
  background: #b33a3a; color: #fff; font-weight: 700; font-size: 12px; text-align: center;
  vertical-align: middle;
}
.skipped { color: var(--muted); font-size: 14px; }
footer { max-width: 1100px; margin: 0 auto; padding: 4px 24px 28px; color: var(--muted);
  font-size: 13px; }
#viewer {
  position: fixed; inset: 0; background: rgba(12, 18, 26, .94); display: none;
  flex-direction: column; align-items: center; justify-content: center; z-index: 10;
}
#viewer.open { display: flex; }
#viewer img { max-width: 94vw; max-height: 82vh; object-fit: contain; background: #000; }
#viewer p { color: #e4e9ee; margin: 10px 0 0; font-size: 14px; }
#viewer button {
  position: absolute; background: rgba(255, 255, 255, .12); color: #fff; border: 0;
  border-radius: 6px; font-size: 22px; width: 48px; height: 48px; cursor: pointer;
}
#viewer button:hover { background: rgba(255, 255, 255, .25); }
#viewer .close { top: 14px; right: 14px; }
#viewer .prev { left: 14px; top: calc(50% - 24px); }
#viewer .next { right: 14px; top: calc(50% - 24px); }
@media print {
  html, body { background: #fff; }
  .back, .open, #viewer, video, audio { display: none !important; }
  section.card { border: 0; padding: 0; }
}
"""

#: The script of every page (ES5, no external file; does nothing harmful without media).
SCRIPT = """(function () {
  "use strict";
  function each(selector, action) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), action);
  }
  each("img", function (img) {
    function loaded() { if (img.naturalWidth > 0) { img.classList.add("loaded"); } }
    img.addEventListener("load", loaded);
    img.addEventListener("error", function () { img.classList.add("broken"); });
    if (img.complete) { loaded(); }
  });
  function clock(seconds) {
    var whole = Math.max(1, Math.round(seconds));
    var h = Math.floor(whole / 3600), m = Math.floor(whole / 60) % 60, s = whole % 60;
    var ss = (s < 10 ? "0" : "") + s;
    if (h > 0) { return h + ":" + (m < 10 ? "0" : "") + m + ":" + ss; }
    return m + ":" + ss;
  }
  each("figure.video video", function (video) {
    var figure = video.parentNode;
    var span = figure.querySelector(".duration");
    function unplayable() { figure.classList.add("unplayable"); }
    function show() {
      if (span && isFinite(video.duration) && video.duration > 0) {
        span.textContent = clock(video.duration);
        span.setAttribute("data-seconds", video.duration.toFixed(3));
      }
    }
    var codec = video.getAttribute("data-type");
    if (codec && !video.canPlayType(codec)) { unplayable(); return; }
    video.addEventListener("loadedmetadata", show);
    video.addEventListener("error", unplayable);
    if (video.readyState >= 1) { show(); }
    if (video.error) { unplayable(); }
  });
  var viewer = document.getElementById("viewer");
  if (!viewer) { return; }
  var links = Array.prototype.slice.call(document.querySelectorAll("a.thumb"));
  var big = viewer.querySelector("img"), caption = viewer.querySelector("p"), current = -1;
  function open(index) {
    current = (index + links.length) % links.length;
    var link = links[current];
    big.src = link.getAttribute("href");
    big.alt = link.getAttribute("data-caption") || "";
    caption.textContent = link.getAttribute("data-caption") || "";
    viewer.classList.add("open");
    viewer.querySelector(".close").focus();
  }
  function close() {
    viewer.classList.remove("open");
    big.removeAttribute("src");
    if (current >= 0) { links[current].focus(); }
  }
  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) { event.preventDefault(); open(index); });
  });
  viewer.querySelector(".close").addEventListener("click", close);
  viewer.querySelector(".prev").addEventListener("click", function () { open(current - 1); });
  viewer.querySelector(".next").addEventListener("click", function () { open(current + 1); });
  viewer.addEventListener("click", function (event) { if (event.target === viewer) { close(); } });
  document.addEventListener("keydown", function (event) {
    if (!viewer.classList.contains("open")) { return; }
    if (event.key === "Escape") { close(); }
    else if (event.key === "ArrowLeft") { open(current - 1); }
    else if (event.key === "ArrowRight") { open(current + 1); }
  });
})();
"""

#: The full-size overlay of a viewer page (filled by :data:`SCRIPT`).
VIEWER_OVERLAY = """<div id="viewer" role="dialog" aria-modal="true" aria-label="Picture">
<button type="button" class="close" aria-label="Close">&#x2715;</button>
<button type="button" class="prev" aria-label="Previous picture">&#x2039;</button>
<button type="button" class="next" aria-label="Next picture">&#x203A;</button>
<img alt="">
<p></p>
</div>"""


# -- pages ------------------------------------------------------------------------------------


def html_page(title: str, body: str, thumbnail_px: int) -> str:
    """A whole page: ``body`` (HTML) in the skeleton, with the style sheet and the script."""
    css = CSS.replace("--thumb: 160px;", f"--thumb: {thumbnail_px}px;")
    return PAGE.substitute(
        generator=esc(f"izer {izer.__version__}"),
        title=esc(title),
        css=css,
        body=body,
        script=SCRIPT,
    )


def _patient_facts(patient: WebPatient) -> list[str]:
    facts = []
    if patient.patient_id:
        facts.append(f"<li>Patient ID <b>{esc(patient.patient_id)}</b></li>")
    if patient.birth_date:
        facts.append(f"<li>Born <b>{esc(display_date(patient.birth_date))}</b></li>")
    if patient.sex in SEX_NAMES:
        facts.append(f"<li>Sex <b>{SEX_NAMES[patient.sex]}</b></li>")
    return facts


def index_page(
    patients: list[WebPatient], label: MediaLabel, profile_text: str, thumbnail_px: int
) -> str:
    """INDEX.HTM: patient, studies with a preview and links into IHE_PDI, the label, how to
    use the disc (IHE RAD TF-3 4.47.4.1.2.2)."""
    if len(patients) == 1:
        patient = patients[0]
        heading = esc(display_name(patient.name) or "(no name)")
        facts = "".join(_patient_facts(patient))
    else:
        heading = esc(f"{len(patients)} patients") if patients else "No images"
        facts = "".join(
            f"<li><b>{esc(display_name(p.name) or '(no name)')}</b> {esc(p.patient_id)}</li>"
            for p in patients
        )
    studies = []
    for patient in patients:
        if len(patients) > 1:
            who = " · ".join(p for p in (display_name(patient.name), patient.patient_id) if p)
            studies.append(f"<h3>{esc(who)}</h3>")
        studies.extend(_study_row(study) for study in patient.ordered())
    if not studies:
        studies.append("<p>The DICOMDIR lists no instances.</p>")
    all_series = [s for p in patients for st in p.studies.values() for s in st.series.values()]
    contents = contents_line(all_series)
    profile = esc(profile_text) if profile_text else "not stated"
    body = f"""<header class="top"><div class="inner">
<p class="kicker">Medical images · Patient disc</p>
<h1>{heading}</h1>
<ul class="facts">{facts}</ul>
</div></header>
<main>
<div class="columns">
<div>
<section class="card"><h2>Studies</h2>
{"".join(studies)}
</section>
<section class="card"><h2>How to use this disc</h2>
<ol class="steps">
<li>Choose <b>Open</b> next to a study to see its pictures, videos and documents in this
browser. Click a picture to see it full size; use the arrow keys to move between pictures.</li>
<li>These pages are copies for viewing. For diagnosis, open the original DICOM files (folder
<code>DICOM</code>, listed in the file <code>DICOMDIR</code>) with a DICOM viewer, or import them
into your imaging system.</li>
<li>Nothing needs to be installed and no network connection is used. The disc starts nothing by
itself (no autorun).</li>
</ol>
</section>
</div>
<aside>
<section class="card"><h2>Disc label</h2>
<pre class="label-text">{esc(label.text())}</pre>
<p class="small">Text for the disc and its sleeve.</p>
</section>
<section class="card"><h2>Contents</h2>
<p>{esc(contents)}</p>
<p class="small">More about this disc: <a href="{README_NAME}">{README_NAME}</a></p>
</section>
</aside>
</div>
</main>
<footer>Made with izer {esc(izer.__version__)} on {esc(label.created.isoformat())} · IHE
Portable Data for Imaging (PDI) · DICOM media profile: {profile} · No installation, no network,
no autorun.</footer>"""
    title = f"Medical images — {display_name(label.patient_name) or 'patient disc'}"
    return html_page(title, body, thumbnail_px)


def contents_line(series: list[WebSeries]) -> str:
    """``3 images, 1 video, ...`` for what ``series`` show (and what they do not)."""
    counts = [
        (sum(s.count(kind) for s in series), word)
        for kind, word in (
            (ItemKind.STILL, "image"),
            (ItemKind.VIDEO, "video"),
            (ItemKind.DOCUMENT, "document"),
            (ItemKind.AUDIO, "sound recording"),
        )
    ]
    parts = [plural(count, word) for count, word in counts if count]
    hidden = sum(len(s.hidden) for s in series)
    if hidden:
        parts.append(f"{plural(hidden, 'item')} for DICOM viewers only")
    return ", ".join(parts) or "No pictures"


def _study_row(study: WebStudy) -> str:
    ordered = study.ordered()
    preview = next(
        (s.thumb or s.poster for series in ordered for s in series.shown if s.thumb or s.poster), ""
    )
    image = (
        f'<img class="preview" src="{WEB_FOLDER}/{esc(preview)}" alt="">'
        if preview
        else '<span class="preview"></span>'
    )
    modalities = ", ".join(
        dict.fromkeys(
            MODALITY_NAMES.get(s.modality, s.modality) for s in ordered if s.modality and s.shown
        )
    )
    meta = [study.when, modalities, contents_line(ordered)]
    if study.accession:
        meta.append(f"Accession {study.accession}")
    if study.page:
        action = f'<a class="open" href="{WEB_FOLDER}/{study.page}">Open</a>'
        links = ""
    else:
        action = ""
        items = "".join(
            f'<li><a href="{WEB_FOLDER}/{s.page}">{esc(s.heading)}</a> '
            f'<span class="small">({esc(contents_line([s]))})</span></li>'
            for s in ordered
        )
        links = f'<ul class="series-links">{items}</ul>'
    return f"""<div class="study">{image}<div class="what">
<div class="title">{esc(study.title)}</div>
<div class="meta">{esc(" · ".join(m for m in meta if m))}</div>{links}
</div>{action}</div>
"""


def study_pages(study: WebStudy, thumbnail_px: int) -> dict[str, str]:
    """The viewer html_page(s) of ``study``: file name in IHE_PDI -> HTML.

    One page for the study, or one per series when the study has no page of its own.
    """
    ordered = study.ordered()
    if study.page:
        sections = "".join(_series_section(s) for s in ordered)
        return {study.page: _study_page(study, sections, "", thumbnail_px)}
    pages = {}
    for index, series in enumerate(ordered, start=1):
        note = f"Series {index} of {len(ordered)} in this study"
        pages[series.page] = _study_page(study, _series_section(series), note, thumbnail_px)
    return pages


def _study_page(study: WebStudy, sections: str, part: str, thumbnail_px: int) -> str:
    patient = study.patient
    name = display_name(patient.name) or "(no name)"
    facts = [f"<li>Patient <b>{esc(name)}</b></li>", *_patient_facts(patient)]
    if study.accession:
        facts.append(f"<li>Accession <b>{esc(study.accession)}</b></li>")
    if study.institution:
        facts.append(f"<li>Institution <b>{esc(study.institution)}</b></li>")
    kicker = " · ".join(p for p in ("Study", study.when, part) if p)
    body = f"""<header class="top"><div class="inner">
<a class="back" href="../{INDEX_NAME}">&#x2190; All studies</a>
<p class="kicker">{esc(kicker)}</p>
<h1>{esc(study.title)}</h1>
<ul class="facts">{"".join(facts)}</ul>
</div></header>
<main>
{sections}<p class="small">These pictures are copies for viewing in a web browser. For diagnosis,
use the original DICOM files with a DICOM viewer.</p>
</main>
{VIEWER_OVERLAY}"""
    return html_page(f"{study.title} — {name}", body, thumbnail_px)


def _series_section(series: WebSeries) -> str:
    media = [_video_figure(s) for s in series.shown if s.kind is ItemKind.VIDEO]
    media += [_sound_figure(s) for s in series.shown if s.kind is ItemKind.AUDIO]
    media += [_document_figure(s) for s in series.shown if s.kind is ItemKind.DOCUMENT]
    stills = [s for s in series.shown if s.kind is ItemKind.STILL]
    thumbs = [_thumbnail(s, series, i) for i, s in enumerate(stills)]
    parts = [f'<section class="card series" id="{series.folder}">']
    count = esc(contents_line([series]))
    parts.append(f'<h2>{esc(series.heading)} <span class="count">· {count}</span></h2>')
    if media:
        parts.append(f'<div class="media">{"".join(media)}</div>')
    if thumbs:
        parts.append(f'<div class="grid">{"".join(thumbs)}</div>')
    if series.hidden:
        kinds = ", ".join(
            f"{what} ({count})" if count > 1 else what
            for what, count in _counted(series.hidden).items()
        )
        parts.append(
            f'<p class="skipped">Only in the DICOM files (open them with a DICOM viewer): '
            f"{esc(kinds)}</p>"
        )
    parts.append("</section>\n")
    return "\n".join(parts)


def _counted(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _thumbnail(shown: WebItem, series: WebSeries, index: int) -> str:
    lazy = ' loading="lazy"' if index >= EAGER_THUMBNAILS else ""
    caption = " · ".join(p for p in (series.heading, shown.caption, *shown.notes) if p)
    text = " · ".join((shown.caption, *shown.notes))
    return (
        f'<a class="thumb" href="{esc(shown.href)}" data-caption="{esc(caption)}">'
        f'<img src="{esc(shown.thumb)}" alt="{esc(text)}"{lazy}>'
        f"<span>{esc(text)}</span></a>"
    )


def _video_figure(shown: WebItem) -> str:
    name = esc(Path(shown.href).name)
    size = f'<span class="nowrap">({file_size(shown.octets)})</span>'
    link = f'<a href="{esc(shown.href)}">{name}</a> {size}'
    length = f" · {clock(shown.seconds)}" if shown.seconds else ""
    poster_img = (
        f'<img class="poster" src="{esc(shown.poster)}" alt="{esc(shown.caption)}">'
        if shown.poster
        else ""
    )
    if shown.codec in VIDEO_TYPES:
        poster = f' poster="{esc(shown.poster)}"' if shown.poster else ""
        what = "HEVC (H.265) video" if shown.codec == "hevc" else "This video"
        return f"""<figure class="video">
<video controls preload="metadata" src="{esc(shown.href)}"{poster}
 data-type="{esc(VIDEO_TYPES[shown.codec])}"></video>
<div class="fallback">{poster_img}<p class="note">{what} cannot be played by this browser. Open the
file {link} with a video player (for example VLC), or the DICOM file with a DICOM viewer.</p></div>
<figcaption><b>{esc(shown.caption)}</b><span class="played"> · <span
class="duration">&#x2013;</span></span><span class="stored">{length}</span> · {link}</figcaption>
</figure>"""
    codec = shown.codec.removesuffix("-linked")
    name = {"mpeg2video": "MPEG-2", "h264": "H.264", "hevc": "HEVC (H.265)"}.get(codec, codec)
    why = (
        "which web browsers cannot play"
        if codec == "mpeg2video"
        else "in a form web browsers cannot play"
    )
    return f"""<figure class="video unplayable">
<div class="fallback">{poster_img}<p class="note">This is an {name} video {why}. Open the file
{link} with a video player (for example VLC), or the DICOM file with a DICOM viewer.</p></div>
<figcaption><b>{esc(shown.caption)}</b>{length} · {name} · {link}</figcaption>
</figure>"""


def _sound_figure(shown: WebItem) -> str:
    length = f" · {clock(shown.seconds)}" if shown.seconds else ""
    return f"""<figure class="sound">
<audio controls preload="metadata" src="{esc(shown.href)}"></audio>
<figcaption><b>{esc(shown.caption)}</b>{length} · <a href="{esc(shown.href)}">WAV file</a>
({file_size(shown.octets)})</figcaption>
</figure>"""


def _document_figure(shown: WebItem) -> str:
    opens = (
        "opens in the browser"
        if shown.caption == "PDF"
        else "open it with a program for this file type"
    )
    return f"""<figure class="document">
<span class="doc-icon">{esc(shown.caption)}</span><a href="{esc(shown.href)}" target="_blank"
 rel="noopener">{esc(shown.title)}</a>
<figcaption>{esc(shown.caption)} document, {file_size(shown.octets)} · {opens}</figcaption>
</figure>"""


def readme_text(label: MediaLabel, *, studies: int, contents: str, profile_text: str) -> str:
    """README.TXT (IHE RAD TF-3 4.47.4.1.2.1): what is on the disc, the label, how to open it,
    the media profile (PS3.11), the creating software; CRLF line ends, lines of at most 78."""
    web = label.content == LabelContent.WEB
    rule = "=" * 70
    lines = [
        "PATIENT DISC - MEDICAL IMAGES",
        rule,
        "",
        "DISC LABEL",
        *(f"    {line}" for line in label.text().splitlines()),
        "",
        "WHAT IS ON THIS DISC",
        f"    {plural(studies, 'study', 'studies')}: {contents}.",
        "    DICOMDIR and the folder DICOM: the original DICOM files, for DICOM",
        "        viewers and for import into an imaging system (PACS).",
    ]
    if web:
        lines += [
            "    INDEX.HTM and the folder IHE_PDI: the same pictures, videos and",
            "        documents as web pages (JPEG, MP4, PDF, WAV), for viewing only.",
        ]
    lines += ["", "HOW TO OPEN IT"]
    if web:
        lines += [
            "    Open INDEX.HTM in any web browser (double-click it, or drag it",
            "    into a browser window). Nothing needs to be installed and no",
            "    network connection is used.",
        ]
    lines += [
        "    With a DICOM viewer, open the file DICOMDIR (or import the disc).",
        "    For diagnosis, use the DICOM files, not the web pages.",
        "    This disc starts nothing by itself: there is no autorun.",
        "",
        "PRIVACY",
        "    This disc holds personal medical information. Keep it safe and give",
        "    it only to people caring for the patient.",
        "",
        "TECHNICAL DETAILS",
        "    Structure: IHE Portable Data for Imaging (PDI), DICOM PS3.10 file-set",
        f"    DICOM media profile (PS3.11): {profile_text or 'not stated'}",
        f"    Created: {label.created.isoformat()} with izer {izer.__version__}",
    ]
    return "\r\n".join(lines) + "\r\n"


def readme_bytes(text: str) -> bytes:
    """ASCII when it can be; else UTF-8 with a byte-order mark, so that old editors see UTF-8."""
    if text.isascii():
        return text.encode("ascii")
    return b"\xef\xbb\xbf" + text.encode("utf-8")
