"""DICOM instances back to ordinary files: video, pictures, documents and sound.

What each instance gives (the caller names and writes the files; nothing here writes to the
export folder):

- **Video** (any MPEG-2, H.264 or HEVC transfer syntax, PS3.5 8.2.5-8.2.11): the fragments of
  Pixel Data concatenated, streamed from the file, never held in memory. A stream already in
  MP4 is written byte for byte; its top-level box sizes tell where it really ends, so the
  0x00 that pads an odd-length stream to an even fragment (PS3.5 A.4) is dropped only when the
  boxes say it is padding. MPEG-2 program and elementary streams and MPEG-2 transport streams
  are remuxed to MP4 by stream copy (no re-encoding: MP4 carries an index, so players seek and
  show the duration); when the MP4 muxer cannot take a stream, the original is kept (``.mpg``,
  ``.m2v``, ``.ts``) with a note.
- **Stills** (anything else with Pixel Data): decoded with pydicom, YBR as RGB, written as
  JPEG (quality 95 by default) or PNG, one file per frame. A single-frame baseline JPEG
  (1.2.840.10008.1.2.4.50) goes out as stored, without a second generation of loss. More than
  8 bits to JPEG: the Modality LUT, then the first VOI window (PS3.3 C.11.2.1.2) or, without
  one, the frame's minimum to maximum, to 8 bits. PNG keeps the stored values (16-bit PNG
  above 8 bits). MONOCHROME1 is inverted for display (PS3.3 C.7.6.3.1.2).
- **Encapsulated documents** (PDF, CDA, STL, OBJ, MTL): the document, cut to Encapsulated
  Document Length when present.
- **Audio waveforms** (Basic Voice Audio, General Audio): the first multiplex group as a
  16-bit PCM WAV file, G.711 mu-law and A-law expanded.
- Anything else (presentation states, SR, key object selections...) is skipped with a reason.
"""

from __future__ import annotations

import enum
import io
import os
import struct
import tempfile
import warnings
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, iter_pixels
from pydicom.uid import (
    UID,
    BasicVoiceAudioWaveformStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    GeneralAudioWaveformStorage,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from izer.encode.fragments import CHUNK_BYTES, FragmentReader, copy_stream, fragment_ranges
from izer.encode.voice_audio import SampleEncoding, expand

#: The video transfer syntaxes (PS3.5 8.2.5-8.2.11) and the codec of each.
VIDEO_TRANSFER_SYNTAXES: dict[str, str] = {
    "1.2.840.10008.1.2.4.100": "mpeg2video",
    "1.2.840.10008.1.2.4.100.1": "mpeg2video",
    "1.2.840.10008.1.2.4.101": "mpeg2video",
    "1.2.840.10008.1.2.4.101.1": "mpeg2video",
    "1.2.840.10008.1.2.4.102": "h264",
    "1.2.840.10008.1.2.4.102.1": "h264",
    "1.2.840.10008.1.2.4.103": "h264",
    "1.2.840.10008.1.2.4.103.1": "h264",
    "1.2.840.10008.1.2.4.104": "h264",
    "1.2.840.10008.1.2.4.104.1": "h264",
    "1.2.840.10008.1.2.4.105": "h264",
    "1.2.840.10008.1.2.4.105.1": "h264",
    "1.2.840.10008.1.2.4.106": "h264",
    "1.2.840.10008.1.2.4.106.1": "h264",
    "1.2.840.10008.1.2.4.107": "hevc",
    "1.2.840.10008.1.2.4.108": "hevc",
}

#: Waveform IODs whose first multiplex group is sound (PS3.3 A.34.2, A.34.11).
AUDIO_SOP_CLASSES = frozenset({BasicVoiceAudioWaveformStorage, GeneralAudioWaveformStorage})

#: MIME Type of Encapsulated Document (0042,0012) -> file extension (PS3.3 C.24.2).
DOCUMENT_EXTENSIONS: dict[str, str] = {
    "application/pdf": ".pdf",
    "text/xml": ".xml",
    "model/stl": ".stl",
    "model/x.stl-binary": ".stl",
    "application/sla": ".stl",
    "model/obj": ".obj",
    "model/mtl": ".mtl",
}

_MP4_TOP_LEVEL = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"moof", b"uuid"}
)


