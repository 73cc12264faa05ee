"""What the local review page shows (``izer view``), as records and bytes, without HTTP.

:class:`ViewController` reads the local store: the studies with a cover picture, a study's
series and instances (each a still, a video, a document or something else), JPEG thumbnails
(kept in a small in-memory LRU cache), videos a browser can play (an MP4 copied or remuxed
once into a cache folder in the store's scratch area, then reused), encapsulated PDF
documents and the attributes of an instance as text.

Browsers play H.264 in MP4 only: MPEG-2 and HEVC video (PS3.5 8.2.5-8.2.11) are refused with
a note that ``izer export`` turns them into files a player takes.
"""

from __future__ import annotations

import enum
import hashlib
import shutil
import struct
import threading
from collections import OrderedDict
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID, EncapsulatedPDFStorage

from izer.encode.extract import (
    VIDEO_TRANSFER_SYNTAXES,
    RemuxError,
    document_bytes,
    outputs,
    read_instance,
)
from izer.encode.fragments import FragmentError, fragment_ranges
from izer.engine.reviewing import record_picture
from izer.model import InstanceRecord, SeriesRecord, StudyRecord
from izer.store import atomic_write
from izer.store.atomic import TEMPORARY_PREFIX

if TYPE_CHECKING:
    from izer.engine.core import Engine

__all__ = [
    "CODEC_NAMES",
    "UnknownInstanceError",
    "ViewController",
    "ViewError",
    "ViewInstance",
    "ViewKind",
    "ViewSeries",
    "ViewStudy",
]

#: Thumbnails kept in memory (about 10-20 kB each at 192 pixels).
THUMBNAIL_CACHE_ENTRIES = 512
#: Smallest and largest thumbnail side, in pixels.
THUMBNAIL_SIZES = range(16, 1025)
#: JPEG quality of thumbnails.
THUMBNAIL_QUALITY = 85
#: Longest value text in :meth:`ViewController.details`.
MAX_VALUE_CHARS = 240
#: The codec a browser's ``<video>`` plays (H.264 in MP4).
PLAYABLE_CODEC = "h264"
#: Readable names of the video codecs of DICOM (PS3.5 8.2.5-8.2.11).
CODEC_NAMES = {"mpeg2video": "MPEG-2", "h264": "H.264", "hevc": "HEVC"}
#: Presentation states, waveforms, structured reports and key object selections: no picture.
_NO_PICTURE_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.11.",
    "1.2.840.10008.5.1.4.1.1.9.",
    "1.2.840.10008.5.1.4.1.1.88.",
    "1.2.840.10008.5.1.4.1.1.104.",
)
_PIXEL_DATA_TAG = 0x7FE00010


class ViewError(ValueError):
    """What the page asked for cannot be shown; the message says why and what to do."""


class UnknownInstanceError(ViewError):
    """No study or instance with that UID in the local store."""


class ViewKind(enum.StrEnum):
    """How the page shows an instance."""

    STILL = "still"
    VIDEO = "video"
    DOCUMENT = "document"
    OTHER = "other"


@dataclass(frozen=True)
class ViewInstance:
    """One instance of a study as the page lists it.

    Attributes
    ----------
    codec
        Video codec name (``h264``, ``mpeg2video``, ``hevc``); empty for anything else.
    not_playable
        Why a video cannot play in a browser (and what to do); empty when it can.
    """

    sop_instance_uid: str
    sop_class_uid: str
    kind: ViewKind
    instance_number: int | None
    transfer_syntax_uid: str
    size_bytes: int
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    codec: str = ""
    not_playable: str = ""

    @property
    def sop_class_name(self) -> str:
        """The SOP Class name from the registry (the UID when unknown)."""
        return UID(self.sop_class_uid).name

    @property
    def has_picture(self) -> bool:
        """Whether a thumbnail can be drawn (stills, videos, PDFs)."""
        return self.kind is not ViewKind.OTHER


@dataclass(frozen=True)
class ViewSeries:
    """One series with its instances, in instance order."""

    record: SeriesRecord
    instances: tuple[ViewInstance, ...]


