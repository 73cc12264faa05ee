"""PS3.11 media application profiles: which content each one holds, and choosing one.

A profile fixes the medium, the transfer syntaxes and the DICOMDIR keys of a file-set
(PS3.11 Section 7, Annexes D, H, I, J and M). Files are copied as they are, never re-encoded,
so a profile fits only when every instance already uses one of its transfer syntaxes; when
none fits, the file-set is a *general* one that claims no profile (for example HEVC video,
which no PS3.11 profile carries, or any video on a USB stick).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import pydicom.uid as sop
from pydicom.dataset import Dataset
from pydicom.uid import UID

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
_JPEG = frozenset(
    {
        EXPLICIT_VR_LITTLE_ENDIAN,
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
        "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1 (Process 14)
    }
)
_J2K = frozenset(
    {
        EXPLICIT_VR_LITTLE_ENDIAN,
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
        "1.2.840.10008.1.2.4.91",  # JPEG 2000
    }
)
_HEVC = frozenset({"1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108"})
_VIDEO_PREFIX = "1.2.840.10008.1.2.4.10"

#: SOP classes of multi-frame IODs: the only ones the video profiles hold (PS3.11 I.3,
#: M.3); the list DCMTK 3.6.7 ``dcmmkdir`` uses for the same check.
MULTIFRAME_SOP_CLASSES = frozenset(
    str(getattr(sop, name))
    for name in (
        "BreastProjectionXRayImageStorageForPresentation",
        "BreastProjectionXRayImageStorageForProcessing",
        "BreastTomosynthesisImageStorage",
        "EnhancedCTImageStorage",
        "EnhancedMRColorImageStorage",
        "EnhancedMRImageStorage",
        "EnhancedPETImageStorage",
        "EnhancedUSVolumeStorage",
        "EnhancedXAImageStorage",
        "EnhancedXRFImageStorage",
        "IntravascularOpticalCoherenceTomographyImageStorageForPresentation",
        "IntravascularOpticalCoherenceTomographyImageStorageForProcessing",
        "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
        "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
        "MultiFrameSingleBitSecondaryCaptureImageStorage",
        "MultiFrameTrueColorSecondaryCaptureImageStorage",
        "NuclearMedicineImageStorage",
        "OphthalmicOpticalCoherenceTomographyBscanVolumeAnalysisStorage",
        "OphthalmicPhotography16BitImageStorage",
        "OphthalmicPhotography8BitImageStorage",
        "OphthalmicTomographyImageStorage",
        "ParametricMapStorage",
        "RTDoseStorage",
        "RTImageStorage",
        "UltrasoundMultiFrameImageStorage",
        "VideoEndoscopicImageStorage",
        "VideoMicroscopicImageStorage",
        "VideoPhotographicImageStorage",
        "WideFieldOphthalmicPhotographyStereographicProjectionImageStorage",
        "WideFieldOphthalmicPhotography3DCoordinatesImageStorage",
        "XRay3DAngiographicImageStorage",
        "XRay3DCraniofacialImageStorage",
        "XRayAngiographicImageStorage",
        "XRayRadiofluoroscopicImageStorage",
    )
)


class Medium(enum.StrEnum):
    """Where a file-set goes."""

    CD = "cd"
    DVD = "dvd"
    BD = "bd"
    USB = "usb"
    FOLDER = "folder"

    @property
    def capacity_bytes(self) -> int | None:
        """Usable bytes of one blank disc (a margin below the nominal size), None if unbounded.

        CD-R 80 min (~703 MB of 2048-byte sectors), single-layer DVD±R (4.7 GB nominal,
        4.48 GB usable), single-layer BD-R (25 GB nominal, 24 GB usable).
        """
        return _CAPACITY[self]


_CAPACITY: dict[Medium, int | None] = {
    Medium.CD: 703_000_000,
    Medium.DVD: 4_480_000_000,
    Medium.BD: 24_000_000_000,
    Medium.USB: None,
    Medium.FOLDER: None,
}


class KeySet(enum.Enum):
    """Which optional keys the directory records carry (PS3.11 D.3.3, H.3.3, I.3.3, J.3.3)."""

    CD = "cd"
    """STD-GEN-CD: IMAGE records add Image Type and Referenced Image Sequence (1C)."""
    EXTENDED = "extended"
    """DVD, USB and BD profiles (P11 Table H.3-2): Patient's Birth Date/Sex, Institution,
    Performing Physician (1C), IMAGE Rows and Columns (1) and the 1C image keys."""
    MPEG2_DVD = "mpeg2-dvd"
    """STD-DVD-MPEG2-MPML (PS3.11 I.3.3): as EXTENDED, IMAGE keys limited to Rows, Columns,
    Image Type and Lossy Image Compression Ratio."""


@dataclass(frozen=True)
class _Rule:
    medium: Medium | None
    syntaxes: frozenset[str] | None  # None: any
    annex: str
    dcmmkdir: str | None
    keys: KeySet = KeySet.EXTENDED
    multiframe_only: bool = False


class MediaProfile(enum.StrEnum):
    """A PS3.11 media application profile; the value is its identifier (PS3.11 Section 6)."""

    STD_GEN_CD = "STD-GEN-CD"
    STD_GEN_DVD_JPEG = "STD-GEN-DVD-JPEG"
    STD_GEN_DVD_J2K = "STD-GEN-DVD-J2K"
    STD_GEN_USB_JPEG = "STD-GEN-USB-JPEG"
    STD_GEN_USB_J2K = "STD-GEN-USB-J2K"
    STD_GEN_BD_JPEG = "STD-GEN-BD-JPEG"
    STD_GEN_BD_J2K = "STD-GEN-BD-J2K"
    STD_GEN_BD_MPEG2_MPML = "STD-GEN-BD-MPEG2-MPML"
    STD_GEN_BD_MPEG2_MPHL = "STD-GEN-BD-MPEG2-MPHL"
    STD_GEN_BD_MPEG4_HPLV41 = "STD-GEN-BD-MPEG4-HPLV41"
    STD_GEN_BD_MPEG4_HPLV41BD = "STD-GEN-BD-MPEG4-HPLV41BD"
    STD_GEN_BD_MPEG4_HPLV42_2D = "STD-GEN-BD-MPEG4-HPLV42-2D"
    STD_DVD_MPEG2_MPML = "STD-DVD-MPEG2-MPML"
    GENERAL = "GENERAL"
    """A general file-set: DICOMDIR and file IDs as PS3.10 asks, no profile claimed."""

    @property
    def transfer_syntaxes(self) -> frozenset[str]:
        """Transfer syntax UIDs the profile allows (empty for GENERAL: any)."""
        return _RULES[self].syntaxes or frozenset()

    @property
    def medium(self) -> Medium | None:
        """The medium the profile is defined for; None for GENERAL (any medium)."""
        return _RULES[self].medium

    @property
    def needs_image_rows_columns(self) -> bool:
        """Whether IMAGE records carry Rows and Columns (type 1 in P11 Table H.3-2)."""
        return _RULES[self].keys is not KeySet.CD

    @property
    def multiframe_only(self) -> bool:
        """Whether only multi-frame (video) instances are allowed (PS3.11 I.3, M.3)."""
        return _RULES[self].multiframe_only

    @property
    def annex(self) -> str:
        """Where PS3.11 defines the profile."""
        return _RULES[self].annex

    @property
    def dcmmkdir_option(self) -> str | None:
        """The DCMTK 3.6.7 ``dcmmkdir`` option that checks this profile (None: GENERAL)."""
        return _RULES[self].dcmmkdir

    @property
    def keys(self) -> KeySet:
        """Which optional keys its directory records carry."""
        return _RULES[self].keys

    @property
    def is_standard(self) -> bool:
        """True for a PS3.11 profile, False for a general file-set."""
        return self is not MediaProfile.GENERAL


def _video(medium: Medium, uid: str, annex: str, option: str) -> _Rule:
    """A video profile: one syntax, multi-frame IODs only."""
    return _Rule(medium, frozenset({uid}), f"PS3.11 Annex {annex}", option, multiframe_only=True)


_D, _H, _J, _M = (f"PS3.11 Annex {annex}" for annex in "DHJM")
_EXPLICIT_ONLY = frozenset({EXPLICIT_VR_LITTLE_ENDIAN})
_VIDEO = "1.2.840.10008.1.2.4."

_RULES: dict[MediaProfile, _Rule] = {
    MediaProfile.STD_GEN_CD: _Rule(Medium.CD, _EXPLICIT_ONLY, _D, "-Pgp", KeySet.CD),
    MediaProfile.STD_GEN_DVD_JPEG: _Rule(Medium.DVD, _JPEG, _H, "-Pdv"),
    MediaProfile.STD_GEN_DVD_J2K: _Rule(Medium.DVD, _J2K, _H, "-Pd2"),
    MediaProfile.STD_GEN_USB_JPEG: _Rule(Medium.USB, _JPEG, _J, "-Pfl"),
    MediaProfile.STD_GEN_USB_J2K: _Rule(Medium.USB, _J2K, _J, "-Pf2"),
    MediaProfile.STD_GEN_BD_JPEG: _Rule(Medium.BD, _JPEG, _M, "-Pbd"),
    MediaProfile.STD_GEN_BD_J2K: _Rule(Medium.BD, _J2K, _M, "-Pb2"),
    MediaProfile.STD_GEN_BD_MPEG2_MPML: _video(Medium.BD, _VIDEO + "100", "M", "-Pbm"),
    MediaProfile.STD_GEN_BD_MPEG2_MPHL: _video(Medium.BD, _VIDEO + "101", "M", "-Pbh"),
    MediaProfile.STD_GEN_BD_MPEG4_HPLV41: _video(Medium.BD, _VIDEO + "102", "M", "-Pba"),
    MediaProfile.STD_GEN_BD_MPEG4_HPLV41BD: _video(Medium.BD, _VIDEO + "103", "M", "-Pbb"),
    MediaProfile.STD_GEN_BD_MPEG4_HPLV42_2D: _video(
        Medium.BD, _VIDEO + "104", "M", "--general-bd-mpeg4-hp2d"
    ),
    MediaProfile.STD_DVD_MPEG2_MPML: dataclasses.replace(
        _video(Medium.DVD, _VIDEO + "100", "I", "-Pmp"), keys=KeySet.MPEG2_DVD
    ),
    MediaProfile.GENERAL: _Rule(None, None, "PS3.10 (no PS3.11 profile)", None),
}

#: Profiles tried, in order, for each medium when none is asked for.
AUTO_ORDER: dict[Medium, tuple[MediaProfile, ...]] = {
    Medium.CD: (MediaProfile.STD_GEN_CD,),
    Medium.DVD: (
        MediaProfile.STD_GEN_DVD_JPEG,
        MediaProfile.STD_GEN_DVD_J2K,
        MediaProfile.STD_DVD_MPEG2_MPML,
    ),
    Medium.BD: (
        MediaProfile.STD_GEN_BD_MPEG4_HPLV41,
        MediaProfile.STD_GEN_BD_MPEG4_HPLV42_2D,
        MediaProfile.STD_GEN_BD_MPEG4_HPLV41BD,
        MediaProfile.STD_GEN_BD_MPEG2_MPHL,
        MediaProfile.STD_GEN_BD_MPEG2_MPML,
        MediaProfile.STD_GEN_BD_JPEG,
        MediaProfile.STD_GEN_BD_J2K,
    ),
    Medium.USB: (MediaProfile.STD_GEN_USB_JPEG, MediaProfile.STD_GEN_USB_J2K),
    Medium.FOLDER: (MediaProfile.STD_GEN_USB_JPEG, MediaProfile.STD_GEN_USB_J2K),
}


@dataclass(frozen=True)
class ProfileChoice:
    """The profile of a file-set and why.

    Attributes
    ----------
    refused
        SOP Instance UID -> why that instance does not fit `profile`; empty when all fit.
        Only an explicitly asked-for profile can have refusals: the automatic choice falls
        back to GENERAL instead.
    """

    profile: MediaProfile
    reason: str
    refused: dict[str, str] = field(default_factory=dict)


def syntax_name(uid: str) -> str:
    """A transfer syntax's name and UID, for messages."""
    name = UID(uid).name
    return f"{name} ({uid})" if name and name != uid else uid


