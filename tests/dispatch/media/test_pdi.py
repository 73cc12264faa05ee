"""IHE PDI web part: README.TXT, INDEX.HTM and the IHE_PDI viewer, checked in headless Chromium.

The file-set under test is built here with pydicom's FileSet (DICOMDIR at the root, the DICOM
files under DICOM/), independently of izer's own file-set builder. It holds one made-up
patient with a Japanese name: colour JPEG stills, a grayscale multi-frame, a presentation
state, an H.264 clip, an MPEG-2 clip, an HEVC clip, a PDF and a voice recording.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filebase import DicomFileLike
from pydicom.fileset import FileSet
from reportlab.pdfgen import canvas

import izer
from izer.dispatch.media import pdi
from izer.dispatch.media.pdi import (
    LABEL_WIDTH,
    LabelContent,
    MediaLabel,
    WebReport,
    cells,
    label_for,
    write_pdi_web,
    write_readme,
)
from izer.encode import (
    InstanceContext,
    SeriesContext,
    TextAnnotation,
    UidFactory,
    VLKind,
    encapsulated_pdf,
    multiframe_secondary_capture,
    presentation_state,
    secondary_capture_image,
    vl_image,
    voice_audio_from_samples,
)
from izer.encode.video import VideoKind, VideoSyntax, probe, video_image, write_video_instance
from izer.model import Patient, Sex
from tests.encode.factories import UID_ROOT, make_context, smooth_image
from tests.helpers.binaries import require_binaries
from tests.helpers.chromium import Dom as _Dom
from tests.helpers.chromium import chromium_dom

JAPANESE_NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"
DESCRIPTION = "Gastroscopy <upper> & biopsy"
PROFILE = "STD-GEN-DVD-JPEG"
CREATED = date(2026, 11, 23)

#: ffmpeg arguments of the tiny clips (160x120 or CIF, one or two seconds).
_CLIPS = {
    "h264.mp4": (
        *("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "2"),
        *("-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level:v", "4.1"),
        *("-pix_fmt", "yuv420p", "-movflags", "+faststart"),
    ),
    "mpeg2.mpg": (
        *("-f", "lavfi", "-i", "testsrc2=size=352x288:rate=25", "-t", "1"),
        *("-c:v", "mpeg2video", "-b:v", "2M", "-f", "mpeg"),
    ),
    "hevc.mp4": (
        *("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "1"),
        *("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"),
        *("-tag:v", "hvc1", "-pix_fmt", "yuv420p", "-profile:v", "main", "-movflags", "+faststart"),
    ),
}
_SYNTAXES = {
    "h264.mp4": VideoSyntax.H264_HP41,
    "mpeg2.mpg": VideoSyntax.MPEG2_MPML,
    "hevc.mp4": VideoSyntax.HEVC_MAIN,
}


# -- building the file-set -----------------------------------------------------------------------


class _Study:
    """Contexts of one made-up study: a new series per call of :meth:`series`."""

    def __init__(self, name: str = JAPANESE_NAME, patient_id: str = "IZ-TEST-0002") -> None:
        base = make_context(1, "ES")
        patient = Patient(patient_id, name, "19800214", Sex.MALE)
        self.study = dataclasses.replace(base.study, patient=patient, description=DESCRIPTION)
        self.base = base
        self.uids = UidFactory(UID_ROOT)
        self.number = 0

    def series(self, modality: str, description: str) -> Iterator[InstanceContext]:
        self.number += 1
        series = SeriesContext(self.uids.new(), self.number, modality, description)
        for n in range(1, 100):
            yield dataclasses.replace(
                self.base,
                study=self.study,
                series=series,
                sop_instance_uid=self.uids.new(),
                instance_number=n,
            )


def _pdf() -> bytes:
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer)
    document.drawString(72, 770, "Endoscopy report of a made-up patient")
    document.showPage()
    document.save()
    return buffer.getvalue()


def _instances(folder: Path, ffmpeg: Path) -> list[Path]:
    """Every test instance, written as Part-10 files into ``folder``."""
    study = _Study()
    made: list[Dataset] = []
    stills = study.series("ES", "Stills")
    for seed in range(3):
        pixels = smooth_image(240, 320, colour=True, seed=seed)
        made.append(vl_image(pixels, next(stills), kind=VLKind.ENDOSCOPIC))
    gray = study.series("OT", "Scans")
    scan = secondary_capture_image(smooth_image(120, 160, colour=False), next(gray))
    frames = np.stack([smooth_image(64, 80, colour=False, seed=s) for s in range(3)])
    made += [scan, multiframe_secondary_capture(frames, next(gray), frame_time_ms=100.0)]
    notes = study.series("PR", "Annotations")
    text = TextAnnotation("biopsy", anchor=(10.0, 10.0))
    made.append(presentation_state(scan, next(notes), label="NOTE", texts=[text]))
    videos = study.series("ES", "Videos")
    paths = []
    for name, arguments in _CLIPS.items():
        clip = folder / name
        subprocess.run([str(ffmpeg), "-v", "error", "-y", *arguments, str(clip)], check=True)
        ds = video_image(
            clip, probe(clip), next(videos), kind=VideoKind.ENDOSCOPIC, syntax=_SYNTAXES[name]
        )
        path = folder / f"{name}.dcm"
        write_video_instance(ds, path)
        paths.append(path)
    documents = study.series("DOC", "Report")
    made.append(encapsulated_pdf(_pdf(), next(documents), document_title="Endoscopy report"))
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
    made.append(voice_audio_from_samples(tone, 8000, next(study.series("AU", "Dictation"))))
    for number, ds in enumerate(made):
        path = folder / f"instance{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def build_fileset(paths: list[Path], root: Path) -> None:
    """DICOMDIR at ``root`` and the files under ``root/DICOM`` (pydicom FileSet, moved down)."""
    staged = FileSet()
    for path in paths:
        staged.add(path)
    staged.write(root)
    fileset = FileSet(root / "DICOMDIR")
    (root / "DICOM").mkdir()
    for top in [p for p in root.iterdir() if p.name.startswith("PT")]:
        shutil.move(top, root / "DICOM" / top.name)
    for instance in fileset:
        record = instance.node._record
        record.ReferencedFileID = ["DICOM", *record.ReferencedFileID]
    with open(root / "DICOMDIR", "wb") as handle:  # pydicom computes the record offsets
        fileset._write_dicomdir(DicomFileLike(handle))
    moved = FileSet(root / "DICOMDIR")
    assert all(Path(i.path).is_file() for i in moved), "the test file-set is broken"


def _snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of DICOMDIR and of every file under DICOM/, by relative path."""
    files = [root / "DICOMDIR", *sorted(p for p in (root / "DICOM").rglob("*") if p.is_file())]
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


