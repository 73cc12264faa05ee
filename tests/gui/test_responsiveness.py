"""The window stays responsive while recording and while sending a 326 MB video.

A :class:`izer.gui.probe.StallProbe` measures the GUI thread's event loop while the capture
screen records from the synthetic camera (preview painting at the display rate) and then
while the dispatcher sends a 326 MB H.264 video to DCMTK storescp, with the sending
dashboard shown and refreshing on every job change. What is asserted is the cause of
freezes, not a time: no engine call that does I/O runs on the GUI thread. The longest stall
is printed (``pytest -s``) and kept in docs/performance.md; ``izer bench gui`` measures it
apart from the tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from izer.engine.dispatching import JobState
from izer.model import Patient, Sex
from tests.dispatch.conftest import write_large_video
from tests.peers.harness import Peer

WAIT_MS = 180_000


def _watch(owner: object, names: tuple[str, ...], seen: list[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    main = threading.main_thread()
    for name in names:
        original: Callable[..., object] = getattr(owner, name)

        def wrapper(*args: object, _original=original, _name=name, **kwargs: object) -> object:
            if threading.current_thread() is main:
                seen.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)


@pytest.mark.peers
def test_recording_and_sending_a_large_video_never_run_io_on_the_gui_thread(
    window, bridge, qtbot, storescp: Peer, tmp_path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    from izer.gui.probe import StallProbe

    engine = bridge.engine
    on_gui_thread: list[str] = []
    _watch(
        engine.capture,
        ("take_still", "toggle_recording", "open", "close"),
        on_gui_thread,
        monkeypatch,
    )
    _watch(
        engine.dispatch, ("send", "retry", "cancel", "run_until_idle"), on_gui_thread, monkeypatch
    )
    _watch(
        engine.store, ("add_dataset", "import_file", "delete_instance"), on_gui_thread, monkeypatch
    )
    engine.select_patient(Patient("GUI-RESP-1", "Probe^Rita", "19700101", Sex.FEMALE))
    engine.start()

    # recording, with the preview painting
    capture = window.show_screen("capture")
    qtbot.waitUntil(
        lambda: bool(engine.capture.channels) and engine.capture.preview() is not None,
        timeout=WAIT_MS,
    )
    recording = StallProbe()
    recording.start()
    capture.toggle_recording()
    qtbot.waitUntil(lambda: capture.elapsed_s() >= 5.0, timeout=WAIT_MS)
    capture.take_still()
    capture.toggle_recording()
    qtbot.waitUntil(lambda: capture.strip.count("clip") == 1, timeout=WAIT_MS)
    recording.stop()

    # sending a large video, with the dashboard refreshing
    video = write_large_video(tmp_path)
    destination = f"{storescp.aet}@127.0.0.1:{storescp.port}"
    window.show_screen("dispatch")
    engine.dispatch.start()
    sending = StallProbe()
    sending.start()
    queued: list[object] = []
    bridge.call(engine.dispatch.send, [video], [destination], on_done=queued.append)
    qtbot.waitUntil(lambda: bool(queued), timeout=WAIT_MS)
    (jobs,) = queued
    job_ids = [job.job_id for job in jobs]  # type: ignore[attr-defined]
    qtbot.waitUntil(
        lambda: all(
            engine.dispatch.outbox.job(i).state is JobState.DONE  # type: ignore[union-attr]
            for i in job_ids
        ),
        timeout=WAIT_MS,
    )
    sending.stop()
    engine.dispatch.stop()

    assert on_gui_thread == [], f"engine I/O on the GUI thread: {on_gui_thread}"
    assert recording.ticks > 100 and sending.ticks > 100  # the probe really ran
    with capsys.disabled():
        print(
            f"\nGUI event loop while recording: {recording.ticks} turns, longest stall "
            f"{recording.max_stall_ms:.0f} ms ({recording.stalls_over(100)} over 100 ms); "
            f"while sending {video.stat().st_size / 1e6:.0f} MB: {sending.ticks} turns, "
            f"longest stall {sending.max_stall_ms:.0f} ms ({sending.stalls_over(100)} over 100 ms)"
        )
