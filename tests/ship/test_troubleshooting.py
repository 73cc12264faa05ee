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
from functools import cache
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
#: Exception classes whose messages the GUI and CLI show as they are (rule d); the classes
#: of izer/ derived from them count too (``StoreFailed``, ``UnknownInstanceError``...).
SHOWN_EXCEPTIONS = (
    "ReviewError",  # the Review screen's message line
    "TransitionError",  # izer procedure, the worklist screen
    "DeliveryError",  # a job's last problem: the Sending screen, izer queue, izer send
    "AssociationFailed",  # izer query, izer retrieve; inside DeliveryError texts
    "FindFailed",  # izer query; a worklist provider's problem
    "RetrieveFailed",  # izer retrieve
    "ViewError",  # the web viewer's error page (izer view)
    "MediaError",  # izer import
    "WorklistError",  # izer worklist, izer procedure start
    "DispatcherBusyError",  # izer queue run, izer send, izer serve, izer print, izer media
    "ImportFailed",  # izer import: study N: TEXT
    "BurnError",  # a burn job's last problem: burn disc N of M: TEXT
    "SystemPrintError",  # izer report --print: cannot print the report: TEXT
    "PatternError",  # izer export --pattern; an [[auto_export]] rule's pattern setting
)


@dataclass(frozen=True)
class Message:
    """One user-facing message template and where the code makes it."""

    template: str
    where: str


# -- templates --------------------------------------------------------------------------------


#: Local assignments of a function: each name with every expression assigned to it.
Env = dict[str, list[ast.expr]]
#: Texts to put in for plain ``{name}`` fields of an f-string (a factory's parameters).
Fields = dict[str, list[str]]


def templates(node: ast.expr, env: Env | None = None, fields: Fields | None = None) -> list[str]:
    """Every text ``node`` can evaluate to, fields as ``{…}`` (a conditional gives both).

    With ``env``, a name that is the whole text or a piece of ``+`` (not an f-string field)
    becomes the texts of its assignments; with ``fields``, a plain ``{name}`` field (and a
    bare ``name``) becomes the texts given for it.
    """
    env = env or {}
    fields = fields or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in fields:
        return fields[node.id]
    if isinstance(node, ast.Name) and node.id in env:
        rest = {name: exprs for name, exprs in env.items() if name != node.id}
        return [t for expr in env[node.id] for t in templates(expr, rest, fields)]
    if isinstance(node, ast.JoinedStr):
        texts = [""]
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts = [value.value]
            elif (
                isinstance(value, ast.FormattedValue)
                and isinstance(value.value, ast.Name)
                and value.value.id in fields
                and value.conversion == -1
                and value.format_spec is None
            ):
                parts = fields[value.value.id]
            else:
                parts = [FIELD]
            texts = [text + part for text in texts for part in parts]
        return texts
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = templates(node.left, env, fields), templates(node.right, env, fields)
        return [a + b for a in left for b in right]
    if isinstance(node, ast.IfExp):
        return templates(node.body, env, fields) + templates(node.orelse, env, fields)
    return [FIELD]


def normalise(text: str) -> str:
    """One line, runs of fields as one ``{…}``, no surrounding blanks."""
    text = re.sub(r"\s+", " ", text).strip()
    while FIELD + FIELD in text:
        text = text.replace(FIELD + FIELD, FIELD)
    return text


def _literal_templates(
    node: ast.expr, env: Env | None = None, fields: Fields | None = None
) -> list[str]:
    """The templates of ``node`` that hold some literal text (pass-throughs are dropped)."""
    found = []
    for template in templates(node, env, fields):
        text = normalise(template)
        if text.replace(FIELD, "").strip(" :;,.") and text not in found:
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


@dataclass(frozen=True)
class _TextArgument:
    """Where a shown exception class takes its text: a position and/or a keyword."""

    position: int | None
    keyword: str | None


#: Parsed source files, each with its path.
Modules = tuple[tuple[Path, ast.Module], ...]


