"""Print management coded values, display formats and presets (izer.model.printing)."""

from __future__ import annotations

import pytest

from izer.model.printing import (
    DisplayFormatKind,
    FilmOrientation,
    FilmSize,
    ImageDisplayFormat,
    MediumType,
    PrintColor,
    PrintPreset,
    density_value,
    film_destination_value,
)


def test_coded_values_are_the_dicom_terms() -> None:
    assert FilmSize.IN8_5X11 == "8_5INX11IN"
    assert FilmSize("14INX17IN") is FilmSize.IN14X17
    assert {size.value for size in FilmSize} == {
        "8INX10IN", "8_5INX11IN", "10INX12IN", "10INX14IN", "11INX14IN", "11INX17IN",
        "14INX14IN", "14INX17IN", "24CMX24CM", "24CMX30CM", "A4", "A3",
    }  # fmt: skip
    assert MediumType.CLEAR_FILM == "CLEAR FILM"
    assert MediumType.MAMMO_BLUE_FILM == "MAMMO BLUE FILM"
    assert PrintColor("color") is PrintColor.COLOR


def test_film_sizes_in_millimetres_are_portrait() -> None:
    assert FilmSize.IN14X17.size_mm == pytest.approx((355.6, 431.8))
    assert FilmSize.A4.size_mm == (210.0, 297.0)
    assert FilmSize.CM24X30.size_mm == (240.0, 300.0)
    for size in FilmSize:
        width, height = size.size_mm
        assert 0 < width <= height


