"""Small made-up studies as Part-10 files, for the media tests (file-sets, PDI, ISO, import).

Every fixture is made once per test session and returns a list of paths; treat the files as
read-only (copy them before changing anything). All patients are made up.

``media_study_stills``
    One study: 3 JPEG Baseline VL Endoscopic stills (series 1) and 1 Explicit VR LE
    Secondary Capture (series 2).
``media_study_mixed``
    One study: 2 JPEG stills, an Encapsulated PDF, an H.264 High Profile 4.1 video (.102),
    an MPEG-2 MP@ML video (.100) and a Basic Voice Audio waveform, each in its own series.
``media_study_hevc``
    One study: an HEVC Main video (.107) and a JPEG still.
``media_two_patients``
    Two patients (one with a UTF-8 name), one study each, all Explicit VR Little Endian:
    VL Endoscopic stills, a Secondary Capture, an Encapsulated PDF and a voice waveform.
``media_study_keys_missing``
    One study whose Study ID, Series Number and Instance Numbers are empty (type 2 in the
    IODs, type 1 in DICOMDIR records).

:func:`with_syntax` picks the files of one transfer syntax, e.g. the H.264 video of the
mixed study.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from izer.encode import (
    EquipmentContext,
    InstanceContext,
    SeriesContext,
    StudyContext,
    TransferSyntax,
    UidFactory,
    VLKind,
    encapsulated_pdf,
    secondary_capture_image,
    vl_image,
    voice_audio_from_samples,
)
from izer.encode.video import VideoKind, VideoSyntax, probe, video_image, write_video_instance
from izer.model import Patient, Sex
from tests.encode.factories import smooth_image
from tests.encode.video.conforming import conforming_clip

UID_ROOT = "1.2.826.0.1.3680043.10.1452"
MOMENT = datetime(2024, 6, 3, 9, 15, 0)

EXPLICIT = "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
H264 = "1.2.840.10008.1.2.4.102"
MPEG2 = "1.2.840.10008.1.2.4.100"
HEVC = "1.2.840.10008.1.2.4.107"

PATIENT_A = Patient("IZ-MEDIA-0001", "Testperson^Jürgen^Ödön", "19700101", Sex.MALE)
PATIENT_B = Patient("IZ-MEDIA-0002", "Musterfrau^Erika", "19820315", Sex.FEMALE)
PATIENT_C = Patient("IZ-MEDIA-0003", "Probe^Paul", "19551120", Sex.MALE)
PATIENT_D = Patient("IZ-MEDIA-0004", "Beispiel^Berta", "19901231", Sex.FEMALE)
PATIENT_E = Patient("IZ-MEDIA-0005", "Ohnezahl^Otto", "19660606", Sex.OTHER)

_EQUIPMENT = EquipmentContext(
    manufacturer="izer project",
    model_name="izer media test",
    software_versions="0.0.test",
    station_name="MEDIAROOM",
    institution_name="Test Hospital",
)


def with_syntax(paths: Iterable[Path], *syntaxes: str) -> list[Path]:
    """The files among ``paths`` whose transfer syntax is one of ``syntaxes``."""
    return [
        path
        for path in paths
        if pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID in syntaxes
    ]


@dataclass
class StudyMaker:
    """Writes the instances of one made-up study into ``folder``."""

    folder: Path
    patient: Patient
    study_id: str = "1"
    accession: str = "ACC-MEDIA"

    def __post_init__(self) -> None:
        self.uids = UidFactory(UID_ROOT)
        self.study = StudyContext(
            patient=self.patient,
            study_instance_uid=self.uids.new(),
            study_date=MOMENT.strftime("%Y%m%d"),
            study_time=MOMENT.strftime("%H%M%S"),
            accession_number=self.accession,
            study_id=self.study_id,
            description="Media test study",
            referring_physician_name="Doctor^Referring",
        )
        self.series_count = 0
        self.paths: list[Path] = []
        self.folder.mkdir(parents=True, exist_ok=True)

    def series(self, modality: str) -> SeriesContext:
        """A new series of ``modality`` in the study."""
        self.series_count += 1
        return SeriesContext(
            series_instance_uid=self.uids.new(),
            series_number=self.series_count,
            modality=modality,
            description=f"Media test {modality}",
        )

    def context(self, series: SeriesContext, number: int) -> InstanceContext:
        """Instance ``number`` of ``series``."""
        return InstanceContext(
            study=self.study,
            series=series,
            equipment=_EQUIPMENT,
            sop_instance_uid=self.uids.new(),
            instance_number=number,
            character_set="ISO_IR 192",
            content_time=MOMENT,
        )

    def save(self, ds: Dataset, name: str) -> Path:
        """Write ``ds`` as ``<folder>/<name>.dcm``."""
        path = self.folder / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        self.paths.append(path)
        return path

    def stills(
        self, count: int, syntax: TransferSyntax = TransferSyntax.JPEG_BASELINE
    ) -> list[Path]:
        """``count`` VL Endoscopic stills in a new ES series."""
        series = self.series("ES")
        made = []
        for n in range(1, count + 1):
            pixels = smooth_image(96, 128, colour=True, seed=10 * self.series_count + n)
            ds = vl_image(
                pixels, self.context(series, n), kind=VLKind.ENDOSCOPIC, transfer_syntax=syntax
            )
            made.append(self.save(ds, f"es{self.series_count}-{n}"))
        return made

    def secondary_capture(self) -> Path:
        """One Explicit VR LE Secondary Capture in a new OT series."""
        gray = smooth_image(64, 80, colour=False, seed=self.series_count)
        ds = secondary_capture_image(gray, self.context(self.series("OT"), 1))
        return self.save(ds, f"sc{self.series_count}")

    def pdf(self) -> Path:
        """One Encapsulated PDF in a new DOC series."""
        ds = encapsulated_pdf(
            small_pdf(), self.context(self.series("DOC"), 1), document_title="Findings"
        )
        return self.save(ds, f"pdf{self.series_count}")

    def voice(self) -> Path:
        """One second of a 440 Hz tone as Basic Voice Audio in a new AU series."""
        t = np.arange(8000) / 8000
        tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        ds = voice_audio_from_samples(tone, 8000, self.context(self.series("AU"), 1))
        return self.save(ds, f"au{self.series_count}")

    def video(self, case: str, syntax: VideoSyntax) -> Path:
        """A Video Endoscopic instance of the conforming clip ``case`` in a new ES series."""
        clip = conforming_clip(case)
        ds = video_image(
            clip,
            probe(clip),
            self.context(self.series("ES"), 1),
            kind=VideoKind.ENDOSCOPIC,
            syntax=syntax,
        )
        path = self.folder / f"video{self.series_count}.dcm"
        write_video_instance(ds, path)
        self.paths.append(path)
        return path


def small_pdf() -> bytes:
    """A one-page made-up report (reportlab, invariant output)."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, invariant=True)
    page.drawString(72, 770, "izer media test: made-up findings")
    page.showPage()
    page.save()
    return out.getvalue()


