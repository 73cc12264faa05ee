"""The IHE PDI web part of a patient disc: README.TXT, INDEX.HTM, the IHE_PDI viewer, the label.

IHE Portable Data for Imaging (IHE RAD TF-1 15, TF-3 4.47): next to the DICOM file-set
(DICOMDIR and the DICOM files, PS3.10, PS3.11) a disc may carry a README.TXT and an INDEX.HTM
at its root and web content in its own folder IHE_PDI, so that anyone can look at the images
with a web browser: no installation, no network, no autorun. This module writes that part for a
file-set that already exists; it reads the DICOMDIR and the files it references and writes
nothing into the DICOM part.

What the viewer shows, per study (or per series in a large study):

- **stills**: a thumbnail grid; a click shows the full-size JPEG (first frame of a multi-frame);
- **video**: the MP4 in the browser's own player, with its duration (stream copy, never
  re-encoded). MPEG-2 cannot be played by browsers: it gets a still, a note and a link;
  HEVC plays only where the browser supports it, else the same note appears;
- **documents**: links to the PDF (or other encapsulated document);
- **sound**: a WAV file in the browser's audio player.

The label text (:class:`MediaLabel`) gives patient, study dates, institution, creation date and
``DICOM PLUS WEB`` / ``DICOM ONLY`` in lines of at most 40 characters, for the disc or sleeve.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from izer.dispatch.media.pdi_templates import (
    INDEX_NAME,
    README_NAME,
    VIDEO_TYPES,
    WEB_FOLDER,
    ItemKind,
    LabelContent,
    WebItem,
    WebPatient,
    WebSeries,
    WebStudy,
    contents_line,
    display_time,
    index_page,
    plural,
    readme_bytes,
    readme_text,
    study_pages,
)
from izer.encode.extract import (
    VIDEO_TRANSFER_SYNTAXES,
    ExportKind,
    NotDicomError,
    SourceInstance,
    StillFormat,
    outputs,
    read_instance,
)
from izer.model import display_date, display_name

__all__ = [
    "INDEX_NAME",
    "LABEL_WIDTH",
    "README_NAME",
    "WEB_FOLDER",
    "LabelContent",
    "MediaLabel",
    "WebReport",
    "cells",
    "label_for",
    "referenced_files",
    "write_pdi_web",
    "write_readme",
]

#: Longest label line, in character cells (East Asian wide characters count two).
LABEL_WIDTH = 40

#: A study with more items than this gets one viewer page per series.
PAGE_ITEMS = 120

#: Longest side of a video poster, in pixels.
POSTER_PX = 640

_TEMP_PREFIX = ".izer-tmp-"

#: Errors a single instance may raise while decoded or exported (it is then skipped).
_INSTANCE_ERRORS = (
    ValueError,
    KeyError,
    AttributeError,
    TypeError,
    NotImplementedError,
    RuntimeError,
    cv2.error,
    av.FFmpegError,
)


@dataclass(frozen=True)
class MediaLabel:
    """The text for a patient disc, its sleeve and the eject prompt.

    Dates are DICOM DA values (``YYYYMMDD``) and names DICOM PN values, as in the headers;
    :meth:`text` formats them. For several patients ``patient_name`` is ``"2 patients"``,
    ``patient_id`` and ``birth_date`` are empty and ``patients`` lists each (name, ID).
    """

    patient_name: str
    patient_id: str
    birth_date: str
    study_dates: tuple[str, ...]
    descriptions: tuple[str, ...]
    institution: str
    created: date
    content: str = LabelContent.WEB
    volume: int = 1
    volumes: int = 1
    patients: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.content not in tuple(LabelContent):
            allowed = " or ".join(repr(str(c)) for c in LabelContent)
            raise ValueError(f"label content must be {allowed}, got {self.content!r}")
        if not 1 <= self.volume <= self.volumes:
            raise ValueError(
                f"disc {self.volume} of {self.volumes} is impossible; volume must be 1 to volumes"
            )

    def text(self) -> str:
        """The label as lines of at most :data:`LABEL_WIDTH` character cells.

        Content (``DICOM PLUS WEB``), patient(s), study dates, descriptions, institution,
        creation date and ``Disc n of m`` when the study is split over several discs.
        """
        lines = [str(self.content)]
        if len(self.patients) > 1:
            lines.append(f"{len(self.patients)} patients")
            for name, patient_id in self.patients:
                shown = display_name(name, groups=2) or "(no name)"
                lines.append(_fit(f"{shown} ({patient_id})" if patient_id else shown))
        else:
            lines.extend(_wrap(display_name(self.patient_name, groups=2) or "(no name)"))
            facts = [f"ID {self.patient_id}" if self.patient_id else ""]
            facts.append(f"Born {display_date(self.birth_date)}" if self.birth_date else "")
            lines.extend(_fit(line) for line in _pack([f for f in facts if f]))
        lines.extend(_study_lines(self.study_dates))
        if self.descriptions:
            lines.extend(_wrap("; ".join(self.descriptions), max_lines=2))
        if self.institution:
            lines.extend(_wrap(self.institution, max_lines=2))
        lines.append(f"Created {self.created.isoformat()}")
        if self.volumes > 1:
            lines.append(f"Disc {self.volume} of {self.volumes}")
        return "\n".join(lines)


def label_for(
    headers: Sequence[Dataset],
    *,
    institution: str,
    created: date | None = None,
    web: bool = True,
    volume: int = 1,
    volumes: int = 1,
) -> MediaLabel:
    """The label of a disc holding the instances of ``headers``.

    Parameters
    ----------
    headers
        The datasets (headers suffice) of every instance on the disc.
    institution
        The institution making the disc; when empty, the first Institution Name (0008,0080)
        found in the headers.
    created
        Creation date (today when None).
    web
        ``DICOM PLUS WEB`` when the disc carries the web viewer, else ``DICOM ONLY``.
    volume, volumes
        Disc ``volume`` of ``volumes`` when a study is split over several discs.

    Raises
    ------
    ValueError
        Without headers, or for an impossible volume number.
    """
    if not headers:
        raise ValueError("a label needs the headers of at least one instance on the disc")
    patients: dict[tuple[str, str], None] = {}
    studies: dict[str, tuple[str, str, str]] = {}
    for ds in headers:
        patients.setdefault((_text(ds, "PatientName"), _text(ds, "PatientID")), None)
        key = _text(ds, "StudyInstanceUID") or f"no-uid-{len(studies)}"
        studies.setdefault(
            key, (_text(ds, "StudyDate"), _text(ds, "StudyTime"), _text(ds, "StudyDescription"))
        )
    ordered = sorted(studies.values())
    dates = tuple(sorted({d for d, _t, _s in ordered if d}))
    descriptions = tuple(dict.fromkeys(s for _d, _t, s in ordered if s))
    if not institution.strip():
        institution = next(
            (_text(ds, "InstitutionName") for ds in headers if ds.get("InstitutionName")), ""
        )
    content = LabelContent.WEB if web else LabelContent.DICOM_ONLY
    common = {
        "study_dates": dates,
        "descriptions": descriptions,
        "institution": institution.strip(),
        "created": created or date.today(),
        "content": content,
        "volume": volume,
        "volumes": volumes,
        "patients": tuple(patients),
    }
    if len(patients) > 1:
        return MediaLabel(f"{len(patients)} patients", "", "", **common)
    name, patient_id = next(iter(patients))
    birth = next(
        (_text(ds, "PatientBirthDate") for ds in headers if ds.get("PatientBirthDate")), ""
    )
    return MediaLabel(name, patient_id, birth, **common)


def _study_lines(dates: tuple[str, ...]) -> list[str]:
    shown = [display_date(d) for d in dates]
    if not shown:
        return []
    if len(shown) == 1:
        return [f"Study {shown[0]}"]
    if len(shown) > 3:
        return [f"Studies {shown[0]} to {shown[-1]}", f"({len(shown)} study dates)"]
    return _wrap("Studies " + ", ".join(shown), max_lines=2)


def cells(text: str) -> int:
    """Character cells ``text`` takes in a fixed-width font (East Asian wide count two)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _fit(text: str, width: int = LABEL_WIDTH) -> str:
    """``text`` cut to ``width`` cells, ending in ``...`` when cut."""
    text = " ".join(text.splitlines()).strip()
    if cells(text) <= width:
        return text
    out = ""
    for ch in text:
        if cells(out + ch) > width - 3:
            break
        out += ch
    return out.rstrip() + "..."


