"""Which IOD a converted file becomes, with which defaults: one :class:`Recipe` per IOD.

Adding an IOD to ``izer convert`` is one entry in :data:`RECIPES`. The rules:

* Without ``--iod``, an image becomes a Secondary Capture Image (a Multi-frame SC with
  ``--multiframe``), a PDF an Encapsulated PDF, a sound file a Basic Voice Audio waveform.
  SC, not VL Photographic, is the default for images: a file from disk says nothing about how
  it was acquired, SC with Conversion Type WSD says exactly that (PS3.3 A.8.1, C.8.6.1), every
  PACS shows it, and it also holds 16-bit grayscale, which the VL IODs do not (C.8.12.1.1).
* A baseline JPEG or a JPEG 2000 file is encapsulated as it is (no re-encoding, no generation
  loss) when no ``--ts`` is given or ``--ts`` names its own syntax, and the IOD allows its
  Photometric Interpretation; otherwise it is decoded and encoded in the asked (or the IOD's
  default) transfer syntax, with a note.
* Other images are encoded in ``--ts``, else the IOD's default: Explicit VR Little Endian for
  SC, JPEG Baseline quality 95 for the VL IODs.
* A video clip becomes a Video Endoscopic Image (``video-endoscopic``; also
  ``video-microscopic``, ``video-photographic``): its coded stream is kept when it conforms,
  else remuxed or re-encoded (:mod:`izer.encode.video.segments`); the engine writes those.
  On request it becomes a per-frame IOD instead (``sc-multiframe``: Multi-frame True Color
  SC with frames along time, ``us-multiframe``, ``xa``, ``xrf``): every frame is decoded into
  memory, so a clip over :data:`MAX_CLIP_FRAMES` frames or :data:`MAX_CLIP_DECODED_BYTES`
  decoded is refused; the frames are encoded in ``--ts`` (JPEG Baseline by default: the
  source is lossy video already).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset
from pydicom.valuerep import validate_value

from izer.encode.charset import check_encodable, specific_character_set
from izer.encode.context import InstanceContext
from izer.encode.importers import (
    CompressedFrame,
    Frame,
    InputError,
    InputKind,
    display_name,
    encapsulated,
    media_kind,
    read_image,
)
from izer.encode.pixels import PreEncoded, get_codec
from izer.encode.secondary_capture import (
    ConversionType,
    FrameAxis,
    multiframe_secondary_capture,
    secondary_capture_image,
)
from izer.encode.transfer_syntaxes import TransferSyntax
from izer.encode.video.syntaxes import VideoSyntax
from izer.model import Patient

if TYPE_CHECKING:
    from izer.encode.video.segments import ClipRequest

#: Most frames a per-frame IOD (sc-multiframe, us-multiframe, xa, xrf) takes from a clip.
MAX_CLIP_FRAMES = 3000
#: Most bytes those frames may take decoded (they are all held in memory).
MAX_CLIP_DECODED_BYTES = 2 * 1024**3


class Iod(enum.StrEnum):
    """The IODs ``izer convert --iod`` makes; the value is the ``--iod`` name."""

    SC = "sc"
    SC_MULTIFRAME = "sc-multiframe"
    VL_ENDOSCOPIC = "vl-endoscopic"
    VL_PHOTOGRAPHIC = "vl-photographic"
    VL_MICROSCOPIC = "vl-microscopic"
    PDF = "pdf"
    AUDIO = "audio"
    VIDEO_ENDOSCOPIC = "video-endoscopic"
    VIDEO_MICROSCOPIC = "video-microscopic"
    VIDEO_PHOTOGRAPHIC = "video-photographic"
    US_MULTIFRAME = "us-multiframe"
    XA = "xa"
    XRF = "xrf"

    @property
    def is_video(self) -> bool:
        """True for the IODs that hold a clip's coded stream (Video Endoscopic ...)."""
        return self in (Iod.VIDEO_ENDOSCOPIC, Iod.VIDEO_MICROSCOPIC, Iod.VIDEO_PHOTOGRAPHIC)

    @classmethod
    def from_text(cls, text: str) -> Iod:
        """Parse an ``--iod`` name.

        Raises
        ------
        ValueError
            Naming the accepted names.
        """
        wanted = text.strip().lower().replace("_", "-")
        for member in cls:
            if wanted == member.value:
                return member
        raise ValueError(f"unknown IOD {text!r}; use one of: {', '.join(m.value for m in cls)}")


