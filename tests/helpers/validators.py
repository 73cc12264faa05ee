"""Run dicom3tools validators (``dciodvfy``, ``dcentvfy``) and parse what they report.

Both write everything to stderr. ``dciodvfy`` prints the IOD it recognised on the
first line (e.g. ``SCImage``) and exits 1 when any ``Error`` line was printed, 0 with
warnings only; ``dcentvfy`` checks consistency across files and exits 1 on errors.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.binaries import require_binaries, resolve_binary

_LEVEL = re.compile(r"(^|\s-\s)(Error|Warning)\s-\s")


@dataclass(frozen=True)
class ValidatorResult:
    """Outcome of one dicom3tools run.

    Attributes
    ----------
    tool
        ``"dciodvfy"`` or ``"dcentvfy"``.
    paths
        Files checked.
    returncode
        Exit status (1 when errors were reported).
    errors, warnings
        Full stderr lines classified as ``Error`` / ``Warning``.
    other
        Remaining stderr lines (IOD name, notes).
    strict
        If True, warnings also make `ok` False.
    """

    tool: str
    paths: tuple[Path, ...]
    returncode: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def ok(self) -> bool:
        """True on exit status 0 without errors (and, when `strict`, without warnings)."""
        if self.returncode != 0 or self.errors:
            return False
        return not (self.strict and self.warnings)

    def _label(self) -> str:
        return self.tool

    def __str__(self) -> str:
        files = ", ".join(str(p) for p in self.paths)
        head = (
            f"{self._label()} {files}: exit {self.returncode}, "
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )
        lines = [head, *(f"  {e}" for e in self.errors), *(f"  {w}" for w in self.warnings)]
        if self.returncode != 0 and not self.errors:
            lines.extend(f"  {o}" for o in self.other)
        return "\n".join(lines)


@dataclass(frozen=True)
class DciodvfyResult(ValidatorResult):
    """`ValidatorResult` plus the IOD name ``dciodvfy`` recognised."""

    iod: str = ""

    def _label(self) -> str:
        return f"{self.tool} [{self.iod or 'unknown IOD'}]"


def _classify(stderr: str) -> tuple[list[str], list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    other: list[str] = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        match = _LEVEL.search(line)
        if match is None:
            other.append(line)
        elif match.group(2) == "Error":
            errors.append(line)
        else:
            warnings.append(line)
    return errors, warnings, other


def _run(tool: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    require_binaries(tool)
    return subprocess.run(
        [str(resolve_binary(tool)), *(str(p) for p in paths)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
        check=False,
    )


def dciodvfy(path: str | os.PathLike[str], strict: bool = False) -> DciodvfyResult:
    """Validate one DICOM file against its IOD with ``/usr/bin/dciodvfy``.

    Parameters
    ----------
    path
        The file to check.
    strict
        Count warnings as failures in `ValidatorResult.ok`.

    Returns
    -------
    DciodvfyResult
        Parsed errors/warnings, the recognised IOD and the exit status.
    """
    file = Path(path)
    proc = _run("dciodvfy", [file])
    errors, warnings, other = _classify(proc.stderr)
    iod = other[0].strip() if other else ""
    return DciodvfyResult(
        tool="dciodvfy",
        paths=(file,),
        returncode=proc.returncode,
        errors=errors,
        warnings=warnings,
        other=other,
        strict=strict,
        iod=iod,
    )


def dcentvfy(paths: Iterable[str | os.PathLike[str]], strict: bool = False) -> ValidatorResult:
    """Check entity consistency (patient/study/series) across files with ``dcentvfy``.

    Parameters
    ----------
    paths
        Files that belong together (e.g. one study).
    strict
        Count warnings as failures in `ValidatorResult.ok`.

    Returns
    -------
    ValidatorResult
        Parsed errors/warnings and the exit status.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("dcentvfy needs at least one file")
    proc = _run("dcentvfy", files)
    errors, warnings, other = _classify(proc.stderr)
    return ValidatorResult(
        tool="dcentvfy",
        paths=tuple(files),
        returncode=proc.returncode,
        errors=errors,
        warnings=warnings,
        other=other,
        strict=strict,
    )
