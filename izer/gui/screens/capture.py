"""The capture screen (endoscopist): live preview, record and still, feedback nobody can miss.

Lights off, gloves on: the preview is as large as the window allows; the Record and Still
buttons are the biggest targets; a still is confirmed by a white flash over the preview, a
click and the counter; a recording by a red frame around the preview and the REC tally with
its elapsed time (amber while paused). Hotkeys and key-typing foot pedals work while the window
has focus (``[capture.hotkeys]``; Space also takes a still).

The GUI thread never waits for a disk: stills, starting and stopping recordings, opening the
sources and reading the store run on the bridge's workers. Only the newest frame is read on
the GUI thread (in memory, at the display rate). A still's trigger time is taken when the key
or button is pressed, so the stored frame is the one that was on screen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import os
import shutil
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6 import sip
from PyQt6.QtCore import QEvent, QKeyCombination, QObject, QSize, QStandardPaths, Qt, QTimer, QUrl
from PyQt6.QtGui import QImage, QKeyEvent, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from izer.engine import CAPTURING_STATES, Engine
from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.screens import Screen
from izer.gui.theme import (
    OK_GREEN,
    RECORD_RED,
    SURFACE,
    TEXT,
    TEXT_MUTED,
    WARNING_AMBER,
    touch_px,
)
from izer.gui.widgets.preview import PreviewWidget, RecordingLook, SecondView, frame_image
from izer.gui.widgets.thumbnails import ThumbnailStrip
from izer.model import (
    CaptureNotice,
    ClipSaved,
    InstanceRecord,
    NoticeLevel,
    Procedure,
    ProcedureState,
    RecordingStatus,
    StillTaken,
    display_name,
)

#: The preview is polled this often at most (milliseconds); the source's rate if slower.
FRAME_INTERVAL_MS = 16
#: Free space and the recorder's figures are read (on a worker) this often.
STATUS_INTERVAL_MS = 10_000
#: A source that delivered no new frame for this long shows "No signal".
NO_SIGNAL_S = 2.0
#: Pre-record buffer choices (seconds, label); the recorder takes 0 to 10 s.
PRERECORD_CHOICES = ((0.0, "Off"), (2.0, "2 s"), (5.0, "5 s"), (10.0, "10 s"))
#: Longest clip before the recording continues in a new instance (0: no limit).
MAX_CLIP_CHOICES = (
    (0.0, "No limit"),
    (60.0, "1 min"),
    (300.0, "5 min"),
    (600.0, "10 min"),
    (1800.0, "30 min"),
)
#: Video transfer syntaxes (MPEG-2, MPEG-4, HEVC): their instances are clips.
VIDEO_SYNTAX_PREFIX = "1.2.840.10008.1.2.4.10"
#: Thumbnails read from the store are at most this wide (decoded on a worker).
LOADED_THUMBNAIL_WIDTH = 320
#: Recent preview frames kept to make a still's thumbnail without reading its file.
RECENT_FRAMES = 12
#: When no clip was recorded yet: an estimated bit rate, bits per pixel per frame.
ESTIMATED_BITS_PER_PIXEL = 0.12

#: How new recorder options take effect (the recorder fixes them when a source opens).
OPTIONS_APPLY = "Applied from the next recording (the camera restarts for a moment)."
#: Hotkey actions (the values of ``[capture.hotkeys]``).
STILL, RECORD, PAUSE, END = "still", "record", "pause", "end"


# -- helpers without widgets -----------------------------------------------------------------


def key_name(event: QKeyEvent) -> str:
    """The name ``[capture.hotkeys]`` uses for a key press: ``F1``, ``Return``, ``Ctrl+F2``.

    Modifier keys alone give ``""``; the keypad Enter is ``Enter`` (the key map reads it as
    ``Return``).
    """
    key = event.key()
    if key in (
        Qt.Key.Key_Shift,
        Qt.Key.Key_Control,
        Qt.Key.Key_Alt,
        Qt.Key.Key_Meta,
        Qt.Key.Key_AltGr,
        Qt.Key.Key_unknown,
    ):
        return ""
    try:
        qt_key = Qt.Key(key)
    except ValueError:
        return ""
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    combination = QKeyCombination(modifiers, qt_key)
    return QKeySequence(combination).toString(QKeySequence.SequenceFormat.PortableText)


def clock(seconds: float) -> str:
    """``mm:ss`` (``h:mm:ss`` from an hour on)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def minutes_text(minutes: float | None) -> str:
    """Disk time left for the display: ``87 min``, ``14 h``, or ``unknown``."""
    if minutes is None or math.isnan(minutes):
        return "unknown"
    if minutes >= 120:
        return f"{minutes / 60:.0f} h"
    return f"{max(0.0, minutes):.0f} min"


