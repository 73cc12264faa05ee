"""The worklist as a table: one row per scheduled procedure step, filtered as one types.

:func:`fetch_worklist` (run on a worker thread) asks the providers and flags each item whose
study this station already started (:func:`started_procedures`). :class:`WorklistModel` shows
the :class:`WorklistRow` objects in the nurse's columns (time, patient, ID, birth date, sex,
accession, procedure, physician, status); :class:`WorklistFilter` keeps the rows whose text
contains every typed word, ignoring case and accents (``muller`` finds ``Müller``,
``odegard`` finds ``Ødegård``).
"""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QIcon, QResizeEvent
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from izer.engine import Engine, WorklistItem
from izer.gui.icons import icon
from izer.gui.theme import SURFACE_RAISED, TEXT, TEXT_MUTED, WARNING_AMBER, touch_px
from izer.model import ProcedureState, Sex, display_name

#: The whole row (a :class:`WorklistRow`).
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
#: The folded text the filter searches (every column plus the raw values).
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2
#: What a column sorts by.
SORT_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    """The worklist columns, in order."""

    TIME = 0
    PATIENT = 1
    ID = 2
    BIRTH_DATE = 3
    SEX = 4
    ACCESSION = 5
    PROCEDURE = 6
    PHYSICIAN = 7
    STATUS = 8

    @property
    def heading(self) -> str:
        """The column heading."""
        return _HEADINGS[self]


_HEADINGS = {
    Column.TIME: "Time",
    Column.PATIENT: "Patient",
    Column.ID: "ID",
    Column.BIRTH_DATE: "Birth date",
    Column.SEX: "Sex",
    Column.ACCESSION: "Accession",
    Column.PROCEDURE: "Procedure",
    Column.PHYSICIAN: "Physician",
    Column.STATUS: "Status",
}

SEX_LETTERS = {Sex.FEMALE: "F", Sex.MALE: "M", Sex.OTHER: "O", Sex.UNKNOWN: ""}
SEX_WORDS = {Sex.FEMALE: "female", Sex.MALE: "male", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}

#: Letters NFKD does not split into a base letter and a mark.
_UNSPLIT = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ß": "ss",
        "đ": "d",
        "ł": "l",
        "þ": "th",
        "\u0131": "i",
        "^": " ",
    }
)


