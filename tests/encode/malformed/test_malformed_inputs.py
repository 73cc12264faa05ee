"""``izer convert`` on broken and odd inputs: a clear error naming the input, and no output.

Every failing case runs twice, writing to ``--out`` and into the local store, and checks that
neither holds a file afterwards (not even a temporary one). Edge cases that must work (1x1,
RGBA, palette, odd names...) are checked to produce exactly one valid instance.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from pydicom import dcmread

from izer.cli.convert import main as convert_main
from izer.store import StudyStore
from tests.conftest import TEST_UID_ROOT
from tests.encode.malformed import makers

PATIENT = ["--patient-id", "IZ-TEST-0001", "--patient-name", "Testperson^Jurgen"]


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, the options, and what the error must say."""

    id: str
    make: Callable[[Path], list[Path]]
    expect: str
    options: tuple[str, ...] = ()
    status: int = 1


def _one(name: str, writer: Callable[[Path], Path]) -> Callable[[Path], list[Path]]:
    return lambda folder: [writer(folder / name)]


def _bytes(name: str, data: bytes) -> Callable[[Path], list[Path]]:
    return _one(name, lambda path: makers.write(path, data))


def _cut(name: str, writer: Callable[[Path], Path], keep: float = 0.5) -> Callable[[Path], list]:
    def make(folder: Path) -> list[Path]:
        path = writer(folder / name)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        return [path]

    return make


def _jpeg_garbage_after_soi(path: Path) -> Path:
    data = makers.jpeg(path).read_bytes()
    return makers.write(path, data[:2] + b"garbage!" * 8 + data[2:])


def _empty_folder(folder: Path) -> list[Path]:
    (folder / "empty").mkdir(parents=True)
    return [folder / "empty"]


def _pages_of_two_sizes(folder: Path) -> list[Path]:
    return [makers.tiff(folder / "pages.tif", [makers.rgb(20, 30), makers.rgb(10, 12)])]


def _gray_and_colour(folder: Path) -> list[Path]:
    makers.png(folder / "set" / "a.png", makers.rgb(20, 30))
    makers.png(folder / "set" / "b.png", makers.rgb(20, 30)[:, :, 0].copy())
    return [folder / "set"]


def _folder_with_a_bad_file(folder: Path) -> list[Path]:
    makers.png(folder / "set" / "a.png", makers.rgb(20, 30))
    makers.write(folder / "set" / "b.png", b"not a picture\n")
    makers.png(folder / "set" / "c.png", makers.rgb(20, 30))
    return [folder / "set"]


def _dicom_file(folder: Path) -> list[Path]:
    data = b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00"
    return [makers.write(folder / "image.dcm", data)]


def _unreadable(folder: Path) -> list[Path]:
    path = makers.png(folder / "locked.png")
    path.chmod(0)
    return [path]


def _jp2_without_codestream(path: Path) -> Path:
    data = makers.j2k(path, jp2=True).read_bytes()
    return makers.write(path, data[: data.index(b"jp2c") - 4])


TEXT = b"Dear colleague,\nplease find the pictures attached.\n"
HTML = b"<!DOCTYPE html>\n<html><body><img src='scan.tif'></body></html>\n"

