"""Locate the external programs the tests need and skip or fail cleanly without them.

Binaries are always addressed by absolute path: pynetdicom installs console scripts
called ``echoscu``, ``storescp`` ... that would shadow DCMTK's on a venv ``PATH``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Absolute path of every external program the tests use.
BINARY_PATHS: dict[str, Path] = {
    "Orthanc": Path("/usr/sbin/Orthanc"),
    "storescp": Path("/usr/bin/storescp"),
    "storescu": Path("/usr/bin/storescu"),
    "echoscu": Path("/usr/bin/echoscu"),
    "findscu": Path("/usr/bin/findscu"),
    "movescu": Path("/usr/bin/movescu"),
    "wlmscpfs": Path("/usr/bin/wlmscpfs"),
    "dcmprscp": Path("/usr/bin/dcmprscp"),
    "dcmqrscp": Path("/usr/bin/dcmqrscp"),
    "dump2dcm": Path("/usr/bin/dump2dcm"),
    "dcmdump": Path("/usr/bin/dcmdump"),
    "dciodvfy": Path("/usr/bin/dciodvfy"),
    "dcentvfy": Path("/usr/bin/dcentvfy"),
    "dcdump": Path("/usr/bin/dcdump"),
    "ffmpeg": Path("/usr/bin/ffmpeg"),
    "ffprobe": Path("/usr/bin/ffprobe"),
    "xorriso": Path("/usr/bin/xorriso"),
    "genisoimage": Path("/usr/bin/genisoimage"),
    "Xvfb": Path("/usr/bin/Xvfb"),
    "libModalityWorklists.so": Path("/usr/share/orthanc/plugins/libModalityWorklists.so"),
    "libOrthancGdcm.so": Path("/usr/share/orthanc/plugins/libOrthancGdcm.so"),
    "dcmdjpeg": Path("/usr/bin/dcmdjpeg"),
    "dcmdjpls": Path("/usr/bin/dcmdjpls"),
    "dcmdrle": Path("/usr/bin/dcmdrle"),
    "dcmconv": Path("/usr/bin/dcmconv"),
    "dcm2pnm": Path("/usr/bin/dcm2pnm"),
    "dcmj2pnm": Path("/usr/bin/dcmj2pnm"),
    "dcml2pnm": Path("/usr/bin/dcml2pnm"),
    "dcm2pdf": Path("/usr/bin/dcm2pdf"),
    "dcmpschk": Path("/usr/bin/dcmpschk"),
    "img2dcm": Path("/usr/bin/img2dcm"),
    "dcmcjpeg": Path("/usr/bin/dcmcjpeg"),
    "dcmcjpls": Path("/usr/bin/dcmcjpls"),
    "dcmcrle": Path("/usr/bin/dcmcrle"),
}

#: Debian package providing each binary (keyed by file name).
BINARY_PACKAGES: dict[str, str] = {
    "Orthanc": "orthanc",
    "storescp": "dcmtk",
    "storescu": "dcmtk",
    "echoscu": "dcmtk",
    "findscu": "dcmtk",
    "movescu": "dcmtk",
    "wlmscpfs": "dcmtk",
    "dcmprscp": "dcmtk",
    "dcmqrscp": "dcmtk",
    "dump2dcm": "dcmtk",
    "dcmdump": "dcmtk",
    "dciodvfy": "dicom3tools",
    "dcentvfy": "dicom3tools",
    "dcdump": "dicom3tools",
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
    "xorriso": "xorriso",
    "genisoimage": "genisoimage",
    "Xvfb": "xvfb",
    "libModalityWorklists.so": "orthanc",
    "libOrthancGdcm.so": "orthanc-gdcm",
    "dcmdjpeg": "dcmtk",
    "dcmdjpls": "dcmtk",
    "dcmdrle": "dcmtk",
    "dcmconv": "dcmtk",
    "dcm2pnm": "dcmtk",
    "dcmj2pnm": "dcmtk",
    "dcml2pnm": "dcmtk",
    "dcm2pdf": "dcmtk",
    "dcmpschk": "dcmtk",
    "img2dcm": "dcmtk",
    "dcmcjpeg": "dcmtk",
    "dcmcjpls": "dcmtk",
    "dcmcrle": "dcmtk",
}

#: Every Debian package the full test suite relies on.
ALL_PACKAGES: tuple[str, ...] = (
    "orthanc",
    "dcmtk",
    "dicom3tools",
    "ffmpeg",
    "xorriso",
    "genisoimage",
    "xvfb",
)


def resolve_binary(path_or_name: str | os.PathLike[str]) -> Path:
    """Return the absolute path for a binary name (``"dciodvfy"``) or path.

    Parameters
    ----------
    path_or_name
        A known program name (see `BINARY_PATHS`) or an absolute path.

    Returns
    -------
    Path
        The absolute path; unknown bare names resolve to ``/usr/bin/<name>``.
    """
    text = os.fspath(path_or_name)
    if os.sep in text:
        return Path(text)
    return BINARY_PATHS.get(text, Path("/usr/bin") / text)


def package_for(path_or_name: str | os.PathLike[str]) -> str:
    """Return the Debian package that provides a binary (its own name if unknown)."""
    name = resolve_binary(path_or_name).name
    return BINARY_PACKAGES.get(name, name.lower())


def missing_binaries(*paths_or_names: str | os.PathLike[str]) -> list[Path]:
    """Return the binaries among *paths_or_names* that are absent or not executable.

    Shared libraries (``*.so``, e.g. Orthanc plugins) only need to exist.
    """
    found = [resolve_binary(p) for p in paths_or_names]
    return [p for p in found if not _usable(p)]


def _usable(path: Path) -> bool:
    if not path.is_file():
        return False
    return path.suffix == ".so" or os.access(path, os.X_OK)


def install_hint(missing: list[Path]) -> str:
    """Build a human message naming *missing* binaries and the apt command that fixes it."""
    packages = sorted({package_for(p) for p in missing})
    listing = ", ".join(f"{p} (Debian package {package_for(p)})" for p in missing)
    return (
        f"missing binary: {listing}. Fix: sudo apt-get install -y {' '.join(packages)}"
        f"  (all test tools: sudo apt-get install -y {' '.join(ALL_PACKAGES)})"
    )


def running_in_ci() -> bool:
    """Return True when the ``CI`` environment variable is set to a true value."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_binaries(*paths_or_names: str | os.PathLike[str]) -> dict[str, Path]:
    """Skip the current test (or fail it under ``CI=true``) unless all binaries exist.

    Parameters
    ----------
    *paths_or_names
        Program names such as ``"dciodvfy"`` or absolute paths such as
        ``"/usr/sbin/Orthanc"``.

    Returns
    -------
    dict[str, Path]
        Map from each binary's file name to its absolute path.
    """
    missing = missing_binaries(*paths_or_names)
    if missing:
        message = install_hint(missing)
        if running_in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    resolved = [resolve_binary(p) for p in paths_or_names]
    return {p.name: p for p in resolved}
