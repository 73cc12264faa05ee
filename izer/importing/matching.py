"""Which local patient is the media's patient? Candidates ranked by their demographics.

Media from elsewhere carry another hospital's Patient ID and often another spelling of the
name: capitals without accents (``MUELLER^HANS`` for ``Müller^Hans``), a space where DICOM
puts the component separator ``^`` (PS3.5 6.2.1), family and given name swapped, a typo.
Names are compared after folding case and accents (Unicode NFKD, marks dropped; German
umlauts also as ``ae oe ue``), with :class:`difflib.SequenceMatcher` for what is left; the
birth date and sex tell namesakes apart, and an equal Patient ID counts. Each candidate gets a
score from 0 to 100 and the reasons in words, to show the user: nothing is decided here.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from izer.model import Patient, Sex

#: Letters NFKD does not take apart, spelled as they are usually written without them.
_SPECIAL = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "Ø": "O",
        "ø": "o",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Þ": "TH",
        "þ": "th",
        "\u0131": "i",  # dotless i
    }
)
#: German umlauts as written without them (Müller -> MUELLER).
_GERMAN = str.maketrans({"Ä": "AE", "ä": "ae", "Ö": "OE", "ö": "oe", "Ü": "UE", "ü": "ue"})
_NOT_LETTERS = re.compile(r"[\W_]+")

#: Name similarity from which two spellings count as the same name misspelled.
SIMILAR_FROM = 0.75
#: Score below which :func:`rank` drops a candidate by default in the engine.
MIN_SCORE = 40

# Points of the score (at most 100): the name carries most, then the Patient ID and the birth
# date; a conflicting birth date or sex takes points away.
_NAME_POINTS = 60
_ID_POINTS = 25
_BIRTH_POINTS = 15
_NEAR_BIRTH_POINTS = 5
_BIRTH_CONFLICT = -40
_SEX_CONFLICT = -20


class NameAgreement(enum.Enum):
    """How two Patient's Names compare."""

    IDENTICAL = "identical"
    SAME_LETTERS = "same apart from case, accents or separators"
    SWAPPED = "family and given name swapped"
    SIMILAR = "similar spelling"
    DIFFERENT = "different"


@dataclass(frozen=True)
class NameMatch:
    """The similarity of two names (0 to 1) and what kind of agreement it is."""

    similarity: float
    agreement: NameAgreement


@dataclass(frozen=True)
class PatientMatch:
    """The score (0 to 100) of a candidate patient, with the reasons in words."""

    score: int
    reasons: tuple[str, ...]
    name: NameMatch
    conflicts: tuple[str, ...] = ()


class CandidateSource(enum.StrEnum):
    """Where a candidate comes from."""

    WORKLIST = "worklist"
    QUERY = "query"


@dataclass(frozen=True)
class Candidate:
    """A patient who may be the media's patient, as a worklist item or a query found it.

    ``accession_number``, ``study_instance_uid``, ``description`` and ``scheduled`` (the step's
    start date and time) come with worklist items; ``score``, ``reasons`` and ``conflicts``
    (the reasons that speak against it: another birth date or sex) are set by :func:`rank`.
    """

    patient: Patient
    source: CandidateSource
    provider: str = ""
    accession_number: str = ""
    study_instance_uid: str = ""
    description: str = ""
    scheduled: str = ""
    score: int = 0
    reasons: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


def fold(text: str, *, german: bool = False) -> str:
    """``text`` in capitals without accents, words separated by one space.

    ``german`` spells umlauts ``AE OE UE`` (as on media written without them) instead of
    dropping their marks.
    """
    if german:
        text = text.translate(_GERMAN)
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()
    return " ".join(_NOT_LETTERS.sub(" ", letters).split())


def name_parts(name: str, *, german: bool = False) -> tuple[str, str]:
    """The folded family name and given names (with middle names) of a Patient's Name.

    The alphabetic group is used (before any ``=``). Without ``^`` the name is read as
    ``Family, Given`` or, without a comma, as ``Family Given...`` (PS3.5 6.2.1 asks for ``^``;
    media written by hand often have spaces).
    """
    alphabetic = name.split("=")[0]
    if "^" in alphabetic:
        components = alphabetic.split("^")
        family, given = components[0], " ".join(c for c in components[1:3] if c)
    elif "," in alphabetic:
        family, _, given = alphabetic.partition(",")
    else:
        tokens = alphabetic.split()
        family, given = (tokens[0], " ".join(tokens[1:])) if tokens else ("", "")
    return fold(family, german=german), fold(given, german=german)


