"""The review actions on real captures: stills from the synthetic source, a recorded clip.

Derived instances are checked with dicom3tools (dciodvfy), trimmed clips with ffprobe and by
comparing their coded frames with the clip's, the procedure's end through its MPPS jobs.
Every patient here is made up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array

from izer.config import Destination, Role, Settings
from izer.dispatch.mpps import job_from_payload
from izer.dispatch.outbox import JobKind, JobState
from izer.encode.video import extracted_stream
from izer.engine import Engine
from izer.engine.reviewing import (
    REASONS,
    AnnotationMode,
    ItemKind,
    ReviewController,
    ReviewError,
)
from izer.model import InstanceRecord, Patient, ProcedureState, Sex
from tests.helpers.binaries import require_binaries
from tests.helpers.validators import dciodvfy
from tests.peers.harness import free_port

PATIENT = Patient("REV-0001", "Review^Rosa", "19750312", Sex.FEMALE)
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"
COLOR_PS = "1.2.840.10008.5.1.4.1.1.11.2"
GRAYSCALE_PS = "1.2.840.10008.5.1.4.1.1.11.1"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


def _small(settings: Settings, **dispatch: object) -> Settings:
    capture = dataclasses.replace(settings.capture, width=640, height=480)
    return dataclasses.replace(
        settings,
        capture=capture,
        dispatch=dataclasses.replace(settings.dispatch, **dispatch),
    )


def _ended_capture(engine: Engine, stills: int = 3) -> list[InstanceRecord]:
    """A procedure with ``stills`` stills of the test pattern, now under review."""
    engine.select_patient(PATIENT, accession_number="REV-ACC-1", description="Colonoscopy")
    engine.start()
    records = [engine.capture_still() for _ in range(stills)]
    engine.review()
    return records


@pytest.fixture
def reviewed(settings: Settings) -> Iterator[tuple[Engine, list[InstanceRecord]]]:
    with Engine.open(_small(settings)) as engine:
        yield engine, _ended_capture(engine)


@pytest.fixture
def with_clip(settings: Settings) -> Iterator[tuple[Engine, InstanceRecord]]:
    """A procedure under review with one still and a clip of a little more than 3 s (key
    frames every second)."""
    with Engine.open(_small(settings)) as engine:
        engine.select_patient(PATIENT, accession_number="REV-ACC-2")
        engine.start()
        engine.capture.open({"main": "synthetic"})
        deadline = time.monotonic() + 10
        while (frame := engine.capture.preview()) is None or frame.number < 3:
            assert time.monotonic() < deadline, "the synthetic source delivered no frames"
            time.sleep(0.01)
        engine.capture.start_recording()
        time.sleep(3.4)
        (clip,) = engine.capture.stop_recording()
        engine.capture_still()
        engine.capture.close()
        engine.review()
        (video,) = clip.records
        yield engine, video


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _valid(path: Path) -> pydicom.Dataset:
    result = dciodvfy(path)
    assert result.errors == [], str(result)
    return pydicom.dcmread(path)


def _video_packets(path: Path) -> tuple[list[bytes], str, str, float]:
    """Coded video packets (decode order), codec, profile and duration of a video instance."""
    with extracted_stream(path) as (stream, _), av.open(str(stream)) as container:
        video = container.streams.video[0]
        packets = [bytes(p) for p in container.demux(video) if p.size]
        codec, profile = video.codec_context.name, video.codec_context.profile
        probed = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "json",
                str(stream),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return packets, codec, str(profile), float(json.loads(probed.stdout)["format"]["duration"])


# -- listing ---------------------------------------------------------------------------------


def test_items_list_stills_and_clips_with_thumbnails_and_a_clip_is_trimmed_by_copying(
    with_clip: tuple[Engine, InstanceRecord],
) -> None:
    require_binaries("ffprobe", "dciodvfy")
    engine, clip = with_clip
    review = ReviewController(engine)
    items = {item.sop_instance_uid: item for item in review.items()}
    assert sorted(item.kind for item in items.values()) == [ItemKind.CLIP, ItemKind.STILL]
    listed = items[clip.sop_instance_uid]
    assert listed.duration_s is not None and 3.0 <= listed.duration_s <= 4.5
    assert (listed.columns, listed.rows) == (640, 480) and listed.frames > 90
    poster = review.thumbnail(clip.sop_instance_uid, 160)
    assert poster.shape == (120, 160, 3) and poster.dtype == np.uint8 and poster.std() > 10

    trimmed = review.trim(clip.sop_instance_uid, 1.2, 2.4)

    ds = _valid(trimmed.path)
    assert ds.SeriesInstanceUID == clip.series_instance_uid
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == clip.sop_instance_uid
    assert ds.DerivationDescription.startswith("Trimmed: 1.00 s to 3.00 s")
    original, codec, profile, length = _video_packets(clip.path)
    cut, cut_codec, cut_profile, cut_length = _video_packets(trimmed.path)
    assert (cut_codec, cut_profile) == (codec, profile)
    assert 1.8 <= cut_length <= 2.2 < length
    # no re-encoding: the kept packets are the clip's own, from its key frame at 1 s
    start = original.index(cut[0])
    assert start > 0 and original[start : start + len(cut)] == cut
    assert int(ds.NumberOfFrames) == len(cut)
    assert clip.path.exists()  # the acquired clip is kept
    with pytest.raises(ReviewError, match="keeps the whole clip"):
        review.trim(clip.sop_instance_uid, 0.1, 3.3)
    with pytest.raises(ReviewError, match="only clips"):
        still = next(i for i in items.values() if i.kind is ItemKind.STILL)
        review.trim(still.sop_instance_uid, 0.0, 1.0)


def test_a_still_thumbnail_keeps_the_aspect(reviewed: tuple[Engine, list[InstanceRecord]]) -> None:
    engine, stills = reviewed
    picture = ReviewController(engine).thumbnail(stills[0].sop_instance_uid, 200)
    assert picture.shape == (150, 200, 3)
    with pytest.raises(ReviewError, match="not an instance of this procedure"):
        ReviewController(engine).thumbnail("1.2.3.4", 200)


# -- deleting and marking --------------------------------------------------------------------


def test_delete_removes_an_unsent_still_and_its_annotation_and_cancels_its_sends(
    reviewed: tuple[Engine, list[InstanceRecord]],
) -> None:
    engine, stills = reviewed
    review = ReviewController(engine)
    target = stills[0]
    note = review.annotate(target.sop_instance_uid, "Polyp", 100, 100)
    review.mark(target.sop_instance_uid)
    job = engine.dispatch.outbox.enqueue(
        JobKind.STORE, "pacs", sop_uid=target.sop_instance_uid, study_uid=target.study_instance_uid
    )

    review.delete(target.sop_instance_uid)

    uids = [item.sop_instance_uid for item in review.items()]
    assert uids == [s.sop_instance_uid for s in stills[1:]]
    assert not target.path.exists() and not note.path.exists()
    assert review.marked() == ()
    (cancelled,) = engine.dispatch.outbox.jobs(sop_uid=target.sop_instance_uid)
    assert cancelled.job_id == job.job_id and cancelled.state is JobState.CANCELLED


def test_delete_refuses_a_still_already_sent(
    reviewed: tuple[Engine, list[InstanceRecord]],
) -> None:
    engine, stills = reviewed
    engine.dispatch.ledger.record_delivery(
        "PACS",
        stills[1],
        sent_sop_uid=stills[1].sop_instance_uid,
        sent_syntax="1.2.840.10008.1.2.1",
    )
    review = ReviewController(engine)
    assert review.items()[1].sent_to == ("PACS",)
    with pytest.raises(ReviewError, match="already sent to PACS"):
        review.delete(stills[1].sop_instance_uid)
    assert stills[1].path.exists()


def test_marks_are_kept_in_the_procedure_and_survive_a_restart(settings: Settings) -> None:
    small = _small(settings)
    with Engine.open(small) as engine:
        stills = _ended_capture(engine)
        review = ReviewController(engine)
        review.mark(stills[2].sop_instance_uid)
        review.mark(stills[0].sop_instance_uid)
        review.mark(stills[1].sop_instance_uid)
        assert review.mark(stills[2].sop_instance_uid, marked=False) == (
            stills[0].sop_instance_uid,
            stills[1].sop_instance_uid,
        )
    with Engine.open(small) as engine:
        assert engine.state is ProcedureState.REVIEW
        review = ReviewController(engine)
        assert [item.marked for item in review.items()] == [True, True, False]
        assert review.marked() == (stills[0].sop_instance_uid, stills[1].sop_instance_uid)


def test_review_actions_need_a_procedure_under_review(settings: Settings) -> None:
    with Engine.open(_small(settings)) as engine:
        review = ReviewController(engine)
        with pytest.raises(ReviewError, match="no procedure is selected"):
            review.items()
        engine.select_patient(PATIENT)
        engine.start()
        still = engine.capture_still()
        with pytest.raises(ReviewError, match="IN_PROGRESS, not under review"):
            review.mark(still.sop_instance_uid)
        assert [item.sop_instance_uid for item in review.items()] == [still.sop_instance_uid]


# -- derived pictures ------------------------------------------------------------------------


def test_crop_is_a_new_conformant_derived_instance_and_the_original_is_kept(
    reviewed: tuple[Engine, list[InstanceRecord]],
) -> None:
    require_binaries("dciodvfy")
    engine, stills = reviewed
    original = stills[1]
    before = _digest(original.path)

    made = ReviewController(engine).crop(original.sop_instance_uid, 40, 30, 320, 200)

    ds = _valid(made.path)
    assert ds.SOPClassUID == VL_ENDOSCOPIC and (ds.Columns, ds.Rows) == (320, 200)
    assert ds.SeriesInstanceUID == original.series_instance_uid
    assert ds.SOPInstanceUID != original.sop_instance_uid and ds.InstanceNumber == 4
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.DerivationDescription.startswith("Cropped")
    source = ds.SourceImageSequence[0]
    assert source.ReferencedSOPInstanceUID == original.sop_instance_uid
    assert source.ReferencedSOPClassUID == VL_ENDOSCOPIC
    assert source.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    assert ds.LossyImageCompression == "01"
    whole = pixel_array(original.path).astype(int)
    part = pixel_array(made.path).astype(int)
    assert np.abs(part - whole[30:230, 40:360]).mean() < 6  # the same picture, JPEG again
    assert _digest(original.path) == before
    with pytest.raises(ReviewError, match="not inside"):
        ReviewController(engine).crop(original.sop_instance_uid, 500, 400, 300, 200)


def test_a_note_becomes_a_color_presentation_state_that_gathers_the_notes_of_its_image(
    reviewed: tuple[Engine, list[InstanceRecord]],
) -> None:
    require_binaries("dciodvfy")
    engine, stills = reviewed
    image = stills[0]
    review = ReviewController(engine)

    first = review.annotate(image.sop_instance_uid, "Polyp 5 mm", 320, 240)
    second = review.annotate(image.sop_instance_uid, "Biopsy site", 600, 20)

    ds = _valid(second.path)
    assert ds.SOPClassUID == COLOR_PS and ds.Modality == "PR" and ds.ICCProfile
    assert ds.SeriesInstanceUID not in {s.series_instance_uid for s in stills}
    referenced = ds.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == image.series_instance_uid
    assert referenced.ReferencedImageSequence[0].ReferencedSOPInstanceUID == image.sop_instance_uid
    texts = [t.UnformattedTextValue for t in ds.GraphicAnnotationSequence[0].TextObjectSequence]
    assert texts == ["Polyp 5 mm", "Biopsy site"]
    assert not first.path.exists()  # one state per image: the earlier one, unsent, is replaced
    (item,) = [i for i in review.items() if i.sop_instance_uid == image.sop_instance_uid]
    assert [(n.text, n.x, n.y) for n in item.notes] == [
        ("Polyp 5 mm", 320.0, 240.0),
        ("Biopsy site", 600.0, 20.0),
    ]
    with pytest.raises(ReviewError, match="outside"):
        review.annotate(image.sop_instance_uid, "Far away", 700, 20)


def test_a_note_on_a_grayscale_still_is_a_grayscale_presentation_state(settings: Settings) -> None:
    require_binaries("dciodvfy")
    with Engine.open(_small(settings)) as engine:
        engine.select_patient(PATIENT)
        engine.start()
        gray = np.tile(np.arange(256, dtype=np.uint8), (200, 1))
        image = engine.capture_still(gray)
        engine.review()
        made = ReviewController(engine).annotate(image.sop_instance_uid, "Stricture", 128, 100)
        ds = _valid(made.path)
        assert ds.SOPClassUID == GRAYSCALE_PS
        item = ds.ReferencedSeriesSequence[0].ReferencedImageSequence[0]
        assert item.ReferencedSOPInstanceUID == image.sop_instance_uid


def test_a_burned_in_note_is_a_derived_copy_with_the_text_in_its_pixels(
    reviewed: tuple[Engine, list[InstanceRecord]],
) -> None:
    require_binaries("dciodvfy")
    engine, stills = reviewed
    original = stills[2]
    before = _digest(original.path)

    made = ReviewController(engine).annotate(
        original.sop_instance_uid, "Ulcer", 200, 150, mode=AnnotationMode.BURNED_IN
    )

    ds = _valid(made.path)
    assert ds.BurnedInAnnotation == "YES" and ds.SOPClassUID == VL_ENDOSCOPIC
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == original.sop_instance_uid
    assert ds.DerivationDescription == "Annotation burned in: Ulcer"
    difference = np.abs(pixel_array(made.path).astype(int) - pixel_array(original.path))
    near = difference[120:180, 170:320].max(axis=2)
    assert (near > 100).sum() > 200  # the ring, the line and the letters
    assert difference[400:, :100].mean() < 3  # the rest is the same picture
    assert _digest(original.path) == before


# -- ending ----------------------------------------------------------------------------------


def _mpps_settings(settings: Settings) -> Settings:
    port = free_port()
    destinations = (
        Destination(name="ris", ae_title="RIS", host="127.0.0.1", port=port, roles=(Role.MPPS,)),
        Destination(name="pacs", ae_title="PACS", host="127.0.0.1", port=port),
        Destination(name="film", ae_title="FILM", host="127.0.0.1", port=port, roles=(Role.PRINT,)),
    )
    return dataclasses.replace(_small(settings, auto_send=("pacs",)), destinations=destinations)


def _mpps_messages(engine: Engine) -> list[object]:
    return [job_from_payload(j.payload) for j in engine.dispatch.outbox.jobs(kind=JobKind.MPPS)]


def test_finish_stores_the_report_of_the_marked_stills_completes_and_queues_print_and_burn(
    settings: Settings, tmp_path: Path
) -> None:
    with Engine.open(_mpps_settings(settings)) as engine:
        stills = _ended_capture(engine)
        procedure = engine.procedure
        review = ReviewController(engine)
        review.mark(stills[2].sop_instance_uid)
        review.mark(stills[0].sop_instance_uid)

        summary = review.finish(print_to="film", burn_device=f"stdio:{tmp_path / 'disc.iso'}")

        assert engine.state is ProcedureState.IDLE  # the station is free for the next patient
        assert engine.store.procedure(procedure.procedure_id).state is ProcedureState.COMPLETED
        assert summary.state is ProcedureState.COMPLETED and summary.sent_to == ("pacs",)
        assert summary.report is not None and summary.report.sop_class_uid == ENCAPSULATED_PDF
        assert summary.report.study_instance_uid == procedure.study_uid
        message = _mpps_messages(engine)[-1]
        assert message.status.value == "COMPLETED"
        listed = {uid for s in message.step.performed_series for _, uid in s.non_images}
        assert summary.report.sop_instance_uid in listed
        sends = engine.dispatch.outbox.jobs(kind=JobKind.STORE, destination="pacs")
        assert summary.report.sop_instance_uid in {job.sop_uid for job in sends}
        assert len(sends) == 4
        (printing,) = engine.dispatch.outbox.jobs(kind=JobKind.PRINT)
        assert printing.job_id == summary.print_job and printing.destination == "film"
        (burning,) = engine.dispatch.outbox.jobs(kind=JobKind.MEDIA)
        assert summary.burn_jobs == (burning.job_id,)
        disc = Path(burning.payload["image"])
        assert (disc / "DICOMDIR").is_file()
        assert len(pydicom.dcmread(disc / "DICOMDIR").DirectoryRecordSequence) > 4


def test_finish_without_marks_makes_no_report_and_says_so(
    reviewed: tuple[Engine, list[InstanceRecord]],
) -> None:
    engine, stills = reviewed
    procedure = engine.procedure
    summary = ReviewController(engine).finish(print_to="film", release=False)
    assert engine.state is ProcedureState.COMPLETED
    assert summary.report is None and summary.print_job is None
    assert summary.notes == (
        "no still was marked, so no report was made",
        "nothing printed: no still was marked",
    )
    assert len(engine.store.instances(procedure.study_uid)) == len(stills)


def test_discontinue_ends_the_procedure_with_the_reason_chosen(settings: Settings) -> None:
    assert ("110514", "Incorrect worklist entry selected") in REASONS and len(REASONS) == 17
    with Engine.open(_mpps_settings(settings)) as engine:
        _ended_capture(engine, stills=1)
        procedure = engine.procedure
        ended = ReviewController(engine).discontinue("110514")
        assert ended.state is ProcedureState.DISCONTINUED
        assert engine.state is ProcedureState.IDLE
        assert engine.store.procedure(procedure.procedure_id).state is ProcedureState.DISCONTINUED
        message = _mpps_messages(engine)[-1]
        assert message.status.value == "DISCONTINUED"
        assert message.discontinuation.value == "110514"
        with pytest.raises(ReviewError, match="no procedure is selected"):
            ReviewController(engine).finish()
