"""``izer bench capture`` runs end to end on tiny sizes and prints its table (not timed)."""

from __future__ import annotations

import re

import pytest

from izer.cli.bench import main as bench_main
from tests.helpers.binaries import require_binaries

ROW = re.compile(
    r"^  (?P<size>\d+x\d+)\s+(?P<codec>h264|hevc)\s+(?P<preset>\w+)\s+(?P<frames>\d+)"
    r"\s+(?P<izer>[\d.]+)\s+(?P<ffmpeg>[\d.]+)\s+(?P<ratio>[\d.]+)\s+(?P<izer_cpu>\d+)%"
    r"\s+(?P<ffmpeg_cpu>\d+)%\s+(?P<real_time>[\d.]+)x\s+(?P<dropped>\d+)$"
)


@pytest.mark.timeout(600)
def test_capture_benchmark_prints_one_row_per_size(capsys: pytest.CaptureFixture[str]) -> None:
    require_binaries("ffmpeg")
    code = bench_main(
        [
            *("capture", "--sizes", "160x96,320x240", "--frames", "12", "--runs", "1"),
            *("--fps", "30", "--preset", "superfast"),
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("capture: synthetic RGB frames at 30 frames/s")
    assert "1 paired runs" in lines[0]
    header = lines[2].split()
    assert header[:4] == ["size", "codec", "preset", "frames"]
    assert "izer/ffmpeg" in header and header[-1] == "dropped"
    rows = [match for line in lines if (match := ROW.match(line))]
    assert [(row["size"], row["codec"], row["preset"]) for row in rows] == [
        ("160x96", "h264", "superfast"),
        ("320x240", "h264", "superfast"),
    ]
    for row in rows:
        assert int(row["frames"]) == 12 and int(row["dropped"]) == 0
        assert float(row["izer"]) > 0 and float(row["ffmpeg"]) > 0
        expected = float(row["izer"]) / float(row["ffmpeg"])
        assert float(row["ratio"]) == pytest.approx(expected, rel=0.05, abs=0.01)
    commands = [line for line in lines if line.startswith("  ffmpeg ")]
    assert len(commands) == 2
    assert all("-movflags frag_keyframe+empty_moov+default_base_moof" in c for c in commands)
    assert all("-c:v libx264" in c and "-profile:v high -level:v 4.1" in c for c in commands)


def test_capture_benchmark_runs_hevc_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    require_binaries("ffmpeg")
    code = bench_main(
        [
            *("capture", "--sizes", "160x96", "--frames", "10", "--runs", "1"),
            *("--codec", "hevc", "--preset", "ultrafast"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    (row,) = [match for line in out.splitlines() if (match := ROW.match(line))]
    assert (row["codec"], row["preset"]) == ("hevc", "ultrafast")
    assert "-c:v libx265" in out and "-tag:v hvc1" in out


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--sizes", "161x96"], "--sizes"),
        (["--sizes", "big"], "WIDTHxHEIGHT"),
        (["--sizes", "160x96", "--preset", "ultrafast"], "Constrained Baseline"),
    ],
)
def test_capture_benchmark_refuses_bad_arguments(
    arguments: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    require_binaries("ffmpeg")
    assert bench_main(["capture", *arguments]) == 2
    assert words in capsys.readouterr().err
