"""ISO 9660 images of a media folder: names seen by isoinfo and xorriso, extraction, failures.

The trees are made here: a DICOMDIR written by pydicom's FileSet over tiny made-up VL
Endoscopic stills under ``DICOM/``, and a web part with long, mixed-case and non-ASCII names.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.fileset import FileSet

from izer.dispatch.media import iso as iso_module
from izer.dispatch.media.iso import (
    IsoError,
    IsoNaming,
    IsoTree,
    extract_iso,
    find_tool,
    list_iso,
    make_iso,
)
from izer.encode import TransferSyntax, VLKind, vl_image
from tests.encode.factories import make_context
from tests.helpers.binaries import require_binaries

FILE_SET_ID = "IZTEST01"
#: Web part of the tree: relative path -> content. Long, lower-case and non-ASCII names.
WEB_FILES = {
    "README.TXT": b"Made-up patient CD for tests.\r\n",
    "INDEX.HTM": b"<html><a href='IHE_PDI/study_overview.html'>open</a></html>\n",
    "IHE_PDI/study_overview.html": b"<html>overview</html>\n",
    "IHE_PDI/viewer-script.min.js": b"// viewer\n",
    "IHE_PDI/images/thumbnail_series_0001.jpg": b"\xff\xd8\xff\xe0 thumb 1",
    "IHE_PDI/images/thumbnail_series_0002.jpg": b"\xff\xd8\xff\xe0 thumb 2",
    "IHE_PDI/reports/Befund \u00dcbersicht 2024-06-03.html": b"<html>report</html>\n",
}


def make_media_tree(root: Path, *, instances: int = 3, padding_bytes: int = 0) -> Path:
    """A media folder: DICOMDIR + ``DICOM/PT.../IM...`` (pydicom FileSet) and a web part.

    ``padding_bytes`` adds an opaque file of that size to the web part, to make the
    image larger.
    """
    root.mkdir(parents=True, exist_ok=True)
    file_set = FileSet()
    file_set.ID = FILE_SET_ID
    for n in range(instances):
        pixels = np.full((16, 16, 3), 30 * n, np.uint8)
        pixels[n, :, 0] = 255
        ds = vl_image(
            pixels,
            make_context(n + 1, "ES"),
            kind=VLKind.ENDOSCOPIC,
            transfer_syntax=TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
        )
        file_set.add(ds)
    file_set.write(root)
    # pydicom names the files PT*/ST*/SE*/IM* at the root; IHE PDI keeps them under DICOM/.
    (root / "DICOM").mkdir()
    for folder in root.glob("PT*"):
        shutil.move(folder, root / "DICOM" / folder.name)
    directory = dcmread(root / "DICOMDIR")
    for record in directory.DirectoryRecordSequence:
        if "ReferencedFileID" in record:
            record.ReferencedFileID = ["DICOM", *record.ReferencedFileID]
    FileSet(directory).write(use_existing=True)
    for relative, content in WEB_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if padding_bytes:
        (root / "IHE_PDI" / "padding_video_clip.bin").write_bytes(os.urandom(padding_bytes))
    return root


def tree_files(root: Path) -> list[str]:
    """Relative POSIX paths of the regular files under *root*, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def dicom_part(root: Path) -> list[str]:
    """DICOMDIR and the files under DICOM/, relative, sorted."""
    return [p for p in tree_files(root) if p == "DICOMDIR" or p.startswith("DICOM/")]


def run(*argv: str, encoding: str = "utf-8") -> str:
    environment = {**os.environ, "LC_ALL": "C.UTF-8"}
    result = subprocess.run(argv, capture_output=True, check=True, env=environment)
    return result.stdout.decode(encoding)


@pytest.fixture(scope="module")
def media_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media_tree(tmp_path_factory.mktemp("media") / "root")


@pytest.fixture(scope="module")
def cd_image(media_tree: Path, tmp_path_factory: pytest.TempPathFactory):
    require_binaries("xorriso")
    calls: list[tuple[int, int]] = []
    iso = tmp_path_factory.mktemp("iso") / "patient.iso"
    report = make_iso(media_tree, iso, volume_id=FILE_SET_ID, progress=lambda *a: calls.append(a))
    return report, calls


def test_image_report_describes_the_file(cd_image, media_tree: Path) -> None:
    report, _ = cd_image
    data = report.path.read_bytes()
    assert report.size == len(data) and report.size % 2048 == 0
    assert report.md5 == hashlib.md5(data).hexdigest()
    assert report.files == len(tree_files(media_tree))
    assert report.volume_id == FILE_SET_ID
    assert not Path(str(report.path) + ".part").exists()


def test_progress_ends_at_the_image_size(cd_image) -> None:
    report, calls = cd_image
    assert calls, "progress was never called"
    assert calls[-1] == (report.size, report.size)
    done = [d for d, _ in calls]
    assert done == sorted(done)


