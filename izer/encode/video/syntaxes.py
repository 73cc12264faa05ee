"""The DICOM video transfer syntaxes (PS3.5 8.2.5-8.2.11) and what a stream must be to use one.

A stream *conforms* to a syntax when its codec, profile, level, bit depth, chroma sampling,
frame size and frame rate are within what the syntax allows, its pixels are square where the
syntax requires it, and its frame rate is constant (the Cine module has one Frame Time,
PS3.3 C.7.6.5). Container rules (MP4 with an ``avc1``/``hvc1`` sample entry, moov first) are
checked by :func:`container_problems`.

Frame size and rate limits: for H.264 High Profile and HEVC, only those of the codec level
(PS3.5 8.2.7, 8.2.8, 8.2.10: "compliant with ... Level 4.1 / 4.2 / 5.1"; H.264 Table A-1
MaxFS and MaxMBPS in 16x16 macroblocks, HEVC Table A.8 MaxLumaPs and MaxLumaSr), so a
portrait 1080x1920 clip fits H.264 Level 4.1; for MPEG-2 and BD-compatible H.264 the frame
sizes and rates DICOM lists (PS3.5 Tables 8-1, 8-2/8-y and 8-4). Audio rules (PS3.5 8.2.5,
8.2.12) are applied when writing, see :mod:`izer.encode.video.transcode`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from izer.encode.video.stream import StreamInfo

#: Relative tolerance when comparing frame rates (29.97 written as 2997/100 still matches).
_RATE_TOLERANCE = 1e-3


class VideoSyntax(enum.Enum):
    """A DICOM video transfer syntax.

    The value is (UID, fragmentable UID or None, FFmpeg codec name, Lossy Image Compression
    Method (0028,2114) defined term).
    """

    MPEG2_MPML = (
        "1.2.840.10008.1.2.4.100",
        "1.2.840.10008.1.2.4.100.1",
        "mpeg2video",
        "ISO_13818_2",
    )
    MPEG2_MPHL = (
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.101.1",
        "mpeg2video",
        "ISO_13818_2",
    )
    H264_HP41 = ("1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.102.1", "h264", "ISO_14496_10")
    H264_HP41_BD = ("1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.103.1", "h264", "ISO_14496_10")
    H264_HP42_2D = ("1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.104.1", "h264", "ISO_14496_10")
    HEVC_MAIN = ("1.2.840.10008.1.2.4.107", None, "hevc", "ISO_23008_2")
    HEVC_MAIN10 = ("1.2.840.10008.1.2.4.108", None, "hevc", "ISO_23008_2")

    @property
    def uid(self) -> str:
        """The transfer syntax UID (the single-fragment variant for MPEG-2 and H.264)."""
        return self.value[0]

    @property
    def fragmentable_uid(self) -> str | None:
        """The UID of the fragmentable twin (PS3.5 8.2.5.1), None for HEVC (already is)."""
        return self.value[1]

    @property
    def codec(self) -> str:
        """FFmpeg codec name of the bit stream: ``mpeg2video``, ``h264`` or ``hevc``."""
        return self.value[2]

    @property
    def method(self) -> str:
        """Lossy Image Compression Method (0028,2114), PS3.3 C.7.6.1.1.5.1."""
        return self.value[3]

    @property
    def name_for_cli(self) -> str:
        """The short name used on the command line and in settings: ``h264-hp41`` ..."""
        return _CLI_NAMES[self]

    @property
    def bit_depth(self) -> int:
        """Bits per sample of the coded stream: 10 for HEVC Main 10, otherwise 8."""
        return 10 if self is VideoSyntax.HEVC_MAIN10 else 8

    @property
    def description(self) -> str:
        """A human name with the limits, for messages."""
        return _DESCRIPTIONS[self]

    @classmethod
    def from_text(cls, text: str) -> VideoSyntax:
        """Parse a CLI name (``h264-hp41``), an enum name (``H264_HP41``) or either UID.

        Raises
        ------
        ValueError
            When *text* names no video transfer syntax; the message lists the known names.
        """
        wanted = text.strip()
        for syntax in cls:
            keys = {syntax.name.lower(), syntax.name_for_cli, syntax.uid}
            if syntax.fragmentable_uid:
                keys.add(syntax.fragmentable_uid)
            if wanted.lower().replace("_", "-") in {k.replace("_", "-") for k in keys}:
                return syntax
        known = ", ".join(s.name_for_cli for s in cls)
        raise ValueError(f"unknown video transfer syntax {text!r}: use one of {known} or a UID")


_CLI_NAMES = {
    VideoSyntax.MPEG2_MPML: "mpeg2-mpml",
    VideoSyntax.MPEG2_MPHL: "mpeg2-mphl",
    VideoSyntax.H264_HP41: "h264-hp41",
    VideoSyntax.H264_HP41_BD: "h264-hp41-bd",
    VideoSyntax.H264_HP42_2D: "h264-hp42",
    VideoSyntax.HEVC_MAIN: "hevc-main",
    VideoSyntax.HEVC_MAIN10: "hevc-main10",
}

_DESCRIPTIONS = {
    VideoSyntax.MPEG2_MPML: "MPEG-2 Main Profile @ Main Level (at most 720x480 at 29.97/30 "
    "frames/s or 720x576 at 25)",
    VideoSyntax.MPEG2_MPHL: "MPEG-2 Main Profile @ High Level (1920x1080 at 25/29.97/30 "
    "frames/s or 1280x720 at 25/29.97/30/50/59.94/60)",
    VideoSyntax.H264_HP41: "H.264 High Profile / Level 4.1 (e.g. 1920x1080 at 30 frames/s)",
    VideoSyntax.H264_HP41_BD: "H.264 BD-compatible High Profile / Level 4.1 (1920x1080 at "
    "23.976/24p or 25/29.97i, 1280x720 at 23.976/24/50/59.94p)",
    VideoSyntax.H264_HP42_2D: "H.264 High Profile / Level 4.2 for 2D video (e.g. 1920x1080 "
    "at 60 frames/s)",
    VideoSyntax.HEVC_MAIN: "HEVC Main Profile / Level 5.1 (8-bit, e.g. 4096x2160 at 60 frames/s)",
    VideoSyntax.HEVC_MAIN10: "HEVC Main 10 Profile / Level 5.1 (10-bit, e.g. 4096x2160 at 60 "
    "frames/s)",
}

#: Syntaxes izer picks by itself, best first, for 8-bit and for deeper sources.
DEFAULT_ORDER_8BIT: tuple[VideoSyntax, ...] = (
    VideoSyntax.H264_HP41,
    VideoSyntax.H264_HP42_2D,
    VideoSyntax.HEVC_MAIN,
    VideoSyntax.HEVC_MAIN10,
)
DEFAULT_ORDER_DEEP: tuple[VideoSyntax, ...] = (
    VideoSyntax.HEVC_MAIN10,
    VideoSyntax.H264_HP41,
    VideoSyntax.H264_HP42_2D,
    VideoSyntax.HEVC_MAIN,
)


@dataclass(frozen=True)
class _Level:
    """Size and speed limits of a codec level (H.264 Table A-1, HEVC Table A.8)."""

    code: int  # level_idc as coded
    max_frame: int  # H.264: MaxFS in macroblocks; HEVC: MaxLumaPs in samples
    max_rate: int  # H.264: MaxMBPS; HEVC: MaxLumaSr (samples per second)


_H264_LEVEL_41 = _Level(41, 8192, 245_760)
_H264_LEVEL_42 = _Level(42, 8704, 522_240)
_HEVC_LEVEL_51 = _Level(153, 8_912_896, 534_773_760)

# Frame rates as exact fractions.
_R23976 = Fraction(24000, 1001)
_R2997 = Fraction(30000, 1001)
_R5994 = Fraction(60000, 1001)

#: MPEG-2 MP@ML (PS3.5 8.2.5, Table 8-3): (max rows, allowed rates) for columns <= 720.
_MPML_FORMATS = ((480, (_R2997, Fraction(30))), (576, (Fraction(25),)))
#: MPEG-2 MP@HL (PS3.5 8.2.6, Table 8-4): exact (columns, rows) with their rates.
_MPHL_FORMATS = {
    (1920, 1080): (Fraction(25), _R2997, Fraction(30)),
    (1280, 720): (Fraction(25), _R2997, Fraction(30), Fraction(50), _R5994, Fraction(60)),
}
#: BD-compatible (PS3.5 8.2.7): (columns, rows, rate, interlaced).
_BD_FORMATS = (
    (1920, 1080, _R23976, False),
    (1920, 1080, Fraction(24), False),
    (1920, 1080, Fraction(25), True),
    (1920, 1080, _R2997, True),
    (1280, 720, _R23976, False),
    (1280, 720, Fraction(24), False),
    (1280, 720, Fraction(50), False),
    (1280, 720, _R5994, False),
)

_H264_PROFILES = frozenset({"High", "Progressive High", "Constrained High"})
#: MPEG-2 level_indication codes (ISO/IEC 13818-2 Table 8-3): High 4, High 1440 6, Main 8, Low 10.
_MPEG2_MAIN_LEVEL = 8
_MPEG2_HIGH_LEVEL = 4


def same_rate(a: Fraction, b: Fraction) -> bool:
    """True when two frame rates agree within 0.1 % (29.97 vs 30000/1001)."""
    return b != 0 and abs(a / b - 1) <= _RATE_TOLERANCE


def format_rate(rate: Fraction) -> str:
    """A frame rate for messages: ``30``, ``29.97``, ``59.94``."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def _macroblocks(width: int, height: int) -> int:
    return math.ceil(width / 16) * math.ceil(height / 16)


