"""One clip to the conforming stream file(s) of its video instance(s), split when asked or needed.

:class:`ClipStreams` decides, for one clip:

* **as is**: an untrimmed MP4 that already conforms (codec, profile, level, ``avc1``/``hvc1``,
  moov first, only a video and an AAC 48 kHz track) is encapsulated straight from the source
  file: no copy, no re-encoding;
* otherwise :func:`~izer.encode.video.transcode.conform` writes one conforming stream of the
  kept section (remuxed, or re-encoded with closed groups of pictures);
* **parts**: when a part limit is set (``max_seconds``, ``max_bytes``) or one fragment
  cannot hold the stream (2^32-2 bytes, PS3.5 A.4, for the single-fragment MPEG-2 and H.264
  syntaxes), that stream is cut at clean key frames by copying packets
  (:func:`~izer.encode.video.transcode.cut`), so every part plays on its own and no frame is
  lost or encoded twice. A re-encoded stream gets key frames exactly at the requested
  times; a copied stream is cut at the last key frame before each of them (a part is never
  longer than asked). A copied stream whose key frames are too far apart, or whose groups of
  pictures are open, is re-encoded first (with a note), with key frames dense enough for a
  size limit.

Every file made lives in a scratch folder the caller chooses (the output folder, never
another file system) and is removed when the parts are consumed or on :meth:`close`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from izer.encode.video.iods import MAX_FRAGMENT_BYTES
from izer.encode.video.probe import probe
from izer.encode.video.stream import StreamInfo
from izer.encode.video.syntaxes import VideoSyntax, conformance_problems, container_problems
from izer.encode.video.transcode import AUDIO_RATE, CutRange, already_fitting, conform, cut

#: Room kept for the DICOM header when a part must stay under ``max_bytes``.
HEADER_ALLOWANCE = 65_536
#: Container bytes estimated on top of the packets: MP4 tables per packet, and for MPEG
#: program streams pack and PES headers (about 1.6 % at 2048-byte packs; 4 % is kept).
_MP4_BYTES_PER_PACKET = 32
_PS_OVERHEAD = 1.04
#: Packets read ahead to find a part's first decoding time (H.264 reorders at most 16).
_LOOK_AHEAD = 64

#: Called with (what is being done, frames done, frames in all).
ClipProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ClipRequest:
    """How one clip becomes video instances.

    Parameters
    ----------
    syntax
        The transfer syntax to use; a clip it cannot hold is refused. None: izer chooses.
    preference
        Acceptable syntaxes, best first, when ``syntax`` is None.
    start_s, end_s
        Keep only [start_s, end_s) seconds of the clip (re-encodes).
    audio
        Keep the sound (AAC 48 kHz in MP4, MP3 with MPEG-2).
    max_seconds, max_bytes
        Longest part (seconds of video) and largest part (bytes of the instance); None: no
        limit but the 2^32-2 bytes of one fragment.
    fragmentable
        Above 2^32-2 bytes, keep one instance in the fragmentable syntax (.1 UIDs) instead
        of splitting.
    preset
        x264/x265 speed preset when re-encoding.
    """

    syntax: VideoSyntax | None = None
    preference: tuple[VideoSyntax, ...] = ()
    start_s: float | None = None
    end_s: float | None = None
    audio: bool = True
    max_seconds: float | None = None
    max_bytes: int | None = None
    fragmentable: bool = False
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"the longest part must be more than 0 s, got {self.max_seconds:g}")
        if self.max_bytes is not None and self.max_bytes <= 2 * HEADER_ALLOWANCE:
            raise ValueError(
                f"the largest part must be more than {2 * HEADER_ALLOWANCE} bytes, got "
                f"{self.max_bytes}"
            )


@dataclass(frozen=True)
class ClipPart:
    """One conforming stream file, to become one video instance."""

    path: Path
    info: StreamInfo
    syntax: VideoSyntax
    number: int
    """1, 2 ... in the clip."""
    count: int
    """Parts of the clip."""
    start_s: float
    """Start, in seconds from the start of the kept section."""
    fragmentable: bool
    """Whether the instance needs the fragmentable syntax (a stream over 2^32-2 bytes)."""


class ClipStreams:
    """The conforming stream files of one clip, made on demand and removed after use.

    Parameters
    ----------
    source
        The clip.
    scratch
        Gives a new path for a temporary file from a short name; it must be on the file
        system of the output (streams are renamed there and can be gigabytes).
    request
        Syntax, trimming, sound and part limits.
    progress
        Called with (what, frames done, frames in all) while streams are written.
    max_stream_bytes
        Most bytes of one fragment (2^32-2; smaller values are for tests).

    Use it as a context manager; :meth:`parts` yields the parts one by one, each removed
    once the next is asked for.
    """

    def __init__(
        self,
        source: Path,
        scratch: Callable[[str], Path],
        request: ClipRequest | None = None,
        *,
        progress: ClipProgress | None = None,
        max_stream_bytes: int = MAX_FRAGMENT_BYTES,
    ) -> None:
        self.source = Path(source)
        self.scratch = scratch
        self.request = request or ClipRequest()
        self.progress = progress
        self.max_stream_bytes = max_stream_bytes
        self.notes: list[str] = []
        self.reencoded = False
        self._syntax: VideoSyntax | None = None
        self._temporaries: list[Path] = []

    def __enter__(self) -> ClipStreams:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every temporary file made (the source is never touched)."""
        while self._temporaries:
            self._temporaries.pop().unlink(missing_ok=True)

    def parts(self) -> Iterator[ClipPart]:
        """The conforming parts, in order.

        Raises
        ------
        ValueError
            (an :class:`~izer.encode.input_errors.InputError` for an unreadable clip) when the
            clip cannot be read, trimmed, held by the syntax asked for or cut as asked.
        izer.encode.video.transcode.ConformError
            When a stream written did not verify.
        OSError
            When a file cannot be written (a full disk...).
        """
        try:
            yield from self._parts()
        except av.FFmpegError as exc:
            if isinstance(exc, OSError):
                raise
            raise ValueError(
                f"{self.source.name}: FFmpeg could not process the video ({exc})"
            ) from exc

    def _parts(self) -> Iterator[ClipPart]:
        info = probe(self.source)
        stage, syntax = self._first_stage(info)
        limit = self._byte_limit(syntax)
        cap = self._frame_cap(stage.frame_rate)
        fragmentable = self.request.fragmentable and stage.size_bytes > self.max_stream_bytes
        if _fits(stage.frame_count, _estimate(stage, stage.size_bytes, 0), cap, limit):
            yield ClipPart(stage.path, stage, syntax, 1, 1, 0.0, fragmentable)
            return
        plan = plan_parts(scan_packets(stage.path), stage, cap=cap, limit=limit)
        if isinstance(plan, str):
            if self.reencoded:
                raise ValueError(f"{self.source.name}: cannot be cut as asked: {plan}")
            self.notes.append(f"re-encoded so that it can be cut into parts ({plan})")
            every = _keyframe_interval(stage, limit)
            if stage.path != self.source:
                self._forget(stage.path)
            stage = self._conform(
                reencode=True, syntax=syntax, duration=info.duration_s, every_s=every
            )
            plan = plan_parts(scan_packets(stage.path), stage, cap=cap, limit=limit)
            if isinstance(plan, str):
                raise ValueError(f"{self.source.name}: cannot be cut as asked: {plan}")
        self.notes.append(self._split_note(stage, plan, limit))
        for number, part in enumerate(plan, start=1):
            path = self._new_scratch(f"part{number:03d}")
            result = cut(stage, path, syntax, part, progress=self._reporter(f"part {number}"))
            yield ClipPart(
                path, result.info, syntax, number, len(plan), part.start_s, fragmentable=False
            )
            self._forget(path)

    # -- stages -------------------------------------------------------------------------------

    def _first_stage(self, info: StreamInfo) -> tuple[StreamInfo, VideoSyntax]:
        request = self.request
        trimmed = request.start_s is not None or request.end_s is not None
        syntax = request.syntax or already_fitting(info, request.preference)
        if not trimmed and syntax is not None and self._usable_as_is(info, syntax):
            return info, syntax
        stage = self._conform(reencode=False, syntax=request.syntax, duration=info.duration_s)
        assert self._syntax is not None
        if not self.reencoded:
            problems = container_problems(info, self._syntax)
            container = "program stream" if self._syntax.codec == "mpeg2video" else "MP4"
            reason = f": {'; '.join(problems)}" if problems else ""
            self.notes.insert(
                0, f"the coded video was copied into a new {container} (no re-encoding){reason}"
            )
        return stage, self._syntax

    def _conform(
        self,
        *,
        reencode: bool,
        syntax: VideoSyntax | None,
        duration: float,
        every_s: float | None = None,
    ) -> StreamInfo:
        request = self.request
        target = self._new_scratch("conformed")
        start = request.start_s or 0.0
        length = min(duration, request.end_s or math.inf) - start
        keyframes: list[float] = []
        for step in (request.max_seconds, every_s):
            if step is not None:
                keyframes += [k * step for k in range(1, math.floor(length / step) + 1)]
        result = conform(
            self.source,
            target,
            syntax=syntax,
            preference=request.preference,
            start_s=request.start_s,
            end_s=request.end_s,
            audio=request.audio,
            preset=request.preset,
            progress=self._reporter("re-encoding" if reencode else "converting"),
            reencode=reencode,
            keyframes_at=keyframes,
        )
        self.reencoded = self.reencoded or not result.remuxed
        self._syntax = result.syntax
        self.notes.extend(note for note in result.notes if note not in self.notes)
        return result.info

    def _usable_as_is(self, info: StreamInfo, syntax: VideoSyntax) -> bool:
        """True when the source file itself can be encapsulated for *syntax*."""
        if conformance_problems(info, syntax) or container_problems(info, syntax):
            return False
        if info.audio is not None:
            audio = info.audio
            if not self.request.audio or syntax.codec == "mpeg2video":
                return False  # dropping sound, or MP3 CBR: izer writes it
            if (audio.codec, audio.sample_rate) != ("aac", AUDIO_RATE) or audio.channels not in (
                2,
                6,
            ):
                return False
        kinds = list(info.stream_types)
        return kinds.count("video") == 1 and len(kinds) == 1 + kinds.count("audio") <= 2

    # -- limits -------------------------------------------------------------------------------

    def _byte_limit(self, syntax: VideoSyntax) -> int | None:
        limits = []
        if self.request.max_bytes is not None:
            limits.append(self.request.max_bytes - HEADER_ALLOWANCE)
        if syntax.fragmentable_uid is not None and not self.request.fragmentable:
            limits.append(self.max_stream_bytes)
        return min(limits, default=None)

    def _frame_cap(self, rate: Fraction) -> int | None:
        if self.request.max_seconds is None:
            return None
        return max(1, math.ceil(self.request.max_seconds * rate - Fraction(1, 1000)))

    def _split_note(self, stage: StreamInfo, plan: list[CutRange], limit: int | None) -> str:
        rate = float(stage.frame_rate)
        lengths = ", ".join(f"{part.frames / rate:.3g}" for part in plan)
        why = []
        if self.request.max_seconds is not None:
            why.append(f"at most {self.request.max_seconds:g} s")
        if self.request.max_bytes is not None:
            why.append(f"at most {self.request.max_bytes / 1e6:g} MB")
        if limit == self.max_stream_bytes and stage.size_bytes > self.max_stream_bytes:
            why.append(
                f"one fragment holds at most {self.max_stream_bytes} bytes and the stream has "
                f"{stage.size_bytes} (--fragmentable keeps one instance in the fragmentable "
                "syntax instead)"
            )
        if self.reencoded and self.request.max_seconds is not None:
            how = "re-encoded with key frames at the cuts"
        else:
            how = "cut at key frames"
        return (
            f"split into {len(plan)} instances ({'; '.join(why)}), {how}, no frame lost: "
            f"{lengths} s"
        )

    # -- temporaries and progress --------------------------------------------------------------

    def _new_scratch(self, name: str) -> Path:
        path = self.scratch(name)
        self._temporaries.append(path)
        return path

    def _forget(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        if path in self._temporaries:
            self._temporaries.remove(path)

    def _reporter(self, what: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        if progress is None:
            return None

        def report(done: int, total: int) -> None:
            progress(what, done, total)

        return report


def _keyframe_interval(stage: StreamInfo, limit: int | None) -> float | None:
    """Seconds between the key frames a re-encoding forces so that parts fit in *limit*
    bytes: half a part at the stream's bit rate, when that is shorter than izer's one-second
    groups of pictures; None otherwise."""
    if limit is None or stage.duration_s <= 0:
        return None
    part_s = limit / (stage.size_bytes / stage.duration_s)
    if part_s >= 2:
        return None
    return max(float(1 / stage.frame_rate), part_s / 2)


def _fits(frames: int, size: float, cap: int | None, limit: int | None) -> bool:
    return (cap is None or frames <= cap) and (limit is None or size <= limit)


def _estimate(info: StreamInfo, payload: int, packets: int) -> float:
    """Bytes of a part holding *payload* bytes of *packets* packets (whole file: packets 0)."""
    if packets == 0:
        return payload
    if info.container == "mpeg":
        return payload * _PS_OVERHEAD + HEADER_ALLOWANCE
    return payload + packets * _MP4_BYTES_PER_PACKET + HEADER_ALLOWANCE


# -- the packets of a stream and where it can be cut ------------------------------------------


@dataclass(frozen=True)
class PacketTable:
    """The video packets of a stream in decode order, with what is needed to cut it."""

    time_base: Fraction
    pts: array
    """Presentation time of each video packet (stream ticks)."""
    keyframe: bytes
    """1 for a packet marked as a key frame."""
    bytes_before: array
    """Bytes of all packets (video and sound) demuxed before each video packet."""
    packets_before: array
    """Packets (video and sound) demuxed before each video packet."""
    total_bytes: int
    total_packets: int

    def clean_keyframes(self) -> list[int]:
        """Indices of the key frames a part can start at: nothing before them is shown after
        them and nothing after them is shown before them (closed groups of pictures)."""
        pts = self.pts
        count = len(pts)
        suffix_min = [0] * count
        low = math.inf
        for index in range(count - 1, -1, -1):
            low = min(low, pts[index])
            suffix_min[index] = low
        clean = []
        high = -math.inf
        for index in range(count):
            if self.keyframe[index] and high < pts[index] and suffix_min[index] == pts[index]:
                clean.append(index)
            high = max(high, pts[index])
        return clean


def scan_packets(path: Path) -> PacketTable:
    """Demux *path* once (no decoding) and tabulate its video packets."""
    pts, bytes_before, packets_before = array("q"), array("q"), array("q")
    keyframe = bytearray()
    total = packets = 0
    with av.open(str(path), metadata_errors="ignore") as container:
        video = container.streams.video[0]
        streams = [video, *container.streams.audio[:1]]
        time_base = video.time_base or Fraction(1, 90000)
        for packet in container.demux(streams):
            if packet.size == 0:
                continue
            if packet.stream is video:
                stamp = packet.pts if packet.pts is not None else packet.dts
                pts.append(stamp if stamp is not None else (pts[-1] + 1 if pts else 0))
                keyframe.append(1 if packet.is_keyframe else 0)
                bytes_before.append(total)
                packets_before.append(packets)
            total += packet.size
            packets += 1
    return PacketTable(
        Fraction(time_base), pts, bytes(keyframe), bytes_before, packets_before, total, packets
    )


def plan_parts(
    table: PacketTable, info: StreamInfo, *, cap: int | None, limit: int | None
) -> list[CutRange] | str:
    """Cut points: each part as long as allowed, starting at a clean key frame.

    Parameters
    ----------
    cap
        Most frames in a part.
    limit
        Most bytes of a part's stream file (estimated from the packets and the container).

    Returns
    -------
    list[CutRange] | str
        The parts, or why the stream cannot be cut so (key frames too far apart, open groups
        of pictures, a group of pictures larger than the limit).
    """
    count = len(table.pts)
    clean = table.clean_keyframes()
    if not clean or clean[0] != 0:
        return "the stream does not start with a key frame that decodes on its own"

    def size(first: int, end: int) -> float:
        last_bytes = table.total_bytes if end == count else table.bytes_before[end]
        last_packets = table.total_packets if end == count else table.packets_before[end]
        payload = last_bytes - table.bytes_before[first]
        return _estimate(info, payload, max(1, last_packets - table.packets_before[first]))

    cuts = [0]
    position = 0  # index into clean
    while not _fits(count - cuts[-1], size(cuts[-1], count), cap, limit):
        first = cuts[-1]
        best = None
        index = position + 1
        while index < len(clean) and _fits(
            clean[index] - first, size(first, clean[index]), cap, limit
        ):
            best = index
            index += 1
        if best is None:
            return _why_not(table, info, clean, position, cap, limit, size)
        cuts.append(clean[best])
        position = best
    return _ranges(table, info, cuts)


def _why_not(
    table: PacketTable,
    info: StreamInfo,
    clean: list[int],
    position: int,
    cap: int | None,
    limit: int | None,
    size: Callable[[int, int], float],
) -> str:
    first = clean[position]
    following = clean[position + 1] if position + 1 < len(clean) else len(table.pts)
    rate = float(info.frame_rate)
    if cap is not None and following - first > cap:
        if len(clean) < sum(table.keyframe):
            return "its groups of pictures are open (frames refer across key frames)"
        return (
            f"its key frames are {(following - first) / rate:.3g} s apart, more than a part "
            f"may last ({cap / rate:.3g} s)"
        )
    assert limit is not None
    return (
        f"{(following - first) / rate:.3g} s between key frames take "
        f"{size(first, following) / 1e6:.3g} MB, more than a part may hold "
        f"({limit / 1e6:.3g} MB)"
    )


def _ranges(table: PacketTable, info: StreamInfo, cuts: list[int]) -> list[CutRange]:
    pts, base, rate = table.pts, table.time_base, info.frame_rate
    origin = pts[0]
    count = len(pts)
    ranges = []
    for first, end in zip(cuts, [*cuts[1:], count], strict=True):
        window = range(first, min(end, first + _LOOK_AHEAD))
        offsets = [round((pts[i] - pts[first]) * base * rate) - (i - first) for i in window]
        ranges.append(
            CutRange(
                first_pts=pts[first],
                end_pts=pts[end] if end < count else None,
                frames=end - first,
                dts_base=min(offsets, default=0),
                start_s=float((pts[first] - origin) * base),
            )
        )
    return ranges
