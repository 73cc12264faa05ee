"""Video Endoscopic, Microscopic and Photographic Image instances (PS3.3 A.32.5-A.32.7).

The bit stream of an MP4 or MPEG program stream file goes into Pixel Data as it is: an
encapsulated value whose Basic Offset Table is present but empty, then the stream in one
fragment, or in several for the fragmentable syntaxes and HEVC (PS3.5 8.2.5-8.2.11, A.4).
Nothing is read into memory: Pixel Data is a :class:`pydicom.encaps.EncapsulatedBuffer` over
windows of the file, read when the dataset is written.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate_buffer
from pydicom.uid import (
    VideoEndoscopicImageStorage,
    VideoMicroscopicImageStorage,
    VideoPhotographicImageStorage,
)
from pydicom.valuerep import format_number_as_ds

from izer.encode.codes import AnatomicRegion, Code, Laterality, image_type_values, write_anatomy
from izer.encode.context import InstanceContext
from izer.encode.modules import (
    COMMON_TYPE1,
    COMMON_TYPE2,
    IMAGE_PIXEL_TYPE1,
    StorageKind,
    dicom_datetime,
    new_instance,
    write_cine,
)
from izer.encode.selfcheck import check_instance
from izer.encode.video.stream import StreamInfo
from izer.encode.video.syntaxes import VideoSyntax, conformance_problems, container_problems
from izer.encode.video.windows import FileWindow
from izer.encode.voice_audio import AudioSource

#: Largest fragment: an item length is 32 bits and 0xFFFFFFFF means undefined (PS3.5 A.4).
MAX_FRAGMENT_BYTES = 2**32 - 2

#: The file windows behind each Pixel Data value made here, so that the writer can copy them
#: with the kernel (:func:`stream_windows`) instead of through Python.
_WINDOWS: weakref.WeakKeyDictionary[object, tuple[FileWindow, ...]] = weakref.WeakKeyDictionary()

#: Anatomic region written when the caller gives none (see :func:`default_region`).
ENTIRE_BODY = Code("38266002", "SCT", "Entire body")


class VideoKind(StorageKind):
    """Which video IOD: SOP Class UID, Modality and IOD name (PS3.3 A.32.5, A.32.6, A.32.7)."""

    ENDOSCOPIC = (VideoEndoscopicImageStorage, "ES", "Video Endoscopic Image")
    MICROSCOPIC = (VideoMicroscopicImageStorage, "GM", "Video Microscopic Image")
    PHOTOGRAPHIC = (VideoPhotographicImageStorage, "XC", "Video Photographic Image")


def default_region(kind: VideoKind) -> Code:
    """The Anatomic Region written when the caller names none: ``Entire body`` for every kind.

    A multi-frame VL image needs exactly one Anatomic Region Sequence item (PS3.3 C.8.12.1).
    No organ is right by default for any of the three kinds (an endoscope goes into the colon,
    the bladder or a knee; a surgical microscope looks at an eye, an ear or the brain; a
    camera films any part of the body), and a wrong organ is a false clinical statement, so
    the most general region of PS3.16 CID 4, SNOMED CT 38266002 "Entire body", is written for
    all of them. Give ``anatomic_region`` whenever the body part is known.
    """
    return ENTIRE_BODY


def frame_time_ms(frame_rate: Fraction) -> float:
    """Frame Time (0018,1063) in milliseconds for an exact frame rate (1000 / rate).

    Raises
    ------
    ValueError
        When the rate is not positive.
    """
    if frame_rate <= 0:
        raise ValueError(f"the frame rate must be positive to give a Frame Time, got {frame_rate}")
    return float(Fraction(1000) / Fraction(frame_rate))


def transfer_syntax_uid(syntax: VideoSyntax, size_bytes: int, *, fragmentable: bool) -> str:
    """The transfer syntax UID for a stream of ``size_bytes`` in ``syntax``.

    The single-fragment syntaxes hold at most 2^32-2 bytes (PS3.5 8.2.5-8.2.10); HEVC
    (8.2.11) may be split into fragments under its own UID.

    Raises
    ------
    ValueError
        When the stream is too long for one fragment and fragments are not allowed.
    """
    if syntax.fragmentable_uid is None:
        return syntax.uid
    if fragmentable:
        return syntax.fragmentable_uid
    if size_bytes > MAX_FRAGMENT_BYTES:
        raise ValueError(
            f"the {syntax.codec} stream is {size_bytes} bytes, more than the 4294967294 bytes "
            f"one fragment of {syntax.name_for_cli} ({syntax.uid}) holds: split the video into "
            "several instances, or pass fragmentable=True to use the fragmentable syntax "
            f"{syntax.fragmentable_uid} (which Orthanc and DCMTK 3.6.7 do not accept)"
        )
    return syntax.uid


def video_image(
    stream: Path,
    info: StreamInfo,
    context: InstanceContext,
    *,
    kind: VideoKind,
    syntax: VideoSyntax,
    fragmentable: bool = False,
    max_fragment_bytes: int = MAX_FRAGMENT_BYTES,
    anatomic_region: Code | AnatomicRegion | None = None,
    laterality: Laterality | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY"),
    burned_in_annotation: bool = False,
    audio_source: AudioSource = AudioSource.AMBIENT_ROOM_ENVIRONMENT,
) -> Dataset:
    """A Video Endoscopic, Microscopic or Photographic Image holding ``stream`` as it is.

    Parameters
    ----------
    stream
        An MP4 (H.264, HEVC) or MPEG program stream (MPEG-2) file that conforms to
        ``syntax`` (see :func:`izer.encode.video.transcode.conform`). It is read when the
        dataset is written, so it must stay in place until then.
    info
        What :func:`izer.encode.video.probe.probe` says about ``stream``: frame count, size,
        rate, profile and level go into the header.
    kind
        Endoscopic (Modality ES), Microscopic (GM) or Photographic (XC); the series must have
        that Modality.
    syntax
        The video transfer syntax; the stream must conform to it (PS3.5 8.2.5-8.2.11).
    fragmentable
        Use the fragmentable twin (.100.1-.104.1) and split the stream into fragments of at
        most ``max_fragment_bytes``; needed above 2^32-2 bytes. HEVC keeps its UID and is
        split the same way. Many archives do not accept the fragmentable syntaxes.
    max_fragment_bytes
        Largest fragment, an even number up to 2^32-2 (smaller values are for tests).
    anatomic_region, laterality
        The single item of Anatomic Region Sequence (required for a multi-frame VL image,
        PS3.3 C.8.12.1) and the side of a paired region; :func:`default_region` when absent.
    image_type
        Image Type values: ``ORIGINAL|DERIVED``, ``PRIMARY|SECONDARY``, optional others.
    burned_in_annotation
        Whether identifying text is burned into the frames.
    audio_source
        What the multiplexed audio track records, when the stream has one (PS3.3 C.7.6.5,
        Multiplexed Audio Channels Description Code Sequence, CID 3000).

    Raises
    ------
    ValueError
        With what to change when the stream does not conform to ``syntax`` or ``info`` does
        not describe it, the series has another Modality, or an option is wrong.
    """
    if context.series.modality != kind.modality:
        raise ValueError(
            f"a {kind.iod_name} needs a series with Modality {kind.modality}, but this "
            f"series is {context.series.modality or 'without modality'}; start a "
            f"{kind.modality} series for it"
        )
    stream = Path(stream).absolute()  # read when written, maybe from another folder
    size = _check_stream(stream, info, syntax)
    uid = transfer_syntax_uid(syntax, size, fragmentable=fragmentable)
    if syntax.fragmentable_uid is None:  # HEVC: fragments allowed under its own UID
        split = fragmentable or size > MAX_FRAGMENT_BYTES
    else:
        split = fragmentable
    if not split:
        max_fragment_bytes = MAX_FRAGMENT_BYTES
    elif max_fragment_bytes % 2 or not 2 <= max_fragment_bytes <= MAX_FRAGMENT_BYTES:
        raise ValueError(
            f"max_fragment_bytes must be an even number from 2 to 4294967294 (fragments have "
            f"even lengths, PS3.5 A.4), got {max_fragment_bytes}"
        )
    if laterality is not None and anatomic_region is None:
        raise ValueError(
            f"laterality {Laterality(laterality).value} needs the paired anatomic_region it "
            "applies to (e.g. AnatomicRegion.KNEE)"
        )
    values = image_type_values(image_type)

    ds = new_instance(kind.sop_class_uid, context)
    ds.file_meta.TransferSyntaxUID = uid
    ds.ImageType = values
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.AcquisitionDateTime = dicom_datetime(context.acquired)
    if anatomic_region is not None:
        write_anatomy(ds, anatomic_region, laterality)
    else:  # unpaired: Laterality absent (PS3.3 C.7.3.1)
        ds.AnatomicRegionSequence = [default_region(kind).to_dataset()]
    ds.AcquisitionContextSequence = []
    write_cine(ds, info.frame_count, frame_time_ms(info.frame_rate))
    if info.audio is not None:  # absent without audio: one or more items (PS3.3 C.7.6.5)
        ds.MultiplexedAudioChannelsDescriptionCodeSequence = [_audio_channel(info, audio_source)]
    _image_pixel(ds, info, syntax)
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = format_number_as_ds(_ratio(ds, info, size))
    ds.LossyImageCompressionMethod = syntax.method
    windows = [
        FileWindow(stream, start, min(max_fragment_bytes, size - start))
        for start in range(0, size, max_fragment_bytes)
    ]
    value = encapsulate_buffer(list(windows), has_bot=False)
    _WINDOWS[value] = tuple(windows)
    ds["PixelData"] = DataElement(0x7FE00010, "OB", value, is_undefined_length=True)
    check_instance(
        ds,
        iod=kind.iod_name,
        type1=(
            *COMMON_TYPE1,
            *IMAGE_PIXEL_TYPE1,
            "ImageType",
            "ContentDate",
            "ContentTime",
            "NumberOfFrames",
            "FrameIncrementPointer",
            "FrameTime",
            "AnatomicRegionSequence",
        ),
        type2=(
            *COMMON_TYPE2,
            "PatientOrientation",
            "AcquisitionContextSequence",
            "LossyImageCompression",
        ),
    )
    return ds


def _check_stream(stream: Path, info: StreamInfo, syntax: VideoSyntax) -> int:
    """The size of ``stream``, after checking it is the file ``info`` describes and conforms."""
    try:
        size = stream.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read the video stream {stream}: {exc.strerror}") from exc
    if size != info.size_bytes:
        raise ValueError(
            f"the stream information is for a file of {info.size_bytes} bytes but {stream} "
            f"has {size}: probe the file that is encapsulated"
        )
    if size == 0:
        raise ValueError(f"the video stream {stream} is empty")
    problems = conformance_problems(info, syntax) + container_problems(info, syntax)
    if problems:
        raise ValueError(
            f"{stream.name} does not conform to {syntax.description}: {'; '.join(problems)}; "
            "conform it first (izer.encode.video.transcode.conform) or choose another syntax"
        )
    return size


def _image_pixel(ds: Dataset, info: StreamInfo, syntax: VideoSyntax) -> None:
    """Image Pixel module as the video syntaxes fix it (PS3.5 8.2.5-8.2.11)."""
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = info.height, info.width
    deep = syntax is VideoSyntax.HEVC_MAIN10
    ds.BitsAllocated = 16 if deep else 8
    ds.BitsStored = 10 if deep else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    sar = Fraction(info.sample_aspect_ratio)
    if sar != 1 and syntax is not VideoSyntax.MPEG2_MPHL:
        # Pixel Aspect Ratio is vertical\horizontal size (PS3.3 C.7.6.3.1.7); the sample
        # aspect ratio of a video is horizontal/vertical. MP@HL forbids it (PS3.5 8.2.6).
        ds.PixelAspectRatio = [sar.denominator, sar.numerator]


def _ratio(ds: Dataset, info: StreamInfo, size: int) -> float:
    """Lossy Image Compression Ratio: frame bytes as decoded (3 samples) over stream bytes."""
    decoded = info.frame_count * info.width * info.height * 3 * (ds.BitsAllocated // 8)
    return max(decoded / size, 1.0)


def _audio_channel(info: StreamInfo, source: AudioSource) -> Dataset:
    """One item of Multiplexed Audio Channels Description Code Sequence (PS3.3 C.7.6.5)."""
    item = Dataset()
    item.ChannelIdentificationCode = 1
    item.ChannelMode = "MONO" if info.audio is not None and info.audio.channels == 1 else "STEREO"
    item.ChannelSourceSequence = [AudioSource(source).code.to_dataset()]
    return item


def stream_windows(value: object) -> tuple[FileWindow, ...] | None:
    """The file windows (fragments, in order) behind a Pixel Data value :func:`video_image`
    made, or None for any other value."""
    try:
        return _WINDOWS.get(value)
    except TypeError:  # not weakly referenceable: not ours
        return None