def size_problems(
    width: int,
    height: int,
    frame_rate: Fraction,
    syntax: VideoSyntax,
    *,
    interlaced: bool = False,
) -> list[str]:
    """Say why a frame size and rate do not fit *syntax*; [] when they do.

    Parameters
    ----------
    width, height
        Frame size in pixels (Columns, Rows).
    frame_rate
        Frames per second (exact fraction where known).
    syntax
        The transfer syntax to check against (PS3.5 8.2.5-8.2.11).
    interlaced
        True for field-coded (interlaced) video; only BD-compatible H.264 needs it at
        1080 lines 25/29.97.
    """
    size = f"{width}x{height}"
    rate = format_rate(frame_rate)
    problems: list[str] = []
    if width <= 0 or height <= 0:
        return [f"frame size {size} is empty"]
    if frame_rate <= 0:
        return ["the frame rate is unknown"]
    if syntax.codec in ("h264", "hevc", "mpeg2video") and (width % 2 or height % 2):
        problems.append(f"frame size {size} is odd: 4:2:0 video needs an even width and height")
    if syntax is VideoSyntax.MPEG2_MPML:
        if width > 720:
            problems.append(f"width {width} exceeds 720 (MPEG-2 Main Level)")
        allowed = [r for max_rows, rates in _MPML_FORMATS if height <= max_rows for r in rates]
        if height > 576:
            problems.append(f"height {height} exceeds 576 (MPEG-2 Main Level)")
        elif not any(same_rate(frame_rate, r) for r in allowed):
            problems.append(
                f"frame rate {rate} at height {height} is not allowed by MPEG-2 Main Level: "
                "29.97 or 30 frames/s up to 480 lines, 25 frames/s up to 576 lines"
            )
    elif syntax is VideoSyntax.MPEG2_MPHL:
        rates = _MPHL_FORMATS.get((width, height))
        if rates is None:
            problems.append(
                f"frame size {size} is not allowed by MPEG-2 Main Profile @ High Level: "
                "only 1920x1080 or 1280x720"
            )
        elif not any(same_rate(frame_rate, r) for r in rates):
            allowed = ", ".join(format_rate(r) for r in rates)
            problems.append(f"frame rate {rate} is not allowed at {size} (allowed: {allowed})")
    elif syntax is VideoSyntax.H264_HP41_BD:
        if not any(
            (width, height, interlaced) == (w, h, i) and same_rate(frame_rate, r)
            for w, h, r, i in _BD_FORMATS
        ):
            kind = "interlaced" if interlaced else "progressive"
            problems.append(
                f"{size} {kind} at {rate} frames/s is not a Blu-ray format: 1920x1080 "
                "23.976/24p or 25/29.97i, 1280x720 23.976/24/50/59.94p"
            )
    elif syntax.codec == "h264":
        # H.264 A.3.1: frame size and macroblock rate, each side at most sqrt(8 MaxFS).
        level = _H264_LEVEL_42 if syntax is VideoSyntax.H264_HP42_2D else _H264_LEVEL_41
        label = f"{level.code // 10}.{level.code % 10}"
        mbs = _macroblocks(width, height)
        longest = math.isqrt(8 * level.max_frame) * 16
        if mbs > level.max_frame or max(width, height) > longest:
            problems.append(
                f"frame size {size} exceeds H.264 level {label} (at most {level.max_frame} "
                f"macroblocks a frame, e.g. 1920x1080, and {longest} pixels a side)"
            )
        elif mbs * frame_rate > level.max_rate:
            most = format_rate(Fraction(level.max_rate, mbs).limit_denominator(1001))
            problems.append(
                f"frame rate {rate} at {size} exceeds H.264 level {label} "
                f"(at most {most} frames/s at this size)"
            )
    else:
        # HEVC A.4.1: luma picture size and sample rate, each side at most sqrt(8 MaxLumaPs).
        level = _HEVC_LEVEL_51
        longest = math.isqrt(8 * level.max_frame)
        if width * height > level.max_frame or max(width, height) > longest:
            problems.append(
                f"frame size {size} exceeds HEVC level 5.1 (at most {level.max_frame} "
                f"pixels a frame, e.g. 4096x2160, and {longest} pixels a side)"
            )
        elif width * height * frame_rate > level.max_rate:
            most = format_rate(Fraction(level.max_rate, width * height).limit_denominator(1001))
            problems.append(
                f"frame rate {rate} at {size} exceeds HEVC level 5.1 "
                f"(at most {most} frames/s at this size)"
            )
    return problems


