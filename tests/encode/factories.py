"""Made-up patients, contexts and pixels for the encode tests, and how to read pixels back."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import cv2
import imagecodecs
import numpy as np
from pydicom import dcmread
from pydicom.encaps import generate_frames

from izer.encode import (
    EquipmentContext,
    InstanceContext,
    SeriesContext,
    StudyContext,
    TransferSyntax,
    UidFactory,
)
from izer.encode.pixels import get_codec
from izer.model import Patient, Sex
from tests.helpers.validators import dciodvfy

#: Test UID root (the same as ``tests.conftest.TEST_UID_ROOT``).
UID_ROOT = "1.2.826.0.1.3680043.10.1452"

#: A fixed moment, so that dates and times in the tests do not depend on the clock.
MOMENT = datetime(2024, 5, 17, 10, 30, 15, 250000)


def make_patient(character_set: str = "ISO_IR 192") -> Patient:
    """A made-up patient; the name has non-ASCII letters when the set is UTF-8 or Latin-1."""
    latin = character_set in ("ISO_IR 192", "ISO_IR 100")
    return Patient(
        patient_id="IZ-TEST-0001",
        name="Testperson^Jürgen^Ödön" if latin else "Testperson^Juergen^Oedoen",
        birth_date="19700101",
        sex=Sex.MALE,
        issuer="IZER-TEST",
    )


def make_context(n: int, modality: str, character_set: str = "ISO_IR 192") -> InstanceContext:
    """The context of instance number ``n`` in a new series of ``modality`` in a new study.

    Parameters
    ----------
    n
        Instance Number (1 or more).
    modality
        Modality (0008,0060) of the series, e.g. ``ES``, ``US``, ``XA``.
    character_set
        Specific Character Set name.
    """
    uids = UidFactory(UID_ROOT)
    study = StudyContext(
        patient=make_patient(character_set),
        study_instance_uid=uids.new(),
        study_date=MOMENT.strftime("%Y%m%d"),
        study_time=MOMENT.strftime("%H%M%S"),
        accession_number="ACC0001",
        study_id="1",
        description="Test study",
        referring_physician_name="Doctor^Referring",
    )
    series = SeriesContext(
        series_instance_uid=uids.new(),
        series_number=1,
        modality=modality,
        description=f"Test {modality} series",
    )
    equipment = EquipmentContext(
        manufacturer="izer project",
        model_name="izer test",
        software_versions="0.0.test",
        station_name="TESTROOM",
        institution_name="Test Hospital",
    )
    return InstanceContext(
        study=study,
        series=series,
        equipment=equipment,
        sop_instance_uid=uids.new(),
        instance_number=n,
        character_set=character_set,
        content_time=MOMENT,
    )


#: Transfer syntaxes the 2022 dciodvfy cannot parse: their files are checked by decoding.
DCIODVFY_BLIND = frozenset(
    {
        TransferSyntax.HTJ2K_LOSSLESS,
        TransferSyntax.HTJ2K_LOSSLESS_RPCL,
        TransferSyntax.HTJ2K,
        TransferSyntax.JPEG_XL_LOSSLESS,
        TransferSyntax.JPEG_XL,
    }
)


def is_lossy(syntax: TransferSyntax) -> bool:
    """Whether ``syntax`` encodes with loss (as the codec registry says)."""
    return get_codec(syntax).lossy


def smooth_image(
    rows: int, columns: int, *, colour: bool, peak: int = 255, seed: int = 0
) -> np.ndarray:
    """A photographic-like image: a Gaussian-blurred random field stretched to ``0..peak``.

    uint8 for ``peak`` 255 or less, else uint16; ``(rows, columns, 3)`` when ``colour``.
    """
    rng = np.random.default_rng(seed)
    shape = (rows, columns, 3) if colour else (rows, columns)
    field = cv2.GaussianBlur(rng.random(shape, dtype=np.float32), (0, 0), sigmaX=6)
    field = (field - field.min()) / (field.max() - field.min())
    dtype = np.uint8 if peak <= 255 else np.uint16
    return np.round(field * peak).astype(dtype)


def psnr(reference: np.ndarray, decoded: np.ndarray, peak: int = 255) -> float:
    """Peak signal-to-noise ratio in dB (infinite for identical arrays)."""
    mse = np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def decode_frames(path: Path) -> np.ndarray:
    """The frames of a saved instance, ``(n, rows, columns[, 3])``, colour as RGB.

    pydicom decodes what it can; HTJ2K and JPEG XL frames are decoded with imagecodecs from
    the encapsulated fragments.
    """
    ds = dcmread(path)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    syntax = TransferSyntax(ds.file_meta.TransferSyntaxUID)
    decoders = {
        TransferSyntax.HTJ2K_LOSSLESS: imagecodecs.htj2k_decode,
        TransferSyntax.HTJ2K_LOSSLESS_RPCL: imagecodecs.htj2k_decode,
        TransferSyntax.HTJ2K: imagecodecs.htj2k_decode,
        TransferSyntax.JPEG_XL_LOSSLESS: imagecodecs.jpegxl_decode,
        TransferSyntax.JPEG_XL: imagecodecs.jpegxl_decode,
    }
    if syntax in decoders:
        fragments = generate_frames(ds.PixelData, number_of_frames=frames)
        return np.stack([decoders[syntax](fragment) for fragment in fragments])
    pixels = ds.pixel_array
    return pixels if frames > 1 else pixels[np.newaxis]


def assert_valid_instance(path: Path, iod: str) -> None:
    """``dciodvfy`` recognises ``iod`` in ``path`` and reports neither errors nor warnings."""
    result = dciodvfy(path, strict=True)
    assert result.iod == iod, str(result)
    assert result.ok, str(result)


def assert_round_trip(path: Path, source: np.ndarray, syntax: TransferSyntax, peak: int) -> None:
    """Lossless syntaxes give ``source`` back exactly; lossy ones at 40 dB PSNR or better.

    ``source`` is shaped like :func:`decode_frames`' result.
    """
    decoded = decode_frames(path)
    assert decoded.shape == source.shape
    if is_lossy(syntax):
        assert psnr(source, decoded, peak) >= 40.0
    else:
        np.testing.assert_array_equal(decoded, source)
