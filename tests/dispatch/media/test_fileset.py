"""File-sets with a DICOMDIR: built, checked with dciodvfy and DCMTK dcmmkdir, read back."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet, is_conformant_file_id

from izer.dispatch.media import (
    FileSetReport,
    MediaProfile,
    Medium,
    build_fileset,
    check_fileset,
    choose_profile,
    conformant_file_id,
    read_fileset,
    split_by_capacity,
)
from izer.dispatch.media import fileset as fileset_module
from izer.dispatch.media.capacity import instance_cost
from izer.dispatch.media.profiles import AUTO_ORDER
from tests.dispatch.media.conftest import H264, MPEG2, with_syntax
from tests.helpers.binaries import require_binaries
from tests.helpers.validators import dciodvfy

#: Record keys that only say where records are.
_PLUMBING = {
    "OffsetOfTheNextDirectoryRecord",
    "OffsetOfReferencedLowerLevelDirectoryEntity",
    "RecordInUseFlag",
}


@dataclass(frozen=True)
class Case:
    """Content of one fixture study on one medium, and the profile it must get."""

    name: str
    fixture: str
    medium: Medium
    profile: MediaProfile
    pick: Callable[[list[Path]], list[Path]] = list


def _no_video(paths: list[Path]) -> list[Path]:
    videos = set(with_syntax(paths, H264, MPEG2))
    return [path for path in paths if path not in videos]


CASES = [
    Case("cd-explicit", "media_two_patients", Medium.CD, MediaProfile.STD_GEN_CD),
    Case("dvd-jpeg", "media_study_stills", Medium.DVD, MediaProfile.STD_GEN_DVD_JPEG),
    Case("usb-jpeg", "media_study_mixed", Medium.USB, MediaProfile.STD_GEN_USB_JPEG, _no_video),
    Case(
        "bd-h264",
        "media_study_mixed",
        Medium.BD,
        MediaProfile.STD_GEN_BD_MPEG4_HPLV41,
        lambda paths: with_syntax(paths, H264),
    ),
    Case(
        "dvd-mpeg2",
        "media_study_mixed",
        Medium.DVD,
        MediaProfile.STD_DVD_MPEG2_MPML,
        lambda paths: with_syntax(paths, MPEG2),
    ),
    Case("usb-hevc-general", "media_study_hevc", Medium.USB, MediaProfile.GENERAL),
]

#: dcmmkdir has no "no profile" mode; STD-GEN-MIME is the one that accepts every syntax.
GENERAL_OPTION = "-Pmi"


def dcmmkdir(tree: Path, option: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """DCMTK dcmmkdir over a copy of ``tree`` (without its DICOMDIR), output to ``out``."""
    binary = require_binaries("dcmmkdir")["dcmmkdir"]
    copy = out.parent / "tree"
    shutil.copytree(tree, copy, ignore=shutil.ignore_patterns("DICOMDIR"))
    command = [str(binary), option, *extra, "+r", "+id", str(copy), "+D", str(out)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def complaints(stderr: str) -> list[str]:
    """dcmmkdir's error and warning lines (it exits 0 even when it skipped files)."""
    return [line for line in stderr.splitlines() if line.startswith(("E:", "W:", "F:"))]


def record_keys(dicomdir: Path) -> dict[tuple[str, str], set[str]]:
    """Keywords of each record, keyed by record type and the UID or ID it is about."""
    keys = {}
    for record in pydicom.dcmread(dicomdir).DirectoryRecordSequence:
        kind = record.DirectoryRecordType
        about = {
            "PATIENT": "PatientID",
            "STUDY": "StudyInstanceUID",
            "SERIES": "SeriesInstanceUID",
        }.get(kind, "ReferencedSOPInstanceUIDInFile")
        keys[(kind, str(record.get(about)))] = {
            element.keyword for element in record if element.keyword not in _PLUMBING
        }
    return keys


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.name)
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Case, list[Path], FileSetReport]:
    """Each case built once (automatic profile choice)."""
    case = request.param
    sources = case.pick(request.getfixturevalue(case.fixture))
    root = tmp_path_factory.mktemp(case.name) / "SET"
    report = build_fileset(sources, root, medium=case.medium)
    return case, sources, report


def test_the_content_gets_the_expected_profile(
    built: tuple[Case, list[Path], FileSetReport],
) -> None:
    case, sources, report = built
    assert report.profile is case.profile, report.choice.reason
    assert len(report.entries) == len(sources)
    if case.profile is MediaProfile.GENERAL:
        assert report.notes[0].startswith("general file-set, no media profile claimed")
        assert "HEVC video has no PS3.11 media profile" in report.notes[0]