@dataclass(frozen=True)
class ViewStudy:
    """One stored study: its patient, counts and, for the list, its cover picture.

    ``series`` is filled by :meth:`ViewController.study` only (empty in the list).
    """

    record: StudyRecord
    cover_sop_uid: str | None = None
    series: tuple[ViewSeries, ...] = ()


def kind_of(record: InstanceRecord) -> ViewKind:
    """The view kind of a stored instance, from its SOP Class and transfer syntax."""
    if record.transfer_syntax_uid in VIDEO_TRANSFER_SYNTAXES:
        return ViewKind.VIDEO
    if record.sop_class_uid == EncapsulatedPDFStorage:
        return ViewKind.DOCUMENT
    if record.sop_class_uid.startswith(_NO_PICTURE_PREFIXES):
        return ViewKind.OTHER
    return ViewKind.STILL


def _view_instance(record: InstanceRecord) -> ViewInstance:
    kind = kind_of(record)
    codec = VIDEO_TRANSFER_SYNTAXES.get(record.transfer_syntax_uid, "")
    reason = ""
    if kind is ViewKind.VIDEO and codec != PLAYABLE_CODEC:
        name = CODEC_NAMES.get(codec, codec)
        reason = (
            f"this video is {name}, which browsers do not play; export it with "
            f"`izer export {record.sop_instance_uid} --to FOLDER` to play it"
        )
    return ViewInstance(
        sop_instance_uid=record.sop_instance_uid,
        sop_class_uid=record.sop_class_uid,
        kind=kind,
        instance_number=record.instance_number,
        transfer_syntax_uid=record.transfer_syntax_uid,
        size_bytes=record.size_bytes,
        study_instance_uid=record.study_instance_uid,
        series_instance_uid=record.series_instance_uid,
        codec=codec,
        not_playable=reason,
    )


