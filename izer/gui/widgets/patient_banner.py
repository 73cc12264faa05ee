"""The patient banner: who is on the table, always visible, impossible to miss."""

from __future__ import annotations

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from izer.gui.bridge import EngineBridge
from izer.gui.theme import ACCENT, RECORD_RED, SURFACE, TEXT_MUTED, WARNING_AMBER
from izer.model import Procedure, ProcedureState, display_date, display_name

#: Banner colour per procedure state: blue while working, amber in review, grey when idle.
STATE_COLOURS = {
    ProcedureState.IDLE: "#3a404c",
    ProcedureState.PATIENT_SELECTED: ACCENT,
    ProcedureState.IN_PROGRESS: ACCENT,
    ProcedureState.APPENDING: ACCENT,
    ProcedureState.REVIEW: WARNING_AMBER,
    ProcedureState.COMPLETED: "#30a46c",
    ProcedureState.DISCONTINUED: RECORD_RED,
}


class PatientBanner(QWidget):
    """Name, ID, birth date, sex, accession, procedure and state, plus a REC tally."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patientBanner")
        self.name = QLabel()
        self.name.setObjectName("bannerName")
        self.details = QLabel()
        self.details.setProperty("role", "muted")
        self.state = QLabel()
        self.state.setObjectName("bannerState")
        self.recording = QLabel()
        self.recording.setObjectName("bannerRec")
        self.recording.hide()
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.name)
        text.addWidget(self.details)
        row = QHBoxLayout(self)
        row.setContentsMargins(18, 10, 18, 10)
        row.addLayout(text, 1)
        row.addWidget(self.recording)
        row.addWidget(self.state)
        bridge.procedure_changed.connect(self.show_procedure)
        bridge.state_changed.connect(self._state_changed)
        bridge.recording_changed.connect(self._recording)
        self._procedure: Procedure | None = None
        self._state: ProcedureState | None = None
        self._blink = QTimer(self)
        self._blink.setInterval(600)
        self._blink.timeout.connect(self._toggle_blink)
        self.show_procedure(bridge.engine.procedure)  # once, before any capture runs

    def _state_changed(self, _old: ProcedureState, new: ProcedureState) -> None:
        # Never read the engine here: a still being stored holds its lock (GUI thread).
        self._state = new
        self.show_procedure(self._procedure, keep_state=True)

    def show_procedure(self, procedure: Procedure | None, *, keep_state: bool = False) -> None:
        """Show ``procedure``; its state, unless a newer one came through ``state_changed``."""
        self._procedure = procedure
        if not keep_state:
            self._state = None
        if procedure is None:
            self.name.setText("No patient selected")
            self.details.setText("Pick a patient from the worklist, or start an unscheduled one")
            state = ProcedureState.IDLE
        else:
            patient = procedure.patient
            self.name.setText(display_name(patient.name) or "(no name)")
            bits = [
                f"ID {patient.patient_id}",
                f"born {display_date(patient.birth_date)}" if patient.birth_date else "",
                {"M": "male", "F": "female", "O": "other"}.get(patient.sex.value, ""),
                f"Acc. {procedure.accession_number}" if procedure.accession_number else "",
                procedure.description,
            ]
            self.details.setText("   ·   ".join(b for b in bits if b))
            state = self._state or procedure.state
        colour = STATE_COLOURS.get(state, "#3a404c")
        self.state.setText(state.value.replace("_", " ").upper() if state.value else "IDLE")
        self.setStyleSheet(
            f"#patientBanner {{ background: {SURFACE}; border-left: 10px solid {colour}; }}"
            "#bannerName { font-size: 26pt; font-weight: 700; }"
            f"#bannerState {{ color: {colour}; font-size: 16pt; font-weight: 700;"
            " padding: 0 12px; }"
            f"#bannerRec {{ color: white; background: {RECORD_RED}; font-size: 18pt;"
            " font-weight: 800; padding: 6px 14px; border-radius: 8px; }"
            f"QLabel[role='muted'] {{ color: {TEXT_MUTED}; }}"
        )

    def _recording(self, statuses: object) -> None:
        active = [s for s in statuses or [] if s.recording]  # type: ignore[attr-defined]
        if active:
            self.recording.setText("● REC")
            self.recording.show()
            self._blink.start()
        else:
            self._blink.stop()
            self.recording.hide()

    def _toggle_blink(self) -> None:
        self.recording.setVisible(not self.recording.isVisible())
