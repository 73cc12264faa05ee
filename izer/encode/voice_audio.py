"""Basic Voice Audio Waveform (PS3.3 A.34.2): a dictated note or any sound, as G.711 at 8 kHz.

Any audio PyAV can read is decoded, resampled to 8000 Hz 16-bit and companded to 8-bit
mu-law (MB), A-law (AB) or stored as unsigned 8-bit linear (UB), the three Waveform Sample
Interpretations the IOD allows (PS3.3 A.34.2.4). G.711 companding is done here with numpy,
following the ITU-T G.711 segment tables as in the reference C code of Sun Microsystems.
"""

from __future__ import annotations

import enum
from pathlib import Path

import av
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import BasicVoiceAudioWaveformStorage
from pydicom.valuerep import format_number_as_ds

from izer.encode.codes import Code
from izer.encode.context import InstanceContext
from izer.encode.modules import COMMON_TYPE1, COMMON_TYPE2, dicom_datetime, new_instance
from izer.encode.selfcheck import check_instance

#: Sampling Frequency (003A,001A) of every Basic Voice Audio waveform (PS3.3 A.34.2.4).
SAMPLING_FREQUENCY = 8000
MODALITY = "AU"
_LAYOUTS = {1: "mono", 2: "stereo"}
_CHANNEL_LABELS = {1: ("Audio",), 2: ("Left", "Right")}


class SampleEncoding(enum.StrEnum):
    """Waveform Sample Interpretation (5400,1006) allowed in Basic Voice Audio (A.34.2.4)."""

    MU_LAW = "MB"
    A_LAW = "AB"
    UNSIGNED_8 = "UB"


class AudioSource(enum.Enum):
    """Channel Source: PS3.16 CID 3000 Audio Channel Source (all DCM codes, PS3.16 Annex D)."""

    VOICE = Code("109110", "DCM", "Voice")
    OPERATOR_NARRATIVE = Code("109111", "DCM", "Operator's narrative")
    AMBIENT_ROOM_ENVIRONMENT = Code("109112", "DCM", "Ambient room environment")
    DOPPLER_AUDIO = Code("109113", "DCM", "Doppler audio")
    PHONOCARDIOGRAM = Code("109114", "DCM", "Phonocardiogram")
    PHYSIOLOGICAL_AUDIO_SIGNAL = Code("109115", "DCM", "Physiological audio signal")

    @property
    def code(self) -> Code:
        """The source's code."""
        return self.value


def voice_audio(
    source: str | Path,
    context: InstanceContext,
    *,
    encoding: SampleEncoding = SampleEncoding.MU_LAW,
    channels: int = 1,
    max_seconds: float | None = None,
    audio_source: AudioSource = AudioSource.VOICE,
) -> Dataset:
    """Basic Voice Audio Waveform Storage from an audio (or video) file.

    Parameters
    ----------
    source
        Any file with an audio stream PyAV can decode (WAV, MP3, AAC, a video's sound...);
        the first audio stream is used.
    context
        The series must have Modality ``AU`` (PS3.3 A.34.2.4).
    encoding
        Mu-law (default, as telephones in North America and Japan), A-law, or 8-bit linear.
    channels
        1 (mono, the source mixed down) or 2 (stereo).
    max_seconds
        Keep only the first seconds of the recording.
    audio_source
        What the channels carry (CID 3000); a dictation is ``VOICE``.

    Raises
    ------
    ValueError
        Naming the file, when it is missing, empty, not decodable or without sound.
    """
    _check_channels(channels)
    samples = read_audio(source, channels=channels, max_seconds=max_seconds)
    return voice_audio_from_samples(
        samples,
        SAMPLING_FREQUENCY,
        context,
        encoding=encoding,
        max_seconds=max_seconds,
        audio_source=audio_source,
    )


