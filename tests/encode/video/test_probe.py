"""probe(): what a video file holds, read by demuxing; clear refusals for what is not video."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import av
import pytest

from izer.encode.input_errors import InputError
from izer.encode.video.probe import level_from_extradata, nearest_video_rate, probe, snap_rate
from tests.encode.video.clips import CLIPS, make_clip

NTSC60 = Fraction(60000, 1001)
NTSC = Fraction(30000, 1001)

# kind: (container, codec, profile, level, bit depth, pix_fmt, interlaced, sample entry,
#        moov first, audio (codec, rate, channels) or None)
EXPECTED = {
    "h264_high_720p30": ("mp4", "h264", "High", 31, 8, "yuv420p", False, "avc1", True,
                         ("aac", 48000, 2)),
    "h264_baseline_1080p30": ("mp4", "h264", "Constrained Baseline", 40, 8, "yuv420p", False,
                              "avc1", False, ("aac", 44100, 1)),
    "h264_main_720p60": ("mp4", "h264", "Main", 32, 8, "yuv420p", False, "avc1", False, None),
    "h264_high51_1080p60": ("mp4", "h264", "High", 51, 8, "yuv420p", False, "avc1", False,
                            None),
    "hevc_hev1_2160p30": ("mp4", "hevc", "Main", 150, 8, "yuv420p", False, "hev1", False, None),
    "hevc_main10": ("mp4", "hevc", "Main 10", 63, 10, "yuv420p10le", False, "hvc1", True, None),
    "vfr_phone": ("mp4", "h264", "High", 30, 8, "yuv420p", False, "avc1", False,
                  ("aac", 44100, 1)),
    "interlaced_1080i": ("mp4", "h264", "High", 40, 8, "yuv420p", True, "avc1", False, None),
    "mpeg2_ps": ("mpeg", "mpeg2video", "Main", 8, 8, "yuv420p", False, None, None,
                 ("mp2", 48000, 1)),
    "one_frame": ("mp4", "h264", "High", 30, 8, "yuv420p", False, "avc1", False, None),
    "odd_size": ("mp4", "h264", "High 4:4:4 Predictive", 13, 8, "yuv444p", False, "avc1",
                 False, None),
    "anamorphic_pal": ("mp4", "h264", "High", 30, 8, "yuv420p", False, "avc1", False, None),
    "h264_mkv": ("matroska", "h264", "High", 31, 8, "yuv420p", False, None, None,
                 ("aac", 48000, 2)),
    "h264_ts": ("mpegts", "h264", "High", 31, 8, "yuv420p", False, None, None,
                ("aac", 48000, 2)),
    "mjpeg_avi": ("avi", "mjpeg", "Baseline", None, 8, "yuvj422p", False, None, None,
                  ("pcm_s16le", 44100, 1)),
}  # fmt: skip


def decoded_frames(path: Path) -> int:
    with av.open(os.fspath(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_probe_reads_each_clip(kind: str) -> None:
    path = make_clip(kind)
    spec = CLIPS[kind]
    container, codec, profile, level, bits, pix_fmt, interlaced, entry, moov, audio = EXPECTED[kind]

    info = probe(path)

    assert info.path == path
    assert (info.container, info.codec, info.profile, info.level) == (
        container,
        codec,
        profile,
        level,
    )
    assert (info.width, info.height) == (spec.width, spec.height)
    assert (info.bit_depth, info.pix_fmt, info.interlaced) == (bits, pix_fmt, interlaced)
    assert (info.sample_entry, info.moov_first) == (entry, moov)
    assert info.frame_rate == spec.frame_rate
    assert info.constant_frame_rate is (kind != "vfr_phone")
    assert info.frame_count == spec.frames
    assert info.size_bytes == path.stat().st_size
    if audio is None:
        assert info.audio is None
    else:
        assert info.audio is not None
        assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == audio


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_counted_frames_equal_decoded_frames(kind: str) -> None:
    path = make_clip(kind)
    assert probe(path).frame_count == decoded_frames(path)


def test_constant_rate_duration_is_frames_over_rate() -> None:
    info = probe(make_clip("h264_main_720p60"))
    assert info.frame_rate == NTSC60
    assert info.duration_s == pytest.approx(30 / float(NTSC60))
    assert probe(make_clip("hevc_main10")).frame_rate == NTSC


def test_variable_rate_clip() -> None:
    # 15 frames 1/30 s apart, then 10 frames 1/20 s apart: typical interval 1/30 s.
    info = probe(make_clip("vfr_phone"))
    assert info.constant_frame_rate is False
    assert info.frame_rate == 30
    assert info.duration_s == pytest.approx(15 / 30 + 10 / 20, abs=0.04)


def test_display_rotation() -> None:
    info = probe(make_clip("rotated_phone"))
    assert (info.width, info.height, info.rotation) == (1280, 720, 90)
    assert probe(make_clip("h264_high_720p30")).rotation == 0


def test_anamorphic_pixels() -> None:
    assert probe(make_clip("anamorphic_pal")).sample_aspect_ratio == Fraction(64, 45)
    assert probe(make_clip("h264_high_720p30")).sample_aspect_ratio == 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("zero_byte", "the file is empty (0 bytes)"),
        ("not_media", "is not a video file PyAV can read"),
        ("audio_only", "has no video stream (it holds audio)"),
        ("truncated", "is cut short"),
        ("truncated_faststart", "is cut short"),
    ],
)
def test_refusals_say_what_is_wrong(kind: str, message: str) -> None:
    path = make_clip(kind)
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        probe(path)
    assert isinstance(caught.value, InputError)
    assert caught.value.path == path


def test_truncated_mp4_without_index_is_called_cut_short(tmp_path: Path) -> None:
    # Keep ftyp and the start of mdat only: the moov box of a moov-last file is gone.
    whole = make_clip("h264_baseline_1080p30").read_bytes()
    mdat = whole.index(b"mdat") - 4
    size = int.from_bytes(whole[mdat : mdat + 4], "big")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: mdat + size])  # complete mdat, no moov
    with pytest.raises(ValueError, match=r"index \(moov box\) is missing"):
        probe(cut)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        probe(tmp_path / "absent.mp4")
    with pytest.raises(ValueError, match="is a folder"):
        probe(tmp_path)


def test_level_from_extradata_records_and_annex_b() -> None:
    avcc = bytes([1, 100, 0, 41, 0xFF, 0xE1, 0, 4, 0x67, 100, 0, 41, 1, 0, 1, 0x68])
    assert level_from_extradata("h264", avcc) == 41
    sps = b"\x00\x00\x00\x01\x67\x64\x00\x2a\xac"
    assert level_from_extradata("h264", sps) == 42
    hvcc = bytes([1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 153]) + bytes(10)
    assert level_from_extradata("hevc", hvcc) == 153
    # HEVC SPS NAL (type 33) with emulation prevention in the constraint flags.
    hevc_sps = (
        b"\x00\x00\x01\x42\x01\x01\x01\x60\x00\x00\x03\x00\x90\x00\x00\x03\x00\x00\x03\x00\x99"
    )
    assert level_from_extradata("hevc", hevc_sps) == 153
    # MPEG-2 sequence header then sequence extension: Main profile (4) at Main level (8).
    mpeg2 = b"\x00\x00\x01\xb3" + bytes(8) + b"\x00\x00\x01\xb5\x14\x8a\x00\x01\x00\x00"
    assert level_from_extradata("mpeg2video", mpeg2) == 8
    assert level_from_extradata("h264", b"") is None


def test_rates() -> None:
    assert snap_rate(Fraction(2997, 100)) == NTSC
    assert snap_rate(Fraction(30)) == 30
    assert snap_rate(Fraction(3000, 101)) == Fraction(3000, 101)
    assert nearest_video_rate(Fraction(27)) == 25
    assert nearest_video_rate(Fraction(29)) == NTSC
    assert nearest_video_rate(Fraction(58)) == NTSC60


def test_probe_is_a_demux_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the first frame may be decoded: counting must not depend on decoding.
    calls = 0
    original = av.Packet.decode

    def counting(self: av.Packet) -> list[av.frame.Frame]:
        nonlocal calls
        calls += 1
        return original(self)

    monkeypatch.setattr(av.Packet, "decode", counting)
    info = probe(make_clip("h264_high_720p30"))
    assert info.frame_count == 30
    assert calls < 5
