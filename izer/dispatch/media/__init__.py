"""Patient media: DICOM file-sets with a DICOMDIR for CD, DVD, BD, USB and folders (issue 9).

PS3.10 Section 8 (file-sets, File IDs, DICOMDIR) and PS3.11 (media application profiles).
"""

from izer.dispatch.media.capacity import split_by_capacity
from izer.dispatch.media.fileset import build_fileset, check_fileset, read_fileset
from izer.dispatch.media.profiles import (
    MediaProfile,
    Medium,
    ProfileChoice,
    choose_profile,
)
from izer.dispatch.media.report import FileSetEntry, FileSetReport, conformant_file_id

__all__ = [
    "FileSetEntry",
    "FileSetReport",
    "MediaProfile",
    "Medium",
    "ProfileChoice",
    "build_fileset",
    "check_fileset",
    "choose_profile",
    "conformant_file_id",
    "read_fileset",
    "split_by_capacity",
]
