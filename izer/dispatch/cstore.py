"""C-STORE SCU: Part-10 files to a DICOM destination (PS3.4 Annex B, PS3.7 9.1.1 and 9.3.1).

Presentation contexts are built from what is sent (PS3.8 9.3.2.2): the file meta of each file
gives a (SOP class, transfer syntax) pair, and each pair is one context with exactly that
transfer syntax, so the receiver's answer says which pairs it takes. Stills also get
Explicit VR Little Endian in a context of its own; when the receiver refuses the file's
compressed syntax but takes that one, the still is decompressed on the fly (pydicom with the
pylibjpeg and pyjpegls plugins) and sent uncompressed with the same SOP Instance UID. Video
(PS3.5 8.2.5-8.2.11) is never offered uncompressed: when the receiver refuses the file's
video syntax, the syntaxes of the *ladder* (and the single-fragment twin of a fragmentable
syntax) are offered up front as extra contexts, and the video is transcoded with
:func:`izer.encode.video.conform` to the first of them the receiver accepted and that can
hold it (see :func:`transcoded_instance`); otherwise the file fails with the reason.
Transcoding happens after the other files were sent, and the result goes on a new
association: an encoder may run longer than a peer keeps an idle association open.

Files are sent from disk: pynetdicom reads the data set after the file meta in chunks of the
peer's maximum PDU size (its ``STORE_SEND_CHUNKED_DATASET`` mode, switched on while a file is
sent), and P-DATA is handed to pynetdicom's writer thread only as fast as the socket takes it,
so memory does not grow with the size of the file. Measured with a 311 MB video sent to
Orthanc and to storescp from a fresh process: peak RSS 56 MB, of which the imports take 56 MB.
For a 407 MB file, pynetdicom's ``send_c_store(path)`` alone peaks at 1.2 GB (it reads and
encodes the whole data set) and its chunked mode without pacing at 285 MB (its send queue
fills faster than the socket drains it).

An association holds at most 128 presentation contexts (context IDs are the odd numbers
1-255, PS3.8 9.3.2.2). Files needing more are sent over several associations, one after the
other, each holding the contexts of a run of consecutive files (a warning says so).

Failures: every file that can be sent is sent. When any file fails, :class:`StoreFailed` (a
:class:`~izer.dispatch.errors.DeliveryError`) is raised after the others were tried; it holds
the outcomes of the files that were stored and one :class:`FileFailure` per file that was
not. It is transient when trying again may help for at least one of the failed files.
"""

from __future__ import annotations

import enum
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import _config as pynetdicom_config
from pynetdicom.association import Association
from pynetdicom.dsutils import split_dataset
from pynetdicom.pdu_primitives import P_DATA

from izer.config import Destination
from izer.dispatch.errors import DeliveryError
from izer.dispatch.statuses import StatusKind, general_status_meaning
from izer.net.association import AssociationFactory, AssociationFailed

if TYPE_CHECKING:
    from izer.encode.video import ConformResult, VideoSyntax

log = logging.getLogger(__name__)

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
#: Presentation contexts one association holds (odd context IDs 1-255, PS3.8 9.3.2.2).
MAX_CONTEXTS = 128
#: The DICOM video transfer syntaxes (PS3.5 8.2.5-8.2.11) and their fragmentable twins.
VIDEO_TRANSFER_SYNTAXES: frozenset[str] = frozenset(
    {f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)}
    | {f"1.2.840.10008.1.2.4.{n}.1" for n in range(100, 107)}
)
#: P-DATA primitives pynetdicom may hold for sending before the sender waits (bounds memory).
_QUEUE_LIMIT = 32
#: Report progress at most once per this many bytes (and at the end of each file).
_PROGRESS_STEP = 1 << 20

Progress = Callable[[int, int], None]


def is_video_syntax(transfer_syntax: str) -> bool:
    """Whether ``transfer_syntax`` is an MPEG-2, H.264 or HEVC video syntax (PS3.5 8.2.5-8.2.11)."""
    return str(transfer_syntax) in VIDEO_TRANSFER_SYNTAXES


# --------------------------------------------------------------------------- statuses


class StoreStatus(enum.IntEnum):
    """C-STORE response statuses with a fixed code (PS3.4 B.2.3, PS3.7 C.1-C.5).

    The ranges A7xx (out of resources), A9xx (data set does not match SOP class) and Cxxx
    (cannot understand) are interpreted by :func:`status_meaning`.
    """

    SUCCESS = 0x0000
    PROCESSING_FAILURE = 0x0110
    INVALID_SOP_INSTANCE = 0x0117
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NOT_AUTHORIZED = 0x0124
    DUPLICATE_INVOCATION = 0x0210
    UNRECOGNIZED_OPERATION = 0x0211
    MISTYPED_ARGUMENT = 0x0212
    RESOURCE_LIMITATION = 0x0213
    OUT_OF_RESOURCES = 0xA700
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS_WARNING = 0xB007


