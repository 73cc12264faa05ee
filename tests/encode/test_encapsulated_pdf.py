"""Encapsulated PDF: a valid instance that gives the PDF back byte for byte, and refusals."""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from izer.encode import ConversionType
from izer.encode.codes import Code
from izer.encode.encapsulated_pdf import encapsulated_pdf, is_encrypted, read_pdf
from tests.encode.factories import make_context
from tests.helpers.validators import dciodvfy


def _pdf(
    pages: int = 2, *, encrypt: str | None = None, text: str = "", compress: bool = True
) -> bytes:
    """A PDF made with reportlab: one line of text per page."""
    buffer = io.BytesIO()
    document = canvas.Canvas(
        buffer, pagesize=A4, encrypt=encrypt, pageCompression=1 if compress else 0
    )
    for page in range(1, pages + 1):
        document.drawString(72, 770, text or f"Consent form, page {page} of {pages}")
        document.showPage()
    document.save()
    return buffer.getvalue()


def _pdf_with_xref_stream(extra: bytes) -> bytes:
    """A minimal PDF 1.5 whose cross-reference is a stream (ISO 32000-1 7.5.8).

    ``extra`` is written into the stream's dictionary, where an ``/Encrypt`` entry would be.
    """
    out = bytearray(b"%PDF-1.5\n")
    offsets = []
    for number, body in enumerate(
        (b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"), 1
    ):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    rows = [(0, 0, 65535), *((1, offset, 0) for offset in offsets), (1, xref, 0)]
    data = b"".join(struct.pack(">BIH", *row) for row in rows)
    out += b"3 0 obj\n<< /Type /XRef /Size 4 /W [1 4 2] /Root 1 0 R %s /Length %d >>\nstream\n" % (
        extra,
        len(data),
    )
    out += data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _save_and_check(ds: pydicom.Dataset, tmp_path: Path) -> pydicom.Dataset:
    path = tmp_path / "document.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = dciodvfy(path)
    assert result.iod == "EncapsulatedPDF", str(result)
    assert result.ok, str(result)
    assert result.warnings == [], str(result)
    return pydicom.dcmread(path)


def _extracted(ds: pydicom.Dataset) -> bytes:
    return bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength]


def test_a_two_page_pdf_is_archived_and_comes_back_byte_identical(tmp_path: Path) -> None:
    pdf = _pdf(2)
    assert b"/Count 2" in pdf
    ds = encapsulated_pdf(pdf, make_context(1, "DOC"), document_title="Consent form")
    back = _save_and_check(ds, tmp_path)
    assert _extracted(back) == pdf
    assert len(back.EncapsulatedDocument) % 2 == 0
    assert back.EncapsulatedDocumentLength == len(pdf)
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert back.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert (back.Modality, back.ConversionType, back.BurnedInAnnotation) == ("DOC", "SD", "YES")
    assert back.DocumentTitle == "Consent form"
    assert back.ConceptNameCodeSequence == []
    assert back.PatientName == "Testperson^Jürgen^Ödön"


def test_an_odd_length_pdf_is_padded_but_its_length_is_kept(tmp_path: Path) -> None:
    pdf = _pdf(1)
    pdf = pdf if len(pdf) % 2 else pdf + b"\n"
    assert len(pdf) % 2 == 1
    back = _save_and_check(
        encapsulated_pdf(pdf, make_context(1, "DOC"), document_title=""), tmp_path
    )
    assert len(back.EncapsulatedDocument) == len(pdf) + 1
    assert bytes(back.EncapsulatedDocument)[-1:] == b"\x00"
    assert back.EncapsulatedDocumentLength == len(pdf)
    assert _extracted(back) == pdf


def test_workstation_document_with_a_concept_name(tmp_path: Path) -> None:
    ds = encapsulated_pdf(
        _pdf(2),
        make_context(4, "DOC"),
        document_title="Discharge summary",
        conversion_type=ConversionType.WORKSTATION,
        burned_in_annotation=False,
        concept_name=Code("18842-5", "LN", "Discharge summary"),
    )
    back = _save_and_check(ds, tmp_path)
    assert (back.ConversionType, back.BurnedInAnnotation, back.InstanceNumber) == ("WSD", "NO", 4)
    item = back.ConceptNameCodeSequence[0]
    assert (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) == (
        "18842-5",
        "LN",
        "Discharge summary",
    )


