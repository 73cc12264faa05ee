"""Voice notes: record a microphone into a WAV file, through sounddevice (PortAudio).

The sound path is split in three so that all but the device can be tested anywhere:

- :class:`WavWriter` writes 16-bit PCM blocks into a WAV file under a temporary name in the
  target folder and renames it into place when finished (no partial file under the final
  name, ever);
- :class:`WavRecording` puts a writer behind a queue and a thread, so the audio callback
  only hands blocks over and never waits for the disk;
- :class:`AudioInput` opens the sounddevice input stream and feeds a recording.

sounddevice is imported only when used; without it, or without an input device,
:meth:`AudioInput.is_available` is False and :meth:`AudioInput.unavailable_reason` says why.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import uuid
import wave
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from izer.capture.base import DeviceInfo, ProbedAvailability, SourceError, SourceKind

#: Bytes per sample: WAV files are written as 16-bit signed PCM.
SAMPLE_WIDTH = 2


def _check_format(sample_rate: int, channels: int) -> None:
    if not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate must be 8000..192000 Hz, not {sample_rate}")
    if not 1 <= channels <= 8:
        raise ValueError(f"channels must be 1..8, not {channels}")


class WavWriter:
    """A WAV file (16-bit PCM) written block by block under a temporary name.

    The file is ``.<name>.<random>.part`` beside ``path`` while it is written; :meth:`finish`
    completes the header and renames it to ``path``; :meth:`abort` removes it.

    Parameters
    ----------
    path
        Where the finished file goes; must not exist yet.
    sample_rate, channels
        The format of the blocks given to :meth:`write`.
    """

    def __init__(self, path: Path | str, *, sample_rate: int, channels: int) -> None:
        _check_format(sample_rate, channels)
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} already exists: choose a new file name")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"folder {self.path.parent} does not exist")
        self.sample_rate = sample_rate
        self.channels = channels
        self.temp_path = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.part")
        self._handle = self.temp_path.open("xb")
        self._wave = wave.open(self._handle, "wb")  # noqa: SIM115 - closed by finish/abort
        self._wave.setnchannels(channels)
        self._wave.setsampwidth(SAMPLE_WIDTH)
        self._wave.setframerate(sample_rate)
        self._frames = 0
        self._closed = False

    @property
    def frames(self) -> int:
        """Sample frames written so far (one sample per channel each)."""
        return self._frames

    @property
    def seconds(self) -> float:
        """Duration written so far."""
        return self._frames / self.sample_rate

    def write(self, block: np.ndarray) -> None:
        """Append ``(frames, channels)`` samples (or ``(frames,)`` for mono).

        int16 is written as is; float samples in -1..1 are scaled and clipped to 16 bits.
        """
        if self._closed:
            raise ValueError(f"{self.path.name}: the recording is already finished")
        samples = np.asarray(block)
        if samples.ndim == 1:
            samples = samples[:, np.newaxis]
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise ValueError(
                f"a block must be (frames, {self.channels}) samples, not {samples.shape}"
            )
        if samples.dtype.kind == "f":
            samples = np.clip(np.rint(samples * 32767.0), -32768, 32767)
        elif samples.dtype != np.int16:
            raise ValueError(f"blocks must be int16 or float samples, not {samples.dtype}")
        self._wave.writeframesraw(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self._frames += samples.shape[0]

    def finish(self) -> Path:
        """Complete the header, flush to disk, rename into place; return the final path."""
        if self._closed:
            raise ValueError(f"{self.path.name}: the recording is already finished")
        self._closed = True
        try:
            self._wave.close()  # writes the final chunk sizes into the header
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            if self.path.exists():
                raise FileExistsError(f"{self.path} appeared while recording: not replaced")
            os.replace(self.temp_path, self.path)
        except BaseException:
            self._discard()
            raise
        return self.path

    def abort(self) -> None:
        """Stop and remove the temporary file; nothing is left behind."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._wave.close()
        self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            self._handle.close()
        self.temp_path.unlink(missing_ok=True)


