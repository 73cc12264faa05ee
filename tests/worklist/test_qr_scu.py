"""Query/Retrieve SCU against real archives: C-FIND at study, series and image level, C-MOVE
to izer's own listener and C-GET, from Orthanc and DCMTK dcmqrscp, of a study holding an
H.264 video and a still (issue 11). Every test has its own made-up patient.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from izer.cli.main import main
from izer.config import Destination, Role, Settings
from izer.encode import TransferSyntax, UidFactory, VLKind, vl_image
from izer.encode.video import VideoKind, probe, video_image, write_video_instance
from izer.encode.video.syntaxes import VideoSyntax
from izer.engine import Engine
from izer.engine.retrieving import (
    FIND_MODELS,
    GET_MODELS,
    MOVE_MODELS,
    RetrieveFailed,
    RetrieveProgress,
    RetrieveStatus,
)
from izer.model import Patient, Sex
from izer.worklist.retrieve import GET_STORAGE_CLASSES, MAX_REQUESTED_CONTEXTS, get_contexts
from tests.encode.factories import UID_ROOT, make_context, smooth_image
from tests.encode.video.conforming import conforming_clip
from tests.peers.harness import Peer, PeerSet

pytestmark = pytest.mark.peers

_numbers = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class Study:
    """A made-up study written to files: a video series and a still series."""

    patient_id: str
    study_uid: str
    files: tuple[Path, ...]

    def datasets(self) -> list[Dataset]:
        return [pydicom.dcmread(path) for path in self.files]

    def sop_uids(self) -> set[str]:
        return {str(ds.SOPInstanceUID) for ds in self.datasets()}

    def series_uids(self) -> set[str]:
        return {str(ds.SeriesInstanceUID) for ds in self.datasets()}


def make_study(
    folder: Path, tag: str, still_syntax: TransferSyntax = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN
) -> Study:
    """An H.264 HP@L4.1 Video Endoscopic instance and a VL Endoscopic still (uncompressed by
    default) of one new study of the made-up patient ``IZT-QR-<tag>``."""
    folder.mkdir(parents=True, exist_ok=True)
    patient = Patient(
        patient_id=f"IZT-QR-{tag}",
        name=f"Qrtest^{tag.title().replace('-', '')}",
        birth_date="19800202",
        sex=Sex.FEMALE,
    )
    uids = UidFactory(UID_ROOT)
    video_context = make_context(1, "ES")
    study = dataclasses.replace(
        video_context.study, patient=patient, accession_number=f"QR{next(_numbers):05d}"
    )
    video_context = dataclasses.replace(video_context, study=study)
    still_context = dataclasses.replace(
        make_context(1, "ES"),
        study=study,
        series=dataclasses.replace(
            video_context.series, series_instance_uid=uids.new(), series_number=2
        ),
    )
    clip = conforming_clip("h264_hp41")
    video = video_image(
        clip, probe(clip), video_context, kind=VideoKind.ENDOSCOPIC, syntax=VideoSyntax.H264_HP41
    )
    video_path = folder / "video.dcm"
    write_video_instance(video, video_path)
    still = vl_image(
        smooth_image(64, 80, colour=True, seed=7),
        still_context,
        kind=VLKind.ENDOSCOPIC,
        transfer_syntax=still_syntax,
    )
    still_path = folder / "still.dcm"
    still.save_as(still_path, enforce_file_format=True)
    return Study(patient.patient_id, study.study_instance_uid, (video_path, still_path))


def put_in_orthanc(orthanc: Peer, study: Study) -> None:
    for path in study.files:
        request = urllib.request.Request(
            f"{orthanc.http_url}/instances", data=path.read_bytes(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert json.loads(response.read())["Status"] in ("Success", "AlreadyStored")


def put_in_dcmqrscp(dcmqrscp: Peer, study: Study) -> None:
    for ds in study.datasets():
        ae = AE(ae_title="IZERQRTEST")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        assoc = ae.associate(dcmqrscp.host, dcmqrscp.port, ae_title=dcmqrscp.aet)
        assert assoc.is_established
        try:
            status = assoc.send_c_store(ds)
        finally:
            assoc.release()
        assert int(status.Status) == 0x0000


def source_of(peer: Peer, name: str) -> Destination:
    return Destination(
        name=name,
        ae_title=peer.aet,
        host=peer.host,
        port=peer.port,
        roles=(Role.QUERY,),
        dimse_timeout_s=60,
        network_timeout_s=60,
    )


@pytest.fixture
def qr_settings(settings: Settings, peer_set: PeerSet) -> Settings:
    """Settings whose station and listener are the ones the test archives know as "izer"."""
    orthanc, dcmqrscp = peer_set["orthanc"], peer_set["dcmqrscp"]
    return dataclasses.replace(
        settings,
        station=dataclasses.replace(settings.station, ae_title=peer_set.listener_aet),
        listener=dataclasses.replace(settings.listener, port=peer_set.listener_port),
        destinations=(source_of(orthanc, "pacs"), source_of(dcmqrscp, "qr")),
    )


@pytest.fixture
def qr_engine(qr_settings: Settings) -> Iterator[Engine]:
    with Engine.open(qr_settings) as engine:
        yield engine


def assert_pixels_identical(engine: Engine, study: Study) -> None:
    for original in study.datasets():
        path = engine.store.path_for(
            original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID
        )
        assert path.is_file(), f"{original.SOPInstanceUID} is not in the local store"
        stored = pydicom.dcmread(path)
        assert stored.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert stored.PixelData == original.PixelData


# --------------------------------------------------------------------------- C-MOVE


@pytest.mark.parametrize("source", ["pacs", "qr"])
def test_c_move_retrieves_a_study_with_video_into_the_store(
    qr_engine: Engine, peer_set: PeerSet, tmp_path: Path, source: str
) -> None:
    study = make_study(tmp_path / "study", f"MOVE-{source.upper()}")
    if source == "pacs":
        put_in_orthanc(peer_set["orthanc"], study)
    else:
        put_in_dcmqrscp(peer_set["dcmqrscp"], study)
    assert qr_engine.store.instances(study.study_uid) == []
    seen: list[RetrieveProgress] = []

    report = qr_engine.retrieve.move(source, study.study_uid, progress=seen.append)

    assert report.result.status == 0x0000, report
    assert report.result.meaning is RetrieveStatus.SUCCESS
    assert (report.result.completed, report.result.failed) == (2, 0)
    assert set(report.expected) == study.sop_uids()
    assert set(report.stored) == study.sop_uids()
    assert report.missing == () and report.complete
    assert report.listener.startswith("a temporary listener")
    assert_pixels_identical(qr_engine, study)
    assert all(p.remaining is None or p.remaining <= 2 for p in seen)


def test_c_move_while_izer_serve_listens_goes_to_that_listener(
    qr_engine: Engine, peer_set: PeerSet, tmp_path: Path
) -> None:
    study = make_study(tmp_path / "study", "MOVE-SERVE")
    put_in_orthanc(peer_set["orthanc"], study)
    with qr_engine.listener():  # as izer serve would, on [listener] port, filing into the store
        report = qr_engine.retrieve.move("pacs", study.study_uid)
    assert report.listener.startswith("the listener already running")
    assert report.complete and set(report.stored) == study.sop_uids()
    assert_pixels_identical(qr_engine, study)


@pytest.mark.parametrize(
    ("source", "status", "says"),
    [
        ("qr", 0xA801, "does not know izer's AE title NOSUCHIZER as a move destination (0xA801)"),
        ("pacs", 0xC000, "knows izer's AE title NOSUCHIZER as a move destination"),
    ],
)
def test_c_move_to_an_unknown_destination_says_what_to_add(
    qr_settings: Settings,
    peer_set: PeerSet,
    tmp_path: Path,
    source: str,
    status: int,
    says: str,
) -> None:
    study = make_study(tmp_path / "study", f"MOVE-UNKNOWN-{source.upper()}")
    if source == "pacs":
        put_in_orthanc(peer_set["orthanc"], study)
    else:
        put_in_dcmqrscp(peer_set["dcmqrscp"], study)
    station = dataclasses.replace(qr_settings.station, ae_title="NOSUCHIZER")
    with Engine.open(dataclasses.replace(qr_settings, station=station)) as engine:
        with pytest.raises(RetrieveFailed) as info:
            engine.retrieve.move(source, study.study_uid)
        assert engine.store.instances(study.study_uid) == []
    assert info.value.status == status
    message = str(info.value)
    assert says in message
    assert f"port {peer_set.listener_port}" in message


# --------------------------------------------------------------------------- C-GET


def test_c_get_from_orthanc_retrieves_video_and_jpeg_still_as_stored(
    qr_engine: Engine, peer_set: PeerSet, tmp_path: Path
) -> None:
    study = make_study(tmp_path / "study", "GET-PACS", TransferSyntax.JPEG_BASELINE)
    put_in_orthanc(peer_set["orthanc"], study)

    report = qr_engine.retrieve.get("pacs", study.study_uid)

    assert report.result.status == 0x0000, report
    assert report.result.completed == 2
    assert set(report.stored) == study.sop_uids() and report.complete
    assert_pixels_identical(qr_engine, study)


def test_c_get_from_dcmqrscp_retrieves_video_and_still(
    qr_engine: Engine, peer_set: PeerSet, tmp_path: Path
) -> None:
    study = make_study(tmp_path / "study", "GET-QR")
    put_in_dcmqrscp(peer_set["dcmqrscp"], study)

    report = qr_engine.retrieve.get("qr", study.study_uid)

    assert report.result.status == 0x0000, report
    assert set(report.stored) == study.sop_uids() and report.complete
    assert_pixels_identical(qr_engine, study)


def test_c_get_proposes_at_most_128_contexts_video_syntaxes_apart() -> None:
    video_endoscopic = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
    vl_endoscopic = "1.2.840.10008.5.1.4.1.1.77.1.1"
    default = get_contexts()
    assert len(default) + len(GET_MODELS) <= MAX_REQUESTED_CONTEXTS
    assert {uid for uid, _ in default} == set(GET_STORAGE_CLASSES)
    common = {str(c.abstract_syntax) for c in StoragePresentationContexts}
    assert len(set(GET_STORAGE_CLASSES) & common) >= 80
    video = [syntaxes for uid, syntaxes in default if uid == video_endoscopic]
    assert video[0] == ["1.2.840.10008.1.2.4.102"]  # H.264 HP@L4.1 first, on its own
    assert all(len(syntaxes) == 1 for syntaxes in video[:-1])
    still = [syntaxes for uid, syntaxes in default if uid == vl_endoscopic]
    assert len(still) == 1 and "1.2.840.10008.1.2.4.50" in still[0]
    known = get_contexts([vl_endoscopic, video_endoscopic])
    assert all(len(syntaxes) == 1 for uid, syntaxes in known if uid == vl_endoscopic)
    assert len([1 for uid, _ in known if uid == vl_endoscopic]) == 18  # every non-video syntax
    assert FIND_MODELS[1] == StudyRootQueryRetrieveInformationModelFind
    assert (StudyRootQueryRetrieveInformationModelMove,) == MOVE_MODELS
    assert (StudyRootQueryRetrieveInformationModelGet,) == GET_MODELS


# --------------------------------------------------------------------------- C-FIND


def test_c_find_at_study_series_and_image_level(
    qr_engine: Engine, peer_set: PeerSet, tmp_path: Path
) -> None:
    study = make_study(tmp_path / "study", "FIND")
    put_in_orthanc(peer_set["orthanc"], study)
    retrieve = qr_engine.retrieve

    studies = retrieve.find("pacs", "STUDY", patient_id=study.patient_id).matches
    assert [s.study_instance_uid for s in studies] == [study.study_uid]
    assert studies[0].instance_count == 2 and studies[0].series_count == 2

    series = retrieve.find("pacs", "series", study_uid=study.study_uid).matches
    assert {s.series_instance_uid for s in series} == study.series_uids()
    assert [(s.series_number, s.modality, s.instance_count) for s in series] == [
        (1, "ES", 1),
        (2, "ES", 1),
    ]
    found = set()
    for one in series:
        instances = retrieve.find(
            "pacs", "IMAGE", study_uid=study.study_uid, series_uid=one.series_instance_uid
        ).matches
        assert len(instances) == 1
        found.add(instances[0].sop_instance_uid)
        if one.series_number == 1:
            assert instances[0].sop_class_uid == "1.2.840.10008.5.1.4.1.1.77.1.1.1"
            assert (instances[0].frames or 0) > 1
    assert found == study.sop_uids()


def test_query_source_errors_name_the_configured_sources(qr_engine: Engine) -> None:
    with pytest.raises(ValueError, match="several query sources are configured \\(pacs, qr\\)"):
        qr_engine.retrieve.source(None)
    with pytest.raises(ValueError, match="not a UID"):
        qr_engine.retrieve.find("pacs", "SERIES", study_uid="1.2.*")
    with pytest.raises(ValueError, match="query level 'PATIENTS'"):
        qr_engine.retrieve.find("pacs", "PATIENTS")


# --------------------------------------------------------------------------- CLI


def _config(tmp_path: Path, qr_settings: Settings, peer_set: PeerSet) -> Path:
    orthanc = peer_set["orthanc"]
    path = tmp_path / "qr.toml"
    path.write_text(
        f"""
