"""The review step: what a procedure captured, tidied up before it ends.

:class:`ReviewController` works on the engine's procedure in ``REVIEW``. It lists the
procedure's stills, clips and documents (:meth:`~ReviewController.items`) and draws their
thumbnails, and it changes them only in ways that keep what was acquired:

* **delete** removes an instance that never left this station (one already sent, being sent,
  or listed by a completed MPPS is refused: it must be corrected where it went);
* **mark** chooses the stills of the report; the marks live in the procedure's context
  (:class:`~izer.engine.scheduling.ProcedureContext`), so a restart keeps them;
* **crop** and **burned-in annotation** make a *new* derived instance in the original's series
  (Image Type ``DERIVED\\SECONDARY``, Source Image Sequence to the original, Derivation
  Description; PS3.3 C.7.6.1.1.2, C.7.6.1.1.3): the original is never changed, because
  acquired data is evidence and may already be referenced (a report, a still of a clip, a
  presentation state);
* **annotation as a presentation state** adds a Grayscale or Color Softcopy Presentation State
  (PS3.3 A.33.1, A.33.2) in the study's annotation series: the image stays untouched and a
  viewer draws the text over it; further notes on the same image join its one state;
* **trim** makes a new video instance of part of a clip, cut at clean key frames by copying
  the coded frames (no re-encoding, no second generation of loss), in the clip's series;
* **finish** stores the report of the marked stills (Encapsulated PDF), completes the
  procedure (MPPS COMPLETED and ``[dispatch] auto_send`` through the dispatch controller),
  releases the station and queues print and burn jobs; **discontinue** ends it with a PS3.16
  CID 9300 reason instead.

Every method may touch the disk: the GUI calls them on a worker thread.
"""

from __future__ import annotations

import enum
import io
import logging
import math
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array
from pydicom.uid import ColorSoftcopyPresentationStateStorage
from pydicom.valuerep import format_number_as_ds

from izer.dispatch.mpps import DiscontinuationReason
from izer.dispatch.outbox import JobKind, JobState
from izer.encode import (
    ConversionType,
    InstanceContext,
    SeriesContext,
    TextAnnotation,
    TransferSyntax,
    presentation_state,
    secondary_capture_image,
)
from izer.encode.codes import Code
from izer.encode.extract import (
    VIDEO_TRANSFER_SYNTAXES,
    display_gray_8bit,
    document_bytes,
    outputs,
    read_instance,
    sniff_container,
)
from izer.encode.fragments import CHUNK_BYTES, FragmentReader, fragment_ranges
from izer.encode.modules import COMMON_TYPE1, COMMON_TYPE2
from izer.encode.presentation_state import LAYER
from izer.encode.selfcheck import check_instance
from izer.encode.video import VideoKind, VideoSyntax, probe, video_image, write_video_instance
from izer.encode.video.segments import PacketTable, scan_packets
from izer.encode.video.stream import StreamInfo
from izer.encode.video.transcode import CutRange, cut
from izer.encode.visible_light import VLKind, vl_image
from izer.engine.reporting import ReportRequest
from izer.engine.scheduling import ProcedureContext, study_context
from izer.model import InstanceRecord, Procedure, ProcedureState

if TYPE_CHECKING:
    from izer.engine.core import Engine

log = logging.getLogger(__name__)

__all__ = [
    "ANNOTATION_SERIES_DESCRIPTION",
    "REASONS",
    "AnnotationMode",
    "FinishSummary",
    "ItemKind",
    "Note",
    "ReviewController",
    "ReviewError",
    "ReviewItem",
]

#: ``(code value, meaning)`` of every MPPS discontinuation reason (PS3.16 CID 9300), for the
#: screen's list; :meth:`ReviewController.discontinue` takes the code value.
REASONS: tuple[tuple[str, str], ...] = tuple(
    (member.code.value, member.code.meaning) for member in DiscontinuationReason
)
#: Series Description of the series holding the review's presentation states.
ANNOTATION_SERIES_DESCRIPTION = "Annotations"
#: Content Label (0070,0080) of the review's presentation states.
ANNOTATION_LABEL = "ANNOTATION"
#: Image Type of every derived picture: made from an image after the examination (PS3.3
#: C.7.6.1.1.2).
DERIVED_IMAGE_TYPE = ("DERIVED", "SECONDARY")
#: Purpose of Reference of the Source Image Sequence item (PS3.16 CID 7202).
SOURCE_PURPOSE = Code("121322", "DCM", "Source image for image processing operation")
#: Smallest side of a crop, in pixels.
MIN_CROP_PX = 8
#: Presentation-state SOP classes start with this (PS3.4 B.5).
_PRESENTATION_PREFIX = "1.2.840.10008.5.1.4.1.1.11."
_DOCUMENT_PREFIX = "1.2.840.10008.5.1.4.1.1.104."
#: Presentation states, waveforms (sound), structured reports and key object selections.
_NOT_LISTED_PREFIXES = (
    _PRESENTATION_PREFIX,
    "1.2.840.10008.5.1.4.1.1.9.",
    "1.2.840.10008.5.1.4.1.1.88.",
)
_VL_KINDS = {kind.sop_class_uid: kind for kind in VLKind}
_VIDEO_KINDS = {kind.sop_class_uid: kind for kind in VideoKind}
#: Burned-in text: amber on black for colour pictures, like the GUI's highlight.
_BURN_RGB = (255, 200, 40)
_TIME_SLACK_S = 0.001


class ReviewError(ValueError):
    """A review action that cannot be done; the message says why and what to do instead."""


class ItemKind(enum.StrEnum):
    """What a reviewed instance is."""

    STILL = "still"
    CLIP = "clip"
    DOCUMENT = "document"


class AnnotationMode(enum.StrEnum):
    """How :meth:`ReviewController.annotate` keeps a note."""

    GSPS = "gsps"
    """A presentation state over the untouched image (PS3.3 A.33.1/A.33.2)."""
    BURNED_IN = "burned-in"
    """A derived copy with the text drawn into its pixels (Burned In Annotation YES)."""


@dataclass(frozen=True)
class Note:
    """A text of a presentation state on an image: ``(x, y)`` is its anchor, in pixels."""

    text: str
    x: float
    y: float


