"""Report layouts: grid shapes, names and the page count without findings."""

from __future__ import annotations

import math

import pytest

from izer.report import ReportLayout, pages_needed

#: (columns, rows, landscape) the issue asks for, written out independently of the code.
EXPECTED = {
    "portrait-1": (1, 1, False),
    "portrait-2": (1, 2, False),
    "portrait-3": (1, 3, False),
    "portrait-6": (2, 3, False),
    "portrait-8": (2, 4, False),
    "landscape-1": (1, 1, True),
    "landscape-4": (2, 2, True),
    "landscape-9": (3, 3, True),
}


def test_there_are_exactly_the_eight_layouts_of_the_issue() -> None:
    assert {layout.value for layout in ReportLayout} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_grid_shape(name: str) -> None:
    columns, rows, landscape = EXPECTED[name]
    layout = ReportLayout(name)
    assert (layout.columns, layout.rows, layout.landscape) == (columns, rows, landscape)
    assert layout.per_page == columns * rows
    assert layout == name  # a StrEnum: the value is the settings name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("portrait-6", ReportLayout.PORTRAIT_6),
        ("6", ReportLayout.PORTRAIT_6),
        ("1", ReportLayout.PORTRAIT_1),
        ("8", ReportLayout.PORTRAIT_8),
        ("4", ReportLayout.LANDSCAPE_4),
        ("9", ReportLayout.LANDSCAPE_9),
        ("l4", ReportLayout.LANDSCAPE_4),
        ("L1", ReportLayout.LANDSCAPE_1),
        ("p3", ReportLayout.PORTRAIT_3),
        ("landscape-4", ReportLayout.LANDSCAPE_4),
        ("Landscape 9", ReportLayout.LANDSCAPE_9),
        (" PORTRAIT_2 ", ReportLayout.PORTRAIT_2),
        ("landscape-1", ReportLayout.LANDSCAPE_1),
    ],
)
def test_parse_accepts_names_and_aliases(text: str, expected: ReportLayout) -> None:
    assert ReportLayout.parse(text) is expected


@pytest.mark.parametrize(
    "text", ["", "7", "portrait-4", "landscape-6", "l2", "p9", "six", "portrait", "-6", "p-"]
)
def test_parse_rejects_unknown_names_listing_the_valid_ones(text: str) -> None:
    with pytest.raises(ValueError, match="unknown report layout") as caught:
        ReportLayout.parse(text)
    assert "portrait-6" in str(caught.value) and "landscape-9" in str(caught.value)


@pytest.mark.parametrize("layout", list(ReportLayout), ids=str)
def test_pages_needed(layout: ReportLayout) -> None:
    per_page = EXPECTED[layout.value][0] * EXPECTED[layout.value][1]
    assert pages_needed(0, layout) == 1
    for images in range(1, 41):
        assert pages_needed(images, layout) == math.ceil(images / per_page)
    assert pages_needed(per_page, layout) == 1
    assert pages_needed(per_page + 1, layout) == 2


def test_pages_needed_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        pages_needed(-1, ReportLayout.PORTRAIT_6)
