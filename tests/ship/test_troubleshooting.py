"""docs/troubleshooting.md lists exactly the user-facing error messages izer's code can print.

"User-facing error" is defined at the top of docs/troubleshooting.md; :func:`code_messages`
collects those messages with :mod:`ast` (never regular expressions over the source), each as
a template in which every replaced part of an f-string (and every non-literal piece of a
``+`` concatenation) is ``{…}``. The guide's entries are the bullets that begin with a code
span. Both directions fail with the list: an entry no code prints any more (stale), and a
message the guide does not list (missing). A last test checks every relative link in docs/.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "izer"
GUIDE = ROOT / "docs" / "troubleshooting.md"

#: What a replaced f-string field (or any non-literal piece) becomes in a template.
FIELD = "{…}"

#: GUI functions that show a message line, and how the call says it is a problem.
GUI_SHOWERS = ("show_notice", "_say", "show_message", "show")
#: Levels and colours that mark a GUI message as an error or a warning.
PROBLEM_MARKS = ("ERROR", "WARNING", "RECORD_RED", "WARNING_AMBER")
#: Exception classes whose messages the GUI and CLI show as they are (rule d).
SHOWN_EXCEPTIONS = ("ReviewError", "TransitionError")


@dataclass(frozen=True)
class Message:
    """One user-facing message template and where the code makes it."""

    template: str
    where: str


# -- templates --------------------------------------------------------------------------------


def templates(node: ast.expr) -> list[str]:
    """Every text ``node`` can evaluate to, fields as ``{…}`` (a conditional gives both)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts = [
            value.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str)
            else FIELD
            for value in node.values
        ]
        return ["".join(parts)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in templates(node.left) for b in templates(node.right)]
    if isinstance(node, ast.IfExp):
        return templates(node.body) + templates(node.orelse)
    return [FIELD]


def normalise(text: str) -> str:
    """One line, runs of fields as one ``{…}``, no surrounding blanks."""
    text = re.sub(r"\s+", " ", text).strip()
    while FIELD + FIELD in text:
        text = text.replace(FIELD + FIELD, FIELD)
    return text


def _literal_templates(node: ast.expr) -> list[str]:
    """The templates of ``node`` that hold some literal text (pass-throughs are dropped)."""
    found = []
    for template in templates(node):
        text = normalise(template)
        if text.replace(FIELD, "").strip(" :;,.") and text:
            found.append(text)
    return found


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _marks_problem(node: ast.expr) -> bool:
    """Whether a level/colour argument is one of :data:`PROBLEM_MARKS`."""
    return _name(node) in PROBLEM_MARKS or (isinstance(node, ast.Constant) and node.value is True)


def _calls(path: Path) -> Iterator[ast.Call]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call):
            yield node


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


# -- the four rules of the definition ---------------------------------------------------------


def cli_messages() -> list[Message]:
    """(a) The first argument of every ``fail(...)`` call in ``izer/cli/*.py``."""
    found = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for call in _calls(path):
            if _name(call.func) == "fail" and call.args:
                found += [Message(t, _where(path, call)) for t in _literal_templates(call.args[0])]
    return found


def settings_messages() -> list[Message]:
    """(b) Settings problems: ``SettingsError(path, key, PROBLEM)``, ``fail(key, PROBLEM)`` and
    the strings returned by ``*_problem`` functions in ``izer/config/``, and the print preset
    problems ``PrintPreset`` appends (shown as ``destinations[i].print: PROBLEM``)."""
    found = []
    for path in sorted((PACKAGE / "config").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            problem: ast.expr | None = None
            if isinstance(node, ast.Call):
                name = _name(node.func)
                if name == "SettingsError" and len(node.args) >= 3:
                    problem = node.args[2]
                elif name == "fail" and len(node.args) == 2:
                    problem = node.args[1]
            if problem is not None:
                found += [Message(t, _where(path, node)) for t in _literal_templates(problem)]
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_problem"):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return) and inner.value is not None:
                        found += [
                            Message(t, _where(path, inner)) for t in _literal_templates(inner.value)
                        ]
    printing = PACKAGE / "model" / "printing.py"
    for call in _calls(printing):
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "append"
            and _name(func.value) == "problems"
            and call.args
        ):
            found += [Message(t, _where(printing, call)) for t in _literal_templates(call.args[0])]
    return found