@cache
def _modules() -> Modules:
    return tuple(
        (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    )


def _parameters(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The positional parameters of ``func``, without ``self``/``cls`` of a method."""
    names = [a.arg for a in [*func.args.posonlyargs, *func.args.args]]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def _text_argument(cls: ast.ClassDef, inherited: _TextArgument) -> _TextArgument:
    """The argument of ``cls(...)`` that becomes its text: the parameter its ``__init__``
    passes to ``super().__init__``; none when ``__init__`` builds the text itself."""
    init = next(
        (f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None
    )
    if init is None:
        return inherited
    for call in (c for c in ast.walk(init) if isinstance(c, ast.Call)):
        if _name(call.func) == "__init__" and call.args:
            text = call.args[0]
            if not isinstance(text, ast.Name):
                return _TextArgument(None, None)
            positional = _parameters(init)
            keywords = [*positional, *(a.arg for a in init.args.kwonlyargs)]
            return _TextArgument(
                positional.index(text.id) if text.id in positional else None,
                text.id if text.id in keywords else None,
            )
    return inherited


def shown_classes(modules: Modules | None = None) -> dict[str, _TextArgument]:
    """:data:`SHOWN_EXCEPTIONS` and every class of izer/ derived from one, with where each
    takes its text."""
    classes = {
        node.name: node
        for _, tree in modules or _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    shown: dict[str, _TextArgument] = {}
    changed = True
    while changed:
        changed = False
        for name, cls in classes.items():
            bases = [shown[_name(b)] for b in cls.bases if _name(b) in shown]
            if name not in shown and (name in SHOWN_EXCEPTIONS or bases):
                shown[name] = _text_argument(cls, bases[0] if bases else _TextArgument(0, None))
                changed = True
    return shown


def _assignments(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Env:
    """Every ``name = value`` of ``func`` (simple targets only)."""
    env: Env = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            env.setdefault(target.id, []).append(value)
    return env


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _scoped_calls(tree: ast.Module) -> Iterator[tuple[ast.Call, Env, Function | None]]:
    """Each call of ``tree`` with the assignments and the function it is made in."""

    def visit(node: ast.AST, env: Env, func: Function | None) -> Iterator:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(child, _assignments(child), child)
                continue
            if isinstance(child, ast.Call):
                yield child, env, func
            yield from visit(child, env, func)

    yield from visit(tree, {}, None)


def _argument(call: ast.Call, position: int | None, keyword: str | None) -> ast.expr | None:
    if position is not None and position < len(call.args):
        return call.args[position]
    return next((k.value for k in call.keywords if keyword and k.arg == keyword), None)


def _pieces(text: ast.expr, env: Env) -> set[str]:
    """The names :func:`templates` can put texts in for: the whole text, a piece of ``+``, a
    branch of a conditional or a plain ``{name}`` field, also through assignments."""
    if isinstance(text, ast.Name):
        rest = {name: exprs for name, exprs in env.items() if name != text.id}
        return {text.id}.union(*(_pieces(expr, rest) for expr in env.get(text.id, [])))
    if isinstance(text, ast.JoinedStr):
        return {
            v.value.id
            for v in text.values
            if isinstance(v, ast.FormattedValue)
            and isinstance(v.value, ast.Name)
            and v.conversion == -1
            and v.format_spec is None
        }
    if isinstance(text, ast.BinOp) and isinstance(text.op, ast.Add):
        return _pieces(text.left, env) | _pieces(text.right, env)
    if isinstance(text, ast.IfExp):
        return _pieces(text.body, env) | _pieces(text.orelse, env)
    return set()


def exception_messages(modules: Modules | None = None) -> list[Message]:
    """(d) The texts of :data:`SHOWN_EXCEPTIONS` and their subclasses: the text argument of
    each ``X(...)`` and the text a class's own ``__init__`` builds (``super().__init__(TEXT)``).

    A name assigned in the same function stands for what it is assigned; a call of a function
    of the same module for what that function returns. When a function builds the exception
    from its parameters alone (``X(f"{what}: {reason}")``), its callers in the module give the
    texts: each caller's arguments are put in for those parameters.
    """
    modules = modules or _modules()
    shown = shown_classes(modules)
    found = []
    for path, tree in modules:
        functions = {
            f.name: f
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        called = {_name(c.func) for c in ast.walk(tree) if isinstance(c, ast.Call)}
        # factory name -> (its parameters, [(text, its assignments, parameters the text uses)])
        factories: dict[str, list[tuple[ast.expr, Env, set[str]]]] = {}
        for call, env, func in _scoped_calls(tree):
            where = _where(path, call)
            argument = shown.get(_name(call.func))
            text = argument and _argument(call, argument.position, argument.keyword)
            if text is None:
                continue
            plain = _literal_templates(text, env)
            helper = functions.get(_name(text.func)) if isinstance(text, ast.Call) else None
            used = set(_parameters(func)) & _pieces(text, env) if func is not None else set()
            if not plain and used and func is not None and func.name in called:
                factories.setdefault(func.name, []).append((text, env, used))
            elif helper is not None and helper.name not in shown:
                inner = _assignments(helper)
                returns = [r.value for r in ast.walk(helper) if isinstance(r, ast.Return)]
                for value in (v for v in returns if v is not None):
                    found += [Message(t, where) for t in _literal_templates(value, inner)]
            else:
                found += [Message(t, where) for t in plain]
        for call, env, _ in _scoped_calls(tree):
            factory = functions.get(_name(call.func))
            if factory is None or factory.name not in factories:
                continue
            parameters = _parameters(factory)
            for text, inner, used in factories[factory.name]:
                fields: Fields = {}
                for parameter in used:
                    given = _argument(call, parameters.index(parameter), parameter)
                    values = templates(given, env) if given is not None else [FIELD]
                    fields[parameter] = [v for v in values if v] or [FIELD]
                found += [
                    Message(t, _where(path, call)) for t in _literal_templates(text, inner, fields)
                ]
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in shown:
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


def test_templates_follow_assignments_and_fields() -> None:
    """A name stands for what is assigned to it; a field given texts takes them."""

    def parse(text: str) -> ast.expr:
        return ast.parse(text, mode="eval").body

    env = {"message": [parse('f"no {x}"'), parse("str(exc)")]}
    assert templates(parse('message + "!"'), env) == ["no {…}!", "{…}!"]
    assert templates(parse('f"{message}"'), env) == [FIELD]  # a field is a value, not a text
    fields = {"what": ["cannot write", "cannot read"]}
    assert templates(parse('f"{what}: {why}"'), fields=fields) == [
        "cannot write: {…}",
        "cannot read: {…}",
    ]


_SAMPLE = """
class Shown(Exception):
    pass

class Derived(Shown):
    def __init__(self, code, meaning, *, extra=None):
        super().__init__(meaning)

def _explain(peer):
    if peer:
        return f"{peer} refused"
    return "nobody answered"

def _wrap(what, exc):
    reason = str(exc)
    return Shown(f"{what}: {reason}")

def send(peer, exc):
    message = f"cannot send to {peer}"
    raise Derived(1, message + " (busy)")

def check(peer, exc):
    if peer:
        raise Shown(_explain(peer))
    raise _wrap(f"{peer}: cannot write", exc)

def elsewhere():
    raise Derived("not this text", "but this one")
"""


def test_exception_texts_follow_subclasses_variables_helpers_and_factories(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A subclass's own text argument, a variable, a helper's returns, a factory's callers."""
    monkeypatch.setattr(f"{__name__}.SHOWN_EXCEPTIONS", ("Shown",))
    modules = ((PACKAGE / "sample.py", ast.parse(_SAMPLE)),)
    assert shown_classes(modules) == {
        "Shown": _TextArgument(0, None),
        "Derived": _TextArgument(1, "meaning"),
    }
    assert sorted({m.template for m in exception_messages(modules)}) == [
        "but this one",
        "cannot send to {…} (busy)",
        "nobody answered",
        "{…} refused",
        "{…}: cannot write: {…}",
    ]


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
