"""The modules every IOD shares: SOP Common, Patient, General Study/Series/Equipment, Image Pixel.

Attribute types are those of PS3.3 (C.12.1, C.7.1.1, C.7.2.1, C.7.3.1, C.7.5.1, C.7.6.1,
C.7.6.3; the request context of a worklist procedure: C.7.2.2 Admission ID, C.7.2.1
Procedure Code Sequence, C.7.3.1 Request Attributes Sequence); the type 1/2 lists feed
:func:`izer.encode.selfcheck.check_instance`.
"""

from __future__ import annotations

import copy
import enum
import math
from datetime import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import format_number_as_ds

from izer.encode.charset import specific_character_set
from izer.encode.context import InstanceContext
from izer.encode.pixels import EncodedPixels, PixelLayout

#: Frame Increment Pointer value for frames along time: Frame Time (0018,1063).
FRAME_TIME_TAG = 0x00181063

#: Type 1 attributes of the modules :func:`new_instance` writes.
COMMON_TYPE1 = (
    "SOPClassUID",
    "SOPInstanceUID",
    "SpecificCharacterSet",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
)
#: Type 2 attributes of the modules :func:`new_instance` writes.
COMMON_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "SeriesNumber",
    "Manufacturer",
    "InstanceNumber",
)
#: Type 1 attributes of the Image Pixel module (PS3.3 C.7.6.3).
IMAGE_PIXEL_TYPE1 = (
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
)


class StorageKind(enum.Enum):
    """Base of Enums whose members are ``(SOP Class UID, Modality, IOD name)``."""

    @property
    def sop_class_uid(self) -> str:
        """The Storage SOP Class UID."""
        return self.value[0]

    @property
    def modality(self) -> str:
        """The Modality (0008,0060) the IOD requires."""
        return self.value[1]

    @property
    def iod_name(self) -> str:
        """The IOD's name in PS3.3."""
        return self.value[2]


def dicom_date(moment: datetime) -> str:
    """DA, ``YYYYMMDD``."""
    return moment.strftime("%Y%m%d")


def dicom_time(moment: datetime) -> str:
    """TM, ``HHMMSS.FFFFFF``."""
    return moment.strftime("%H%M%S.%f")


def dicom_datetime(moment: datetime) -> str:
    """DT, ``YYYYMMDDHHMMSS.FFFFFF``."""
    return moment.strftime("%Y%m%d%H%M%S.%f")


def new_instance(sop_class_uid: str, context: InstanceContext) -> Dataset:
    """A dataset with File Meta, SOP Common, Patient, Study, Series and Equipment filled in.

    The transfer syntax is Explicit VR Little Endian until :func:`set_pixels` says otherwise.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = context.sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = specific_character_set(context.character_set)
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = context.sop_instance_uid
    created = datetime.now()
    ds.InstanceCreationDate, ds.InstanceCreationTime = dicom_date(created), dicom_time(created)

    patient = context.study.patient
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    if patient.issuer:
        ds.IssuerOfPatientID = patient.issuer
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex.value

    study = context.study
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate, ds.StudyTime = study.study_date, study.study_time
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    if study.accession_issuer:
        issuer = Dataset()
        issuer.LocalNamespaceEntityID = study.accession_issuer
        ds.IssuerOfAccessionNumberSequence = [issuer]
    if study.description:
        ds.StudyDescription = study.description
    if study.procedure_codes:  # General Study, type 3 (C.7.2.1)
        ds.ProcedureCodeSequence = [copy.deepcopy(item) for item in study.procedure_codes]
    if study.admission_id:  # Patient Study, type 3 (C.7.2.2)
        ds.AdmissionID = study.admission_id

    series = context.series
    ds.Modality = series.modality
    ds.SeriesInstanceUID = series.series_instance_uid
    ds.SeriesNumber = series.series_number
    if series.description:
        ds.SeriesDescription = series.description
    if study.request_attributes:  # General Series, type 3 (C.7.3.1; Table 10-9)
        ds.RequestAttributesSequence = [copy.deepcopy(item) for item in study.request_attributes]

    equipment = context.equipment
    ds.Manufacturer = equipment.manufacturer
    ds.ManufacturerModelName = equipment.model_name
    ds.SoftwareVersions = equipment.software_versions
    if equipment.station_name:
        ds.StationName = equipment.station_name
    if equipment.institution_name:
        ds.InstitutionName = equipment.institution_name

    ds.InstanceNumber = context.instance_number
    ds.ContentDate = dicom_date(context.content_time)
    ds.ContentTime = dicom_time(context.content_time)
    return ds


def set_pixels(ds: Dataset, encoded: EncodedPixels, layout: PixelLayout) -> None:
    """Write the Image Pixel module, the lossy-compression attributes and the transfer syntax.

    Lossy Image Compression (0028,2110) is "01" once any lossy step happened, with its ratio and
    method (PS3.3 C.7.6.1.1.5); an instance already marked lossy stays lossy.
    """
    ds.file_meta.TransferSyntaxUID = encoded.transfer_syntax
    ds.SamplesPerPixel = layout.samples_per_pixel
    ds.PhotometricInterpretation = encoded.photometric
    if layout.samples_per_pixel > 1:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = layout.rows, layout.columns
    ds.BitsAllocated = layout.bits_allocated
    ds.BitsStored = layout.bits_stored
    ds.HighBit = layout.bits_stored - 1
    ds.PixelRepresentation = layout.pixel_representation
    ds.PixelData = encoded.pixel_data
    if encoded.transfer_syntax in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"):
        ds["PixelData"].VR = "OW" if layout.bits_allocated > 8 else "OB"
    else:
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    if encoded.lossy_method:
        ds.LossyImageCompression = "01"
        ratios = [*_values(ds, "LossyImageCompressionRatio"), encoded.lossy_ratio]
        methods = [*_values(ds, "LossyImageCompressionMethod"), encoded.lossy_method]
        ds.LossyImageCompressionRatio = [format_number_as_ds(r) for r in ratios]
        ds.LossyImageCompressionMethod = methods
    elif "LossyImageCompression" not in ds:
        ds.LossyImageCompression = "00"


def _values(ds: Dataset, keyword: str) -> list[object]:
    if keyword not in ds:
        return []
    element = ds[keyword]
    return list(element.value) if element.VM > 1 else [element.value]


def check_frame_time(frame_time_ms: float | None) -> float:
    """``frame_time_ms`` as a float, or a ValueError saying what to give."""
    if frame_time_ms is None or not 0 < float(frame_time_ms) < math.inf:
        raise ValueError(
            "frames along time need frame_time_ms, the time between frames in milliseconds "
            f"(e.g. 33.367 at 29.97 fps); got {frame_time_ms}"
        )
    return float(frame_time_ms)


def write_cine(ds: Dataset, number_of_frames: int, frame_time_ms: float | None) -> None:
    """Multi-frame and Cine modules for frames along time (PS3.3 C.7.6.5, C.7.6.6).

    Writes Number of Frames, Frame Increment Pointer = Frame Time, Frame Time (ms, DS),
    Cine Rate and Recommended Display Frame Rate (frames per second, IS).

    Raises
    ------
    ValueError
        When ``frame_time_ms`` is missing or not positive.
    """
    frame_time_ms = check_frame_time(frame_time_ms)
    ds.NumberOfFrames = number_of_frames
    ds.FrameIncrementPointer = FRAME_TIME_TAG
    ds.FrameTime = format_number_as_ds(float(frame_time_ms))
    rate = max(1, round(1000.0 / frame_time_ms))
    ds.CineRate = rate
    ds.RecommendedDisplayFrameRate = rate
