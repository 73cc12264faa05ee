"""A read-only window on part of a file, for streaming video into and out of DICOM files."""

from __future__ import annotations

import io
import os
from pathlib import Path


class FileWindow(io.BufferedIOBase):
    """A read-only, seekable view of ``length`` bytes of a file from ``start``.

    The file is opened on the first read and closed once the window has been read to its
    end (or on :meth:`close`), so a dataset holding windows keeps no file open between
    writes and can be written more than once. :attr:`closed` stays False for that reason.
    """

    def __init__(self, path: Path, start: int, length: int) -> None:
        super().__init__()
        self.path, self.start, self.length = Path(path), start, length
        self._position = 0
        self._file: io.BufferedReader | None = None

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        """Release the open file, if any; the window stays usable."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1, /) -> bytes:
        left = self.length - self._position
        if size is None or size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        if self._file is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed at the window's end
        self._file.seek(self.start + self._position)
        data = self._file.read(size)
        if len(data) != size:
            raise OSError(
                f"{self.path} changed since it was probed: {len(data)} bytes instead of {size} "
                f"at offset {self.start + self._position}"
            )
        self._position += size
        if self._position >= self.length:
            self.close()
        return data

    def read1(self, size: int = -1, /) -> bytes:
        return self.read(size)
