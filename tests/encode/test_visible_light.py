"""VL Endoscopic, Microscopic and Photographic images: valid per dciodvfy, pixels intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from izer.capture import SyntheticSource
from izer.encode import TransferSyntax
from izer.encode.codes import (
    AnatomicRegion,
    Code,
    Laterality,
    Pairing,
    anatomic_region,
    pairing,
)
from izer.encode.visible_light import VLKind, vl_image
from tests.encode.factories import (
    DCIODVFY_BLIND,
    assert_round_trip,
    assert_valid_instance,
    is_lossy,
    make_context,
    smooth_image,
)
from tests.helpers.validators import dciodvfy

#: What dciodvfy calls each IOD, and a region (with its side when paired) for each.
CASES = {
    VLKind.ENDOSCOPIC: ("VLEndoscopicImage", AnatomicRegion.COLON, None),
    VLKind.MICROSCOPIC: ("VLMicroscopicImage", AnatomicRegion.SKIN, Laterality.LEFT),
    VLKind.PHOTOGRAPHIC: ("VLPhotographicImage", AnatomicRegion.EYE, Laterality.RIGHT),
}

#: Unpaired regions the 2022 dciodvfy does not list as unpaired: it asks for a Laterality that
#: PS3.3 C.7.3.1 says to leave out, so it reports one (wrong) error for them.
DCIODVFY_UNKNOWN_UNPAIRED = {
    AnatomicRegion.ANUS,
    AnatomicRegion.COMMON_BILE_DUCT,
    AnatomicRegion.ORAL_CAVITY,
}


def _source(colour: bool, lossy: bool) -> np.ndarray:
    """The synthetic bars for lossless syntaxes, a smooth photograph-like image for lossy."""
    if lossy:
        return smooth_image(240, 320, colour=colour)
    frame = SyntheticSource(320, 240).frame(7)
    return frame if colour else np.ascontiguousarray(frame[..., 1])


@pytest.mark.parametrize("colour", [True, False], ids=["rgb", "gray"])
@pytest.mark.parametrize("syntax", list(TransferSyntax), ids=lambda s: s.name.lower())
@pytest.mark.parametrize("kind", list(VLKind), ids=lambda k: k.name.lower())
def test_every_syntax_gives_a_valid_instance_with_its_pixels(
    tmp_path: Path, kind: VLKind, syntax: TransferSyntax, colour: bool
) -> None:
    iod, region, side = CASES[kind]
    lossy = is_lossy(syntax)
    pixels = _source(colour, lossy)
    ds = vl_image(
        pixels,
        make_context(1, kind.modality),
        kind=kind,
        transfer_syntax=syntax,
        anatomic_region=region,
        laterality=side,
    )
    path = tmp_path / "vl.dcm"
    ds.save_as(path, enforce_file_format=True)

    assert ds.SOPClassUID == kind.sop_class_uid
    assert ds.LossyImageCompression == ("01" if lossy else "00")
    if syntax not in DCIODVFY_BLIND:
        assert_valid_instance(path, iod)
    assert_round_trip(path, pixels[np.newaxis], syntax, peak=255)


def test_defaults_are_jpeg_baseline_at_quality_95_with_the_vl_modules() -> None:
    ds = vl_image(SyntheticSource(320, 240).frame(0), make_context(1, "ES"), kind=VLKind.ENDOSCOPIC)
    assert ds.file_meta.TransferSyntaxUID == TransferSyntax.JPEG_BASELINE
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY"]
    assert ds.AcquisitionContextSequence == []
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PlanarConfiguration) == (8, 8, 7, 0)
    assert "AnatomicRegionSequence" not in ds
    assert ds.Modality == "ES"


def test_anatomic_region_is_one_coded_item_and_unpaired_regions_have_no_laterality() -> None:
    ds = vl_image(
        SyntheticSource(320, 240).frame(0),
        make_context(1, "ES"),
        kind=VLKind.ENDOSCOPIC,
        anatomic_region=anatomic_region("esophagus"),
    )
    (item,) = ds.AnatomicRegionSequence
    assert (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) == (
        "32849002",
        "SCT",
        "Esophagus",
    )
    assert "Laterality" not in ds


def test_a_paired_region_carries_the_given_side() -> None:
    ds = vl_image(
        SyntheticSource(320, 240).frame(0),
        make_context(1, "ES"),
        kind=VLKind.ENDOSCOPIC,
        anatomic_region=AnatomicRegion.KNEE,
        laterality=Laterality.LEFT,
    )
    assert ds.Laterality == "L"
    assert ds.AnatomicRegionSequence[0].CodeValue == "72696002"


def test_without_a_region_laterality_is_empty_as_unknown_and_only_warned_about(
    tmp_path: Path,
) -> None:
    ds = vl_image(
        SyntheticSource(320, 240).frame(0), make_context(1, "XC"), kind=VLKind.PHOTOGRAPHIC
    )
    assert ds.Laterality == ""
    path = tmp_path / "xc.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = dciodvfy(path)
    assert result.errors == [], str(result)


def test_a_code_outside_the_catalogue_is_written_as_given() -> None:
    region = Code("181469002", "SCT", "Entire skin")
    ds = vl_image(
        SyntheticSource(320, 240).frame(0),
        make_context(1, "XC"),
        kind=VLKind.PHOTOGRAPHIC,
        anatomic_region=region,
        image_type=("DERIVED", "SECONDARY", "STITCHED"),
    )
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Entire skin"
    assert ds.Laterality == ""
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "STITCHED"]


def test_16_bit_pixels_are_refused_with_a_pointer_to_secondary_capture() -> None:
    pixels = np.zeros((240, 320), dtype=np.uint16)
    with pytest.raises(ValueError, match=r"8-bit samples only.*secondary_capture_image"):
        vl_image(pixels, make_context(1, "GM"), kind=VLKind.MICROSCOPIC)


@pytest.mark.parametrize(
    ("kind", "series_modality"),
    [(VLKind.ENDOSCOPIC, "XC"), (VLKind.MICROSCOPIC, "ES"), (VLKind.PHOTOGRAPHIC, "OT")],
)
def test_the_series_modality_must_match_the_kind(kind: VLKind, series_modality: str) -> None:
    with pytest.raises(ValueError, match=rf"Modality {kind.modality}.*{series_modality}"):
        vl_image(SyntheticSource(320, 240).frame(0), make_context(1, series_modality), kind=kind)


def test_laterality_of_an_unpaired_region_is_refused() -> None:
    with pytest.raises(ValueError, match="Stomach is not a paired structure"):
        vl_image(
            SyntheticSource(320, 240).frame(0),
            make_context(1, "ES"),
            kind=VLKind.ENDOSCOPIC,
            anatomic_region=AnatomicRegion.STOMACH,
            laterality=Laterality.RIGHT,
        )


@pytest.mark.parametrize(
    ("image_type", "message"),
    [
        (("ORIGINAL",), "at least two values"),
        (("COPY", "PRIMARY"), "value 1 must be ORIGINAL or DERIVED"),
        (("ORIGINAL", "OTHER"), "value 2 must be PRIMARY or SECONDARY"),
    ],
)
def test_a_wrong_image_type_is_refused(image_type: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vl_image(
            SyntheticSource(320, 240).frame(0),
            make_context(1, "ES"),
            kind=VLKind.ENDOSCOPIC,
            image_type=image_type,
        )


@pytest.mark.parametrize("shape", [(2, 240, 320, 3), (240, 320, 4), (240,)])
def test_anything_but_one_frame_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="one frame shaped"):
        vl_image(np.zeros(shape, np.uint8), make_context(1, "ES"), kind=VLKind.ENDOSCOPIC)


def test_an_unknown_region_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown anatomic region 'spleen'.*esophagus.*colon"):
        anatomic_region("spleen")


@pytest.mark.parametrize(
    ("name", "value", "meaning"),
    [
        ("urinary bladder", "89837001", "Urinary bladder"),
        ("Oral-Cavity", "74262004", "Oral cavity"),
        ("KNEE", "72696002", "Knee"),
    ],
)
def test_region_names_are_forgiving_about_case_spaces_and_dashes(
    name: str, value: str, meaning: str
) -> None:
    assert anatomic_region(name) == Code(value, "SCT", meaning)


def test_every_catalogued_region_is_a_distinct_snomed_code() -> None:
    codes = [member.code for member in AnatomicRegion.__members__.values()]
    assert all(code.scheme == "SCT" and code.value.isdigit() for code in codes)
    assert len({code.value for code in codes}) == len(codes)


@pytest.mark.parametrize("region", list(AnatomicRegion), ids=lambda r: r.name.lower())
def test_every_catalogued_region_gets_the_laterality_its_pairing_asks_for(
    tmp_path: Path, region: AnatomicRegion
) -> None:
    unpaired = pairing(region.code) is Pairing.UNPAIRED
    ds = vl_image(
        SyntheticSource(320, 240).frame(0),
        make_context(1, "XC"),
        kind=VLKind.PHOTOGRAPHIC,
        transfer_syntax=TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
        anatomic_region=region,
        laterality=None if unpaired else Laterality.RIGHT,
    )
    path = tmp_path / "region.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert ("Laterality" in ds) is not unpaired
    result = dciodvfy(path, strict=True)
    if region in DCIODVFY_UNKNOWN_UNPAIRED:
        assert len(result.errors) == 1 and "<Laterality>" in result.errors[0], str(result)
    else:
        assert result.ok, str(result)