_FIXED_MEANINGS: dict[int, tuple[StatusKind, str]] = {
    StoreStatus.SUCCESS: (StatusKind.SUCCESS, "success"),
    StoreStatus.PROCESSING_FAILURE: (
        StatusKind.TRANSIENT,
        "processing failure (the receiver failed while storing it)",
    ),
    StoreStatus.INVALID_SOP_INSTANCE: (StatusKind.PERMANENT, "invalid SOP instance"),
    StoreStatus.SOP_CLASS_NOT_SUPPORTED: (StatusKind.PERMANENT, "refused: SOP class not supported"),
    StoreStatus.NOT_AUTHORIZED: (StatusKind.PERMANENT, "refused: not authorized"),
    StoreStatus.DUPLICATE_INVOCATION: (StatusKind.TRANSIENT, "duplicate invocation"),
    StoreStatus.UNRECOGNIZED_OPERATION: (StatusKind.PERMANENT, "unrecognized operation"),
    StoreStatus.MISTYPED_ARGUMENT: (StatusKind.PERMANENT, "mistyped argument"),
    StoreStatus.RESOURCE_LIMITATION: (StatusKind.TRANSIENT, "resource limitation"),
    StoreStatus.COERCION_OF_DATA_ELEMENTS: (
        StatusKind.WARNING,
        "coercion of data elements (the receiver changed some attributes)",
    ),
    StoreStatus.ELEMENTS_DISCARDED: (
        StatusKind.WARNING,
        "elements discarded (the receiver did not keep some attributes)",
    ),
    StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS_WARNING: (
        StatusKind.WARNING,
        "data set does not match SOP class (stored anyway)",
    ),
}


@dataclass(frozen=True)
class StatusMeaning:
    """A C-STORE status in plain words and what to do about it."""

    code: int
    kind: StatusKind
    meaning: str

    @property
    def stored(self) -> bool:
        """True for success and warnings: the receiver has the instance."""
        return self.kind in (StatusKind.SUCCESS, StatusKind.WARNING)


def status_meaning(code: int) -> StatusMeaning:
    """The meaning of a C-STORE response status (PS3.4 B.2.3, PS3.7 Annex C).

    Out of resources (A7xx), processing failure (0110), resource limitation (0213) and
    duplicate invocation (0210) are transient: the same file may be stored later. A data set
    that does not match its SOP class (A9xx), cannot be understood (Cxxx), an unsupported SOP
    class (0122) and codes DICOM does not define for C-STORE are permanent. Warnings (B000,
    B006, B007 and other Bxxx, 0001) mean the instance was stored.
    """
    if code in _FIXED_MEANINGS:
        kind, meaning = _FIXED_MEANINGS[code]
    elif code == 0x0001:
        kind, meaning = StatusKind.WARNING, "warning"
    else:
        kind, meaning = general_status_meaning(code) or (
            StatusKind.PERMANENT,
            "a status DICOM does not define for C-STORE",
        )
    return StatusMeaning(code, kind, meaning)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StoreOutcome:
    """One instance the receiver stored.

    Attributes
    ----------
    sop_uid
        SOP Instance UID as sent (what the receiver holds; ask storage commitment for it).
    status
        The C-STORE response status (0x0000 or a warning).
    meaning
        The status in plain words.
    sent_syntax
        Transfer syntax UID the instance was sent in.
    transcoded
        True when the video was re-encoded or re-wrapped to a syntax the receiver accepts.
    warning
        The warning in plain words (with the receiver's Error Comment), empty on success.
    source_sop_uid
        The file's own SOP Instance UID when a re-encoded video got a new one, else empty.
    path
        The file that was sent.
    """

    sop_uid: str
    status: int
    meaning: str
    sent_syntax: str
    transcoded: bool = False
    warning: str = ""
    source_sop_uid: str = ""
    path: str = ""


@dataclass(frozen=True)
class FileFailure:
    """One file the receiver did not store, and why."""

    path: Path
    sop_uid: str
    message: str
    transient: bool
    status: int | None = None


