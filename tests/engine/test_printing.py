"""Film printing through the engine's outbox and ``izer print``, against DCMTK dcmprscp
(grayscale; its database is read back) and the dcmjs-dimse print SCP (colour; it writes what
each N-SET carried). Every patient here is made up."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from izer.cli.print_cmd import main as print_main
from izer.config import load_settings
from izer.dispatch.print_scu import COLOR_REFUSED_NOTE, render_films
from izer.encode import TransferSyntax, UidFactory, VLKind, vl_image
from izer.engine import Engine
from izer.engine.dispatching import JobState
from izer.engine.reporting import ReportRequest
from izer.model.printing import PrintPreset
from tests.encode.factories import UID_ROOT, make_context, smooth_image
from tests.helpers.printing import assert_same_pixels, database, printed_films
from tests.peers.harness import Peer, free_port


def _settings_with_printer(
    write_settings: Callable[[str], Path], tmp_path: Path, peer: Peer | None, preset: str
) -> Path:
    aet, port = (peer.aet, peer.port) if peer else ("NOBODY", free_port())
    return write_settings(
        f"""
        [station]
        ae_title = "IZERPRN"
        uid_root = "{UID_ROOT}"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [dispatch]
        backoff_base_s = 0.2
        backoff_cap_s = 0.5

        [network]
        connect_timeout_s = 3
        acse_timeout_s = 10
        dimse_timeout_s = 30

        [[destinations]]
        name = "film"
        ae_title = "{aet}"
        host = "127.0.0.1"
        port = {port}
        roles = ["print"]

        [destinations.print]
        {preset}

        [[destinations]]
        name = "pacs"
        ae_title = "PACS"
        host = "127.0.0.1"
        port = 104
        """
    )


def _stills(engine: Engine, count: int) -> str:
    """``count`` distinct colour VL Endoscopic stills of a new study; its Study UID."""
    uids = UidFactory(UID_ROOT)
    base = make_context(1, "ES")
    for n in range(1, count + 1):
        context = dataclasses.replace(base, sop_instance_uid=uids.new(), instance_number=n)
        ds = vl_image(
            smooth_image(40 + 8 * n, 64, colour=True, seed=50 + n),
            context,
            kind=VLKind.ENDOSCOPIC,
            transfer_syntax=TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
        )
        engine.store.add_dataset(ds)
    return base.study.study_instance_uid


@pytest.mark.peers
def test_engine_prints_a_study_through_the_outbox(dcmprscp: Peer, write_settings, tmp_path) -> None:
    path = _settings_with_printer(
        write_settings,
        tmp_path,
        dcmprscp,
        "display_format = 'STANDARD\\2,2'\nfilm_size = \"14INX17IN\"",
    )
    with Engine.open(load_settings(path).settings) as engine:
        study = _stills(engine, 4)
        before = database(dcmprscp)
        queued = engine.printing.queue([study], "film")
        assert len(queued.pictures) == 4
        assert engine.dispatch.run_until_idle(60)
        job = engine.dispatch.outbox.job(queued.job.job_id)
        assert job is not None and job.state is JobState.DONE, job
        outcome = engine.printing.outcome(job.job_id)
        assert outcome is not None
        assert (outcome.films, outcome.images, outcome.color) == (1, 4, False)
        records = engine.store.instances(study)
        sent = render_films([r.path for r in records], queued.preset)
    ((stored, pixels),) = printed_films(dcmprscp, before)
    assert stored.FilmBoxContentSequence[0].ImageDisplayFormat == "STANDARD\\2,2"
    assert stored.FilmBoxContentSequence[0].FilmSizeID == "14INX17IN"
    assert_same_pixels(pixels, sent[0])


@pytest.mark.peers
def test_print_command_overrides_the_preset_and_leaves_documents_out(
    dcmprscp: Peer, write_settings, tmp_path, capsys
) -> None:
    path = _settings_with_printer(
        write_settings, tmp_path, dcmprscp, "display_format = 'STANDARD\\2,2'"
    )
    with Engine.open(load_settings(path).settings) as engine:
        study = _stills(engine, 3)
        pdf = engine.report.build(ReportRequest(study)).pdf
        document = engine.report.store(pdf, study)
    before = database(dcmprscp)
    status = print_main(
        ["--config", str(path), study, "--to", "film", "--layout", "1,2", "--film", "8INX10IN"]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "printed 2 film(s), 3 picture(s), grayscale" in captured.out
    assert f"{document.sop_instance_uid}: document, not printed" in captured.err
    films = printed_films(dcmprscp, before)
    assert len(films) == 2
    assert {f.FilmBoxContentSequence[0].FilmSizeID for f, _ in films} == {"8INX10IN"}
    assert sorted(len(p) for _, p in films) == [1, 2]


@pytest.mark.peers
def test_colour_on_a_grayscale_printer_prints_grayscale_with_a_note(
    dcmprscp: Peer, write_settings, tmp_path, capsys
) -> None:
    path = _settings_with_printer(write_settings, tmp_path, dcmprscp, "color = true")
    with Engine.open(load_settings(path).settings) as engine:
        study = _stills(engine, 1)
    before = database(dcmprscp)
    assert print_main(["--config", str(path), study, "--to", "film"]) == 0
    out = capsys.readouterr().out
    assert "grayscale" in out
    assert f"note: {COLOR_REFUSED_NOTE}" in out
    ((_, pixels),) = printed_films(dcmprscp, before)
    assert pixels[0].ndim == 2


@pytest.mark.peers
def test_colour_film_prints_on_a_colour_printer(
    print_node: Peer, write_settings, tmp_path, capsys
) -> None:
    path = _settings_with_printer(
        write_settings,
        tmp_path,
        print_node,
        "color = true\ndisplay_format = 'STANDARD\\2,1'\nfilm_size = \"A4\"",
    )
    with Engine.open(load_settings(path).settings) as engine:
        study = _stills(engine, 2)
        images = [r.path for r in engine.store.instances(study)]
    assert print_node.data_dir is not None
    films_before = set(print_node.data_dir.glob("film_*"))
    assert print_main(["--config", str(path), study, "--to", "film"]) == 0
    assert "colour" in capsys.readouterr().out
    (film,) = set(print_node.data_dir.glob("film_*")) - films_before
    summary = json.loads((film / "filmbox.json").read_text(encoding="utf-8"))
    assert summary["film_box"]["ImageDisplayFormat"] == "STANDARD\\2,1"
    assert summary["film_box"]["FilmSizeID"] == "A4"
    preset = PrintPreset(color=True, display_format="STANDARD\\2,1", film_size="A4")
    (sent,) = render_films(images, preset)
    for position, want in enumerate(sent, start=1):
        box = pydicom.dcmread(film / f"imagebox_{position}.dcm")
        item = box.BasicColorImageSequence[0]
        assert item.PhotometricInterpretation == "RGB"
        assert item.PlanarConfiguration == 1
        planes = np.frombuffer(item.PixelData, np.uint8)[: want.size]
        got = planes.reshape(3, item.Rows, item.Columns).transpose(1, 2, 0)
        assert np.array_equal(got, want), f"image box {position}"


@pytest.mark.peers
def test_an_offline_printer_keeps_the_job_waiting(write_settings, tmp_path, capsys) -> None:
    path = _settings_with_printer(write_settings, tmp_path, None, "")
    with Engine.open(load_settings(path).settings) as engine:
        study = _stills(engine, 1)
    status = print_main(["--config", str(path), study, "--to", "film", "--timeout", "2"])
    captured = capsys.readouterr()
    assert status == 1
    assert "attempt 1 failed, next try at" in captured.out
    assert "stays queued" in captured.err
    with Engine.open(load_settings(path).settings) as engine:
        (job,) = engine.dispatch.jobs()
        assert job.pending and "cannot connect" in job.last_error


def test_print_requests_that_cannot_be_printed_are_refused(write_settings, tmp_path) -> None:
    path = _settings_with_printer(write_settings, tmp_path, None, "")
    with Engine.open(load_settings(path).settings) as engine:
        study = _stills(engine, 1)
        with pytest.raises(ValueError, match="lacks the role"):
            engine.printing.queue([study], "pacs")
        with pytest.raises(ValueError, match="film_size"):
            engine.printing.queue([study], "film", overrides={"film_size": "15INX15IN"})
        record = engine.report.store(engine.report.build(ReportRequest(study)).pdf, study)
        with pytest.raises(ValueError, match="nothing to print"):
            engine.printing.queue([record.sop_instance_uid], "film")
        assert engine.dispatch.jobs() == []
