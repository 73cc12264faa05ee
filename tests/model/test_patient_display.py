"""Names and dates as people read them (PS3.5 6.2.1 PN, 6.2 DA), shared by the report, the
patient disc's viewer and the GUI."""

from __future__ import annotations

from izer.model import display_date, display_name


def test_display_name_reads_like_a_name() -> None:
    assert display_name("Yamada^Taro=山田^太郎") == "YAMADA, Taro (山田 太郎)"
    assert display_name("Doe^John^Q^Dr") == "DOE, Dr John Q"
    assert display_name("Doe^John^^^Jr") == "DOE, John Jr"
    assert display_name("Doe") == "Doe"
    assert display_name("") == ""
    assert display_name("=山田^太郎") == "山田 太郎"
    three_groups = "Yamada^Taro=山田^太郎=やまだ^たろう"
    assert display_name(three_groups, groups=2) == "YAMADA, Taro (山田 太郎)"


def test_display_date() -> None:
    assert display_date("19790214") == "1979-02-14"
    assert display_date(" 2026 ") == "2026"
    assert display_date("") == ""