[station]
ae_title = "{qr_settings.station.ae_title}"
uid_root = "{qr_settings.station.uid_root}"

[storage]
folder = "{qr_settings.storage.folder}"

[listener]
port = {qr_settings.listener.port}

[[destinations]]
name = "pacs"
ae_title = "{orthanc.aet}"
host = "{orthanc.host}"
port = {orthanc.port}
roles = ["query"]
""",
        encoding="utf-8",
    )
    return path


def test_cli_query_and_retrieve(
    qr_settings: Settings,
    peer_set: PeerSet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    study = make_study(tmp_path / "study", "CLI")
    put_in_orthanc(peer_set["orthanc"], study)
    config = str(_config(tmp_path, qr_settings, peer_set))

    assert main(["query", "--config", config, "--patient-id", study.patient_id]) == 0
    out = capsys.readouterr().out
    assert study.study_uid in out and "1 study" in out

    assert main(["query", "--config", config, "--study", study.study_uid, "--json"]) == 0
    series = json.loads(capsys.readouterr().out)
    assert {s["series_instance_uid"] for s in series} == study.series_uids()

    assert main(["retrieve", "--config", config, study.study_uid]) == 0
    out = capsys.readouterr().out
    assert f"retrieved 2 instances of study {study.study_uid}" in out
    assert f"izer media build {study.study_uid}" in out
    video_series = next(ds.SeriesInstanceUID for ds in study.datasets() if "NumberOfFrames" in ds)
    argv = ["query", "--config", config, "--study", study.study_uid, "--series", video_series]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 instance on pacs" in out and "1.2.840.10008.5.1.4.1.1.77.1.1.1" in out
    assert main(["query", "--config", config, "--series", video_series]) == 2
    assert "--series needs --study" in capsys.readouterr().err
    with Engine.open(qr_settings) as engine:
        assert_pixels_identical(engine, study)