def test_read_pdf_gives_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(_pdf(2))
    assert read_pdf(path) == path.read_bytes()


def test_other_conversion_types_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Conversion Type SD .* or WSD .* not DV"):
        encapsulated_pdf(
            _pdf(),
            make_context(1, "DOC"),
            document_title="x",
            conversion_type=ConversionType.DIGITIZED_VIDEO,
        )


def test_a_pdf_outside_a_doc_series_is_refused() -> None:
    with pytest.raises(ValueError, match="Modality DOC, not 'OT'"):
        encapsulated_pdf(_pdf(), make_context(1, "OT"), document_title="x")


# --- encryption detection -------------------------------------------------------------------


def test_encryption_is_read_from_the_trailer() -> None:
    assert is_encrypted(_pdf(1, encrypt="secret"))
    assert not is_encrypted(_pdf(1))


def test_page_text_that_mentions_encrypt_does_not_count() -> None:
    text = "see trailer << /Encrypt 9 0 R >> in ISO 32000"
    pdf = _pdf(1, text=text, compress=False)
    assert b"/Encrypt 9 0 R" in pdf
    assert not is_encrypted(pdf)


@pytest.mark.parametrize(
    ("extra", "encrypted"),
    [
        (b"", False),
        (b"/Encrypt 5 0 R", True),
        (b"/Encr#79pt 5 0 R", True),
        (b"/Info << /Encrypt 5 0 R >> /Note (/Encrypt) /Kids [/Encrypt]", False),
    ],
    ids=["plain", "encrypted", "escaped-name", "nested-or-quoted"],
)
def test_encryption_is_read_from_a_cross_reference_stream(extra: bytes, encrypted: bool) -> None:
    assert is_encrypted(_pdf_with_xref_stream(extra)) is encrypted


def test_an_incremental_update_that_adds_encryption_counts() -> None:
    pdf = _pdf(1)
    previous = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    update = b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 9 /Root 4 0 R /Prev %d " % previous
    updated = pdf + update + b"/Encrypt 8 0 R >>\nstartxref\n%d\n%%%%EOF\n" % len(pdf)
    assert not is_encrypted(pdf + update + b">>\nstartxref\n%d\n%%%%EOF\n" % len(pdf))
    assert is_encrypted(updated)


def test_a_broken_xref_chain_still_finds_the_encrypt_entry() -> None:
    pdf = _pdf(1, encrypt="secret")
    broken = re.sub(rb"startxref\s+\d+", b"startxref\n7", pdf)
    assert broken != pdf
    assert is_encrypted(broken)


# --- malformed input ------------------------------------------------------------------------


def test_a_zero_byte_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pdf: the file is empty \(0 bytes\)"):
        read_pdf(path)
    with pytest.raises(ValueError, match="the file is empty"):
        encapsulated_pdf(b"", make_context(1, "DOC"), document_title="x")


def test_a_truncated_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.pdf"
    path.write_bytes(_pdf(2)[:900])
    with pytest.raises(ValueError, match=r"cut\.pdf: the PDF is incomplete \(no %%EOF"):
        read_pdf(path)


def test_a_png_renamed_pdf_is_refused(tmp_path: Path) -> None:
    ok, png = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    assert ok
    path = tmp_path / "scan.pdf"
    path.write_bytes(png.tobytes())
    with pytest.raises(ValueError, match=r"scan\.pdf: not a PDF .*convert it to PDF first"):
        read_pdf(path)


def test_an_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    path.write_bytes(_pdf(2, encrypt="secret"))
    message = r"locked\.pdf: the PDF is encrypted; izer cannot archive a document the PACS"
    with pytest.raises(ValueError, match=message):
        read_pdf(path)
    with pytest.raises(ValueError, match="the PDF is encrypted"):
        encapsulated_pdf(path.read_bytes(), make_context(1, "DOC"), document_title="x")


def test_an_encrypted_pdf_with_an_xref_stream_is_refused() -> None:
    pdf = _pdf_with_xref_stream(b"/Encrypt 5 0 R")
    with pytest.raises(ValueError, match="the PDF is encrypted"):
        encapsulated_pdf(pdf, make_context(1, "DOC"), document_title="x")


def test_a_missing_file_or_a_folder_is_named_in_plain_words(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nothing\.pdf: no such file; check the path"):
        read_pdf(tmp_path / "nothing.pdf")
    with pytest.raises(ValueError, match="is a folder, not a PDF file"):
        read_pdf(tmp_path)