def _is_420(pix_fmt: str) -> bool:
    return pix_fmt.startswith(("yuv420p", "nv12", "p010", "yuvj420p"))


def conformance_problems(info: StreamInfo, syntax: VideoSyntax) -> list[str]:
    """Say, in plain words, why the video stream of *info* cannot go into *syntax* as is.

    Checks codec, profile, level, bit depth, 4:2:0 limited-range sampling, frame size and
    rate (PS3.5 8.2.5-8.2.11), square pixels (all but MPEG-2 MP@ML), a constant frame rate
    (one Frame Time, PS3.3 C.7.6.5.1.1), progressive frames (interlaced only where the
    syntax is made for it: MPEG-2 and BD 1080i) and at least one frame. The container is
    not checked here (see :func:`container_problems`).

    Returns
    -------
    list[str]
        Empty when the stream conforms.
    """
    problems: list[str] = []
    if info.codec != syntax.codec:
        problems.append(f"the codec is {info.codec}, {syntax.description} needs {syntax.codec}")
        return problems + _common_problems(info, syntax)
    profile = info.profile or "unknown"
    if syntax.codec == "h264":
        if info.profile not in _H264_PROFILES:
            problems.append(f"the H.264 profile is {profile}, the syntax needs High")
        wanted = 42 if syntax is VideoSyntax.H264_HP42_2D else 41
        if info.level is None or info.level > wanted:
            problems.append(
                f"the H.264 level is {_h264_level_text(info.level)}, the syntax allows at "
                f"most {wanted // 10}.{wanted % 10}"
            )
    elif syntax.codec == "hevc":
        wanted_profile = "Main 10" if syntax is VideoSyntax.HEVC_MAIN10 else "Main"
        if info.profile != wanted_profile:
            problems.append(f"the HEVC profile is {profile}, the syntax needs {wanted_profile}")
        if info.level is None or info.level > _HEVC_LEVEL_51.code:
            problems.append(
                f"the HEVC level is {_hevc_level_text(info.level)}, the syntax allows at most 5.1"
            )
    else:
        if info.profile != "Main":
            problems.append(f"the MPEG-2 profile is {profile}, the syntax needs Main")
        if syntax is VideoSyntax.MPEG2_MPML:
            ok = info.level is not None and info.level >= _MPEG2_MAIN_LEVEL
            wanted_level = "Main"
        else:
            ok = info.level is not None and info.level >= _MPEG2_HIGH_LEVEL
            wanted_level = "High"
        if not ok:
            problems.append(
                f"the MPEG-2 level is {_mpeg2_level_text(info.level)}, the syntax allows at "
                f"most {wanted_level}"
            )
    return problems + _common_problems(info, syntax)


