"""Small made-up DICOM objects for tests (no real patient data, ever)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def make_secondary_capture(
    *,
    patient_name: str = "Test^Peer",
    patient_id: str = "IZT-SC-0001",
    accession: str = "IZACC-SC-1",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    rows: int = 8,
    columns: int = 8,
    instance_number: int = 1,
    omit: Iterable[str] = (),
) -> Dataset:
    """Build a complete, minimal 8-bit grayscale Secondary Capture Image.

    It carries Patient, General Study, General Series, General Equipment, SC
    Equipment (Conversion Type ``WSD``), General Image, Image Pixel and SOP Common
    with Specific Character Set ``ISO_IR 192`` and passes ``dciodvfy`` without errors.

    Parameters
    ----------
    patient_name, patient_id, accession
        Made-up identifiers.
    study_instance_uid, series_instance_uid, sop_instance_uid
        Generated when omitted.
    rows, columns
        Image size; pixels are a simple gradient.
    instance_number
        Instance Number (0020,0013).
    omit
        Keywords to delete afterwards, to build deliberately broken objects.

    Returns
    -------
    Dataset
        Dataset with ``file_meta`` (Explicit VR Little Endian) set.
    """
    now = dt.datetime.now()
    sop_uid = sop_instance_uid or generate_uid()

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    # Patient
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    # General Study
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = accession
    # General Series
    ds.Modality = "OT"
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    ds.SeriesNumber = 1
    ds.Laterality = ""
    # General Equipment / SC Equipment
    ds.Manufacturer = "izer test suite"
    ds.ConversionType = "WSD"
    # General Image
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    # Image Pixel
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    pixels = np.arange(rows * columns, dtype=np.uint32) * 255 // max(rows * columns - 1, 1)
    ds.PixelData = pixels.astype(np.uint8).tobytes()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta

    for keyword in omit:
        delattr(ds, keyword)
    return ds


def write_secondary_capture(path: Path, **kwargs: object) -> Dataset:
    """Build a Secondary Capture with `make_secondary_capture` and save it to *path*."""
    ds = make_secondary_capture(**kwargs)  # type: ignore[arg-type]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds
