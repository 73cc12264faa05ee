"""The fixed parts of every report page: header block, footer, and the last page's signature.

The header is drawn when a page begins; the footer ("Page N of M") and the signature block
need the page count, so `NumberedCanvas` keeps every page until the document is saved and
draws them then (the two-pass "NumberedCanvas" pattern of the reportlab cookbook).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from izer import __version__
from izer.report import fonts
from izer.report.content import ReportHeader, ReportOptions

INK = colors.HexColor("#1a1a1a")
MUTED = colors.HexColor("#5f6670")
ACCENT = colors.HexColor("#1f5f8b")
RULE = colors.HexColor("#b8c2cc")

LOGO_HEIGHT = 14 * mm
LOGO_MAX_WIDTH = 50 * mm
TITLE_SIZE = 14.0
INSTITUTION_SIZE = 10.5
ADDRESS_SIZE = 8.0
LABEL_SIZE = 6.5
VALUE_SIZE = 9.5
FIELD_ROW = 22.0
FOOTER_SIZE = 7.5
FOOTER_HEIGHT = 14.0
SIGNATURE_HEIGHT = 30.0
GAP = 4 * mm


@dataclass(frozen=True)
class Logo:
    """The institution logo, read once, drawn at a fixed height with its aspect kept."""

    reader: ImageReader
    width: float
    height: float

    @classmethod
    def load(cls, path: Path) -> Logo:
        """Read the logo at *path*.

        Raises
        ------
        FileNotFoundError
            When *path* does not exist.
        ValueError
            When it is not an image Pillow can read.
        """
        if not path.is_file():
            raise FileNotFoundError(
                f"report logo {path} not found: set the institution logo in settings "
                "or pass logo=None for a report without logo"
            )
        data = path.read_bytes()
        try:
            with Image.open(BytesIO(data)) as image:
                image.verify()
            reader = ImageReader(BytesIO(data))
            pixels_wide, pixels_high = reader.getSize()
        except (OSError, UnidentifiedImageError, SyntaxError) as exc:
            raise ValueError(f"report logo {path} is not a readable PNG or JPEG: {exc}") from exc
        height = LOGO_HEIGHT
        width = height * pixels_wide / pixels_high
        if width > LOGO_MAX_WIDTH:
            width = LOGO_MAX_WIDTH
            height = width * pixels_high / pixels_wide
        return cls(reader, width, height)


@dataclass(frozen=True)
class PageGeometry:
    """Page size, margins and the heights of the fixed zones, the same on every page."""

    width: float
    height: float
    margin: float
    header_height: float
    field_columns: int

    @classmethod
    def of(cls, options: ReportOptions, header: ReportHeader) -> PageGeometry:
        """The geometry for *options* (page size, orientation) and *header* (its fields)."""
        size = {"A4": A4, "LETTER": LETTER}[options.page_size]
        landscape_layout = options.layout.landscape
        width, height = landscape(size) if landscape_layout else size
        columns = 5 if landscape_layout else 3
        rows = -(-len(header.fields()) // columns)
        band = max(LOGO_HEIGHT, 2 * TITLE_SIZE)
        header_height = band + 3 * mm + rows * FIELD_ROW + (2 * mm if rows else 0) + GAP
        margin = (12 if landscape_layout else 14) * mm
        return cls(width, height, margin, header_height, columns)

    @property
    def content_width(self) -> float:
        """Width between the side margins."""
        return self.width - 2 * self.margin

    @property
    def body_top(self) -> float:
        """Top of the frame that holds the stills and findings."""
        return self.height - self.margin - self.header_height

    @property
    def body_bottom(self) -> float:
        """Bottom of that frame, above the signature zone and the footer."""
        return self.margin + FOOTER_HEIGHT + SIGNATURE_HEIGHT + 3 * mm

    @property
    def body_height(self) -> float:
        """Height of the body frame."""
        return self.body_top - self.body_bottom


@dataclass(frozen=True)
class PageDecor:
    """What the fixed zones print, shared by every page of one report."""

    geometry: PageGeometry
    header: ReportHeader
    title: str
    clinician: str
    created: datetime
    logo: Logo | None

    def draw_header(self, canvas: Canvas, _doc: Any = None) -> None:
        """Draw the header block: logo, institution, title, then the patient fields."""
        g = self.geometry
        left, right, top = g.margin, g.width - g.margin, g.height - g.margin
        canvas.saveState()
        text_left = left
        if self.logo is not None:
            canvas.drawImage(
                self.logo.reader,
                left,
                top - self.logo.height,
                self.logo.width,
                self.logo.height,
                mask="auto",
            )
            text_left = left + self.logo.width + 4 * mm
        title_width = min(fonts.width(self.title, TITLE_SIZE, bold=True), g.content_width / 2)
        canvas.setFillColor(ACCENT)
        title = fonts.fit(self.title, TITLE_SIZE, title_width + 1, bold=True)
        fonts.draw(canvas, right, top - TITLE_SIZE, title, TITLE_SIZE, bold=True, align="right")
        room = right - title_width - 6 * mm - text_left
        canvas.setFillColor(INK)
        baseline = top - INSTITUTION_SIZE
        institution = fonts.clean(self.header.institution).strip()
        if institution:
            size = INSTITUTION_SIZE
            while size > 8.5 and fonts.width(institution, size, bold=True) > room:
                size -= 0.5
            line = fonts.fit(institution, size, room, bold=True)
            fonts.draw(canvas, text_left, baseline, line, size, bold=True)
            baseline -= INSTITUTION_SIZE + 2
        canvas.setFillColor(MUTED)
        address_lines = [p for p in self.header.institution_address.splitlines() if p.strip()]
        for line in address_lines[:2]:
            fonts.draw(
                canvas, text_left, baseline, fonts.fit(line, ADDRESS_SIZE, room), ADDRESS_SIZE
            )
            baseline -= ADDRESS_SIZE + 2
        band = max(LOGO_HEIGHT, 2 * TITLE_SIZE)
        rule_y = top - band - 1.5 * mm
        canvas.setStrokeColor(ACCENT)
        canvas.setLineWidth(1.2)
        canvas.line(left, rule_y, right, rule_y)
        self._draw_fields(canvas, rule_y - 1.5 * mm)
        canvas.restoreState()

    def _draw_fields(self, canvas: Canvas, top: float) -> None:
        g = self.geometry
        fields = self.header.fields()
        if not fields:
            return
        column_width = g.content_width / g.field_columns
        for index, (label, value) in enumerate(fields):
            row, column = divmod(index, g.field_columns)
            x = g.margin + column * column_width
            y = top - row * FIELD_ROW
            canvas.setFillColor(MUTED)
            fonts.draw(canvas, x, y - LABEL_SIZE, label.upper(), LABEL_SIZE)
            canvas.setFillColor(INK)
            bold = label == "Patient"
            shown = fonts.fit(value, VALUE_SIZE, column_width - 3 * mm, bold=bold)
            fonts.draw(canvas, x, y - LABEL_SIZE - VALUE_SIZE - 2, shown, VALUE_SIZE, bold=bold)
        rows = -(-len(fields) // g.field_columns)
        rule_y = top - rows * FIELD_ROW - 1 * mm
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(g.margin, rule_y, g.width - g.margin, rule_y)

    def draw_footer(self, canvas: Canvas, page: int, pages: int) -> None:
        """Draw the footer: creation date and time, izer version, "Page N of M"."""
        g = self.geometry
        left, right, bottom = g.margin, g.width - g.margin, g.margin
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(left, bottom + FOOTER_HEIGHT - 4, right, bottom + FOOTER_HEIGHT - 4)
        canvas.setFillColor(MUTED)
        created = f"Created {self.created:%Y-%m-%d %H:%M}"
        fonts.draw(canvas, left, bottom, created, FOOTER_SIZE)
        fonts.draw(canvas, g.width / 2, bottom, f"izer {__version__}", FOOTER_SIZE, align="centre")
        fonts.draw(canvas, right, bottom, f"Page {page} of {pages}", FOOTER_SIZE, align="right")
        canvas.restoreState()

    def draw_signature(self, canvas: Canvas) -> None:
        """Draw the clinician's name, the signature line and the date (last page only).

        One row at the bottom of the zone kept free above the footer; the space above the
        signature line is left for the handwritten signature.
        """
        g = self.geometry
        left, right = g.margin, g.width - g.margin
        baseline = g.margin + FOOTER_HEIGHT + 2 * mm + 4
        canvas.saveState()
        canvas.setFillColor(MUTED)
        label = "Clinician:"
        fonts.draw(canvas, left, baseline, label, 9)
        name_left = left + fonts.width(label, 9) + 1.5 * mm
        signature_left = left + 0.45 * g.content_width
        canvas.setFillColor(INK)
        name = fonts.fit(self.clinician, 10, signature_left - 6 * mm - name_left, bold=True)
        fonts.draw(canvas, name_left, baseline, name, 10, bold=True)
        date = f"Date: {self.created:%Y-%m-%d}"
        fonts.draw(canvas, right, baseline, date, 9, align="right")
        label = "Signature:"
        fonts.draw(canvas, signature_left, baseline, label, 9)
        line_start = signature_left + fonts.width(label, 9) + 2 * mm
        line_end = right - fonts.width(date, 9) - 6 * mm
        canvas.setStrokeColor(INK)
        canvas.setLineWidth(0.6)
        canvas.line(line_start, baseline - 1, line_end, baseline - 1)
        canvas.restoreState()


class NumberedCanvas(Canvas):
    """A canvas that holds its pages back and, on save, adds footers and the signature.

    Parameters
    ----------
    decor
        The report's fixed zones; passed with ``functools.partial`` as canvasmaker.
    """

    def __init__(self, *args: Any, decor: PageDecor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decor = decor
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._decor.draw_footer(self, number, total)
            if number == total:
                self._decor.draw_signature(self)
            super().showPage()
        super().save()
