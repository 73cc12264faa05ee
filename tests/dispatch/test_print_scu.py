"""Basic Grayscale Print Management SCU (izer.dispatch.print_scu) against DCMTK dcmprscp.

dcmprscp keeps what it prints in its database (``Peer.data_dir``): one Stored Print object
(``SP_*.dcm``) per film box and one Hardcopy Grayscale Image (``HG_*.dcm``) per image box, so
the films are checked on the SCP side: layout, film size, originator and every pixel. The
database is shared by the whole session, so each test looks at the files it added only.
Every patient here is made up.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest

from izer.config import Destination, NetworkSettings, Role, StationSettings
from izer.dispatch.errors import DeliveryError
from izer.dispatch.outbox import Dispatcher, JobKind, JobState, Outbox
from izer.dispatch.print_scu import (
    COLOR_REFUSED_NOTE,
    PrintStatusKind,
    film_box_dataset,
    film_session_dataset,
    image_box_dataset,
    print_films,
    print_job_handler,
    print_job_key,
    print_job_payload,
    print_job_request,
    print_status_meaning,
    render_films,
)
from izer.encode import TransferSyntax, VLKind, encapsulated_pdf, secondary_capture_image, vl_image
from izer.model.printing import PrintPreset
from izer.net import AssociationFactory
from tests.encode.factories import make_context, smooth_image
from tests.encode.interop_cases import small_pdf
from tests.helpers.binaries import require_binaries
from tests.helpers.printing import assert_same_pixels, database, printed_films
from tests.peers.harness import Peer, free_port

TEST_UID_ROOT = "1.2.826.0.1.3680043.10.1452"
CALLING_AE = "IZERPRINT"
TWO_BY_TWO = PrintPreset(display_format="STANDARD\\2,2", film_size="14INX17IN")
START_TIMEOUT_S = 20.0


@pytest.fixture
def factory() -> AssociationFactory:
    station = StationSettings(ae_title=CALLING_AE, uid_root=TEST_UID_ROOT)
    network = NetworkSettings(
        connect_timeout_s=3, acse_timeout_s=10, dimse_timeout_s=60, network_timeout_s=30
    )
    return AssociationFactory(station, network)


def printer(peer: Peer | None = None, *, port: int | None = None, aet: str = "") -> Destination:
    return Destination(
        name="printer",
        ae_title=aet or (peer.aet if peer else "PRINTSCP"),
        host="127.0.0.1",
        port=port or (peer.port if peer else free_port()),
        roles=(Role.PRINT,),
    )


def stills(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` distinct stills: grayscale Secondary Captures and color VL Endoscopic
    images of different sizes and pixel patterns."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        rows, columns = 48 + 8 * n, 72 - 4 * n
        if n % 2:
            ds = vl_image(
                smooth_image(rows, columns, colour=True, seed=seed + n),
                make_context(n + 1, "ES"),
                kind=VLKind.ENDOSCOPIC,
                transfer_syntax=TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
            )
        else:
            pixels = smooth_image(rows, columns, colour=False, seed=seed + n)
            pixels[n : n + 4, :] = 255  # a bar at a different height in each
            ds = secondary_capture_image(pixels, make_context(n + 1, "OT"))
        path = folder / f"still-{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (0x0000, PrintStatusKind.SUCCESS, "success"),
        (0xB603, PrintStatusKind.WARNING, "empty page"),
        (0xB604, PrintStatusKind.WARNING, "demagnified"),
        (0xB605, PrintStatusKind.WARNING, "density"),
        (0xB60A, PrintStatusKind.WARNING, "decimated"),
        (0xB6FF, PrintStatusKind.WARNING, "warning"),
        (0xC603, PrintStatusKind.PERMANENT, "larger than its image box"),
        (0xC613, PrintStatusKind.PERMANENT, "combined print image"),
        (0xC61F, PrintStatusKind.PERMANENT, "print failure"),
        (0xC602, PrintStatusKind.TRANSIENT, "queue is full"),
        (0xA700, PrintStatusKind.TRANSIENT, "out of resources"),
        (0xA7FF, PrintStatusKind.TRANSIENT, "out of resources"),
        (0x0213, PrintStatusKind.TRANSIENT, "resource limitation"),
        (0x0110, PrintStatusKind.PERMANENT, "processing failure"),
        (0x0112, PrintStatusKind.PERMANENT, "no such SOP instance"),
        (0x0106, PrintStatusKind.PERMANENT, "invalid attribute value"),
        (0x1234, PrintStatusKind.PERMANENT, "does not define"),
    ],
)
def test_status_meanings(code: int, kind: PrintStatusKind, words: str) -> None:
    got_kind, got_words = print_status_meaning(code)
    assert got_kind is kind
    assert words in got_words


# --------------------------------------------------------------------------- data sets


def test_nothing_optional_is_sent_when_the_preset_leaves_it_to_the_printer() -> None:
    assert film_session_dataset(PrintPreset()) is None
    box = film_box_dataset(PrintPreset(), "1.2.3")
    assert {element.keyword for element in box} == {
        "ImageDisplayFormat",
        "ReferencedFilmSessionSequence",
    }
    assert box.ImageDisplayFormat == "STANDARD\\1,1"
    session = box.ReferencedFilmSessionSequence[0]
    assert (session.ReferencedSOPClassUID, session.ReferencedSOPInstanceUID) == (
        "1.2.840.10008.5.1.1.1",
        "1.2.3",
    )


def test_every_set_value_is_sent() -> None:
    preset = PrintPreset(
        display_format="3x4",
        film_orientation="LANDSCAPE",
        film_size="A4",
        magnification="CUBIC",
        smoothing="MEDIUM",
        border_density="WHITE",
        empty_image_density="100",
        min_density=10,
        max_density=250,
        trim="YES",
        configuration_information="CS000",
        copies=3,
        priority="HIGH",
        medium="BLUE FILM",
        film_destination="BIN_2",
        session_label="Colonoscopy",
    ).normalized()
    session = film_session_dataset(preset)
    assert session is not None
    assert (session.NumberOfCopies, session.PrintPriority, session.MediumType) == (
        3,
        "HIGH",
        "BLUE FILM",
    )
    assert (session.FilmDestination, session.FilmSessionLabel) == ("BIN_2", "Colonoscopy")
    box = film_box_dataset(preset, "1.2.3")
    assert box.ImageDisplayFormat == "STANDARD\\3,4"
    assert (box.FilmOrientation, box.FilmSizeID, box.MagnificationType) == (
        "LANDSCAPE",
        "A4",
        "CUBIC",
    )
    assert (box.SmoothingType, box.BorderDensity, box.EmptyImageDensity) == (
        "MEDIUM",
        "WHITE",
        "100",
    )
    assert (box.MinDensity, box.MaxDensity, box.Trim) == (10, 250, "YES")
    assert box.ConfigurationInformation == "CS000"


def test_grayscale_image_boxes_at_8_and_12_bits() -> None:
    eight = np.arange(15, dtype=np.uint8).reshape(3, 5)
    ds = image_box_dataset(eight, 2, PrintPreset(polarity="REVERSE"))
    assert (ds.ImageBoxPosition, ds.Polarity) == (2, "REVERSE")
    item = ds.BasicGrayscaleImageSequence[0]
    assert "BasicColorImageSequence" not in ds
    assert (item.SamplesPerPixel, item.PhotometricInterpretation) == (1, "MONOCHROME2")
    assert (item.Rows, item.Columns) == (3, 5)
    assert (item.BitsAllocated, item.BitsStored, item.HighBit) == (8, 8, 7)
    assert item.PixelRepresentation == 0 and "PixelAspectRatio" not in item
    assert item["PixelData"].VR == "OB" and item.PixelData == eight.tobytes()
    twelve = np.array([[0, 4095], [1, 2048]], np.uint16)
    item = image_box_dataset(twelve, 1, PrintPreset()).BasicGrayscaleImageSequence[0]
    assert (item.BitsAllocated, item.BitsStored, item.HighBit) == (16, 12, 11)
    assert item["PixelData"].VR == "OW"
    assert np.array_equal(np.frombuffer(item.PixelData, "<u2").reshape(2, 2), twelve)


def test_color_image_boxes_are_rgb_by_plane() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    rgb[0, 0] = (1, 2, 3)
    ds = image_box_dataset(rgb, 1, PrintPreset(color=True))
    assert "BasicGrayscaleImageSequence" not in ds and "Polarity" not in ds
    item = ds.BasicColorImageSequence[0]
    assert (item.SamplesPerPixel, item.PhotometricInterpretation) == (3, "RGB")
    assert item.PlanarConfiguration == 1  # PS3.3 C.13.5
    assert (item.BitsAllocated, item.BitsStored, item.HighBit) == (8, 8, 7)
    assert item.PixelData == bytes([1] + [10] * 5 + [2] + [20] * 5 + [3] + [30] * 5)


# --------------------------------------------------------------------------- job payloads


def test_job_payload_keeps_the_request_and_overrides_the_printer_preset(tmp_path: Path) -> None:
    images = stills(tmp_path, 2)
    payload = print_job_payload(images, PrintPreset(display_format="1x2", film_size="a4"))
    assert payload["images"] == [str(path.absolute()) for path in images]
    assert payload["preset"] == {"display_format": "STANDARD\\1,2", "film_size": "A4"}
    printer_preset = PrintPreset(film_size="14INX17IN", medium="PAPER", copies=2)
    paths, preset = print_job_request(payload, printer_preset)
    assert paths == [path.absolute() for path in images]
    assert (preset.display_format, preset.film_size) == ("STANDARD\\1,2", "A4")
    assert (preset.medium, preset.copies) == ("PAPER", 2)
    assert print_job_key() != print_job_key()
    assert print_job_key().startswith("print:")


def test_job_request_refuses_missing_files_and_bad_payloads(tmp_path: Path) -> None:
    images = stills(tmp_path, 2)
    payload = print_job_payload(images, PrintPreset())
    images[1].unlink()
    with pytest.raises(DeliveryError, match=r"no longer exist.*still-1\.dcm") as caught:
        print_job_request(payload, PrintPreset())
    assert not caught.value.transient
    for bad in ({"version": 99}, {"version": 1, "images": []}):
        with pytest.raises(DeliveryError) as caught:
            print_job_request(bad, PrintPreset())
        assert not caught.value.transient
    with pytest.raises(DeliveryError, match="copies"):
        print_job_request({**payload, "preset": {"copies": -1}}, PrintPreset())
    with pytest.raises(ValueError, match="no images"):
        print_job_payload([], PrintPreset())
    with pytest.raises(ValueError, match="bit_depth"):
        print_job_payload(images[:1], PrintPreset(bit_depth=16))


def test_render_films_lays_images_out_over_as_many_films_as_needed(tmp_path: Path) -> None:
    films = render_films(stills(tmp_path, 5), TWO_BY_TWO)
    assert [len(film) for film in films] == [4, 1]
    for box in (box for film in films for box in film):
        assert box.dtype == np.uint8 and box.ndim == 2
        assert box.shape[1] / box.shape[0] == pytest.approx(14 / 17, abs=0.02)
    color = render_films(stills(tmp_path, 1), TWO_BY_TWO.with_overrides(color=True))
    assert color[0][0].ndim == 3


# --------------------------------------------------------------------------- against dcmprscp


@pytest.mark.peers
def test_a_2x2_film_of_four_stills_prints(
    dcmprscp: Peer, factory: AssociationFactory, tmp_path: Path
) -> None:
    images = stills(tmp_path / "in", 4)
    before = database(dcmprscp)
    done: list[tuple[int, int]] = []
    outcome = print_films(
        factory, printer(dcmprscp), images, TWO_BY_TWO, progress=lambda *p: done.append(p)
    )
    assert (outcome.films, outcome.images, outcome.color) == (1, 4, False)
    assert outcome.printer_status == "NORMAL"
    assert outcome.notes == []
    assert done == [(1, 4), (2, 4), (3, 4), (4, 4)]
    ((stored, pixels),) = printed_films(dcmprscp, before)
    content = stored.FilmBoxContentSequence[0]
    assert content.ImageDisplayFormat == "STANDARD\\2,2"
    assert content.FilmSizeID == "14INX17IN"
    assert stored.PrinterCharacteristicsSequence[0].Originator == CALLING_AE
    assert stored.PrinterCharacteristicsSequence[0].DestinationAE == dcmprscp.aet
    (sent,) = render_films(images, TWO_BY_TWO)
    assert_same_pixels(pixels, sent)
    assert len({p.tobytes() for p in pixels}) == 4  # four different pictures


@pytest.mark.peers
def test_12_bit_grayscale_prints_12_bit_pixels(
    dcmprscp: Peer, factory: AssociationFactory, tmp_path: Path
) -> None:
    images = stills(tmp_path / "in", 4, seed=10)
    preset = TWO_BY_TWO.with_overrides(
        bit_depth=12, film_orientation="LANDSCAPE", empty_image_density="WHITE"
    )
    before = database(dcmprscp)
    print_films(factory, printer(dcmprscp), images, preset)
    ((stored, pixels),) = printed_films(dcmprscp, before)
    content = stored.FilmBoxContentSequence[0]
    assert (content.FilmOrientation, content.EmptyImageDensity) == ("LANDSCAPE", "WHITE")
    (sent,) = render_films(images, preset)
    assert all(box.dtype == np.uint16 for box in sent)
    assert max(int(box.max()) for box in sent) > 255
    assert_same_pixels(pixels, sent)


@pytest.mark.peers
def test_a_color_request_falls_back_to_grayscale_with_a_note(
    dcmprscp: Peer, factory: AssociationFactory, tmp_path: Path
) -> None:
    images = stills(tmp_path / "in", 2, seed=20)
    preset = TWO_BY_TWO.with_overrides(color=True)
    before = database(dcmprscp)
    outcome = print_films(factory, printer(dcmprscp), images, preset)
    assert outcome.color is False
    assert COLOR_REFUSED_NOTE in outcome.notes
    ((_stored, pixels),) = printed_films(dcmprscp, before)
    (sent,) = render_films(images, preset.with_overrides(color=False))
    assert_same_pixels(pixels, sent)


@pytest.mark.peers
def test_five_images_on_2x2_take_two_films(
    dcmprscp: Peer, factory: AssociationFactory, tmp_path: Path
) -> None:
    images = stills(tmp_path / "in", 5, seed=30)
    before = database(dcmprscp)
    outcome = print_films(factory, printer(dcmprscp), images, TWO_BY_TWO)
    assert (outcome.films, outcome.images) == (2, 5)
    films = printed_films(dcmprscp, before)
    assert [len(pixels) for _stored, pixels in films] == [4, 1]
    sent = render_films(images, TWO_BY_TWO)
    for (_stored, pixels), boxes in zip(films, sent, strict=True):
        assert_same_pixels(pixels, boxes)


@pytest.mark.peers
def test_a_layout_the_printer_does_not_take_is_refused_permanently(
    dcmprscp: Peer, factory: AssociationFactory, tmp_path: Path
) -> None:
    # dcmprscp knows STANDARD\C,R formats only (its DisplayFormat list).
    images = stills(tmp_path / "in", 3)
    before = database(dcmprscp)
    with pytest.raises(DeliveryError, match=r"Film Box 1 refused: 0x0106.*ROW\\2,1") as caught:
        print_films(factory, printer(dcmprscp), images, PrintPreset(display_format="ROW\\2,1"))
    assert not caught.value.transient
    assert not {name for name in database(dcmprscp) - before if name.startswith("SP_")}


@pytest.mark.peers
@pytest.mark.parametrize("bad", ["pdf", "text"])
def test_a_file_that_cannot_be_printed_fails_before_the_printer_is_touched(
    bad: str, dcmprscp: Peer, factory: AssociationFactory, tmp_path: Path
) -> None:
    images = stills(tmp_path / "in", 2)
    if bad == "pdf":
        wrong = tmp_path / "report.dcm"
        pdf = encapsulated_pdf(small_pdf(), make_context(1, "DOC"), document_title="Report")
        pdf.save_as(wrong, enforce_file_format=True)
    else:
        wrong = tmp_path / "notes.txt"
        wrong.write_text("not a picture\n")
    before = database(dcmprscp)
    log_before = dcmprscp.log_tail(1000)
    with pytest.raises(DeliveryError) as caught:
        print_films(factory, printer(dcmprscp), [images[0], wrong, images[1]], TWO_BY_TWO)
    assert not caught.value.transient
    assert str(wrong) in str(caught.value)
    assert database(dcmprscp) == before
    assert dcmprscp.log_tail(1000) == log_before


def test_an_unreachable_printer_is_a_transient_error(
    factory: AssociationFactory, tmp_path: Path
) -> None:
    with pytest.raises(DeliveryError, match="connection refused") as caught:
        print_films(factory, printer(), stills(tmp_path, 1), TWO_BY_TWO)
    assert caught.value.transient


# --------------------------------------------------------------------------- off-line printer


@pytest.fixture
def late_printer(dcmprscp: Peer, tmp_path: Path) -> Iterator[tuple[int, Path, Callable[[], None]]]:
    """A second dcmprscp on a free port, started only when the test calls ``start()``:
    ``(port, its database folder, start)``. Stopped by its process id at the end."""
    binaries = require_binaries("dcmprscp", "echoscu")
    port = free_port()
    folder = tmp_path / "late-printer"
    config = (dcmprscp.folder / "dcmpstat.cfg").read_text()
    config = config.replace(str(dcmprscp.folder), str(folder))
    config, replaced = re.subn(rf"(?m)^Port = {dcmprscp.port}$", f"Port = {port}", config)
    assert replaced == 1, "the fixture's dcmpstat.cfg changed shape"
    for name in ("log", "spool", "db"):
        (folder / name).mkdir(parents=True)
    (folder / "dcmpstat.cfg").write_text(config)
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        with (folder / "dcmprscp.log").open("ab") as log:
            process = subprocess.Popen(
                [str(binaries["dcmprscp"]), "-c", str(folder / "dcmpstat.cfg"), "-p", "PRINTSCP"],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        deadline = time.monotonic() + START_TIMEOUT_S
        echo = [str(binaries["echoscu"]), "-aec", "PRINTSCP", "127.0.0.1", str(port)]
        while subprocess.run(echo, capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (folder / "dcmprscp.log").read_text(errors="replace")
                pytest.fail(f"the late dcmprscp did not start: {log_text}", pytrace=False)
            time.sleep(0.2)

    try:
        yield port, folder / "db", start
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.peers
def test_an_off_line_printer_delays_the_job_until_it_is_back(
    late_printer: tuple[int, Path, Callable[[], None]], factory: AssociationFactory, tmp_path: Path
) -> None:
    port, late_database, start = late_printer
    target = printer(port=port)
    images = stills(tmp_path / "in", 3, seed=40)
    printer_preset = TWO_BY_TWO.with_overrides(film_size="10INX14IN")
    outbox = Outbox(tmp_path / "outbox", backoff_base_s=60, backoff_cap_s=60, max_attempts=10)
    handler = print_job_handler({"printer": target}.__getitem__, lambda d: printer_preset, factory)
    dispatcher = Dispatcher(outbox, {JobKind.PRINT: handler}, poll_s=0.1)
    try:
        job = outbox.enqueue(
            JobKind.PRINT,
            "printer",
            sop_uid=print_job_key(),
            payload=print_job_payload(images, PrintPreset(film_size="A4")),  # overrides
        )
        assert dispatcher.run_until_idle(30.0)
        waiting = outbox.job(job.job_id)
        assert waiting is not None and waiting.state is JobState.WAITING, waiting
        assert waiting.attempts == 1
        assert "connection refused" in waiting.last_error
        assert f"127.0.0.1:{port}" in waiting.last_error
        assert not list(late_database.glob("*.dcm"))

        start()
        assert outbox.retry([job.job_id]) == 1
        assert dispatcher.run_until_idle(60.0, wait_for_retries=True)
        finished = outbox.job(job.job_id)
        assert finished is not None and finished.state is JobState.DONE, finished
    finally:
        dispatcher.stop()
        outbox.close()
    (stored,) = [pydicom.dcmread(path) for path in late_database.glob("SP_*.dcm")]
    content = stored.FilmBoxContentSequence[0]
    assert (content.ImageDisplayFormat, content.FilmSizeID) == ("STANDARD\\2,2", "A4")
    assert len(list(late_database.glob("HG_*.dcm"))) == 3
