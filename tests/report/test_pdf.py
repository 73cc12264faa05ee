"""The PDF procedure report, checked with poppler's tools (pdftoppm, pdfinfo, pdftotext ...)."""

from __future__ import annotations

import colorsys
import dataclasses
import html
import io
import math
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from izer import __version__
from izer.report import (
    ReportContent,
    ReportHeader,
    ReportLayout,
    ReportOptions,
    ReportPicture,
    anonymized_header,
    build_report,
    default_assets_dir,
)
from tests.helpers.binaries import running_in_ci

POPPLER = ("pdftoppm", "pdfinfo", "pdftotext", "pdffonts", "pdfimages")
CREATED = datetime(2025, 3, 4, 10, 22)

#: Made-up patient and procedure.
HEADER = ReportHeader(
    patient_name="Testpatient Erika",
    patient_id="IZR-TEST-0001",
    birth_date="1970-01-01",
    sex="female",
    accession_number="ACC-TEST-42",
    study_date="2025-03-04",
    procedure="Gastroscopy",
    referring_physician="Dr. Referring Example",
    performing_physician="Dr. Performing Example",
    institution="Example Endoscopy Unit",
    institution_address="1 Example Street\nExampletown",
)


@pytest.fixture(scope="module")
def poppler() -> dict[str, Path]:
    """Absolute paths of the poppler-utils programs; skip (fail under CI) without them."""
    paths = {name: Path("/usr/bin") / name for name in POPPLER}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        message = f"missing {', '.join(missing)}: sudo apt-get install -y poppler-utils"
        if running_in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return paths


def _run(*args: str | Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, encoding="utf-8", check=True
    )
    return done.stdout


