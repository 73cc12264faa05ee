"""The benchmark entry runs end to end (its figures belong in docs/performance.md, not here)."""

from __future__ import annotations

from izer.cli.bench import main as bench_main


def test_store_benchmark_runs_and_reports_a_ratio(capsys) -> None:
    assert bench_main(["store", "--files", "3", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "store import: 3 SC files" in out
    assert "ratio izer / cp" in out
