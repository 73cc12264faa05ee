"""Value rules for settings, each returning a plain-words problem or ``None``."""

from __future__ import annotations

import re

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

#: Longest UID root accepted, leaving at least 15 digits for the generated part (PS3.5 9.1).
MAX_UID_ROOT_LENGTH = 48


def ae_title_problem(value: str) -> str | None:
    """Why ``value`` is not a valid AE title (PS3.5 6.2, VR AE), or ``None``."""
    if not value.strip():
        return "an AE title cannot be empty"
    if len(value) > 16:
        return f"AE title {value!r} has {len(value)} characters; at most 16 are allowed"
    if "\\" in value:
        return f"AE title {value!r} contains a backslash, which DICOM forbids"
    if any(ord(c) < 32 or ord(c) > 126 for c in value):
        return f"AE title {value!r} must be printable ASCII without control characters"
    return None


def uid_problem(value: str, *, max_length: int = 64) -> str | None:
    """Why ``value`` is not a valid UID or UID root (PS3.5 9.1), or ``None``."""
    if not _UID.match(value):
        return (
            f"{value!r} is not a UID: digits in dot-separated components, "
            "no leading zeros, e.g. 1.2.826.0.1.3680043.10.1234"
        )
    if len(value) > max_length:
        return f"{value!r} has {len(value)} characters; at most {max_length} are allowed"
    return None


def port_problem(value: int) -> str | None:
    """Why ``value`` is not a TCP port, or ``None``."""
    if not 1 <= value <= 65535:
        return f"port {value} is out of range 1-65535"
    return None