def test_dciodvfy_finds_a_basic_directory_without_errors(
    built: tuple[Case, list[Path], FileSetReport],
) -> None:
    _case, _sources, report = built
    result = dciodvfy(report.dicomdir)
    assert result.iod == "BasicDirectory", str(result)
    assert result.errors == [], str(result)
    assert result.returncode == 0, str(result)
    # dciodvfy 2022 does not know the keys PS3.11 adds for DVD/USB/BD (Rows, Columns, ...):
    # it warns "not present in standard DICOM IOD" about them, and about nothing else.
    others = [w for w in result.warnings if "not present in standard DICOM IOD" not in w]
    assert others == [], str(result)


def test_dcmmkdir_with_the_profile_option_accepts_the_same_files_and_makes_the_same_records(
    built: tuple[Case, list[Path], FileSetReport], tmp_path: Path
) -> None:
    case, _sources, report = built
    option = report.profile.dcmmkdir_option or GENERAL_OPTION
    out = tmp_path / "dcmtk" / "DICOMDIR"
    out.parent.mkdir()
    completed = dcmmkdir(report.root, option, out)
    assert completed.returncode == 0, completed.stderr
    assert complaints(completed.stderr) == [], completed.stderr
    ours, theirs = record_keys(report.dicomdir), record_keys(out)
    assert ours.keys() == theirs.keys()
    if case.profile is not MediaProfile.GENERAL:  # -Pmi uses the basic keys only
        for key, keywords in ours.items():
            assert keywords == theirs[key], key


def test_every_file_is_referenced_conformant_and_a_byte_copy_of_its_source(
    built: tuple[Case, list[Path], FileSetReport],
) -> None:
    _case, sources, report = built
    assert check_fileset(report.root) == []
    assert {entry.source for entry in report.entries} == set(sources)
    for entry in report.entries:
        assert entry.file_id[0] == "DICOM"
        assert conformant_file_id(entry.file_id)
        assert is_conformant_file_id(Path(*entry.file_id))
        copied = entry.path_in(report.root)
        assert filecmp.cmp(entry.source, copied, shallow=False), entry
        assert entry.size == copied.stat().st_size
    files = sorted(p.relative_to(report.root) for p in report.root.rglob("*") if p.is_file())
    assert len(files) == len(sources) + 1  # and the DICOMDIR, nothing else
    assert not report.root.with_name(report.root.name + ".part").exists()


def test_pydicom_reads_the_dicomdir_to_the_same_files(
    built: tuple[Case, list[Path], FileSetReport],
) -> None:
    _case, _sources, report = built
    fs = FileSet(pydicom.dcmread(report.dicomdir))
    found = {instance.SOPInstanceUID: Path(instance.path) for instance in fs}
    expected = {entry.sop_instance_uid: entry.path_in(report.root) for entry in report.entries}
    assert found == expected
    assert fs.ID == "IZER"


def test_read_fileset_gives_back_what_was_built(
    built: tuple[Case, list[Path], FileSetReport],
) -> None:
    case, _sources, report = built
    back = read_fileset(report.root, medium=case.medium)
    assert [(e.file_id, e.sop_instance_uid, e.size) for e in back.entries] == [
        (e.file_id, e.sop_instance_uid, e.size) for e in report.entries
    ]
    assert (back.patients, back.studies, back.series) == (
        report.patients,
        report.studies,
        report.series,
    )
    assert back.fileset_id == "IZER"
    assert back.profile is case.profile
    assert "inferred" in back.choice.reason
    assert back.notes == []
    assert back.bytes == report.bytes > sum(entry.size for entry in report.entries)


def test_two_patients_get_two_patient_records_and_a_utf8_name_keeps_its_character_set(
    media_two_patients: list[Path], tmp_path: Path
) -> None:
    report = build_fileset(media_two_patients, tmp_path / "SET", medium=Medium.CD)
    assert (report.patients, report.studies, report.series) == (2, 2, 4)
    records = pydicom.dcmread(report.dicomdir).DirectoryRecordSequence
    patients = [r for r in records if r.DirectoryRecordType == "PATIENT"]
    assert [str(p.PatientID) for p in patients] == ["IZ-MEDIA-0001", "IZ-MEDIA-0002"]
    assert str(patients[0].PatientName) == "Testperson^Jürgen^Ödön"
    # PS3.3 F.5, 1C: kept in records with text keys (as dcmmkdir does), dropped elsewhere
    assert [str(r.get("SpecificCharacterSet", "")) for r in records[:4]] == [
        "ISO_IR 192",  # PATIENT
        "ISO_IR 192",  # STUDY
        "",  # SERIES: Modality, UID, number
        "",  # IMAGE
    ]
    study_ids = [str(r.StudyID) for r in records if r.DirectoryRecordType == "STUDY"]
    assert study_ids == ["1", "7"]