@dataclass(frozen=True)
class ConvertOptions:
    """What the user asked for, beyond the IOD.

    Parameters
    ----------
    transfer_syntax
        ``--ts``; ``None`` keeps compressed inputs as they are and uses the IOD's default
        for the others.
    quality
        Encoder quality in the codec's own terms (JPEG 1-100).
    conversion_type
        Conversion Type (0008,0064) for SC and PDF; each IOD has its default.
    bits_stored
        Significant bits of 16-bit grayscale inputs (e.g. 12).
    scanner_dpi
        Scanner resolution, giving Nominal Scanned Pixel Spacing (required with DF).
    """

    transfer_syntax: TransferSyntax | None = None
    quality: float | None = None
    conversion_type: ConversionType | None = None
    bits_stored: int | None = None
    scanner_dpi: float | None = None
    video_syntax: VideoSyntax | None = None
    video_preference: tuple[VideoSyntax, ...] = ()
    start_s: float | None = None
    end_s: float | None = None
    max_clip_s: float | None = None
    max_clip_bytes: int | None = None
    audio: bool = True
    fragmentable: bool = False

    @property
    def clip_options_given(self) -> bool:
        """Whether an option only a video IOD uses was given."""
        return bool(
            self.video_syntax
            or self.video_preference
            or self.max_clip_s is not None
            or self.max_clip_bytes is not None
            or not self.audio
            or self.fragmentable
        )

    def clip_request(self) -> ClipRequest:
        """What :class:`~izer.encode.video.segments.ClipStreams` needs from these options."""
        from izer.encode.video.segments import ClipRequest

        return ClipRequest(
            syntax=self.video_syntax,
            preference=self.video_preference,
            start_s=self.start_s,
            end_s=self.end_s,
            audio=self.audio,
            max_seconds=self.max_clip_s,
            max_bytes=self.max_clip_bytes,
            fragmentable=self.fragmentable,
        )


#: Builds one instance from ``(n, rows, columns[, 3])`` pixels, with the transfer syntax,
#: quality and bits stored to use.
PixelBuilder = Callable[
    [
        np.ndarray | PreEncoded,
        InstanceContext,
        TransferSyntax,
        float | None,
        int | None,
        ConvertOptions,
    ],
    Dataset,
]
#: Builds one instance from a whole file (a document, a sound).
FileBuilder = Callable[[Path, InstanceContext, ConvertOptions], Dataset]
#: Builds one instance from the decoded frames of a clip, their rate and the transfer syntax.
ClipBuilder = Callable[
    [np.ndarray, Fraction, InstanceContext, TransferSyntax, ConvertOptions], Dataset
]


@dataclass(frozen=True)
class Recipe:
    """How to make one IOD from input files.

    Parameters
    ----------
    iod, title, modality
        ``--iod`` name, the IOD's name in PS3.3, and the series' Modality.
    kind
        The kind of input it takes.
    series_description
        Series Description of the series the run makes for it.
    default_transfer_syntax
        For images that are not kept as they are.
    multiframe
        Whether one instance holds several frames (``--multiframe``).
    build_pixels, build_file
        The constructor call, for images or for whole files.
    photometrics
        Photometric Interpretations it allows for compressed data kept as is (``None``: any).
    eight_bit_only
        Whether 16-bit grayscale is refused (with a hint to use SC).
    video_kind
        For the video IODs: the :class:`~izer.encode.video.iods.VideoKind` member name.
    build_clip, clip_gray, clip_transfer_syntax
        For the per-frame IODs a clip can become: the constructor call, whether it takes
        luma only (X-ray), and the transfer syntax without ``--ts``.
    """

    iod: Iod
    title: str
    modality: str
    kind: InputKind
    series_description: str
    default_transfer_syntax: TransferSyntax | None = None
    multiframe: bool = False
    build_pixels: PixelBuilder | None = None
    build_file: FileBuilder | None = None
    photometrics: frozenset[str] | None = None
    eight_bit_only: bool = False
    video_kind: str | None = None
    build_clip: ClipBuilder | None = None
    clip_gray: bool = False
    clip_transfer_syntax: TransferSyntax = TransferSyntax.JPEG_BASELINE

    @property
    def accepts(self) -> frozenset[InputKind]:
        """The kinds of input it takes: its own, and clips for the per-frame IODs."""
        return frozenset({self.kind} | ({InputKind.VIDEO} if self.build_clip else set()))


