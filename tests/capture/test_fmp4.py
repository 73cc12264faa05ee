"""Fragmented MP4 box walking and cutting back to complete fragments, on real files."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from izer.capture import fmp4
from izer.capture.fmp4 import (
    TEMP_SUFFIX,
    Fmp4Error,
    cut_to_complete_fragments,
    scan_segment,
    top_level_boxes,
)
from izer.capture.recorder import MOVFLAGS

FRAMES, GOP = 90, 30


@pytest.fixture(scope="module")
def segment_bytes() -> bytes:
    """A fragmented MP4 as the recorder writes it: 90 frames, a fragment per 30."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4", options={"movflags": MOVFLAGS}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {"preset": "veryfast", "x264-params": f"keyint={GOP}:scenecut=0"}
        rng = np.random.default_rng(0)
        for index in range(FRAMES):
            pixels = rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.fixture
def segment(tmp_path: Path, segment_bytes: bytes) -> Path:
    path = tmp_path / "segment-0001.mp4"
    path.write_bytes(segment_bytes)
    return path


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_whole_segment_lists_its_fragments(segment: Path) -> None:
    layout = scan_segment(segment)
    assert [f.samples for f in layout.fragments] == [GOP] * (FRAMES // GOP)
    assert [f.sequence for f in layout.fragments] == [1, 2, 3]
    assert layout.fragments[0].base_decode_time == 0
    assert layout.has_index and layout.is_complete and layout.problem == ""
    assert layout.header_end == layout.fragments[0].moof.offset
    assert layout.samples == FRAMES == frame_count(segment)


def test_a_whole_segment_is_left_as_it_is(segment: Path) -> None:
    before = segment.stat()
    layout = cut_to_complete_fragments(segment)
    assert layout is not None and layout.samples == FRAMES
    after = segment.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def test_every_cut_point_keeps_exactly_the_complete_fragments(
    tmp_path: Path, segment_bytes: bytes
) -> None:
    whole = tmp_path / "whole.mp4"
    whole.write_bytes(segment_bytes)
    fragments = scan_segment(whole).fragments
    header_end = scan_segment(whole).header_end
    cuts = {1, header_end - 1, header_end, header_end + 8, len(segment_bytes) - 1}
    for fragment in fragments:
        for edge in (fragment.moof.offset, fragment.mdat.offset, fragment.end):
            cuts |= {edge - 1, edge, edge + 1, edge + 9}
    for cut in sorted(c for c in cuts if 0 < c < len(segment_bytes)):
        path = tmp_path / f"cut-{cut}.mp4"
        path.write_bytes(segment_bytes[:cut])
        inode = path.stat().st_ino
        complete = [f for f in fragments if f.end <= cut]
        layout = cut_to_complete_fragments(path)
        assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))
        if not complete:
            assert layout is None and not path.exists(), f"cut at {cut}"
            continue
        assert layout is not None, f"cut at {cut}"
        assert layout.fragments == tuple(complete), f"cut at {cut}"
        assert path.stat().st_size == complete[-1].end
        if cut > complete[-1].end:
            assert path.stat().st_ino != inode  # a new file renamed over, never truncated
        assert frame_count(path) == GOP * len(complete)


def test_media_data_too_short_for_its_samples_is_not_a_complete_fragment(
    tmp_path: Path, segment_bytes: bytes
) -> None:
    whole = tmp_path / "whole.mp4"
    whole.write_bytes(segment_bytes)
    second = scan_segment(whole).fragments[1]
    # declare the second mdat 100 bytes shorter and end the file there: a "whole" box
    # whose samples run past its end
    data = bytearray(segment_bytes[: second.end - 100])
    struct.pack_into(">I", data, second.mdat.offset, second.mdat.size - 100)
    path = tmp_path / "short.mp4"
    path.write_bytes(bytes(data))
    layout = scan_segment(path)
    assert len(layout.fragments) == 1
    assert "outside its media data" in layout.problem
    cut = cut_to_complete_fragments(path)
    assert cut is not None and cut.samples == GOP and frame_count(path) == GOP


def test_a_failed_copy_keeps_the_original(
    tmp_path: Path, segment_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "damaged.mp4"
    path.write_bytes(segment_bytes[:-1000])

    def bad_copy(source: Path, target: Path, length: int) -> None:
        target.write_bytes(source.read_bytes()[: length - 50])

    monkeypatch.setattr(fmp4, "_copy_prefix", bad_copy)
    with pytest.raises(Fmp4Error, match="kept"):
        cut_to_complete_fragments(path)
    assert path.read_bytes() == segment_bytes[:-1000]
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))


def test_a_file_that_is_not_mp4_has_no_fragment(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(bytes(range(256)) * 40)
    layout = scan_segment(path)
    assert layout.fragments == () and layout.header_end == 0 and layout.problem
    assert cut_to_complete_fragments(path) is None and not path.exists()
    with pytest.raises(Fmp4Error, match="cannot be read"):
        scan_segment(path)


def test_box_sizes_of_64_bits_and_to_the_end_of_file_are_understood() -> None:
    payload = b"x" * 20
    data = struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0"
    data += struct.pack(">I4sQ", 1, b"free", 16 + len(payload)) + payload
    data += struct.pack(">I4s", 0, b"mdat") + b"rest"
    boxes = list(top_level_boxes(io.BytesIO(data), len(data)))
    assert [(b.type, b.size, b.header_size) for b in boxes] == [
        ("ftyp", 16, 8),
        ("free", 36, 16),
        ("mdat", 12, 8),
    ]
    assert boxes[-1].end == len(data)
    truncated = data[:30]  # inside the 64-bit box
    assert [b.type for b in top_level_boxes(io.BytesIO(truncated), len(truncated))] == ["ftyp"]