def fold(text: str) -> str:
    """``text`` for matching: case-folded, accents dropped, ``^`` as a space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNSPLIT))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_UNSPLIT)


def date_text(value: str) -> str:
    """A DICOM DA (``YYYYMMDD``) as ``YYYY-MM-DD``; anything else as it is."""
    value = value.strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def time_text(value: str) -> str:
    """A DICOM TM (``HHMMSS.FFFFFF``, ``HHMM``, ``HH``) as ``HH:MM``."""
    digits = value.strip().split(".")[0].replace(":", "")
    if len(digits) >= 4 and digits[:4].isdigit():
        return f"{digits[:2]}:{digits[2:4]}"
    if len(digits) == 2 and digits.isdigit():
        return f"{digits}:00"
    return value.strip()


def person_text(name: str) -> str:
    """A DICOM PN for a physician: ``Family, Given`` (no capitals added)."""
    parts = [*name.split("=")[0].split("^"), ""]
    family, given = parts[0].strip(), " ".join(p for p in parts[1:3] if p).strip()
    return f"{family}, {given}" if family and given else family or given


def age_text(birth_date: str, today: dt.date) -> str:
    """Age in whole years for a ``YYYYMMDD`` birth date, or ``""``."""
    try:
        born = dt.datetime.strptime(birth_date.strip(), "%Y%m%d").date()
    except ValueError:
        return ""
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return f"{years} y" if years >= 0 else ""


@dataclass(frozen=True)
class StartedProcedure:
    """A procedure of this station that already went to ``IN_PROGRESS`` for a study.

    Parameters
    ----------
    state
        Where it stands now.
    started_at
        When it first started (local time), ``None`` when not recorded.
    """

    state: ProcedureState
    started_at: dt.datetime | None = None

    def describe(self) -> str:
        """``in progress, started 2024-05-02 09:12`` and the like."""
        state = self.state.value.replace("_", " ").lower()
        if self.started_at is None:
            return state
        return f"{state}, started {self.started_at:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class WorklistRow:
    """One worklist item and what this station already did with its study."""

    item: WorklistItem
    started: StartedProcedure | None = None

    @property
    def duplicate(self) -> bool:
        """True when a procedure for this study or accession was already started here."""
        return self.started is not None

    @property
    def procedure(self) -> str:
        """What is to be done: the requested procedure's description, else the step's."""
        item = self.item
        return (
            item.requested_procedure_description or item.sps_description or item.study_description
        )

    @property
    def physician(self) -> str:
        """The scheduled performing physician, else the referring one."""
        return self.item.performing_physician or self.item.referring_physician

    def when(self, today: dt.date) -> str:
        """Scheduled start: ``HH:MM`` today, ``YYYY-MM-DD HH:MM`` on another day."""
        day, time = self.item.sps_start_date.strip(), time_text(self.item.sps_start_time)
        if not day or day == today.strftime("%Y%m%d"):
            return time
        return f"{date_text(day)} {time}".strip()

    def status(self) -> str:
        """``Possible duplicate`` for a study started here, else the step's status."""
        if self.duplicate:
            return "Possible duplicate"
        # A worklist entry is a scheduled step (PS3.4 K.6); most RISs leave its status empty.
        return (self.item.sps_status or "Scheduled").replace("_", " ").capitalize()

    def text(self, column: Column, today: dt.date) -> str:
        """The text shown in ``column``."""
        item, patient = self.item, self.item.patient
        match column:
            case Column.TIME:
                return self.when(today)
            case Column.PATIENT:
                return display_name(patient.name) or "(no name)"
            case Column.ID:
                return patient.patient_id
            case Column.BIRTH_DATE:
                return date_text(patient.birth_date)
            case Column.SEX:
                return SEX_LETTERS.get(patient.sex, "")
            case Column.ACCESSION:
                return item.accession_number
            case Column.PROCEDURE:
                return self.procedure
            case Column.PHYSICIAN:
                return person_text(self.physician)
            case Column.STATUS:
                return self.status()

    def search_text(self, today: dt.date) -> str:
        """Everything the filter matches, folded."""
        item, patient = self.item, self.item.patient
        values = [self.text(column, today) for column in Column]
        values += [
            patient.name,
            patient.birth_date,
            SEX_WORDS.get(patient.sex, ""),
            item.sps_description,
            item.study_description,
            item.requested_procedure_description,
            item.referring_physician,
            item.requested_procedure_id,
            item.modality,
        ]
        return fold(" | ".join(v for v in values if v))

    def sort_key(self, column: Column, today: dt.date) -> str:
        """What ``column`` sorts by (dates and times as digits)."""
        item = self.item
        if column is Column.TIME:
            return f"{item.sps_start_date}{time_text(item.sps_start_time)}"
        if column is Column.BIRTH_DATE:
            return item.patient.birth_date
        return fold(self.text(column, today))


# -- fetching (on a worker thread) ----------------------------------------------------------------

#: Values per SQL query when looking up started procedures (far below SQLite's limit).


@dataclass(frozen=True)
class WorklistSnapshot:
    """One answer of the worklist, ready to show.

    ``configured`` is False when no provider is configured (nothing was asked).
    ``problems`` are plain-words messages (a provider that did not answer, a cut list...).
    """

    rows: tuple[WorklistRow, ...]
    configured: bool
    problems: tuple[str, ...] = ()
    fetched_at: dt.datetime = field(default_factory=dt.datetime.now)


def started_procedures(
    engine: Engine, items: Sequence[WorklistItem]
) -> dict[str, StartedProcedure]:
    """Procedures of this station already started for the items' studies or accessions.

    Keys are ``uid:<Study Instance UID>`` and ``acc:<Accession Number>``. A procedure counts
    as started once it went to ``IN_PROGRESS`` (MPPS N-CREATE sent): starting the same
    scheduled step again would make a second performed procedure step for it.

    Reads the store's index (a small SQLite read: call it on a worker thread).
    """
    rows = engine.store.started_procedures(
        study_uids=[i.study_instance_uid for i in items if i.study_instance_uid],
        accessions=[i.accession_number for i in items if i.accession_number],
    )
    found: dict[str, StartedProcedure] = {}
    for column, value, state, at in rows:
        prefix = "uid" if column == "study_uid" else "acc"
        found.setdefault(f"{prefix}:{value}", StartedProcedure(state, _local(at)))
    return found


def _local(stamp: str | None) -> dt.datetime | None:
    """A stored UTC ISO time as a naive local time."""
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone().replace(tzinfo=None)


