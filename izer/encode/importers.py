"""Reading input files: images into frames, and JPEG / JPEG 2000 files as they are.

Every format is recognised by its content, never by its extension (a PNG named ``.jpg`` is
read as a PNG; a text file named ``.jpg`` is refused). A media container (MP4/QuickTime,
Matroska/WebM, AVI, MPEG program or transport stream, Ogg...) is a *video* when it holds a
video stream other than a cover picture, and a *sound file* when it holds only sound
(:func:`media_kind`). Image sizes are read from the header and
checked against :data:`MAX_SIDE` and :data:`MAX_FRAME_PIXELS` before anything is decoded.

A baseline JPEG (SOF0, 8-bit, 1 or 3 components) or a JPEG 2000 codestream / JP2 file can be
encapsulated without re-encoding (PS3.5 A.4, 8.2.1 and 8.2.4): :func:`encapsulated` turns such
frames into the :class:`~izer.encode.pixels.EncodedPixels` and
:class:`~izer.encode.pixels.PixelLayout` that :func:`izer.encode.modules.set_pixels` writes.

Every problem with an input is an :class:`InputError` (a ``ValueError``) naming the file.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.encaps import encapsulate

from izer.encode.codestreams import (
    jp2_codestream,
    jpeg_photometric,
    parse_j2k,
    parse_jpeg,
)
from izer.encode.input_errors import InputError, display_name
from izer.encode.pixels import EncodedPixels, PixelLayout
from izer.encode.transfer_syntaxes import TransferSyntax

#: Largest number of rows or columns accepted (DICOM allows 65535; decoding a bigger image
#: from a file is almost always a mistake and costs gigabytes).
MAX_SIDE = 20000
#: Largest frame accepted, in pixels (150 megapixels: 450 MB as RGB).
MAX_FRAME_PIXELS = 150_000_000
#: Largest decoded size of one file, all pages together.
MAX_FILE_DECODED_BYTES = 2 * 1024**3
#: Most pages read from one TIFF file.
MAX_PAGES = 10000


class InputKind(enum.Enum):
    """What a file holds, which decides the IOD when none is asked for."""

    IMAGE = "image"
    DOCUMENT = "document"
    AUDIO = "audio"
    VIDEO = "video"


class FileFormat(enum.Enum):
    """File formats izer reads, with the kind of content they hold."""

    JPEG = ("JPEG", InputKind.IMAGE)
    PNG = ("PNG", InputKind.IMAGE)
    TIFF = ("TIFF", InputKind.IMAGE)
    BMP = ("BMP", InputKind.IMAGE)
    WEBP = ("WebP", InputKind.IMAGE)
    J2K = ("JPEG 2000 codestream", InputKind.IMAGE)
    JP2 = ("JP2", InputKind.IMAGE)
    PDF = ("PDF", InputKind.DOCUMENT)
    WAV = ("WAV", InputKind.AUDIO)
    FLAC = ("FLAC", InputKind.AUDIO)
    OGG = ("Ogg", InputKind.AUDIO)
    MP3 = ("MP3", InputKind.AUDIO)
    MP4_AUDIO = ("MPEG-4 audio", InputKind.AUDIO)
    MP4 = ("MP4/QuickTime", InputKind.VIDEO)
    MATROSKA = ("Matroska/WebM", InputKind.VIDEO)
    AVI = ("AVI", InputKind.VIDEO)
    MPEG_PS = ("MPEG program stream", InputKind.VIDEO)
    MPEG_TS = ("MPEG transport stream", InputKind.VIDEO)
    MPEG_VIDEO = ("MPEG video stream", InputKind.VIDEO)
    ASF = ("ASF/WMV", InputKind.VIDEO)
    FLV = ("Flash video", InputKind.VIDEO)

    @property
    def label(self) -> str:
        """Name for messages."""
        return self.value[0]

    @property
    def kind(self) -> InputKind:
        """Image, document or audio."""
        return self.value[1]


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_UNSUPPORTED = (
    (b"GIF87a", "GIF images are not supported; convert it to PNG"),
    (b"GIF89a", "GIF images are not supported; convert it to PNG"),
    (b"PK\x03\x04", "a ZIP archive is not an image; unpack it first"),
    (b"\x1f\x8b", "a gzip archive is not an image; unpack it first"),
    (b"8BPS", "Photoshop files are not supported; export a PNG or TIFF"),
)
#: ISO base media brands of still pictures (HEIF, AVIF), not video.
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
#: Containers that may hold video or only sound: :func:`media_kind` looks inside.
_MEDIA_CONTAINERS = frozenset(
    {
        FileFormat.MP4,
        FileFormat.MP4_AUDIO,
        FileFormat.MATROSKA,
        FileFormat.AVI,
        FileFormat.MPEG_PS,
        FileFormat.MPEG_TS,
        FileFormat.ASF,
        FileFormat.FLV,
        FileFormat.OGG,
    }
)


def sniff(data: bytes, path: Path | str = "<data>") -> FileFormat:
    """The format of ``data`` from its first bytes.

    Raises
    ------
    InputError
        For an empty file, a known but unsupported format (GIF, DICOM, HEIC...), or content
        that is no format izer reads (text, HTML...).
    """
    if not data:
        raise InputError(path, "the file is empty (0 bytes)")
    head = data[:32]
    if head.startswith(b"\xff\xd8"):
        return FileFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileFormat.PNG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return FileFormat.TIFF
    if head.startswith(b"BM") and not _looks_like_text(data[:64]):
        return FileFormat.BMP
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return FileFormat.WEBP
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return FileFormat.WAV
    if head.startswith(b"\xff\x4f\xff\x51"):
        return FileFormat.J2K
    if head.startswith(_JP2_SIGNATURE):
        return FileFormat.JP2
    if head.startswith(b"%PDF-"):
        return FileFormat.PDF
    if head.startswith(b"fLaC"):
        return FileFormat.FLAC
    if head.startswith(b"OggS"):
        return FileFormat.OGG
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return FileFormat.MP3
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            return FileFormat.MP4_AUDIO
        if brand in _IMAGE_BRANDS:
            raise InputError(
                path,
                f"{brand.decode('latin-1').strip()!r} (HEIC, AVIF) pictures are not supported; "
                "export a JPEG or PNG",
            )
        return FileFormat.MP4
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip") and len(data) >= 8:
        return FileFormat.MP4  # QuickTime without ftyp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return FileFormat.MATROSKA
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return FileFormat.AVI
    if head.startswith(b"\x00\x00\x01\xba"):
        return FileFormat.MPEG_PS
    if head.startswith((b"\x00\x00\x01\xb3", b"\x00\x00\x01\xb5")):
        return FileFormat.MPEG_VIDEO
    if _is_transport_stream(data):
        return FileFormat.MPEG_TS
    if head.startswith(_ASF_GUID):
        return FileFormat.ASF
    if head.startswith(b"FLV\x01"):
        return FileFormat.FLV
    if len(data) >= 132 and data[128:132] == b"DICM":
        raise InputError(path, "this is already a DICOM file; use 'izer store import'")
    for signature, problem in _UNSUPPORTED:
        if head.startswith(signature):
            raise InputError(path, problem)
    if _looks_like_text(data[:4096]):
        raise InputError(
            path,
            "this is a text file, not an image, PDF or audio file, nor a video (whatever its "
            "extension)",
        )
    raise InputError(path, "not an image, PDF or audio file izer can read, nor a video")


def _is_transport_stream(data: bytes) -> bool:
    """MPEG-2 transport stream: 0x47 sync bytes every 188 bytes (or 192 with timecodes)."""
    for size, offset in ((188, 0), (192, 4)):
        if len(data) > offset + size and all(
            data[offset + k * size] == 0x47 for k in range(min(4, (len(data) - offset) // size))
        ):
            return True
    return False


def media_kind(path: Path, fmt: FileFormat | None = None) -> InputKind:
    """What a file holds, looking inside media containers: video, sound, image or document.

    A container with a video stream (other than a cover picture) is a video, one with only
    sound a sound file. A container PyAV cannot open counts as a video, so that the video
    reader says what is wrong with it (an MP4 cut short, say).

    Raises
    ------
    InputError
        As :func:`input_kind`, or for a container with neither video nor sound.
    """
    fmt = fmt or input_kind(path)
    if fmt not in _MEDIA_CONTAINERS:
        return fmt.kind
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return fmt.kind
    with container:
        moving = [
            stream
            for stream in container.streams.video
            if not stream.disposition & av.stream.Disposition.attached_pic
        ]
        if moving:
            return InputKind.VIDEO
        if container.streams.audio:
            return InputKind.AUDIO
    raise InputError(path, f"this {fmt.label} file holds neither video nor sound")


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the sample is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\r\n\t\f" for ch in text)


def read_input(path: Path) -> bytes:
    """The whole file, with file-system errors turned into :class:`InputError`."""
    try:
        if path.is_dir():
            raise InputError(path, "is a folder, not a file")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied (cannot read the file)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror or exc})") from None


def input_kind(path: Path) -> FileFormat:
    """The format of the file at ``path``, from its first bytes.

    Raises
    ------
    InputError
        As :func:`sniff`, or when the file cannot be read.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a file") from None
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied (cannot read the file)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror or exc})") from None
    return sniff(head, path)