def click_wav(rate: int = 44_100, duration_s: float = 0.03) -> bytes:
    """A short shutter click as a 16-bit mono WAV file, made in memory."""
    t = np.arange(int(rate * duration_s)) / rate
    tone = np.sin(2 * np.pi * 2_400 * t) + 0.5 * np.sin(2 * np.pi * 5_200 * t)
    samples = (tone * np.exp(-t / 0.005) * 0.6 * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def _write_click(path: Path) -> Path:
    """Write :func:`click_wav` to ``path`` (on a worker: it touches the disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(click_wav())
    partial.replace(path)
    return path


@dataclass(frozen=True)
class _Loaded:
    """One instance of the procedure read from the store (on a worker) for the strip."""

    key: str
    kind: str
    pixels: np.ndarray | None
    duration_s: float | None
    order: str


def _load_captures(engine: Engine, study_uid: str, known: frozenset[str]) -> list[_Loaded]:
    """The procedure's instances, with small pictures of the stills not shown yet.

    Runs on a worker: it reads the store and decodes files. Clips get no picture (their
    tile shows the film badge and the duration).
    """
    import pydicom

    loaded: list[_Loaded] = []
    for record in engine.store.instances(study_uid):
        key = record.sop_instance_uid
        is_video = record.transfer_syntax_uid.startswith(VIDEO_SYNTAX_PREFIX)
        kind = "clip" if is_video else "still"
        if key in known:
            loaded.append(_Loaded(key, kind, None, None, ""))
            continue
        try:
            header = pydicom.dcmread(record.path, stop_before_pixels=True)
            order = f"{header.get('ContentDate', '')}{header.get('ContentTime', '')}"
            if is_video:
                frames = int(header.get("NumberOfFrames", 0) or 0)
                frame_ms = float(header.get("FrameTime", 0) or 0)
                duration = frames * frame_ms / 1000 if frames and frame_ms else None
                loaded.append(_Loaded(key, kind, None, duration, order))
                continue
            pixels = _small_picture(pydicom.dcmread(record.path))
        except Exception:  # an unreadable file still gets a tile
            pixels, order = None, ""
        loaded.append(_Loaded(key, kind, pixels, None, order))
    return loaded


def _small_picture(dataset: Any) -> np.ndarray | None:
    """A small 8-bit picture of a stored still (the first frame), for a tile."""
    pixels = dataset.pixel_array
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[0]
    step = max(1, math.ceil(pixels.shape[1] / LOADED_THUMBNAIL_WIDTH))
    pixels = pixels[::step, ::step]
    if pixels.dtype != np.uint8:
        bits = int(dataset.get("BitsStored", 16) or 16)
        pixels = (pixels.astype(np.uint32) >> max(0, bits - 8)).clip(0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] not in (3, 4):
        return None
    return np.ascontiguousarray(pixels)


def _status_snapshot(engine: Engine) -> tuple[list[RecordingStatus], int | None]:
    """The recorders' status and the store's free bytes (on a worker: both read the disk)."""
    statuses = engine.capture.recording_status()
    try:
        free = shutil.disk_usage(engine.status().store_folder).free
    except OSError:
        free = None
    return statuses, free


def _open_sources(engine: Engine, options: dict[str, float] | None) -> dict[str, Any]:
    """Open the configured sources, first applying new recorder options (on a worker).

    The pre-record buffer and the clip length are fixed when a source opens, so new values
    re-open the sources (only ever between recordings).
    """
    capture = engine.capture
    if options:
        if capture.channels:
            capture.close()
        capture.settings = replace(capture.settings, **options)
    if capture.channels:
        return {}
    return capture.open()


def _procedure_start(procedure: Procedure) -> float:
    """When ``procedure`` was opened (its Study Date and Time), as a time stamp."""
    try:
        opened = dt.datetime.strptime(
            f"{procedure.study_date}{procedure.study_time[:6]}", "%Y%m%d%H%M%S"
        )
        return opened.timestamp()
    except ValueError:
        return time.time()


# -- the click -------------------------------------------------------------------------------


class _Click:
    """The still sound: a short click through QtMultimedia when there is an audio output,
    otherwise the system beep."""

    def __init__(self, parent: QObject, bridge: EngineBridge) -> None:
        self._effect: Any = None
        try:
            from PyQt6.QtMultimedia import QMediaDevices, QSoundEffect
        except ImportError:
            return
        if not QMediaDevices.audioOutputs():
            return
        effect = QSoundEffect(parent)
        effect.setVolume(0.8)
        self._effect = effect
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
        path = (
            Path(
                folder
                or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.TempLocation)
            )
            / "izer-still-click.wav"
        )
        bridge.call(
            _write_click,
            path,
            on_done=lambda made: self._loaded(effect, made),
            on_error=lambda _exc: None,
        )

    @staticmethod
    def _loaded(effect: Any, path: Path) -> None:
        with contextlib.suppress(RuntimeError):  # the screen is gone
            effect.setSource(QUrl.fromLocalFile(str(path)))

    def play(self) -> None:
        effect = self._effect
        if effect is not None and effect.isLoaded():
            effect.play()
        else:
            QApplication.beep()


# -- the screen ------------------------------------------------------------------------------


class CaptureScreen(Screen):
    """Live preview with record, still and End study for the procedure in progress.

    Attributes
    ----------
    preview
        The live picture (:class:`PreviewWidget`).
    strip
        Stills and clips of this procedure (:class:`ThumbnailStrip`, keyed by SOP Instance
        UID).
    record_button, still_button, pause_button, end_button
        The actions (also on the hotkeys).
    tally
        The REC tally with the elapsed time (visible while recording).
    """

    key = "capture"
    title = "Capture"
    icon_name = "capture"

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self.engine = bridge.engine
        self._shown = False
        self._filter_installed = False
        # The procedure and state as the bridge's signals told them: the GUI thread does not
        # take the engine's lock (a still holds it while it is written).
        self._procedure: Procedure | None = None
        self._state = ProcedureState.IDLE
        self._procedure_id: int | None = None
        self._started_at: dict[int, float] = {}
        self._recording = False
        self._paused = False
        self._rec_base = 0.0
        self._rec_frozen = 0.0
        self._record_busy = False
        self._pause_busy = False
        self._pause_pending = False
        self._ending = False
        self._source_job = False
        self._source_failed = ""
        self._owns_sources = False
        self._pending_options: dict[str, float] | None = None
        self._modes: dict[str, Any] = {}
        self._recent: dict[str, deque[tuple[int, np.ndarray, int]]] = {}
        self._last_frame_at: dict[str, float] = {}
        self._clip_pictures: dict[str, QImage] = {}
        self._no_picture: set[str] = set()
        self._status_job = False
        self._load_job = False
        self._free_bytes: int | None = None
        self._minutes_left: float | None = None
        self._bitrate_bps: float | None = None
        self._build()
        self._click = _Click(self, bridge)
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(self._frame_interval_ms())
        self._frame_timer.timeout.connect(self._poll_frames)
        self._clock_timer = QTimer(self)
        self._clock_timer.setInterval(250)
        self._clock_timer.timeout.connect(self._tick)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._poll_status)
        self._soon_timer = QTimer(self)
        self._soon_timer.setSingleShot(True)
        self._soon_timer.setInterval(3_000)
        self._soon_timer.timeout.connect(self._poll_status)
        bridge.state_changed.connect(self._state_changed)
        bridge.procedure_changed.connect(self._procedure_changed)
        bridge.still_taken.connect(self._still_taken)
        bridge.clip_saved.connect(self._clip_saved)
        bridge.recording_changed.connect(self._recording_changed)
        bridge.capture_notice.connect(self._capture_notice)
        self._procedure_changed(self.engine.procedure)  # once; then from the bridge's signals

    # -- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.pages = QStackedWidget()
        self._build_hint()
        self.capture_page = QWidget()
        status = self._build_status()
        self.preview = PreviewWidget()
        self.notice = QLabel()
        self.notice.setObjectName("captureNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice.hide)
        self.strip = ThumbnailStrip(
            empty_text="Stills and clips of this procedure appear here", multi_select=False
        )
        self.strip.setObjectName("captureStrip")

        side = self._build_actions()
        # Status row, preview, notice line and strip; the actions on the right.
        grid = QGridLayout(self.capture_page)
        grid.setContentsMargins(16, 12, 16, 12)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(8)
        grid.addLayout(status, 0, 0)
        grid.addWidget(self.preview, 1, 0)
        grid.addWidget(self.notice, 2, 0)
        grid.addWidget(side, 0, 1, 3, 1)
        grid.addWidget(self.strip, 3, 0, 1, 2)
        grid.setRowStretch(1, 1)
        grid.setColumnStretch(0, 1)

        self.pages.addWidget(self.hint)
        self.pages.addWidget(self.capture_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self.setStyleSheet(
            "#hintTitle { font-size: 28pt; font-weight: 700; }"
            f"#hintText {{ color: {TEXT_MUTED}; font-size: 16pt; }}"
            "#hintPrimary, #hintSecondary { font-size: 17pt; }"
            "#recordButton, #stillButton { font-size: 20pt; }"
            f"#captureActions {{ background: {SURFACE}; border-radius: 10px; }}"
            "#captureActions QLabel { background: transparent; }"
            f"#procedureClock {{ color: {TEXT}; font-size: 18pt; font-weight: 600; }}"
            f"#stillCounter, #clipCounter {{ color: {TEXT}; font-size: 18pt; font-weight: 700; }}"
            f"#diskLeft {{ color: {TEXT_MUTED}; font-size: 15pt; }}"
            f"#hotkeyHint {{ color: {TEXT_MUTED}; font-size: 11pt; }}"
            f"#optionLabel {{ color: {TEXT_MUTED}; font-size: 12pt; }}"
        )
        self._set_tally(RecordingLook.IDLE, 0.0)
        self.setTabOrder(self.record_button, self.still_button)
        self.setTabOrder(self.still_button, self.pause_button)
        self.setTabOrder(self.pause_button, self.prerecord_combo)
        self.setTabOrder(self.prerecord_combo, self.max_clip_combo)
        self.setTabOrder(self.max_clip_combo, self.second_combo)
        self.setTabOrder(self.second_combo, self.end_button)
        self.setTabOrder(self.end_button, self.strip)

    def _build_hint(self) -> None:
        """The page shown when nothing is capturing: what to do next, in large type."""
        touch = touch_px()
        self.hint = QWidget()
        self.hint.setObjectName("captureHint")
        self.hint_title = QLabel()
        self.hint_title.setObjectName("hintTitle")
        self.hint_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint_text = QLabel()
        self.hint_text.setObjectName("hintText")
        self.hint_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint_text.setWordWrap(True)
        self.hint_icon = QLabel()
        self.hint_icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint_icon.setPixmap(icon("capture", TEXT_MUTED, 256).pixmap(touch * 2, touch * 2))
        self.primary_button = QPushButton()
        self.primary_button.setProperty("role", "primary")
        self.primary_button.setObjectName("hintPrimary")
        self.primary_button.setMinimumWidth(touch * 4)
        self.primary_button.setIconSize(QSize(touch // 3, touch // 3))
        self.primary_button.setDefault(True)
        self.primary_button.setAutoDefault(True)
        self.secondary_button = QPushButton()
        self.secondary_button.setObjectName("hintSecondary")
        self.secondary_button.setMinimumWidth(touch * 4)
        self.secondary_button.setAutoDefault(True)
        self.secondary_button.setIconSize(QSize(touch // 3, touch // 3))
        self.primary_button.clicked.connect(lambda: self._hint_action(self.primary_button))
        self.secondary_button.clicked.connect(lambda: self._hint_action(self.secondary_button))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.primary_button)
        buttons.addWidget(self.secondary_button)
        buttons.addStretch(1)
        hint_layout = QVBoxLayout(self.hint)
        hint_layout.addStretch(2)
        hint_layout.addWidget(self.hint_icon)
        hint_layout.addWidget(self.hint_title)
        hint_layout.addWidget(self.hint_text)
        hint_layout.addSpacing(24)
        hint_layout.addLayout(buttons)
        hint_layout.addStretch(3)

    def _build_status(self) -> QHBoxLayout:
        """REC tally, procedure clock, counters and disk time above the preview."""
        self.tally = QLabel()
        self.tally.setObjectName("recTally")
        policy = self.tally.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.tally.setSizePolicy(policy)
        self.tally.hide()
        self.procedure_clock = QLabel()
        self.procedure_clock.setObjectName("procedureClock")
        self.procedure_clock.setToolTip("Time since the procedure started")
        self.counter = QLabel("Stills 0")
        self.counter.setObjectName("stillCounter")
        self.clip_counter = QLabel("Clips 0")
        self.clip_counter.setObjectName("clipCounter")
        self.disk_label = QLabel("Disk")
        self.disk_label.setObjectName("diskLeft")
        self.retry_button = QPushButton(icon("refresh"), "Restart camera")
        self.retry_button.setObjectName("retryCamera")
        self.retry_button.clicked.connect(self._retry_sources)
        self.retry_button.hide()
        status = QHBoxLayout()
        status.setSpacing(24)
        status.addWidget(self.tally)
        status.addWidget(self.procedure_clock)
        status.addStretch(1)
        status.addWidget(self.retry_button)
        status.addWidget(self.counter)
        status.addWidget(self.clip_counter)
        status.addWidget(self.disk_label)

        return status

    def _build_actions(self) -> QWidget:
        """Record, Still, Pause, the recorder options, the hotkeys and End study."""
        touch = touch_px()
        hotkeys = self.engine.settings.capture.hotkeys

        def keys(names: tuple[str, ...], *extra: str) -> str:
            return ", ".join([*names, *extra])

        big = QSize(touch * 3, round(touch * 1.2))
        self.record_button = QPushButton(icon("record", "white"), "Record")
        self.record_button.setObjectName("recordButton")
        self.record_button.setProperty("role", "record")
        self.record_button.setMinimumSize(big)
        self.record_button.setIconSize(QSize(touch // 2, touch // 2))
        self.record_button.setToolTip(f"Start or stop recording ({keys(hotkeys.record)})")
        self.record_button.clicked.connect(self.toggle_recording)
        self.still_button = QPushButton(icon("still", "#0b1220"), "Still")
        self.still_button.setObjectName("stillButton")
        self.still_button.setProperty("role", "primary")
        self.still_button.setMinimumSize(big)
        self.still_button.setIconSize(QSize(touch // 2, touch // 2))
        self.still_button.setToolTip(f"Take a still ({keys(hotkeys.still, 'Space')})")
        self.still_button.clicked.connect(lambda: self.take_still())
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setIconSize(QSize(touch // 3, touch // 3))
        self.pause_button.setToolTip(f"Pause or resume the recording ({keys(hotkeys.pause)})")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.end_button = QPushButton(icon("finish"), "End study")
        self.end_button.setObjectName("endButton")
        self.end_button.setIconSize(QSize(touch // 3, touch // 3))
        self.end_button.setToolTip(
            f"End capturing and go to review ({keys(hotkeys.end)}); a recording is saved first"
        )
        self.end_button.clicked.connect(self.end_study)
        hint_keys = QLabel(
            "\n".join(
                f"{what}: {keys(names, *extra)}"
                for what, names, extra in (
                    ("Still", hotkeys.still, ("Space",)),
                    ("Record", hotkeys.record, ()),
                    ("Pause", hotkeys.pause, ()),
                    ("End study", hotkeys.end, ()),
                )
            )
        )
        hint_keys.setProperty("role", "muted")
        hint_keys.setObjectName("hotkeyHint")

        configured = self.engine.capture.settings
        self.prerecord_combo = self._combo(PRERECORD_CHOICES, configured.prerecord_s, "s")
        self.prerecord_combo.setObjectName("prerecordCombo")
        self.prerecord_combo.setToolTip(
            f"Video kept from before Record was pressed. {OPTIONS_APPLY}"
        )
        self.max_clip_combo = self._combo(MAX_CLIP_CHOICES, configured.max_clip_s, "s")
        self.max_clip_combo.setObjectName("maxClipCombo")
        self.max_clip_combo.setToolTip(
            "A longer recording continues in a new video instance of the same series. "
            + OPTIONS_APPLY
        )
        self.prerecord_combo.currentIndexChanged.connect(lambda _i: self._options_changed())
        self.max_clip_combo.currentIndexChanged.connect(lambda _i: self._options_changed())
        self.second_combo = QComboBox()
        self.second_combo.setObjectName("secondViewCombo")
        for view in SecondView:
            self.second_combo.addItem(view.label, view)
        self.second_combo.currentIndexChanged.connect(
            lambda _i: self.preview.set_second_view(self.second_combo.currentData())
        )
        self.second_label = QLabel("Second")
        self.second_combo.setToolTip("How the second source is shown")
        options = QGridLayout()
        options.setHorizontalSpacing(8)
        options.setVerticalSpacing(8)
        for row, (text, combo) in enumerate(
            (
                ("Pre-record", self.prerecord_combo),
                ("Longest clip", self.max_clip_combo),
                (None, self.second_combo),
            )
        ):
            label = self.second_label if text is None else QLabel(text)
            label.setObjectName("optionLabel")
            label.setBuddy(combo)
            options.addWidget(label, row, 0)
            options.addWidget(combo, row, 1)
        options.setColumnStretch(1, 1)
        self._set_second_visible(False)

        actions = QVBoxLayout()
        actions.setContentsMargins(12, 12, 12, 12)
        actions.setSpacing(10)
        actions.addWidget(self.record_button)
        actions.addWidget(self.still_button)
        actions.addWidget(self.pause_button)
        actions.addSpacing(4)
        actions.addLayout(options)
        actions.addStretch(1)
        actions.addWidget(hint_keys)
        actions.addWidget(self.end_button)
        side = QWidget()
        side.setObjectName("captureActions")
        side.setLayout(actions)
        side.setFixedWidth(max(touch * 3 + 24, 260))
        return side

    @staticmethod
    def _combo(choices: tuple[tuple[float, str], ...], current: float, unit: str) -> QComboBox:
        combo = QComboBox()
        values = [value for value, _ in choices]
        for value, label in choices:
            combo.addItem(label, value)
        if current not in values:
            combo.addItem(f"{current:g} {unit}", float(current))
        combo.setCurrentIndex(combo.findData(float(current)))
        combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return combo

    def _frame_interval_ms(self) -> int:
        fps = max(1.0, float(self.engine.settings.capture.fps))
        return max(FRAME_INTERVAL_MS, int(1000 / min(fps, 60.0) / 2))

    def _call(
        self,
        function: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """:meth:`EngineBridge.call`, its callbacks dropped once this screen is deleted."""

        def alive(callback: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
            if callback is None:
                return None

            def run(value: Any) -> None:
                if not sip.isdeleted(self):
                    callback(value)

            return run

        with contextlib.suppress(RuntimeError):  # the bridge is shut down: the window closes
            self.bridge.call(function, *args, on_done=alive(on_done), on_error=alive(on_error))

    # -- showing ------------------------------------------------------------------------------

    def on_shown(self) -> None:
        self._shown = True
        self._install_filter(True)
        self._clock_timer.start()
        self._status_timer.start()
        self._refresh_page()
        self._sync_sources()
        self._load_strip()
        self._poll_status()
        self._tick()

    def on_hidden(self) -> None:
        self._shown = False
        self._install_filter(False)
        self._frame_timer.stop()
        self._clock_timer.stop()
        self._status_timer.stop()
        self._sync_sources()

    def _install_filter(self, on: bool) -> None:
        app = QApplication.instance()
        if app is None or on == self._filter_installed:
            return
        if on:
            app.installEventFilter(self)
        else:
            app.removeEventFilter(self)
        self._filter_installed = on

    def capturing(self) -> bool:
        """Whether the active procedure takes captures now (IN PROGRESS or APPENDING)."""
        return self._state in CAPTURING_STATES

    def _refresh_page(self) -> None:
        procedure, state = self._procedure, self._state
        if state in CAPTURING_STATES:
            self.pages.setCurrentWidget(self.capture_page)
            if self._shown:
                self._frame_timer.start()
            self._update_actions()
            return
        self._frame_timer.stop()
        self.pages.setCurrentWidget(self.hint)
        if self._shown:
            self.primary_button.setFocus()  # Enter does the obvious next step
        name = display_name(procedure.patient.name) if procedure is not None else ""
        if state is ProcedureState.PATIENT_SELECTED:
            self._set_hint(
                "Procedure not started",
                f"{name} is selected. Start the procedure to capture stills and video.",
                ("Start procedure", "start"),
                ("Worklist", "worklist"),
            )
        elif state is ProcedureState.REVIEW:
            self._set_hint(
                "Capture has ended",
                f"The study of {name} is in review. Finish it there, or resume capturing.",
                ("Go to review", "review"),
                ("Resume capture", "start"),
            )
        elif procedure is not None and state.is_closed:
            self._set_hint(
                "Procedure closed",
                f"The procedure of {name} is closed. Pick the next patient on the worklist.",
                ("Worklist", "worklist"),
                None,
            )
        else:
            self._set_hint(
                "No procedure in progress",
                "Pick the patient on the worklist (or register an emergency) and start the "
                "procedure to capture.",
                ("Go to worklist", "worklist"),
                None,
            )

    def _set_hint(
        self,
        title: str,
        text: str,
        primary: tuple[str, str],
        secondary: tuple[str, str] | None,
    ) -> None:
        self.hint_title.setText(title)
        self.hint_text.setText(text)
        self.primary_button.setText(primary[0])
        self.primary_button.setProperty("action", primary[1])
        self.primary_button.setIcon(icon(_ACTION_ICONS[primary[1]], "#0b1220"))
        self.secondary_button.setVisible(secondary is not None)
        if secondary is not None:
            self.secondary_button.setText(secondary[0])
            self.secondary_button.setProperty("action", secondary[1])
            self.secondary_button.setIcon(icon(_ACTION_ICONS[secondary[1]]))

    def _hint_action(self, button: QPushButton) -> None:
        action = str(button.property("action"))
        if action == "start":
            button.setEnabled(False)

            def done(_result: object) -> None:
                button.setEnabled(True)
                self._refresh_page()

            def failed(exc: BaseException) -> None:
                button.setEnabled(True)
                self.show_notice(f"The procedure could not be started: {exc}", NoticeLevel.ERROR)

            self._call(self.engine.start, on_done=done, on_error=failed)
        else:
            self.navigate.emit(action)

    # -- procedure and state ------------------------------------------------------------------

    def _procedure_changed(self, procedure: Procedure | None) -> None:
        self._procedure = procedure
        self._state = procedure.state if procedure is not None else ProcedureState.IDLE
        procedure_id = procedure.procedure_id if procedure is not None else None
        if procedure_id != self._procedure_id:
            self._procedure_id = procedure_id
            self.strip.clear()
            self._update_counters()
            if procedure is not None and procedure.state in CAPTURING_STATES:
                self._started_at.setdefault(procedure.procedure_id, _procedure_start(procedure))
            if self._shown:
                self._load_strip()
        self._refresh_page()
        self._sync_sources()

    def _state_changed(self, old: ProcedureState, new: ProcedureState) -> None:
        self._state = new
        procedure = self._procedure
        if (
            procedure is not None
            and new is ProcedureState.IN_PROGRESS
            and old is ProcedureState.PATIENT_SELECTED
        ):
            self._started_at[procedure.procedure_id] = time.time()
        elif procedure is not None and new in CAPTURING_STATES:
            self._started_at.setdefault(procedure.procedure_id, _procedure_start(procedure))
        self._refresh_page()
        self._sync_sources()
        if (
            self._shown
            and not self._ending
            and old in CAPTURING_STATES
            and new is ProcedureState.REVIEW
        ):
            self.navigate.emit("review")  # ended by a pedal or another client

    # -- sources ------------------------------------------------------------------------------

    def _sync_sources(self) -> None:
        """Open the sources while shown and capturing; close those this screen opened
        otherwise (never while recording); re-open them for new recorder options between
        recordings. Sources someone else opened are left alone."""
        if self._source_job:
            return
        capture = self.engine.capture
        is_open = bool(capture.channels)
        wanted = self._shown and self.capturing()
        busy = self._recording or self._record_busy
        if wanted and not self._source_failed and (not is_open or self._pending_options):
            if is_open and busy:
                return  # new options wait for the end of the recording
            options, self._pending_options = self._pending_options, None
            self._source_job = True
            self.preview.set_message("" if is_open else "Starting the camera…")
            self._call(
                _open_sources,
                self.engine,
                options,
                on_done=self._sources_opened,
                on_error=self._sources_failed,
            )
        elif not wanted and is_open and not busy and self._owns_sources:
            self._source_job = True
            self._call(capture.close, on_done=self._sources_closed, on_error=self._sources_closed)

    def _sources_opened(self, modes: dict[str, Any]) -> None:
        self._source_job = False
        self._source_failed = ""
        self.retry_button.hide()
        if modes:
            self._modes = dict(modes)
            self._owns_sources = True
        self.preview.set_message("")
        now = time.monotonic()
        for name in self.engine.capture.channels:
            self._last_frame_at[name] = now
        self._sync_sources()

    def _sources_failed(self, exc: BaseException) -> None:
        self._source_job = False
        self._source_failed = str(exc) or type(exc).__name__
        self.preview.set_message(f"No picture: {self._source_failed}")
        self.show_notice(
            f"The camera could not be started: {self._source_failed}", NoticeLevel.ERROR
        )
        self.retry_button.show()

    def _sources_closed(self, _result: object) -> None:
        self._source_job = False
        self._owns_sources = False
        for name in ("main", "second"):
            self.preview.set_frame(None, channel=name)
            self._recent.pop(name, None)
        self._sync_sources()

    def _retry_sources(self) -> None:
        self._source_failed = ""
        self.retry_button.hide()
        self._sync_sources()

    def _set_second_visible(self, visible: bool) -> None:
        self.second_label.setVisible(visible)
        self.second_combo.setVisible(visible)

    def _options_changed(self) -> None:
        self._pending_options = {
            "prerecord_s": float(self.prerecord_combo.currentData()),
            "max_clip_s": float(self.max_clip_combo.currentData()),
        }
        if self._recording:
            self.show_notice(
                "The new pre-record and clip length apply from the next recording",
                NoticeLevel.INFO,
            )
        elif self.engine.capture.channels:
            self.show_notice("The camera restarts for a moment to apply the change")
        self._sync_sources()

    def recorder_options(self) -> dict[str, float]:
        """The pre-record and clip length the open sources were started with."""
        settings = self.engine.capture.settings
        return {"prerecord_s": settings.prerecord_s, "max_clip_s": settings.max_clip_s}

    def _poll_frames(self) -> None:
        """Show the newest frame of each channel (in memory: cheap on the GUI thread)."""
        capture = self.engine.capture
        names = capture.channels
        if ("second" in names) != self.second_combo.isVisibleTo(self):
            self._set_second_visible("second" in names)
        now = time.monotonic()
        silent = []
        for name in ("main", "second"):
            if name not in names:
                if self.preview.image(name) is not None and not self._source_job:
                    self.preview.set_frame(None, channel=name)
                continue
            try:
                frame = capture.preview(name)
            except RuntimeError:  # closed in between (SourceError)
                continue
            if frame is not None and self.preview.set_frame(
                frame.pixels, channel=name, number=frame.number, bits_stored=frame.bits_stored
            ):
                recent = self._recent.setdefault(name, deque(maxlen=RECENT_FRAMES))
                recent.append((frame.number, frame.pixels, frame.bits_stored))
                self._last_frame_at[name] = now
            elif now - self._last_frame_at.get(name, now) > NO_SIGNAL_S:
                silent.append(name)
        if self._source_failed or self._source_job:
            return
        if silent:
            which = "the camera" if silent == ["main"] else " and ".join(silent) + " source"
            self.preview.set_message(f"No signal from {which}")
        elif self.preview.message:
            self.preview.set_message("")

    def _picture(self, channel: str, frame_number: int | None = None) -> QImage | None:
        """A picture of ``channel`` from the recent preview frames (frame ``frame_number``,
        else the nearest one before it, else the newest)."""
        recent = self._recent.get(channel)
        if not recent:
            return None
        chosen = recent[-1]
        if frame_number is not None:
            before = [entry for entry in recent if entry[0] <= frame_number]
            if before:
                chosen = before[-1]
        _number, pixels, bits = chosen
        return frame_image(pixels, bits)

    # -- actions ------------------------------------------------------------------------------

    def take_still(self, channel: str = "main") -> None:
        """Store the frame on screen now (on a worker); the flash comes with ``still_taken``."""
        trigger_ns = time.monotonic_ns()
        if not self._check_capturing("still"):
            return
        self._call(
            self.engine.capture.take_still,
            channel,
            trigger_ns,
            on_error=self._failed("The still was not stored"),
        )

    def toggle_recording(self) -> None:
        """Start recording, or stop it (the clip is stored on a worker)."""
        if self._record_busy or not self._check_capturing("record"):
            return
        if not self._recording:
            for name in self.engine.capture.channels:
                picture = self._picture(name)
                if picture is not None:
                    self._clip_pictures[name] = picture
        self._record_busy = True
        self._update_actions()
        if self._recording:
            self.show_notice("Saving the clip…", NoticeLevel.INFO)

        def done(_result: object) -> None:
            self._record_busy = False
            self._update_actions()
            self._sync_sources()

        def failed(exc: BaseException) -> None:
            done(None)
            self.show_notice(f"Recording: {exc}", NoticeLevel.ERROR)

        self._call(self.engine.capture.toggle_recording, on_done=done, on_error=failed)

    def toggle_pause(self) -> None:
        """Pause the recording, or resume it.

        A press while the previous one is still being carried out is kept and carried out
        right after it (a quick pause and resume on the pedal is never lost).
        """
        if not self._recording:
            return
        if self._pause_busy:
            self._pause_pending = not self._pause_pending
            return
        self._pause_busy = True

        def done(_result: object) -> None:
            self._pause_busy = False
            if self._pause_pending:
                self._pause_pending = False
                self.toggle_pause()

        def failed(exc: BaseException) -> None:
            done(None)
            self.show_notice(f"Pause: {exc}", NoticeLevel.ERROR)

        self._call(self.engine.capture.toggle_pause, on_done=done, on_error=failed)

    def end_study(self) -> None:
        """The explicit End step: stop a recording (saving it), REVIEW, then the review screen.

        Never asks anything: a recording is saved, not discarded.
        """
        if self._ending or not self._check_capturing("end"):
            return
        self._ending = True
        self._update_actions()
        saving = " and saving the clip" if self._recording else ""
        self.show_notice(f"Ending the study{saving}…", NoticeLevel.INFO)

        def done(_procedure: object) -> None:
            self._ending = False
            self.notice.hide()
            self._update_actions()
            self.navigate.emit("review")

        def failed(exc: BaseException) -> None:
            self._ending = False
            self._update_actions()
            self.show_notice(f"The study could not be ended: {exc}", NoticeLevel.ERROR)

        self._call(self.engine.review, on_done=done, on_error=failed)

    def trigger(self, action: str) -> None:
        """Do a hotkey action: ``still``, ``record``, ``pause`` or ``end``."""
        {
            STILL: self.take_still,
            RECORD: self.toggle_recording,
            PAUSE: self.toggle_pause,
            END: self.end_study,
        }[action]()

    def action_for(self, name: str) -> str | None:
        """The action a key name triggers here (``[capture.hotkeys]``, and Space: still)."""
        if not name:
            return None
        action = self.engine.capture.key_map.action_for(name)
        if action is not None:
            return str(action.value)
        return STILL if name == "Space" else None

    def _check_capturing(self, what: str) -> bool:
        if self.capturing():
            return True
        self.show_notice(f"{what}: no procedure is in progress", NoticeLevel.WARNING)
        return False

    def _failed(self, what: str) -> Callable[[BaseException], None]:
        def show(exc: BaseException) -> None:
            self.show_notice(f"{what}: {exc}", NoticeLevel.ERROR)

        return show

    def _update_actions(self) -> None:
        capturing = self.capturing() and not self._ending
        self.record_button.setEnabled(capturing and not self._record_busy)
        self.still_button.setEnabled(capturing)
        self.pause_button.setEnabled(capturing and self._recording)
        self.end_button.setEnabled(capturing)
        if self._recording:
            self.record_button.setText("Stop")
            self.record_button.setIcon(icon("stop", "white"))
        else:
            self.record_button.setText("Record")
            self.record_button.setIcon(icon("record", "white"))
        self.pause_button.setText("Resume" if self._paused else "Pause")
        self.pause_button.setIcon(icon("record" if self._paused else "pause"))

    # -- keys ---------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        """Hotkeys while this screen is shown, whichever widget of the window has focus."""
        if event is None:
            return False
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        if not isinstance(watched, QWidget) or watched.window() is not self.window():
            return False
        if not (self._shown and self.pages.currentWidget() is self.capture_page):
            return False
        assert isinstance(event, QKeyEvent)
        action = self.action_for(key_name(event))
        if action is None:
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # the key is ours: no shortcut elsewhere takes it
            return True
        if not event.isAutoRepeat():  # a held pedal is one press
            self.trigger(action)
        return True

    # -- engine events ------------------------------------------------------------------------

    def _current_study(self) -> str | None:
        procedure = self._procedure
        return procedure.study_uid if procedure is not None else None

    def _still_taken(self, taken: StillTaken) -> None:
        if taken.record.study_instance_uid != self._current_study():
            return
        picture = self._picture(taken.channel, taken.frame_number)
        number = self.strip.count("still") + (
            0 if taken.record.sop_instance_uid in self.strip else 1
        )
        label = (
            f"Still {number}" if taken.channel == "main" else f"Still {number} ({taken.channel})"
        )
        self.strip.add(taken.record.sop_instance_uid, picture, label, "still")
        if picture is None:  # a trigger from elsewhere before the preview ran: read the file
            self._no_picture.add(taken.record.sop_instance_uid)
            self._load_strip()
        self.preview.flash()
        self._click.play()
        self._update_counters()

    def _clip_saved(self, clip: ClipSaved) -> None:
        records = [r for r in clip.records if r.study_instance_uid == self._current_study()]
        if records:
            picture = self._clip_pictures.pop(clip.channel, None) or self._picture(clip.channel)
            mode = self._modes.get(clip.channel)
            fps = float(mode.fps) if mode is not None else float(self.engine.settings.capture.fps)
            duration = clock(clip.frames / fps) if fps > 0 else ""
            number = self.strip.count("clip") + 1
            for index, record in enumerate(records):
                part = f" · {index + 1}/{len(records)}" if len(records) > 1 else ""
                self._add_clip(record, picture, f"Clip {number} · {duration}{part}")
            self._update_counters()
            self.show_notice(f"Clip {number} saved ({duration})", NoticeLevel.INFO)
        if clip.dropped:
            self.show_notice(
                f"The clip misses {clip.dropped} frame(s) the recorder could not keep up with",
                NoticeLevel.WARNING,
            )

    def _add_clip(self, record: InstanceRecord, picture: QImage | None, label: str) -> None:
        self.strip.add(record.sop_instance_uid, picture, label, "clip")

    def _recording_changed(self, statuses: list[RecordingStatus]) -> None:
        self._apply_statuses(statuses, resync=True)
        self._sync_sources()

    def _apply_statuses(self, statuses: list[RecordingStatus], *, resync: bool) -> None:
        active = [s for s in statuses if s.recording]
        was_recording = self._recording
        self._recording = bool(active)
        self._paused = bool(active) and all(s.paused for s in active)
        elapsed = max((s.elapsed_s for s in active), default=0.0)
        if self._recording and not was_recording:
            self._soon_timer.start()  # the recorder's bit rate is known a moment later
        if self._recording:
            shown = self.elapsed_s()
            if resync or not was_recording or abs(shown - elapsed) > 1.0:
                self._rec_base = time.monotonic() - elapsed
                self._rec_frozen = elapsed
            if self._paused:
                self._rec_frozen = elapsed
        minutes = [s.minutes_left for s in active if s.minutes_left is not None]
        if minutes:
            self._minutes_left = min(minutes)
            if self._free_bytes is not None and self._minutes_left > 0:
                usable = self._usable_bytes(self._free_bytes)
                self._bitrate_bps = usable * 8 / (self._minutes_left * 60) or None
        look = (
            RecordingLook.PAUSED
            if self._paused
            else RecordingLook.RECORDING
            if self._recording
            else RecordingLook.IDLE
        )
        self.preview.set_recording_look(look)
        self._set_tally(look, self.elapsed_s())
        self._update_actions()
        self._update_disk()

    def _capture_notice(self, notice: CaptureNotice) -> None:
        where = "" if notice.channel == "main" else f"{notice.channel}: "
        self.show_notice(f"{where}{notice.message}", notice.level)

    # -- status -------------------------------------------------------------------------------

    def elapsed_s(self) -> float:
        """The recording's elapsed time as shown (0 when not recording)."""
        if not self._recording:
            return 0.0
        if self._paused:
            return self._rec_frozen
        return max(0.0, time.monotonic() - self._rec_base)

    def _tick(self) -> None:
        if self._recording:
            look = RecordingLook.PAUSED if self._paused else RecordingLook.RECORDING
            self._set_tally(look, self.elapsed_s())
        procedure = self._procedure
        started = self._started_at.get(procedure.procedure_id) if procedure is not None else None
        if started is not None and self.capturing():
            self.procedure_clock.setText(f"Procedure {clock(time.time() - started)}")
        else:
            self.procedure_clock.setText("")

    def _set_tally(self, look: RecordingLook, elapsed: float) -> None:
        if look is RecordingLook.IDLE:
            self.tally.hide()
            return
        if look is RecordingLook.PAUSED:
            text, background, colour = f"❚❚ PAUSED  {clock(elapsed)}", WARNING_AMBER, "#1a1200"
        else:
            text, background, colour = f"● REC  {clock(elapsed)}", RECORD_RED, "white"
        self.tally.setText(text)
        self.tally.setStyleSheet(
            f"#recTally {{ background: {background}; color: {colour}; font-size: 20pt;"
            " font-weight: 800; padding: 6px 16px; border-radius: 8px; }"
        )
        self.tally.show()

    def _update_counters(self) -> None:
        self.counter.setText(f"Stills {self.strip.count('still')}")
        self.clip_counter.setText(f"Clips {self.strip.count('clip')}")

    def _poll_status(self) -> None:
        """Free space and the recorders' figures, read on a worker every 10 s."""
        if self._status_job:
            return
        self._status_job = True

        def done(result: tuple[list[RecordingStatus], int | None]) -> None:
            self._status_job = False
            statuses, free = result
            self._free_bytes = free
            self._apply_statuses(statuses, resync=False)

        def failed(_exc: BaseException) -> None:
            self._status_job = False

        self._call(_status_snapshot, self.engine, on_done=done, on_error=failed)

    def _usable_bytes(self, free: int) -> int:
        return max(0, free - self.engine.capture.settings.min_free_mb * 1024 * 1024)

    def _update_disk(self) -> None:
        """Minutes of disk left: the recorder's figure while recording, else an estimate."""
        estimated = not self._recording or self._minutes_left is None
        minutes = self._minutes_left if not estimated else None
        if minutes is None and self._free_bytes is not None:
            settings = self.engine.settings.capture
            rate = self._bitrate_bps or (
                settings.width * settings.height * settings.fps * ESTIMATED_BITS_PER_PIXEL
            )
            minutes = self._usable_bytes(self._free_bytes) * 8 / rate / 60
        prefix = "≈ " if estimated else ""
        self.disk_label.setText(f"Disk {prefix}{minutes_text(minutes)}")
        colour = TEXT_MUTED
        if minutes is not None and minutes < 5:
            colour = RECORD_RED
        elif minutes is not None and minutes < 20:
            colour = WARNING_AMBER
        self.disk_label.setStyleSheet(f"#diskLeft {{ color: {colour}; font-size: 15pt; }}")
        self.disk_label.setToolTip(
            "Recording time left on the store's disk"
            + (" (estimated from the video format)" if estimated else "")
        )

    def show_notice(self, text: str, level: NoticeLevel = NoticeLevel.INFO) -> None:
        """A line under the preview (never a dialog: one may be recording)."""
        colour = {
            NoticeLevel.ERROR: RECORD_RED,
            NoticeLevel.WARNING: WARNING_AMBER,
        }.get(level, OK_GREEN)
        self.notice.setText(text)
        self.notice.setStyleSheet(
            f"#captureNotice {{ color: {colour}; font-size: 14pt; font-weight: 600; }}"
        )
        self.notice.show()
        self._notice_timer.start(20_000 if level is NoticeLevel.ERROR else 8_000)

    # -- the strip from the store -------------------------------------------------------------

    def _load_strip(self) -> None:
        """Bring the strip in line with the store (stills taken elsewhere, items deleted in
        review, a restart mid-procedure); files are read and decoded on a worker."""
        procedure = self._procedure
        if procedure is None or self._load_job:
            return
        self._load_job = True
        study_uid = procedure.study_uid
        shown = frozenset(self.strip.keys())
        known = shown - self._no_picture

        def done(loaded: list[_Loaded]) -> None:
            self._load_job = False
            if self._current_study() != study_uid:
                return
            present = {entry.key for entry in loaded}
            for key in shown - present:
                self.strip.remove(key)
                self._no_picture.discard(key)
            stills = clips = 0
            for entry in sorted(loaded, key=lambda e: e.order):
                if entry.kind == "clip":
                    clips += 1
                else:
                    stills += 1
                if entry.key in self.strip:
                    if entry.key in self._no_picture and entry.pixels is not None:
                        self._no_picture.discard(entry.key)
                        picture = frame_image(entry.pixels)
                        self.strip.add(entry.key, picture, self.strip.label(entry.key), entry.kind)
                    continue
                if entry.kind == "clip":
                    length = clock(entry.duration_s) if entry.duration_s else ""
                    label = f"Clip {clips} · {length}" if length else f"Clip {clips}"
                else:
                    label = f"Still {stills}"
                picture = frame_image(entry.pixels) if entry.pixels is not None else None
                self.strip.add(entry.key, picture, label, entry.kind)
            self._update_counters()

        def failed(exc: BaseException) -> None:
            self._load_job = False
            self.show_notice(f"The captures could not be listed: {exc}", NoticeLevel.WARNING)

        self._call(_load_captures, self.engine, study_uid, known, on_done=done, on_error=failed)

    def closeEvent(self, event: Any) -> None:
        self._install_filter(False)
        with contextlib.suppress(RuntimeError):
            self._frame_timer.stop()
        super().closeEvent(event)


#: Icons of the hint page's buttons.
_ACTION_ICONS = {"start": "capture", "worklist": "worklist", "review": "review"}
