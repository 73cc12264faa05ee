"""Smoke tests: every real peer answers, stores, queries and cleans up as expected."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import (
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
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


# ------------------------------------------------------------- print_node (dcmjs-dimse)


def _print_assoc(peer: Peer, *metas: str, implicit_only: bool = False) -> Association:
    """Associate with a Node Print SCP proposing *metas* (Implicit VR LE only if asked)."""
    ae = _ae()
    for meta in metas:
        if implicit_only:
            ae.add_requested_context(meta, ImplicitVRLittleEndian)
        else:
            ae.add_requested_context(meta)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet)
    assert assoc.is_established, f"print association rejected\n{peer.log_tail()}"
    _keep_reactor_off_responses(assoc)
    return assoc


def _keep_reactor_off_responses(assoc: Association) -> None:
    """Work around a pynetdicom 3.0 requestor race seen under load.

    Its reactor thread polls the DIMSE queue (``get_msg(block=False)``) and may take a response
    off it between ``send_n_*`` pausing it and waiting for that response: the log says
    "Received unexpected N-ACTION service message" and the call ends in a DIMSE timeout. A print
    SCP sends no requests of its own, so the reactor's polls are answered with nothing; the
    blocking reads of the ``send_n_*`` calls are untouched.
    """
    get_msg = assoc.dimse.get_msg

    def wait_only(block: bool = False) -> tuple[int | None, object | None]:
        return get_msg(block=True) if block else (None, None)

    assoc.dimse.get_msg = wait_only  # type: ignore[method-assign,assignment]


def _film_session(assoc: Association, meta: str) -> str:
    """N-CREATE a Basic Film Session; return its UID."""
    session = Dataset()
    session.NumberOfCopies = 1
    session.MediumType = "PAPER"
    session.FilmDestination = "MAGAZINE"
    uid = generate_uid()
    status, echoed = assoc.send_n_create(session, BasicFilmSession, uid, meta_uid=meta)
    assert status.Status == 0x0000, f"film session N-CREATE {status}"
    assert echoed is not None and echoed.MediumType == "PAPER"
    return uid


def _film_box_dataset(session_uid: str, display_format: str) -> Dataset:
    film_box = Dataset()
    film_box.ImageDisplayFormat = display_format
    film_box.FilmOrientation = "PORTRAIT"
    film_box.FilmSizeID = "14INX17IN"
    reference = Dataset()
    reference.ReferencedSOPClassUID = BasicFilmSession
    reference.ReferencedSOPInstanceUID = session_uid
    film_box.ReferencedFilmSessionSequence = [reference]
    return film_box


def _film_box(
    assoc: Association, meta: str, session_uid: str, display_format: str
) -> tuple[str, list[Dataset]]:
    """N-CREATE a film box; return its UID and its Referenced Image Box Sequence items."""
    uid = generate_uid()
    film_box = _film_box_dataset(session_uid, display_format)
    status, answer = assoc.send_n_create(film_box, BasicFilmBox, uid, meta_uid=meta)
    assert status.Status == 0x0000, f"film box N-CREATE {status}"
    assert answer is not None
    assert answer.ImageDisplayFormat == display_format
    return uid, list(answer.ReferencedImageBoxSequence)


def _image_box(position: int, pixels: np.ndarray) -> Dataset:
    """Image Box N-SET dataset: color (rows, columns, 3) uint8 sent color-by-plane, or
    grayscale (rows, columns) uint8 / 12-bit uint16 (PS3.3 C.13.5)."""
    item = Dataset()
    item.Rows, item.Columns = pixels.shape[:2]
    item.PixelRepresentation = 0
    if pixels.ndim == 3:
        item.SamplesPerPixel = 3
        item.PhotometricInterpretation = "RGB"
        item.PlanarConfiguration = 1
        item.BitsAllocated, item.BitsStored, item.HighBit = 8, 8, 7
        item.PixelData = np.ascontiguousarray(pixels.transpose(2, 0, 1)).tobytes()
    else:
        item.SamplesPerPixel = 1
        item.PhotometricInterpretation = "MONOCHROME2"
        bits = (8, 8, 7) if pixels.dtype == np.uint8 else (16, 12, 11)
        item.BitsAllocated, item.BitsStored, item.HighBit = bits
        item.PixelData = pixels.astype("<u2" if bits[0] == 16 else np.uint8).tobytes()
    box = Dataset()
    box.ImageBoxPosition = position
    if pixels.ndim == 3:
        box.BasicColorImageSequence = [item]
    else:
        box.BasicGrayscaleImageSequence = [item]
    return box


def _films(peer: Peer) -> list[str]:
    assert peer.data_dir is not None
    return sorted(p.name for p in peer.data_dir.glob("film_*"))


def _next_film(before: list[str]) -> str:
    last = max((int(name.removeprefix("film_")) for name in before), default=0)
    return f"film_{last + 1:04d}"


def _rgb_patterns() -> list[np.ndarray]:
    """Two distinct 6 x 8 RGB patterns: a red/green gradient and a blue checkerboard."""
    rows, cols = np.mgrid[0:6, 0:8]
    first = np.stack([rows * 40, cols * 30, np.full_like(rows, 7)], axis=-1).astype(np.uint8)
    second = np.stack(
        [np.full_like(rows, 200), 255 - cols * 20, ((rows + cols) % 2) * 255], axis=-1
    ).astype(np.uint8)
    return [first, second]


def test_print_node_prints_color_film_with_the_pixels_sent(print_node: Peer) -> None:
    meta = BasicColorPrintManagementMeta
    patterns = _rgb_patterns()
    before = _films(print_node)
    assoc = _print_assoc(print_node, meta)
    try:
        status, printer = assoc.send_n_get(
            [0x21100010, 0x21100030], Printer, PrinterInstance, meta_uid=meta
        )
        assert status.Status == 0x0000, f"printer N-GET {status}"
        assert printer.PrinterStatus == "NORMAL"
        assert printer.PrinterName == "IZER TEST PRINTER"
        session_uid = _film_session(assoc, meta)
        film_box_uid, boxes = _film_box(assoc, meta, session_uid, r"STANDARD\2,1")
        assert [b.ReferencedSOPClassUID for b in boxes] == [BasicColorImageBox] * 2
        for position, (box, pixels) in enumerate(zip(boxes, patterns, strict=True), start=1):
            status, _ = assoc.send_n_set(
                _image_box(position, pixels),
                box.ReferencedSOPClassUID,
                box.ReferencedSOPInstanceUID,
                meta_uid=meta,
            )
            assert status.Status == 0x0000, f"image box {position} N-SET {status}"
        status, _ = assoc.send_n_action(None, 1, BasicFilmBox, film_box_uid, meta_uid=meta)
        assert status.Status == 0x0000, f"film box N-ACTION {status}\n{print_node.log_tail()}"
        first = _films(print_node)
        # a second print (of the whole film session) is a second film
        status, _ = assoc.send_n_action(None, 1, BasicFilmSession, session_uid, meta_uid=meta)
        assert status.Status == 0x0000, f"film session N-ACTION {status}"
        second = _films(print_node)
        status = assoc.send_n_delete(BasicFilmBox, film_box_uid, meta_uid=meta)
        assert status.Status == 0x0000
        status = assoc.send_n_delete(BasicFilmSession, session_uid, meta_uid=meta)
        assert status.Status == 0x0000
    finally:
        assoc.release()
    assert first == [*before, _next_film(before)]
    assert second == [*first, _next_film(first)]
    assert print_node.data_dir is not None
    assert not list(print_node.data_dir.glob(".film_*")), "a partial film was left behind"
    for name in first[-1:] + second[-1:]:
        folder = print_node.data_dir / name
        summary = json.loads((folder / "filmbox.json").read_text(encoding="utf-8"))
        assert summary["calling_aet"] == "IZERSMOKE"
        assert summary["meta_sop_class"] == meta
        assert summary["film_session"]["MediumType"] == "PAPER"
        assert summary["film_box"]["ImageDisplayFormat"] == r"STANDARD\2,1"
        assert summary["film_box"]["FilmSizeID"] == "14INX17IN"
        assert [(b["position"], b["sop_class"]) for b in summary["image_boxes"]] == [
            (1, BasicColorImageBox),
            (2, BasicColorImageBox),
        ]
        for entry, pixels, box in zip(summary["image_boxes"], patterns, boxes, strict=True):
            stored = dcmread(folder / entry["file"])
            assert stored.SOPClassUID == BasicColorImageBox
            assert stored.SOPInstanceUID == box.ReferencedSOPInstanceUID
            assert stored.ImageBoxPosition == entry["position"]
            item = stored.BasicColorImageSequence[0]
            assert (item.PhotometricInterpretation, item.PlanarConfiguration) == ("RGB", 1)
            assert item.PixelData == np.ascontiguousarray(pixels.transpose(2, 0, 1)).tobytes()


def test_print_node_prints_12_bit_grayscale_on_the_grayscale_meta(print_node: Peer) -> None:
    meta = BasicGrayscalePrintManagementMeta
    pixels = (np.arange(5 * 7, dtype=np.uint16).reshape(5, 7) * 117) % 4096
    pixels[0, 0] = 4095
    before = _films(print_node)
    assoc = _print_assoc(print_node, meta, implicit_only=True)
    try:
        session_uid = _film_session(assoc, meta)
        film_box_uid, boxes = _film_box(assoc, meta, session_uid, r"ROW\1,2")
        assert [b.ReferencedSOPClassUID for b in boxes] == [BasicGrayscaleImageBox] * 3
        status, _ = assoc.send_n_set(
            _image_box(2, pixels), BasicGrayscaleImageBox, boxes[1].ReferencedSOPInstanceUID,
            meta_uid=meta,
        )  # fmt: skip
        assert status.Status == 0x0000, f"image box N-SET {status}\n{print_node.log_tail()}"
        status, _ = assoc.send_n_action(None, 1, BasicFilmBox, film_box_uid, meta_uid=meta)
        assert status.Status == 0x0000, f"film box N-ACTION {status}"
    finally:
        assoc.release()
    after = _films(print_node)
    assert after == [*before, _next_film(before)]
    assert print_node.data_dir is not None
    folder = print_node.data_dir / after[-1]
    summary = json.loads((folder / "filmbox.json").read_text(encoding="utf-8"))
    assert summary["meta_sop_class"] == meta
    assert summary["film_box"]["ImageDisplayFormat"] == r"ROW\1,2"
    assert summary["image_boxes"] == [
        {
            "position": 2,
            "sop_class": BasicGrayscaleImageBox,
            "sop_instance": boxes[1].ReferencedSOPInstanceUID,
            "file": "imagebox_2.dcm",
        }
    ]
    item = dcmread(folder / "imagebox_2.dcm").BasicGrayscaleImageSequence[0]
    assert (item.BitsAllocated, item.BitsStored, item.HighBit) == (16, 12, 11)
    assert np.array_equal(np.frombuffer(item.PixelData, "<u2").reshape(5, 7), pixels)


def test_print_node_gives_each_meta_its_image_box_class(print_node: Peer) -> None:
    """Both metas on one association: the film box's context decides the box class."""
    assoc = _print_assoc(
        print_node, BasicGrayscalePrintManagementMeta, BasicColorPrintManagementMeta
    )
    try:
        classes = {}
        for meta in (BasicGrayscalePrintManagementMeta, BasicColorPrintManagementMeta):
            session_uid = _film_session(assoc, meta)
            _, boxes = _film_box(assoc, meta, session_uid, r"COL\1")
            classes[meta] = [b.ReferencedSOPClassUID for b in boxes]
    finally:
        assoc.release()
    assert classes == {
        BasicGrayscalePrintManagementMeta: [BasicGrayscaleImageBox],
        BasicColorPrintManagementMeta: [BasicColorImageBox],
    }


