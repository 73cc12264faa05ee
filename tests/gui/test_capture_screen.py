"""The capture screen over the test engine's synthetic camera (offscreen, pytest-qt).

Made-up patients only. Waits use ``qtbot.waitUntil``: nothing here asserts wall-clock times.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QSize, Qt
from PyQt6.QtGui import QColor, QImage, QKeyEvent
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from izer.gui.screens.capture import (
    CaptureScreen,
    click_wav,
    clock,
    key_name,
    minutes_text,
)
from izer.gui.widgets.patient_banner import PatientBanner
from izer.gui.widgets.preview import PreviewWidget, RecordingLook, SecondView, frame_image
from izer.gui.widgets.thumbnails import ThumbnailStrip
from izer.model import CaptureNotice, NoticeLevel, ProcedureState, Sex

VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
WAIT_MS = 15_000


def _start_procedure(engine) -> None:
    engine.select_unscheduled(
        "Lindqvist^Maja", birth_date="19710905", sex=Sex.FEMALE, description="Gastroscopy"
    )
    engine.start()


def _show(screen: CaptureScreen, qtbot) -> CaptureScreen:
    qtbot.addWidget(screen)
    screen.resize(1280, 860)
    screen.show()
    screen.on_shown()
    return screen


@pytest.fixture
def screen(bridge, qtbot) -> Iterator[CaptureScreen]:
    """The capture screen shown for a procedure in progress, the preview running."""
    _start_procedure(bridge.engine)
    made = _show(CaptureScreen(bridge), qtbot)
    qtbot.waitUntil(lambda: made.preview.painted_frames >= 3, timeout=WAIT_MS)
    yield made
    made.on_hidden()


def _lit_fraction(image: QImage) -> float:
    """The part of a grid of sample points that is not black."""
    lit = total = 0
    for y in range(5, image.height(), max(1, image.height() // 20)):
        for x in range(5, image.width(), max(1, image.width() // 20)):
            colour = image.pixelColor(x, y)
            total += 1
            lit += colour.red() + colour.green() + colour.blue() > 60
    return lit / total


def _stored(engine) -> list:
    procedure = engine.procedure
    return engine.store.instances(procedure.study_uid)


# -- the capture screen -----------------------------------------------------------------------


def test_the_preview_paints_the_camera(screen: CaptureScreen) -> None:
    assert screen.pages.currentWidget() is screen.capture_page
    assert _lit_fraction(screen.preview.grab().toImage()) > 0.6
    assert not screen.tally.isVisible()
    assert screen.counter.text() == "Stills 0"


def test_the_still_button_stores_a_still_with_flash_counter_and_thumbnail(
    screen: CaptureScreen, qtbot
) -> None:
    engine = screen.engine
    qtbot.mouseClick(screen.still_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.counter.text() == "Stills 1", timeout=WAIT_MS)
    assert screen.strip.count() == 1
    assert screen.preview.flashes == 1
    [record] = _stored(engine)
    assert record.path.is_file()
    assert screen.strip.keys() == [record.sop_instance_uid]
    assert screen.strip.kind(record.sop_instance_uid) == "still"
    # The tile shows the frame (not an empty tile).
    tile = screen.strip.tile_pixmap(record.sop_instance_uid).toImage()
    assert _lit_fraction(tile) > 0.5


def test_hotkeys_take_stills_even_when_a_button_has_focus(screen: CaptureScreen, qtbot) -> None:
    screen.record_button.setFocus()
    qtbot.keyClick(screen.record_button, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: screen.counter.text() == "Stills 1", timeout=WAIT_MS)
    # Space takes a still too, and does not press the focused Record button.
    qtbot.keyClick(screen.record_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: screen.counter.text() == "Stills 2", timeout=WAIT_MS)
    assert not screen.engine.capture.is_recording
    assert len(_stored(screen.engine)) == 2


def test_an_auto_repeated_key_is_one_still(screen: CaptureScreen, qtbot) -> None:
    taken: list[object] = []
    screen.bridge.still_taken.connect(taken.append)
    qtbot.keyClick(screen.still_button, Qt.Key.Key_F4)
    held = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_F4, Qt.KeyboardModifier.NoModifier, "", True)
    qtbot.waitUntil(lambda: len(taken) == 1, timeout=WAIT_MS)
    from PyQt6.QtWidgets import QApplication

    QApplication.sendEvent(screen.still_button, held)
    qtbot.wait(300)
    assert len(taken) == 1


def test_record_shows_the_tally_and_stop_stores_a_clip(bridge, qtbot) -> None:
    engine = bridge.engine
    _start_procedure(engine)
    top = QWidget()
    column = QVBoxLayout(top)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(0)
    column.addWidget(PatientBanner(bridge))
    screen = CaptureScreen(bridge)
    column.addWidget(screen, 1)
    qtbot.addWidget(top)
    top.resize(1440, 900)
    top.show()
    screen.on_shown()
    qtbot.waitUntil(lambda: screen.preview.painted_frames >= 3, timeout=WAIT_MS)
    qtbot.mouseClick(screen.still_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.counter.text() == "Stills 1", timeout=WAIT_MS)

    qtbot.mouseClick(screen.record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.tally.isVisible(), timeout=WAIT_MS)
    assert "REC" in screen.tally.text()
    assert screen.record_button.text() == "Stop"
    assert screen.pause_button.isEnabled()
    first = screen.elapsed_s()
    qtbot.waitUntil(lambda: "00:01" in screen.tally.text(), timeout=WAIT_MS)
    assert screen.elapsed_s() > first
    top.grab().save("/tmp/izer-capture.png")

    # Pause (the Return hotkey) turns the tally amber; Return again resumes.
    qtbot.keyClick(screen.still_button, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "PAUSED" in screen.tally.text(), timeout=WAIT_MS)
    assert screen.preview.recording_look is RecordingLook.PAUSED
    qtbot.keyClick(screen.still_button, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "REC" in screen.tally.text(), timeout=WAIT_MS)

    qtbot.mouseClick(screen.record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.clip_counter.text() == "Clips 1", timeout=WAIT_MS)
    assert not screen.tally.isVisible()
    assert screen.record_button.text() == "Record"
    shown = screen.strip.keys()
    clips = [k for k in shown if screen.strip.kind(k) == "clip"]
    assert len(clips) == 1
    assert re.fullmatch(r"Clip 1 · \d\d:\d\d", screen.strip.label(clips[0]))
    videos = [r for r in _stored(engine) if r.sop_class_uid == VIDEO_ENDOSCOPIC]
    assert [v.sop_instance_uid for v in videos] == clips
    assert videos[0].path.is_file()
    screen.on_hidden()


def test_end_study_stops_the_recording_and_goes_to_review(screen: CaptureScreen, qtbot) -> None:
    engine = screen.engine
    screen.toggle_recording()
    qtbot.waitUntil(lambda: screen.tally.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: screen.elapsed_s() > 0.5, timeout=WAIT_MS)
    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigation:
        qtbot.mouseClick(screen.end_button, Qt.MouseButton.LeftButton)
    assert navigation.args == ["review"]
    assert engine.state is ProcedureState.REVIEW
    assert any(r.sop_class_uid == VIDEO_ENDOSCOPIC for r in _stored(engine))
    assert screen.pages.currentWidget() is screen.hint
    # The sources close once nothing captures.
    qtbot.waitUntil(lambda: not engine.capture.channels, timeout=WAIT_MS)


def test_the_escape_hotkey_ends_the_study(screen: CaptureScreen, qtbot) -> None:
    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigation:
        qtbot.keyClick(screen.still_button, Qt.Key.Key_Escape)
    assert navigation.args == ["review"]
    assert screen.engine.state is ProcedureState.REVIEW


def test_in_the_main_window_hotkeys_work_from_any_widget_and_end_shows_review(
    bridge, qtbot
) -> None:
    from izer.gui.main_window import MainWindow
    from izer.gui.screens import Screen

    class Review(Screen):  # the real review screen is tested on its own
        key, title, icon_name = "review", "Review", "review"

    engine = bridge.engine
    _start_procedure(engine)
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    screen = CaptureScreen(bridge)
    window.add_screen(screen)
    window.add_screen(Review(bridge))
    window.resize(1440, 900)
    window.show()
    window.show_screen("capture")
    qtbot.waitUntil(lambda: screen.preview.painted_frames >= 3, timeout=WAIT_MS)
    navigation = window.findChild(QWidget, "nav_capture")
    navigation.setFocus()
    qtbot.keyClick(navigation, Qt.Key.Key_F2)  # record, though the focus is on the navigation
    qtbot.waitUntil(lambda: screen.tally.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: screen.elapsed_s() > 0.3, timeout=WAIT_MS)
    qtbot.keyClick(navigation, Qt.Key.Key_Escape)
    qtbot.waitUntil(
        lambda: window.stack.currentWidget() is window.screens["review"], timeout=WAIT_MS
    )
    assert engine.state is ProcedureState.REVIEW
    assert any(r.sop_class_uid == VIDEO_ENDOSCOPIC for r in _stored(engine))
    # Hidden, the capture screen takes no keys (it would say there is nothing to capture into).
    qtbot.keyClick(navigation, Qt.Key.Key_F1)
    assert "no procedure" not in screen.notice.text()
    assert not screen.still_button.isEnabled()
    window.close()


def test_a_still_never_blocks_the_gui_thread(screen: CaptureScreen, qtbot, monkeypatch) -> None:
    capture = screen.engine.capture
    original = capture.take_still
    threads: list[threading.Thread] = []
    started = threading.Event()
    release = threading.Event()

    def slow_still(*args, **kwargs):
        threads.append(threading.current_thread())
        with screen.engine._lock:  # as while a still is written: the GUI must not wait for it
            started.set()
            release.wait(10)  # a slow disk
        return original(*args, **kwargs)

    monkeypatch.setattr(capture, "take_still", slow_still)
    frames = screen.preview.painted_frames
    qtbot.mouseClick(screen.still_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)
    # While the still is being stored, the preview keeps painting and the clocks keep ticking.
    qtbot.waitUntil(lambda: screen.preview.painted_frames > frames + 3, timeout=WAIT_MS)
    screen._tick()
    assert screen.counter.text() == "Stills 0"
    release.set()
    qtbot.waitUntil(lambda: screen.counter.text() == "Stills 1", timeout=WAIT_MS)
    assert threads and threads[0] is not threading.main_thread()


def test_engine_notices_show_under_the_preview(screen: CaptureScreen, qtbot) -> None:
    notice = CaptureNotice(NoticeLevel.WARNING, "the camera dropped 3 frames", "main")
    worker = threading.Thread(target=screen.engine.events.capture_notice.emit, args=(notice,))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: "dropped 3 frames" in screen.notice.text(), timeout=WAIT_MS)
    assert screen.notice.isVisible()


def test_recorder_options_reopen_the_camera_between_recordings(
    screen: CaptureScreen, qtbot
) -> None:
    capture = screen.engine.capture
    assert screen.recorder_options() == {"prerecord_s": 0.0, "max_clip_s": 0.0}
    screen.toggle_recording()
    qtbot.waitUntil(lambda: screen.tally.isVisible(), timeout=WAIT_MS)
    screen.prerecord_combo.setCurrentIndex(screen.prerecord_combo.findData(2.0))
    qtbot.waitUntil(lambda: "next recording" in screen.notice.text(), timeout=WAIT_MS)
    assert capture.settings.prerecord_s == 0.0  # not while recording
    screen.toggle_recording()
    qtbot.waitUntil(lambda: capture.settings.prerecord_s == 2.0, timeout=WAIT_MS)
    screen.max_clip_combo.setCurrentIndex(screen.max_clip_combo.findData(300.0))
    qtbot.waitUntil(
        lambda: screen.recorder_options() == {"prerecord_s": 2.0, "max_clip_s": 300.0},
        timeout=WAIT_MS,
    )
    qtbot.waitUntil(lambda: bool(capture.channels), timeout=WAIT_MS)
    frames = screen.preview.painted_frames
    qtbot.waitUntil(lambda: screen.preview.painted_frames > frames + 2, timeout=WAIT_MS)


def test_a_second_source_shows_picture_in_picture(bridge, qtbot) -> None:
    engine = bridge.engine
    _start_procedure(engine)
    engine.capture.open({"main": "synthetic", "second": "synthetic"}, width=640, height=360)
    screen = _show(CaptureScreen(bridge), qtbot)
    qtbot.waitUntil(lambda: len(screen.preview.layout_rects()) == 2, timeout=WAIT_MS)
    assert screen.second_combo.isVisibleTo(screen)
    rects = screen.preview.layout_rects()
    assert rects["main"].contains(rects["second"])
    screen.second_combo.setCurrentIndex(screen.second_combo.findData(SecondView.SPLIT))
    rects = screen.preview.layout_rects()
    assert rects["second"].left() > rects["main"].right()
    screen.on_hidden()


def test_captures_made_elsewhere_fill_the_strip_from_the_store(bridge, qtbot) -> None:
    engine = bridge.engine
    _start_procedure(engine)
    pixels = np.full((120, 160, 3), (200, 40, 40), dtype=np.uint8)
    first = engine.capture_still(pixels)
    engine.capture_still(pixels)
    screen = _show(CaptureScreen(bridge), qtbot)
    qtbot.waitUntil(lambda: screen.counter.text() == "Stills 2", timeout=WAIT_MS)
    tile = screen.strip.tile_pixmap(first.sop_instance_uid).toImage()
    assert tile.pixelColor(tile.width() // 2, tile.height() // 3).red() > 150
    # Deleted elsewhere (review): gone from the strip when the screen comes back.
    engine.store.delete_instance(first.sop_instance_uid)
    screen.on_hidden()
    screen.on_shown()
    qtbot.waitUntil(lambda: screen.counter.text() == "Stills 1", timeout=WAIT_MS)
    assert first.sop_instance_uid not in screen.strip
    screen.on_hidden()


def test_without_a_procedure_a_hint_leads_to_the_worklist(bridge, qtbot) -> None:
    screen = _show(CaptureScreen(bridge), qtbot)
    assert screen.pages.currentWidget() is screen.hint
    assert "No procedure" in screen.hint_title.text()
    assert not bridge.engine.capture.channels
    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigation:
        qtbot.mouseClick(screen.primary_button, Qt.MouseButton.LeftButton)
    assert navigation.args == ["worklist"]
    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigation:
        qtbot.keyClick(screen.primary_button, Qt.Key.Key_Return)  # keyboard: Enter does it
    assert navigation.args == ["worklist"]
    # Hotkeys do nothing here (no procedure to capture into).
    qtbot.keyClick(screen.primary_button, Qt.Key.Key_F1)
    assert not bridge.engine.capture.channels
    screen.on_hidden()


def test_a_selected_patient_can_be_started_from_the_hint(bridge, qtbot) -> None:
    engine = bridge.engine
    engine.select_unscheduled("Okafor^Chidi", sex=Sex.MALE)
    screen = _show(CaptureScreen(bridge), qtbot)
    assert screen.primary_button.text() == "Start procedure"
    qtbot.mouseClick(screen.primary_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.capture_page, timeout=WAIT_MS)
    assert engine.state is ProcedureState.IN_PROGRESS
    qtbot.waitUntil(lambda: screen.preview.painted_frames >= 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: screen.procedure_clock.text().startswith("Procedure 00:0"))
    screen.on_hidden()


# -- pieces -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "modifiers", "name"),
    [
        (Qt.Key.Key_F1, Qt.KeyboardModifier.NoModifier, "F1"),
        (Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier, "Return"),
        (Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier, "Enter"),
        (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier, "Esc"),
        (Qt.Key.Key_F2, Qt.KeyboardModifier.ControlModifier, "Ctrl+F2"),
        (Qt.Key.Key_Shift, Qt.KeyboardModifier.ShiftModifier, ""),
    ],
)
def test_key_names_are_those_the_key_map_reads(qapp, key, modifiers, name) -> None:
    assert key_name(QKeyEvent(QEvent.Type.KeyPress, key, modifiers)) == name


def test_hotkey_actions_follow_the_settings(bridge) -> None:
    screen = CaptureScreen(bridge)
    assert screen.action_for("F1") == "still"
    assert screen.action_for("Space") == "still"
    assert screen.action_for("F5") == "record"
    assert screen.action_for("Enter") == "pause"
    assert screen.action_for("Esc") == "end"
    assert screen.action_for("F9") is None
    assert screen.action_for("") is None
    screen.deleteLater()


def test_texts() -> None:
    assert clock(0) == "00:00"
    assert clock(75.9) == "01:15"
    assert clock(3725) == "1:02:05"
    assert minutes_text(None) == "unknown"
    assert minutes_text(87.4) == "87 min"
    assert minutes_text(600) == "10 h"
    wav = click_wav()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"


def test_frames_become_images_without_a_copy(qapp) -> None:
    pixels = np.zeros((90, 160, 3), dtype=np.uint8)
    pixels[..., 1] = 200
    image = frame_image(pixels)
    assert image.width() == 160 and image.height() == 90
    assert int(image.constBits()) == pixels.ctypes.data
    assert frame_image(pixels[:, :, 0]).format() == QImage.Format.Format_Grayscale8
    deep = np.full((10, 10), 4095, dtype=np.uint16)
    assert frame_image(deep, bits_stored=12).pixelColor(1, 1).value() > 250
    with pytest.raises(ValueError, match="RGB, RGBA or grayscale"):
        frame_image(np.zeros((4, 4, 2), dtype=np.uint8))


def test_the_preview_letterboxes_and_insets_the_second_source(qtbot) -> None:
    preview = PreviewWidget()
    qtbot.addWidget(preview)
    preview.resize(400, 200)
    red = np.zeros((100, 100, 3), dtype=np.uint8)
    red[..., 0] = 255
    preview.set_frame(red, number=1)
    assert not preview.set_frame(red, number=1)  # the same frame again: no repaint
    image = preview.grab().toImage()
    assert image.pixelColor(200, 100) == QColor(255, 0, 0)
    assert image.pixelColor(20, 100) == QColor(0, 0, 0)  # pillarbox
    green = np.zeros((90, 160, 3), dtype=np.uint8)
    green[..., 1] = 255
    preview.set_frame(green, channel="second", number=1)
    rects = preview.layout_rects()
    inset = rects["second"]
    assert rects["main"].contains(inset)  # in the main picture's bottom right corner
    assert inset.left() > rects["main"].center().x() and inset.top() > 100
    image = preview.grab().toImage()
    assert image.pixelColor(inset.center()) == QColor(0, 255, 0)
    preview.set_second_view(SecondView.HIDDEN)
    assert "second" not in preview.layout_rects()
    preview.set_recording_look(RecordingLook.RECORDING)
    edge = preview.grab().toImage().pixelColor(1, 100)
    assert edge.red() > 200 and edge.green() < 100
    preview.flash()
    assert preview.flashing and preview.flashes == 1
    qtbot.waitUntil(lambda: not preview.flashing, timeout=2_000)


def test_the_thumbnail_strip_is_generic(qtbot) -> None:
    strip = ThumbnailStrip(empty_text="Nothing scanned")
    qtbot.addWidget(strip)
    strip.resize(800, 160)
    strip.show()
    picture = QImage(QSize(64, 48), QImage.Format.Format_RGB888)
    picture.fill(QColor(0, 0, 255))
    strip.add("a", picture, "Page 1", "page")
    strip.add("b", None, "Clip 1 · 00:12", "clip")
    strip.add("c", picture, "Page 3", "page")
    assert strip.keys() == ["a", "b", "c"]
    assert strip.count("page") == 2 and strip.count("clip") == 1
    strip.add("a", picture, "Page 1 (rotated)", "page")  # replaces in place
    assert strip.keys() == ["a", "b", "c"] and strip.label("a") == "Page 1 (rotated)"
    assert strip.remove("b") and not strip.remove("b")
    strip.select("c")
    assert strip.selected_keys() == ["c"]
    with qtbot.waitSignal(strip.activated, timeout=2_000) as activation:
        strip.view.setFocus()
        qtbot.keyClick(strip.view, Qt.Key.Key_Return)
    assert activation.args == ["c"]
    strip.clear()
    assert strip.keys() == [] and strip.selected_keys() == []


def _recorded_frames(engine) -> int:  # type: ignore[no-untyped-def]
    return sum(status.frames for status in engine.capture.recording_status())


def test_a_second_pause_press_while_the_first_runs_is_kept(bridge, qtbot, monkeypatch) -> None:
    engine = bridge.engine
    _start_procedure(engine)
    screen = CaptureScreen(bridge)
    qtbot.addWidget(screen)
    screen.show()
    screen.on_shown()
    qtbot.waitUntil(lambda: screen.preview.painted_frames >= 3, timeout=WAIT_MS)
    screen.toggle_recording()
    qtbot.waitUntil(lambda: screen.tally.isVisible(), timeout=WAIT_MS)
    # Under load the recorder may not have taken a frame yet: a clip of none is not saved.
    qtbot.waitUntil(lambda: _recorded_frames(engine) > 0, timeout=WAIT_MS)
    release = threading.Event()
    toggles: list[bool] = []
    original = engine.capture.toggle_pause

    def slow_toggle() -> None:
        release.wait(5)  # the first press is still being carried out when the second comes
        toggles.append(True)
        original()

    monkeypatch.setattr(engine.capture, "toggle_pause", slow_toggle)
    screen.toggle_pause()
    screen.toggle_pause()
    release.set()
    qtbot.waitUntil(lambda: len(toggles) == 2 and not screen._pause_busy, timeout=WAIT_MS)
    assert not any(status.paused for status in engine.capture.recording_status())
    resumed_at = _recorded_frames(engine)
    qtbot.waitUntil(lambda: _recorded_frames(engine) > resumed_at, timeout=WAIT_MS)
    screen.toggle_recording()
    qtbot.waitUntil(lambda: screen.strip.count("clip") == 1, timeout=WAIT_MS)
