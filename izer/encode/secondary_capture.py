"""Secondary Capture Image Storage (PS3.3 A.8.1) from one 8-bit RGB frame."""

from __future__ import annotations

import enum
from datetime import datetime

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from izer.encode.context import EquipmentContext, SeriesContext, StudyContext


class ConversionType(enum.StrEnum):
    """Conversion Type (0008,0064), PS3.3 C.8.6.1."""

    DIGITIZED_VIDEO = "DV"
    DIGITAL_INTERFACE = "DI"
    DIGITIZED_FILM = "DF"
    WORKSTATION = "WSD"
    SCANNED_DOCUMENT = "SD"
    SCANNED_IMAGE = "SI"
    DRAWING = "DRW"
    SYNTHETIC = "SYN"


def build_secondary_capture(
    pixels: np.ndarray,
    *,
    study: StudyContext,
    series: SeriesContext,
    equipment: EquipmentContext,
    sop_instance_uid: str,
    instance_number: int,
    character_set: str,
    conversion_type: ConversionType = ConversionType.DIGITIZED_VIDEO,
    acquired: datetime | None = None,
) -> Dataset:
    """Build an SC Image from an ``(rows, columns, 3)`` ``uint8`` RGB array.

    Raises
    ------
    ValueError
        When the array is not 8-bit RGB.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(
            f"an SC frame must be a (rows, columns, 3) uint8 RGB array, got shape "
            f"{pixels.shape} and type {pixels.dtype}"
        )
    when = acquired or datetime.now()
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S.%f")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = character_set
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time

    patient = study.patient
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex.value

    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate, ds.StudyTime = study.study_date, study.study_time
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    if study.description:
        ds.StudyDescription = study.description

    ds.Modality = series.modality
    ds.SeriesInstanceUID = series.series_instance_uid
    ds.SeriesNumber = series.series_number
    ds.Laterality = ""
    if series.description:
        ds.SeriesDescription = series.description

    ds.Manufacturer = equipment.manufacturer
    ds.ManufacturerModelName = equipment.model_name
    ds.SoftwareVersions = equipment.software_versions
    ds.StationName = equipment.station_name
    ds.InstitutionName = equipment.institution_name
    ds.ConversionType = conversion_type.value
    ds.DateOfSecondaryCapture, ds.TimeOfSecondaryCapture = date, time

    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ContentDate, ds.ContentTime = date, time
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"

    rows, columns, _ = pixels.shape
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds
