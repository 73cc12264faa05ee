"""ClipStreams and plan_parts: where a conforming stream can be cut, and nothing left behind."""

from __future__ import annotations

import secrets
from array import array
from fractions import Fraction
from pathlib import Path

import pytest

from izer.encode.video.probe import probe
from izer.encode.video.segments import ClipRequest, ClipStreams, PacketTable, plan_parts
from tests.encode.video.clips import make_clip


def _table(pts: list[int], keys: set[int], size: int = 1000) -> PacketTable:
    """Video packets in decode order, one tick per frame, ``size`` bytes each."""
    count = len(pts)
    return PacketTable(
        time_base=Fraction(1, 30),
        pts=array("q", pts),
        keyframe=bytes(1 if index in keys else 0 for index in range(count)),
        bytes_before=array("q", [index * size for index in range(count)]),
        packets_before=array("q", range(count)),
        total_bytes=count * size,
        total_packets=count,
    )


def test_cuts_fall_on_the_last_clean_key_frame_within_the_limit() -> None:
    info = probe(make_clip("h264_high_720p30"))  # only its rate and container matter here
    table = _table(list(range(30)), {0, 10, 20})
    parts = plan_parts(table, info, cap=15, limit=None)
    assert not isinstance(parts, str)
    assert [(p.first_pts, p.end_pts, p.frames) for p in parts] == [
        (0, 10, 10),
        (10, 20, 10),
        (20, None, 10),
    ]
    assert [p.start_s for p in parts] == pytest.approx([0, 1 / 3, 2 / 3])


def test_an_open_group_of_pictures_is_not_a_cut_point() -> None:
    info = probe(make_clip("h264_high_720p30"))
    # Decode order I0 P3 B1 B2 | I6 B4 B5 ...: B4 and B5 follow the key frame 6 in decoding
    # but are shown before it (they refer across it), so a part cannot start at 6.
    pts = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
    table = _table(pts, {0, 4})
    assert table.clean_keyframes() == [0]
    reason = plan_parts(table, info, cap=6, limit=None)
    assert reason == "its groups of pictures are open (frames refer across key frames)"


def test_a_group_of_pictures_over_the_size_limit_is_explained() -> None:
    info = probe(make_clip("h264_high_720p30"))
    table = _table(list(range(30)), {0, 15}, size=20_000)
    reason = plan_parts(table, info, cap=None, limit=200_000)
    assert isinstance(reason, str)
    assert "0.5 s between key frames take" in reason and "more than a part may hold" in reason


def _scratch(folder: Path):  # type: ignore[no-untyped-def]
    def new(name: str) -> Path:
        return folder / f".izer-tmp-{secrets.token_hex(4)}-{name}"

    return new


def test_parts_left_unconsumed_are_removed_on_close(tmp_path: Path) -> None:
    clip = make_clip("h264_main_720p60")  # re-encoded, then cut
    with ClipStreams(clip, _scratch(tmp_path), ClipRequest(max_seconds=0.2)) as streams:
        first = next(iter(streams.parts()))
        assert first.path.exists() and first.count == 3
        assert any(p.name.endswith("conformed") for p in tmp_path.iterdir())
    assert list(tmp_path.iterdir()) == []


def test_a_clip_that_conforms_is_used_in_place(tmp_path: Path) -> None:
    clip = make_clip("h264_high_720p30")
    with ClipStreams(clip, _scratch(tmp_path)) as streams:
        (part,) = streams.parts()
        assert part.path == clip
        assert streams.notes == []
    assert list(tmp_path.iterdir()) == []
    assert clip.exists()


def test_a_stream_over_one_fragment_is_cut_into_parts_that_fit(tmp_path: Path) -> None:
    clip = make_clip("h264_high_720p30")  # about 0.36 MB, a key frame every second
    limit = 200_000
    with ClipStreams(clip, _scratch(tmp_path), max_stream_bytes=limit) as streams:
        parts = [(part.info.size_bytes, part.info.frame_count) for part in streams.parts()]
        notes = list(streams.notes)
    assert all(size <= limit for size, _ in parts)
    assert sum(frames for _, frames in parts) == 30
    assert any("re-encoded so that it can be cut" in note for note in notes)
    assert list(tmp_path.iterdir()) == []
