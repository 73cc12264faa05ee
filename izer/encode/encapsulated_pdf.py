"""Encapsulated PDF (PS3.3 A.45.1): a PDF document archived as a DICOM instance.

The PDF is checked before anything is built: it must look like a whole PDF (``%PDF-`` header,
``%%EOF`` near the end) and must not be encrypted, since a PACS viewer would show nothing.
Encryption is read from the trailer dictionaries and cross-reference stream dictionaries
(ISO 32000-1 7.5.5, 7.5.8, 7.6.1) with a small tokenizer; no PDF library is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage

from izer.encode.codes import Code
from izer.encode.context import InstanceContext
from izer.encode.modules import (
    COMMON_TYPE1,
    COMMON_TYPE2,
    dicom_datetime,
    new_instance,
)
from izer.encode.secondary_capture import ConversionType
from izer.encode.selfcheck import check_instance

MIME_TYPE = "application/pdf"
MODALITY = "DOC"
#: Conversion Types an Encapsulated PDF may carry (PS3.3 A.45.1.4).
ALLOWED_CONVERSION_TYPES = (ConversionType.SCANNED_DOCUMENT, ConversionType.WORKSTATION)
#: Readers look for ``%%EOF`` in the last 1024 bytes (ISO 32000-1 7.5.5, Annex H note).
EOF_WINDOW = 1024

_WHITESPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"
_TRAILER = re.compile(rb"trailer[\x00\t\n\x0c\r ]*<<")
_XREF_TYPE = re.compile(rb"/Type[\x00\t\n\x0c\r ]*/XRef(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")
_OBJ = re.compile(rb"\d+[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+obj")
_STARTXREF = re.compile(rb"startxref[\x00\t\n\x0c\r ]+(\d+)")
_XREF_AT = re.compile(rb"[\x00\t\n\x0c\r ]*xref")
_OBJ_AT = re.compile(
    rb"[\x00\t\n\x0c\r ]*\d+[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+obj[\x00\t\n\x0c\r ]*<<"
)


def encapsulated_pdf(
    pdf: bytes,
    context: InstanceContext,
    *,
    document_title: str,
    conversion_type: ConversionType = ConversionType.SCANNED_DOCUMENT,
    burned_in_annotation: bool = True,
    concept_name: Code | Dataset | None = None,
) -> Dataset:
    """Encapsulated PDF Storage from the bytes of one PDF document.

    Parameters
    ----------
    pdf
        The whole PDF file; checked with :func:`check_pdf`.
    context
        The series must have Modality ``DOC`` (PS3.3 C.24.1, A.45.1.4).
    document_title
        Document Title (0042,0010), type 2: may be empty.
    conversion_type
        ``SD`` for a scanned document, ``WSD`` for one made on a workstation (PS3.3 A.45.1.4).
    burned_in_annotation
        Whether the document shows identifying information (it usually does).
    concept_name
        Concept Name Code Sequence (0040,A043) item, e.g. the LOINC code of the document type;
        a ``Code`` or a ready Dataset item. The sequence is written empty when None (type 2).

    Raises
    ------
    ValueError
        When the PDF is empty, cut short, not a PDF or encrypted, or an option does not fit.
    """
    check_pdf(pdf, "the PDF document")
    if conversion_type not in ALLOWED_CONVERSION_TYPES:
        raise ValueError(
            f"an Encapsulated PDF has Conversion Type SD (scanned document) or WSD (made on a "
            f"workstation), not {ConversionType(conversion_type).value}; PS3.3 A.45.1.4"
        )
    if context.series.modality != MODALITY:
        raise ValueError(
            f"an Encapsulated PDF goes in a series with Modality {MODALITY}, not "
            f"{context.series.modality!r}; make a new series for the document"
        )
    ds = new_instance(EncapsulatedPDFStorage, context)
    _sc_equipment(ds, context, conversion_type)
    ds.AcquisitionDateTime = dicom_datetime(context.acquired)
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.DocumentTitle = document_title
    ds.ConceptNameCodeSequence = [] if concept_name is None else [_code_item(concept_name)]
    ds.MIMETypeOfEncapsulatedDocument = MIME_TYPE
    ds.EncapsulatedDocument = pdf + b"\x00" if len(pdf) % 2 else pdf
    ds["EncapsulatedDocument"].VR = "OB"
    ds.EncapsulatedDocumentLength = len(pdf)
    check_instance(
        ds,
        iod="Encapsulated PDF",
        type1=(
            *COMMON_TYPE1,
            "SeriesNumber",
            "InstanceNumber",
            "ConversionType",
            "BurnedInAnnotation",
            "MIMETypeOfEncapsulatedDocument",
            "EncapsulatedDocument",
            "EncapsulatedDocumentLength",
        ),
        type2=(
            *COMMON_TYPE2,
            "ContentDate",
            "ContentTime",
            "AcquisitionDateTime",
            "DocumentTitle",
            "ConceptNameCodeSequence",
        ),
    )
    return ds


def read_pdf(path: str | Path) -> bytes:
    """The bytes of a PDF file, checked with :func:`check_pdf`.

    Raises
    ------
    ValueError
        When the file cannot be read (missing, a folder, not allowed) or is not a usable PDF;
        the message names the file.
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{file}: no such file; check the path") from None
    except IsADirectoryError:
        raise ValueError(f"{file}: is a folder, not a PDF file") from None
    except PermissionError:
        raise ValueError(f"{file}: izer is not allowed to read this file") from None
    except OSError as exc:
        raise ValueError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    check_pdf(data, str(file))
    return data


