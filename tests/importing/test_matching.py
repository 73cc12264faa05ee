"""Ranking local patients against a media's demographics: other spellings, namesakes."""

from __future__ import annotations

import pytest

from izer.importing import (
    Candidate,
    CandidateSource,
    NameAgreement,
    compare_names,
    compare_patients,
    rank,
)
from izer.importing.matching import fold, name_parts
from izer.model import Patient, Sex

MEDIA = Patient("EXT-4711", "MUELLER^HANS", "19610315", Sex.MALE)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Müller", "MULLER"),
        ("Ødegård", "ODEGARD"),
        ("Straße", "STRASSE"),
        ("O'Brien-Smith", "O BRIEN SMITH"),
        ("Łukasz  Żółć", "LUKASZ ZOLC"),
        ("Иванов", "ИВАНОВ"),
    ],
)
def test_fold_drops_case_accents_and_punctuation(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_german_folding_spells_umlauts_out() -> None:
    assert fold("Müller", german=True) == "MUELLER"
    assert fold("Jörg Bär", german=True) == "JOERG BAER"


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Müller^Hans^Peter^Dr.", ("MULLER", "HANS PETER")),
        ("MUELLER HANS", ("MUELLER", "HANS")),
        ("Mueller, Hans", ("MUELLER", "HANS")),
        ("Yamada^Tarou=山田^太郎", ("YAMADA", "TAROU")),
        ("", ("", "")),
    ],
)
def test_name_parts_read_separators_as_written(name: str, parts: tuple[str, str]) -> None:
    assert name_parts(name) == parts


@pytest.mark.parametrize(
    ("media", "local", "agreement"),
    [
        ("Müller^Hans", "Müller^Hans", NameAgreement.IDENTICAL),
        ("MUELLER^HANS", "Müller^Hans", NameAgreement.SAME_LETTERS),
        ("MULLER^HANS", "Müller^Hans", NameAgreement.SAME_LETTERS),
        ("mueller hans", "Müller^Hans", NameAgreement.SAME_LETTERS),
        ("Mueller, Hans", "Müller^Hans", NameAgreement.SAME_LETTERS),
        ("HANS^MUELLER", "Müller^Hans", NameAgreement.SWAPPED),
        ("MUELER^HANS", "Müller^Hans", NameAgreement.SIMILAR),
        ("MUELLER^HANZ", "Müller^Hans", NameAgreement.SIMILAR),
        ("Meier^Karl", "Müller^Hans", NameAgreement.DIFFERENT),
        ("", "Müller^Hans", NameAgreement.DIFFERENT),
    ],
)
def test_compare_names_tolerates_other_spellings(
    media: str, local: str, agreement: NameAgreement
) -> None:
    match = compare_names(media, local)
    assert match.agreement is agreement, match
    assert 0.0 <= match.similarity <= 1.0


def test_closer_spellings_are_more_alike() -> None:
    exact = compare_names("Müller^Hans", "Müller^Hans").similarity
    folded = compare_names("MUELLER^HANS", "Müller^Hans").similarity
    swapped = compare_names("HANS^MUELLER", "Müller^Hans").similarity
    typo = compare_names("MULER^HANS", "Müller^Hans").similarity
    other = compare_names("MEIER^KARL", "Müller^Hans").similarity
    assert exact > folded > swapped > other
    assert folded > typo > other


def test_the_same_patient_spelled_otherwise_scores_high_with_reasons() -> None:
    local = Patient("IZT-0001", "Müller^Hans", "19610315", Sex.MALE)
    match = compare_patients(MEDIA, local)
    assert match.score == 73  # 60 * 0.97 for the name + 15 for the birth date
    assert match.conflicts == ()
    assert any("case, accents or separators" in reason for reason in match.reasons)
    assert "same birth date" in match.reasons
    assert any("Patient ID IZT-0001" in reason for reason in match.reasons)


def test_the_same_patient_id_counts() -> None:
    same_id = Patient("EXT-4711", "Müller^Hans", "19610315", Sex.MALE)
    match = compare_patients(MEDIA, same_id)
    assert match.score == 98 and "same Patient ID" in match.reasons


def test_a_namesake_with_another_birth_date_or_sex_is_pushed_down() -> None:
    namesake = Patient("IZT-0002", "Müller^Hans", "19900101", Sex.MALE)
    other_sex = Patient("IZT-0003", "Müller^Hans", "19610315", Sex.FEMALE)
    near_date = Patient("IZT-0004", "Müller^Hans", "19610316", Sex.MALE)
    unknown = Patient("IZT-0005", "Müller^Hans")
    scores = {p.patient_id: compare_patients(MEDIA, p) for p in (namesake, other_sex, near_date)}
    assert scores["IZT-0002"].score == 18
    assert scores["IZT-0002"].conflicts == ("different birth date (19610315 / 19900101)",)
    assert scores["IZT-0003"].conflicts == ("different sex (M / F)",)
    assert any("nearly the same birth date" in r for r in scores["IZT-0004"].reasons)
    assert scores["IZT-0004"].conflicts == ()
    day_month = compare_patients(
        Patient("EXT-1", "DOE^JANE", "19750403"), Patient("P-1", "Doe^Jane", "19750304")
    )
    assert day_month.conflicts == () and "nearly the same birth date" in day_month.reasons[-1]
    unknown_match = compare_patients(MEDIA, unknown)
    assert "birth date unknown on this side" in unknown_match.reasons
    assert unknown_match.conflicts == ()


def test_rank_sorts_drops_duplicates_and_low_scores() -> None:
    def candidate(patient: Patient, source: CandidateSource, **fields: str) -> Candidate:
        return Candidate(patient, source, **fields)  # type: ignore[arg-type]

    right = Patient("IZT-0001", "Müller^Hans", "19610315", Sex.MALE)
    brother = Patient("IZT-0009", "Müller^Jürgen", "19640101", Sex.MALE)
    stranger = Patient("IZT-0010", "Meier^Karl")  # 30 for the name, nothing against
    found = [
        candidate(stranger, CandidateSource.QUERY, provider="PACS"),
        candidate(brother, CandidateSource.WORKLIST, provider="RIS", accession_number="A2"),
        candidate(right, CandidateSource.QUERY, provider="PACS"),
        candidate(right, CandidateSource.WORKLIST, provider="RIS", accession_number="A1"),
        candidate(right, CandidateSource.WORKLIST, provider="RIS", accession_number="A1"),
    ]
    ranked = rank(MEDIA, found)
    assert [(c.patient.patient_id, c.source) for c in ranked] == [
        ("IZT-0001", CandidateSource.WORKLIST),  # a tie goes to the worklist item
        ("IZT-0001", CandidateSource.QUERY),
        ("IZT-0010", CandidateSource.QUERY),
        ("IZT-0009", CandidateSource.WORKLIST),
    ]
    assert ranked[0].score == ranked[1].score > ranked[2].score
    assert ranked[0].accession_number == "A1"
    assert ranked[0].reasons and ranked[3].conflicts
    assert [c.patient.patient_id for c in rank(MEDIA, found, min_score=40)] == ["IZT-0001"] * 2