class ExportKind(enum.StrEnum):
    """What an instance becomes; the value goes into the file name."""

    VIDEO = "video"
    IMAGE = "image"
    DOCUMENT = "document"
    AUDIO = "audio"


class StillFormat(enum.StrEnum):
    """File format of exported stills."""

    JPEG = "jpeg"
    PNG = "png"

    @property
    def extension(self) -> str:
        """``.jpg`` or ``.png``."""
        return ".jpg" if self is StillFormat.JPEG else ".png"

    @classmethod
    def from_text(cls, text: str) -> StillFormat:
        """``jpeg``/``jpg`` or ``png``.

        Raises
        ------
        ValueError
            Naming the accepted values.
        """
        wanted = text.strip().lower()
        if wanted == "jpg":
            return cls.JPEG
        try:
            return cls(wanted)
        except ValueError:
            raise ValueError(f"unknown still format {text!r}; use jpeg or png") from None


class NotDicomError(ValueError):
    """A file that is not a DICOM Part-10 file."""


@dataclass(frozen=True)
class SourceInstance:
    """One DICOM file, read up to its Pixel Data, and what it can be exported as.

    Attributes
    ----------
    header
        Every attribute but Pixel Data (documents and waveforms are complete).
    pixel_data_offset
        Where the Pixel Data element starts in the file; ``None`` without Pixel Data.
    kind
        What it becomes, or ``None`` when it is skipped (``skip_reason`` says why).
    """

    path: Path
    header: Dataset
    transfer_syntax: str
    pixel_data_offset: int | None
    kind: ExportKind | None
    skip_reason: str = ""


@dataclass(frozen=True)
class Output:
    """One file to write: its extension, the frame it holds, and how to write it."""

    extension: str
    write: Callable[[BinaryIO], None]
    frame: int | None = None
    notes: tuple[str, ...] = field(default=())


