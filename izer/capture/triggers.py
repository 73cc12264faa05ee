"""What the operator presses: hotkeys and pedals mapped to actions, and serial contact closures.

Keyboard and pedals
    USB foot pedals and most scope or camera-head buttons present themselves as keyboards: they
    send an ordinary key (often F1..F12, Enter or a letter) and need no driver. They work through
    :class:`KeyMap`: bind the key the pedal sends to an action, as for any hotkey (the settings
    ``[capture.hotkeys]``, by default F1/F4 still, F2/F5 record, Enter pause, Esc end study).
    The GUI passes the name of every key pressed (Qt's ``QKeySequence(...).toString()`` names
    such as ``"F1"``, ``"Return"``, ``"Esc"``, ``"Ctrl+F1"`` are understood) to
    :meth:`KeyMap.action_for`.

Serial contact closure
    A foot switch or an endoscope processor's remote-trigger output wired to a serial port
    (or a USB-serial adapter) is read by :class:`SerialTrigger`: a modem status line (CTS, DSR,
    RI or CD; the port holds RTS and DTR asserted, so a switch between RTS and CTS, or DTR and
    DSR, raises the line when closed), or any received byte. Needs pyserial
    (``pip install pyserial``).
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from izer.capture.base import SourceError

log = logging.getLogger(__name__)

#: How long a data-mode read waits before looking whether :meth:`SerialTrigger.stop` was asked.
_DATA_READ_TIMEOUT_S = 0.1


class Action(enum.Enum):
    """What a trigger asks for; the values are the ``[capture.hotkeys]`` setting names."""

    STILL = "still"
    RECORD = "record"
    PAUSE = "pause"
    END = "end"


# -- key names ---------------------------------------------------------------------------------

#: Modifiers in the order a normalised key name writes them.
MODIFIERS = ("Ctrl", "Alt", "Shift", "Meta")

_MODIFIER_ALIASES = {
    "ctrl": "Ctrl",
    "control": "Ctrl",
    "ctl": "Ctrl",
    "alt": "Alt",
    "option": "Alt",
    "shift": "Shift",
    "meta": "Meta",
    "super": "Meta",
    "win": "Meta",
    "cmd": "Meta",
}

#: Named keys (lower-case alias -> normalised name); letters, digits and F1..F24 come on top.
_NAMED_KEYS = {
    "return": "Return",
    "enter": "Return",
    "escape": "Escape",
    "esc": "Escape",
    "space": "Space",
    "spacebar": "Space",
    "tab": "Tab",
    "backspace": "Backspace",
    "insert": "Insert",
    "ins": "Insert",
    "delete": "Delete",
    "del": "Delete",
    "home": "Home",
    "end": "End",
    "pageup": "PageUp",
    "pgup": "PageUp",
    "page_up": "PageUp",
    "prior": "PageUp",
    "pagedown": "PageDown",
    "pgdown": "PageDown",
    "pgdn": "PageDown",
    "page_down": "PageDown",
    "next": "PageDown",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "pause": "Pause",
    "break": "Pause",
    "scrolllock": "ScrollLock",
    "scroll_lock": "ScrollLock",
    "print": "Print",
    "printscreen": "Print",
    "sysreq": "Print",
    "menu": "Menu",
}

_FUNCTION_KEY = re.compile(r"f([1-9]|1[0-9]|2[0-4])")

ACCEPTED_KEYS = (
    "letters A-Z, digits 0-9, F1..F24, Return (Enter), Escape (Esc), Space, Tab, Backspace, "
    "Insert, Delete, Home, End, PageUp, PageDown, Up, Down, Left, Right, Pause, ScrollLock, "
    "Print, Menu; optionally after modifiers Ctrl+, Alt+, Shift+, Meta+ (as in 'Ctrl+F1')"
)


def _base_key(text: str) -> str | None:
    lowered = text.lower()
    if lowered in _NAMED_KEYS:
        return _NAMED_KEYS[lowered]
    if _FUNCTION_KEY.fullmatch(lowered):
        return lowered.upper()
    if len(text) == 1 and text.isascii() and text.isalnum():
        return text.upper()
    return None


def normalise_key(name: str) -> str:
    """The canonical spelling of a key name: ``"ctrl+f1"`` -> ``"Ctrl+F1"``, ``"Enter"`` ->
    ``"Return"``, ``"esc"`` -> ``"Escape"``, ``"a"`` -> ``"A"``.

    Case does not matter; modifiers are written in the order Ctrl, Alt, Shift, Meta.

    Raises
    ------
    ValueError
        When the name is not a key this map knows (the message lists the accepted names).
    """
    text = name.strip()
    parts = [part.strip() for part in text.split("+")] if text else []
    if not parts or any(not part for part in parts):
        raise ValueError(f"{name!r} is not a key name; use {ACCEPTED_KEYS}")
    *modifier_parts, key_part = parts
    modifiers: set[str] = set()
    for part in modifier_parts:
        modifier = _MODIFIER_ALIASES.get(part.lower())
        if modifier is None:
            raise ValueError(
                f"{part!r} in key {name!r} is not a modifier; use Ctrl, Alt, Shift or Meta"
            )
        modifiers.add(modifier)
    key = _base_key(key_part)
    if key is None:
        if key_part.lower() in _MODIFIER_ALIASES:
            raise ValueError(f"{name!r} is only a modifier; add a key, as in 'Ctrl+F1'")
        raise ValueError(f"{key_part!r} is not a key name; use {ACCEPTED_KEYS}")
    return "+".join([*(m for m in MODIFIERS if m in modifiers), key])


class KeyMap:
    """Which key (hotkey or pedal that presents as a keyboard) triggers which :class:`Action`.

    Parameters
    ----------
    still, record, pause, end
        Key names for each action (the ``[capture.hotkeys]`` lists), see :func:`normalise_key`.
        USB foot pedals that present as keyboards are bound the same way: by the key they send.

    Raises
    ------
    ValueError
        When a key name is unknown, or one key is bound to two actions.
    """

    def __init__(
        self,
        *,
        still: Iterable[str] = (),
        record: Iterable[str] = (),
        pause: Iterable[str] = (),
        end: Iterable[str] = (),
    ) -> None:
        lists = {Action.STILL: still, Action.RECORD: record, Action.PAUSE: pause, Action.END: end}
        self._actions: dict[str, Action] = {}
        self._keys: dict[Action, tuple[str, ...]] = {}
        for action, names in lists.items():
            if isinstance(names, str):
                raise ValueError(
                    f"the {action.value} hotkeys must be a list of key names, "
                    f'such as ["F1", "F4"], not the text {names!r}'
                )
            keys: list[str] = []
            for name in names:
                try:
                    key = normalise_key(name)
                except ValueError as exc:
                    raise ValueError(f"{action.value} hotkeys: {exc}") from None
                bound = self._actions.get(key)
                if bound is not None and bound is not action:
                    raise ValueError(
                        f"key {key} is bound to both {bound.value} and {action.value}; "
                        "remove it from one of the [capture.hotkeys] lists"
                    )
                if key not in keys:
                    keys.append(key)
                self._actions[key] = action
            self._keys[action] = tuple(keys)

    @classmethod
    def default(cls) -> KeyMap:
        """F1/F4 still, F2/F5 record, Enter pause, Esc end study."""
        return cls(still=["F1", "F4"], record=["F2", "F5"], pause=["Return"], end=["Escape"])

    @classmethod
    def from_mapping(cls, hotkeys: Mapping[str, Iterable[str]]) -> KeyMap:
        """From the ``[capture.hotkeys]`` table: action name -> key names.

        Raises
        ------
        ValueError
            When an action name is unknown (besides the reasons of the constructor).
        """
        names = {action.value for action in Action}
        unknown = sorted(set(hotkeys) - names)
        if unknown:
            raise ValueError(
                f"unknown hotkey action {', '.join(unknown)}; use {', '.join(sorted(names))}"
            )
        return cls(**{name: list(keys) for name, keys in hotkeys.items()})

    def action_for(self, key_name: str) -> Action | None:
        """The action bound to a pressed key, or ``None`` (also for names no key map knows)."""
        try:
            return self._actions.get(normalise_key(key_name))
        except ValueError:
            return None

    def keys_for(self, action: Action) -> tuple[str, ...]:
        """The normalised key names bound to ``action`` (for display)."""
        return self._keys.get(action, ())

    def __repr__(self) -> str:
        bound = ", ".join(f"{a.value}={list(k)}" for a, k in self._keys.items())
        return f"KeyMap({bound})"


# -- serial contact closure ------------------------------------------------------------------


class SerialLine(enum.StrEnum):
    """What :class:`SerialTrigger` watches: a modem status line, or received data."""

    CTS = "cts"
    DSR = "dsr"
    RI = "ri"
    CD = "cd"
    DATA = "data"


class Debouncer:
    """Turns a bouncing contact into clean presses, with no added delay.

    A press fires on the first edge, so a still is not taken late; it is accepted only when
    the contact was quiet (released, or no data) for at least ``window_ns`` before it. Bounces
    on closing and on release therefore never fire.

    Parameters
    ----------
    window_ns
        The quiet time a press needs before it (``debounce_ms`` x 1e6).
    """

    def __init__(self, window_ns: int) -> None:
        if window_ns < 0:
            raise ValueError(f"the debounce time cannot be negative ({window_ns} ns)")
        self.window_ns = window_ns
        self._level: bool | None = None
        self._last_change_ns: int | None = None

    def level(self, active: bool, now_ns: int) -> bool:
        """Feed a sampled line level; True when this sample is an accepted press."""
        previous, self._level = self._level, active
        if previous is None or previous == active:
            return False
        quiet = self._last_change_ns is None or now_ns - self._last_change_ns >= self.window_ns
        self._last_change_ns = now_ns
        return active and quiet

    def pulse(self, now_ns: int) -> bool:
        """Feed a burst of received data; True when it is an accepted press."""
        quiet = self._last_change_ns is None or now_ns - self._last_change_ns >= self.window_ns
        self._last_change_ns = now_ns
        return quiet


class SerialPort(Protocol):
    """The part of ``serial.Serial`` :class:`SerialTrigger` uses."""

    cts: bool
    dsr: bool
    ri: bool
    cd: bool
    rts: bool
    dtr: bool

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def close(self) -> None: ...


def _import_serial() -> Any:
    try:
        import serial  # optional dependency: only serial triggers need it
    except ImportError:
        raise SourceError(
            "a serial trigger needs pyserial, which is not installed; "
            "install it with: pip install pyserial"
        ) from None
    return serial


class SerialTrigger:
    """A contact closure or data on a serial port, turned into an :class:`Action`.

    Parameters
    ----------
    port
        The port (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL.
    line
        ``cts``, ``dsr``, ``ri`` or ``cd``: fire when that modem line becomes active (polled);
        ``data``: fire when any byte arrives.
    on_action
        Called with ``action`` on the trigger's own thread, as soon as the press is seen
        (take ``time.monotonic_ns()`` there for :func:`~izer.capture.pipeline.frame_on_screen`).
    action
        What a press means.
    debounce_ms
        Quiet time a press needs before it (see :class:`Debouncer`); repeated bytes or bounces
        within it do not fire again.
    normally_closed
        The switch opens when pressed (the line falls instead of rising).
    poll_ms
        How often the modem line is read (data mode wakes on the first byte).
    on_error
        Called with a plain-words message when the port fails while running (unplugged
        adapter); the thread then ends.
    port_factory
        Opens the port instead of pyserial's ``serial_for_url`` (for tests and special ports).
    """

    def __init__(
        self,
        port: str,
        line: SerialLine | str = SerialLine.CTS,
        *,
        on_action: Callable[[Action], None],
        action: Action = Action.STILL,
        debounce_ms: float = 50.0,
        normally_closed: bool = False,
        poll_ms: float = 2.0,
        baudrate: int = 9600,
        on_error: Callable[[str], None] | None = None,
        port_factory: Callable[[], SerialPort] | None = None,
    ) -> None:
        if not port and port_factory is None:
            raise ValueError("a serial trigger needs a port, such as /dev/ttyUSB0 or COM3")
        try:
            self.line = SerialLine(str(line).lower())
        except ValueError:
            accepted = ", ".join(item.value for item in SerialLine)
            raise ValueError(f"serial_line {line!r} is not one of {accepted}") from None
        if debounce_ms < 0 or poll_ms <= 0:
            raise ValueError("debounce_ms must be >= 0 and poll_ms > 0")
        self.port = port
        self.action = action
        self.normally_closed = normally_closed
        self._on_action = on_action
        self._on_error = on_error
        self._debouncer = Debouncer(int(debounce_ms * 1_000_000))
        self._poll_s = poll_ms / 1000
        self._baudrate = baudrate
        self._factory = port_factory
        self._serial: SerialPort | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.fired = 0
        self.bytes_received = 0
        self.error: str | None = None

    @staticmethod
    def is_available() -> bool:
        """Whether pyserial is installed."""
        try:
            _import_serial()
        except SourceError:
            return False
        return True

    @property
    def running(self) -> bool:
        """Whether the trigger's thread is watching the port."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Open the port and start watching it on a thread of its own.

        Raises
        ------
        SourceError
            When pyserial is missing or the port cannot be opened.
        """
        if self.running:
            raise RuntimeError(f"the serial trigger on {self.port} is already running")
        port = self._open()
        if self.line is not SerialLine.DATA:
            # RTS and DTR asserted give the switch a voltage to close onto CTS or DSR.
            try:
                port.rts = True
                port.dtr = True
            except Exception as exc:
                log.debug("cannot assert RTS/DTR on %s: %s", self.port, exc)
        self._serial = port
        self._stop.clear()
        self.error = None
        self._thread = threading.Thread(
            target=self._run, name=f"izer-serial-trigger-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop watching and close the port; safe to call twice."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def __enter__(self) -> SerialTrigger:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open(self) -> SerialPort:
        if self._factory is not None:
            return self._factory()
        serial = _import_serial()
        timeout = _DATA_READ_TIMEOUT_S if self.line is SerialLine.DATA else 0
        try:
            port = serial.serial_for_url(self.port, baudrate=self._baudrate, timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SourceError(
                f"the serial trigger port {self.port} cannot be opened: {exc}"
            ) from exc
        return port

    def _run(self) -> None:
        port = self._serial
        assert port is not None
        try:
            if self.line is SerialLine.DATA:
                self._watch_data(port)
            else:
                self._watch_line(port)
        except Exception as exc:
            self.error = f"the serial trigger on {self.port} stopped working: {exc}"
            log.error("%s", self.error)
            if self._on_error is not None:
                try:
                    self._on_error(self.error)
                except Exception:
                    log.exception("the serial trigger error handler failed")
        finally:
            try:
                port.close()
            except Exception:
                log.debug("closing %s failed", self.port, exc_info=True)

    def _watch_line(self, port: SerialPort) -> None:
        name = self.line.value
        while not self._stop.is_set():
            active = bool(getattr(port, name)) != self.normally_closed
            if self._debouncer.level(active, time.monotonic_ns()):
                self._fire()
            self._stop.wait(self._poll_s)

    def _watch_data(self, port: SerialPort) -> None:
        while not self._stop.is_set():
            data = port.read(max(1, port.in_waiting))
            if not data:
                continue
            if self._debouncer.pulse(time.monotonic_ns()):
                self._fire()
            self.bytes_received += len(data)

    def _fire(self) -> None:
        self.fired += 1
        try:
            self._on_action(self.action)
        except Exception:
            log.exception("the serial trigger action handler failed")