@dataclass(frozen=True)
class ReviewItem:
    """One still, clip or document of the procedure's study.

    Attributes
    ----------
    time
        Acquisition (else content) date and time; ``None`` when the header has neither.
    rows, columns
        Picture size in pixels (0 for a document).
    frames
        Frames of a clip or multi-frame picture (1 for a still).
    duration_s
        Length of a clip in seconds, ``None`` otherwise.
    derived
        Image Type says DERIVED (a crop, a trimmed clip, a burned-in copy).
    description
        Derivation Description, or a document's title.
    notes
        Texts of the presentation states that annotate this picture.
    sent_to
        Destinations this instance was delivered to (it can no longer be deleted here).
    """

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    series_number: int | None
    series_description: str
    kind: ItemKind
    instance_number: int | None
    time: datetime | None
    marked: bool
    path: Path
    rows: int = 0
    columns: int = 0
    frames: int = 1
    duration_s: float | None = None
    derived: bool = False
    description: str = ""
    notes: tuple[Note, ...] = ()
    sent_to: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """A short name for the grid: ``Still 3``, ``Clip 1``, ``Document``."""
        name = {ItemKind.STILL: "Still", ItemKind.CLIP: "Clip", ItemKind.DOCUMENT: "Document"}
        number = f" {self.instance_number}" if self.instance_number is not None else ""
        extra = " (derived)" if self.derived else ""
        return f"{name[self.kind]}{number}{extra}"


@dataclass(frozen=True)
class FinishSummary:
    """What :meth:`ReviewController.finish` did.

    Attributes
    ----------
    report
        The stored report instance, ``None`` when none was made.
    sent_to
        The ``[dispatch] auto_send`` destinations the study was queued for.
    print_job, burn_jobs
        Outbox job ids queued for the film printer and the disc burner.
    notes
        Anything left undone or worth telling (a printer that is not configured...).
    """

    procedure_id: int
    study_uid: str
    state: ProcedureState
    marked: tuple[str, ...] = ()
    report: InstanceRecord | None = None
    sent_to: tuple[str, ...] = ()
    print_job: int | None = None
    burn_jobs: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=())


def kind_of(record: InstanceRecord) -> ItemKind | None:
    """The review kind of a stored instance; ``None`` for what the review does not list
    (presentation states, structured reports and key objects, waveforms)."""
    if record.transfer_syntax_uid in VIDEO_TRANSFER_SYNTAXES:
        return ItemKind.CLIP
    if record.sop_class_uid.startswith(_DOCUMENT_PREFIX):
        return ItemKind.DOCUMENT
    if record.sop_class_uid.startswith(_NOT_LISTED_PREFIXES):
        return None
    return ItemKind.STILL


def record_picture(record: InstanceRecord, size: int) -> np.ndarray:
    """An RGB ``uint8`` picture of any stored instance fitting in ``size`` x ``size`` pixels.

    A still's first frame (windowed to 8 bits when deeper), a clip's first frame, a PDF's
    first page.

    Raises
    ------
    ReviewError
        When the instance has no picture or it cannot be decoded here.
    """
    kind = kind_of(record)
    if kind is ItemKind.CLIP:
        picture = _first_video_frame(record.path)
    elif kind is ItemKind.DOCUMENT:
        picture = _document_page(record.path, size)
    elif kind is ItemKind.STILL:
        header = _header(record.path)
        picture = _display_rgb(_first_frame(record.path, header), header)
    else:
        raise ReviewError(f"{record.sop_instance_uid} has no picture to show")
    return _fit(picture, size)


