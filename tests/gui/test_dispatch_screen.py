"""The dispatch dashboard over a real outbox: a folder that works, one that fails, an MPPS
peer that is not there; retry, cancel, pause and the coalesced refresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from izer.config import (
    Destination,
    DestinationKind,
    DispatchSettings,
    NetworkSettings,
    Role,
    Settings,
    StationSettings,
    StorageSettings,
)
from izer.engine import Engine
from izer.engine.dispatching import JobKind, JobState
from izer.gui.bridge import EngineBridge
from izer.gui.screens import dispatch as dispatch_module
from izer.gui.screens.dispatch import DispatchScreen
from izer.model import Patient, Sex
from tests.conftest import TEST_UID_ROOT

PATIENT = Patient("DSP-0007", "Okonkwo^Adaeze", "19790221", Sex.FEMALE)
FOLDER = DestinationKind.FOLDER


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine with a working folder, a broken folder and an unreachable MPPS SCP."""
    (tmp_path / "nas").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    settings = Settings(
        station=StationSettings("IZERTEST", TEST_UID_ROOT, station_name="TESTROOM"),
        storage=StorageSettings(folder=str(tmp_path / "store")),
        network=NetworkSettings(
            connect_timeout_s=2, acse_timeout_s=2, dimse_timeout_s=2, network_timeout_s=2
        ),
        dispatch=DispatchSettings(backoff_base_s=0.1, backoff_cap_s=0.2, max_attempts=1),
        destinations=(
            Destination("nas", kind=FOLDER, folder=str(tmp_path / "nas")),
            Destination("broken", kind=FOLDER, folder=str(tmp_path / "a-file" / "inside")),
            Destination("ris", ae_title="RIS", host="127.0.0.1", port=1, roles=(Role.MPPS,)),
        ),
    )
    with Engine.open(settings) as opened:
        yield opened


@pytest.fixture
def bridge(qapp, engine: Engine) -> Iterator[EngineBridge]:
    from izer.gui.app import application

    application()
    made = EngineBridge(engine)
    try:
        yield made
    finally:
        made.shutdown()


@pytest.fixture
def screen(bridge: EngineBridge, qtbot) -> DispatchScreen:
    made = DispatchScreen(bridge)
    qtbot.addWidget(made)
    made.resize(1300, 760)
    made.show()
    made.on_shown()
    return made


def row_of(screen: DispatchScreen, destination: str):
    return next((r for r in screen.snapshot.studies if r.destination == destination), None)


def table_row(screen: DispatchScreen, destination: str) -> int:
    table = screen.study_table
    return next(r for r in range(table.rowCount()) if table.item(r, 2).text() == destination)


def send_and_run(engine: Engine, study_uid: str) -> None:
    engine.dispatch.send([study_uid], ["nas", "broken"])
    engine.dispatch.run_until_idle(30)


def test_counts_follow_the_jobs_and_a_failed_destination_can_be_retried(
    screen: DispatchScreen, engine: Engine, bridge: EngineBridge, qtbot
) -> None:
    procedure = engine.select_patient(PATIENT)
    engine.start()  # queues the MPPS N-CREATE for "ris"
    for _ in range(2):
        engine.capture_still()
    bridge.call(send_and_run, engine, procedure.study_uid)

    def delivered() -> bool:
        nas, broken = row_of(screen, "nas"), row_of(screen, "broken")
        return bool(nas and broken and nas.sent == 2 and broken.failed == 2)

    qtbot.waitUntil(delivered, timeout=30000)
    nas, broken = row_of(screen, "nas"), row_of(screen, "broken")
    assert (nas.queued, nas.sending, nas.failed) == (0, 0, 0)
    assert "a-file" in broken.problem  # the sink's own words, naming the folder
    assert "OKONKWO" in nas.patient
    row = table_row(screen, "broken")
    assert screen.study_table.item(row, 7).text() == "2"
    mpps = [j for j in screen.snapshot.others if j.kind == "MPPS"]
    assert mpps and mpps[0].state == "failed" and mpps[0].problem

    screen.study_table.selectRow(table_row(screen, "broken"))
    assert screen.retry_button.isEnabled()
    qtbot.mouseClick(screen.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row_of(screen, "broken").queued == 2, timeout=10000)
    states = {j.state for j in engine.dispatch.jobs(destination="broken")}
    assert states == {JobState.QUEUED}
    assert row_of(screen, "broken").failed == 0

    screen.study_table.selectRow(table_row(screen, "broken"))
    qtbot.mouseClick(screen.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            {j.state for j in engine.dispatch.jobs(destination="broken")} == {JobState.CANCELLED}
        ),
        timeout=10000,
    )
    qtbot.waitUntil(lambda: row_of(screen, "broken").queued == 0, timeout=10000)


def test_pause_and_resume_a_destination(screen: DispatchScreen, engine: Engine, qtbot) -> None:
    qtbot.waitUntil(lambda: "nas" in screen.pause_buttons, timeout=10000)
    qtbot.mouseClick(screen.pause_buttons["nas"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "nas" in engine.dispatch.outbox.paused(), timeout=10000)
    qtbot.waitUntil(
        lambda: any(d.name == "nas" and d.paused for d in screen.snapshot.destinations),
        timeout=10000,
    )
    qtbot.mouseClick(screen.pause_buttons["nas"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "nas" not in engine.dispatch.outbox.paused(), timeout=10000)


def test_a_burst_of_job_events_makes_one_refresh(
    screen: DispatchScreen, bridge: EngineBridge, engine: Engine, qtbot, monkeypatch
) -> None:
    qtbot.waitUntil(lambda: not screen._querying, timeout=10000)
    calls: list[int] = []
    real = dispatch_module.take_snapshot

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dispatch_module, "take_snapshot", counted)
    screen._poll.stop()  # only events refresh here
    job = engine.dispatch.outbox.enqueue(JobKind.PRINT, "printer", sop_uid="p1")
    for _ in range(50):
        bridge.job_changed.emit(job)
    qtbot.waitUntil(lambda: len(calls) >= 1 and not screen._querying, timeout=10000)
    qtbot.wait(2 * 1000 // dispatch_module.MAX_REFRESH_PER_S)
    assert len(calls) == 1
    assert [r.kind for r in screen.snapshot.others] == ["Print"]


def test_events_after_the_bridge_is_shut_down_are_ignored(
    screen: DispatchScreen, bridge: EngineBridge, qtbot
) -> None:
    qtbot.waitUntil(lambda: not screen._querying, timeout=10000)
    bridge.shutdown()
    screen.refresh()  # a late job_changed or poll: no error, no query
    assert not screen._querying
