"""A watched folder: film digitizers and scanner programs that write one image file per film.

The digitizer's software (VIDAR, Array, a flatbed program) writes TIFF, PNG or JPEG files into
a folder; :class:`FolderSource` yields each new file as a :class:`ScannedPage` once the file
has stopped changing (the writer finished), in the order the files appeared. It never deletes
or modifies the input files: what it has taken is recorded in a journal (by default
``.izer-taken`` in the folder) so that a restart, or a second ``FolderSource`` on the same
folder, does not take a file twice.

A file that cannot be read is not silently skipped and does not end the batch: it is reported
through :attr:`FolderSource.problems` and the ``on_problem`` callback, and tried again if it
changes later (a writer that paused longer than ``settle_s``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from izer.capture.base import PageSource, ScannedPage, SourceError, SourceKind

#: File name patterns taken by default (matched case-insensitively). DICOM files (``*.dcm``)
#: are deliberately not among them: a digitizer that writes DICOM should be imported as-is,
#: which keeps its attributes, instead of being reduced to pixels here.
DEFAULT_PATTERNS: tuple[str, ...] = ("*.tif", "*.tiff", "*.png", "*.jpg", "*.jpeg")

#: Name of the journal written into the watched folder when no other path is given.
JOURNAL_NAME = ".izer-taken"

#: A 16-bit grayscale file with no statement of its significant bits, whose largest value
#: fits in this many bits, is reported with this Bits Stored (12-bit digitizers write their
#: samples into 16-bit containers). Values are never rescaled either way.
HEURISTIC_BITS = 12


@dataclass(frozen=True, slots=True)
class FolderProblem:
    """A file of the watched folder that could not be taken; ``message`` says why."""

    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class ImageFile:
    """Pixels read from an image file, with what the file says about them."""

    pixels: np.ndarray
    bits_stored: int
    dpi: float | None


@dataclass(frozen=True, slots=True)
class _Signature:
    size: int
    mtime_ns: int


def _round_dpi(value: object) -> float | None:
    """A resolution as dots per inch, ``None`` when missing or a placeholder (0 or 1)."""
    try:
        dpi = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not np.isfinite(dpi) or dpi <= 1.0:
        return None
    # PNG stores whole pixels per metre: 300 dpi comes back as 299.9994, 150 as 150.0127.
    return float(round(dpi)) if abs(dpi - round(dpi)) < 0.02 else dpi


def _png_significant_bits(path: Path) -> int | None:
    """The grayscale significant bits of a PNG's ``sBIT`` chunk (PNG spec 11.3.3.4), if any."""
    with path.open("rb") as handle:
        if handle.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            length = int.from_bytes(header[:4], "big")
            chunk_type = header[4:]
            if chunk_type in (b"IDAT", b"IEND"):
                return None
            data = handle.read(length)
            handle.seek(4, os.SEEK_CUR)  # CRC
            if chunk_type == b"sBIT" and data:
                return int(data[0])