@pytest.fixture(scope="session")
def media_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session folder the media fixtures write into."""
    return tmp_path_factory.mktemp("media-studies")


@pytest.fixture(scope="session")
def media_study_stills(media_folder: Path) -> list[Path]:
    """3 JPEG Baseline VL Endoscopic stills and 1 Explicit VR LE SC of one study."""
    maker = StudyMaker(media_folder / "stills", PATIENT_A)
    maker.stills(3)
    maker.secondary_capture()
    return maker.paths


@pytest.fixture(scope="session")
def media_study_mixed(media_folder: Path) -> list[Path]:
    """JPEG stills, a PDF, H.264 and MPEG-2 videos and a voice waveform of one study."""
    maker = StudyMaker(media_folder / "mixed", PATIENT_C, accession="ACC-MIXED")
    maker.stills(2)
    maker.pdf()
    maker.video("h264_hp41", VideoSyntax.H264_HP41)
    maker.video("mpeg2_mpml", VideoSyntax.MPEG2_MPML)
    maker.voice()
    return maker.paths


@pytest.fixture(scope="session")
def media_study_hevc(media_folder: Path) -> list[Path]:
    """An HEVC Main video and a JPEG still of one study."""
    maker = StudyMaker(media_folder / "hevc", PATIENT_D, accession="ACC-HEVC")
    maker.video("hevc_main", VideoSyntax.HEVC_MAIN)
    maker.stills(1)
    return maker.paths


@pytest.fixture(scope="session")
def media_two_patients(media_folder: Path) -> list[Path]:
    """Two made-up patients, one study each, every file Explicit VR Little Endian."""
    first = StudyMaker(media_folder / "two-a", PATIENT_A, accession="ACC-A")
    first.stills(2, TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN)
    first.pdf()
    second = StudyMaker(media_folder / "two-b", PATIENT_B, study_id="7", accession="ACC-B")
    second.secondary_capture()
    second.voice()
    return [*first.paths, *second.paths]


@pytest.fixture(scope="session")
def media_study_keys_missing(media_folder: Path) -> list[Path]:
    """SC images with empty Study ID, Series Number and Instance Number (type 2 in the IOD)."""
    maker = StudyMaker(media_folder / "keys-missing", PATIENT_E, study_id="")
    series = dataclasses.replace(maker.series("OT"), series_number=0)
    for n in (1, 2):
        gray = smooth_image(32, 32, colour=False, seed=n)
        ds = secondary_capture_image(gray, maker.context(series, n))
        ds.SeriesNumber = None
        ds.InstanceNumber = None
        maker.save(ds, f"blank{n}")
    return maker.paths