class ReviewController:
    """The review actions on the engine's procedure (see the module documentation).

    Parameters
    ----------
    engine
        Gives the procedure, store, settings, report, printing, media and dispatch.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.RLock()

    # -- reading ------------------------------------------------------------------------------

    @staticmethod
    def reasons() -> tuple[tuple[str, str], ...]:
        """``(code value, meaning)`` of the discontinuation reasons (:data:`REASONS`)."""
        return REASONS

    def items(self) -> list[ReviewItem]:
        """The stills, clips and documents of the procedure's study, in series order.

        Raises
        ------
        ReviewError
            When no procedure is selected.
        """
        procedure = self._procedure()
        marks = set(ProcedureContext.of(procedure).report_marks)
        records = self.engine.store.instances(procedure.study_uid)
        series = {s.series_instance_uid: s for s in self.engine.store.series(procedure.study_uid)}
        sent = self._sent(procedure.study_uid)
        notes = self._notes(records)
        items = []
        for record in records:
            kind = kind_of(record)
            if kind is None:
                continue
            header = _header(record.path)
            frames = int(header.get("NumberOfFrames") or 1)
            duration = None
            if kind is ItemKind.CLIP:
                frame_ms = float(header.get("FrameTime") or 0.0)
                duration = frames * frame_ms / 1000.0 if frame_ms > 0 else None
            image_type = [str(v).upper() for v in (header.get("ImageType") or [])]
            description = str(
                header.get("DerivationDescription", "") or header.get("DocumentTitle", "") or ""
            )
            about = series.get(record.series_instance_uid)
            items.append(
                ReviewItem(
                    sop_instance_uid=record.sop_instance_uid,
                    sop_class_uid=record.sop_class_uid,
                    series_instance_uid=record.series_instance_uid,
                    series_number=about.series_number if about else None,
                    series_description=about.description if about else "",
                    kind=kind,
                    instance_number=record.instance_number,
                    time=_when(header),
                    marked=record.sop_instance_uid in marks,
                    path=record.path,
                    rows=int(header.get("Rows") or 0),
                    columns=int(header.get("Columns") or 0),
                    frames=frames,
                    duration_s=duration,
                    derived=bool(image_type) and image_type[0] == "DERIVED",
                    description=description,
                    notes=tuple(notes.get(record.sop_instance_uid, ())),
                    sent_to=tuple(sorted(sent.get(record.sop_instance_uid, ()))),
                )
            )
        return items

    def marked(self) -> tuple[str, ...]:
        """SOP Instance UIDs of the stills marked for the report, in marking order."""
        return ProcedureContext.of(self._procedure()).report_marks

    def thumbnail(self, sop_uid: str, size: int = 256) -> np.ndarray:
        """An RGB ``uint8`` picture of ``sop_uid`` fitting in ``size`` x ``size`` pixels.

        A still's first frame (windowed to 8 bits when deeper), a clip's first frame (decoded
        with PyAV straight from the fragments), a PDF's first page (with Poppler's
        ``pdftoppm`` when present, else a drawn page).

        Raises
        ------
        ReviewError
            For an instance that is not in the procedure's study or has no picture.
        """
        if size < 16:
            raise ReviewError(f"a thumbnail is at least 16 pixels wide, not {size}")
        return record_picture(self._record(self._procedure(), sop_uid), size)

    # -- deleting and marking -----------------------------------------------------------------

    def delete(self, sop_uid: str) -> None:
        """Delete a still, clip or document that never left this station.

        Its unsent jobs (queued, waiting or failed sends) are cancelled; its mark is removed;
        the presentation states that annotate it go with it.

        Raises
        ------
        ReviewError
            When no procedure is under review, the instance is not in its study, or it was
            sent, is being sent, or is listed by a completed MPPS (the message says where).
        """
        with self._lock:
            procedure = self._under_review()
            record = self._record(procedure, sop_uid)
            context = ProcedureContext.of(procedure)
            dependants = [
                r
                for r in self.engine.store.instances(procedure.study_uid)
                if r.sop_class_uid.startswith(_PRESENTATION_PREFIX)
                and sop_uid in _referenced_images(_header(r.path))
            ]
            for target in (record, *dependants):
                refusal = self._refusal(target, context)
                if refusal:
                    what = "it" if target is record else f"its annotation {target.sop_instance_uid}"
                    raise ReviewError(f"{sop_uid} cannot be deleted: {what} {refusal}")
            for target in (*dependants, record):
                self._remove(target)
            if sop_uid in context.report_marks:
                self._save_marks(procedure, [u for u in context.report_marks if u != sop_uid])
            log.info("deleted %s at review", sop_uid)

    def mark(self, sop_uid: str, marked: bool = True) -> tuple[str, ...]:
        """Mark (or unmark) a still for the report; returns the marks, in marking order.

        Raises
        ------
        ReviewError
            When no procedure is under review, or ``sop_uid`` is not a still of it (a report
            shows stills only).
        """
        with self._lock:
            procedure = self._under_review()
            record = self._record(procedure, sop_uid)
            if kind_of(record) is not ItemKind.STILL:
                raise ReviewError(
                    f"{sop_uid} is not a still; the report and the films show stills only "
                    "(take a still of the clip during capture instead)"
                )
            marks = list(ProcedureContext.of(procedure).report_marks)
            if marked and sop_uid not in marks:
                marks.append(sop_uid)
            elif not marked and sop_uid in marks:
                marks.remove(sop_uid)
            return self._save_marks(procedure, marks)

    # -- derived pictures ---------------------------------------------------------------------

    def crop(self, sop_uid: str, x: int, y: int, width: int, height: int) -> InstanceRecord:
        """A new derived picture of the ``width`` x ``height`` pixels at ``(x, y)`` (top left).

        It goes in the original's series with the original's IOD (VL Endoscopic,
        Photographic or Microscopic; Secondary Capture otherwise), Image Type DERIVED, a
        Source Image Sequence to the original and Derivation Description "Cropped ...". The
        original is kept: acquired data is never destroyed (and may be referenced already).

        Raises
        ------
        ReviewError
            When no procedure is under review, the instance is not a single-frame still, or
            the rectangle is not inside the picture (or is the whole of it).
        """
        with self._lock:
            procedure = self._under_review()
            record = self._still(procedure, sop_uid, "cropped")
            original = dcmread(record.path)
            frame = _first_frame(record.path, original)
            rows, columns = frame.shape[:2]
            x, y, width, height = (round(float(v)) for v in (x, y, width, height))
            if width < MIN_CROP_PX or height < MIN_CROP_PX:
                raise ReviewError(
                    f"the crop is {width}x{height} pixels; make it at least {MIN_CROP_PX} "
                    "pixels on each side"
                )
            if x < 0 or y < 0 or x + width > columns or y + height > rows:
                raise ReviewError(
                    f"the crop ({x}, {y}) {width}x{height} is not inside the {columns}x{rows} "
                    "picture; draw it over the picture"
                )
            if (width, height) == (columns, rows):
                raise ReviewError("the crop is the whole picture; draw a smaller rectangle")
            pixels = np.ascontiguousarray(frame[y : y + height, x : x + width])
            description = (
                f"Cropped: columns {x + 1}-{x + width}, rows {y + 1}-{y + height} of the "
                f"{columns}x{rows} source image"
            )
            burned = str(original.get("BurnedInAnnotation", "")).upper() == "YES"
            return self._store_derived(procedure, original, pixels, description, burned)

    def annotate(
        self,
        sop_uid: str,
        text: str,
        x: float,
        y: float,
        mode: AnnotationMode = AnnotationMode.GSPS,
    ) -> InstanceRecord:
        """Add the note ``text`` pointing at ``(x, y)`` (picture pixels) to a still.

        ``GSPS``: a Grayscale (MONOCHROME pictures) or Color (RGB, with an sRGB ICC profile)
        Softcopy Presentation State in the study's annotation series, referencing the image
        and holding every note made on it at review (an earlier unsent state of the same
        image is replaced). ``BURNED_IN``: a derived copy with the note drawn into the pixels
        (Burned In Annotation YES), in the original's series; the original is kept.

        Raises
        ------
        ReviewError
            When no procedure is under review, the instance is not a single-frame still, the
            text is empty or too long, or the point is outside the picture.
        """
        mode = AnnotationMode(mode)
        text = " ".join(text.split())
        if not text:
            raise ReviewError("type the text of the note first")
        if len(text) > 1024:
            raise ReviewError(f"a note has at most 1024 characters, this one {len(text)}")
        with self._lock:
            procedure = self._under_review()
            record = self._still(procedure, sop_uid, "annotated")
            header = _header(record.path)
            rows, columns = int(header.Rows), int(header.Columns)
            if not (0 <= x <= columns and 0 <= y <= rows):
                raise ReviewError(
                    f"the point ({x:g}, {y:g}) is outside the {columns}x{rows} picture; "
                    "click on the picture"
                )
            if mode is AnnotationMode.BURNED_IN:
                original = dcmread(record.path)
                frame = _first_frame(record.path, original)
                pixels = _burn_note(frame, original, text, float(x), float(y))
                description = f"Annotation burned in: {text}"[:1024]
                return self._store_derived(procedure, original, pixels, description, True)
            return self._store_presentation(procedure, record, header, text, float(x), float(y))

    def trim(self, sop_uid: str, start_s: float, end_s: float) -> InstanceRecord:
        """A new video instance of ``[start_s, end_s)`` of a clip, cut at key frames.

        The kept part starts at the last clean key frame at or before ``start_s`` and ends
        at the first one at or after ``end_s`` (or the end): the coded frames are copied,
        never re-encoded, so it is at least what was asked. It goes in the clip's series
        (Image Type DERIVED, Source Image Sequence to the clip); the clip is kept.

        Raises
        ------
        ReviewError
            When no procedure is under review, the instance is not a clip, the times are
            wrong, or the key frames leave nothing to cut away.
        """
        if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s < 0:
            raise ReviewError(f"trim from {start_s:g} s to {end_s:g} s: start at 0 s or later")
        if end_s <= start_s:
            raise ReviewError(
                f"trim from {start_s:g} s to {end_s:g} s: the end must come after the start"
            )
        with self._lock:
            procedure = self._under_review()
            record = self._record(procedure, sop_uid)
            if kind_of(record) is not ItemKind.CLIP:
                raise ReviewError(f"{sop_uid} is not a clip; only clips can be trimmed")
            return self._trim(procedure, record, start_s, end_s)

    # -- ending -------------------------------------------------------------------------------

    def finish(
        self,
        report: bool = True,
        *,
        print_to: str | None = None,
        burn_device: str | None = None,
        findings: str = "",
        release: bool = True,
    ) -> FinishSummary:
        """End the procedure: report, ``COMPLETED``, then print and burn.

        1. ``report`` and stills marked: the report PDF of the marked stills is stored in
           the study (a DOC series), so the MPPS lists it and it is sent with the study;
        2. :meth:`Engine.complete`: MPPS COMPLETED and ``[dispatch] auto_send``;
        3. ``release``: the station is free for the next patient (the procedure stays
           COMPLETED in the store);
        4. ``print_to``: the marked stills are queued for that film printer;
        5. ``burn_device``: the study becomes a disc folder in the store (``media/``) and a
           burn job is queued per disc.

        A print or burn that cannot be queued does not undo the completion: it is told in
        :attr:`FinishSummary.notes`.

        Raises
        ------
        ReviewError
            When no procedure is under review.
        ValueError
            When the MPPS would list nothing (discontinue instead), or the report cannot be
            made; nothing is changed then.
        """
        engine = self.engine
        notes: list[str] = []
        with self._lock:
            procedure = self._under_review()
            engine.dispatch.check_mpps_completable()
            stills = {
                r.sop_instance_uid
                for r in engine.store.instances(procedure.study_uid)
                if kind_of(r) is ItemKind.STILL
            }
            marked = tuple(u for u in ProcedureContext.of(procedure).report_marks if u in stills)
            stored = None
            if report and marked:
                built = engine.report.build(
                    ReportRequest(procedure.study_uid, stills=marked, findings=findings)
                )
                stored = engine.report.store(built.pdf, procedure.study_uid)
                engine.events.instance_stored.emit(stored)
            elif report:
                notes.append("no still was marked, so no report was made")
            completed = engine.complete()
            if release:
                engine.release()
        print_job = None
        if print_to:
            if marked:
                try:
                    print_job = engine.printing.queue(list(marked), print_to).job.job_id
                except ValueError as exc:
                    notes.append(f"not printed: {exc}")
            else:
                notes.append("nothing printed: no still was marked")
        burn_jobs: tuple[int, ...] = ()
        if burn_device:
            try:
                burn_jobs = self._queue_burn(procedure, burn_device)
            except (ValueError, OSError) as exc:
                notes.append(f"no disc burned: {exc}")
        return FinishSummary(
            procedure_id=procedure.procedure_id,
            study_uid=procedure.study_uid,
            state=completed.state,
            marked=marked,
            report=stored,
            sent_to=tuple(engine.settings.dispatch.auto_send),
            print_job=print_job,
            burn_jobs=burn_jobs,
            notes=tuple(notes),
        )

    def discontinue(self, reason: str | None = None, *, release: bool = True) -> Procedure:
        """End the procedure as ``DISCONTINUED`` with a CID 9300 reason code (:data:`REASONS`;
        ``None``: unspecified), then free the station when ``release``.

        Raises
        ------
        ValueError
            For a code that is not in CID 9300, or a procedure that cannot be discontinued
            now (nothing is changed then).
        """
        with self._lock:
            ended = self.engine.discontinue(reason)
            if release:
                self.engine.release()
            return ended

    # -- internals: procedure and records -----------------------------------------------------

    def _procedure(self) -> Procedure:
        procedure = self.engine.procedure
        if procedure is None:
            raise ReviewError("no procedure is selected; pick a patient on the worklist first")
        return procedure

    def _under_review(self) -> Procedure:
        procedure = self._procedure()
        if procedure.state is not ProcedureState.REVIEW:
            raise ReviewError(
                f"the procedure is {procedure.state.value}, not under review; end the capture "
                "first (End study)"
            )
        return procedure

    def _record(self, procedure: Procedure, sop_uid: str) -> InstanceRecord:
        for record in self.engine.store.instances(procedure.study_uid):
            if record.sop_instance_uid == sop_uid:
                return record
        raise ReviewError(f"{sop_uid} is not an instance of this procedure's study")

    def _still(self, procedure: Procedure, sop_uid: str, what: str) -> InstanceRecord:
        record = self._record(procedure, sop_uid)
        if kind_of(record) is not ItemKind.STILL:
            raise ReviewError(f"{sop_uid} is not a still; only stills can be {what}")
        if int(_header(record.path).get("NumberOfFrames") or 1) > 1:
            raise ReviewError(f"{sop_uid} has several frames; only single pictures can be {what}")
        return record

    def _save_marks(self, procedure: Procedure, marks: Sequence[str]) -> tuple[str, ...]:
        engine = self.engine
        with engine._lock:  # read-modify-write against the MPPS updates of the context
            current = engine.store.procedure(procedure.procedure_id) or procedure
            context = replace(ProcedureContext.of(current), report_marks=tuple(marks))
            engine._save_context(procedure.procedure_id, context.to_json(), current.mpps_uid)
        return tuple(marks)

    def _sent(self, study_uid: str) -> dict[str, set[str]]:
        """SOP Instance UID -> destinations it was delivered to (stores that finished)."""
        sent: dict[str, set[str]] = {}
        dispatch = self.engine.dispatch
        for delivery in dispatch.ledger.deliveries(study_uid=study_uid):
            sent.setdefault(delivery.sop_uid, set()).add(delivery.destination)
        for job in dispatch.outbox.jobs(
            study_uid=study_uid, kind=JobKind.STORE, states=(JobState.DONE,)
        ):
            if job.sop_uid:
                sent.setdefault(job.sop_uid, set()).add(job.destination)
        return sent

    def _refusal(self, record: InstanceRecord, context: ProcedureContext) -> str:
        """Why ``record`` may not be deleted here; empty when it may."""
        uid = record.sop_instance_uid
        dispatch = self.engine.dispatch
        delivered = {
            d.destination
            for d in dispatch.ledger.deliveries(study_uid=record.study_instance_uid)
            if d.sop_uid == uid
        }
        jobs = dispatch.outbox.jobs(sop_uid=uid, kind=JobKind.STORE)
        delivered |= {j.destination for j in jobs if j.state is JobState.DONE}
        if delivered:
            return (
                f"was already sent to {', '.join(sorted(delivered))}; delete it there (or ask "
                "the archive to), so that both hold the same study"
            )
        running = sorted({j.destination for j in jobs if j.state is JobState.RUNNING})
        if running:
            return (
                f"is being sent to {', '.join(running)} right now; cancel the send on the "
                "Dispatch screen first, or wait and delete it at the archive"
            )
        if uid in context.reported:
            return (
                "is listed in the completed MPPS of this procedure; the RIS already counts it, "
                "keep it"
            )
        return ""

    def _remove(self, record: InstanceRecord) -> None:
        """Cancel the unsent jobs of ``record`` and delete it from the store."""
        outbox = self.engine.dispatch.outbox
        pending = [
            job.job_id
            for job in outbox.jobs(sop_uid=record.sop_instance_uid, kind=JobKind.STORE)
            if job.state in (JobState.QUEUED, JobState.WAITING, JobState.FAILED)
        ]
        if pending:
            outbox.cancel(pending)
        self.engine.store.delete_instance(record.sop_instance_uid)

    def _notes(self, records: Iterable[InstanceRecord]) -> dict[str, list[Note]]:
        """Image SOP Instance UID -> the notes of the presentation states over it."""
        notes: dict[str, list[Note]] = {}
        for record in records:
            if not record.sop_class_uid.startswith(_PRESENTATION_PREFIX):
                continue
            header = _header(record.path)
            texts = [Note(t.text, *(t.anchor or (0.0, 0.0))) for t in _texts_of(header)]
            for image in _referenced_images(header):
                notes.setdefault(image, []).extend(texts)
        return notes

    def _next_instance_number(self, study_uid: str, series_uid: str) -> int:
        numbers = [
            r.instance_number or 0
            for r in self.engine.store.instances(study_uid)
            if r.series_instance_uid == series_uid
        ]
        return max(numbers, default=0) + 1

    def _context(
        self,
        procedure: Procedure,
        series: SeriesContext,
        *,
        acquired: datetime | None = None,
    ) -> InstanceContext:
        engine = self.engine
        return InstanceContext(
            study=study_context(procedure),
            series=series,
            equipment=engine._equipment(),
            sop_instance_uid=engine.uids.new(),
            instance_number=self._next_instance_number(
                procedure.study_uid, series.series_instance_uid
            ),
            character_set=engine.settings.station.character_set,
            content_time=datetime.now(),
            acquisition_time=acquired,
        )

    def _stored(self, record: InstanceRecord) -> InstanceRecord:
        self.engine.events.instance_stored.emit(record)
        return record

    # -- internals: derived pictures ----------------------------------------------------------

    def _store_derived(
        self,
        procedure: Procedure,
        original: Dataset,
        pixels: np.ndarray,
        description: str,
        burned_in: bool,
    ) -> InstanceRecord:
        """A derived picture of ``pixels`` in the original's series and IOD (see :meth:`crop`)."""
        capture = self.engine.settings.capture
        series = _series_of(original)
        context = self._context(procedure, series, acquired=_when(original))
        kind = _VL_KINDS.get(str(original.SOPClassUID))
        if kind is not None and pixels.dtype == np.uint8:
            ds = vl_image(
                pixels,
                context,
                kind=kind,
                transfer_syntax=TransferSyntax.from_text(capture.still_transfer_syntax),
                quality=capture.still_quality,
                image_type=DERIVED_IMAGE_TYPE,
                burned_in_annotation=burned_in,
            )
            for keyword in ("AnatomicRegionSequence", "ImageLaterality"):
                if keyword in original:
                    ds[keyword] = original[keyword]
            _same_laterality(ds, original)
        else:
            conversion, dpi = _sc_conversion(original)
            bits = int(original.get("BitsStored") or 8)
            ds = secondary_capture_image(
                pixels,
                context,
                conversion_type=conversion,
                bits_stored=bits if pixels.dtype != np.uint8 else None,
                scanner_dpi=dpi,
                burned_in_annotation=burned_in,
            )
            ds.ImageType = list(DERIVED_IMAGE_TYPE)
            if pixels.ndim == 2:
                for keyword in ("WindowCenter", "WindowWidth", "VOILUTFunction"):
                    if keyword in original:
                        ds[keyword] = original[keyword]
        _derivation(ds, original, description, lossy_history=True)
        return self._stored(self.engine.store.add_dataset(ds))

    def _store_presentation(
        self,
        procedure: Procedure,
        record: InstanceRecord,
        header: Dataset,
        text: str,
        x: float,
        y: float,
    ) -> InstanceRecord:
        """The presentation state of ``record`` with its earlier notes and the new one."""
        store = self.engine.store
        earlier = [
            r
            for r in store.instances(procedure.study_uid)
            if r.sop_class_uid.startswith(_PRESENTATION_PREFIX)
            and (h := _header(r.path)).get("ContentLabel") == ANNOTATION_LABEL
            and record.sop_instance_uid in _referenced_images(h)
        ]
        texts = [t for r in earlier for t in _texts_of(_header(r.path))]
        texts.append(_placed_text(text, x, y, int(header.Rows), int(header.Columns)))
        series = self._annotation_series(procedure)
        context = self._context(procedure, series)
        label = {"label": ANNOTATION_LABEL, "description": "Notes made at review"}
        if int(header.get("SamplesPerPixel") or 1) > 1:
            ds = _color_presentation_state(header, context, texts, **label)
        else:
            ds = presentation_state(header, context, texts=texts, **label)
        made = self._stored(store.add_dataset(ds))
        context_now = ProcedureContext.of(
            self.engine.store.procedure(procedure.procedure_id) or procedure
        )
        for old in earlier:  # the new state holds their notes; unsent ones go
            if not self._refusal(old, context_now):
                self._remove(old)
        return made

    def _annotation_series(self, procedure: Procedure) -> SeriesContext:
        for series in self.engine.store.series(procedure.study_uid):
            if series.modality == "PR" and series.description == ANNOTATION_SERIES_DESCRIPTION:
                return SeriesContext(
                    series_instance_uid=series.series_instance_uid,
                    series_number=series.series_number or 0,
                    modality="PR",
                    description=ANNOTATION_SERIES_DESCRIPTION,
                )
        return SeriesContext(
            series_instance_uid=self.engine.uids.new(),
            series_number=self.engine._next_series_number(procedure),
            modality="PR",
            description=ANNOTATION_SERIES_DESCRIPTION,
        )

    # -- internals: clips and media -----------------------------------------------------------

    def _trim(
        self, procedure: Procedure, record: InstanceRecord, start_s: float, end_s: float
    ) -> InstanceRecord:
        store = self.engine.store
        header = _header(record.path)
        syntax = _video_syntax(record.transfer_syntax_uid)
        kind = _VIDEO_KINDS.get(record.sop_class_uid, VideoKind.ENDOSCOPIC)
        suffix = ".mpg" if syntax.codec == "mpeg2video" else ".mp4"
        made: list[Path] = []
        try:
            source = store.scratch_path("trim-source.mp4")
            made.append(source)
            output = next(outputs(read_instance(record.path), scratch=store.studies_folder))
            with open(source, "wb") as handle:
                output.write(handle)
            info = probe(source)
            part = _kept_part(scan_packets(source), info, start_s, end_s)
            trimmed = store.scratch_path(f"trimmed{suffix}")
            made.append(trimmed)
            result = cut(info, trimmed, syntax, part)
            end = part.start_s + part.frames / float(info.frame_rate)
            acquired = _when(header)
            context = self._context(procedure, _series_of(header), acquired=acquired)
            region = header.get("AnatomicRegionSequence")
            ds = video_image(
                trimmed,
                result.info,
                context,
                kind=kind,
                syntax=syntax,
                anatomic_region=_code(region[0]) if region else None,
                image_type=DERIVED_IMAGE_TYPE,
                burned_in_annotation=str(header.get("BurnedInAnnotation", "")).upper() == "YES",
            )
            _same_laterality(ds, header)
            description = (
                f"Trimmed: {part.start_s:.2f} s to {end:.2f} s of the source clip, cut at key "
                "frames (coded frames copied, not re-encoded)"
            )
            _derivation(ds, header, description, lossy_history=False)
            instance = store.scratch_path("trimmed.dcm")
            made.append(instance)
            write_video_instance(ds, instance)
            return self._stored(store.adopt_file(instance))
        finally:
            for path in made:
                path.unlink(missing_ok=True)

    def _queue_burn(self, procedure: Procedure, device: str) -> tuple[int, ...]:
        media = self.engine.media
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = self.engine.store.folder / "media" / f"procedure-{procedure.procedure_id}-{stamp}"
        folder.parent.mkdir(parents=True, exist_ok=True)
        built = media.build([procedure.study_uid], out=folder)
        jobs: list[int] = []
        for volume in built.volumes:
            if volume.folder is not None:
                jobs.extend(job.job_id for job in media.queue_burn(volume.folder, device))
        return tuple(jobs)


