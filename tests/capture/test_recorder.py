"""The recorder with the real encoders and real files: frame accounting, segments, DICOM fit."""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from izer.capture.base import Frame, VideoMode
from izer.capture.fmp4 import scan_segment
from izer.capture.recorder import (
    ClipPosition,
    EncoderSettings,
    Gap,
    RecordedClip,
    Recorder,
    RecorderError,
    RecorderEvent,
    RecorderEventKind,
    VideoCodec,
    encoder_plan,
    pending_clips,
)
from izer.capture.synthetic import SyntheticSource, read_frame_number
from izer.encode.video.probe import probe
from izer.encode.video.syntaxes import VideoSyntax, conformance_problems, container_problems

#: The only container difference from what izer encapsulates: the engine remuxes it away.
FRAGMENTED = "the MP4 is fragmented (moof boxes), izer writes one index (moov)"

METADATA = {"PatientID": "REC-0001", "PatientName": "Test^Recorder", "Series": 1}


def decoded_numbers(path: Path) -> list[int]:
    """The synthetic frame numbers of every frame of ``path``, decoded with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return [read_frame_number(f.to_ndarray(format="gray")) for f in container.decode(stream)]


def assert_clock_kept(numbers: list[int], first: int) -> None:
    """Frame ``i`` shows source frame ``first + i``, or repeats the frame before a gap."""
    assert numbers, "no frames"
    assert numbers[0] == first
    for index in range(1, len(numbers)):
        if numbers[index] != numbers[index - 1]:
            assert numbers[index] == first + index, f"frame {index} shows {numbers[index]}"


def clip_numbers(clip: RecordedClip) -> list[int]:
    """The decoded numbers of all segments of a clip, checking each segment on the way."""
    numbers: list[int] = []
    for segment in clip.segments:
        part = decoded_numbers(segment.path)
        assert len(part) == segment.frames
        assert part[0] == segment.first_frame
        numbers += part
    return numbers


def mode(width: int, height: int, fps: int = 30) -> VideoMode:
    return VideoMode(width, height, Fraction(fps), "rgb24")


def submit_range(recorder: Recorder, source: SyntheticSource, numbers: range) -> None:
    for number in numbers:
        recorder.submit(Frame(source.frame(number), number, time.monotonic_ns()))


def record_paced(tmp_path: Path, width: int, height: int, fps: int, seconds: int) -> None:
    """Record a paced synthetic source for ``seconds`` in real time: nothing may be lost.

    The source behaves like a camera: when the feeding thread is late (the machine is busy)
    it skips numbers. The recorder must then repeat frames and journal the gap; every frame
    the source delivered must be in the file once, in order, and the clip must last exactly
    ``seconds``.
    """
    events: list[RecorderEvent] = []
    recorder = Recorder(
        tmp_path / "recordings", mode(width, height, fps), EncoderSettings(), on_event=events.append
    )
    total = fps * seconds
    source = SyntheticSource(width, height, fps, paced=True)
    delivered: list[int] = []

    def feed() -> None:
        source.open()
        while (frame := source.read()) is not None and frame.number < total:
            delivered.append(frame.number)
            recorder.submit(frame)

    recorder.start(METADATA)
    feeder = threading.Thread(target=feed)
    feeder.start()
    feeder.join()
    if delivered[-1] != total - 1:  # the last frames were skipped: deliver the last one
        last = Frame(source.frame(total - 1), total - 1, time.monotonic_ns())
        delivered.append(last.number)
        recorder.submit(last)
    clip = recorder.stop()
    status = recorder.status
    recorder.close()

    assert status.frames_dropped == 0, "the encoder did not keep up"
    assert [e for e in events if e.kind is RecorderEventKind.DROPPED] == []
    skipped = sorted(set(range(total)) - set(delivered))
    print(f"{width}x{height}@{fps}: the source skipped {len(skipped)} of {total} frames")
    assert sum(gap.missing for gap in clip.gaps) == len(skipped)
    assert len(clip.segments) == 1
    segment = clip.segments[0]
    assert segment.frames == total == status.frames_written
    numbers = decoded_numbers(segment.path)
    assert [n for i, n in enumerate(numbers) if i == 0 or n != numbers[i - 1]] == delivered
    assert_clock_kept(numbers, 0)
    info = probe(segment.path)
    assert info.frame_count == total
    assert conformance_problems(info, VideoSyntax.H264_HP41) == []
    assert container_problems(info, VideoSyntax.H264_HP41) == [FRAGMENTED]


@pytest.mark.timeout(240)
def test_records_1080p30_for_a_minute_in_real_time_without_losing_a_frame(tmp_path: Path) -> None:
    record_paced(tmp_path, 1920, 1080, 30, 60)


@pytest.mark.timeout(240)
def test_records_720p60_for_a_minute_in_real_time_without_losing_a_frame(tmp_path: Path) -> None:
    record_paced(tmp_path, 1280, 720, 60, 60)


@pytest.mark.parametrize(
    ("size", "fps", "codec", "level"),
    [
        ((1920, 1080), 30, VideoCodec.H264, "4.1"),
        ((1280, 720), 60, VideoCodec.H264, "4.1"),
        ((1080, 1920), 30, VideoCodec.H264, "4.1"),
        ((1920, 1080), 60, VideoCodec.H264, "4.2"),
        ((3840, 2160), 30, VideoCodec.HEVC, "5.1"),
        ((4096, 2160), 60, VideoCodec.HEVC, "5.1"),
    ],
)
def test_auto_codec_picks_the_smallest_dicom_level_that_holds_the_mode(
    size: tuple[int, int], fps: int, codec: VideoCodec, level: str
) -> None:
    plan = encoder_plan(mode(*size, fps), EncoderSettings())
    assert (plan.codec, plan.level) == (codec, level)
    assert plan.gop == fps
    options = dict(plan.options)
    params = options["x264-params" if codec is VideoCodec.H264 else "x265-params"]
    assert "scenecut=0" in params and "open-gop=0" in params and f"keyint={fps}" in params


@pytest.mark.parametrize(
    ("size", "settings", "words"),
    [
        ((3840, 2160), EncoderSettings(codec="h264"), "Level 4.2"),
        ((7680, 4320), EncoderSettings(), "HEVC Level 5.1"),
        ((641, 480), EncoderSettings(), "even width"),
        ((640, 480), EncoderSettings(preset="ultrafast"), "Constrained Baseline"),
    ],
)
def test_modes_and_settings_dicom_cannot_hold_are_refused(
    size: tuple[int, int], settings: EncoderSettings, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        encoder_plan(mode(*size), settings)


def test_encoder_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="h264 or hevc"):
        EncoderSettings(codec="vp9")
    with pytest.raises(ValueError, match="preset"):
        EncoderSettings(preset="quick")
    with pytest.raises(ValueError, match="crf"):
        EncoderSettings(crf=60)


def test_a_finished_clip_is_conforming_fmp4_with_a_finished_journal(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    events: list[RecorderEvent] = []
    with Recorder(
        tmp_path,
        mode(320, 240),
        EncoderSettings(keyframe_s=0.5),
        queue_s=20,
        on_event=events.append,
    ) as recorder:
        clip_id = recorder.start(METADATA)
        journal = json.loads((tmp_path / clip_id / "clip.json").read_text())
        assert journal["state"] == "unfinished" and journal["metadata"] == METADATA
        submit_range(recorder, source, range(100))
        clip = recorder.stop()
        status = recorder.status
    assert clip.clip_id == clip_id and clip.metadata == METADATA and not clip.recovered
    assert clip.mode == mode(320, 240) and clip.codec == "h264"
    assert [s.path.name for s in clip.segments] == ["segment-0001.mp4"]
    assert clip_numbers(clip) == list(range(100))
    assert clip.segments[0].duration_s == pytest.approx(100 / 30)
    layout = scan_segment(clip.segments[0].path)
    assert layout.is_complete and layout.has_index
    assert [f.samples for f in layout.fragments] == [15] * 6 + [10]  # one fragment a key frame
    info = probe(clip.segments[0].path)
    assert info.sample_aspect_ratio == 1 and info.constant_frame_rate
    assert (info.sample_entry, info.moov_first) == ("avc1", True)
    journal = json.loads((tmp_path / clip_id / "clip.json").read_text())
    assert journal["state"] == "finished"
    assert journal["segments"][0]["frames"] == 100
    assert journal["encoder"]["profile"] == "High" and journal["encoder"]["level"] == "4.1"
    assert status.frames_written == status.frames_on_disk == 100
    assert status.bytes_written == clip.segments[0].path.stat().st_size
    assert [e.kind for e in events] == [RecorderEventKind.SEGMENT, RecorderEventKind.FINISHED]
    assert pending_clips(tmp_path) == [clip]
    assert sorted(p.name for p in (tmp_path / clip_id).iterdir()) == [
        "clip.json",
        "segment-0001.mp4",
    ]


def test_1080p60_is_written_at_h264_level_4_2(tmp_path: Path) -> None:
    source = SyntheticSource(1920, 1080, 60, paced=False)
    with Recorder(tmp_path, mode(1920, 1080, 60), EncoderSettings()) as recorder:
        recorder.start(METADATA)
        submit_range(recorder, source, range(12))
        clip = recorder.stop()
    info = probe(clip.segments[0].path)
    assert info.level == 42
    assert conformance_problems(info, VideoSyntax.H264_HP42_2D) == []
    assert conformance_problems(info, VideoSyntax.H264_HP41) != []


def test_hevc_clips_are_main_profile_with_an_hvc1_sample_entry(tmp_path: Path) -> None:
    source = SyntheticSource(640, 360, 30, paced=False)
    settings = EncoderSettings(codec="hevc", preset="ultrafast", crf=24)
    with Recorder(tmp_path, mode(640, 360), settings) as recorder:
        recorder.start(METADATA)
        submit_range(recorder, source, range(45))
        clip = recorder.stop()
    assert clip.codec == "hevc"
    assert clip_numbers(clip) == list(range(45))
    info = probe(clip.segments[0].path)
    assert conformance_problems(info, VideoSyntax.HEVC_MAIN) == []
    assert container_problems(info, VideoSyntax.HEVC_MAIN) == [FRAGMENTED]


def test_prerecord_starts_the_clip_two_seconds_before_start(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    with Recorder(
        tmp_path, mode(320, 240), EncoderSettings(), prerecord_s=2.0, queue_s=20
    ) as recorder:
        submit_range(recorder, source, range(150))  # 5 s before start()
        recorder.start(METADATA)
        submit_range(recorder, source, range(150, 210))
        clip = recorder.stop()
        assert recorder.clip_position(89) is None
        assert recorder.clip_position(90) == ClipPosition(0, 0, 0.0)
        assert recorder.clip_position(150) == ClipPosition(0, 60, 2.0)
    # start() came after frame 149: the clip begins at the key frame 2 s (60 frames) earlier
    assert clip.segments[0].first_frame == 90
    assert clip_numbers(clip) == list(range(90, 210))


def test_prerecord_starts_at_the_key_frame_at_least_prerecord_s_back(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    with Recorder(
        tmp_path, mode(320, 240), EncoderSettings(), prerecord_s=2.0, queue_s=20
    ) as recorder:
        submit_range(recorder, source, range(140))
        recorder.start(METADATA)  # 60 frames back is 80: the key frame before it is 60
        submit_range(recorder, source, range(140, 170))
        first = recorder.stop()
        submit_range(recorder, source, range(170, 200))  # 1 s only before the next start()
        recorder.start(METADATA)
        submit_range(recorder, source, range(200, 230))
        second = recorder.stop()
    assert clip_numbers(first) == list(range(60, 170))
    assert clip_numbers(second) == list(range(170, 230))


def test_pause_leaves_out_frames_and_keeps_the_time_line_contiguous(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    with Recorder(tmp_path, mode(320, 240), EncoderSettings(), queue_s=20) as recorder:
        recorder.start(METADATA)
        submit_range(recorder, source, range(60))
        recorder.pause()
        assert recorder.status.paused
        submit_range(recorder, source, range(60, 90))
        recorder.resume()
        submit_range(recorder, source, range(90, 150))
        assert recorder.clip_position(70) is None
        assert recorder.clip_position(90) == ClipPosition(0, 60, 2.0)
        clip = recorder.stop()
    assert clip.gaps == ()
    assert clip_numbers(clip) == [*range(60), *range(90, 150)]
    with av.open(str(clip.segments[0].path)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    steps = np.diff(times)
    assert np.allclose(steps, 1 / 30), "the time line has a hole"


def test_max_clip_s_splits_into_segments_with_contiguous_frames(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    events: list[RecorderEvent] = []
    with Recorder(
        tmp_path,
        mode(320, 240),
        EncoderSettings(keyframe_s=0.5),
        max_clip_s=1.0,
        queue_s=20,
        on_event=events.append,
    ) as recorder:
        recorder.start(METADATA)
        submit_range(recorder, source, range(100))
        assert recorder.clip_position(45) == ClipPosition(1, 15, 1.5)
        clip = recorder.stop()
    assert [s.frames for s in clip.segments] == [30, 30, 30, 10]
    assert [s.first_frame for s in clip.segments] == [0, 30, 60, 90]
    assert clip_numbers(clip) == list(range(100))
    assert sum(e.kind is RecorderEventKind.SEGMENT for e in events) == 4
    for segment in clip.segments:
        info = probe(segment.path)
        assert info.frame_count == segment.frames
        assert conformance_problems(info, VideoSyntax.H264_HP41) == []


def test_max_segment_bytes_splits_at_key_frames(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, size=(8, 200, 320, 3), dtype=np.uint8)
    with Recorder(
        tmp_path, mode(320, 240), EncoderSettings(), max_segment_bytes=1_000_000, queue_s=20
    ) as recorder:
        recorder.start(METADATA)
        for number in range(150):
            pixels = source.frame(number)
            pixels[40:] = noise[number % 8]  # hard to compress, counter rows kept
            recorder.submit(Frame(pixels, number, time.monotonic_ns()))
        clip = recorder.stop()
    assert len(clip.segments) >= 2
    assert all(s.frames % 30 == 0 for s in clip.segments[:-1])  # split at key frames
    assert clip_numbers(clip) == list(range(150))
    for segment in clip.segments[:-1]:
        assert segment.path.stat().st_size < 2_000_000


def test_a_full_queue_counts_drops_emits_events_and_keeps_the_clock(tmp_path: Path) -> None:
    source = SyntheticSource(640, 360, 30, paced=False)
    frames = [source.frame(n) for n in range(200)]
    events: list[RecorderEvent] = []
    with Recorder(
        tmp_path, mode(640, 360), EncoderSettings(), queue_s=0.05, on_event=events.append
    ) as recorder:
        recorder.start(METADATA)
        for number, pixels in enumerate(frames):  # far faster than real time
            recorder.submit(Frame(pixels, number, time.monotonic_ns()))
            if number % 4 == 0:
                time.sleep(0.002)
        clip = recorder.stop()
        status = recorder.status
    dropped = [e for e in events if e.kind is RecorderEventKind.DROPPED]
    assert status.frames_dropped > 0
    assert len(dropped) == status.frames_dropped == clip.frames_dropped
    assert all(e.clip_id == clip.clip_id and "not recorded" in e.message for e in dropped)
    # every dropped frame was replaced by a repeat: the clip still lasts 200 frames
    assert sum(g.missing for g in clip.gaps) == status.frames_dropped
    assert sum(e.kind is RecorderEventKind.GAP for e in events) == len(clip.gaps)
    numbers = clip_numbers(clip)
    assert len(numbers) == 200 == status.frames_written
    assert_clock_kept(numbers, 0)
    assert len(set(numbers)) == 200 - status.frames_dropped


def test_skipped_source_numbers_are_recorded_as_gaps_and_repeated(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    events: list[RecorderEvent] = []
    with Recorder(
        tmp_path, mode(320, 240), EncoderSettings(), queue_s=20, on_event=events.append
    ) as recorder:
        clip_id = recorder.start(METADATA)
        submit_range(recorder, source, range(10))
        submit_range(recorder, source, range(15, 45))
        assert recorder.clip_position(12) is None
        assert recorder.clip_position(15) == ClipPosition(0, 15, 0.5)
        assert recorder.status.gaps == 1
        clip = recorder.stop()
    assert clip.gaps == (Gap(after_frame=9, missing=5),)
    gap_events = [e for e in events if e.kind is RecorderEventKind.GAP]
    assert [(e.frame_number, e.count) for e in gap_events] == [(9, 5)]
    assert clip_numbers(clip) == [*range(10), 9, 9, 9, 9, 9, *range(15, 45)]
    journal = json.loads((tmp_path / clip_id / "clip.json").read_text())
    assert journal["gaps"] == [{"after_frame": 9, "missing": 5}]


def test_frames_of_another_size_are_dropped_with_an_event(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    other = SyntheticSource(640, 480, 30, paced=False)
    events: list[RecorderEvent] = []
    with Recorder(
        tmp_path, mode(320, 240), EncoderSettings(), queue_s=20, on_event=events.append
    ) as recorder:
        recorder.start(METADATA)
        submit_range(recorder, source, range(5))
        recorder.submit(Frame(other.frame(5), 5, time.monotonic_ns()))
        submit_range(recorder, source, range(6, 10))
        clip = recorder.stop()
    dropped = [e for e in events if e.kind is RecorderEventKind.DROPPED]
    assert len(dropped) == 1 and "640x480" in dropped[0].message
    assert clip.frames_dropped == 1
    assert clip_numbers(clip) == [0, 1, 2, 3, 4, 4, 6, 7, 8, 9]


def test_grayscale_frames_are_recorded_at_their_depth(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    with Recorder(tmp_path, mode(320, 240), EncoderSettings(), queue_s=20) as recorder:
        recorder.start(METADATA)
        for number in range(20):
            grey = source.frame(number).mean(axis=2).astype(np.uint16) << 4  # 12 bits
            recorder.submit(Frame(grey, number, time.monotonic_ns(), bits_stored=12))
        clip = recorder.stop()
    assert clip_numbers(clip) == list(range(20))


def test_start_and_stop_refuse_what_cannot_be_done(tmp_path: Path) -> None:
    with Recorder(tmp_path, mode(320, 240), EncoderSettings()) as recorder:
        with pytest.raises(RecorderError, match="call start"):
            recorder.stop()
        recorder.start(METADATA)
        with pytest.raises(RecorderError, match="stop\\(\\) it"):
            recorder.start(METADATA)
        with pytest.raises(ValueError, match="PatientAge"):
            recorder.start({"PatientAge": None})  # type: ignore[dict-item]
        clip = recorder.stop()
    assert clip.segments == ()  # no frame came: nothing to make an instance of
    with pytest.raises(RecorderError, match="closed"):
        recorder.start(METADATA)


def test_frames_are_ignored_when_neither_recording_nor_prerecording(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    with Recorder(tmp_path, mode(320, 240), EncoderSettings(), queue_s=20) as recorder:
        submit_range(recorder, source, range(30))
        assert recorder.status.queued == 0
        recorder.start(METADATA)
        submit_range(recorder, source, range(30, 60))
        clip = recorder.stop()
        submit_range(recorder, source, range(60, 90))
    assert clip_numbers(clip) == list(range(30, 60))
    assert clip.gaps == ()


def test_close_finishes_a_clip_still_recording(tmp_path: Path) -> None:
    source = SyntheticSource(320, 240, 30, paced=False)
    recorder = Recorder(tmp_path, mode(320, 240), EncoderSettings(), queue_s=20)
    clip_id = recorder.start(METADATA)
    submit_range(recorder, source, range(40))
    recorder.close()
    recorder.close()
    journal = json.loads((tmp_path / clip_id / "clip.json").read_text())
    assert journal["state"] == "finished"
    assert journal["segments"][0]["frames"] == 40


def test_a_write_failure_is_reported_and_stop_returns_what_was_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from izer.capture import recorder as module

    original = module._SegmentWriter.write

    def failing_write(self: module._SegmentWriter, packet: av.Packet) -> bool:
        if self.frames >= 40:
            raise OSError(28, "No space left on device")
        return original(self, packet)

    monkeypatch.setattr(module._SegmentWriter, "write", failing_write)
    source = SyntheticSource(320, 240, 30, paced=False)
    events: list[RecorderEvent] = []
    with Recorder(
        tmp_path,
        mode(320, 240),
        EncoderSettings(keyframe_s=0.5),
        queue_s=20,
        on_event=events.append,
    ) as recorder:
        recorder.start(METADATA)
        submit_range(recorder, source, range(90))
        clip = recorder.stop()
        assert "No space left" in (recorder.status.error or "")
        monkeypatch.setattr(module._SegmentWriter, "write", original)
        recorder.start(METADATA)  # the next clip records again
        submit_range(recorder, source, range(90, 120))
        again = recorder.stop()
    errors = [e for e in events if e.kind is RecorderEventKind.ERROR]
    assert len(errors) == 1 and "will be recovered" in errors[0].message
    assert clip.recovered
    assert [s.frames for s in clip.segments] == [30]  # the fragments on disk before the failure
    assert clip_numbers(clip) == list(range(30))
    assert clip_numbers(again) == list(range(90, 120))
