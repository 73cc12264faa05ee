"""Basic Voice Audio Waveform: files PyAV writes come back as the same tones; G.711 as FFmpeg's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest

from izer.encode.voice_audio import (
    AudioSource,
    SampleEncoding,
    a_law_compress,
    a_law_expand,
    compress,
    expand,
    mu_law_compress,
    mu_law_expand,
    read_audio,
    voice_audio,
    voice_audio_from_samples,
)
from tests.encode.factories import make_context
from tests.helpers.validators import dciodvfy

RATE = 44100
Codec = Callable[[np.ndarray], np.ndarray]
SECONDS = 1.0


def _tone(frequency: float, rate: int = RATE, seconds: float = SECONDS) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def _write(path: Path, codec: str, samples: np.ndarray, rate: int = RATE) -> Path:
    """Write int16 ``(n, channels)`` samples with PyAV (FFmpeg) in ``codec``."""
    channels = samples.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        for start in range(0, len(samples), 1024):
            chunk = np.ascontiguousarray(samples[start : start + 1024]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _dominant_frequency(samples: np.ndarray, rate: int = 8000) -> float:
    signal = samples.astype(np.float64) - samples.mean()
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


def _save_and_check(ds: pydicom.Dataset, tmp_path: Path) -> pydicom.Dataset:
    path = tmp_path / "audio.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = dciodvfy(path)
    assert result.iod == "BasicVoice", str(result)
    assert result.ok, str(result)
    assert result.warnings == [], str(result)
    return pydicom.dcmread(path)


def _decoded(back: pydicom.Dataset) -> np.ndarray:
    group = back.WaveformSequence[0]
    channels = group.NumberOfWaveformChannels
    size = group.NumberOfWaveformSamples * channels
    encoding = SampleEncoding(group.WaveformSampleInterpretation)
    return expand(bytes(group.WaveformData)[:size], encoding, channels)


@pytest.mark.parametrize(
    ("name", "codec", "encoding"),
    [
        ("dictation.wav", "pcm_s16le", SampleEncoding.MU_LAW),
        ("dictation.mp3", "mp3", SampleEncoding.A_LAW),
        ("dictation.m4a", "aac", SampleEncoding.UNSIGNED_8),
    ],
)
def test_a_tone_file_becomes_a_valid_waveform_with_the_same_pitch(
    tmp_path: Path, name: str, codec: str, encoding: SampleEncoding
) -> None:
    source = _write(tmp_path / name, codec, _tone(1000.0)[:, np.newaxis])
    back = _save_and_check(voice_audio(source, make_context(1, "AU"), encoding=encoding), tmp_path)
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.9.4.1"
    assert back.Modality == "AU"
    assert len(back.WaveformSequence) == 1
    group = back.WaveformSequence[0]
    assert group.WaveformSampleInterpretation == encoding.value
    assert float(group.SamplingFrequency) == 8000
    assert (group.NumberOfWaveformChannels, group.WaveformBitsAllocated) == (1, 8)
    assert group.ChannelDefinitionSequence[0].WaveformBitsStored == 8
    source_code = group.ChannelDefinitionSequence[0].ChannelSourceSequence[0]
    assert (source_code.CodeValue, source_code.CodingSchemeDesignator) == ("109110", "DCM")
    assert abs(group.NumberOfWaveformSamples - 8000) < 400  # codec priming/padding
    assert back.AcquisitionContextSequence == []
    decoded = _decoded(back)
    assert abs(_dominant_frequency(decoded[:, 0]) - 1000.0) <= 10.0


def test_wav_samples_survive_mu_law_closely(tmp_path: Path) -> None:
    source = _write(tmp_path / "tone.wav", "pcm_s16le", _tone(440.0)[:, np.newaxis])
    samples = read_audio(source)
    reference = np.sin(2 * np.pi * 440.0 * np.arange(len(samples)) / 8000)
    back = _save_and_check(voice_audio(source, make_context(1, "AU")), tmp_path)
    decoded = _decoded(back)[:, 0].astype(np.float64)
    assert np.corrcoef(decoded, samples[:, 0])[0, 1] > 0.999
    middle = slice(100, len(decoded) - 100)  # away from the resampler's edges
    assert np.corrcoef(decoded[middle], reference[middle])[0, 1] > 0.95


def test_a_stereo_file_keeps_its_two_channels_apart(tmp_path: Path) -> None:
    stereo = np.stack([_tone(440.0), _tone(1000.0)], axis=1)
    source = _write(tmp_path / "stereo.wav", "pcm_s16le", stereo)
    ds = voice_audio(source, make_context(1, "AU"), channels=2)
    back = _save_and_check(ds, tmp_path)
    group = back.WaveformSequence[0]
    assert group.NumberOfWaveformChannels == 2
    labels = [channel.ChannelLabel for channel in group.ChannelDefinitionSequence]
    assert labels == ["Left", "Right"]
    decoded = _decoded(back)
    assert decoded.shape == (group.NumberOfWaveformSamples, 2)
    assert abs(_dominant_frequency(decoded[:, 0]) - 440.0) <= 4.4
    assert abs(_dominant_frequency(decoded[:, 1]) - 1000.0) <= 10.0


def test_max_seconds_keeps_the_beginning(tmp_path: Path) -> None:
    source = _write(tmp_path / "long.wav", "pcm_s16le", _tone(500.0, seconds=2.0)[:, np.newaxis])
    ds = voice_audio(source, make_context(1, "AU"), max_seconds=0.5)
    assert ds.WaveformSequence[0].NumberOfWaveformSamples == 4000


def test_samples_at_another_rate_are_resampled(tmp_path: Path) -> None:
    samples = _tone(800.0, rate=16000)[:, np.newaxis]
    ds = voice_audio_from_samples(
        samples, 16000, make_context(1, "AU"), audio_source=AudioSource.OPERATOR_NARRATIVE
    )
    back = _save_and_check(ds, tmp_path)
    group = back.WaveformSequence[0]
    assert abs(group.NumberOfWaveformSamples - 8000) <= 16
    assert group.ChannelDefinitionSequence[0].ChannelSourceSequence[0].CodeValue == "109111"
    assert abs(_dominant_frequency(_decoded(back)[:, 0]) - 800.0) <= 8.0


def test_an_odd_number_of_octets_is_padded_to_even_length(tmp_path: Path) -> None:
    samples = _tone(1000.0, rate=8000, seconds=0.125)[:-1, np.newaxis]
    assert len(samples) % 2 == 1
    back = _save_and_check(voice_audio_from_samples(samples, 8000, make_context(1, "AU")), tmp_path)
    group = back.WaveformSequence[0]
    assert group.NumberOfWaveformSamples == len(samples)
    assert len(group.WaveformData) == len(samples) + 1


# --- G.711 ----------------------------------------------------------------------------------


def _ffmpeg_decode(codec: str, octets: bytes) -> np.ndarray:
    context = av.CodecContext.create(codec, "r")
    context.sample_rate = 8000
    context.layout = "mono"
    return np.concatenate([f.to_ndarray()[0] for f in context.decode(av.Packet(octets))])


def _ffmpeg_encode(codec: str, pcm: np.ndarray) -> np.ndarray:
    context = av.CodecContext.create(codec, "w")
    context.sample_rate = 8000
    context.layout = "mono"
    context.format = "s16"
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    packets = [*context.encode(frame), *context.encode(None)]
    return np.frombuffer(b"".join(bytes(p) for p in packets), dtype=np.uint8)


ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_OCTETS = np.arange(256, dtype=np.uint8)


@pytest.mark.parametrize(
    ("codec", "encode", "decode"),
    [("pcm_mulaw", mu_law_compress, mu_law_expand), ("pcm_alaw", a_law_compress, a_law_expand)],
)
def test_g711_matches_ffmpeg(codec: str, encode: Codec, decode: Codec) -> None:
    assert np.array_equal(decode(ALL_OCTETS), _ffmpeg_decode(codec, ALL_OCTETS.tobytes()))
    ours, theirs = encode(ALL_PCM), _ffmpeg_encode(codec, ALL_PCM)
    # FFmpeg rounds at the decision levels where the G.711 reference code truncates: the two
    # may differ there by one step, nowhere else.
    assert np.mean(ours == theirs) > 0.98
    assert np.abs(decode(ours).astype(int) - decode(theirs)).max() <= 1024


@pytest.mark.parametrize(
    "encode,decode", [(mu_law_compress, mu_law_expand), (a_law_compress, a_law_expand)]
)
def test_g711_error_is_under_a_sixteenth_of_the_value(encode: Codec, decode: Codec) -> None:
    error = np.abs(decode(encode(ALL_PCM)).astype(int) - ALL_PCM)
    unclipped = np.abs(ALL_PCM.astype(int)) < 32000
    # Steps double from segment to segment: the error stays under 1/16 of the value, or
    # under 16 (in 16-bit units) near zero.
    assert np.all(error[unclipped] <= np.maximum(16, np.abs(ALL_PCM[unclipped]) / 16))


def test_unsigned_8_bit_centres_silence_on_128() -> None:
    pcm = np.array([[-32768], [0], [32767]], dtype=np.int16)
    data = compress(pcm, SampleEncoding.UNSIGNED_8)
    assert list(data) == [0, 128, 255]
    assert expand(data, SampleEncoding.UNSIGNED_8).tolist() == [[-32768], [0], [32512]]


# --- wrong options --------------------------------------------------------------------------


def test_options_outside_the_iod_are_refused(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.wav", "pcm_s16le", _tone(440.0)[:, np.newaxis])
    with pytest.raises(ValueError, match=r"1 or 2 channels .* not 3"):
        voice_audio(source, make_context(1, "AU"), channels=3)
    with pytest.raises(ValueError, match="Modality AU, not 'OT'"):
        voice_audio(source, make_context(1, "OT"))
    with pytest.raises(ValueError, match="max_seconds must be more than 0"):
        voice_audio(source, make_context(1, "AU"), max_seconds=0)
    with pytest.raises(ValueError, match="must be int16"):
        voice_audio_from_samples(np.zeros((10, 1)), 8000, make_context(1, "AU"))
    with pytest.raises(ValueError, match="no samples"):
        voice_audio_from_samples(np.zeros((0, 1), np.int16), 8000, make_context(1, "AU"))


# --- malformed input ------------------------------------------------------------------------


def test_a_text_file_named_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "note.wav"
    path.write_text("this is a note, not a recording\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"note\.wav: is not an audio file PyAV can read: "):
        voice_audio(path, make_context(1, "AU"))


def test_a_zero_byte_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.wav: the file is empty \(0 bytes\)"):
        voice_audio(path, make_context(1, "AU"))


def test_a_video_without_sound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            picture = np.full((48, 64, 3), index * 40, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    with pytest.raises(ValueError, match=r"silent\.mp4: has no audio stream"):
        voice_audio(path, make_context(1, "AU"))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"gone\.wav: no such file"):
        voice_audio(tmp_path / "gone.wav", make_context(1, "AU"))
