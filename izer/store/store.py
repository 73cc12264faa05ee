"""The study store: every instance as a Part-10 file, every file in the SQLite index.

Files live at ``<folder>/studies/ST<hash>/SE<hash>/IM<hash>.dcm``, each hash a short digest of
the Study, Series or SOP Instance UID (full UIDs would make paths too long for Windows), and are
written atomically (:mod:`izer.store.atomic`), validated by reading them back before they take
their final name. The index (``<folder>/index.sqlite3``, WAL mode) can always be rebuilt from
the files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from izer.model import (
    InstanceRecord,
    InstanceState,
    Patient,
    Procedure,
    ProcedureState,
    SeriesRecord,
    Sex,
    StudyRecord,
)
from izer.model.procedure import check_transition
from izer.store.atomic import TEMPORARY_PREFIX, atomic_write, fsync_folder, is_temporary_name
from izer.store.schema import migrate

INDEX_NAME = "index.sqlite3"
STUDIES_FOLDER = "studies"


class StoreError(Exception):
    """A file the store cannot take or read; the message says which and why."""


@dataclass
class RebuildReport:
    """What :meth:`StudyStore.rebuild` found."""

    indexed: int = 0
    removed_temporaries: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value)


def _number(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class StudyStore:
    """Files plus index under one folder; safe to use from several threads.

    Parameters
    ----------
    folder
        Root of the store; created when missing.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.studies_folder = self.folder / STUDIES_FOLDER
        self.studies_folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.folder / INDEX_NAME, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # The files are fsync'ed one by one and the index can always be rebuilt from them, so
        # the index needs WAL's crash consistency, not an fsync per commit.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        migrate(self._db)
        self._sweep_temporaries()

    def close(self) -> None:
        """Close the index."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- instances ----------------------------------------------------------------------------

    def path_for(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        """Where the instance with these UIDs lives."""
        return (
            self.studies_folder
            / f"ST{_digest(study_uid)}"
            / f"SE{_digest(series_uid)}"
            / f"IM{_digest(sop_uid)}.dcm"
        )

    def add_dataset(self, dataset: Dataset) -> InstanceRecord:
        """Write ``dataset`` as a Part-10 file and index it; replaces the same SOP Instance.

        The dataset needs ``file_meta.TransferSyntaxUID`` and the Study, Series and SOP
        Instance UIDs. The file is on disk (fsync'ed, validated) before this returns.
        """
        header = _require_identity(dataset, "dataset")
        target = self.path_for(*header)

        def write(handle) -> None:  # type: ignore[no-untyped-def]
            dataset.save_as(handle, enforce_file_format=True)

        size = atomic_write(target, write, validate=lambda p: _check_written(p, header[2]))
        return self._index(dataset, target, size)

    def import_file(self, source: Path) -> InstanceRecord:
        """Copy an existing Part-10 file into the store (streamed, validated) and index it."""
        header_ds = _read_header(source)
        header = _require_identity(header_ds, str(source))
        target = self.path_for(*header)

        def copy(handle) -> None:  # type: ignore[no-untyped-def]
            with open(source, "rb") as original:
                shutil.copyfileobj(original, handle, 1 << 20)

        size = atomic_write(target, copy, validate=lambda p: _check_written(p, header[2]))
        return self._index(header_ds, target, size)

    def scratch_path(self, name: str) -> Path:
        """A new path for a temporary file inside the store (same file system as its files).

        The name starts with the temporary prefix, so a file left there by a process that
        was killed is removed when the store is next opened. Large files (a video stream, an
        instance to :meth:`adopt_file`) are made here so that moving them in is a rename.
        """
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:60]
        return self.studies_folder / f"{TEMPORARY_PREFIX}{secrets.token_hex(6)}-{safe}"

    def adopt_file(self, path: Path) -> InstanceRecord:
        """Move a complete Part-10 file into the store by renaming it, and index it.

        For instances too large to copy again (a video written and verified by
        :func:`izer.encode.video.write_video_instance`): the file must already be written,
        fsync'ed and checked, on the store's file system (see :meth:`scratch_path`). Its
        header is read back, it is renamed to its place (replacing the same SOP Instance)
        and the folder is synced before it is indexed.

        Raises
        ------
        StoreError
            When the file is not a readable Part-10 file with the identifying UIDs, or lies
            on another file system (use :meth:`import_file` to copy it instead); the file is
            then left where it is.
        """
        source = Path(path)
        header_ds = _read_header(source)
        header = _require_identity(header_ds, str(source))
        target = self._move_in(source, header, "import it (a copy) instead of adopting it")
        return self._index(header_ds, target, target.stat().st_size)

    def _move_in(self, source: Path, header: tuple[str, str, str], instead: str) -> Path:
        """Rename a checked file to the place of ``header`` (study, series, SOP UIDs), synced.

        Raises
        ------
        StoreError
            When the rename fails; ``instead`` says what to do when the file lies on another
            file system.
        """
        target = self.path_for(*header)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise StoreError(
                    f"{source}: lies on another file system than the store; {instead}"
                ) from exc
            raise StoreError(f"{source}: cannot be moved into the store ({exc.strerror})") from exc
        fsync_folder(target.parent)
        return target

    def replace_instance(self, sop_uid: str, new_file: Path) -> InstanceRecord:
        """Put ``new_file`` in the place of the stored instance ``sop_uid``, by renaming it.

        For an instance whose header was corrected (patient reconciliation, PS3.3 C.12.1.1.9:
        same SOP Instance UID): ``new_file`` must be complete, fsync'ed and checked, on the
        store's file system (see :meth:`scratch_path`), with the same SOP Instance, Series and
        Study UIDs. It is renamed over the old file (the same rules as :meth:`adopt_file`), and
        the index takes its patient, study accession number and instance row from it.

        Raises
        ------
        StoreError
            When the index does not hold ``sop_uid``, the file is not a readable Part-10 file
            with the same identifying UIDs, or cannot be renamed; the stored file and the
            index are then unchanged and ``new_file`` is left where it is.
        """
        source = Path(new_file)
        with self._lock:
            row = self._db.execute(
                "SELECT i.path, i.series_uid, s.study_uid FROM instances i "
                "JOIN series s ON s.series_uid = i.series_uid WHERE i.sop_uid = ?",
                (sop_uid,),
            ).fetchone()
        if row is None:
            raise StoreError(f"no instance {sop_uid} in the store to replace")
        relative, series_uid, study_uid = row
        header_ds = _read_header(source)
        header = _require_identity(header_ds, str(source))
        if header != (study_uid, series_uid, sop_uid):
            raise StoreError(
                f"{source}: its Study, Series or SOP Instance UID differs from the stored "
                f"instance {sop_uid}; a replacement keeps all three (store it as a new instance)"
            )
        old_path = self.folder / relative
        target = self._move_in(source, header, "make it with scratch_path()")
        if old_path != target:
            old_path.unlink(missing_ok=True)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                record = self._index_rows(header_ds, target, target.stat().st_size)
                patient_key = self._db.execute(
                    "SELECT patient_key FROM patients WHERE patient_id = ? AND issuer = ?",
                    (_text(header_ds, "PatientID"), _text(header_ds, "IssuerOfPatientID")),
                ).fetchone()[0]
                self._db.execute(
                    "UPDATE studies SET patient_key = ?, accession_number = ? WHERE study_uid = ?",
                    (patient_key, _text(header_ds, "AccessionNumber"), study_uid),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return record

    def delete_instance(self, sop_uid: str) -> bool:
        """Remove one instance: its file first, then its index row.

        Idempotent: ``False`` when the index does not hold ``sop_uid``; a file already gone
        is not an error, so a crash between the two steps is finished by calling again (or
        by :meth:`rebuild`). A series or study left without instances leaves the index too,
        and so do their emptied folders; procedures are kept.

        Raises
        ------
        StoreError
            When the file exists but cannot be removed (the row is then kept).
        """
        with self._lock:
            row = self._db.execute(
                "SELECT i.path, i.series_uid, s.study_uid FROM instances i "
                "JOIN series s ON s.series_uid = i.series_uid WHERE i.sop_uid = ?",
                (sop_uid,),
            ).fetchone()
        if row is None:
            return False
        relative, series_uid, study_uid = row
        path = self.folder / relative
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"{path}: cannot be removed ({exc.strerror or exc})") from exc
        fsync_folder(path.parent)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM instances WHERE sop_uid = ?", (sop_uid,))
                self._db.execute(
                    "DELETE FROM series WHERE series_uid = ? AND NOT EXISTS "
                    "(SELECT 1 FROM instances WHERE series_uid = ?)",
                    (series_uid, series_uid),
                )
                self._db.execute(
                    "DELETE FROM studies WHERE study_uid = ? AND NOT EXISTS "
                    "(SELECT 1 FROM series WHERE study_uid = ?)",
                    (study_uid, study_uid),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        for folder in (path.parent, path.parent.parent):
            if folder != self.studies_folder:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
        return True

    def instances(self, study_uid: str | None = None) -> list[InstanceRecord]:
        """Stored instances, of one study or of all, in series and instance order."""
        if study_uid is None:
            return self._instance_rows("", ())
        return self._instance_rows(" WHERE s.study_uid = ?", (study_uid,))

    def instance(self, sop_uid: str) -> InstanceRecord | None:
        """The stored instance ``sop_uid`` (``None`` when the store does not hold it)."""
        found = self._instance_rows(" WHERE i.sop_uid = ?", (sop_uid,))
        return found[0] if found else None

    def _instance_rows(self, where: str, args: tuple[str, ...]) -> list[InstanceRecord]:
        query = (
            "SELECT i.sop_uid, i.sop_class_uid, i.series_uid, s.study_uid, "
            "i.transfer_syntax_uid, i.instance_number, i.size_bytes, i.path, i.state "
            "FROM instances i JOIN series s ON s.series_uid = i.series_uid"
            + where
            + " ORDER BY s.study_uid, s.series_number, i.instance_number, i.sop_uid"
        )
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [
            InstanceRecord(
                sop_instance_uid=row[0],
                sop_class_uid=row[1],
                series_instance_uid=row[2],
                study_instance_uid=row[3],
                transfer_syntax_uid=row[4],
                instance_number=row[5],
                size_bytes=row[6],
                path=self.folder / row[7],
                state=InstanceState(row[8]),
            )
            for row in rows
        ]

    def studies(self) -> list[StudyRecord]:
        """Every stored study, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT st.study_uid, p.patient_id, p.patient_name, st.study_date, "
                "st.study_time, st.accession_number, st.description, "
                "COUNT(DISTINCT se.series_uid), COUNT(i.sop_uid), "
                "COALESCE(SUM(i.size_bytes), 0) "
                "FROM studies st JOIN patients p ON p.patient_key = st.patient_key "
                "LEFT JOIN series se ON se.study_uid = st.study_uid "
                "LEFT JOIN instances i ON i.series_uid = se.series_uid "
                "GROUP BY st.study_uid ORDER BY st.study_date DESC, st.study_time DESC"
            ).fetchall()
        return [StudyRecord(*row) for row in rows]

    def series(self, study_uid: str) -> list[SeriesRecord]:
        """The series of one study, by series number."""
        with self._lock:
            rows = self._db.execute(
                "SELECT se.series_uid, se.study_uid, se.modality, se.series_number, "
                "se.description, COUNT(i.sop_uid) FROM series se "
                "LEFT JOIN instances i ON i.series_uid = se.series_uid "
                "WHERE se.study_uid = ? GROUP BY se.series_uid ORDER BY se.series_number",
                (study_uid,),
            ).fetchall()
        return [SeriesRecord(*row) for row in rows]

    def rebuild(self) -> RebuildReport:
        """Re-create the instance index from the files on disk.

        Leftover temporary files of interrupted writes are removed; files that cannot be
        read as DICOM are reported, never deleted.
        """
        report = RebuildReport()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("instances", "series", "studies"):
                    self._db.execute(f"DELETE FROM {table}")
                for path in sorted(self._files()):
                    if is_temporary_name(path) or _is_scratch_name(path):
                        path.unlink(missing_ok=True)
                        report.removed_temporaries += 1
                        continue
                    try:
                        ds = _read_header(path)
                        _require_identity(ds, str(path))
                    except StoreError as exc:
                        report.unreadable.append((path, str(exc)))
                        continue
                    self._index_rows(ds, path, path.stat().st_size)
                    report.indexed += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return report

    def _files(self) -> Iterator[Path]:
        return (p for p in self.studies_folder.rglob("*") if p.is_file())

    def _sweep_temporaries(self) -> None:
        # Also the files writers derive from a temporary name (".<name>.<id>.partial").
        for path in self.studies_folder.rglob(f"*{TEMPORARY_PREFIX}*"):
            if path.is_file() and _is_scratch_name(path):
                path.unlink(missing_ok=True)

    def _index(self, ds: Dataset, path: Path, size: int) -> InstanceRecord:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                record = self._index_rows(ds, path, size)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return record

    def _index_rows(self, ds: Dataset, path: Path, size: int) -> InstanceRecord:
        patient_key = self._upsert_patient(
            Patient(
                patient_id=_text(ds, "PatientID"),
                name=_text(ds, "PatientName"),
                birth_date=_text(ds, "PatientBirthDate"),
                sex=Sex(_text(ds, "PatientSex")) if _text(ds, "PatientSex") in "MFO" else Sex(""),
                issuer=_text(ds, "IssuerOfPatientID"),
            )
        )
        db = self._db
        db.execute(
            "INSERT INTO studies (study_uid, patient_key, study_date, study_time, "
            "accession_number, study_id, description) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (study_uid) DO NOTHING",
            (
                ds.StudyInstanceUID,
                patient_key,
                _text(ds, "StudyDate"),
                _text(ds, "StudyTime"),
                _text(ds, "AccessionNumber"),
                _text(ds, "StudyID"),
                _text(ds, "StudyDescription"),
            ),
        )
        db.execute(
            "INSERT INTO series (series_uid, study_uid, modality, series_number, description) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (series_uid) DO NOTHING",
            (
                ds.SeriesInstanceUID,
                ds.StudyInstanceUID,
                _text(ds, "Modality"),
                _number(ds, "SeriesNumber"),
                _text(ds, "SeriesDescription"),
            ),
        )
        relative = path.relative_to(self.folder).as_posix()
        transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
        db.execute(
            "INSERT INTO instances (sop_uid, series_uid, sop_class_uid, transfer_syntax_uid, "
            "instance_number, size_bytes, path, state, stored_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sop_uid) DO UPDATE SET "
            "series_uid = excluded.series_uid, sop_class_uid = excluded.sop_class_uid, "
            "transfer_syntax_uid = excluded.transfer_syntax_uid, "
            "instance_number = excluded.instance_number, size_bytes = excluded.size_bytes, "
            "path = excluded.path, stored_at = excluded.stored_at",
            (
                ds.SOPInstanceUID,
                ds.SeriesInstanceUID,
                str(ds.SOPClassUID),
                transfer_syntax,
                _number(ds, "InstanceNumber"),
                size,
                relative,
                InstanceState.STORED.value,
                _now(),
            ),
        )
        return InstanceRecord(
            sop_instance_uid=ds.SOPInstanceUID,
            sop_class_uid=str(ds.SOPClassUID),
            series_instance_uid=ds.SeriesInstanceUID,
            study_instance_uid=ds.StudyInstanceUID,
            transfer_syntax_uid=transfer_syntax,
            instance_number=_number(ds, "InstanceNumber"),
            size_bytes=size,
            path=path,
        )

    def _upsert_patient(self, patient: Patient) -> int:
        row = self._db.execute(
            "INSERT INTO patients (patient_id, issuer, patient_name, birth_date, sex) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (patient_id, issuer) DO UPDATE SET "
            "patient_name = excluded.patient_name, birth_date = excluded.birth_date, "
            "sex = excluded.sex RETURNING patient_key",
            (
                patient.patient_id,
                patient.issuer,
                patient.name,
                patient.birth_date,
                patient.sex.value,
            ),
        ).fetchone()
        return int(row[0])

    # -- procedures ---------------------------------------------------------------------------

    def create_procedure(
        self,
        patient: Patient,
        study_uid: str,
        *,
        accession_number: str = "",
        description: str = "",
        context: str = "",
    ) -> Procedure:
        """Record a new procedure in ``PATIENT_SELECTED`` and make it the active one.

        ``context`` is the engine's request context (JSON text), kept as it is.
        """
        now = _now()
        local = datetime.now()
        study_date, study_time = local.strftime("%Y%m%d"), local.strftime("%H%M%S")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE procedures SET active = 0 WHERE active = 1")
                patient_key = self._upsert_patient(patient)
                cursor = self._db.execute(
                    "INSERT INTO procedures (patient_key, study_uid, study_date, study_time, "
                    "accession_number, description, context, state, active, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                    (
                        patient_key,
                        study_uid,
                        study_date,
                        study_time,
                        accession_number,
                        description,
                        context,
                        ProcedureState.PATIENT_SELECTED.value,
                        now,
                        now,
                    ),
                )
                procedure_id = int(cursor.lastrowid or 0)
                self._record_transition(
                    procedure_id, ProcedureState.IDLE, ProcedureState.PATIENT_SELECTED, now
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Procedure(
            procedure_id=procedure_id,
            patient=patient,
            study_uid=study_uid,
            study_date=study_date,
            study_time=study_time,
            state=ProcedureState.PATIENT_SELECTED,
            accession_number=accession_number,
            description=description,
            context=context,
        )

    def set_procedure_context(
        self, procedure_id: int, *, context: str | None = None, mpps_uid: str | None = None
    ) -> Procedure:
        """Replace a procedure's request context (JSON text) and/or its MPPS SOP Instance UID.

        Raises
        ------
        StoreError
            When there is no such procedure.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._procedure_state(procedure_id)  # raises for an unknown procedure
                self._db.execute(
                    "UPDATE procedures SET context = COALESCE(?, context), "
                    "mpps_uid = COALESCE(?, mpps_uid), updated_at = ? WHERE procedure_id = ?",
                    (context, mpps_uid, _now(), procedure_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        procedure = self.procedure(procedure_id)
        assert procedure is not None
        return procedure

    def transition(self, procedure_id: int, to_state: ProcedureState) -> Procedure:
        """Move a procedure to ``to_state``, checked and recorded in one transaction.

        Going to ``IDLE`` detaches the procedure from the station (it keeps its last state).
        """
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                current = self._procedure_state(procedure_id)
                if not self._is_active(procedure_id):
                    current = ProcedureState.IDLE if not current.is_closed else current
                check_transition(current, to_state)
                if to_state is ProcedureState.IDLE:
                    self._db.execute(
                        "UPDATE procedures SET active = 0, updated_at = ? WHERE procedure_id = ?",
                        (now, procedure_id),
                    )
                else:
                    self._db.execute("UPDATE procedures SET active = 0 WHERE active = 1")
                    self._db.execute(
                        "UPDATE procedures SET state = ?, active = 1, updated_at = ? "
                        "WHERE procedure_id = ?",
                        (to_state.value, now, procedure_id),
                    )
                self._record_transition(procedure_id, current, to_state, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        procedure = self.procedure(procedure_id)
        assert procedure is not None
        return procedure

    def set_study_patient(
        self, study_uid: str, patient: Patient, *, accession_number: str | None = None
    ) -> list[Procedure]:
        """Give every procedure of ``study_uid`` the patient ``patient`` (reconciliation).

        The accession number changes too when given. Returns the procedures changed, none
        when no procedure has that study (a study imported or converted).
        """
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                patient_key = self._upsert_patient(patient)
                self._db.execute(
                    "UPDATE procedures SET patient_key = ?, "
                    "accession_number = COALESCE(?, accession_number), updated_at = ? "
                    "WHERE study_uid = ?",
                    (patient_key, accession_number, now, study_uid),
                )
                ids = [
                    row[0]
                    for row in self._db.execute(
                        "SELECT procedure_id FROM procedures WHERE study_uid = ? "
                        "ORDER BY procedure_id",
                        (study_uid,),
                    ).fetchall()
                ]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [p for p in (self.procedure(i) for i in ids) if p is not None]

    def started_procedures(
        self, *, study_uids: Sequence[str] = (), accessions: Sequence[str] = ()
    ) -> list[tuple[str, str, ProcedureState, str]]:
        """Procedures that went to IN_PROGRESS for these studies or accession numbers.

        Returns ``(key, value, state now, first IN_PROGRESS time)`` rows, oldest first, where
        ``key`` is ``"study_uid"`` or ``"accession_number"``: the worklist marks such entries
        as possible duplicates (starting one again would make a second performed step).
        """
        found: list[tuple[str, str, ProcedureState, str]] = []
        for column, values in (("study_uid", study_uids), ("accession_number", accessions)):
            unique = sorted(set(values))
            for start in range(0, len(unique), 400):
                chunk = unique[start : start + 400]
                marks = ", ".join("?" * len(chunk))
                with self._lock:
                    rows = self._db.execute(
                        f"SELECT pr.{column}, pr.state, MIN(t.at) FROM procedures pr "
                        "JOIN procedure_transitions t ON t.procedure_id = pr.procedure_id "
                        f"WHERE t.to_state = ? AND pr.{column} IN ({marks}) "
                        "GROUP BY pr.procedure_id ORDER BY MIN(t.at)",
                        (ProcedureState.IN_PROGRESS.value, *chunk),
                    ).fetchall()
                found.extend(
                    (column, value, ProcedureState(state), at) for value, state, at in rows
                )
        return found

    def active_procedure(self) -> Procedure | None:
        """The procedure the station is attached to, as left by the last run."""
        with self._lock:
            row = self._db.execute(
                "SELECT procedure_id FROM procedures WHERE active = 1"
            ).fetchone()
        return self.procedure(row[0]) if row else None

    def procedure(self, procedure_id: int) -> Procedure | None:
        """One procedure by its key."""
        with self._lock:
            row = self._db.execute(
                "SELECT pr.procedure_id, p.patient_id, p.patient_name, p.birth_date, p.sex, "
                "p.issuer, pr.study_uid, pr.study_date, pr.study_time, pr.state, "
                "pr.accession_number, pr.description, pr.context, pr.mpps_uid "
                "FROM procedures pr JOIN patients p ON p.patient_key = pr.patient_key "
                "WHERE pr.procedure_id = ?",
                (procedure_id,),
            ).fetchone()
        if row is None:
            return None
        return Procedure(
            procedure_id=row[0],
            patient=Patient(
                patient_id=row[1], name=row[2], birth_date=row[3], sex=Sex(row[4]), issuer=row[5]
            ),
            study_uid=row[6],
            study_date=row[7],
            study_time=row[8],
            state=ProcedureState(row[9]),
            accession_number=row[10],
            description=row[11],
            context=row[12],
            mpps_uid=row[13],
        )

    def transitions(self, procedure_id: int) -> list[tuple[ProcedureState, ProcedureState]]:
        """The recorded moves of one procedure, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT from_state, to_state FROM procedure_transitions "
                "WHERE procedure_id = ? ORDER BY transition_id",
                (procedure_id,),
            ).fetchall()
        return [(ProcedureState(a), ProcedureState(b)) for a, b in rows]

    def _procedure_state(self, procedure_id: int) -> ProcedureState:
        row = self._db.execute(
            "SELECT state FROM procedures WHERE procedure_id = ?", (procedure_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no procedure {procedure_id} in the store")
        return ProcedureState(row[0])

    def _is_active(self, procedure_id: int) -> bool:
        row = self._db.execute(
            "SELECT active FROM procedures WHERE procedure_id = ?", (procedure_id,)
        ).fetchone()
        return bool(row and row[0])

    def _record_transition(
        self, procedure_id: int, from_state: ProcedureState, to_state: ProcedureState, at: str
    ) -> None:
        self._db.execute(
            "INSERT INTO procedure_transitions (procedure_id, from_state, to_state, at) "
            "VALUES (?, ?, ?, ?)",
            (procedure_id, from_state.value, to_state.value, at),
        )


def _is_scratch_name(path: Path) -> bool:
    """A temporary name, or one a writer derived from it by adding dots in front."""
    return path.name.lstrip(".").startswith(TEMPORARY_PREFIX.lstrip("."))


def _digest(uid: str) -> str:
    return hashlib.blake2b(uid.encode("ascii"), digest_size=8).hexdigest().upper()


#: The attributes the index is made of; reading only these is several times faster.
INDEXED_KEYWORDS = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "Modality",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
    "StudyDescription",
    "SeriesDescription",
)


def _read_header(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=INDEXED_KEYWORDS)
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise StoreError(f"{path}: not a readable DICOM Part-10 file ({exc})") from exc


def _require_identity(ds: Dataset, what: str) -> tuple[str, str, str]:
    missing = [
        keyword
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
        if not ds.get(keyword)
    ]
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", Dataset()):
        missing.append("file_meta.TransferSyntaxUID")
    if missing:
        raise StoreError(f"{what}: cannot be stored, missing {', '.join(missing)}")
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def _check_written(path: Path, sop_uid: str) -> None:
    written = _read_header(path)
    if written.get("SOPInstanceUID") != sop_uid:
        raise StoreError(f"{path}: read back a different SOP Instance UID than was written")