def _bad_pixel_length(box: Dataset) -> None:
    box.BasicColorImageSequence[0].PixelData = box.BasicColorImageSequence[0].PixelData[:-2]


def _grayscale_sequence(box: Dataset) -> None:
    box.BasicGrayscaleImageSequence = box.BasicColorImageSequence
    del box.BasicColorImageSequence


def _interleaved(box: Dataset) -> None:
    box.BasicColorImageSequence[0].PlanarConfiguration = 0


def _no_rows(box: Dataset) -> None:
    del box.BasicColorImageSequence[0].Rows


def _wrong_position(box: Dataset) -> None:
    box.ImageBoxPosition = 2


@pytest.mark.parametrize(
    ("spoil", "statuses", "comment"),
    [
        (_bad_pixel_length, {0x0106}, "PixelData has 142 bytes, expected 144"),
        (_grayscale_sequence, {0x0106, 0x0120}, "BasicGrayscaleImageSequence"),
        (_interleaved, {0x0106}, "PlanarConfiguration"),
        (_no_rows, {0x0120}, "Rows missing"),
        (_wrong_position, {0x0106}, "ImageBoxPosition 2"),
    ],
    ids=["pixel-length", "wrong-sequence", "planar-configuration", "no-rows", "position"],
)
def test_print_node_refuses_bad_image_box(
    print_node: Peer, spoil: Callable[[Dataset], None], statuses: set[int], comment: str
) -> None:
    meta = BasicColorPrintManagementMeta
    before = _films(print_node)
    assoc = _print_assoc(print_node, meta)
    try:
        session_uid = _film_session(assoc, meta)
        film_box_uid, boxes = _film_box(assoc, meta, session_uid, r"STANDARD\1,1")
        box = _image_box(1, _rgb_patterns()[0])
        spoil(box)
        status, _ = assoc.send_n_set(
            box, BasicColorImageBox, boxes[0].ReferencedSOPInstanceUID, meta_uid=meta
        )
        # nothing was set, so printing is an empty page (warning) and writes no film
        action, _ = assoc.send_n_action(None, 1, BasicFilmBox, film_box_uid, meta_uid=meta)
    finally:
        assoc.release()
    assert status.Status in statuses, f"N-SET {status}"
    assert comment in status.ErrorComment
    assert action.Status == 0xB603
    assert _films(print_node) == before