# -- the constructor calls ----------------------------------------------------------------------


def _one_frame(pixels: np.ndarray | PreEncoded) -> np.ndarray | PreEncoded:
    """The single frame of a one-frame stack (pre-encoded frames are passed whole)."""
    return pixels if isinstance(pixels, PreEncoded) else pixels[0]


def _sc(
    pixels: np.ndarray | PreEncoded,
    context: InstanceContext,
    syntax: TransferSyntax,
    quality: float | None,
    bits_stored: int | None,
    options: ConvertOptions,
) -> Dataset:
    return secondary_capture_image(
        _one_frame(pixels),
        context,
        conversion_type=options.conversion_type or ConversionType.WORKSTATION,
        transfer_syntax=syntax,
        quality=quality,
        bits_stored=bits_stored,
        scanner_dpi=options.scanner_dpi,
    )


def _sc_multiframe(
    pixels: np.ndarray | PreEncoded,
    context: InstanceContext,
    syntax: TransferSyntax,
    quality: float | None,
    bits_stored: int | None,
    options: ConvertOptions,
) -> Dataset:
    return multiframe_secondary_capture(
        pixels,
        context,
        conversion_type=options.conversion_type or ConversionType.WORKSTATION,
        transfer_syntax=syntax,
        quality=quality,
        bits_stored=bits_stored,
        frame_axis=FrameAxis.PAGE,
        scanner_dpi=options.scanner_dpi,
    )


def _vl(kind_name: str) -> PixelBuilder:
    def build(
        pixels: np.ndarray | PreEncoded,
        context: InstanceContext,
        syntax: TransferSyntax,
        quality: float | None,
        bits_stored: int | None,
        options: ConvertOptions,
    ) -> Dataset:
        from izer.encode.visible_light import VLKind, vl_image

        return vl_image(
            _one_frame(pixels),
            context,
            kind=VLKind[kind_name],
            transfer_syntax=syntax,
            quality=quality,
        )

    return build


def _pdf(path: Path, context: InstanceContext, options: ConvertOptions) -> Dataset:
    from izer.encode.encapsulated_pdf import encapsulated_pdf, read_pdf

    kwargs = {"conversion_type": options.conversion_type} if options.conversion_type else {}
    title = display_name(path.stem)
    return encapsulated_pdf(read_pdf(path), context, document_title=title, **kwargs)


def _audio(path: Path, context: InstanceContext, options: ConvertOptions) -> Dataset:
    from izer.encode.voice_audio import voice_audio

    return voice_audio(path, context)


def _sc_clip(
    frames: np.ndarray,
    rate: Fraction,
    context: InstanceContext,
    syntax: TransferSyntax,
    options: ConvertOptions,
) -> Dataset:
    from izer.encode.video.iods import frame_time_ms

    return multiframe_secondary_capture(
        frames,
        context,
        conversion_type=options.conversion_type or ConversionType.DIGITIZED_VIDEO,
        transfer_syntax=syntax,
        quality=options.quality,
        frame_axis=FrameAxis.TIME,
        frame_time_ms=frame_time_ms(rate),
    )


def _us_clip(
    frames: np.ndarray,
    rate: Fraction,
    context: InstanceContext,
    syntax: TransferSyntax,
    options: ConvertOptions,
) -> Dataset:
    from izer.encode.ultrasound import us_multiframe_image
    from izer.encode.video.iods import frame_time_ms

    return us_multiframe_image(
        frames,
        context,
        frame_time_ms=frame_time_ms(rate),
        transfer_syntax=syntax,
        quality=options.quality,
    )


