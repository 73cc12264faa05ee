"""Encapsulated Pixel Data read from a file without loading it (PS3.5 A.4).

An encapsulated Pixel Data element is a Basic Offset Table item, then one item per fragment,
then a sequence delimiter. Only the 8-byte item headers are read here; the fragments are
reached through :class:`FragmentReader` (a seekable stream) or by their file ranges, so a
video of several gigabytes is never held in memory.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
from pathlib import Path
from typing import BinaryIO

_ITEM = 0xFFFEE000
_SEQUENCE_DELIMITER = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
#: Chunk size for copies (1 MiB reads were measured 1.6-2.6x faster than pydicom's 8 KiB).
CHUNK_BYTES = 1 << 20


class FragmentError(ValueError):
    """Pixel Data that is not well-formed encapsulated data; the message says where."""


def encapsulated_items(path: Path, pixel_data_offset: int) -> tuple[int, list[tuple[int, int]]]:
    """The Basic Offset Table's length and ``(file offset, length)`` of every fragment.

    Parameters
    ----------
    pixel_data_offset
        File offset of the Pixel Data element (7FE0,0010), Explicit VR.

    Raises
    ------
    FragmentError
        When Pixel Data is missing, not encapsulated, damaged or cut short.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        handle.seek(pixel_data_offset)
        head = handle.read(12)
        if len(head) < 12:
            raise FragmentError("Pixel Data (7FE0,0010) is missing (the file ends there)")
        group, element, vr, length = struct.unpack("<HH2s2xI", head)
        if (group, element) != (0x7FE0, 0x0010) or vr not in (b"OB", b"OW"):
            raise FragmentError(
                "Pixel Data (7FE0,0010) is not where the header ends; the file is damaged"
            )
        if length != _UNDEFINED:
            raise FragmentError(
                "Pixel Data has a defined length: it is not encapsulated (PS3.5 A.4 needs "
                "undefined length)"
            )
        items: list[tuple[int, int]] = []
        while True:
            item = handle.read(8)
            if len(item) < 8:
                raise FragmentError(
                    f"Pixel Data is cut short after {max(len(items) - 1, 0)} fragment(s): it "
                    "ends without a sequence delimiter (truncated file)"
                )
            group, element, length = struct.unpack("<HHI", item)
            tag = group << 16 | element
            if tag == _SEQUENCE_DELIMITER:
                break
            if tag != _ITEM or length == _UNDEFINED:
                raise FragmentError(
                    f"Pixel Data has a bad item header ({group:04X},{element:04X}) after "
                    f"{max(len(items) - 1, 0)} fragment(s); the file is damaged"
                )
            start = handle.tell()
            if start + length > size:
                raise FragmentError(
                    f"Pixel Data is cut short: fragment {len(items)} needs {length} bytes but "
                    f"the file ends {size - start} bytes later (truncated file)"
                )
            items.append((start, length))
            handle.seek(length, os.SEEK_CUR)
    if not items:
        raise FragmentError("Pixel Data has no Basic Offset Table item (PS3.5 A.4)")
    return items[0][1], items[1:]


def fragment_ranges(path: Path, pixel_data_offset: int) -> list[tuple[int, int]]:
    """``(file offset, length)`` of every fragment, the Basic Offset Table left out."""
    return encapsulated_items(path, pixel_data_offset)[1]


class FragmentReader(io.RawIOBase):
    """The fragments of a file as one seekable, read-only stream (nothing held in memory).

    Parameters
    ----------
    path
        The DICOM file.
    ranges
        ``(offset, length)`` of each fragment, from :func:`fragment_ranges`.
    length
        Bytes of the stream to expose (default: all of them).
    """

    def __init__(
        self, path: Path, ranges: list[tuple[int, int]], length: int | None = None
    ) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 (closed with the reader)
        self._ranges = ranges
        self._starts: list[int] = []
        total = 0
        for _offset, size in ranges:
            self._starts.append(total)
            total += size
        self.total = total
        self.length = total if length is None else min(length, total)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self.length - self._position)
        if wanted <= 0:
            return 0
        index = bisect.bisect_right(self._starts, self._position) - 1
        offset, size = self._ranges[index]
        within = self._position - self._starts[index]
        count = min(wanted, size - within)
        self._file.seek(offset + within)
        got = self._file.readinto(view[:count])
        self._position += got
        return got

    def pread(self, position: int, count: int) -> bytes:
        """``count`` bytes (fewer at the end) from ``position``, keeping the current one."""
        here = self._position
        self.seek(position)
        data = self.read(count) or b""
        self._position = here
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


def copy_stream(source: BinaryIO, target: BinaryIO, count: int | None = None) -> int:
    """Copy ``count`` bytes (default: to the end) in 1 MiB chunks; return bytes copied."""
    copied = 0
    while count is None or copied < count:
        want = CHUNK_BYTES if count is None else min(CHUNK_BYTES, count - copied)
        chunk = source.read(want)
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    if count is not None and copied != count:
        raise FragmentError(f"the stream ended after {copied} of {count} bytes")
    return copied