# ----------------------------------------------------------------------------- helpers


def _header(path: Path) -> Dataset:
    return dcmread(path, stop_before_pixels=True)


def _when(header: Dataset) -> datetime | None:
    """Acquisition DateTime, else Content Date and Time, as a naive local datetime."""
    stamp = str(header.get("AcquisitionDateTime", "") or "")
    if not stamp:
        date = str(header.get("ContentDate", "") or "")
        stamp = date + str(header.get("ContentTime", "") or "") if date else ""
    digits = stamp.split("+")[0].split("-")[0]
    whole, _, fraction = digits.partition(".")
    for pattern in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
        try:
            moment = datetime.strptime(whole, pattern)
        except ValueError:
            continue
        if fraction.isdigit():
            moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
        return moment
    return None


def _series_of(header: Dataset) -> SeriesContext:
    return SeriesContext(
        series_instance_uid=str(header.SeriesInstanceUID),
        series_number=int(header.get("SeriesNumber") or 1),
        modality=str(header.get("Modality", "") or "OT"),
        description=str(header.get("SeriesDescription", "") or ""),
    )


def _same_laterality(ds: Dataset, original: Dataset) -> None:
    """Laterality as the original has it: a series-level attribute (PS3.3 C.7.3.1), and the
    derived instance is in the original's series."""
    if "Laterality" in original:
        ds.Laterality = original.Laterality
    elif "Laterality" in ds:
        del ds.Laterality


