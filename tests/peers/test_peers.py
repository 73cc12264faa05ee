"""Smoke tests: every real peer answers, stores, queries and cleans up as expected."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (
    BasicGrayscalePrintManagementMeta,
    ModalityWorklistInformationFind,
    Printer,
    PrinterInstance,
    StorageCommitmentPushModel,
    StorageCommitmentPushModelInstance,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
)

from tests.helpers.binaries import package_for, require_binaries
from tests.helpers.dicom_samples import make_secondary_capture, write_secondary_capture
from tests.helpers.sender import find_all
from tests.helpers.validators import dcentvfy, dciodvfy
from tests.peers import harness
from tests.peers.harness import (
    ALL_PEERS,
    MissingBinaryError,
    Peer,
    PeerSet,
    PeerStartError,
    PortInUseError,
    stop_recorded_peers,
)
from tests.peers.worklist import DEFAULT_WORKLIST_ITEMS

pytestmark = pytest.mark.peers

TIMEOUT = 10


def _ae(aet: str = "IZERSMOKE") -> AE:
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    return ae


def _c_store(peer: Peer, ds: Dataset) -> int:
    """C-STORE *ds* to *peer* with pynetdicom and return the response status."""
    ae = _ae()
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet)
    assert assoc.is_established, f"association to {peer.address} failed"
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status, f"no C-STORE response from {peer.address}"
    return int(status.Status)


def _mwl_query(peer: Peer, station_aet: str) -> list[Dataset]:
    """Run a Modality Worklist C-FIND against *peer* and return all matches."""
    step = Dataset()
    step.Modality = "ES"
    step.ScheduledStationAETitle = station_aet
    step.ScheduledProcedureStepStartDate = ""
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepID = ""
    step.ScheduledProcedureStepDescription = ""
    query = Dataset()
    query.SpecificCharacterSet = "ISO_IR 192"
    query.PatientName = ""
    query.PatientID = ""
    query.PatientBirthDate = ""
    query.PatientSex = ""
    query.AccessionNumber = ""
    query.StudyInstanceUID = ""
    query.RequestedProcedureID = ""
    query.ScheduledProcedureStepSequence = [step]

    return find_all(
        peer, query, ModalityWorklistInformationFind, ae_title="IZERSMOKE", timeout_s=TIMEOUT
    )


def _assert_default_worklist(matches: list[Dataset], station_aet: str) -> None:
    by_accession = {str(m.AccessionNumber): m for m in matches}
    for item in DEFAULT_WORKLIST_ITEMS:
        assert item.accession in by_accession, f"{item.accession} missing from {matches}"
        found = by_accession[item.accession]
        assert str(found.PatientName) == item.patient_name
        assert found.PatientID == item.patient_id
        step = found.ScheduledProcedureStepSequence[0]
        assert step.Modality == "ES"
        assert step.ScheduledStationAETitle == station_aet


def _pid_alive(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and marker.encode() in cmdline


# --------------------------------------------------------------------------- all peers


@pytest.mark.parametrize("name", ALL_PEERS)
def test_peer_answers_dcmtk_echoscu(peer_set: PeerSet, name: str) -> None:
    echoscu = require_binaries("echoscu")["echoscu"]
    peer = peer_set[name]
    proc = subprocess.run(
        [str(echoscu), "-aec", peer.aet, peer.host, str(peer.port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, f"echoscu {peer.address}: {proc.stdout}{proc.stderr}"


def test_peers_have_distinct_ports_and_pid_files(peer_set: PeerSet) -> None:
    ports = [p.port for p in peer_set.peers.values()]
    ports += [p.http_port for p in peer_set.peers.values() if p.http_port]
    ports.append(peer_set.listener_port)
    assert len(ports) == len(set(ports))
    for name, peer in peer_set.peers.items():
        recorded = int((peer_set.pid_dir / f"{name}.pid").read_text())
        assert recorded == peer.pid
        assert _pid_alive(recorded, str(peer_set.run_dir))


# --------------------------------------------------------------------------- storescp


def test_storescp_receives_secondary_capture(storescp: Peer) -> None:
    ds = make_secondary_capture(patient_name="Test^Peer", patient_id="IZT-STORE-1")
    assert _c_store(storescp, ds) == 0x0000
    uid = ds.SOPInstanceUID
    received = list(storescp.folder.glob(f"*.{uid}.dcm"))
    assert len(received) == 1, f"no file for {uid} in {sorted(storescp.folder.iterdir())}"
    stored = dcmread(received[0])
    assert stored.SOPInstanceUID == uid
    assert str(stored.PatientName) == "Test^Peer"


# --------------------------------------------------------------------------- orthanc


def _orthanc_lookup(orthanc: Peer, uid: str) -> list[dict[str, str]]:
    request = urllib.request.Request(
        f"{orthanc.http_url}/tools/lookup", data=uid.encode("ascii"), method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.loads(response.read())


def test_orthanc_stores_and_finds_by_rest(orthanc: Peer) -> None:
    ds = make_secondary_capture(patient_name="Test^Peer", patient_id="IZT-ORTH-1")
    assert _orthanc_lookup(orthanc, ds.SOPInstanceUID) == []
    assert _c_store(orthanc, ds) == 0x0000
    found = _orthanc_lookup(orthanc, ds.SOPInstanceUID)
    assert [f["Type"] for f in found] == ["Instance"]


def test_orthanc_worklist_decodes_utf8_names(peer_set: PeerSet, orthanc: Peer) -> None:
    matches = _mwl_query(orthanc, peer_set.listener_aet)
    _assert_default_worklist(matches, peer_set.listener_aet)


def test_orthanc_storage_commitment_reports_to_listener(peer_set: PeerSet, orthanc: Peer) -> None:
    ds = make_secondary_capture(patient_id="IZT-COMMIT-1")
    assert _c_store(orthanc, ds) == 0x0000
    bogus_uid = generate_uid()

    reports: queue.Queue[tuple[int, Dataset]] = queue.Queue()

    def on_report(event: Event) -> tuple[int, None]:
        reports.put((int(event.request.EventTypeID), event.event_information))
        return 0x0000, None

    ae = _ae(peer_set.listener_aet)
    ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
    ae.add_requested_context(StorageCommitmentPushModel)
    server = ae.start_server(
        ("127.0.0.1", peer_set.listener_port),
        block=False,
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)],
    )
    try:
        request = Dataset()
        request.TransactionUID = generate_uid()
        request.ReferencedSOPSequence = []
        for uid in (ds.SOPInstanceUID, bogus_uid):
            ref = Dataset()
            ref.ReferencedSOPClassUID = SecondaryCaptureImageStorage
            ref.ReferencedSOPInstanceUID = uid
            request.ReferencedSOPSequence.append(ref)

        assoc = ae.associate(orthanc.host, orthanc.port, ae_title=orthanc.aet)
        assert assoc.is_established
        try:
            status, _reply = assoc.send_n_action(
                request, 1, StorageCommitmentPushModel, StorageCommitmentPushModelInstance
            )
        finally:
            assoc.release()
        assert status, "no N-ACTION response"
        assert status.Status == 0x0000, f"N-ACTION status {status}"
        try:
            event_type, info = reports.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no N-EVENT-REPORT within {TIMEOUT} s\n{orthanc.log_tail()}")
    finally:
        server.shutdown()

    assert event_type == 2  # some instances failed
    assert info.TransactionUID == request.TransactionUID
    assert [r.ReferencedSOPInstanceUID for r in info.ReferencedSOPSequence] == [ds.SOPInstanceUID]
    assert [r.ReferencedSOPInstanceUID for r in info.FailedSOPSequence] == [bogus_uid]


# --------------------------------------------------------------------------- wlmscpfs


def test_wlmscpfs_worklist_decodes_utf8_names(peer_set: PeerSet, wlmscpfs: Peer) -> None:
    matches = _mwl_query(wlmscpfs, peer_set.listener_aet)
    _assert_default_worklist(matches, peer_set.listener_aet)
    assert all(m.SpecificCharacterSet == "ISO_IR 192" for m in matches)


def test_wlmscpfs_serves_items_added_later(peer_set: PeerSet, wlmscpfs: Peer) -> None:
    paths = peer_set.write_worklist_item(
        "IZACC9001.wl",
        patient_id="IZT-9001",
        accession="IZACC9001",
        modality="ES",
        patient_name="Weiß^Zoë",
    )
    try:
        assert wlmscpfs.worklist_dir is not None
        assert wlmscpfs.worklist_dir / "IZACC9001.wl" in paths
        matches = _mwl_query(wlmscpfs, peer_set.listener_aet)
        names = {str(m.AccessionNumber): str(m.PatientName) for m in matches}
        assert names.get("IZACC9001") == "Weiß^Zoë"
    finally:
        for path in paths:
            path.unlink()


# --------------------------------------------------------------------------- dcmprscp


def test_dcmprscp_accepts_grayscale_print_and_reports_printer_status(dcmprscp: Peer) -> None:
    ae = _ae()
    ae.add_requested_context(BasicGrayscalePrintManagementMeta)
    assoc = ae.associate(dcmprscp.host, dcmprscp.port, ae_title=dcmprscp.aet)
    assert assoc.is_established, f"print association rejected\n{dcmprscp.log_tail()}"
    try:
        accepted = [c.abstract_syntax for c in assoc.accepted_contexts]
        assert accepted == [BasicGrayscalePrintManagementMeta]
        status, attrs = assoc.send_n_get(
            [0x21100010],  # Printer Status
            Printer,
            PrinterInstance,
            meta_uid=BasicGrayscalePrintManagementMeta,
        )
    finally:
        assoc.release()
    assert status, "no N-GET response"
    assert status.Status == 0x0000, f"N-GET status {status}"
    assert attrs is not None
    assert attrs.PrinterStatus in {"NORMAL", "WARNING", "FAILURE"}


# --------------------------------------------------------------------------- dcmqrscp


def test_dcmqrscp_stores_then_finds_study(dcmqrscp: Peer) -> None:
    ds = make_secondary_capture(patient_name="Test^Peer", patient_id="IZT-QR-1")
    assert _c_store(dcmqrscp, ds) == 0x0000

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ds.StudyInstanceUID
    query.PatientName = ""
    query.PatientID = ""
    matches = find_all(
        dcmqrscp,
        query,
        StudyRootQueryRetrieveInformationModelFind,
        ae_title="IZERSMOKE",
        timeout_s=TIMEOUT,
    )
    assert [m.StudyInstanceUID for m in matches] == [ds.StudyInstanceUID]
    assert matches[0].PatientID == "IZT-QR-1"


def test_dcmqrscp_moves_study_to_listener(peer_set: PeerSet, dcmqrscp: Peer) -> None:
    ds = make_secondary_capture(patient_id="IZT-QR-MOVE")
    assert _c_store(dcmqrscp, ds) == 0x0000

    received: queue.Queue[str] = queue.Queue()

    def on_store(event: Event) -> int:
        received.put(str(event.dataset.SOPInstanceUID))
        return 0x0000

    ae = _ae(peer_set.listener_aet)
    ae.add_supported_context(SecondaryCaptureImageStorage)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    server = ae.start_server(
        ("127.0.0.1", peer_set.listener_port),
        block=False,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ds.StudyInstanceUID
        assoc = ae.associate(dcmqrscp.host, dcmqrscp.port, ae_title=dcmqrscp.aet)
        assert assoc.is_established
        try:
            statuses = [
                int(status.Status)
                for status, _ in assoc.send_c_move(
                    query, peer_set.listener_aet, StudyRootQueryRetrieveInformationModelMove
                )
                if status
            ]
        finally:
            assoc.release()
    finally:
        server.shutdown()
    assert statuses, "no C-MOVE response"
    assert statuses[-1] == 0x0000, f"C-MOVE statuses {statuses}\n{dcmqrscp.log_tail()}"
    assert received.get_nowait() == ds.SOPInstanceUID


# --------------------------------------------------------------------------- harness


def test_harness_refuses_taken_port_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        peers = PeerSet(tmp_path / "busy")
        with pytest.raises(PortInUseError, match=str(port)):
            peers.start(["storescp"], ports={"storescp": port})
    assert peers.peers == {}
    assert not list(peers.pid_dir.glob("*.pid"))
    assert not (tmp_path / "busy" / "storescp").exists()


def test_harness_reports_peer_dying_at_start_with_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "port_in_use", lambda port: False)  # skip the pre-check
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        peers = PeerSet(tmp_path / "dies", timeout=20)
        started = time.monotonic()
        with pytest.raises(PeerStartError, match="storescp exited") as info:
            peers.start(["storescp"], ports={"storescp": port})
        assert time.monotonic() - started < 5, "early death must be reported at once"
    assert "log tail" in str(info.value)
    assert not list(peers.pid_dir.glob("*.pid"))


def test_harness_refuses_missing_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "no-such-dir" / "storescp"
    monkeypatch.setitem(harness.PEER_BINARIES, "storescp", fake)
    peers = PeerSet(tmp_path / "run")
    with pytest.raises(MissingBinaryError, match="apt-get install -y dcmtk") as info:
        peers.start(["storescp"])
    assert info.value.missing == [fake]
    assert peers.peers == {}
    assert not (tmp_path / "run" / "storescp").exists()


def test_require_binaries_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    assert package_for("/usr/sbin/Orthanc") == "orthanc"
    assert package_for("ffprobe") == "ffmpeg"
    assert package_for("dcentvfy") == "dicom3tools"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"sudo apt-get install -y dicom3tools"):
        require_binaries("/nonexistent/dciodvfy")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"/nonexistent/ffprobe .*ffmpeg"):
        require_binaries("/nonexistent/ffprobe")
    found = require_binaries("dcmdump")
    assert found == {"dcmdump": Path("/usr/bin/dcmdump")}


def test_harness_stop_kills_by_recorded_pid(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    peers = PeerSet(run_dir)
    started = time.monotonic()
    storescp = peers.start(["storescp"])["storescp"]
    assert time.monotonic() - started < 5
    assert storescp.pid is not None
    assert _pid_alive(storescp.pid, str(run_dir))
    assert stop_recorded_peers(run_dir) == ["storescp"]  # as after a crashed run
    assert not _pid_alive(storescp.pid, str(run_dir))
    peers.stop()  # nothing left; must not fail
    assert peers.peers == {}


def test_harness_never_signals_foreign_pid(tmp_path: Path) -> None:
    foreign = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pid_dir = tmp_path / "run" / "pids"
        pid_dir.mkdir(parents=True)
        (pid_dir / "storescp.pid").write_text(f"{foreign.pid}\n")
        stop_recorded_peers(tmp_path / "run", timeout=1)
        assert foreign.poll() is None, "a process outside run_dir was signalled"
    finally:
        foreign.kill()
        foreign.wait()


def test_peer_address_format(peer_set: PeerSet) -> None:
    orthanc = peer_set["orthanc"]
    assert orthanc.address == f"ORTHANC@127.0.0.1:{orthanc.port}"
    assert orthanc.http_url == f"http://127.0.0.1:{orthanc.http_port}"
    assert peer_set["storescp"].http_port is None
    assert peer_set.listener_address == f"IZERTEST@127.0.0.1:{peer_set.listener_port}"


def test_c_echo_helper_fails_on_closed_port() -> None:
    port = harness.free_port()
    assert harness.c_echo("127.0.0.1", port, "NOBODY", timeout=1) is False


# --------------------------------------------------------------------------- validators


def test_dciodvfy_accepts_complete_secondary_capture(tmp_path: Path) -> None:
    path = tmp_path / "sc.dcm"
    write_secondary_capture(path)
    result = dciodvfy(path)
    assert result.iod == "SCImage"
    assert result.ok, str(result)
    assert result.errors == []
    assert result.returncode == 0


def test_dciodvfy_reports_missing_conversion_type(tmp_path: Path) -> None:
    path = tmp_path / "broken.dcm"
    write_secondary_capture(path, omit=["ConversionType"])
    result = dciodvfy(path)
    assert not result.ok
    assert result.returncode == 1
    assert any("ConversionType" in e for e in result.errors), str(result)
    assert "ConversionType" in str(result)


def test_dciodvfy_strict_counts_warnings(tmp_path: Path) -> None:
    path = tmp_path / "sc.dcm"
    write_secondary_capture(path)  # empty Laterality -> one warning
    result = dciodvfy(path, strict=True)
    assert result.warnings
    assert not result.ok


def test_dcentvfy_detects_inconsistent_patient(tmp_path: Path) -> None:
    study = generate_uid()
    first, second, third = (tmp_path / f"{n}.dcm" for n in ("a", "b", "c"))
    write_secondary_capture(first, study_instance_uid=study)
    write_secondary_capture(second, study_instance_uid=study)
    write_secondary_capture(third, study_instance_uid=study, patient_id="IZT-OTHER")
    assert dcentvfy([first, second]).ok
    result = dcentvfy([first, third])
    assert not result.ok
    assert any("PatientID" in e for e in result.errors), str(result)
