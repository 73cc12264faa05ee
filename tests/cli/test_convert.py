"""``izer convert``: files to valid DICOM, as-is where possible, numbered in one study."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import generate_frames

from izer.cli.convert import main as convert_main
from izer.config import load_settings
from izer.engine import ConvertRequest, Engine
from izer.model import Patient
from izer.store import StudyStore
from tests.encode.malformed import makers
from tests.helpers.validators import dciodvfy

PATIENT = ["--patient-id", "IZ-TEST-0001", "--patient-name", "Testperson^Jurgen"]


def _convert(settings: Path, *args: object) -> int:
    return convert_main([*map(str, args), *PATIENT, "--config", str(settings)])


def _outputs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


def _fragments(ds) -> list[bytes]:  # type: ignore[no-untyped-def]
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1))))


def _padded(data: bytes) -> bytes:
    """A fragment as DICOM stores it: padded to an even length (PS3.5 A.4)."""
    return data + b"\0" * (len(data) % 2)


def _valid(path: Path) -> None:
    result = dciodvfy(path)
    assert result.ok, str(result)


# -- as-is encapsulation ---------------------------------------------------------------------------


@pytest.mark.parametrize("subsampling", ["420", "422"])
def test_baseline_jpeg_is_kept_byte_for_byte(
    subsampling: str, settings_path: Path, tmp_path: Path
) -> None:
    source = makers.jpeg(tmp_path / "photo.jpg", subsampling=subsampling)
    assert _convert(settings_path, source, "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert _fragments(ds) == [_padded(source.read_bytes())]
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (48, 64, 3)
    _valid(path)


def test_grayscale_jpeg_is_kept_as_monochrome2(settings_path: Path, tmp_path: Path) -> None:
    source = makers.jpeg(tmp_path / "gray.jpg", makers.rgb()[:, :, 1].copy())
    assert _convert(settings_path, source, "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert _fragments(ds) == [_padded(source.read_bytes())]
    _valid(path)


def test_jpeg_to_vl_endoscopic_is_kept_as_is(settings_path: Path, tmp_path: Path) -> None:
    source = makers.jpeg(tmp_path / "scope.jpg")
    assert _convert(settings_path, source, "--iod", "vl-endoscopic", "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.1"
    assert ds.Modality == "ES"
    assert _fragments(ds) == [_padded(source.read_bytes())]
    _valid(path)


def test_444_jpeg_is_decoded_for_sc_with_a_note(settings_path: Path, tmp_path: Path, capsys):
    source = makers.jpeg(tmp_path / "full.jpg", subsampling="444")
    assert _convert(settings_path, source, "-v", "--out", tmp_path / "out") == 0
    assert "does not allow YBR_FULL" in capsys.readouterr().out
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(ds.pixel_array, imagecodecs.jpeg8_decode(source.read_bytes()))
    _valid(path)


def test_444_jpeg_is_re_encoded_for_vl_with_a_note(
    settings_path: Path, tmp_path: Path, capsys
) -> None:
    source = makers.jpeg(tmp_path / "full.jpg", subsampling="444")
    out = tmp_path / "out"
    assert _convert(settings_path, source, "--iod", "vl-photographic", "-v", "--out", out) == 0
    assert "does not allow YBR_FULL" in capsys.readouterr().out
    (path,) = _outputs(out)
    ds = dcmread(path)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert _fragments(ds) != [_padded(source.read_bytes())]
    _valid(path)


def test_asking_for_another_syntax_decodes_the_jpeg(settings_path: Path, tmp_path: Path) -> None:
    source = makers.jpeg(tmp_path / "photo.jpg")
    out = tmp_path / "out"
    assert _convert(settings_path, source, "--ts", "explicit-vr-little-endian", "--out", out) == 0
    ds = dcmread(_outputs(out)[0])
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(ds.pixel_array, imagecodecs.jpeg8_decode(source.read_bytes()))


@pytest.mark.parametrize("jp2", [False, True], ids=["j2k", "jp2"])
@pytest.mark.parametrize("reversible", [True, False], ids=["5-3", "9-7"])
def test_jpeg_2000_is_kept_without_its_box_wrapper(
    jp2: bool, reversible: bool, settings_path: Path, tmp_path: Path
) -> None:
    source = makers.j2k(
        tmp_path / ("photo.jp2" if jp2 else "photo.j2k"),
        jp2=jp2,
        reversible=reversible,
        level=None if reversible else 40,
    )
    assert _convert(settings_path, source, "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    (fragment,) = _fragments(ds)
    assert fragment.startswith(b"\xff\x4f\xff\x51")
    if not jp2:
        assert fragment == _padded(source.read_bytes())
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
    assert ds.PhotometricInterpretation == ("YBR_RCT" if reversible else "YBR_ICT")
    assert ds.LossyImageCompression == ("00" if reversible else "01")
    decoded = imagecodecs.jpeg2k_decode(fragment)
    assert np.array_equal(ds.pixel_array, decoded)
    _valid(path)


# -- decoded inputs ------------------------------------------------------------------------------


def test_16_bit_tiff_keeps_its_values_in_sc(settings_path: Path, tmp_path: Path) -> None:
    values = makers.gray16()
    source = makers.tiff(tmp_path / "scan.tif", [values])
    assert _convert(settings_path, source, "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert (ds.BitsAllocated, ds.BitsStored, ds.PhotometricInterpretation) == (
        16,
        16,
        "MONOCHROME2",
    )
    assert ds.ConversionType == "WSD"
    assert np.array_equal(ds.pixel_array, values)
    _valid(path)


def test_digitized_film_takes_its_pixel_spacing_from_dpi(
    settings_path: Path, tmp_path: Path, capsys
) -> None:
    values = makers.gray16(top=4095)
    source = makers.tiff(tmp_path / "film.tif", [values])
    out = tmp_path / "out"
    common = [source, "--bits-stored", "12", "--conversion-type", "DF", "--out", out]
    assert _convert(settings_path, *common) == 2
    assert "needs --dpi" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert _convert(settings_path, *common, "--dpi", "254") == 0
    (path,) = _outputs(out)
    ds = dcmread(path)
    assert ds.ConversionType == "DF"
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.1, 0.1]
    _valid(path)


def test_12_bit_values_with_bits_stored(settings_path: Path, tmp_path: Path) -> None:
    values = makers.gray16(top=4095)
    source = makers.png(tmp_path / "film.png", values)
    out = tmp_path / "out"
    assert (
        _convert(
            settings_path, source, "--bits-stored", "12", "--ts", "jpeg-ls-lossless", "--out", out
        )
        == 0
    )
    ds = dcmread(_outputs(out)[0])
    assert (ds.BitsStored, ds.HighBit) == (12, 11)
    assert np.array_equal(ds.pixel_array, values)
    _valid(_outputs(out)[0])


def test_rgb_stays_in_rgb_order(settings_path: Path, tmp_path: Path) -> None:
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[..., 0] = 200  # red
    source = makers.png(tmp_path / "red.png", pixels)
    assert _convert(settings_path, source, "--out", tmp_path / "out") == 0
    ds = dcmread(_outputs(tmp_path / "out")[0])
    assert ds.pixel_array[0, 0].tolist() == [200, 0, 0]


def test_png_to_vl_endoscopic_is_jpeg_baseline(settings_path: Path, tmp_path: Path) -> None:
    source = makers.png(tmp_path / "scope.png")
    assert _convert(settings_path, source, "--iod", "vl-endoscopic", "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    _valid(path)


# -- many files, pages and frames ----------------------------------------------------------------


def test_multipage_tiff_becomes_one_instance_per_page(settings_path: Path, tmp_path: Path) -> None:
    pages = [makers.rgb(seed=seed) for seed in range(3)]
    source = makers.tiff(tmp_path / "pages.tif", pages)
    assert _convert(settings_path, source, "--out", tmp_path / "out") == 0
    paths = _outputs(tmp_path / "out")
    assert [p.name for p in paths] == ["pages-p001.dcm", "pages-p002.dcm", "pages-p003.dcm"]
    for index, path in enumerate(paths):
        ds = dcmread(path)
        assert ds.InstanceNumber == index + 1
        assert np.array_equal(ds.pixel_array, pages[index])


def test_multipage_tiff_with_multiframe_is_one_instance(
    settings_path: Path, tmp_path: Path
) -> None:
    pages = np.stack([makers.gray16(seed=seed) for seed in range(3)])
    source = makers.tiff(tmp_path / "pages.tif", list(pages))
    assert _convert(settings_path, source, "--multiframe", "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    ds = dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.3"  # Grayscale Word
    assert ds.NumberOfFrames == 3
    assert list(ds.PageNumberVector) == [1, 2, 3]
    assert np.array_equal(ds.pixel_array, pages)
    _valid(path)


def test_folder_of_jpegs_with_multiframe_keeps_every_jpeg(
    settings_path: Path, tmp_path: Path
) -> None:
    sources = [makers.jpeg(tmp_path / "set" / f"{i}.jpg", makers.rgb(seed=i)) for i in range(3)]
    assert _convert(settings_path, tmp_path / "set", "--multiframe", "--out", tmp_path / "out") == 0
    (path,) = _outputs(tmp_path / "out")
    assert path.name == "set.dcm"
    ds = dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.4"  # True Colour
    assert _fragments(ds) == [_padded(s.read_bytes()) for s in sources]
    _valid(path)


def test_folder_gives_one_series_numbered_in_name_order(
    settings_path: Path, tmp_path: Path, capsys
) -> None:
    names = ["b.png", "a.jpg", "c.tif", "d.bmp"]
    makers.png(tmp_path / "set" / names[0])
    makers.jpeg(tmp_path / "set" / names[1])
    makers.tiff(tmp_path / "set" / names[2], [makers.rgb()])
    makers.write(tmp_path / "set" / names[3], bytes(imagecodecs.bmp_encode(makers.rgb())))
    assert _convert(settings_path, tmp_path / "set", "-v", "--out", tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "[1/4] " in out and "a.jpg -> a.dcm" in out and "[4/4] " in out
    assert "4 converted, 0 failed" in out
    datasets = {p.name: dcmread(p) for p in _outputs(tmp_path / "out")}
    numbers = {name: ds.InstanceNumber for name, ds in datasets.items()}
    assert numbers == {"a.dcm": 1, "b.dcm": 2, "c.dcm": 3, "d.dcm": 4}
    assert len({ds.StudyInstanceUID for ds in datasets.values()}) == 1
    assert len({ds.SeriesInstanceUID for ds in datasets.values()}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets.values()}) == 4
    for path in _outputs(tmp_path / "out"):
        _valid(path)


def test_pdf_and_audio_get_series_of_their_own(settings_path: Path, tmp_path: Path) -> None:
    image = makers.png(tmp_path / "in" / "photo.png")
    document = makers.pdf(tmp_path / "in" / "report.pdf")
    sound = makers.wav(tmp_path / "in" / "note.wav")
    out = tmp_path / "out"
    assert _convert(settings_path, image, document, sound, "--out", out) == 0
    datasets = {p.name: dcmread(p) for p in _outputs(out)}
    assert datasets["photo.dcm"].Modality == "OT"
    assert datasets["report.dcm"].Modality == "DOC"
    assert datasets["report.dcm"].DocumentTitle == "report"
    assert datasets["report.dcm"].EncapsulatedDocument.rstrip(b"\0") == document.read_bytes()
    assert datasets["note.dcm"].Modality == "AU"
    assert sorted(ds.SeriesNumber for ds in datasets.values()) == [1, 2, 3]
    assert len({ds.StudyInstanceUID for ds in datasets.values()}) == 1
    for path in _outputs(out):
        _valid(path)


def test_batch_with_a_bad_file_converts_the_rest_and_fails(
    settings_path: Path, tmp_path: Path, capsys
) -> None:
    good = [makers.png(tmp_path / "in" / f"{i}.png", makers.rgb(seed=i)) for i in range(3)]
    bad = makers.write(tmp_path / "in" / "broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF")
    out = tmp_path / "out"
    assert _convert(settings_path, good[0], bad, good[1], good[2], "--out", out) == 1
    captured = capsys.readouterr()
    assert "3 converted, 1 failed" in captured.out
    assert "failed: " in captured.err and "broken.jpg: truncated JPEG" in captured.err
    assert [p.name for p in _outputs(out)] == ["0.dcm", "1.dcm", "2.dcm"]
    assert [dcmread(p).InstanceNumber for p in _outputs(out)] == [1, 2, 3]


def test_existing_outputs_are_not_overwritten(settings_path: Path, tmp_path: Path) -> None:
    source = makers.png(tmp_path / "in" / "photo.png")
    out = tmp_path / "out"
    assert _convert(settings_path, source, "--out", out) == 0
    first = (out / "photo.dcm").read_bytes()
    assert _convert(settings_path, source, "--out", out) == 0
    assert [p.name for p in _outputs(out)] == ["photo-2.dcm", "photo.dcm"]
    assert (out / "photo.dcm").read_bytes() == first


# -- into the store, patient and study -----------------------------------------------------------


def test_without_out_the_instances_go_into_the_store(settings_path: Path, tmp_path: Path) -> None:
    sources = [makers.png(tmp_path / "in" / f"{i}.png", makers.rgb(seed=i)) for i in range(2)]
    assert (
        convert_main(
            [
                *map(str, sources),
                "--patient-id",
                "IZ-TEST-0002",
                "--patient-name",
                "Testperson^Anna",
                "--birth-date",
                "1980-02-29",
                "--sex",
                "f",
                "--accession",
                "ACC-1",
                "--study-description",
                "Skin check",
                "--config",
                str(settings_path),
            ]
        )
        == 0
    )
    with StudyStore(tmp_path / "store") as store:
        (study,) = store.studies()
        instances = store.instances()
    assert (study.patient_id, study.accession_number, study.description) == (
        "IZ-TEST-0002",
        "ACC-1",
        "Skin check",
    )
    assert [i.instance_number for i in instances] == [1, 2]
    ds = dcmread(instances[0].path)
    assert (ds.PatientBirthDate, ds.PatientSex, ds.PatientName) == (
        "19800229",
        "F",
        "Testperson^Anna",
    )


def test_accession_alone_is_enough(settings_path: Path, tmp_path: Path, capsys) -> None:
    source = makers.png(tmp_path / "in" / "photo.png")
    out = tmp_path / "out"
    argv = [str(source), "--accession", "ACC-7", "--out", str(out), "--config", str(settings_path)]
    assert convert_main(argv) == 0
    assert "written empty" in capsys.readouterr().err
    ds = dcmread(_outputs(out)[0])
    assert (ds.AccessionNumber, ds.PatientID, ds.PatientName) == ("ACC-7", "", "")
    _valid(_outputs(out)[0])


def test_engine_convert_reports_progress_and_events(settings_path: Path, tmp_path: Path) -> None:
    sources = [makers.png(tmp_path / "in" / f"{i}.png", makers.rgb(seed=i)) for i in range(2)]
    missing = tmp_path / "in" / "missing.png"
    steps, stored = [], []
    with Engine.open(load_settings(settings_path).settings) as engine:
        engine.events.instance_stored.connect(stored.append)
        report = engine.convert(
            [sources[0], missing, sources[1]],
            ConvertRequest(patient=Patient("IZ-TEST-0003", "Testperson^Ida")),
            progress=steps.append,
        )
    assert [(s.index, s.total, s.error is None) for s in steps] == [
        (1, 3, True),
        (2, 3, False),
        (3, 3, True),
    ]
    assert "no such file" in (steps[1].error or "")
    assert report.converted == 2 and report.instances == 2
    assert [f.source for f in report.failures] == [str(missing)]
    assert [r.sop_instance_uid for r in stored] == [r.sop_instance_uid for r in report.records]


def test_engine_refuses_bad_requests_before_reading(settings_path: Path, tmp_path: Path) -> None:
    with Engine.open(load_settings(settings_path).settings) as engine:
        with pytest.raises(ValueError, match="unknown IOD"):
            engine.convert([tmp_path / "x.png"], ConvertRequest(Patient("P", "A^B"), iod="ct"))
        assert engine.store.instances() == []


def test_help_lists_the_iods(capsys) -> None:
    assert convert_main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("sc", "sc-multiframe", "vl-endoscopic", "pdf", "audio"):
        assert f"{name} (" in out
