"""One page's grid of stills: each centred in its cell with its aspect kept, caption under it."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from PIL import Image, UnidentifiedImageError
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable, Paragraph

from izer.report import fonts
from izer.report.content import ReportPicture
from izer.report.layouts import ReportLayout

GUTTER = 3 * mm
CAPTION_GAP = 1.2 * mm
FRAME = colors.HexColor("#c9d1d9")
#: Shrinks a full grid a hair below the frame height so float rounding never overflows it.
_FUZZ = 0.01


@dataclass(frozen=True)
class LoadedPicture:
    """A still checked and opened once: its reader, pixel size and caption."""

    reader: ImageReader
    pixels_wide: int
    pixels_high: int
    caption: str
    png: bool


def load_picture(index: int, picture: ReportPicture) -> LoadedPicture:
    """Check that *picture* holds a readable JPEG or PNG and open it for drawing.

    Raises
    ------
    ValueError
        Naming the picture's index and caption, when its bytes are not a JPEG or PNG.
    """
    where = f"picture {index}" + (f" (caption {picture.caption!r})" if picture.caption else "")
    if not isinstance(picture.data, bytes | bytearray | memoryview):
        raise ValueError(f"{where}: data must be JPEG or PNG bytes, not {type(picture.data)}")
    data = bytes(picture.data)
    kind = picture.format
    if kind is None:
        raise ValueError(
            f"{where} is neither JPEG nor PNG (starts with {data[:8].hex(' ') or 'nothing'}): "
            "encode the still as JPEG or PNG before adding it to the report"
        )
    try:
        with Image.open(BytesIO(data)) as image:
            image.verify()
        reader = ImageReader(BytesIO(data))
        pixels_wide, pixels_high = reader.getSize()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{where} is a damaged {kind}: {exc}") from exc
    if pixels_wide < 1 or pixels_high < 1:
        raise ValueError(f"{where} has no pixels ({pixels_wide}x{pixels_high})")
    return LoadedPicture(reader, pixels_wide, pixels_high, picture.caption.strip(), kind == "PNG")


@dataclass(frozen=True)
class GridStyle:
    """Cell sizes and caption settings shared by every grid of one report."""

    layout: ReportLayout
    width: float
    cell_height: float
    caption_style: ParagraphStyle
    caption_lines: int

    @classmethod
    def of(
        cls, layout: ReportLayout, width: float, height: float, captions: list[str]
    ) -> GridStyle:
        """Fit *layout* in a frame *width* x *height*, reserving room for the captions."""
        size = 9.0 if layout.per_page <= 3 else 7.5
        style = ParagraphStyle(
            "izer-caption",
            fontName=fonts.SANS,
            fontSize=size,
            leading=size * 1.2,
            alignment=TA_CENTER,
            textColor=colors.HexColor("#1a1a1a"),
        )
        cell_width = width / layout.columns
        cap = 3 if layout.per_page <= 3 else 2
        needed = 0
        for caption in captions:
            if caption:
                paragraph = Paragraph(fonts.markup(caption), style)
                _, high = paragraph.wrap(cell_width - GUTTER, 10_000)
                needed = max(needed, round(high / style.leading))
        return cls(layout, width, height / layout.rows, style, min(needed, cap))

    @property
    def cell_width(self) -> float:
        """Width of one cell."""
        return self.width / self.layout.columns

    @property
    def caption_height(self) -> float:
        """Height reserved under each still for its caption (0 when no still has one)."""
        if not self.caption_lines:
            return 0.0
        return self.caption_lines * self.caption_style.leading + CAPTION_GAP

    def caption(self, text: str) -> Paragraph:
        """*text* as a caption paragraph, cut with an ellipsis to the reserved lines."""
        limit = self.caption_lines * self.caption_style.leading + 0.5
        width = self.cell_width - GUTTER
        paragraph = Paragraph(fonts.markup(text), self.caption_style)
        if paragraph.wrap(width, 10_000)[1] <= limit:
            return paragraph
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            trial = Paragraph(
                fonts.markup(text[:middle].rstrip() + fonts.ELLIPSIS), self.caption_style
            )
            if trial.wrap(width, 10_000)[1] <= limit:
                low = middle
            else:
                high = middle - 1
        return Paragraph(fonts.markup(text[:low].rstrip() + fonts.ELLIPSIS), self.caption_style)


class PictureGrid(Flowable):
    """The stills of one page, row by row; only as tall as the rows it fills."""

    def __init__(self, pictures: list[LoadedPicture], style: GridStyle) -> None:
        super().__init__()
        if not 1 <= len(pictures) <= style.layout.per_page:
            raise ValueError(f"a grid holds 1 to {style.layout.per_page} stills")
        self.pictures = pictures
        self.style = style
        self.rows = -(-len(pictures) // style.layout.columns)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        self.width = self.style.width
        self.height = self.rows * self.style.cell_height - _FUZZ
        return self.width, self.height

    def draw(self) -> None:
        style = self.style
        canvas = self.canv
        for index, picture in enumerate(self.pictures):
            row, column = divmod(index, style.layout.columns)
            cell_left = column * style.cell_width
            cell_top = self.height - row * style.cell_height
            box_width = style.cell_width - GUTTER
            box_height = style.cell_height - GUTTER - style.caption_height
            scale = min(box_width / picture.pixels_wide, box_height / picture.pixels_high)
            drawn_width = picture.pixels_wide * scale
            drawn_height = picture.pixels_high * scale
            x = cell_left + GUTTER / 2 + (box_width - drawn_width) / 2
            box_bottom = cell_top - GUTTER / 2 - box_height
            y = box_bottom + (box_height - drawn_height) / 2
            canvas.drawImage(
                picture.reader,
                x,
                y,
                drawn_width,
                drawn_height,
                mask="auto" if picture.png else None,
            )
            canvas.saveState()
            canvas.setStrokeColor(FRAME)
            canvas.setLineWidth(0.4)
            canvas.rect(x, y, drawn_width, drawn_height, stroke=1, fill=0)
            canvas.restoreState()
            if picture.caption and style.caption_lines:
                caption = style.caption(picture.caption)
                _, high = caption.wrap(box_width, style.caption_height)
                caption.drawOn(canvas, cell_left + GUTTER / 2, y - CAPTION_GAP - high)
