"""Coded values shared by the image IODs: codes, anatomic regions, laterality, Image Type.

Codes follow the Code Sequence Macro (PS3.3 Table 8.8-1); anatomy is the General Anatomy
Optional Macro (PS3.3 Table 10-7) and Laterality of the General Series module (PS3.3 C.7.3.1).
Anatomic regions are SNOMED CT concepts written with the ``SCT`` designator (``SRT`` is
deprecated, PS3.16 Chapter 8), with the meanings of PS3.16 CID 4 and CID 4031.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset


@dataclass(frozen=True)
class Code:
    """A coded concept: Code Value, Coding Scheme Designator, Code Meaning (PS3.3 8.8)."""

    value: str
    scheme: str
    meaning: str

    def to_dataset(self) -> Dataset:
        """One item of a code sequence."""
        item = Dataset()
        item.CodeValue = self.value
        item.CodingSchemeDesignator = self.scheme
        item.CodeMeaning = self.meaning
        return item


def _sct(value: str, meaning: str) -> Code:
    return Code(value, "SCT", meaning)


class AnatomicRegion(enum.Enum):
    """Anatomic regions for endoscopy, the operating room, dermatology and the clinic.

    The value is the :class:`Code` (SNOMED CT, meanings as in PS3.16 CID 4 / CID 4031).
    """

    # Digestive tract (endoscopy)
    ESOPHAGUS = _sct("32849002", "Esophagus")
    STOMACH = _sct("69695003", "Stomach")
    DUODENUM = _sct("38848004", "Duodenum")
    SMALL_INTESTINE = _sct("30315005", "Small intestine")
    JEJUNUM = _sct("21306003", "Jejunum")
    ILEUM = _sct("34516001", "Ileum")
    LARGE_INTESTINE = _sct("14742008", "Large intestine")
    COLON = _sct("71854001", "Colon")
    SIGMOID_COLON = _sct("60184004", "Sigmoid colon")
    RECTUM = _sct("34402009", "Rectum")
    ANUS = _sct("53505006", "Anus")
    GALLBLADDER = _sct("28231008", "Gallbladder")
    COMMON_BILE_DUCT = _sct("79741001", "Common bile duct")
    PANCREATIC_DUCT = _sct("69930009", "Pancreatic duct")
    # Airways, ear, nose and throat
    ORAL_CAVITY = _sct("74262004", "Oral cavity")
    NOSE = _sct("45206002", "Nose")
    NASAL_CAVITY = _sct("279549004", "Nasal cavity")
    PHARYNX = _sct("54066008", "Pharynx")
    LARYNX = _sct("4596009", "Larynx")
    TRACHEA = _sct("44567001", "Trachea")
    BRONCHUS = _sct("955009", "Bronchus")
    EAR = _sct("117590005", "Ear")
    # Urology and gynaecology
    KIDNEY = _sct("64033007", "Kidney")
    URETER = _sct("87953007", "Ureter")
    URINARY_BLADDER = _sct("89837001", "Urinary bladder")
    URETHRA = _sct("13648007", "Urethra")
    PROSTATE = _sct("41216001", "Prostate")
    UTERUS = _sct("35039007", "Uterus")
    CERVIX = _sct("71252005", "Cervix")
    VAGINA = _sct("76784001", "Vagina")
    # Joints (arthroscopy)
    SHOULDER = _sct("16982005", "Shoulder")
    ELBOW_JOINT = _sct("16953009", "Elbow joint")
    WRIST_JOINT = _sct("74670003", "Wrist joint")
    HIP_JOINT = _sct("24136001", "Hip joint")
    KNEE = _sct("72696002", "Knee")
    ANKLE_JOINT = _sct("70258002", "Ankle joint")
    # Body regions, skin and eye (photography, dermatology, ophthalmology)
    HEAD = _sct("69536005", "Head")
    NECK = _sct("45048000", "Neck")
    CHEST = _sct("51185008", "Chest")
    ABDOMEN = _sct("818981001", "Abdomen")
    PELVIS = _sct("816092008", "Pelvis")
    BACK = _sct("77568009", "Back")
    BREAST = _sct("76752008", "Breast")
    HAND = _sct("85562004", "Hand")
    FOOT = _sct("56459004", "Foot")
    SKIN = _sct("39937001", "Skin")
    EYE = _sct("81745001", "Eye")
    HEART = _sct("80891009", "Heart")

    @property
    def code(self) -> Code:
        """The region's code."""
        return self.value


class Pairing(enum.Enum):
    """Whether a region has a side, which decides Laterality (0020,0060) (PS3.3 C.7.3.1)."""

    PAIRED = "paired"
    UNPAIRED = "unpaired"
    EITHER = "either"