@pytest.mark.parametrize(
    ("text", "kind", "counts", "boxes", "canonical"),
    [
        ("STANDARD\\2,2", DisplayFormatKind.STANDARD, (2, 2), 4, "STANDARD\\2,2"),
        ("standard\\3,4", DisplayFormatKind.STANDARD, (3, 4), 12, "STANDARD\\3,4"),
        ("2,2", DisplayFormatKind.STANDARD, (2, 2), 4, "STANDARD\\2,2"),
        ("3x1", DisplayFormatKind.STANDARD, (3, 1), 3, "STANDARD\\3,1"),
        ("ROW\\2,1", DisplayFormatKind.ROW, (2, 1), 3, "ROW\\2,1"),
        ("COL\\1,3", DisplayFormatKind.COL, (1, 3), 4, "COL\\1,3"),
        (" COL\\ 2 , 2 ,1 ", DisplayFormatKind.COL, (2, 2, 1), 5, "COL\\2,2,1"),
    ],
)
def test_display_formats_parse_and_print_back(
    text: str, kind: DisplayFormatKind, counts: tuple[int, ...], boxes: int, canonical: str
) -> None:
    layout = ImageDisplayFormat.parse(text)
    assert (layout.kind, layout.counts, layout.boxes) == (kind, counts, boxes)
    assert str(layout) == canonical
    assert ImageDisplayFormat.parse(str(layout)) == layout


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "not one izer prints"),
        ("SLIDE", "not one izer prints"),
        ("CUSTOM\\1", "not one izer prints"),
        ("STANDARD", "integers separated by commas"),
        ("STANDARD\\2", "two values"),
        ("STANDARD\\2,2,2", "two values"),
        ("STANDARD\\2,x", "integers separated by commas"),
        ("ROW\\0,1", "give 1 to 32"),
        ("ROW\\-1", "integers separated by commas"),
        ("2x0", "give 1 to 32"),
        ("COL\\40", "give 1 to 32"),
    ],
)
def test_bad_display_formats_are_refused_clearly(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        ImageDisplayFormat.parse(text)
    assert "STANDARD\\C,R" in str(caught.value) or repr(text) in str(caught.value)


def _rounded(rects: list[tuple[float, float, float, float]]) -> list[tuple[float, ...]]:
    return [tuple(round(v, 4) for v in rect) for rect in rects]


def test_standard_boxes_are_row_major_columns_first() -> None:
    rects = ImageDisplayFormat.parse("STANDARD\\2,2").box_rects(FilmOrientation.PORTRAIT)
    assert rects == [(0, 0, 0.5, 0.5), (0.5, 0, 0.5, 0.5), (0, 0.5, 0.5, 0.5), (0.5, 0.5, 0.5, 0.5)]
    rects = ImageDisplayFormat.parse("STANDARD\\3,4").box_rects(FilmOrientation.LANDSCAPE)
    assert len(rects) == 12
    # 3 columns, 4 rows: position 4 starts the second row (PS3.3 C.13.5.1).
    assert _rounded(rects)[:4] == [
        (0, 0, 0.3333, 0.25),
        (0.3333, 0, 0.3333, 0.25),
        (0.6667, 0, 0.3333, 0.25),
        (0, 0.25, 0.3333, 0.25),
    ]
    assert _rounded(rects)[-1] == (0.6667, 0.75, 0.3333, 0.25)


def test_row_format_counts_boxes_per_row() -> None:
    rects = ImageDisplayFormat.parse("ROW\\2,1").box_rects(FilmOrientation.PORTRAIT)
    assert rects == [(0, 0, 0.5, 0.5), (0.5, 0, 0.5, 0.5), (0, 0.5, 1, 0.5)]


def test_col_format_counts_boxes_per_column_numbered_column_major() -> None:
    rects = ImageDisplayFormat.parse("COL\\1,3").box_rects(FilmOrientation.PORTRAIT)
    assert _rounded(rects) == [
        (0, 0, 0.5, 1),
        (0.5, 0, 0.5, 0.3333),
        (0.5, 0.3333, 0.5, 0.3333),
        (0.5, 0.6667, 0.5, 0.3333),
    ]


def test_boxes_tile_the_film_without_overlap() -> None:
    for text in ("STANDARD\\3,4", "ROW\\3,1,2", "COL\\2,4,1"):
        rects = ImageDisplayFormat.parse(text).box_rects(FilmOrientation.PORTRAIT)
        assert sum(w * h for _x, _y, w, h in rects) == pytest.approx(1.0)
        for x, y, w, h in rects:
            assert min(x, y) >= 0 and max(x + w, y + h) <= 1 + 1e-9


def test_densities_and_destinations() -> None:
    assert density_value("black") == "BLACK"
    assert density_value(" WHITE ") == "WHITE"
    assert density_value("0150") == "150"
    for bad in ("GRAY", "-5", "1.5", ""):
        with pytest.raises(ValueError, match="BLACK, WHITE or hundredths"):
            density_value(bad)
    assert film_destination_value("magazine") == "MAGAZINE"
    assert film_destination_value("bin_2") == "BIN_2"
    for bad in ("BIN", "BIN_x", "TRAY"):
        with pytest.raises(ValueError, match="MAGAZINE, PROCESSOR or BIN_i"):
            film_destination_value(bad)


def test_the_default_preset_is_valid_and_sends_nothing_optional() -> None:
    preset = PrintPreset()
    assert preset.problems() == []
    assert preset.normalized() == preset
    assert preset.image_display_format.boxes == 1
    assert preset.size is None and preset.orientation is FilmOrientation.PORTRAIT


def test_problems_name_every_bad_key_and_what_is_allowed() -> None:
    preset = PrintPreset(
        display_format="4 by 4",
        film_orientation="sideways",
        film_size="13INX18IN",
        magnification="BILINEAR",
        smoothing="SMOOTH",
        border_density="GREY",
        empty_image_density="-1",
        min_density=300,
        max_density=200,
        trim="MAYBE",
        copies=0,
        priority="URGENT",
        medium="PHOTO",
        film_destination="TRAY",
        session_label="a\\b",
        bit_depth=10,
        polarity="INVERSE",
    )
    problems = preset.problems()
    text = "\n".join(problems)
    for key, allowed in (
        ("display_format", "STANDARD\\C,R"),
        ("film_orientation", "PORTRAIT, LANDSCAPE"),
        ("film_size", "14INX17IN"),
        ("smoothing", "CUBIC"),
        ("border_density", "BLACK, WHITE"),
        ("empty_image_density", "BLACK, WHITE"),
        ("min_density (300)", "below max_density"),
        ("trim", "YES, NO"),
        ("copies", "1 to 99"),
        ("priority", "HIGH, MED, LOW"),
        ("medium", "CLEAR FILM"),
        ("film_destination", "BIN_i"),
        ("session_label", "backslash"),
        ("bit_depth", "8 or 12"),
        ("polarity", "NORMAL, REVERSE"),
    ):
        assert any(p.startswith(key) and allowed in p for p in problems), (key, text)
    with pytest.raises(ValueError, match="print preset: display_format"):
        preset.normalized()


def test_values_are_normalized_to_dicom_case() -> None:
    preset = PrintPreset(
        display_format="2x3",
        film_orientation="landscape",
        film_size="a4",
        magnification="cubic",
        smoothing="medium",
        border_density="white",
        medium="clear film",
        film_destination="bin_1",
        priority="low",
        trim="yes",
        polarity="reverse",
    ).normalized()
    assert preset.display_format == "STANDARD\\2,3"
    assert (preset.film_orientation, preset.film_size) == ("LANDSCAPE", "A4")
    assert (preset.magnification, preset.smoothing) == ("CUBIC", "MEDIUM")
    assert (preset.border_density, preset.medium) == ("WHITE", "CLEAR FILM")
    assert (preset.film_destination, preset.priority) == ("BIN_1", "LOW")
    assert (preset.trim, preset.polarity) == ("YES", "REVERSE")
    assert preset.size is FilmSize.A4 and preset.orientation is FilmOrientation.LANDSCAPE


def test_with_overrides_checks_and_normalizes() -> None:
    base = PrintPreset(display_format="STANDARD\\2,2", film_size="14INX17IN")
    changed = base.with_overrides(color=True, film_size="a4", copies=2)
    assert (changed.color, changed.film_size, changed.copies) == (True, "A4", 2)
    assert changed.display_format == base.display_format
    with pytest.raises(ValueError, match="copies"):
        base.with_overrides(copies=100)
    with pytest.raises(ValueError, match=r"unknown key.*paper_size"):
        base.with_overrides(paper_size="A4")
