"""The study store: atomic files, the index, rebuild, procedures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pydicom
import pytest

from izer.model import InstanceState, Patient, ProcedureState, Sex
from izer.store import StoreError, StudyStore, atomic_write_bytes, is_temporary_name
from izer.store.schema import SCHEMA_VERSION, SchemaTooNewError
from tests.helpers.dicom_samples import make_secondary_capture, write_secondary_capture


def test_added_dataset_is_a_readable_part10_file_and_indexed(store: StudyStore) -> None:
    ds = make_secondary_capture(patient_name="Émile^Zoë", patient_id="STORE-1")
    record = store.add_dataset(ds)
    assert record.path.is_file()
    assert record.path.is_relative_to(store.studies_folder)
    back = pydicom.dcmread(record.path)
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert str(back.PatientName) == "Émile^Zoë"
    assert back.PixelData == ds.PixelData
    assert record.size_bytes == record.path.stat().st_size
    assert record.state is InstanceState.STORED
    (study,) = store.studies()
    assert (study.patient_id, study.patient_name) == ("STORE-1", "Émile^Zoë")
    assert (study.series_count, study.instance_count) == (1, 1)
    assert store.instances(ds.StudyInstanceUID) == [record]


def test_storing_the_same_instance_twice_keeps_one(store: StudyStore) -> None:
    ds = make_secondary_capture()
    store.add_dataset(ds)
    store.add_dataset(ds)
    assert len(store.instances()) == 1
    assert len(list(store.studies_folder.rglob("*.dcm"))) == 1


def test_one_instance_is_found_by_its_uid(store: StudyStore) -> None:
    first, second = make_secondary_capture(), make_secondary_capture()
    records = [store.add_dataset(first), store.add_dataset(second)]
    assert store.instance(second.SOPInstanceUID) == records[1]
    assert store.instance(first.SOPInstanceUID) == records[0]
    assert store.instance("1.2.3.4.5.404") is None


def test_a_dataset_without_uids_is_refused_with_its_names(store: StudyStore) -> None:
    ds = make_secondary_capture()
    del ds.SeriesInstanceUID
    with pytest.raises(StoreError, match="SeriesInstanceUID"):
        store.add_dataset(ds)
    assert store.instances() == []
    assert not any(store.studies_folder.rglob("*"))


def test_import_copies_a_file_and_a_non_dicom_file_is_refused(
    store: StudyStore, tmp_path: Path
) -> None:
    source = tmp_path / "in.dcm"
    write_secondary_capture(source)
    record = store.import_file(source)
    assert record.path.read_bytes() == source.read_bytes()
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all" * 10)
    with pytest.raises(StoreError, match="not a readable DICOM"):
        store.import_file(junk)
    assert len(store.instances()) == 1


def test_failed_validation_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    from izer.store.atomic import atomic_write

    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"old")

    def refuse(path: Path) -> None:
        raise ValueError("bad content")

    with pytest.raises(ValueError, match="bad content"):
        atomic_write(target, lambda handle: handle.write(b"new"), validate=refuse)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_rebuild_recreates_the_index_from_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with StudyStore(folder) as store:
        for number in range(3):
            store.add_dataset(make_secondary_capture(instance_number=number + 1))
        before = store.instances()
    (folder / "index.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        (folder / f"index.sqlite3{suffix}").unlink(missing_ok=True)
    some_folder = before[0].path.parent
    (some_folder / ".izer-tmp-0123456789ab-IMHALF.dcm").write_bytes(b"DICM half")
    (some_folder / "IMBROKEN.dcm").write_bytes(b"garbage")
    with StudyStore(folder) as store:
        assert store.instances() == []
        report = store.rebuild()
        assert report.indexed == 3
        assert [p.name for p, _ in report.unreadable] == ["IMBROKEN.dcm"]
        assert store.instances() == before


def test_opening_sweeps_leftover_temporaries(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with StudyStore(folder):
        pass
    leftover = folder / "studies" / "STX" / ".izer-tmp-aaaaaaaaaaaa-IM1.dcm"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"partial")
    assert is_temporary_name(leftover)
    with StudyStore(folder):
        assert not leftover.exists()


def test_index_is_wal_and_schema_versioned(store: StudyStore) -> None:
    db = sqlite3.connect(store.folder / "index.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()


def test_an_index_from_a_newer_izer_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    db = sqlite3.connect(folder / "index.sqlite3")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(SchemaTooNewError, match="upgrade izer"):
        StudyStore(folder)


def test_procedure_transitions_are_recorded_and_survive_reopening(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    patient = Patient("P-1", "Doe^Jane", "19800101", Sex.FEMALE)
    with StudyStore(folder) as store:
        procedure = store.create_procedure(patient, "1.2.3.4", accession_number="ACC1")
        store.transition(procedure.procedure_id, ProcedureState.IN_PROGRESS)
    with StudyStore(folder) as store:
        active = store.active_procedure()
        assert active is not None
        assert active.state is ProcedureState.IN_PROGRESS
        assert active.patient == patient
        assert active.accession_number == "ACC1"
        assert len(active.study_date) == 8
        assert store.transitions(procedure.procedure_id) == [
            (ProcedureState.IDLE, ProcedureState.PATIENT_SELECTED),
            (ProcedureState.PATIENT_SELECTED, ProcedureState.IN_PROGRESS),
        ]
