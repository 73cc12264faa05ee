"""``izer bench still-latency`` runs end to end on a tiny size (its figures are not checked)."""

from __future__ import annotations

import re

from izer.cli.main import main


def test_still_latency_prints_both_sides_and_a_ratio(capsys) -> None:
    assert main(["bench", "still-latency", "--stills", "3", "--size", "320x240"]) == 0
    out = capsys.readouterr().out
    assert "320x240, 3 stills, while recording" in out
    assert re.search(r"izer \(VL Endoscopic, fsync, index\)\s+[\d.]+\s+[\d.]+", out)
    assert re.search(r"reference \(cv2 JPEG, fsync\)\s+[\d.]+\s+[\d.]+", out)
    assert re.search(r"ratio izer/reference \(medians\): [\d.]+", out)


def test_still_latency_refuses_a_bad_size(capsys) -> None:
    assert main(["bench", "still-latency", "--size", "huge"]) == 2
    assert "--size 'huge'" in capsys.readouterr().err
