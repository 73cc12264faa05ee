"""The engine as the GUI thread sees it: work on worker threads, events as Qt signals.

Qt widgets may only be touched on the GUI thread, and the GUI thread must never wait for a
disk or a peer (a worklist query, a C-STORE, an fsync). :class:`EngineBridge` therefore

* runs engine calls on a small thread pool (:meth:`EngineBridge.call`); the result or the
  error comes back to the GUI thread through a Qt signal, to the callbacks given;
* re-emits the engine's psygnal events (emitted on whatever thread caused them) as Qt
  signals of a QObject living on the GUI thread, so Qt queues them across threads.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal

from izer.engine import Engine

log = logging.getLogger(__name__)

#: Worker threads for engine calls: a slow worklist query never holds up a still.
WORKERS = 4

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class EngineBridge(QObject):
    """Engine calls off the GUI thread and engine events as Qt signals.

    Parameters
    ----------
    engine
        The engine the GUI drives; the bridge does not own it (the caller closes it).
    settings_path
        The settings file the engine's settings came from.
    """

    #: ``(old, new)`` ProcedureState.
    state_changed = pyqtSignal(object, object)
    #: The active Procedure, or None.
    procedure_changed = pyqtSignal(object)
    #: An InstanceRecord stored.
    instance_stored = pyqtSignal(object)
    #: A StillTaken (flash, sound, counter).
    still_taken = pyqtSignal(object)
    #: A ClipSaved.
    clip_saved = pyqtSignal(object)
    #: A list of RecordingStatus.
    recording_changed = pyqtSignal(object)
    #: A CaptureNotice.
    capture_notice = pyqtSignal(object)
    #: An outbox Job changed (dispatch dashboard).
    job_changed = pyqtSignal(object)
    #: A plain-words problem to show (a failed call the caller did not handle).
    problem = pyqtSignal(str)
    #: Internal: a finished call, delivered on the GUI thread.
    _finished = pyqtSignal(object, object, object, object)

    def __init__(
        self,
        engine: Engine,
        parent: QObject | None = None,
        *,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        #: The settings file in use (the settings screen saves there); None: not saved.
        self.settings_path = settings_path
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="izer-gui")
        self._finished.connect(self._deliver)
        self._relays: list[tuple[Any, Callable[..., None]]] = []
        events = engine.events
        self._relay(events.state_changed, self.state_changed.emit)
        self._relay(events.procedure_changed, self.procedure_changed.emit)
        self._relay(events.instance_stored, self.instance_stored.emit)
        self._relay(events.still_taken, self.still_taken.emit)
        self._relay(events.clip_saved, self.clip_saved.emit)
        self._relay(events.recording_changed, self.recording_changed.emit)
        self._relay(events.capture_notice, self.capture_notice.emit)
        self._relay(engine.dispatch.events.job_changed, self.job_changed.emit)

    def _relay(self, signal: Any, emit: Callable[..., None]) -> None:
        signal.connect(emit)
        self._relays.append((signal, emit))

    def call(
        self,
        function: Callable[..., Any],
        *args: Any,
        on_done: Done | None = None,
        on_error: Failed | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run ``function(*args, **kwargs)`` on a worker thread.

        ``on_done(result)`` or ``on_error(exception)`` then runs on the GUI thread; an error
        without ``on_error`` is logged and shown through :attr:`problem`.
        """

        def work() -> Any:
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:  # delivered to the GUI thread, never lost
                log.debug("GUI call failed:\n%s", traceback.format_exc())
                self._finished.emit(on_done, on_error, None, exc)
                raise
            self._finished.emit(on_done, on_error, result, None)
            return result

        return self._pool.submit(work)

    def _deliver(
        self, on_done: Done | None, on_error: Failed | None, result: Any, error: Any
    ) -> None:
        if error is None:
            if on_done is not None:
                on_done(result)
        elif on_error is not None:
            on_error(error)
        else:
            log.warning("%s", error)
            self.problem.emit(str(error) or type(error).__name__)

    def shutdown(self, wait: bool = True) -> None:
        """Stop relaying events and let running calls end (the engine stays open)."""
        for signal, emit in self._relays:
            signal.disconnect(emit)
        self._relays.clear()
        self._pool.shutdown(wait=wait, cancel_futures=True)