FAILING = [
    Case("zero-byte-jpeg", _bytes("empty.jpg", b""), "empty (0 bytes)"),
    Case("zero-byte-png", _bytes("empty.png", b""), "empty (0 bytes)"),
    Case("truncated-jpeg", _cut("half.jpg", makers.jpeg), "truncated JPEG"),
    Case("truncated-jpeg-no-eoi", _cut("noeoi.jpg", makers.jpeg, 0.97), "truncated JPEG"),
    Case("truncated-png", _cut("half.png", makers.png), "truncated PNG"),
    Case(
        "truncated-tiff",
        _cut("half.tif", lambda p: makers.tiff(p, [makers.rgb()]), 0.4),
        "truncated TIFF",
    ),
    Case("truncated-j2k", _cut("half.j2k", makers.j2k), "truncated JPEG 2000"),
    Case("jp2-without-codestream", _one("box.jp2", _jp2_without_codestream), "no codestream"),
    Case(
        "truncated-bmp",
        _cut("half.bmp", lambda p: makers.bmp_with_size(p, 8, 8), 0.6),
        "truncated BMP (the pixel data is cut)",
    ),
    Case(
        "bmp-header-only",
        _cut("head.bmp", lambda p: makers.bmp_with_size(p, 8, 8), 0.08),
        "truncated BMP (the header is cut)",
    ),
    Case("jpeg-garbage-after-soi", _one("junk.jpg", _jpeg_garbage_after_soi), "damaged JPEG"),
    Case("cmyk-jpeg", _one("cmyk.jpg", makers.cmyk_jpeg), "CMYK JPEG is not supported"),
    Case(
        "png-30000x30000",
        _one("huge.png", lambda p: makers.png_with_header(p, 30000, 30000)),
        "too large: 30000x30000",
    ),
    Case(
        "jpeg-25000-wide",
        _one("wide.jpg", lambda p: makers.jpeg_with_size(p, 25000, 100)),
        "too large: 25000x100",
    ),
    Case(
        "tiff-30000x30000",
        _one("huge.tif", lambda p: makers.tiff_with_size(p, 30000, 30000)),
        "too large",
    ),
    Case(
        "bmp-30000x30000",
        _one("huge.bmp", lambda p: makers.bmp_with_size(p, 30000, 30000)),
        "too large",
    ),
    Case("png-0x0", _one("nothing.png", lambda p: makers.png_with_header(p, 0, 0)), "empty (0x0"),
    Case("text-named-jpg", _bytes("letter.jpg", TEXT), "text file"),
    Case("text-named-png", _bytes("letter.png", TEXT), "text file"),
    Case("html-named-tiff", _bytes("page.tiff", HTML), "text file"),
    Case("text-named-wav", _bytes("dictation.wav", TEXT), "text file"),
    Case("text-as-audio", _bytes("dictation.wav", TEXT), "not an audio file", ("--iod", "audio")),
    Case("gif", _one("anim.gif", makers.gif), "GIF images are not supported"),
    Case("zip", _bytes("photos.jpg", b"PK\x03\x04" + b"\x00" * 40), "ZIP archive"),
    Case("dicom-input", _dicom_file, "already a DICOM file"),
    Case("folder-without-files", _empty_folder, "holds no files"),
    Case("nonexistent-path", lambda folder: [folder / "missing.jpg"], "no such file"),
    Case("zero-byte-pdf", _bytes("report.pdf", b""), "empty (0 bytes)"),
    Case("zero-byte-pdf-as-pdf", _bytes("report.pdf", b""), "empty", ("--iod", "pdf")),
    Case("truncated-pdf", _cut("report.pdf", makers.pdf, 0.6), "PDF", ("--iod", "pdf")),
    Case(
        "encrypted-pdf",
        _one("secret.pdf", lambda p: makers.pdf(p, encrypt="secret")),
        "encrypted",
    ),
    Case(
        "png-renamed-pdf-as-pdf",
        _one("scan.pdf", makers.png),
        "is an image, but --iod pdf takes a PDF",
        ("--iod", "pdf"),
    ),
    Case(
        "pdf-as-sc",
        _one("report.pdf", makers.pdf),
        "is a PDF, but --iod sc takes an image",
        ("--iod", "sc"),
    ),
    Case(
        "tiff-pages-of-two-sizes-multiframe",
        _pages_of_two_sizes,
        "--multiframe needs images of one size",
        ("--multiframe",),
    ),
    Case(
        "gray-and-colour-multiframe",
        _gray_and_colour,
        "--multiframe needs images of one size and kind",
        ("--multiframe",),
    ),
    Case(
        "folder-with-a-bad-file-multiframe",
        _folder_with_a_bad_file,
        "b.png: this is a text file",
        ("--multiframe",),
    ),
    Case(
        "jpeg-baseline-16-bit-tiff",
        _one("scan16.tif", lambda p: makers.tiff(p, [makers.gray16()])),
        "jpeg_baseline needs 8-bit samples, got 16 bits stored",
        ("--ts", "jpeg-baseline"),
    ),
    Case(
        "vl-endoscopic-16-bit",
        _one("scan16.png", lambda p: makers.png(p, makers.gray16())),
        "use --iod sc for 16-bit images",
        ("--iod", "vl-endoscopic"),
    ),
    Case(
        "values-above-bits-stored",
        _one("scan16.png", lambda p: makers.png(p, makers.gray16(top=65535))),
        "more than 12 bits stored can hold",
        ("--bits-stored", "12"),
    ),
]

if os.geteuid() == 0:
    UNREADABLE = pytest.param(
        Case("unreadable-file", _unreadable, "permission denied"),
        marks=pytest.mark.skip(reason="root reads files whatever their mode"),
        id="unreadable-file",
    )
else:
    UNREADABLE = pytest.param(
        Case("unreadable-file", _unreadable, "permission denied"), id="unreadable-file"
    )


def _run(settings: Path, inputs: list[Path], *extra: str) -> int:
    return convert_main([*map(str, inputs), *PATIENT, "--config", str(settings), *extra])


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _stored(tmp_path: Path) -> list:
    with StudyStore(tmp_path / "store") as store:
        return store.instances()


