"""Destinations named on the command line: a configured name or ``AET@host:port``."""

from __future__ import annotations

import re

from izer.config import Destination, Settings
from izer.config.validate import ae_title_problem, port_problem

_ADDRESS = re.compile(r"^(?P<aet>[^@]+)@(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d{1,5})$")


class AddressError(ValueError):
    """A destination that is neither configured nor a valid ``AET@host:port``."""


def parse_address(text: str) -> Destination:
    """Parse ``AET@host:port`` (dcm4che style; IPv6 hosts in brackets) into a destination.

    Raises
    ------
    AddressError
        When the text is not of that form or the AE title or port is invalid.
    """
    match = _ADDRESS.match(text.strip())
    if not match:
        raise AddressError(f"{text!r} is not AET@host:port (for example PACS@10.0.0.5:104)")
    aet, host, port = match["aet"], match["host"].strip("[]"), int(match["port"])
    if problem := ae_title_problem(aet) or port_problem(port):
        raise AddressError(f"{text!r}: {problem}")
    return Destination(name=text.strip(), ae_title=aet, host=host, port=port)


def resolve_destination(text: str, settings: Settings) -> Destination:
    """A configured destination called ``text``, else ``text`` parsed as ``AET@host:port``."""
    configured = settings.destination(text)
    if configured is not None:
        return configured
    if "@" not in text:
        names = ", ".join(d.name for d in settings.destinations) or "none configured"
        raise AddressError(
            f"no destination called {text!r} (configured: {names}); or give AET@host:port"
        )
    return parse_address(text)
