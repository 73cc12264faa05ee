"""The error every input problem raises, naming the file in printable form."""

from __future__ import annotations

import os
from pathlib import Path


class InputError(ValueError):
    """An input file that cannot be converted; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{display_name(path)}: {problem}")


def display_name(path: Path | str) -> str:
    """``path`` as printable text (bytes that are not UTF-8 shown as ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