def refusal(header: Dataset, profile: MediaProfile) -> str | None:
    """Why ``header``'s instance does not fit ``profile``, or None when it does.

    Parameters
    ----------
    header
        The instance's data set with its File Meta Information (pixel data not needed).
    """
    rule = _RULES[profile]
    syntax = _transfer_syntax(header)
    if rule.syntaxes is not None and syntax not in rule.syntaxes:
        allowed = ", ".join(sorted(UID(uid).name or uid for uid in rule.syntaxes))
        return (
            f"{syntax_name(syntax)} is not allowed by {profile.value} ({rule.annex} allows "
            f"{allowed})"
        )
    sop_class = str(header.get("SOPClassUID", ""))
    if rule.multiframe_only and sop_class not in MULTIFRAME_SOP_CLASSES:
        name = UID(sop_class).name or sop_class or "an instance without SOP Class UID"
        return f"{name} is not a multi-frame IOD; {profile.value} holds video (multi-frame) only"
    return None


def choose_profile(
    headers: Sequence[Dataset], medium: Medium, wanted: MediaProfile | None = None
) -> ProfileChoice:
    """Choose the media profile of a file-set from its content (PS3.11 Section 7).

    Parameters
    ----------
    headers
        Every instance's data set with File Meta (read without pixel data).
    medium
        Where the file-set goes. A folder is treated as a USB stick.
    wanted
        A profile asked for: it is returned with the instances it refuses in
        :attr:`ProfileChoice.refused` (the caller decides whether to fail). None: the first
        profile of :data:`AUTO_ORDER` for the medium that holds every instance, else GENERAL.

    Raises
    ------
    ValueError
        When there are no instances, or ``wanted`` is a profile of another medium.
    """
    if not headers:
        raise ValueError("a file-set needs at least one instance; none was given")
    medium = Medium(medium)
    if wanted is not None:
        wanted = MediaProfile(wanted)
        own = wanted.medium
        if own is not None and medium is not Medium.FOLDER and own is not medium:
            raise ValueError(
                f"{wanted.value} is a profile for {own.value.upper()} media ({wanted.annex}), "
                f"not {medium.value.upper()}; choose a {medium.value.upper()} profile or "
                "--profile auto"
            )
        refused = _refusals(headers, wanted)
        if refused:
            reason = f"{wanted.value} was asked for; {len(refused)} instance(s) do not fit it"
        else:
            reason = f"{wanted.value} was asked for and every instance fits it ({wanted.annex})"
        return ProfileChoice(wanted, reason, refused)
    failures: list[str] = []
    for profile in AUTO_ORDER[medium]:
        refused = _refusals(headers, profile)
        if not refused:
            return ProfileChoice(
                profile, f"every instance fits {profile.value} ({profile.annex})", {}
            )
        example = next(iter(refused.values()))
        failures.append(f"{profile.value} refuses {len(refused)} instance(s), e.g. {example}")
    return ProfileChoice(MediaProfile.GENERAL, _general_reason(headers, medium, failures), {})


