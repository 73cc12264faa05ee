"""The worklist screen against a real worklist server (DCMTK wlmscpfs): list, filter, confirm,
start, duplicates, the unscheduled form, and the keyboard-only path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from izer.config import load_settings
from izer.engine import Engine
from izer.gui.bridge import EngineBridge
from izer.gui.screens.worklist import NO_PROVIDER_MESSAGE, WorklistScreen
from izer.gui.theme import WARNING_AMBER
from izer.gui.widgets.unscheduled_form import Field, parse_birth_date, validate_unscheduled
from izer.gui.widgets.worklist_table import Column, column_widths, fold
from izer.model import ProcedureState, Sex
from tests.conftest import TEST_UID_ROOT
from tests.peers.harness import Peer, free_port
from tests.peers.worklist import write_worklist_item

#: The station the made-up entries are scheduled on (nobody else's tests use it).
STATION = "IZGUIWL"

#: Made-up patients scheduled today on STATION.
ENTRIES = [
    dict(
        patient_id="IZG-1001", accession="IZGACC001", patient_name="Müller^Jürgen",
        birth_date="19610315", sex="M", scheduled_time="083000",
        procedure_description="Gastroscopy", performing_physician="Weber^Anna",
    ),
    dict(
        patient_id="IZG-1002", accession="IZGACC002", patient_name="Doe^Jane",
        birth_date="19840722", sex="F", scheduled_time="091500",
        procedure_description="Colonoscopy", performing_physician="Okafor^Chidi",
    ),
    dict(
        patient_id="IZG-1003", accession="IZGACC003", patient_name="Ødegård^Åse Françoise",
        birth_date="19921105", sex="F", scheduled_time="103000",
        procedure_description="ERCP", performing_physician="Weber^Anna",
    ),
]  # fmt: skip


@pytest.fixture
def scheduled(wlmscpfs: Peer) -> Iterator[Callable[..., Path]]:
    """The three ENTRIES in wlmscpfs; returns a function that schedules one more."""
    folder = wlmscpfs.worklist_dir
    assert folder is not None
    paths: list[Path] = []

    def schedule(**values: object) -> Path:
        path = folder / f"{values['accession']}.wl"
        write_worklist_item(path, station_aet=STATION, modality="ES", **values)  # type: ignore[arg-type]
        paths.append(path)
        return path

    for entry in ENTRIES:
        schedule(**entry)
    try:
        yield schedule
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


def _settings(write_settings, tmp_path: Path, providers: list[tuple[str, str, int]], refresh_s=60):
    destinations = "".join(
        f"""
        [[destinations]]
        name = "{name}"
        ae_title = "{aet}"
        host = "127.0.0.1"
        port = {port}
        roles = ["worklist"]
        """
        for name, aet, port in providers
    )
    return write_settings(
        f"""
        [station]
        ae_title = "{STATION}"
        uid_root = "{TEST_UID_ROOT}"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [network]
        connect_timeout_s = 3
        acse_timeout_s = 5
        dimse_timeout_s = 10
        network_timeout_s = 10

        [worklist]
        refresh_s = {refresh_s}
        """
        + destinations
    )


@pytest.fixture
def open_bridge(qapp) -> Iterator[Callable[[Path], EngineBridge]]:
    """Opens an engine on a settings file and a bridge over it; closes both afterwards."""
    from izer.gui.app import application

    application()
    opened: list[tuple[Engine, EngineBridge]] = []

    def open_(path: Path) -> EngineBridge:
        engine = Engine.open(load_settings(path).settings)
        bridge = EngineBridge(engine, settings_path=path)
        opened.append((engine, bridge))
        return bridge

    yield open_
    for engine, bridge in opened:
        bridge.shutdown()
        engine.close()


@pytest.fixture
def wl_bridge(open_bridge, write_settings, tmp_path, wlmscpfs: Peer, scheduled) -> EngineBridge:
    """A bridge over an engine whose one worklist provider is wlmscpfs."""
    path = _settings(write_settings, tmp_path, [("wlmscpfs", wlmscpfs.aet, wlmscpfs.port)])
    return open_bridge(path)


def _show(qtbot, bridge: EngineBridge) -> tuple[WorklistScreen, list[str]]:
    """The screen shown (as the main window would) and the screens it asked for."""
    screen = WorklistScreen(bridge)
    qtbot.addWidget(screen)
    screen.resize(1440, 820)
    asked: list[str] = []
    screen.navigate.connect(asked.append)
    screen.show()
    screen.activateWindow()
    screen.on_shown()
    return screen, asked


def _loaded(qtbot, screen: WorklistScreen, count: int = len(ENTRIES)) -> None:
    qtbot.waitUntil(
        lambda: not screen._querying and screen.model.rowCount() == count, timeout=20_000
    )


def _cell(screen: WorklistScreen, line: int, column: Column) -> str:
    return screen.proxy.index(line, column).data()


def _line_of(screen: WorklistScreen, accession: str) -> int:
    for line in range(screen.proxy.rowCount()):
        if _cell(screen, line, Column.ACCESSION) == accession:
            return line
    raise AssertionError(f"{accession} is not shown")


@pytest.mark.peers
def test_the_list_shows_todays_entries_in_the_nurses_columns(qtbot, wl_bridge) -> None:
    screen, _ = _show(qtbot, wl_bridge)
    _loaded(qtbot, screen)
    assert [_cell(screen, line, Column.TIME) for line in range(3)] == ["08:30", "09:15", "10:30"]
    line = _line_of(screen, "IZGACC001")
    assert [_cell(screen, line, column) for column in Column] == [
        "08:30",
        "MÜLLER, Jürgen",
        "IZG-1001",
        "1961-03-15",
        "M",
        "IZGACC001",
        "Gastroscopy",
        "Weber, Anna",
        "Scheduled",
    ]
    assert _cell(screen, _line_of(screen, "IZGACC003"), Column.PATIENT) == (
        "ØDEGÅRD, Åse Françoise"
    )
    assert screen.status.text().startswith("Updated ")
    assert "3 entries" in screen.status.text()
    assert not screen.message.isVisible()
    assert screen.list_area.currentWidget() is screen.table
    # Rows are touch targets: at least the theme's 20 mm.
    from izer.gui.theme import touch_px

    assert screen.table.rowHeight(0) >= touch_px()


@pytest.mark.peers
def test_typing_filters_every_column_ignoring_case_and_accents(qtbot, wl_bridge) -> None:
    screen, _ = _show(qtbot, wl_bridge)
    _loaded(qtbot, screen)
    qtbot.waitUntil(screen.search.hasFocus, timeout=5_000)
    qtbot.keyClicks(screen.search, "odegard")
    assert screen.proxy.rowCount() == 1
    assert _cell(screen, 0, Column.ACCESSION) == "IZGACC003"
    for text, accessions in (
        ("muller", {"IZGACC001"}),
        ("weber", {"IZGACC001", "IZGACC003"}),
        ("IZG-1002", {"IZGACC002"}),
        ("colono", {"IZGACC002"}),
        ("1984-07", {"IZGACC002"}),
        ("jane doe", {"IZGACC002"}),
        ("", {"IZGACC001", "IZGACC002", "IZGACC003"}),
    ):
        screen.search.setText(text)
        shown = {_cell(screen, line, Column.ACCESSION) for line in range(screen.proxy.rowCount())}
        assert shown == accessions, text
    screen.search.setText("nobody-here")
    assert screen.proxy.rowCount() == 0
    assert screen.list_area.currentWidget() is screen.empty
    assert "No entry matches" in screen.empty.text()
    assert "0 of 3 entries" in screen.status.text()
    # Escape in the search box clears the filter.
    qtbot.keyClick(screen.search, Qt.Key.Key_Escape)
    assert screen.search.text() == ""
    assert screen.proxy.rowCount() == 3


@pytest.mark.peers
def test_typing_anywhere_on_the_list_goes_to_the_search_box(qtbot, wl_bridge) -> None:
    screen, _ = _show(qtbot, wl_bridge)
    _loaded(qtbot, screen)
    screen.table.setFocus()
    qtbot.keyClicks(screen.table, "doe")
    assert screen.search.text() == "doe"
    assert screen.proxy.rowCount() == 1
    qtbot.keyClicks(screen.refresh_button, "x")
    assert screen.search.text() == "doex"
    qtbot.keyClick(screen.table, Qt.Key.Key_Backspace)
    assert screen.search.text() == "doe"


@pytest.mark.peers
def test_tap_row_then_start_selects_the_item_starts_and_asks_for_capture(qtbot, wl_bridge) -> None:
    screen, asked = _show(qtbot, wl_bridge)
    _loaded(qtbot, screen)
    line = _line_of(screen, "IZGACC002")
    rect = screen.table.visualRect(screen.proxy.index(line, Column.PATIENT))
    qtbot.mouseClick(screen.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # Tap 1: the confirm panel with the demographics, read-only.
    assert screen.pages.currentWidget() is screen.confirm
    assert screen.confirm.name.text() == "DOE, Jane"
    assert "ID IZG-1002" in screen.confirm.summary.text()
    assert "born 1984-07-22" in screen.confirm.summary.text()
    assert "female" in screen.confirm.summary.text()
    assert screen.confirm.values["Accession"].text() == "IZGACC002"
    assert screen.confirm.values["Procedure"].text() == "Colonoscopy"
    assert not screen.confirm.warning.isVisible()
    assert wl_bridge.engine.state is ProcedureState.IDLE
    # Back returns to the list without selecting anything.
    qtbot.mouseClick(screen.confirm.back_button, Qt.MouseButton.LeftButton)
    assert screen.pages.currentWidget() is screen.list_page
    assert wl_bridge.engine.state is ProcedureState.IDLE
    qtbot.mouseClick(screen.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # Tap 2: Start.
    qtbot.mouseClick(screen.confirm.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: asked == ["capture"], timeout=20_000)
    engine = wl_bridge.engine
    assert engine.state is ProcedureState.IN_PROGRESS
    procedure = engine.procedure
    assert procedure is not None
    assert procedure.accession_number == "IZGACC002"
    assert procedure.patient.patient_id == "IZG-1002"
    assert procedure.patient.name == "Doe^Jane"
    item = screen.confirm.row.item
    assert procedure.study_uid == item.study_instance_uid
    assert screen.pages.currentWidget() is screen.list_page
    # While it is open, the list says so and another start is refused in plain words.
    assert screen.notice_row.isVisibleTo(screen)
    assert "DOE, Jane" in screen.notice.text()
    screen.open_confirm(screen.proxy.index(_line_of(screen, "IZGACC001"), 0))
    qtbot.mouseClick(screen.confirm.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(screen.confirm.message.isVisible, timeout=10_000)
    assert "still open for DOE, Jane" in screen.confirm.message.text()
    assert engine.procedure.accession_number == "IZGACC002"
    assert asked == ["capture"]


@pytest.mark.peers
def test_an_entry_already_started_here_is_flagged_a_possible_duplicate(qtbot, wl_bridge) -> None:
    engine = wl_bridge.engine
    first = engine.worklist().items
    started = next(i for i in first if i.accession_number == "IZGACC001")
    engine.select_worklist_item(started)
    engine.start()
    engine.discontinue("110514")
    engine.release()
    screen, _ = _show(qtbot, wl_bridge)
    _loaded(qtbot, screen)
    flagged = _line_of(screen, "IZGACC001")
    assert _cell(screen, flagged, Column.STATUS) == "Possible duplicate"
    status = screen.proxy.index(flagged, Column.STATUS)
    assert status.data(Qt.ItemDataRole.ForegroundRole).name() == WARNING_AMBER
    assert "discontinued, started" in status.data(Qt.ItemDataRole.ToolTipRole)
    for other in ("IZGACC002", "IZGACC003"):
        assert _cell(screen, _line_of(screen, other), Column.STATUS) == "Scheduled"
    screen.open_confirm(screen.proxy.index(flagged, 0))
    assert screen.confirm.warning.isVisibleTo(screen)
    assert "Possible duplicate" in screen.confirm.warning.text()
    # A selected-but-never-started procedure is no duplicate.
    engine.select_worklist_item(next(i for i in first if i.accession_number == "IZGACC002"))
    engine.release()
    screen.show_list()
    screen.refresh()
    _loaded(qtbot, screen)
    assert _cell(screen, _line_of(screen, "IZGACC002"), Column.STATUS) == "Scheduled"


@pytest.mark.peers
def test_the_list_refreshes_by_itself_and_keeps_the_cursor(
    qtbot, open_bridge, write_settings, tmp_path, wlmscpfs: Peer, scheduled
) -> None:
    path = _settings(
        write_settings, tmp_path, [("wlmscpfs", wlmscpfs.aet, wlmscpfs.port)], refresh_s=1
    )
    screen, _ = _show(qtbot, open_bridge(path))
    _loaded(qtbot, screen)
    screen.table.setCurrentIndex(screen.proxy.index(_line_of(screen, "IZGACC003"), 0))
    scheduled(
        patient_id="IZG-1004", accession="IZGACC004", patient_name="Tanaka^Hiro",
        birth_date="19770203", sex="M", scheduled_time="113000",
    )  # fmt: skip
    _loaded(qtbot, screen, 4)
    assert screen.current_row().item.accession_number == "IZGACC003"
    screen.on_hidden()
    assert not screen.timer.isActive()


@pytest.mark.peers
def test_a_provider_that_does_not_answer_is_named_and_the_others_shown(
    qtbot, open_bridge, write_settings, tmp_path, wlmscpfs: Peer, scheduled
) -> None:
    providers = [("wlmscpfs", wlmscpfs.aet, wlmscpfs.port), ("ris2", "NOBODY", free_port())]
    screen, _ = _show(qtbot, open_bridge(_settings(write_settings, tmp_path, providers)))
    _loaded(qtbot, screen)
    assert screen.message.isVisibleTo(screen)
    assert "Worklist server ris2 did not answer" in screen.message.text()


def test_when_no_provider_answers_the_screen_says_so(
    qtbot, open_bridge, write_settings, tmp_path
) -> None:
    providers = [("ris", "NOBODY", free_port())]
    screen, _ = _show(qtbot, open_bridge(_settings(write_settings, tmp_path, providers)))
    qtbot.waitUntil(lambda: screen.message.isVisibleTo(screen), timeout=20_000)
    assert "The worklist could not be updated" in screen.message.text()
    assert "ris" in screen.message.text()
    assert screen.unscheduled_button.isEnabled()


def test_without_providers_the_screen_says_where_to_configure_one(qtbot, bridge) -> None:
    screen, _ = _show(qtbot, bridge)
    qtbot.waitUntil(lambda: screen.message.isVisibleTo(screen), timeout=10_000)
    assert "No worklist server configured: Settings \u203a Connectivity" in screen.message.text()
    assert NO_PROVIDER_MESSAGE in screen.message.text()
    assert screen.model.rowCount() == 0
    assert screen.unscheduled_button.isVisibleTo(screen)
    assert screen.unscheduled_button.isEnabled()
    assert screen.list_area.currentWidget() is screen.empty


def test_the_unscheduled_form_validates_then_starts(qtbot, bridge) -> None:
    screen, asked = _show(qtbot, bridge)
    qtbot.mouseClick(screen.unscheduled_button, Qt.MouseButton.LeftButton)
    form = screen.form
    assert screen.pages.currentWidget() is form
    qtbot.mouseClick(form.start_button, Qt.MouseButton.LeftButton)
    assert form.errors[Field.FAMILY].isVisibleTo(form)
    assert "Type the family name" in form.errors[Field.FAMILY].text()
    assert bridge.engine.state is ProcedureState.IDLE
    form.family.setText("Doe")
    form.given.setText("John")
    form.birth_date.setText("1990-13-45")
    qtbot.mouseClick(form.start_button, Qt.MouseButton.LeftButton)
    assert not form.errors[Field.FAMILY].isVisibleTo(form)
    assert "type it as YYYY-MM-DD" in form.errors[Field.BIRTH_DATE].text()
    assert form.birth_date.hasFocus() or not form.isActiveWindow()
    form.birth_date.setText("22.07.1984")
    qtbot.mouseClick(form.sex_buttons[Sex.MALE], Qt.MouseButton.LeftButton)
    form.description.setText("Gastroscopy")
    qtbot.mouseClick(form.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: asked == ["capture"], timeout=10_000)
    engine = bridge.engine
    assert engine.state is ProcedureState.IN_PROGRESS
    patient = engine.procedure.patient
    assert (patient.name, patient.birth_date, patient.sex) == ("Doe^John", "19840722", Sex.MALE)
    assert patient.patient_id.startswith("TMP-")  # the engine's temporary ID
    assert engine.procedure.description == "Gastroscopy"
    assert engine.procedure.accession_number
    assert form.family.text() == ""  # ready for the next patient


def test_emergency_fills_a_placeholder_name_and_starts(qtbot, bridge) -> None:
    screen, asked = _show(qtbot, bridge)
    qtbot.mouseClick(screen.emergency_button, Qt.MouseButton.LeftButton)
    form = screen.form
    assert screen.pages.currentWidget() is form
    assert form.family.text() == "EMERGENCY"
    assert form.given.text().isdigit() and len(form.given.text()) == 6
    qtbot.mouseClick(form.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: asked == ["capture"], timeout=10_000)
    patient = bridge.engine.procedure.patient
    assert patient.name.startswith("EMERGENCY^")
    assert patient.sex is Sex.UNKNOWN and patient.birth_date == ""


def test_an_engine_refusal_is_shown_on_the_form(qtbot, bridge) -> None:
    screen, asked = _show(qtbot, bridge)
    screen.open_unscheduled()
    screen.form.family.setText("Doe")
    screen.form.patient_id.setText("ID\u0007")
    qtbot.mouseClick(screen.form.start_button, Qt.MouseButton.LeftButton)
    assert "control characters" in screen.form.errors[Field.PATIENT_ID].text()
    screen.form.patient_id.setText("")
    bridge.engine.select_unscheduled("Other^Patient")
    bridge.engine.start()
    qtbot.mouseClick(screen.form.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(screen.form.message.isVisible, timeout=10_000)
    assert "Could not start: A procedure is still open for OTHER, Patient" in (
        screen.form.message.text()
    )
    assert screen.form.start_button.isEnabled()
    assert asked == []


@pytest.mark.peers
def test_keyboard_only_filter_arrows_enter_enter(qtbot, wl_bridge) -> None:
    screen, asked = _show(qtbot, wl_bridge)
    _loaded(qtbot, screen)
    qtbot.waitUntil(screen.search.hasFocus, timeout=5_000)
    qtbot.keyClicks(screen.search, "we")  # Weber: Müller and Ødegård
    assert screen.proxy.rowCount() == 2
    qtbot.keyClick(screen.search, Qt.Key.Key_Down)
    qtbot.keyClick(screen.search, Qt.Key.Key_Down)
    assert screen.current_row().item.accession_number == "IZGACC003"
    qtbot.keyClick(screen.search, Qt.Key.Key_Up)
    assert screen.current_row().item.accession_number == "IZGACC001"
    qtbot.keyClick(screen.search, Qt.Key.Key_Return)
    assert screen.pages.currentWidget() is screen.confirm
    assert screen.confirm.start_button.hasFocus()
    qtbot.keyClick(screen.confirm.start_button, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: asked == ["capture"], timeout=20_000)
    assert wl_bridge.engine.state is ProcedureState.IN_PROGRESS
    assert wl_bridge.engine.procedure.accession_number == "IZGACC001"


@pytest.mark.peers
def test_keyboard_escape_goes_back_and_shortcuts_open_the_form(qtbot, wl_bridge) -> None:
    screen, _ = _show(qtbot, wl_bridge)
    _loaded(qtbot, screen)
    qtbot.keyClicks(screen.search, "doe")
    qtbot.keyClick(screen.search, Qt.Key.Key_Return)  # one match: Enter opens it
    assert screen.pages.currentWidget() is screen.confirm
    assert screen.confirm.row.item.accession_number == "IZGACC002"
    qtbot.keyClick(screen.confirm.start_button, Qt.Key.Key_Escape)
    assert screen.pages.currentWidget() is screen.list_page
    assert screen.search.hasFocus()
    qtbot.keyClick(screen.search, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert screen.pages.currentWidget() is screen.form
    assert screen.form.family.hasFocus()
    qtbot.keyClick(screen.form.family, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert screen.form.family.text() == "EMERGENCY"
    qtbot.keyClick(screen.form.start_button, Qt.Key.Key_Escape)
    assert screen.pages.currentWidget() is screen.list_page
    assert wl_bridge.engine.state is ProcedureState.IDLE


@pytest.mark.peers
def test_screenshot(qtbot, wl_bridge) -> None:
    """The screen in the main window (banner, navigation), saved to look at."""
    from izer.gui.main_window import MainWindow

    engine = wl_bridge.engine
    started = next(i for i in engine.worklist().items if i.accession_number == "IZGACC003")
    engine.select_worklist_item(started)
    engine.start()
    engine.discontinue()
    engine.release()
    window = MainWindow(wl_bridge)
    qtbot.addWidget(window)
    screen = WorklistScreen(wl_bridge)
    window.add_screen(screen)
    window.resize(1440, 900)
    window.show()
    window.show_screen("worklist")
    screen.on_shown()
    _loaded(qtbot, screen)
    screen.table.setCurrentIndex(screen.proxy.index(1, 0))
    window.grab().save("/tmp/izer-worklist.png")
    assert Path("/tmp/izer-worklist.png").stat().st_size > 0
    screen.open_confirm(screen.proxy.index(_line_of(screen, "IZGACC003"), 0))
    window.grab().save("/tmp/izer-worklist-confirm.png")
    screen.open_unscheduled()
    screen.form.submit()
    window.grab().save("/tmp/izer-worklist-form.png")
    screen.show_list()
    screen.search.setText("zz")
    window.grab().save("/tmp/izer-worklist-nomatch.png")
    screen.on_hidden()


# -- the pure parts -------------------------------------------------------------------------------


def test_fold_matches_without_case_or_accents() -> None:
    assert fold("Ødegård^Åse Françoise") == "odegard ase francoise"
    assert fold("MÜLLER") == "muller"
    assert fold("Straße") == "strasse"


@pytest.mark.parametrize(
    ("family", "given", "patient_id", "birth", "description", "field", "words"),
    [
        ("", "Jane", "", "", "", Field.FAMILY, "Type the family name"),
        ("Doe^x", "", "", "", "", Field.FAMILY, "^ = \\"),
        ("Doe", "Ja=ne", "", "", "", Field.GIVEN, "^ = \\"),
        ("D" * 40, "J" * 30, "", "", "", Field.FAMILY, "Name too long"),
        ("Doe", "", "A\\B", "", "", Field.PATIENT_ID, "backslash"),
        ("Doe", "", "X" * 65, "", "", Field.PATIENT_ID, "at most 64"),
        ("Doe", "", "", "07/22/1984", "", Field.BIRTH_DATE, "YYYY-MM-DD"),
        ("Doe", "", "", "2999-01-01", "", Field.BIRTH_DATE, "in the future"),
        ("Doe", "", "", "1850-01-01", "", Field.BIRTH_DATE, "before 1900"),
        ("Doe", "", "", "", "P" * 65, Field.DESCRIPTION, "at most 64"),
    ],
)
def test_unscheduled_values_are_checked_field_by_field(
    family, given, patient_id, birth, description, field, words
) -> None:
    entry, problems = validate_unscheduled(
        family, given, patient_id, birth, Sex.UNKNOWN, description, today=dt.date(2024, 5, 2)
    )
    assert entry is None
    assert words in problems[field]


def test_valid_unscheduled_values_make_an_entry() -> None:
    entry, problems = validate_unscheduled(
        " Doe ", "Jane", "", "19840722", Sex.FEMALE, " Colonoscopy ", today=dt.date(2024, 5, 2)
    )
    assert problems == {}
    assert entry is not None
    assert (entry.patient_name, entry.patient_id, entry.birth_date) == (
        "Doe^Jane",
        None,
        "19840722",
    )
    assert (entry.sex, entry.description) == (Sex.FEMALE, "Colonoscopy")
    assert parse_birth_date("", dt.date(2024, 5, 2)) == ("", "")
    assert parse_birth_date("1984-07-22", dt.date(2024, 5, 2)) == ("19840722", "")


def test_columns_give_way_status_first_and_patient_last() -> None:
    wanted = {column: 100 for column in Column}
    wanted[Column.PATIENT] = 300
    floors = {column: 60 for column in Column}
    roomy = column_widths(wanted, floors, 1300)
    assert sum(roomy.values()) == 1300
    assert roomy[Column.PATIENT] == 300 + 100 and roomy[Column.PROCEDURE] == 100 + 100
    tight = column_widths(wanted, floors, 1100 - 40)
    assert tight[Column.STATUS] == 60 and tight[Column.PATIENT] == 300
    assert tight[Column.PHYSICIAN] == 100 and sum(tight.values()) == 1060
    squeezed = column_widths(wanted, floors, 700)
    assert sum(squeezed.values()) <= 700
    assert squeezed[Column.ID] == 100  # fixed-width columns keep their text