def _common_problems(info: StreamInfo, syntax: VideoSyntax) -> list[str]:
    problems: list[str] = []
    if info.bit_depth > syntax.bit_depth:
        problems.append(
            f"the video has {info.bit_depth} bits per sample, the syntax allows {syntax.bit_depth}"
        )
    elif syntax is VideoSyntax.HEVC_MAIN10 and info.codec == "hevc" and info.bit_depth != 10:
        problems.append(f"the video has {info.bit_depth} bits per sample, Main 10 is coded in 10")
    if not _is_420(info.pix_fmt):
        problems.append(f"the pixel format is {info.pix_fmt}, the syntax needs 4:2:0 (yuv420p)")
    elif info.pix_fmt.startswith("yuvj"):
        problems.append(
            f"the pixel format is {info.pix_fmt} (full range), DICOM YBR_PARTIAL_420 needs "
            "limited range (yuv420p)"
        )
    if syntax is not VideoSyntax.MPEG2_MPML and info.sample_aspect_ratio != 1:
        sar = info.sample_aspect_ratio
        problems.append(
            f"the pixels are not square (aspect ratio {sar.numerator}:{sar.denominator}), "
            "the syntax needs square pixels"
        )
    if not info.constant_frame_rate:
        problems.append("the frame rate is variable, DICOM needs one Frame Time for all frames")
    interlace_ok = syntax.codec == "mpeg2video" or syntax is VideoSyntax.H264_HP41_BD
    if info.interlaced and not interlace_ok:
        problems.append("the video is interlaced, the syntax needs progressive frames")
    if info.frame_count < 1:
        problems.append("the video has no frames")
    if info.rotation:
        problems.append(
            f"the picture is stored turned ({info.rotation} degrees, shown upright by a "
            "display matrix); DICOM has no display rotation"
        )
    problems += size_problems(
        info.width, info.height, info.frame_rate, syntax, interlaced=info.interlaced
    )
    return problems


