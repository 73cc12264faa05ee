"""Directory records built from instance headers, with the keys of the chosen profile.

Keys per record type: PS3.3 F.5 (Table F.5-1 ff.); the keys the DVD, USB and BD profiles add:
PS3.11 Table H.3-2 (and D.3.3, I.3.3, J.3.3, M.3.3) - the same set DCMTK ``dcmmkdir`` 3.6.7
writes for each profile. Type 1 keys that the instances leave empty (type 2 in most IODs)
are filled in the *record* only, by a stated rule, and every fill becomes a note.
"""

from __future__ import annotations

import copy
from datetime import date

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID, KeyObjectSelectionDocumentStorage

from izer.dispatch.media.profiles import KeySet, MediaProfile

#: IMAGE keys of the DVD, USB and BD profiles (P11 Table H.3-2), type 1C: copied when valued.
_EXTENDED_IMAGE_1C = (
    "ImageType",
    "CalibrationImage",
    "LossyImageCompressionRatio",
    "FrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID",
    "NumberOfFrames",
    "AcquisitionTimeSynchronized",
    "AcquisitionDateTime",
    "ReferencedImageSequence",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
)
_MPEG2_DVD_IMAGE_1C = ("ImageType", "LossyImageCompressionRatio")
_CD_IMAGE_1C = ("ImageType", "ReferencedImageSequence")
#: Value representations whose text depends on the character set (PS3.5 6.1.2.3).
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})


class Filler:
    """Values for type 1 record keys an instance leaves empty, each fill noted.

    Parameters
    ----------
    notes
        Receives one sentence per fill, naming the instance or entity and the rule used.
    """

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes

    def note(self, text: str) -> None:
        """Record a fill (once per distinct sentence)."""
        if text not in self.notes:
            self.notes.append(text)


def element(header: Dataset, keyword: str) -> DataElement | None:
    """A detached copy of ``header``'s element ``keyword`` with nested items decoded."""
    if keyword not in header:
        return None
    copied = copy.deepcopy(header[keyword])
    if copied.VR == "SQ":
        for item in copied.value:
            _decode_item(item)
    return copied


def _decode_item(item: Dataset) -> None:
    for nested in item:  # iterating converts raw elements to DataElements
        if nested.VR == "SQ":
            for inner in nested.value:
                _decode_item(inner)


def valued(header: Dataset, keyword: str) -> bool:
    """Whether ``keyword`` is present with a non-empty value."""
    return keyword in header and not header[keyword].is_empty


def copy_keys(
    record: Dataset,
    header: Dataset,
    type1: tuple[str, ...] = (),
    type2: tuple[str, ...] = (),
    type1c: tuple[str, ...] = (),
) -> None:
    """Copy keys from ``header`` into ``record``: type 1 and 2 always, 1C when valued."""
    for keyword in (*type1, *type2):
        found = element(header, keyword)
        if found is None:
            setattr(record, keyword, None)
        else:
            record.add(found)
    for keyword in type1c:
        if valued(header, keyword):
            record.add(element(header, keyword))


def new_record(kind: str, header: Dataset) -> Dataset:
    """A record of type ``kind`` with the offsets zero and the source's character set.

    Call :func:`settle_character_set` once its keys are in.
    """
    record = Dataset()
    record.OffsetOfTheNextDirectoryRecord = 0
    record.RecordInUseFlag = 0xFFFF
    record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
    record.DirectoryRecordType = kind
    if valued(header, "SpecificCharacterSet"):
        record.add(element(header, "SpecificCharacterSet"))
    return record


def settle_character_set(record: Dataset) -> Dataset:
    """Keep Specific Character Set only in records with keys of a text VR.

    PS3.3 F.5: (0008,0005) is type 1C in every record, "required if an extended or
    replacement character set is used in one of the keys". As DCMTK ``dcmmkdir`` does, it is
    kept where a key's value representation depends on it (SH, LO, ST, LT, UT, UC, PN:
    PATIENT and STUDY records, SERIES records with Institution Name ...), dropped elsewhere.
    """
    if "SpecificCharacterSet" in record and not _has_text(record):
        del record.SpecificCharacterSet
    return record


