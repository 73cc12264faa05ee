"""Recording clips: real-time H.264/HEVC encoding into crash-safe fragmented MP4 segments.

The capture thread hands frames to :meth:`Recorder.submit`, which never blocks: it puts them
in a queue bounded in seconds of video, or counts them dropped (with an event) when it is
full. One encoder thread converts them to 4:2:0 (OpenCV), encodes them with PyAV (x264 High
Profile, or x265 Main for frames larger than H.264 Level 4.2 holds) and writes one fragment
per group of pictures into ``<folder>/<clip_id>/segment-0001.mp4`` ..., each fragment
flushed to disk before the next begins, so a power cut loses at most the fragment being
written. A journal ``clip.json`` beside the segments, replaced atomically, says what the
clip is; :func:`recover_unfinished` cuts the segments of a clip whose journal says
``unfinished`` back to their last complete fragment on the next start.

The stream is made to be remuxed into a DICOM video instance without re-encoding
(PS3.5 8.2.7, 8.2.8, 8.2.11): 8-bit 4:2:0 limited range, High Profile Level 4.1 (4.2 above
1080p30) or HEVC Main Level 5.1, square pixels, closed groups of pictures, and a constant
frame rate (one Frame Time, PS3.3 C.7.6.5.1.1): a frame the source missed is replaced by a
repeat of the previous one and recorded as a :class:`Gap`.
"""

from __future__ import annotations

import bisect
import enum
import io
import json
import logging
import math
import os
import secrets
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.codec.context
import av.video.frame
import cv2
import numpy as np

from izer.capture.base import Frame, VideoMode
from izer.capture.fmp4 import TEMP_SUFFIX, Fmp4Error, cut_to_complete_fragments, sync_folder

log = logging.getLogger(__name__)

#: The journal beside the segments of a clip.
JOURNAL_NAME = "clip.json"
JOURNAL_FORMAT = "izer-recording"
JOURNAL_VERSION = 1
#: Segment file names inside a clip folder (1-based).
SEGMENT_NAME = "segment-{:04d}.mp4"
#: MP4 muxer flags: a moov without samples first, then one moof+mdat pair per key frame.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
#: x264/x265 speed presets, fastest first.
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
#: Longest pre-record buffer.
MAX_PRERECORD_S = 10.0
_JOURNAL_TEMP = ".clip.json.tmp"

# Level limits: (name, max frame size, max rate) in macroblocks for H.264 (Table A-1, MaxFS and
# MaxMBPS) and in luma samples for HEVC (Table A.8, MaxLumaPs and MaxLumaSr).
_H264_LEVELS = (("4.1", 8192, 245_760), ("4.2", 8704, 522_240))
_HEVC_LEVEL = ("5.1", 8_912_896, 534_773_760)
# VBV (max rate kbit/s, buffer kbit) within the level's MaxBR/MaxCPB: H.264 High x1.25,
# HEVC Main tier; the same figures izer.encode.video uses.
_H264_VBV = (50_000, 62_500)
_HEVC_VBV = (40_000, 40_000)
# Colour signalling of what cv2's RGB->I420 writes: BT.601 matrix, limited (MPEG) range.
_COLORSPACE_SMPTE170M = 6
_COLOR_RANGE_MPEG = 1


class VideoCodec(enum.StrEnum):
    """The codec a clip is encoded with."""

    H264 = "h264"
    HEVC = "hevc"


@dataclass(frozen=True)
class EncoderSettings:
    """How clips are encoded.

    Parameters
    ----------
    codec
        ``auto`` (H.264 up to what Level 4.2 holds, e.g. 1920x1080 at 60 frames/s; HEVC
        above), ``h264`` or ``hevc``.
    preset
        x264/x265 speed preset. ``ultrafast`` is refused for H.264: x264 then writes
        Constrained Baseline, which the DICOM H.264 syntaxes do not accept (High Profile).
    crf
        Constant quality, 0 (lossless) to 51.
    keyframe_s
        Seconds between key frames; each starts a fragment (the most a power cut can lose).
    """

    codec: str = "auto"
    preset: str = "veryfast"
    crf: int = 20
    keyframe_s: float = 1.0

    def __post_init__(self) -> None:
        if self.codec not in ("auto", *VideoCodec):
            raise ValueError(f"video codec {self.codec!r}: use auto, h264 or hevc")
        if self.preset not in PRESETS:
            raise ValueError(f"encoder preset {self.preset!r}: use one of {', '.join(PRESETS)}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf {self.crf}: use a value from 0 (lossless) to 51")
        if not 0 < self.keyframe_s <= 10:
            raise ValueError(f"keyframe_s {self.keyframe_s}: use more than 0 and at most 10 s")


@dataclass(frozen=True)
class EncoderPlan:
    """The encoder a mode and settings lead to, with its FFmpeg options."""

    codec: VideoCodec
    library: str
    profile: str
    level: str
    preset: str
    crf: int
    gop: int
    rate: Fraction
    options: tuple[tuple[str, str], ...]
    codec_tag: str

    def ffmpeg_arguments(self) -> list[str]:
        """The ``ffmpeg`` output options encoding the same way (for benchmarks and people)."""
        options = dict(self.options)
        arguments = ["-c:v", self.library, "-pix_fmt", "yuv420p", "-g", str(self.gop)]
        for key, value in options.items():
            name = {"profile": "profile:v", "level": "level:v"}.get(key, key)
            arguments += [f"-{name}", value]
        arguments += ["-color_range", "tv", "-colorspace", "smpte170m", "-tag:v", self.codec_tag]
        return arguments