def test_the_dvd_image_records_carry_rows_columns_and_the_video_its_frames(
    media_study_mixed: list[Path], tmp_path: Path
) -> None:
    video = with_syntax(media_study_mixed, H264)
    report = build_fileset(video, tmp_path / "SET", medium=Medium.BD)
    (image,) = [
        r
        for r in pydicom.dcmread(report.dicomdir).DirectoryRecordSequence
        if r.DirectoryRecordType == "IMAGE"
    ]
    source = pydicom.dcmread(video[0], stop_before_pixels=True)
    assert (image.Rows, image.Columns) == (source.Rows, source.Columns)
    assert int(image.NumberOfFrames) == int(source.NumberOfFrames) > 1
    assert image.ReferencedTransferSyntaxUIDInFile == H264


def test_empty_type_2_keys_are_filled_in_the_records_only_and_noted(
    media_study_keys_missing: list[Path], tmp_path: Path
) -> None:
    report = build_fileset(media_study_keys_missing, tmp_path / "SET", medium=Medium.CD)
    notes = " ".join(report.notes)
    assert "Study ID empty; the STUDY record uses 1" in notes
    assert "Series Number empty; the SERIES record uses 1" in notes
    assert "Instance Number empty" in notes
    assert report.notes[-1].startswith("the keys above are filled in the DICOMDIR records only")
    records = pydicom.dcmread(report.dicomdir).DirectoryRecordSequence
    by_type = {}
    for record in records:
        by_type.setdefault(record.DirectoryRecordType, []).append(record)
    assert str(by_type["STUDY"][0].StudyID) == "1"
    assert str(by_type["SERIES"][0].SeriesNumber) == "1"
    assert [int(r.InstanceNumber) for r in by_type["IMAGE"]] == [1, 2]
    for entry in report.entries:  # the files themselves are untouched
        assert filecmp.cmp(entry.source, entry.path_in(report.root), shallow=False)
    result = dciodvfy(report.dicomdir, strict=True)
    assert result.iod == "BasicDirectory" and result.ok, str(result)


def test_an_empty_patient_id_and_study_date_get_stated_record_values(
    media_study_stills: list[Path], tmp_path: Path
) -> None:
    source = tmp_path / "anonymous.dcm"
    ds = pydicom.dcmread(media_study_stills[0])
    ds.PatientID, ds.StudyDate, ds.StudyTime = "", "", ""
    ds.save_as(source, enforce_file_format=True)
    report = build_fileset([source], tmp_path / "SET", medium=Medium.DVD)
    patient, study = pydicom.dcmread(report.dicomdir).DirectoryRecordSequence[:2]
    assert patient.PatientID == "IZERPAT000001"
    fallback = next(
        str(ds.get(k)) for k in ("SeriesDate", "AcquisitionDate", "ContentDate") if ds.get(k)
    )
    assert study.StudyDate == fallback
    assert study.StudyTime
    notes = " ".join(report.notes)
    assert "Patient ID empty; the PATIENT record uses IZERPAT000001" in notes
    assert f"Study Date empty; the STUDY record uses {fallback}" in notes
    assert dciodvfy(report.dicomdir).errors == []


def test_dcmtk_reads_keys_from_the_files_so_it_needs_invent_mode_for_empty_ones(
    media_study_keys_missing: list[Path], tmp_path: Path
) -> None:
    report = build_fileset(media_study_keys_missing, tmp_path / "SET", medium=Medium.CD)
    strict = tmp_path / "strict" / "DICOMDIR"
    strict.parent.mkdir()
    refused = dcmmkdir(report.root, "-Pgp", strict)
    assert "required attribute StudyID (0020,0010) empty" in refused.stderr
    invent = tmp_path / "invent" / "DICOMDIR"
    invent.parent.mkdir()
    accepted = dcmmkdir(report.root, "-Pgp", invent, "+I")
    assert accepted.returncode == 0, accepted.stderr
    errors = [line for line in complaints(accepted.stderr) if not line.startswith("W:")]
    assert errors == [], accepted.stderr
    assert "inventing StudyID" in accepted.stderr