def worklist_rows(
    items: Iterable[WorklistItem], started: dict[str, StartedProcedure]
) -> tuple[WorklistRow, ...]:
    """Rows for ``items``, each flagged with the procedure started for its study, if any."""
    rows = []
    for item in items:
        found = started.get(f"uid:{item.study_instance_uid}") if item.study_instance_uid else None
        if found is None and item.accession_number:
            found = started.get(f"acc:{item.accession_number}")
        rows.append(WorklistRow(item, found))
    return tuple(rows)


def plural(count: int, one: str, many: str) -> str:
    """``1 entry``, ``3 entries``."""
    return f"{count} {one if count == 1 else many}"


def fetch_worklist(engine: Engine) -> WorklistSnapshot:
    """Run the default query on every provider and flag the studies already started here.

    Raises
    ------
    WorklistError
        When no provider answered (the screen keeps the list it has).
    ValueError
        When the settings name an unknown provider.
    """
    if not engine.worklist_providers():
        return WorklistSnapshot(rows=(), configured=False)
    result = engine.worklist()
    rows = worklist_rows(result.items, started_procedures(engine, result.items))
    problems = [
        f"Worklist server {error.provider} did not answer ({error.message}); the list shows "
        "the entries of the others."
        for error in result.errors
    ]
    if result.truncated:
        problems.append(
            f"Only the first {engine.settings.worklist.result_cap} entries per server are "
            "shown: type to filter, or narrow the date range in Settings."
        )
    if result.warnings:
        problems.append(
            f"{plural(len(result.warnings), 'value', 'values')} came in an unexpected character "
            "set: check the names before starting."
        )
    if result.skipped:
        problems.append(
            f"{plural(len(result.skipped), 'answer', 'answers')} of the worklist server could "
            "not be used (no scheduled procedure step)."
        )
    return WorklistSnapshot(rows=rows, configured=True, problems=tuple(problems))


# -- showing -------------------------------------------------------------------------------------


class WorklistModel(QAbstractTableModel):
    """The worklist rows in the nurse's columns."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[WorklistRow] = []
        self._search: list[str] = []
        self._today = dt.date.today()
        self._warning: QIcon | None = None
        self._bold: QFont | None = None

    def set_rows(self, rows: Sequence[WorklistRow], today: dt.date | None = None) -> None:
        """Show ``rows`` instead of the current ones."""
        self.beginResetModel()
        self._today = today or dt.date.today()
        self._rows = list(rows)
        self._search = [row.search_text(self._today) for row in self._rows]
        self.endResetModel()

    def rows(self) -> list[WorklistRow]:
        """The rows, in the order they came."""
        return list(self._rows)

    def row_at(self, index: Index) -> WorklistRow | None:
        """The row at ``index`` of this model."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._rows[index.row()]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return Column(section).heading if 0 <= section < len(Column) else None
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return row.text(column, self._today)
        if role == ROW_ROLE:
            return row
        if role == SEARCH_ROLE:
            return self._search[index.row()]
        if role == SORT_ROLE:
            return row.sort_key(column, self._today)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column is Column.STATUS and row.started is not None:
                return (
                    "Already started on this station "
                    f"({row.started.describe()}): starting it again makes a second procedure"
                )
            return row.text(column, self._today) or None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column is Column.STATUS:
                return QColor(WARNING_AMBER if row.duplicate else TEXT_MUTED)
            return QColor(TEXT)
        if role == Qt.ItemDataRole.DecorationRole and column is Column.STATUS and row.duplicate:
            if self._warning is None:
                self._warning = icon("warning", WARNING_AMBER)
            return self._warning
        if role == Qt.ItemDataRole.FontRole and column in (Column.PATIENT, Column.TIME):
            if self._bold is None:
                self._bold = QFont()
                self._bold.setBold(True)
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
        return None


