"""Pages opened from disk in headless Chromium (Debian ``chromium``), their DOM after the
scripts ran, read back with the standard library's HTML parser."""

from __future__ import annotations

import dataclasses
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from tests.helpers.binaries import require_binaries

CHROMIUM = Path("/usr/bin/chromium")


@dataclasses.dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def words(self) -> str:
        """The text with runs of white space as one space, as a reader sees it."""
        return " ".join(self.text.split())


class Dom(HTMLParser):
    """Every element of a page with its attributes and its text (descendants included)."""

    VOID = frozenset({"img", "meta", "br", "link", "input", "source", "hr"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find(self, tag: str, css_class: str = "") -> list[Element]:
        return [
            e for e in self.elements if e.tag == tag and (not css_class or css_class in e.classes)
        ]


def chromium_dom(page: Path, profile: Path) -> Dom:
    """The DOM of ``page`` opened from disk in headless Chromium, after its scripts ran."""
    binaries = require_binaries(CHROMIUM)
    done = subprocess.run(
        [
            str(binaries["chromium"]),
            *("--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"),
            *("--virtual-time-budget=8000", f"--user-data-dir={profile}", "--dump-dom"),
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "<html" in done.stdout, done.stderr[-2000:]
    return Dom(done.stdout)


def chromium_url_dom(url: str, profile: Path, *, budget_ms: int = 8000) -> Dom:
    """The DOM of the page at ``url`` (e.g. ``http://127.0.0.1:PORT/...``) in headless
    Chromium, after its scripts ran for ``budget_ms`` of virtual time."""
    binaries = require_binaries(CHROMIUM)
    done = subprocess.run(
        [
            str(binaries["chromium"]),
            *("--headless", "--no-sandbox", "--disable-gpu", "--no-proxy-server"),
            *("--no-first-run", "--disable-background-networking"),
            *(f"--virtual-time-budget={budget_ms}", f"--user-data-dir={profile}", "--dump-dom"),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "<html" in done.stdout, done.stderr[-2000:]
    return Dom(done.stdout)
