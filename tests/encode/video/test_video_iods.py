"""Video Endoscopic/Microscopic/Photographic instances: one per video transfer syntax.

Each conforming clip is encapsulated, written and verified; the stream taken back out of the
file is the clip byte for byte, ffprobe sees the declared codec, profile and level in it,
PyAV decodes exactly Number of Frames frames from it, and dciodvfy finds no error where it
can parse the file (not HEVC .107/.108, not the fragmentable .1 syntaxes).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_fragments

from izer.encode.codes import AnatomicRegion, Code, Laterality
from izer.encode.video.iods import (
    ENTIRE_BODY,
    MAX_FRAGMENT_BYTES,
    VideoKind,
    default_region,
    frame_time_ms,
    transfer_syntax_uid,
    video_image,
)
from izer.encode.video.probe import probe
from izer.encode.video.stream import StreamInfo
from izer.encode.video.syntaxes import VideoSyntax
from izer.encode.video.transcode import conform
from izer.encode.video.writer import (
    encapsulated_stream,
    extracted_stream,
    write_video_instance,
)
from izer.encode.voice_audio import AudioSource
from tests.encode.factories import make_context
from tests.encode.video.clips import CLIPS, make_clip
from tests.encode.video.conforming import (
    CASES,
    SyntaxCase,
    conforming_clip,
    conforming_instance,
    decoded_frame_count,
    ffprobe_video,
)
from tests.helpers.validators import dciodvfy

ALL = list(CASES.values())
PARSED = [case for case in ALL if case.dciodvfy_parses]

#: What ffprobe (FFmpeg 5.1) prints as the level of each syntax's clip: H.264 level_idc,
#: HEVC general_level_idc (63 = 2.1 for 640x360), MPEG-2 level code (8 Main, 4 High).
FFPROBE_PROFILE_LEVEL = {
    "mpeg2_mpml": ("mpeg2video", "Main", "8"),
    "mpeg2_mpml_4x3": ("mpeg2video", "Main", "8"),
    "mpeg2_mphl": ("mpeg2video", "Main", "4"),
    "h264_hp41": ("h264", "High", "41"),
    "h264_hp41_bd": ("h264", "High", "41"),
    "h264_hp42": ("h264", "High", "42"),
    "hevc_main": ("hevc", "Main", "63"),
    "hevc_main10": ("hevc", "Main 10", "63"),
    "h264_hp41_fragmentable": ("h264", "High", "41"),
    "hevc_fragments": ("hevc", "Main", "63"),
}


def _ids(cases: list[SyntaxCase]) -> list[str]:
    return [case.name for case in cases]


@pytest.mark.parametrize("case", ALL, ids=_ids(ALL))
def test_each_syntax_gives_an_instance_whose_stream_is_the_clip(case: SyntaxCase) -> None:
    path = conforming_instance(case.name)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == case.transfer_syntax
    assert (ds.Rows, ds.Columns, ds.NumberOfFrames) == (case.height, case.width, case.frames)
    assert float(ds.FrameTime) == pytest.approx(1000 / case.rate, rel=1e-12)
    assert ds.CineRate == ds.RecommendedDisplayFrameRate == round(case.rate)
    assert ds.FrameIncrementPointer == 0x00181063
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == (
        3,
        "YBR_PARTIAL_420",
        0,
    )
    deep = case.syntax is VideoSyntax.HEVC_MAIN10
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == ((16, 10, 9) if deep else (8, 8, 7))
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == case.syntax.method
    assert float(ds.LossyImageCompressionRatio) > 1
    sar = case.sample_aspect_ratio
    if sar == 1:
        assert "PixelAspectRatio" not in ds
    else:  # vertical \ horizontal pixel size (PS3.3 C.7.6.3.1.7)
        assert list(ds.PixelAspectRatio) == [sar.denominator, sar.numerator]
    assert ("MultiplexedAudioChannelsDescriptionCodeSequence" in ds) == case.audio

    clip = conforming_clip(case.name).read_bytes()
    stream = encapsulated_stream(path)
    assert stream.offset_table_length == 0
    if case.fragmentable:
        assert len(stream.fragments) == -(-len(clip) // case.max_fragment_bytes) > 1
    else:
        assert len(stream.fragments) == 1
    with extracted_stream(path) as (copy, _):
        taken_out = copy.read_bytes()
        assert ffprobe_video(copy)["codec_name"] == case.syntax.codec
        assert decoded_frame_count(copy) == ds.NumberOfFrames
    assert taken_out[: len(clip)] == clip
    assert taken_out[len(clip) :] in (b"", b"\x00")  # the pad byte of an odd stream


@pytest.mark.parametrize("case", ALL, ids=_ids(ALL))
def test_ffprobe_reads_the_declared_codec_profile_and_level_from_the_file(
    case: SyntaxCase,
) -> None:
    with extracted_stream(conforming_instance(case.name)) as (copy, _):
        found = ffprobe_video(copy)
    codec, profile, level = FFPROBE_PROFILE_LEVEL[case.name]
    assert (found["codec_name"], found["profile"], found["level"]) == (codec, profile, level)
    assert (int(found["width"]), int(found["height"])) == (case.width, case.height)
    assert Fraction(found["r_frame_rate"]) == case.rate
    if case.syntax.codec != "mpeg2video":
        assert found["codec_tag_string"] == ("avc1" if codec == "h264" else "hvc1")


@pytest.mark.parametrize("case", PARSED, ids=_ids(PARSED))
@pytest.mark.parametrize("kind", list(VideoKind), ids=lambda k: k.name.lower())
def test_dciodvfy_finds_nothing_wrong(case: SyntaxCase, kind: VideoKind) -> None:
    result = dciodvfy(conforming_instance(case.name, kind), strict=True)
    assert result.iod == kind.iod_name.replace(" ", ""), str(result)
    assert result.ok, str(result)


def test_dciodvfy_is_blind_to_hevc_and_fragmentable_syntaxes() -> None:
    # The cases the test above leaves out: dciodvfy 2022 cannot read their Pixel Data.
    blind = {case.name for case in ALL} - {case.name for case in PARSED}
    assert blind == {"hevc_main", "hevc_main10", "h264_hp41_fragmentable", "hevc_fragments"}
    result = dciodvfy(conforming_instance("hevc_main"))
    assert any("Dicom dataset read failed" in line for line in result.errors), str(result)


@pytest.mark.parametrize("name", ["hevc_main", "hevc_main10", "h264_hp41_fragmentable"])
def test_the_header_of_a_file_dciodvfy_cannot_read_passes_under_a_syntax_it_knows(
    tmp_path: Path, name: str
) -> None:
    # Same dataset, Transfer Syntax relabelled H.264 .102 (one fragment): only what is
    # specific to the real syntax may be reported.
    ds = pydicom.dcmread(conforming_instance(name))
    ds.file_meta.TransferSyntaxUID = VideoSyntax.H264_HP41.uid
    fragments = list(generate_fragments(ds.PixelData[8:]))
    ds.PixelData = encapsulate([b"".join(fragments)], has_bot=False)
    relabelled = tmp_path / "relabelled.dcm"
    ds.save_as(relabelled, enforce_file_format=True)
    result = dciodvfy(relabelled)
    assert result.iod == "VideoEndoscopicImage"
    expected_errors = (
        # HEVC Main 10 stores 10 bits in 16 (PS3.5 8.2.11), which dciodvfy checks as H.264.
        {"Bits Allocated", "Bits Stored", "High Bit"} if name == "hevc_main10" else set()
    )
    reported = {a for a in ("Bits Allocated", "Bits Stored", "High Bit") for e in result.errors
                if f"<{a}>" in e}  # fmt: skip
    assert reported == expected_errors, str(result)
    assert len(result.errors) == len(expected_errors), str(result)
    unknown_method = [w for w in result.warnings if "ISO_23008_2" in w]
    assert len(result.warnings) == len(unknown_method) == (1 if "hevc" in name else 0), str(result)


# --------------------------------------------------------------------------- the header


def _clip_and_info(name: str = "h264_hp41_fragmentable") -> tuple[Path, StreamInfo]:
    clip = conforming_clip(name)
    return clip, probe(clip)


def test_anatomic_region_defaults_to_entire_body_without_laterality() -> None:
    clip, info = _clip_and_info()
    for kind in VideoKind:
        ds = video_image(clip, info, make_context(1, kind.modality), kind=kind,
                         syntax=VideoSyntax.H264_HP41)  # fmt: skip
        (item,) = ds.AnatomicRegionSequence
        assert default_region(kind) == ENTIRE_BODY
        assert (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) == (
            "38266002",
            "SCT",
            "Entire body",
        )
        assert "Laterality" not in ds
        assert ds.Modality == kind.modality
        assert ds.SOPClassUID == kind.sop_class_uid


def test_a_given_paired_region_carries_its_side() -> None:
    clip, info = _clip_and_info()
    ds = video_image(clip, info, make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
                     syntax=VideoSyntax.H264_HP41, anatomic_region=AnatomicRegion.KNEE,
                     laterality=Laterality.RIGHT)  # fmt: skip
    assert ds.AnatomicRegionSequence[0].CodeValue == "72696002"
    assert ds.Laterality == "R"


def test_a_side_without_a_region_is_refused() -> None:
    clip, info = _clip_and_info()
    with pytest.raises(ValueError, match="laterality L needs the paired anatomic_region"):
        video_image(clip, info, make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
                    syntax=VideoSyntax.H264_HP41, laterality=Laterality.LEFT)  # fmt: skip


def test_the_vl_and_cine_modules_are_written() -> None:
    clip, info = _clip_and_info()
    ds = video_image(clip, info, make_context(3, "XC"), kind=VideoKind.PHOTOGRAPHIC,
                     syntax=VideoSyntax.H264_HP41, image_type=("derived", "secondary"),
                     burned_in_annotation=True,
                     anatomic_region=Code("39937001", "SCT", "Skin"))  # fmt: skip
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.AcquisitionContextSequence == []
    assert ds.BurnedInAnnotation == "YES"
    assert ds.FrameTime == "33.3666666666667"  # 29.97 frames/s, 16 characters at most
    assert (ds.CineRate, ds.NumberOfFrames) == (30, 30)
    assert "PixelAspectRatio" not in ds
    assert "MultiplexedAudioChannelsDescriptionCodeSequence" not in ds
    assert ds["PixelData"].VR == "OB" and ds["PixelData"].is_undefined_length
    assert ds["PixelData"].is_buffered  # streamed from the clip when written


def test_audio_in_the_stream_is_described_in_the_cine_module() -> None:
    clip = conforming_clip("h264_hp41")
    ds = video_image(clip, probe(clip), make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
                     syntax=VideoSyntax.H264_HP41,
                     audio_source=AudioSource.OPERATOR_NARRATIVE)  # fmt: skip
    (channel,) = ds.MultiplexedAudioChannelsDescriptionCodeSequence
    assert (channel.ChannelIdentificationCode, channel.ChannelMode) == (1, "STEREO")
    (source,) = channel.ChannelSourceSequence
    assert (source.CodeValue, source.CodingSchemeDesignator) == ("109111", "DCM")


def test_frame_time_is_exact_for_ntsc_rates() -> None:
    assert frame_time_ms(Fraction(30000, 1001)) == pytest.approx(33.36666666666667, rel=1e-15)
    assert frame_time_ms(Fraction(25)) == 40.0
    with pytest.raises(ValueError, match="frame rate must be positive"):
        frame_time_ms(Fraction(0))


# --------------------------------------------------------------------------- refusals


def test_the_series_must_have_the_kind_s_modality() -> None:
    clip, info = _clip_and_info()
    with pytest.raises(ValueError, match="needs a series with Modality GM"):
        video_image(clip, info, make_context(1, "ES"), kind=VideoKind.MICROSCOPIC,
                    syntax=VideoSyntax.H264_HP41)  # fmt: skip


def test_a_stream_that_does_not_conform_is_refused_with_the_reasons() -> None:
    clip = make_clip("h264_baseline_1080p30")
    with pytest.raises(ValueError, match=r"does not conform .*profile is .*Baseline.*moov"):
        video_image(clip, probe(clip), make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
                    syntax=VideoSyntax.H264_HP41)  # fmt: skip


def test_the_wrong_syntax_for_the_codec_is_refused() -> None:
    clip, info = _clip_and_info("hevc_main")
    with pytest.raises(ValueError, match="the codec is hevc"):
        video_image(clip, info, make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
                    syntax=VideoSyntax.H264_HP42_2D)  # fmt: skip


def test_information_about_another_file_is_refused() -> None:
    clip, info = _clip_and_info()
    other = replace(info, size_bytes=info.size_bytes + 2)
    with pytest.raises(ValueError, match="probe the file that is encapsulated"):
        video_image(clip, other, make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
                    syntax=VideoSyntax.H264_HP41)  # fmt: skip


def test_a_stream_longer_than_one_fragment_needs_the_fragmentable_syntax() -> None:
    syntax = VideoSyntax.H264_HP41
    assert transfer_syntax_uid(syntax, MAX_FRAGMENT_BYTES, fragmentable=False) == syntax.uid
    with pytest.raises(ValueError, match="split the video into several instances"):
        transfer_syntax_uid(syntax, MAX_FRAGMENT_BYTES + 1, fragmentable=False)
    big = MAX_FRAGMENT_BYTES + 1
    assert transfer_syntax_uid(syntax, big, fragmentable=True) == syntax.fragmentable_uid
    # HEVC may be fragmented under its own UID (PS3.5 8.2.11).
    assert transfer_syntax_uid(VideoSyntax.HEVC_MAIN, big, fragmentable=False) == (
        VideoSyntax.HEVC_MAIN.uid
    )


@pytest.mark.parametrize("size", [1, 10001, 0, MAX_FRAGMENT_BYTES + 2])
def test_fragments_must_have_an_even_length_that_fits_an_item(size: int) -> None:
    clip, info = _clip_and_info()
    with pytest.raises(ValueError, match="max_fragment_bytes must be an even number"):
        video_image(clip, info, make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
                    syntax=VideoSyntax.H264_HP41, fragmentable=True,
                    max_fragment_bytes=size)  # fmt: skip


def test_a_missing_stream_file_is_named() -> None:
    clip, info = _clip_and_info()
    with pytest.raises(ValueError, match="cannot read the video stream"):
        video_image(clip.with_name("gone.mp4"), info, make_context(1, "ES"),
                    kind=VideoKind.ENDOSCOPIC, syntax=VideoSyntax.H264_HP41)  # fmt: skip


# --------------------------------------------------------------------------- with conform


@pytest.mark.parametrize(
    ("clip", "syntax"),
    [("h264_baseline_1080p30", None), ("mpeg2_ps", VideoSyntax.MPEG2_MPML)],
)
def test_a_conformed_clip_becomes_a_valid_instance(
    tmp_path: Path, clip: str, syntax: VideoSyntax | None
) -> None:
    result = conform(make_clip(clip), tmp_path / "conformed", syntax=syntax)
    ds = video_image(result.info.path, result.info, make_context(1, "ES"),
                     kind=VideoKind.ENDOSCOPIC, syntax=result.syntax)  # fmt: skip
    path = tmp_path / "video.dcm"
    write_video_instance(ds, path)
    assert ds.NumberOfFrames == CLIPS[clip].frames
    assert ("MultiplexedAudioChannelsDescriptionCodeSequence" in ds) == CLIPS[clip].audio
    result = dciodvfy(path, strict=True)
    assert result.ok, str(result)