def test_print_node_refuses_bad_film_box_and_unknown_instances(print_node: Peer) -> None:
    meta = BasicColorPrintManagementMeta
    assoc = _print_assoc(print_node, meta)
    try:
        session_uid = _film_session(assoc, meta)
        no_format = _film_box_dataset(session_uid, r"STANDARD\1,1")
        del no_format.ImageDisplayFormat
        other_session = _film_box_dataset(generate_uid(), r"STANDARD\1,1")
        statuses = [
            assoc.send_n_create(ds, BasicFilmBox, generate_uid(), meta_uid=meta)[0].Status
            for ds in (
                no_format,
                _film_box_dataset(session_uid, r"SLIDE"),
                _film_box_dataset(session_uid, r"STANDARD\0,2"),
                other_session,
            )
        ]
        unknown = [
            assoc.send_n_get([0x21100010], Printer, generate_uid(), meta_uid=meta)[0].Status,
            assoc.send_n_set(
                _image_box(1, _rgb_patterns()[0]), BasicColorImageBox, generate_uid(),
                meta_uid=meta,
            )[0].Status,
            assoc.send_n_action(None, 1, BasicFilmBox, generate_uid(), meta_uid=meta)[0].Status,
            assoc.send_n_delete(BasicFilmBox, generate_uid(), meta_uid=meta).Status,
        ]  # fmt: skip
    finally:
        assoc.release()
    assert statuses == [0x0120, 0x0106, 0x0106, 0x0106]
    assert unknown == [0x0112] * 4


def test_print_node_gray_rejects_the_color_meta(print_node_gray: Peer) -> None:
    assoc = _print_assoc(
        print_node_gray, BasicColorPrintManagementMeta, BasicGrayscalePrintManagementMeta
    )
    try:
        accepted = [c.abstract_syntax for c in assoc.accepted_contexts]
        rejected = [c.abstract_syntax for c in assoc.rejected_contexts]
        session_uid = _film_session(assoc, BasicGrayscalePrintManagementMeta)
        _, boxes = _film_box(assoc, BasicGrayscalePrintManagementMeta, session_uid, r"STANDARD\1,1")
    finally:
        assoc.release()
    assert accepted == [BasicGrayscalePrintManagementMeta]
    assert rejected == [BasicColorPrintManagementMeta]
    assert [b.ReferencedSOPClassUID for b in boxes] == [BasicGrayscaleImageBox]


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
