"""What izer knows about a video file: its container, first video stream and first audio stream.

Filled by :func:`izer.encode.video.probe.probe`; compared with the limits of a DICOM video
transfer syntax (PS3.5 8.2.5-8.2.11) by :func:`izer.encode.video.syntaxes.conformance_problems`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of a video file."""

    codec: str
    """PyAV codec name: ``'aac'``, ``'mp3'``, ``'mp2'``, ``'pcm_s16le'`` ..."""
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class StreamInfo:
    """The container and first video stream of a file, as demuxed (never estimated)."""

    path: Path
    container: str
    """Normalised PyAV format name: ``'mp4'``, ``'mov'``, ``'mpeg'``, ``'mpegts'``,
    ``'matroska'``, ``'avi'`` ... (``'mov,mp4,m4a,3gp,3g2,mj2'`` is split by brand)."""
    codec: str
    """``'h264'``, ``'hevc'``, ``'mpeg2video'`` or another PyAV codec name."""
    profile: str | None
    """FFmpeg profile name: ``'High'``, ``'Main'``, ``'Main 10'``, ``'Constrained Baseline'`` ..."""
    level: int | None
    """As coded: H.264 level_idc (41 = 4.1), HEVC general_level_idc (153 = 5.1), MPEG-2
    level_indication (4 = High, 6 = High 1440, 8 = Main, 10 = Low)."""
    width: int
    height: int
    sample_aspect_ratio: Fraction
    """1 for square pixels (an unknown 0:1 also reads as 1)."""
    pix_fmt: str
    """``'yuv420p'``, ``'yuv420p10le'``, ``'yuvj420p'``, ``'yuv422p'`` ..."""
    bit_depth: int
    frame_rate: Fraction
    """Exact where the container says so: 30000/1001, 25, 60000/1001."""
    constant_frame_rate: bool
    frame_count: int
    """Packets of the video stream that carry a frame, counted by demuxing."""
    duration_s: float
    interlaced: bool
    sample_entry: str | None
    """MP4/MOV only: ``'avc1'`` | ``'avc3'`` | ``'hvc1'`` | ``'hev1'`` ...; None otherwise."""
    moov_first: bool | None
    """MP4/MOV only: True when the moov box precedes mdat (``+faststart``)."""
    audio: AudioInfo | None
    size_bytes: int
    rotation: int = 0
    """Counter-clockwise degrees (0, 90, 180, 270) a player turns the picture, from the
    container's display matrix (phones record portrait video this way). DICOM has no such
    attribute: a turned picture must be re-encoded upright."""
    stream_types: tuple[str, ...] = ()
    """The type of every stream in the container, in order (``'video'``, ``'audio'``,
    ``'data'``, ``'subtitle'`` ...): a DICOM video file holds one video stream and at most
    one audio stream."""
    fragmented: bool = False
    """MP4/MOV only: the media is in movie fragments (moof boxes), as a crash-safe recording
    writes it; izer encapsulates a plain MP4 with one index, which every reader handles."""