def gui_messages() -> list[Message]:
    """(c) Problems the window shows: the text given to ``show_notice``/``_say`` with an error
    or warning level or colour, to ``show_message``/``show`` (the message lines show only
    problems), to the capture screen's ``_failed(WHAT)`` (``WHAT: {…}``), and capture notices
    of level error or warning (``_notice(NoticeLevel.ERROR, TEXT)``) anywhere in izer/."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        in_gui = (PACKAGE / "gui") in path.parents
        for call in _calls(path):
            name = _name(call.func)
            texts: list[str] = []
            if in_gui and name in GUI_SHOWERS and call.args:
                marks = [*call.args[1:], *(k.value for k in call.keywords)]
                if name in ("show_message", "show") or any(_marks_problem(m) for m in marks):
                    texts = _literal_templates(call.args[0])
            elif in_gui and name == "_failed" and call.args:
                texts = [normalise(f"{t}: {FIELD}") for t in _literal_templates(call.args[0])]
            elif name == "_notice" and len(call.args) >= 2 and _marks_problem(call.args[0]):
                texts = _literal_templates(call.args[1])
            found += [Message(t, _where(path, call)) for t in texts]
    return found


def exception_messages() -> list[Message]:
    """(d) The texts of :data:`SHOWN_EXCEPTIONS`: each ``raise X(TEXT)`` and the text a class's
    own ``__init__`` builds (``super().__init__(TEXT)``)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and _name(node.exc.func) in SHOWN_EXCEPTIONS
                and len(node.exc.args) == 1
            ):
                found += [
                    Message(t, _where(path, node)) for t in _literal_templates(node.exc.args[0])
                ]
            if isinstance(node, ast.ClassDef) and node.name in SHOWN_EXCEPTIONS:
                for call in (c for c in ast.walk(node) if isinstance(c, ast.Call)):
                    if _name(call.func) == "__init__" and call.args:
                        found += [
                            Message(t, _where(path, call)) for t in _literal_templates(call.args[0])
                        ]
    return found


def code_messages() -> dict[str, list[str]]:
    """Every user-facing message template in the code, with where each is made."""
    messages: dict[str, list[str]] = {}
    for rule in (cli_messages, settings_messages, gui_messages, exception_messages):
        for message in rule():
            messages.setdefault(message.template, []).append(message.where)
    return messages


# -- the guide --------------------------------------------------------------------------------

_SPAN = re.compile(r"(`+)(.+?)\1")
_JOINER = re.compile(r"\s*(?:,|and|or)\s+|\s*,\s*")


def _bullets(text: str) -> Iterator[str]:
    """Each top-level bullet of ``text`` as one line (its wrapped lines joined)."""
    item: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("- ") or not line.strip() or line.startswith("#"):
            if item:
                yield " ".join(item)
            item = [line[2:]] if line.startswith("- ") else []
        elif item and line.startswith(" "):
            item.append(line.strip())
        elif item:
            yield " ".join(item)
            item = []


def guide_entries(text: str) -> list[str]:
    """The message templates of the guide: the code spans a bullet begins with (several when
    joined by commas, ``and`` or ``or``: ``- `A`, `B` and `C`: ...``)."""
    entries = []
    for bullet in _bullets(text):
        rest = bullet
        while match := _SPAN.match(rest):
            entries.append(normalise(match.group(2)))
            rest = rest[match.end() :]
            joiner = _JOINER.match(rest)
            if joiner is None or not _SPAN.match(rest[joiner.end() :]):
                break
            rest = rest[joiner.end() :]
    return entries


# -- tests ------------------------------------------------------------------------------------


def test_the_collector_finds_each_rule() -> None:
    """Each rule finds messages (a rule that found none would make the comparison hollow)."""
    for rule in (cli_messages, settings_messages, gui_messages, exception_messages):
        assert rule(), f"{rule.__name__} found no message"


def test_templates_mark_fields_and_drop_pass_throughs() -> None:
    """f-string fields become {…}, a conditional gives both texts, a bare variable nothing."""
    expr = ast.parse('f"--size {x!r}: use W" + ", ".join(y) if a else "plain"', mode="eval").body
    assert [normalise(t) for t in templates(expr)] == ["--size {…}: use W{…}", "plain"]
    assert _literal_templates(ast.parse("str(exc)", mode="eval").body) == []
    assert _literal_templates(ast.parse('f"{a}: {b}"', mode="eval").body) == []


def test_guide_entries_are_unique() -> None:
    entries = guide_entries(GUIDE.read_text(encoding="utf-8"))
    repeated = sorted({e for e in entries if entries.count(e) > 1})
    assert not repeated, f"listed more than once in {GUIDE.name}: {repeated}"


def test_every_listed_message_exists_in_the_code() -> None:
    code = code_messages()
    stale = [e for e in guide_entries(GUIDE.read_text(encoding="utf-8")) if e not in code]
    assert not stale, (
        f"{len(stale)} entr(y/ies) of {GUIDE.name} that no code prints any more "
        "(remove or update them):\n" + "\n".join(stale)
    )


def test_every_user_facing_message_is_listed() -> None:
    listed = set(guide_entries(GUIDE.read_text(encoding="utf-8")))
    missing = {t: w for t, w in code_messages().items() if t not in listed}
    assert not missing, (
        f"{len(missing)} user-facing message(s) missing from {GUIDE.name} (add an entry "
        "'- `TEMPLATE`' with what it means and what to do):\n"
        + "\n".join(f"{t}    ({', '.join(w)})" for t, w in sorted(missing.items()))
    )


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of the headings of ``page`` (lower case, punctuation dropped)."""
    anchors = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize(
    "page", sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]), ids=lambda p: p.name
)
def test_relative_links_resolve(page: Path) -> None:
    """Every ``](relative)`` link of the docs points to a file that exists, and to a heading
    of it when the link names one."""
    broken = []
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        file, _, anchor = target.partition("#")
        path = page.parent / file if file else page
        missing_heading = path.suffix == ".md" and bool(anchor)
        if not path.exists() or (missing_heading and anchor not in _anchors(path)):
            broken.append(target)
    assert not broken, f"{page.name} links to missing files or headings: {broken}"