def _pack(parts: list[str], width: int = LABEL_WIDTH) -> list[str]:
    """Short parts joined by two spaces, as many per line as fit."""
    lines: list[str] = []
    for part in parts:
        if lines and cells(f"{lines[-1]}  {part}") <= width:
            lines[-1] = f"{lines[-1]}  {part}"
        else:
            lines.append(part)
    return lines


def _wrap(text: str, *, width: int = LABEL_WIDTH, max_lines: int = 2) -> list[str]:
    """``text`` wrapped at spaces into at most ``max_lines`` lines of ``width`` cells."""
    lines: list[str] = []
    for word in text.split():
        if lines and cells(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], _fit(" ".join(lines[max_lines - 1 :]) + " ...", width)]
    return [_fit(line, width) for line in lines]


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _number(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(ds.get(keyword))
    except (TypeError, ValueError):
        return None


def referenced_files(root: Path) -> list[Path]:
    """The files the DICOMDIR at ``root`` references, in record order (PS3.3 F.3.2.2).

    Raises
    ------
    FileNotFoundError
        Without ``root/DICOMDIR``.
    ValueError
        When it is not a DICOMDIR, or a Referenced File ID (0004,1500) leaves the file-set.
    """
    dicomdir = root / "DICOMDIR"
    if not dicomdir.is_file():
        raise FileNotFoundError(f"{dicomdir}: no DICOMDIR; write the DICOM file-set first")
    try:
        ds = dcmread(dicomdir)
    except (InvalidDicomError, EOFError, ValueError, KeyError) as exc:
        raise ValueError(f"{dicomdir}: not a readable DICOMDIR ({exc})") from None
    records = ds.get("DirectoryRecordSequence")
    if records is None:
        raise ValueError(f"{dicomdir}: no Directory Record Sequence (0004,1220); not a DICOMDIR")
    found: dict[Path, None] = {}
    for record in records:
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(p) for p in file_id]
        if any(not p or p in (".", "..") or "/" in p or "\\" in p for p in parts):
            shown = "\\".join(parts)
            raise ValueError(f"{dicomdir}: Referenced File ID {shown!r} is not a file-set path")
        found.setdefault(_locate(root, parts), None)
    return list(found)