def check_pdf(data: bytes, source: str = "the PDF document") -> None:
    """Refuse what a PACS could not show: empty, truncated, not a PDF, or encrypted.

    Parameters
    ----------
    source
        How to name the input in messages (a file name).

    Raises
    ------
    ValueError
        ``"<source>: ..."`` saying what is wrong and what to do.
    """
    if not data:
        raise ValueError(f"{source}: the file is empty (0 bytes); export the document again")
    if not data.startswith(b"%PDF-"):
        raise ValueError(
            f"{source}: not a PDF (it does not start with %PDF-); convert it to PDF first"
        )
    if b"%%EOF" not in data[-EOF_WINDOW:]:
        raise ValueError(
            f"{source}: the PDF is incomplete (no %%EOF at its end); it was probably cut "
            "short while copying or downloading: copy it again"
        )
    if is_encrypted(data):
        raise ValueError(
            f"{source}: the PDF is encrypted; izer cannot archive a document the PACS "
            "cannot open. Save an unprotected copy (print to PDF without a password)"
        )


def is_encrypted(data: bytes) -> bool:
    """Whether the document's trailer (or cross-reference stream) dictionary has ``/Encrypt``.

    The trailers are those a reader uses: from the last ``startxref`` along the ``/Prev`` and
    ``/XRefStm`` chain (ISO 32000-1 7.5.5, 7.5.6, 7.5.8.4). When that chain is broken, as a
    reader's repair would, every ``trailer`` and ``/Type /XRef`` dictionary in the file counts.
    """
    sections = _trailer_chain(data)
    if sections is None:
        sections = _every_trailer(data)
    return any(b"/Encrypt" in entries for entries in sections)


def _trailer_chain(data: bytes) -> list[dict[bytes, bytes]] | None:
    """Trailer dictionaries from the last ``startxref`` back; None if any link is broken."""
    found = list(_STARTXREF.finditer(data, max(0, len(data) - EOF_WINDOW)))
    if not found:
        return None
    pending, seen, sections = [int(found[-1].group(1))], set(), []
    while pending:
        offset = pending.pop()
        if offset in seen:
            continue
        seen.add(offset)
        entries = _section_at(data, offset)
        if entries is None:
            return None
        sections.append(entries)
        for key in (b"/Prev", b"/XRefStm"):
            value = entries.get(key, b"")
            if value:
                if not value.isdigit():
                    return None
                pending.append(int(value))
    return sections


def _section_at(data: bytes, offset: int) -> dict[bytes, bytes] | None:
    """The trailer of the xref table, or the dictionary of the xref stream, at ``offset``."""
    table = _XREF_AT.match(data, offset)
    if table is not None:
        trailer = _TRAILER.search(data, table.end())
        return None if trailer is None else _dictionary_at(data, trailer.end() - 2)
    stream = _OBJ_AT.match(data, offset)
    if stream is None:
        return None
    entries = _dictionary_at(data, stream.end() - 2)
    return entries if entries is not None and entries.get(b"/Type") == b"/XRef" else None


