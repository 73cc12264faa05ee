"""The unscheduled / emergency patient form: a panel of the worklist screen, never a dialog.

The nurse types a family name (the one thing required), optionally a given name, a Patient
ID (empty: the engine makes a temporary one), a birth date, the sex and what is to be done.
"Emergency" fills a placeholder name ``EMERGENCY^<time>`` for a patient nobody can identify
yet (reconciled later). :func:`validate_unscheduled` checks the values before anything starts
and says what to fix, field by field.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from izer.gui.icons import icon
from izer.gui.theme import touch_px
from izer.model import Sex

#: Long String (LO) and Person Name component group limits, PS3.5 Table 6.2-1.
LO_MAX = 64
PN_GROUP_MAX = 64
#: Characters a Person Name component cannot hold (delimiters, PS3.5 6.2.1).
PN_DELIMITERS = "^=\\"
#: The family name of an unidentified patient; the time of day follows as the given name.
EMERGENCY_NAME = "EMERGENCY"
BIRTH_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y")


class Field(enum.StrEnum):
    """The form's fields (keys of the validation messages)."""

    FAMILY = "family"
    GIVEN = "given"
    PATIENT_ID = "patient_id"
    BIRTH_DATE = "birth_date"
    DESCRIPTION = "description"


@dataclass(frozen=True)
class UnscheduledEntry:
    """Validated values for :meth:`izer.engine.Engine.select_unscheduled`.

    ``patient_name`` is a DICOM PN (``Family^Given``); ``patient_id`` is ``None`` for a
    temporary one; ``birth_date`` is ``YYYYMMDD`` or empty.
    """

    patient_name: str
    patient_id: str | None
    birth_date: str
    sex: Sex
    description: str


def _name_problem(label: str, value: str) -> str:
    if any(c in value for c in PN_DELIMITERS):
        return f"{label}: the characters ^ = \\ cannot be used in a name"
    if any(unicode_control(c) for c in value):
        return f"{label}: remove the control characters"
    return ""


def unicode_control(char: str) -> bool:
    """True for a control character (tab, newline, escape...)."""
    return ord(char) < 32 or 127 <= ord(char) < 160


def parse_birth_date(text: str, today: dt.date) -> tuple[str, str]:
    """``(YYYYMMDD, "")`` for a birth date typed as ``YYYY-MM-DD``, ``YYYYMMDD`` or
    ``DD.MM.YYYY``; ``("", problem)`` when it is none of them, in the future or before 1900;
    ``("", "")`` when empty (unknown)."""
    text = text.strip()
    if not text:
        return "", ""
    for pattern in BIRTH_DATE_FORMATS:
        try:
            born = dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if born > today:
            return "", f"Birth date {born:%Y-%m-%d} is in the future"
        if born.year < 1900:
            return "", f"Birth date {born:%Y-%m-%d} is before 1900; check the year"
        return born.strftime("%Y%m%d"), ""
    return "", (
        f"Birth date {text!r}: type it as YYYY-MM-DD (e.g. 1984-07-22), or leave it empty "
        "when unknown"
    )


def validate_unscheduled(
    family: str,
    given: str,
    patient_id: str,
    birth_date: str,
    sex: Sex,
    description: str,
    *,
    today: dt.date | None = None,
) -> tuple[UnscheduledEntry | None, dict[Field, str]]:
    """Check the form's values; the entry, or ``None`` and a message per wrong field.

    The name follows the Person Name rules of PS3.5 6.2 (components without ``^ = \\``, at
    most 64 characters per component group); Patient ID and the description are Long Strings
    (at most 64 characters, no backslash).
    """
    today = today or dt.date.today()
    family, given = family.strip(), given.strip()
    patient_id, description = patient_id.strip(), description.strip()
    problems: dict[Field, str] = {}
    if not family:
        problems[Field.FAMILY] = (
            "Type the family name (or press Emergency for a patient not yet identified)"
        )
    elif problem := _name_problem("Family name", family):
        problems[Field.FAMILY] = problem
    if problem := _name_problem("Given name", given):
        problems[Field.GIVEN] = problem
    name = f"{family}^{given}" if given else family
    if Field.FAMILY not in problems and len(name) > PN_GROUP_MAX:
        problems[Field.FAMILY] = (
            f"Name too long: family and given name may have {PN_GROUP_MAX} characters "
            f"together, counting one for the space between them ({len(name)} now)"
        )
    for field, label, value in (
        (Field.PATIENT_ID, "Patient ID", patient_id),
        (Field.DESCRIPTION, "Procedure", description),
    ):
        if "\\" in value or any(unicode_control(c) for c in value):
            problems[field] = f"{label}: remove the backslash or control characters"
        elif len(value) > LO_MAX:
            problems[field] = f"{label}: at most {LO_MAX} characters ({len(value)} typed)"
    born, problem = parse_birth_date(birth_date, today)
    if problem:
        problems[Field.BIRTH_DATE] = problem
    if problems:
        return None, problems
    entry = UnscheduledEntry(
        patient_name=name,
        patient_id=patient_id or None,
        birth_date=born,
        sex=sex,
        description=description,
    )
    return entry, {}


