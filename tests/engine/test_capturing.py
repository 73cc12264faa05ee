"""Live capture through the engine: stills on screen, clips remuxed, splits, recovery, guard.

Everything runs for real: the paced synthetic camera, the PyAV recorder writing fragmented
MP4, the video encoder remuxing it into DICOM, and dicom3tools checking the result. The frame
number drawn into every synthetic frame tells which frame ended up where.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest

from izer.capture import Action, SourceError, SyntheticSource, read_frame_number
from izer.config import Settings
from izer.engine import Engine
from izer.model import ClipSaved, NoticeLevel, Patient, ProcedureState, Sex, StillTaken
from izer.store import StudyStore
from tests.helpers.validators import dciodvfy

PATIENT = Patient("CAP-0001", "Capture^Test", "19800101", Sex.FEMALE)
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"


def _with_capture(settings: Settings, **changes: object) -> Settings:
    capture = dataclasses.replace(settings.capture, width=640, height=480, **changes)
    return dataclasses.replace(settings, capture=capture)


@pytest.fixture
def capture_engine(settings: Settings) -> Engine:
    with Engine.open(_with_capture(settings)) as engine:
        engine.select_patient(PATIENT, accession_number="CAP-ACC-1")
        engine.start()
        yield engine


def _video_numbers(path: Path) -> list[int]:
    """The frame numbers drawn into every frame of a video instance, decoded by PyAV."""
    from izer.encode.video import extracted_stream

    with extracted_stream(path) as (stream, _), av.open(str(stream)) as container:
        return [
            read_frame_number(frame.to_ndarray(format="rgb24"))
            for frame in container.decode(video=0)
        ]


def _assert_timeline(numbers: list[int], gaps: int) -> None:
    """Frames in order, each once; where the source skipped frames (a loaded machine makes
    even the synthetic camera late), the recorder repeats the previous one to keep time."""
    if gaps == 0:
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    else:
        assert numbers == sorted(numbers)
        assert len(numbers) == numbers[-1] - numbers[0] + 1  # repeats fill the skipped slots


def _wait_for_frames(engine: Engine, count: int = 3) -> None:
    deadline = time.monotonic() + 10
    while (frame := engine.capture.preview()) is None or frame.number < count:
        assert time.monotonic() < deadline, "the synthetic source delivered no frames"
        time.sleep(0.01)


def test_stills_during_recording_are_the_frames_on_screen_and_point_into_the_clip(
    capture_engine: Engine,
) -> None:
    engine = capture_engine
    taken: list[StillTaken] = []
    engine.events.still_taken.connect(taken.append)
    engine.capture.open({"main": "synthetic"})
    _wait_for_frames(engine)
    engine.capture.start_recording()
    rng = random.Random(20261123)
    checks = []
    for _ in range(20):
        time.sleep(rng.uniform(0.02, 0.15))
        trigger_ns = time.monotonic_ns()
        on_screen = engine.capture.preview().number
        still = engine.capture.take_still("main", trigger_ns)
        checks.append((on_screen, still))
    (clip,) = engine.capture.stop_recording()

    assert taken == [still for _, still in checks]
    (video,) = clip.records
    numbers = _video_numbers(video.path)
    _assert_timeline(numbers, clip.gaps)
    for count, (on_screen, still) in enumerate(checks, start=1):
        stored = pydicom.dcmread(still.record.path)
        drawn = read_frame_number(stored.pixel_array)
        assert abs(drawn - on_screen) <= 1, (drawn, on_screen)
        assert still.count == count and stored.SOPClassUID == VL_ENDOSCOPIC
        (reference,) = stored.ReferencedImageSequence
        assert reference.ReferencedSOPInstanceUID == video.sop_instance_uid
        # the referenced frame of the clip is the very frame the still shows
        assert numbers[reference.ReferencedFrameNumber - 1] == drawn
        assert still.clip_time_s is not None
    result = dciodvfy(checks[0][1].record.path)
    assert result.errors == [], str(result)


def test_a_clip_becomes_one_conformant_video_instance_with_every_frame(
    capture_engine: Engine,
) -> None:
    engine = capture_engine
    saved: list[ClipSaved] = []
    engine.events.clip_saved.connect(saved.append)
    engine.capture.open({"main": "synthetic"})
    _wait_for_frames(engine)
    engine.capture.start_recording()
    assert engine.capture.is_recording
    time.sleep(2.5)
    status = engine.capture.recording_status()[0]
    assert status.recording and status.frames > 0
    (clip,) = engine.capture.stop_recording()

    assert saved == [clip] and clip.dropped == 0
    (record,) = clip.records
    ds = pydicom.dcmread(record.path, stop_before_pixels=True)
    assert ds.SOPClassUID == VIDEO_ENDOSCOPIC
    assert ds.PatientID == PATIENT.patient_id and ds.AccessionNumber == "CAP-ACC-1"
    assert ds.StudyInstanceUID == engine.procedure.study_uid
    numbers = _video_numbers(record.path)
    assert int(ds.NumberOfFrames) == len(numbers) == clip.frames
    _assert_timeline(numbers, clip.gaps)
    result = dciodvfy(record.path)
    assert result.errors == [], str(result)
    assert not any(engine.store.folder.joinpath("recordings").rglob("*.mp4"))


def test_a_long_clip_is_split_into_instances_of_one_series(settings: Settings) -> None:
    with Engine.open(_with_capture(settings, max_clip_s=1.0)) as engine:
        engine.select_patient(PATIENT)
        engine.start()
        engine.capture.open({"main": "synthetic"})
        _wait_for_frames(engine)
        engine.capture.start_recording()
        time.sleep(2.6)
        (clip,) = engine.capture.stop_recording()

    assert len(clip.records) >= 2
    headers = [pydicom.dcmread(r.path, stop_before_pixels=True) for r in clip.records]
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert [int(h.InstanceNumber) for h in headers] == list(range(1, len(headers) + 1))
    numbers = [n for record in clip.records for n in _video_numbers(record.path)]
    _assert_timeline(numbers, clip.gaps)


def test_two_sources_record_at_once_each_into_its_own_series(capture_engine: Engine) -> None:
    engine = capture_engine
    engine.capture.open(
        {
            "main": SyntheticSource(640, 480, 30),
            "second": SyntheticSource(320, 240, 25),
        }
    )
    _wait_for_frames(engine)
    engine.capture.start_recording()
    time.sleep(1.5)
    clips = engine.capture.stop_recording()

    assert sorted(c.channel for c in clips) == ["main", "second"]
    series = {c.channel: pydicom.dcmread(c.records[0].path, stop_before_pixels=True) for c in clips}
    assert series["main"].SeriesInstanceUID != series["second"].SeriesInstanceUID
    assert (series["second"].Rows, series["second"].Columns) == (240, 320)


def test_recording_refuses_to_start_on_a_full_disk_and_says_why(settings: Settings) -> None:
    with Engine.open(_with_capture(settings, min_free_mb=10**9)) as engine:
        engine.select_patient(PATIENT)
        engine.start()
        engine.capture.open({"main": "synthetic"})
        with pytest.raises(OSError, match=r"recording not started: only .* free"):
            engine.capture.start_recording()
        assert not engine.capture.is_recording


def test_a_trigger_without_a_capturing_procedure_is_a_notice_not_a_crash(
    engine: Engine,
) -> None:
    notices = []
    engine.events.capture_notice.connect(notices.append)
    engine.capture.open({"main": "synthetic"})
    _wait_for_frames(engine, 1)

    assert engine.capture.trigger(Action.STILL) is None
    assert notices and notices[0].level is NoticeLevel.ERROR
    assert "still" in notices[0].message
    assert engine.store.instances() == []


def test_review_saves_a_running_recording(capture_engine: Engine) -> None:
    engine = capture_engine
    engine.capture.open({"main": "synthetic"})
    _wait_for_frames(engine)
    engine.capture.start_recording()
    time.sleep(1.0)
    engine.review()

    assert not engine.capture.is_recording
    kinds = [r.sop_class_uid for r in engine.store.instances(engine.procedure.study_uid)]
    assert kinds == [VIDEO_ENDOSCOPIC]


def test_a_recording_killed_with_sigkill_is_recovered_at_the_next_start(
    settings_path: Path, settings: Settings, tmp_path: Path
) -> None:
    """``izer capture`` is killed mid-clip; the next engine turns the segment into an instance."""
    environment = {**os.environ, "IZER_CONFIG": str(settings_path)}
    command = [
        sys.executable,
        "-m",
        "izer",
        "capture",
        "--source",
        "synthetic",
        "--size",
        "640x480",
        "--clip",
        "60",
        "--patient-name",
        "Killed^Recording",
        "--patient-id",
        "KILL-0001",
    ]
    child = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:  # wait until a few seconds are on disk
            if "REC main" in line and float(line.split()[2]) >= 3.0:
                break
        else:
            pytest.fail(f"izer capture ended early (exit {child.wait()})")
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()

    with Engine.open(settings) as engine:
        (clip,) = engine.capture.recover()
        assert clip.recovered
        records = clip.records
        numbers = [n for record in records for n in _video_numbers(record.path)]
        assert len(numbers) >= 2 * 30  # at least the complete fragments of 3 s
        _assert_timeline(numbers, clip.gaps)
        for record in records:
            header = pydicom.dcmread(record.path, stop_before_pixels=True)
            assert header.PatientID == "KILL-0001"
        assert engine.capture.recover() == []  # nothing left to recover
        recordings = engine.store.folder / "recordings"
        assert [p for p in recordings.rglob("*") if p.is_file()] == []


def test_still_of_a_deep_grayscale_frame_keeps_its_depth(capture_engine: Engine) -> None:
    pixels = (np.arange(480 * 640, dtype=np.uint32) % 4096).astype(np.uint16).reshape(480, 640)
    record = capture_engine.capture.store_still(pixels, bits_stored=12)

    ds = pydicom.dcmread(record.path)
    assert ds.BitsStored == 12 and ds.Modality == "OT"
    assert np.array_equal(ds.pixel_array, pixels)


def test_store_is_unchanged_when_no_procedure_runs(tmp_path: Path, settings: Settings) -> None:
    with StudyStore(tmp_path / "other") as store, Engine(settings, store) as engine:
        with pytest.raises(SourceError, match="no source is open"):
            engine.capture.take_still("main")
        assert store.instances() == []


def test_hotkeys_and_pedal_keys_drive_capture(capture_engine: Engine) -> None:
    engine = capture_engine
    engine.capture.open({"main": "synthetic"})
    _wait_for_frames(engine)
    taken: list[StillTaken] = []
    engine.events.still_taken.connect(taken.append)

    assert engine.capture.handle_key("F1") is Action.STILL
    assert engine.capture.handle_key("f2") is Action.RECORD  # names are case-insensitive
    assert engine.capture.is_recording
    assert engine.capture.handle_key("Enter") is Action.PAUSE  # Enter is an alias of Return
    assert engine.capture.recording_status()[0].paused
    assert engine.capture.handle_key("Return") is Action.PAUSE
    assert engine.capture.handle_key("x") is None
    assert engine.capture.handle_key("F5") is Action.RECORD
    assert not engine.capture.is_recording
    assert engine.capture.handle_key("Esc") is Action.END
    assert engine.state is ProcedureState.REVIEW
    assert len(taken) == 1


def test_a_foot_switch_on_a_serial_port_takes_stills(settings: Settings) -> None:
    controller, device = os.openpty()
    try:
        changed = _with_capture(settings, serial_port=os.ttyname(device), serial_line="data")
        with Engine.open(changed) as engine:
            engine.select_patient(PATIENT)
            engine.start()
            taken: list[StillTaken] = []
            engine.events.still_taken.connect(taken.append)
            engine.capture.open({"main": "synthetic"})
            _wait_for_frames(engine)
            os.write(controller, b"x")
            deadline = time.monotonic() + 10
            while not taken and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(taken) == 1
    finally:
        os.close(controller)
        os.close(device)