def test_an_asked_for_profile_the_content_breaks_is_refused_naming_the_files(
    media_study_stills: list[Path], tmp_path: Path
) -> None:
    root = tmp_path / "SET"
    with pytest.raises(ValueError, match="STD-GEN-CD refuses 3 file") as caught:
        build_fileset(media_study_stills, root, medium=Medium.CD, profile=MediaProfile.STD_GEN_CD)
    for path in with_syntax(media_study_stills, "1.2.840.10008.1.2.4.50"):
        assert str(path) in str(caught.value)
    assert not root.exists()
    assert not root.with_name("SET.part").exists()


@pytest.mark.parametrize(
    ("fixture", "medium"),
    [
        ("media_study_mixed", Medium.DVD),
        ("media_study_mixed", Medium.BD),
        ("media_study_mixed", Medium.USB),
        ("media_study_stills", Medium.CD),
        ("media_study_hevc", Medium.USB),
    ],
)
def test_dcmtk_refuses_exactly_the_files_each_profile_refuses(
    fixture: str, medium: Medium, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    sources = request.getfixturevalue(fixture)
    report = build_fileset(sources, tmp_path / "SET", medium=medium)
    assert report.profile is MediaProfile.GENERAL  # no profile of the medium takes it all
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in sources]
    file_ids = {entry.sop_instance_uid: "/".join(entry.file_id) for entry in report.entries}
    for number, profile in enumerate(AUTO_ORDER[medium]):
        refused = choose_profile(headers, medium, profile).refused
        assert refused, profile  # else the automatic choice would have taken it
        out = tmp_path / f"dcmtk{number}" / "DICOMDIR"
        out.parent.mkdir()
        completed = dcmmkdir(report.root, profile.dcmmkdir_option or GENERAL_OPTION, out)
        skipped = {
            line.rsplit(": ", 1)[-1]
            for line in complaints(completed.stderr)
            if line.startswith("E:") and line.rsplit(": ", 1)[-1].startswith("DICOM/")
        }
        assert skipped == {file_ids[uid] for uid in refused}, (profile, completed.stderr)


def test_an_unreadable_input_leaves_no_root_and_no_part(
    media_study_stills: list[Path], tmp_path: Path
) -> None:
    junk = tmp_path / "notes.dcm"
    junk.write_text("not DICOM at all\n", encoding="utf-8")
    root = tmp_path / "SET"
    with pytest.raises(ValueError, match=r"notes\.dcm is not a readable DICOM file"):
        build_fileset([*media_study_stills, junk], root, medium=Medium.DVD)
    assert not root.exists()
    assert not root.with_name("SET.part").exists()