@dataclasses.dataclass
class Disc:
    root: Path
    report: WebReport
    label: MediaLabel
    before: dict[str, str]
    progress: list[tuple[int, int]]
    headers: list[Dataset]


@pytest.fixture(scope="module")
def disc(tmp_path_factory: pytest.TempPathFactory) -> Disc:
    """The test file-set with its web part written once."""
    binaries = require_binaries("ffmpeg")
    sources = tmp_path_factory.mktemp("sources")
    root = tmp_path_factory.mktemp("disc")
    build_fileset(_instances(sources, binaries["ffmpeg"]), root)
    shutil.rmtree(sources)
    before = _snapshot(root)
    headers = [dcmread(p, stop_before_pixels=True) for p in pdi.referenced_files(root)]
    label = label_for(headers, institution="Klinikum Test & Co.", created=CREATED)
    progress: list[tuple[int, int]] = []
    report = write_pdi_web(
        root,
        label,
        progress=lambda done, total: progress.append((done, total)),
        profile_text=PROFILE,
    )
    return Disc(root, report, label, before, progress, headers)


# -- reading pages in Chromium -------------------------------------------------------------------


@pytest.fixture(scope="module")
def index_dom(disc: Disc, tmp_path_factory: pytest.TempPathFactory) -> _Dom:
    return chromium_dom(disc.root / "INDEX.HTM", tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="module")
def study_dom(disc: Disc, tmp_path_factory: pytest.TempPathFactory) -> _Dom:
    return chromium_dom(disc.root / "IHE_PDI" / "st01.htm", tmp_path_factory.mktemp("chromium"))


# -- tests ---------------------------------------------------------------------------------------


