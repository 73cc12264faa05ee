"""A whole procedure through the main window, against real peers.

A nurse picks the patient from the worklist (DCMTK wlmscpfs) and starts; the endoscopist takes
3 stills and 1 clip from the synthetic camera and ends the study; in review one still is
deleted and one marked for the report; Finish. Then Orthanc (auto-send) holds the stills, the
clip and the report PDF, the MPPS SCP on dcmjs-dimse holds the step COMPLETED with them, and
the report is an Encapsulated PDF in the study. The patient is made up.

While this runs, a :class:`izer.gui.probe.StallProbe` measures the GUI thread's event loop,
and every engine call is checked to run off the GUI thread (no I/O on the GUI thread). The
longest stall is printed, not asserted (wall-clock limits are for benchmarks).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from PyQt6.QtCore import Qt

from izer.config import load_settings
from izer.engine import Engine
from izer.model import ProcedureState
from tests.conftest import TEST_UID_ROOT
from tests.peers.harness import Peer
from tests.peers.worklist import write_worklist_item

STATION = "IZERGUI"
ACCESSION = "GUIFLOW01"
WAIT_MS = 60_000
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"


def _settings(write_settings, tmp_path: Path, wlmscpfs: Peer, orthanc: Peer, mpps: Peer) -> Path:
    return write_settings(
        f"""
        [station]
        ae_title = "{STATION}"
        uid_root = "{TEST_UID_ROOT}"
        institution_name = "Hôpital de Test"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [network]
        connect_timeout_s = 3
        acse_timeout_s = 10
        dimse_timeout_s = 30

        [capture]
        width = 640
        height = 360
        fps = 25

        [dispatch]
        auto_send = ["pacs"]
        backoff_base_s = 0.5
        backoff_cap_s = 2

        [[destinations]]
        name = "pacs"
        ae_title = "{orthanc.aet}"
        host = "127.0.0.1"
        port = {orthanc.port}
        roles = ["store"]

        [[destinations]]
        name = "ris"
        ae_title = "{wlmscpfs.aet}"
        host = "127.0.0.1"
        port = {wlmscpfs.port}
        roles = ["worklist"]

        [[destinations]]
        name = "mpps"
        ae_title = "{mpps.aet}"
        host = "127.0.0.1"
        port = {mpps.port}
        roles = ["mpps"]
        """
    )


@pytest.fixture
def scheduled(wlmscpfs: Peer) -> Iterator[Path]:
    assert wlmscpfs.worklist_dir is not None
    path = wlmscpfs.worklist_dir / f"{ACCESSION}.wl"
    write_worklist_item(
        path,
        patient_id="GUI-7781",
        accession=ACCESSION,
        station_aet=STATION,
        modality="ES",
        patient_name="Varga^Zsófia",
        birth_date="19790214",
        sex="F",
        scheduled_time="081500",
        procedure_description="Colonoscopy",
        performing_physician="Okafor^Chidi",
    )
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _orthanc_instances(orthanc: Peer, study_uid: str) -> list[dict[str, object]]:
    query = {"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True}
    request = urllib.request.Request(
        f"{orthanc.http_url}/tools/find", data=json.dumps(query).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _row(review, sop_uid: str) -> int:  # type: ignore[no-untyped-def]
    return next(n for n, item in enumerate(review.items) if item.sop_instance_uid == sop_uid)


def _watch_engine_threads(engine: Engine, monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Wrap the engine calls that do I/O; record any made on the GUI (main) thread."""
    on_gui_thread: list[str] = []
    main = threading.main_thread()

    def watch(owner: object, name: str) -> None:
        original: Callable[..., object] = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            if threading.current_thread() is main:
                on_gui_thread.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    for name in ("worklist", "select_worklist_item", "start", "review", "complete"):
        watch(engine, name)
    for name in ("take_still", "start_recording", "stop_recording", "toggle_recording", "open"):
        watch(engine.capture, name)
    return on_gui_thread