def encoder_plan(mode: VideoMode, settings: EncoderSettings) -> EncoderPlan:
    """Choose codec, profile and level for ``mode`` (PS3.5 8.2.7, 8.2.8, 8.2.11 limits).

    Raises
    ------
    ValueError
        For an odd frame size, a size or rate no DICOM video syntax holds, a forced H.264
        that cannot hold the mode, or ``ultrafast`` with H.264.
    """
    width, height, rate = mode.width, mode.height, Fraction(mode.fps)
    if width <= 0 or height <= 0 or rate <= 0:
        raise ValueError(f"recording mode {mode}: needs a frame size and a frame rate")
    if width % 2 or height % 2:
        raise ValueError(
            f"recording mode {mode}: 4:2:0 video needs an even width and height; "
            "ask the source for an even size"
        )
    macroblocks = math.ceil(width / 16) * math.ceil(height / 16)
    h264_level = next(
        (
            name
            for name, max_frame, max_rate in _H264_LEVELS
            if macroblocks <= max_frame
            and macroblocks * rate <= max_rate
            and max(width, height) <= math.isqrt(8 * max_frame) * 16
        ),
        None,
    )
    codec = settings.codec
    if codec == "auto":
        codec = VideoCodec.H264 if h264_level is not None else VideoCodec.HEVC
    gop = max(1, round(settings.keyframe_s * float(rate)))
    if codec == VideoCodec.H264:
        if h264_level is None:
            raise ValueError(
                f"recording mode {mode}: exceeds H.264 Level 4.2 (at most 1920x1080 at 60 "
                "frames/s); use video codec auto or hevc, or a smaller mode"
            )
        if settings.preset == "ultrafast":
            raise ValueError(
                "encoder preset ultrafast makes x264 write Constrained Baseline, not the High "
                "Profile DICOM needs; use superfast or slower"
            )
        max_rate, buffer = _H264_VBV
        params = f"vbv-maxrate={max_rate}:vbv-bufsize={buffer}:keyint={gop}:scenecut=0:open-gop=0"
        options = (
            ("preset", settings.preset),
            ("profile", "high"),
            ("level", h264_level),
            ("crf", str(settings.crf)),
            ("forced-idr", "1"),
            ("x264-params", params),
        )
        return EncoderPlan(
            VideoCodec.H264, "libx264", "High", h264_level, settings.preset, settings.crf,
            gop, rate, options, "avc1",
        )  # fmt: skip
    name, max_frame, max_rate_samples = _HEVC_LEVEL
    if (
        width * height > max_frame
        or width * height * rate > max_rate_samples
        or max(width, height) > math.isqrt(8 * max_frame)
    ):
        raise ValueError(
            f"recording mode {mode}: exceeds HEVC Level 5.1 (at most 4096x2160 at 60 "
            "frames/s), the largest DICOM video syntax; use a smaller mode"
        )
    max_rate, buffer = _HEVC_VBV
    params = (
        f"log-level=error:level-idc={name}:no-high-tier=1:vbv-maxrate={max_rate}:"
        f"vbv-bufsize={buffer}:keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0"
    )
    options = (
        ("preset", settings.preset),
        ("profile", "main"),
        ("crf", str(settings.crf)),
        ("forced-idr", "1"),
        ("x265-params", params),
    )
    return EncoderPlan(
        VideoCodec.HEVC, "libx265", "Main", name, settings.preset, settings.crf, gop, rate,
        options, "hvc1",
    )  # fmt: skip


class RecorderEventKind(enum.StrEnum):
    """What a :class:`RecorderEvent` reports."""

    DROPPED = "dropped"  # a frame was not recorded (queue full, or unusable)
    GAP = "gap"  # source frame numbers jumped: the previous frame was repeated
    SEGMENT = "segment"  # a segment file began
    FINISHED = "finished"  # a clip was finalized
    ERROR = "error"  # encoding or writing failed; what is on disk will be recovered


@dataclass(frozen=True, slots=True)
class RecorderEvent:
    """Something the user should know about a recording, in plain words."""

    kind: RecorderEventKind
    message: str
    clip_id: str | None = None
    frame_number: int | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class Gap:
    """``missing`` source frames after frame ``after_frame``, replaced by repeats of it."""

    after_frame: int
    missing: int


@dataclass(frozen=True, slots=True)
class ClipPosition:
    """Where a source frame sits in the clip: segment (from 0), frame in it, seconds in clip."""

    segment: int
    frame: int
    seconds: float


@dataclass(frozen=True, slots=True)
class RecordedSegment:
    """One segment file: its frame count, the source number of its first frame, duration."""

    path: Path
    frames: int
    first_frame: int
    duration_s: float


@dataclass(frozen=True)
class RecordedClip:
    """A finished (or recovered) clip: the segments, in order, and what was repeated."""

    clip_id: str
    folder: Path
    segments: tuple[RecordedSegment, ...]
    gaps: tuple[Gap, ...]
    metadata: dict[str, Any]
    recovered: bool
    mode: VideoMode | None = None
    codec: str = ""
    frames_dropped: int = 0


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """A snapshot of the recorder's counters (of the current or last clip)."""

    recording: bool
    paused: bool
    clip_id: str | None
    frames_written: int
    frames_dropped: int
    gaps: int
    bytes_written: int
    elapsed_s: float
    bitrate_bps: float
    frames_on_disk: int = 0
    queued: int = 0
    error: str | None = None


class RecorderError(RuntimeError):
    """The recorder cannot do what was asked; the message says why and what to do."""


class _Phase(enum.Enum):
    IDLE = "idle"  # encoder closed
    ARMED = "armed"  # encoding into the pre-record buffer
    RECORDING = "recording"
    FAILED = "failed"  # encoding or writing failed; frames ignored until stop()


@dataclass
class _Start:
    clip_id: str
    folder: Path
    journal: dict[str, Any]


@dataclass
class _Pause:
    last_offered: int | None


@dataclass
class _Resume:
    pass


@dataclass
class _Stop:
    last_offered: int | None
    done: threading.Event = field(default_factory=threading.Event)
    result: RecordedClip | None = None
    error: str | None = None


@dataclass
class _Close:
    pass


@dataclass
class _Run:
    """Source frames ``source_first`` ... coded as encoder frames ``enc_first`` ... in a row."""

    source_first: int
    enc_first: int
    count: int


@dataclass
class _GapRecord:
    enc_first: int
    after_frame: int
    missing: int


@dataclass
class _Gop:
    pts: int
    packets: list[av.Packet]


@dataclass
class _Clip:
    """The clip being recorded, as the encoder thread sees it."""

    clip_id: str
    folder: Path
    journal: dict[str, Any]
    start_pts: int
    seg_starts: list[int]  # encoder index of each segment's first frame (input side)
    pending_splits: deque[int] = field(default_factory=deque)  # not yet reached on output
    segments: list[dict[str, Any]] = field(default_factory=list)
    writer: _SegmentWriter | None = None
    gaps: list[Gap] = field(default_factory=list)
    frames_closed: int = 0  # frames in closed segments
    bytes_closed: int = 0
    journal_dirty: bool = False


