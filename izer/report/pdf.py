"""Build the PDF procedure report (bytes out; wrapping it in DICOM is the caller's job).

Page structure
--------------
* Every page: the header block (logo, institution, title, patient and procedure fields) at
  the top, a footer ("Created ...", "izer <version>", "Page N of M") at the bottom, and above
  the footer a zone kept free for the signature block, which is drawn on the last page only.
* The stills fill the layout's grid page by page (row by row); the grid cells have the
  same size on every page.
* Findings, when given, follow the last grid (on the same page if there is room), flowing
  over as many pages as they need. Without findings the report has exactly
  ``pages_needed(len(pictures), layout)`` pages; with no stills it is one page.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from io import BytesIO

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

from izer import __version__
from izer.report import fonts
from izer.report.content import ReportContent, ReportOptions, anonymized_header
from izer.report.grid import GridStyle, PictureGrid, load_picture
from izer.report.page import ACCENT, INK, Logo, NumberedCanvas, PageDecor, PageGeometry

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


def _findings_story(findings: str) -> list[Flowable]:
    """The findings heading and paragraphs (blank lines split paragraphs, breaks kept)."""
    text = findings.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return []
    heading = ParagraphStyle(
        "izer-findings-heading",
        fontName=fonts.SANS_BOLD,
        fontSize=11,
        leading=14,
        textColor=ACCENT,
        spaceAfter=4,
        keepWithNext=1,
    )
    body = ParagraphStyle(
        "izer-findings",
        fontName=fonts.SANS,
        fontSize=9.5,
        leading=13,
        textColor=INK,
        spaceAfter=6,
    )
    story: list[Flowable] = [Paragraph(fonts.markup("Findings", bold=True), heading)]
    for block in _PARAGRAPH_BREAK.split(text):
        story.append(Paragraph(fonts.markup(block.strip("\n")), body))
    return story


def _metadata(content: ReportContent, options: ReportOptions) -> dict[str, str]:
    header = content.header
    title = content.title.strip() or "Procedure report"
    name = header.patient_name.strip()
    if name and not options.anonymized:
        title = f"{title} \u2014 {name}"
    subject = " \u2014 ".join(
        part for part in (header.procedure.strip(), header.study_date.strip()) if part
    )
    return {
        "title": fonts.clean(title),
        "author": fonts.clean(content.clinician.strip()),
        "subject": fonts.clean(subject),
        "creator": f"izer {__version__}",
    }


def build_report(content: ReportContent, options: ReportOptions = ReportOptions()) -> bytes:  # noqa: B008
    """Render the procedure report described by *content* as a PDF.

    Parameters
    ----------
    content
        Header fields, stills (JPEG or PNG bytes, drawn as they are: JPEG is embedded
        without re-encoding), findings and the clinician.
    options
        Layout, anonymized variant, logo file (None for none) and page size.

    Returns
    -------
    bytes
        The whole PDF; nothing is written anywhere.

    Raises
    ------
    ValueError
        A picture that is not a readable JPEG or PNG (naming its index and caption), or a
        logo that is not an image.
    FileNotFoundError
        The logo file or a report font is missing.
    """
    fonts.register_fonts()
    header = anonymized_header(content.header) if options.anonymized else content.header
    pictures = [load_picture(index, picture) for index, picture in enumerate(content.pictures)]
    logo = Logo.load(options.logo) if options.logo is not None else None
    geometry = PageGeometry.of(options, header)
    decor = PageDecor(
        geometry=geometry,
        header=header,
        title=content.title.strip() or "Procedure report",
        clinician=content.clinician.strip(),
        created=content.created or datetime.now().astimezone(),
        logo=logo,
    )

    buffer = BytesIO()
    document = BaseDocTemplate(
        buffer,
        pagesize=(geometry.width, geometry.height),
        leftMargin=geometry.margin,
        rightMargin=geometry.margin,
        topMargin=geometry.height - geometry.body_top,
        bottomMargin=geometry.body_bottom,
        initialFontName=fonts.SANS,
        initialFontSize=10,
        **_metadata(content, options),
    )
    frame = Frame(
        geometry.margin,
        geometry.body_bottom,
        geometry.content_width,
        geometry.body_height,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="body",
    )
    document.addPageTemplates([PageTemplate(id="report", frames=[frame], onPage=decor.draw_header)])

    layout = options.layout
    style = GridStyle.of(
        layout, geometry.content_width, geometry.body_height, [p.caption for p in pictures]
    )
    story: list[Flowable] = []
    for start in range(0, len(pictures), layout.per_page):
        if story:
            story.append(PageBreak())
        story.append(PictureGrid(pictures[start : start + layout.per_page], style))
    findings = _findings_story(content.findings)
    if findings and story:
        story.append(Spacer(1, 4 * mm))
    story.extend(findings)
    if not story:
        story.append(Spacer(1, 1))
    document.build(story, canvasmaker=partial(NumberedCanvas, decor=decor))
    return buffer.getvalue()
