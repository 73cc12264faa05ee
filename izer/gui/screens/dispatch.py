"""The dispatch dashboard: where every study is on its way to every destination.

One row per study and destination (queued, sending, sent, committed, failed), one row per
MPPS, print, burn and storage commitment job (its state and last problem in plain words),
and one tile per destination with Pause/Resume. Retry and Cancel act on the selected rows.

Every outbox read runs on a worker (:func:`take_snapshot`); ``job_changed`` events are
coalesced by a timer into at most :data:`MAX_REFRESH_PER_S` refreshes a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from PyQt6.QtCore import QSize, Qt, QTimer
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from izer.engine import Engine
from izer.engine.dispatching import DispatcherBusyError, Job, JobKind, JobState
from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.screens import Screen
from izer.gui.theme import (
    ACCENT,
    OK_GREEN,
    RECORD_RED,
    SURFACE,
    TEXT,
    TEXT_MUTED,
    WARNING_AMBER,
    touch_px,
)
from izer.model import display_name

#: Most dashboard refreshes a second, however many jobs change.
MAX_REFRESH_PER_S = 4
#: Done and cancelled jobs older than this drop off the dashboard.
HISTORY = timedelta(days=3)
#: Refresh while shown even without events (retries come due, another process sends).
POLL_MS = 5000

KIND_NAMES = {
    JobKind.MPPS: "MPPS",
    JobKind.PRINT: "Print",
    JobKind.MEDIA: "Disc",
    JobKind.COMMIT: "Commitment",
    JobKind.STORE: "Images",
}
#: Slim scroll bars in the dark theme (the theme leaves them to the platform style).
SCROLLBARS = f"""
QScrollBar:vertical {{ background: {SURFACE}; width: 14px; margin: 0; }}
QScrollBar:horizontal {{ background: {SURFACE}; height: 14px; margin: 0; }}
QScrollBar::handle {{ background: #3a404c; border-radius: 6px; min-height: 40px;
    min-width: 40px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
"""


@dataclass(frozen=True)
class StudyRow:
    """One study at one destination, counted by state."""

    study_uid: str
    destination: str
    patient: str
    study: str
    queued: int = 0
    sending: int = 0
    sent: int = 0
    committed: int | None = None
    failed: int = 0
    problem: str = ""
    retryable: tuple[int, ...] = ()
    pending: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.study_uid, self.destination)


@dataclass(frozen=True)
class JobRow:
    """One MPPS, print, burn or commitment job."""

    job_id: int
    kind: str
    destination: str
    what: str
    state: str
    colour: str
    attempts: int
    updated: str
    problem: str
    retryable: bool
    pending: bool

    @property
    def key(self) -> int:
        return self.job_id


@dataclass(frozen=True)
class DestinationRow:
    """One destination's queue: paused or not, and what waits in it."""

    name: str
    kind: str
    paused: bool
    pending: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Snapshot:
    """What the dashboard shows, read on a worker."""

    studies: list[StudyRow] = field(default_factory=list)
    others: list[JobRow] = field(default_factory=list)
    destinations: list[DestinationRow] = field(default_factory=list)
    running: bool = False


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    when = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def job_state_words(job: Job) -> tuple[str, str]:
    """A job's state in plain words, and the colour to show it in."""
    if job.state is JobState.QUEUED:
        return "waiting its turn", TEXT_MUTED
    if job.state is JobState.RUNNING:
        return "in progress", ACCENT
    if job.state is JobState.WAITING:
        when = _local(job.next_try_at)
        return (f"will try again at {when}" if when else "will try again"), WARNING_AMBER
    if job.state is JobState.DONE:
        return "done", OK_GREEN
    if job.state is JobState.FAILED:
        return "failed", RECORD_RED
    return "cancelled", TEXT_MUTED


def job_what(job: Job) -> str:
    """What a job does, in plain words."""
    payload = job.payload or {}
    if job.kind is JobKind.MPPS:
        status = str(payload.get("status", "")).lower()
        message = {"create": "started", "set": "ended"}.get(str(payload.get("message", "")), "")
        if status == "in progress":
            return "procedure started"
        return f"procedure {status}" if status else f"procedure {message}".strip()
    if job.kind is JobKind.PRINT:
        images = payload.get("images") or []
        return f"{len(images)} picture(s) on film"
    if job.kind is JobKind.MEDIA:
        return f"disc {payload.get('copy', 1)} of {payload.get('copies', 1)}"
    if job.kind is JobKind.COMMIT:
        return f"{len(payload.get('items') or [])} instance(s) to commit"
    return KIND_NAMES.get(job.kind, job.kind.value)


def take_snapshot(engine: Engine, now: datetime | None = None) -> Snapshot:
    """Read the outbox, the delivery ledger and the store for the dashboard (worker thread)."""
    dispatch = engine.dispatch
    moment = now or datetime.now(UTC)
    if not dispatch.outbox_path.exists():
        # Nothing was ever queued: do not create the outbox just to show that.
        return Snapshot(
            destinations=[
                DestinationRow(d.name, d.kind.value, False) for d in engine.settings.destinations
            ],
            running=dispatch.running,
        )
    jobs = [
        job
        for job in dispatch.jobs()
        if job.state in (JobState.QUEUED, JobState.RUNNING, JobState.WAITING, JobState.FAILED)
        or _age(job, moment) < HISTORY
    ]
    studies = {record.study_instance_uid: record for record in engine.store.studies()}
    store_jobs: dict[str, dict[str, list[Job]]] = {}
    others: list[JobRow] = []
    for job in jobs:
        if job.kind is JobKind.STORE and job.study_uid:
            by_destination = store_jobs.setdefault(job.study_uid, {})
            by_destination.setdefault(job.destination, []).append(job)
            continue
        words, colour = job_state_words(job)
        others.append(
            JobRow(
                job_id=job.job_id,
                kind=KIND_NAMES.get(job.kind, job.kind.value),
                destination=job.destination,
                what=_study_text(studies.get(job.study_uid or ""), job.study_uid, job_what(job)),
                state=words,
                colour=colour,
                attempts=job.attempts,
                updated=_local(job.updated_at),
                problem=job.last_error if job.state is not JobState.DONE else "",
                retryable=job.state in (JobState.FAILED, JobState.WAITING),
                pending=job.pending,
            )
        )
    rows: list[StudyRow] = []
    for study_uid, by_destination in store_jobs.items():
        progress = dispatch.study_progress(study_uid)
        committed = {c.destination: c.committed for c in dispatch.commitment(study_uid)}
        record = studies.get(study_uid)
        for destination, group in by_destination.items():
            counts = progress.destinations.get(destination)
            problems = [j for j in group if j.last_error and j.state is not JobState.DONE]
            latest = max(problems, key=lambda j: j.updated_at) if problems else None
            problem = ""
            if latest is not None:
                words, _ = job_state_words(latest)
                problem = latest.last_error
                if latest.state is JobState.WAITING:
                    problem = f"{words}: {problem}"
            rows.append(
                StudyRow(
                    study_uid=study_uid,
                    destination=destination,
                    patient=_patient_text(record),
                    study=_study_text(record, study_uid, ""),
                    queued=(counts.queued + counts.waiting) if counts else 0,
                    sending=counts.sending if counts else 0,
                    sent=counts.sent if counts else 0,
                    committed=committed.get(destination),
                    failed=counts.failed if counts else 0,
                    problem=problem,
                    retryable=tuple(
                        j.job_id for j in group if j.state in (JobState.FAILED, JobState.WAITING)
                    ),
                    pending=tuple(j.job_id for j in group if j.pending),
                )
            )
    rows.reverse()  # newest study first
    others.reverse()
    paused = dispatch.outbox.paused()
    names = [d.name for d in engine.settings.destinations]
    names += sorted({j.destination for j in jobs if j.pending} - set(names))
    kinds = {d.name: d.kind.value for d in engine.settings.destinations}
    destinations = [
        DestinationRow(
            name=name,
            kind=kinds.get(name, "not configured"),
            paused=name in paused,
            pending=sum(1 for j in jobs if j.destination == name and j.pending),
            failed=sum(1 for j in jobs if j.destination == name and j.state is JobState.FAILED),
        )
        for name in names
    ]
    return Snapshot(rows, others, destinations, dispatch.running)


def _age(job: Job, now: datetime) -> timedelta:
    updated = job.updated_at if job.updated_at.tzinfo else job.updated_at.replace(tzinfo=UTC)
    return now - updated


def _patient_text(record: Any) -> str:
    if record is None:
        return "(study not in the local store)"
    name = display_name(record.patient_name) or "(no name)"
    return f"{name}  ·  {record.patient_id}" if record.patient_id else name


def _study_text(record: Any, study_uid: str | None, prefix: str) -> str:
    bits = [prefix]
    if record is not None:
        date = record.study_date
        bits.append(f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else date)
        bits.append(f"Acc. {record.accession_number}" if record.accession_number else "")
        bits.append(record.description)
        if not prefix:
            bits.append(f"{record.instance_count} instance(s)")
    elif study_uid:
        bits.append(f"study …{study_uid[-12:]}")
    return "  ·  ".join(b for b in bits if b)


def _item(text: str, colour: str | None = None, *, centre: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if colour:
        item.setForeground(QColor(colour))
    if centre:
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
    return item


def _count(value: int | None, colour: str) -> QTableWidgetItem:
    if value is None:
        return _item("n/a", TEXT_MUTED, centre=True)
    return _item(str(value), colour if value else TEXT_MUTED, centre=True)


STUDY_COLUMNS = (
    "Patient",
    "Study",
    "Destination",
    "Queued",
    "Sending",
    "Sent",
    "Committed",
    "Failed",
    "Problem",
)
JOB_COLUMNS = ("Job", "What", "Destination", "State", "Tries", "Updated", "Problem")


def _table(columns: Iterable[str], name: str) -> QTableWidget:
    headings = list(columns)
    table = QTableWidget(0, len(headings))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headings)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(max(44, touch_px() * 2 // 3))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    header = table.horizontalHeader()
    header.setHighlightSections(False)
    header.setStretchLastSection(True)
    return table


class DispatchScreen(Screen):
    """Sending, per study and destination, with retry, cancel, pause and resume."""

    key = "dispatch"
    title = "Sending"
    icon_name = "dispatch"

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self.snapshot = Snapshot()
        self._querying = False
        self._dirty = False
        self._shown = False
        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(1000 // MAX_REFRESH_PER_S)
        self._coalesce.timeout.connect(self.refresh)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.refresh)
        self._build()
        bridge.job_changed.connect(self._job_changed)

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        touch = touch_px()
        self.setStyleSheet(SCROLLBARS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(12)
        heading = QHBoxLayout()
        title = QLabel("Sending")
        title.setProperty("role", "title")
        self.running_label = QLabel()
        self.running_label.setObjectName("dispatchRunning")
        self.start_button = QPushButton(icon("resume"), "  Start sending")
        self.start_button.setObjectName("dispatchStart")
        self.start_button.setIconSize(QSize(touch // 2, touch // 2))
        self.start_button.clicked.connect(self.start_sending)
        self.refresh_button = QPushButton(icon("refresh"), "  Refresh")
        self.refresh_button.setObjectName("dispatchRefresh")
        self.refresh_button.setToolTip("Read the queue again (F5)")
        self.refresh_button.setIconSize(QSize(touch // 2, touch // 2))
        self.refresh_button.clicked.connect(self.refresh)
        heading.addWidget(title)
        heading.addSpacing(18)
        heading.addWidget(self.running_label, 1)
        heading.addWidget(self.start_button)
        heading.addWidget(self.refresh_button)
        layout.addLayout(heading)

        self.destination_row = QHBoxLayout()
        self.destination_row.setSpacing(10)
        self.destination_row.addStretch(1)
        strip = QWidget()
        strip.setLayout(self.destination_row)
        scroller = QScrollArea()
        scroller.setWidget(strip)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setFixedHeight(touch + 50)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroller.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(scroller)
        self.pause_buttons: dict[str, QPushButton] = {}

        studies_label = QLabel("Studies")
        studies_label.setProperty("role", "muted")
        layout.addWidget(studies_label)
        self.study_table = _table(STUDY_COLUMNS, "studyTable")
        header = self.study_table.horizontalHeader()
        for column, width in enumerate((250, 240, 120, 86, 86, 70, 110, 76)):
            self.study_table.setColumnWidth(column, width)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.study_table.itemSelectionChanged.connect(self._update_actions)
        self.study_table.itemSelectionChanged.connect(self._show_selected_problem)
        layout.addWidget(self.study_table, 3)

        others_label = QLabel("Procedure status, prints, discs and commitment")
        others_label.setProperty("role", "muted")
        layout.addWidget(others_label)
        self.job_table = _table(JOB_COLUMNS, "jobTable")
        for column, width in enumerate((140, 330, 120, 220, 70, 110)):
            self.job_table.setColumnWidth(column, width)
        self.job_table.itemSelectionChanged.connect(self._update_actions)
        self.job_table.itemSelectionChanged.connect(self._show_selected_problem)
        layout.addWidget(self.job_table, 2)

        actions = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("dispatchStatus")
        self.status.setWordWrap(True)
        self.retry_button = QPushButton(icon("retry"), "  Retry")
        self.retry_button.setObjectName("dispatchRetry")
        self.retry_button.setToolTip("Try the selected failed or waiting jobs now (Ctrl+R)")
        self.cancel_button = QPushButton(icon("cancel"), "  Cancel")
        self.cancel_button.setObjectName("dispatchCancel")
        self.cancel_button.setProperty("role", "danger")
        self.cancel_button.setToolTip("Cancel the selected jobs that are not done (Ctrl+Del)")
        for button in (self.retry_button, self.cancel_button):
            button.setIconSize(QSize(touch // 2, touch // 2))
            button.setMinimumWidth(int(touch * 2))
        self.retry_button.clicked.connect(self.retry_selected)
        self.cancel_button.clicked.connect(self.cancel_selected)
        actions.addWidget(self.status, 1)
        actions.addWidget(self.retry_button)
        actions.addWidget(self.cancel_button)
        layout.addLayout(actions)
        for keys, slot in (
            ("F5", self.refresh),
            ("Ctrl+R", self.retry_selected),
            ("Ctrl+Del", self.cancel_selected),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self._update_actions()

    # -- screen life --------------------------------------------------------------------------

    def on_shown(self) -> None:
        """Read the queue now and keep it fresh while shown."""
        self._shown = True
        self._poll.start()
        self.refresh()

    def on_hidden(self) -> None:
        """Stop polling (events still mark the view stale)."""
        self._shown = False
        self._poll.stop()

    def _job_changed(self, _job: object) -> None:
        if not self._coalesce.isActive():
            self._coalesce.start()

    def refresh(self) -> None:
        """Read the outbox on a worker; a refresh asked during one runs after it."""
        if self._querying:
            self._dirty = True
            return
        self._querying = True
        self._dirty = False
        try:
            self.bridge.call(
                take_snapshot, self.bridge.engine, on_done=self._show, on_error=self._failed
            )
        except RuntimeError:  # the bridge was shut down: the window is closing
            self._querying = False
            self._coalesce.stop()
            self._poll.stop()

    def _failed(self, error: BaseException) -> None:
        self._querying = False
        self._say(f"The queue could not be read: {error}", RECORD_RED)
        if self._dirty:
            self._coalesce.start()

    def _show(self, snapshot: object) -> None:
        self._querying = False
        assert isinstance(snapshot, Snapshot)
        self.snapshot = snapshot
        self._fill_destinations(snapshot.destinations)
        self._fill_studies(snapshot.studies)
        self._fill_jobs(snapshot.others)
        if snapshot.running:
            self.running_label.setText("Sending in the background")
            self.running_label.setStyleSheet(f"color: {OK_GREEN}; font-weight: 600;")
        else:
            self.running_label.setText("Not sending now: queued jobs wait until sending starts")
            self.running_label.setStyleSheet(f"color: {WARNING_AMBER}; font-weight: 600;")
        self.start_button.setVisible(not snapshot.running)
        self._update_actions()
        if self._dirty:
            self._coalesce.start()

    # -- tables -------------------------------------------------------------------------------

    def _fill_destinations(self, rows: list[DestinationRow]) -> None:
        while self.destination_row.count() > 1:
            taken = self.destination_row.takeAt(0)
            widget = taken.widget() if taken is not None else None
            if widget is not None:
                widget.deleteLater()
        self.pause_buttons = {}
        touch = touch_px()
        for index, row in enumerate(rows):
            tile = QFrame()
            tile.setObjectName("destinationTile")
            border = WARNING_AMBER if row.paused else (RECORD_RED if row.failed else "#3a404c")
            tile.setStyleSheet(
                f"#destinationTile {{ background: {SURFACE}; border: 1px solid {border};"
                " border-radius: 10px; }"
                "#destinationTile QLabel { background: transparent; }"
            )
            box = QHBoxLayout(tile)
            box.setContentsMargins(14, 6, 6, 6)
            box.setSpacing(10)
            text = QVBoxLayout()
            name = QLabel(row.name)
            name.setStyleSheet(f"color: {TEXT}; font-weight: 700;")
            bold = QFont(name.font())
            bold.setPointSizeF(15)
            bold.setBold(True)
            name.setMinimumWidth(QFontMetrics(bold).horizontalAdvance(row.name) + 8)
            bits = ["paused" if row.paused else row.kind]
            bits.append(f"{row.pending} to do" if row.pending else "idle")
            if row.failed:
                bits.append(f"{row.failed} failed")
            details = QLabel(" · ".join(bits))
            small = QFont(details.font())
            small.setPointSizeF(12)
            details.setMinimumWidth(QFontMetrics(small).horizontalAdvance(details.text()) + 8)
            details.setStyleSheet(
                f"color: {WARNING_AMBER if row.paused else TEXT_MUTED}; font-size: 12pt;"
            )
            text.addWidget(name)
            text.addWidget(details)
            box.addLayout(text)
            button = QPushButton(icon("resume" if row.paused else "pause"), "")
            button.setObjectName(f"pause_{row.name}")
            button.setAccessibleName(f"{'Resume' if row.paused else 'Pause'} {row.name}")
            button.setIconSize(QSize(touch // 2, touch // 2))
            button.setToolTip(
                f"{'Resume' if row.paused else 'Pause'} sending to {row.name} "
                "(jobs stay queued while paused)"
            )
            button.clicked.connect(
                lambda _=False, name=row.name, paused=row.paused: self.set_paused(name, not paused)
            )
            box.addWidget(button)
            self.pause_buttons[row.name] = button
            self.destination_row.insertWidget(index, tile)

    def _fill_studies(self, rows: list[StudyRow]) -> None:
        table = self.study_table
        selected = {self.snapshot_key(table, r) for r in self._selected_rows(table)}
        table.setUpdatesEnabled(False)
        table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            problem_colour = RECORD_RED if row.failed else WARNING_AMBER
            cells = (
                _item(row.patient, TEXT),
                _item(row.study, TEXT_MUTED),
                _item(row.destination, TEXT),
                _count(row.queued, TEXT),
                _count(row.sending, ACCENT),
                _count(row.sent, OK_GREEN),
                _count(row.committed, OK_GREEN),
                _count(row.failed, RECORD_RED),
                _item(row.problem, problem_colour),
            )
            for column, cell in enumerate(cells):
                cell.setData(Qt.ItemDataRole.UserRole, row.key)
                if column in (0, 1, 8) and cell.text():
                    cell.setToolTip(cell.text())
                table.setItem(index, column, cell)
        self._reselect(table, selected)
        table.setUpdatesEnabled(True)

    def _fill_jobs(self, rows: list[JobRow]) -> None:
        table = self.job_table
        selected = {self.snapshot_key(table, r) for r in self._selected_rows(table)}
        table.setUpdatesEnabled(False)
        table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            cells = (
                _item(row.kind, TEXT),
                _item(row.what, TEXT_MUTED),
                _item(row.destination, TEXT),
                _item(row.state, row.colour),
                _item(str(row.attempts), TEXT_MUTED, centre=True),
                _item(row.updated, TEXT_MUTED),
                _item(row.problem, RECORD_RED if row.state == "failed" else WARNING_AMBER),
            )
            for column, cell in enumerate(cells):
                cell.setData(Qt.ItemDataRole.UserRole, row.key)
                if column in (1, 6) and cell.text():
                    cell.setToolTip(cell.text())
                table.setItem(index, column, cell)
        self._reselect(table, selected)
        table.setUpdatesEnabled(True)

    @staticmethod
    def _selected_rows(table: QTableWidget) -> list[int]:
        return sorted({index.row() for index in table.selectionModel().selectedRows()})

    @staticmethod
    def snapshot_key(table: QTableWidget, row: int) -> object:
        """The key (study and destination, or job id) of a table row."""
        item = table.item(row, 0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _reselect(self, table: QTableWidget, keys: set[object]) -> None:
        table.clearSelection()
        if not keys:
            return
        mode = table.selectionMode()
        table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(table.rowCount()):
            if self.snapshot_key(table, row) in keys:
                table.selectRow(row)
        table.setSelectionMode(mode)

    # -- actions ------------------------------------------------------------------------------

    def selected_job_ids(self, *, retryable: bool) -> list[int]:
        """Job ids behind the selected rows of both tables: those that can be retried, or
        those that can be cancelled."""
        ids: list[int] = []
        studies = {row.key: row for row in self.snapshot.studies}
        for row in self._selected_rows(self.study_table):
            study = studies.get(self.snapshot_key(self.study_table, row))  # type: ignore[arg-type]
            if study is not None:
                ids += study.retryable if retryable else study.pending
        jobs = {row.key: row for row in self.snapshot.others}
        for row in self._selected_rows(self.job_table):
            job = jobs.get(self.snapshot_key(self.job_table, row))  # type: ignore[arg-type]
            if job is not None and (job.retryable if retryable else job.pending):
                ids.append(job.job_id)
        return ids

    def retry_selected(self) -> None:
        """Try the selected failed or waiting jobs again now."""
        ids = self.selected_job_ids(retryable=True)
        if not ids:
            self._say("Select a row with failed or waiting jobs to retry.", WARNING_AMBER)
            return
        self.bridge.call(
            self.bridge.engine.dispatch.retry,
            ids,
            on_done=lambda n: self._acted(f"{n} job(s) queued again."),
            on_error=lambda e: self._say(f"Retry did not work: {e}", RECORD_RED),
        )

    def cancel_selected(self) -> None:
        """Cancel the selected jobs that are not done (a running one stops soon)."""
        ids = self.selected_job_ids(retryable=False)
        if not ids:
            self._say("Select a row with jobs still to do to cancel them.", WARNING_AMBER)
            return
        self.bridge.call(
            self.bridge.engine.dispatch.cancel,
            ids,
            on_done=lambda n: self._acted(f"{n} job(s) cancelled."),
            on_error=lambda e: self._say(f"Cancel did not work: {e}", RECORD_RED),
        )

    def set_paused(self, destination: str, paused: bool) -> None:
        """Pause or resume sending to ``destination``."""
        dispatch = self.bridge.engine.dispatch
        action = dispatch.pause if paused else dispatch.resume
        word = "paused" if paused else "resumed"
        self.bridge.call(
            action,
            destination,
            on_done=lambda name: self._acted(f"Sending to {name} {word}."),
            on_error=lambda e: self._say(f"Could not change {destination}: {e}", RECORD_RED),
        )

    def start_sending(self) -> None:
        """Start this process's dispatcher (queued jobs then go out in the background)."""

        def failed(error: BaseException) -> None:
            if isinstance(error, DispatcherBusyError):
                self._say("Another izer program is already sending these jobs.", WARNING_AMBER)
            else:
                self._say(f"Sending could not start: {error}", RECORD_RED)

        self.bridge.call(
            self.bridge.engine.dispatch.start,
            on_done=lambda _r: self._acted("Sending started."),
            on_error=failed,
        )

    def _acted(self, text: str) -> None:
        self._say(text, OK_GREEN)
        self.refresh()

    def _say(self, text: str, colour: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"#dispatchStatus {{ color: {colour}; font-weight: 600; }}")

    def _show_selected_problem(self) -> None:
        problems = []
        studies = {row.key: row for row in self.snapshot.studies}
        for row in self._selected_rows(self.study_table):
            study = studies.get(self.snapshot_key(self.study_table, row))  # type: ignore[arg-type]
            if study is not None and study.problem:
                problems.append(f"{study.destination}: {study.problem}")
        jobs = {row.key: row for row in self.snapshot.others}
        for row in self._selected_rows(self.job_table):
            job = jobs.get(self.snapshot_key(self.job_table, row))  # type: ignore[arg-type]
            if job is not None and job.problem:
                problems.append(f"{job.kind} to {job.destination}: {job.problem}")
        if problems:
            self._say(problems[0], RECORD_RED)

    def _update_actions(self) -> None:
        self.retry_button.setEnabled(bool(self.selected_job_ids(retryable=True)))
        self.cancel_button.setEnabled(bool(self.selected_job_ids(retryable=False)))


__all__ = ["DispatchScreen", "JobRow", "Snapshot", "StudyRow", "take_snapshot"]
