"""Writing video instances: atomic, streamed, and checked against the stream after writing.

A header that lies about its stream (frame count, size, frame time, transfer syntax, profile
or level, fragments) is caught by the check after writing, and nothing is left behind. A
3 GB clip is written in a child process whose peak memory stays under 300 MB.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pydicom import config
from pydicom.dataset import Dataset

from izer.encode.selfcheck import InstanceCheckError
from izer.encode.video.iods import VideoKind, video_image
from izer.encode.video.probe import probe
from izer.encode.video.stream import StreamInfo
from izer.encode.video.syntaxes import VideoSyntax
from izer.encode.video.writer import (
    WRITE_CHUNK,
    encapsulated_stream,
    verify_video_instance,
    write_video_instance,
)
from tests.encode.factories import make_context
from tests.encode.video.conforming import conforming_clip, conforming_instance

REPOSITORY = Path(__file__).resolve().parents[3]


def _build(name: str, info: StreamInfo | None = None, **options: object) -> Dataset:
    """The endoscopic instance of conforming clip ``name``, with ``info`` when given."""
    clip = conforming_clip(name)
    syntax = (
        options.pop("syntax", None)
        or {
            "mpeg2_mpml": VideoSyntax.MPEG2_MPML,
            "h264_hp41_fragmentable": VideoSyntax.H264_HP41,
            "h264_hp42": VideoSyntax.H264_HP42_2D,
            "hevc_main": VideoSyntax.HEVC_MAIN,
        }[name]
    )
    return video_image(
        clip,
        info or probe(clip),
        make_context(1, "ES"),
        kind=VideoKind.ENDOSCOPIC,
        syntax=syntax,
        **options,
    )


def _folder_is_empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def test_the_file_appears_complete_with_the_size_returned(tmp_path: Path) -> None:
    target = tmp_path / "video.dcm"
    written = write_video_instance(_build("mpeg2_mpml"), target)
    assert written == target.stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["video.dcm"]
    info = verify_video_instance(target)
    assert (info.path, info.codec, info.frame_count) == (target, "mpeg2video", 25)


def test_the_dataset_can_be_written_twice(tmp_path: Path) -> None:
    ds = _build("h264_hp41_fragmentable", syntax=VideoSyntax.H264_HP41)
    write_video_instance(ds, tmp_path / "one.dcm")
    write_video_instance(ds, tmp_path / "two.dcm")
    one, two = ((tmp_path / n).read_bytes() for n in ("one.dcm", "two.dcm"))
    assert one == two


def test_pydicom_read_size_is_restored(tmp_path: Path) -> None:
    before = config.settings.buffered_read_size
    assert before != WRITE_CHUNK
    write_video_instance(_build("hevc_main"), tmp_path / "ok.dcm")
    assert config.settings.buffered_read_size == before
    lie = _build("hevc_main", replace(probe(conforming_clip("hevc_main")), frame_count=16))
    with pytest.raises(InstanceCheckError):
        write_video_instance(lie, tmp_path / "lie.dcm")
    assert config.settings.buffered_read_size == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("frame_count", 30, r"Number of Frames \(0028,0008\) is 30 but the embedded stream has 25"),
        ("height", 480, r"Rows \(0028,0010\) is 480 but the embedded stream has 576"),
        ("width", 704, r"Columns \(0028,0011\) is 704 but the embedded stream has 720"),
    ],
)
def test_a_header_that_lies_about_the_stream_is_caught_and_no_file_is_left(
    tmp_path: Path, field: str, value: int, message: str
) -> None:
    info = replace(probe(conforming_clip("mpeg2_mpml")), **{field: value})
    ds = _build("mpeg2_mpml", info)
    with pytest.raises(InstanceCheckError, match=message):
        write_video_instance(ds, tmp_path / "lie.dcm")
    assert _folder_is_empty(tmp_path)


def test_a_wrong_frame_time_is_caught(tmp_path: Path) -> None:
    ds = _build("mpeg2_mpml")
    ds.FrameTime = "33.3333333333333"  # 30 frames/s for a 25 frames/s stream
    with pytest.raises(InstanceCheckError, match=r"Frame Time \(0018,1063\) is 33.33.* 25 "):
        write_video_instance(ds, tmp_path / "lie.dcm")
    assert _folder_is_empty(tmp_path)


def test_a_transfer_syntax_of_another_codec_is_caught(tmp_path: Path) -> None:
    ds = _build("h264_hp42")
    ds.file_meta.TransferSyntaxUID = VideoSyntax.MPEG2_MPHL.uid
    with pytest.raises(InstanceCheckError, match="the codec is h264"):
        write_video_instance(ds, tmp_path / "lie.dcm")
    assert _folder_is_empty(tmp_path)


def test_a_level_above_the_transfer_syntax_is_caught(tmp_path: Path) -> None:
    ds = _build("h264_hp42")  # 1080p60, level 4.2
    ds.file_meta.TransferSyntaxUID = VideoSyntax.H264_HP41.uid
    with pytest.raises(InstanceCheckError, match=r"level is 4.2, the syntax allows at most 4.1"):
        write_video_instance(ds, tmp_path / "lie.dcm")
    assert _folder_is_empty(tmp_path)


def test_several_fragments_under_a_single_fragment_syntax_are_caught(tmp_path: Path) -> None:
    ds = _build(
        "h264_hp41_fragmentable",
        syntax=VideoSyntax.H264_HP41,
        fragmentable=True,
        max_fragment_bytes=16384,
    )
    ds.file_meta.TransferSyntaxUID = VideoSyntax.H264_HP41.uid
    with pytest.raises(InstanceCheckError, match=r"fragments but transfer syntax .*102 allows one"):
        write_video_instance(ds, tmp_path / "lie.dcm")
    assert _folder_is_empty(tmp_path)


def test_a_failed_write_keeps_the_file_already_there(tmp_path: Path) -> None:
    target = tmp_path / "video.dcm"
    target.write_bytes(b"the previous instance")
    lie = _build("hevc_main", replace(probe(conforming_clip("hevc_main")), width=320))
    with pytest.raises(InstanceCheckError, match="Columns"):
        write_video_instance(lie, target)
    assert target.read_bytes() == b"the previous instance"
    assert [p.name for p in tmp_path.iterdir()] == ["video.dcm"]


def test_a_stream_changed_after_probing_leaves_no_file(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(conforming_clip("hevc_main"), clip)
    ds = video_image(
        clip, probe(clip), make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC,
        syntax=VideoSyntax.HEVC_MAIN,
    )  # fmt: skip
    os.truncate(clip, clip.stat().st_size // 2)
    with pytest.raises(OSError, match="changed since it was probed"):
        write_video_instance(ds, tmp_path / "video.dcm")
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_a_file_without_a_video_syntax_or_cut_short_is_refused(tmp_path: Path) -> None:
    source = conforming_instance("hevc_main")
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
    other = tmp_path / "jpeg.dcm"
    ds.save_as(other, enforce_file_format=True)
    with pytest.raises(InstanceCheckError, match=r"4\.50 is not a video transfer syntax"):
        verify_video_instance(other)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size - 5000])
    with pytest.raises(InstanceCheckError, match=r"Pixel Data is cut short.*\(truncated file\)"):
        verify_video_instance(cut)


def test_pixel_data_that_is_not_video_is_refused(tmp_path: Path) -> None:
    source = conforming_instance("h264_hp42")
    offset, _ = encapsulated_stream(source).fragments[0]
    data = bytearray(source.read_bytes())
    data[offset : offset + 4096] = bytes(4096)  # the MP4 boxes before the media data
    damaged = tmp_path / "damaged.dcm"
    damaged.write_bytes(bytes(data))
    with pytest.raises(InstanceCheckError, match="Pixel Data is not a readable h264 stream"):
        verify_video_instance(damaged)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.dcm"]  # scratch copy gone


def test_fragments_are_found_without_reading_them() -> None:
    path = conforming_instance("h264_hp41_fragmentable")
    stream = encapsulated_stream(path)
    clip_size = conforming_clip("h264_hp41_fragmentable").stat().st_size
    assert stream.transfer_syntax == VideoSyntax.H264_HP41.fragmentable_uid
    assert all(length == 16384 for _, length in stream.fragments[:-1])
    assert stream.size == clip_size + clip_size % 2
    data = path.read_bytes()
    first_offset, _ = stream.fragments[0]
    assert data[first_offset - 8 : first_offset - 4] == b"\xfe\xff\x00\xe0"  # item tag


# The bounded-memory check of a 3 GB clip runs through `izer convert` itself, in
# tests/cli/test_convert_video.py, which writes and verifies with the same writer.
