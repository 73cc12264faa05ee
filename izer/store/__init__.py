"""The local study store: Part-10 files on disk plus an SQLite index (WAL)."""

from izer.store.atomic import atomic_write, atomic_write_bytes, is_temporary_name
from izer.store.store import StoreError, StudyStore

__all__ = ["StoreError", "StudyStore", "atomic_write", "atomic_write_bytes", "is_temporary_name"]
