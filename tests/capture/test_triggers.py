"""Hotkeys and pedals to actions; serial contact closures; debouncing."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import pytest

from izer.capture.base import SourceError
from izer.capture.triggers import (
    Action,
    Debouncer,
    KeyMap,
    SerialLine,
    SerialTrigger,
    normalise_key,
)

MS = 1_000_000


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30) -> None:
    """Wait (bounded) for a condition another thread makes true."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


# -- key map ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("f1", "F1"),
        (" F12 ", "F12"),
        ("F24", "F24"),
        ("ctrl+f1", "Ctrl+F1"),
        ("Shift+Control+a", "Ctrl+Shift+A"),
        ("Meta + Alt + 7", "Alt+Meta+7"),
        ("Enter", "Return"),
        ("RETURN", "Return"),
        ("esc", "Escape"),
        ("space", "Space"),
        ("PgUp", "PageUp"),
        ("Del", "Delete"),
        ("b", "B"),
    ],
)
def test_key_names_are_normalised(name: str, expected: str) -> None:
    assert normalise_key(name) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("F25", "'F25' is not a key name"),
        ("F0", "'F0' is not a key name"),
        ("Hyper+F1", "'Hyper' in key 'Hyper\\+F1' is not a modifier"),
        ("Ctrl", "only a modifier"),
        ("Ctrl+", "not a key name"),
        ("", "not a key name"),
        ("ab", "'ab' is not a key name"),
        ("é", "not a key name"),
    ],
)
def test_unknown_key_names_are_refused_clearly(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_key(name)


def test_the_default_keymap_maps_pedal_and_hotkeys() -> None:
    keys = KeyMap.default()
    assert keys.action_for("F1") is Action.STILL
    assert keys.action_for("f4") is Action.STILL
    assert keys.action_for("F2") is Action.RECORD
    assert keys.action_for("F5") is Action.RECORD
    assert keys.action_for("Enter") is Action.PAUSE  # Qt calls the keypad key Enter
    assert keys.action_for("Return") is Action.PAUSE
    assert keys.action_for("Esc") is Action.END  # Qt's name
    assert keys.action_for("F3") is None
    assert keys.action_for("Ctrl+F1") is None  # modifiers must match
    assert keys.action_for("VolumeUp") is None  # keys no map knows are ignored
    assert keys.keys_for(Action.STILL) == ("F1", "F4")


def test_the_keymap_from_the_settings_table() -> None:
    keys = KeyMap.from_mapping(
        {"still": ["b", "Ctrl+F1"], "record": ["F2"], "pause": [], "end": ["Escape"]}
    )
    assert keys.action_for("B") is Action.STILL
    assert keys.action_for("control+f1") is Action.STILL
    assert keys.action_for("F1") is None
    assert keys.action_for("Return") is None
    with pytest.raises(ValueError, match="unknown hotkey action snapshot"):
        KeyMap.from_mapping({"snapshot": ["F1"]})


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"still": ["F1"], "record": ["f1"]}, "key F1 is bound to both still and record"),
        ({"pause": ["Enter"], "end": ["Return"]}, "key Return is bound to both pause and end"),
        ({"still": ["F99"]}, "still hotkeys: 'F99' is not a key name"),
        ({"still": "F1"}, "must be a list of key names"),
    ],
)
def test_bad_keymaps_are_refused_clearly(bindings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeyMap(**bindings)  # type: ignore[arg-type]


def test_a_key_listed_twice_for_one_action_is_fine() -> None:
    keys = KeyMap(still=["F1", "f1"])
    assert keys.keys_for(Action.STILL) == ("F1",)


# -- debouncing ---------------------------------------------------------------------------------


def test_a_bouncing_contact_fires_once_per_press_at_the_first_edge() -> None:
    debounce = Debouncer(50 * MS)
    samples = [
        (0, False),
        (100, True),  # press: fires at once
        (101, False),  # bounce
        (102, True),
        (103, False),
        (104, True),
        (500, False),  # release, with bounce
        (501, True),
        (502, False),
        (700, True),  # next press after a quiet release
        (760, False),
        (780, True),  # pressed again only 20 ms after release: a bounce
    ]
    fired = [t for t, level in samples if debounce.level(level, t * MS)]
    assert fired == [100, 700]


def test_a_line_active_from_the_start_does_not_fire() -> None:
    debounce = Debouncer(50 * MS)
    assert not debounce.level(True, 0)
    assert not debounce.level(True, 100 * MS)
    assert not debounce.level(False, 200 * MS)
    assert debounce.level(True, 300 * MS)


def test_a_stream_of_bytes_fires_once_until_a_quiet_gap() -> None:
    debounce = Debouncer(50 * MS)
    fired = [t for t in range(0, 1000, 10) if debounce.pulse(t * MS)]
    assert fired == [0]
    assert debounce.pulse(1060 * MS)  # 61 ms after the last byte
    assert not debounce.pulse(1100 * MS)


def test_no_debounce_fires_on_every_press() -> None:
    debounce = Debouncer(0)
    fired = [t for t, level in enumerate([False, True, False, True]) if debounce.level(level, t)]
    assert fired == [1, 3]


# -- serial trigger -----------------------------------------------------------------------------


class FakePort:
    """Modem lines the test sets; counts how often the trigger looked."""

    def __init__(self, *, cts: bool = False, fail: bool = False) -> None:
        self._cts = cts
        self.fail = fail
        self.dsr = self.ri = self.cd = False
        self.rts = self.dtr = False
        self.samples = 0
        self.closed = False

    @property
    def cts(self) -> bool:
        if self.fail:
            raise OSError("device disconnected")
        self.samples += 1
        return self._cts

    def set_cts(self, value: bool) -> None:
        seen = self.samples
        self._cts = value
        # the third look starts after a whole loop (sample, fire) that saw the change
        wait_until(lambda: self.samples >= seen + 3)

    @property
    def in_waiting(self) -> int:
        return 0

    def read(self, size: int = 1) -> bytes:
        return b""

    def close(self) -> None:
        self.closed = True


def test_a_contact_closure_on_cts_fires_the_action() -> None:
    port = FakePort()
    actions: list[Action] = []
    trigger = SerialTrigger(
        "fake", "CTS", on_action=actions.append, action=Action.RECORD, port_factory=lambda: port
    )
    with trigger:
        assert port.rts and port.dtr  # the switch needs a voltage to close onto
        wait_until(lambda: port.samples >= 1)
        port.set_cts(True)
        assert actions == [Action.RECORD]
        port.set_cts(False)
        assert actions == [Action.RECORD]  # release does not fire
    assert not trigger.running
    assert port.closed
    assert trigger.fired == 1


def test_a_normally_closed_switch_fires_when_it_opens() -> None:
    port = FakePort(cts=True)
    actions: list[Action] = []
    with SerialTrigger(
        "fake", on_action=actions.append, normally_closed=True, port_factory=lambda: port
    ):
        wait_until(lambda: port.samples >= 1)
        assert actions == []
        port.set_cts(False)
        assert actions == [Action.STILL]


def test_a_port_that_fails_ends_the_thread_with_an_error() -> None:
    port = FakePort(fail=True)
    errors: list[str] = []
    trigger = SerialTrigger(
        "/dev/ttyUSB7", on_action=lambda a: None, on_error=errors.append, port_factory=lambda: port
    )
    trigger.start()
    wait_until(lambda: not trigger.running)
    assert errors == ["the serial trigger on /dev/ttyUSB7 stopped working: device disconnected"]
    assert trigger.error == errors[0]
    assert port.closed
    trigger.stop()


def test_bad_serial_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="serial_line 'rts' is not one of cts, dsr, ri, cd, data"):
        SerialTrigger("/dev/ttyS0", "rts", on_action=lambda a: None)
    with pytest.raises(ValueError, match="needs a port"):
        SerialTrigger("", on_action=lambda a: None)
    assert SerialTrigger("/dev/ttyS0", "DSR", on_action=lambda a: None).line is SerialLine.DSR