def _locate(root: Path, parts: list[str]) -> Path:
    """``root/parts``, matched without regard to case when not found as written (a disc
    mounted without Rock Ridge or Joliet may show the names in lower case)."""
    exact = root.joinpath(*parts)
    if exact.exists():
        return exact
    here = root
    for part in parts:
        try:
            match = next((p for p in here.iterdir() if p.name.upper() == part.upper()), None)
        except OSError:
            return exact
        if match is None:
            return exact
        here = match
    return here


def _group(sources: list[SourceInstance]) -> list[WebPatient]:
    patients: dict[tuple[str, str], WebPatient] = {}
    for source in sources:
        ds = source.header
        key = (_text(ds, "PatientID"), _text(ds, "PatientName"))
        patient = patients.get(key)
        if patient is None:
            patient = WebPatient(
                key[1], key[0], _text(ds, "PatientBirthDate"), _text(ds, "PatientSex")
            )
            patients[key] = patient
        study_uid = _text(ds, "StudyInstanceUID")
        study = patient.studies.get(study_uid)
        if study is None:
            study = WebStudy(
                study_uid,
                _text(ds, "StudyDate"),
                _text(ds, "StudyTime"),
                _text(ds, "StudyDescription"),
                _text(ds, "AccessionNumber"),
                _text(ds, "InstitutionName"),
                patient,
            )
            patient.studies[study_uid] = study
        series_uid = _text(ds, "SeriesInstanceUID")
        series = study.series.get(series_uid)
        if series is None:
            series = WebSeries(
                series_uid,
                _number(ds, "SeriesNumber"),
                _text(ds, "Modality"),
                _text(ds, "SeriesDescription"),
            )
            study.series[series_uid] = series
        series.sources.append(source)
    for patient in patients.values():
        for study in patient.studies.values():
            for series in study.series.values():
                series.sources.sort(
                    key=lambda s: (_number(s.header, "InstanceNumber") or 0, str(s.path))
                )
    return sorted(patients.values(), key=lambda p: (display_name(p.name), p.patient_id))