def expand_input(given: Path) -> list[Path]:
    """The files an input stands for: itself, or a folder's files sorted by name.

    Hidden files (``.name``) in folders are skipped; sub-folders are not entered.

    Raises
    ------
    InputError
        When the input does not exist, or is a folder without files.
    """
    if given.is_dir():
        try:
            files = sorted(p for p in given.iterdir() if p.is_file() and not p.name.startswith("."))
        except OSError as exc:
            raise InputError(given, f"cannot list the folder ({exc.strerror})") from None
        if not files:
            raise InputError(given, "the folder holds no files to convert")
        return files
    if not given.exists():
        raise InputError(given, "no such file or folder")
    return [given]


# -- compressed frames taken as they are -----------------------------------------------------


@dataclass(frozen=True)
class CompressedFrame:
    """One frame of a JPEG or JPEG 2000 file that can be encapsulated as it is.

    Parameters
    ----------
    syntaxes
        The transfer syntaxes this codestream is valid in; the first is the natural one.
    codestream
        The bytes of the fragment (a JP2 file's box wrapper removed).
    layout
        Image Pixel values of the decoded frame (``photometric`` as decoded: RGB or
        MONOCHROME2).
    photometric
        Photometric Interpretation of the compressed data (PS3.5 8.2).
    lossy_method
        Lossy Image Compression Method when the codestream is lossy, else ``None``.
    """

    syntaxes: tuple[TransferSyntax, ...]
    codestream: bytes
    layout: PixelLayout
    photometric: str
    lossy_method: str | None


