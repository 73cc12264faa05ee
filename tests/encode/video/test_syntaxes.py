"""Which DICOM video transfer syntax a clip gets, and why a stream does not fit one."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from izer.encode.video.stream import AudioInfo, StreamInfo
from izer.encode.video.syntaxes import (
    VideoSyntax,
    choose_syntax,
    conformance_problems,
    container_problems,
    size_problems,
)

V = VideoSyntax
NTSC = Fraction(30000, 1001)


def stream(**changes: object) -> StreamInfo:
    """A conforming H.264 High 4.1 1080p30 MP4 stream, with *changes* applied."""
    base = StreamInfo(
        path=Path("clip.mp4"),
        container="mp4",
        codec="h264",
        profile="High",
        level=41,
        width=1920,
        height=1080,
        sample_aspect_ratio=Fraction(1),
        pix_fmt="yuv420p",
        bit_depth=8,
        frame_rate=Fraction(30),
        constant_frame_rate=True,
        frame_count=30,
        duration_s=1.0,
        interlaced=False,
        sample_entry="avc1",
        moov_first=True,
        audio=AudioInfo("aac", 48000, 2),
        size_bytes=1000,
    )
    return replace(base, **changes)


def hevc(**changes: object) -> StreamInfo:
    values: dict[str, object] = {
        "codec": "hevc",
        "profile": "Main",
        "level": 153,
        "width": 3840,
        "height": 2160,
        "sample_entry": "hvc1",
    }
    values.update(changes)
    return stream(**values)


def mpeg2(**changes: object) -> StreamInfo:
    values: dict[str, object] = {
        "container": "mpeg",
        "codec": "mpeg2video",
        "profile": "Main",
        "level": 8,
        "width": 720,
        "height": 576,
        "frame_rate": Fraction(25),
        "sample_entry": None,
        "moov_first": None,
    }
    values.update(changes)
    return stream(**values)


@pytest.mark.parametrize(
    ("width", "height", "rate", "bits", "preference", "expected"),
    [
        (1920, 1080, Fraction(30), 8, (), V.H264_HP41),
        (1080, 1920, Fraction(30), 8, (), V.H264_HP41),  # portrait: level limits only
        (1920, 1080, NTSC, 8, (), V.H264_HP41),
        (1280, 720, Fraction(60), 8, (), V.H264_HP41),
        (1920, 1080, Fraction(60), 8, (), V.H264_HP42_2D),
        (1920, 1080, Fraction(60000, 1001), 8, (), V.H264_HP42_2D),
        (3840, 2160, Fraction(30), 8, (), V.HEVC_MAIN),
        (4096, 2160, Fraction(60), 8, (), V.HEVC_MAIN),
        (1920, 1080, Fraction(30), 10, (), V.HEVC_MAIN10),
        (1920, 1080, Fraction(30), 10, (V.H264_HP41,), V.H264_HP41),
        (720, 576, Fraction(25), 8, (V.MPEG2_MPML,), V.MPEG2_MPML),
        (720, 480, NTSC, 8, (V.MPEG2_MPML, V.H264_HP41), V.MPEG2_MPML),
        (720, 576, Fraction(25), 8, (), V.H264_HP41),
        (1920, 1080, Fraction(60), 8, (V.MPEG2_MPHL, V.HEVC_MAIN), V.HEVC_MAIN),
        (1280, 720, Fraction(50), 8, (V.MPEG2_MPHL,), V.MPEG2_MPHL),
        (1920, 1080, Fraction(24000, 1001), 8, (V.H264_HP41_BD,), V.H264_HP41_BD),
    ],
)
def test_choose_syntax_table(
    width: int,
    height: int,
    rate: Fraction,
    bits: int,
    preference: tuple[VideoSyntax, ...],
    expected: VideoSyntax,
) -> None:
    assert choose_syntax(width, height, rate, bits, preference=preference) is expected


def test_choose_syntax_refuses_8k_naming_each_candidate() -> None:
    with pytest.raises(ValueError, match="7680x4320") as caught:
        choose_syntax(7680, 4320, Fraction(30))
    message = str(caught.value)
    for name in ("h264-hp41", "h264-hp42", "hevc-main"):
        assert name in message
    assert "4096x2160" in message


def test_choose_syntax_only_considers_the_preferred() -> None:
    with pytest.raises(ValueError, match=r"level 4\.1 \(at most 30\.118"):
        choose_syntax(1920, 1080, Fraction(60), preference=(V.H264_HP41,))
    with pytest.raises(ValueError, match="MPEG-2 Main Level"):
        choose_syntax(720, 576, Fraction(30), preference=(V.MPEG2_MPML,))


def test_choose_syntax_never_picks_bd_or_mpeg2_by_itself() -> None:
    # 1080p23.976 fits BD and 720x576@25 fits MP@ML, but izer's own order is H.264 HP 4.1.
    assert choose_syntax(1920, 1080, Fraction(24000, 1001)) is V.H264_HP41
    assert choose_syntax(720, 576, Fraction(25)) is V.H264_HP41


@pytest.mark.parametrize(
    ("width", "height", "rate", "syntax", "problem"),
    [
        (1921, 1080, Fraction(30), V.H264_HP41, "is odd"),
        (2048, 1088, Fraction(24), V.H264_HP41, "exceeds H.264 level 4.1 (at most 8192 macro"),
        (4112, 16, Fraction(24), V.H264_HP41, "4096 pixels a side"),
        (1920, 1080, Fraction(50), V.H264_HP41, "exceeds H.264 level 4.1"),
        (1920, 1080, Fraction(120), V.H264_HP42_2D, "exceeds H.264 level 4.2"),
        (4608, 2304, Fraction(30), V.HEVC_MAIN, "exceeds HEVC level 5.1 (at most 8912896"),
        (8448, 1024, Fraction(30), V.HEVC_MAIN, "8444 pixels a side"),
        (3840, 2160, Fraction(120), V.HEVC_MAIN10, "exceeds HEVC level 5.1"),
        (768, 576, Fraction(25), V.MPEG2_MPML, "width 768 exceeds 720"),
        (720, 576, NTSC, V.MPEG2_MPML, "not allowed by MPEG-2 Main Level"),
        (720, 480, Fraction(50), V.MPEG2_MPML, "not allowed by MPEG-2 Main Level"),
        (1440, 1080, Fraction(25), V.MPEG2_MPHL, "only 1920x1080 or 1280x720"),
        (1920, 1080, Fraction(60), V.MPEG2_MPHL, "frame rate 60 is not allowed"),
        (1920, 1080, Fraction(30), V.H264_HP41_BD, "not a Blu-ray format"),
    ],
)
def test_size_problems_name_the_limit(
    width: int, height: int, rate: Fraction, syntax: VideoSyntax, problem: str
) -> None:
    problems = size_problems(width, height, rate, syntax)
    assert any(problem in p for p in problems), problems


def test_bd_1080_at_25_needs_interlaced() -> None:
    assert size_problems(1920, 1080, Fraction(25), V.H264_HP41_BD, interlaced=True) == []
    assert size_problems(1920, 1080, Fraction(25), V.H264_HP41_BD) != []


@pytest.mark.parametrize(
    ("info", "syntax"),
    [
        (stream(), V.H264_HP41),
        (stream(level=40, width=1280, height=720, frame_rate=Fraction(60)), V.H264_HP41),
        (stream(level=42, frame_rate=Fraction(60)), V.H264_HP42_2D),
        (hevc(), V.HEVC_MAIN),
        (hevc(profile="Main 10", pix_fmt="yuv420p10le", bit_depth=10), V.HEVC_MAIN10),
        (mpeg2(), V.MPEG2_MPML),
        (mpeg2(interlaced=True, sample_aspect_ratio=Fraction(64, 45)), V.MPEG2_MPML),
        (mpeg2(level=4, width=1920, height=1080), V.MPEG2_MPHL),
    ],
)
def test_conforming_streams_have_no_problems(info: StreamInfo, syntax: VideoSyntax) -> None:
    assert conformance_problems(info, syntax) == []


@pytest.mark.parametrize(
    ("info", "syntax", "problem"),
    [
        (stream(codec="vp9"), V.H264_HP41, "the codec is vp9"),
        (stream(profile="Main"), V.H264_HP41, "profile is Main, the syntax needs High"),
        (stream(profile="Constrained Baseline"), V.H264_HP41, "profile is Constrained Baseline"),
        (stream(level=51), V.H264_HP41, "level is 5.1, the syntax allows at most 4.1"),
        (stream(level=None), V.H264_HP41, "level is unknown"),
        (stream(level=51, frame_rate=Fraction(60)), V.H264_HP42_2D, "at most 4.2"),
        (stream(bit_depth=10, pix_fmt="yuv420p10le"), V.H264_HP41, "10 bits per sample"),
        (stream(pix_fmt="yuv422p"), V.H264_HP41, "needs 4:2:0"),
        (stream(pix_fmt="yuvj420p"), V.H264_HP41, "full range"),
        (stream(sample_aspect_ratio=Fraction(4, 3)), V.H264_HP41, "not square (aspect ratio 4:3)"),
        (stream(constant_frame_rate=False), V.H264_HP41, "frame rate is variable"),
        (stream(interlaced=True), V.H264_HP41, "interlaced"),
        (stream(frame_count=0), V.H264_HP41, "no frames"),
        (stream(frame_rate=Fraction(60)), V.H264_HP41, "exceeds H.264 level 4.1"),
        (hevc(profile="Main 10", bit_depth=10, pix_fmt="yuv420p10le"), V.HEVC_MAIN, "Main 10"),
        (hevc(level=156), V.HEVC_MAIN, "HEVC level is 5.2, the syntax allows at most 5.1"),
        (hevc(), V.HEVC_MAIN10, "profile is Main, the syntax needs Main 10"),
        (hevc(width=7680, height=4320), V.HEVC_MAIN, "exceeds HEVC level 5.1"),
        (mpeg2(level=4), V.MPEG2_MPML, "MPEG-2 level is High, the syntax allows at most Main"),
        (mpeg2(profile="High"), V.MPEG2_MPML, "MPEG-2 profile is High"),
        (mpeg2(frame_rate=NTSC), V.MPEG2_MPML, "not allowed by MPEG-2 Main Level"),
        (mpeg2(level=4, width=1920, height=1088), V.MPEG2_MPHL, "only 1920x1080 or 1280x720"),
        (
            mpeg2(level=4, width=1920, height=1080, sample_aspect_ratio=Fraction(4, 3)),
            V.MPEG2_MPHL,
            "not square",
        ),
    ],
)
def test_conformance_problems_name_each_limit(
    info: StreamInfo, syntax: VideoSyntax, problem: str
) -> None:
    problems = conformance_problems(info, syntax)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("info", "syntax", "problem"),
    [
        (stream(container="mov"), V.H264_HP41, "container is mov"),
        (stream(container="mpegts", sample_entry=None), V.H264_HP41, "needs MP4"),
        (stream(sample_entry="avc3"), V.H264_HP41, "sample entry is avc3, izer writes avc1"),
        (hevc(sample_entry="hev1"), V.HEVC_MAIN, "sample entry is hev1, izer writes hvc1"),
        (stream(moov_first=False), V.H264_HP41, "moov"),
        (mpeg2(container="mp4"), V.MPEG2_MPML, "program stream"),
    ],
)
def test_container_problems(info: StreamInfo, syntax: VideoSyntax, problem: str) -> None:
    problems = container_problems(info, syntax)
    assert any(problem in p for p in problems), problems


def test_container_problems_accept_what_izer_writes() -> None:
    assert container_problems(stream(), V.H264_HP41) == []
    assert container_problems(hevc(), V.HEVC_MAIN) == []
    assert container_problems(mpeg2(), V.MPEG2_MPML) == []


def test_syntax_properties_and_names() -> None:
    assert V.H264_HP41.uid == "1.2.840.10008.1.2.4.102"
    assert V.H264_HP41.fragmentable_uid == "1.2.840.10008.1.2.4.102.1"
    assert V.HEVC_MAIN10.fragmentable_uid is None
    assert V.HEVC_MAIN10.bit_depth == 10
    assert V.MPEG2_MPML.method == "ISO_13818_2"
    assert V.HEVC_MAIN.method == "ISO_23008_2"
    assert {s.codec for s in V} == {"mpeg2video", "h264", "hevc"}
    assert len({s.name_for_cli for s in V}) == len(V)
    for syntax in V:
        assert V.from_text(syntax.name_for_cli) is syntax
        assert V.from_text(syntax.name) is syntax
        assert V.from_text(syntax.uid) is syntax
        if syntax.fragmentable_uid:
            assert V.from_text(syntax.fragmentable_uid) is syntax
    assert V.from_text(" H264-HP42 ") is V.H264_HP42_2D


def test_from_text_lists_the_known_names() -> None:
    with pytest.raises(ValueError, match="h264-hp41") as caught:
        V.from_text("h265")
    assert "'h265'" in str(caught.value)