def voice_audio_from_samples(
    samples: np.ndarray,
    rate: int,
    context: InstanceContext,
    *,
    encoding: SampleEncoding = SampleEncoding.MU_LAW,
    max_seconds: float | None = None,
    audio_source: AudioSource = AudioSource.VOICE,
) -> Dataset:
    """Basic Voice Audio Waveform Storage from 16-bit samples.

    Parameters
    ----------
    samples
        int16 array shaped ``(n, channels)`` with 1 or 2 channels (or ``(n,)`` for mono).
    rate
        Their sampling rate in Hz; resampled to 8000 Hz when different.

    Raises
    ------
    ValueError
        When the samples, rate or options do not fit the IOD.
    """
    samples = _as_sample_matrix(samples)
    if rate <= 0:
        raise ValueError(f"the sampling rate must be more than 0 Hz, got {rate}")
    if context.series.modality != MODALITY:
        raise ValueError(
            f"a Basic Voice Audio waveform goes in a series with Modality {MODALITY}, not "
            f"{context.series.modality!r}; make a new series for the recording"
        )
    if rate != SAMPLING_FREQUENCY:
        samples = _resample(samples, rate)
    limit = _sample_limit(max_seconds)
    if limit is not None:
        samples = samples[:limit]
    if len(samples) == 0:
        raise ValueError("the recording has no samples; there is nothing to archive")
    data = compress(samples, encoding)

    ds = new_instance(BasicVoiceAudioWaveformStorage, context)
    ds.AcquisitionDateTime = dicom_datetime(context.acquired)
    ds.WaveformSequence = [_multiplex_group(samples.shape, data, encoding, audio_source)]
    ds.AcquisitionContextSequence = []
    check_instance(
        ds,
        iod="Basic Voice Audio Waveform",
        type1=(
            *COMMON_TYPE1,
            "InstanceNumber",
            "ContentDate",
            "ContentTime",
            "AcquisitionDateTime",
            "WaveformSequence",
        ),
        type2=(*COMMON_TYPE2, "AcquisitionContextSequence"),
    )
    return ds


def read_audio(
    source: str | Path, *, channels: int = 1, max_seconds: float | None = None
) -> np.ndarray:
    """The first audio stream of ``source`` as int16 ``(n, channels)`` samples at 8000 Hz.

    Raises
    ------
    ValueError
        ``"<file>: ..."`` for a missing or empty file, one PyAV cannot read, or one without
        an audio stream.
    """
    _check_channels(channels)
    path = Path(source)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not an audio file")
    if not path.exists():
        raise ValueError(f"{path}: no such file; check the path")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes); record or export it again")
    limit = _sample_limit(max_seconds)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"{path}: has no audio stream; choose a file with sound")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(
                format="s16", layout=_LAYOUTS[channels], rate=SAMPLING_FREQUENCY
            )
            chunks: list[np.ndarray] = []
            count = 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1, channels))
                    count += len(chunks[-1])
                if limit is not None and count >= limit:
                    break
            else:
                chunks.extend(
                    f.to_ndarray().reshape(-1, channels) for f in resampler.resample(None)
                )
    except av.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        if isinstance(exc, OSError):  # permission denied, I/O error...
            raise ValueError(f"{path}: cannot be read ({reason})") from None
        raise ValueError(f"{path}: is not an audio file PyAV can read: {reason}") from None
    samples = np.concatenate(chunks) if chunks else np.zeros((0, channels), np.int16)
    if limit is not None:
        samples = samples[:limit]
    if len(samples) == 0:
        raise ValueError(f"{path}: the audio stream has no samples; record or export it again")
    return samples