@pytest.mark.parametrize("where", ["out", "store"])
@pytest.mark.parametrize("case", [*(pytest.param(c, id=c.id) for c in FAILING), UNREADABLE])
def test_bad_input_fails_clearly_and_leaves_nothing(
    case: Case, where: str, settings_path: Path, tmp_path: Path, capsys
) -> None:
    inputs = case.make(tmp_path / "in")
    out = tmp_path / "out"
    extra = ["--out", str(out)] if where == "out" else []
    status = _run(settings_path, inputs, *case.options, *extra)
    err = capsys.readouterr().err
    assert status == case.status, err
    assert case.expect in err
    assert f"failed: {inputs[0].name}" in err or f"failed: {inputs[0]}" in err, err
    assert _files_under(out) == []
    assert _stored(tmp_path) == []


def test_a_bad_file_does_not_stop_the_batch(settings_path: Path, tmp_path: Path, capsys) -> None:
    folder = _folder_with_a_bad_file(tmp_path / "in")[0]
    status = _run(settings_path, [folder], "--out", str(tmp_path / "out"))
    captured = capsys.readouterr()
    assert status == 1
    assert "2 converted, 1 failed" in captured.out
    assert "failed: " in captured.err and "b.png: this is a text file" in captured.err
    assert [p.name for p in _files_under(tmp_path / "out")] == ["a.dcm", "c.dcm"]


# -- wrong options and values: exit 2 before any file is read --------------------------------------


USAGE = [
    ("unknown-iod", ("--iod", "ct-image"), "unknown IOD 'ct-image'"),
    ("unknown-ts", ("--ts", "jpeg-9000"), "unknown transfer syntax 'jpeg-9000'"),
    ("multiframe-vl", ("--iod", "vl-endoscopic", "--multiframe"), "use --iod sc-multiframe"),
    ("ts-for-pdf", ("--iod", "pdf", "--ts", "jpeg-baseline"), "--ts and --quality apply to"),
    ("bad-quality", ("--quality", "0"), "--quality must be more than 0"),
    ("bad-bits-stored", ("--bits-stored", "17"), "--bits-stored must be 1 to 16"),
    ("unknown-conversion-type", ("--conversion-type", "XYZ"), "unknown conversion type 'XYZ'"),
    ("film-without-resolution", ("--conversion-type", "DF"), "DF (digitized film) needs --dpi"),
    ("zero-dpi", ("--conversion-type", "SI", "--dpi", "0"), "--dpi must be more than 0"),
    ("dpi-not-scanned", ("--dpi", "300"), "--dpi applies to scanned inputs"),
    ("pdf-as-video", ("--iod", "pdf", "--conversion-type", "DV"), "SD or WSD"),
    ("conversion-type-for-vl", ("--iod", "vl-endoscopic", "--conversion-type", "SI"), "does not"),
    ("bad-birth-date", ("--birth-date", "17/05/1970"), "--birth-date '17/05/1970'"),
    ("bad-sex", ("--sex", "X"), "--sex 'X'"),
    ("long-patient-name", ("--patient-name", "A" * 65), "PatientName"),
    ("long-patient-id", ("--patient-id", "1" * 65), "PatientID"),
    ("long-accession", ("--accession", "A" * 17), "AccessionNumber"),
]


@pytest.mark.parametrize(("options", "expect"), [u[1:] for u in USAGE], ids=[u[0] for u in USAGE])
def test_wrong_options_are_usage_errors(
    options: tuple[str, ...], expect: str, settings_path: Path, tmp_path: Path, capsys
) -> None:
    image = makers.png(tmp_path / "in" / "ok.png")
    status = _run(settings_path, [image], *options, "--out", str(tmp_path / "out"))
    assert status == 2
    assert expect in capsys.readouterr().err
    assert _files_under(tmp_path / "out") == []
    assert _stored(tmp_path) == []


def test_patient_is_required_without_accession(settings_path: Path, tmp_path: Path, capsys):
    image = makers.png(tmp_path / "in" / "ok.png")
    status = convert_main([str(image), "--patient-name", "A^B", "--config", str(settings_path)])
    assert status == 2
    assert "--patient-id and --patient-name" in capsys.readouterr().err


