"""Sources of frames, pages and sound; the capture pipeline; the recorder; triggers.

Capture never writes DICOM: the engine turns frames, pages and finished recordings into
instances. Library-specific sources (OpenCV, PyAV, SANE, TWAIN, sounddevice) are imported only
when used; see :mod:`izer.capture.registry`.
"""

from izer.capture.base import (
    DeviceInfo,
    Frame,
    PageSource,
    ScannedPage,
    SourceError,
    SourceKind,
    SourceRequest,
    VideoMode,
    VideoSource,
)
from izer.capture.disk_guard import MIB, DiskGuard, DiskState
from izer.capture.pipeline import (
    CaptureChannel,
    CaptureEvent,
    CaptureEventKind,
    CapturePipeline,
    ChannelStats,
    frame_on_screen,
)
from izer.capture.recorder import (
    ClipPosition,
    EncoderPlan,
    EncoderSettings,
    Gap,
    RecordedClip,
    RecordedSegment,
    Recorder,
    RecorderError,
    RecorderEvent,
    RecorderEventKind,
    RecorderStatus,
    discard_clip,
    encoder_plan,
    pending_clips,
    recover_unfinished,
)
from izer.capture.registry import (
    discover_devices,
    open_video_source,
    parse_source_spec,
    source_kinds,
)
from izer.capture.synthetic import SyntheticSource, read_frame_number
from izer.capture.triggers import Action, KeyMap, SerialLine, SerialTrigger, normalise_key

__all__ = [
    "MIB",
    "Action",
    "CaptureChannel",
    "CaptureEvent",
    "CaptureEventKind",
    "CapturePipeline",
    "ChannelStats",
    "ClipPosition",
    "DeviceInfo",
    "DiskGuard",
    "DiskState",
    "EncoderPlan",
    "EncoderSettings",
    "Frame",
    "Gap",
    "KeyMap",
    "PageSource",
    "RecordedClip",
    "RecordedSegment",
    "Recorder",
    "RecorderError",
    "RecorderEvent",
    "RecorderEventKind",
    "RecorderStatus",
    "ScannedPage",
    "SerialLine",
    "SerialTrigger",
    "SourceError",
    "SourceKind",
    "SourceRequest",
    "SyntheticSource",
    "VideoMode",
    "VideoSource",
    "discard_clip",
    "discover_devices",
    "encoder_plan",
    "frame_on_screen",
    "normalise_key",
    "open_video_source",
    "parse_source_spec",
    "pending_clips",
    "read_frame_number",
    "recover_unfinished",
    "source_kinds",
]