@dataclass
class WebReport:
    """What :func:`write_pdi_web` wrote.

    Attributes
    ----------
    index
        ``root/INDEX.HTM``.
    pages
        Viewer pages in IHE_PDI (one per study, or per series in large studies).
    stills, videos, documents, audio
        Instances shown as JPEG, MP4 (or linked video file), document and WAV.
    skipped
        ``"<file>: <reason>"`` for each referenced file not shown on the web pages.
    """

    index: Path
    pages: int
    stills: int
    videos: int
    documents: int
    skipped: list[str]
    audio: int = 0
    readme: Path | None = None


def write_pdi_web(
    root: Path,
    label: MediaLabel,
    *,
    progress: Callable[[int, int], None] | None = None,
    thumbnail_px: int = 160,
    still_quality: int = 90,
    profile_text: str = "",
) -> WebReport:
    """Write README.TXT, INDEX.HTM and IHE_PDI/ next to the file-set at ``root``.

    The DICOMDIR is read for the files it references; each becomes a picture, video,
    document or sound in the viewer pages (IHE RAD TF-3 4.47.4.1.2). Nothing under the DICOM
    part is touched. IHE_PDI is built in a temporary folder and put in place whole, replacing
    an earlier one; INDEX.HTM and README.TXT are each written to a temporary file and renamed.

    Parameters
    ----------
    root
        The file-set root (DICOMDIR there).
    label
        The disc label, shown on INDEX.HTM and in README.TXT.
    progress
        Called with (instances done, instances in all) as the files are exported.
    thumbnail_px
        Longest side of a thumbnail (48 to 640).
    still_quality
        JPEG quality of re-encoded stills (a baseline JPEG is copied as stored).
    profile_text
        The media profile of the file-set (PS3.11), e.g. ``STD-GEN-CD``, for README.TXT.

    Raises
    ------
    FileNotFoundError
        Without ``root/DICOMDIR``.
    ValueError
        For a damaged DICOMDIR or an option out of range.
    OSError
        When writing fails (nothing of this run is left in ``root`` then).
    """
    root = Path(root)
    if label.content != LabelContent.WEB:
        raise ValueError(
            f"the label says {label.content!r} but a web part is being written; make the label "
            "with web=True, or write only README.TXT with write_readme()"
        )
    if not 48 <= thumbnail_px <= 640:
        raise ValueError(f"thumbnail_px must be 48 to 640 pixels, got {thumbnail_px}")
    if not 1 <= still_quality <= 100:
        raise ValueError(f"still_quality must be 1 to 100, got {still_quality}")
    files = referenced_files(root)
    sources, skipped = _read_sources(files, root)
    patients = _group(sources)
    staging = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}pdi-", dir=root))
    try:
        os.chmod(staging, 0o755)
        exporter = _Exporter(root, staging, thumbnail_px, still_quality, len(files), progress)
        exporter.done = len(files) - len(sources)
        exporter.report()
        pages = _number_pages(patients)
        for patient in patients:
            for study in patient.ordered():
                for series in study.ordered():
                    exporter.export(series)
        skipped.extend(exporter.skipped)
        for patient in patients:
            for study in patient.ordered():
                _write_study_pages(staging, study, thumbnail_px)
        index_text = index_page(patients, label, profile_text, thumbnail_px)
        all_series = [s for p in patients for st in p.studies.values() for s in st.series.values()]
        readme = readme_text(
            label,
            studies=sum(len(p.studies) for p in patients),
            contents=contents_line(all_series),
            profile_text=profile_text,
        )
        _replace_folder(staging, root / WEB_FOLDER)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _write_atomic(root / INDEX_NAME, index_text.encode("utf-8"))
    _write_atomic(root / README_NAME, readme_bytes(readme))
    return WebReport(
        index=root / INDEX_NAME,
        pages=pages,
        stills=sum(s.count(ItemKind.STILL) for s in all_series),
        videos=sum(s.count(ItemKind.VIDEO) for s in all_series),
        documents=sum(s.count(ItemKind.DOCUMENT) for s in all_series),
        skipped=skipped,
        audio=sum(s.count(ItemKind.AUDIO) for s in all_series),
        readme=root / README_NAME,
    )


