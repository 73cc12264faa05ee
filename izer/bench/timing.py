"""Paired timing: izer and the reference alternate, the ratio is the median of pair ratios.

Alternating within one run cancels most of the machine's drift, so the ratio is what to
trust; the absolute times are only context.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedResult:
    """Medians of both sides and the median of per-pair ratios (izer / reference)."""

    izer_s: float
    reference_s: float
    ratio: float
    runs: int


def paired(
    izer: Callable[[int], None],
    reference: Callable[[int], None],
    *,
    runs: int,
    prepare: Callable[[int], None] | None = None,
) -> PairedResult:
    """Time ``izer(run)`` and ``reference(run)`` alternately ``runs`` times after a warm-up.

    ``prepare(run)``, untimed, runs before each side (e.g. to empty the target folder).
    """
    izer_times: list[float] = []
    reference_times: list[float] = []
    for run in range(-1, runs):
        for side, times in ((reference, reference_times), (izer, izer_times)):
            if prepare is not None:
                prepare(run)
            start = time.perf_counter()
            side(run)
            elapsed = time.perf_counter() - start
            if run >= 0:
                times.append(elapsed)
    ratios = [a / b for a, b in zip(izer_times, reference_times, strict=True)]
    return PairedResult(
        izer_s=statistics.median(izer_times),
        reference_s=statistics.median(reference_times),
        ratio=statistics.median(ratios),
        runs=runs,
    )