def encapsulated(
    frames: list[CompressedFrame], transfer_syntax: TransferSyntax | None = None
) -> tuple[EncodedPixels, PixelLayout]:
    """Pixel Data holding ``frames`` as they are, one fragment per frame (PS3.5 A.4).

    Raises
    ------
    ValueError
        When the frames differ in size, layout or colour encoding, or cannot be written in
        ``transfer_syntax``.
    """
    if not frames:
        raise ValueError("no frames to encapsulate")
    first = frames[0]
    syntax = transfer_syntax or first.syntaxes[0]
    for index, frame in enumerate(frames):
        if syntax not in frame.syntaxes:
            raise ValueError(f"frame {index + 1} cannot be written as-is in {syntax.name}")
        if (frame.layout, frame.photometric) != (first.layout, first.photometric):
            raise ValueError(
                f"frame {index + 1} differs from frame 1 in size or colour encoding "
                f"({_describe(frame)} vs {_describe(first)})"
            )
    layout = first.layout
    decoded_size = (
        layout.rows * layout.columns * layout.samples_per_pixel * layout.bits_allocated // 8
    )
    encoded_size = sum(len(frame.codestream) for frame in frames)
    lossy = first.lossy_method is not None
    return (
        EncodedPixels(
            transfer_syntax=syntax.value,
            pixel_data=encapsulate([frame.codestream for frame in frames], has_bot=len(frames) > 1),
            photometric=first.photometric,
            number_of_frames=len(frames),
            lossy_method=first.lossy_method,
            lossy_ratio=round(decoded_size * len(frames) / max(encoded_size, 1), 2)
            if lossy
            else None,
        ),
        layout,
    )


