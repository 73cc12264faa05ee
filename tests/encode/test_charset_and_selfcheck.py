"""Specific Character Set always written and obeyed; the self-check names what is wrong."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from izer.encode.charset import CharacterSetError, check_encodable, specific_character_set
from izer.encode.selfcheck import InstanceCheckError, check_instance


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ISO_IR 192", "ISO_IR 192"),
        ("ISO_IR 100", "ISO_IR 100"),
        ("GB18030", "GB18030"),
        ("ISO 2022 IR 87", ["", "ISO 2022 IR 87"]),
        ("ISO 2022 IR 149", ["", "ISO 2022 IR 149"]),
    ],
)
def test_specific_character_set_values(name: str, value) -> None:
    assert specific_character_set(name) == value


@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 100", "Müller^Jürgen"),
        (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        (["", "ISO 2022 IR 149"], "Hong^Gildong=洪^吉洞=홍^길동"),
        ("GB18030", "Wang^XiaoDong=王^小东="),
        ("ISO_IR 192", "Иванов^Иван"),
    ],
)
def test_names_that_fit_their_set_pass(charset, name: str) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    check_encodable(ds)


def test_a_name_that_does_not_fit_is_an_error_naming_the_attribute() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Иванов^Иван"
    with pytest.raises(CharacterSetError, match=r"PatientName.*ISO_IR 100"):
        check_encodable(ds)


def test_values_inside_sequences_are_checked_too() -> None:
    item = Dataset()
    item.CodeMeaning = "Ωμέγα"
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.AnatomicRegionSequence = [item]
    with pytest.raises(CharacterSetError, match=r"AnatomicRegionSequence\[0\]\.CodeMeaning"):
        check_encodable(ds)


def _minimal() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.PatientName = ""
    return ds


def test_missing_and_empty_required_attributes_are_named() -> None:
    with pytest.raises(InstanceCheckError, match=r"TestIOD: Modality is required .* missing"):
        check_instance(_minimal(), iod="TestIOD", type1=["Modality"])
    ds = _minimal()
    ds.Modality = ""
    with pytest.raises(InstanceCheckError, match=r"Modality is required .* empty"):
        check_instance(ds, iod="TestIOD", type1=["Modality"])
    with pytest.raises(InstanceCheckError, match="PatientID must be present"):
        check_instance(_minimal(), iod="TestIOD", type1=[], type2=["PatientID"])
    check_instance(_minimal(), iod="TestIOD", type1=["SOPInstanceUID"], type2=["PatientName"])


@pytest.mark.filterwarnings("ignore:.*allowed for VR:UserWarning")
@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")
@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("FrameTime", 1000 / 30, "exceeds the maximum length of 16"),
        ("Modality", "es", "Invalid value for VR CS"),
        ("StudyInstanceUID", "1." + "2" * 70, "maximum length of 64"),
        ("StudyDate", "2026-11-22", "VR DA"),
    ],
)
def test_malformed_values_are_named(keyword: str, value, message: str) -> None:
    ds = _minimal()
    setattr(ds, keyword, value)
    with pytest.raises(InstanceCheckError, match=f"{keyword}: .*{message}"):
        check_instance(ds, iod="TestIOD", type1=[])