def test_volume_descriptor_has_file_set_id_joliet_and_rock_ridge(cd_image) -> None:
    require_binaries("genisoimage")
    report, _ = cd_image
    info = run("isoinfo", "-d", "-i", str(report.path))
    assert re.search(r"^Volume id: IZTEST01$", info, re.MULTILINE)
    assert re.search(r"^Publisher id: IZER$", info, re.MULTILINE)
    assert "Joliet" in info
    assert "Rock Ridge" in info


@pytest.mark.parametrize(
    ("naming", "suffix"), [(IsoNaming.CD, ".;1"), (IsoNaming.DVD, ";1")], ids=["cd", "dvd"]
)
def test_iso9660_tree_has_level1_names_and_exact_dicom_names(
    media_tree: Path, tmp_path: Path, naming: IsoNaming, suffix: str
) -> None:
    """PS3.12 F.1.2.1 (CD): ``/COMP1/.../COMPN.;1``; P.1.3.1 (DVD): no dot."""
    require_binaries("xorriso", "genisoimage")
    iso = make_iso(media_tree, tmp_path / "x.iso", volume_id=FILE_SET_ID, naming=naming).path
    raw = [line for line in run("isoinfo", "-i", str(iso), "-f").splitlines() if line]
    files = {line.lstrip("/") for line in raw if ";" in line}
    expected = {f"{name}{suffix}" for name in dicom_part(media_tree)}
    assert expected <= files, sorted(expected - files)
    assert "DICOMDIR" + suffix in files
    for line in raw:  # ISO 9660 level 1: directories 8 characters, files 8.3, d-characters
        *folders, leaf = line.lstrip("/").split("/")
        for folder in folders:
            assert re.fullmatch(r"[A-Z0-9_]{1,8}", folder), line
        if ";" in leaf:
            assert re.fullmatch(r"[A-Z0-9_]{1,8}(\.[A-Z0-9_]{0,3})?;1", leaf), line
        else:
            assert re.fullmatch(r"[A-Z0-9_]{1,8}", leaf), line
    # isoinfo -l shows the same record names, with the DICOM files' sizes.
    listing = run("isoinfo", "-i", str(iso), "-l")
    size = (media_tree / "DICOMDIR").stat().st_size
    assert re.search(rf"\s{size} .*\]\s+DICOMDIR{re.escape(suffix)}\s*$", listing, re.MULTILINE)


def test_joliet_tree_has_the_long_names(cd_image, media_tree: Path) -> None:
    require_binaries("genisoimage")
    report, _ = cd_image
    # isoinfo knows no UTF-8 output; Latin-1 holds every name used here.
    listing = run(
        "isoinfo", "-J", "-j", "iso8859-1", "-i", str(report.path), "-f", encoding="latin-1"
    )
    listed = listing.splitlines()
    joliet = {line.lstrip("/") for line in listed if line}
    for relative in tree_files(media_tree):
        assert relative in joliet, relative
    assert "IHE_PDI/reports/Befund \u00dcbersicht 2024-06-03.html" in joliet


def test_xorriso_finds_every_file(cd_image, media_tree: Path) -> None:
    report, _ = cd_image
    found = run("xorriso", "-indev", str(report.path), "-find", "/", "-type", "f")
    paths = sorted(line.strip("'").lstrip("/") for line in found.splitlines() if line)
    assert paths == tree_files(media_tree)


def test_list_iso_reads_each_tree(cd_image, media_tree: Path) -> None:
    report, _ = cd_image
    source = tree_files(media_tree)
    assert list_iso(report.path, tree=IsoTree.ROCK_RIDGE) == source
    assert list_iso(report.path, tree=IsoTree.JOLIET) == source
    plain = list_iso(report.path)
    assert set(dicom_part(media_tree)) <= set(plain)
    assert "IHE_PDI/STUDY_OV.HTM" in plain
    assert len(plain) == len(source)


def test_extraction_is_byte_identical(cd_image, media_tree: Path, tmp_path: Path) -> None:
    report, _ = cd_image
    target = tmp_path / "copy"
    extract_iso(report.path, target)
    assert tree_files(target) == tree_files(media_tree)
    for relative in tree_files(media_tree):
        assert (target / relative).read_bytes() == (media_tree / relative).read_bytes(), relative
        assert os.access(target / relative, os.W_OK)
    assert not (tmp_path / "copy.part").exists()
    # The extracted DICOMDIR still references every DICOM file by its exact name.
    directory = dcmread(target / "DICOMDIR")
    referenced = {
        "/".join(r.ReferencedFileID)
        for r in directory.DirectoryRecordSequence
        if "ReferencedFileID" in r
    }
    assert referenced == {p for p in dicom_part(media_tree) if p != "DICOMDIR"}