def _tiff_significant_bits(image: Any) -> int | None:
    """Bits from TIFF ``MaxSampleValue`` (281) or a ``BitsPerSample`` (258) below 16."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return None
    max_sample = tags.get(281)
    if isinstance(max_sample, tuple):
        max_sample = max_sample[0] if max_sample else None
    if isinstance(max_sample, int) and 0 < max_sample < 65535:
        return int(max_sample).bit_length()
    bits = tags.get(258)
    if isinstance(bits, tuple):
        bits = bits[0] if bits else None
    if isinstance(bits, int) and 8 < bits < 16:
        return bits
    return None


def read_image_file(path: Path, *, bits_stored: int | None = None) -> ImageFile:
    """Read a TIFF, PNG, JPEG or BMP file as capture pixels.

    Grayscale stays at full depth: 16-bit files become ``uint16`` arrays, never scaled to
    8 bits. Bits Stored comes from the file when it says (TIFF ``MaxSampleValue`` or a
    ``BitsPerSample`` of 9..15, PNG ``sBIT``); otherwise 12 when every value fits in 12 bits
    (:data:`HEURISTIC_BITS`), else 16. ``bits_stored`` given by the caller (a digitizer preset)
    wins for 16-bit files, and is checked against the values; 8-bit files are always 8.
    Colour becomes 8-bit RGB (16-bit colour keeps its high byte); alpha is dropped; palette
    and bilevel images are expanded.

    Raises
    ------
    ValueError
        When the file is not an image this can read, or ``bits_stored`` is too small for
        its values.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns about odd metadata and very large images; what matters is
            # whether the pixels decode, and a failure is reported below.
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.load()
                pixels, declared, dpi = _pixels_of(image, path)
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path.name}: not an image file this can read ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"{path.name}: larger than Pillow's safety limit ({exc}); scan at a lower "
            "resolution or raise PIL.Image.MAX_IMAGE_PIXELS"
        ) from exc
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"{path.name}: cannot be decoded ({exc})") from exc
    if not pixels.flags.writeable:
        pixels = pixels.copy()  # the caller may crop or invert in place
    stored = 8
    if pixels.dtype == np.uint16:
        peak = int(pixels.max()) if pixels.size else 0
        if bits_stored is not None:
            stored = bits_stored
        elif declared is not None and 8 < declared <= 16:
            stored = declared
        else:
            stored = HEURISTIC_BITS if peak < (1 << HEURISTIC_BITS) else 16
        if peak >= (1 << stored):
            raise ValueError(
                f"{path.name}: values up to {peak} do not fit in {stored} bits stored; "
                "set the digitizer's bit depth to match its files"
            )
    return ImageFile(pixels=pixels, bits_stored=stored, dpi=dpi)


def _pixels_of(image: Any, path: Path) -> tuple[np.ndarray, int | None, float | None]:
    """Pixels of an opened Pillow image, the significant bits its file declares, its dpi."""
    dpi_pair = image.info.get("dpi")
    dpi = _round_dpi(dpi_pair[0]) if isinstance(dpi_pair, tuple) and dpi_pair else None
    declared = _tiff_significant_bits(image) if image.format == "TIFF" else None
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        pixels = np.asarray(image)
        if pixels.size and (int(pixels.min()) < 0 or int(pixels.max()) > 65535):
            raise ValueError(f"{path.name}: 32-bit integer samples are not supported")
        if image.format == "PNG":
            declared = _png_significant_bits(path)
        return np.ascontiguousarray(pixels, dtype=np.uint16), declared, dpi
    if mode in ("L", "1", "LA") or (mode in ("P", "PA") and _palette_is_gray(image)):
        return np.ascontiguousarray(image.convert("L"), dtype=np.uint8), None, dpi
    if mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "P", "PA", "LAB", "HSV"):
        return np.ascontiguousarray(image.convert("RGB"), dtype=np.uint8), None, dpi
    raise ValueError(
        f"{path.name}: pixel mode {mode!r} is not supported (use 8/16-bit grayscale or 8-bit RGB)"
    )


def _palette_is_gray(image: Any) -> bool:
    palette = image.getpalette()  # type: ignore[attr-defined]
    if not palette:
        return True
    rgb = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    return bool(np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]))


