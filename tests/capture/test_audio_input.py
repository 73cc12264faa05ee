"""Voice notes: the WAV writing for real, and clear errors without sounddevice or a microphone."""

from __future__ import annotations

import sys
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from izer.capture.audio_input import AudioInput, WavRecording, WavWriter
from izer.capture.base import SourceError, SourceKind


def _tone(frames: int, channels: int, start: int = 0) -> np.ndarray:
    t = np.arange(start, start + frames)[:, np.newaxis]
    phase = t * 2 * np.pi * 440 / 16000 + np.arange(channels)
    return (np.sin(phase) * 12000).astype(np.int16)


def _read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path), "rb") as reader:
        params = reader.getparams()
        data = np.frombuffer(reader.readframes(params.nframes), dtype="<i2")
    return params, data.reshape(-1, params.nchannels)


def test_the_writer_uses_a_temporary_name_until_finished(tmp_path: Path) -> None:
    target = tmp_path / "note.wav"
    writer = WavWriter(target, sample_rate=16000, channels=2)
    blocks = [_tone(1600, 2, start) for start in range(0, 16000, 1600)]
    for block in blocks:
        writer.write(block)
    assert not target.exists()
    assert writer.temp_path.exists() and writer.temp_path.parent == tmp_path
    assert writer.seconds == pytest.approx(1.0)
    assert writer.finish() == target
    assert not writer.temp_path.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["note.wav"]
    params, samples = _read_wav(target)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 16000)
    assert np.array_equal(samples, np.concatenate(blocks))


def test_the_writer_converts_float_and_mono_blocks(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "float.wav", sample_rate=8000, channels=1)
    writer.write(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0], dtype=np.float32))
    _, samples = _read_wav(writer.finish())
    assert samples[:, 0].tolist() == [0, 16384, -16384, 32767, -32767, 32767, -32768]


def test_the_writer_refuses_wrong_blocks_and_existing_files(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "note.wav", sample_rate=16000, channels=1)
    with pytest.raises(ValueError, match=r"\(frames, 1\)"):
        writer.write(_tone(10, 2))
    with pytest.raises(ValueError, match="int16 or float"):
        writer.write(np.zeros((10, 1), dtype=np.int32))
    writer.abort()
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    (tmp_path / "taken.wav").write_bytes(b"")
    with pytest.raises(FileExistsError, match="already exists"):
        WavWriter(tmp_path / "taken.wav", sample_rate=16000, channels=1)
    with pytest.raises(ValueError, match="sample_rate"):
        WavWriter(tmp_path / "x.wav", sample_rate=100, channels=1)


def test_a_recording_takes_blocks_from_another_thread(tmp_path: Path) -> None:
    recording = WavRecording(tmp_path / "voice.wav", sample_rate=16000, channels=1)
    blocks = [_tone(160, 1, start) for start in range(0, 32000, 160)]

    def callback_thread() -> None:  # stands in for the sound system's callback thread
        for block in blocks:
            recording.push(block)

    thread = threading.Thread(target=callback_thread)
    thread.start()
    thread.join()
    assert recording.level == pytest.approx(12000 / 32768, abs=0.01)
    path = recording.finish()
    params, samples = _read_wav(path)
    assert params.nframes == 32000
    assert np.array_equal(samples, np.concatenate(blocks))
    assert sorted(item.name for item in tmp_path.iterdir()) == ["voice.wav"]


def test_an_empty_or_failed_recording_leaves_no_file(tmp_path: Path) -> None:
    empty = WavRecording(tmp_path / "silent.wav", sample_rate=16000, channels=1)
    with pytest.raises(SourceError, match="no sound was recorded"):
        empty.finish()
    broken = WavRecording(tmp_path / "broken.wav", sample_rate=16000, channels=1)
    broken.push(_tone(100, 1))
    broken.push(_tone(100, 3))  # a block in the wrong format fails in the writer thread
    with pytest.raises(SourceError, match="could not be written"):
        broken.finish()
    assert list(tmp_path.iterdir()) == []


def test_without_sounddevice_the_errors_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if it were not installed
    assert not AudioInput.is_available()
    assert "pip install sounddevice" in AudioInput.unavailable_reason()
    assert AudioInput.discover() == []
    with pytest.raises(SourceError, match="sounddevice"):
        AudioInput().start(tmp_path / "note.wav")
    assert list(tmp_path.iterdir()) == []


def _sounddevice_without_inputs() -> bool:
    try:
        import sounddevice
    except (ImportError, OSError):
        return False
    return not any(device["max_input_channels"] > 0 for device in sounddevice.query_devices())


@pytest.mark.skipif(
    not _sounddevice_without_inputs(),
    reason="needs sounddevice (with PortAudio) installed on a machine without an input device",
)
def test_without_an_input_device_the_error_says_so(tmp_path: Path) -> None:
    assert not AudioInput.is_available()
    assert "no microphone" in AudioInput.unavailable_reason()
    assert AudioInput.discover() == []
    audio = AudioInput()
    with pytest.raises(SourceError, match="no microphone"):
        audio.start(tmp_path / "note.wav")
    assert not audio.recording
    with pytest.raises(SourceError, match="no voice note is being recorded"):
        audio.stop()
    assert list(tmp_path.iterdir()) == []


def test_the_settings_are_checked_and_specs_accepted() -> None:
    assert AudioInput("audio:3").device == 3
    assert AudioInput("audio:USB Microphone").device == "USB Microphone"
    assert AudioInput("audio:").device is None
    assert AudioInput.kind is SourceKind.AUDIO
    with pytest.raises(ValueError, match="channels"):
        AudioInput(channels=0)
    with pytest.raises(ValueError, match="block_s"):
        AudioInput(block_s=5)
