"""Burning to libburn ``stdio:`` pseudo drives with xorriso and cdrskin: checks, copies, verify.

A ``stdio:/path/file`` device is a file that libburn treats as an overwritable disc; its
capacity is the free space of the file system holding it. No optical drive is needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from izer.dispatch.media.burn import (
    BurnError,
    BurnTool,
    burn,
    list_drives,
    media_status,
    parse_devices,
    verify_disc,
)
from izer.dispatch.media.iso import IsoReport, IsoTree, list_iso, make_iso
from tests.dispatch.media.test_iso import FILE_SET_ID, make_media_tree, tree_files
from tests.helpers.binaries import require_binaries


@pytest.fixture(scope="module")
def media_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media_tree(tmp_path_factory.mktemp("burn") / "root")


@pytest.fixture(scope="module")
def image(media_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> IsoReport:
    require_binaries("xorriso")
    iso = tmp_path_factory.mktemp("burn-iso") / "patient.iso"
    return make_iso(media_tree, iso, volume_id=FILE_SET_ID)


def disc_holds(disc: Path, image: IsoReport) -> bool:
    """Whether the pseudo disc starts with the image, byte for byte."""
    with open(disc, "rb") as handle:
        return hashlib.md5(handle.read(image.size)).hexdigest() == image.md5


def test_burn_to_a_pseudo_drive_writes_and_verifies(image: IsoReport, tmp_path: Path) -> None:
    disc = tmp_path / "disc1.iso"
    calls: list[tuple[int, int]] = []
    report = burn(image.path, f"stdio:{disc}", speed="4", progress=lambda *a: calls.append(a))
    assert report.verified and not report.simulated
    assert report.copies == 1
    assert report.md5 == image.md5
    assert report.device == f"stdio:{disc}"
    assert disc_holds(disc, image)
    # writing, then reading back: twice the image, and never backwards
    assert calls[-1] == (2 * image.size, 2 * image.size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # the disc reads as the image did
    assert list_iso(disc, tree=IsoTree.ROCK_RIDGE) == list_iso(image.path, tree=IsoTree.ROCK_RIDGE)


def test_two_copies_ask_for_the_next_disc(image: IsoReport, tmp_path: Path) -> None:
    discs = [tmp_path / "disc1.iso", tmp_path / "disc2.iso"]
    asked: list[int] = []

    def next_disc(copy: int) -> str:
        asked.append(copy)
        assert disc_holds(discs[0], image), "the first disc must be done before the second"
        return f"stdio:{discs[copy - 1]}"

    report = burn(image.path, f"stdio:{discs[0]}", copies=2, next_disc=next_disc)
    assert asked == [2]
    assert report.copies == 2 and report.verified
    assert report.device == f"stdio:{discs[1]}"
    assert all(disc_holds(disc, image) for disc in discs)


def test_next_disc_may_swap_the_disc_in_the_same_drive(image: IsoReport, tmp_path: Path) -> None:
    drive = tmp_path / "drive.iso"
    shelf = tmp_path / "shelf"
    shelf.mkdir()

    def swap(copy: int) -> None:
        drive.rename(shelf / f"copy{copy - 1}.iso")  # take the written disc out

    report = burn(image.path, f"stdio:{drive}", copies=3, next_disc=swap)
    assert report.copies == 3
    assert disc_holds(shelf / "copy1.iso", image)
    assert disc_holds(shelf / "copy2.iso", image)
    assert disc_holds(drive, image)


def test_a_copy_on_the_same_written_disc_is_refused(image: IsoReport, tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    with pytest.raises(BurnError, match="is not blank") as caught:
        burn(image.path, f"stdio:{disc}", copies=2, next_disc=lambda copy: None)
    assert caught.value.transient
    assert disc_holds(disc, image)


def test_simulation_writes_nothing(image: IsoReport, tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    report = burn(image.path, f"stdio:{disc}", simulate=True)
    assert report.simulated and not report.verified
    assert any("nothing was written" in note for note in report.notes)
    assert not disc.exists()


def test_a_written_disc_is_refused_unless_overwriting(image: IsoReport, tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    old = make_iso(
        make_media_tree(tmp_path / "old", instances=1), tmp_path / "old.iso", volume_id="IZTEST01"
    )
    shutil.copy(old.path, disc)
    with pytest.raises(BurnError, match=f"the disc in stdio:{disc} is not blank"):
        burn(image.path, f"stdio:{disc}")
    assert disc_holds(disc, old), "a refused burn must not touch the disc"
    report = burn(image.path, f"stdio:{disc}", overwrite=True)
    assert report.verified
    assert disc_holds(disc, image)


def test_a_disc_too_small_is_refused_before_writing(image: IsoReport, tmp_path: Path) -> None:
    """The pseudo disc holds the free space of its file system; the image is made larger."""
    disc = tmp_path / "disc.iso"
    status = media_status(f"stdio:{disc}")
    assert status.blank and status.free_bytes > 0
    huge = tmp_path / "huge.iso"
    shutil.copy(image.path, huge)
    try:
        os.truncate(huge, status.free_bytes + (1 << 30))  # sparse: no disk space used
    except OSError as exc:
        pytest.skip(f"cannot make a sparse file larger than the free space here: {exc}")
    with pytest.raises(BurnError, match=r"the image needs \d+ MB, the disc in .* holds \d+ MB"):
        burn(huge, f"stdio:{disc}")
    assert not disc.exists()


def test_verification_detects_a_changed_byte(image: IsoReport, tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    burn(image.path, f"stdio:{disc}", verify=False)
    assert verify_disc(image.path, f"stdio:{disc}") == image.md5
    data = bytearray(disc.read_bytes())
    data[image.size // 2] ^= 0xFF
    disc.write_bytes(bytes(data))
    with pytest.raises(BurnError, match=r"verification failed.*differs"):
        verify_disc(image.path, f"stdio:{disc}", md5=image.md5)


def test_verification_detects_a_short_disc(image: IsoReport, tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    disc.write_bytes(image.path.read_bytes()[: image.size // 2])
    with pytest.raises(BurnError, match=r"verification failed|cannot read"):
        verify_disc(image.path, f"stdio:{disc}")


def test_a_folder_is_made_into_an_image_first(media_tree: Path, tmp_path: Path) -> None:
    require_binaries("xorriso")
    disc = tmp_path / "disc.iso"
    report = burn(media_tree, f"stdio:{disc}")
    assert report.verified
    assert any("image of" in note and FILE_SET_ID in note for note in report.notes)
    assert list_iso(disc, tree=IsoTree.ROCK_RIDGE) == tree_files(media_tree)


def test_media_status_of_pseudo_drives(image: IsoReport, tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    blank = media_status(f"stdio:{disc}")
    assert blank.present and blank.blank and not blank.appendable and blank.rewritable
    assert "stdio" in blank.kind
    assert blank.free_bytes % 2048 == 0
    assert blank.free_bytes <= shutil.disk_usage(tmp_path).free + (1 << 20)
    burn(image.path, f"stdio:{disc}", verify=False)
    written = media_status(f"stdio:{disc}")
    assert not written.blank and written.appendable and written.rewritable
    # the written session counts in the capacity, not in the room left
    assert 0 < written.free_bytes < written.capacity_bytes


def test_media_status_without_a_drive(tmp_path: Path) -> None:
    require_binaries("xorriso")
    with pytest.raises(BurnError, match="no drive at"):
        media_status(f"stdio:{tmp_path}/no-such-folder/disc.iso")


def test_list_drives_on_a_machine_without_drives() -> None:
    drives = list_drives()
    assert isinstance(drives, list)
    if not any(Path("/dev").glob("sr[0-9]*")):
        assert drives == []


def test_parse_devices_reads_xorriso_drive_lines() -> None:
    """Lines as the xorriso 1.5.4 manual shows them (EXAMPLES, -device_links)."""
    text = (
        "Beginning to scan for devices ...\n"
        "Full drive scan done.\n"
        "-----------------------------------------------------------------------------\n"
        "0  -dev '/dev/sr0' rwrw-- :  'TSSTcorp' 'CDDVDW SH-S223B'\n"
        "1  -dev '/dev/sr1' rwrw-- :  'HL-DT-ST' 'BDDVDRW_GGC-H20L'\n"
        "-----------------------------------------------------------------------------\n"
    )
    assert parse_devices(text) == [
        ("/dev/sr0", "TSSTcorp", "CDDVDW SH-S223B"),
        ("/dev/sr1", "HL-DT-ST", "BDDVDRW_GGC-H20L"),
    ]


def cdrskin_pseudo_drive(tmp_path: Path) -> str:
    """cdrskin run as root accepts only stdio:/dev/null as a pseudo drive."""
    return "stdio:/dev/null" if os.geteuid() == 0 else f"stdio:{tmp_path / 'disc.iso'}"


def test_cdrskin_simulation(image: IsoReport, tmp_path: Path) -> None:
    require_binaries("cdrskin")
    device = cdrskin_pseudo_drive(tmp_path)
    report = burn(image.path, device, tool=BurnTool.CDRSKIN, simulate=True)
    assert report.simulated and not report.verified
    assert report.md5 == image.md5
    assert not (tmp_path / "disc.iso").exists()


def test_cdrskin_writes(image: IsoReport, tmp_path: Path) -> None:
    require_binaries("cdrskin")
    device = cdrskin_pseudo_drive(tmp_path)
    calls: list[tuple[int, int]] = []
    # /dev/null cannot be read back: verified only when cdrskin may write a file.
    verify = device != "stdio:/dev/null"
    report = burn(
        image.path,
        device,
        tool=BurnTool.CDRSKIN,
        verify=verify,
        progress=lambda *a: calls.append(a),
    )
    assert not report.simulated and report.verified is verify
    assert calls[-1][0] == calls[-1][1] > 0
    if verify:
        assert disc_holds(tmp_path / "disc.iso", image)


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is cdrskin's rule for root")
def test_cdrskin_as_root_refuses_file_pseudo_drives_clearly(
    image: IsoReport, tmp_path: Path
) -> None:
    require_binaries("cdrskin")
    disc = tmp_path / "disc.iso"
    with pytest.raises(BurnError, match="only accepts stdio:/dev/null"):
        burn(image.path, f"stdio:{disc}", tool=BurnTool.CDRSKIN)
    assert not disc.exists() or disc.stat().st_size == 0


def test_bad_requests_are_refused(image: IsoReport, tmp_path: Path) -> None:
    device = f"stdio:{tmp_path / 'disc.iso'}"
    with pytest.raises(ValueError, match="needs next_disc"):
        burn(image.path, device, copies=2)
    with pytest.raises(ValueError, match="copies must be 1 or more"):
        burn(image.path, device, copies=0)
    with pytest.raises(ValueError, match="not a cdrecord speed"):
        burn(image.path, device, speed="fast")
    text = tmp_path / "notes.iso"
    text.write_bytes(b"not an image" * 4000)
    with pytest.raises(ValueError, match="not an ISO 9660 image"):
        burn(text, device)
    with pytest.raises(ValueError, match="no image or media folder"):
        burn(tmp_path / "missing.iso", device)
    if os.name != "nt":
        with pytest.raises(BurnError, match="IMAPI2 is the Windows"):
            burn(image.path, device, tool=BurnTool.IMAPI2)
    assert not (tmp_path / "disc.iso").exists()
