"""What the engine announces about capture: stills taken, clips saved, notices, recording state."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from izer.model.records import InstanceRecord


class NoticeLevel(enum.StrEnum):
    """How loudly the GUI should show a :class:`CaptureNotice`."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class CaptureNotice:
    """Something the user should know about a source or the recorder, in plain words."""

    level: NoticeLevel
    message: str
    channel: str = "main"


@dataclass(frozen=True)
class StillTaken:
    """A still is on disk (fsync'ed) and indexed: the GUI flashes, beeps and counts.

    ``frame_number`` is the source's number of the frame stored; ``clip_time_s`` its time in
    the clip being recorded, if any; ``count`` the stills of this procedure so far.
    """

    record: InstanceRecord
    channel: str
    frame_number: int
    count: int
    clip_time_s: float | None = None


@dataclass(frozen=True)
class ClipSaved:
    """A recording became video instances (one per part), or was recovered after a crash."""

    channel: str
    records: tuple[InstanceRecord, ...]
    frames: int
    dropped: int
    gaps: int
    recovered: bool = False


@dataclass(frozen=True)
class RecordingStatus:
    """One channel's recorder at a moment, for the REC tally and the minutes-left display."""

    channel: str
    recording: bool
    paused: bool
    elapsed_s: float
    frames: int
    dropped: int
    minutes_left: float | None