_PAIRED = {
    AnatomicRegion.EAR,
    AnatomicRegion.KIDNEY,
    AnatomicRegion.URETER,
    AnatomicRegion.SHOULDER,
    AnatomicRegion.ELBOW_JOINT,
    AnatomicRegion.WRIST_JOINT,
    AnatomicRegion.HIP_JOINT,
    AnatomicRegion.KNEE,
    AnatomicRegion.ANKLE_JOINT,
    AnatomicRegion.BREAST,
    AnatomicRegion.HAND,
    AnatomicRegion.FOOT,
    AnatomicRegion.EYE,
}
#: Regions that may or may not be on one side (a skin lesion, one nostril, one bronchus).
_EITHER = {AnatomicRegion.SKIN, AnatomicRegion.NASAL_CAVITY, AnatomicRegion.BRONCHUS}


def pairing(region: Code) -> Pairing | None:
    """Whether ``region`` is paired; ``None`` for a code outside :class:`AnatomicRegion`."""
    for member in AnatomicRegion:
        if member.value == region:
            if member in _PAIRED:
                return Pairing.PAIRED
            return Pairing.EITHER if member in _EITHER else Pairing.UNPAIRED
    return None


def anatomic_region(name: str) -> Code:
    """The code of a catalogued region by short name (``colon``, ``urinary bladder``...).

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    key = name.strip().upper().replace(" ", "_").replace("-", "_")
    try:
        return AnatomicRegion[key].code
    except KeyError:
        known = ", ".join(member.name.lower() for member in AnatomicRegion)
        raise ValueError(
            f"unknown anatomic region {name!r}; use one of: {known} "
            "(or pass a Code for another SNOMED CT region)"
        ) from None


class Laterality(enum.StrEnum):
    """Laterality (0020,0060) of a paired body part (PS3.3 C.7.3.1)."""

    RIGHT = "R"
    LEFT = "L"


def write_anatomy(
    ds: Dataset,
    region: Code | AnatomicRegion | None,
    laterality: Laterality | None,
) -> None:
    """Write Anatomic Region Sequence (one item) and Laterality as the region requires.

    Laterality is type 2C: required for a paired structure, absent for an unpaired one, and
    empty only when it is unknown (PS3.3 C.7.3.1). So: an unpaired region without laterality
    leaves it out; a paired region, an uncatalogued code or no region at all writes it empty
    when the side is not given.

    Raises
    ------
    ValueError
        When a side is given for an unpaired region.
    """
    code = region.code if isinstance(region, AnatomicRegion) else region
    kind = pairing(code) if code is not None else None
    if code is not None:
        ds.AnatomicRegionSequence = [code.to_dataset()]
    if laterality is not None:
        if kind is Pairing.UNPAIRED:
            raise ValueError(
                f"{code.meaning} is not a paired structure: leave laterality out "
                "(Laterality is only for paired body parts, PS3.3 C.7.3.1)"
            )
        ds.Laterality = Laterality(laterality).value
    elif kind is not Pairing.UNPAIRED:
        ds.Laterality = ""


class PixelDataCharacteristics(enum.StrEnum):
    """Image Type (0008,0008) value 1 (PS3.3 C.7.6.1.1.2)."""

    ORIGINAL = "ORIGINAL"
    DERIVED = "DERIVED"


class PatientExaminationCharacteristics(enum.StrEnum):
    """Image Type (0008,0008) value 2 (PS3.3 C.7.6.1.1.2)."""

    PRIMARY = "PRIMARY"
    SECONDARY = "SECONDARY"


def image_type_values(image_type: Sequence[str], *, max_values: int | None = None) -> list[str]:
    """Check Image Type values 1 and 2 and return the values, upper case.

    Parameters
    ----------
    image_type
        ``(ORIGINAL|DERIVED, PRIMARY|SECONDARY[, ...])``.
    max_values
        How many values the caller allows (``2`` when the IOD adds values 3 and 4 itself).

    Raises
    ------
    ValueError
        Naming the wrong value and the allowed ones.
    """
    values = [str(value).strip().upper() for value in image_type]
    if len(values) < 2:
        raise ValueError(
            f"image_type needs at least two values, e.g. ('ORIGINAL', 'PRIMARY'); got {values}"
        )
    if max_values is not None and len(values) > max_values:
        raise ValueError(
            f"image_type takes {max_values} values here (the IOD writes the others); got {values}"
        )
    for value, allowed, position in (
        (values[0], PixelDataCharacteristics, 1),
        (values[1], PatientExaminationCharacteristics, 2),
    ):
        if value not in {member.value for member in allowed}:
            choices = " or ".join(member.value for member in allowed)
            raise ValueError(f"Image Type value {position} must be {choices}, got {value!r}")
    return values
