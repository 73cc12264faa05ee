"""Fixtures of the report tests: a real CUPS scheduler (see tests/report/cups_peer.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.binaries import running_in_ci
from tests.report.cups_peer import (
    PAUSED_PRINTER,
    PRINTER,
    REJECTING_PRINTER,
    SLOW_PRINTER,
    CupsPeer,
    CupsPeerError,
    cups_install_hint,
    missing_cups_binaries,
)


def _require_cups() -> None:
    """Skip (fail under ``CI=true``) unless cupsd and the CUPS clients are installed."""
    missing = missing_cups_binaries()
    if missing:
        message = cups_install_hint(missing)
        if running_in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _started(peer: CupsPeer, printers: tuple[str, ...], default: str | None) -> CupsPeer:
    try:
        return peer.start(printers=printers, default=default)
    except CupsPeerError as exc:
        peer.stop()
        pytest.fail(f"could not start the CUPS test scheduler: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def cups() -> Iterator[CupsPeer]:
    """A private cupsd on 127.0.0.1 for the whole session.

    Queues: ``IZERTEST`` (default), ``IZERPAUSED`` (disabled, accepting),
    ``IZEROFF`` (disabled, rejecting), ``IZERSLOW`` (holds each job until
    `CupsPeer.open_gate`). Each prints into `CupsPeer.output` of its name.
    """
    _require_cups()
    peer = CupsPeer.in_temp_folder()
    printers = (PRINTER, PAUSED_PRINTER, REJECTING_PRINTER, SLOW_PRINTER)
    _started(peer, printers, PRINTER)
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def bare_cups() -> Iterator[CupsPeer]:
    """A private cupsd with no printers and no default, for this test only."""
    _require_cups()
    peer = CupsPeer.in_temp_folder()
    _started(peer, (), None)
    try:
        yield peer
    finally:
        peer.stop()
