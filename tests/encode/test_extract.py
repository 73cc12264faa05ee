"""DICOM back to ordinary files: video as stored or remuxed, stills, PDF and sound."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_buffer, generate_frames
from pydicom.uid import UID, VideoEndoscopicImageStorage

from izer.encode import (
    TransferSyntax,
    encapsulated_pdf,
    multiframe_secondary_capture,
    secondary_capture_image,
    voice_audio_from_samples,
)
from izer.encode.extract import (
    ExportKind,
    NotDicomError,
    Output,
    StillFormat,
    display_gray_8bit,
    outputs,
    read_instance,
    stored_gray_png,
    window,
)
from izer.encode.fragments import fragment_ranges
from izer.encode.modules import new_instance
from izer.encode.presentation_state import TextAnnotation, presentation_state
from izer.encode.voice_audio import SampleEncoding, expand
from tests.encode.factories import make_context, smooth_image
from tests.helpers.binaries import require_binaries

H264 = "1.2.840.10008.1.2.4.102"
H264_FRAGMENTABLE = "1.2.840.10008.1.2.4.102.1"
HEVC = "1.2.840.10008.1.2.4.107"
MPEG2 = "1.2.840.10008.1.2.4.100"

#: ffmpeg arguments of each test clip (small and short: the suite must stay fast).
CLIPS: dict[str, list[str]] = {
    "h264.mp4": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30000/1001",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", "1", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart",
    ],
    "hevc.mp4": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "1",
        "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
        "-tag:v", "hvc1", "-movflags", "+faststart",
    ],
    "mpeg2.mpg": [
        "-f", "lavfi", "-i", "testsrc2=size=352x288:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", "1", "-c:v", "mpeg2video", "-b:v", "2M", "-c:a", "mp2", "-f", "mpeg",
    ],
    "mpeg2.m2v": [
        "-f", "lavfi", "-i", "testsrc2=size=352x288:rate=25", "-t", "1",
        "-c:v", "mpeg2video", "-b:v", "2M", "-f", "mpeg2video",
    ],
    "h264.ts": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "1",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-f", "mpegts",
    ],
}  # fmt: skip


# -- helpers (also used by tests/cli/test_export.py) -----------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test clips, made once per module with ffmpeg."""
    binaries = require_binaries("ffmpeg", "ffprobe")
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for name, arguments in CLIPS.items():
        path = folder / name
        subprocess.run(
            [str(binaries["ffmpeg"]), "-v", "error", "-y", *arguments, str(path)], check=True
        )
        made[name] = path
    return made


def video_instance(
    stream: Path | bytes,
    path: Path,
    transfer_syntax: str = H264,
    *,
    fragment_bytes: int | None = None,
    patient_name: str | None = None,
) -> Path:
    """A Video Endoscopic instance holding ``stream`` as it is (built by hand).

    One fragment, or fragments of ``fragment_bytes``; a stream given as a path is streamed
    (``encapsulate_buffer``), never read into memory.
    """
    context = make_context(1, "ES")
    ds = new_instance(VideoEndoscopicImageStorage, context)
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    if patient_name is not None:
        ds.PatientName = patient_name
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = 240, 320
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = 25
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = "40"
    ds.LossyImageCompression = "01"
    if isinstance(stream, Path) and fragment_bytes is None:
        handle = open(stream, "rb")  # noqa: SIM115 (closed below, after writing)
        value = encapsulate_buffer([handle], has_bot=False)
    else:
        data = stream if isinstance(stream, bytes) else stream.read_bytes()
        size = fragment_bytes or len(data)
        value, handle = (
            encapsulate([data[i : i + size] for i in range(0, len(data), size)], has_bot=False),
            None,
        )
    ds.PixelData = value
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    previous = pydicom.config.settings.buffered_read_size
    pydicom.config.settings.buffered_read_size = 1 << 20
    try:
        ds.save_as(path, enforce_file_format=True)
    finally:
        pydicom.config.settings.buffered_read_size = previous
        if handle is not None:
            handle.close()
    return path