def _refusals(headers: Sequence[Dataset], profile: MediaProfile) -> dict[str, str]:
    refused: dict[str, str] = {}
    for header in headers:
        why = refusal(header, profile)
        if why is not None:
            refused[str(header.get("SOPInstanceUID", ""))] = why
    return refused


def _general_reason(headers: Sequence[Dataset], medium: Medium, failures: list[str]) -> str:
    syntaxes = {_transfer_syntax(header) for header in headers}
    facts = []
    if syntaxes & _HEVC:
        facts.append("HEVC video has no PS3.11 media profile")
    if medium in (Medium.USB, Medium.FOLDER) and any(
        uid.startswith(_VIDEO_PREFIX) for uid in syntaxes
    ):
        facts.append("no PS3.11 profile puts video on USB media (PS3.11 Annex J)")
    if medium is Medium.CD and syntaxes - {EXPLICIT_VR_LITTLE_ENDIAN}:
        facts.append(
            "STD-GEN-CD holds Explicit VR Little Endian only; compressed files are copied as "
            "they are, never decompressed"
        )
    head = f"no PS3.11 profile for {medium.value.upper()} media holds this content"
    detail = "; ".join([*facts, *failures])
    return f"{head}: {detail}; the file-set is a general one and claims no profile"


def _transfer_syntax(header: Dataset) -> str:
    meta = getattr(header, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(syntax or "")
