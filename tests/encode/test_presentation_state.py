"""Grayscale Softcopy Presentation State over a Secondary Capture image of the same study."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pydicom
import pytest

from izer.encode import (
    InstanceContext,
    UidFactory,
    multiframe_secondary_capture,
    secondary_capture_image,
)
from izer.encode.presentation_state import (
    GraphicAnnotation,
    GraphicType,
    Justification,
    TextAnnotation,
    presentation_state,
)
from izer.model import Patient
from tests.encode.factories import UID_ROOT, make_context
from tests.helpers.validators import dcentvfy, dciodvfy

ROWS, COLUMNS = 48, 64
GRAY = np.tile(np.arange(COLUMNS, dtype=np.uint8) * 4, (ROWS, 1))
RGB = np.stack([GRAY, GRAY[::-1], np.full_like(GRAY, 90)], axis=-1)
LATERALITY_UNKNOWN = "attribute <Laterality>"

TEXTS = (
    TextAnnotation("Polyp, 6 mm", anchor=(30.5, 20.0), box=((2, 2), (40, 10))),
    TextAnnotation("Biopsy site", box=((10, 30), (60, 40)), justification=Justification.CENTER),
    TextAnnotation("x", anchor=(0, 0), anchor_visible=False),
)
GRAPHICS = (
    GraphicAnnotation(GraphicType.POINT, [(5, 5)]),
    GraphicAnnotation(GraphicType.POLYLINE, [(1, 1), (30, 40), (63, 2)]),
    GraphicAnnotation(GraphicType.POLYLINE, [(10, 10), (20, 10), (20, 20), (10, 10)], filled=True),
    GraphicAnnotation(GraphicType.INTERPOLATED, [(5, 40), (20, 30), (40, 44)]),
    GraphicAnnotation(GraphicType.CIRCLE, [(32, 24), (40, 24)]),
    GraphicAnnotation(GraphicType.ELLIPSE, [(20, 24), (44, 24), (32, 20), (32, 28)], filled=True),
    GraphicAnnotation(GraphicType.POINT, [(COLUMNS, ROWS)]),
)


def _same_study(image_context: InstanceContext, number: int = 2) -> InstanceContext:
    """A context for a new PR series in the image's study."""
    uids = UidFactory(UID_ROOT)
    pr = make_context(number, "PR")
    return dataclasses.replace(
        pr,
        study=image_context.study,
        series=dataclasses.replace(pr.series, series_instance_uid=uids.new(), series_number=99),
    )


def _image(pixels: np.ndarray = GRAY) -> tuple[pydicom.Dataset, InstanceContext]:
    context = make_context(1, "OT")
    return secondary_capture_image(pixels, context), context