@dataclass(frozen=True)
class VideoFacts:
    """What ffprobe says about the first video stream of a file."""

    codec: str
    frames: int
    duration: float
    rate: float
    sample_entry: str

    def matches(self, other: VideoFacts) -> bool:
        """Same codec and frame count, durations within one frame."""
        return (
            self.codec == other.codec
            and self.frames == other.frames
            and abs(self.duration - other.duration) <= 1 / self.rate + 1e-6
        )


def ffprobe(path: Path) -> VideoFacts:
    """Codec, counted frames, duration and rate of the first video stream of ``path``."""
    binary = require_binaries("ffprobe")["ffprobe"]
    result = subprocess.run(
        [
            str(binary), "-v", "error", "-count_packets", "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,nb_read_packets,duration,r_frame_rate,"
            "codec_tag_string:format=duration", "-of", "json", str(path),
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    data = json.loads(result.stdout)
    stream = data["streams"][0]
    numerator, denominator = stream["r_frame_rate"].split("/")
    frames, rate = int(stream["nb_read_packets"]), int(numerator) / int(denominator)
    # A raw elementary stream has no duration of its own: its frames at its rate.
    duration = stream.get("duration") or data["format"].get("duration") or frames / rate
    return VideoFacts(
        stream["codec_name"],
        frames,
        float(duration),
        rate,
        stream.get("codec_tag_string", ""),
    )


def export_files(
    path: Path, folder: Path, stills: StillFormat = StillFormat.JPEG, quality: int = 95
) -> list[tuple[Path, Output]]:
    """Write every output of the instance at ``path`` into ``folder`` (also the scratch)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    made = outputs(read_instance(path), stills=stills, quality=quality, scratch=folder)
    for number, output in enumerate(made):
        target = folder / f"{number:03d}{output.extension}"
        with open(target, "wb") as handle:
            output.write(handle)
        written.append((target, output))
    return written


def odd_mp4(source: Path, target: Path, tail: bytes = b"\x00") -> Path:
    """``source`` with a ``free`` box appended that makes its length odd (a valid MP4)."""
    data = source.read_bytes()
    box = (8 + len(tail)).to_bytes(4, "big") + b"free" + tail
    if (len(data) + len(box)) % 2 == 0:
        box = (9 + len(tail)).to_bytes(4, "big") + b"free" + tail + b"\x00"
    target.write_bytes(data + box)
    assert target.stat().st_size % 2 == 1
    return target


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _stored_fragments(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    return b"".join(generate_frames(ds.PixelData, number_of_frames=1))


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


# -- video ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("clip", "syntax"), [("h264.mp4", H264), ("hevc.mp4", HEVC)])
def test_mp4_video_is_written_byte_for_byte(
    clip: str, syntax: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    source = clips[clip]
    instance = video_instance(source, tmp_path / "video.dcm", syntax)
    (written, _output), *more = export_files(instance, tmp_path / "out")
    assert not more
    assert written.suffix == ".mp4"
    assert written.read_bytes() == source.read_bytes()
    assert ffprobe(written).matches(ffprobe(source))
    assert read_instance(instance).kind is ExportKind.VIDEO


def test_an_odd_length_mp4_loses_exactly_its_padding_byte(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    # The stream itself ends in 0x00 (inside a free box): only the DICOM padding may go.
    source = odd_mp4(clips["h264.mp4"], tmp_path / "odd.mp4", tail=b"\x00\x00\x00")
    instance = video_instance(source, tmp_path / "video.dcm")
    assert len(_stored_fragments(instance)) == source.stat().st_size + 1
    ((written, output),) = export_files(instance, tmp_path / "out")
    assert written.read_bytes() == source.read_bytes()
    assert output.notes == ()


def test_an_even_mp4_ending_in_zero_bytes_keeps_them(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    data = clips["h264.mp4"].read_bytes() + (10).to_bytes(4, "big") + b"free\x00\x00"
    assert len(data) % 2 == 0
    instance = video_instance(data, tmp_path / "video.dcm")
    ((written, _output),) = export_files(instance, tmp_path / "out")
    assert written.read_bytes() == data


@pytest.mark.parametrize(("clip", "syntax"), [("h264.mp4", H264_FRAGMENTABLE), ("hevc.mp4", HEVC)])
def test_a_fragmented_stream_is_concatenated(
    clip: str, syntax: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    source = odd_mp4(clips[clip], tmp_path / "odd.mp4")
    instance = video_instance(source, tmp_path / "video.dcm", syntax, fragment_bytes=4096)
    ranges = fragment_ranges(instance, read_instance(instance).pixel_data_offset or 0)
    assert len(ranges) > 5
    ((written, _output),) = export_files(instance, tmp_path / "out")
    assert written.read_bytes() == source.read_bytes()
    assert ffprobe(written).matches(ffprobe(clips[clip]))


@pytest.mark.parametrize(
    ("clip", "syntax", "codec"),
    [
        ("mpeg2.mpg", MPEG2, "mpeg2video"),
        ("mpeg2.m2v", MPEG2, "mpeg2video"),
        ("h264.ts", H264, "h264"),
    ],
)
def test_mpeg_streams_are_remuxed_to_mp4_without_re_encoding(
    clip: str, syntax: str, codec: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    source = clips[clip]
    instance = video_instance(source, tmp_path / "video.dcm", syntax)
    ((written, output),) = export_files(instance, tmp_path / "out")
    assert written.suffix == ".mp4"
    assert any("remuxed to MP4" in note for note in output.notes)
    got, expected = ffprobe(written), ffprobe(source)
    assert got.codec == codec
    assert got.matches(expected), (got, expected)
    if codec == "h264":
        assert got.sample_entry == "avc1"
    assert written.read_bytes()[4:8] == b"ftyp"
    assert list((tmp_path / "out").iterdir()) == [written]  # the remux scratch file is gone


def test_the_audio_of_a_program_stream_is_kept(clips: dict[str, Path], tmp_path: Path) -> None:
    instance = video_instance(clips["mpeg2.mpg"], tmp_path / "video.dcm", MPEG2)
    ((written, _output),) = export_files(instance, tmp_path / "out")
    binary = require_binaries("ffprobe")["ffprobe"]
    result = subprocess.run(
        [str(binary), "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
         str(written)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    kinds = [stream["codec_type"] for stream in json.loads(result.stdout)["streams"]]
    assert sorted(kinds) == ["audio", "video"]


def test_a_stream_ffmpeg_cannot_remux_is_kept_as_stored(tmp_path: Path) -> None:
    # A program stream pack header, garbage, the program end code: odd, so DICOM pads it.
    junk = b"\x00\x00\x01\xba" + bytes(range(256)) * 40 + b"\x01\x00\x00\x01\xb9"
    instance = video_instance(junk, tmp_path / "video.dcm", MPEG2)
    ((written, output),) = export_files(instance, tmp_path / "out")
    assert len(junk) % 2 == 1
    assert written.suffix == ".mpg"
    assert written.read_bytes() == junk  # without the padding byte after the end code
    assert "kept as .mpg" in output.notes[0]


def test_a_truncated_video_instance_is_refused_clearly(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    instance = video_instance(clips["h264.mp4"], tmp_path / "video.dcm")
    data = instance.read_bytes()
    instance.write_bytes(data[: len(data) - 5000])
    with pytest.raises(ValueError, match="cut short"):
        export_files(instance, tmp_path / "out")


def test_an_instance_made_by_the_video_writer_exports_identically(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    iods = pytest.importorskip("izer.encode.video.iods")
    probe = pytest.importorskip("izer.encode.video.probe").probe
    syntaxes = pytest.importorskip("izer.encode.video.syntaxes")
    writer = pytest.importorskip("izer.encode.video.writer")
    source = clips["h264.mp4"]
    ds = iods.video_image(
        source,
        probe(source),
        make_context(1, "ES"),
        kind=iods.VideoKind.ENDOSCOPIC,
        syntax=syntaxes.VideoSyntax.H264_HP41,
    )
    instance = tmp_path / "video.dcm"
    writer.write_video_instance(ds, instance)
    ((written, _output),) = export_files(instance, tmp_path / "out")
    assert written.read_bytes() == source.read_bytes()


# -- stills --------------------------------------------------------------------------------------

RGB = smooth_image(48, 64, colour=True)
GRAY12 = smooth_image(40, 50, colour=False, peak=4095)


@pytest.mark.parametrize(
    "syntax",
    [
        TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
        TransferSyntax.RLE_LOSSLESS,
        TransferSyntax.JPEG_LS_LOSSLESS,
        TransferSyntax.JPEG_2000_LOSSLESS,
    ],
)
def test_lossless_rgb_gives_a_pixel_identical_png(syntax: TransferSyntax, tmp_path: Path) -> None:
    ds = secondary_capture_image(RGB, make_context(1, "OT"), transfer_syntax=syntax)
    instance = _save(ds, tmp_path / "sc.dcm")
    ((written, _output),) = export_files(instance, tmp_path / "out", StillFormat.PNG)
    assert written.suffix == ".png"
    assert np.array_equal(_read_png(written), RGB)


def test_rgb_to_jpeg_keeps_the_colours(tmp_path: Path) -> None:
    instance = _save(secondary_capture_image(RGB, make_context(1, "OT")), tmp_path / "sc.dcm")
    ((written, _output),) = export_files(instance, tmp_path / "out")
    decoded = cv2.cvtColor(cv2.imread(str(written)), cv2.COLOR_BGR2RGB)
    assert np.abs(decoded.astype(int) - RGB).mean() < 3  # swapped channels would be far off


def test_a_baseline_jpeg_is_written_as_stored(tmp_path: Path) -> None:
    for quality in range(90, 70, -1):  # an odd length, so that DICOM pads it
        _ok, buffer = cv2.imencode(".jpg", RGB[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        jpeg = buffer.tobytes()
        if len(jpeg) % 2:
            break
    assert len(jpeg) % 2 == 1
    ds = secondary_capture_image(RGB, make_context(1, "OT"))
    ds.file_meta.TransferSyntaxUID = TransferSyntax.JPEG_BASELINE.uid
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([jpeg], has_bot=False)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    instance = _save(ds, tmp_path / "sc.dcm")
    ((written, output),) = export_files(instance, tmp_path / "out")
    assert written.read_bytes() == jpeg
    assert "as stored" in output.notes[0]
    # As PNG the same instance is decoded instead.
    ((png, _output),) = export_files(instance, tmp_path / "png", StillFormat.PNG)
    assert np.abs(_read_png(png).astype(int) - RGB).mean() < 4


def test_izer_s_own_baseline_jpeg_comes_back_unchanged(tmp_path: Path) -> None:
    ds = secondary_capture_image(
        RGB, make_context(1, "OT"), transfer_syntax=TransferSyntax.JPEG_BASELINE
    )
    instance = _save(ds, tmp_path / "sc.dcm")
    ((written, _output),) = export_files(instance, tmp_path / "out")
    stored = _stored_fragments(instance)
    assert written.read_bytes() == stored[: stored.rindex(b"\xff\xd9") + 2]


def test_12_bit_grayscale_gives_an_identical_16_bit_png(tmp_path: Path) -> None:
    ds = secondary_capture_image(GRAY12, make_context(1, "OT"), bits_stored=12)
    instance = _save(ds, tmp_path / "sc.dcm")
    ((written, _output),) = export_files(instance, tmp_path / "out", StillFormat.PNG)
    png = _read_png(written)
    assert png.dtype == np.uint16
    assert np.array_equal(png, GRAY12)


def test_12_bit_grayscale_to_jpeg_uses_the_window(tmp_path: Path) -> None:
    ds = secondary_capture_image(GRAY12, make_context(1, "OT"), bits_stored=12)
    ds.WindowCenter, ds.WindowWidth = "2000", "1000"
    instance = _save(ds, tmp_path / "sc.dcm")
    ((written, output),) = export_files(instance, tmp_path / "out")
    expected = np.clip(((GRAY12 - 1999.5) / 999 + 0.5) * 255, 0, 255)
    decoded = cv2.imread(str(written), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint8 and decoded.ndim == 2
    assert np.abs(decoded.astype(float) - expected).mean() < 2
    assert any("windowed" in note for note in output.notes)


def test_12_bit_grayscale_to_jpeg_without_window_spans_min_to_max(tmp_path: Path) -> None:
    ds = secondary_capture_image(GRAY12, make_context(1, "OT"), bits_stored=12)
    instance = _save(ds, tmp_path / "sc.dcm")
    ((written, _output),) = export_files(instance, tmp_path / "out")
    decoded = cv2.imread(str(written), cv2.IMREAD_UNCHANGED).astype(float)
    gray = GRAY12.astype(float)
    expected = (gray - gray.min()) * 255 / (gray.max() - gray.min())
    assert np.abs(decoded - expected).mean() < 2


def test_monochrome1_is_inverted_for_display(tmp_path: Path) -> None:
    gray = RGB[:, :, 0].copy()
    ds = secondary_capture_image(gray, make_context(1, "OT"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    instance = _save(ds, tmp_path / "sc.dcm")
    ((png, _output),) = export_files(instance, tmp_path / "png", StillFormat.PNG)
    assert np.array_equal(_read_png(png), 255 - gray)
    ((jpeg, _output),) = export_files(instance, tmp_path / "jpeg")
    decoded = cv2.imread(str(jpeg), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.abs(decoded - (255 - gray.astype(int))).mean() < 3


def test_multi_frame_gives_one_file_per_frame(tmp_path: Path) -> None:
    frames = np.stack([np.roll(RGB, 7 * n, axis=1) for n in range(3)])
    ds = multiframe_secondary_capture(frames, make_context(1, "OT"), frame_time_ms=40)
    instance = _save(ds, tmp_path / "mf.dcm")
    written = export_files(instance, tmp_path / "out", StillFormat.PNG)
    assert [output.frame for _path, output in written] == [1, 2, 3]
    for (path, _output), frame in zip(written, frames, strict=True):
        assert np.array_equal(_read_png(path), frame)


def test_linear_window_follows_the_standard() -> None:
    # PS3.3 C.11.2.1.2.1: c=100, w=51 maps x <= 74.5 to 0, x > 124.5 to 255, linear between.
    values = np.array([0, 74, 75, 100, 124, 125, 1000])
    out = window(values, 100, 51)
    assert out[0] <= 0 and out[1] <= 0
    assert out[-2] >= 255 and out[-1] >= 255
    assert out[3] == pytest.approx(((100 - 99.5) / 50 + 0.5) * 255)
    assert np.all(np.diff(out) >= 0)


def test_rescale_is_applied_before_the_window() -> None:
    header = Dataset()
    header.PhotometricInterpretation = "MONOCHROME2"
    header.BitsStored, header.PixelRepresentation = 12, 0
    header.RescaleSlope, header.RescaleIntercept = "1", "-1024"
    header.WindowCenter, header.WindowWidth = "40", "400"
    stored = np.array([[1024 + 40 - 200, 1024 + 40, 1024 + 40 + 200]], np.uint16)
    assert display_gray_8bit(stored, header).tolist() == [[0, 128, 255]]


def test_signed_values_are_shifted_into_an_unsigned_png() -> None:
    header = Dataset()
    header.PhotometricInterpretation = "MONOCHROME2"
    header.BitsStored, header.PixelRepresentation = 12, 1
    out = stored_gray_png(np.array([[-2048, 0, 2047]], np.int16), header)
    assert out.dtype == np.uint16
    assert out.tolist() == [[0, 2048, 4095]]


# -- documents, sound, other objects --------------------------------------------------------------


def _pdf(odd: bool) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Made-up report for Testperson^Jurgen")
    page.save()
    data = buffer.getvalue()
    return data + b"\n" if (len(data) % 2 == 0) == odd else data


@pytest.mark.parametrize("keep_length", [True, False])
def test_a_pdf_comes_back_byte_identical(keep_length: bool, tmp_path: Path) -> None:
    pdf = _pdf(odd=True)
    ds = encapsulated_pdf(pdf, make_context(1, "DOC"), document_title="Consent")
    if not keep_length:
        del ds.EncapsulatedDocumentLength
    instance = _save(ds, tmp_path / "pdf.dcm")
    assert read_instance(instance).kind is ExportKind.DOCUMENT
    ((written, _output),) = export_files(instance, tmp_path / "out")
    assert written.suffix == ".pdf"
    assert written.read_bytes() == pdf


@pytest.mark.parametrize("encoding", list(SampleEncoding))
def test_audio_becomes_a_wav_of_the_expanded_samples(
    encoding: SampleEncoding, tmp_path: Path
) -> None:
    tone = (np.sin(np.arange(8001) * 0.3) * 12000).astype(np.int16)
    ds = voice_audio_from_samples(tone, 8000, make_context(1, "AU"), encoding=encoding)
    instance = _save(ds, tmp_path / "audio.dcm")
    ((written, _output),) = export_files(instance, tmp_path / "out")
    assert written.suffix == ".wav"
    with wave.open(str(written)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    stored = pydicom.dcmread(instance).WaveformSequence[0].WaveformData
    expected = expand(stored[: len(tone)], encoding).reshape(-1)
    assert len(samples) == len(tone)
    assert np.array_equal(samples, expected)
    assert np.abs(samples.astype(int) - tone).max() < 1200  # and they are the tone


def test_a_presentation_state_is_skipped_with_a_reason(tmp_path: Path) -> None:
    image_context = make_context(1, "OT")
    image = secondary_capture_image(RGB[:, :, 0].copy(), image_context)
    pr_context = dataclasses.replace(make_context(2, "PR"), study=image_context.study)
    text = TextAnnotation("Polyp", anchor=(10.0, 10.0))
    ds = presentation_state(image, pr_context, label="FINDINGS", texts=[text])
    instance = _save(ds, tmp_path / "pr.dcm")
    source = read_instance(instance)
    assert source.kind is None
    assert "Presentation State" in source.skip_reason
    with pytest.raises(ValueError, match="no image"):
        list(outputs(source))


def test_a_file_that_is_not_dicom_is_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not DICOM")
    with pytest.raises(NotDicomError):
        read_instance(path)


def test_a_dataset_without_preamble_and_file_meta_is_still_exported(tmp_path: Path) -> None:
    ds = secondary_capture_image(RGB, make_context(1, "OT"))
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    path = tmp_path / "bare.dcm"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)  # no preamble, no meta
    assert path.read_bytes()[128:132] != b"DICM"
    source = read_instance(path)
    assert source.kind is ExportKind.IMAGE
    assert source.header.SOPInstanceUID == ds.SOPInstanceUID
    ((written, _output),) = export_files(path, tmp_path / "out", StillFormat.PNG)
    assert np.array_equal(_read_png(written), RGB)


def test_bad_quality_is_refused(tmp_path: Path) -> None:
    instance = _save(secondary_capture_image(RGB, make_context(1, "OT")), tmp_path / "sc.dcm")
    with pytest.raises(ValueError, match="1 to 100"):
        list(outputs(read_instance(instance), quality=0))