class WorklistFilter(QSortFilterProxyModel):
    """Rows whose text holds every typed word (case and accents ignored), sorted by a column."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._terms: list[str] = []
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_text(self, text: str) -> None:
        """Filter by ``text`` (words separated by spaces; empty shows every row)."""
        terms = fold(text).split()
        if terms != self._terms:
            self._terms = terms
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self._terms:
            return True
        model = self.sourceModel()
        if model is None:
            return True
        text = model.index(source_row, 0, source_parent).data(SEARCH_ROLE) or ""
        return all(term in text for term in self._terms)


# -- the view -------------------------------------------------------------------------------------

#: Horizontal padding of a table cell, each side (pixels).
CELL_PADDING = 10
#: What gives way, first to last, when the columns do not fit: their text wraps onto a second
#: line (rows are a touch target high), then elides. Patient goes last.
SQUEEZE_ORDER = (Column.STATUS, Column.PHYSICIAN, Column.PROCEDURE, Column.PATIENT)


def column_widths(
    wanted: dict[Column, int], floors: dict[Column, int], available: int
) -> dict[Column, int]:
    """Widths for the columns in ``available`` pixels.

    Each column gets ``wanted``; spare room goes to Patient and Procedure. When there is too
    little, the columns of :data:`SQUEEZE_ORDER` shrink one after the other down to their
    ``floors``, and if that is still too much they share the rest of the cut.
    """
    widths = dict(wanted)
    excess = sum(widths.values()) - available
    if excess <= 0:
        widths[Column.PATIENT] += -excess // 2
        widths[Column.PROCEDURE] += -excess - -excess // 2
        return widths
    for column in SQUEEZE_ORDER:
        cut = min(excess, max(0, widths[column] - floors.get(column, 0)))
        widths[column] -= cut
        excess -= cut
    if excess > 0:
        share, rest = sum(widths[c] for c in SQUEEZE_ORDER), excess
        for column in SQUEEZE_ORDER:
            cut = min(excess, -(-rest * widths[column] // share), widths[column] - 1)
            widths[column] -= cut
            excess -= cut
    return widths


class WorklistTable(QTableView):
    """The worklist rows: a touch target high, sortable, one row selected at a time; columns
    sized to their text whenever the rows or the width change (see :func:`column_widths`).

    Parameters
    ----------
    rows
        The model whose rows are measured (the view may show it through a filter).
    """

    def __init__(self, rows: WorklistModel, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows = rows
        touch = touch_px()
        self.setObjectName("worklistTable")
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setSortingEnabled(True)
        self.setTabKeyNavigation(False)
        self.setIconSize(QSize(touch // 3, touch // 3))
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows_header = self.verticalHeader()
        rows_header.hide()
        rows_header.setDefaultSectionSize(touch)
        rows_header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setMinimumSectionSize(touch // 2)
        header.setStretchLastSection(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.setStyleSheet(
            f"QTableView::item {{ padding: 0 {CELL_PADDING}px;"
            f" border-bottom: 1px solid {SURFACE_RAISED}; }}"
            "QTableView::item:selected { background: #2b4a6f; }"
            f"QHeaderView::section {{ padding: 8px {CELL_PADDING}px; }}"
        )
        rows.modelReset.connect(self.fit_columns)

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        self.sortByColumn(Column.TIME, Qt.SortOrder.AscendingOrder)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def fit_columns(self) -> None:
        """Size the columns to their text in the width there is."""
        available = self.viewport().width()
        if available > 0:
            wanted, floors = self._text_widths()
            header = self.horizontalHeader()
            for column, width in column_widths(wanted, floors, available).items():
                header.resizeSection(column, width)

    def _text_widths(self) -> tuple[dict[Column, int], dict[Column, int]]:
        """Each column's widest text (heading or cell) and widest word, plus the padding."""
        plain = QFontMetrics(self.font())
        bold_font = QFont(self.font())
        bold_font.setBold(True)
        bold = QFontMetrics(bold_font)
        heading = QFontMetrics(self.horizontalHeader().font())
        padding = 2 * CELL_PADDING + 12  # and the style's text margins
        rows = self._rows.rows()
        today = dt.date.today()
        sorted_by = self.horizontalHeader().sortIndicatorSection()
        wanted: dict[Column, int] = {}
        floors: dict[Column, int] = {}
        for column in Column:
            metrics = bold if column in (Column.TIME, Column.PATIENT) else plain
            widest = heading.horizontalAdvance(column.heading)
            if column == sorted_by:
                widest += 20  # the sort arrow
            word = widest
            for row in rows:
                text = row.text(column, today)
                widest = max(widest, metrics.horizontalAdvance(text))
                word = max([word, *(metrics.horizontalAdvance(w) for w in text.split())])
            if column is Column.STATUS and any(row.duplicate for row in rows):
                widest += self.iconSize().width() + 8
                word += self.iconSize().width() + 8
            wanted[column] = widest + padding
            floors[column] = word + padding
        return wanted, floors
