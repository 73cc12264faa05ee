"""``izer export``: store UIDs, files and folders to ordinary files, safely named."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from izer.cli.export import main as export_main
from izer.config import load_settings
from izer.encode import (
    InstanceContext,
    encapsulated_pdf,
    multiframe_secondary_capture,
    secondary_capture_image,
)
from izer.encode.presentation_state import TextAnnotation, presentation_state
from izer.engine import Engine, ExportOptions
from tests.encode.factories import make_context, smooth_image
from tests.encode.test_extract import clips, ffprobe, video_instance  # noqa: F401 (fixture)

RGB = smooth_image(48, 64, colour=True)
GRAY = np.ascontiguousarray(RGB[:, :, 1])
PATIENT_FOLDER = "Testperson_Jürgen_Ödön_IZ-TEST-0001"
STUDY_FOLDER = "20240517_ACC0001"


def _export(settings_path: Path, *args: object) -> int:
    return export_main([*map(str, args), "--config", str(settings_path)])


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _in_study(
    study_of: InstanceContext, number: int, modality: str, series: int
) -> InstanceContext:
    """Instance ``number`` of series ``series`` (``modality``) in the study of ``study_of``."""
    context = make_context(number, modality)
    return dataclasses.replace(
        context,
        study=study_of.study,
        series=dataclasses.replace(context.series, series_number=series),
    )


def _store_study(settings_path: Path) -> tuple[str, list[Dataset]]:
    """A gray SC image, a 3-frame RGB SC, a PDF and a presentation state of one study."""
    first = make_context(1, "OT")
    image = secondary_capture_image(GRAY, first)
    frames = np.stack([np.roll(RGB, 5 * n, axis=0) for n in range(3)])
    multi = multiframe_secondary_capture(frames, _in_study(first, 2, "OT", 1), frame_time_ms=40)
    multi.SeriesInstanceUID = image.SeriesInstanceUID
    pdf = encapsulated_pdf(_pdf(), _in_study(first, 1, "DOC", 2), document_title="Report")
    state = presentation_state(
        image,
        _in_study(first, 1, "PR", 3),
        label="FINDINGS",
        texts=[TextAnnotation("Polyp", anchor=(10.0, 10.0))],
    )
    datasets = [image, multi, pdf, state]
    with Engine.open(load_settings(settings_path).settings) as engine:
        for ds in datasets:
            engine.store.add_dataset(ds)
    return first.study.study_instance_uid, datasets


@functools.cache
def _pdf() -> bytes:
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Made-up report for Testperson^Jurgen")
    page.save()
    return buffer.getvalue()


def test_a_study_from_the_store_is_exported_by_its_uid(
    settings_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study_uid, _datasets = _store_study(settings_path)
    out = tmp_path / "out"
    assert _export(settings_path, study_uid, "--to", out, "-v") == 0
    study = out / PATIENT_FOLDER / STUDY_FOLDER
    assert [p.relative_to(study).as_posix() for p in _files(out)] == [
        "1_OT/0001_image.jpg",
        "1_OT/0002_image-f0001.jpg",
        "1_OT/0002_image-f0002.jpg",
        "1_OT/0002_image-f0003.jpg",
        "2_DOC/0001_document.pdf",
    ]
    assert (study / "2_DOC/0001_document.pdf").read_bytes() == _pdf()
    shown = capsys.readouterr()
    assert "5 files from 3 instances in" in shown.out
    assert "skipped: Grayscale Softcopy Presentation State" in shown.out
    assert "[4/4]" in shown.out


def test_one_instance_by_its_sop_instance_uid_as_png(settings_path: Path, tmp_path: Path) -> None:
    _study_uid, datasets = _store_study(settings_path)
    out = tmp_path / "out"
    assert _export(settings_path, datasets[0].SOPInstanceUID, "--to", out, "--stills", "png") == 0
    (path,) = _files(out)
    assert path.name == "0001_image.png"
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), GRAY)


def test_the_engine_reports_what_it_did(settings_path: Path, tmp_path: Path) -> None:
    study_uid, _datasets = _store_study(settings_path)
    steps = []
    with Engine.open(load_settings(settings_path).settings) as engine:
        report = engine.export(
            [study_uid], tmp_path / "out", ExportOptions(pattern="{modality}"), steps.append
        )
    assert [step.index for step in steps] == [1, 2, 3, 4]
    assert (len(report.files), report.instances, len(report.skipped)) == (5, 3, 1)
    assert not report.failures
    assert {p.parent.name for p in report.files} == {"OT", "DOC"}


def test_a_folder_with_video_and_other_files(
    settings_path: Path,
    tmp_path: Path,
    clips: dict[str, Path],  # noqa: F811
) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    video_instance(clips["h264.mp4"], folder / "sub" / "video.dcm")
    (folder / "readme.txt").write_text("not DICOM")
    out = tmp_path / "out"
    assert _export(settings_path, folder, "--to", out) == 0
    (path,) = _files(out)
    assert (
        path.relative_to(out).as_posix() == f"{PATIENT_FOLDER}/{STUDY_FOLDER}/1_ES/0001_video.mp4"
    )
    assert path.read_bytes() == clips["h264.mp4"].read_bytes()


HOSTILE_NAMES = [
    "../../etc/passwd",
    "..",
    "C:\\Windows",
    "CON",
    "NUL^Byte\0Name",
    "A" * 300,
    "Müller^Jürgen",
    "山田^太郎",
    "",
]


@pytest.mark.filterwarnings("ignore:The (PN component|value) length")
def test_hostile_patient_names_stay_inside_the_export_folder(
    settings_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for number, name in enumerate(HOSTILE_NAMES, start=1):
        ds = secondary_capture_image(RGB, make_context(number, "OT"))
        ds.PatientName = name
        ds.PatientID = name[:64]
        ds.save_as(folder / f"{number:02d}.dcm", enforce_file_format=True)
    root = tmp_path / "deep" / "out"
    before = set(_files(tmp_path))
    assert _export(settings_path, folder, "--to", root) == 0
    # The run also creates the settings' store and a log under the XDG home: leave them out.
    izer_own = (tmp_path / "store", tmp_path / "home")
    new = {
        p
        for p in set(_files(tmp_path)) - before
        if not any(folder in p.parents for folder in izer_own)
    }
    assert len(new) == len(HOSTILE_NAMES)
    for path in new:
        assert root.resolve() in path.resolve().parents
        assert cv2.imread(str(path)) is not None  # a readable picture
    names = {p.relative_to(root).parts[0] for p in new}
    assert "Müller_Jürgen_Müller_Jürgen" in names
    assert "山田_太郎_山田_太郎" in names
    assert not (tmp_path / "etc").exists() and not (tmp_path / "deep" / "etc").exists()


def test_nothing_is_overwritten(settings_path: Path, tmp_path: Path) -> None:
    instance = tmp_path / "sc.dcm"
    secondary_capture_image(RGB, make_context(1, "OT")).save_as(instance, enforce_file_format=True)
    out = tmp_path / "out"
    assert _export(settings_path, instance, "--to", out, "--pattern", "x") == 0
    (first,) = _files(out)
    first.write_bytes(b"the user's own edit")
    assert _export(settings_path, instance, "--to", out, "--pattern", "x") == 0
    assert _export(settings_path, instance, "--to", out, "--pattern", "x") == 0
    assert [p.name for p in _files(out)] == [
        "0001_image-2.jpg",
        "0001_image-3.jpg",
        "0001_image.jpg",
    ]
    assert first.read_bytes() == b"the user's own edit"


def test_a_failed_instance_is_reported_and_the_others_go_on(
    settings_path: Path,
    tmp_path: Path,
    clips: dict[str, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / "a.dcm"
    secondary_capture_image(RGB, make_context(1, "OT")).save_as(good, enforce_file_format=True)
    broken = video_instance(clips["h264.mp4"], folder / "b.dcm")
    broken.write_bytes(broken.read_bytes()[:-3000])
    out = tmp_path / "out"
    assert _export(settings_path, folder, tmp_path / "missing.dcm", "--to", out) == 1
    assert [p.name for p in _files(out)] == ["0001_image.jpg"]
    assert not [p for p in out.rglob(".*")]  # no temporary file left behind
    err = capsys.readouterr().err
    assert "b.dcm: Pixel Data is cut short" in err
    assert "missing.dcm: no such file or folder" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "0"], "quality"),
        (["--pattern", "{nope}"], "unknown"),
        (["--stills", "gif"], "invalid choice"),
    ],
)
def test_wrong_options_exit_2(
    args: list[str],
    message: str,
    settings_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _export(settings_path, tmp_path, "--to", tmp_path / "out", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_export_folder_that_is_a_file_exits_2(settings_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert _export(settings_path, tmp_path, "--to", target) == 2


# -- memory ------------------------------------------------------------------------------------

#: Runs its arguments as a command and prints the peak RSS of that child (KiB on Linux).
_CHILD = textwrap.dedent(
    """
    import resource, subprocess, sys
    subprocess.run(sys.argv[1:], check=True)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """
)


def _peak_mib(*command: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *command],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return int(result.stdout.split()[-1]) / 1024


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.timeout(600)
def test_a_500_mb_video_is_exported_in_little_memory(
    settings_path: Path,
    tmp_path: Path,
    clips: dict[str, Path],  # noqa: F811
) -> None:
    # A real MP4 followed by a 500 MB free box (odd total, so DICOM pads it), written in
    # chunks, then encapsulated by streaming: nothing here holds the video in memory either.
    source = tmp_path / "big.mp4"
    payload = 500 * (1 << 20) + 1
    block = os.urandom(1 << 20)
    with open(source, "wb") as handle:
        handle.write(clips["h264.mp4"].read_bytes())
        handle.write((8 + payload).to_bytes(4, "big") + b"free")
        for _ in range(payload >> 20):
            handle.write(block)
        handle.write(b"\x00" * (payload % (1 << 20)))
    assert source.stat().st_size % 2 == 1
    instance = video_instance(source, tmp_path / "big.dcm")
    out = tmp_path / "out"
    peak = _peak_mib(
        sys.executable, "-m", "izer", "export", str(instance), "--to", str(out),
        "--pattern", "big", "--config", str(settings_path),
    )  # fmt: skip
    (exported,) = _files(out)
    assert exported.stat().st_size == source.stat().st_size
    assert _sha256(exported) == _sha256(source)
    assert peak <= 150, f"peak RSS {peak:.0f} MiB"


def test_the_memory_reading_can_fail() -> None:
    """A child that holds 200 MB reads as more than 150 MB: the measure is real."""
    assert _peak_mib(sys.executable, "-c", "x = b'x' * (200 << 20)") > 150


def test_exported_mp4_plays_as_the_source(
    settings_path: Path,
    tmp_path: Path,
    clips: dict[str, Path],  # noqa: F811
) -> None:
    instance = video_instance(clips["mpeg2.mpg"], tmp_path / "v.dcm", "1.2.840.10008.1.2.4.100")
    out = tmp_path / "out"
    assert _export(settings_path, instance, "--to", out) == 0
    (path,) = _files(out)
    assert path.suffix == ".mp4"
    assert ffprobe(path).matches(ffprobe(clips["mpeg2.mpg"]))
    assert pydicom.dcmread(instance, stop_before_pixels=True).Modality == "ES"