def _save(ds: pydicom.Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _check(path: Path, iod: str) -> None:
    result = dciodvfy(path)
    assert result.iod == iod, str(result)
    assert result.ok, str(result)
    # Laterality is type 2C and unknown for an SC image: dciodvfy warns about it being empty.
    assert all(LATERALITY_UNKNOWN in warning for warning in result.warnings), str(result)


def test_a_colour_image_is_refused_naming_the_colour_state() -> None:
    image, context = _image(RGB)
    with pytest.raises(ValueError, match="Color Softcopy Presentation State"):
        presentation_state(image, _same_study(context), label="Findings", texts=TEXTS)


def test_annotations_on_an_sc_image_are_valid_and_consistent(tmp_path: Path) -> None:
    image, context = _image(GRAY)
    ds = presentation_state(
        image,
        _same_study(context),
        label="Findings",
        description="Polyp and biopsy site",
        creator="Endoskop^Erika",
        texts=TEXTS,
        graphics=GRAPHICS,
    )
    image_path = _save(image, tmp_path / "image.dcm")
    pr_path = _save(ds, tmp_path / "pr.dcm")
    _check(image_path, "SCImage")
    _check(pr_path, "GrayscaleSoftcopyPresentationState")
    entities = dcentvfy([image_path, pr_path])
    assert entities.ok, str(entities)

    back = pydicom.dcmread(pr_path)
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1"
    assert (back.Modality, back.ContentLabel) == ("PR", "FINDINGS")
    assert (back.ContentDescription, back.ContentCreatorName) == (
        "Polyp and biopsy site",
        "Endoskop^Erika",
    )
    assert (back.StudyInstanceUID, back.PatientID) == (image.StudyInstanceUID, image.PatientID)
    assert back.SeriesInstanceUID != image.SeriesInstanceUID
    series = back.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == image.SeriesInstanceUID
    reference = series.ReferencedImageSequence[0]
    assert (reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID) == (
        image.SOPClassUID,
        image.SOPInstanceUID,
    )
    area = back.DisplayedAreaSelectionSequence[0]
    assert list(area.DisplayedAreaTopLeftHandCorner) == [1, 1]
    assert list(area.DisplayedAreaBottomRightHandCorner) == [COLUMNS, ROWS]
    assert area.PresentationSizeMode == "SCALE TO FIT"
    assert back.PresentationLUTShape == "IDENTITY"

    annotation = back.GraphicAnnotationSequence[0]
    assert annotation.GraphicLayer == back.GraphicLayerSequence[0].GraphicLayer
    assert annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    texts = annotation.TextObjectSequence
    assert [t.UnformattedTextValue for t in texts] == [t.text for t in TEXTS]
    assert list(texts[0].AnchorPoint) == [30.5, 20.0]
    assert texts[0].AnchorPointAnnotationUnits == "PIXEL"
    assert texts[1].BoundingBoxTextHorizontalJustification == "CENTER"
    assert "AnchorPoint" not in texts[1]
    assert texts[2].AnchorPointVisibility == "N"
    graphics = annotation.GraphicObjectSequence
    assert [g.GraphicType for g in graphics] == [g.kind.value for g in GRAPHICS]
    assert [g.NumberOfGraphicPoints for g in graphics] == [len(g.points) for g in GRAPHICS]
    assert list(graphics[1].GraphicData) == [1, 1, 30, 40, 63, 2]
    assert {g.GraphicAnnotationUnits for g in graphics} == {"PIXEL"}
    filled = [g.get("GraphicFilled") for g in graphics]
    assert filled == [None, None, "Y", None, "N", "Y", None]


def test_a_monochrome1_image_gets_an_inverse_presentation_lut(tmp_path: Path) -> None:
    image, context = _image()
    image.PhotometricInterpretation = "MONOCHROME1"
    ds = presentation_state(image, _same_study(context), label="inverted", texts=TEXTS[:1])
    path = _save(ds, tmp_path / "pr.dcm")
    _check(path, "GrayscaleSoftcopyPresentationState")
    assert pydicom.dcmread(path).PresentationLUTShape == "INVERSE"


def test_the_image_rescale_and_window_are_carried_over(tmp_path: Path) -> None:
    context = make_context(1, "OT")
    frames = np.full((3, ROWS, COLUMNS), 1000, np.uint16)
    image = multiframe_secondary_capture(frames, context, bits_stored=12, frame_time_ms=40)
    image.WindowCenter, image.WindowWidth = "1000", "400"
    ds = presentation_state(image, _same_study(context), label="window", graphics=GRAPHICS[:2])
    image_path = _save(image, tmp_path / "image.dcm")
    pr_path = _save(ds, tmp_path / "pr.dcm")
    _check(pr_path, "GrayscaleSoftcopyPresentationState")
    assert dcentvfy([image_path, pr_path]).ok
    back = pydicom.dcmread(pr_path)
    assert (back.RescaleSlope, back.RescaleIntercept, back.RescaleType) == (1, 0, "US")
    voi = back.SoftcopyVOILUTSequence[0]
    assert (voi.WindowCenter, voi.WindowWidth) == (1000, 400)


def test_a_state_without_annotations_has_no_graphic_modules(tmp_path: Path) -> None:
    image, context = _image()
    ds = presentation_state(image, _same_study(context), label="DISPLAY")
    _check(_save(ds, tmp_path / "pr.dcm"), "GrayscaleSoftcopyPresentationState")
    assert "GraphicAnnotationSequence" not in ds
    assert "GraphicLayerSequence" not in ds


# --- malformed input ------------------------------------------------------------------------


def test_an_image_of_another_study_is_refused() -> None:
    image, _ = _image()
    other = make_context(2, "PR")
    with pytest.raises(ValueError, match="must be in its image's study"):
        presentation_state(image, other, label="FINDINGS", texts=TEXTS)


def test_an_image_of_another_patient_is_refused() -> None:
    image, context = _image()
    pr = _same_study(context)
    stranger = dataclasses.replace(
        pr, study=dataclasses.replace(pr.study, patient=Patient("IZ-OTHER-9", "Other^Olga"))
    )
    with pytest.raises(ValueError, match="patient ID 'IZ-TEST-0001', not 'IZ-OTHER-9'"):
        presentation_state(image, stranger, label="FINDINGS", texts=TEXTS)


@pytest.mark.parametrize("label", ["Befund/Ärztin", "PRE-OP", "", "   ", "A" * 17])
def test_a_content_label_that_is_not_a_code_string_is_refused(label: str) -> None:
    image, context = _image()
    with pytest.raises(ValueError, match=r"ContentLabel .*: use 1 to 16 letters A-Z"):
        presentation_state(image, _same_study(context), label=label, texts=TEXTS)


@pytest.mark.parametrize(
    ("graphic", "message"),
    [
        (GraphicAnnotation(GraphicType.POINT, [(64.5, 10)]), r"point \(64.5, 10\) is outside"),
        (GraphicAnnotation(GraphicType.POLYLINE, [(1, 1), (10, -1)]), "outside the 64x48"),
        (GraphicAnnotation(GraphicType.CIRCLE, [(5, 24), (15, 24)]), "CIRCLE graphic .*outside"),
    ],
    ids=["point", "polyline", "circle"],
)
def test_a_graphic_outside_the_image_is_refused(graphic: GraphicAnnotation, message: str) -> None:
    image, context = _image()
    with pytest.raises(ValueError, match=message):
        presentation_state(image, _same_study(context), label="FINDINGS", graphics=[graphic])


def test_a_text_anchor_outside_the_image_is_refused() -> None:
    image, context = _image()
    text = TextAnnotation("far away", anchor=(10, 49))
    with pytest.raises(ValueError, match="the anchor of text 'far away': point"):
        presentation_state(image, _same_study(context), label="FINDINGS", texts=[text])


@pytest.mark.parametrize(
    ("graphics", "texts", "message"),
    [
        ([GraphicAnnotation(GraphicType.CIRCLE, [(1, 1)])], [], "takes 2 point"),
        ([GraphicAnnotation(GraphicType.ELLIPSE, [(1, 1)] * 3)], [], "takes 4 point"),
        ([GraphicAnnotation(GraphicType.POLYLINE, [(1, 1)])], [], "2 points or more"),
        ([GraphicAnnotation(GraphicType.POLYLINE, [(1, 1), (5, 5)], True)], [], "not closed"),
        ([], [TextAnnotation("floating")], "needs an anchor point or a box"),
        ([], [TextAnnotation("flipped", box=((40, 10), (2, 2)))], "first above and left"),
    ],
    ids=["circle", "ellipse", "polyline", "open-filled", "no-anchor", "flipped-box"],
)
def test_malformed_annotations_are_refused(
    graphics: list[GraphicAnnotation], texts: list[TextAnnotation], message: str
) -> None:
    image, context = _image()
    with pytest.raises(ValueError, match=message):
        presentation_state(
            image, _same_study(context), label="FINDINGS", texts=texts, graphics=graphics
        )


def test_a_presentation_state_outside_a_pr_series_is_refused() -> None:
    image, context = _image()
    wrong = dataclasses.replace(_same_study(context), series=context.series)
    with pytest.raises(ValueError, match="Modality PR, not 'OT'"):
        presentation_state(image, wrong, label="FINDINGS", texts=TEXTS)