def test_name_not_in_the_character_set_is_refused(write_settings, tmp_path: Path, capsys):
    settings = write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "{TEST_UID_ROOT}"
        character_set = "ISO_IR 100"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"
        """
    )
    image = makers.png(tmp_path / "in" / "ok.png")
    out = tmp_path / "out"
    argv = [str(image), "--patient-id", "P1", "--patient-name", "山田^太郎", "--out", str(out)]
    assert convert_main([*argv, "--config", str(settings)]) == 2
    err = capsys.readouterr().err
    assert "PatientName" in err and "ISO_IR 100" in err
    assert _files_under(out) == []


# -- odd inputs that must work ---------------------------------------------------------------------


def _single(out: Path) -> tuple[Path, object]:
    files = _files_under(out)
    assert len(files) == 1, files
    return files[0], dcmread(files[0])


WORKING = [
    ("one-pixel-png", lambda d: makers.png(d / "dot.png", makers.rgb(1, 1)), (1, 1, 3)),
    ("one-pixel-jpeg", lambda d: makers.jpeg(d / "dot.jpg", makers.rgb(1, 1)), (1, 1, 3)),
    ("png-named-jpg", lambda d: makers.png(d / "really-a-png.jpg"), (48, 64, 3)),
    (
        "rgba-png",
        lambda d: makers.png(d / "alpha.png", np.dstack([makers.rgb(), makers.rgb()[:, :, :1]])),
        (48, 64, 3),
    ),
    ("palette-png", lambda d: makers.palette_png(d / "palette.png"), (4, 6, 3)),
    (
        "rgb16-png",
        lambda d: makers.png(d / "deep.png", makers.rgb().astype(np.uint16) * 257),
        (48, 64, 3),
    ),
    ("name-with-spaces", lambda d: makers.png(d / "my holiday scan.png"), (48, 64, 3)),
    ("non-utf8-name", lambda d: makers.png(d / os.fsdecode(b"caf\xe9.png")), (48, 64, 3)),
    (
        "bmp",
        lambda d: makers.write(d / "a.bmp", imagecodecs.bmp_encode(makers.rgb())),
        (48, 64, 3),
    ),
    (
        "webp",
        lambda d: makers.write(d / "a.webp", imagecodecs.webp_encode(makers.rgb(), lossless=True)),
        (48, 64, 3),
    ),
]


@pytest.mark.parametrize(("make", "shape"), [w[1:] for w in WORKING], ids=[w[0] for w in WORKING])
def test_odd_but_valid_inputs_convert(
    make: Callable[[Path], Path], shape: tuple, settings_path: Path, tmp_path: Path, capsys
) -> None:
    source = make(tmp_path / "in")
    out = tmp_path / "out"
    assert _run(settings_path, [source], "--out", str(out), "-v") == 0, capsys.readouterr()
    _, ds = _single(out)
    assert ds.pixel_array.shape == shape


def test_rgba_and_deep_colour_say_what_changed(settings_path: Path, tmp_path: Path, capsys):
    rgba = np.dstack([makers.rgb(), makers.rgb()[:, :, :1]])
    alpha = makers.png(tmp_path / "in" / "alpha.png", rgba)
    deep = makers.png(tmp_path / "in" / "deep.png", makers.rgb().astype(np.uint16) * 257)
    assert _run(settings_path, [alpha, deep], "-v", "--out", str(tmp_path / "out")) == 0
    out = capsys.readouterr().out
    assert "transparency (alpha channel) dropped" in out
    assert "16-bit colour reduced to 8 bits" in out


def test_palette_is_expanded_to_rgb(settings_path: Path, tmp_path: Path) -> None:
    source = makers.palette_png(tmp_path / "in" / "palette.png")
    assert _run(settings_path, [source], "--out", str(tmp_path / "out")) == 0
    _, ds = _single(tmp_path / "out")
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.pixel_array[0, 0].tolist() == [255, 0, 0]
    assert ds.pixel_array[0, 1].tolist() == [0, 255, 0]


def test_deep_colour_is_rounded_not_truncated(settings_path: Path, tmp_path: Path) -> None:
    original = makers.rgb()
    deep = original.astype(np.uint16) * 257 + np.where(original < 255, 128, 0).astype(np.uint16)
    source = makers.png(tmp_path / "in" / "deep.png", deep)
    assert _run(settings_path, [source], "--out", str(tmp_path / "out")) == 0
    _, ds = _single(tmp_path / "out")
    assert np.array_equal(ds.pixel_array, original)


def test_odd_names_give_printable_output_names(settings_path: Path, tmp_path: Path) -> None:
    source = makers.png(tmp_path / "in" / os.fsdecode(b"caf\xe9 scan.png"))
    assert _run(settings_path, [source], "--out", str(tmp_path / "out")) == 0
    path, _ = _single(tmp_path / "out")
    assert path.name == "caf_xe9 scan.dcm"