class WavRecording:
    """A :class:`WavWriter` fed from a queue by its own thread.

    :meth:`push` is what the audio callback calls: it never blocks and never touches the disk.
    A writing error (disk full) is kept and raised by :meth:`finish`.
    """

    def __init__(self, path: Path | str, *, sample_rate: int, channels: int) -> None:
        self._writer = WavWriter(path, sample_rate=sample_rate, channels=channels)
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._peak = 0.0
        self._thread = threading.Thread(target=self._run, name="izer-voice-note", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        """Where the finished file goes."""
        return self._writer.path

    @property
    def seconds(self) -> float:
        """Duration written to disk so far."""
        return self._writer.seconds

    @property
    def level(self) -> float:
        """Peak of the most recent block, 0..1 (for a level meter)."""
        return self._peak

    def push(self, block: np.ndarray) -> None:
        """Hand over one block of samples (copied); safe from any thread, never blocks."""
        samples = np.array(block, copy=True)
        if samples.size:
            peak = float(np.max(np.abs(samples.astype(np.float32))))
            self._peak = peak / 32768.0 if samples.dtype == np.int16 else min(peak, 1.0)
        self._queue.put(samples)

    def _run(self) -> None:
        while True:
            block = self._queue.get()
            if block is None:
                return
            if self._error is not None:
                continue  # drain; the error is reported by finish()
            try:
                self._writer.write(block)
            except BaseException as exc:
                self._error = exc

    def _drain(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def finish(self) -> Path:
        """Write what is queued, then complete and rename the file.

        Raises
        ------
        SourceError
            When nothing was recorded, or writing failed; no file is left in either case.
        """
        self._drain()
        if self._error is not None:
            self._writer.abort()
            raise SourceError(
                f"the voice note {self.path.name} could not be written: {self._error}"
            ) from self._error
        if self._writer.frames == 0:
            self._writer.abort()
            raise SourceError(
                f"no sound was recorded for {self.path.name}: check that the microphone is "
                "connected and not muted"
            )
        return self._writer.finish()

    def abort(self) -> None:
        """Stop and leave no file."""
        self._drain()
        self._writer.abort()


def _import_sounddevice() -> ModuleType:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        raise SourceError(
            "voice notes need the sounddevice package (pip install sounddevice) and the "
            f"PortAudio library (apt install libportaudio2): {exc}"
        ) from exc
    return sounddevice


def _input_devices(sd: ModuleType) -> list[dict[str, Any]]:
    try:
        devices = sd.query_devices()
    except Exception as exc:
        raise SourceError(f"the sound system could not list devices: {exc}") from exc
    return [dict(device) for device in devices if device.get("max_input_channels", 0) > 0]


class AudioInput(ProbedAvailability):
    """Records voice notes from a microphone into WAV files.

    Parameters
    ----------
    device
        A sounddevice device: its index, (part of) its name, ``audio:`` spec as
        :meth:`discover` lists it, or ``None`` for the system's default input.
    sample_rate
        Samples per second (16 kHz is plenty for speech).
    channels
        1 (mono) for voice notes.
    block_s
        Length of the blocks the sound system delivers.
    """

    kind = SourceKind.AUDIO

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int = 16000,
        channels: int = 1,
        *,
        block_s: float = 0.1,
    ) -> None:
        _check_format(sample_rate, channels)
        if not 0.005 <= block_s <= 1.0:
            raise ValueError(f"block_s must be 0.005..1.0 seconds, not {block_s}")
        if isinstance(device, str):
            device = device.removeprefix("audio:")
            device = int(device) if device.isdigit() else (device or None)
        self.device = device
        self.sample_rate = sample_rate
        self.channels = channels
        self.block_s = block_s
        self._stream: Any = None
        self._recording: WavRecording | None = None
        self._overflows = 0

    @classmethod
    def _probe(cls) -> None:
        """Pass when sounddevice works here and there is at least one input device."""
        if not _input_devices(_import_sounddevice()):
            raise SourceError(
                "no microphone or other audio input device was found: connect one and "
                "check the system's sound settings"
            )

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        """The audio input devices present now; none without sounddevice."""
        try:
            sd = _import_sounddevice()
            devices = _input_devices(sd)
            host_apis = [api.get("name", "") for api in sd.query_hostapis()]
        except SourceError:
            return []
        found = []
        for device in devices:
            api_index = device.get("hostapi", -1)
            api = host_apis[api_index] if 0 <= api_index < len(host_apis) else ""
            found.append(
                DeviceInfo(
                    kind=SourceKind.AUDIO,
                    spec=f"audio:{device['index']}",
                    label=f"{device['name']} ({api})" if api else str(device["name"]),
                    note=(
                        f"{device['max_input_channels']} channel(s), "
                        f"{float(device.get('default_samplerate', 0)):g} Hz"
                    ),
                )
            )
        return found

    @property
    def recording(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._recording is not None

    @property
    def seconds(self) -> float:
        """Duration recorded so far in the current note."""
        return self._recording.seconds if self._recording is not None else 0.0

    @property
    def level(self) -> float:
        """Current input peak level, 0..1."""
        return self._recording.level if self._recording is not None else 0.0

    @property
    def overflows(self) -> int:
        """Blocks the sound system reported as overflowed (sound lost) in this note."""
        return self._overflows

    def start(self, path: Path | str) -> None:
        """Start recording into ``path`` (a new ``.wav`` file, written under a temporary name).

        Raises
        ------
        SourceError
            Without sounddevice, without an input device, or when the device refuses the
            format.
        """
        if self._recording is not None:
            raise SourceError("a voice note is already being recorded: stop it first")
        sd = _import_sounddevice()
        if not _input_devices(sd):
            raise SourceError(self.unavailable_reason())
        try:
            sd.check_input_settings(
                device=self.device,
                channels=self.channels,
                dtype="int16",
                samplerate=self.sample_rate,
            )
        except Exception as exc:
            raise SourceError(
                f"audio input {self.device if self.device is not None else '(default)'} cannot "
                f"record {self.channels} channel(s) at {self.sample_rate} Hz: {exc}"
            ) from exc
        try:
            recording = WavRecording(path, sample_rate=self.sample_rate, channels=self.channels)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot create the voice note file: {exc}") from exc
        self._overflows = 0

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if status and getattr(status, "input_overflow", False):
                self._overflows += 1
            recording.push(indata)

        try:
            stream = sd.InputStream(
                device=self.device,
                samplerate=self.sample_rate,
                channels=self.channels,
                dtype="int16",
                blocksize=max(1, round(self.sample_rate * self.block_s)),
                callback=callback,
            )
            stream.start()
        except Exception as exc:
            recording.abort()
            raise SourceError(f"the audio input could not be started: {exc}") from exc
        self._stream = stream
        self._recording = recording

    def stop(self) -> Path:
        """Stop recording; the finished WAV file is renamed into place and returned.

        Raises
        ------
        SourceError
            When nothing is being recorded, nothing was heard from the device, or writing
            failed (no file is left then).
        """
        recording = self._recording
        if recording is None:
            raise SourceError("no voice note is being recorded")
        self._close_stream()
        self._recording = None
        return recording.finish()

    def cancel(self) -> None:
        """Stop recording and keep nothing."""
        recording = self._recording
        self._close_stream()
        self._recording = None
        if recording is not None:
            recording.abort()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.stop()
            with contextlib.suppress(Exception):
                stream.close()