def test_the_web_part_sits_next_to_the_file_set_and_the_dicom_part_is_untouched(
    disc: Disc,
) -> None:
    names = {p.name for p in disc.root.iterdir()}
    assert names == {"DICOMDIR", "DICOM", "INDEX.HTM", "README.TXT", "IHE_PDI"}
    assert _snapshot(disc.root) == disc.before
    web = [
        p.relative_to(disc.root / "IHE_PDI").as_posix() for p in (disc.root / "IHE_PDI").rglob("*")
    ]
    assert all(re.fullmatch(r"[a-z0-9_./]+", name) for name in web), web
    report = disc.report
    assert report.index == disc.root / "INDEX.HTM"
    stills_and_first_frame = 3 + 2
    assert (report.stills, report.videos, report.documents, report.audio, report.pages) == (
        stills_and_first_frame,
        3,
        1,
        1,
        1,
    )
    assert len(report.skipped) == 1
    assert report.skipped[0].startswith("DICOM/") and "Presentation State" in report.skipped[0]
    assert disc.progress[0] == (0, 11) and disc.progress[-1] == (11, 11)
    assert [done for done, _ in disc.progress] == sorted(done for done, _ in disc.progress)


def test_index_opened_from_disk_shows_its_thumbnails_and_links_into_the_viewer(
    disc: Disc, index_dom: _Dom
) -> None:
    images = index_dom.find("img")
    assert images, "INDEX.HTM shows no study preview"
    assert all("loaded" in image.classes for image in images), [i.attrs for i in images]
    links = {a.attrs.get("href") for a in index_dom.find("a")}
    assert "IHE_PDI/st01.htm" in links
    assert "README.TXT" in links
    label = index_dom.find("pre", "label-text")[0].text
    assert label == disc.label.text()
    heading = index_dom.find("h1")[0].text
    assert "YAMADA, Tarou" in heading and "山田 太郎" in heading


def test_no_page_refers_to_the_network_or_to_external_scripts(disc: Disc) -> None:
    pages = [disc.root / "INDEX.HTM", *(disc.root / "IHE_PDI").glob("*.htm")]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert '<meta charset="utf-8">' in text
        assert not re.search(r"(?i)(https?:|ftp:)?//[a-z0-9]", text), page
        assert not re.search(r"(?i)<(script|link|iframe)[^>]*(src|href)=", text), page
        assert "@import" not in text and "url(" not in text


def test_every_link_and_picture_of_the_pages_resolves_to_a_file_on_the_disc(disc: Disc) -> None:
    for page in [disc.root / "INDEX.HTM", *(disc.root / "IHE_PDI").glob("*.htm")]:
        dom = _Dom(page.read_text(encoding="utf-8"))
        targets = [
            e.attrs[a] for e in dom.elements for a in ("href", "src", "poster") if a in e.attrs
        ]
        assert targets
        for target in targets:
            assert not target.startswith(("/", "file:")), target
            assert (page.parent / target).resolve().is_file(), f"{page.name}: {target}"


def test_study_page_shows_loaded_thumbnails_that_open_the_full_size_jpeg(
    disc: Disc, study_dom: _Dom
) -> None:
    thumbs = study_dom.find("a", "thumb")
    assert len(thumbs) == 5
    for thumb in thumbs:
        full = disc.root / "IHE_PDI" / thumb.attrs["href"]
        assert full.suffix == ".jpg" and full.read_bytes()[:3] == b"\xff\xd8\xff"
    images = [i for i in study_dom.find("img") if i.attrs.get("src")]
    assert all("loaded" in image.classes for image in images), [i.attrs for i in images]
    captions = [t.words for t in thumbs]
    assert captions.count("Image 2 · 10:30 · frame 1 of 3") == 1, captions


def test_h264_video_plays_in_the_browsers_own_player_and_reports_its_duration(
    disc: Disc, study_dom: _Dom
) -> None:
    videos = study_dom.find("video")
    h264 = [v for v in videos if "avc1" in v.attrs.get("data-type", "")]
    assert len(h264) == 1 and "controls" in h264[0].attrs
    source = disc.root / "IHE_PDI" / h264[0].attrs["src"]
    assert source.suffix == ".mp4" and source.read_bytes()[4:8] == b"ftyp"
    figures = [f for f in study_dom.find("figure", "video") if "unplayable" not in f.classes]
    spans = [s for s in study_dom.find("span", "duration") if s.attrs.get("data-seconds")]
    assert len(figures) == 1 and len(spans) == 1
    assert float(spans[0].attrs["data-seconds"]) == pytest.approx(2.0, abs=0.1)
    assert spans[0].text == "0:02"


