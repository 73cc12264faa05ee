"""``izer procedure``: start from the worklist or unscheduled, complete, discontinue, MPPS.

The worklist comes from wlmscpfs, the MPPS goes to the pynetdicom MPPS SCP; stills are taken
through the engine between two commands, as the GUI would. Every patient here is made up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread

from izer.cli.procedure import main
from izer.config import load_settings
from izer.engine import Engine
from izer.engine.scheduling import ProcedureContext
from izer.model import ProcedureState
from tests.peers.harness import Peer, PeerSet
from tests.worklist import worklist_items

pytestmark = pytest.mark.peers


@pytest.fixture
def config(
    write_settings: Callable[[str], Path], tmp_path: Path, peer_set: PeerSet, mpps_pynetdicom: Peer
) -> Path:
    wl = peer_set["wlmscpfs"]
    return write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "1.2.826.0.1.3680043.10.1452"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [network]
        connect_timeout_s = 2
        acse_timeout_s = 5
        dimse_timeout_s = 10
        network_timeout_s = 10

        [[destinations]]
        name = "ris"
        ae_title = "{wl.aet}"
        host = "{wl.host}"
        port = {wl.port}
        roles = ["worklist"]

        [[destinations]]
        name = "mpps"
        ae_title = "{mpps_pynetdicom.aet}"
        host = "{mpps_pynetdicom.host}"
        port = {mpps_pynetdicom.port}
        roles = ["mpps"]
        """
    )


def _state(peer: Peer, mpps_uid: str) -> object:
    assert peer.data_dir is not None
    return dcmread(peer.data_dir / f"{mpps_uid}.state.dcm")


def _capture_still(config: Path) -> str:
    """A still taken between two commands (the GUI's part)."""
    with Engine.open(load_settings(config).settings) as engine:
        procedure = engine.procedure
        assert procedure is not None and procedure.state is ProcedureState.IN_PROGRESS
        return engine.capture_still().sop_instance_uid


def _procedure(config: Path, procedure_id: int | None = None):  # type: ignore[no-untyped-def]
    with Engine.open(load_settings(config).settings) as engine:
        if procedure_id is None:
            return engine.procedure
        return engine.store.procedure(procedure_id)


def test_unscheduled_start_capture_complete(
    config: Path, mpps_pynetdicom: Peer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["start", "--unscheduled", "--patient-name", "Unknown^Male", "--sex", "M",
                 "--config", str(config)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "IN_PROGRESS" in out and "patient: Unknown^Male (TMP-" in out
    started = _procedure(config)
    assert started is not None and started.mpps_uid
    assert _state(mpps_pynetdicom, started.mpps_uid).PerformedProcedureStepStatus == "IN PROGRESS"

    assert main(["status", "--config", str(config)]) == 0
    assert "IN_PROGRESS" in capsys.readouterr().out

    sop_uid = _capture_still(config)
    assert main(["complete", "--config", str(config)]) == 0
    assert "COMPLETED" in capsys.readouterr().out
    final = _state(mpps_pynetdicom, started.mpps_uid)
    assert final.PerformedProcedureStepStatus == "COMPLETED"
    (series,) = final.PerformedSeriesSequence
    assert series.ReferencedImageSequence[0].ReferencedSOPInstanceUID == sop_uid
    (item,) = final.ScheduledStepAttributesSequence
    assert item.StudyInstanceUID == started.study_uid
    assert _procedure(config) is None  # the station is free again


def test_start_from_the_worklist_then_discontinue_as_wrong_patient(
    config: Path, peer_set: PeerSet, mpps_pynetdicom: Peer, capsys: pytest.CaptureFixture[str]
) -> None:
    item = dict(patient_id="IZT-PCLI-1", accession="IZPCLI01", patient_name="Ødegård^Åse",
                station_aet="IZERTEST", modality="ES", sex="F",
                procedure_description="Colonoscopy")  # fmt: skip
    with worklist_items(peer_set, [item]) as paths:
        folder = peer_set["wlmscpfs"].worklist_dir
        (wl,) = [dcmread(path) for path in paths if path.parent == folder]
        assert main(["start", "--accession", "IZPCLI01", "--config", str(config)]) == 0
    assert "IZPCLI01" in capsys.readouterr().out
    started = _procedure(config)
    assert started is not None
    assert started.study_uid == wl.StudyInstanceUID
    assert ProcedureContext.of(started).scheduled
    _capture_still(config)

    assert main(["discontinue", "--reason", "110514", "--config", str(config)]) == 0
    final = _state(mpps_pynetdicom, started.mpps_uid)
    assert final.PerformedProcedureStepStatus == "DISCONTINUED"
    reason = final.PerformedProcedureStepDiscontinuationReasonCodeSequence[0]
    assert reason.CodeValue == "110514"
    assert final.ScheduledStepAttributesSequence[0].AccessionNumber == "IZPCLI01"


def test_mistakes_are_usage_errors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["complete", "--config", str(config)]) == 2
    assert "cannot go from IDLE" in capsys.readouterr().err
    assert main(["start", "--unscheduled", "--config", str(config)]) == 2
    assert "--patient-name" in capsys.readouterr().err
    assert main(["start", "--accession", "IZNONE999", "--config", str(config)]) == 1
    assert "no worklist item" in capsys.readouterr().err

    assert main(["start", "--unscheduled", "--patient-name", "Doe^Jo", "--config",
                 str(config)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["discontinue", "--reason", "999", "--config", str(config)]) == 2
    assert "110514" in capsys.readouterr().err  # the codes are listed
    assert main(["complete", "--config", str(config)]) == 2  # nothing captured
    assert "discontinue" in capsys.readouterr().err
    assert main(["discontinue", "--config", str(config)]) == 0
