"""Media import tests: made-up media (a DICOMDIR file-set, or loose files) to import.

The instances are made with izer's own encoders: VL Endoscopic stills (JPEG Baseline), a
Secondary Capture (Explicit VR Little Endian) and a Grayscale Softcopy Presentation State
that references a still, so that new UIDs can be checked to follow into references. The
DICOMDIR is written by pydicom's :class:`~pydicom.fileset.FileSet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet

from izer.encode import (
    EquipmentContext,
    InstanceContext,
    SeriesContext,
    StudyContext,
    TextAnnotation,
    TransferSyntax,
    UidFactory,
    VLKind,
    presentation_state,
    secondary_capture_image,
    vl_image,
)
from izer.model import Patient, Sex

#: Test UID root (the same as ``tests.conftest.TEST_UID_ROOT``).
UID_ROOT = "1.2.826.0.1.3680043.10.1452"
MOMENT = datetime(2023, 11, 7, 14, 5, 0)


@dataclass(frozen=True)
class MediaPatient:
    """One made-up patient of a media, with what their study holds."""

    patient: Patient
    accession: str
    institution: str = "Praxis Beispiel"
    stills: int = 2
    presentation_state: bool = True
    secondary_capture: bool = False
    study_date: str = "20231107"


#: The patients of the media the tests import (another hospital's IDs and spellings).
MUELLER = MediaPatient(
    Patient("EXT-4711", "MUELLER^HANS", "19610315", Sex.MALE),
    accession="EXTACC1",
    institution="Praxis Süd",
)
SMITH = MediaPatient(
    Patient("EXT-0815", "SMITH ANNA", "19800101", Sex.FEMALE),
    accession="EXTACC2",
    institution="Klinik Nord",
    stills=1,
    presentation_state=False,
    secondary_capture=True,
    study_date="20231001",
)


def _image(seed: int, rows: int = 32, columns: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, columns, dtype=np.float32)[np.newaxis, :, np.newaxis]
    noise = rng.integers(0, 30, (rows, columns, 3)).astype(np.float32)
    return np.clip(ramp + noise, 0, 255).astype(np.uint8)


def study_datasets(spec: MediaPatient, *, character_set: str = "ISO_IR 100") -> list[Dataset]:
    """The instances of one made-up study of ``spec``'s patient."""
    uids = UidFactory(UID_ROOT)
    study = StudyContext(
        patient=spec.patient,
        study_instance_uid=uids.new(),
        study_date=spec.study_date,
        study_time="140500",
        accession_number=spec.accession,
        study_id="1",
        description="Gastroscopy",
        referring_physician_name="Referring^Doctor",
    )
    equipment = EquipmentContext(
        manufacturer="Other Vendor",
        model_name="Scope 9",
        software_versions="1.0",
        station_name="ENDO1",
        institution_name=spec.institution,
    )

    def context(series: SeriesContext, number: int) -> InstanceContext:
        return InstanceContext(
            study=study,
            series=series,
            equipment=equipment,
            sop_instance_uid=uids.new(),
            instance_number=number,
            character_set=character_set,
            content_time=MOMENT,
        )

    stills = SeriesContext(uids.new(), 1, "ES", "Stills")
    datasets = []
    for seed in range(spec.stills):
        pixels = _image(seed + len(spec.accession))
        if seed == 0 and spec.presentation_state:
            pixels = np.ascontiguousarray(pixels[:, :, 0])  # GSPS: grayscale images only
        datasets.append(
            vl_image(
                pixels,
                context(stills, seed + 1),
                kind=VLKind.ENDOSCOPIC,
                transfer_syntax=TransferSyntax.JPEG_BASELINE,
            )
        )
    if spec.presentation_state:
        annotations = SeriesContext(uids.new(), 2, "PR", "Annotations")
        datasets.append(
            presentation_state(
                datasets[0],
                context(annotations, 1),
                label="FINDINGS",
                texts=[TextAnnotation(text="polyp", anchor=(10.0, 10.0))],
            )
        )
    if spec.secondary_capture:
        scans = SeriesContext(uids.new(), 3, "OT", "Scanned letter")
        gray = np.ascontiguousarray(_image(7)[:, :, 0])
        datasets.append(secondary_capture_image(gray, context(scans, 1)))
    return datasets


def write_media(
    folder: Path,
    specs: tuple[MediaPatient, ...] = (MUELLER, SMITH),
    *,
    dicomdir: bool = True,
    character_set: str = "ISO_IR 100",
) -> list[Dataset]:
    """Write a made-up media into ``folder``; return the instances written.

    With ``dicomdir`` a file-set (DICOMDIR and files named by pydicom), else loose files
    under ``IMAGES/<patient>/`` with a ``.dcm`` suffix, plus a README and a web page that are
    not DICOM.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Dataset] = []
    file_set = FileSet() if dicomdir else None
    for number, spec in enumerate(specs, start=1):
        datasets = study_datasets(spec, character_set=character_set)
        written += datasets
        for index, ds in enumerate(datasets, start=1):
            if file_set is not None:
                file_set.add(ds)
            else:
                path = folder / "IMAGES" / f"P{number}" / f"IMG{index}.dcm"
                path.parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(path, enforce_file_format=True)
    if file_set is not None:
        file_set.write(folder)
    else:
        (folder / "README.TXT").write_text("Made-up test media.\n")
        (folder / "VIEWER").mkdir()
        (folder / "VIEWER" / "INDEX.HTM").write_text("<html><body>viewer</body></html>\n")
    return written


def by_sop_uid(datasets: list[Dataset]) -> dict[str, Dataset]:
    """The datasets by SOP Instance UID."""
    return {str(ds.SOPInstanceUID): ds for ds in datasets}
