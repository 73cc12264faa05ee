"""Media application profiles (PS3.11): what each holds and which one the content gets."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    EncapsulatedPDFStorage,
    SecondaryCaptureImageStorage,
    VideoEndoscopicImageStorage,
    VLEndoscopicImageStorage,
)

from izer.dispatch.media import MediaProfile, Medium, choose_profile
from izer.dispatch.media.profiles import AUTO_ORDER, refusal
from tests.dispatch.media.conftest import EXPLICIT, H264, HEVC, JPEG_BASELINE, MPEG2
from tests.helpers.binaries import require_binaries

J2K = "1.2.840.10008.1.2.4.91"
H264_42 = "1.2.840.10008.1.2.4.104"

_serial = iter(range(1, 1_000_000))


def header(syntax: str, sop_class: str = VLEndoscopicImageStorage) -> Dataset:
    """A minimal instance header: SOP Class and Instance UID, transfer syntax."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.1452.9.{next(_serial)}"
    return ds


def video(syntax: str) -> Dataset:
    return header(syntax, VideoEndoscopicImageStorage)


def test_each_profile_is_named_by_its_ps3_11_identifier_and_tied_to_its_medium() -> None:
    assert MediaProfile("STD-GEN-CD").medium is Medium.CD
    assert MediaProfile("STD-GEN-DVD-JPEG").medium is Medium.DVD
    assert MediaProfile("STD-GEN-USB-J2K").medium is Medium.USB
    assert MediaProfile("STD-GEN-BD-MPEG4-HPLV42-2D").medium is Medium.BD
    assert MediaProfile("STD-DVD-MPEG2-MPML").medium is Medium.DVD
    assert MediaProfile.GENERAL.medium is None
    assert not MediaProfile.GENERAL.is_standard
    assert MediaProfile.STD_GEN_CD.transfer_syntaxes == {EXPLICIT}
    assert MediaProfile.STD_GEN_USB_JPEG.transfer_syntaxes == (
        MediaProfile.STD_GEN_DVD_JPEG.transfer_syntaxes
    )
    assert JPEG_BASELINE in MediaProfile.STD_GEN_DVD_JPEG.transfer_syntaxes
    assert MediaProfile.STD_GEN_BD_MPEG4_HPLV41.transfer_syntaxes == {H264}
    assert MediaProfile.STD_DVD_MPEG2_MPML.multiframe_only
    assert not MediaProfile.STD_GEN_CD.needs_image_rows_columns
    assert MediaProfile.STD_GEN_DVD_JPEG.needs_image_rows_columns
    assert MediaProfile.STD_GEN_USB_JPEG.annex == "PS3.11 Annex J"


def test_capacities_keep_a_margin_below_the_nominal_size() -> None:
    assert Medium.CD.capacity_bytes == 703_000_000
    assert Medium.DVD.capacity_bytes == 4_480_000_000
    assert Medium.BD.capacity_bytes == 24_000_000_000
    assert Medium.USB.capacity_bytes is None
    assert Medium.FOLDER.capacity_bytes is None


def test_every_dcmmkdir_option_is_the_one_dcmtk_lists_for_that_profile() -> None:
    dcmmkdir = require_binaries("dcmmkdir")["dcmmkdir"]
    helped = subprocess.run(
        [str(dcmmkdir), "--help"], capture_output=True, text=True, check=False
    ).stdout
    # one option per entry: "  -Pgp  --general-purpose   General Purpose ... (STD-GEN-CD/...)"
    entries = re.split(r"\n\s+(?=-P|--general-bd-mpeg4-hp)", helped)
    for profile in MediaProfile:
        option = profile.dcmmkdir_option
        if option is None:
            assert profile is MediaProfile.GENERAL
            continue
        (entry,) = [e for e in entries if e.split()[0] == option]
        identifier = re.sub(r"\s+", "", entry.split("(")[-1])
        wanted = (
            profile.value.replace("USB-", "USB/MMC/CF/SD-")
            if "USB" in profile.value
            else (profile.value)
        )
        assert identifier.startswith(wanted), (profile, entry)


@pytest.mark.parametrize(
    ("medium", "content", "expected"),
    [
        (Medium.CD, [EXPLICIT, EXPLICIT], MediaProfile.STD_GEN_CD),
        (Medium.DVD, [JPEG_BASELINE, EXPLICIT], MediaProfile.STD_GEN_DVD_JPEG),
        (Medium.DVD, [J2K, EXPLICIT], MediaProfile.STD_GEN_DVD_J2K),
        (Medium.USB, [JPEG_BASELINE, EXPLICIT], MediaProfile.STD_GEN_USB_JPEG),
        (Medium.USB, [J2K], MediaProfile.STD_GEN_USB_J2K),
        (Medium.FOLDER, [JPEG_BASELINE], MediaProfile.STD_GEN_USB_JPEG),
        (Medium.BD, [JPEG_BASELINE, EXPLICIT], MediaProfile.STD_GEN_BD_JPEG),
    ],
)
def test_stills_get_the_first_profile_of_their_medium_that_holds_them(
    medium: Medium, content: list[str], expected: MediaProfile
) -> None:
    choice = choose_profile([header(syntax) for syntax in content], medium)
    assert choice.profile is expected
    assert choice.refused == {}
    assert expected.value in choice.reason


@pytest.mark.parametrize(
    ("medium", "content", "expected"),
    [
        (Medium.DVD, [MPEG2, MPEG2], MediaProfile.STD_DVD_MPEG2_MPML),
        (Medium.BD, [H264], MediaProfile.STD_GEN_BD_MPEG4_HPLV41),
        (Medium.BD, [H264_42], MediaProfile.STD_GEN_BD_MPEG4_HPLV42_2D),
        (Medium.BD, [MPEG2], MediaProfile.STD_GEN_BD_MPEG2_MPML),
    ],
)
def test_video_alone_gets_its_video_profile(
    medium: Medium, content: list[str], expected: MediaProfile
) -> None:
    assert choose_profile([video(syntax) for syntax in content], medium).profile is expected


def test_jpeg_stills_on_a_cd_make_a_general_file_set_not_a_false_std_gen_cd() -> None:
    choice = choose_profile([header(JPEG_BASELINE), header(EXPLICIT)], Medium.CD)
    assert choice.profile is MediaProfile.GENERAL
    assert choice.refused == {}
    assert "STD-GEN-CD holds Explicit VR Little Endian only" in choice.reason
    assert "never decompressed" in choice.reason
    assert "JPEG Baseline" in choice.reason


@pytest.mark.parametrize(
    ("medium", "content", "fact"),
    [
        (Medium.USB, [video(HEVC)], "HEVC video has no PS3.11 media profile"),
        (Medium.BD, [video(HEVC)], "HEVC video has no PS3.11 media profile"),
        (Medium.USB, [video(H264)], "no PS3.11 profile puts video on USB media"),
        (Medium.FOLDER, [video(MPEG2), header(EXPLICIT)], "no PS3.11 profile puts video on USB"),
        (Medium.DVD, [video(MPEG2), header(JPEG_BASELINE)], "STD-DVD-MPEG2-MPML refuses 1"),
        (Medium.BD, [video(H264), header(JPEG_BASELINE)], "STD-GEN-BD-MPEG4-HPLV41 refuses 1"),
        (Medium.CD, [video(H264)], "STD-GEN-CD refuses 1"),
    ],
)
def test_content_no_profile_holds_makes_a_general_file_set_that_says_why(
    medium: Medium, content: list[Dataset], fact: str
) -> None:
    choice = choose_profile(content, medium)
    assert choice.profile is MediaProfile.GENERAL
    assert fact in choice.reason
    assert "claims no profile" in choice.reason


def test_a_single_frame_iod_in_a_video_syntax_is_refused_by_the_video_profiles() -> None:
    odd = header(MPEG2, SecondaryCaptureImageStorage)
    why = refusal(odd, MediaProfile.STD_DVD_MPEG2_MPML)
    assert why is not None and "not a multi-frame IOD" in why
    assert refusal(video(MPEG2), MediaProfile.STD_DVD_MPEG2_MPML) is None
    pdf = header(EXPLICIT, EncapsulatedPDFStorage)
    why = refusal(pdf, MediaProfile.STD_GEN_BD_MPEG4_HPLV41)  # a PDF cannot join a video BD
    assert why is not None and why.startswith("Explicit VR Little Endian")


def test_an_asked_for_profile_lists_every_instance_it_refuses() -> None:
    still, clip, plain = header(JPEG_BASELINE), video(H264), header(EXPLICIT)
    choice = choose_profile([still, clip, plain], Medium.CD, MediaProfile.STD_GEN_CD)
    assert choice.profile is MediaProfile.STD_GEN_CD
    assert set(choice.refused) == {still.SOPInstanceUID, clip.SOPInstanceUID}
    assert "JPEG Baseline" in choice.refused[still.SOPInstanceUID]
    assert "STD-GEN-CD" in choice.refused[clip.SOPInstanceUID]
    assert "2 instance(s) do not fit" in choice.reason


def test_an_asked_for_profile_that_fits_has_no_refusals() -> None:
    choice = choose_profile([video(MPEG2)], Medium.DVD, MediaProfile.STD_DVD_MPEG2_MPML)
    assert choice.profile is MediaProfile.STD_DVD_MPEG2_MPML
    assert choice.refused == {}
    general = choose_profile([video(HEVC)], Medium.USB, MediaProfile.GENERAL)
    assert general.profile is MediaProfile.GENERAL and general.refused == {}


def test_a_profile_of_another_medium_is_refused_but_a_folder_takes_any() -> None:
    with pytest.raises(ValueError, match="STD-GEN-CD is a profile for CD media"):
        choose_profile([header(EXPLICIT)], Medium.USB, MediaProfile.STD_GEN_CD)
    folder = choose_profile([header(EXPLICIT)], Medium.FOLDER, MediaProfile.STD_GEN_CD)
    assert folder.profile is MediaProfile.STD_GEN_CD


def test_no_instances_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one instance"):
        choose_profile([], Medium.CD)


def test_every_medium_has_an_order_of_its_own_profiles() -> None:
    for medium, order in AUTO_ORDER.items():
        assert order, medium
        for profile in order:
            assert profile.medium in (medium, Medium.USB if medium is Medium.FOLDER else medium)


def test_the_fixture_studies_get_the_profiles_the_media_tests_rely_on(
    media_study_stills: list[Path],
    media_study_mixed: list[Path],
    media_study_hevc: list[Path],
    media_two_patients: list[Path],
) -> None:
    def headers(paths: list[Path]) -> list[Dataset]:
        return [pydicom.dcmread(path, stop_before_pixels=True) for path in paths]

    assert choose_profile(headers(media_two_patients), Medium.CD).profile is (
        MediaProfile.STD_GEN_CD
    )
    assert choose_profile(headers(media_study_stills), Medium.CD).profile is MediaProfile.GENERAL
    assert choose_profile(headers(media_study_stills), Medium.DVD).profile is (
        MediaProfile.STD_GEN_DVD_JPEG
    )
    assert choose_profile(headers(media_study_mixed), Medium.DVD).profile is MediaProfile.GENERAL
    assert choose_profile(headers(media_study_mixed), Medium.USB).profile is MediaProfile.GENERAL
    assert choose_profile(headers(media_study_hevc), Medium.USB).profile is MediaProfile.GENERAL