class UnscheduledForm(QWidget):
    """Name, ID, birth date, sex and procedure of a patient without a worklist entry.

    Signals
    -------
    submitted(UnscheduledEntry)
        Start was pressed and the values are valid.
    cancelled()
        Back was pressed (or Escape).
    """

    submitted = pyqtSignal(object)
    cancelled = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        touch = touch_px()
        title = QLabel("Unscheduled or emergency patient")
        title.setProperty("role", "title")
        hint = QLabel(
            "For a patient without a worklist entry. Only the family name is required; an "
            "empty Patient ID gets a temporary one, to be reconciled later."
        )
        hint.setProperty("role", "muted")
        hint.setWordWrap(True)

        self.family = self._line("Family name", "e.g. Doe")
        self.given = self._line("Given name", "e.g. Jane")
        self.patient_id = self._line("Patient ID", "Empty: a temporary ID is made")
        self.birth_date = self._line("Birth date", "YYYY-MM-DD, empty when unknown")
        self.description = self._line("Procedure", "e.g. Gastroscopy")
        self.sex_buttons: dict[Sex, QPushButton] = {}
        self._sex_group = QButtonGroup(self)
        self._sex_group.setExclusive(True)
        sex_row = QHBoxLayout()
        sex_row.setSpacing(8)
        for sex, text in (
            (Sex.FEMALE, "Female"),
            (Sex.MALE, "Male"),
            (Sex.OTHER, "Other"),
            (Sex.UNKNOWN, "Unknown"),
        ):
            button = QPushButton(text)
            button.setObjectName(f"sex_{text.lower()}")
            button.setCheckable(True)
            button.setAutoDefault(True)
            button.setStyleSheet(
                "QPushButton:checked { background: #2b4a6f; border: 2px solid #3e9eff; }"
            )
            self._sex_group.addButton(button)
            self.sex_buttons[sex] = button
            sex_row.addWidget(button)
        sex_row.addStretch(1)
        self.sex_buttons[Sex.UNKNOWN].setChecked(True)

        self.errors: dict[Field, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(4)
        rows: list[tuple[str, QWidget | QHBoxLayout, Field | None]] = [
            ("Family name *", self.family, Field.FAMILY),
            ("Given name", self.given, Field.GIVEN),
            ("Patient ID", self.patient_id, Field.PATIENT_ID),
            ("Birth date", self.birth_date, Field.BIRTH_DATE),
            ("Sex", sex_row, None),
            ("Procedure", self.description, Field.DESCRIPTION),
        ]
        line = 0
        for label_text, widget, field in rows:
            label = QLabel(label_text)
            label.setMinimumWidth(int(touch * 2.2))
            grid.addWidget(label, line, 0, Qt.AlignmentFlag.AlignVCenter)
            if isinstance(widget, QHBoxLayout):
                grid.addLayout(widget, line, 1)
            else:
                widget.setMinimumHeight(int(touch * 0.75))
                grid.addWidget(widget, line, 1)
            line += 1
            if field is not None:
                error = QLabel()
                error.setObjectName(f"error_{field.value}")
                error.setProperty("role", "warning")
                error.setWordWrap(True)
                error.hide()
                self.errors[field] = error
                grid.addWidget(error, line, 1)
                line += 1
        grid.setColumnStretch(1, 1)

        self.message = QLabel()
        self.message.setObjectName("formMessage")
        self.message.setProperty("role", "warning")
        self.message.setWordWrap(True)
        self.message.hide()

        self.back_button = QPushButton("Back")
        self.back_button.setObjectName("formBack")
        self.back_button.setToolTip("Back to the worklist (Esc)")
        self.emergency_button = QPushButton(icon("emergency"), "Emergency")
        self.emergency_button.setObjectName("formEmergency")
        self.emergency_button.setProperty("role", "danger")
        self.emergency_button.setToolTip(
            f"Unidentified patient: fills the name {EMERGENCY_NAME}^<time> (Ctrl+E)"
        )
        self.start_button = QPushButton(icon("capture", "#0b1220"), "Start procedure")
        self.start_button.setObjectName("formStart")
        self.start_button.setProperty("role", "primary")
        self.start_button.setToolTip("Start the procedure and go to capture (Enter)")
        for button in (self.back_button, self.emergency_button, self.start_button):
            button.setAutoDefault(True)
            button.setIconSize(QSize(touch // 3, touch // 3))
            button.setMinimumWidth(int(touch * 2.4))
        self.start_button.setMinimumWidth(int(touch * 3.6))
        buttons = QHBoxLayout()
        buttons.setSpacing(14)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.emergency_button)
        buttons.addWidget(self.start_button)

        column = QVBoxLayout(self)
        column.setContentsMargins(28, 20, 28, 20)
        column.setSpacing(12)
        column.addWidget(title)
        column.addWidget(hint)
        column.addSpacing(6)
        fields = QWidget()
        fields.setLayout(grid)
        fields.setMaximumWidth(int(touch * 13))
        column.addWidget(fields)
        column.addWidget(self.message)
        column.addStretch(1)
        column.addLayout(buttons)

        self.back_button.clicked.connect(self.cancelled.emit)
        self.emergency_button.clicked.connect(lambda: self.fill_emergency())
        self.start_button.clicked.connect(self.submit)
        for edit in (self.family, self.given, self.patient_id, self.birth_date, self.description):
            edit.returnPressed.connect(self.submit)
        emergency = QShortcut(QKeySequence("Ctrl+E"), self)
        emergency.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        emergency.activated.connect(lambda: self.fill_emergency())
        self.setTabOrder(self.family, self.given)
        self.setTabOrder(self.given, self.patient_id)
        self.setTabOrder(self.patient_id, self.birth_date)
        self.setTabOrder(self.birth_date, self.sex_buttons[Sex.FEMALE])
        self.setTabOrder(self.sex_buttons[Sex.UNKNOWN], self.description)
        self.setTabOrder(self.description, self.start_button)

    @staticmethod
    def _line(name: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(name.lower().replace(" ", "_"))
        edit.setPlaceholderText(placeholder)
        edit.setAccessibleName(name)
        return edit

    # -- values ---------------------------------------------------------------------------

    def sex(self) -> Sex:
        """The sex chosen (Unknown unless another is pressed)."""
        for sex, button in self.sex_buttons.items():
            if button.isChecked():
                return sex
        return Sex.UNKNOWN

    def set_sex(self, sex: Sex) -> None:
        self.sex_buttons[sex].setChecked(True)

    def reset(self) -> None:
        """Empty the form for the next patient."""
        for edit in (self.family, self.given, self.patient_id, self.birth_date, self.description):
            edit.clear()
        self.set_sex(Sex.UNKNOWN)
        self.show_problems({})
        self.show_message("")
        self.set_busy(False)

    def fill_emergency(self, now: dt.datetime | None = None) -> None:
        """Fill the placeholder of an unidentified patient (``EMERGENCY^<HHMMSS>``)."""
        now = now or dt.datetime.now()
        self.family.setText(EMERGENCY_NAME)
        self.given.setText(now.strftime("%H%M%S"))
        self.patient_id.clear()
        self.birth_date.clear()
        self.set_sex(Sex.UNKNOWN)
        if not self.description.text().strip():
            self.description.setText("Emergency")
        self.show_problems({})
        self.show_message("")
        self.start_button.setFocus()

    # -- actions --------------------------------------------------------------------------

    def submit(self) -> None:
        """Validate; emit :attr:`submitted` with the entry, or show what to fix."""
        if not self.start_button.isEnabled():
            return
        entry, problems = validate_unscheduled(
            self.family.text(),
            self.given.text(),
            self.patient_id.text(),
            self.birth_date.text(),
            self.sex(),
            self.description.text(),
        )
        self.show_problems(problems)
        self.show_message("")
        if entry is not None:
            self.submitted.emit(entry)

    def show_problems(self, problems: dict[Field, str]) -> None:
        """Show each field's problem under it and focus the first wrong field."""
        edits = {
            Field.FAMILY: self.family,
            Field.GIVEN: self.given,
            Field.PATIENT_ID: self.patient_id,
            Field.BIRTH_DATE: self.birth_date,
            Field.DESCRIPTION: self.description,
        }
        first: QLineEdit | None = None
        for field, label in self.errors.items():
            text = problems.get(field, "")
            label.setText(text)
            label.setVisible(bool(text))
            edit = edits[field]
            edit.setStyleSheet("QLineEdit { border: 2px solid #f5a524; }" if text else "")
            if text and first is None:
                first = edit
        if first is not None:
            first.setFocus()

    def show_message(self, text: str) -> None:
        """A problem with the whole entry (from the engine), or ``""`` to clear it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        """While the procedure starts: buttons off, Start says so."""
        for button in (self.back_button, self.emergency_button, self.start_button):
            button.setEnabled(not busy)
        self.start_button.setText("Starting…" if busy else "Start procedure")

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is not None and event.key() == Qt.Key.Key_Escape:
            if self.back_button.isEnabled():
                self.cancelled.emit()
            return
        super().keyPressEvent(event)
