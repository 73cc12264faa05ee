"""Embedded report fonts: DejaVu Sans for most scripts, Droid Sans Fallback for CJK.

Every text run is split per character: a character DejaVu Sans has is set in DejaVu, any
other in Droid Sans Fallback (when it has it), so a Japanese patient name prints with real
glyphs. reportlab embeds subsets of both TrueType fonts, which keeps names searchable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from izer.report.assets import default_assets_dir

#: Stable names under which the fonts live in reportlab's (process-global) registry.
SANS = "IzerDejaVuSans"
SANS_BOLD = "IzerDejaVuSans-Bold"
FALLBACK = "IzerDroidSansFallback"

_FILES: dict[str, str] = {
    SANS: "DejaVuSans.ttf",
    SANS_BOLD: "DejaVuSans-Bold.ttf",
    FALLBACK: "DroidSansFallbackFull.ttf",
}

ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class _Coverage:
    sans: frozenset[int]
    fallback: frozenset[int]


_lock = threading.Lock()
_coverage: _Coverage | None = None


def fonts_dir() -> Path:
    """The folder holding the report fonts (``<repo>/assets/fonts``)."""
    return default_assets_dir() / "fonts"


def register_fonts() -> None:
    """Register the report fonts with reportlab once per process (thread-safe).

    Raises
    ------
    FileNotFoundError
        When a font file is missing from `fonts_dir`.
    """
    global _coverage
    if _coverage is not None:
        return
    with _lock:
        if _coverage is not None:
            return
        folder = fonts_dir()
        faces: dict[str, TTFont] = {}
        for name, filename in _FILES.items():
            path = folder / filename
            if not path.is_file():
                raise FileNotFoundError(
                    f"report font {path} is missing: restore it from the izer repository "
                    "(assets/fonts/README.md lists the fonts)"
                )
            faces[name] = TTFont(name, str(path))
        for face in faces.values():
            pdfmetrics.registerFont(face)
        pdfmetrics.registerFontFamily(
            SANS, normal=SANS, bold=SANS_BOLD, italic=SANS, boldItalic=SANS_BOLD
        )
        pdfmetrics.registerFontFamily(
            FALLBACK, normal=FALLBACK, bold=FALLBACK, italic=FALLBACK, boldItalic=FALLBACK
        )
        _coverage = _Coverage(
            sans=frozenset(faces[SANS].face.charToGlyph),
            fallback=frozenset(faces[FALLBACK].face.charToGlyph),
        )


def _cover() -> _Coverage:
    register_fonts()
    assert _coverage is not None
    return _coverage


def clean(text: str) -> str:
    """Replace line breaks and tabs by blanks and drop other control characters."""
    out = []
    for char in text:
        if char in "\r\n\t\v\f":
            out.append(" ")
        elif ord(char) >= 32 and ord(char) != 127:
            out.append(char)
    return "".join(out)


def runs(text: str, bold: bool = False) -> list[tuple[str, str]]:
    """Split *text* into ``(font name, chunk)`` runs, each set in a font that has its glyphs.

    A character DejaVu Sans lacks goes to Droid Sans Fallback when that has it; a character
    neither has stays in DejaVu (it prints as a box).
    """
    coverage = _cover()
    primary = SANS_BOLD if bold else SANS
    result: list[tuple[str, str]] = []
    for char in text:
        code = ord(char)
        font = primary
        if code not in coverage.sans and code in coverage.fallback:
            font = FALLBACK
        if result and result[-1][0] == font:
            result[-1] = (font, result[-1][1] + char)
        else:
            result.append((font, char))
    return result


def markup(text: str, bold: bool = False) -> str:
    """Paragraph markup for *text*: escaped, CJK runs wrapped in ``<font name=...>`` spans.

    Line breaks in *text* become ``<br/>``.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    parts = []
    for line in lines:
        chunks = []
        for font, chunk in runs(clean(line), bold):
            escaped = escape(chunk)
            if font == FALLBACK:
                chunks.append(f'<font name="{FALLBACK}">{escaped}</font>')
            else:
                chunks.append(escaped)
        parts.append("".join(chunks))
    body = "<br/>".join(parts)
    return f"<b>{body}</b>" if bold else body


def width(text: str, size: float, bold: bool = False) -> float:
    """Width in points of *text* set at *size* with the per-character font choice."""
    return sum(pdfmetrics.stringWidth(chunk, font, size) for font, chunk in runs(text, bold))


def fit(text: str, size: float, max_width: float, bold: bool = False) -> str:
    """*text* (cleaned), cut and ended with an ellipsis if it is wider than *max_width*."""
    text = clean(text)
    if width(text, size, bold) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if width(text[:middle].rstrip() + ELLIPSIS, size, bold) <= max_width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS if low else ""


def draw(
    canvas: Canvas,
    x: float,
    y: float,
    text: str,
    size: float,
    bold: bool = False,
    align: str = "left",
) -> float:
    """Draw one line of *text* at baseline *y*, switching fonts per character run.

    *align* is ``"left"`` (*x* is the start), ``"right"`` (*x* is the end) or
    ``"centre"``. Returns the width drawn.
    """
    text = clean(text)
    total = width(text, size, bold)
    if align == "right":
        x -= total
    elif align == "centre":
        x -= total / 2
    elif align != "left":
        raise ValueError(f"align must be 'left', 'right' or 'centre', not {align!r}")
    text_object = canvas.beginText(x, y)
    for font, chunk in runs(text, bold):
        text_object.setFont(font, size)
        text_object.textOut(chunk)
    canvas.drawText(text_object)
    return total