def test_extraction_refuses_a_folder_with_files(cd_image, tmp_path: Path) -> None:
    report, _ = cd_image
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an empty folder"):
        extract_iso(report.path, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_symbolic_links_are_followed(media_tree: Path, tmp_path: Path) -> None:
    require_binaries("xorriso")
    root = tmp_path / "root"
    shutil.copytree(media_tree, root)
    outside = tmp_path / "big_clip.mp4"
    outside.write_bytes(b"\x00\x00\x00\x18ftypmp42 made-up clip")
    (root / "IHE_PDI" / "clip.mp4").symlink_to(outside)
    iso = make_iso(root, tmp_path / "x.iso", volume_id=FILE_SET_ID).path
    extract_iso(iso, tmp_path / "out")
    copied = tmp_path / "out" / "IHE_PDI" / "clip.mp4"
    assert not copied.is_symlink()
    assert copied.read_bytes() == outside.read_bytes()


def test_a_stale_part_file_is_not_appended_to(media_tree: Path, tmp_path: Path) -> None:
    require_binaries("xorriso")
    target = tmp_path / "x.iso"
    first = make_iso(media_tree, tmp_path / "first.iso", volume_id=FILE_SET_ID)
    shutil.copy(first.path, tmp_path / "x.iso.part")  # left by an interrupted run
    report = make_iso(media_tree, target, volume_id=FILE_SET_ID)
    assert report.size == first.size
    assert list_iso(target, tree=IsoTree.ROCK_RIDGE) == tree_files(media_tree)
    assert not (tmp_path / "x.iso.part").exists()


def test_missing_target_folder_leaves_nothing(media_tree: Path, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "x.iso"
    with pytest.raises(IsoError, match="does not exist"):
        make_iso(media_tree, target, volume_id=FILE_SET_ID)
    assert not target.parent.exists()


def test_target_inside_the_folder_is_refused(media_tree: Path) -> None:
    with pytest.raises(ValueError, match="outside the media folder"):
        make_iso(media_tree, media_tree / "self.iso", volume_id=FILE_SET_ID)
    assert not (media_tree / "self.iso.part").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE is a POSIX resource limit")
def test_a_write_failure_midway_leaves_no_part(media_tree: Path, tmp_path: Path) -> None:
    """xorriso may write at most 256 KiB (as on a full disk): the 2 MiB image fails."""
    import resource

    require_binaries("xorriso")
    root = make_media_tree(tmp_path / "root", instances=1, padding_bytes=2 << 20)
    target = tmp_path / "x.iso"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, hard))
    try:
        with pytest.raises(IsoError, match=r"file size limit|disk is full|could not write"):
            make_iso(root, target, volume_id=FILE_SET_ID)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert not target.exists()
    assert not (tmp_path / "x.iso.part").exists()


def test_a_progress_exception_stops_xorriso(media_tree: Path, tmp_path: Path) -> None:
    require_binaries("xorriso")

    def cancel(done: int, total: int) -> None:
        raise KeyboardInterrupt("user cancelled")

    with pytest.raises(KeyboardInterrupt):
        make_iso(media_tree, tmp_path / "x.iso", volume_id=FILE_SET_ID, progress=cancel)
    assert list(tmp_path.iterdir()) == []


def test_timeout_stops_xorriso(media_tree: Path, tmp_path: Path) -> None:
    require_binaries("xorriso")
    with pytest.raises(IsoError, match="did not finish within"):
        make_iso(media_tree, tmp_path / "x.iso", volume_id=FILE_SET_ID, timeout_s=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("volume_id", ["", "lower", "TOO_LONG_FOR_A_FILESET", "A-B"])
def test_volume_id_must_be_a_file_set_id(media_tree: Path, tmp_path: Path, volume_id: str) -> None:
    with pytest.raises(ValueError, match="File-set ID"):
        make_iso(media_tree, tmp_path / "x.iso", volume_id=volume_id)


def test_volume_id_must_match_the_dicomdir(media_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differs from the File-set ID 'IZTEST01'"):
        make_iso(media_tree, tmp_path / "x.iso", volume_id="OTHER")


def test_a_missing_referenced_file_is_refused(media_tree: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(media_tree, root)
    victim = next(p for p in dicom_part(root) if p.startswith("DICOM/"))
    (root / victim).unlink()
    with pytest.raises(ValueError, match=f"references {victim}, which is not a file"):
        make_iso(root, tmp_path / "x.iso", volume_id=FILE_SET_ID)
    assert not (tmp_path / "x.iso").exists()


def test_a_name_too_long_for_joliet_is_refused(media_tree: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(media_tree, root)
    (root / "IHE_PDI" / ("x" * 70 + ".html")).write_text("long")
    with pytest.raises(ValueError, match="too long for Joliet"):
        make_iso(root, tmp_path / "x.iso", volume_id=FILE_SET_ID)


def test_a_missing_tool_names_the_package_to_install() -> None:
    with pytest.raises(IsoError, match=r"izer-no-such-tool is not installed: sudo apt-get install"):
        find_tool("izer-no-such-tool")


def test_too_little_disk_space_is_refused_before_writing(
    media_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file data alone exceed the free space reported for the target folder."""
    free = 64 << 10
    usage = SimpleNamespace(total=1 << 30, used=(1 << 30) - free, free=free)
    monkeypatch.setattr(iso_module.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(IsoError, match=r"not enough disk space .* needs about .* MB are free"):
        make_iso(media_tree, tmp_path / "x.iso", volume_id=FILE_SET_ID)
    assert list(tmp_path.iterdir()) == []
