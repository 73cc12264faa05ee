"""A catalogue of instances izer/encode makes, for interoperability tests with real software.

Each :class:`InstanceMaker` is a name, a function ``(InstanceContext) -> Dataset`` and what
third-party software is expected to do with the result (which transfer syntax, lossless or not,
the IOD ``dciodvfy`` recognises, whether Orthanc 1.10 accepts and previews it, which DCMTK
3.6.7 tool decodes it). Adding an IOD constructor is one :func:`_register` call.

Expectations per transfer syntax were observed with the Debian 12 packages the suite runs
against (``orthanc`` 1.10.1 without the GDCM plugin, ``dcmtk`` 3.6.7); they are spelled out in
:data:`ORTHANC_1_10`, :data:`STORESCP_REJECTS`, :data:`DCMTK_DECOMPRESS` and
:data:`DCMTK_RENDERER`, so that a newer peer shows up as a failing test, not a silent skip.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from izer.capture import SyntheticSource
from izer.encode import (
    ConversionType,
    FrameAxis,
    InstanceContext,
    SeriesContext,
    TransferSyntax,
    UidFactory,
    multiframe_secondary_capture,
    secondary_capture_image,
)
from izer.encode.codes import AnatomicRegion
from izer.encode.encapsulated_pdf import encapsulated_pdf
from izer.encode.pixels import get_codec
from izer.encode.presentation_state import (
    GraphicAnnotation,
    GraphicType,
    TextAnnotation,
    presentation_state,
)
from izer.encode.ultrasound import us_image, us_multiframe_image
from izer.encode.visible_light import VLKind, vl_image
from izer.encode.voice_audio import voice_audio
from izer.encode.xray_angio import xray_image
from tests.encode.factories import UID_ROOT, make_context

TS = TransferSyntax

ROWS, COLUMNS = 240, 320
#: Frames in each multi-frame instance.
FRAMES = 3
#: Lowest PSNR (dB) a lossy syntax at its default quality must reach on a smooth image.
SMOOTH_PSNR_DB = 40.0
#: Lowest PSNR (dB) on the synthetic colour bars with burned-in text: their sharp colour edges
#: lose detail to 4:2:2 chroma subsampling (JPEG Baseline: about 28 dB), so the bar is lower.
SHARP_PSNR_DB = 25.0


class OrthancSupport(enum.Enum):
    """What Orthanc 1.10.1 (Debian 12, no GDCM plugin) does with an instance."""

    #: Stored; ``/instances/{id}/preview`` answers 200 with a PNG.
    PREVIEW = "preview"
    #: Stored; the preview answers 415 Unsupported Media Type (no decoder for the syntax).
    NO_DECODER = "415"
    #: The presentation context is rejected at association (reason 3): Orthanc 1.10 is built
    #: on DCMTK 3.6.7, which does not know the syntax, so the instance cannot be sent as is.
    REJECTED = "rejected"
    #: Stored; no pixels to preview (documents, waveforms).
    NO_PIXELS = "no pixels"


#: Orthanc 1.10.1's answer per transfer syntax (observed; see :class:`OrthancSupport`).
ORTHANC_1_10: dict[TS, OrthancSupport] = {
    TS.EXPLICIT_VR_LITTLE_ENDIAN: OrthancSupport.PREVIEW,
    TS.IMPLICIT_VR_LITTLE_ENDIAN: OrthancSupport.PREVIEW,
    TS.RLE_LOSSLESS: OrthancSupport.PREVIEW,
    TS.JPEG_BASELINE: OrthancSupport.PREVIEW,
    TS.JPEG_EXTENDED: OrthancSupport.PREVIEW,
    TS.JPEG_LOSSLESS_SV1: OrthancSupport.PREVIEW,
    TS.JPEG_LS_LOSSLESS: OrthancSupport.PREVIEW,
    TS.JPEG_LS_NEAR_LOSSLESS: OrthancSupport.PREVIEW,
    # JPEG 2000 is decoded by the GDCM plugin (Debian package orthanc-gdcm); see
    # COLOUR_J2K below for colour.
    TS.JPEG_2000_LOSSLESS: OrthancSupport.PREVIEW,
    TS.JPEG_2000: OrthancSupport.PREVIEW,
    # HTJ2K (2019) and JPEG XL (2024) are newer than DCMTK 3.6.7.
    TS.HTJ2K_LOSSLESS: OrthancSupport.REJECTED,
    TS.HTJ2K_LOSSLESS_RPCL: OrthancSupport.REJECTED,
    TS.HTJ2K: OrthancSupport.REJECTED,
    TS.JPEG_XL_LOSSLESS: OrthancSupport.REJECTED,
    TS.JPEG_XL: OrthancSupport.REJECTED,
}

#: Colour JPEG 2000 is labelled YBR_RCT / YBR_ICT, as PS3.5 8.2.4 requires when the component
#: transform is used; orthanc-gdcm 1.5 (GDCM 3.0.21) decodes it but then fails with "GDCM
#: cannot change the photometric interpretation", so Orthanc answers 415 for its preview.
COLOUR_J2K: frozenset[TS] = frozenset({TS.JPEG_2000_LOSSLESS, TS.JPEG_2000})

#: Syntaxes DCMTK 3.6.7 storescp does not accept (reason 4, transfer syntax not supported).
STORESCP_REJECTS: frozenset[TS] = frozenset(
    {TS.HTJ2K_LOSSLESS, TS.HTJ2K_LOSSLESS_RPCL, TS.HTJ2K, TS.JPEG_XL_LOSSLESS, TS.JPEG_XL}
)

#: DCMTK 3.6.7 command lines (``argv`` before ``in out``) that write a syntax as native
#: Explicit VR Little Endian; DCMTK 3.6.7 has no JPEG 2000, HTJ2K or JPEG XL decoder.
DCMTK_DECOMPRESS: dict[TS, tuple[str, ...]] = {
    TS.EXPLICIT_VR_LITTLE_ENDIAN: ("/usr/bin/dcmconv", "+te"),
    TS.IMPLICIT_VR_LITTLE_ENDIAN: ("/usr/bin/dcmconv", "+te"),
    TS.RLE_LOSSLESS: ("/usr/bin/dcmdrle",),
    TS.JPEG_BASELINE: ("/usr/bin/dcmdjpeg",),
    TS.JPEG_EXTENDED: ("/usr/bin/dcmdjpeg",),
    TS.JPEG_LOSSLESS_SV1: ("/usr/bin/dcmdjpeg",),
    TS.JPEG_LS_LOSSLESS: ("/usr/bin/dcmdjpls",),
    TS.JPEG_LS_NEAR_LOSSLESS: ("/usr/bin/dcmdjpls",),
}

#: The DCMTK 3.6.7 image renderers. In the Debian build ``dcm2pnm`` only reads native and RLE
#: pixel data; ``dcmj2pnm`` adds the JPEG decoders and ``dcml2pnm`` the JPEG-LS ones.
DCM2PNM, DCMJ2PNM, DCML2PNM = "/usr/bin/dcm2pnm", "/usr/bin/dcmj2pnm", "/usr/bin/dcml2pnm"
DCMTK_RENDERER: dict[TS, str] = {
    TS.EXPLICIT_VR_LITTLE_ENDIAN: DCM2PNM,
    TS.IMPLICIT_VR_LITTLE_ENDIAN: DCM2PNM,
    TS.RLE_LOSSLESS: DCM2PNM,
    TS.JPEG_BASELINE: DCMJ2PNM,
    TS.JPEG_EXTENDED: DCMJ2PNM,
    TS.JPEG_LOSSLESS_SV1: DCMJ2PNM,
    TS.JPEG_LS_LOSSLESS: DCML2PNM,
    TS.JPEG_LS_NEAR_LOSSLESS: DCML2PNM,
}

#: Syntaxes the 2022 build of ``dciodvfy`` cannot parse (it stops at the Pixel Data).
DCIODVFY_CANNOT_PARSE: frozenset[TS] = frozenset(
    {TS.HTJ2K_LOSSLESS, TS.HTJ2K_LOSSLESS_RPCL, TS.HTJ2K, TS.JPEG_XL_LOSSLESS, TS.JPEG_XL}
)


@dataclass(frozen=True)
class InstanceMaker:
    """One kind of instance and what third-party software should make of it.

    Attributes
    ----------
    name
        Test id, e.g. ``sc-rgb-jpeg-baseline``.
    make
        Builds the instance for a context.
    modality
        Modality of the series the context is made for.
    iod
        The IOD name ``dciodvfy`` prints first (e.g. ``SCImage``).
    transfer_syntax
        The syntax the instance is written in.
    source
        The frames ``(n, rows, columns[, 3])`` that went into Pixel Data, or ``None``.
    smooth
        Whether ``source`` is photographic-like (lossy syntaxes then reach
        :data:`SMOOTH_PSNR_DB`; sharp synthetic frames only :data:`SHARP_PSNR_DB`).
    payload
        For instances without pixels, where their content sits: keywords and item indices
        down to a binary element (``("EncapsulatedDocument",)``), or ``None``.
    """

    name: str
    make: Callable[[InstanceContext], Dataset] = field(repr=False)
    modality: str
    iod: str
    transfer_syntax: TS
    source: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    smooth: bool = False
    payload: tuple[str | int, ...] | None = None

    @property
    def lossless(self) -> bool:
        """Whether decoding gives back the source values exactly."""
        return not get_codec(self.transfer_syntax).lossy

    @property
    def orthanc(self) -> OrthancSupport:
        """What Orthanc 1.10 does with the instance."""
        if self.source is None:
            return OrthancSupport.NO_PIXELS
        if self.transfer_syntax in COLOUR_J2K and self.source().ndim == 4:
            return OrthancSupport.NO_DECODER
        return ORTHANC_1_10[self.transfer_syntax]

    @property
    def storescp_accepts(self) -> bool:
        """Whether DCMTK 3.6.7 storescp accepts the syntax."""
        return self.transfer_syntax not in STORESCP_REJECTS

    @property
    def min_psnr_db(self) -> float:
        """The PSNR a lossy decode must reach (``inf`` for lossless: identical pixels)."""
        if self.lossless:
            return math.inf
        return SMOOTH_PSNR_DB if self.smooth else SHARP_PSNR_DB

    def build(self, number: int = 1) -> Dataset:
        """The instance, in a new study and series of its own."""
        return self.make(make_context(number, self.modality))


# --------------------------------------------------------------------------- sources


@cache
def synthetic_rgb(frames: int = 1) -> np.ndarray:
    """Colour bars with a burned-in frame counter, ``(frames, 240, 320, 3)`` uint8."""
    source = SyntheticSource(COLUMNS, ROWS)
    stack = np.stack([source.frame(index) for index in range(frames)])
    stack.setflags(write=False)
    return stack


def _smooth_field(seed: int, shape: tuple[int, ...], peak: int, dtype: type) -> np.ndarray:
    noise = np.random.default_rng(seed).random(shape, dtype=np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigmaX=6.0)
    low, high = blurred.min(), blurred.max()
    return np.round((blurred - low) / (high - low) * peak).astype(dtype)


@cache
def photo_rgb(frames: int = 1) -> np.ndarray:
    """A Gaussian-blurred random colour field (photographic-like), ``(frames, 240, 320, 3)``."""
    stack = np.stack(
        [_smooth_field(7 + index, (ROWS, COLUMNS, 3), 255, np.uint8) for index in range(frames)]
    )
    stack.setflags(write=False)
    return stack


@cache
def photo_gray12(frames: int = 1) -> np.ndarray:
    """A Gaussian-blurred random 12-bit field (a film scan), ``(frames, 240, 320)`` uint16."""
    stack = np.stack(
        [_smooth_field(70 + index, (ROWS, COLUMNS), 4095, np.uint16) for index in range(frames)]
    )
    stack.setflags(write=False)
    return stack


# --------------------------------------------------------------------------- makers


def _sc_rgb(source: Callable[[], np.ndarray], ts: TS) -> Callable[[InstanceContext], Dataset]:
    def make(context: InstanceContext) -> Dataset:
        return secondary_capture_image(source()[0], context, transfer_syntax=ts)

    return make


def _sc_gray12(ts: TS) -> Callable[[InstanceContext], Dataset]:
    def make(context: InstanceContext) -> Dataset:
        return secondary_capture_image(
            photo_gray12()[0],
            context,
            transfer_syntax=ts,
            bits_stored=12,
            conversion_type=ConversionType.DIGITIZED_FILM,
            scanner_dpi=150,
        )

    return make


def _mf_rgb(ts: TS) -> Callable[[InstanceContext], Dataset]:
    def make(context: InstanceContext) -> Dataset:
        return multiframe_secondary_capture(
            synthetic_rgb(FRAMES), context, transfer_syntax=ts, frame_time_ms=33.367
        )

    return make


def _mf_gray12(ts: TS) -> Callable[[InstanceContext], Dataset]:
    def make(context: InstanceContext) -> Dataset:
        return multiframe_secondary_capture(
            photo_gray12(FRAMES),
            context,
            transfer_syntax=ts,
            bits_stored=12,
            frame_axis=FrameAxis.PAGE,
            conversion_type=ConversionType.DIGITIZED_FILM,
            scanner_dpi=150,
        )

    return make


def _takes_12_bit(ts: TS) -> bool:
    """JPEG Baseline is 8-bit only (PS3.5 A.4.1); every other still syntax takes 12 bits."""
    return ts is not TS.JPEG_BASELINE


CATALOGUE: dict[str, InstanceMaker] = {}


def _register(maker: InstanceMaker) -> None:
    if maker.name in CATALOGUE:
        raise ValueError(f"two instance makers are called {maker.name}")
    CATALOGUE[maker.name] = maker


for _ts in TS:
    _slug = _ts.name.lower().replace("_", "-")
    _register(
        InstanceMaker(
            f"sc-rgb-{_slug}", _sc_rgb(synthetic_rgb, _ts), "OT", "SCImage", _ts,
            lambda: synthetic_rgb(1),
        )
    )  # fmt: skip
    _register(
        InstanceMaker(
            f"sc-photo-{_slug}", _sc_rgb(photo_rgb, _ts), "OT", "SCImage", _ts,
            lambda: photo_rgb(1), smooth=True,
        )
    )  # fmt: skip
    _register(
        InstanceMaker(
            f"mf-rgb-{_slug}", _mf_rgb(_ts), "OT", "MultiframeTrueColorSCImage", _ts,
            lambda: synthetic_rgb(FRAMES),
        )
    )  # fmt: skip
    if _takes_12_bit(_ts):
        _register(
            InstanceMaker(
                f"sc-gray12-{_slug}", _sc_gray12(_ts), "OT", "SCImage", _ts,
                lambda: photo_gray12(1), smooth=True,
            )
        )  # fmt: skip
        _register(
            InstanceMaker(
                f"mf-gray12-{_slug}", _mf_gray12(_ts), "OT", "MultiframeGrayscaleWordSCImage",
                _ts, lambda: photo_gray12(FRAMES), smooth=True,
            )
        )  # fmt: skip


# --------------------------------------------------------------------------- other IODs
# One entry each for the IODs besides Secondary Capture, in the syntaxes they are used in.


def _vl_endoscopic(
    source: Callable[[], np.ndarray], ts: TS
) -> Callable[[InstanceContext], Dataset]:
    def make(context: InstanceContext) -> Dataset:
        return vl_image(
            source()[0],
            context,
            kind=VLKind.ENDOSCOPIC,
            transfer_syntax=ts,
            anatomic_region=AnatomicRegion.STOMACH,
        )

    return make


def _us_still(context: InstanceContext) -> Dataset:
    return us_image(synthetic_rgb(1)[0], context)


def _us_cine(context: InstanceContext) -> Dataset:
    return us_multiframe_image(
        photo_rgb(FRAMES), context, frame_time_ms=33.367, transfer_syntax=TS.JPEG_BASELINE
    )


def _xa_run(context: InstanceContext) -> Dataset:
    return xray_image(
        photo_gray12(FRAMES),
        context,
        frame_time_ms=66.7,
        bits_stored=12,
        transfer_syntax=TS.JPEG_LOSSLESS_SV1,
    )


@cache
def small_pdf() -> bytes:
    """A one-page PDF made with reportlab (made-up content)."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, invariant=True)
    page.drawString(72, 770, "izer interoperability test: Testperson, made-up report")
    page.showPage()
    page.save()
    return out.getvalue()