def container_problems(info: StreamInfo, syntax: VideoSyntax) -> list[str]:
    """Say why the container of *info* is not what izer encapsulates for *syntax*; [] if it is.

    H.264 and HEVC: an MP4 file (PS3.5 8.2.7, 8.2.11: ISO base media file format) with the
    ``avc1`` / ``hvc1`` sample entry (parameter sets out of band, as readers such as dcm4che
    expect) and the moov box before mdat. MPEG-2: an MPEG program stream (PS3.5 8.2.5).
    """
    problems: list[str] = []
    if syntax.codec == "mpeg2video":
        if info.container != "mpeg":
            problems.append(
                f"the container is {info.container}, izer writes MPEG-2 as a program stream"
            )
        return problems
    entry = "avc1" if syntax.codec == "h264" else "hvc1"
    if info.container != "mp4":
        problems.append(f"the container is {info.container}, the syntax needs MP4")
        return problems
    if info.sample_entry != entry:
        problems.append(f"the MP4 sample entry is {info.sample_entry}, izer writes {entry}")
    if not info.moov_first:
        problems.append("the MP4 index (moov) follows the media data, izer writes it first")
    if info.fragmented:
        problems.append("the MP4 is fragmented (moof boxes), izer writes one index (moov)")
    return problems


def choose_syntax(
    width: int,
    height: int,
    frame_rate: Fraction,
    bit_depth: int = 8,
    *,
    preference: Sequence[VideoSyntax] = (),
) -> VideoSyntax:
    """Pick the transfer syntax for a clip of this size, rate and bit depth.

    Parameters
    ----------
    width, height, frame_rate
        The clip as it will be coded (even size, square pixels, constant rate).
    bit_depth
        Bits per sample of the source; deeper than 8 prefers HEVC Main 10 (PS3.5 8.2.11).
    preference
        The syntaxes acceptable, best first (e.g. those a destination accepts). Empty:
        H.264 HP 4.1, then H.264 HP 4.2, then HEVC Main (HEVC Main 10 first for deep sources).
        Only the preferred syntaxes are considered when it is given; BD-compatible H.264 and
        MPEG-2 are never picked unless preferred.

    Raises
    ------
    ValueError
        When no candidate can hold the clip; the message gives each candidate's reason.
    """
    if preference:
        candidates = tuple(dict.fromkeys(preference))
    else:
        candidates = DEFAULT_ORDER_DEEP if bit_depth > 8 else DEFAULT_ORDER_8BIT
    reasons: list[str] = []
    for syntax in candidates:
        problems = size_problems(width, height, frame_rate, syntax)
        if not problems:
            return syntax
        reasons.append(f"{syntax.name_for_cli}: {'; '.join(problems)}")
    raise ValueError(
        f"no video transfer syntax can hold {width}x{height} at {format_rate(frame_rate)} "
        f"frames/s ({' | '.join(reasons)}); scale the video down or lower its frame rate"
    )


def _h264_level_text(level: int | None) -> str:
    if level is None:
        return "unknown"
    return f"{level // 10}.{level % 10}"


def _hevc_level_text(level: int | None) -> str:
    if level is None:
        return "unknown"
    return f"{level // 30}.{level % 30 // 3}"


def _mpeg2_level_text(level: int | None) -> str:
    names = {4: "High", 6: "High 1440", 8: "Main", 10: "Low"}
    return "unknown" if level is None else names.get(level, f"code {level}")
