"""What a file-set holds: its entries and report, File ID rules and reading one header."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from izer.dispatch.media.profiles import MediaProfile, ProfileChoice

DICOMDIR_NAME = "DICOMDIR"
_COMPONENT = re.compile(r"[A-Z0-9_]{1,8}")
_DEFER_BYTES = 1 << 20


@dataclass(frozen=True)
class FileSetEntry:
    """One instance of a file-set.

    Attributes
    ----------
    source
        The file it was copied from (for a file-set read back: the file in the set).
    file_id
        Referenced File ID components, e.g. ``("DICOM", "PT000000", ..., "IM000000")``.
    size
        Bytes of the file (0 when a read-back DICOMDIR references a missing file).
    """

    source: Path
    file_id: tuple[str, ...]
    sop_instance_uid: str
    size: int

    def path_in(self, root: Path) -> Path:
        """Where the file is in the file-set rooted at ``root``."""
        return Path(root).joinpath(*self.file_id)


@dataclass
class FileSetReport:
    """What a file-set holds and how it was made.

    Attributes
    ----------
    notes
        Record keys filled in by rule, and other facts worth telling the user.
    """

    root: Path
    profile: MediaProfile
    choice: ProfileChoice
    entries: list[FileSetEntry]
    dicomdir: Path
    fileset_id: str
    notes: list[str] = field(default_factory=list)
    patients: int = 0
    studies: int = 0
    series: int = 0

    @property
    def bytes(self) -> int:
        """Bytes of the referenced files plus the DICOMDIR."""
        dicomdir = self.dicomdir.stat().st_size if self.dicomdir.is_file() else 0
        return sum(entry.size for entry in self.entries) + dicomdir


def conformant_file_id(file_id: Sequence[str]) -> bool:
    """Whether ``file_id`` is a conformant File ID (PS3.10 8.2, 8.5; PS3.11 D.3.2).

    1 to 8 components, each 1 to 8 of ``A-Z``, ``0-9`` and ``_``.
    """
    parts = list(file_id)
    return 1 <= len(parts) <= 8 and all(_COMPONENT.fullmatch(part) for part in parts)


def read_header(path: Path) -> Dataset:
    """The data set of a Part-10 file without its pixel data.

    Raises
    ------
    ValueError
        Naming the file, when it is missing, unreadable or not a DICOM Part-10 file.
    """
    try:
        # values over 1 MiB (an encapsulated PDF, waveform samples) are left unread
        header = dcmread(path, stop_before_pixels=True, defer_size=_DEFER_BYTES)
    except FileNotFoundError as error:
        raise ValueError(f"{path} does not exist") from error
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, struct.error) as error:
        raise ValueError(f"{path} is not a readable DICOM file: {error}") from error
    if not header.file_meta.get("TransferSyntaxUID"):
        raise ValueError(f"{path} has no File Meta Information (not a DICOM Part-10 file)")
    return header


def is_part10(path: Path) -> bool:
    """Whether ``path`` starts like a DICOM Part-10 file (``DICM`` after the preamble)."""
    try:
        with path.open("rb") as file:
            head = file.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"
