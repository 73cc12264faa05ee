"""What a DIMSE response status means for the job that got it (PS3.7 Annex C).

Each service has its own specific statuses (MPPS: PS3.4 F.7; print: PS3.4 H.4); the classes
every service shares are decided here, once.
"""

from __future__ import annotations

import enum


class StatusKind(enum.Enum):
    """What a response status means for the sender."""

    SUCCESS = "success"
    WARNING = "warning"
    TRANSIENT = "transient failure"
    PERMANENT = "permanent failure"


def general_status_meaning(code: int) -> tuple[StatusKind, str] | None:
    """The general status classes of PS3.7 C.1-C.5, or ``None`` for a code outside them.

    Out of resources (A7xx) may pass and is transient; a data set that does not match the
    SOP class (A9xx) and "cannot understand" (Cxxx) are permanent; Bxxx are warnings.
    """
    if 0xA700 <= code <= 0xA7FF:
        return StatusKind.TRANSIENT, "refused: out of resources"
    if 0xA900 <= code <= 0xA9FF:
        return StatusKind.PERMANENT, "error: data set does not match SOP class"
    if 0xB000 <= code <= 0xBFFF:
        return StatusKind.WARNING, "warning"
    if 0xC000 <= code <= 0xCFFF:
        return StatusKind.PERMANENT, "error: cannot understand"
    return None