@pytest.mark.peers
def test_a_whole_procedure_from_worklist_to_pacs(
    qtbot, write_settings, tmp_path, wlmscpfs, orthanc, mpps_node, scheduled, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    from izer.gui.app import application, build_window
    from izer.gui.bridge import EngineBridge
    from izer.gui.probe import StallProbe

    application()
    path = _settings(write_settings, tmp_path, wlmscpfs, orthanc, mpps_node)
    engine = Engine.open(load_settings(path).settings)
    bridge = EngineBridge(engine, settings_path=path)
    on_gui_thread = _watch_engine_threads(engine, monkeypatch)
    window = build_window(bridge)
    qtbot.addWidget(window)
    window.resize(1440, 900)
    window.show()
    engine.dispatch.start()
    probe = StallProbe()
    probe.start()
    try:
        # -- the nurse: the worklist, two taps (row, Start)
        worklist = window.screens["worklist"]
        qtbot.waitUntil(lambda: worklist.proxy.rowCount() >= 1, timeout=WAIT_MS)
        qtbot.keyClicks(worklist.search, ACCESSION)
        qtbot.waitUntil(lambda: worklist.proxy.rowCount() == 1, timeout=WAIT_MS)
        qtbot.keyClick(worklist.search, Qt.Key.Key_Return)
        assert worklist.pages.currentWidget() is worklist.confirm
        qtbot.mouseClick(worklist.confirm.start_button, Qt.MouseButton.LeftButton)
        capture = window.screens["capture"]
        qtbot.waitUntil(lambda: window.stack.currentWidget() is capture, timeout=WAIT_MS)
        assert engine.state is ProcedureState.IN_PROGRESS
        procedure = engine.procedure
        assert procedure is not None and procedure.accession_number == ACCESSION
        study_uid = procedure.study_uid

        # -- the endoscopist: 3 stills, 1 clip, End
        qtbot.waitUntil(lambda: capture.capturing(), timeout=WAIT_MS)
        qtbot.waitUntil(
            lambda: bool(engine.capture.channels) and engine.capture.preview() is not None,
            timeout=WAIT_MS,
        )
        for number in range(1, 4):
            capture.take_still()
            qtbot.waitUntil(
                lambda n=number: capture.strip.count(kind="still") == n, timeout=WAIT_MS
            )
        capture.toggle_recording()
        qtbot.waitUntil(lambda: capture.elapsed_s() >= 2.0, timeout=WAIT_MS)
        capture.toggle_recording()
        qtbot.waitUntil(lambda: capture.strip.count(kind="clip") == 1, timeout=WAIT_MS)
        capture.end_study()
        review = window.screens["review"]
        qtbot.waitUntil(lambda: window.stack.currentWidget() is review, timeout=WAIT_MS)
        assert engine.state is ProcedureState.REVIEW

        # -- review: delete one still, mark one, Finish
        qtbot.waitUntil(lambda: review.grid.count() == 4, timeout=WAIT_MS)
        stills = [i for i in review.items if i.kind.value == "still"]
        assert len(stills) == 3
        review.grid.setCurrentRow(review.items.index(stills[2]))
        qtbot.mouseClick(review.delete_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(review.confirm_delete_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: review.grid.count() == 3, timeout=WAIT_MS)
        review.grid.setCurrentRow(_row(review, stills[0].sop_instance_uid))
        qtbot.mouseClick(review.mark_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: review.selected().marked, timeout=WAIT_MS)
        qtbot.mouseClick(review.finish_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: window.stack.currentWidget() is window.screens["worklist"], timeout=WAIT_MS
        )
        finished = engine.store.procedure(procedure.procedure_id)
        assert finished is not None and finished.state is ProcedureState.COMPLETED

        # -- what the peers hold
        local = engine.store.instances(study_uid)
        reports = [r for r in local if r.sop_class_uid == ENCAPSULATED_PDF]
        assert len(reports) == 1, "the report PDF is stored in the study"
        assert dcmread(reports[0].path).MIMETypeOfEncapsulatedDocument == "application/pdf"
        expected = {
            r.sop_instance_uid for r in local if r.sop_class_uid != "1.2.840.10008.5.1.4.1.1.11.2"
        }
        assert stills[2].sop_instance_uid not in {r.sop_instance_uid for r in local}
        qtbot.waitUntil(
            lambda: (
                {
                    i["MainDicomTags"]["SOPInstanceUID"]
                    for i in _orthanc_instances(orthanc, study_uid)
                }
                >= expected
            ),
            timeout=WAIT_MS,
        )
        classes = {r.sop_class_uid for r in local}
        assert VIDEO_ENDOSCOPIC in classes and ENCAPSULATED_PDF in classes
        mpps_uid = finished.mpps_uid
        assert mpps_node.data_dir is not None
        state_file = mpps_node.data_dir / f"{mpps_uid}.state.dcm"
        qtbot.waitUntil(state_file.exists, timeout=WAIT_MS)
        qtbot.waitUntil(
            lambda: dcmread(state_file).PerformedProcedureStepStatus == "COMPLETED",
            timeout=WAIT_MS,
        )
        performed = {
            str(image.ReferencedSOPInstanceUID)
            for series in dcmread(state_file).PerformedSeriesSequence
            for image in [
                *series.get("ReferencedImageSequence", []),
                *series.get("ReferencedNonImageCompositeSOPInstanceSequence", []),
            ]
        }
        assert expected <= performed | {reports[0].sop_instance_uid}
    finally:
        probe.stop()
        window.close()
        engine.dispatch.stop()
        bridge.shutdown()
        engine.close()
    assert on_gui_thread == [], f"engine I/O on the GUI thread: {on_gui_thread}"
    with capsys.disabled():
        print(
            f"\nGUI event loop during the procedure: {probe.ticks} turns, longest stall "
            f"{probe.max_stall_ms:.0f} ms, {probe.stalls_over(100)} over 100 ms"
        )