class ViewController:
    """The review page's data, read from the engine's store; safe to use from many threads.

    Parameters
    ----------
    engine
        Gives the store (and its scratch area for the video cache).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._thumbnails: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._video_locks: dict[str, threading.Lock] = {}
        self._videos: dict[str, Path] = {}
        self._cache_folder: Path | None = None

    # -- studies ------------------------------------------------------------------------------

    def studies(self) -> list[ViewStudy]:
        """Every stored study, newest first, with the first still (or video) as its cover."""
        store = self.engine.store
        listed = []
        for record in store.studies():
            cover = next(
                (
                    item.sop_instance_uid
                    for item in map(_view_instance, store.instances(record.study_instance_uid))
                    if item.kind in (ViewKind.STILL, ViewKind.VIDEO)
                ),
                None,
            )
            listed.append(ViewStudy(record, cover))
        return listed

    def study(self, study_uid: str) -> ViewStudy:
        """One study with its series and their instances.

        Raises
        ------
        UnknownInstanceError
            When the store holds no study ``study_uid``.
        """
        store = self.engine.store
        record = next((s for s in store.studies() if s.study_instance_uid == study_uid), None)
        if record is None:
            raise UnknownInstanceError(f"no study {study_uid} in the local store")
        records = store.instances(study_uid)
        items = [_view_instance(r) for r in records]
        by_series: dict[str, list[ViewInstance]] = {}
        for stored, item in zip(records, items, strict=True):
            by_series.setdefault(stored.series_instance_uid, []).append(item)
        series = tuple(
            ViewSeries(s, tuple(by_series.get(s.series_instance_uid, ())))
            for s in store.series(study_uid)
        )
        cover = next(
            (i.sop_instance_uid for i in items if i.kind in (ViewKind.STILL, ViewKind.VIDEO)),
            None,
        )
        return ViewStudy(record, cover, series)

    def instance(self, sop_uid: str) -> ViewInstance:
        """The listing of one instance.

        Raises
        ------
        UnknownInstanceError
            When the store does not hold ``sop_uid``.
        """
        return _view_instance(self._record(sop_uid))

    # -- pictures, videos, documents ------------------------------------------------------------

    def thumbnail_jpeg(self, sop_uid: str, size: int = 192) -> bytes:
        """A JPEG of ``sop_uid`` fitting ``size`` x ``size`` pixels (cached in memory).

        A still's first frame (windowed to 8 bits when deeper), a video's first frame, a PDF's
        first page (or a drawn page without Poppler).

        Raises
        ------
        UnknownInstanceError
            When the store does not hold ``sop_uid``.
        ViewError
            When ``size`` is out of range, the instance has no picture, or it cannot be
            decoded here.
        """
        if size not in THUMBNAIL_SIZES:
            raise ViewError(
                f"thumbnail size must be {THUMBNAIL_SIZES.start} to {THUMBNAIL_SIZES.stop - 1} "
                f"pixels, not {size}"
            )
        key = (sop_uid, size)
        with self._lock:
            if key in self._thumbnails:
                self._thumbnails.move_to_end(key)
                return self._thumbnails[key]
        record = self._record(sop_uid)
        if kind_of(record) is ViewKind.OTHER:
            raise ViewError(f"{sop_uid} ({UID(record.sop_class_uid).name}) has no picture")
        try:
            fitted = record_picture(record, size)
        except ValueError as exc:  # ReviewError, or a file that cannot be read
            raise ViewError(str(exc)) from None
        ok, buffer = cv2.imencode(
            ".jpg",
            cv2.cvtColor(fitted, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY],
        )
        if not ok:
            raise ViewError(f"the thumbnail of {sop_uid} could not be encoded as JPEG")
        data = buffer.tobytes()
        with self._lock:
            self._thumbnails[key] = data
            self._thumbnails.move_to_end(key)
            while len(self._thumbnails) > THUMBNAIL_CACHE_ENTRIES:
                self._thumbnails.popitem(last=False)
        return data

    def playable_video(self, sop_uid: str) -> Path:
        """An MP4 file of the H.264 video ``sop_uid`` that a browser plays.

        The stream is copied (or remuxed, without re-encoding) once into the cache folder
        in the store's scratch area, atomically, and the same file is returned afterwards.

        Raises
        ------
        UnknownInstanceError
            When the store does not hold ``sop_uid``.
        ViewError
            For an instance that is not a video, or a video browsers cannot play (MPEG-2,
            HEVC: the message says to use ``izer export``), or one that cannot be remuxed.
        """
        item = self.instance(sop_uid)
        if item.kind is not ViewKind.VIDEO:
            raise ViewError(f"{sop_uid} is not a video")
        if item.not_playable:
            raise ViewError(item.not_playable)
        with self._lock:
            lock = self._video_locks.setdefault(sop_uid, threading.Lock())
        with lock:
            known = self._videos.get(sop_uid)
            if known is not None and known.exists():
                return known
            folder = self._cache()
            # The temporary prefix: what a killed process leaves is swept when the store opens.
            digest = hashlib.sha256(sop_uid.encode("ascii")).hexdigest()[:24]
            target = folder / f"{TEMPORARY_PREFIX}view-{digest}.mp4"
            record = self._record(sop_uid)
            try:
                made = list(_mp4_outputs(record.path, folder, target))
            except (RemuxError, FragmentError) as exc:
                raise ViewError(f"the video {sop_uid} cannot be made playable: {exc}") from None
            except ValueError as exc:
                raise ViewError(f"the video {sop_uid} cannot be read: {exc}") from None
            if not made:
                raise ViewError(
                    f"the video {sop_uid} could not be put in MP4; export it with "
                    f"`izer export {sop_uid} --to FOLDER` to play it"
                )
            self._videos[sop_uid] = target
            return target

    def document_pdf(self, sop_uid: str) -> bytes:
        """The PDF document of an Encapsulated PDF instance, as archived (PS3.3 C.24.2).

        Raises
        ------
        UnknownInstanceError
            When the store does not hold ``sop_uid``.
        ViewError
            When it is not an Encapsulated PDF.
        """
        record = self._record(sop_uid)
        if kind_of(record) is not ViewKind.DOCUMENT:
            raise ViewError(f"{sop_uid} is not an Encapsulated PDF document")
        header = dcmread(record.path)
        try:
            data, extension = document_bytes(header)
        except (AttributeError, KeyError):
            raise ViewError(f"{sop_uid} holds no PDF document") from None
        if extension != ".pdf":
            raise ViewError(f"{sop_uid} holds a {extension} document, not a PDF")
        return data

    def details(self, sop_uid: str) -> list[tuple[str, str, str]]:
        """Every attribute of ``sop_uid`` as ``(tag, name, value text)``, file meta first.

        Sequences are summarised by their item count; Pixel Data, Encapsulated Document and
        other binary values are shown as ``<N bytes>`` (Pixel Data is never read).

        Raises
        ------
        UnknownInstanceError
            When the store does not hold ``sop_uid``.
        ViewError
            When the file cannot be read.
        """
        record = self._record(sop_uid)
        try:
            source = read_instance(record.path)
        except ValueError as exc:
            raise ViewError(str(exc)) from None
        rows: list[tuple[str, str, str]] = []
        meta = getattr(source.header, "file_meta", Dataset())
        for element in meta:
            rows.append(_row(element))
        for element in source.header:
            rows.append(_row(element))
        if source.pixel_data_offset is not None:
            length = _pixel_data_length(record.path, source.pixel_data_offset)
            rows.append(("(7FE0,0010)", "Pixel Data", f"<{length} bytes>"))
        return rows

    # -- housekeeping -------------------------------------------------------------------------

    def clear_cache(self) -> None:
        """Forget the thumbnails and remove the video cache folder (when the page stops)."""
        with self._lock:
            self._thumbnails.clear()
            self._videos.clear()
            folder, self._cache_folder = self._cache_folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _cache(self) -> Path:
        with self._lock:
            if self._cache_folder is None:
                folder = self.engine.store.scratch_path("view-cache")
                folder.mkdir(parents=True)
                self._cache_folder = folder
            return self._cache_folder

    def _record(self, sop_uid: str) -> InstanceRecord:
        record = self.engine.store.instance(sop_uid)
        if record is None:
            raise UnknownInstanceError(f"no instance {sop_uid} in the local store")
        return record


def _mp4_outputs(path: Path, folder: Path, target: Path) -> list[Path]:
    """Write the MP4 of the video at ``path`` to ``target`` (atomically); ``[target]`` when
    it was written, ``[]`` when the stream could only be kept in its own container."""
    with closing(outputs(read_instance(path), scratch=folder)) as made:
        for output in made:
            if output.extension != ".mp4":
                return []
            atomic_write(target, output.write)
            return [target]
    return []


def _pixel_data_length(path: Path, offset: int) -> int:
    """The bytes of Pixel Data: its length field, or the fragments' sum when encapsulated."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        head = handle.read(12)
    if len(head) < 8:
        return 0
    big = head[:2] == b"\x7f\xe0"
    explicit = head[4:6] in (b"OB", b"OW")
    if explicit:
        (length,) = struct.unpack(">I" if big else "<I", head[8:12])
    else:
        (length,) = struct.unpack(">I" if big else "<I", head[4:8])
    if length != 0xFFFFFFFF:
        return int(length)
    try:
        return sum(size for _offset, size in fragment_ranges(path, offset))
    except FragmentError:
        return 0


def _row(element: DataElement) -> tuple[str, str, str]:
    tag = f"({element.tag.group:04X},{element.tag.element:04X})"
    return tag, element.name, _value_text(element)


def _value_text(element: DataElement) -> str:
    if element.VR == "SQ":
        count = len(element.value or ())
        return f"<sequence of {count} item{'' if count == 1 else 's'}>"
    if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or element.tag == _PIXEL_DATA_TAG:
        value = element.value
        return f"<{len(value) if value is not None else 0} bytes>"
    value = element.value
    if value is None or value == "":
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if element.VR == "PN" or not isinstance(value, str | int | float):
        text = "\\".join(str(v) for v in value) if _is_multi(value) else str(value)
    else:
        text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = f"{text[:MAX_VALUE_CHARS]}... ({len(text)} characters)"
    return text


def _is_multi(value: object) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