def _describe(frame: CompressedFrame) -> str:
    layout = frame.layout
    return f"{layout.columns}x{layout.rows} {frame.photometric} {layout.bits_stored}-bit"


# -- decoded frames -----------------------------------------------------------------------------


@dataclass
class Frame:
    """One image (or one page) of an input file, decoded on first use.

    ``pixels()`` is ``(rows, columns)`` uint8/uint16 grayscale or ``(rows, columns, 3)`` uint8
    RGB, in RGB order; alpha is dropped, palettes expanded and 16-bit colour reduced to 8 bits,
    each with a line in ``notes``.
    """

    path: Path
    label: str
    rows: int
    columns: int
    compressed: CompressedFrame | None
    bits_stored: int | None
    _decode: Callable[[], np.ndarray]
    notes: list[str] = field(default_factory=list)
    _pixels: np.ndarray | None = None

    @property
    def name(self) -> str:
        """The file and page, for messages."""
        return f"{display_name(self.path)}{f' ({self.label})' if self.label else ''}"

    def pixels(self) -> np.ndarray:
        """The decoded pixels (cached).

        Raises
        ------
        InputError
            When decoding fails or the samples are of a kind DICOM images cannot hold.
        """
        if self._pixels is None:
            try:
                decoded = self._decode()
            except InputError:
                raise
            except Exception as exc:  # decoders raise their own types
                where = f"{self.label}: " if self.label else ""
                raise InputError(
                    self.path, f"{where}cannot decode the image (damaged or truncated?): {exc}"
                ) from None
            self._pixels = self._normalise(decoded)
        return self._pixels

    def _normalise(self, array: np.ndarray) -> np.ndarray:
        where = f"{self.label}: " if self.label else ""
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim == 3 and array.shape[2] in (2, 4):
            self.notes.append(f"{where}transparency (alpha channel) dropped")
            array = array[:, :, :-1] if array.shape[2] == 4 else array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
            raise InputError(self.path, f"{where}unsupported image shape {array.shape}")
        if array.dtype == np.bool_:
            array = array.astype(np.uint8) * 255
        if array.dtype not in (np.uint8, np.uint16):
            raise InputError(
                self.path,
                f"{where}{array.dtype} samples are not supported (only unsigned 8- and "
                "16-bit images); convert it to 8- or 16-bit",
            )
        if array.dtype == np.uint16 and array.ndim == 3:
            self.notes.append(f"{where}16-bit colour reduced to 8 bits (DICOM colour is 8-bit)")
            array = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
            self.bits_stored = 8
        if array.dtype == np.uint16 and self.bits_stored is not None and self.bits_stored < 16:
            top = int(array.max(initial=0))
            if top >> self.bits_stored:
                raise InputError(
                    self.path,
                    f"{where}has values up to {top}, more than {self.bits_stored} bits stored "
                    "can hold; give a larger bits stored",
                )
        if array.dtype == np.uint8:
            self.bits_stored = 8
        elif self.bits_stored is None:
            self.bits_stored = 16
        if array.shape[:2] != (self.rows, self.columns):
            raise InputError(
                self.path,
                f"{where}decoded size {array.shape[1]}x{array.shape[0]} differs from the "
                f"header's {self.columns}x{self.rows} (damaged file?)",
            )
        return np.ascontiguousarray(array)