def compress(samples: np.ndarray, encoding: SampleEncoding) -> bytes:
    """Interleaved 8-bit Waveform Data (5400,1010) for int16 ``(n, channels)`` samples."""
    pcm = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
    encoding = SampleEncoding(encoding)
    if encoding is SampleEncoding.MU_LAW:
        return mu_law_compress(pcm).tobytes()
    if encoding is SampleEncoding.A_LAW:
        return a_law_compress(pcm).tobytes()
    return ((pcm.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()


def expand(data: bytes, encoding: SampleEncoding, channels: int = 1) -> np.ndarray:
    """Waveform Data back to int16 ``(n, channels)`` samples (the inverse of :func:`compress`)."""
    octets = np.frombuffer(data, dtype=np.uint8)
    encoding = SampleEncoding(encoding)
    if encoding is SampleEncoding.MU_LAW:
        pcm = mu_law_expand(octets)
    elif encoding is SampleEncoding.A_LAW:
        pcm = a_law_expand(octets)
    else:
        pcm = ((octets.astype(np.int32) - 128) << 8).astype(np.int16)
    return pcm.reshape(-1, channels)


#: Upper ends of the eight mu-law segments on the biased 14-bit magnitude (G.711 table 2a).
_MU_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
#: Upper ends of the eight A-law segments on the 13-bit magnitude (G.711 table 1a).
_A_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_MU_BIAS = 0x84
_MU_CLIP = 8159


def mu_law_compress(pcm: np.ndarray) -> np.ndarray:
    """G.711 mu-law octets (as transmitted: all bits inverted) of 16-bit linear samples."""
    value = pcm.astype(np.int32) >> 2
    negative = value < 0
    magnitude = np.minimum(np.where(negative, -value, value), _MU_CLIP) + (_MU_BIAS >> 2)
    segment = np.searchsorted(_MU_SEGMENT_ENDS, magnitude, side="left")
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)


def mu_law_expand(octets: np.ndarray) -> np.ndarray:
    """16-bit linear samples of G.711 mu-law octets."""
    code = ~octets.astype(np.int32) & 0xFF
    value = (((code & 0x0F) << 3) + _MU_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _MU_BIAS - value, value - _MU_BIAS).astype(np.int16)


def a_law_compress(pcm: np.ndarray) -> np.ndarray:
    """G.711 A-law octets (as transmitted: even bits inverted) of 16-bit linear samples."""
    value = pcm.astype(np.int32) >> 3
    positive = value >= 0
    magnitude = np.where(positive, value, -value - 1)
    segment = np.searchsorted(_A_SEGMENT_ENDS, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ np.where(positive, 0xD5, 0x55)).astype(np.uint8)


def a_law_expand(octets: np.ndarray) -> np.ndarray:
    """16-bit linear samples of G.711 A-law octets."""
    code = octets.astype(np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    value = ((code & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    value = value << np.maximum(segment - 1, 0)
    return np.where(code & 0x80, value, -value).astype(np.int16)


def _multiplex_group(
    shape: tuple[int, ...], data: bytes, encoding: SampleEncoding, audio_source: AudioSource
) -> Dataset:
    """The one Waveform Sequence item (PS3.3 C.10.9, A.34.2.4)."""
    count, channels = shape
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = channels
    group.NumberOfWaveformSamples = count
    group.SamplingFrequency = format_number_as_ds(float(SAMPLING_FREQUENCY))
    group.MultiplexGroupLabel = "VOICE" if audio_source is AudioSource.VOICE else "AUDIO"
    group.ChannelDefinitionSequence = [
        _channel(number, label, audio_source)
        for number, label in enumerate(_CHANNEL_LABELS[channels], start=1)
    ]
    group.WaveformBitsAllocated = 8
    group.WaveformSampleInterpretation = SampleEncoding(encoding).value
    group.WaveformData = data + b"\x00" if len(data) % 2 else data
    group["WaveformData"].VR = "OB"
    return group


def _channel(number: int, label: str, audio_source: AudioSource) -> Dataset:
    channel = Dataset()
    channel.WaveformChannelNumber = number
    channel.ChannelLabel = label
    channel.ChannelSourceSequence = [AudioSource(audio_source).code.to_dataset()]
    channel.ChannelTimeSkew = "0"
    channel.WaveformBitsStored = 8
    return channel


def _check_channels(channels: int) -> None:
    if channels not in _LAYOUTS:
        raise ValueError(
            f"Basic Voice Audio has 1 or 2 channels (PS3.3 A.34.2.4), not {channels}; "
            "use channels=1 (mono) or channels=2 (stereo)"
        )


def _sample_limit(max_seconds: float | None) -> int | None:
    if max_seconds is None:
        return None
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be more than 0, got {max_seconds}")
    return max(1, round(max_seconds * SAMPLING_FREQUENCY))


def _as_sample_matrix(samples: np.ndarray) -> np.ndarray:
    array = np.asarray(samples)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or array.shape[1] not in _LAYOUTS:
        raise ValueError(
            f"samples must be shaped (n, 1) or (n, 2) for 1 or 2 channels, got {array.shape}"
        )
    if array.dtype != np.int16:
        raise ValueError(f"samples must be int16 (16-bit linear PCM), got {array.dtype}")
    return array


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Samples resampled to 8000 Hz with FFmpeg's resampler (through PyAV)."""
    channels = samples.shape[1]
    layout = _LAYOUTS[channels]
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout=layout
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLING_FREQUENCY)
    out = [*resampler.resample(frame), *resampler.resample(None)]
    if not out:
        return np.zeros((0, channels), np.int16)
    return np.concatenate([f.to_ndarray().reshape(-1, channels) for f in out])