class StoreFailed(DeliveryError):
    """Some files were not stored; the others were (see ``outcomes`` and ``failures``)."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        outcomes: Sequence[StoreOutcome],
        failures: Sequence[FileFailure],
    ) -> None:
        super().__init__(message, transient=transient)
        self.outcomes = list(outcomes)
        self.failures = list(failures)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class FileItem:
    """One file to send, as its file meta describes it."""

    path: Path
    sop_class: str
    sop_uid: str
    syntax: str
    size: int

    @property
    def is_video(self) -> bool:
        return is_video_syntax(self.syntax)

    @property
    def label(self) -> str:
        return f"{self.path.name} (SOP Instance UID {self.sop_uid})"


@dataclass
class _Batch:
    """Consecutive files sent over one association, and the contexts it requests."""

    items: list[FileItem] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)


def _read_item(path: Path) -> FileItem:
    """The file meta of ``path`` (PS3.10 7.1); nothing after it is read."""
    try:
        meta, _ = split_dataset(path)
        size = path.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # pydicom parse errors have no common base class
        raise ValueError(f"{path} is not a readable DICOM Part-10 file ({exc})") from exc
    missing = [
        keyword
        for keyword in (
            "MediaStorageSOPClassUID",
            "MediaStorageSOPInstanceUID",
            "TransferSyntaxUID",
        )
        if not meta.get(keyword)
    ]
    if missing:
        raise ValueError(
            f"{path} has no {', '.join(missing)} in its file meta information: it is not a "
            "DICOM Part-10 file (PS3.10 7.1); write it with a file meta header"
        )
    return FileItem(
        path=path,
        sop_class=str(meta.MediaStorageSOPClassUID),
        sop_uid=str(meta.MediaStorageSOPInstanceUID),
        syntax=str(meta.TransferSyntaxUID),
        size=size,
    )


def _pairs_for(
    item: FileItem, ladder: Sequence[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The file's own pair, then its fallbacks: Explicit VR LE for stills; for video the
    single-fragment twin of a fragmentable syntax and the ladder's syntaxes."""
    own = [(item.sop_class, item.syntax)]
    if not item.is_video:
        extra = [] if item.syntax == EXPLICIT_VR_LITTLE_ENDIAN else [EXPLICIT_VR_LITTLE_ENDIAN]
    else:
        fragmentable = item.syntax.endswith(".1") and is_video_syntax(item.syntax[:-2])
        twin = item.syntax[:-2] if fragmentable else ""
        extra = [uid for uid in (twin, *ladder) if uid and uid != item.syntax]
    return own, [(item.sop_class, uid) for uid in dict.fromkeys(extra)]


def plan_batches(items: Sequence[FileItem], ladder_uids: Sequence[str] = ()) -> list[_Batch]:
    """Group consecutive files so that each association requests at most 128 contexts.

    Each (SOP class, transfer syntax) pair is one context; the files' own pairs come first,
    then the fallbacks (see :func:`_pairs_for`).
    """
    batches: list[_Batch] = []
    current = _Batch()
    own_pairs: dict[tuple[str, str], None] = {}
    extra_pairs: dict[tuple[str, str], None] = {}
    for item in items:
        own, extra = _pairs_for(item, ladder_uids)
        wanted_own = dict.fromkeys([*own_pairs, *own])
        wanted_extra = {p: None for p in [*extra_pairs, *extra] if p not in wanted_own}
        if current.items and len(wanted_own) + len(wanted_extra) > MAX_CONTEXTS:
            current.pairs = [*own_pairs, *extra_pairs]
            batches.append(current)
            current = _Batch()
            wanted_own = dict.fromkeys(own)
            wanted_extra = {p: None for p in extra if p not in wanted_own}
        current.items.append(item)
        own_pairs, extra_pairs = wanted_own, wanted_extra
    if current.items:
        current.pairs = [*own_pairs, *extra_pairs]
        batches.append(current)
    return batches


def _parse_ladder(ladder: Sequence[str]) -> list[VideoSyntax]:
    if not ladder:
        return []
    from izer.encode.video import VideoSyntax

    try:
        return list(dict.fromkeys(VideoSyntax.from_text(name) for name in ladder))
    except ValueError as exc:
        raise DeliveryError(f"transcode ladder: {exc}", transient=False) from None


# --------------------------------------------------------------------------- transcoding

#: Derivation Code (CID 7203) and purpose of the source reference (CID 7202) of a video
#: re-encoded for a receiver (PS3.3 C.7.6.1.1.3, C.7.6.1.1.5).
_LOSSY_COMPRESSION = ("113040", "DCM", "Lossy Compression")
_LOSSY_PREDECESSOR = ("121330", "DCM", "Lossy compressed predecessor")


class TranscodeError(ValueError):
    """The video cannot be put into the wanted syntax; the message says why."""


@dataclass(frozen=True)
class Transcoded:
    """A video instance written in another syntax for a receiver."""

    path: Path
    sop_uid: str
    transfer_syntax: str
    remuxed: bool
    """True when the coded video was only re-wrapped (same pictures, same SOP Instance UID)."""


