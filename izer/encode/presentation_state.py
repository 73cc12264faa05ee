"""Grayscale Softcopy Presentation State (PS3.3 A.33.1): text and graphics over one image.

The presentation state references one image of the same study and draws its annotations in
one graphic layer, in image pixel coordinates (units ``PIXEL``: ``(0, 0)`` is the top left
corner of the top left pixel, ``(columns, rows)`` the bottom right corner of the last one,
PS3.3 C.10.5.1.2). The image's own grayscale rendering (rescale, window) is carried over so
that a viewer shows it as before, with the annotations on top (PS3.4 N.2).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import GrayscaleSoftcopyPresentationStateStorage

from izer.encode.context import InstanceContext
from izer.encode.modules import COMMON_TYPE1, COMMON_TYPE2, dicom_date, dicom_time, new_instance
from izer.encode.selfcheck import check_instance

MODALITY = "PR"
#: The one graphic layer every annotation goes in (Graphic Layer (0070,0002) is CS).
LAYER = "ANNOTATIONS"
#: Content Label (0070,0080) is CS: upper-case letters, digits, space, underscore; 16 at most.
_CONTENT_LABEL = re.compile(r"[A-Z0-9_ ]{1,16}")
#: Unformatted Text Value (0070,0006) is ST: 1024 characters at most (PS3.5 6.2).
MAX_TEXT = 1024
_WHITE = 0xFFFF

Point = tuple[float, float]
"""``(column, row)`` = ``(x, y)`` in image pixels, sub-pixel allowed."""


class GraphicType(enum.StrEnum):
    """Graphic Type (0070,0023), PS3.3 C.10.5.1.2, with the number of points each needs."""

    POINT = "POINT"
    POLYLINE = "POLYLINE"
    INTERPOLATED = "INTERPOLATED"
    CIRCLE = "CIRCLE"
    ELLIPSE = "ELLIPSE"


class Justification(enum.StrEnum):
    """Bounding Box Text Horizontal Justification (0070,0012)."""

    LEFT = "LEFT"
    RIGHT = "RIGHT"
    CENTER = "CENTER"


@dataclass(frozen=True)
class TextAnnotation:
    """Text shown over the image, at an anchor point, in a bounding box, or both.

    Parameters
    ----------
    text
        Unformatted Text Value, at most 1024 characters.
    anchor
        The point the text refers to (drawn with a line to the text when ``anchor_visible``).
    box
        ``(top_left, bottom_right)`` of the box the text is drawn in.
    """

    text: str
    anchor: Point | None = None
    box: tuple[Point, Point] | None = None
    anchor_visible: bool = True
    justification: Justification = Justification.LEFT


@dataclass(frozen=True)
class GraphicAnnotation:
    """A point, polyline, interpolated curve, circle or ellipse over the image.

    Parameters
    ----------
    kind
        ``POINT`` takes 1 point; ``POLYLINE`` and ``INTERPOLATED`` 2 or more (closed when the
        last equals the first); ``CIRCLE`` the centre then a point on the circle; ``ELLIPSE``
        the two ends of the major axis then the two ends of the minor axis.
    filled
        Whether a closed graphic is drawn filled (Graphic Filled (0070,0024)).
    """

    kind: GraphicType
    points: Sequence[Point]
    filled: bool = False


def presentation_state(
    referenced: Dataset,
    context: InstanceContext,
    *,
    label: str,
    description: str = "",
    creator: str = "",
    texts: Sequence[TextAnnotation] = (),
    graphics: Sequence[GraphicAnnotation] = (),
) -> Dataset:
    """Grayscale Softcopy Presentation State Storage annotating one image.

    Parameters
    ----------
    referenced
        The image annotated (a dataset with its Patient, Study, Series and Image Pixel
        attributes); must belong to ``context.study``.
    context
        The series must have Modality ``PR`` (Presentation Series module, PS3.3 C.11.9).
    label
        Content Label (0070,0080), e.g. ``"MEASUREMENTS"``: upper-cased, then only letters,
        digits, space and underscore, at most 16 characters.
    description, creator
        Content Description (0070,0081) and Content Creator's Name (0070,0084), PN.
    texts, graphics
        The annotations, in image pixel coordinates.

    Raises
    ------
    ValueError
        When the image is of another patient or study, the label is not a valid code
        string, or an annotation is malformed or outside the image.
    """
    rows, columns = _image_size(referenced)
    _check_same_study(referenced, context)
    if context.series.modality != MODALITY:
        raise ValueError(
            f"a presentation state goes in a series with Modality {MODALITY}, not "
            f"{context.series.modality!r}; make a new series for it"
        )
    content_label = normalize_label(label)
    text_items = [_text_object(text, rows, columns) for text in texts]
    graphic_items = [_graphic_object(graphic, rows, columns) for graphic in graphics]

    ds = new_instance(GrayscaleSoftcopyPresentationStateStorage, context)
    # The IOD has no Content Date/Time: Presentation Creation Date/Time say when (C.11.10).
    del ds.ContentDate, ds.ContentTime
    # General Series Laterality is type 2C: the image's side, empty when it does not say.
    ds.Laterality = referenced.get("Laterality", "")
    ds.ContentLabel = content_label
    ds.ContentDescription = description
    ds.ContentCreatorName = creator
    ds.PresentationCreationDate = dicom_date(context.content_time)
    ds.PresentationCreationTime = dicom_time(context.content_time)
    series_item = Dataset()
    series_item.SeriesInstanceUID = referenced.SeriesInstanceUID
    series_item.ReferencedImageSequence = [_image_reference(referenced)]
    ds.ReferencedSeriesSequence = [series_item]
    ds.DisplayedAreaSelectionSequence = [_displayed_area(referenced, rows, columns)]
    if text_items or graphic_items:
        _annotations(ds, referenced, text_items, graphic_items)
    _grayscale_pipeline(ds, referenced)
    check_instance(
        ds,
        iod="Grayscale Softcopy Presentation State",
        type1=(
            *COMMON_TYPE1,
            "InstanceNumber",
            "ContentLabel",
            "PresentationCreationDate",
            "PresentationCreationTime",
            "ReferencedSeriesSequence",
            "DisplayedAreaSelectionSequence",
            "PresentationLUTShape",
        ),
        type2=(*COMMON_TYPE2, "ContentDescription", "ContentCreatorName"),
    )
    return ds


def normalize_label(label: str) -> str:
    """Content Label as a code string: stripped and upper-cased, then checked (PS3.5 6.2).

    Raises
    ------
    ValueError
        For an empty label, one longer than 16 characters or with other characters than
        letters A-Z, digits, space and underscore.
    """
    value = label.strip().upper()
    if not _CONTENT_LABEL.fullmatch(value):
        raise ValueError(
            f"ContentLabel {label!r}: use 1 to 16 letters A-Z, digits, spaces or underscores "
            "(a DICOM code string), e.g. 'MEASUREMENTS'"
        )
    return value


def _annotations(
    ds: Dataset, referenced: Dataset, text_items: list[Dataset], graphic_items: list[Dataset]
) -> None:
    """Graphic Annotation (PS3.3 C.10.5) and Graphic Layer (C.10.7) modules: one layer."""
    annotation = Dataset()
    annotation.GraphicLayer = LAYER
    annotation.ReferencedImageSequence = [_image_reference(referenced)]
    if text_items:
        annotation.TextObjectSequence = text_items
    if graphic_items:
        annotation.GraphicObjectSequence = graphic_items
    ds.GraphicAnnotationSequence = [annotation]
    layer = Dataset()
    layer.GraphicLayer = LAYER
    layer.GraphicLayerOrder = 1
    layer.GraphicLayerRecommendedDisplayGrayscaleValue = _WHITE
    layer.GraphicLayerDescription = "Annotations"
    ds.GraphicLayerSequence = [layer]


def _image_size(referenced: Dataset) -> tuple[int, int]:
    for keyword in (
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Rows",
        "Columns",
        "PhotometricInterpretation",
    ):
        if not referenced.get(keyword):
            raise ValueError(
                f"the referenced image has no {keyword}; a presentation state needs a "
                "complete image instance"
            )
    photometric = str(referenced.PhotometricInterpretation)
    if not photometric.startswith("MONOCHROME"):
        raise ValueError(
            f"a Grayscale Softcopy Presentation State applies to grayscale images only "
            f"(PS3.4 N.2); the referenced image is {photometric}. Colour images need a Color "
            "Softcopy Presentation State, which izer does not write yet"
        )
    return int(referenced.Rows), int(referenced.Columns)


def _check_same_study(referenced: Dataset, context: InstanceContext) -> None:
    study = context.study
    if referenced.StudyInstanceUID != study.study_instance_uid:
        raise ValueError(
            f"the referenced image belongs to study {referenced.StudyInstanceUID}, not to "
            f"{study.study_instance_uid}; a presentation state must be in its image's study"
        )
    if referenced.get("PatientID", "") != study.patient.patient_id:
        raise ValueError(
            f"the referenced image is of patient ID {referenced.get('PatientID', '')!r}, not "
            f"{study.patient.patient_id!r}; annotate an image of this patient"
        )


def _image_reference(referenced: Dataset) -> Dataset:
    """Image SOP Instance Reference macro (PS3.3 10.3)."""
    item = Dataset()
    item.ReferencedSOPClassUID = referenced.SOPClassUID
    item.ReferencedSOPInstanceUID = referenced.SOPInstanceUID
    return item


def _displayed_area(referenced: Dataset, rows: int, columns: int) -> Dataset:
    """The whole image, scaled to fit (Displayed Area module, PS3.3 C.10.4)."""
    area = Dataset()
    area.DisplayedAreaTopLeftHandCorner = [1, 1]
    area.DisplayedAreaBottomRightHandCorner = [columns, rows]
    area.PresentationSizeMode = "SCALE TO FIT"
    if "PixelSpacing" in referenced:
        area.PresentationPixelSpacing = list(referenced.PixelSpacing)
    elif "PixelAspectRatio" in referenced:
        area.PresentationPixelAspectRatio = list(referenced.PixelAspectRatio)
    else:
        area.PresentationPixelAspectRatio = [1, 1]
    return area


def _grayscale_pipeline(ds: Dataset, referenced: Dataset) -> None:
    """Modality LUT, Softcopy VOI LUT and Presentation LUT as the image itself asks.

    Rescale and window values are copied from the image (PS3.3 C.11.1, C.11.8); the
    Presentation LUT Shape is INVERSE for MONOCHROME1, IDENTITY otherwise (C.11.6).
    """
    photometric = str(referenced.PhotometricInterpretation)
    grayscale = photometric.startswith("MONOCHROME")
    if grayscale and "RescaleSlope" in referenced and "RescaleIntercept" in referenced:
        ds.RescaleIntercept = referenced.RescaleIntercept
        ds.RescaleSlope = referenced.RescaleSlope
        ds.RescaleType = referenced.get("RescaleType") or "US"
    if grayscale and "WindowCenter" in referenced and "WindowWidth" in referenced:
        voi = Dataset()
        voi.WindowCenter = referenced.WindowCenter
        voi.WindowWidth = referenced.WindowWidth
        ds.SoftcopyVOILUTSequence = [voi]
    ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"


def _text_object(text: TextAnnotation, rows: int, columns: int) -> Dataset:
    """Text Object Sequence item (PS3.3 C.10.5.1.1)."""
    if not text.text.strip():
        raise ValueError("a text annotation needs some text")
    if len(text.text) > MAX_TEXT:
        raise ValueError(f"a text annotation has at most {MAX_TEXT} characters")
    if text.anchor is None and text.box is None:
        raise ValueError(f"text annotation {text.text!r} needs an anchor point or a box")
    item = Dataset()
    if text.box is not None:
        top_left, bottom_right = text.box
        for point in (top_left, bottom_right):
            _check_inside(point, rows, columns, f"the box of text {text.text!r}")
        if not (top_left[0] < bottom_right[0] and top_left[1] < bottom_right[1]):
            raise ValueError(
                f"the box of text {text.text!r}: give (top_left, bottom_right), with the "
                f"first above and left of the second; got {text.box}"
            )
        item.BoundingBoxAnnotationUnits = "PIXEL"
        item.BoundingBoxTopLeftHandCorner = [float(v) for v in top_left]
        item.BoundingBoxBottomRightHandCorner = [float(v) for v in bottom_right]
        item.BoundingBoxTextHorizontalJustification = Justification(text.justification).value
    if text.anchor is not None:
        _check_inside(text.anchor, rows, columns, f"the anchor of text {text.text!r}")
        item.AnchorPointAnnotationUnits = "PIXEL"
        item.AnchorPoint = [float(v) for v in text.anchor]
        item.AnchorPointVisibility = "Y" if text.anchor_visible else "N"
    item.UnformattedTextValue = text.text
    return item


def _graphic_object(graphic: GraphicAnnotation, rows: int, columns: int) -> Dataset:
    """Graphic Object Sequence item (PS3.3 C.10.5.1.2)."""
    kind = GraphicType(graphic.kind)
    points = [(float(x), float(y)) for x, y in graphic.points]
    name = f"the {kind.value} graphic"
    expected = {GraphicType.POINT: 1, GraphicType.CIRCLE: 2, GraphicType.ELLIPSE: 4}
    if kind in expected and len(points) != expected[kind]:
        raise ValueError(f"{name} takes {expected[kind]} point(s), got {len(points)}")
    if kind in (GraphicType.POLYLINE, GraphicType.INTERPOLATED) and len(points) < 2:
        raise ValueError(f"{name} takes 2 points or more, got {len(points)}")
    for point in points:
        _check_inside(point, rows, columns, name)
    if kind is GraphicType.CIRCLE:
        (cx, cy), (px, py) = points
        radius = math.hypot(px - cx, py - cy)
        if radius == 0:
            raise ValueError(f"{name}: the point on the circle is its centre")
        for corner in ((cx - radius, cy - radius), (cx + radius, cy + radius)):
            _check_inside(corner, rows, columns, f"{name} (centre {cx:g}, {cy:g})")
    closed = kind in (GraphicType.CIRCLE, GraphicType.ELLIPSE) or (
        kind is not GraphicType.POINT and len(points) > 2 and points[0] == points[-1]
    )
    if graphic.filled and not closed:
        raise ValueError(f"{name} is not closed and cannot be filled")
    item = Dataset()
    item.GraphicAnnotationUnits = "PIXEL"
    item.GraphicDimensions = 2
    item.NumberOfGraphicPoints = len(points)
    item.GraphicData = [v for point in points for v in point]
    item.GraphicType = kind.value
    if closed:
        item.GraphicFilled = "Y" if graphic.filled else "N"
    return item


def _check_inside(point: Point, rows: int, columns: int, what: str) -> None:
    x, y = point
    if not (0 <= x <= columns and 0 <= y <= rows):
        raise ValueError(
            f"{what}: point ({x:g}, {y:g}) is outside the {columns}x{rows} image; "
            f"use (column, row) with 0 <= column <= {columns} and 0 <= row <= {rows}"
        )
