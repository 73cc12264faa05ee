"""The DICOMDIR file: records in a tree, encoded with their offsets (PS3.3 F.3, PS3.10 8).

The DICOMDIR is encoded in Explicit VR Little Endian with the record offsets worked out in a
first pass (PS3.3 F.3.2.1): offsets count from the first byte of the file (the preamble) to
the Item tag of the record, so each record is encoded once to learn its length, then the
whole file once with the offsets in place (UL values: the lengths do not change).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage

_FIRST_OFFSET = 0x00041200
_LAST_OFFSET = 0x00041202
_SEQUENCE = 0x00041220
#: Explicit VR SQ element header: tag (4), VR (2), reserved (2), length (4).
_SQ_HEADER = 12
#: Item tag and item length.
_ITEM_HEADER = 8


@dataclass
class RecordNode:
    """One directory record and the records one level below it."""

    record: Dataset
    children: list[RecordNode] = field(default_factory=list)
    offset: int = 0

    def walk(self) -> Iterator[RecordNode]:
        """This node, then its descendants, depth first (the order of the sequence)."""
        yield self
        for child in self.children:
            yield from child.walk()


def encode_dicomdir(roots: list[RecordNode], fileset_id: str, instance_uid: str) -> bytes:
    """The bytes of a DICOMDIR holding ``roots`` (PATIENT records) and their descendants.

    Parameters
    ----------
    roots
        Top-level records in order; each node's children in order.
    fileset_id
        File-set ID (0004,1130), 0 to 16 characters of the CS repertoire.
    instance_uid
        Media Storage SOP Instance UID of the DICOMDIR.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.FileSetID = fileset_id or None
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0

    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    write_dataset(fp, ds[:_FIRST_OFFSET])
    first_at = fp.tell()
    write_dataset(fp, ds[_FIRST_OFFSET:_SEQUENCE])

    nodes = [node for root in roots for node in root.walk()]
    offset = fp.tell() + _SQ_HEADER
    for node in nodes:
        node.offset = offset
        offset += _ITEM_HEADER + _encoded_length(node.record)
    _link(roots)
    ds.DirectoryRecordSequence = [node.record for node in nodes]
    write_dataset(fp, ds[_SEQUENCE:])

    if roots:
        ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = roots[0].offset
        ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = roots[-1].offset
    end = fp.tell()
    fp.seek(first_at)
    write_data_element(fp, ds[_FIRST_OFFSET])
    write_data_element(fp, ds[_LAST_OFFSET])
    fp.seek(end)
    return bytes(fp.getvalue())


def _encoded_length(record: Dataset) -> int:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, record)
    return buffer.tell()


def _link(siblings: list[RecordNode]) -> None:
    for index, node in enumerate(siblings):
        following = siblings[index + 1] if index + 1 < len(siblings) else None
        node.record.OffsetOfTheNextDirectoryRecord = following.offset if following else 0
        lower = node.children[0].offset if node.children else 0
        node.record.OffsetOfReferencedLowerLevelDirectoryEntity = lower
        _link(node.children)