def _ratio(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def _given_score(a: str, b: str) -> float:
    first_a, first_b = a.split()[0], b.split()[0]
    score = max(_ratio(a, b), 0.9 * _ratio(first_a, first_b))
    if min(len(first_a), len(first_b)) == 1 and first_a[0] == first_b[0]:
        score = max(score, 0.8)  # an initial for the given name
    return score


def _pair_score(family_a: str, given_a: str, family_b: str, given_b: str) -> float:
    family = _ratio(family_a, family_b)
    if given_a and given_b:
        return 0.6 * family + 0.4 * _given_score(given_a, given_b)
    return family if not given_a and not given_b else 0.85 * family


def compare_names(a: str, b: str) -> NameMatch:
    """How alike two Patient's Names are, tolerating other spellings (module documentation).

    Same letters after folding: similarity 0.97; family and given name swapped: 0.9 times
    their similarity; otherwise the similarity of the spellings, :attr:`NameAgreement.SIMILAR`
    from :data:`SIMILAR_FROM`.
    """
    if a.strip() and a.strip() == b.strip():
        return NameMatch(1.0, NameAgreement.IDENTICAL)
    straight = swapped = 0.0
    for german_a in (False, True):
        for german_b in (False, True):
            family_a, given_a = name_parts(a, german=german_a)
            family_b, given_b = name_parts(b, german=german_b)
            straight = max(straight, _pair_score(family_a, given_a, family_b, given_b))
            if given_a and given_b:
                swapped = max(swapped, _pair_score(family_a, given_a, given_b, family_b))
    if straight >= 1.0:
        return NameMatch(0.97, NameAgreement.SAME_LETTERS)
    if 0.9 * swapped > straight and swapped >= 0.85:
        return NameMatch(round(0.9 * swapped, 3), NameAgreement.SWAPPED)
    similarity = round(straight, 3)
    agreement = NameAgreement.SIMILAR if similarity >= SIMILAR_FROM else NameAgreement.DIFFERENT
    return NameMatch(similarity, agreement)


def _near_dates(a: str, b: str) -> bool:
    """One digit wrong, or day and month swapped (``YYYYMMDD``)."""
    if len(a) != 8 or len(b) != 8:
        return False
    if sum(x != y for x, y in zip(a, b, strict=True)) == 1:
        return True
    return a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]


def _name_reason(match: NameMatch, wanted: str, found: str) -> str:
    shown = f"{wanted} / {found}"
    if match.agreement is NameAgreement.IDENTICAL:
        return "same name"
    if match.agreement is NameAgreement.SIMILAR:
        return f"similar name, {round(match.similarity * 100)}% alike ({shown})"
    if match.agreement is NameAgreement.DIFFERENT:
        return f"different name ({shown})"
    return f"name {match.agreement.value} ({shown})"


def compare_patients(wanted: Patient, found: Patient) -> PatientMatch:
    """Score ``found`` as the patient ``wanted`` (the media's demographics): 0 to 100.

    Up to 60 points for the name (:func:`compare_names`), 25 for the same Patient ID, 15 for
    the same birth date (5 when one digit differs or day and month are swapped); a different
    birth date takes 40 away, a different sex 20 (both listed in ``conflicts`` too).
    """
    name = compare_names(wanted.name, found.name)
    points = _NAME_POINTS * name.similarity
    reasons = [_name_reason(name, wanted.name, found.name)]
    conflicts: list[str] = []
    if wanted.patient_id.strip() and wanted.patient_id.strip() == found.patient_id.strip():
        points += _ID_POINTS
        reasons.append("same Patient ID")
    elif found.patient_id.strip():
        reasons.append(f"Patient ID {found.patient_id} (media: {wanted.patient_id or 'none'})")
    birth_wanted, birth_found = wanted.birth_date.strip(), found.birth_date.strip()
    if birth_wanted and birth_found:
        if birth_wanted == birth_found:
            points += _BIRTH_POINTS
            reasons.append("same birth date")
        elif _near_dates(birth_wanted, birth_found):
            points += _NEAR_BIRTH_POINTS
            reasons.append(f"nearly the same birth date ({birth_wanted} / {birth_found})")
        else:
            points += _BIRTH_CONFLICT
            conflicts.append(f"different birth date ({birth_wanted} / {birth_found})")
    else:
        reasons.append(
            "birth date unknown on " + ("the media" if not birth_wanted else "this side")
        )
    sex_wanted, sex_found = Sex(wanted.sex), Sex(found.sex)
    if Sex.UNKNOWN not in (sex_wanted, sex_found) and sex_wanted is not sex_found:
        points += _SEX_CONFLICT
        conflicts.append(f"different sex ({sex_wanted.value} / {sex_found.value})")
    score = max(0, min(100, round(points)))
    return PatientMatch(score, (*reasons, *conflicts), name, tuple(conflicts))


_SOURCE_ORDER = {CandidateSource.WORKLIST: 0, CandidateSource.QUERY: 1}


def rank(wanted: Patient, found: Iterable[Candidate], *, min_score: int = 0) -> list[Candidate]:
    """Score each candidate against ``wanted`` and sort them, best first.

    The same patient with the same accession from the same provider counts once; candidates
    below ``min_score`` are left out. Ties go to worklist items, then by provider and name.
    """
    seen: set[tuple[object, ...]] = set()
    ranked: list[Candidate] = []
    for candidate in found:
        key = (
            candidate.source,
            candidate.provider,
            candidate.patient,
            candidate.accession_number,
            candidate.study_instance_uid,
        )
        if key in seen:
            continue
        seen.add(key)
        match = compare_patients(wanted, candidate.patient)
        if match.score < min_score:
            continue
        ranked.append(
            dataclasses.replace(
                candidate, score=match.score, reasons=match.reasons, conflicts=match.conflicts
            )
        )
    ranked.sort(
        key=lambda c: (-c.score, _SOURCE_ORDER[c.source], c.provider, c.patient.name, c.scheduled)
    )
    return ranked