@dataclass(frozen=True)
class ImageFile:
    """An image input: its format and frames (several for a multi-page TIFF)."""

    path: Path
    format: FileFormat
    frames: list[Frame]

    @property
    def notes(self) -> list[str]:
        """What was changed while reading (alpha dropped...), once decoded."""
        return [note for frame in self.frames for note in frame.notes]


def read_image(path: Path, *, bits_stored: int | None = None) -> ImageFile:
    """Read the header of an image file and prepare its frames (decoded on first use).

    Parameters
    ----------
    bits_stored
        Significant bits of 16-bit grayscale samples; read from the file when it says (PNG
        sBIT), else 16.

    Raises
    ------
    InputError
        Naming the file: empty, truncated, not an image, unsupported, or too large.
    """
    data = read_input(path)
    fmt = sniff(data, path)
    if fmt.kind is not InputKind.IMAGE:
        raise InputError(path, f"is a {fmt.label} file, not an image")
    try:
        frames = _READERS[fmt](path, data, bits_stored)
    except InputError:
        raise
    except (struct.error, IndexError, ValueError) as exc:
        raise InputError(path, f"damaged {fmt.label} header ({exc})") from None
    total = sum(f.rows * f.columns * 3 * 2 for f in frames)
    if total > MAX_FILE_DECODED_BYTES:
        raise InputError(
            path, f"too large: {len(frames)} pages would need over {total >> 20} MiB decoded"
        )
    return ImageFile(path, fmt, frames)


def _check_size(path: Path, columns: int, rows: int, label: str = "") -> None:
    where = f"{label}: " if label else ""
    if rows <= 0 or columns <= 0:
        raise InputError(path, f"{where}the image is empty ({columns}x{rows} pixels)")
    if rows > MAX_SIDE or columns > MAX_SIDE or rows * columns > MAX_FRAME_PIXELS:
        raise InputError(
            path,
            f"{where}too large: {columns}x{rows} pixels (izer converts at most "
            f"{MAX_SIDE} pixels a side and {MAX_FRAME_PIXELS // 1_000_000} megapixels)",
        )


def _frame(
    path: Path,
    columns: int,
    rows: int,
    decode: Callable[[], np.ndarray],
    *,
    label: str = "",
    compressed: CompressedFrame | None = None,
    bits_stored: int | None = None,
) -> Frame:
    _check_size(path, columns, rows, label)
    return Frame(path, label, rows, columns, compressed, bits_stored, decode)


# -- JPEG -------------------------------------------------------------------------------------


def _read_jpeg(path: Path, data: bytes, bits_stored: int | None) -> list[Frame]:
    header = parse_jpeg(data, path)
    count = len(header.components)
    if count == 4:
        raise InputError(path, "CMYK JPEG is not supported; convert it to RGB")
    if count not in (1, 3):
        raise InputError(path, f"a JPEG with {count} components is not supported")
    if header.sof in (0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF):
        raise InputError(path, "hierarchical JPEG is not supported")
    compressed = None
    photometric = jpeg_photometric(header)
    if header.sof == 0xC0 and header.precision == 8 and photometric is not None:
        compressed = CompressedFrame(
            syntaxes=(TransferSyntax.JPEG_BASELINE,),
            codestream=data[: header.end],
            layout=PixelLayout(
                rows=header.rows,
                columns=header.columns,
                samples_per_pixel=count,
                bits_allocated=8,
                bits_stored=8,
                photometric="RGB" if count == 3 else "MONOCHROME2",
            ),
            photometric=photometric,
            lossy_method="ISO_10918_1",
        )

    def decode() -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg8_decode(data[: header.end])

    frame = _frame(
        path,
        header.columns,
        header.rows,
        decode,
        compressed=compressed,
        bits_stored=bits_stored or (header.precision if header.precision > 8 else None),
    )
    return [frame]