def _xray_clip(kind_name: str) -> ClipBuilder:
    def build(
        frames: np.ndarray,
        rate: Fraction,
        context: InstanceContext,
        syntax: TransferSyntax,
        options: ConvertOptions,
    ) -> Dataset:
        from izer.encode.video.iods import frame_time_ms
        from izer.encode.xray_angio import XRayKind, xray_image

        return xray_image(
            frames,
            context,
            kind=XRayKind[kind_name],
            frame_time_ms=frame_time_ms(rate),
            transfer_syntax=syntax,
            quality=options.quality,
        )

    return build


def _video_recipe(iod: Iod, kind_name: str, title: str, modality: str) -> Recipe:
    return Recipe(
        iod=iod,
        title=title,
        modality=modality,
        kind=InputKind.VIDEO,
        series_description="Converted video",
        video_kind=kind_name,
    )


def _clip_recipe(
    iod: Iod, title: str, modality: str, build: ClipBuilder, *, gray: bool = False
) -> Recipe:
    return Recipe(
        iod=iod,
        title=title,
        modality=modality,
        kind=InputKind.VIDEO,
        series_description="Converted video frames",
        multiframe=True,
        build_clip=build,
        clip_gray=gray,
    )


#: VL Image module Photometric Interpretations (PS3.3 C.8.12.1.1.1); kept here so that
#: importing the recipes does not load the VL module.
_VL_PHOTOMETRICS = frozenset(
    {"MONOCHROME2", "RGB", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_RCT", "YBR_ICT"}
)
#: For SC the same set: dciodvfy reports YBR_FULL (a 4:4:4 JPEG) in an SC image as an
#: unrecognized enumerated value, so such a JPEG is decoded rather than kept.
_SC_PHOTOMETRICS = _VL_PHOTOMETRICS


def _vl_recipe(iod: Iod, kind_name: str, title: str, modality: str) -> Recipe:
    return Recipe(
        iod=iod,
        title=title,
        modality=modality,
        kind=InputKind.IMAGE,
        series_description="Converted images",
        default_transfer_syntax=TransferSyntax.JPEG_BASELINE,
        build_pixels=_vl(kind_name),
        photometrics=_VL_PHOTOMETRICS,
        eight_bit_only=True,
    )


#: One entry per IOD ``izer convert`` makes.
RECIPES: dict[Iod, Recipe] = {
    recipe.iod: recipe
    for recipe in (
        Recipe(
            iod=Iod.SC,
            title="Secondary Capture Image",
            modality="OT",
            kind=InputKind.IMAGE,
            series_description="Converted images",
            default_transfer_syntax=TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
            build_pixels=_sc,
            photometrics=_SC_PHOTOMETRICS,
        ),
        Recipe(
            iod=Iod.SC_MULTIFRAME,
            title="Multi-frame Secondary Capture Image",
            modality="OT",
            kind=InputKind.IMAGE,
            series_description="Converted images",
            default_transfer_syntax=TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
            multiframe=True,
            build_pixels=_sc_multiframe,
            photometrics=_SC_PHOTOMETRICS,
            build_clip=_sc_clip,
        ),
        _vl_recipe(Iod.VL_ENDOSCOPIC, "ENDOSCOPIC", "VL Endoscopic Image", "ES"),
        _vl_recipe(Iod.VL_PHOTOGRAPHIC, "PHOTOGRAPHIC", "VL Photographic Image", "XC"),
        _vl_recipe(Iod.VL_MICROSCOPIC, "MICROSCOPIC", "VL Microscopic Image", "GM"),
        Recipe(
            iod=Iod.PDF,
            title="Encapsulated PDF",
            modality="DOC",
            kind=InputKind.DOCUMENT,
            series_description="Converted documents",
            build_file=_pdf,
        ),
        Recipe(
            iod=Iod.AUDIO,
            title="Basic Voice Audio Waveform",
            modality="AU",
            kind=InputKind.AUDIO,
            series_description="Converted audio",
            build_file=_audio,
        ),
        _video_recipe(Iod.VIDEO_ENDOSCOPIC, "ENDOSCOPIC", "Video Endoscopic Image", "ES"),
        _video_recipe(Iod.VIDEO_MICROSCOPIC, "MICROSCOPIC", "Video Microscopic Image", "GM"),
        _video_recipe(Iod.VIDEO_PHOTOGRAPHIC, "PHOTOGRAPHIC", "Video Photographic Image", "XC"),
        _clip_recipe(Iod.US_MULTIFRAME, "US Multi-frame Image", "US", _us_clip),
        _clip_recipe(Iod.XA, "X-Ray Angiographic Image", "XA", _xray_clip("XA"), gray=True),
        _clip_recipe(Iod.XRF, "X-Ray Radiofluoroscopic Image", "RF", _xray_clip("RF"), gray=True),
    )
}

#: The IOD an input becomes when no ``--iod`` is given (see the module docstring).
DEFAULT_IODS = {
    (InputKind.IMAGE, False): Iod.SC,
    (InputKind.IMAGE, True): Iod.SC_MULTIFRAME,
    (InputKind.DOCUMENT, False): Iod.PDF,
    (InputKind.AUDIO, False): Iod.AUDIO,
    (InputKind.VIDEO, False): Iod.VIDEO_ENDOSCOPIC,
}


# -- checking the request before any file is read -----------------------------------------------


def check_request(iod: Iod | None, options: ConvertOptions, *, multiframe: bool) -> None:
    """Refuse option combinations that cannot work, before any file is read.

    Raises
    ------
    ValueError
        Saying which option to change.
    """
    recipe = RECIPES[iod] if iod else None
    if (
        multiframe
        and recipe is not None
        and (recipe.kind is not InputKind.IMAGE or not recipe.multiframe)
    ):
        raise ValueError(
            f"--multiframe puts images together into one multi-frame instance, which a "
            f"{recipe.title} is not; use --iod sc-multiframe, or leave --multiframe out"
        )
    if recipe is not None and InputKind.IMAGE not in recipe.accepts:
        if options.bits_stored is not None:
            raise ValueError(f"--bits-stored applies to images, not to a {recipe.title}")
        if recipe.video_kind is not None and options.quality is not None:
            raise ValueError(
                f"--quality applies to images; a {recipe.title} keeps the clip's coded video "
                "or re-encodes it at constant quality"
            )
        if recipe.video_kind is not None and options.transfer_syntax is not None:
            names = ", ".join(syntax.name_for_cli for syntax in VideoSyntax)
            raise ValueError(
                f"--ts {options.transfer_syntax.name.lower().replace('_', '-')} is an image "
                f"transfer syntax; a {recipe.title} takes one of {names}"
            )
        if recipe.build_clip is None and (
            options.transfer_syntax is not None or options.quality is not None
        ):
            raise ValueError(f"--ts and --quality apply to images, not to a {recipe.title}")
    _check_clip_options(recipe, options)
    if options.transfer_syntax is not None:
        get_codec(options.transfer_syntax)  # CodecUnavailableError names what to install
    if options.quality is not None and options.quality <= 0:
        raise ValueError(f"--quality must be more than 0, got {options.quality}")
    if options.bits_stored is not None and not 1 <= options.bits_stored <= 16:
        raise ValueError(f"--bits-stored must be 1 to 16, got {options.bits_stored}")
    if options.scanner_dpi is not None and options.scanner_dpi <= 0:
        raise ValueError(f"--dpi must be more than 0, got {options.scanner_dpi:g}")
    if options.conversion_type is ConversionType.DIGITIZED_FILM and options.scanner_dpi is None:
        raise ValueError(
            "--conversion-type DF (digitized film) needs --dpi, the scanner's resolution, "
            "for Nominal Scanned Pixel Spacing"
        )
    scanned = (
        ConversionType.DIGITIZED_FILM,
        ConversionType.SCANNED_DOCUMENT,
        ConversionType.SCANNED_IMAGE,
    )
    if options.scanner_dpi is not None and options.conversion_type not in scanned:
        raise ValueError("--dpi applies to scanned inputs: add --conversion-type DF, SD or SI")
    if options.conversion_type is not None and recipe is not None and recipe.iod in _NO_CT:
        raise ValueError(f"--conversion-type does not apply to a {recipe.title}")
    if (
        iod is Iod.PDF
        and options.conversion_type is not None
        and options.conversion_type
        not in (ConversionType.SCANNED_DOCUMENT, ConversionType.WORKSTATION)
    ):
        raise ValueError("an Encapsulated PDF has --conversion-type SD or WSD (PS3.3 A.45.1.4.1)")


_NO_CT = {
    Iod.VL_ENDOSCOPIC,
    Iod.VL_PHOTOGRAPHIC,
    Iod.VL_MICROSCOPIC,
    Iod.AUDIO,
    Iod.VIDEO_ENDOSCOPIC,
    Iod.VIDEO_MICROSCOPIC,
    Iod.VIDEO_PHOTOGRAPHIC,
    Iod.US_MULTIFRAME,
    Iod.XA,
    Iod.XRF,
}


def _check_clip_options(recipe: Recipe | None, options: ConvertOptions) -> None:
    """Refuse clip options the IOD does not use, and values out of range."""
    if recipe is not None and recipe.video_kind is None and options.clip_options_given:
        raise ValueError(
            "--video-preference, --max-clip-s, --max-clip-mb, --no-audio and --fragmentable "
            f"apply to video IODs (video-endoscopic ...), not to a {recipe.title}"
        )
    trimmed = options.start_s is not None or options.end_s is not None
    if recipe is not None and InputKind.VIDEO not in recipe.accepts and trimmed:
        raise ValueError(f"--start and --end apply to video clips, not to a {recipe.title}")
    if options.video_syntax is not None and options.video_preference:
        raise ValueError("give --ts or --video-preference for video, not both")
    if options.start_s is not None and options.start_s < 0:
        raise ValueError(f"--start must be 0 s or later, got {options.start_s:g}")
    if options.end_s is not None and options.end_s <= (options.start_s or 0.0):
        raise ValueError(
            f"--end ({options.end_s:g} s) must come after --start ({options.start_s or 0:g} s)"
        )
    if options.max_clip_s is not None and options.max_clip_s <= 0:
        raise ValueError(f"--max-clip-s must be more than 0, got {options.max_clip_s:g}")
    if options.max_clip_bytes is not None and options.max_clip_bytes < 1_000_000:
        raise ValueError(
            f"--max-clip-mb must be at least 1 (MB), got {options.max_clip_bytes / 1e6:g}"
        )


#: Patient and study text values, their VR and the most characters PS3.5 6.2 allows.
_IDENTITY = {
    "PatientName": "PN",
    "PatientID": "LO",
    "PatientBirthDate": "DA",
    "AccessionNumber": "SH",
    "StudyDescription": "LO",
}


def check_identity(
    patient: Patient, accession_number: str, study_description: str, character_set: str
) -> None:
    """Check the patient and study values once, before any file is converted.

    Raises
    ------
    ValueError
        Naming the attribute, when a value is too long, malformed or not writable in
        ``character_set`` (PS3.5 6.1, 6.2).
    """
    values = {
        "PatientName": patient.name,
        "PatientID": patient.patient_id,
        "PatientBirthDate": patient.birth_date,
        "AccessionNumber": accession_number,
        "StudyDescription": study_description,
    }
    ds = Dataset()
    ds.SpecificCharacterSet = specific_character_set(character_set)
    for keyword, value in values.items():
        if not value:
            continue
        try:
            validate_value(_IDENTITY[keyword], value, pydicom_config.RAISE)
        except ValueError as exc:
            reason = str(exc).split(". Please see")[0]
            raise ValueError(f"{keyword} {value!r}: {reason}") from None
        setattr(ds, keyword, value)
    check_encodable(ds)


# -- what one instance is made of -----------------------------------------------------------------


@dataclass
class Job:
    """The content of one instance and how to build it.

    ``frames`` for images (several for a multi-frame instance), ``path`` for whole files.
    ``notes`` collects what was changed on the way (alpha dropped, re-encoded...).
    """

    recipe: Recipe
    sources: tuple[Path, ...]
    options: ConvertOptions
    frames: tuple[Frame, ...] = ()
    notes: list[str] = field(default_factory=list)
    clip: bool = False
    """A video clip: written by the engine (video IODs) or decoded frame by frame."""

    @property
    def label(self) -> str:
        """The input, for messages: a file (and page), or the first file and a count."""
        if self.frames and len(self.frames) == 1:
            return self.frames[0].name
        first = display_name(self.sources[0])
        return first if len(self.sources) == 1 else f"{first} (+{len(self.sources) - 1} files)"

    def build(self, context: InstanceContext) -> Dataset:
        """Make the instance.

        Raises
        ------
        ValueError
            An :class:`InputError` naming the file, or the constructor's error.
        """
        recipe = self.recipe
        if self.clip:
            return _build_from_clip(self, context)
        if recipe.build_file is not None:
            return recipe.build_file(self.sources[0], context, self.options)
        return _build_image(self, context)


def jobs_for(
    files: list[Path], iod: Iod | None, options: ConvertOptions, *, multiframe: bool
) -> list[Job]:
    """The instances ``files`` become: one per image or page, or one for all with
    ``multiframe``.

    Raises
    ------
    InputError
        For a file that cannot be read, is not of a kind the IOD takes, or (``multiframe``)
        differs in size from the first.
    """
    if multiframe:
        recipe = RECIPES[iod or Iod.SC_MULTIFRAME]
        frames: list[Frame] = []
        for path in files:
            kind = media_kind(path)
            if kind is InputKind.VIDEO:
                raise InputError(
                    path,
                    "is a video clip; --multiframe puts images together: convert the clip "
                    "without it (--iod sc-multiframe makes one multi-frame instance of a clip)",
                )
            _check_kind(path, recipe, kind)
            frames.extend(read_image(path, bits_stored=options.bits_stored).frames)
        _check_same_size(frames)
        return [Job(recipe, tuple(files), options, tuple(frames))]
    jobs = []
    for path in files:
        if iod is not None and RECIPES[iod].kind is InputKind.AUDIO:
            # Any file with a sound track (a video too) is the audio decoder's to judge.
            jobs.append(Job(RECIPES[iod], (path,), options))
            continue
        kind = media_kind(path)
        recipe = RECIPES[iod] if iod else RECIPES[DEFAULT_IODS[(kind, False)]]
        if iod is not None:
            _check_kind(path, recipe, kind)
        if kind is InputKind.VIDEO:
            jobs.append(Job(recipe, (path,), options, clip=True))
        elif recipe.kind is InputKind.IMAGE:
            image = read_image(path, bits_stored=options.bits_stored)
            jobs.extend(Job(recipe, (path,), options, (frame,)) for frame in image.frames)
        else:
            jobs.append(Job(recipe, (path,), options))
    return jobs


def _check_kind(path: Path, recipe: Recipe, kind: InputKind | None = None) -> None:
    kind = kind or media_kind(path)
    if kind not in recipe.accepts:
        takes = " or ".join(_A[k] for k in sorted(recipe.accepts, key=lambda k: k.value))
        hint = ""
        if recipe.kind is InputKind.VIDEO and kind is InputKind.AUDIO:
            hint = " (it has no video stream; leave --iod out to archive the sound)"
        raise InputError(path, f"is {_A[kind]}, but --iod {recipe.iod.value} takes {takes}{hint}")


_A = {
    InputKind.IMAGE: "an image",
    InputKind.DOCUMENT: "a PDF",
    InputKind.AUDIO: "a sound file",
    InputKind.VIDEO: "a video clip",
}


def _check_same_size(frames: list[Frame]) -> None:
    first = frames[0]
    for frame in frames[1:]:
        if (frame.rows, frame.columns) != (first.rows, first.columns):
            raise InputError(
                frame.path,
                f"{frame.label + ' ' if frame.label else ''}is {frame.columns}x{frame.rows} "
                f"but {first.name} is {first.columns}x{first.rows}; --multiframe needs "
                "images of one size",
            )


# -- per-frame instances from a clip ------------------------------------------------------------


def _build_from_clip(job: Job, context: InstanceContext) -> Dataset:
    """Decode the frames of a clip (bounded) and build the per-frame IOD around them."""
    from izer.encode.video.frames import TooManyFramesError, read_frames
    from izer.encode.video.probe import probe

    recipe, options = job.recipe, job.options
    if recipe.build_clip is None:
        raise ValueError(f"a {recipe.title} is written by the engine, not built in memory")
    path = job.sources[0]
    info = probe(path)
    per_frame = info.width * info.height * (1 if recipe.clip_gray else 3)
    limit = max(1, min(MAX_CLIP_FRAMES, MAX_CLIP_DECODED_BYTES // max(per_frame, 1)))
    end = min(options.end_s if options.end_s is not None else info.duration_s, info.duration_s)
    expected = round((end - (options.start_s or 0.0)) * float(info.frame_rate))
    advice = (
        f"a {recipe.title} holds every frame in memory (at most {limit} frames of "
        f"{info.width}x{info.height}): use --iod video-endoscopic (or video-microscopic, "
        "video-photographic), or keep a shorter section with --start/--end"
    )
    if expected > limit + 1:
        raise InputError(path, f"has about {expected} frames; {advice}")
    try:
        frames, rate = read_frames(
            path,
            start_s=options.start_s,
            end_s=options.end_s,
            max_frames=limit,
            gray=recipe.clip_gray,
        )
    except TooManyFramesError:
        raise InputError(path, f"has more than {limit} frames; {advice}") from None
    if info.rotation:
        job.notes.append(
            f"the frames are stored turned ({info.rotation} degrees in the file's display "
            "matrix) and are kept as stored"
        )
    syntax = options.transfer_syntax or recipe.clip_transfer_syntax
    return recipe.build_clip(frames, rate, context, syntax, options)


# -- building image instances ---------------------------------------------------------------


def _build_image(job: Job, context: InstanceContext) -> Dataset:
    recipe, options = job.recipe, job.options
    assert recipe.build_pixels is not None
    compressed = [frame.compressed for frame in job.frames]
    requested = options.transfer_syntax
    if all(compressed):
        kept = [c for c in compressed if c is not None]
        problem = _as_is_problem(kept, requested, recipe)
        if problem is None:
            return _build_as_is(job, kept, context)
        if requested is None or requested in kept[0].syntaxes:
            job.notes.append(f"decoded and encoded again: {problem}")
    pixels = [frame.pixels() for frame in job.frames]
    for frame in job.frames:
        job.notes.extend(frame.notes)
    first = pixels[0]
    for frame, array in zip(job.frames, pixels, strict=True):
        if recipe.eight_bit_only and array.dtype != np.uint8:
            raise InputError(
                frame.path,
                f"is a {frame.bits_stored}-bit image; a {recipe.title} holds 8-bit images "
                "only (PS3.3 C.8.12.1.1); use --iod sc for 16-bit images",
            )
        if (array.shape, array.dtype) != (first.shape, first.dtype):
            raise InputError(
                frame.path,
                f"is {_kind_of(array)} but {job.frames[0].name} is {_kind_of(first)}; "
                "--multiframe needs images of one size and kind",
            )
    bits = max(frame.bits_stored or 8 for frame in job.frames)
    syntax = requested or recipe.default_transfer_syntax or TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN
    stacked = np.stack(pixels) if len(pixels) > 1 else first[np.newaxis]
    return recipe.build_pixels(
        stacked,
        context,
        syntax,
        options.quality,
        bits if first.dtype == np.uint16 else None,
        options,
    )


def _kind_of(array: np.ndarray) -> str:
    colour = "RGB" if array.ndim == 3 else "grayscale"
    return f"{array.shape[1]}x{array.shape[0]} {colour} {array.dtype.itemsize * 8}-bit"


def _as_is_problem(
    frames: list[CompressedFrame], requested: TransferSyntax | None, recipe: Recipe
) -> str | None:
    first = frames[0]
    if requested is not None and requested not in first.syntaxes:
        return f"{requested.name} asked for"
    if recipe.photometrics is not None and first.photometric not in recipe.photometrics:
        return f"a {recipe.title} does not allow {first.photometric} compressed data"
    if recipe.eight_bit_only and first.layout.bits_allocated != 8:
        return None  # the decoded path refuses it with the hint to use SC
    if any((f.layout, f.photometric) != (first.layout, first.photometric) for f in frames):
        return "the files differ in colour encoding"
    return None


def _build_as_is(job: Job, frames: list[CompressedFrame], context: InstanceContext) -> Dataset:
    """Build the instance around compressed frames kept exactly as they are."""
    recipe, options = job.recipe, job.options
    assert recipe.build_pixels is not None
    encoded, layout = encapsulated(frames, options.transfer_syntax)
    bits = layout.bits_stored if layout.bits_allocated == 16 else None
    return recipe.build_pixels(
        PreEncoded(encoded, layout),
        context,
        TransferSyntax(encoded.transfer_syntax),
        None,
        bits,
        options,
    )
