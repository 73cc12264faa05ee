"""Batch scanning with quality control: scan first, check the pages, then store them.

:meth:`CaptureController.scan <izer.engine.capturing.CaptureController.scan>` stores each
page as it comes. The technician's screen needs a step in between: the pages of one batch are
looked at (rotated, reordered, rescanned or deleted) before any of them becomes an instance.
This module gives that step to the GUI (which may import only the engine):

* :data:`SCAN_PRESETS`: chest, bone, mammo and document; each says what the scanner is asked
  for (grayscale or colour, bit depth, resolution), what the pages become (Secondary Capture
  with Conversion Type DF or SD, or one Encapsulated PDF) and the anatomic region.
* :func:`open_page_source` and :func:`acquire`: pages into memory, nothing stored.
* :func:`rotated`, :func:`preview`: the QC strip's operations and thumbnails.
* :func:`store_pages`: the checked pages become instances of the procedure's study, one new
  series, all carrying the **original exam date** as Acquisition Date (PS3.3 C.7.6.1: "the
  date the acquisition of data that resulted in this image started", the exposure of the
  film), while Content Date and Date of Secondary Capture say when it was digitized.
  Either every page is stored or none is.
* :class:`SourceProbe`: a few frames from a video source, for the settings' "Test" button.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from izer.capture import PageSource, ScannedPage, SourceError, SourceKind, SourceRequest
from izer.capture.registry import open_video_source, parse_source_spec
from izer.encode import ConversionType, InstanceContext, SeriesContext, secondary_capture_image
from izer.encode.encapsulated_pdf import encapsulated_pdf
from izer.engine.capturing import CAPTURING_STATES, study_context
from izer.model import InstanceRecord, ProcedureState
from izer.model.procedure import TransitionError

if TYPE_CHECKING:
    from izer.capture import VideoSource
    from izer.engine.core import Engine

__all__ = [
    "BODY_PARTS",
    "LATERALITIES",
    "PAIRED_BODY_PARTS",
    "SCAN_PRESETS",
    "ScanOutput",
    "ScanPreset",
    "ScannedPage",
    "SourceProbe",
    "acquire",
    "ensure_capturing",
    "open_page_source",
    "preview",
    "rotated",
    "store_pages",
]

#: How long a watched folder waits for a new file before the batch ends (seconds).
FOLDER_IDLE_S = 3.0
#: Earliest exam date accepted (a typing slip guard, not a DICOM rule).
EARLIEST_EXAM = date(1900, 1, 1)

#: Body Part Examined (0018,0015) defined terms offered for scanned films (PS3.16 Annex L,
#: CID 4031 "Common Anatomic Regions"); "" leaves the attribute out.
BODY_PARTS: tuple[str, ...] = (
    "",
    "CHEST",
    "BREAST",
    "ABDOMEN",
    "PELVIS",
    "SKULL",
    "HEAD",
    "NECK",
    "CSPINE",
    "TSPINE",
    "LSPINE",
    "SHOULDER",
    "ARM",
    "ELBOW",
    "HAND",
    "HIP",
    "LEG",
    "KNEE",
    "FOOT",
    "EXTREMITY",
)
#: Body parts that come in pairs: Laterality (0020,0060) is then L, R or empty for unknown;
#: for the others it is left out (General Series, type 2C, PS3.3 C.7.3.1).
PAIRED_BODY_PARTS = frozenset(
    {"BREAST", "SHOULDER", "ARM", "ELBOW", "HAND", "HIP", "LEG", "KNEE", "FOOT", "EXTREMITY"}
)
#: Laterality (0020,0060) values: right, left, or unknown.
LATERALITIES = ("", "R", "L")


class ScanOutput(enum.StrEnum):
    """What the checked pages become."""

    #: One Secondary Capture Image per page (PS3.3 A.8.1).
    SC = "sc"
    #: One Encapsulated PDF holding every page (PS3.3 A.45.1), series Modality DOC.
    PDF = "pdf"


@dataclass(frozen=True)
class ScanPreset:
    """What a kind of original needs from the scanner and becomes in DICOM.

    Parameters
    ----------
    key, title
        Short name and what the screen shows.
    output
        Secondary Capture images or one Encapsulated PDF (:class:`ScanOutput`).
    conversion
        Conversion Type (0008,0064), PS3.3 C.8.6.1: DF for film, SD for a document.
    grayscale
        Photometric Interpretation MONOCHROME2 (``True``) or RGB; colour pages are made gray.
    bits
        Bits per sample asked of a SANE scanner: 16 keeps a film's density range (12-bit
        digitizers deliver 16-bit samples), 8 for documents.
    dpi
        Scan resolution; gives Nominal Scanned Pixel Spacing (required for DF, C.8.6.2).
    body_part
        Body Part Examined (0018,0015) of the series, one of :data:`BODY_PARTS`.
    """

    key: str
    title: str
    output: ScanOutput
    conversion: ConversionType
    grayscale: bool
    bits: int
    dpi: float
    body_part: str = ""

    @property
    def photometric(self) -> str:
        """The Photometric Interpretation the pages get."""
        return "MONOCHROME2" if self.grayscale else "RGB"


#: The technician's presets, in the order the screen offers them.
SCAN_PRESETS: dict[str, ScanPreset] = {
    preset.key: preset
    for preset in (
        ScanPreset(
            "chest", "Chest film", ScanOutput.SC, ConversionType.DIGITIZED_FILM, True, 16, 150,
            "CHEST",
        ),
        ScanPreset(
            "bone", "Bone film", ScanOutput.SC, ConversionType.DIGITIZED_FILM, True, 16, 300,
            "EXTREMITY",
        ),
        ScanPreset(
            "mammo", "Mammography film", ScanOutput.SC, ConversionType.DIGITIZED_FILM, True, 16,
            600, "BREAST",
        ),
        ScanPreset(
            "document", "Document", ScanOutput.PDF, ConversionType.SCANNED_DOCUMENT, False, 8,
            200,
        ),
    )
}  # fmt: skip


def preset(key: str) -> ScanPreset:
    """The preset called ``key``.

    Raises
    ------
    ValueError
        Naming the presets there are.
    """
    try:
        return SCAN_PRESETS[key.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown scan preset {key!r}; use one of: {', '.join(SCAN_PRESETS)}"
        ) from None


# -- getting pages ------------------------------------------------------------------------------


def open_page_source(
    spec: str,
    chosen: ScanPreset,
    *,
    dpi: float | None = None,
    stop: threading.Event | None = None,
    idle_s: float = FOLDER_IDLE_S,
    sane_options: Mapping[str, str | int | float | bool] | None = None,
) -> PageSource:
    """A scanner or folder of images from its source text, set up for the preset.

    ``sane:DEVICE`` is asked for the preset's mode and depth at ``dpi`` (default: the
    preset's); ``twain:NAME`` for ``dpi``; ``folder:PATH`` takes the images already there and
    each new one until ``idle_s`` seconds pass without one.

    Raises
    ------
    ValueError
        For text that is not a scanner or folder source (the message lists the forms).
    """
    kind, target = parse_source_spec(spec)
    resolution = dpi or chosen.dpi
    if kind is SourceKind.SANE:
        from izer.capture.scanners import SaneScanner, ScanMode

        return SaneScanner(
            target or "",
            dpi=resolution,
            mode=ScanMode.GRAY if chosen.grayscale else ScanMode.COLOR,
            depth=chosen.bits if chosen.grayscale else 8,
            options=sane_options,
            stop=stop,
        )
    if kind is SourceKind.TWAIN:
        from izer.capture.scanners import TwainScanner

        return TwainScanner(target or None, dpi=resolution)
    if kind is SourceKind.FOLDER:
        from izer.capture.folder_source import FolderSource

        return FolderSource(
            Path(target), existing=True, idle_timeout_s=idle_s, stop=stop, settle_s=0.3
        )
    raise ValueError(
        f"{spec!r} is a video source; scanning takes sane:DEVICE, twain:NAME or folder:PATH"
    )


def acquire(
    source: str | PageSource,
    chosen: ScanPreset,
    *,
    dpi: float | None = None,
    stop: threading.Event | None = None,
    idle_s: float = FOLDER_IDLE_S,
    limit: int | None = None,
    on_page: Callable[[ScannedPage], None] | None = None,
    sane_options: Mapping[str, str | int | float | bool] | None = None,
) -> list[ScannedPage]:
    """Scan a batch into memory (nothing is stored): each page conformed to the preset.

    ``limit`` stops after so many pages (a rescan takes one). ``on_page`` is called with each
    page as it arrives, on the calling thread. Pages without a resolution get ``dpi`` (or the
    preset's).

    Raises
    ------
    SourceError
        When the scanner fails (the pages delivered before are passed to ``on_page``).
    ValueError
        For a source text that is not a scanner or folder.
    """
    stop = stop if stop is not None else threading.Event()
    if isinstance(source, str):
        source = open_page_source(
            source, chosen, dpi=dpi, stop=stop, idle_s=idle_s, sane_options=sane_options
        )
    pages: list[ScannedPage] = []
    for page in source.pages():
        page = conformed(page, chosen, dpi=dpi)
        pages.append(page)
        if on_page is not None:
            on_page(page)
        if limit is not None and len(pages) >= limit:
            stop.set()
            break
    return pages


def conformed(page: ScannedPage, chosen: ScanPreset, *, dpi: float | None = None) -> ScannedPage:
    """``page`` as the preset stores it: gray when the preset is grayscale, with a resolution.

    A colour page becomes 8-bit luma (ITU-R BT.601 weights); deeper grayscale is kept.
    """
    pixels = page.pixels
    if chosen.grayscale and pixels.ndim == 3:
        pixels = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    return dataclasses.replace(page, pixels=pixels, dpi=page.dpi or dpi or chosen.dpi)


def rotated(page: ScannedPage, quarter_turns: int = 1) -> ScannedPage:
    """``page`` turned clockwise by ``quarter_turns`` quarter turns (90° each)."""
    pixels = np.ascontiguousarray(np.rot90(page.pixels, k=-(quarter_turns % 4), axes=(0, 1)))
    return dataclasses.replace(page, pixels=pixels)


def preview(pixels: np.ndarray, max_side: int = 240, bits_stored: int = 8) -> np.ndarray:
    """A small 8-bit copy of ``pixels`` (gray or RGB) whose longer side is ``max_side``."""
    image = pixels
    if image.dtype != np.uint8:
        shift = max(0, min(bits_stored, 16) - 8)
        image = (np.minimum(image, (1 << max(bits_stored, 8)) - 1) >> shift).astype(np.uint8)
    rows, columns = image.shape[:2]
    scale = max_side / max(rows, columns)
    if scale < 1:
        size = (max(1, round(columns * scale)), max(1, round(rows * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


# -- storing pages ------------------------------------------------------------------------------


def ensure_capturing(engine: Engine) -> None:
    """Put the active procedure into a capturing state so that pages can be stored.

    A selected patient's procedure is started (``IN_PROGRESS``: the MPPS begins) and a
    completed one appended to (``APPENDING``).

    Raises
    ------
    TransitionError
        With no procedure, or one in review or discontinued.
    """
    state = engine.state
    if state in CAPTURING_STATES:
        return
    if state is ProcedureState.PATIENT_SELECTED:
        engine.start()
    elif state is ProcedureState.COMPLETED:
        engine.append()
    else:
        raise TransitionError(state, ProcedureState.IN_PROGRESS)


def check_exam_date(exam_date: date, today: date | None = None) -> None:
    """Refuse an exam date in the future or before 1900 (a slip of the finger).

    Raises
    ------
    ValueError
        Saying what is wrong with the date.
    """
    today = today or date.today()
    if exam_date > today:
        raise ValueError(
            f"the original exam date {exam_date.isoformat()} is in the future; enter the date "
            "the films were taken"
        )
    if exam_date < EARLIEST_EXAM:
        raise ValueError(
            f"the original exam date {exam_date.isoformat()} is before "
            f"{EARLIEST_EXAM.year}; check the year"
        )


def store_pages(
    engine: Engine,
    pages: Sequence[ScannedPage],
    chosen: ScanPreset,
    *,
    exam_date: date,
    dpi: float | None = None,
    body_part: str | None = None,
    laterality: str = "",
    output: ScanOutput | None = None,
    description: str = "",
) -> list[InstanceRecord]:
    """Store the checked pages, in order, as one new series of the procedure's study.

    Secondary Capture: one instance per page (Conversion Type from the preset, Nominal
    Scanned Pixel Spacing from each page's resolution, Body Part Examined). PDF: one
    Encapsulated PDF of every page (PS3.3 A.45.1). Every instance has Acquisition Date (and
    Acquisition DateTime) ``exam_date``. ``laterality`` (R, L or "" for unknown) is written
    for a paired body part, left out for an unpaired one, and empty without a body part. The
    procedure is started or appended to first when it is only selected or completed
    (:func:`ensure_capturing`).

    Every instance is made before the first is stored, and any stored are removed again when
    a later one fails: the study gets all pages or none.

    Raises
    ------
    ValueError
        For no pages, an exam date in the future, a body part that is not a defined term,
        or pixels the IOD cannot hold.
    TransitionError
        When no procedure can take captures.
    """
    if not pages:
        raise ValueError("there are no pages to store; scan at least one")
    check_exam_date(exam_date)
    part = chosen.body_part if body_part is None else body_part.strip().upper()
    if part not in BODY_PARTS:
        raise ValueError(
            f"body part {part!r} is not one izer offers; use one of: "
            + ", ".join(p for p in BODY_PARTS if p)
        )
    side = laterality.strip().upper()
    if side not in LATERALITIES:
        raise ValueError(f"laterality {laterality!r}: use R (right), L (left) or leave it empty")
    if side and part not in PAIRED_BODY_PARTS:
        raise ValueError(
            f"laterality {side} needs a paired body part (e.g. BREAST, HAND), not {part or 'none'}"
        )
    kind = output or chosen.output
    ensure_capturing(engine)
    with engine._lock:
        procedure = engine.procedure
        if procedure is None or procedure.state not in CAPTURING_STATES:
            raise TransitionError(engine.state, ProcedureState.IN_PROGRESS)
        series = SeriesContext(
            series_instance_uid=engine.uids.new(),
            series_number=engine._next_series_number(procedure),
            modality="DOC" if kind is ScanOutput.PDF else "OT",
            description=description or f"Scanned {chosen.title.lower()}s",
        )
        study = study_context(procedure)
    acquired = datetime.combine(exam_date, datetime.min.time())
    now = datetime.now()

    def context(number: int) -> InstanceContext:
        return InstanceContext(
            study=study,
            series=series,
            equipment=engine._equipment(),
            sop_instance_uid=engine.uids.new(),
            instance_number=number,
            character_set=engine.settings.station.character_set,
            content_time=now,
            acquisition_time=acquired,
        )

    exam = exam_date.strftime("%Y%m%d")
    if kind is ScanOutput.PDF:
        document = encapsulated_pdf(
            pages_to_pdf(pages, dpi=dpi or chosen.dpi),
            context(1),
            document_title=description or chosen.title,
            conversion_type=ConversionType.SCANNED_DOCUMENT,
        )
        datasets = [document]
    else:
        datasets = []
        for number, page in enumerate(pages, start=1):
            dataset = secondary_capture_image(
                page.pixels,
                context(number),
                conversion_type=chosen.conversion,
                bits_stored=page.bits_stored if page.pixels.dtype != np.uint8 else None,
                scanner_dpi=page.dpi or dpi or chosen.dpi,
            )
            if part:
                dataset.BodyPartExamined = part
            if part in PAIRED_BODY_PARTS:
                dataset.Laterality = side
            elif part:
                del dataset.Laterality  # 2C: absent for an unpaired body part (C.7.3.1)
            dataset.AcquisitionDate = exam  # General Image, type 3 (PS3.3 C.7.6.1)
            datasets.append(dataset)
    for dataset in datasets:
        dataset.AcquisitionDateTime = exam
    records: list[InstanceRecord] = []
    try:
        for dataset in datasets:
            records.append(engine.store.add_dataset(dataset))
    except BaseException:
        for record in records:
            engine.store.delete_instance(record.sop_instance_uid)
        raise
    engine._count_stored(captured=len(records))
    for record in records:
        engine.events.instance_stored.emit(record)
    return records


def pages_to_pdf(pages: Sequence[ScannedPage], *, dpi: float) -> bytes:
    """One PDF with a page per scanned page, each at its scan resolution (8-bit)."""
    images = []
    for page in pages:
        pixels = page.pixels
        if pixels.dtype != np.uint8:
            pixels = preview(pixels, max_side=max(pixels.shape[:2]), bits_stored=page.bits_stored)
        images.append(Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L"))
    buffer = io.BytesIO()
    resolution = float(pages[0].dpi or dpi)
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=resolution)
    return buffer.getvalue()


# -- trying a video source -----------------------------------------------------------------------


class SourceProbe:
    """A video source opened for a look (settings' "Test"), not for capture.

    Parameters
    ----------
    spec
        Its ``--source`` text (``synthetic``, ``opencv:0``, ``av:v4l2:/dev/video0``...).
    width, height, fps
        The mode asked for (the device's default when ``None``).

    Raises
    ------
    ValueError
        For malformed text or a scanner, folder or audio source.
    SourceError
        When the source cannot be opened (the message says why).
    """

    def __init__(
        self,
        spec: str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> None:
        request = SourceRequest(
            width=width, height=height, fps=Fraction(fps).limit_denominator(1001) if fps else None
        )
        self.spec = spec
        self._lock = threading.Lock()
        self._source: VideoSource | None = open_video_source(spec, request)
        mode = self._source.open()
        self.mode_text = f"{mode.width}x{mode.height} at {float(mode.fps):g} fps"

    def frame(self, timeout_s: float = 3.0) -> np.ndarray:
        """The next frame's pixels (8-bit gray or RGB as delivered).

        Raises
        ------
        SourceError
            When the source gives no frame within ``timeout_s`` or was closed.
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if self._source is None:
                    raise SourceError(f"{self.spec}: the test was stopped")
                got = self._source.read()
                if got is not None:
                    return got.pixels
                if time.monotonic() > deadline:
                    raise SourceError(f"{self.spec} gave no picture in {timeout_s:g} s")
                time.sleep(0.02)

    def close(self) -> None:
        """Release the device (safe to call twice)."""
        with self._lock:
            source, self._source = self._source, None
        if source is not None:
            source.close()