def _code(item: Dataset) -> Code:
    return Code(
        str(item.get("CodeValue", "")),
        str(item.get("CodingSchemeDesignator", "")),
        str(item.get("CodeMeaning", "")),
    )


def _sc_conversion(original: Dataset) -> tuple[ConversionType, float | None]:
    """Conversion Type of a derived Secondary Capture, and the scanner resolution it keeps:
    a scan stays a scan (DF, SD, SI with its dpi); anything else was made here (WSD)."""
    try:
        conversion = ConversionType(str(original.get("ConversionType", "")))
    except ValueError:
        return ConversionType.WORKSTATION, None
    spacing = original.get("NominalScannedPixelSpacing")
    if conversion in (
        ConversionType.DIGITIZED_FILM,
        ConversionType.SCANNED_DOCUMENT,
        ConversionType.SCANNED_IMAGE,
    ):
        dpi = 25.4 / float(spacing[0]) if spacing and float(spacing[0]) > 0 else None
        return conversion, dpi
    return ConversionType.WORKSTATION, None


def _derivation(ds: Dataset, original: Dataset, description: str, *, lossy_history: bool) -> None:
    """Derivation Description and Source Image Sequence (PS3.3 C.7.6.1); a lossy original
    keeps the derived picture marked lossy with the whole history (C.7.6.1.1.5)."""
    ds.DerivationDescription = description[:1024]
    item = Dataset()
    item.ReferencedSOPClassUID = original.SOPClassUID
    item.ReferencedSOPInstanceUID = original.SOPInstanceUID
    item.PurposeOfReferenceCodeSequence = [SOURCE_PURPOSE.to_dataset()]
    ds.SourceImageSequence = [item]
    if not lossy_history or str(original.get("LossyImageCompression", "")) != "01":
        return
    ratios = [*_values(original, "LossyImageCompressionRatio")]
    methods = [*_values(original, "LossyImageCompressionMethod")]
    if str(ds.get("LossyImageCompression", "")) == "01":
        ratios += _values(ds, "LossyImageCompressionRatio")
        methods += _values(ds, "LossyImageCompressionMethod")
    ds.LossyImageCompression = "01"
    if ratios and len(ratios) == len(methods):
        ds.LossyImageCompressionRatio = [format_number_as_ds(float(r)) for r in ratios]
        ds.LossyImageCompressionMethod = [str(m) for m in methods]


