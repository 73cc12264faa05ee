"""``izer bench worklist``: the default MWL query against DCMTK findscu on one wlmscpfs."""

from __future__ import annotations

import pytest

from izer.bench.worklist import write_items
from izer.cli.bench import main as bench_main
from tests.helpers.binaries import require_binaries


@pytest.mark.timeout(120)
def test_worklist_benchmark_runs_against_findscu(capsys) -> None:
    require_binaries("wlmscpfs", "findscu")
    assert bench_main(["worklist", "--items", "20", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "returning 20 items from DCMTK wlmscpfs" in out
    assert "mapping (20 contexts)" in out
    assert "ratio izer / findscu" in out


def test_worklist_benchmark_refuses_no_items(capsys) -> None:
    assert bench_main(["worklist", "--items", "0"]) == 2
    assert "--items" in capsys.readouterr().err


def test_bench_items_are_what_the_default_query_matches(tmp_path) -> None:
    from pydicom import dcmread

    write_items(tmp_path, 2, "20240501")
    [first, _] = sorted(tmp_path.glob("*.wl"))
    ds = dcmread(first)
    step = ds.ScheduledProcedureStepSequence[0]
    assert (step.ScheduledStationAETitle, step.Modality) == ("IZERBENCH", "ES")
    assert step.ScheduledProcedureStepStartDate == "20240501"
    assert str(ds.PatientName) == "Bänch^Patiënt 1"