def test_mpeg2_and_unsupported_hevc_get_a_note_and_a_link_not_a_broken_player(
    disc: Disc, study_dom: _Dom
) -> None:
    html_text = (disc.root / "IHE_PDI" / "st01.htm").read_text(encoding="utf-8")
    unplayable = study_dom.find("figure", "unplayable")
    assert len(unplayable) == 2  # MPEG-2 always; HEVC as Debian's Chromium decides
    mpeg2 = [f for f in unplayable if "MPEG-2" in f.text]
    assert len(mpeg2) == 1
    assert "web browsers cannot play" in mpeg2[0].words
    assert html_text.count("<video ") == 2  # H.264 and HEVC; none for MPEG-2
    hevc = [v for v in study_dom.find("video") if "hvc1" in v.attrs.get("data-type", "")]
    assert len(hevc) == 1
    notes = [f.words for f in unplayable if "HEVC" in f.words]
    assert notes and "cannot be played by this browser" in notes[0]
    files = {p.suffix for p in (disc.root / "IHE_PDI").rglob("v*")}
    assert files == {".mp4"}  # MPEG-2 remuxed to MP4 by stream copy


def test_pdf_and_sound_are_linked_files(disc: Disc, study_dom: _Dom) -> None:
    documents = [a for a in study_dom.find("a") if a.attrs.get("href", "").endswith(".pdf")]
    assert documents and documents[0].text == "Endoscopy report"
    assert (disc.root / "IHE_PDI" / documents[0].attrs["href"]).read_bytes().startswith(b"%PDF-")
    audio = study_dom.find("audio")
    assert len(audio) == 1 and "controls" in audio[0].attrs
    assert (disc.root / "IHE_PDI" / audio[0].attrs["src"]).read_bytes()[:4] == b"RIFF"
    skipped = study_dom.find("p", "skipped")
    assert skipped and "Presentation State" in skipped[0].text


def test_patient_name_and_description_are_escaped_utf8(disc: Disc, study_dom: _Dom) -> None:
    raw = (disc.root / "IHE_PDI" / "st01.htm").read_bytes().decode("utf-8")
    assert "Gastroscopy &lt;upper&gt; &amp; biopsy" in raw
    assert "<upper>" not in raw
    assert study_dom.find("h1")[0].text == DESCRIPTION
    assert not study_dom.find("upper")
    facts = " ".join(li.text for li in study_dom.find("li"))
    assert "山田 太郎" in facts and "やまだ たろう" in facts and "IZ-TEST-0002" in facts


def test_readme_has_crlf_lines_the_label_the_profile_and_how_to_open_it(disc: Disc) -> None:
    data = (disc.root / "README.TXT").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 marked: the name is Japanese
    assert data.count(b"\n") == data.count(b"\r\n") > 20
    text = data[3:].decode("utf-8")
    assert PROFILE in text
    assert "INDEX.HTM" in text and "DICOMDIR" in text and "no autorun" in text
    assert f"izer {izer.__version__}" in text
    for line in disc.label.text().splitlines():
        assert f"    {line}\r\n" in text


def test_label_lines_fit_40_cells_and_carry_patient_date_institution_and_content(
    disc: Disc,
) -> None:
    text = disc.label.text()
    lines = text.splitlines()
    assert all(cells(line) <= LABEL_WIDTH for line in lines), lines
    assert lines[0] == "DICOM PLUS WEB"
    assert "YAMADA, Tarou" in text and "山田 太郎" in text
    assert "ID IZ-TEST-0002" in text and "1980-02-14" in text
    assert "Study 2024-05-17" in text
    assert "Klinikum Test & Co." in text
    assert "Created 2026-11-23" in text
    assert "Disc" not in text  # a single disc says nothing about volumes


