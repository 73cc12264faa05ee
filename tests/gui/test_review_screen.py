"""The review screen over a real engine: stills of the synthetic camera, actions on workers.

The screen is built on its own (the main window needs every screen); navigation requests are
read from its ``navigate`` signal. Every patient here is made up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from izer.engine import Engine
from izer.engine.reviewing import ReviewController
from izer.model import InstanceRecord, Patient, ProcedureState, Sex

PATIENT = Patient("GUI-REV-7", "Lindqvist^Maja", "19620418", Sex.FEMALE)
SCREENSHOT = Path("/tmp/izer-review.png")
WAIT_MS = 20_000


def _under_review(engine: Engine, stills: int = 4) -> list[InstanceRecord]:
    engine.select_patient(PATIENT, accession_number="ACC-20931", description="Gastroscopy")
    engine.start()
    records = [engine.capture_still() for _ in range(stills)]
    engine.review()
    return records


@pytest.fixture
def screen(bridge, qtbot):  # type: ignore[no-untyped-def]
    from izer.gui.screens.review import ReviewScreen

    made = ReviewScreen(bridge)
    qtbot.addWidget(made)
    made.resize(1320, 800)
    made.show()
    yield made
    made.on_hidden()  # no refresh may reach the bridge once it is shut down
    made.close()


def _show(screen, qtbot, count: int) -> None:  # type: ignore[no-untyped-def]
    screen.on_shown()
    qtbot.waitUntil(lambda: screen.grid.count() == count, timeout=WAIT_MS)


def _captions(screen) -> list[str]:  # type: ignore[no-untyped-def]
    return [screen.grid.item(row).text() for row in range(screen.grid.count())]


def test_the_screen_lists_the_items_marks_and_deletes_with_buttons_then_finishes(
    screen, bridge, qtbot
) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = bridge.engine
    stills = _under_review(engine)
    procedure = engine.procedure
    _show(screen, qtbot, 4)
    assert screen.counts.text().startswith("4 stills")
    assert screen.finish_button.isEnabled() and screen.discontinue_button.isEnabled()

    # mark the second still: the star shows on its thumbnail caption and in the procedure
    screen.grid.setCurrentRow(1)
    assert screen.mark_button.isEnabled()
    qtbot.mouseClick(screen.mark_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _captions(screen)[1].startswith("★"), timeout=WAIT_MS)
    assert ReviewController(engine).marked() == (stills[1].sop_instance_uid,)
    assert screen.selected().sop_instance_uid == stills[1].sop_instance_uid

    # delete the last still: asked inline first, then gone from the grid and the store
    screen.grid.setCurrentRow(3)
    qtbot.mouseClick(screen.delete_button, Qt.MouseButton.LeftButton)
    assert screen.panel.currentIndex() == screen.DELETE
    assert "cannot be brought back" in screen.delete_question.text()
    assert screen.grid.count() == 4 and stills[3].path.exists()
    qtbot.mouseClick(screen.confirm_delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.grid.count() == 3, timeout=WAIT_MS)
    assert not stills[3].path.exists()
    assert screen.panel.currentIndex() == screen.INFO

    qtbot.waitUntil(lambda: len(screen._thumbnails) == 3, timeout=WAIT_MS)
    screen.grid.setCurrentRow(1)
    qtbot.waitUntil(lambda: screen.viewer.picture is not None, timeout=WAIT_MS)
    screen.grab().save(str(SCREENSHOT))

    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigated:
        qtbot.mouseClick(screen.finish_button, Qt.MouseButton.LeftButton)
    assert navigated.args == ["worklist"]
    finished = engine.store.procedure(procedure.procedure_id)
    assert finished.state is ProcedureState.COMPLETED
    kinds = {r.sop_class_uid for r in engine.store.instances(procedure.study_uid)}
    assert "1.2.840.10008.5.1.4.1.1.104.1" in kinds  # the report of the marked still
    assert engine.state is ProcedureState.IDLE


def test_keyboard_marks_deletes_crops_opens_and_finishes(screen, bridge, qtbot) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = bridge.engine
    stills = _under_review(engine, stills=3)
    _show(screen, qtbot, 3)
    screen.grid.setFocus()
    qtbot.keyClick(screen.grid, Qt.Key.Key_Right)
    assert screen.selected().sop_instance_uid == stills[1].sop_instance_uid
    qtbot.keyClick(screen.grid, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: _captions(screen)[1].startswith("★"), timeout=WAIT_MS)

    qtbot.keyClick(screen.grid, Qt.Key.Key_Delete)
    assert screen.panel.currentIndex() == screen.DELETE
    qtbot.keyClick(screen, Qt.Key.Key_Escape)  # changed my mind
    assert screen.panel.currentIndex() == screen.INFO

    qtbot.keyClick(screen.grid, Qt.Key.Key_C)  # crop: the numbers or a drag on the viewer
    assert screen.panel.currentIndex() == screen.CROP
    screen.crop_x.setValue(64)
    screen.crop_y.setValue(48)
    screen.crop_w.setValue(320)
    screen.crop_h.setValue(240)
    assert screen.viewer.rectangle is not None and screen.viewer.rectangle.width() == 320
    qtbot.mouseClick(screen.apply_crop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.grid.count() == 4, timeout=WAIT_MS)
    new = screen.selected()
    assert new.derived and (new.columns, new.rows) == (320, 240)
    assert new.sop_instance_uid not in {s.sop_instance_uid for s in stills}

    screen.grid.setFocus()
    qtbot.keyClick(screen.grid, Qt.Key.Key_Return)  # open large: the grid steps aside
    assert not screen.grid.isVisible()
    qtbot.keyClick(screen.viewer, Qt.Key.Key_Escape)
    assert screen.grid.isVisible()

    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigated:
        qtbot.keyClick(screen.grid, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert navigated.args == ["worklist"]
    assert engine.state is ProcedureState.IDLE


def test_a_note_by_click_and_text_becomes_an_overlay(screen, bridge, qtbot) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = bridge.engine
    stills = _under_review(engine, stills=2)
    _show(screen, qtbot, 2)
    screen.grid.setCurrentRow(0)
    qtbot.mouseClick(screen.annotate_button, Qt.MouseButton.LeftButton)
    assert screen.panel.currentIndex() == screen.ANNOTATE and not screen.burn_toggle.isChecked()
    target = screen.viewer._target()
    qtbot.mouseClick(
        screen.viewer,
        Qt.MouseButton.LeftButton,
        pos=target.center().toPoint(),
    )
    x, y = screen.note_point
    assert abs(x - 320) <= 2 and abs(y - 240) <= 2
    screen.viewer.setFocus()
    qtbot.keyClick(screen.viewer, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert screen.note_point == (x + 1, y)  # the point can be moved by keyboard too
    qtbot.keyClicks(screen.note_text, "Polyp 4 mm")
    qtbot.keyClick(screen.note_text, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(screen.selected() and screen.selected().notes), timeout=WAIT_MS)
    (note,) = screen.selected().notes
    assert note.text == "Polyp 4 mm"
    assert screen.selected().sop_instance_uid == stills[0].sop_instance_uid
    assert screen.grid.count() == 2  # an overlay is no new picture


def test_discontinue_shows_the_reasons_inline_and_ends_with_the_one_chosen(
    screen, bridge, qtbot
) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = bridge.engine
    _under_review(engine, stills=1)
    procedure = engine.procedure
    _show(screen, qtbot, 1)
    qtbot.mouseClick(screen.discontinue_button, Qt.MouseButton.LeftButton)
    assert screen.right.currentIndex() == 1
    assert screen.reasons.currentItem().data(Qt.ItemDataRole.UserRole) == "110514"
    screen.reasons.setCurrentRow(1)
    chosen = screen.reasons.currentItem().data(Qt.ItemDataRole.UserRole)
    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigated:
        qtbot.mouseClick(screen.confirm_discontinue_button, Qt.MouseButton.LeftButton)
    assert navigated.args == ["worklist"] and chosen == "110505"
    ended = engine.store.procedure(procedure.procedure_id)
    assert ended.state is ProcedureState.DISCONTINUED


def test_without_a_procedure_the_screen_points_to_the_worklist(screen, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen.on_shown()
    qtbot.waitUntil(lambda: screen.pages.currentIndex() == 0, timeout=WAIT_MS)
    with qtbot.waitSignal(screen.navigate, timeout=WAIT_MS) as navigated:
        qtbot.mouseClick(screen.to_worklist, Qt.MouseButton.LeftButton)
    assert navigated.args == ["worklist"]


def test_during_capture_the_screen_offers_to_end_it_first(screen, bridge, qtbot) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = bridge.engine
    engine.select_patient(PATIENT)
    engine.start()
    engine.capture_still()
    _show(screen, qtbot, 1)
    assert screen.notice.isVisible() and not screen.finish_button.isEnabled()
    assert not screen.mark_button.isEnabled()
    qtbot.mouseClick(screen.end_capture_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.finish_button.isEnabled(), timeout=WAIT_MS)
    assert engine.state is ProcedureState.REVIEW and not screen.notice.isVisible()
