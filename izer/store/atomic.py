"""Write-then-rename, so that a file under its final name is always complete.

The data goes to a temporary name in the same folder, is flushed and fsync'ed, optionally
validated, and only then renamed over the final name; the folder is fsync'ed so the rename
survives a power cut. A process killed at any point leaves at most a temporary file, which
:func:`is_temporary_name` recognises and the store sweeps away.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMPORARY_PREFIX = ".izer-tmp-"


def is_temporary_name(path: Path) -> bool:
    """True for the temporary files :func:`atomic_write` creates."""
    return path.name.startswith(TEMPORARY_PREFIX)


def atomic_write(
    path: Path,
    write: Callable[[BinaryIO], None],
    *,
    validate: Callable[[Path], None] | None = None,
) -> int:
    """Create or replace ``path`` atomically; return the number of bytes written.

    Parameters
    ----------
    path
        Final name.
    write
        Writes the whole content to the binary file object it is given.
    validate
        Called with the temporary path after fsync; raising aborts the write and removes
        the temporary file, leaving any earlier ``path`` untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{TEMPORARY_PREFIX}{secrets.token_hex(6)}-{path.name}")
    try:
        with open(temporary, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        if validate is not None:
            validate(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return size


def atomic_write_bytes(path: Path, data: bytes) -> int:
    """:func:`atomic_write` for content already in memory."""
    return atomic_write(path, lambda handle: handle.write(data))


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
