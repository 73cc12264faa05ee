"""C-ECHO, the DICOM ping (PS3.7 9.1.5, Verification SOP Class PS3.4 A)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynetdicom.sop_class import Verification

from izer.config import Destination
from izer.net.association import AssociationFactory, AssociationFailed


@dataclass(frozen=True)
class EchoResult:
    """The outcome of one C-ECHO, ready to print as one line."""

    ok: bool
    message: str
    elapsed_s: float
    status: int | None = None


def echo(factory: AssociationFactory, destination: Destination) -> EchoResult:
    """Associate, send C-ECHO, release; never raises for network trouble."""
    start = time.monotonic()
    peer = f"{destination.ae_title}@{destination.host}:{destination.port}"
    try:
        with factory.associate(destination, [Verification]) as association:
            response = association.send_c_echo()
    except AssociationFailed as exc:
        return EchoResult(ok=False, message=str(exc), elapsed_s=time.monotonic() - start)
    elapsed = time.monotonic() - start
    status = response.get("Status") if response else None
    if status is None:
        return EchoResult(
            ok=False,
            message=f"{peer} sent no C-ECHO response (timed out or aborted)",
            elapsed_s=elapsed,
        )
    if status != 0x0000:
        return EchoResult(
            ok=False,
            message=f"{peer} answered C-ECHO with status 0x{status:04X}",
            elapsed_s=elapsed,
            status=status,
        )
    return EchoResult(
        ok=True,
        message=f"{peer} answered C-ECHO in {elapsed * 1000:.0f} ms",
        elapsed_s=elapsed,
        status=status,
    )