def transcoded_instance(source: Path, target_uid: str, folder: Path) -> Transcoded:
    """Write the video instance ``source`` again in transfer syntax ``target_uid``.

    The bit stream is copied out, conformed to the syntax with
    :func:`izer.encode.video.conform` (re-wrapped when its pictures already fit, otherwise
    re-encoded) and put under a copy of the header with the Image Pixel, Cine and lossy
    compression attributes of the new stream. A re-encoded video is a new, derived instance
    (PS3.3 C.7.6.1.1.5): Image Type DERIVED, a new SOP Instance UID derived from the old one
    and the syntax (the same every time), Derivation Code "Lossy Compression" and a Source
    Image Sequence item pointing at the original as its "Lossy compressed predecessor";
    Lossy Image Compression Ratio and Method get the new step appended. The file is written
    and verified by :func:`izer.encode.video.write_video_instance` in ``folder``.

    Raises
    ------
    TranscodeError
        When the video does not fit the syntax (size, rate) or could not be written.
    """
    from izer.encode.selfcheck import InstanceCheckError
    from izer.encode.video import (
        ConformError,
        VideoSyntax,
        conform,
        extract_stream,
        write_video_instance,
    )

    header = dcmread(source, stop_before_pixels=True)
    target = VideoSyntax.from_text(target_uid)
    original = VideoSyntax.from_text(str(header.file_meta.TransferSyntaxUID))
    raw = folder / f"source{_stream_suffix(original)}"
    stream = folder / f"target{_stream_suffix(target)}"
    audio = "MultiplexedAudioChannelsDescriptionCodeSequence" in header
    try:
        extract_stream(source, raw)
        result = conform(raw, stream, syntax=target, audio=audio)
    except (ValueError, ConformError, OSError) as exc:
        raise TranscodeError(str(exc)) from exc
    finally:
        raw.unlink(missing_ok=True)
    dataset = _retarget_header(header, result, target, stream)
    path = folder / "instance.dcm"
    try:
        write_video_instance(dataset, path)
    except (InstanceCheckError, OSError) as exc:
        raise TranscodeError(f"the transcoded instance did not verify: {exc}") from exc
    finally:
        stream.unlink(missing_ok=True)  # the instance holds a copy
    return Transcoded(
        path=path,
        sop_uid=str(dataset.SOPInstanceUID),
        transfer_syntax=str(dataset.file_meta.TransferSyntaxUID),
        remuxed=result.remuxed,
    )


def derived_uid(source_uid: str, transfer_syntax: str) -> str:
    """The SOP Instance UID of ``source_uid`` re-encoded in ``transfer_syntax``: a name-based
    (version 5) UUID of both as a ``2.25`` UID (PS3.5 B.2), the same on every call."""
    name = f"izer transcode {source_uid} {transfer_syntax}"
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}"


def _stream_suffix(syntax: VideoSyntax) -> str:
    return ".mpg" if syntax.codec == "mpeg2video" else ".mp4"


def _code_item(code: tuple[str, str, str]) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code
    return item


