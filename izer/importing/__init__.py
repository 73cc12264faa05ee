"""Import of DICOM media: read a DICOMDIR or scan a folder, and match its patients.

No network and no store writes here: :mod:`izer.importing.media` lists what a disc, stick or
folder holds (headers only, no Pixel Data read), :mod:`izer.importing.matching` ranks the
patients a worklist or a query found against the media's demographics. The engine
(:mod:`izer.engine.importing`) asks the providers and copies, reconciles and sends.
"""

from izer.importing.matching import (
    Candidate,
    CandidateSource,
    NameAgreement,
    NameMatch,
    PatientMatch,
    compare_names,
    compare_patients,
    rank,
)
from izer.importing.media import (
    MediaError,
    MediaInstance,
    MediaPatient,
    MediaScan,
    MediaStudy,
    scan_media,
)

__all__ = [
    "Candidate",
    "CandidateSource",
    "MediaError",
    "MediaInstance",
    "MediaPatient",
    "MediaScan",
    "MediaStudy",
    "NameAgreement",
    "NameMatch",
    "PatientMatch",
    "compare_names",
    "compare_patients",
    "rank",
    "scan_media",
]