def _values(ds: Dataset, keyword: str) -> list[object]:
    if keyword not in ds or ds[keyword].value in (None, ""):
        return []
    element = ds[keyword]
    return list(element.value) if element.VM > 1 else [element.value]


def _referenced_images(header: Dataset) -> set[str]:
    """SOP Instance UIDs a presentation state applies to."""
    return {
        str(image.ReferencedSOPInstanceUID)
        for series in header.get("ReferencedSeriesSequence", []) or []
        for image in series.get("ReferencedImageSequence", []) or []
    }


def _texts_of(header: Dataset) -> list[TextAnnotation]:
    """The text annotations of a presentation state, as :func:`presentation_state` takes them."""
    texts = []
    for annotation in header.get("GraphicAnnotationSequence", []) or []:
        for item in annotation.get("TextObjectSequence", []) or []:
            anchor = item.get("AnchorPoint")
            top_left = item.get("BoundingBoxTopLeftHandCorner")
            bottom_right = item.get("BoundingBoxBottomRightHandCorner")
            texts.append(
                TextAnnotation(
                    text=str(item.get("UnformattedTextValue", "")),
                    anchor=(float(anchor[0]), float(anchor[1])) if anchor else None,
                    box=(
                        (
                            (float(top_left[0]), float(top_left[1])),
                            (float(bottom_right[0]), float(bottom_right[1])),
                        )
                        if top_left and bottom_right
                        else None
                    ),
                    anchor_visible=str(item.get("AnchorPointVisibility", "Y")) == "Y",
                )
            )
    return texts


def _text_box(
    text: str, x: float, y: float, rows: int, columns: int
) -> tuple[float, float, float, float]:
    """Where a note's text goes: ``(left, top, right, bottom)`` beside the point, inside the
    picture, on the side with more room."""
    height = max(12.0, rows / 18.0)
    width = min(columns * 0.6, max(height * 2.0, 0.55 * height * len(text)))
    gap = height * 0.8
    left = x + gap if x + gap + width <= columns or x < columns / 2 else x - gap - width
    left = min(max(0.0, left), columns - width)
    top = min(max(0.0, y - height / 2), rows - height)
    return left, top, left + width, top + height


def _placed_text(text: str, x: float, y: float, rows: int, columns: int) -> TextAnnotation:
    left, top, right, bottom = _text_box(text, x, y, rows, columns)
    return TextAnnotation(text=text, anchor=(x, y), box=((left, top), (right, bottom)))


@cache
def _srgb_profile() -> bytes:
    """An sRGB ICC profile (Pillow's littleCMS), for the ICC Profile module (PS3.3 C.11.15)."""
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def _color_presentation_state(
    referenced: Dataset,
    context: InstanceContext,
    texts: Sequence[TextAnnotation],
    *,
    label: str,
    description: str,
) -> Dataset:
    """Color Softcopy Presentation State Storage (PS3.3 A.33.2) over an RGB picture.

    The modules it shares with the grayscale IOD (presentation state identification and
    relationship, displayed area, graphic annotation and layer) come from
    :func:`izer.encode.presentation_state`, made for a grayscale stand-in with the picture's
    identity and size; the grayscale pipeline (VOI, Presentation LUT) is then left out, as
    the colour IOD has none, and the ICC Profile module (sRGB, as the pictures are encoded)
    added.
    """
    stand_in = Dataset()
    for keyword in (
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "PatientID",
        "Rows",
        "Columns",
        "Laterality",
        "PixelSpacing",
        "PixelAspectRatio",
    ):
        if keyword in referenced:
            stand_in[keyword] = referenced[keyword]
    stand_in.PhotometricInterpretation = "MONOCHROME2"
    ds = presentation_state(stand_in, context, label=label, description=description, texts=texts)
    ds.SOPClassUID = ColorSoftcopyPresentationStateStorage
    ds.file_meta.MediaStorageSOPClassUID = ColorSoftcopyPresentationStateStorage
    for keyword in (
        "PresentationLUTShape",
        "SoftcopyVOILUTSequence",
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
    ):
        if keyword in ds:
            del ds[keyword]
    for layer in ds.get("GraphicLayerSequence", []) or []:
        if layer.get("GraphicLayer") == LAYER:
            layer.GraphicLayerRecommendedDisplayCIELabValue = [0xFFFF, 0x8080, 0x8080]
    ds.ICCProfile = _srgb_profile()
    ds.ColorSpace = "SRGB"
    check_instance(
        ds,
        iod="Color Softcopy Presentation State",
        type1=(
            *COMMON_TYPE1,
            "InstanceNumber",
            "ContentLabel",
            "PresentationCreationDate",
            "PresentationCreationTime",
            "ReferencedSeriesSequence",
            "DisplayedAreaSelectionSequence",
            "ICCProfile",
        ),
        type2=(*COMMON_TYPE2, "ContentDescription", "ContentCreatorName"),
    )
    return ds


# -- pixels ------------------------------------------------------------------------------------


def _first_frame(path: Path, header: Dataset) -> np.ndarray:
    """The first frame as pydicom decodes it: RGB for colour, stored values for grayscale."""
    try:
        index = 0 if int(header.get("NumberOfFrames") or 1) > 1 else None
        return np.asarray(pixel_array(path, index=index))
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        raise ReviewError(f"the picture {path.name} cannot be decoded here: {exc}") from None


