"""The SOP classes and presentation contexts izer's Q/R SCU proposes (PS3.4 C.6, PS3.8 9.3.2.2).

The conformance statement lists these; :func:`get_contexts` chooses the storage contexts of a
C-GET, at most :data:`MAX_REQUESTED_CONTEXTS` per association.
"""

from __future__ import annotations

from collections.abc import Sequence

from pynetdicom import StoragePresentationContexts
from pynetdicom.sop_class import (
    BasicVoiceAudioWaveformStorage,
    EncapsulatedPDFStorage,
    GeneralAudioWaveformStorage,
    GrayscaleSoftcopyPresentationStateStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    VideoEndoscopicImageStorage,
    VideoMicroscopicImageStorage,
    VideoPhotographicImageStorage,
    VLEndoscopicImageStorage,
    VLMicroscopicImageStorage,
    VLPhotographicImageStorage,
    XRayAngiographicImageStorage,
    XRayRadiofluoroscopicImageStorage,
)

from izer.net.listener import DEFAULT_STORAGE_TRANSFER_SYNTAXES

#: The query models izer's C-FIND SCU proposes (PS3.4 C.6.1.1.2, C.6.2.1.2).
FIND_MODELS: tuple[str, ...] = (
    str(PatientRootQueryRetrieveInformationModelFind),
    str(StudyRootQueryRetrieveInformationModelFind),
)
#: The retrieve models of :func:`izer.worklist.retrieve.move` (PS3.4 C.6.2.1.3).
MOVE_MODELS: tuple[str, ...] = (str(StudyRootQueryRetrieveInformationModelMove),)
#: The retrieve models of :func:`izer.worklist.retrieve.get` (PS3.4 C.6.2.1.4).
GET_MODELS: tuple[str, ...] = (str(StudyRootQueryRetrieveInformationModelGet),)

#: The storage SOP classes izer itself writes: always proposed for C-GET.
_IZER_STORAGE = (
    SecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    VLEndoscopicImageStorage,
    VLPhotographicImageStorage,
    VLMicroscopicImageStorage,
    VideoEndoscopicImageStorage,
    VideoPhotographicImageStorage,
    VideoMicroscopicImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    XRayAngiographicImageStorage,
    XRayRadiofluoroscopicImageStorage,
    EncapsulatedPDFStorage,
    GrayscaleSoftcopyPresentationStateStorage,
    BasicVoiceAudioWaveformStorage,
    GeneralAudioWaveformStorage,
)
#: Presentation contexts one association may request (PS3.8 9.3.2.2: IDs 1-255, odd).
MAX_REQUESTED_CONTEXTS = 128

#: Video transfer syntaxes (PS3.5 8.2.5-8.2.7): archives send these as stored, they do not
#: transcode them, so each gets a presentation context of its own.
VIDEO_SYNTAXES: frozenset[str] = frozenset(
    {f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)}
    | {f"1.2.840.10008.1.2.4.{n}.1" for n in range(100, 105)}
)
#: izer's default video syntax (H.264 HP@L4.1): proposed first, for archives that send
#: over the first context of a SOP class they accepted (DCMTK dcmqrscp).
_PREFERRED_VIDEO = "1.2.840.10008.1.2.4.102"
_VIDEO_STORAGE = frozenset(
    str(uid)
    for uid in (
        VideoEndoscopicImageStorage,
        VideoPhotographicImageStorage,
        VideoMicroscopicImageStorage,
    )
)
_DEFAULT_VIDEO = [ts for ts in DEFAULT_STORAGE_TRANSFER_SYNTAXES if ts in VIDEO_SYNTAXES]

#: Storage SOP classes proposed with the SCP role for C-GET when the study's are not known:
#: izer's own, then pynetdicom's common storage classes, as many as fit beside
#: :data:`GET_MODELS` with the video classes' extra contexts (:func:`get_contexts`).
GET_STORAGE_CLASSES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [str(uid) for uid in _IZER_STORAGE]
        + [str(c.abstract_syntax) for c in StoragePresentationContexts]
    )
)[: MAX_REQUESTED_CONTEXTS - len(GET_MODELS) - len(_VIDEO_STORAGE) * len(_DEFAULT_VIDEO)]


def get_contexts(
    sop_classes: Sequence[str] = (),
    transfer_syntaxes: Sequence[str] = DEFAULT_STORAGE_TRANSFER_SYNTAXES,
) -> list[tuple[str, list[str]]]:
    """The storage presentation contexts a C-GET proposes (PS3.4 C.4.3.1, PS3.8 9.3.2.2).

    The archive picks one transfer syntax per context, often uncompressed, and may not
    transcode what it stores (video never). So a video SOP class gets one context per video
    syntax (H.264 HP@L4.1 first), then one with the others. With ``sop_classes`` (the
    study's, from an IMAGE level C-FIND) every syntax gets its own context when that fits in
    one association, so that each instance can come as it is stored; otherwise, and without
    ``sop_classes`` (then :data:`GET_STORAGE_CLASSES`), an image class gets one context with
    every non-video syntax.
    """
    syntaxes = list(dict.fromkeys(transfer_syntaxes))
    video = sorted(
        (s for s in syntaxes if s in VIDEO_SYNTAXES), key=lambda s: s != _PREFERRED_VIDEO
    )
    others = [s for s in syntaxes if s not in VIDEO_SYNTAXES]
    budget = MAX_REQUESTED_CONTEXTS - len(GET_MODELS)

    def contexts_of(uid: str, each: bool) -> list[tuple[str, list[str]]]:
        if uid in _VIDEO_STORAGE:
            return [(uid, [s]) for s in video] + ([(uid, others)] if others else [])
        if each:
            return [(uid, [s]) for s in others]
        return [(uid, others)] if others else []

    classes = list(dict.fromkeys(str(uid) for uid in sop_classes)) or list(GET_STORAGE_CLASSES)
    if sop_classes:
        split = [c for uid in classes for c in contexts_of(uid, True)]
        if len(split) <= budget:
            return split
    return [c for uid in classes for c in contexts_of(uid, False)][:budget]