def write_readme(root: Path, label: MediaLabel, *, profile_text: str = "") -> Path:
    """Write README.TXT alone (a ``DICOM ONLY`` disc, IHE RAD TF-3 4.47.4.1.2.1).

    The DICOMDIR at ``root`` is read for what the disc holds; the file is written to a
    temporary name and renamed. Returns its path.

    Raises
    ------
    FileNotFoundError
        Without ``root/DICOMDIR``.
    ValueError
        For a damaged DICOMDIR.
    """
    root = Path(root)
    sources, _skipped = _read_sources(referenced_files(root), root)
    kinds = [s.kind for s in sources]
    counts = [
        plural(kinds.count(kind), word)
        for kind, word in (
            (ExportKind.IMAGE, "image"),
            (ExportKind.VIDEO, "video"),
            (ExportKind.DOCUMENT, "document"),
            (ExportKind.AUDIO, "sound recording"),
        )
        if kind in kinds
    ]
    others = len(kinds) - sum(1 for k in kinds if k is not None)
    if others:
        counts.append(plural(others, "other instance"))
    studies = {_text(s.header, "StudyInstanceUID") for s in sources}
    text = readme_text(
        label,
        studies=len(studies),
        contents=", ".join(counts) or "no instances",
        profile_text=profile_text,
    )
    _write_atomic(root / README_NAME, readme_bytes(text))
    return root / README_NAME


def _read_sources(files: list[Path], root: Path) -> tuple[list[SourceInstance], list[str]]:
    """The header of every file, and ``"<file>: <reason>"`` for those that cannot be read."""
    sources: list[SourceInstance] = []
    skipped: list[str] = []
    for path in files:
        try:
            sources.append(read_instance(path))
        except (NotDicomError, ValueError) as exc:
            skipped.append(f"{_relative(path, root)}: {str(exc).removeprefix(f'{path}: ')}")
    return sources, skipped


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _number_pages(patients: list[WebPatient]) -> int:
    """Name the study pages, series pages and series folders; returns the page count."""
    studies = [s for p in patients for s in p.ordered()]
    every = [series for study in studies for series in study.ordered()]
    digits = max(2, len(str(max(len(studies), len(every)))))
    pages = 0
    counter = 0
    for number, study in enumerate(studies, start=1):
        split = study.items() > PAGE_ITEMS and len(study.series) > 1
        study.page = "" if split else f"st{number:0{digits}d}.htm"
        pages += 0 if split else 1
        for series in study.ordered():
            counter += 1
            series.folder = f"s{counter:0{digits}d}"
            series.page = f"{series.folder}.htm" if split else study.page
            pages += 1 if split else 0
    return pages