def _has_text(dataset: Dataset) -> bool:
    for item in dataset:
        if item.keyword == "SpecificCharacterSet":
            continue
        if item.VR in _TEXT_VRS:
            return True
        if item.VR == "SQ" and any(_has_text(nested) for nested in item.value):
            return True
    return False


def patient_record(header: Dataset, patient_id: str, profile: MediaProfile) -> Dataset:
    """PATIENT record (PS3.3 F.5.1; Birth Date and Sex 1C in P11 Table H.3-2)."""
    record = new_record("PATIENT", header)
    record.PatientID = patient_id
    copy_keys(record, header, type2=("PatientName",))
    if profile.keys is not KeySet.CD:
        copy_keys(record, header, type1c=("PatientBirthDate", "PatientSex"))
    return record


def study_record(header: Dataset, values: dict[str, str]) -> Dataset:
    """STUDY record (PS3.3 F.5.2); ``values`` holds Study Date, Time and ID, filled in."""
    record = new_record("STUDY", header)
    record.StudyDate = values["StudyDate"]
    record.StudyTime = values["StudyTime"]
    copy_keys(record, header, type2=("StudyDescription",))
    record.StudyInstanceUID = header.StudyInstanceUID
    record.StudyID = values["StudyID"]
    copy_keys(record, header, type2=("AccessionNumber",))
    return record


def series_record(header: Dataset, modality: str, number: str, profile: MediaProfile) -> Dataset:
    """SERIES record (PS3.3 F.5.3; Institution and Performing Physician 1C for DVD/USB/BD)."""
    record = new_record("SERIES", header)
    record.Modality = modality
    record.SeriesInstanceUID = header.SeriesInstanceUID
    record.SeriesNumber = number
    if profile.keys is not KeySet.CD:
        keys = ("InstitutionName", "InstitutionAddress", "PerformingPhysicianName")
        copy_keys(record, header, type1c=keys)
    return record


def leaf_record_type(header: Dataset) -> str:
    """The Directory Record Type of an instance (PS3.3 F.4, Table F.4-1).

    Raises
    ------
    ValueError
        For an instance that is neither an image nor one of the document kinds known here.
    """
    sop_class = str(header.get("SOPClassUID", ""))
    name = UID(sop_class).name
    if "MIMETypeOfEncapsulatedDocument" in header:
        return "ENCAP DOC"
    if "WaveformSequence" in header:
        return "WAVEFORM"
    if name.endswith("Presentation State Storage"):
        return "PRESENTATION"
    if sop_class == KeyObjectSelectionDocumentStorage:
        return "KEY OBJECT DOC"
    if "CompletionFlag" in header and "VerificationFlag" in header:
        return "SR DOCUMENT"
    if "Rows" in header and "Columns" in header:
        return "IMAGE"
    raise ValueError(
        f"no directory record type is known here for {name or 'an instance without SOP Class'}"
        " (not an image, document, waveform, presentation state or SR); leave it off the media"
    )