def test_without_pyserial_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "serial", None)  # import serial now fails
    assert not SerialTrigger.is_available()
    trigger = SerialTrigger("/dev/ttyS0", on_action=lambda a: None)
    with pytest.raises(SourceError, match="pip install pyserial"):
        trigger.start()


needs_pyserial = pytest.mark.skipif(
    not SerialTrigger.is_available(), reason="pyserial is not installed"
)


@needs_pyserial
def test_a_missing_port_is_reported_by_name() -> None:
    trigger = SerialTrigger("/dev/izer-no-such-port", "data", on_action=lambda a: None)
    with pytest.raises(SourceError, match="/dev/izer-no-such-port cannot be opened"):
        trigger.start()


@needs_pyserial
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_bytes_on_a_real_serial_port_fire_once_per_burst() -> None:
    master, slave = os.openpty()
    fired = threading.Event()
    actions: list[Action] = []

    def on_action(action: Action) -> None:
        actions.append(action)
        fired.set()

    trigger = SerialTrigger(
        os.ttyname(slave), "data", on_action=on_action, action=Action.PAUSE, debounce_ms=5000
    )
    try:
        trigger.start()
        os.write(master, b"\x01")
        assert fired.wait(30)
        os.write(master, b"\x02")  # within the debounce time: the same press
        wait_until(lambda: trigger.bytes_received == 2)
        assert actions == [Action.PAUSE]
        trigger.stop()
        assert not trigger.running
        assert trigger.error is None
    finally:
        trigger.stop()
        os.close(master)
        os.close(slave)
