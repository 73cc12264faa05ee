"""Export names: hostile patient data gives harmless, readable names inside the export folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from izer.config.export_pattern import DEFAULT_PATTERN, PatternError, check_pattern
from izer.encode.export_names import (
    MAX_COMPONENT,
    clean_text,
    contained,
    file_stem,
    folder_components,
    naming_fields,
    numbered_name,
    person_name,
    sanitize_component,
)

#: Characters no component may hold (Windows forbids them; / and NUL everywhere).
FORBIDDEN = set('/\\:*?"<>|\0') | {chr(n) for n in range(32)}

HOSTILE_NAMES = [
    "../../etc/passwd",
    "..",
    "C:\\Windows\\System32",
    "CON",
    "con.txt",
    "Lpt1",
    "NUL^",
    "Null\0Byte^Name",
    "A" * 300,
    "Müller^Jürgen",
    "山田^太郎",
    "",
    "   ",
    ".hidden",
    "trailing. . ",
    'What*?"<>|:',
    "tab\tnew\nline\x7f",
    "/absolute/path",
    "\\\\server\\share",
]


def _id(name: str) -> str:
    return repr(name if len(name) < 24 else f"{name[:8]}...({len(name)} characters)")


def _header(name: str, patient_id: str = "IZ-0001", **extra: object) -> Dataset:
    ds = Dataset()
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.StudyDate = "20240517"
    ds.AccessionNumber = "ACC0001"
    ds.SeriesNumber = 3
    ds.Modality = "ES"
    ds.InstanceNumber = 7
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def _safe(component: str) -> None:
    assert component not in ("", ".", "..")
    assert not (FORBIDDEN & set(component)), repr(component)
    assert len(component) <= MAX_COMPONENT
    assert not component.startswith(".")
    assert not component.endswith((".", " "))
    assert component.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=_id)
@pytest.mark.filterwarnings("ignore:The (PN component|value) length")
def test_hostile_names_give_safe_components(name: str) -> None:
    fields = naming_fields(_header(name, patient_id=name))
    components = folder_components(DEFAULT_PATTERN, fields)
    assert len(components) == 3  # the pattern's own three levels, no more, no fewer
    for component in components:
        _safe(component)


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=_id)
@pytest.mark.filterwarnings("ignore:The (PN component|value) length")
def test_hostile_names_stay_inside_the_export_folder_and_can_be_written(
    name: str, tmp_path: Path
) -> None:
    root = tmp_path / "out"
    root.mkdir()
    components = folder_components(DEFAULT_PATTERN, naming_fields(_header(name, name)))
    target = contained(root, [*components, "0001_image.jpg"])
    assert root.resolve() in target.resolve().parents
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [target]


def test_readable_names_of_any_script_are_kept() -> None:
    assert sanitize_component(clean_text("Müller^Jürgen")) == "Müller_Jürgen"
    assert sanitize_component(clean_text("山田^太郎")) == "山田_太郎"
    assert sanitize_component("Ωμέγα-1_x.y z") == "Ωμέγα-1_x.y z"
    # decomposed umlauts are composed (NFC) so that the same name gives the same folder
    assert sanitize_component("Mu\u0308ller") == "Müller"


def test_separators_and_dot_dot_never_survive() -> None:
    assert sanitize_component("../../etc/passwd") == "____etc_passwd"
    assert sanitize_component("..") == "_"
    assert sanitize_component("a..b") == "a_b"
    assert sanitize_component("C:\\Windows") == "C__Windows"
    assert sanitize_component("x\0y") == "x_y"


def test_windows_device_names_get_a_prefix() -> None:
    assert sanitize_component("CON") == "_CON"
    assert sanitize_component("con.txt") == "_con.txt"
    assert sanitize_component("COM1") == "_COM1"
    assert sanitize_component("CONSOLE") == "CONSOLE"


def test_long_values_are_cut_to_64_characters() -> None:
    assert sanitize_component("A" * 300) == "A" * 64
    assert sanitize_component("x" * 63 + ". tail") == "x" * 63


def test_empty_values_give_an_underscore() -> None:
    assert sanitize_component("") == "_"
    assert sanitize_component(" . ") == "_"
    fields = naming_fields(Dataset())
    assert folder_components(DEFAULT_PATTERN, fields) == ["_", "_", "0_"]


def test_the_default_pattern_names_patient_study_and_series() -> None:
    fields = naming_fields(_header("Testperson^Jürgen", "IZ-0001"))
    assert folder_components(DEFAULT_PATTERN, fields) == [
        "Testperson_Jürgen_IZ-0001",
        "20240517_ACC0001",
        "3_ES",
    ]
    assert file_stem(fields, "image") == "0007_image"
    assert file_stem(fields, "image", frame=12) == "0007_image-f0012"


def test_person_names_use_one_group_and_drop_empty_components() -> None:
    assert person_name("Doe^John^^^") == "Doe^John"
    assert person_name("Yamada^Tarou=山田^太郎=やまだ^たろう") == "Yamada^Tarou"
    assert person_name("=山田^太郎") == "山田^太郎"
    assert person_name(None) == ""


def test_a_slash_in_a_value_does_not_make_a_folder() -> None:
    fields = naming_fields(_header("a/b", "c/d"))
    assert folder_components("{patient_name}/{patient_id}", fields) == ["a_b", "c_d"]


def test_pattern_numbers_and_specs() -> None:
    fields = naming_fields(_header("X"))
    assert folder_components("{series_number:03d}/{modality}", fields) == ["003", "ES"]
    assert folder_components("{patient_id:.2}", fields) == ["IZ"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("{patient_name.__class__}", "unknown"),
        ("{nope}", "unknown"),
        ("{patient_name!r}", "drop the"),
        ("{patient_name:>999999999}", "only widths"),
        ("{patient_name:d}", "number fields"),
        ("{patient_name", "braces"),
        ("   ", "empty"),
    ],
)
def test_bad_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        check_pattern(pattern)


def test_numbered_names_never_reuse_a_taken_name() -> None:
    taken = {"0001_image.jpg", "0001_image-2.jpg"}
    assert numbered_name("0001_image", ".jpg", taken.__contains__) == "0001_image-3.jpg"
    assert numbered_name("0002_image", ".jpg", taken.__contains__) == "0002_image.jpg"
    long_name = numbered_name("x" * 64, ".jpg", lambda name: name == "x" * 64 + ".jpg")
    assert long_name == "x" * 62 + "-2.jpg"


def test_contained_refuses_a_path_that_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(ValueError, match="outside"):
        contained(root, ["..", "escaped"])
    with pytest.raises(ValueError, match="outside"):
        contained(root, ["/etc"])


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_contained_refuses_a_symbolic_link_that_points_out(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="outside"):
        contained(root, ["link", "file.jpg"])