class _SegmentFile(io.FileIO):
    """The segment file; refuses writes once blocked, so an abort adds nothing to it."""

    blocked = False

    def write(self, data: Any) -> int:
        if self.blocked:
            raise OSError("the segment was closed after a failure")
        return super().write(data)


class _SegmentWriter:
    """One fragmented MP4 file; fsyncs after each fragment the muxer completes."""

    def __init__(
        self,
        path: Path,
        template: av.VideoStream,
        encoder: av.VideoCodecContext,
        plan: EncoderPlan,
        start_pts: int,
    ) -> None:
        self.path = path
        self.start_pts = start_pts
        self.frames = 0
        self.safe_frames = 0
        self.media_bytes = 0
        self.size = 0
        self._file = _SegmentFile(path, "xb")
        try:
            self._container = av.open(
                self._file,
                "w",
                format="mp4",
                options={"movflags": MOVFLAGS, "flush_packets": "1"},
            )
            stream = self._container.add_stream_from_template(template)
            context = stream.codec_context
            context.width = encoder.width
            context.height = encoder.height
            context.pix_fmt = "yuv420p"
            context.time_base = encoder.time_base
            context.framerate = encoder.framerate
            context.extradata = encoder.extradata
            context.color_range = _COLOR_RANGE_MPEG
            context.colorspace = _COLORSPACE_SMPTE170M
            context.sample_aspect_ratio = Fraction(1, 1)
            stream.time_base = encoder.time_base
            stream.codec_tag = plan.codec_tag
            self._stream = stream
            self._container.start_encoding()
            sync_folder(path.parent)  # the new file's name survives a power cut too
        except BaseException:
            self._file.close()
            path.unlink(missing_ok=True)
            raise

    def write(self, packet: av.Packet) -> bool:
        """Mux one packet; True when it closed a fragment, which is then on disk (fsync)."""
        fragment_done = packet.is_keyframe and self.frames > 0
        size = packet.size
        packet.pts -= self.start_pts
        packet.dts -= self.start_pts
        packet.duration = 1
        packet.stream = self._stream
        self._container.mux(packet)
        if fragment_done:
            os.fsync(self._file.fileno())
            self.safe_frames = self.frames
            self.size = os.fstat(self._file.fileno()).st_size
        self.frames += 1
        self.media_bytes += size
        return fragment_done

    def close(self) -> int:
        """Write the last fragment and the index, fsync, close; return the file size."""
        try:
            self._container.close()
            os.fsync(self._file.fileno())
            self.size = os.fstat(self._file.fileno()).st_size
            self.safe_frames = self.frames
        finally:
            self._file.close()
        return self.size

    def abort(self) -> None:
        """Close after a failure, writing nothing more: the file keeps its complete fragments.

        The fragment being built is dropped, not written: its B-frames may be incomplete.
        """
        self._file.blocked = True
        try:
            self._container.close()
        except Exception:
            log.debug("closing %s after a failure", self.path, exc_info=True)
        self._file.close()


