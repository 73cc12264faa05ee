"""``izer bench send`` runs end to end against DCMTK (its figures belong in docs/performance.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from izer.bench.send import (
    MAX_ATTEMPTS,
    SendReport,
    _Failures,
    _first_line,
    _paired_retrying,
    _SideFailed,
    run,
)
from izer.cli.bench import main as bench_main
from izer.dispatch.cstore import FileFailure, StoreFailed
from tests.helpers.binaries import require_binaries


@pytest.mark.timeout(600)
def test_send_benchmark_runs_both_workloads_against_storescu(capsys) -> None:
    require_binaries("storescp", "storescu", "ffmpeg")
    argv = ["send", "--video-mb", "2", "--stills", "3", "--repeats", "1"]
    assert bench_main([*argv, "--pdus", "16384,131072"]) == 0
    out = capsys.readouterr().out
    assert "stills = 3 file(s)" in out
    rows = re.findall(
        r"^  (video|stills), (16|128) KB PDU, izer (process|in-process) +\|", out, re.M
    )
    assert len(rows) == 8  # 2 workloads x 2 PDU sizes x (process, in-process)
    assert "storescu -aet STORESCU -aec BENCHSCP -R -xn --max-pdu N --max-send-pdu N" in out


def test_stills_only_at_one_pdu_size_reports_one_case() -> None:
    require_binaries("storescp", "storescu")
    report = run(video_mb=0, stills=2, pdus=[16384], runs=1)
    assert isinstance(report, SendReport)
    (case,) = report.cases
    assert (case.workload, case.files, case.pdu) == ("stills", 2, 16384)
    assert case.size_bytes > 2 * 1_000_000  # 600x560 RGB, uncompressed
    assert case.process.runs == case.in_process.runs == 1


@pytest.mark.parametrize(
    ("pdus", "message"),
    [
        ("16384,262144", "PDU sizes must be 4096 to 131072 bytes"),
        ("1024", "PDU sizes must be 4096 to 131072 bytes"),
        ("16k", "--pdus '16k': use byte counts"),
    ],
)
def test_pdu_sizes_dcmtk_cannot_use_are_refused(pdus: str, message: str, capsys) -> None:
    assert bench_main(["send", "--stills", "1", "--video-mb", "0", "--pdus", pdus]) == 2
    assert message in capsys.readouterr().err


def test_nothing_to_send_is_refused(capsys) -> None:
    assert bench_main(["send", "--stills", "0", "--video-mb", "0"]) == 2
    assert "nothing to send" in capsys.readouterr().err


def test_a_failed_send_is_tried_again_untimed_and_counted() -> None:
    calls = {"izer": 0, "storescu": 0}

    def izer() -> None:
        calls["izer"] += 1
        if calls["izer"] == 2:  # the first timed pair
            raise _SideFailed("storescp wrote 0 of the 3 files sent")

    def storescu() -> None:
        calls["storescu"] += 1

    failures = _Failures()
    result = _paired_retrying(
        izer, storescu, runs=2, prepare=lambda: None, check=lambda: None, failures=failures
    )
    assert result.runs == 2
    assert calls == {"izer": 4, "storescu": 3}  # warm-up + 2 pairs, one izer send again
    assert failures.izer == ["storescp wrote 0 of the 3 files sent"]
    assert failures.storescu == []


def test_a_side_failing_every_time_stops_the_benchmark_with_the_reason() -> None:
    def broken() -> None:
        raise _SideFailed("storescp wrote 1 of the 2 files sent")

    failures = _Failures()
    with pytest.raises(RuntimeError, match=f"izer failed {MAX_ATTEMPTS} times in a row: storescp"):
        _paired_retrying(
            broken,
            lambda: None,
            runs=1,
            prepare=lambda: None,
            check=lambda: None,
            failures=failures,
        )
    assert len(failures.izer) == MAX_ATTEMPTS


def test_a_store_failure_is_summed_up_with_the_first_file_and_its_reason() -> None:
    failures = [
        FileFailure(Path(f"IM{n}.dcm"), f"1.2.3.{n}", f"IM{n}.dcm: no C-STORE response", True)
        for n in (7, 8)
    ]
    error = StoreFailed(
        "2 of 9 files were not stored on SCP@127.0.0.1:104:\n- ...",
        transient=True,
        outcomes=[],
        failures=failures,
    )
    assert _first_line(error) == (
        "2 of 9 files were not stored on SCP@127.0.0.1:104; the first: IM7.dcm: no C-STORE response"
    )