# -- JPEG 2000 --------------------------------------------------------------------------------


def _read_j2k(path: Path, data: bytes, bits_stored: int | None) -> list[Frame]:
    codestream = data if data.startswith(b"\xff\x4f") else jp2_codestream(data, path)
    header = parse_j2k(codestream, path)
    count = len(header.precisions)
    if count not in (1, 3, 4):
        raise InputError(path, f"a JPEG 2000 image with {count} components is not supported")
    precision = header.precisions[0]
    compressed = None
    uniform = len(set(header.precisions)) == 1 and len(set(header.signed)) == 1
    if count in (1, 3) and uniform and not header.subsampled and precision <= 16:
        if count == 3 and precision != 8:
            pass  # colour must be 8-bit in DICOM: decoded and reduced instead
        else:
            if count == 1:
                photometric = "MONOCHROME2"
            elif header.mct:
                photometric = "YBR_RCT" if header.reversible else "YBR_ICT"
            else:
                photometric = "RGB"
            syntaxes = (TransferSyntax.JPEG_2000,)
            if header.reversible:
                syntaxes += (TransferSyntax.JPEG_2000_LOSSLESS,)
            compressed = CompressedFrame(
                syntaxes=syntaxes,
                codestream=codestream,
                layout=PixelLayout(
                    rows=header.rows,
                    columns=header.columns,
                    samples_per_pixel=count,
                    bits_allocated=8 if precision <= 8 else 16,
                    bits_stored=bits_stored or precision,
                    photometric="RGB" if count == 3 else "MONOCHROME2",
                    pixel_representation=int(header.signed[0]),
                ),
                photometric=photometric,
                lossy_method=None if header.reversible else "ISO_15444_1",
            )

    def decode() -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg2k_decode(codestream)

    frame = _frame(
        path,
        header.columns,
        header.rows,
        decode,
        compressed=compressed,
        bits_stored=bits_stored or (precision if 8 < precision < 16 else None),
    )
    return [frame]


# -- PNG, TIFF, BMP, WebP ---------------------------------------------------------------------


def _read_png(path: Path, data: bytes, bits_stored: int | None) -> list[Frame]:
    pos = 8
    width = height = depth = 0
    sbit: int | None = None
    seen_end = False
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            break
        if kind == b"IHDR":
            width, height, depth = struct.unpack_from(">IIB", body)
            _check_size(path, width, height)
        elif kind == b"sBIT" and depth == 16 and body:
            sbit = body[0]
        elif kind == b"IEND":
            seen_end = True
            break
        pos += 12 + length
    if width == 0 and height == 0:
        raise InputError(path, "damaged PNG: no image header (IHDR)")
    if not seen_end:
        raise InputError(path, "truncated PNG (the IEND chunk is missing)")

    def decode() -> np.ndarray:
        import imagecodecs

        return imagecodecs.png_decode(data)

    return [_frame(path, width, height, decode, bits_stored=bits_stored or sbit)]


