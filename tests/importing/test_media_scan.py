"""Reading a media: a DICOMDIR's files, or every DICOM file of a folder; bad media named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from izer.importing import MediaError, MediaScan, scan_media
from izer.model import Sex
from tests.importing import MUELLER, SMITH, by_sop_uid, write_media


def _by_name(scan: MediaScan) -> dict[str, object]:
    return {study.patient.name: study for study in scan}


def test_a_dicomdir_gives_two_patients_and_their_studies(tmp_path: Path) -> None:
    media = tmp_path / "cd"
    written = by_sop_uid(write_media(media))
    scan = scan_media(media)
    assert scan.dicomdir == media / "DICOMDIR" and scan.root == media
    assert scan.notes == ()
    assert [p.patient.name for p in scan.patients()] == ["SMITH ANNA", "MUELLER^HANS"]
    smith, mueller = scan  # oldest study first
    assert (mueller.patient.patient_id, mueller.patient.birth_date) == ("EXT-4711", "19610315")
    assert mueller.patient.sex is Sex.MALE
    assert (mueller.accession, mueller.description, mueller.study_date) == (
        "EXTACC1",
        "Gastroscopy",
        "20231107",
    )
    assert mueller.modalities == ("ES", "PR") and mueller.series == 2
    assert len(mueller.files) == 3 and mueller.institution == "Praxis Süd"
    assert smith.modalities == ("ES", "OT") and len(smith.files) == 2
    assert smith.institution == "Klinik Nord" and smith.complete
    found = {i.sop_instance_uid: i for study in scan for i in study.instances}
    assert set(found) == set(written)
    for uid, instance in found.items():
        assert instance.path.is_relative_to(media) and instance.path.name != "DICOMDIR"
        assert instance.study_instance_uid == written[uid].StudyInstanceUID
        assert instance.transfer_syntax_uid == written[uid].file_meta.TransferSyntaxUID
    assert mueller.size == sum(path.stat().st_size for path in mueller.files)
    assert scan.study("2") is mueller and scan.study(smith.study_uid) is smith
    with pytest.raises(ValueError, match="1 to 2"):
        scan.study("3")


def test_pixel_data_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = tmp_path / "cd"
    write_media(media, (MUELLER,))
    real_read = pydicom.dcmread
    reads: list[tuple[str, bool]] = []

    def spy(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append((Path(source).name, bool(kwargs.get("stop_before_pixels"))))
        return real_read(source, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    [study] = scan_media(media)
    assert len(study.files) == 3
    instance_reads = [stop for name, stop in reads if name != "DICOMDIR"]
    assert len(instance_reads) == 3 and all(instance_reads)


def test_a_folder_without_dicomdir_is_scanned_and_other_files_noted(tmp_path: Path) -> None:
    media = tmp_path / "stick"
    written = write_media(media, dicomdir=False)
    scan = scan_media(media)
    assert scan.dicomdir is None
    assert len(scan) == 2 and sum(len(s.files) for s in scan) == len(written)
    [note] = scan.notes
    assert "2 file(s) are not DICOM" in note
    assert "README.TXT" in note and "VIEWER/INDEX.HTM" in note


def test_a_disc_mounted_with_lower_case_names_and_versions(tmp_path: Path) -> None:
    media = tmp_path / "cd"
    write_media(media)
    for path in sorted(media.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        name = path.name.lower() + (";1" if path.is_file() else "")
        path.rename(path.with_name(name))
    assert (media / "dicomdir;1").is_file()
    scan = scan_media(media)
    assert scan.dicomdir == media / "dicomdir;1"
    assert len(scan) == 2 and scan.notes == ()
    assert sum(len(study.files) for study in scan) == 5


def test_a_dicomdir_given_itself_and_a_single_file(tmp_path: Path) -> None:
    media = tmp_path / "cd"
    write_media(media)
    assert len(scan_media(media / "DICOMDIR")) == 2
    one = next(media.rglob("IM*"))
    [study] = scan_media(one)
    assert study.files == (one,) and study.series == 1


def test_missing_files_are_named_and_their_study_is_incomplete(tmp_path: Path) -> None:
    media = tmp_path / "cd"
    write_media(media)
    mueller = _by_name(scan_media(media))["MUELLER^HANS"]
    lost = mueller.files[0]
    lost.unlink()
    scan = scan_media(media)
    studies = _by_name(scan)
    assert not studies["MUELLER^HANS"].complete
    assert len(studies["MUELLER^HANS"].missing) == 1
    assert lost.name in studies["MUELLER^HANS"].missing[0]
    assert len(studies["MUELLER^HANS"].files) == 2
    assert studies["SMITH ANNA"].complete
    [note] = scan.notes
    assert "1 file(s) that are not on the media" in note and lost.name in note


def test_an_unreadable_file_is_noted_and_counts_as_missing(tmp_path: Path) -> None:
    media = tmp_path / "cd"
    write_media(media, (SMITH,))
    [study] = scan_media(media)
    study.files[0].write_bytes(b"not DICOM at all")
    [study] = scan = scan_media(media)
    assert len(study.missing) == 1 and len(study.files) == 1
    assert any("not a DICOM file" in note for note in scan.notes)


def test_a_dicomdir_whose_files_are_all_gone_is_an_error(tmp_path: Path) -> None:
    media = tmp_path / "cd"
    write_media(media, (SMITH,))
    for folder in media.iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    with pytest.raises(MediaError, match="none of the 2 file"):
        scan_media(media)


@pytest.mark.parametrize("case", ["empty", "not-dicom", "absent"])
def test_media_without_anything_to_import(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    if case == "not-dicom":
        (folder / "README.TXT").write_text("hello\n")
        (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
        expected = "no DICOM file among its 2 file"
    elif case == "empty":
        expected = "holds no files"
    else:
        folder = folder / "nothing-here"
        expected = "no such file or folder"
    with pytest.raises(MediaError, match=expected):
        scan_media(folder)


def test_a_file_copied_twice_counts_once(tmp_path: Path) -> None:
    media = tmp_path / "stick"
    write_media(media, (MUELLER,), dicomdir=False)
    original = next(media.rglob("IMG1.dcm"))
    shutil.copy(original, media / "copy.dcm")
    scan = scan_media(media)
    [study] = scan
    assert len(study.files) == 3
    assert any("hold an instance already read" in note for note in scan.notes)
