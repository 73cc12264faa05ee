"""StudyStore.adopt_file: a finished Part-10 file moves in by a rename, and is indexed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pydicom
import pytest

from izer.store import StoreError, StudyStore
from tests.helpers.dicom_samples import write_secondary_capture


def test_a_file_in_the_scratch_area_is_renamed_into_place_and_indexed(
    store: StudyStore,
) -> None:
    scratch = store.scratch_path("video.dcm")
    assert scratch.parent == store.studies_folder
    write_secondary_capture(scratch)
    data = scratch.read_bytes()
    inode = scratch.stat().st_ino
    record = store.adopt_file(scratch)
    assert not scratch.exists()
    assert record.path.read_bytes() == data
    assert record.path.stat().st_ino == inode  # moved, not copied
    header = pydicom.dcmread(record.path, stop_before_pixels=True)
    assert record.path == store.path_for(
        header.StudyInstanceUID, header.SeriesInstanceUID, header.SOPInstanceUID
    )
    assert store.instances() == [record]
    assert record.size_bytes == len(data)


def test_a_file_that_is_not_dicom_is_refused_and_left_where_it_is(store: StudyStore) -> None:
    scratch = store.scratch_path("junk.dcm")
    scratch.write_bytes(b"no DICOM here" * 20)
    with pytest.raises(StoreError, match="not a readable DICOM"):
        store.adopt_file(scratch)
    assert scratch.exists()
    assert store.instances() == []


def test_a_file_on_another_file_system_is_refused(
    store: StudyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "elsewhere.dcm"
    write_secondary_capture(source)

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", cross_device)
    with pytest.raises(StoreError, match="another file system"):
        store.adopt_file(source)
    assert source.exists()
    assert store.instances() == []


def test_scratch_files_left_by_a_killed_writer_are_swept_on_open(tmp_path: Path) -> None:
    with StudyStore(tmp_path / "store") as first:
        left = [
            first.scratch_path("conformed"),
            first.studies_folder / f".{first.scratch_path('x.dcm').name}.1234.partial",
        ]
        for path in left:
            path.write_bytes(b"half a video")
        keep = first.studies_folder / "notes.txt"
        keep.write_text("not ours")
    with StudyStore(tmp_path / "store"):
        assert not any(path.exists() for path in left)
        assert keep.exists()
