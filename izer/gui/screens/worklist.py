"""The worklist screen (nurse): pick the patient, confirm, start. Two taps to recording.

On coming to the front and every ``[worklist] refresh_s`` the default query runs on a worker
(the list on screen stays while it runs); a search box, focused on open, filters every column
as one types, wherever the keyboard focus is. Tapping a row (or arrows and Enter) opens a
confirm panel with the demographics, read-only and large; "Start procedure" selects the item
and starts it (MPPS IN PROGRESS is the engine's business) and asks for the capture screen.
A study this station already started is flagged "Possible duplicate". A patient without a
worklist entry is started from the unscheduled / emergency form (a panel, not a dialog).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import suppress

from PyQt6 import sip
from PyQt6.QtCore import QEvent, QModelIndex, QObject, QSize, Qt, QTimer
from PyQt6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from izer.engine import Engine, WorklistError, WorklistItem
from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.screens import Screen
from izer.gui.theme import SURFACE, TEXT_MUTED, WARNING_AMBER, touch_px
from izer.gui.widgets.unscheduled_form import UnscheduledEntry, UnscheduledForm
from izer.gui.widgets.worklist_table import (
    ROW_ROLE,
    SEX_WORDS,
    WorklistFilter,
    WorklistModel,
    WorklistRow,
    WorklistSnapshot,
    WorklistTable,
    age_text,
    date_text,
    fetch_worklist,
    person_text,
    plural,
)
from izer.model import ProcedureState, display_name

#: What the screen says when there is nobody to ask.
NO_PROVIDER_MESSAGE = (
    "No worklist server configured: Settings \u203a Connectivity. "
    "An unscheduled patient can still be started."
)
#: States in which another procedure cannot be started yet (it must be ended first).
OPEN_STATES = (ProcedureState.IN_PROGRESS, ProcedureState.REVIEW, ProcedureState.APPENDING)


# -- worker side: starting ----------------------------------------------------------------------


def _make_room(engine: Engine) -> None:
    """Put away a closed or merely selected procedure; refuse while one is open."""
    state = engine.state
    if state is ProcedureState.PATIENT_SELECTED or state.is_closed:
        engine.release()
    elif state in OPEN_STATES:
        procedure = engine.procedure
        who = display_name(procedure.patient.name) if procedure else "another patient"
        raise ValueError(
            f"A procedure is still open for {who} ({state.value.replace('_', ' ').lower()}): "
            "continue it, or end it with Finish or Discontinue on the Review screen first."
        )


def start_worklist_item(engine: Engine, item: WorklistItem) -> None:
    """Select ``item`` and start it (capture on, MPPS IN PROGRESS queued)."""
    _make_room(engine)
    engine.select_worklist_item(item)
    _start(engine)


def start_unscheduled(engine: Engine, entry: UnscheduledEntry) -> None:
    """Select an unscheduled patient (temporary ID when none given) and start."""
    _make_room(engine)
    engine.select_unscheduled(
        entry.patient_name,
        birth_date=entry.birth_date,
        sex=entry.sex,
        patient_id=entry.patient_id,
        description=entry.description,
    )
    _start(engine)


def _start(engine: Engine) -> None:
    try:
        engine.start()
    except BaseException:
        with suppress(Exception):  # back to IDLE so that the nurse can try again
            engine.release()
        raise


def _sentence(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


# -- GUI side -------------------------------------------------------------------------------------


class ConfirmPanel(QWidget):
    """The chosen entry, read-only and large, with "Start procedure" and "Back"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        touch = touch_px()
        self.row: WorklistRow | None = None
        heading = QLabel("Start this procedure?")
        heading.setProperty("role", "muted")
        self.name = QLabel()
        self.name.setObjectName("confirmName")
        self.name.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setObjectName("confirmSummary")
        self.summary.setWordWrap(True)
        self.values: dict[str, QLabel] = {}
        details = QFrame()
        details.setObjectName("confirmDetails")
        grid = QGridLayout(details)
        grid.setContentsMargins(22, 18, 22, 18)
        grid.setHorizontalSpacing(28)
        grid.setVerticalSpacing(14)
        fields = (
            ("Procedure", "Accession"),
            ("Scheduled", "Physician"),
            ("Referring", "Worklist"),
        )
        for line, pair in enumerate(fields):
            for half, name in enumerate(pair):
                label = QLabel(name)
                label.setProperty("role", "muted")
                value = QLabel()
                value.setObjectName(f"confirm_{name.lower()}")
                value.setWordWrap(True)
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self.values[name] = value
                grid.addWidget(label, line, half * 2)
                grid.addWidget(value, line, half * 2 + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.study_uid = QLabel()
        self.study_uid.setProperty("role", "muted")
        self.study_uid.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning = QLabel()
        self.warning.setObjectName("duplicateWarning")
        self.warning.setWordWrap(True)
        self.warning.hide()
        self.message = QLabel()
        self.message.setObjectName("confirmMessage")
        self.message.setProperty("role", "warning")
        self.message.setWordWrap(True)
        self.message.hide()
        self.back_button = QPushButton("Back")
        self.back_button.setObjectName("confirmBack")
        self.back_button.setToolTip("Back to the worklist (Esc)")
        self.start_button = QPushButton(icon("capture", "#0b1220"), "Start procedure")
        self.start_button.setObjectName("confirmStart")
        self.start_button.setProperty("role", "primary")
        self.start_button.setToolTip("Start the procedure and go to capture (Enter)")
        for button in (self.back_button, self.start_button):
            button.setAutoDefault(True)
            button.setIconSize(QSize(touch // 3, touch // 3))
            button.setMinimumHeight(int(touch * 1.1))
        self.back_button.setMinimumWidth(int(touch * 2.4))
        self.start_button.setMinimumWidth(int(touch * 4.5))
        buttons = QHBoxLayout()
        buttons.setSpacing(16)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(28, 20, 28, 20)
        column.setSpacing(12)
        column.addWidget(heading)
        column.addWidget(self.name)
        column.addWidget(self.summary)
        column.addSpacing(6)
        column.addWidget(details)
        column.addWidget(self.study_uid)
        column.addWidget(self.warning)
        column.addWidget(self.message)
        column.addStretch(1)
        column.addLayout(buttons)
        self.setStyleSheet(
            "#confirmName { font-size: 32pt; font-weight: 700; }"
            "#confirmSummary { font-size: 20pt; }"
            f"#confirmDetails {{ background: {SURFACE}; border-radius: 10px; }}"
            "#confirmDetails QLabel { background: transparent; font-size: 17pt; }"
            f"#confirmDetails QLabel[role='muted'] {{ color: {TEXT_MUTED}; font-size: 13pt; }}"
            f"#duplicateWarning {{ color: {WARNING_AMBER}; background: #3a2a10;"
            f" border: 2px solid {WARNING_AMBER}; border-radius: 8px; padding: 12px;"
            " font-size: 16pt; font-weight: 600; }"
        )

    def show_row(self, row: WorklistRow, today: dt.date | None = None) -> None:
        """Show ``row``'s demographics; Start gets the focus."""
        today = today or dt.date.today()
        self.row = row
        item, patient = row.item, row.item.patient
        self.name.setText(display_name(patient.name) or "(no name)")
        born = date_text(patient.birth_date)
        age = age_text(patient.birth_date, today)
        bits = [
            f"ID {patient.patient_id}" if patient.patient_id else "no Patient ID",
            f"born {born}" + (f" ({age})" if age else "") if born else "birth date unknown",
            SEX_WORDS.get(patient.sex, "unknown"),
        ]
        self.summary.setText("   ·   ".join(bits))
        when = row.when(today)
        day = item.sps_start_date.strip()
        scheduled = f"today {when}" if when and (not day or day == f"{today:%Y%m%d}") else when
        values = {
            "Procedure": row.procedure,
            "Accession": item.accession_number,
            "Scheduled": scheduled,
            "Physician": person_text(item.performing_physician),
            "Referring": person_text(item.referring_physician),
            "Worklist": item.provider,
        }
        for name, value in values.items():
            self.values[name].setText(value or "—")
        self.study_uid.setText(f"Study Instance UID {item.study_instance_uid or '(none)'}")
        if row.started is not None:
            self.warning.setText(
                f"Possible duplicate: this study was already started on this station "
                f"({row.started.describe()}). Starting it again makes a second procedure "
                "for the same order."
            )
            self.warning.show()
        else:
            self.warning.hide()
        self.show_message("")
        self.set_busy(False)
        self.start_button.setFocus()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        self.back_button.setEnabled(not busy)
        self.start_button.setEnabled(not busy)
        self.start_button.setText("Starting…" if busy else "Start procedure")


class WorklistScreen(Screen):
    """The nurse's worklist: query, filter, confirm, start; or an unscheduled patient.

    Attributes
    ----------
    search
        The type-to-filter box (focused whenever the list shows).
    table, model, proxy
        The list: :class:`WorklistModel` under a :class:`WorklistFilter`.
    message
        Problems in plain words (providers, starting).
    confirm, form
        The confirm panel and the unscheduled / emergency form.
    """

    key = "worklist"
    title = "Worklist"
    icon_name = "worklist"

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        touch = touch_px()
        self._querying = False
        self._starting = False
        self._snapshot: WorklistSnapshot | None = None
        self._query_problem = ""

        # The list page: title and status, search and buttons, messages, the table.
        self.list_page = QWidget()
        title = QLabel("Worklist")
        title.setProperty("role", "title")
        self.status = QLabel("Not updated yet")
        self.status.setObjectName("worklistStatus")
        self.status.setProperty("role", "muted")
        self.search = QLineEdit()
        self.search.setObjectName("worklistSearch")
        self.search.setPlaceholderText("Type to filter: name, ID, accession, procedure…")
        self.search.addAction(icon("search", TEXT_MUTED), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumHeight(int(touch * 0.8))
        self.search.setAccessibleName("Filter the worklist")
        # The theme makes every QToolButton a touch target, the line edit's icon one too.
        self.search.setStyleSheet(
            "QLineEdit { font-size: 17pt; padding-left: 8px; }"
            "QToolButton { min-width: 0; min-height: 0; padding: 0; border: none;"
            " background: transparent; }"
        )
        self.clear_button = self._button("cancel", "", "Clear the filter (Esc)")
        self.clear_button.setObjectName("worklistClear")
        self.clear_button.setAccessibleName("Clear the filter")
        self.clear_button.setFixedWidth(touch)
        self.clear_button.hide()
        self.refresh_button = self._button("refresh", "Refresh", "Ask the worklist again (F5)")
        self.unscheduled_button = self._button(
            "add", "Unscheduled", "A patient without a worklist entry (Ctrl+N)"
        )
        self.emergency_button = self._button(
            "emergency", "Emergency", "An unidentified patient, name filled in (Ctrl+E)"
        )
        self.emergency_button.setProperty("role", "danger")
        self.busy = QProgressBar()
        self.busy.setObjectName("worklistBusy")
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setFixedHeight(4)
        self.busy.setVisible(False)
        size_policy = self.busy.sizePolicy()
        size_policy.setRetainSizeWhenHidden(True)
        self.busy.setSizePolicy(size_policy)
        self.message = QLabel()
        self.message.setObjectName("worklistMessage")
        self.message.setProperty("role", "warning")
        self.message.setWordWrap(True)
        self.message.hide()
        self.notice = QLabel()
        self.notice.setObjectName("openProcedure")
        self.notice.setWordWrap(True)
        self.continue_button = QPushButton("Go to capture")
        self.continue_button.setObjectName("continueProcedure")
        self.continue_button.setAutoDefault(True)
        self.notice_row = QFrame()
        self.notice_row.setObjectName("noticeRow")
        notice_layout = QHBoxLayout(self.notice_row)
        notice_layout.setContentsMargins(14, 6, 8, 6)
        notice_layout.addWidget(self.notice, 1)
        notice_layout.addWidget(self.continue_button)
        self.notice_row.hide()

        self.model = WorklistModel(self)
        self.proxy = WorklistFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = WorklistTable(self.model)
        self.table.setModel(self.proxy)
        self.empty = QLabel()
        self.empty.setObjectName("worklistEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(f"color: {TEXT_MUTED}; font-size: 18pt; background: {SURFACE};")
        self.list_area = QStackedWidget()
        self.list_area.addWidget(self.table)
        self.list_area.addWidget(self.empty)

        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.status)
        controls = QHBoxLayout()
        controls.setSpacing(10)
        controls.addWidget(self.search, 1)
        controls.addWidget(self.clear_button)
        controls.addWidget(self.refresh_button)
        controls.addWidget(self.unscheduled_button)
        controls.addWidget(self.emergency_button)
        page = QVBoxLayout(self.list_page)
        page.setContentsMargins(20, 14, 20, 14)
        page.setSpacing(10)
        page.addLayout(top)
        page.addLayout(controls)
        page.addWidget(self.busy)
        page.addWidget(self.message)
        page.addWidget(self.notice_row)
        page.addWidget(self.list_area, 1)
        self.notice_row.setStyleSheet(
            f"#noticeRow {{ background: {SURFACE}; border-left: 6px solid #3e9eff;"
            " border-radius: 6px; } #noticeRow QLabel { background: transparent; }"
        )

        self.confirm = ConfirmPanel()
        self.form = UnscheduledForm()
        self.pages = QStackedWidget()
        for widget in (self.list_page, self.confirm, self.form):
            self.pages.addWidget(widget)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        refresh_s = bridge.engine.settings.worklist.refresh_s
        if refresh_s > 0:
            self.timer.setInterval(max(1000, round(refresh_s * 1000)))

        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.table.installEventFilter(self)
        self.clear_button.clicked.connect(self.show_list)
        self.clear_button.clicked.connect(self.search.clear)
        self.table.clicked.connect(self.open_confirm)
        self.refresh_button.clicked.connect(self.refresh)
        self.unscheduled_button.clicked.connect(lambda: self.open_unscheduled())
        self.emergency_button.clicked.connect(lambda: self.open_unscheduled(emergency=True))
        self.continue_button.clicked.connect(self._continue)
        self.confirm.back_button.clicked.connect(self.show_list)
        self.confirm.start_button.clicked.connect(self.start_confirmed)
        self.form.cancelled.connect(self.show_list)
        self.form.submitted.connect(self.start_entry)
        for keys, slot in (
            ("F5", self.refresh),
            ("Ctrl+N", lambda: self.open_unscheduled()),
        ):
            shortcut = QShortcut(QKeySequence(keys), self.list_page)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        emergency = QShortcut(QKeySequence("Ctrl+E"), self.list_page)
        emergency.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        emergency.activated.connect(lambda: self.open_unscheduled(emergency=True))
        bridge.state_changed.connect(self._state_changed)
        bridge.procedure_changed.connect(self._state_changed)
        self.setTabOrder(self.search, self.table)
        self._show_open_procedure()
        self._show_empty()

    def _button(self, icon_name: str, text: str, tip: str) -> QPushButton:
        button = QPushButton(icon(icon_name), text)
        button.setObjectName(f"worklist_{icon_name}")
        button.setToolTip(tip)
        button.setAutoDefault(True)
        size = touch_px()
        button.setIconSize(QSize(size // 3, size // 3))
        button.setMinimumHeight(size)
        return button

    # -- screen hooks -----------------------------------------------------------------------

    def on_shown(self) -> None:
        """Query now and every ``refresh_s``; the list (not a panel) with the search focused."""
        self.show_list()
        self._show_open_procedure()
        self.refresh()
        if self.timer.interval() > 0:
            self.timer.start()

    def on_hidden(self) -> None:
        self.timer.stop()

    # -- the query --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Ask the worklist again on a worker (once at a time); the list stays meanwhile."""
        if self._querying:
            return
        self._querying = True
        self.busy.setVisible(True)
        self._show_status()
        self._show_empty()
        self.bridge.call(
            fetch_worklist,
            self.bridge.engine,
            on_done=self._fetched,
            on_error=self._fetch_failed,
        )

    def _alive(self) -> bool:
        return not sip.isdeleted(self)

    def _fetched(self, snapshot: WorklistSnapshot) -> None:
        if not self._alive():
            return
        self._querying = False
        self.busy.setVisible(False)
        self._snapshot = snapshot
        self._query_problem = ""
        current = self.current_row()
        self.model.set_rows(snapshot.rows, snapshot.fetched_at.date())
        if current is not None:
            self._select_key(current.item.key)
        messages = list(snapshot.problems)
        if not snapshot.configured:
            messages.insert(0, NO_PROVIDER_MESSAGE)
        self._set_message(messages)
        self._show_status()
        self._show_empty()

    def _fetch_failed(self, error: BaseException) -> None:
        if not self._alive():
            return
        self._querying = False
        self.busy.setVisible(False)
        if isinstance(error, WorklistError):
            text = f"The worklist could not be updated: {error}."
        else:
            text = f"The worklist could not be asked: {_sentence(error)}"
        if self._snapshot is not None and self._snapshot.configured:
            text += f" The list shown is from {self._snapshot.fetched_at:%H:%M:%S}."
        self._query_problem = text
        self._set_message([text])
        self._show_status()
        self._show_empty()

    def _set_message(self, messages: Sequence[str]) -> None:
        text = "\n".join(m for m in messages if m)
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _show_status(self) -> None:
        if self._querying:
            when = (
                f" (list from {self._snapshot.fetched_at:%H:%M:%S})"
                if self._snapshot is not None and self._snapshot.configured
                else ""
            )
            self.status.setText(f"Updating…{when}")
            return
        snapshot = self._snapshot
        if snapshot is None:
            self.status.setText("Not updated yet" if not self._query_problem else "Not updated")
            return
        if not snapshot.configured:
            self.status.setText("No worklist server")
            return
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        count = plural(total, "entry", "entries")
        if shown != total:
            count = f"{shown} of {count}"
        self.status.setText(f"Updated {snapshot.fetched_at:%H:%M:%S}   ·   {count}")

    def _show_empty(self) -> None:
        if self.proxy.rowCount():
            self.list_area.setCurrentWidget(self.table)
            return
        snapshot = self._snapshot
        if snapshot is None:
            text = "Asking the worklist…" if self._querying else ""
        elif not snapshot.configured:
            text = "No worklist server configured.\nUse Unscheduled for a patient."
        elif self.model.rowCount():
            text = f"No entry matches “{self.search.text().strip()}”.\nEsc clears the filter."
        else:
            text = "No scheduled procedures for this station.\nUse Unscheduled for a patient."
        self.empty.setText(text)
        self.list_area.setCurrentWidget(self.empty)

    # -- filtering and choosing -------------------------------------------------------------

    def _filter(self, text: str) -> None:
        self.proxy.set_text(text)
        self.clear_button.setVisible(bool(text))
        self._show_status()
        self._show_empty()

    def current_row(self) -> WorklistRow | None:
        """The row with the keyboard cursor, if any."""
        index = self.table.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    def _select_key(self, key: tuple[str, str]) -> None:
        for line in range(self.proxy.rowCount()):
            index = self.proxy.index(line, 0)
            row = index.data(ROW_ROLE)
            if row is not None and row.item.key == key:
                self.table.setCurrentIndex(index)
                return

    def _move(self, step: int) -> None:
        count = self.proxy.rowCount()
        if not count:
            return
        current = self.table.currentIndex()
        line = 0 if not current.isValid() else min(max(current.row() + step, 0), count - 1)
        self.table.setCurrentIndex(self.proxy.index(line, 0))

    def _open_current(self) -> None:
        index = self.table.currentIndex()
        if not index.isValid() and self.proxy.rowCount() == 1:
            index = self.proxy.index(0, 0)
        if index.isValid():
            self.open_confirm(index)
        else:
            self._move(0)

    def open_confirm(self, index: QModelIndex) -> None:
        """Show the confirm panel for the row at ``index`` (of the table's model)."""
        row = index.data(ROW_ROLE) if index.isValid() else None
        if row is None:
            return
        self.table.setCurrentIndex(index)
        self.confirm.show_row(row)
        self.pages.setCurrentWidget(self.confirm)
        self.confirm.start_button.setFocus()

    def open_unscheduled(self, *, emergency: bool = False) -> None:
        """Show the unscheduled form, empty or filled for an unidentified patient."""
        self.form.reset()
        self.pages.setCurrentWidget(self.form)
        if emergency:
            self.form.fill_emergency()
        else:
            self.form.family.setFocus()

    def show_list(self) -> None:
        """Back to the list, the search focused."""
        if self._starting:
            return
        self.pages.setCurrentWidget(self.list_page)
        self.search.setFocus()
        self.search.selectAll()

    def _continue(self) -> None:
        state = self.bridge.engine.state
        self.navigate.emit("review" if state is ProcedureState.REVIEW else "capture")

    def _state_changed(self, *_: object) -> None:
        if self._alive():
            self._show_open_procedure()

    def _show_open_procedure(self) -> None:
        engine = self.bridge.engine
        state, procedure = engine.state, engine.procedure
        if state in OPEN_STATES and procedure is not None:
            who = display_name(procedure.patient.name) or "(no name)"
            self.notice.setText(
                f"A procedure is open for {who} ({state.value.replace('_', ' ').lower()}). "
                "End it before starting another."
            )
            self.continue_button.setText(
                "Go to review" if state is ProcedureState.REVIEW else "Go to capture"
            )
            self.notice_row.show()
        else:
            self.notice_row.hide()

    # -- starting ---------------------------------------------------------------------------

    def start_confirmed(self) -> None:
        """Start the entry on the confirm panel (on a worker), then go to capture."""
        row = self.confirm.row
        if row is None or self._starting:
            return
        self._starting = True
        self.confirm.set_busy(True)
        self.confirm.show_message("")
        self.bridge.call(
            start_worklist_item,
            self.bridge.engine,
            row.item,
            on_done=self._started,
            on_error=lambda error: self._start_failed(error, self.confirm.show_message),
        )

    def start_entry(self, entry: UnscheduledEntry) -> None:
        """Start an unscheduled patient from the form (on a worker), then go to capture."""
        if self._starting:
            return
        self._starting = True
        self.form.set_busy(True)
        self.bridge.call(
            start_unscheduled,
            self.bridge.engine,
            entry,
            on_done=self._started,
            on_error=lambda error: self._start_failed(error, self.form.show_message),
        )

    def _started(self, _result: object) -> None:
        if not self._alive():
            return
        self._starting = False
        self.confirm.set_busy(False)
        self.form.reset()
        self.search.clear()
        self.show_list()
        self.navigate.emit("capture")

    def _start_failed(self, error: BaseException, show: object) -> None:
        if not self._alive():
            return
        self._starting = False
        self.confirm.set_busy(False)
        self.form.set_busy(False)
        show(f"Could not start: {_sentence(error)}")  # type: ignore[operator]

    # -- keyboard ---------------------------------------------------------------------------

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        if event is None or event.type() != QEvent.Type.KeyPress:
            return super().eventFilter(watched, event)
        assert isinstance(event, QKeyEvent)
        key = event.key()
        if watched is self.search:
            steps = {
                Qt.Key.Key_Down: 1,
                Qt.Key.Key_Up: -1,
                Qt.Key.Key_PageDown: 8,
                Qt.Key.Key_PageUp: -8,
            }
            if key in steps:
                self._move(steps[key])
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._open_current()
                return True
            if key == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                return True
        elif watched is self.table:
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._open_current()
                return True
            if self._type_into_search(event):
                return True
        return super().eventFilter(watched, event)

    def _type_into_search(self, event: QKeyEvent) -> bool:
        """Send typing to the search box, wherever the focus is on the list page."""
        if self.pages.currentWidget() is not self.list_page:
            return False
        other = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        other |= Qt.KeyboardModifier.MetaModifier
        if event.modifiers() & other:
            return False
        if event.key() == Qt.Key.Key_Backspace:
            self.search.setFocus()
            self.search.backspace()
            return True
        text = event.text()
        printable = bool(text) and text.isprintable() and not text.isspace()
        if printable or (text == " " and bool(self.search.text())):
            self.search.setFocus()
            self.search.insert(text)
            return True
        return False

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is None:
            return
        page = self.pages.currentWidget()
        if page is self.list_page and self._type_into_search(event):
            return
        if page is self.confirm:
            if event.key() == Qt.Key.Key_Escape:
                self.show_list()
                return
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.start_confirmed()
                return
        super().keyPressEvent(event)