class Recorder:
    """Encodes submitted frames into clips of fragmented MP4 segments, in real time.

    Parameters
    ----------
    folder
        Where clip folders are made (local disk).
    mode
        Frame size and rate of the source; frames of another size are dropped (with an event).
    encoder
        Codec, preset, quality and key frame interval.
    prerecord_s
        0 to 10 s: while not recording, keep this much encoded video (from a key frame) in
        memory, and start each clip with it.
    max_clip_s
        Longest segment in seconds (``None`` or 0: no limit); a longer recording goes on in
        the next segment, split at a key frame.
    max_segment_bytes
        Split into the next segment, at a key frame, before a segment grows past this size.
    queue_s
        Frames the capture thread may get ahead of the encoder, in seconds.
    on_event
        Called with each :class:`RecorderEvent`, on the capture thread (dropped frames) or the
        encoder thread; it must return quickly.
    """

    def __init__(
        self,
        folder: Path,
        mode: VideoMode,
        encoder: EncoderSettings,
        *,
        prerecord_s: float = 0.0,
        max_clip_s: float | None = None,
        max_segment_bytes: int = 4_000_000_000,
        queue_s: float = 2.0,
        on_event: Callable[[RecorderEvent], None] | None = None,
    ) -> None:
        if not 0 <= prerecord_s <= MAX_PRERECORD_S:
            raise ValueError(f"prerecord_s {prerecord_s}: use 0 to {MAX_PRERECORD_S:g} seconds")
        if max_clip_s is not None and max_clip_s < 0:
            raise ValueError(f"max_clip_s {max_clip_s}: use 0 (no limit) or more seconds")
        if max_segment_bytes < 1_000_000:
            raise ValueError(f"max_segment_bytes {max_segment_bytes}: use at least 1000000")
        if queue_s <= 0:
            raise ValueError(f"queue_s {queue_s}: use more than 0 seconds")
        self._plan = encoder_plan(mode, encoder)
        self._folder = Path(folder)
        self._mode = mode
        self._rate = Fraction(mode.fps)
        self._prerecord_frames = round(prerecord_s * self._rate)
        self._max_frames = round(max_clip_s * self._rate) if max_clip_s else 0
        self._max_segment_bytes = max_segment_bytes
        self._capacity = max(2, round(queue_s * self._rate))
        self._on_event = on_event
        self._folder.mkdir(parents=True, exist_ok=True)

        # Shared between threads (under self._lock).
        self._lock = threading.Condition()
        self._control = threading.Lock()  # one start()/stop() at a time
        self._items: deque[object] = deque()
        self._queued_frames = 0
        self._enqueued = 0
        self._processed = 0
        self._closed = False
        self._recording = False
        self._paused = False
        self._last_offered: int | None = None
        self._clip_id: str | None = None
        self._dropped = 0
        self._gap_count = 0
        self._frames_written = 0
        self._frames_on_disk = 0
        self._bytes_written = 0
        self._error: str | None = None
        self._view: tuple[int, list[int], list[_Run]] | None = None  # for clip_position

        # Encoder thread only.
        self._phase = _Phase.IDLE
        self._arming_failed = False  # pre-record encoding failed: wait for the next start()
        self._encoder: av.VideoCodecContext | None = None
        self._spare: av.VideoCodecContext | None = None
        self._template_box = av.open(io.BytesIO(), "w", format="mp4")
        self._template = self._template_box.add_stream(self._plan.library, rate=self._rate)
        self._enc_index = 0
        self._arm_start = 0
        self._enc_paused = False
        self._last_number: int | None = None
        self._yuv = np.empty((mode.height * 3 // 2, mode.width), np.uint8)
        self._luma_lut = np.round(16 + np.arange(256) * 219 / 255).astype(np.uint8)
        self._preroll: deque[_Gop] = deque()
        self._preroll_gaps: list[_GapRecord] = []
        self._runs: list[_Run] = []
        self._key_nominal: dict[int, int] = {}
        self._recent_sizes: deque[int] = deque(maxlen=max(2, 2 * self._plan.gop))
        self._clip: _Clip | None = None

        self._thread = threading.Thread(target=self._run, name="izer-recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public interface

    @property
    def plan(self) -> EncoderPlan:
        """The codec, profile, level and options clips are encoded with."""
        return self._plan

    @property
    def queue_free(self) -> int:
        """Frames :meth:`submit` can take now without dropping one."""
        with self._lock:
            return self._capacity - self._queued_frames

    def submit(self, frame: Frame) -> None:
        """Queue ``frame`` for the encoder; never blocks.

        Called on the capture thread. While neither recording nor pre-recording, frames are
        ignored; while paused, too. When the queue is full the frame is counted dropped and
        a :class:`RecorderEvent` is emitted; the encoder repeats the previous frame in its
        place to keep the clock (a :class:`Gap`).
        """
        with self._lock:
            if self._closed or self._paused:
                return
            if not self._recording and self._prerecord_frames == 0:
                return
            self._last_offered = frame.number
            if self._queued_frames >= self._capacity:
                self._dropped += int(self._recording)
                clip_id = self._clip_id if self._recording else None
                full = True
            else:
                self._items.append(frame)
                self._queued_frames += 1
                self._enqueued += 1
                self._lock.notify_all()
                full = False
        if full:
            self._emit(
                RecorderEventKind.DROPPED,
                f"frame {frame.number} was not recorded: the encoder is more than "
                f"{self._capacity} frames behind (the computer is too slow for this mode; "
                "choose a faster preset or a smaller mode)",
                clip_id,
                frame.number,
            )

    def start(self, metadata: Mapping[str, str | int | float]) -> str:
        """Begin a clip (with the pre-record buffer) and return its id.

        The clip folder and its journal (with ``metadata``) are on disk when this returns.

        Raises
        ------
        RecorderError
            When a clip is already being recorded, or the recorder is closed.
        ValueError
            When a metadata value is not text or a number.
        """
        with self._control:
            return self._start_clip(metadata)

    def _start_clip(self, metadata: Mapping[str, str | int | float]) -> str:
        for key, value in metadata.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError(f"clip metadata {key!r}: use text or a number, not {value!r}")
        with self._lock:
            if self._closed:
                raise RecorderError("the recorder is closed; make a new one")
            if self._recording:
                raise RecorderError(
                    f"clip {self._clip_id} is being recorded; stop() it before starting another"
                )
        clip_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        folder = self._folder / clip_id
        folder.mkdir()
        journal = {
            "format": JOURNAL_FORMAT,
            "version": JOURNAL_VERSION,
            "clip_id": clip_id,
            "state": "unfinished",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "metadata": dict(metadata),
            "mode": {
                "width": self._mode.width,
                "height": self._mode.height,
                "fps": f"{self._rate.numerator}/{self._rate.denominator}",
                "pixel_format": self._mode.pixel_format,
            },
            "encoder": {
                "codec": self._plan.codec.value,
                "library": self._plan.library,
                "profile": self._plan.profile,
                "level": self._plan.level,
                "preset": self._plan.preset,
                "crf": self._plan.crf,
                "keyframe_frames": self._plan.gop,
                "pixel_format": "yuv420p",
            },
            "prerecord_s": float(self._prerecord_frames / self._rate),
            "segments": [],
            "gaps": [],
            "frames_dropped": 0,
        }
        write_journal(folder, journal)
        sync_folder(self._folder)
        with self._lock:
            self._recording, self._paused, self._clip_id = True, False, clip_id
            self._dropped = self._gap_count = self._frames_written = 0
            self._frames_on_disk = self._bytes_written = 0
            self._error = None
            self._put(_Start(clip_id, folder, journal))
        return clip_id

    def pause(self) -> None:
        """Stop writing frames until :meth:`resume`; the file's time line has no hole."""
        with self._lock:
            if self._recording and not self._paused:
                self._paused = True
                self._put(_Pause(self._last_offered))

    def resume(self) -> None:
        """Write frames again after :meth:`pause`."""
        with self._lock:
            if self._recording and self._paused:
                self._paused = False
                self._last_offered = None
                self._put(_Resume())

    def clip_position(self, frame_number: int) -> ClipPosition | None:
        """Where source frame ``frame_number`` sits in the current (or last) clip.

        Waits until the encoder has handled the frames submitted before this call (at most
        the queue length); ``None`` when the frame is not in the clip (before it, paused,
        dropped, or not submitted yet).
        """
        with self._lock:
            target = self._enqueued
            deadline = time.monotonic() + float(self._capacity / self._rate) + 5.0
            while self._processed < target and self._thread.is_alive():
                if not self._lock.wait(timeout=max(0.0, deadline - time.monotonic())):
                    break
            if self._view is None:
                return None
            start_pts, seg_starts, runs = self._view
            for run in reversed(runs):
                if run.source_first <= frame_number < run.source_first + run.count:
                    index = run.enc_first + frame_number - run.source_first
                    break
            else:
                return None
            if index < start_pts:
                return None
            segment = bisect.bisect_right(seg_starts, index) - 1
            return ClipPosition(
                segment, index - seg_starts[segment], float((index - start_pts) / self._rate)
            )

    def stop(self) -> RecordedClip:
        """Finish the clip: encode what is queued, finalize the segments, mark it finished.

        After an encoding or writing failure the segments are cut back to their complete
        fragments and the clip is returned with ``recovered=True``.

        Raises
        ------
        RecorderError
            When no clip is being recorded, or even the recovery failed (the message says
            why; the clip folder is kept for :func:`recover_unfinished`).
        """
        with self._control:
            return self._stop_clip()

    def _stop_clip(self) -> RecordedClip:
        with self._lock:
            if not self._recording:
                raise RecorderError("no clip is being recorded; call start() first")
            command = _Stop(self._last_offered)
            self._recording = self._paused = False
            self._last_offered = None
            self._put(command)
        while not command.done.wait(0.5):
            if not self._thread.is_alive():
                raise RecorderError("the recorder's encoder thread has ended; see the log")
        if command.result is None:
            raise RecorderError(command.error or "the clip could not be finished")
        return command.result

    def close(self) -> None:
        """Finish any clip being recorded, then end the encoder thread; safe to call twice."""
        with self._lock:
            recording, closed = self._recording, self._closed
        if closed:
            return
        if recording:
            try:
                self.stop()
            except RecorderError:
                log.exception("finishing the clip while closing the recorder")
        with self._lock:
            self._closed = True
            self._put(_Close())
        self._thread.join()
        self._template_box.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def status(self) -> RecorderStatus:
        """The counters of the current (or last) clip."""
        with self._lock:
            elapsed = float(self._frames_written / self._rate)
            return RecorderStatus(
                recording=self._recording,
                paused=self._paused,
                clip_id=self._clip_id,
                frames_written=self._frames_written,
                frames_dropped=self._dropped,
                gaps=self._gap_count,
                bytes_written=self._bytes_written,
                elapsed_s=elapsed,
                bitrate_bps=self._bytes_written * 8 / elapsed if elapsed else 0.0,
                frames_on_disk=self._frames_on_disk,
                queued=self._queued_frames,
                error=self._error,
            )

    # ------------------------------------------------------------------ plumbing

    def _put(self, item: object) -> None:
        """Queue a command (caller holds the lock)."""
        self._items.append(item)
        self._enqueued += 1
        self._lock.notify_all()

    def _emit(
        self,
        kind: RecorderEventKind,
        message: str,
        clip_id: str | None = None,
        frame_number: int | None = None,
        count: int = 1,
    ) -> None:
        if kind is RecorderEventKind.DROPPED:
            log.debug("%s", message)  # one per frame: the event and the counter report them
        elif kind in (RecorderEventKind.GAP, RecorderEventKind.ERROR):
            log.warning("%s", message)
        else:
            log.info("%s", message)
        if self._on_event is None:
            return
        try:
            self._on_event(RecorderEvent(kind, message, clip_id, frame_number, count))
        except Exception:
            log.exception("a recorder event listener failed")

    def _run(self) -> None:
        _lower_priority()
        try:
            self._spare = self._new_encoder()
        except Exception as error:
            log.warning("cannot open the %s encoder: %s", self._plan.library, error)
        while True:
            with self._lock:
                while not self._items:
                    self._lock.wait()
                item = self._items.popleft()
                if isinstance(item, Frame):
                    self._queued_frames -= 1
            try:
                if isinstance(item, Frame):
                    self._on_frame(item)
                elif isinstance(item, _Start):
                    self._start(item)
                elif isinstance(item, _Pause):
                    self._pad_to(item.last_offered)
                    self._enc_paused = True
                elif isinstance(item, _Resume):
                    self._enc_paused = False
                    self._last_number = None
                elif isinstance(item, _Stop):
                    self._stop(item)
                elif isinstance(item, _Close):
                    self._discard_encoder()
                    self._spare = None
                    return
            except Exception as error:
                self._fail(error)
                if isinstance(item, _Stop) and not item.done.is_set():
                    item.error = self._error
                    item.done.set()
            finally:
                with self._lock:
                    self._processed += 1
                    self._lock.notify_all()

    def _fail(self, error: Exception) -> None:
        clip = self._clip
        message = f"recording failed: {error}"
        if clip is not None:
            message += f"; what clip {clip.clip_id} has on disk is kept and will be recovered"
            if clip.writer is not None:
                clip.writer.abort()
                clip.writer = None
        log.error("%s", message, exc_info=error)
        with self._lock:
            self._error = message
        self._discard_encoder()
        self._phase = _Phase.FAILED if clip is not None else _Phase.IDLE
        self._arming_failed = clip is None
        self._emit(RecorderEventKind.ERROR, message, clip.clip_id if clip else None)

    # ------------------------------------------------------------------ encoder thread: input

    def _new_encoder(self) -> av.VideoCodecContext:
        """An opened encoder (opening holds the GIL for tens of ms: done ahead of need)."""
        plan, mode = self._plan, self._mode
        context = av.CodecContext.create(plan.library, "w")
        context.width = mode.width
        context.height = mode.height
        context.pix_fmt = "yuv420p"
        context.time_base = 1 / self._rate
        context.framerate = self._rate
        context.gop_size = plan.gop
        context.thread_type = "FRAME"
        context.flags |= av.codec.context.Flags.global_header
        context.color_range = _COLOR_RANGE_MPEG
        context.colorspace = _COLORSPACE_SMPTE170M
        context.sample_aspect_ratio = Fraction(1, 1)
        context.options = dict(plan.options)
        context.open()
        return context

    def _open_encoder(self) -> None:
        """Take the spare encoder (or open one) for a new run of frames."""
        spare, self._spare = self._spare, None
        self._encoder = spare if spare is not None else self._new_encoder()
        self._enc_index = 0
        self._last_number = None
        self._key_nominal.clear()
        with self._lock:
            self._runs = []

    def _discard_encoder(self) -> None:
        self._encoder = None
        self._preroll.clear()
        self._preroll_gaps.clear()

    def _on_frame(self, frame: Frame) -> None:
        if self._phase is _Phase.IDLE:
            if self._prerecord_frames == 0 or self._arming_failed:
                return
            self._open_encoder()
            self._phase = _Phase.ARMED
            self._arm_start = 0
        elif self._phase is _Phase.FAILED or self._enc_paused:
            return
        pixels = frame.pixels
        if pixels.shape[:2] != (self._mode.height, self._mode.width):
            self._reject(frame, f"its size {pixels.shape[1]}x{pixels.shape[0]} is not {self._mode}")
            return
        last = self._last_number
        if last is not None and frame.number > last + 1:
            self._repeat(last, frame.number - last - 1)
        if not self._to_i420(frame):
            self._reject(frame, f"its pixels ({pixels.dtype}, shape {pixels.shape}) are not RGB")
            return
        self._feed(frame.number, frame.number)
        self._last_number = frame.number

    def _reject(self, frame: Frame, why: str) -> None:
        with self._lock:
            self._dropped += int(self._phase is _Phase.RECORDING)
        clip_id = self._clip.clip_id if self._clip else None
        self._emit(
            RecorderEventKind.DROPPED,
            f"frame {frame.number} was not recorded: {why}",
            clip_id,
            frame.number,
        )

    def _to_i420(self, frame: Frame) -> bool:
        """Convert into the reused 4:2:0 buffer (BT.601 limited range, as cv2 does)."""
        pixels = frame.pixels
        height = self._mode.height
        if pixels.ndim == 3 and pixels.dtype == np.uint8 and pixels.shape[2] in (3, 4):
            code = cv2.COLOR_RGB2YUV_I420 if pixels.shape[2] == 3 else cv2.COLOR_RGBA2YUV_I420
            cv2.cvtColor(np.ascontiguousarray(pixels), code, dst=self._yuv)
            return True
        if pixels.ndim == 2 and pixels.dtype in (np.uint8, np.uint16):
            if pixels.dtype == np.uint16:
                shift = max(0, frame.bits_stored - 8)
                pixels = np.minimum(pixels >> shift, 255).astype(np.uint8)
            cv2.LUT(np.ascontiguousarray(pixels), self._luma_lut, dst=self._yuv[:height])
            self._yuv[height:] = 128
            return True
        return False

    def _repeat(self, after: int, missing: int) -> None:
        """Repeat the frame in the buffer ``missing`` times, recording the gap."""
        record = _GapRecord(self._enc_index, after, missing)
        clip_id = None
        if self._phase is _Phase.RECORDING:
            assert self._clip is not None
            self._clip.gaps.append(Gap(after, missing))
            self._clip.journal_dirty = True
            clip_id = self._clip.clip_id
            with self._lock:
                self._gap_count += 1
        else:
            self._preroll_gaps.append(record)
        self._emit(
            RecorderEventKind.GAP,
            f"{missing} frame(s) after frame {after} are missing (the source skipped them or "
            f"the recorder dropped them); frame {after} was repeated to keep the time line",
            clip_id,
            after,
            missing,
        )
        for offset in range(1, missing + 1):
            self._feed(None, after + offset)

    def _pad_to(self, last_offered: int | None) -> None:
        """Repeat the last frame for frames offered and dropped since (before pause/stop)."""
        last = self._last_number
        if (
            self._phase is _Phase.RECORDING
            and not self._enc_paused
            and last is not None
            and last_offered is not None
            and last_offered > last
        ):
            self._repeat(last, last_offered - last)
            self._last_number = last_offered

    def _feed(self, source: int | None, nominal: int) -> None:
        """Encode the frame in the buffer as encoder frame ``self._enc_index``."""
        assert self._encoder is not None
        index = self._enc_index
        key = self._key_due(index)
        video_frame = av.VideoFrame.from_numpy_buffer(self._yuv, format="yuv420p")
        video_frame.pts = index
        video_frame.time_base = self._encoder.time_base
        if key:
            video_frame.pict_type = av.video.frame.PictureType.I
            self._key_nominal[index] = nominal
            if len(self._key_nominal) > 256:
                self._prune_key_numbers()
        if source is not None:
            with self._lock:
                run = self._runs[-1] if self._runs else None
                if (
                    run is not None
                    and run.source_first + run.count == source
                    and run.enc_first + run.count == index
                ):
                    run.count += 1
                else:
                    self._runs.append(_Run(source, index, 1))
        self._enc_index = index + 1
        for packet in self._encoder.encode(video_frame):
            self._on_packet(packet)

    def _prune_key_numbers(self) -> None:
        """Forget the source numbers of key frames no segment can start at any more."""
        clip = self._clip
        if self._phase is _Phase.ARMED or clip is None:
            keep = self._preroll[0].pts if self._preroll else self._enc_index
        elif clip.pending_splits:
            keep = clip.pending_splits[0]
        else:
            keep = clip.writer.start_pts if clip.writer else clip.start_pts
        self._key_nominal = {k: v for k, v in self._key_nominal.items() if k >= keep}

    def _key_due(self, index: int) -> bool:
        """Whether encoder frame ``index`` must be a key frame; registers segment splits."""
        gop = self._plan.gop
        if self._phase is not _Phase.RECORDING:
            return (index - self._arm_start) % gop == 0
        clip = self._clip
        assert clip is not None
        relative = index - clip.seg_starts[-1]
        if relative == 0:
            return True
        if self._max_frames and relative >= self._max_frames:
            self._split(index)
            return True
        if relative % gop:
            return False
        if self._segment_full(index):
            self._split(index)
        return True

    def _segment_full(self, index: int) -> bool:
        """Whether another two groups of pictures could push the segment past the size limit."""
        clip = self._clip
        assert clip is not None
        writer = clip.writer
        if writer is None or clip.pending_splits or not self._recent_sizes:
            return False  # output side not in this segment yet: decide at the next key frame
        average = sum(self._recent_sizes) / len(self._recent_sizes)
        in_flight = index - clip.seg_starts[-1] - writer.frames
        estimate = writer.media_bytes + (in_flight + 2 * self._plan.gop) * average + 65_536
        return estimate > self._max_segment_bytes

    def _split(self, index: int) -> None:
        clip = self._clip
        assert clip is not None
        with self._lock:
            clip.seg_starts.append(index)
        clip.pending_splits.append(index)

    # ------------------------------------------------------------------ encoder thread: output

    def _on_packet(self, packet: av.Packet) -> None:
        self._recent_sizes.append(packet.size)
        if self._phase is _Phase.ARMED:
            self._keep_preroll(packet)
            return
        clip = self._clip
        if self._phase is not _Phase.RECORDING or clip is None:
            return
        pts = packet.pts
        if clip.writer is None:
            if not (packet.is_keyframe and pts == clip.start_pts):
                return  # pre-record video from before the clip's first key frame
            self._begin_segment(clip, pts)
        elif packet.is_keyframe and clip.pending_splits and pts >= clip.pending_splits[0]:
            while clip.pending_splits and clip.pending_splits[0] <= pts:
                clip.pending_splits.popleft()
            self._end_segment(clip)
            self._begin_segment(clip, pts)
        writer = clip.writer
        assert writer is not None
        fragment_done = writer.write(packet)
        with self._lock:
            self._frames_written = clip.frames_closed + writer.frames
            if fragment_done:
                self._frames_on_disk = clip.frames_closed + writer.safe_frames
                self._bytes_written = clip.bytes_closed + writer.size
        if fragment_done and clip.journal_dirty:
            self._write_clip_journal(clip)

    def _keep_preroll(self, packet: av.Packet) -> None:
        """Keep encoded video from a key frame at least ``prerecord_s`` before now."""
        if packet.is_keyframe:
            self._preroll.append(_Gop(packet.pts, [packet]))
            limit = self._enc_index - self._prerecord_frames
            while len(self._preroll) >= 2 and self._preroll[1].pts <= limit:
                self._preroll.popleft()
            oldest = self._preroll[0].pts
            self._preroll_gaps = [g for g in self._preroll_gaps if g.enc_first + g.missing > oldest]
            with self._lock:
                self._runs = [r for r in self._runs if r.enc_first + r.count > oldest]
        elif self._preroll:
            self._preroll[-1].packets.append(packet)

    def _begin_segment(self, clip: _Clip, pts: int) -> None:
        assert self._encoder is not None
        number = len(clip.segments) + 1
        name = SEGMENT_NAME.format(number)
        clip.segments.append(
            {"file": name, "first_frame": self._key_nominal.get(pts, -1), "frames": None}
        )
        self._write_clip_journal(clip)  # the journal names a segment before it exists
        clip.writer = _SegmentWriter(
            clip.folder / name, self._template, self._encoder, self._plan, pts
        )
        self._emit(
            RecorderEventKind.SEGMENT,
            f"clip {clip.clip_id}: segment {number} began ({clip.folder / name})",
            clip.clip_id,
            self._key_nominal.get(pts),
        )

    def _end_segment(self, clip: _Clip) -> None:
        writer = clip.writer
        assert writer is not None
        size = writer.close()
        clip.writer = None
        entry = clip.segments[-1]
        entry["frames"] = writer.frames
        entry["duration_s"] = float(writer.frames / self._rate)
        entry["bytes"] = size
        clip.frames_closed += writer.frames
        clip.bytes_closed += size
        with self._lock:
            self._frames_written = self._frames_on_disk = clip.frames_closed
            self._bytes_written = clip.bytes_closed

    def _write_clip_journal(self, clip: _Clip) -> None:
        clip.journal["segments"] = [dict(entry) for entry in clip.segments]
        clip.journal["gaps"] = [
            {"after_frame": g.after_frame, "missing": g.missing} for g in clip.gaps
        ]
        with self._lock:
            clip.journal["frames_dropped"] = self._dropped
        write_journal(clip.folder, clip.journal)
        clip.journal_dirty = False

    # ------------------------------------------------------------------ encoder thread: commands

    def _start(self, command: _Start) -> None:
        self._arming_failed = False
        if self._phase is _Phase.FAILED:
            self._phase = _Phase.IDLE
        if self._phase is _Phase.ARMED:
            start = self._preroll_start()
        else:
            self._open_encoder()
            start = 0
        clip = _Clip(command.clip_id, command.folder, command.journal, start, [start])
        for record in self._preroll_gaps:
            skipped = max(0, start - record.enc_first)
            if skipped < record.missing:
                clip.gaps.append(Gap(record.after_frame + skipped, record.missing - skipped))
        self._preroll_gaps = []
        with self._lock:
            runs = []
            for run in self._runs:
                skipped = max(0, start - run.enc_first)
                if skipped < run.count:
                    runs.append(_Run(run.source_first + skipped, run.enc_first + skipped,
                                     run.count - skipped))  # fmt: skip
            self._runs = runs
            self._view = (start, clip.seg_starts, runs)
            self._gap_count = len(clip.gaps)
        self._clip = clip
        self._phase = _Phase.RECORDING
        self._enc_paused = False
        kept = [packet for gop in self._preroll if gop.pts >= start for packet in gop.packets]
        self._preroll.clear()
        for packet in kept:
            self._on_packet(packet)

    def _preroll_start(self) -> int:
        """The pre-record key frame the clip starts at: at least ``prerecord_s`` back."""
        gop, now = self._plan.gop, self._enc_index
        target = now - self._prerecord_frames
        start = self._arm_start
        if target > start:
            start += (target - start) // gop * gop
        if self._max_frames and now - start > self._max_frames:
            later = now - self._max_frames - self._arm_start
            start = min(now, self._arm_start + -(-later // gop) * gop)
        return start

    def _stop(self, command: _Stop) -> None:
        clip = self._clip
        if clip is None:
            command.error = self._error or "the clip never started (see the log)"
            command.done.set()
            return
        try:
            if self._phase is _Phase.RECORDING:
                self._pad_to(command.last_offered)
                assert self._encoder is not None
                for packet in self._encoder.encode(None):
                    self._on_packet(packet)
                if clip.writer is not None:
                    self._end_segment(clip)
                command.result = self._finish(clip)
            else:
                command.result = _recover_clip(clip.folder, read_journal(clip.folder))
        except Exception as error:
            log.exception("finishing clip %s", clip.clip_id)
            if clip.writer is not None:
                clip.writer.abort()
            command.error = (
                f"clip {clip.clip_id} could not be finished: {error}; its folder {clip.folder} "
                "is kept and will be recovered on the next start"
            )
            with self._lock:
                self._error = command.error
        finally:
            self._clip = None
            self._phase = _Phase.IDLE
            self._enc_paused = False
            self._discard_encoder()
            command.done.set()
        if self._spare is None and command.result is not None:
            try:
                self._spare = self._new_encoder()
            except Exception as error:
                log.warning("cannot open the %s encoder: %s", self._plan.library, error)
        if command.result is not None:
            self._emit(
                RecorderEventKind.FINISHED,
                f"clip {clip.clip_id} finished: {len(command.result.segments)} segment(s)",
                clip.clip_id,
            )

    def _finish(self, clip: _Clip) -> RecordedClip:
        clip.journal["state"] = "finished"
        clip.journal["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self._write_clip_journal(clip)
        return _clip_from_journal(clip.folder, clip.journal)


def _lower_priority() -> None:
    """Run the calling thread (and the encoder threads it starts) at a lower priority.

    Encoding is bursty and may take both cores for a moment; the queue absorbs the delay,
    but the capture thread must never wait, or the source skips frames. On Linux, nice is
    per thread and inherited by the threads x264/x265 create. Elsewhere nothing is done.
    """
    if sys.platform.startswith("linux"):
        try:
            thread = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + 5)
        except OSError:
            log.debug("cannot lower the encoder thread's priority", exc_info=True)


# ---------------------------------------------------------------------- journal and recovery


def write_journal(folder: Path, journal: Mapping[str, Any]) -> None:
    """Replace ``folder/clip.json`` atomically: temporary file, fsync, rename, folder fsync."""
    temporary = folder / f"{_JOURNAL_TEMP}-{os.getpid()}-{threading.get_ident()}"
    data = json.dumps(journal, indent=1, ensure_ascii=False).encode("utf-8")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, folder / JOURNAL_NAME)
    sync_folder(folder)


def read_journal(folder: Path) -> dict[str, Any]:
    """The journal of the clip in ``folder``.

    Raises
    ------
    ValueError
        When it is missing, unreadable or not an izer recording journal.
    """
    path = Path(folder) / JOURNAL_NAME
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable recording journal ({error})") from error
    if not isinstance(journal, dict) or journal.get("format") != JOURNAL_FORMAT:
        raise ValueError(f"{path}: not an izer recording journal")
    return journal


def _clip_from_journal(folder: Path, journal: Mapping[str, Any]) -> RecordedClip:
    mode_entry = journal["mode"]
    rate = Fraction(mode_entry["fps"])
    mode = VideoMode(mode_entry["width"], mode_entry["height"], rate, mode_entry["pixel_format"])
    segments = tuple(
        RecordedSegment(
            folder / entry["file"],
            entry["frames"],
            entry["first_frame"],
            float(entry["frames"] / rate),
        )
        for entry in journal["segments"]
        if entry.get("frames")
    )
    return RecordedClip(
        clip_id=journal["clip_id"],
        folder=folder,
        segments=segments,
        gaps=tuple(Gap(g["after_frame"], g["missing"]) for g in journal["gaps"]),
        metadata=dict(journal["metadata"]),
        recovered=journal["state"] == "recovered",
        mode=mode,
        codec=journal["encoder"]["codec"],
        frames_dropped=journal.get("frames_dropped", 0),
    )


def _recover_clip(folder: Path, journal: dict[str, Any]) -> RecordedClip:
    """Cut every segment of an unfinished clip to its complete fragments; mark it recovered."""
    for stale in folder.iterdir():
        if stale.name.endswith(TEMP_SUFFIX) or stale.name.startswith(_JOURNAL_TEMP):
            stale.unlink()
    kept = []
    for entry in journal["segments"]:
        path = folder / entry["file"]
        if not path.exists():
            continue  # the journal names a segment just before creating it
        layout = cut_to_complete_fragments(path)
        if layout is None:
            continue
        kept.append({**entry, "frames": layout.samples, "bytes": layout.size})
    rate = Fraction(journal["mode"]["fps"])
    for entry in kept:
        entry["duration_s"] = float(entry["frames"] / rate)
    journal["segments"] = kept
    journal["state"] = "recovered"
    journal["recovered"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_journal(folder, journal)
    return _clip_from_journal(folder, journal)


def recover_unfinished(recordings_folder: Path) -> list[RecordedClip]:
    """Recover the clips a crash left unfinished in ``recordings_folder``.

    Each segment is cut (through a verified copy and a rename) to its last complete
    fragment; a segment without one is removed; the journal is marked ``recovered``. Clips
    recovered earlier but not yet discarded are returned again. A clip that cannot be
    recovered now (for example a full disk) is logged and left for the next call.
    """
    folder = Path(recordings_folder)
    if not folder.is_dir():
        return []
    clips = []
    for clip_folder in sorted(path for path in folder.iterdir() if path.is_dir()):
        if not (clip_folder / JOURNAL_NAME).exists():
            if all(p.name.startswith(_JOURNAL_TEMP) for p in clip_folder.iterdir()):
                shutil.rmtree(clip_folder)  # start() died before its journal existed
            continue
        try:
            journal = read_journal(clip_folder)
            if journal["state"] == "unfinished":
                clips.append(_recover_clip(clip_folder, journal))
            elif journal["state"] == "recovered":
                clips.append(_clip_from_journal(clip_folder, journal))
        except (ValueError, KeyError, OSError, Fmp4Error) as error:
            log.error("cannot recover the recording in %s: %s", clip_folder, error)
    return clips


def pending_clips(recordings_folder: Path) -> list[RecordedClip]:
    """Finished or recovered clips still in ``recordings_folder`` (not yet discarded)."""
    folder = Path(recordings_folder)
    if not folder.is_dir():
        return []
    clips = []
    for clip_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            journal = read_journal(clip_folder)
            if journal["state"] in ("finished", "recovered"):
                clips.append(_clip_from_journal(clip_folder, journal))
        except (ValueError, KeyError) as error:
            log.warning("skipping %s: %s", clip_folder, error)
    return clips


def discard_clip(clip: RecordedClip) -> None:
    """Remove the clip's folder (once the engine has made instances from it).

    Raises
    ------
    ValueError
        When the folder does not hold that clip's journal (nothing is removed).
    """
    folder = Path(clip.folder)
    if not folder.exists():
        return
    if read_journal(folder).get("clip_id") != clip.clip_id:
        raise ValueError(f"{folder} does not hold clip {clip.clip_id}; nothing was removed")
    shutil.rmtree(folder)
    sync_folder(folder.parent)
