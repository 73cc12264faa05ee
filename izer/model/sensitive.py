"""Marking patient data in log calls so it never reaches a log at INFO or above."""

from __future__ import annotations

from dataclasses import dataclass

REDACTED = "<patient data>"


@dataclass(frozen=True)
class Sensitive:
    """Wraps a patient name, ID or birth date passed as a log argument.

    ``log.info("selected %s", Sensitive(name))`` logs the value only at DEBUG; the logging
    set-up replaces it with :data:`REDACTED` in records of INFO and above.
    """

    value: object

    def __str__(self) -> str:
        return str(self.value)