def _tiff_pages(path: Path, data: bytes) -> list[tuple[int, int]]:
    """``(columns, rows)`` of every page, from the IFD chain (TIFF 6.0 section 2, BigTIFF)."""
    endian = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    if big:
        (offset,) = struct.unpack_from(endian + "Q", data, 8)
        count_fmt, entry_size, next_fmt, value_offset = "Q", 20, "Q", 12
    else:
        (offset,) = struct.unpack_from(endian + "I", data, 4)
        count_fmt, entry_size, next_fmt, value_offset = "H", 12, "I", 8
    short, long_ = endian + "H", endian + ("Q" if big else "I")
    pages: list[tuple[int, int]] = []
    visited: set[int] = set()
    while offset:
        if offset in visited or len(pages) >= MAX_PAGES:
            raise InputError(path, "damaged TIFF: its page list loops or is endless")
        visited.add(offset)
        if offset + 8 > len(data):
            raise InputError(path, "truncated TIFF (a page directory lies past the end)")
        (count,) = struct.unpack_from(endian + count_fmt, data, offset)
        start = offset + struct.calcsize(count_fmt)
        end = start + count * entry_size
        if end + struct.calcsize(next_fmt) > len(data):
            raise InputError(path, "truncated TIFF (a page directory is cut)")
        size = {256: 0, 257: 0}
        for index in range(count):
            entry = start + index * entry_size
            tag, kind = struct.unpack_from(endian + "HH", data, entry)
            if tag in size:
                value_at = entry + value_offset
                fmt = short if kind == 3 else long_ if kind in (4, 16) else None
                if fmt is None:
                    raise InputError(path, f"damaged TIFF: image size tag {tag} of type {kind}")
                (size[tag],) = struct.unpack_from(fmt, data, value_at)
        pages.append((size[256], size[257]))
        (offset,) = struct.unpack_from(endian + next_fmt, data, end)
    if not pages:
        raise InputError(path, "damaged TIFF: no pages")
    return pages


def _read_tiff(path: Path, data: bytes, bits_stored: int | None) -> list[Frame]:
    pages = _tiff_pages(path, data)
    frames = []
    for index, (columns, rows) in enumerate(pages):
        label = f"page {index + 1}" if len(pages) > 1 else ""

        def decode(index: int = index) -> np.ndarray:
            import imagecodecs

            return imagecodecs.tiff_decode(data, index=index)

        frames.append(_frame(path, columns, rows, decode, label=label, bits_stored=bits_stored))
    return frames


def _read_bmp(path: Path, data: bytes, bits_stored: int | None) -> list[Frame]:
    if len(data) < 26:
        raise InputError(path, "truncated BMP (the header is cut)")
    (offset,) = struct.unpack_from("<I", data, 10)
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size == 12:
        columns, rows, _, bits = struct.unpack_from("<HHHH", data, 18)
        compression = 0
    else:
        if len(data) < 34:
            raise InputError(path, "truncated BMP (the header is cut)")
        columns, rows, _, bits, compression = struct.unpack_from("<iiHHI", data, 18)
    _check_size(path, columns, abs(rows))
    row_bytes = (bits * columns + 31) // 32 * 4
    if compression in (0, 3) and offset + row_bytes * abs(rows) > len(data):
        raise InputError(path, "truncated BMP (the pixel data is cut)")

    def decode() -> np.ndarray:
        import imagecodecs

        return imagecodecs.bmp_decode(data)

    return [_frame(path, columns, abs(rows), decode)]


def _read_webp(path: Path, data: bytes, bits_stored: int | None) -> list[Frame]:
    kind = data[12:16]
    if kind == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise InputError(path, "damaged WebP: bad VP8 frame header")
        columns, rows = (v & 0x3FFF for v in struct.unpack_from("<HH", data, 26))
    elif kind == b"VP8L":
        (bits,) = struct.unpack_from("<I", data, 21)
        columns, rows = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8X":
        columns = int.from_bytes(data[24:27], "little") + 1
        rows = int.from_bytes(data[27:30], "little") + 1
    else:
        raise InputError(path, f"damaged WebP: unknown chunk {kind!r}")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 > len(data):
        raise InputError(path, "truncated WebP file")

    def decode() -> np.ndarray:
        import imagecodecs

        return imagecodecs.webp_decode(data)

    return [_frame(path, columns, rows, decode)]


_READERS: dict[FileFormat, Callable[[Path, bytes, int | None], list[Frame]]] = {
    FileFormat.JPEG: _read_jpeg,
    FileFormat.PNG: _read_png,
    FileFormat.TIFF: _read_tiff,
    FileFormat.BMP: _read_bmp,
    FileFormat.WEBP: _read_webp,
    FileFormat.J2K: _read_j2k,
    FileFormat.JP2: _read_j2k,
}