def _pdf(context: InstanceContext) -> Dataset:
    return encapsulated_pdf(small_pdf(), context, document_title="Interop test report")


def write_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """Write a mono 16-bit WAV of a 440 Hz tone with PyAV and return ``path``."""
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.4 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(1, -1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _voice(context: InstanceContext) -> Dataset:
    with tempfile.TemporaryDirectory(prefix="izer-interop-") as folder:
        return voice_audio(write_wav(Path(folder) / "tone.wav"), context)


def _gsps(context: InstanceContext) -> Dataset:
    uids = UidFactory(UID_ROOT)
    image_context = dataclasses.replace(
        context,
        series=SeriesContext(uids.new(), 1, "OT"),
        sop_instance_uid=uids.new(),
    )
    image = secondary_capture_image(
        photo_gray12()[0],
        image_context,
        bits_stored=12,
        conversion_type=ConversionType.DIGITIZED_FILM,
        scanner_dpi=150,
    )
    return presentation_state(
        image,
        context,
        label="INTEROP",
        texts=[TextAnnotation("made-up finding", anchor=(160.0, 120.0))],
        graphics=[GraphicAnnotation(GraphicType.CIRCLE, [(160.0, 120.0), (180.0, 120.0)])],
    )


_register(
    InstanceMaker(
        "vl-es-photo-jpeg-baseline", _vl_endoscopic(photo_rgb, TS.JPEG_BASELINE), "ES",
        "VLEndoscopicImage", TS.JPEG_BASELINE, lambda: photo_rgb(1), smooth=True,
    )
)  # fmt: skip
_register(
    InstanceMaker(
        "vl-es-rgb-jpeg-2000-lossless", _vl_endoscopic(synthetic_rgb, TS.JPEG_2000_LOSSLESS),
        "ES", "VLEndoscopicImage", TS.JPEG_2000_LOSSLESS, lambda: synthetic_rgb(1),
    )
)  # fmt: skip
_register(
    InstanceMaker(
        "us-rgb-explicit-vr-little-endian", _us_still, "US", "USImage",
        TS.EXPLICIT_VR_LITTLE_ENDIAN, lambda: synthetic_rgb(1),
    )
)  # fmt: skip
_register(
    InstanceMaker(
        "us-cine-photo-jpeg-baseline", _us_cine, "US", "USMultiFrameImage", TS.JPEG_BASELINE,
        lambda: photo_rgb(FRAMES), smooth=True,
    )
)  # fmt: skip
_register(
    InstanceMaker(
        "xa-run-gray12-jpeg-lossless-sv1", _xa_run, "XA", "XAImage",
        TS.JPEG_LOSSLESS_SV1, lambda: photo_gray12(FRAMES), smooth=True,
    )
)  # fmt: skip
_register(
    InstanceMaker(
        "encapsulated-pdf", _pdf, "DOC", "EncapsulatedPDF", TS.EXPLICIT_VR_LITTLE_ENDIAN,
        payload=("EncapsulatedDocument",),
    )
)  # fmt: skip
_register(
    InstanceMaker(
        "voice-audio", _voice, "AU", "BasicVoice", TS.EXPLICIT_VR_LITTLE_ENDIAN,
        payload=("WaveformSequence", 0, "WaveformData"),
    )
)  # fmt: skip
_register(
    InstanceMaker(
        "gsps", _gsps, "PR", "GrayscaleSoftcopyPresentationState", TS.EXPLICIT_VR_LITTLE_ENDIAN
    )
)


# --------------------------------------------------------------------------- helpers


def makers(predicate: Callable[[InstanceMaker], bool] = lambda maker: True) -> list[InstanceMaker]:
    """The catalogue entries for which ``predicate`` holds, in catalogue order."""
    return [maker for maker in CATALOGUE.values() if predicate(maker)]


def write(ds: Dataset, folder: Path, name: str) -> Path:
    """Save ``ds`` as a DICOM file ``folder/name.dcm`` and return its path."""
    path = folder / f"{name}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def dataset_bytes(path: Path) -> bytes:
    """The bytes of a DICOM file after its File Meta Information (the dataset as sent)."""
    data = path.read_bytes()
    group_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL, PS3.10 7.1
    return data[144 + group_length :]


def payload_bytes(ds: Dataset, path: tuple[str | int, ...]) -> bytes:
    """The value of the binary element at ``path`` (keywords and item indices)."""
    node: object = ds
    for step in path:
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return bytes(node)


def orthanc_content_path(path: tuple[str | int, ...]) -> str:
    """``path`` as Orthanc's ``/instances/{id}/content/...`` route (``5400-0100/0/5400-1010``)."""
    parts = []
    for step in path:
        if isinstance(step, int):
            parts.append(str(step))
        else:
            tag = tag_for_keyword(step)
            parts.append(f"{tag >> 16:04x}-{tag & 0xFFFF:04x}")
    return "/".join(parts)


def psnr(expected: np.ndarray, actual: np.ndarray, peak: float) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical arrays)."""
    error = np.mean((expected.astype(np.float64) - actual.astype(np.float64)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(peak**2 / error)


def peak_of(source: np.ndarray, bits_stored: int) -> float:
    """The largest value a sample can take."""
    return float(2**bits_stored - 1) if source.dtype == np.uint16 else 255.0


def png_size(data: bytes) -> tuple[int, int]:
    """``(rows, columns)`` of a PNG image; raises ``ValueError`` when it is not one."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"not a PNG (starts {data[:8]!r})")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("PNG signature but OpenCV cannot decode it")
    return image.shape[0], image.shape[1]