def _display_rgb(frame: np.ndarray, header: Dataset) -> np.ndarray:
    """A decoded frame as 8-bit RGB for the screen (windowed like an export)."""
    if frame.ndim == 3:
        if frame.dtype != np.uint8:
            bits = int(header.get("BitsStored") or 16)
            frame = np.clip(frame.astype(np.int64) >> max(0, bits - 8), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(frame[..., :3])
    gray = display_gray_8bit(frame, header)
    return np.ascontiguousarray(np.repeat(gray[..., np.newaxis], 3, axis=2))


def _fit(picture: np.ndarray, size: int) -> np.ndarray:
    """``picture`` shrunk (never enlarged) to fit ``size`` x ``size``, aspect kept."""
    rows, columns = picture.shape[:2]
    scale = min(1.0, size / max(rows, columns, 1))
    if scale < 1.0:
        shape = (max(1, round(columns * scale)), max(1, round(rows * scale)))
        picture = cv2.resize(picture, shape, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(picture, dtype=np.uint8)


def _first_video_frame(path: Path) -> np.ndarray:
    """The first frame of a video instance, decoded from its fragments (no copy made)."""
    source = read_instance(path)
    if source.pixel_data_offset is None:
        raise ReviewError(f"{path.name} holds no video")
    codec = VIDEO_TRANSFER_SYNTAXES[source.transfer_syntax]
    ranges = fragment_ranges(path, source.pixel_data_offset)
    try:
        with FragmentReader(path, ranges) as raw:
            container = sniff_container(raw.pread(0, 512), codec)
            stream = io.BufferedReader(raw, CHUNK_BYTES)
            with av.open(stream, format=container.demuxer, metadata_errors="ignore") as reader:
                for frame in reader.decode(video=0):
                    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as exc:
        raise ReviewError(f"the clip {path.name} cannot be decoded: {exc}") from None
    raise ReviewError(f"the clip {path.name} has no frame to show")


def _document_page(path: Path, size: int) -> np.ndarray:
    """The first page of a PDF (Poppler's ``pdftoppm`` when installed), else a drawn page."""
    header = dcmread(path)
    try:
        data, extension = document_bytes(header)
    except (KeyError, AttributeError):
        data, extension = b"", ""
    tool = shutil.which("pdftoppm")
    if extension == ".pdf" and tool:
        with tempfile.TemporaryDirectory(prefix="izer-page-") as folder:
            document = Path(folder) / "document.pdf"
            document.write_bytes(data)
            try:
                subprocess.run(
                    [
                        tool,
                        "-png",
                        "-singlefile",
                        "-f",
                        "1",
                        "-l",
                        "1",
                        "-scale-to",
                        str(size),
                        str(document),
                        str(Path(folder) / "page"),
                    ],
                    check=True,
                    capture_output=True,
                    timeout=20,
                )
                page = cv2.imread(str(Path(folder) / "page.png"), cv2.IMREAD_COLOR)
            except (OSError, subprocess.SubprocessError):
                page = None
            if page is not None:
                return cv2.cvtColor(page, cv2.COLOR_BGR2RGB)
    return _drawn_page(size, (extension or ".doc").lstrip(".").upper())


def _drawn_page(size: int, label: str) -> np.ndarray:
    height, width = size, max(16, round(size * 0.77))
    page = np.full((height, width, 3), 236, np.uint8)
    step = max(4, height // 14)
    for line in range(3, 12):
        top = line * step
        cv2.line(page, (width // 8, top), (width * 7 // 8, top), (170, 170, 170), max(1, step // 4))
    scale = max(0.4, size / 160)
    cv2.putText(
        page,
        label,
        (width // 8, step * 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (200, 60, 60),
        max(1, round(scale * 2)),
        cv2.LINE_AA,
    )
    return page


def _burn_note(frame: np.ndarray, header: Dataset, text: str, x: float, y: float) -> np.ndarray:
    """A copy of ``frame`` with a ring at ``(x, y)``, a leader line and ``text`` drawn in,
    light on a dark outline so that it reads on any picture."""
    rows, columns = frame.shape[:2]
    left, top, right, bottom = _text_box(text, x, y, rows, columns)
    height = bottom - top
    glyphs = Image.new("L", (columns, rows), 0)
    outline = Image.new("L", (columns, rows), 0)
    font = _font(max(10, round(height * 0.8)))
    stroke = max(1, round(height / 12))
    radius = max(4.0, height / 3)
    for mask, extra in ((outline, stroke + 1), (glyphs, 0)):
        draw = ImageDraw.Draw(mask)
        draw.ellipse(
            (x - radius, y - radius, x + radius, y + radius), outline=255, width=stroke + extra
        )
        anchor_x = left if left > x else right
        draw.line((x, y, anchor_x, top + height / 2), fill=255, width=max(1, stroke // 2) + extra)
        draw.text((left, top), text, font=font, fill=255, stroke_width=extra, stroke_fill=255)
    light_mask = np.asarray(glyphs) > 127
    dark_mask = (np.asarray(outline) > 127) & ~light_mask
    out = frame.copy()
    if out.ndim == 3:
        out[dark_mask] = (0, 0, 0)
        out[light_mask] = _BURN_RGB
    else:
        top_value = (1 << int(header.get("BitsStored") or 8)) - 1
        light, dark = top_value, 0
        if str(header.get("PhotometricInterpretation", "")) == "MONOCHROME1":
            light, dark = dark, light
        out[dark_mask] = dark
        out[light_mask] = light
    return out


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


# -- clips -------------------------------------------------------------------------------------


def _video_syntax(transfer_syntax_uid: str) -> VideoSyntax:
    for syntax in VideoSyntax:
        if transfer_syntax_uid in (syntax.uid, syntax.fragmentable_uid):
            return syntax
    raise ReviewError(f"transfer syntax {transfer_syntax_uid} is not a video syntax izer cuts")


def _kept_part(table: PacketTable, info: StreamInfo, start_s: float, end_s: float) -> CutRange:
    """The packets from the last clean key frame at or before ``start_s`` to the first one at
    or after ``end_s`` (or the end), as :func:`izer.encode.video.transcode.cut` takes them."""
    pts, base = table.pts, table.time_base
    count = len(pts)
    clean = table.clean_keyframes()
    if not clean or clean[0] != 0:
        raise ReviewError("the clip does not start with a key frame; it cannot be cut")
    origin = pts[0]

    def seconds(index: int) -> float:
        return float((pts[index] - origin) * base)

    first = max((i for i in clean if seconds(i) <= start_s + _TIME_SLACK_S), default=0)
    end = min(
        (i for i in clean if i > first and seconds(i) >= end_s - _TIME_SLACK_S), default=count
    )
    if first == 0 and end == count:
        times = ", ".join(f"{seconds(i):.1f}" for i in clean[:12])
        raise ReviewError(
            f"cut at key frames, {start_s:.1f}-{end_s:.1f} s keeps the whole clip (key frames "
            f"at {times} s); move the in or out point past a key frame"
        )
    rate: Fraction = info.frame_rate
    window = range(first, min(end, first + 64))
    offsets = [round((pts[i] - pts[first]) * base * rate) - (i - first) for i in window]
    return CutRange(
        first_pts=pts[first],
        end_pts=pts[end] if end < count else None,
        frames=end - first,
        dts_base=min(offsets, default=0),
        start_s=seconds(first),
    )
