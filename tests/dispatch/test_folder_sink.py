"""Folder destination: verified Part-10 copies under safe names (izer.dispatch.folder_sink)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from pydicom import dcmread

from izer.dispatch import folder_sink
from izer.dispatch.errors import DeliveryError
from izer.dispatch.folder_sink import (
    DEFAULT_LAYOUT,
    MAX_NAME_BYTES,
    copy_to_folder,
    safe_name,
    validate_layout,
)
from tests.helpers.dicom_samples import write_secondary_capture


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    folder = tmp_path / "nas"
    folder.mkdir()
    return folder


def _still(tmp_path: Path, name: str = "in.dcm", **kwargs: object) -> Path:
    path = tmp_path / "source" / name
    path.parent.mkdir(exist_ok=True)
    write_secondary_capture(path, **kwargs)
    return path


def _all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_copies_are_byte_identical_under_the_default_layout(
    tmp_path: Path, destination: Path
) -> None:
    sources = [_still(tmp_path, f"s{i}.dcm", patient_id="IZT-FS-1") for i in range(3)]
    done: list[tuple[int, int]] = []

    copies = copy_to_folder(destination, sources, progress=lambda d, t: done.append((d, t)))

    assert len(copies) == 3
    for source, copy in zip(sources, copies, strict=True):
        header = dcmread(source, stop_before_pixels=True)
        assert copy == (
            destination / "IZT-FS-1" / header.StudyInstanceUID / f"{header.SOPInstanceUID}.dcm"
        )
        assert copy.read_bytes() == source.read_bytes()
    total = sum(p.stat().st_size for p in sources)
    assert done[-1] == (total, total)
    assert _all_files(destination) == sorted(copies)  # no temporary files left


@pytest.mark.parametrize(
    ("patient_id", "expected"),
    [
        ("../../etc", "_.._etc"),
        ("..", "_"),
        ("CON", "_CON"),
        ("com1.txt", "_com1.txt"),
        ("LPT9", "_LPT9"),
        ('a/b:c*d?e"f<g>h|i', "a_b_c_d_e_f_g_h_i"),
        ("trailing. . ", "trailing"),
        (".hidden", "hidden"),
        ("", "_"),
        ("tab\there", "tab_here"),
        ("Müller^Zoë", "Müller^Zoë"),
    ],
)
def test_hostile_patient_ids_become_one_safe_folder(
    tmp_path: Path, destination: Path, patient_id: str, expected: str
) -> None:
    source = _still(tmp_path, patient_id=patient_id)

    [copy] = copy_to_folder(destination, [source])

    relative = copy.relative_to(destination)
    assert relative.parts[0] == expected
    assert len(relative.parts) == 3
    assert copy.resolve().is_relative_to(destination.resolve())
    assert copy.read_bytes() == source.read_bytes()


def test_backslashes_and_control_characters_are_replaced() -> None:
    assert safe_name("a\\b\x00c\x1fd\x7fe") == "a_b_c_d_e"


def test_long_values_are_cut_and_stay_distinct() -> None:
    first, second = "A" * 300 + "1", "A" * 300 + "2"

    names = {safe_name(first), safe_name(second)}

    assert len(names) == 2
    assert all(len(n.encode("utf-8")) <= MAX_NAME_BYTES for n in names)
    assert all(n.startswith("AAAA") for n in names)


def test_long_multibyte_values_are_cut_on_a_character_boundary() -> None:
    name = safe_name("é" * 200)

    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    name.encode("utf-8").decode("utf-8")  # still valid UTF-8


def test_custom_layout_uses_other_header_values(tmp_path: Path, destination: Path) -> None:
    source = _still(tmp_path, accession="ACC/42")
    header = dcmread(source, stop_before_pixels=True)

    [copy] = copy_to_folder(
        destination,
        [source],
        layout="{StudyDate}_{AccessionNumber}/{Modality}-{InstanceNumber}.dcm",
    )

    assert copy.relative_to(destination) == Path(f"{header.StudyDate}_ACC_42", "OT-1.dcm")


def test_sending_twice_is_harmless(tmp_path: Path, destination: Path) -> None:
    source = _still(tmp_path)
    [first] = copy_to_folder(destination, [source])
    before = first.stat()

    [second] = copy_to_folder(destination, [source])

    assert second == first
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _all_files(destination) == [first]


def test_different_content_under_the_same_name_is_refused_and_kept(
    tmp_path: Path, destination: Path
) -> None:
    source = _still(tmp_path)
    [copy] = copy_to_folder(destination, [source])
    copy.write_bytes(b"someone else's file")

    with pytest.raises(DeliveryError) as caught:
        copy_to_folder(destination, [source])

    assert not caught.value.transient
    assert "different file already has this name" in str(caught.value)
    assert copy.read_bytes() == b"someone else's file"


def test_missing_folder_is_transient_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "share-not-mounted"

    with pytest.raises(DeliveryError) as caught:
        copy_to_folder(missing, [_still(tmp_path)])

    assert caught.value.transient
    assert "does not exist" in str(caught.value)
    assert not missing.exists()


def test_a_file_instead_of_a_folder_is_permanent(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")

    with pytest.raises(DeliveryError) as caught:
        copy_to_folder(not_a_folder, [_still(tmp_path)])

    assert not caught.value.transient
    assert "is not a folder" in str(caught.value)


def test_an_empty_folder_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="no folder configured"):
        copy_to_folder("", [_still(tmp_path)])


@pytest.mark.parametrize(
    ("code", "transient", "words"),
    [
        (errno.EIO, True, "Input/output error"),
        (errno.ENOSPC, True, "disk full"),
        (errno.ESTALE, True, ""),
        (errno.EROFS, False, "read-only"),
        (errno.EACCES, False, "may not write there"),
    ],
)
def test_write_errors_say_why_and_leave_nothing(
    tmp_path: Path,
    destination: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    transient: bool,
    words: str,
) -> None:
    source = _still(tmp_path)

    def failing_fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(folder_sink.os, "fsync", failing_fsync)

    with pytest.raises(DeliveryError) as caught:
        copy_to_folder(destination, [source])

    assert caught.value.transient is transient
    assert "writing failed" in str(caught.value)
    assert words in str(caught.value)
    assert _all_files(destination) == []


def test_a_copy_that_reads_back_wrong_is_not_published(
    tmp_path: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _still(tmp_path)
    real_dcmread = folder_sink.dcmread

    def corrupting_read(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
        header = real_dcmread(path, **kwargs)
        if Path(path).name.endswith(".part"):
            header.SOPInstanceUID = "1.2.3.4"
        return header

    monkeypatch.setattr(folder_sink, "dcmread", corrupting_read)

    with pytest.raises(DeliveryError, match="read back differs"):
        copy_to_folder(destination, [source])

    assert _all_files(destination) == []


def test_without_hard_links_the_copy_is_renamed(
    tmp_path: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _still(tmp_path)

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(folder_sink.os, "link", no_links)

    [copy] = copy_to_folder(destination, [source])

    assert copy.read_bytes() == source.read_bytes()
    assert _all_files(destination) == [copy]


def test_a_link_leading_outside_the_folder_is_refused(tmp_path: Path, destination: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (destination / "PAT-LINK").symlink_to(outside, target_is_directory=True)
    source = _still(tmp_path, patient_id="PAT-LINK")

    with pytest.raises(DeliveryError, match="leads outside") as caught:
        copy_to_folder(destination, [source])

    assert not caught.value.transient
    assert list(outside.iterdir()) == []  # not even a folder was made there


def test_a_source_that_is_not_part10_is_permanent(tmp_path: Path, destination: Path) -> None:
    bogus = tmp_path / "bogus.dcm"
    bogus.write_bytes(b"\0" * 200)

    with pytest.raises(DeliveryError, match="not a DICOM Part-10 file") as caught:
        copy_to_folder(destination, [bogus])

    assert not caught.value.transient
    assert _all_files(destination) == []


@pytest.mark.parametrize(
    "layout",
    ["", "/abs/{SOPInstanceUID}.dcm", "C:/x/{SOPInstanceUID}", "../{SOPInstanceUID}",
     "{PatientId}/{SOPInstanceUID}", "a//{SOPInstanceUID}", "{PatientID!r}",
     "{ReferencedSOPSequence}/{SOPInstanceUID}"],
)  # fmt: skip
def test_bad_layouts_are_refused_with_the_reason(layout: str) -> None:
    with pytest.raises(ValueError, match="layout"):
        validate_layout(layout)


def test_the_default_layout_is_valid() -> None:
    assert validate_layout(DEFAULT_LAYOUT) == ["PatientID", "StudyInstanceUID", "SOPInstanceUID"]
