"""Benchmarks: izer against a reference tool in the same run, reported as a ratio.

Not part of the test suite; run them with ``izer bench``. Figures go to
``docs/performance.md`` with the command that produced them.
"""