def test_label_for_several_patients_discs_and_dicom_only() -> None:
    first = make_context(1, "ES").study
    other = dataclasses.replace(
        first,
        patient=Patient("IZ-TEST-0003", "Musterfrau^Erika", "19650101", Sex.FEMALE),
        study_instance_uid=f"{UID_ROOT}.77.1",
        study_date="20240601",
        description="A long study description that cannot fit on one label line",
    )
    headers = []
    for study in (first, other):
        ds = Dataset()
        ds.PatientName, ds.PatientID = study.patient.name, study.patient.patient_id
        ds.PatientBirthDate = study.patient.birth_date
        ds.StudyInstanceUID, ds.StudyDate = study.study_instance_uid, study.study_date
        ds.StudyDescription, ds.InstitutionName = study.description, "Test Hospital"
        headers.append(ds)
    label = label_for(headers, institution="", created=CREATED, web=False, volume=2, volumes=3)
    lines = label.text().splitlines()
    assert all(cells(line) <= LABEL_WIDTH for line in lines), lines
    assert lines[0] == LabelContent.DICOM_ONLY
    assert "2 patients" in lines
    assert "TESTPERSON, Jürgen Ödön (IZ-TEST-0001)" in lines
    assert "MUSTERFRAU, Erika (IZ-TEST-0003)" in lines
    assert "Studies 2024-05-17, 2024-06-01" in lines
    assert "Test Hospital" in lines  # taken from the headers
    assert lines[-1] == "Disc 2 of 3"
    assert (label.patient_name, label.patient_id, label.birth_date) == ("2 patients", "", "")
    with pytest.raises(ValueError, match="volume"):
        label_for(headers, institution="X", volume=4, volumes=3)
    with pytest.raises(ValueError, match="at least one"):
        label_for([], institution="X")


def test_a_large_study_gets_one_page_per_series_and_a_rerun_replaces_the_viewer(
    disc: Disc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "disc"
    shutil.copytree(disc.root, root)
    monkeypatch.setattr(pdi, "PAGE_ITEMS", 4)
    report = write_pdi_web(root, disc.label, thumbnail_px=96, profile_text=PROFILE)
    pages = sorted(p.name for p in (root / "IHE_PDI").glob("*.htm"))
    assert pages == ["s01.htm", "s02.htm", "s03.htm", "s04.htm", "s05.htm", "s06.htm"]
    assert report.pages == 6
    index = _Dom((root / "INDEX.HTM").read_text(encoding="utf-8"))
    assert {a.attrs["href"] for a in index.find("a")} >= {f"IHE_PDI/{p}" for p in pages}
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    assert _snapshot(root) == disc.before


def test_a_failure_leaves_no_partial_web_part(disc: Disc, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "disc"
    root.mkdir()
    shutil.copytree(disc.root / "DICOM", root / "DICOM")
    shutil.copy2(disc.root / "DICOMDIR", root / "DICOMDIR")

    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pdi, "_write_study_pages", full)
    with pytest.raises(OSError, match="No space"):
        write_pdi_web(root, disc.label)
    assert sorted(p.name for p in root.iterdir()) == ["DICOM", "DICOMDIR"]


def test_bad_input_is_refused_before_anything_is_written(disc: Disc, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="DICOMDIR"):
        write_pdi_web(tmp_path, disc.label)
    with pytest.raises(ValueError, match="thumbnail_px"):
        write_pdi_web(disc.root, disc.label, thumbnail_px=10)
    with pytest.raises(ValueError, match="still_quality"):
        write_pdi_web(disc.root, disc.label, still_quality=0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="content"):
        dataclasses.replace(disc.label, content="DICOM AND MORE")


def test_a_dicom_only_disc_gets_a_readme_and_no_web_part(disc: Disc, tmp_path: Path) -> None:
    root = tmp_path / "disc"
    root.mkdir()
    shutil.copytree(disc.root / "DICOM", root / "DICOM")
    shutil.copy2(disc.root / "DICOMDIR", root / "DICOMDIR")
    label = label_for(disc.headers, institution="Test Hospital", created=CREATED, web=False)
    with pytest.raises(ValueError, match="web=True"):
        write_pdi_web(root, label)
    assert write_readme(root, label, profile_text="STD-GEN-CD") == root / "README.TXT"
    assert sorted(p.name for p in root.iterdir()) == ["DICOM", "DICOMDIR", "README.TXT"]
    text = (root / "README.TXT").read_bytes().decode("utf-8-sig")
    assert "    DICOM ONLY\r\n" in text and "STD-GEN-CD" in text
    assert "INDEX.HTM" not in text and "IHE_PDI" not in text
    assert "1 study: 5 images, 3 videos, 1 document, 1 sound recording, 1 other instance." in text
