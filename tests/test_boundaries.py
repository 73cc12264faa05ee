"""The rooms of the architecture import only what they may (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "izer"

#: Which izer rooms each room may import (besides itself). The top-level modules
#: ``izer/__init__.py`` (version only) and ``izer/logging_setup.py`` are shared.
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "config": {"model"},
    "capture": {"model", "config"},
    "encode": {"model", "config"},
    "net": {"model", "config"},
    "store": {"model", "config"},
    "worklist": {"model", "config", "net"},
    "dispatch": {"model", "config", "net", "store", "encode"},
    "report": {"model"},
    "importing": {"model", "config", "encode", "store"},
    "engine": {
        "model",
        "config",
        "capture",
        "encode",
        "net",
        "store",
        "worklist",
        "dispatch",
        "report",
        "importing",
    },
    "bench": {
        "model",
        "config",
        "capture",
        "encode",
        "net",
        "store",
        "worklist",
        "dispatch",
        "engine",
    },
    "cli": {"engine", "model", "config", "bench", "logging_setup", "gui", "view"},
    "gui": {"engine", "model", "config"},
    "view": {"engine", "model", "config"},
    "logging_setup": {"model", "config"},
    "__main__": {"cli"},
}
SHARED = {"__init__"}

#: Modules whose presence in a room means network I/O.
NETWORK_MODULES = {"socket", "ssl", "pynetdicom", "urllib", "http", "requests", "asyncio"}


def _room(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_room_is_known() -> None:
    rooms = {_room(path) for path in SOURCES} - SHARED
    assert rooms <= set(ALLOWED), f"add {rooms - set(ALLOWED)} to the boundary table"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_rooms_import_only_what_they_may(path: Path) -> None:
    room = _room(path)
    if room in SHARED:
        return
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "izer" and len(parts) > 1 and parts[1] != room:
            assert parts[1] in ALLOWED[room] | SHARED, f"{room} must not import {name}"
        if parts[0] == "PyQt6":
            assert room == "gui", f"only izer/gui may import PyQt6 ({path})"
        if room == "encode":
            assert parts[0] not in NETWORK_MODULES, f"encode does no network I/O ({name})"


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import PyQt6.QtWidgets\nfrom izer.store import StudyStore\n")
    assert {"PyQt6.QtWidgets", "izer.store"} <= _imports(bad)