def _retarget_header(
    header: Dataset, result: ConformResult, target: VideoSyntax, stream: Path
) -> Dataset:
    """``header`` describing the conformed ``stream`` (see :func:`transcoded_instance`)."""
    from fractions import Fraction

    from pydicom.dataelem import DataElement
    from pydicom.encaps import encapsulate_buffer
    from pydicom.valuerep import format_number_as_ds

    from izer.encode.modules import write_cine
    from izer.encode.video import frame_time_ms
    from izer.encode.video.iods import MAX_FRAGMENT_BYTES, transfer_syntax_uid
    from izer.encode.video.windows import FileWindow

    info = result.info
    size = info.size_bytes
    try:
        uid = transfer_syntax_uid(target, size, fragmentable=False)
    except ValueError as exc:
        raise TranscodeError(str(exc)) from exc
    ds = header
    source_syntax = str(ds.file_meta.TransferSyntaxUID)
    ds.file_meta.TransferSyntaxUID = uid
    deep = target.bit_depth > 8
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = info.height, info.width
    ds.BitsAllocated = 16 if deep else 8
    ds.BitsStored = target.bit_depth
    ds.HighBit = target.bit_depth - 1
    ds.PixelRepresentation = 0
    sar = Fraction(info.sample_aspect_ratio)
    if sar != 1 and target.name != "MPEG2_MPHL":  # MP@HL forbids it (PS3.5 8.2.6)
        ds.PixelAspectRatio = [sar.denominator, sar.numerator]
    elif "PixelAspectRatio" in ds:
        del ds.PixelAspectRatio
    write_cine(ds, info.frame_count, frame_time_ms(info.frame_rate))
    if info.audio is None and "MultiplexedAudioChannelsDescriptionCodeSequence" in ds:
        del ds.MultiplexedAudioChannelsDescriptionCodeSequence
    if not result.remuxed:
        source_uid = str(ds.SOPInstanceUID)
        new_uid = derived_uid(source_uid, uid)
        ds.SOPInstanceUID = new_uid
        ds.file_meta.MediaStorageSOPInstanceUID = new_uid
        image_type = list(ds.get("ImageType", ["ORIGINAL", "PRIMARY"])) or ["ORIGINAL"]
        image_type[0] = "DERIVED"
        ds.ImageType = image_type
        ds.DerivationDescription = (
            f"Re-encoded from {_uid_name(source_syntax)} "
            f"to {_uid_name(uid)} for a receiver that does not accept the original"
        )[:1024]
        ds.DerivationCodeSequence = [_code_item(_LOSSY_COMPRESSION)]
        reference = Dataset()
        reference.ReferencedSOPClassUID = ds.SOPClassUID
        reference.ReferencedSOPInstanceUID = source_uid
        reference.PurposeOfReferenceCodeSequence = [_code_item(_LOSSY_PREDECESSOR)]
        ds.SourceImageSequence = [reference]
        decoded = info.frame_count * info.width * info.height * 3 * (ds.BitsAllocated // 8)
        ratio = format_number_as_ds(max(decoded / size, 1.0))
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = [*_values(ds, "LossyImageCompressionRatio"), ratio]
        ds.LossyImageCompressionMethod = [
            *_values(ds, "LossyImageCompressionMethod"),
            target.method,
        ]
    step = MAX_FRAGMENT_BYTES
    windows = [FileWindow(stream, start, min(step, size - start)) for start in range(0, size, step)]
    ds["PixelData"] = DataElement(
        0x7FE00010, "OB", encapsulate_buffer(list(windows), has_bot=False), is_undefined_length=True
    )
    return ds


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return [str(value)]
    return [str(v) for v in value]


# --------------------------------------------------------------------------- sending


class _LinkDown(ConnectionError):
    """The association cannot go on: the connection broke or stalled while a data set was
    being sent, or no response came (``recorded``: the file's failure is already noted)."""

    def __init__(self, message: str, *, recorded: bool = False) -> None:
        super().__init__(message)
        self.recorded = recorded


class _ChunkedSends:
    """Switches pynetdicom's send-from-file mode on while any file is being sent.

    ``STORE_SEND_CHUNKED_DATASET`` is process-wide; it is set while at least one send from
    a file is under way here and restored after the last one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._before = False

    @contextmanager
    def active(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._before = pynetdicom_config.STORE_SEND_CHUNKED_DATASET
                pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    pynetdicom_config.STORE_SEND_CHUNKED_DATASET = self._before


_CHUNKED = _ChunkedSends()


class _Meter:
    """Cumulative progress over all files: each file weighs its size on disk."""

    def __init__(self, total: int, callback: Progress | None) -> None:
        self.total = total
        self.callback = callback
        self.done = 0
        self._weight = 0
        self._expected = 1
        self._sent = 0
        self._reported = -1

    def start(self, weight: int, expected_wire_bytes: int) -> None:
        self._weight, self._expected, self._sent = weight, max(1, expected_wire_bytes), 0

    def sent(self, nbytes: int) -> None:
        self._sent += nbytes
        now = self.done + min(self._weight, self._sent * self._weight // self._expected)
        if now - self._reported >= _PROGRESS_STEP:
            self._report(now)

    def finish(self) -> None:
        self.done += self._weight
        self._weight = self._sent = 0
        self._report(self.done)

    def _report(self, value: int) -> None:
        self._reported = value
        if self.callback is not None:
            self.callback(value, self.total)


def _pace(association: Association, meter: _Meter, stall_s: float) -> None:
    """Make this association's P-DATA wait for room in pynetdicom's send queue.

    pynetdicom turns a whole data set into P-DATA primitives in the caller's thread and
    queues them, unbounded, for its writer thread; here each P-DATA waits until fewer than
    ``_QUEUE_LIMIT`` are queued, and counts data-set bytes for the progress meter. Raises
    :class:`_LinkDown` (out of pynetdicom's send, which is then aborted) when the writer
    thread ended or took nothing for ``stall_s`` seconds.
    """
    dul = association.dul
    original = dul.send_pdu
    writer_queue = dul.to_provider_queue

    def send_pdu(primitive: object) -> None:
        if isinstance(primitive, P_DATA):
            waited_since: float | None = None
            while writer_queue.qsize() >= _QUEUE_LIMIT:
                if not dul.is_alive() or association.is_aborted:
                    raise _LinkDown("the connection closed while the data set was being sent")
                now = time.monotonic()
                if waited_since is None:
                    waited_since = now
                elif now - waited_since > stall_s:
                    raise _LinkDown(
                        f"the receiver took no data for {stall_s:g} s (network_timeout_s)"
                    )
                time.sleep(0.0005)
            if not dul.is_alive():
                raise _LinkDown("the connection closed while the data set was being sent")
            for _, value in primitive.presentation_data_value_list:
                if value and not value[0] & 0x01:  # message control header: data set
                    meter.sent(len(value) - 1)
        original(primitive)  # type: ignore[arg-type]

    dul.send_pdu = send_pdu  # type: ignore[method-assign]


def _uid_name(uid: str) -> str:
    name = UID(uid).name
    return name if name and name != uid else uid


class _Sender:
    """Sends the files of one :func:`store_files` call."""

    def __init__(
        self,
        factory: AssociationFactory,
        destination: Destination,
        ladder: list[VideoSyntax],
        meter: _Meter,
        work_dir: Path | None,
    ) -> None:
        self.factory = factory
        self.destination = destination
        self.ladder = ladder
        self.meter = meter
        self.work_dir = work_dir
        self.network = destination.network(factory.defaults)
        self.outcomes: list[StoreOutcome] = []
        self.failures: list[FileFailure] = []
        self._message_id = 0

    @property
    def peer(self) -> str:
        return self.destination.address

    # -- one association -------------------------------------------------------------

    def send_batch(self, batch: _Batch) -> list[tuple[FileItem, list[str]]]:
        """Send what can be sent as it is or decompressed; return the videos to transcode
        with the transfer syntaxes to try, best first."""
        contexts = [(abstract, [syntax]) for abstract, syntax in batch.pairs]
        to_transcode: list[tuple[FileItem, list[str]]] = []
        try:
            with self.factory.associate(
                self.destination, contexts, peer_sends_requests=False
            ) as association:
                _pace(association, self.meter, self.network.network_timeout_s)
                accepted = {
                    (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
                    for cx in association.accepted_contexts
                }
                for position, item in enumerate(batch.items):
                    try:
                        targets = self._send_item(association, item, accepted)
                    except _LinkDown as exc:
                        association.abort()
                        if not exc.recorded:
                            message = f"{item.label}: not stored on {self.peer}: {exc}"
                            self._fail(item, message, True)
                        self._not_sent(batch.items[position + 1 :], str(exc))
                        break
                    if targets:
                        to_transcode.append((item, targets))
        except AssociationFailed as exc:
            message = str(exc)
            if _NO_CONTEXT in message:  # say for each file what the receiver refused
                for item in batch.items:
                    self._fail(item, self._refusal(item, set()), False)
            else:
                self._not_sent(batch.items, message, transient=_association_transient(message))
        return to_transcode

    def _send_item(
        self, association: Association, item: FileItem, accepted: set[tuple[str, str]]
    ) -> list[str]:
        """Send one file if a context allows; return syntaxes to transcode a video to."""
        if (item.sop_class, item.syntax) in accepted:
            self._store_file(association, item, item.path, item.sop_uid, item.syntax)
            return []
        refused = self._refusal(item, accepted)
        if item.is_video:
            _, extra = _pairs_for(item, [s.uid for s in self.ladder])
            targets = [syntax for _, syntax in extra if (item.sop_class, syntax) in accepted]
            if not targets:
                self._fail(item, refused, False)
            return targets
        if (item.sop_class, EXPLICIT_VR_LITTLE_ENDIAN) not in accepted:
            self._fail(item, refused, False)
            return []
        try:
            dataset = self._uncompressed(item)
        except ValueError as exc:
            self._fail(item, str(exc), False)
            return []
        self._store_dataset(association, item, dataset)
        return []

    def _refusal(self, item: FileItem, accepted: set[tuple[str, str]]) -> str:
        """Why ``item`` cannot be sent as it is, in words."""
        aet = self.destination.ae_title
        sop_class = _uid_name(item.sop_class)
        own = _uid_name(item.syntax)
        if item.is_video:
            _, extra = _pairs_for(item, [s.uid for s in self.ladder])
            offered = [own, *(_uid_name(syntax) for _, syntax in extra)]
            advice = (
                "no transcode ladder is configured for this destination; add one with a video "
                "syntax it accepts"
                if not self.ladder
                else "add a syntax it accepts to the destination's transcode ladder"
            )
            return (
                f"{item.label}: {aet} accepts none of the video transfer syntaxes offered for "
                f"{sop_class} ({own}): offered {'; '.join(offered)}; video is never sent "
                f"uncompressed; {advice}"
            )
        if not any(abstract == item.sop_class for abstract, _ in accepted):
            return (
                f"{item.label}: {aet} ({self.peer}) accepted no presentation context for "
                f"{sop_class}: it does not store this SOP class, or takes neither {own} nor "
                "Explicit VR Little Endian for it"
            )
        return (
            f"{item.label}: {aet} ({self.peer}) accepts neither {own} nor Explicit VR "
            f"Little Endian for {sop_class}"
        )

    def _uncompressed(self, item: FileItem) -> Dataset:
        """The still of ``item`` decoded, to send in Explicit VR Little Endian."""
        try:
            dataset = dcmread(item.path)
        except Exception as exc:
            raise ValueError(f"{item.label}: cannot read it to convert it ({exc})") from exc
        syntax = UID(item.syntax)
        if syntax.is_compressed:
            try:
                dataset.decompress(generate_instance_uid=False)
            except Exception as exc:
                raise ValueError(
                    f"{item.label}: {self.destination.ae_title} accepts only Explicit VR Little "
                    f"Endian for {_uid_name(item.sop_class)} and the {_uid_name(item.syntax)} "
                    f"pixel data could not be decompressed here ({exc})"
                ) from exc
        elif not syntax.is_little_endian:
            raise ValueError(
                f"{item.label}: {self.destination.ae_title} does not accept "
                f"{_uid_name(item.syntax)} and izer does not convert big endian data sets"
            )
        return dataset

    def _next_message_id(self) -> int:
        self._message_id = self._message_id % 65535 + 1
        return self._message_id

    def _store_file(
        self,
        association: Association,
        item: FileItem,
        path: Path,
        sop_uid: str,
        syntax: str,
        *,
        transcoded: bool = False,
    ) -> None:
        _, offset = split_dataset(path)
        self.meter.start(item.size, path.stat().st_size - offset)
        with _CHUNKED.active():
            response = association.send_c_store(path, msg_id=self._next_message_id())
        self._record(association, item, response, sop_uid, syntax, transcoded=transcoded)

    def _store_dataset(self, association: Association, item: FileItem, dataset: Dataset) -> None:
        pixels = dataset.get("PixelData")
        self.meter.start(item.size, len(pixels) if pixels is not None else item.size)
        response = association.send_c_store(dataset, msg_id=self._next_message_id())
        self._record(association, item, response, item.sop_uid, EXPLICIT_VR_LITTLE_ENDIAN)

    def _record(
        self,
        association: Association,
        item: FileItem,
        response: Dataset,
        sop_uid: str,
        syntax: str,
        *,
        transcoded: bool = False,
    ) -> None:
        self.meter.finish()
        if "Status" not in response:
            if association.acse.is_aborted("a-abort"):
                why = "the receiver aborted the association (A-ABORT)"
            elif association.acse.is_aborted("a-p-abort"):
                why = "the connection closed"
            else:
                why = f"no answer within {self.network.dimse_timeout_s:g} s (dimse_timeout_s)"
            reason = f"no C-STORE response from {self.peer}: {why}"
            self._fail(item, f"{item.label}: {reason}", True)
            raise _LinkDown(reason, recorded=True)
        code = int(response.Status)
        meaning = status_meaning(code)
        comment = str(response.get("ErrorComment", "") or "").strip()
        words = f"0x{code:04X} {meaning.meaning}" + (f": {comment}" if comment else "")
        if not meaning.stored:
            self._fail(
                item,
                f"{item.label}: {self.peer} did not store it: status {words}",
                meaning.kind is StatusKind.TRANSIENT,
                status=code,
            )
            return
        warning = "" if meaning.kind is StatusKind.SUCCESS else words
        if warning:
            log.warning("%s: %s stored it with a warning: %s", item.label, self.peer, warning)
        self.outcomes.append(
            StoreOutcome(
                sop_uid=sop_uid,
                status=code,
                meaning=meaning.meaning,
                sent_syntax=syntax,
                transcoded=transcoded,
                warning=warning,
                source_sop_uid=item.sop_uid if sop_uid != item.sop_uid else "",
                path=str(item.path),
            )
        )

    def _fail(
        self, item: FileItem, message: str, transient: bool, status: int | None = None
    ) -> None:
        log.warning("%s", message)
        self.failures.append(FileFailure(item.path, item.sop_uid, message, transient, status))

    def _not_sent(self, items: Sequence[FileItem], reason: str, *, transient: bool = True) -> None:
        for item in items:
            self.meter.start(item.size, item.size)
            self.meter.finish()
            self._fail(item, f"{item.label}: not sent to {self.peer}: {reason}", transient)

    # -- transcoding -----------------------------------------------------------------

    def transcode_and_send(self, item: FileItem, targets: list[str]) -> None:
        """Transcode a video to the first of ``targets`` that can hold it, then send it on a
        new association (transcoding may take longer than a peer keeps an idle one)."""
        with tempfile.TemporaryDirectory(prefix="izer-send-", dir=self.work_dir) as folder:
            problems: list[str] = []
            for target in targets:
                try:
                    made = transcoded_instance(item.path, target, Path(folder))
                except TranscodeError as exc:
                    problems.append(f"{_uid_name(target)}: {exc}")
                    log.info("%s: cannot send it as %s: %s", item.label, _uid_name(target), exc)
                    continue
                except Exception as exc:  # a broken file or codec must not stop the others
                    log.exception("%s: transcoding to %s failed", item.label, _uid_name(target))
                    problems.append(f"{_uid_name(target)}: transcoding failed ({exc})")
                    continue
                log.info(
                    "%s: %s refuses %s; sending it as %s (%s)",
                    item.label,
                    self.destination.ae_title,
                    _uid_name(item.syntax),
                    _uid_name(target),
                    "re-wrapped" if made.remuxed else "re-encoded, new SOP Instance UID",
                )
                self._send_transcoded(item, made.path, made.sop_uid, target)
                return
            self._fail(
                item,
                f"{item.label}: {self.destination.ae_title} refuses {_uid_name(item.syntax)} "
                f"and the video could not be transcoded to a syntax it accepts: "
                + "; ".join(problems),
                False,
            )

    def _send_transcoded(self, item: FileItem, path: Path, sop_uid: str, syntax: str) -> None:
        try:
            with self.factory.associate(
                self.destination, [(item.sop_class, [syntax])]
            ) as association:
                _pace(association, self.meter, self.network.network_timeout_s)
                try:
                    self._store_file(association, item, path, sop_uid, syntax, transcoded=True)
                except _LinkDown as exc:
                    association.abort()
                    if not exc.recorded:
                        self._fail(item, f"{item.label}: not stored on {self.peer}: {exc}", True)
        except AssociationFailed as exc:
            message = str(exc)
            self._not_sent([item], message, transient=_association_transient(message))


#: How :class:`~izer.net.association.AssociationFactory` says that no context was accepted.
_NO_CONTEXT = "accepted none of the requested presentation contexts"


def _association_transient(message: str) -> bool:
    """Whether an association failure may pass: not when the peer rejected it permanently
    (PS3.8 9.3.4) or accepted none of the contexts (its configuration must change)."""
    return not ("rejected (permanent)" in message.lower() or _NO_CONTEXT in message)


def store_files(
    factory: AssociationFactory,
    destination: Destination,
    paths: Sequence[Path],
    *,
    ladder: Sequence[str] = (),
    progress: Progress | None = None,
    work_dir: Path | None = None,
) -> list[StoreOutcome]:
    """C-STORE Part-10 files to ``destination``, in order, over one association.

    More than 128 presentation contexts take several associations, and each transcoded
    video one more (see the module notes).

    Parameters
    ----------
    factory
        Opens the association (calling AE title, timeouts, PDU size, TLS).
    destination
        A DICOM destination.
    paths
        Part-10 files; only their file meta is read before the association.
    ladder
        Video syntaxes to transcode to when the receiver refuses a video's own syntax, best
        first, as :attr:`VideoSyntax.name_for_cli` names them (``"h264-hp41"``) or UIDs.
        A re-encoded video gets a new SOP Instance UID made from the old one and the
        syntax (the same on every retry) and refers to its source (PS3.3 C.7.6.1.1.5).
    progress
        Called with (bytes done, bytes total) over all files, the sizes of the files on
        disk; at least once per file and at most once per MiB sent.
    work_dir
        Where transcoded videos are written while they are sent (a temporary folder in it,
        removed after); the system's temporary folder by default.

    Returns
    -------
    list[StoreOutcome]
        One per file, in the order sent (transcoded videos after the other files).

    Raises
    ------
    StoreFailed
        After every file that could be sent was sent, when any file was not stored: the
        message names each failed file, the receiver and the reason; ``transient`` is True
        when trying again may help for one of them (peer down, A700 out of resources,
        association aborted or timed out).
    DeliveryError
        When the ladder names an unknown syntax (not transient).
    """
    ladder_syntaxes = _parse_ladder(ladder)
    items: list[FileItem] = []
    failures: list[FileFailure] = []
    for path in paths:
        path = Path(path)
        try:
            items.append(_read_item(path))
        except ValueError as exc:
            failures.append(FileFailure(path, "", str(exc), False))
    meter = _Meter(sum(item.size for item in items), progress)
    sender = _Sender(factory, destination, ladder_syntaxes, meter, work_dir)
    sender.failures.extend(failures)
    batches = plan_batches(items, [syntax.uid for syntax in ladder_syntaxes])
    if len(batches) > 1:
        log.warning(
            "%d files need %d presentation contexts, more than the %d one association holds: "
            "sending them over %d associations",
            len(items),
            sum(len(batch.pairs) for batch in batches),
            MAX_CONTEXTS,
            len(batches),
        )
    for batch in batches:
        for item, targets in sender.send_batch(batch):
            sender.transcode_and_send(item, targets)
    if sender.failures:
        raise _failed(destination, len(paths), sender.outcomes, sender.failures)
    return sender.outcomes


def _failed(
    destination: Destination,
    count: int,
    outcomes: list[StoreOutcome],
    failures: list[FileFailure],
) -> StoreFailed:
    transient = any(failure.transient for failure in failures)
    if len(failures) == 1:
        message = failures[0].message
    else:
        shown = "\n".join(f"- {failure.message}" for failure in failures[:10])
        more = f"\n- ... and {len(failures) - 10} more" if len(failures) > 10 else ""
        message = (
            f"{len(failures)} of {count} files were not stored on {destination.address}:\n"
            f"{shown}{more}"
        )
    return StoreFailed(message, transient=transient, outcomes=outcomes, failures=failures)
