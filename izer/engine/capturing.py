"""Live capture for the engine: sources, stills, clips, recovery, triggers and the disk guard.

The ``capture`` room grabs, records and triggers but never writes DICOM; this module turns its
frames into still instances and its finished (or recovered) fragmented-MP4 segments into video
instances by remuxing them through :mod:`izer.encode.video`, never by a second encode.

A still is stored and fsync'ed before :meth:`CaptureController.take_still` returns (the
architecture's durability rule). Each recording is one series; a clip longer than
``max_clip_s`` or 4 GB becomes several instances of that series.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import VideoEndoscopicImageStorage

from izer.capture import (
    DeviceInfo,
    Frame,
    PageSource,
    ScannedPage,
    SourceError,
    SourceKind,
    SourceRequest,
    VideoMode,
)
from izer.capture.disk_guard import MIB, DiskGuard
from izer.capture.pipeline import CaptureChannel, CaptureEvent, frame_on_screen
from izer.capture.recorder import (
    EncoderSettings,
    RecordedClip,
    RecordedSegment,
    Recorder,
    RecorderEvent,
    RecorderEventKind,
    discard_clip,
    pending_clips,
    recover_unfinished,
)
from izer.capture.registry import (
    discover_devices,
    open_video_source,
    parse_source_spec,
    source_kinds,
)
from izer.capture.triggers import Action, KeyMap, SerialTrigger
from izer.encode import (
    ConversionType,
    InstanceContext,
    SeriesContext,
    StudyContext,
    TransferSyntax,
    secondary_capture_image,
)
from izer.encode.visible_light import VLKind, vl_image
from izer.engine import scheduling
from izer.model import (
    CaptureNotice,
    ClipSaved,
    InstanceRecord,
    NoticeLevel,
    Procedure,
    ProcedureState,
    RecordingStatus,
    StillTaken,
)
from izer.model.procedure import TransitionError

if TYPE_CHECKING:
    from izer.capture import VideoSource
    from izer.engine.core import Engine

log = logging.getLogger(__name__)

#: States in which captures are accepted into the active procedure.
CAPTURING_STATES = frozenset({ProcedureState.IN_PROGRESS, ProcedureState.APPENDING})

#: ``[capture] still_iod`` -> the VL kind; ``sc`` makes Secondary Capture.
_STILL_KINDS = {
    "vl-endoscopic": VLKind.ENDOSCOPIC,
    "vl-photographic": VLKind.PHOTOGRAPHIC,
    "vl-microscopic": VLKind.MICROSCOPIC,
}
#: How often the disk guard looks while recording.
DISK_CHECK_INTERVAL_S = 2.0


@dataclass
class _Channel:
    """One running source with its recorder and the series its captures go to."""

    name: str
    channel: CaptureChannel
    mode: VideoMode
    recorder: Recorder
    clip_series: SeriesContext | None = None
    clip_uid_base: str = ""


@dataclass
class _Counters:
    stills: int = 0
    clips: int = 0
    dropped: int = 0
    missed: int = 0
    notices: list[CaptureNotice] = field(default_factory=list)


class CaptureController:
    """The engine's capture room: one per engine, reached as ``engine.capture``.

    Parameters
    ----------
    engine
        Gives settings, store, UIDs, the active procedure and the events to emit.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings.capture
        self.recordings_folder = engine.store.folder / "recordings"
        self._channels: dict[str, _Channel] = {}
        self._lock = threading.RLock()
        self._counters = _Counters()
        self._stills: dict[tuple[str, str], tuple[SeriesContext, int]] = {}
        self._guard = DiskGuard(engine.store.folder, self.settings.min_free_mb * MIB)
        self._guard_stop = threading.Event()
        self._guard_thread: threading.Thread | None = None
        hotkeys = self.settings.hotkeys
        try:
            self.key_map = KeyMap(
                still=list(hotkeys.still),
                record=list(hotkeys.record),
                pause=list(hotkeys.pause),
                end=list(hotkeys.end),
            )
        except ValueError as exc:
            raise ValueError(f"[capture.hotkeys]: {exc}") from exc
        self._serial: SerialTrigger | None = None

    # -- sources ------------------------------------------------------------------------------

    @property
    def channels(self) -> list[str]:
        """Names of the open channels (``main``, ``second``)."""
        with self._lock:
            return list(self._channels)

    def open(
        self,
        sources: Mapping[str, str | VideoSource] | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> dict[str, VideoMode]:
        """Open and start the sources (by default ``[capture] source`` and ``second_source``).

        ``sources`` maps channel names (``main``, ``second``) to source specs or objects;
        ``width``, ``height`` and ``fps`` override ``[capture]``. Returns the mode each
        source actually delivers.

        Raises
        ------
        SourceError
            When a source cannot be opened (those already opened are closed again).
        """
        configured = self.settings
        if sources is None:
            sources = {"main": configured.source}
            if configured.second_source:
                sources["second"] = configured.second_source
        request = SourceRequest(
            width=width or configured.width,
            height=height or configured.height,
            fps=Fraction(fps or configured.fps).limit_denominator(1001),
            pixel_format=configured.pixel_format or None,
            backend=configured.backend or None,
        )
        modes: dict[str, VideoMode] = {}
        try:
            self._start_serial_trigger()
            for name, source in sources.items():
                if name in self._channels:
                    raise SourceError(f"a source is already open as {name!r}")
                if isinstance(source, str):
                    source = open_video_source(source, request)
                modes[name] = self._start_channel(name, source)
        except BaseException:
            for name in modes:
                self._close_channel(name)
            raise
        return modes

    def _start_channel(self, name: str, source: VideoSource) -> VideoMode:
        channel = CaptureChannel(source, name=name, on_event=self._on_capture_event)
        mode = channel.start()
        configured = self.settings
        recorder = Recorder(
            self.recordings_folder / name,
            mode,
            EncoderSettings(
                codec=configured.video_codec,
                preset=configured.encoder_preset,
                crf=configured.crf,
                keyframe_s=configured.fragment_s,
            ),
            prerecord_s=configured.prerecord_s,
            max_clip_s=configured.max_clip_s or None,
            queue_s=configured.queue_s,
            on_event=lambda event, channel_name=name: self._on_recorder_event(channel_name, event),
        )
        channel.add_sink(recorder.submit)
        with self._lock:
            self._channels[name] = _Channel(name, channel, mode, recorder)
        log.info("source %s open as %r: %s", source.spec, name, mode)
        return mode

    def close(self) -> list[ClipSaved]:
        """Stop recording (saving the clips), close every source and the serial trigger."""
        saved = self.stop_recording() if self.is_recording else []
        for name in self.channels:
            self._close_channel(name)
        if self._serial is not None:
            self._serial.stop()
            self._serial = None
        return saved

    def _start_serial_trigger(self) -> None:
        """Watch ``[capture] serial_port`` for a foot switch, when one is configured."""
        port = self.settings.serial_port
        if not port or self._serial is not None:
            return
        trigger = SerialTrigger(
            port,
            self.settings.serial_line,
            on_action=self.trigger,
            on_error=lambda message: self._notice(NoticeLevel.ERROR, message),
        )
        trigger.start()
        self._serial = trigger

    def _close_channel(self, name: str) -> None:
        with self._lock:
            entry = self._channels.pop(name, None)
        if entry is None:
            return
        entry.channel.stop()
        entry.recorder.close()

    def preview(self, channel: str = "main") -> Frame | None:
        """The newest frame of ``channel``: what the preview shows now."""
        return self._channel(channel).channel.latest()

    def _channel(self, name: str) -> _Channel:
        with self._lock:
            entry = self._channels.get(name)
        if entry is None:
            opened = ", ".join(self._channels) or "none"
            raise SourceError(f"no source is open as {name!r} (open: {opened})")
        return entry

    # -- stills -------------------------------------------------------------------------------

    def take_still(self, channel: str = "main", trigger_ns: int | None = None) -> StillTaken:
        """Store the frame that was on screen when the trigger fired (now by default).

        Returns once the instance is on disk (fsync'ed) and indexed.

        Raises
        ------
        TransitionError
            When no procedure is capturing.
        SourceError
            When the channel has not delivered a frame.
        """
        trigger_ns = time.monotonic_ns() if trigger_ns is None else trigger_ns
        entry = self._channel(channel)
        frame = frame_on_screen(entry.channel, trigger_ns)
        position = entry.recorder.clip_position(frame.number)
        clip_reference = None
        if position is not None and entry.clip_uid_base:
            clip_reference = (
                _segment_uid(self.engine, entry.clip_uid_base, position.segment),
                position.frame + 1,
                position.seconds,
            )
        record = self.store_still(
            frame.pixels, channel=channel, bits_stored=frame.bits_stored, clip=clip_reference
        )
        with self._lock:
            self._counters.stills += 1
            count = self._counters.stills
        taken = StillTaken(
            record,
            channel,
            frame.number,
            count,
            clip_time_s=position.seconds if position is not None else None,
        )
        self.engine.events.still_taken.emit(taken)
        return taken

    def store_still(
        self,
        pixels: np.ndarray,
        *,
        channel: str = "main",
        bits_stored: int = 8,
        clip: tuple[str, int, float] | None = None,
        acquired: datetime | None = None,
        conversion: ConversionType | None = None,
        dpi: float | None = None,
    ) -> InstanceRecord:
        """Make a still instance of ``pixels`` in the procedure's stills series and store it.

        8-bit frames become the ``[capture] still_iod`` (VL Endoscopic by default); deeper
        grayscale (scanners) becomes Secondary Capture at full depth. ``clip`` is (video SOP
        Instance UID, frame number, seconds) of the clip being recorded, referenced from the
        still (PS3.3 C.7.6.1, Referenced Image Sequence with Referenced Frame Number).
        """
        engine = self.engine
        configured = self.settings
        kind = _STILL_KINDS.get(configured.still_iod)
        if pixels.dtype != np.uint8 or conversion is not None:
            kind = None
        with engine._lock:
            procedure = _capturing(engine)
            series, number = self._next_still(channel, procedure, kind)
            context = InstanceContext(
                study=study_context(procedure),
                series=series,
                equipment=engine._equipment(),
                sop_instance_uid=engine.uids.new(),
                instance_number=number,
                character_set=engine.settings.station.character_set,
                content_time=datetime.now(),
                acquisition_time=acquired or datetime.now(),
            )
            if kind is None:
                dataset = secondary_capture_image(
                    pixels,
                    context,
                    conversion_type=conversion or ConversionType.DIGITIZED_VIDEO,
                    bits_stored=bits_stored if pixels.dtype != np.uint8 else None,
                    scanner_dpi=dpi,
                )
            else:
                dataset = vl_image(
                    pixels,
                    context,
                    kind=kind,
                    transfer_syntax=TransferSyntax.from_text(configured.still_transfer_syntax),
                    quality=configured.still_quality,
                )
            if clip is not None:
                _reference_clip(dataset, *clip)
            record = engine.store.add_dataset(dataset)
            engine._count_stored(captured=1)
        engine.events.instance_stored.emit(record)
        return record

    def _next_still(
        self, channel: str, procedure: Procedure, kind: VLKind | None
    ) -> tuple[SeriesContext, int]:
        """The stills series of ``channel`` (made on first use) and the next number in it."""
        modality = kind.modality if kind is not None else "OT"
        key = (channel, modality)
        with self._lock:
            series, used = self._stills.get(key, (None, 0))
            if series is None:
                series = SeriesContext(
                    series_instance_uid=self.engine.uids.new(),
                    series_number=self.engine._next_series_number(procedure),
                    modality=modality,
                    description="Stills" if channel == "main" else f"Stills ({channel})",
                )
            self._stills[key] = (series, used + 1)
            return series, used + 1

    def reset_series(self) -> None:
        """Start new stills series at the next capture (a new or reopened procedure)."""
        with self._lock:
            self._stills.clear()

    # -- scanners and film digitizers ---------------------------------------------------------

    def scan(
        self,
        source: str | PageSource,
        *,
        conversion: ConversionType | str = ConversionType.DIGITIZED_FILM,
        dpi: float | None = None,
        idle_s: float = 10.0,
        stop: threading.Event | None = None,
        on_page: Callable[[InstanceRecord, ScannedPage], None] | None = None,
    ) -> list[InstanceRecord]:
        """Scan a batch into the procedure: every page becomes a Secondary Capture image.

        ``source`` is a page source or its spec (``sane:DEVICE``, ``twain:NAME``,
        ``folder:PATH``). Each page is stored (fsync'ed, indexed) before the next is taken,
        with Conversion Type ``conversion`` (DF film, SD document, SI image) and the scan
        resolution as Nominal Scanned Pixel Spacing (PS3.3 C.8.6.1); 12- and 16-bit grayscale
        keep their depth. A watched folder ends after ``idle_s`` seconds without a new file.

        Raises
        ------
        TransitionError
            When no procedure is capturing (checked before anything is scanned).
        SourceError
            When the scanner fails; the pages stored before stay stored.
        """
        _capturing(self.engine)
        conversion = ConversionType(conversion)
        if isinstance(source, str):
            source = _open_page_source(source, dpi=dpi, idle_s=idle_s, stop=stop)
        records: list[InstanceRecord] = []
        for page in source.pages():
            record = self.store_still(
                page.pixels,
                channel="scan",
                bits_stored=page.bits_stored,
                conversion=conversion,
                dpi=page.dpi or dpi,
            )
            records.append(record)
            if on_page is not None:
                on_page(record, page)
        return records

    # -- clips --------------------------------------------------------------------------------

    @property
    def is_recording(self) -> bool:
        """Whether any channel is recording (paused counts as recording)."""
        with self._lock:
            return any(e.recorder.status.recording for e in self._channels.values())

    def start_recording(self, channels: Sequence[str] | None = None) -> None:
        """Start a clip on ``channels`` (all open ones by default), each its own series.

        Raises
        ------
        TransitionError
            When no procedure is capturing.
        OSError
            When the disk is below ``[capture] min_free_mb`` (nothing is started).
        """
        engine = self.engine
        state = self._guard.check(None)
        if state.low:
            raise OSError(28, f"recording not started: {state.message}")
        with engine._lock:
            procedure = _capturing(engine)
            for name in channels or self.channels:
                entry = self._channel(name)
                if entry.recorder.status.recording:
                    continue
                series = SeriesContext(
                    series_instance_uid=engine.uids.new(),
                    series_number=engine._next_series_number(procedure),
                    modality=VLKind.ENDOSCOPIC.modality,
                    description="Video" if name == "main" else f"Video ({name})",
                )
                entry.clip_series = series
                entry.clip_uid_base = engine.uids.new()
                entry.recorder.start(
                    {
                        "procedure_id": procedure.procedure_id,
                        "study_uid": procedure.study_uid,
                        "series_uid": series.series_instance_uid,
                        "series_number": series.series_number,
                        "series_description": series.description,
                        "clip_uid_base": entry.clip_uid_base,
                        "channel": name,
                        "started_at": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                    }
                )
        self._start_guard()
        self._emit_recording()

    def pause_recording(self) -> None:
        """Pause every recording channel (frames are not written; time stays contiguous)."""
        for entry in self._entries():
            if entry.recorder.status.recording:
                entry.recorder.pause()
        self._emit_recording()

    def resume_recording(self) -> None:
        """Resume after :meth:`pause_recording`."""
        for entry in self._entries():
            if entry.recorder.status.recording:
                entry.recorder.resume()
        self._emit_recording()

    def stop_recording(self) -> list[ClipSaved]:
        """Stop every recording; each clip becomes video instance(s) in its series.

        A clip that cannot be made into instances is kept on disk (it is recovered at the next
        start) and reported as an error notice; nothing recorded is deleted unless stored.
        """
        self._guard_stop.set()
        clips = []
        for entry in self._entries():
            if not entry.recorder.status.recording:
                continue
            clips.append(entry.recorder.stop())
            entry.clip_series = None
            entry.clip_uid_base = ""
        # The REC tally goes off as soon as the recorders stopped, not after the clips (a long
        # one takes seconds) are stored.
        self._emit_recording()
        stored = (self._store_clip(clip) for clip in clips)
        return [result for result in stored if result is not None]

    def toggle_recording(self) -> None:
        """Start when stopped, stop when recording (the Record key and pedal)."""
        if self.is_recording:
            self.stop_recording()
        else:
            self.start_recording()

    def toggle_pause(self) -> None:
        """Pause when recording, resume when paused."""
        statuses = self.recording_status()
        if any(s.recording and not s.paused for s in statuses):
            self.pause_recording()
        elif any(s.paused for s in statuses):
            self.resume_recording()

    def recording_status(self) -> list[RecordingStatus]:
        """A snapshot per channel for the REC tally, elapsed time and minutes left."""
        result = []
        for entry in self._entries():
            status = entry.recorder.status
            minutes = self._guard.check(status.bitrate_bps or None).minutes_left
            result.append(
                RecordingStatus(
                    entry.name,
                    status.recording,
                    status.paused,
                    status.elapsed_s,
                    status.frames_written,
                    status.frames_dropped,
                    minutes,
                )
            )
        return result

    def recover(self) -> list[ClipSaved]:
        """Store recordings left behind: unfinished ones (a crash) and finished ones whose
        instances were never made (a failure while storing); see the module doc."""
        saved: list[ClipSaved] = []
        if not self.recordings_folder.is_dir():
            return saved
        open_clips = {e.recorder.status.clip_id for e in self._entries()}
        for folder in sorted(p for p in self.recordings_folder.iterdir() if p.is_dir()):
            clips = [*pending_clips(folder), *recover_unfinished(folder)]
            for clip in clips:
                if clip.clip_id in open_clips:
                    continue
                result = self._store_clip(clip)
                if result is None:
                    continue
                saved.append(result)
                what = "interrupted" if clip.recovered else "left unstored"
                self._notice(
                    NoticeLevel.WARNING,
                    f"a recording {what} at {_clock(clip)} was recovered: "
                    f"{result.frames} frames in {len(result.records)} instance(s)",
                    result.channel,
                )
        return saved

    def _store_clip(self, clip: RecordedClip) -> ClipSaved | None:
        """Remux each segment of ``clip`` into a video instance; discard the clip when done."""
        metadata = clip.metadata
        channel = str(metadata.get("channel", "main"))
        segments = [s for s in clip.segments if s.frames > 0]
        try:
            records = self.engine._store_recording(clip.segments, metadata) if segments else []
        except (ValueError, OSError) as exc:
            self._notice(
                NoticeLevel.ERROR,
                f"the clip in {clip.folder} could not be stored ({exc}); it is kept and "
                "will be tried again at the next start",
                channel,
            )
            return None
        discard_clip(clip)
        saved = ClipSaved(
            channel,
            tuple(records),
            frames=sum(s.frames for s in segments),
            dropped=clip.frames_dropped,
            gaps=len(clip.gaps),
            recovered=clip.recovered,
        )
        with self._lock:
            self._counters.clips += 1
        self.engine.events.clip_saved.emit(saved)
        return saved

    # -- triggers -----------------------------------------------------------------------------

    def handle_key(self, key_name: str, channel: str = "main") -> Action | None:
        """Act on a key press (hotkeys and USB pedals that type keys); ``None`` if unbound.

        The GUI calls this from its key handler while the capture window has focus; take no
        other action on keys this returns an action for.
        """
        action = self.key_map.action_for(key_name)
        if action is not None:
            self.trigger(action, channel)
        return action

    def trigger(self, action: Action, channel: str = "main") -> StillTaken | None:
        """Do what a key, pedal or button asked; errors become notices, never exceptions.

        A trigger must never crash the capture screen: a still without a capturing procedure
        or a full disk is reported as a notice and ``None`` is returned.
        """
        trigger_ns = time.monotonic_ns()
        try:
            if action is Action.STILL:
                return self.take_still(channel, trigger_ns)
            if action is Action.RECORD:
                self.toggle_recording()
            elif action is Action.PAUSE:
                self.toggle_pause()
            elif action is Action.END:
                if self.is_recording:
                    self.stop_recording()
                self.engine.review()
        except (TransitionError, SourceError, OSError, ValueError) as exc:
            self._notice(NoticeLevel.ERROR, f"{action.name.lower()}: {exc}", channel)
        return None

    # -- events and the disk guard ------------------------------------------------------------

    def _entries(self) -> list[_Channel]:
        with self._lock:
            return list(self._channels.values())

    def _notice(self, level: NoticeLevel, message: str, channel: str = "main") -> None:
        notice = CaptureNotice(level, message, channel)
        with self._lock:
            self._counters.notices.append(notice)
            del self._counters.notices[:-100]
        log.log(logging.ERROR if level is NoticeLevel.ERROR else logging.WARNING, message)
        self.engine.events.capture_notice.emit(notice)

    def notices(self) -> list[CaptureNotice]:
        """The last notices (at most 100), oldest first."""
        with self._lock:
            return list(self._counters.notices)

    def _on_capture_event(self, event: CaptureEvent) -> None:
        if event.message:
            level = NoticeLevel.ERROR if event.is_failure else NoticeLevel.WARNING
            self._notice(level, event.message, event.channel)

    def _on_recorder_event(self, channel: str, event: RecorderEvent) -> None:
        """Drops and failures are notices; gaps were already announced by the capture thread
        (frames the source skipped), segments and endings are routine."""
        if event.kind is RecorderEventKind.ERROR:
            self._notice(NoticeLevel.ERROR, event.message, channel)
        elif event.kind is RecorderEventKind.DROPPED:
            self._notice(NoticeLevel.WARNING, event.message, channel)
        else:
            log.info("%s: %s", channel, event.message)

    def _emit_recording(self) -> None:
        self.engine.events.recording_changed.emit(self.recording_status())

    def _start_guard(self) -> None:
        if self._guard_thread is not None and self._guard_thread.is_alive():
            return
        self._guard_stop.clear()
        self._guard_thread = threading.Thread(
            target=self._watch_disk, name="izer-disk-guard", daemon=True
        )
        self._guard_thread.start()

    def _watch_disk(self) -> None:
        while not self._guard_stop.wait(DISK_CHECK_INTERVAL_S):
            rate = sum(e.recorder.status.bitrate_bps for e in self._entries())
            state = self._guard.check(rate or None)
            if state.low:
                self._notice(NoticeLevel.ERROR, f"recording stopped: {state.message}")
                with contextlib.suppress(Exception):
                    self.stop_recording()
                return


def store_recording(
    engine: Engine, segments: Sequence[RecordedSegment], metadata: Mapping[str, object]
) -> list[InstanceRecord]:
    """Remux each recorded segment into a Video Endoscopic instance of the clip's series.

    Every instance is written and verified under a temporary name first; only when all are
    done does the store adopt them, so a failure leaves the store as it was (the segments
    stay on disk for the next attempt).

    Raises
    ------
    ValueError
        When the procedure the clip belongs to is no longer in the store, or a segment does
        not conform (it was recorded by izer, so this is a bug worth reporting).
    OSError
        When a file cannot be written.
    """
    from izer.encode.video import (
        ClipRequest,
        ClipStreams,
        VideoKind,
        video_image,
        write_video_instance,
    )

    procedure = engine.store.procedure(int(str(metadata["procedure_id"])))
    if procedure is None:
        raise ValueError(f"procedure {metadata['procedure_id']} is not in the store")
    series = SeriesContext(
        series_instance_uid=str(metadata["series_uid"]),
        series_number=int(str(metadata["series_number"])),
        modality=VideoKind.ENDOSCOPIC.modality,
        description=str(metadata.get("series_description", "Video")),
    )
    base = str(metadata["clip_uid_base"])
    made: list[Path] = []
    try:
        for index, segment in enumerate(s for s in segments if s.frames > 0):
            with ClipStreams(segment.path, engine.store.scratch_path, ClipRequest()) as streams:
                for part in streams.parts():
                    uid = _segment_uid(engine, base, index)
                    if part.number > 1:
                        uid = engine.uids.new()
                    context = InstanceContext(
                        study=study_context(procedure),
                        series=series,
                        equipment=engine._equipment(),
                        sop_instance_uid=uid,
                        instance_number=len(made) + 1,
                        character_set=engine.settings.station.character_set,
                        content_time=datetime.now(),
                    )
                    dataset = video_image(
                        part.path,
                        part.info,
                        context,
                        kind=VideoKind.ENDOSCOPIC,
                        syntax=part.syntax,
                        fragmentable=part.fragmentable,
                    )
                    instance = engine.store.scratch_path(f"clip-{index:03d}-{part.number}.dcm")
                    made.append(instance)
                    write_video_instance(dataset, instance)
        records = [engine.store.adopt_file(path) for path in made]
    finally:
        for path in made:
            path.unlink(missing_ok=True)
    engine._count_stored(stored=len(records))
    for record in records:
        engine.events.instance_stored.emit(record)
    return records


def _open_page_source(
    spec: str, *, dpi: float | None, idle_s: float, stop: threading.Event | None
) -> PageSource:
    """A scanner or watched folder from its ``--source`` text."""
    kind, target = parse_source_spec(spec)
    if kind is SourceKind.SANE:
        from izer.capture.scanners import SaneScanner

        return SaneScanner(target or "", dpi=dpi, stop=stop)
    if kind is SourceKind.TWAIN:
        from izer.capture.scanners import TwainScanner

        return TwainScanner(target or None, dpi=dpi)
    if kind is SourceKind.FOLDER:
        from izer.capture.folder_source import FolderSource

        return FolderSource(Path(target), existing=True, idle_timeout_s=idle_s, stop=stop)
    raise ValueError(f"{spec!r} is a video source; scanning takes sane:, twain: or folder:")


def study_context(procedure: Procedure) -> StudyContext:
    """The study part of every header of ``procedure``, with its request context (worklist
    item: accession, referring physician, Admission ID, procedure codes and the Request
    Attributes Sequence; see :mod:`izer.engine.scheduling`)."""
    return scheduling.study_context(procedure)


def _capturing(engine: Engine) -> Procedure:
    procedure = engine.procedure
    if procedure is None or procedure.state not in CAPTURING_STATES:
        raise TransitionError(engine.state, ProcedureState.IN_PROGRESS)
    return procedure


def _segment_uid(engine: Engine, base: str, segment: int) -> str:
    """The SOP Instance UID of part ``segment`` (0-based) of a clip, fixed when it starts.

    Fixed in advance so stills taken during recording can reference the video instance, and
    so a clip recovered after a crash gets the UIDs its stills already point to.
    """
    return engine.uids.derived(base, "segment", segment + 1)


def _reference_clip(dataset: Dataset, sop_uid: str, frame_number: int, seconds: float) -> None:
    """Point a still at the frame of the clip it was taken with (PS3.3 C.8.12.1)."""
    item = Dataset()
    item.ReferencedSOPClassUID = VideoEndoscopicImageStorage
    item.ReferencedSOPInstanceUID = sop_uid
    item.ReferencedFrameNumber = frame_number
    # One item required (General Reference module); the still shows the same picture as that
    # frame in another SOP class: CID 7205 "Alternate SOP Class instance" (PS3.16).
    purpose = Dataset()
    purpose.CodeValue = "121326"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Alternate SOP Class instance"
    item.PurposeOfReferenceCodeSequence = [purpose]
    dataset.ReferencedImageSequence = [item]
    minutes, rest = divmod(seconds, 60)
    dataset.ImageComments = f"taken {int(minutes):02d}:{rest:06.3f} into the video"


def _clock(clip: RecordedClip) -> str:
    stamp = clip.metadata.get("started_at")
    return str(stamp) if stamp else clip.clip_id


def devices() -> tuple[list[DeviceInfo], list[tuple[str, bool, str]]]:
    """The capture devices present, and every source kind with whether it works here."""
    kinds = [(str(kind), available, needs) for kind, available, needs in source_kinds()]
    return discover_devices(), kinds