def test_a_copy_failing_halfway_leaves_no_root_and_no_part(
    media_study_stills: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fileset_module.copy_file
    calls = []

    def failing(source: Path, target: Path, advance: Callable[[int], None]) -> int:
        calls.append(source)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(source, target, advance)

    monkeypatch.setattr(fileset_module, "copy_file", failing)
    root = tmp_path / "SET"
    root.mkdir()  # an empty folder may be the target; it stays as it was
    with pytest.raises(OSError, match="No space left"):
        build_fileset(media_study_stills, root, medium=Medium.DVD)
    assert root.is_dir() and list(root.iterdir()) == []
    assert not root.with_name("SET.part").exists()


def test_a_target_in_use_or_a_left_over_part_is_refused(
    media_study_stills: list[Path], tmp_path: Path
) -> None:
    used = tmp_path / "USED"
    used.mkdir()
    (used / "x.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="not an empty folder"):
        build_fileset(media_study_stills, used, medium=Medium.DVD)
    (tmp_path / "NEW.part").mkdir()
    with pytest.raises(ValueError, match="interrupted build; remove it"):
        build_fileset(media_study_stills, tmp_path / "NEW", medium=Medium.DVD)
    with pytest.raises(ValueError, match="File-set ID"):
        build_fileset(media_study_stills, tmp_path / "ID", fileset_id="lower case")


def test_progress_counts_every_byte_up_to_the_total(
    media_study_mixed: list[Path], tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    report = build_fileset(
        media_study_mixed,
        tmp_path / "SET",
        medium=Medium.FOLDER,
        progress=lambda d, t: seen.append((d, t)),
    )
    total = sum(entry.size for entry in report.entries)
    assert seen[0] == (0, total)
    assert seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_the_same_instance_twice_or_one_patient_id_with_two_names_is_refused(
    media_study_stills: list[Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="same SOP Instance UID"):
        build_fileset(
            [*media_study_stills, media_study_stills[0]], tmp_path / "A", medium=Medium.DVD
        )
    other = tmp_path / "other.dcm"
    ds = pydicom.dcmread(media_study_stills[0])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1452.77"
    ds.PatientName = "Someone^Else"
    ds.save_as(other, enforce_file_format=True)
    with pytest.raises(ValueError, match="has two Patient Names"):
        build_fileset([media_study_stills[0], other], tmp_path / "B", medium=Medium.DVD)


# ------------------------------------------------------------------------------ check_fileset


@pytest.fixture
def clean_set(media_study_stills: list[Path], tmp_path: Path) -> FileSetReport:
    return build_fileset(media_study_stills, tmp_path / "SET", medium=Medium.DVD)


def test_check_finds_a_missing_file_and_an_unreferenced_one(clean_set: FileSetReport) -> None:
    first, second = clean_set.entries[0], clean_set.entries[1]
    first.path_in(clean_set.root).unlink()
    stray = clean_set.root / "DICOM" / "EXTRA"
    shutil.copyfile(second.source, stray)
    (clean_set.root / "DICOM" / "README.TXT").write_text("hello", encoding="utf-8")
    (clean_set.root / "INDEX.HTM").write_text("<p>web part</p>", encoding="utf-8")
    problems = check_fileset(clean_set.root)
    shown = "\\".join(first.file_id)
    assert problems == [
        f"{shown} is referenced by the DICOMDIR but missing",
        "DICOM/EXTRA is a DICOM file the DICOMDIR does not reference",
        "DICOM/README.TXT is not DICOM but sits in a DICOM folder",
    ]
    back = read_fileset(clean_set.root)
    assert f"{'/'.join(first.file_id)} is referenced but missing" in back.notes


def _patch_dicomdir(root: Path, change: Callable[[Dataset], None]) -> None:
    """Change values of the DICOMDIR in place without changing any length."""
    path = root / "DICOMDIR"
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the lower-case File ID is invalid on purpose
        change(ds)
    ds.save_as(path, enforce_file_format=True)


def test_check_finds_a_non_conformant_file_id_and_a_wrong_instance(
    clean_set: FileSetReport,
) -> None:
    def change(ds: Dataset) -> None:
        leaves = [r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r]
        leaves[0].ReferencedFileID = [part.lower() for part in leaves[0].ReferencedFileID]
        uid = str(leaves[1].ReferencedSOPInstanceUIDInFile)
        leaves[1].ReferencedSOPInstanceUIDInFile = uid[:-1] + ("1" if uid[-1] != "1" else "2")

    _patch_dicomdir(clean_set.root, change)
    problems = check_fileset(clean_set.root)
    assert any("is not conformant" in p for p in problems), problems
    assert any("the record says SOP Instance UID" in p for p in problems), problems
    assert any("does not reference" in p for p in problems), problems  # the renamed-away file


def test_a_broken_dicomdir_is_reported_with_its_reason(clean_set: FileSetReport) -> None:
    def change(ds: Dataset) -> None:
        ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 12345

    _patch_dicomdir(clean_set.root, change)
    with pytest.raises(ValueError, match="points to no record"):
        read_fileset(clean_set.root)
    assert check_fileset(clean_set.root) == [
        f"{clean_set.root / 'DICOMDIR'} is broken: a record offset (12345) points to no record"
    ]
    (clean_set.root / "DICOMDIR").write_bytes(b"\x00" * 300)
    with pytest.raises(ValueError, match="cannot be read as a DICOMDIR"):
        read_fileset(clean_set.root)
    (clean_set.root / "DICOMDIR").unlink()
    with pytest.raises(ValueError, match="has no DICOMDIR"):
        read_fileset(clean_set.root)


def test_a_lower_case_disc_is_still_read(clean_set: FileSetReport, tmp_path: Path) -> None:
    lowered = tmp_path / "mounted"
    shutil.copytree(clean_set.root, lowered)
    for path in sorted(lowered.rglob("*"), key=lambda p: -len(p.parts)):
        path.rename(path.with_name(path.name.lower()))
    back = read_fileset(lowered)
    assert back.notes == []
    assert all(entry.source.is_file() for entry in back.entries)
    assert any("missing" in problem for problem in check_fileset(lowered))  # not conformant


# ---------------------------------------------------------------------------- split_by_capacity

MB = 1 << 20


def _instance(folder: Path, name: str, size: int, study: str, series: str) -> tuple[Path, Dataset]:
    path = folder / name
    with path.open("wb") as file:
        file.truncate(size)  # sparse: the size is what counts
    header = Dataset()
    header.StudyInstanceUID, header.SeriesInstanceUID = _uid(study), _uid(study + series)
    return path, header


def _uid(name: str) -> str:
    """A made-up UID for a short name (``"S1"`` -> ``1.2.826.0.1.3680043.10.1452.8.83.49``)."""
    return "1.2.826.0.1.3680043.10.1452.8." + ".".join(str(ord(c)) for c in name)


def test_studies_that_fit_together_share_one_volume(tmp_path: Path) -> None:
    items = [_instance(tmp_path, f"i{n}", 10 * MB, "S1" if n < 2 else "S2", "A") for n in range(4)]
    assert split_by_capacity(items, 100 * MB) == [[path for path, _ in items]]


def test_whole_studies_are_packed_first_fit_decreasing(tmp_path: Path) -> None:
    a = _instance(tmp_path, "a", 60 * MB, "S1", "A")
    b = _instance(tmp_path, "b", 50 * MB, "S2", "B")
    c = _instance(tmp_path, "c", 30 * MB, "S3", "C")
    assert split_by_capacity([a, b, c], 100 * MB) == [[a[0], c[0]], [b[0]]]


def test_a_study_larger_than_the_medium_is_split_by_series_then_by_instance(
    tmp_path: Path,
) -> None:
    s1 = [_instance(tmp_path, f"x{n}", 30 * MB, "S1", "X") for n in range(2)]
    s2 = [_instance(tmp_path, f"y{n}", 40 * MB, "S1", "Y") for n in range(3)]
    volumes = split_by_capacity([*s1, *s2], 100 * MB)
    assert len(volumes) == 3
    series_x = [path for path, _ in s1]
    assert any(set(series_x) <= set(volume) for volume in volumes)  # series X kept whole
    assert sorted(p for volume in volumes for p in volume) == sorted(p for p, _ in [*s1, *s2])
    for volume in volumes:
        assert sum(instance_cost(p.stat().st_size) for p in volume) <= 100 * MB


def test_an_instance_larger_than_the_medium_is_named(tmp_path: Path) -> None:
    big = _instance(tmp_path, "huge.dcm", 120 * MB, "S1", "A")
    with pytest.raises(ValueError, match=r"huge\.dcm needs"):
        split_by_capacity([big], 100 * MB)
    with pytest.raises(ValueError, match="leaves no room"):
        split_by_capacity([big], 100 * MB, reserve_bytes=100 * MB)


def test_the_reserve_is_kept_free_on_every_volume(tmp_path: Path) -> None:
    items = [_instance(tmp_path, f"r{n}", 30 * MB, f"S{n}", "A") for n in range(3)]
    assert len(split_by_capacity(items, 100 * MB)) == 1
    assert len(split_by_capacity(items, 100 * MB, reserve_bytes=20 * MB)) == 2


def test_each_volume_becomes_a_complete_file_set_of_its_own(
    media_study_stills: list[Path], media_two_patients: list[Path], tmp_path: Path
) -> None:
    paths = [*media_study_stills, *media_two_patients]
    items = [(path, pydicom.dcmread(path, stop_before_pixels=True)) for path in paths]
    biggest_study = max(
        sum(instance_cost(p.stat().st_size) for p, h in items if h.StudyInstanceUID == uid)
        for uid in {h.StudyInstanceUID for _, h in items}
    )
    volumes = split_by_capacity(items, biggest_study)
    assert len(volumes) >= 2
    study_of = {path: header.StudyInstanceUID for path, header in items}
    homes = {}
    for number, volume in enumerate(volumes):
        for path in volume:
            homes.setdefault(study_of[path], set()).add(number)
        report = build_fileset(volume, tmp_path / f"DISC{number}", medium=Medium.DVD)
        assert check_fileset(report.root) == []
        assert report.studies == len({study_of[path] for path in volume})
    assert len(homes) == 3 and all(len(numbers) == 1 for numbers in homes.values())