def _every_trailer(data: bytes) -> list[dict[bytes, bytes]]:
    """Every trailer and xref stream dictionary found by scanning, for a broken xref chain."""
    sections = []
    for match in _TRAILER.finditer(data):
        entries = _dictionary_at(data, match.end() - 2)
        if entries is not None:
            sections.append(entries)
    for match in _XREF_TYPE.finditer(data):
        objects = list(_OBJ.finditer(data, max(0, match.start() - 65536), match.start()))
        if not objects:
            continue
        opening = data.find(b"<<", objects[-1].end(), match.start())
        entries = None if opening < 0 else _dictionary_at(data, opening)
        if entries is not None and entries.get(b"/Type") == b"/XRef":
            sections.append(entries)
    return sections


def _sc_equipment(ds: Dataset, context: InstanceContext, conversion_type: ConversionType) -> None:
    """SC Equipment module (PS3.3 C.8.6.1)."""
    ds.ConversionType = ConversionType(conversion_type).value
    ds.SecondaryCaptureDeviceManufacturer = context.equipment.manufacturer
    ds.SecondaryCaptureDeviceManufacturerModelName = context.equipment.model_name
    ds.SecondaryCaptureDeviceSoftwareVersions = context.equipment.software_versions


def _code_item(concept: Code | Dataset) -> Dataset:
    if isinstance(concept, Dataset):
        return concept
    if isinstance(concept, Code):
        return concept.to_dataset()
    raise ValueError(f"concept_name must be a Code or a Dataset item, not {type(concept).__name__}")


class _Tokens:
    """PDF tokens from ``start`` (ISO 32000-1 7.2): enough to walk one dictionary."""

    def __init__(self, data: bytes, start: int) -> None:
        self.data = data
        self.pos = start

    def next(self) -> bytes:
        """The next token; strings come back as ``b"()"`` and hex strings as ``b"<>"``."""
        data, size = self.data, len(self.data)
        while self.pos < size:
            if data[self.pos] in _WHITESPACE:
                self.pos += 1
            elif data[self.pos] == 0x25:  # % comment, to the end of the line
                while self.pos < size and data[self.pos] not in b"\r\n":
                    self.pos += 1
            else:
                break
        if self.pos >= size:
            raise ValueError("end of data inside a dictionary")
        start = self.pos
        two = data[start : start + 2]
        if two in (b"<<", b">>"):
            self.pos += 2
            return two
        char = data[start : start + 1]
        if char in (b"[", b"]", b"{", b"}"):
            self.pos += 1
            return char
        if char == b"(":
            self._skip_string()
            return b"()"
        if char == b"<":
            end = data.find(b">", start)
            if end < 0:
                raise ValueError("unterminated hex string")
            self.pos = end + 1
            return b"<>"
        self.pos += 1
        while self.pos < size and data[self.pos] not in _WHITESPACE + _DELIMITERS:
            self.pos += 1
        token = data[start : self.pos]
        return _decode_name(token) if char == b"/" else token

    def _skip_string(self) -> None:
        data, depth = self.data, 0
        while self.pos < len(data):
            char = data[self.pos]
            if char == 0x5C:  # backslash escapes the next byte
                self.pos += 2
                continue
            self.pos += 1
            if char == 0x28:
                depth += 1
            elif char == 0x29:
                depth -= 1
                if depth == 0:
                    return
        raise ValueError("unterminated string")


def _decode_name(token: bytes) -> bytes:
    """``/Encr#79pt`` is ``/Encrypt`` (ISO 32000-1 7.3.5)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), token)


def _dictionary_at(data: bytes, start: int) -> dict[bytes, bytes] | None:
    """Top-level keys of the dictionary opening at ``start``, each with its first value token.

    Returns None for bytes that do not form a dictionary (e.g. inside a compressed stream).
    """
    tokens = _Tokens(data, start)
    try:
        if tokens.next() != b"<<":
            return None
        entries: dict[bytes, bytes] = {}
        while True:
            token = tokens.next()
            if token == b">>":
                return entries
            if not token.startswith(b"/"):
                continue  # the rest of an indirect reference "12 0 R"
            value = tokens.next()
            entries[token] = value
            if value in (b"<<", b"["):
                _skip_nested(tokens, value)
            elif value == b">>":
                return entries
    except ValueError:
        return None


def _skip_nested(tokens: _Tokens, opening: bytes) -> None:
    closing = {b"<<": b">>", b"[": b"]"}
    stack = [closing[opening]]
    while stack:
        token = tokens.next()
        if token in closing:
            stack.append(closing[token])
        elif token in (b">>", b"]") and token != stack.pop():
            raise ValueError("unbalanced dictionary or array")
