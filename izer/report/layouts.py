"""Page layouts of the PDF procedure report: how many stills per page, in which grid."""

from __future__ import annotations

import enum
import math
import re

#: (columns, rows, landscape) of each layout, by its value.
_GRIDS: dict[str, tuple[int, int, bool]] = {
    "portrait-1": (1, 1, False),
    "portrait-2": (1, 2, False),
    "portrait-3": (1, 3, False),
    "portrait-6": (2, 3, False),
    "portrait-8": (2, 4, False),
    "landscape-1": (1, 1, True),
    "landscape-4": (2, 2, True),
    "landscape-9": (3, 3, True),
}

_ALIAS = re.compile(r"^(?:(?P<orientation>portrait|landscape|p|l)[-_ ]?)?(?P<count>\d+)$")


class ReportLayout(enum.StrEnum):
    """Stills per page and page orientation; the value is the CLI/settings name."""

    PORTRAIT_1 = "portrait-1"
    PORTRAIT_2 = "portrait-2"
    PORTRAIT_3 = "portrait-3"
    PORTRAIT_6 = "portrait-6"
    PORTRAIT_8 = "portrait-8"
    LANDSCAPE_1 = "landscape-1"
    LANDSCAPE_4 = "landscape-4"
    LANDSCAPE_9 = "landscape-9"

    @property
    def columns(self) -> int:
        """Stills side by side in one row."""
        return _GRIDS[self.value][0]

    @property
    def rows(self) -> int:
        """Rows of stills on one page."""
        return _GRIDS[self.value][1]

    @property
    def per_page(self) -> int:
        """Stills on a full page (``columns * rows``)."""
        return self.columns * self.rows

    @property
    def landscape(self) -> bool:
        """True when the page is turned to landscape."""
        return _GRIDS[self.value][2]

    @classmethod
    def parse(cls, text: str) -> ReportLayout:
        """Read a layout name as typed by a user or stored in settings.

        Accepts the value (``"portrait-6"``), the member name (``"PORTRAIT_6"``), a bare
        count (``"6"``, portrait unless only landscape offers it) and short forms such as
        ``"p6"``, ``"l4"`` or ``"landscape-4"`` (case and surrounding blanks ignored).

        Raises
        ------
        ValueError
            When *text* names no layout; the message lists the valid names.
        """
        cleaned = str(text).strip().lower()
        match = _ALIAS.match(cleaned.replace("_", "-"))
        if match:
            orientation = match.group("orientation") or ""
            count = int(match.group("count"))
            wanted = {"p": "portrait", "l": "landscape"}.get(orientation, orientation)
            for member in cls:
                if member.per_page != count:
                    continue
                side = "landscape" if member.landscape else "portrait"
                if wanted in ("", side):
                    return member
        raise ValueError(
            f"unknown report layout {text!r}: use one of "
            f"{', '.join(member.value for member in cls)} "
            "(or a short form such as '6', 'p8', 'l4')"
        )


def pages_needed(images: int, layout: ReportLayout) -> int:
    """Pages a report of *images* stills takes in *layout* when it has no findings text.

    Raises
    ------
    ValueError
        When *images* is negative.
    """
    if images < 0:
        raise ValueError(f"the number of images cannot be negative (got {images})")
    return max(1, math.ceil(images / layout.per_page))
