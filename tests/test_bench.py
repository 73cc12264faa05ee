"""The benchmark entries run end to end (their figures belong in docs/performance.md)."""

from __future__ import annotations

import pytest

from izer.cli.bench import main as bench_main
from tests.helpers.binaries import require_binaries


def test_store_benchmark_runs_and_reports_a_ratio(capsys) -> None:
    assert bench_main(["store", "--files", "3", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "store import: 3 SC files" in out
    assert "ratio izer / cp" in out


@pytest.mark.timeout(600)
def test_convert_benchmark_runs_against_img2dcm(capsys) -> None:
    require_binaries("img2dcm")
    assert bench_main(["convert", "--files", "2", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "img2dcm" in out
    assert "ratio" in out


@pytest.mark.timeout(600)
def test_encode_benchmark_covers_every_codec(capsys) -> None:
    require_binaries("dcmcjpeg", "dcmcjpls", "dcmcrle")
    assert bench_main(["encode", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("JPEG_BASELINE", "HTJ2K", "JPEG_XL", "RLE", "dcmcjpeg"):
        assert name.lower().replace("_", "") in out.lower().replace("_", "").replace("-", "")


@pytest.mark.timeout(600)
def test_remux_benchmark_runs_against_cp(capsys) -> None:
    require_binaries("ffmpeg")
    assert bench_main(["remux", "--mb", "3", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "remux (as is)" in out
    assert "remux (remux, index at the end)" in out
    assert out.count("ratio process izer / cp") == 2


@pytest.mark.timeout(600)
def test_transcode_benchmark_runs_against_ffmpeg(capsys) -> None:
    require_binaries("ffmpeg")
    assert bench_main(["transcode", "--frames", "6", "--size", "160x96", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "transcode: 6 frames 160x96" in out
    assert "ratio izer / ffmpeg" in out
    assert "-c:v libx264 -preset veryfast -profile:v high -level:v 4.1" in out


def test_transcode_benchmark_refuses_an_odd_size(capsys) -> None:
    assert bench_main(["transcode", "--size", "161x96"]) == 2
    assert "--size" in capsys.readouterr().err
