"""Transfer syntaxes izer writes (PS3.5 Section 10 and Annex A), by name and UID.

pydicom 3.0 does not know the JPEG XL syntaxes (Supplement 232, 2024d); importing this module
registers them so that pydicom writes and reads files that use them.
"""

from __future__ import annotations

import enum

import pydicom._uid_dict
from pydicom.uid import UID

_JPEG_XL = {
    "1.2.840.10008.1.2.4.110": ("JPEG XL Lossless", "JPEGXLLossless"),
    "1.2.840.10008.1.2.4.111": ("JPEG XL JPEG Recompression", "JPEGXLJPEGRecompression"),
    "1.2.840.10008.1.2.4.112": ("JPEG XL", "JPEGXL"),
}
for _uid, (_name, _keyword) in _JPEG_XL.items():
    pydicom._uid_dict.UID_dictionary.setdefault(_uid, (_name, "Transfer Syntax", "", "", _keyword))


class TransferSyntax(enum.StrEnum):
    """Still-image transfer syntaxes; the value is the UID, the name is for ``--ts``."""

    EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
    IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
    RLE_LOSSLESS = "1.2.840.10008.1.2.5"
    JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
    JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
    JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
    JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
    JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
    JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
    JPEG_2000 = "1.2.840.10008.1.2.4.91"
    HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
    HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
    HTJ2K = "1.2.840.10008.1.2.4.203"
    JPEG_XL_LOSSLESS = "1.2.840.10008.1.2.4.110"
    JPEG_XL = "1.2.840.10008.1.2.4.112"

    @property
    def uid(self) -> UID:
        """As a pydicom UID."""
        return UID(self.value)

    @property
    def is_encapsulated(self) -> bool:
        """True for the compressed syntaxes (Pixel Data in fragments, PS3.5 A.4)."""
        return self not in (
            TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
            TransferSyntax.IMPLICIT_VR_LITTLE_ENDIAN,
        )

    @classmethod
    def from_text(cls, text: str) -> TransferSyntax:
        """Parse a name (``jpeg-baseline``, ``JPEG_BASELINE``) or a UID.

        Raises
        ------
        ValueError
            Naming the accepted names.
        """
        wanted = text.strip()
        for member in cls:
            if wanted == member.value or wanted.upper().replace("-", "_") == member.name:
                return member
        names = ", ".join(member.name.lower().replace("_", "-") for member in cls)
        raise ValueError(f"unknown transfer syntax {text!r}; use one of: {names}")