def _jpeg(index: int, width: int = 64, height: int = 48) -> bytes:
    """A tiny JPEG of a colour of its own, with a dark disc so it is not flat."""
    hue = (index * 0.618034) % 1.0
    red, green, blue = (int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.65, 0.9))
    image = Image.new("RGB", (width, height), (red, green, blue))
    ImageDraw.Draw(image).ellipse(
        [width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(red // 3, 0, blue // 3)
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


STILLS = [_jpeg(index) for index in range(20)]


def _content(stills: int, **changes: object) -> ReportContent:
    fields: dict[str, object] = {
        "header": HEADER,
        "pictures": tuple(
            ReportPicture(STILLS[i % len(STILLS)], f"Still {i + 1}") for i in range(stills)
        ),
        "clinician": "Dr. Performing Example",
        "created": CREATED,
    }
    fields.update(changes)
    return ReportContent(**fields)  # type: ignore[arg-type]


def _write(tmp_path: Path, name: str, pdf: bytes) -> Path:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return path


def _pdfinfo(poppler: dict[str, Path], path: Path) -> dict[str, str]:
    info = {}
    for line in _run(poppler["pdfinfo"], "-enc", "UTF-8", path).splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def _text(poppler: dict[str, Path], path: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return _run(poppler["pdftotext"], "-enc", "UTF-8", *pages, path, "-")


def _rendered_pages(poppler: dict[str, Path], path: Path) -> int:
    out = path.with_suffix("")
    out.mkdir()
    _run(poppler["pdftoppm"], "-r", "10", "-png", path, out / "page")
    return len(list(out.glob("page*.png")))


# -- page counts -------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(ReportLayout), ids=str)
def test_page_count_for_1_to_20_stills(
    layout: ReportLayout, poppler: dict[str, Path], tmp_path: Path
) -> None:
    per_page = {"1": 1, "2": 2, "3": 3, "4": 4, "6": 6, "8": 8, "9": 9}[layout.value[-1]]
    paths = {
        n: _write(tmp_path, f"{layout}-{n}", build_report(_content(n), ReportOptions(layout)))
        for n in range(1, 21)
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        rendered = dict(
            zip(paths, pool.map(lambda p: _rendered_pages(poppler, p), paths.values()), strict=True)
        )
        infos = dict(
            zip(paths, pool.map(lambda p: _pdfinfo(poppler, p), paths.values()), strict=True)
        )
    for n in paths:
        expected = math.ceil(n / per_page)
        assert rendered[n] == expected, f"{layout} with {n} stills: {rendered[n]} pages rendered"
        assert int(infos[n]["Pages"]) == expected, f"{layout} with {n} stills (pdfinfo)"


def test_page_size_and_orientation(poppler: dict[str, Path], tmp_path: Path) -> None:
    sizes = {}
    for layout, page_size in [("p6", "A4"), ("l4", "A4"), ("p8", "letter"), ("l9", "LETTER")]:
        pdf = build_report(_content(2), ReportOptions(layout, page_size=page_size))
        info = _pdfinfo(poppler, _write(tmp_path, f"{layout}-{page_size}", pdf))
        sizes[layout] = re.match(r"([\d.]+) x ([\d.]+)", info["Page size"]).groups()  # type: ignore[union-attr]
    assert [round(float(v)) for v in sizes["p6"]] == [595, 842]
    assert [round(float(v)) for v in sizes["l4"]] == [842, 595]
    assert [round(float(v)) for v in sizes["p8"]] == [612, 792]
    assert [round(float(v)) for v in sizes["l9"]] == [792, 612]


# -- what every page says ----------------------------------------------------------------------


def test_header_and_footer_on_every_page_signature_on_the_last(
    poppler: dict[str, Path], tmp_path: Path
) -> None:
    path = _write(tmp_path, "p1", build_report(_content(5), ReportOptions("portrait-1")))
    assert _pdfinfo(poppler, path)["Pages"] == "5"
    for page in range(1, 6):
        text = _text(poppler, path, page)
        for value in (
            "IZR-TEST-0001",
            "Testpatient Erika",
            "1970-01-01",
            "ACC-TEST-42",
            "Gastroscopy",
            "Example Endoscopy Unit",
            "Dr. Referring Example",
            "Procedure report",
            f"Page {page} of 5",
            f"izer {__version__}",
            "2025-03-04 10:22",
            f"Still {page}",
        ):
            assert value in text, f"page {page} lacks {value!r}"
        assert ("Signature:" in text) == (page == 5), f"signature line on page {page}"
    last = _text(poppler, path, 5)
    assert "Dr. Performing Example" in last and "Date: 2025-03-04" in last


def test_empty_header_fields_are_left_out(poppler: dict[str, Path], tmp_path: Path) -> None:
    header = ReportHeader(patient_name="Testpatient Erika", patient_id="IZR-TEST-0001")
    path = _write(tmp_path, "sparse", build_report(_content(1, header=header)))
    text = _text(poppler, path)
    assert "PATIENT ID" in text
    for label in ("BIRTH DATE", "ACCESSION", "REFERRING", "PROCEDURE", "SEX"):
        assert label not in text


def test_pdf_metadata(poppler: dict[str, Path], tmp_path: Path) -> None:
    info = _pdfinfo(poppler, _write(tmp_path, "meta", build_report(_content(1))))
    assert info["Title"] == "Procedure report \u2014 Testpatient Erika"
    assert info["Author"] == "Dr. Performing Example"
    assert info["Creator"] == f"izer {__version__}"
    assert "Gastroscopy" in info["Subject"]


def test_anonymized_variant_hides_name_and_identifiers(
    poppler: dict[str, Path], tmp_path: Path
) -> None:
    pdf = build_report(_content(7), ReportOptions("portrait-6", anonymized=True))
    path = _write(tmp_path, "anon", pdf)
    text = _text(poppler, path)
    info = _pdfinfo(poppler, path)
    for secret in ("Testpatient", "Erika", "IZR-TEST-0001", "1970-01-01", "ACC-TEST-42"):
        assert secret not in text, f"{secret!r} printed in the anonymized report"
        assert secret not in " ".join(info.values()), f"{secret!r} in the PDF metadata"
        for encoding in ("latin-1", "utf-16-be"):
            assert secret.encode(encoding) not in pdf, f"{secret!r} in the raw PDF ({encoding})"
    assert text.count("Anonymized") == 2  # once per page
    for kept in ("female", "2025-03-04", "Gastroscopy", "Example Endoscopy Unit", "Still 7"):
        assert kept in text
    assert info["Title"] == "Procedure report"


def test_anonymized_header() -> None:
    anonymous = anonymized_header(HEADER)
    assert anonymous.patient_name == "Anonymized"
    assert anonymous.patient_id == anonymous.birth_date == anonymous.accession_number == ""
    assert (anonymous.sex, anonymous.study_date, anonymous.procedure) == (
        "female",
        "2025-03-04",
        "Gastroscopy",
    )
    assert anonymous.institution == HEADER.institution
    assert "Testpatient" not in repr(HEADER)  # identifying fields stay out of logs


# -- pictures, captions, logo ------------------------------------------------------------------


def test_captions_are_printed_escaped_and_in_any_script(
    poppler: dict[str, Path], tmp_path: Path
) -> None:
    captions = ["Antrum <erosion> & ulcer", "胃角部 (angulus)", "Duodenal bulb"]
    pictures = tuple(ReportPicture(STILLS[i], c) for i, c in enumerate(captions))
    path = _write(tmp_path, "captions", build_report(_content(0, pictures=pictures)))
    text = " ".join(_text(poppler, path).split())
    for caption in captions:
        assert caption in text


def test_a_long_caption_is_cut_not_spilled(poppler: dict[str, Path], tmp_path: Path) -> None:
    long = " ".join(f"word{i:03d}" for i in range(200))
    pictures = (ReportPicture(STILLS[0], long), ReportPicture(STILLS[1], "short"))
    path = _write(tmp_path, "long", build_report(_content(0, pictures=pictures)))
    text = _text(poppler, path)
    assert "word000" in text and "word199" not in text and "\u2026" in text
    assert _pdfinfo(poppler, path)["Pages"] == "1"


def test_jpeg_stills_are_embedded_unchanged_and_logo_on_every_page(
    poppler: dict[str, Path], tmp_path: Path
) -> None:
    path = _write(tmp_path, "images", build_report(_content(8), ReportOptions("portrait-6")))
    listing = _run(poppler["pdfimages"], "-list", path).splitlines()[2:]
    rows = [line.split() for line in listing]
    stills = [row for row in rows if row[2] == "image" and row[8] == "jpeg"]
    logos = [row for row in rows if row[2] == "image" and (row[3], row[4]) == ("600", "200")]
    assert len(stills) == 8
    assert [row[0] for row in logos] == ["1", "2"]
    out = tmp_path / "extracted"
    out.mkdir()
    _run(poppler["pdfimages"], "-j", path, out / "img")
    extracted = {p.read_bytes() for p in out.glob("*.jpg")}
    assert set(STILLS[:8]) <= extracted, "the JPEG bytes were re-encoded"


def test_no_logo(poppler: dict[str, Path], tmp_path: Path) -> None:
    path = _write(tmp_path, "nologo", build_report(_content(3), ReportOptions(logo=None)))
    listing = _run(poppler["pdfimages"], "-list", path).splitlines()[2:]
    assert len([line for line in listing if line.split()[2] == "image"]) == 3


def test_png_stills_with_transparency(poppler: dict[str, Path], tmp_path: Path) -> None:
    image = Image.new("RGBA", (40, 30), (200, 30, 30, 255))
    ImageDraw.Draw(image).rectangle([0, 0, 19, 29], fill=(0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    pictures = (ReportPicture(buffer.getvalue(), "PNG still"),)
    path = _write(tmp_path, "png", build_report(_content(0, pictures=pictures)))
    assert "PNG still" in _text(poppler, path)
    listing = _run(poppler["pdfimages"], "-list", path)
    assert "smask" in listing and " 40 " in listing


# -- findings ----------------------------------------------------------------------------------


def test_findings_flow_over_pages_and_keep_their_words(
    poppler: dict[str, Path], tmp_path: Path
) -> None:
    paragraphs = [
        " ".join(f"p{p:02d}w{w:02d}" for w in range(40)) + "\nsecond line <tag> & more"
        for p in range(40)
    ]
    findings = "\n\n".join(paragraphs)
    path = _write(tmp_path, "findings", build_report(_content(3, findings=findings)))
    pages = int(_pdfinfo(poppler, path)["Pages"])
    assert pages >= 3
    words = _text(poppler, path).split()
    for p in range(40):
        for w in range(40):
            assert f"p{p:02d}w{w:02d}" in words
    assert words.count("<tag>") == 40 and words.count("&") == 40
    for page in range(1, pages + 1):
        text = _text(poppler, path, page)
        assert "IZR-TEST-0001" in text and f"Page {page} of {pages}" in text
        assert ("Signature:" in text) == (page == pages)


def test_short_findings_share_the_last_grid_page_when_there_is_room(
    poppler: dict[str, Path], tmp_path: Path
) -> None:
    findings = "Normal mucosa.\nNo biopsy taken."
    shared = _write(tmp_path, "shared", build_report(_content(3, findings=findings)))
    assert _pdfinfo(poppler, shared)["Pages"] == "1"
    assert "No biopsy taken." in _text(poppler, shared, 1)
    blank = _write(tmp_path, "blank", build_report(_content(6, findings=" \n\n\t")))
    assert _pdfinfo(poppler, blank)["Pages"] == "1"
    assert "Findings" not in _text(poppler, blank)
    full = _write(tmp_path, "full", build_report(_content(6, findings=findings)))
    assert _pdfinfo(poppler, full)["Pages"] == "2"
    assert "Findings" not in _text(poppler, full, 1)
    page_two = _text(poppler, full, 2)
    assert "Normal mucosa." in page_two and "Signature:" in page_two


def test_no_stills_one_page_with_header_findings_and_signature(
    poppler: dict[str, Path], tmp_path: Path
) -> None:
    for findings in ("", "Unremarkable examination."):
        path = _write(
            tmp_path, f"empty{len(findings)}", build_report(_content(0, findings=findings))
        )
        assert _pdfinfo(poppler, path)["Pages"] == "1"
        text = _text(poppler, path)
        assert "IZR-TEST-0001" in text and "Signature:" in text and "Page 1 of 1" in text
        assert findings in text


# -- fonts and Japanese ------------------------------------------------------------------------

JAPANESE = ReportHeader(
    patient_name="山田 太郎",
    patient_id="JP-TEST-0002",
    sex="male",
    study_date="2025-03-04",
    procedure="上部消化管内視鏡検査",
    institution="テスト病院 内視鏡センター",
)


def _word_boxes(poppler: dict[str, Path], path: Path) -> dict[str, tuple[float, ...]]:
    """Page-1 word boxes (xMin, yMin, xMax, yMax in points, from the top) by word."""
    markup = _run(poppler["pdftotext"], "-bbox", "-enc", "UTF-8", "-f", "1", "-l", "1", path, "-")
    pattern = (
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    )
    return {
        html.unescape(word): tuple(float(v) for v in box)
        for *box, word in re.findall(pattern, markup)
    }


def _render(poppler: dict[str, Path], path: Path, dpi: int = 150) -> Image.Image:
    prefix = path.with_suffix("")
    _run(
        poppler["pdftoppm"],
        "-r",
        str(dpi),
        "-f",
        "1",
        "-l",
        "1",
        "-png",
        "-singlefile",
        path,
        prefix,
    )
    return Image.open(prefix.with_suffix(".png")).convert("L")


def _crop(page: Image.Image, box: tuple[float, ...], dpi: int = 150) -> Image.Image:
    scale = dpi / 72
    return page.crop(tuple(round(v * scale) for v in box))  # type: ignore[arg-type]


def _ink(image: Image.Image) -> float:
    """Share of dark pixels."""
    histogram = image.point(lambda v: 255 if v < 128 else 0).histogram()
    return histogram[255] / max(1, image.width * image.height)


def test_embedded_fonts_cover_a_japanese_name(poppler: dict[str, Path], tmp_path: Path) -> None:
    path = _write(tmp_path, "ja", build_report(_content(2, header=JAPANESE)))
    listing = _run(poppler["pdffonts"], path).splitlines()[2:]
    fonts = {row.split()[0].split("+")[-1]: row.split() for row in listing}
    assert set(fonts) == {"DejaVuSans", "DejaVuSans-Bold", "DroidSansFallback"}
    for name, row in fonts.items():
        assert row[-5:-3] == ["yes", "yes"], f"{name} not embedded as a subset: {row}"
    text = _text(poppler, path)
    for value in ("山田 太郎", "上部消化管内視鏡検査", "テスト病院 内視鏡センター"):
        assert value in text


def test_japanese_name_renders_with_real_glyphs(poppler: dict[str, Path], tmp_path: Path) -> None:
    real = _write(tmp_path, "real", build_report(_content(1, header=JAPANESE)))
    boxes = _word_boxes(poppler, real)
    assert {"山田", "太郎"} <= set(boxes)
    page = _render(poppler, real)
    family = _crop(page, boxes["山田"])
    given = _crop(page, boxes["太郎"]).resize(family.size)

    # The name, not something else, puts ink there: an invisible name leaves the area blank.
    invisible = dataclasses.replace(JAPANESE, patient_name="\u200b")
    blank_path = _write(tmp_path, "blank", build_report(_content(1, header=invisible)))
    blank = _crop(_render(poppler, blank_path), boxes["山田"])
    assert _ink(family) > 0.08 and _ink(given) > 0.08
    assert _ink(blank) < 0.01

    # Missing glyphs would print the same box for every character: the two words would match.
    assert ImageStat.Stat(ImageChops.difference(family, given)).mean[0] > 20

    # A font without CJK (Helvetica) prints boxes: real glyphs must look different.
    tofu_path = tmp_path / "tofu.pdf"
    canvas = Canvas(str(tofu_path), pagesize=A4)
    left, top, _, bottom = boxes["山田"]
    canvas.setFont("Helvetica-Bold", 9.5)
    canvas.drawString(left, A4[1] - bottom + 0.2 * (bottom - top), "山田 太郎")
    canvas.save()
    tofu_boxes = _word_boxes(poppler, tofu_path)
    tofu_word = next(iter(tofu_boxes))
    tofu = _crop(_render(poppler, tofu_path), tofu_boxes[tofu_word]).resize(family.size)
    assert ImageStat.Stat(ImageChops.difference(family, tofu)).mean[0] > 20
    assert abs(_ink(family) - _ink(tofu)) > 0.15


# -- errors ------------------------------------------------------------------------------------


def test_a_picture_that_is_neither_jpeg_nor_png_is_named() -> None:
    pictures = (
        ReportPicture(STILLS[0], "ok"),
        ReportPicture(STILLS[1], "ok too"),
        ReportPicture(b"GIF89a\x01\x00\x01\x00", "Pylorus"),
    )
    with pytest.raises(
        ValueError, match=r"picture 2 \(caption 'Pylorus'\) is neither JPEG nor PNG"
    ):
        build_report(_content(0, pictures=pictures))


def test_a_damaged_png_is_refused() -> None:
    image = Image.new("RGB", (30, 20), "red")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    damaged = buffer.getvalue()[:40]
    with pytest.raises(ValueError, match=r"picture 0 .* damaged PNG"):
        build_report(_content(0, pictures=(ReportPicture(damaged, "cut"),)))


def test_a_missing_logo_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-logo.png"
    with pytest.raises(FileNotFoundError, match=r"no-such-logo\.png"):
        build_report(_content(1), ReportOptions(logo=missing))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="page size"):
        ReportOptions(page_size="A3")
    with pytest.raises(ValueError, match="unknown report layout"):
        ReportOptions(layout="p5")  # type: ignore[arg-type]
    assert ReportOptions(layout="l9").layout is ReportLayout.LANDSCAPE_9  # type: ignore[arg-type]


def test_assets_are_found_from_the_package() -> None:
    assets = default_assets_dir()
    assert (assets / "logo.png").is_file()
    assert ReportOptions().logo == assets / "logo.png"
    with Image.open(assets / "logo.png") as logo:
        assert logo.mode == "RGBA" and logo.size == (600, 200)