class _Journal:
    """An append-only list of taken files, shared safely by processes through a file lock.

    One JSON line per file: ``{"name": ..., "size": ..., "mtime_ns": ...}``. A file is the same
    file when all three match, so a digitizer that reuses a name for a new film (a counter
    restarted) has the new film taken.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: set[tuple[str, int, int]] = set()
        self._offset = 0
        try:
            self._handle = path.open("a+b")
        except OSError as exc:
            raise SourceError(
                f"cannot write the taken-files journal {path} ({exc.strerror}); give the "
                "watched folder write access or pass journal= a writable path"
            ) from exc

    def _read_new(self) -> None:
        self._handle.seek(self._offset)
        data = self._handle.read()
        end = data.rfind(b"\n") + 1  # a line still being written by another process waits
        for line in data[:end].splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry = json.loads(line)
                self._entries.add((str(entry["name"]), int(entry["size"]), int(entry["mtime_ns"])))
        self._offset += end

    def has(self, name: str, signature: _Signature) -> bool:
        with self._locked():
            self._read_new()
        return (name, signature.size, signature.mtime_ns) in self._entries

    def claim(self, name: str, signature: _Signature) -> bool:
        """Record the file as taken; False when someone else took it first."""
        key = (name, signature.size, signature.mtime_ns)
        with self._locked():
            self._read_new()
            if key in self._entries:
                return False
            line = json.dumps({"name": name, "size": key[1], "mtime_ns": key[2]}) + "\n"
            self._handle.seek(0, os.SEEK_END)
            self._handle.write(line.encode("utf-8"))
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._offset = self._handle.tell()
            self._entries.add(key)
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = self._handle.fileno()
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._handle.close()


@dataclass(slots=True)
class _Candidate:
    name: str
    order: tuple[int, int, str]
    signature: _Signature
    stable_since: float


class FolderSource(PageSource):
    """Yield the image files a digitizer writes into a folder, once each is complete.

    Parameters
    ----------
    folder
        The folder the digitizer writes into (not searched recursively).
    patterns
        File name patterns to take, matched case-insensitively. Hidden files and names
        starting with ``~`` (temporary files of many writers) are never taken.
    settle_s
        A file is complete once its size and modification time have not changed for this
        long (and it is not empty).
    poll_s
        How often the folder is listed.
    stop
        Set it to end the batch; :meth:`pages` returns after the current poll.
    idle_timeout_s
        End the batch when no file has been taken and none is being written for this long;
        ``None`` watches until ``stop`` is set.
    existing
        Take the files already in the folder when watching starts (``False``: only files
        that appear or change afterwards).
    journal
        Where to record taken files; default ``folder / ".izer-taken"``. Give another path
        when the folder is read-only.
    bits_stored
        Bits Stored of the digitizer's 16-bit grayscale files when known (a preset); default:
        from the file (see :func:`read_image_file`).
    on_problem
        Called (on the iterating thread) with each :class:`FolderProblem` as it happens.
    """

    kind = SourceKind.FOLDER

    def __init__(
        self,
        folder: Path | str,
        *,
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        settle_s: float = 1.0,
        poll_s: float = 0.25,
        stop: threading.Event | None = None,
        idle_timeout_s: float | None = None,
        existing: bool = False,
        journal: Path | str | None = None,
        bits_stored: int | None = None,
        on_problem: Callable[[FolderProblem], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        if not patterns:
            raise ValueError("patterns is empty: give at least one file pattern such as '*.tif'")
        if settle_s < 0 or poll_s <= 0:
            raise ValueError(
                f"settle_s must be >= 0 and poll_s > 0 (got settle_s={settle_s}, poll_s={poll_s})"
            )
        if idle_timeout_s is not None and idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be positive or None, not {idle_timeout_s}")
        if bits_stored is not None and not 8 < bits_stored <= 16:
            raise ValueError(f"bits_stored must be 9..16 for 16-bit files, not {bits_stored}")
        self.patterns = tuple(pattern.lower() for pattern in patterns)
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.stop = stop if stop is not None else threading.Event()
        self.idle_timeout_s = idle_timeout_s
        self.existing = existing
        self.journal_path = Path(journal) if journal is not None else self.folder / JOURNAL_NAME
        self.bits_stored = bits_stored
        self.on_problem = on_problem
        self._problems: list[FolderProblem] = []
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        #: Set once :meth:`pages` has listed the folder: files written from then on are new.
        self.watching = threading.Event()

    @classmethod
    def is_available(cls) -> bool:
        """Always: watching a folder needs nothing beyond Pillow, which izer depends on."""
        return True

    @property
    def spec(self) -> str:
        """The ``--source`` text that opens this folder again."""
        return f"folder:{self.folder}"

    @property
    def problems(self) -> list[FolderProblem]:
        """The files that could not be taken so far, oldest first (a copy)."""
        with self._lock:
            return list(self._problems)

    @property
    def seen(self) -> frozenset[str]:
        """Names of the candidate files noticed so far (complete or still being written)."""
        with self._lock:
            return frozenset(self._seen)

    def _matches(self, name: str) -> bool:
        if name.startswith((".", "~")) or name == self.journal_path.name:
            return False
        lowered = name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self.patterns)

    def _list(self) -> dict[str, _Signature]:
        found: dict[str, _Signature] = {}
        try:
            entries = list(os.scandir(self.folder))
        except OSError as exc:
            raise SourceError(
                f"cannot read the watched folder {self.folder} ({exc.strerror}); "
                "check that it exists and is reachable"
            ) from exc
        for entry in entries:
            if not self._matches(entry.name):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:
                continue  # removed or renamed between listing and stat: next poll decides
            found[entry.name] = _Signature(stat.st_size, stat.st_mtime_ns)
        return found

    def _report(self, path: Path, message: str) -> None:
        problem = FolderProblem(path=path, message=message)
        with self._lock:
            self._problems.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def pages(self) -> Iterator[ScannedPage]:
        """Yield each complete new file as a page, numbered from 1, until stopped or idle.

        Raises
        ------
        SourceError
            When the folder cannot be listed or the journal cannot be written.
        """
        if not self.folder.is_dir():
            raise SourceError(
                f"the watched folder {self.folder} does not exist or is not a folder; "
                "create it or point the digitizer's output there"
            )
        journal = _Journal(self.journal_path)
        try:
            yield from self._watch(journal)
        finally:
            journal.close()

    def _watch(self, journal: _Journal) -> Iterator[ScannedPage]:
        ignored: dict[str, _Signature] = {} if self.existing else self._list()
        self.watching.set()
        failed: dict[str, _Signature] = {}
        candidates: dict[str, _Candidate] = {}
        number = 0
        poll = 0
        last_activity = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            listing = self._list()
            for name, signature in listing.items():
                if ignored.get(name) == signature or failed.get(name) == signature:
                    continue
                ignored.pop(name, None)
                failed.pop(name, None)
                known = candidates.get(name)
                if known is None:
                    if journal.has(name, signature):
                        continue
                    order = (poll, signature.mtime_ns if poll == 0 else 0, name)
                    candidates[name] = _Candidate(name, order, signature, now)
                    with self._lock:
                        self._seen.add(name)
                elif known.signature != signature:
                    known.signature = signature
                    known.stable_since = now
            for name in [name for name in candidates if name not in listing]:
                del candidates[name]  # removed or renamed before it settled
            ready = sorted(
                (
                    candidate
                    for candidate in candidates.values()
                    if candidate.signature.size > 0
                    and now - candidate.stable_since >= self.settle_s
                ),
                key=lambda candidate: candidate.order,
            )
            for candidate in ready:
                if self.stop.is_set():
                    return
                del candidates[candidate.name]
                if journal.has(candidate.name, candidate.signature):
                    continue  # another FolderSource on this folder took it meanwhile
                path = self.folder / candidate.name
                try:
                    image = read_image_file(path, bits_stored=self.bits_stored)
                except PermissionError:
                    # Still locked by its writer (Windows): look again at the next poll.
                    candidates[candidate.name] = candidate
                    continue
                except (ValueError, OSError) as exc:
                    failed[candidate.name] = candidate.signature
                    self._report(path, str(exc))
                    last_activity = time.monotonic()
                    continue
                if not journal.claim(candidate.name, candidate.signature):
                    continue  # another FolderSource on this folder took it meanwhile
                number += 1
                last_activity = time.monotonic()
                yield ScannedPage(
                    pixels=image.pixels,
                    number=number,
                    bits_stored=image.bits_stored,
                    dpi=image.dpi,
                    origin=path,
                )
            if any(
                candidate.signature.size > 0 or now - candidate.stable_since < self.settle_s
                for candidate in candidates.values()
            ):
                last_activity = time.monotonic()  # a file is being written
            elif (
                self.idle_timeout_s is not None
                and time.monotonic() - last_activity >= self.idle_timeout_s
            ):
                return
            poll += 1
            self.stop.wait(self.poll_s)
