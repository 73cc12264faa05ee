"""Filing instances received by izer's Storage SCP (``izer serve``) into the local store.

:class:`ReceiveHandler` is the listener's store handler (:data:`izer.net.listener.StoreHandler`).
For each C-STORE (PS3.4 B.2.3) it answers, in this order:

- 0xA700 (out of resources) without writing anything, while the store's disk has less free
  space than ``[listener] min_free_mb``;
- 0xA900 (data set does not match SOP class) when the instance cannot be identified: SOP
  Class, SOP Instance, Study Instance or Series Instance UID missing or not a UID, or SOP
  Class / Instance UID not those of the C-STORE request. The data set is kept in
  ``<store>/received-errors/`` with a ``.txt`` naming the reason;
- 0x0000 once the store wrote the file atomically, fsync'ed it and indexed it;
- 0xA700 when that failed for lack of space, 0xC000 (cannot understand) for any other
  failure (the data set then also goes to the error folder).
"""

from __future__ import annotations

import errno
import itertools
import logging
import re
import shutil
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset

from izer.net.listener import STORE_CANNOT_UNDERSTAND, StoreOutcome
from izer.store.atomic import atomic_write, atomic_write_bytes

if TYPE_CHECKING:
    from izer.engine.core import Engine

log = logging.getLogger(__name__)

#: Folder (in the store's folder) for instances that were refused.
ERROR_FOLDER = "received-errors"

#: C-STORE failure statuses (PS3.4 Table B.2-1).
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH_SOP_CLASS = 0xA900

#: Attributes an instance needs to be filed (PS3.3 C.12.1, C.7.2.1, C.7.3.1: all type 1).
IDENTITY_KEYWORDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")

# PS3.5 9.1: digits and dots, at most 64 characters. Leading zeros, although not allowed, are
# tolerated: such instances exist and refusing them would lose them.
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_DISK_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def identity_problems(dataset: Dataset, file_meta: FileMetaDataset) -> list[str]:
    """Why ``dataset`` cannot be filed (empty list: it can).

    Checks the identifying UIDs (type 1) and that SOP Class and Instance agree with the
    C-STORE request's Affected SOP Class / Instance UID, which ``file_meta`` carries as its
    Media Storage SOP Class / Instance UID (PS3.7 9.1.1.1).
    """
    problems = []
    for keyword in IDENTITY_KEYWORDS:
        value = dataset.get(keyword)
        text = "" if value is None else str(value)
        if not text:
            problems.append(f"{keyword} missing")
        elif len(text) > 64 or not _UID.fullmatch(text):
            problems.append(f"{keyword} {text!r} is not a UID")
    for keyword, meta_keyword, request_name in (
        ("SOPClassUID", "MediaStorageSOPClassUID", "Affected SOP Class UID"),
        ("SOPInstanceUID", "MediaStorageSOPInstanceUID", "Affected SOP Instance UID"),
    ):
        value, requested = dataset.get(keyword), file_meta.get(meta_keyword)
        if value and requested and str(value) != str(requested):
            problems.append(
                f"{keyword} {value} differs from the C-STORE {request_name} {requested}"
            )
    return problems


def _disk_related(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


class ReceiveHandler:
    """Files instances received by the listener into ``engine.store`` (see module docstring).

    Parameters
    ----------
    engine
        Gives the store and ``[listener] min_free_mb``.
    auto_export
        Whether received studies go to the ``[[auto_export]]`` rules: off for what izer
        retrieves itself (``izer retrieve``), which must not be exported and forwarded again.
    """

    def __init__(self, engine: Engine, *, auto_export: bool = True) -> None:
        self.engine = engine
        self.auto_export = auto_export
        self.store = engine.store
        self.min_free_bytes = engine.settings.listener.min_free_mb * 1024 * 1024
        self.error_folder = Path(engine.store.folder) / ERROR_FOLDER
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(
        self, dataset: Dataset, file_meta: FileMetaDataset, calling_aet: str
    ) -> StoreOutcome:
        """File one instance; returns once it is durable (or refused)."""
        free = shutil.disk_usage(self.store.folder).free
        if free < self.min_free_bytes:
            log.warning(
                "refused an instance from %s: %d MiB free in %s, below listener.min_free_mb "
                "(%d MiB)",
                calling_aet,
                free // (1024 * 1024),
                self.store.folder,
                self.min_free_bytes // (1024 * 1024),
            )
            return StoreOutcome(OUT_OF_RESOURCES, "out of disk space")
        problems = identity_problems(dataset, file_meta)
        if problems:
            reason = "; ".join(problems)
            kept = self._keep(dataset, file_meta, calling_aet, reason)
            log.warning("refused an instance from %s (%s); kept as %s", calling_aet, reason, kept)
            return StoreOutcome(DOES_NOT_MATCH_SOP_CLASS, reason)
        dataset.file_meta = file_meta
        try:
            self.store.add_dataset(dataset)
        except Exception as exc:
            if _disk_related(exc):
                log.error("cannot store an instance from %s, disk full: %s", calling_aet, exc)
                return StoreOutcome(OUT_OF_RESOURCES, "out of disk space")
            reason = f"cannot be stored: {exc}"
            kept = self._keep(dataset, file_meta, calling_aet, reason)
            log.error("an instance from %s %s; kept as %s", calling_aet, reason, kept)
            return StoreOutcome(STORE_CANNOT_UNDERSTAND, reason)
        study_uid = str(dataset.StudyInstanceUID)
        patient_id = str(dataset.get("PatientID", "") or "")
        self._note_received(study_uid, calling_aet, patient_id)
        return StoreOutcome(0x0000, study_uid=study_uid, patient_id=patient_id)

    def _note_received(self, study_uid: str, calling_aet: str, patient_id: str) -> None:
        """Tell the auto-export rules; never fails the C-STORE (the instance is stored)."""
        auto_export = getattr(self.engine, "auto_export", None)
        if auto_export is None or not self.auto_export:
            return
        try:
            auto_export.note_received(study_uid, calling_aet, patient_id=patient_id)
        except Exception:
            log.exception(
                "auto-export: could not note study %s from %s (stored, but not exported "
                "automatically; export it with izer export)",
                study_uid,
                calling_aet,
            )

    def _keep(
        self, dataset: Dataset, file_meta: FileMetaDataset, calling_aet: str, reason: str
    ) -> Path | None:
        """Write the refused data set and its reason to the error folder (best effort)."""
        with self._lock:
            number = next(self._numbers)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S.%f")
        safe_aet = "".join(ch if ch.isalnum() else "_" for ch in calling_aet.strip()) or "_"
        base = f"{stamp}_{safe_aet}_{number}"
        path = self.error_folder / f"{base}.dcm"
        try:
            atomic_write_bytes(
                self.error_folder / f"{base}.txt",
                f"from {calling_aet}: {reason}\n".encode(),
            )
            dataset.file_meta = file_meta
            dataset.preamble = b"\0" * 128

            def write(handle) -> None:  # type: ignore[no-untyped-def]
                pydicom.dcmwrite(handle, dataset, enforce_file_format=False)

            atomic_write(path, write)
        except Exception:
            log.exception("could not keep a refused instance from %s in %s", calling_aet, path)
            return None
        return path