def read_instance(path: Path | str) -> SourceInstance:
    """Read the header of a DICOM file and classify it (Pixel Data is not read).

    Raises
    ------
    NotDicomError
        When the file is neither a DICOM Part-10 file nor a bare dataset (no preamble and
        file meta) that names its SOP Class and Instance.
    ValueError
        ``"<file>: ..."`` when it cannot be read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            try:
                header = dcmread(handle, stop_before_pixels=True)
            except InvalidDicomError:
                header = _headerless(handle, path)
            position = handle.tell()
            tag = handle.read(4)
    except NotDicomError:
        raise
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (EOFError, ValueError, KeyError, struct.error) as exc:
        raise ValueError(f"{path}: damaged DICOM file ({exc})") from None
    meta = getattr(header, "file_meta", Dataset())
    syntax = str(meta.get("TransferSyntaxUID", "")) or _syntax_as_read(header)
    if syntax == DeflatedExplicitVRLittleEndian:
        has_pixels = "PixelData" in dcmread(path, specific_tags=["PixelData"])
        offset = None
    else:
        pixel_tag = b"\x7f\xe0\x00\x10" if syntax == ExplicitVRBigEndian else b"\xe0\x7f\x10\x00"
        has_pixels = tag == pixel_tag
        offset = position if has_pixels else None
    kind, reason = _classify(header, syntax, has_pixels)
    return SourceInstance(path, header, syntax, offset, kind, reason)


def _headerless(handle: BinaryIO, path: Path) -> Dataset:
    """A dataset written without preamble and file meta (old files, PS3.10 7.1 not followed).

    Accepted only when it names its SOP Class and Instance; anything else is not DICOM.
    """
    handle.seek(0)
    try:
        with warnings.catch_warnings():  # pydicom warns about every oddity of a forced read
            warnings.simplefilter("ignore")
            header = dcmread(handle, stop_before_pixels=True, force=True)
    except Exception:  # whatever a non-DICOM file makes the forced parser do
        raise NotDicomError(f"{path}: not a DICOM file") from None
    if not (header.get("SOPClassUID") and header.get("SOPInstanceUID")):
        raise NotDicomError(f"{path}: not a DICOM file")
    return header


def _syntax_as_read(header: Dataset) -> str:
    """The transfer syntax a file without file meta was read in (pydicom's guess)."""
    implicit, little = header.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


def _classify(header: Dataset, syntax: str, has_pixels: bool) -> tuple[ExportKind | None, str]:
    meta = getattr(header, "file_meta", Dataset())
    sop_class = str(header.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "")
    if syntax in VIDEO_TRANSFER_SYNTAXES:
        if not has_pixels:
            return None, "a video transfer syntax but no Pixel Data"
        return ExportKind.VIDEO, ""
    if has_pixels:
        return ExportKind.IMAGE, ""
    if "EncapsulatedDocument" in header:
        mime = str(header.get("MIMETypeOfEncapsulatedDocument", "")).strip().lower()
        if mime not in DOCUMENT_EXTENSIONS:
            return None, f"an encapsulated document of unknown MIME type {mime!r}"
        return ExportKind.DOCUMENT, ""
    if sop_class in AUDIO_SOP_CLASSES and header.get("WaveformSequence"):
        return ExportKind.AUDIO, ""
    name = UID(sop_class).name if sop_class else "no SOP Class UID"
    if "FloatPixelData" in header or "DoubleFloatPixelData" in header:
        return None, f"{name}: float pixel data is not exported"
    return None, f"{name}: no image, video, document or sound to export"


def outputs(
    source: SourceInstance,
    *,
    stills: StillFormat = StillFormat.JPEG,
    quality: int = 95,
    scratch: Path | None = None,
) -> Iterator[Output]:
    """The files ``source`` exports to, made one at a time (frames are decoded lazily).

    Parameters
    ----------
    stills
        JPEG or PNG for pictures.
    quality
        JPEG quality, 1-100.
    scratch
        Folder for the temporary file of an MPEG-2 remux (system temporary folder if None).

    Raises
    ------
    ValueError
        When the instance cannot be exported (message says why), or for a skipped one.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1 to 100, got {quality}")
    if source.kind is ExportKind.VIDEO:
        yield from _video_outputs(source, scratch)
    elif source.kind is ExportKind.IMAGE:
        yield from _still_outputs(source, StillFormat(stills), quality)
    elif source.kind is ExportKind.DOCUMENT:
        yield _document_output(source.header)
    elif source.kind is ExportKind.AUDIO:
        yield _audio_output(source.header)
    else:
        raise ValueError(source.skip_reason or "nothing to export")


# -- video ---------------------------------------------------------------------------------------


class Container(enum.Enum):
    """How the bit stream in Pixel Data is packaged: (FFmpeg demuxer, raw file extension)."""

    MP4 = ("mp4", ".mp4")
    QUICKTIME = ("mov", ".mov")
    TRANSPORT_STREAM = ("mpegts", ".ts")
    PROGRAM_STREAM = ("mpeg", ".mpg")
    MPEG_VIDEO_ES = ("mpegvideo", ".m2v")
    H264_ANNEX_B = ("h264", ".h264")
    HEVC_ANNEX_B = ("hevc", ".hevc")
    UNKNOWN = (None, ".bin")

    @property
    def demuxer(self) -> str | None:
        """FFmpeg input format name (``None``: let FFmpeg probe)."""
        return self.value[0]

    @property
    def extension(self) -> str:
        """Extension of the stream written as stored."""
        return self.value[1]


def sniff_container(head: bytes, codec: str) -> Container:
    """The container of a video bit stream from its first bytes (ISO/IEC 14496-12, 13818-1)."""
    if len(head) >= 8 and head[4:8] in _MP4_TOP_LEVEL:
        if head[4:8] == b"ftyp" and head[8:12] == b"qt  ":
            return Container.QUICKTIME
        return Container.MP4
    if head[:1] == b"\x47" and (len(head) < 189 or head[188:189] == b"\x47"):
        return Container.TRANSPORT_STREAM
    if len(head) > 196 and head[4:5] == b"\x47" and head[196:197] == b"\x47":
        return Container.TRANSPORT_STREAM  # 192-byte packets (M2TS)
    if head.startswith(b"\x00\x00\x01\xba"):
        return Container.PROGRAM_STREAM
    if head.startswith(b"\x00\x00\x01\xb3"):
        return Container.MPEG_VIDEO_ES
    if head.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")):
        if codec == "h264":
            return Container.H264_ANNEX_B
        if codec == "hevc":
            return Container.HEVC_ANNEX_B
    return Container.UNKNOWN


def mp4_end(reader: FragmentReader) -> tuple[int, str | None]:
    """Where an MP4 stream really ends, by its top-level box sizes (ISO/IEC 14496-12 4.2).

    Returns the length to write and a note when the boxes do not explain the stored length
    (then every stored byte is kept).
    """
    total = reader.total
    position = 0
    while total - position >= 8:
        header = reader.pread(position, 16)
        size, box = struct.unpack(">I4s", header[:8])
        if size == 1 and len(header) == 16:
            size = struct.unpack(">Q", header[8:16])[0]
        elif size == 0:  # the last box runs to the end: padding cannot be told apart
            return total, None
        if size < 8 or not all(32 <= ch < 127 for ch in box):
            return total, f"MP4 box structure unreadable at byte {position}; written as stored"
        position += size
    if position == total:
        return total, None
    if position == total - 1 and reader.pread(total - 1, 1) == b"\x00":
        return total - 1, None
    return total, (
        f"MP4 boxes end at byte {position} but {total} bytes are stored; written as stored"
    )


def _raw_end(reader: FragmentReader, container: Container) -> int:
    """Length of a non-MP4 stream without its padding byte, when its structure shows it."""
    total = reader.total
    if total == 0 or reader.pread(total - 1, 1) != b"\x00":
        return total
    if container is Container.TRANSPORT_STREAM:
        return total - 1 if total % 188 == 1 or total % 192 == 1 else total
    tail = reader.pread(max(0, total - 5), 5)
    if container is Container.PROGRAM_STREAM and tail == b"\x00\x00\x01\xb9\x00":
        return total - 1
    if container is Container.MPEG_VIDEO_ES and tail == b"\x00\x00\x01\xb7\x00":
        return total - 1
    return total


def _video_outputs(source: SourceInstance, scratch: Path | None) -> Iterator[Output]:
    assert source.pixel_data_offset is not None
    codec = VIDEO_TRANSFER_SYNTAXES[source.transfer_syntax]
    ranges = fragment_ranges(source.path, source.pixel_data_offset)
    if not ranges or sum(length for _offset, length in ranges) == 0:
        raise ValueError("Pixel Data holds no video (no fragments)")
    with FragmentReader(source.path, ranges) as reader:
        container = sniff_container(reader.pread(0, 512), codec)
        if container in (Container.MP4, Container.QUICKTIME):
            end, note = mp4_end(reader)
            notes = (note,) if note else ()
        else:
            end, notes = _raw_end(reader, container), ()

    def write_stored(target: BinaryIO) -> None:
        with FragmentReader(source.path, ranges, end) as stored:
            copy_stream(stored, target, end)

    if container in (Container.MP4, Container.QUICKTIME):
        yield Output(container.extension, write_stored, notes=notes)
        return
    handle, name = tempfile.mkstemp(prefix=".izer-tmp-remux-", suffix=".mp4", dir=scratch)
    os.close(handle)
    remuxed = Path(name)
    try:
        try:
            with FragmentReader(source.path, ranges, end) as stored:
                remux_to_mp4(io.BufferedReader(stored, CHUNK_BYTES), remuxed, container.demuxer)
        except RemuxError as exc:
            kept = container.extension
            if container is Container.UNKNOWN:
                kept = {"mpeg2video": ".mpg", "h264": ".h264", "hevc": ".hevc"}[codec]
            note = f"kept as {kept} (the stream could not be remuxed to MP4: {exc})"
            yield Output(kept, write_stored, notes=(note,))
            return

        def write_remuxed(target: BinaryIO) -> None:
            with open(remuxed, "rb") as made:
                copy_stream(made, target)

        what = f"{container.demuxer or codec} stream"
        yield Output(".mp4", write_remuxed, notes=(f"{what} remuxed to MP4 (stream copy)",))
    finally:
        remuxed.unlink(missing_ok=True)


class RemuxError(ValueError):
    """A stream the MP4 muxer cannot take as it is."""


def remux_to_mp4(source: BinaryIO, target: Path, demuxer: str | None = None) -> None:
    """Copy the video and audio packets of ``source`` into the MP4 file ``target``, moov first.

    ``target`` is a path, not a file object: FFmpeg reopens it to move the moov box forward.

    Timestamps are shifted so that the file starts at 0 (as ``ffmpeg -c copy`` does); HEVC
    gets the ``hvc1`` sample entry. Nothing is decoded or re-encoded.

    Raises
    ------
    RemuxError
        When FFmpeg cannot read or mux the stream, it carries streams MP4 cannot hold, or
        packets lack timestamps (nothing may be lost silently).
    """
    try:
        with av.open(source, "r", format=demuxer, options={"fflags": "+genpts"}) as given:
            streams = list(given.streams)
            others = [s.type for s in streams if s.type not in ("video", "audio")]
            if others:
                raise RemuxError(f"it also carries {', '.join(others)} streams")
            if not given.streams.video:
                raise RemuxError("FFmpeg finds no video stream in it")
            with av.open(target, "w", format="mp4", options={"movflags": "+faststart"}) as made:
                mapping = {}
                for stream in streams:
                    out = made.add_stream_from_template(stream)
                    if stream.codec_context.name == "hevc":
                        out.codec_tag = "hvc1"
                    mapping[stream.index] = out
                start = Fraction(given.start_time or 0, 1_000_000)
                for packet in given.demux(streams):
                    if packet.size == 0:
                        continue  # the demuxer's end-of-stream marker
                    if packet.pts is None and packet.dts is None:
                        raise RemuxError("a packet has no timestamp")
                    shift = int(start / packet.time_base) if packet.time_base else 0
                    if packet.pts is not None:
                        packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                    packet.stream = mapping[packet.stream.index]
                    made.mux(packet)
    except RemuxError:
        raise
    except (av.FFmpegError, ValueError) as exc:
        raise RemuxError(str(exc) or type(exc).__name__) from None


# -- stills --------------------------------------------------------------------------------------


def _still_outputs(source: SourceInstance, stills: StillFormat, quality: int) -> Iterator[Output]:
    header = source.header
    frames = _number_of_frames(header)
    if stills is StillFormat.JPEG and frames == 1 and source.transfer_syntax == JPEGBaseline8Bit:
        stored = _stored_jpeg(source)
        if stored is not None:
            note = "baseline JPEG written as stored (no re-encoding)"
            yield Output(".jpg", _bytes_writer(stored), notes=(note,))
            return
    notes = tuple(_still_notes(header, stills))
    try:
        decoded = iter_pixels(_pixel_source(source), as_rgb=True)
        for number, frame in enumerate(decoded, start=1):
            data = encode_still(frame, header, stills, quality)
            yield Output(
                stills.extension,
                _bytes_writer(data),
                frame=number if frames > 1 else None,
                notes=notes if number == 1 else (),
            )
    except (NotImplementedError, RuntimeError) as exc:
        raise ValueError(f"the pixels cannot be decoded here: {exc}") from None


def _pixel_source(source: SourceInstance) -> Path | Dataset:
    """The file, or for a file without file meta the dataset with its transfer syntax set."""
    if "TransferSyntaxUID" in getattr(source.header, "file_meta", Dataset()):
        return source.path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dcmread(source.path, force=True)
    dataset.file_meta.TransferSyntaxUID = UID(source.transfer_syntax)
    return dataset


def _number_of_frames(header: Dataset) -> int:
    try:
        return max(1, int(header.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _stored_jpeg(source: SourceInstance) -> bytes | None:
    """The JPEG of a single-frame baseline instance, when a viewer shows it as DICOM does."""
    photometric = str(source.header.get("PhotometricInterpretation", ""))
    if photometric not in ("YBR_FULL_422", "YBR_FULL", "MONOCHROME2"):
        return None
    if source.pixel_data_offset is None:
        return None
    ranges = fragment_ranges(source.path, source.pixel_data_offset)
    with FragmentReader(source.path, ranges) as reader:
        data = reader.read()
    if not data.startswith(b"\xff\xd8"):
        return None
    if data.endswith(b"\xff\xd9\x00"):  # the even-length padding after EOI (PS3.5 A.4)
        data = data[:-1]
    return data


def _still_notes(header: Dataset, stills: StillFormat) -> list[str]:
    notes = []
    if str(header.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        notes.append("MONOCHROME1 inverted for display")
    if _is_color(header):
        return notes
    bits = int(header.get("BitsStored") or 8)
    if stills is StillFormat.JPEG and (bits != 8 or _signed(header)):
        center, width = _window(header)
        if center is not None:
            notes.append(f"{bits}-bit values windowed to 8 bits (center {center}, width {width})")
        else:
            notes.append(f"{bits}-bit values scaled from the minimum to the maximum to 8 bits")
    elif stills is StillFormat.PNG and _signed(header):
        notes.append(f"signed values shifted by +{1 << (bits - 1)} to fit an unsigned PNG")
    return notes


def _is_color(header: Dataset) -> bool:
    return int(header.get("SamplesPerPixel") or 1) > 1 or (
        str(header.get("PhotometricInterpretation", "")) == "PALETTE COLOR"
    )


def _signed(header: Dataset) -> bool:
    return int(header.get("PixelRepresentation") or 0) == 1


def encode_still(frame: np.ndarray, header: Dataset, stills: StillFormat, quality: int) -> bytes:
    """One decoded frame (RGB or grayscale, as pydicom gives it) as JPEG or PNG bytes."""
    photometric = str(header.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        frame = _to_uint8_color(apply_color_lut(frame, header))
    if frame.ndim == 3:
        if stills is StillFormat.JPEG and frame.dtype != np.uint8:
            frame = _to_uint8_color(frame, int(header.get("BitsStored") or 16))
        elif frame.dtype not in (np.uint8, np.uint16):
            frame = _to_uint8_color(frame, int(header.get("BitsStored") or 8))
        image = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
    elif stills is StillFormat.JPEG:
        image = display_gray_8bit(frame, header)
    else:
        image = stored_gray_png(frame, header)
    return _encode(image, stills, quality)


def _encode(image: np.ndarray, stills: StillFormat, quality: int) -> bytes:
    if stills is StillFormat.JPEG:
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image")
    return buffer.tobytes()


def _to_uint8_color(rgb: np.ndarray, bits: int | None = None) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    top = bits if bits is not None else (16 if rgb.max(initial=0) > 255 else 8)
    shift = max(0, top - 8)
    return np.clip(rgb.astype(np.int64) >> shift, 0, 255).astype(np.uint8)


def display_gray_8bit(frame: np.ndarray, header: Dataset) -> np.ndarray:
    """A grayscale frame as 8 bits for display (PS3.3 C.11.2.1.2, C.7.6.3.1.2).

    8-bit unsigned stored values are kept; others go through the Modality LUT (Rescale Slope
    and Intercept or Modality LUT Sequence), then the first VOI window (LINEAR, LINEAR_EXACT
    or SIGMOID), or the frame's minimum to maximum without a window. MONOCHROME1 is inverted.
    """
    bits = int(header.get("BitsStored") or 8)
    if bits == 8 and not _signed(header) and frame.dtype == np.uint8:
        out = frame
    else:
        values = _modality_values(frame, header)
        center, width = _window(header)
        if center is not None and width is not None:
            function = str(header.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
            scaled = window(values, center, width, function)
        else:
            low, high = (float(values.min()), float(values.max())) if values.size else (0, 0)
            span = high - low
            scaled = (values - low) * (255.0 / span) if span > 0 else np.zeros_like(values)
        out = np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)
    if str(header.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """VOI windowing to 0..255 floats (PS3.3 C.11.2.1.2.1-C.11.2.1.3.2)."""
    x = values.astype(np.float64)
    if function == "SIGMOID":
        return 255.0 / (1.0 + np.exp(-4.0 * (x - center) / max(width, 1e-9)))
    if function == "LINEAR_EXACT":
        return ((x - center) / max(width, 1e-9) + 0.5) * 255.0
    if width <= 1:
        return np.where(x > center - 0.5, 255.0, 0.0)
    return ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0


def _modality_values(frame: np.ndarray, header: Dataset) -> np.ndarray:
    if "ModalityLUTSequence" in header:
        return np.asarray(apply_modality_lut(frame, header), dtype=np.float64)
    slope = _attribute(header, "RescaleSlope", "PixelValueTransformationSequence")
    intercept = _attribute(header, "RescaleIntercept", "PixelValueTransformationSequence")
    values = frame.astype(np.float64)
    if slope is not None and float(slope) != 1.0:
        values *= float(slope)
    if intercept is not None and float(intercept) != 0.0:
        values += float(intercept)
    return values


def _window(header: Dataset) -> tuple[float | None, float | None]:
    center = _attribute(header, "WindowCenter", "FrameVOILUTSequence")
    width = _attribute(header, "WindowWidth", "FrameVOILUTSequence")
    if center is None or width is None:
        return None, None
    try:
        return float(center), float(width)
    except (TypeError, ValueError):
        return None, None


def _attribute(header: Dataset, keyword: str, functional_group: str) -> object | None:
    """The first value of ``keyword`` at the top level, else in the shared or first frame's
    functional group macro (PS3.3 C.7.6.16)."""
    value = header.get(keyword)
    if value is None:
        for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            for item in (header.get(groups) or [])[:1]:
                for macro in item.get(functional_group) or []:
                    value = macro.get(keyword)
                    if value is not None:
                        break
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    return value


def stored_gray_png(frame: np.ndarray, header: Dataset) -> np.ndarray:
    """A grayscale frame with its stored values for PNG: 8 bits up to 8 stored, else 16.

    Signed values are shifted by ``2**(BitsStored-1)``; MONOCHROME1 is inverted within
    ``2**BitsStored - 1``; more than 16 bits are scaled from minimum to maximum to 16 bits.
    """
    bits = int(header.get("BitsStored") or 8)
    values = frame.astype(np.int64)
    if _signed(header):
        values = values + (1 << (bits - 1))
    if values.size and (bits > 16 or values.min() < 0 or values.max() >= (1 << bits)):
        low, high = int(values.min()), int(values.max())
        values = (values - low) * 65535 // max(1, high - low)
        bits = 16
    if str(header.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        values = ((1 << bits) - 1) - values
    return values.astype(np.uint8 if bits <= 8 else np.uint16)


def _bytes_writer(data: bytes) -> Callable[[BinaryIO], None]:
    def write(target: BinaryIO) -> None:
        target.write(data)

    return write


# -- documents and sound -------------------------------------------------------------------------


def document_bytes(header: Dataset) -> tuple[bytes, str]:
    """The encapsulated document and its extension (PS3.3 C.24.2).

    Encapsulated Document Length (0042,0011), when present, tells the size without padding;
    without it a PDF loses one trailing NUL after ``%%EOF`` and XML its trailing NULs.
    """
    data = bytes(header.EncapsulatedDocument)
    mime = str(header.get("MIMETypeOfEncapsulatedDocument", "")).strip().lower()
    extension = DOCUMENT_EXTENSIONS[mime]
    length = header.get("EncapsulatedDocumentLength")
    if length is not None and 0 < int(length) <= len(data):
        return data[: int(length)], extension
    if extension == ".pdf" and data.endswith(b"\x00") and data[:-1].rstrip().endswith(b"%%EOF"):
        return data[:-1], extension
    if extension == ".xml":
        return data.rstrip(b"\x00"), extension
    return data, extension


def _document_output(header: Dataset) -> Output:
    data, extension = document_bytes(header)
    return Output(extension, _bytes_writer(data))


def waveform_samples(group: Dataset) -> np.ndarray:
    """The samples of one audio multiplex group as int16 ``(n, channels)`` (PS3.3 C.10.9).

    Raises
    ------
    ValueError
        For a Waveform Sample Interpretation that is not sound.
    """
    channels = int(group.NumberOfWaveformChannels)
    count = int(group.NumberOfWaveformSamples)
    interpretation = str(group.WaveformSampleInterpretation)
    data = bytes(group.WaveformData)
    if interpretation in ("MB", "AB", "UB"):
        needed = count * channels
        if len(data) < needed:
            raise ValueError(f"Waveform Data holds {len(data)} bytes, {needed} are declared")
        return expand(data[:needed], SampleEncoding(interpretation), channels)
    if interpretation == "SB":
        octets = np.frombuffer(data[: count * channels], dtype=np.int8)
        return (octets.astype(np.int16) << 8).reshape(-1, channels)
    if interpretation in ("SS", "US"):
        words = np.frombuffer(
            data[: 2 * count * channels], dtype="<i2" if interpretation == "SS" else "<u2"
        )
        if interpretation == "US":
            words = (words.astype(np.int32) - 32768).astype(np.int16)
        return words.astype(np.int16).reshape(-1, channels)
    raise ValueError(f"Waveform Sample Interpretation {interpretation!r} is not sound")


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """A 16-bit PCM WAV file of int16 ``(n, channels)`` samples."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(samples.shape[1])
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


def _audio_output(header: Dataset) -> Output:
    groups = header.WaveformSequence
    group = groups[0]
    rate = round(float(group.SamplingFrequency))
    if rate <= 0:
        raise ValueError(f"Sampling Frequency {group.SamplingFrequency} is not usable")
    notes = (f"only the first of {len(groups)} multiplex groups",) if len(groups) > 1 else ()
    return Output(".wav", _bytes_writer(wav_bytes(waveform_samples(group), rate)), notes=notes)