class _Exporter:
    """Writes the files of each series into its folder under the staging IHE_PDI."""

    def __init__(
        self,
        root: Path,
        web: Path,
        thumbnail_px: int,
        quality: int,
        total: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.root = root
        self.web = web
        self.thumbnail_px = thumbnail_px
        self.quality = quality
        self.total = total
        self.progress = progress
        self.done = 0
        self.skipped: list[str] = []

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)

    def export(self, series: WebSeries) -> None:
        folder = self.web / series.folder
        folder.mkdir()
        for position, source in enumerate(series.sources, start=1):
            number = _number(source.header, "InstanceNumber") or position
            try:
                shown = self._one(source, folder, position, number)
            except _INSTANCE_ERRORS as exc:
                shown = None
                for partial in folder.glob(f"?{position:04d}.*"):
                    partial.unlink()
                reason = str(exc).removeprefix(f"{source.path}: ") or type(exc).__name__
                self.skipped.append(f"{_relative(source.path, self.root)}: {reason}")
                series.hidden.append(_what(source))
            if shown is None and source.kind is None:
                self.skipped.append(f"{_relative(source.path, self.root)}: {source.skip_reason}")
                series.hidden.append(_what(source))
            elif shown is not None:
                series.shown.append(shown)
            self.done += 1
            self.report()

    def _one(
        self, source: SourceInstance, folder: Path, position: int, number: int
    ) -> WebItem | None:
        if source.kind is None:
            return None
        stem = f"{position:04d}"
        made = outputs(source, stills=StillFormat.JPEG, quality=self.quality, scratch=self.web)
        try:
            first = next(made)
            if source.kind is ExportKind.IMAGE:
                return self._still(source, first.write, folder, stem, number)
            letter = {ExportKind.VIDEO: "v", ExportKind.DOCUMENT: "d", ExportKind.AUDIO: "a"}
            target = folder / f"{letter[source.kind]}{stem}{first.extension}"
            with open(target, "wb") as handle:
                first.write(handle)
        finally:
            made.close()
        href = f"{folder.name}/{target.name}"
        octets = target.stat().st_size
        header = source.header
        if source.kind is ExportKind.VIDEO:
            return self._video(source, target, href, octets, stem, number, list(first.notes))
        if source.kind is ExportKind.DOCUMENT:
            title = _text(header, "DocumentTitle") or f"Document {number}"
            kind = first.extension.lstrip(".").upper()
            return WebItem(ItemKind.DOCUMENT, number, href, octets, kind, title=title)
        seconds = _media_seconds(target)
        return WebItem(
            ItemKind.AUDIO, number, href, octets, f"Sound recording {number}", seconds=seconds
        )

    def _still(
        self,
        source: SourceInstance,
        write: Callable[[BinaryIO], None],
        folder: Path,
        stem: str,
        number: int,
    ) -> WebItem:
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError("the exported JPEG cannot be read back")
        (folder / f"i{stem}.jpg").write_bytes(data)
        (folder / f"t{stem}.jpg").write_bytes(_jpeg(_shrink(image, self.thumbnail_px), 85))
        frames = _number(source.header, "NumberOfFrames") or 1
        notes = [f"frame 1 of {frames}"] if frames > 1 else []
        time = display_time(_text(source.header, "ContentTime"))
        caption = " · ".join(p for p in (f"Image {number}", time) if p)
        return WebItem(
            ItemKind.STILL,
            number,
            f"{folder.name}/i{stem}.jpg",
            len(data),
            caption,
            thumb=f"{folder.name}/t{stem}.jpg",
            notes=notes,
        )

    def _video(
        self,
        source: SourceInstance,
        target: Path,
        href: str,
        octets: int,
        stem: str,
        number: int,
        notes: list[str],
    ) -> WebItem:
        codec = VIDEO_TRANSFER_SYNTAXES[source.transfer_syntax]
        frame, seconds = _first_frame(target)
        poster = ""
        if frame is not None:
            poster_path = target.parent / f"p{stem}.jpg"
            poster_path.write_bytes(_jpeg(_shrink(frame, POSTER_PX), 85))
            poster = f"{target.parent.name}/{poster_path.name}"
        playable = codec in VIDEO_TYPES and target.suffix == ".mp4"
        return WebItem(
            ItemKind.VIDEO,
            number,
            href,
            octets,
            f"Video {number}",
            poster=poster,
            codec=codec if playable else f"{codec}-linked",
            seconds=seconds,
            notes=notes,
        )


def _what(source: SourceInstance) -> str:
    sop_class = _text(source.header, "SOPClassUID")
    return UID(sop_class).name if sop_class else "an unreadable instance"


def _shrink(image: np.ndarray, longest: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} thumbnail")
    return buffer.tobytes()


def _first_frame(path: Path) -> tuple[np.ndarray | None, float | None]:
    """The first picture of a video file (BGR) and its length in seconds, when FFmpeg reads it."""
    try:
        with av.open(str(path)) as container:
            seconds = container.duration / av.time_base if container.duration else None
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                return frame.to_ndarray(format="bgr24"), seconds
            return None, seconds
    except (av.FFmpegError, IndexError, ValueError):
        return None, None


def _media_seconds(path: Path) -> float | None:
    try:
        with av.open(str(path)) as container:
            return container.duration / av.time_base if container.duration else None
    except (av.FFmpegError, ValueError):
        return None


def _replace_folder(staged: Path, target: Path) -> None:
    """Put ``staged`` in place of ``target`` (an earlier one is removed after the swap)."""
    old = None
    if target.exists():
        old = target.with_name(f"{_TEMP_PREFIX}old-{os.getpid()}-{target.name}")
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_atomic(path: Path, data: bytes) -> None:
    handle, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _write_study_pages(web: Path, study: WebStudy, thumbnail_px: int) -> None:
    for name, text in study_pages(study, thumbnail_px).items():
        (web / name).write_text(text, encoding="utf-8")
