"""Video to DICOM (PS3.5 8.2.5-8.2.11): probe, choose and conform the stream, encapsulate it.

A clip is probed (:func:`probe`), given a transfer syntax (:func:`choose_syntax`), remuxed or
transcoded until it conforms (:func:`conform`), wrapped without loading it into memory
(:func:`video_image`), written and checked against its own header
(:func:`write_video_instance`). :class:`ClipStreams` does it all for one clip, trimmed and
split into parts as asked.
"""

from izer.encode.video.frames import TooManyFramesError, read_frames
from izer.encode.video.iods import VideoKind, default_region, frame_time_ms, video_image
from izer.encode.video.probe import probe
from izer.encode.video.segments import ClipPart, ClipRequest, ClipStreams
from izer.encode.video.stream import AudioInfo, StreamInfo
from izer.encode.video.syntaxes import (
    VideoSyntax,
    choose_syntax,
    conformance_problems,
    container_problems,
)
from izer.encode.video.transcode import ConformError, ConformResult, conform
from izer.encode.video.writer import (
    extract_stream,
    extracted_stream,
    verify_video_instance,
    write_video_instance,
)

__all__ = [
    "AudioInfo",
    "ClipPart",
    "ClipRequest",
    "ClipStreams",
    "ConformError",
    "ConformResult",
    "StreamInfo",
    "TooManyFramesError",
    "VideoKind",
    "VideoSyntax",
    "choose_syntax",
    "conform",
    "conformance_problems",
    "container_problems",
    "default_region",
    "extract_stream",
    "extracted_stream",
    "frame_time_ms",
    "probe",
    "read_frames",
    "verify_video_instance",
    "video_image",
    "write_video_instance",
]
