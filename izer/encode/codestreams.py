"""Reading the headers of JPEG and JPEG 2000 files, to encapsulate them as they are.

JPEG: the marker segments up to the end of image (ISO/IEC 10918-1 B.2). JPEG 2000: the SIZ and
COD segments of a codestream (ISO/IEC 15444-1 A.5, A.6) and the box structure of a JP2 file
(Annex I), so the codestream can be taken out of its wrapper.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from izer.encode.input_errors import InputError

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


@dataclass(frozen=True)
class JpegHeader:
    """What the marker segments of a JPEG say (ISO/IEC 10918-1 B.2)."""

    sof: int
    precision: int
    rows: int
    columns: int
    components: tuple[tuple[int, int, int], ...]  # (id, horizontal, vertical sampling)
    adobe_transform: int | None
    jfif: bool
    end: int  # offset just after the EOI marker


def parse_jpeg(data: bytes, path: Path | str = "<data>") -> JpegHeader:
    """Walk the marker segments to the end of image.

    Raises
    ------
    InputError
        For bytes that are not a JPEG, a damaged marker, or a truncated file.
    """
    if not data.startswith(b"\xff\xd8"):
        raise InputError(path, "not a JPEG (no start-of-image marker)")
    pos, size = 2, len(data)
    sof: tuple[int, bytes] | None = None
    adobe: int | None = None
    jfif = False
    in_scan = False
    while True:
        if in_scan:
            pos = _next_marker_in_scan(data, pos)
            if pos < 0:
                raise InputError(path, "truncated JPEG (the end-of-image marker is missing)")
        if pos + 1 >= size:
            raise InputError(path, "truncated JPEG (the end-of-image marker is missing)")
        if data[pos] != 0xFF:
            raise InputError(
                path, f"damaged JPEG: expected a marker at byte {pos}, found 0x{data[pos]:02X}"
            )
        while pos + 1 < size and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker == 0xD9:
            break
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0x00 or marker == 0xD8:
            raise InputError(path, f"damaged JPEG: unexpected marker 0xFF{marker:02X}")
        if pos + 4 > size:
            raise InputError(path, "truncated JPEG (a marker segment is cut)")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > size:
            raise InputError(path, "truncated JPEG (a marker segment is cut)")
        segment = data[pos + 4 : pos + 2 + length]
        if marker in _SOF_MARKERS and sof is None:
            sof = (marker, segment)
        elif marker == 0xEE and segment.startswith(b"Adobe") and len(segment) >= 12:
            adobe = segment[11]
        elif marker == 0xE0 and segment.startswith(b"JFIF\x00"):
            jfif = True
        pos += 2 + length
        if marker == 0xDA:
            if sof is None:
                raise InputError(path, "damaged JPEG: image data before the frame header")
            in_scan = True
    if sof is None:
        raise InputError(path, "damaged JPEG: no frame header (SOF)")
    marker, segment = sof
    precision, rows, columns, count = struct.unpack_from(">BHHB", segment)
    components = tuple(
        (segment[6 + 3 * i], segment[7 + 3 * i] >> 4, segment[7 + 3 * i] & 0x0F)
        for i in range(count)
    )
    return JpegHeader(marker, precision, rows, columns, components, adobe, jfif, pos + 2)


def _next_marker_in_scan(data: bytes, pos: int) -> int:
    """Offset of the next marker after entropy-coded data (skipping stuffed 0xFF00 and RSTn)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return -1
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def jpeg_photometric(header: JpegHeader) -> str | None:
    """Photometric Interpretation of a baseline JPEG's data, or ``None`` when DICOM has none.

    PS3.5 8.2.1: one component is MONOCHROME2; colour without a colour transform is RGB;
    YCbCr is YBR_FULL_422 when chroma is subsampled (4:2:2, and 4:2:0 as dciodvfy accepts it)
    and YBR_FULL when not.
    """
    if len(header.components) == 1:
        return "MONOCHROME2"
    ids = bytes(c[0] for c in header.components)
    transform = header.adobe_transform
    rgb = transform == 0 or (transform is None and not header.jfif and ids == b"RGB")
    luma, *chroma = [(h, v) for _, h, v in header.components]
    if any(c != (1, 1) for c in chroma):
        return None
    if rgb:
        return "RGB" if luma == (1, 1) else None
    return {(1, 1): "YBR_FULL", (2, 1): "YBR_FULL_422", (2, 2): "YBR_FULL_422"}.get(luma)


@dataclass(frozen=True)
class J2kHeader:
    """SIZ and COD of a JPEG 2000 codestream (ISO/IEC 15444-1 A.5.1, A.6.1)."""

    rows: int
    columns: int
    precisions: tuple[int, ...]
    signed: tuple[bool, ...]
    subsampled: bool
    mct: bool
    reversible: bool


def parse_j2k(codestream: bytes, path: Path | str = "<data>") -> J2kHeader:
    """Read the main header of a codestream.

    Raises
    ------
    InputError
        For a damaged header or a codestream without its end marker (truncated).
    """
    if not codestream.startswith(b"\xff\x4f\xff\x51"):
        raise InputError(path, "not a JPEG 2000 codestream (no SOC/SIZ marker)")
    if not codestream.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise InputError(path, "truncated JPEG 2000 file (the end-of-codestream marker is missing)")
    (lsiz,) = struct.unpack_from(">H", codestream, 4)
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", codestream, 8)
    (count,) = struct.unpack_from(">H", codestream, 40)
    precisions, signed, subsampled = [], [], False
    for index in range(count):
        ssiz, xr, yr = struct.unpack_from(">BBB", codestream, 42 + 3 * index)
        precisions.append((ssiz & 0x7F) + 1)
        signed.append(bool(ssiz & 0x80))
        subsampled |= (xr, yr) != (1, 1)
    pos = 4 + lsiz
    mct, reversible = False, True
    while pos + 4 <= len(codestream):
        marker, length = struct.unpack_from(">HH", codestream, pos)
        if marker == 0xFF90:  # SOT: the main header is over
            break
        if marker == 0xFF52:  # COD
            mct = codestream[pos + 8] == 1
            reversible = codestream[pos + 13] == 1
        pos += 2 + length
    return J2kHeader(
        rows=ysiz - yosiz,
        columns=xsiz - xosiz,
        precisions=tuple(precisions),
        signed=tuple(signed),
        subsampled=subsampled,
        mct=mct,
        reversible=reversible,
    )


def jp2_codestream(data: bytes, path: Path | str = "<data>") -> bytes:
    """The contiguous codestream box (``jp2c``) of a JP2 file (ISO/IEC 15444-1 I.5.4).

    Raises
    ------
    InputError
        When there is no codestream box, or a box runs past the end (truncated).
    """
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1:
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif length == 0:
            length = len(data) - pos
        if length < header or pos + length > len(data):
            raise InputError(path, f"truncated JP2 file (the {kind!r} box is cut)")
        if kind == b"jp2c":
            return data[pos + header : pos + length]
        pos += length
    raise InputError(path, "damaged JP2 file: no codestream box")
