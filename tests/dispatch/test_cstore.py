"""C-STORE SCU against Orthanc 1.10 and DCMTK storescp 3.6.7 (shared and narrowed receivers).

Arrival is checked by SOP Instance UID and a hash of the decoded pixels (stills) or of the
bit stream (video). The narrowed storescp receivers and the 0xA700 one are real DCMTK
processes (see ``conftest.py``).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE, evt

from izer.config import Destination, NetworkSettings, StationSettings
from izer.dispatch.cstore import (
    MAX_CONTEXTS,
    FileItem,
    StatusKind,
    StoreFailed,
    is_video_syntax,
    plan_batches,
    status_meaning,
    store_files,
)
from izer.dispatch.errors import DeliveryError
from izer.encode import TransferSyntax
from izer.encode.video import verify_video_instance
from izer.net import AssociationFactory
from tests.dispatch.conftest import (
    content_hash,
    destination_of,
    header,
    received_at_orthanc,
    received_at_storescp,
    write_large_video,
    write_still,
    write_video,
)
from tests.helpers.dicom_samples import make_secondary_capture
from tests.helpers.validators import dciodvfy
from tests.peers.harness import Peer, PeerSet, free_port

ROOT = Path(__file__).resolve().parents[2]
H264_HP41 = "1.2.840.10008.1.2.4.102"
HEVC_MAIN = "1.2.840.10008.1.2.4.107"
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"
#: Made-up SOP classes under the test UID root (storescp -pm accepts unknown classes).
PRIVATE_CLASSES = "1.2.826.0.1.3680043.10.1452.9"


# --------------------------------------------------------------------------- without peers


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (0x0000, StatusKind.SUCCESS, "success"),
        (0xA700, StatusKind.TRANSIENT, "out of resources"),
        (0xA7FF, StatusKind.TRANSIENT, "out of resources"),
        (0xA900, StatusKind.PERMANENT, "does not match SOP class"),
        (0xC123, StatusKind.PERMANENT, "cannot understand"),
        (0x0110, StatusKind.TRANSIENT, "processing failure"),
        (0x0122, StatusKind.PERMANENT, "SOP class not supported"),
        (0xB000, StatusKind.WARNING, "coercion of data elements"),
        (0xB007, StatusKind.WARNING, "does not match SOP class"),
        (0xB006, StatusKind.WARNING, "elements discarded"),
        (0xF123, StatusKind.PERMANENT, "does not define"),
    ],
)
def test_status_meanings(code: int, kind: StatusKind, words: str) -> None:
    meaning = status_meaning(code)
    assert meaning.kind is kind
    assert words in meaning.meaning
    assert meaning.stored is (kind in (StatusKind.SUCCESS, StatusKind.WARNING))


def _item(n: int, sop_class: str, syntax: str) -> FileItem:
    return FileItem(Path(f"f{n}.dcm"), sop_class, f"1.2.3.{n}", syntax, 100)


def test_one_context_per_pair_own_syntax_first_explicit_only_for_stills() -> None:
    items = [
        _item(1, VL_ENDOSCOPIC, str(JPEGBaseline8Bit)),
        _item(2, VL_ENDOSCOPIC, str(JPEGBaseline8Bit)),
        _item(3, VL_ENDOSCOPIC, str(ExplicitVRLittleEndian)),
        _item(4, VIDEO_ENDOSCOPIC, HEVC_MAIN),
        _item(5, VIDEO_ENDOSCOPIC, "1.2.840.10008.1.2.4.102.1"),
    ]
    (batch,) = plan_batches(items, [H264_HP41, "1.2.840.10008.1.2.4.101"])
    assert batch.pairs == [
        (VL_ENDOSCOPIC, str(JPEGBaseline8Bit)),
        (VL_ENDOSCOPIC, str(ExplicitVRLittleEndian)),
        (VIDEO_ENDOSCOPIC, HEVC_MAIN),
        (VIDEO_ENDOSCOPIC, "1.2.840.10008.1.2.4.102.1"),
        (VIDEO_ENDOSCOPIC, H264_HP41),
        (VIDEO_ENDOSCOPIC, "1.2.840.10008.1.2.4.101"),
    ]
    video_pairs = [pair for pair in batch.pairs if pair[0] == VIDEO_ENDOSCOPIC]
    assert all(is_video_syntax(syntax) for _, syntax in video_pairs)  # never uncompressed


def test_more_than_128_contexts_are_split_over_associations_in_order() -> None:
    classes = [f"1.2.826.0.1.3680043.10.1452.9.{n}" for n in range(100)]
    items = [_item(n, sop_class, str(JPEGBaseline8Bit)) for n, sop_class in enumerate(classes)]
    batches = plan_batches(items)
    assert len(batches) == 2
    assert all(len(batch.pairs) <= MAX_CONTEXTS for batch in batches)
    assert [item for batch in batches for item in batch.items] == items
    assert len(batches[0].pairs) == 128  # 64 files x (JPEG, Explicit VR LE)


@pytest.mark.peers
def test_files_needing_more_than_128_contexts_all_arrive(
    storescp: Peer,
    dimse_factory: AssociationFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paths = []
    for n in range(70):  # 70 private SOP classes x (JPEG-LS, Explicit VR LE) = 140 contexts
        path = write_still(tmp_path, n + 1, TransferSyntax.JPEG_LS_LOSSLESS)
        ds = pydicom.dcmread(path)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = f"{PRIVATE_CLASSES}.{n}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    outcomes = store_files(dimse_factory, destination_of(storescp), paths)
    assert [outcome.sop_uid for outcome in outcomes] == [header(p).SOPInstanceUID for p in paths]
    assert "more than the 128 one association holds: sending them over 2 associations" in (
        caplog.text
    )
    for path in paths[::23]:
        arrived = received_at_storescp(storescp, header(path).SOPInstanceUID)
        assert content_hash(arrived) == content_hash(path)


def test_unknown_ladder_name_is_a_permanent_error(tmp_path: Path) -> None:
    factory = AssociationFactory(StationSettings("IZERTEST", "1.2.3"), NetworkSettings())
    with pytest.raises(DeliveryError, match="unknown video transfer syntax") as error:
        store_files(factory, Destination(name="x"), [], ladder=("h266-turbo",))
    assert not error.value.transient


# --------------------------------------------------------------------------- real peers


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """JPEG and uncompressed VL Endoscopic stills and a small H.264 video (made-up patient)."""
    folder = tmp_path_factory.mktemp("mixed")
    return [
        write_still(folder, 1, TransferSyntax.JPEG_BASELINE),
        write_still(folder, 2, TransferSyntax.JPEG_BASELINE),
        write_still(folder, 3, TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN),
        write_still(folder, 4, TransferSyntax.JPEG_LS_LOSSLESS),
        write_video(folder, "h264_hp41"),
    ]


@pytest.mark.peers
@pytest.mark.parametrize("peer_name", ["orthanc", "storescp"])
def test_stills_and_video_arrive_identical(
    peer_name: str,
    mixed: list[Path],
    dimse_factory: AssociationFactory,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    peer: Peer = request.getfixturevalue(peer_name)
    progress: list[tuple[int, int]] = []
    outcomes = store_files(
        dimse_factory,
        destination_of(peer),
        mixed,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert [outcome.status for outcome in outcomes] == [0x0000] * len(mixed)
    total = sum(path.stat().st_size for path in mixed)
    assert progress[-1] == (total, total)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    for path, outcome in zip(mixed, outcomes, strict=True):
        sent = header(path)
        assert outcome.sop_uid == sent.SOPInstanceUID
        assert outcome.sent_syntax == sent.file_meta.TransferSyntaxUID  # as it is
        assert not outcome.transcoded
        if peer_name == "orthanc":
            arrived = received_at_orthanc(peer, outcome.sop_uid, tmp_path)
        else:
            arrived = received_at_storescp(peer, outcome.sop_uid)
        assert header(arrived).file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
        assert content_hash(arrived) == content_hash(path)


@pytest.mark.peers
def test_explicit_only_receiver_gets_jpeg_stills_decompressed(
    explicit_only_scp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    stills = [write_still(tmp_path, n, TransferSyntax.JPEG_BASELINE) for n in (1, 2, 3)]
    outcomes = store_files(dimse_factory, destination_of(explicit_only_scp), stills)
    for path, outcome in zip(stills, outcomes, strict=True):
        assert outcome.status == 0x0000
        assert outcome.sent_syntax == ExplicitVRLittleEndian
        arrived = received_at_storescp(explicit_only_scp, outcome.sop_uid)
        received = pydicom.dcmread(arrived)
        original = pydicom.dcmread(path)
        assert received.SOPInstanceUID == original.SOPInstanceUID
        assert received.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert original.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
        np.testing.assert_array_equal(received.pixel_array, original.pixel_array)
        assert received.LossyImageCompression == "01"  # still says it was lossy once


@pytest.mark.peers
def test_explicit_only_receiver_gets_an_implicit_vr_file_in_explicit_vr(
    explicit_only_scp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    ds = make_secondary_capture(patient_id="IZT-IMPLICIT-1")
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "implicit-sc.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert header(path).file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    (outcome,) = store_files(dimse_factory, destination_of(explicit_only_scp), [path])
    assert outcome.sent_syntax == ExplicitVRLittleEndian
    arrived = received_at_storescp(explicit_only_scp, ds.SOPInstanceUID)
    assert header(arrived).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert content_hash(arrived) == content_hash(path)


@pytest.mark.peers
@pytest.mark.parametrize("ladder", [(), ("h264-hp41", "mpeg2-mphl")], ids=["no-ladder", "ladder"])
def test_video_to_a_receiver_without_video_syntaxes_fails_with_the_reason(
    ladder: tuple[str, ...], explicit_only_scp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    video = write_video(tmp_path, "hevc_main")
    still = write_still(tmp_path, 1)
    with pytest.raises(StoreFailed) as error:
        store_files(dimse_factory, destination_of(explicit_only_scp), [video, still], ladder=ladder)
    failed = error.value
    assert not failed.transient
    message = str(failed)
    assert (
        "EXPLSCP accepts none of the video transfer syntaxes offered for "
        "Video Endoscopic Image Storage (HEVC/H.265 Main Profile / Level 5.1)"
    ) in message
    assert "never sent uncompressed" in message
    if ladder:
        assert "MPEG-4 AVC/H.264 High Profile / Level 4.1" in message
    else:
        assert "no transcode ladder is configured" in message
    # the still in the same call was delivered, the video was not
    (failure,) = failed.failures
    assert failure.path == video
    assert [outcome.sop_uid for outcome in failed.outcomes] == [header(still).SOPInstanceUID]
    assert not list(explicit_only_scp.data_dir.glob(f"*{header(video).SOPInstanceUID}*"))
    # alone, no context at all is accepted: the reason is the same
    with pytest.raises(StoreFailed) as alone:
        store_files(dimse_factory, destination_of(explicit_only_scp), [video], ladder=ladder)
    assert not alone.value.transient
    assert str(alone.value) == failure.message


@pytest.mark.peers
def test_ladder_transcodes_to_the_first_syntax_the_receiver_accepts(
    avc_only_scp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    video = write_video(tmp_path, "hevc_main")
    source = header(video)
    ladder = ("mpeg2-mphl", "h264-hp41", "hevc-main10")
    (outcome,) = store_files(
        dimse_factory, destination_of(avc_only_scp), [video], ladder=ladder, work_dir=tmp_path
    )
    assert outcome.transcoded
    assert outcome.sent_syntax == H264_HP41
    assert outcome.source_sop_uid == source.SOPInstanceUID
    assert outcome.sop_uid != source.SOPInstanceUID  # re-encoded: a new instance
    arrived = received_at_storescp(avc_only_scp, outcome.sop_uid)
    info = verify_video_instance(arrived)  # the stream is H.264 HP 4.1, as the header says
    assert info.codec == "h264"
    assert dciodvfy(arrived).errors == []
    received = header(arrived)
    assert received.file_meta.TransferSyntaxUID == H264_HP41
    assert int(received.NumberOfFrames) == int(source.NumberOfFrames)
    assert received.ImageType[0] == "DERIVED"
    assert received.DerivationDescription.startswith(
        "Re-encoded from HEVC/H.265 Main Profile / Level 5.1 to MPEG-4 AVC/H.264 High Profile"
    )
    assert received.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert list(received.LossyImageCompressionMethod) == ["ISO_23008_2", "ISO_14496_10"]
    assert received.PatientID == source.PatientID
    assert received.StudyInstanceUID == source.StudyInstanceUID
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("izer-send-")]  # cleaned
    # a retry makes the same new UID: re-sending is the only possible duplicate
    (again,) = store_files(dimse_factory, destination_of(avc_only_scp), [video], ladder=ladder)
    assert again.sop_uid == outcome.sop_uid


@pytest.mark.peers
def test_ladder_skips_a_syntax_the_video_cannot_fit(
    mpeg2_only_scp,
    dimse_factory: AssociationFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="izer.dispatch.cstore")
    video = write_video(tmp_path, "h264_hp41")  # 1920x1080 at 30/s with AAC sound
    source = header(video)
    ladder = ("mpeg2-mpml", "mpeg2-mphl")  # MP@ML is at most 720x576: MP@HL it is
    (outcome,) = store_files(dimse_factory, destination_of(mpeg2_only_scp), [video], ladder=ladder)
    assert outcome.transcoded
    assert outcome.sent_syntax == "1.2.840.10008.1.2.4.101"
    arrived = received_at_storescp(mpeg2_only_scp, outcome.sop_uid)
    info = verify_video_instance(arrived)
    assert (info.codec, info.width, info.height) == ("mpeg2video", 1920, 1080)
    assert info.audio is not None  # the sound came along (as MPEG-1 Layer III)
    validation = dciodvfy(arrived)
    assert (validation.errors, validation.warnings) == ([], [])
    assert int(header(arrived).NumberOfFrames) == int(source.NumberOfFrames)
    tried = [r.getMessage() for r in caplog.records if "cannot send it as" in r.getMessage()]
    assert len(tried) == 1
    assert "MPEG2 Main Profile / Main Level" in tried[0]


@pytest.mark.peers
def test_a700_out_of_resources_is_transient_and_names_the_status(
    flaky_scp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    stills = [write_still(tmp_path, n) for n in (1, 2)]
    flaky_scp.data_dir.rmdir()  # storescp cannot write: it answers 0xA700
    with pytest.raises(StoreFailed) as error:
        store_files(dimse_factory, destination_of(flaky_scp), stills)
    assert error.value.transient
    assert [failure.status for failure in error.value.failures] == [0xA700, 0xA700]
    assert "status 0xA700 refused: out of resources" in str(error.value)
    assert "2 of 2 files were not stored on FLAKYSCP@127.0.0.1" in str(error.value)
    flaky_scp.data_dir.mkdir()  # room again: trying again delivers
    outcomes = store_files(dimse_factory, destination_of(flaky_scp), stills)
    assert [outcome.status for outcome in outcomes] == [0x0000, 0x0000]


@pytest.mark.peers
def test_a_receiver_aborting_mid_transfer_is_transient_and_the_rest_is_not_sent(
    aborting_scp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    files = [write_video(tmp_path, "h264_hp41"), write_still(tmp_path, 2)]
    with pytest.raises(StoreFailed) as error:
        store_files(dimse_factory, destination_of(aborting_scp), files)
    assert error.value.transient
    assert [failure.path for failure in error.value.failures] == files
    assert all(failure.transient for failure in error.value.failures)
    # storescp sends A-ABORT and closes at once: which one pynetdicom notices first is a race
    # (rarely neither, and the sender only learns it at the DIMSE timeout); on a loaded machine
    # the abort may also come while the data set's last PDUs are still being queued
    assert re.search(
        r"no C-STORE response from ABORTSCP|not stored on ABORTSCP", error.value.failures[0].message
    )
    assert re.search(
        r"aborted the association|the connection closed|no answer within",
        error.value.failures[0].message,
    )
    assert "not sent to ABORTSCP" in error.value.failures[1].message
    assert not error.value.outcomes


@pytest.mark.peers
def test_a_receiver_killed_mid_transfer_is_transient(
    doomed_scp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    receiver, process = doomed_scp
    video = write_large_video(tmp_path, copies=3)  # ~40 MB: many PDUs still to go
    still = write_still(tmp_path, 1)

    def kill_once_started(done: int, total: int) -> None:
        if done and process.poll() is None:
            process.kill()
            process.wait()

    with pytest.raises(StoreFailed) as error:
        store_files(
            dimse_factory, destination_of(receiver), [video, still], progress=kill_once_started
        )
    assert error.value.transient
    assert [failure.path for failure in error.value.failures] == [video, still]
    first = error.value.failures[0].message
    assert "connection closed" in first or "aborted" in first, first
    assert "not sent to DOOMEDSCP" in error.value.failures[1].message


@pytest.mark.peers
def test_no_answer_within_the_dimse_timeout_is_transient(
    sleepy_scp, peer_set: PeerSet, tmp_path: Path
) -> None:
    factory = AssociationFactory(
        StationSettings(peer_set.listener_aet, "1.2.3"), NetworkSettings(dimse_timeout_s=1)
    )
    with pytest.raises(StoreFailed) as error:
        store_files(factory, destination_of(sleepy_scp), [write_still(tmp_path, 1)])
    assert error.value.transient
    assert "no C-STORE response from SLEEPYSCP" in str(error.value)
    assert "no answer within 1 s (dimse_timeout_s)" in str(error.value)


class StatusScp:
    """A pynetdicom Storage SCP answering each C-STORE with the next of ``statuses``.

    A test double for status handling only (no real peer answers B007 or Cxxx on demand).
    """

    def __init__(self, statuses: list[tuple[int, str]]) -> None:
        self.statuses = list(statuses)
        self.port = free_port()
        self.ae = AE(ae_title="STATUSSCP")
        self.ae.add_supported_context(VL_ENDOSCOPIC, [str(JPEGBaseline8Bit)])
        self._server = None

    def __enter__(self) -> StatusScp:
        handlers = [(evt.EVT_C_STORE, self._on_store)]
        self._server = self.ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=handlers
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    def _on_store(self, event: evt.Event) -> Dataset:
        code, comment = self.statuses.pop(0)
        status = Dataset()
        status.Status = code
        if comment:
            status.ErrorComment = comment
        return status


def test_warnings_are_accepted_and_failures_named(tmp_path: Path) -> None:
    factory = AssociationFactory(StationSettings("IZERTEST", "1.2.3"), NetworkSettings())
    stills = [write_still(tmp_path, n) for n in range(1, 6)]
    statuses = [
        (0xB000, ""),
        (0xB007, "Laterality missing"),
        (0xC001, "cannot parse"),
        (0x0110, ""),
        (0x0000, ""),
    ]
    with StatusScp(statuses) as scp:
        destination = Destination(name="s", ae_title="STATUSSCP", host="127.0.0.1", port=scp.port)
        with pytest.raises(StoreFailed) as error:
            store_files(factory, destination, stills)
    outcomes = error.value.outcomes
    assert [outcome.status for outcome in outcomes] == [0xB000, 0xB007, 0x0000]
    assert (
        outcomes[0].warning
        == "0xB000 coercion of data elements (the receiver changed some attributes)"
    )
    assert (
        outcomes[1].warning
        == "0xB007 data set does not match SOP class (stored anyway): Laterality missing"
    )
    assert outcomes[2].warning == ""
    failures = error.value.failures
    assert [(f.status, f.transient) for f in failures] == [(0xC001, False), (0x0110, True)]
    assert "status 0xC001 error: cannot understand: cannot parse" in failures[0].message
    assert "status 0x0110 processing failure" in failures[1].message
    assert error.value.transient  # one of them may pass on a later try


def test_closed_port_is_a_transient_error_with_the_reason(tmp_path: Path) -> None:
    factory = AssociationFactory(StationSettings("IZERTEST", "1.2.3"), NetworkSettings())
    still = write_still(tmp_path, 1)
    port = free_port()
    nobody = Destination(name="nobody", ae_title="NOBODY", host="127.0.0.1", port=port)
    with pytest.raises(DeliveryError) as error:
        store_files(factory, nobody, [still])
    assert error.value.transient
    assert f"NOBODY@127.0.0.1:{port}" in str(error.value)
    assert "connection refused" in str(error.value)


@pytest.mark.peers
def test_a_missing_file_fails_alone_and_permanently(
    storescp, dimse_factory: AssociationFactory, tmp_path: Path
) -> None:
    good = write_still(tmp_path, 1)
    missing = tmp_path / "gone.dcm"
    with pytest.raises(StoreFailed) as error:
        store_files(dimse_factory, destination_of(storescp), [missing, good])
    assert not error.value.transient
    assert f"cannot read {missing}" in str(error.value)
    assert [o.sop_uid for o in error.value.outcomes] == [header(good).SOPInstanceUID]


_SEND_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from izer.config import Destination, NetworkSettings, StationSettings
    from izer.dispatch.cstore import store_files
    from izer.net import AssociationFactory

    path, targets = Path(sys.argv[1]), json.loads(sys.argv[2])
    factory = AssociationFactory(
        StationSettings(ae_title="IZERTEST", uid_root="1.2.3"),
        NetworkSettings(dimse_timeout_s=120, network_timeout_s=60),
    )
    calls = []
    results = {}
    for name, aet, port in targets:
        calls.clear()
        destination = Destination(name=name, ae_title=aet, host="127.0.0.1", port=port)
        progress = lambda done, total: calls.append(done)
        (outcome,) = store_files(factory, destination, [path], progress=progress)
        results[name] = {"status": outcome.status, "calls": len(calls), "last": calls[-1]}
    # VmHWM: this process's own peak (ru_maxrss keeps the parent's peak across fork+exec)
    status = Path("/proc/self/status").read_text()
    (peak_kb,) = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    results["max_rss_mb"] = int(peak_kb) / 1024
    print(json.dumps(results))
    """
)


@pytest.mark.peers
def test_a_large_video_is_sent_from_file_with_bounded_memory(
    orthanc: Peer, storescp: Peer, tmp_path: Path
) -> None:
    video = write_large_video(tmp_path)
    size = video.stat().st_size
    assert size >= 300 * 1024 * 1024
    targets = [("orthanc", orthanc.aet, orthanc.port), ("storescp", storescp.aet, storescp.port)]
    completed = subprocess.run(
        [sys.executable, "-c", _SEND_SCRIPT, str(video), json.dumps(targets)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"peak RSS sending a {size / 2**20:.0f} MB video twice: {results['max_rss_mb']:.0f} MB")
    # imports alone take ~56 MB; pynetdicom on its own peaks above the size of the file
    assert results["max_rss_mb"] < 128
    for name in ("orthanc", "storescp"):
        assert results[name]["status"] == 0x0000
        assert results[name]["last"] == size
        assert results[name]["calls"] > 100  # progress while sending, not only at the end
    uid = header(video).SOPInstanceUID
    expected = content_hash(video)
    assert content_hash(received_at_storescp(storescp, uid)) == expected
    assert content_hash(received_at_orthanc(orthanc, uid, tmp_path)) == expected