def leaf_record(
    header: Dataset, kind: str, instance_number: str, profile: MediaProfile, filler: Filler
) -> Dataset:
    """The record of one instance (IMAGE, ENCAP DOC, WAVEFORM ...), without its File ID.

    Raises
    ------
    ValueError
        When a type 1 key that is also type 1 in the instance's IOD is missing.
    """
    record = new_record(kind, header)
    where = f"instance {header.SOPInstanceUID}"
    if kind == "IMAGE":
        record.InstanceNumber = instance_number
        _image_keys(record, header, profile, where)
    elif kind == "ENCAP DOC":
        copy_keys(record, header, type2=("ContentDate", "ContentTime"))
        record.InstanceNumber = instance_number
        copy_keys(record, header, type2=("DocumentTitle",), type1c=("HL7InstanceIdentifier",))
        copy_keys(record, header, type2=("ConceptNameCodeSequence",))
        _require(header, ("MIMETypeOfEncapsulatedDocument",), where)
        copy_keys(record, header, type1=("MIMETypeOfEncapsulatedDocument",))
    elif kind == "WAVEFORM":
        record.InstanceNumber = instance_number
        content_date, content_time = _content_moment(header, filler, where)
        record.ContentDate, record.ContentTime = content_date, content_time
    elif kind == "PRESENTATION":
        keys = ("PresentationCreationDate", "PresentationCreationTime", "ContentLabel")
        _require(header, keys, where)
        copy_keys(record, header, type1=keys[:2])
        record.InstanceNumber = instance_number
        copy_keys(record, header, type1=keys[2:], type2=("ContentDescription",))
        copy_keys(record, header, type2=("ContentCreatorName",))
        copy_keys(record, header, type1c=("ReferencedSeriesSequence", "BlendingSequence"))
    elif kind in ("SR DOCUMENT", "KEY OBJECT DOC"):
        _report_keys(record, header, kind, instance_number, filler, where)
    return record


def _image_keys(record: Dataset, header: Dataset, profile: MediaProfile, where: str) -> None:
    if profile.keys is KeySet.CD:
        copy_keys(record, header, type1c=_CD_IMAGE_1C)
        return
    _require(header, ("Rows", "Columns"), where)
    copy_keys(record, header, type1=("Rows", "Columns"))
    extra = _MPEG2_DVD_IMAGE_1C if profile.keys is KeySet.MPEG2_DVD else _EXTENDED_IMAGE_1C
    copy_keys(record, header, type1c=extra)


def _report_keys(
    record: Dataset, header: Dataset, kind: str, number: str, filler: Filler, where: str
) -> None:
    record.InstanceNumber = number
    if kind == "SR DOCUMENT":
        _require(header, ("CompletionFlag", "VerificationFlag"), where)
        copy_keys(record, header, type1=("CompletionFlag", "VerificationFlag"))
    content_date, content_time = _content_moment(header, filler, where)
    record.ContentDate, record.ContentTime = content_date, content_time
    if kind == "SR DOCUMENT" and str(header.get("VerificationFlag", "")) == "VERIFIED":
        observers = header.get("VerifyingObserverSequence") or []
        if observers and valued(observers[-1], "VerificationDateTime"):
            record.add(element(observers[-1], "VerificationDateTime"))
    _require(header, ("ConceptNameCodeSequence",), where)
    copy_keys(record, header, type1=("ConceptNameCodeSequence",))


def _require(header: Dataset, keywords: tuple[str, ...], where: str) -> None:
    missing = [keyword for keyword in keywords if not valued(header, keyword)]
    if missing:
        raise ValueError(
            f"{where} has no value for {', '.join(missing)}, required (type 1) in its IOD and "
            "in its directory record (PS3.3 F.5); correct the instance before putting it on media"
        )


def _content_moment(header: Dataset, filler: Filler, where: str) -> tuple[str, str]:
    """Content Date/Time, else Acquisition DateTime, else the study's (noted)."""
    content_date = str(header.get("ContentDate", "") or "")
    content_time = str(header.get("ContentTime", "") or "")
    if content_date and content_time:
        return content_date, content_time
    stamp = str(header.get("AcquisitionDateTime", "") or "")
    fallback_date = stamp[:8] or str(header.get("StudyDate", "") or "") or _today()
    fallback_time = stamp[8:14] or str(header.get("StudyTime", "") or "") or "000000"
    filler.note(
        f"{where}: Content Date/Time empty; the record uses Acquisition DateTime, else the "
        "Study Date/Time"
    )
    return content_date or fallback_date, content_time or fallback_time


def _today() -> str:
    return date.today().strftime("%Y%m%d")


def first_valued(headers: list[Dataset], keywords: tuple[str, ...]) -> str:
    """The first non-empty value among ``keywords`` over ``headers`` (in that order)."""
    for keyword in keywords:
        for header in headers:
            value = str(header.get(keyword, "") or "").strip()
            if value:
                return value
    return ""
