"""Scanners: SANE (Linux, macOS) through python-sane, TWAIN (Windows) through pytwain.

Both are :class:`PageSource` objects: :meth:`pages` scans one page from a flatbed, or loops
over a document feeder until it is empty (SANE ``SANE_STATUS_NO_DOCS``, the way ``scanadf``
ends a batch). Grayscale scanned at 16 bits per sample stays ``uint16`` with ``bits_stored``
16 (12-bit scanners deliver their samples in 16-bit SANE frames); nothing is scaled to 8 bits.

The libraries are imported only when used: without them, ``is_available()`` is False and
:meth:`SaneScanner.unavailable_reason` says what to install.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from izer.capture.base import (
    DeviceInfo,
    PageSource,
    ProbedAvailability,
    ScannedPage,
    SourceError,
    SourceKind,
)

#: Text of ``sane_strstatus(SANE_STATUS_NO_DOCS)``: python-sane raises it as ``_sane.error``
#: (SANE standard 4.3.7 lists the status codes). The SANE library does not translate it.
NO_DOCS_MESSAGE = "Document feeder out of documents"

#: Words by which a SANE ``source`` value names a document feeder.
_FEEDER_WORDS = ("adf", "feeder", "duplex")

#: Option values of the names accepted for ``source=`` besides the device's own values.
_SOURCE_ALIASES = {
    "flatbed": ("flatbed", "normal", "platen"),
    "adf": ("automatic document feeder", "adf", "adf front", "feeder", "document feeder"),
}

# SANE keeps global state (sane_init/sane_exit) and is not thread-safe: one lock for all.
_SANE_LOCK = threading.RLock()
_sane_initialized = False


class ScanMode(enum.StrEnum):
    """Colour mode of a scan; the device's own spelling is looked up (Gray, Grayscale...)."""

    GRAY = "Gray"
    COLOR = "Color"


def _import_sane() -> ModuleType:
    try:
        import sane
    except ImportError as exc:
        raise SourceError(
            "SANE scanners need the python-sane package (pip install python-sane; it builds "
            "against libsane-dev) and the SANE library (apt install libsane1)"
        ) from exc
    return sane


def _sane() -> ModuleType:
    """The initialised python-sane module (``sane_init`` once per process).

    SANE reads ``SANE_CONFIG_DIR`` (and so which backends ``dll.conf`` enables) at the first
    ``sane_init``; later changes of the variable are not seen by the library.
    """
    global _sane_initialized
    sane = _import_sane()
    with _SANE_LOCK:
        if not _sane_initialized:
            try:
                sane.init()
            except Exception as exc:
                raise SourceError(f"the SANE library did not start: {exc}") from exc
            _sane_initialized = True
    return sane


def _scan_mode(mode: ScanMode | str | None) -> ScanMode | None:
    if mode is None or isinstance(mode, ScanMode):
        return mode
    for member in ScanMode:
        if mode.lower() in (member.value.lower(), member.name.lower()):
            return member
    raise ValueError(
        f"mode must be Gray or Color, not {mode!r}; set other modes (Lineart) through "
        "options={'mode': ...}"
    )


def _is_feeder(source: str) -> bool:
    lowered = source.lower()
    return any(word in lowered for word in _FEEDER_WORDS)


def _pick(offered: list[Any], wanted: str, *, fallbacks: tuple[str, ...] = ()) -> Any | None:
    """The offered value equal to ``wanted`` (any case), else the first one naming a fallback."""
    for value in offered:
        if isinstance(value, str) and value.lower() == wanted.lower():
            return value
    for word in fallbacks:
        for value in offered:
            if isinstance(value, str) and value.lower() == word:
                return value
    for word in fallbacks:
        for value in offered:
            if isinstance(value, str) and word in value.lower() and "duplex" not in value.lower():
                return value
    return None


def _coerce(option: Any, value: object, device: str) -> object:
    """``value`` in the option's SANE type (SANE standard 4.2.9.4), from text or a number."""
    import _sane

    try:
        if option.type == _sane.TYPE_BOOL:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "yes", "true", "on")
            return bool(value)
        if option.type == _sane.TYPE_INT and not isinstance(value, bool):
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, float):
                if not number.is_integer():
                    raise ValueError(f"{option.py_name} takes whole numbers")
                return int(number)
            return number
        if option.type == _sane.TYPE_FIXED and isinstance(value, str | int):
            return float(value)
    except ValueError as exc:
        raise SourceError(
            f"scanner {device!r}: {option.py_name}={value!r} is not valid ({exc})"
        ) from exc
    return value


class SaneScanner(ProbedAvailability, PageSource):
    """A SANE scanner: flatbed (one page) or document feeder (until empty).

    Parameters
    ----------
    device
        The SANE device name, as :meth:`discover` (or ``scanimage -L``) lists it, e.g.
        ``"epson2:libusb:001:004"``; the ``sane:`` prefix of a source spec is accepted.
    dpi
        Scan resolution in dots per inch (SANE option ``resolution``); default: the device's.
    mode
        Gray or Color (the device's spelling, e.g. "Grayscale", is found); default: the
        device's.
    depth
        Bits per sample, 8 or 16 (SANE option ``depth``). 16 is for grayscale: colour pages
        are 8-bit RGB.
    source
        Where the paper comes from: ``"flatbed"``, ``"adf"`` (the device's automatic document
        feeder, whatever it calls it), or any value the device offers (``"ADF Duplex"``).
    options
        Further SANE options by name (``-`` or ``_``), set after the ones above, e.g.
        ``{"br-x": 215.9}``.
    stop
        Set it to end a feeder batch after the page being scanned.
    """

    kind = SourceKind.SANE

    def __init__(
        self,
        device: str,
        *,
        dpi: float | None = None,
        mode: ScanMode | str | None = None,
        depth: int | None = None,
        source: str | None = None,
        options: Mapping[str, str | int | float | bool] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        device = device.removeprefix("sane:")
        if not device:
            raise ValueError("device is empty: give a SANE device name such as 'test:0'")
        if dpi is not None and not dpi > 0:
            raise ValueError(f"dpi must be positive, not {dpi}")
        if depth is not None and depth not in (1, 8, 16):
            raise ValueError(f"depth must be 1, 8 or 16 bits per sample, not {depth}")
        resolved_mode = _scan_mode(mode)
        if resolved_mode is ScanMode.COLOR and depth == 16:
            raise ValueError(
                "16-bit depth is kept for grayscale only; scan colour pages with depth 8 "
                "(or mode Gray for 16-bit film)"
            )
        self.device = device
        self.dpi = dpi
        self.mode = resolved_mode
        self.depth = depth
        self.source = source
        self.options = dict(options or {})
        self.stop = stop if stop is not None else threading.Event()
        self._device: Any = None  # the python-sane device while pages() scans

    @classmethod
    def _probe(cls) -> None:
        """Pass when python-sane imports and the SANE library starts."""
        _sane()

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        """The SANE devices present now (``sane_get_devices``); none when SANE is missing.

        Raises
        ------
        SourceError
            When SANE is installed but listing the devices fails.
        """
        if not cls.is_available():
            return []
        sane = _sane()
        with _SANE_LOCK:
            try:
                devices = sane.get_devices()
            except Exception as exc:
                raise SourceError(f"SANE could not list the scanners: {exc}") from exc
        return [
            DeviceInfo(
                kind=SourceKind.SANE,
                spec=f"sane:{name}",
                label=" ".join(part for part in (vendor, model) if part) or name,
                note=kind,
            )
            for name, vendor, model, kind in devices
        ]

    @property
    def spec(self) -> str:
        """The ``--source`` text that opens this scanner again."""
        return f"sane:{self.device}"

    def pages(self) -> Iterator[ScannedPage]:
        """Scan: one page from a flatbed, or every page in the feeder; pages numbered from 1.

        Raises
        ------
        SourceError
            When the scanner cannot be opened or configured, or stops with an error other
            than an empty feeder (a jam, an open cover); the message names the page.
        """
        sane = _sane()
        error = sane._sane.error
        with _SANE_LOCK:
            try:
                device = sane.open(self.device)
            except error as exc:
                raise SourceError(
                    f"cannot open scanner {self.device!r}: {exc}; check that `scanimage -L` "
                    "lists it and that it is not in use"
                ) from exc
        self._device = device
        try:
            self._configure(device, error)
            dpi = self._current_dpi(device)
            feeder = "source" in device.opt and _is_feeder(str(device.source))
            number = 0
            while not self.stop.is_set():
                number += 1
                page = self._scan_one(device, error, number, feeder=feeder, dpi=dpi)
                if page is None:
                    return
                yield page
                if not feeder:
                    return
        finally:
            self._device = None
            with _SANE_LOCK:
                with contextlib.suppress(Exception):
                    device.cancel()  # ends a feeder batch; an error here must not hide another
                device.close()

    def _scan_one(
        self, device: Any, error: type[Exception], number: int, *, feeder: bool, dpi: float | None
    ) -> ScannedPage | None:
        try:
            device.start()
            # (data, width, height, samples, sample_size); no_cancel keeps a feeder going,
            # and 16-bit samples are kept as they are.
            data, width, height, samples, sample_size = device.dev.snap(feeder, True, None)
        except error as exc:
            if feeder and str(exc) == NO_DOCS_MESSAGE:
                return None  # the feeder is empty: the batch is done
            done = f" ({number - 1} page(s) before it were delivered)" if number > 1 else ""
            raise SourceError(
                f"scanner {self.device!r} stopped at page {number}: {exc}{done}; fix the "
                "scanner and scan that page again"
            ) from exc
        if not data or width <= 0 or height <= 0:
            raise SourceError(f"scanner {self.device!r} returned no image for page {number}")
        dtype = np.dtype(np.uint16) if sample_size == 2 else np.dtype(np.uint8)
        # SANE delivers 16-bit samples in the machine's byte order (SANE standard 4.3.8).
        pixels = np.frombuffer(data, dtype=dtype).reshape(height, width, samples).copy()
        bits = 16 if sample_size == 2 else 8
        if samples == 1:
            pixels = pixels[:, :, 0]
        elif bits == 16:
            pixels = (pixels >> 8).astype(np.uint8)  # colour is 8-bit RGB
            bits = 8
        return ScannedPage(
            pixels=np.ascontiguousarray(pixels), number=number, bits_stored=bits, dpi=dpi
        )

    def _configure(self, device: Any, error: type[Exception]) -> None:
        if self.source is not None:
            offered = self._offered(device, "source")
            fallbacks = _SOURCE_ALIASES.get(self.source.lower(), ())
            value = _pick(offered, self.source, fallbacks=fallbacks)
            if value is None:
                raise SourceError(
                    f"scanner {self.device!r} has no source {self.source!r}; it offers "
                    f"{', '.join(map(str, offered))}"
                )
            self._set(device, error, "source", value)
        if self.mode is not None:
            offered = self._offered(device, "mode")
            words = ("gray", "grey") if self.mode is ScanMode.GRAY else ("color", "colour")
            value = _pick(offered, self.mode.value, fallbacks=words)
            if value is None:
                raise SourceError(
                    f"scanner {self.device!r} has no {self.mode.value} mode; it offers "
                    f"{', '.join(map(str, offered))}"
                )
            self._set(device, error, "mode", value)
        if self.depth is not None:
            self._set(device, error, "depth", self.depth)
        if self.dpi is not None:
            name = "resolution" if "resolution" in device.opt else "x_resolution"
            self._set(device, error, name, self.dpi)
            if name == "x_resolution" and "y_resolution" in device.opt:
                self._set(device, error, "y_resolution", self.dpi)
        for name, value in self.options.items():
            self._set(device, error, name.replace("-", "_"), value)

    def _offered(self, device: Any, name: str) -> list[Any]:
        option = device.opt.get(name)
        if option is None:
            raise SourceError(f"scanner {self.device!r} has no {name} option to set")
        constraint = option.constraint
        return list(constraint) if isinstance(constraint, list) else []

    def _set(self, device: Any, error: type[Exception], name: str, value: object) -> None:
        option = device.opt.get(name)
        if option is None:
            raise SourceError(
                f"scanner {self.device!r} has no option {name!r}; it has "
                f"{', '.join(sorted(key for key in device.opt if key))}"
            )
        value = _coerce(option, value, self.device)
        constraint = option.constraint
        if isinstance(constraint, list) and value not in constraint:
            raise SourceError(
                f"scanner {self.device!r} does not accept {name}={value!r}; it offers "
                f"{', '.join(map(str, constraint))}"
            )
        if isinstance(constraint, tuple) and isinstance(value, int | float):
            low, high = constraint[0], constraint[1]
            if not low <= value <= high:
                raise SourceError(
                    f"scanner {self.device!r} accepts {name} from {low} to {high}, not {value}"
                )
        try:
            setattr(device, name, value)
        except (error, AttributeError, TypeError) as exc:
            raise SourceError(f"scanner {self.device!r} refused {name}={value!r}: {exc}") from exc

    @staticmethod
    def _current_dpi(device: Any) -> float | None:
        """The resolution the device will actually scan at (it may round what was asked)."""
        for name in ("resolution", "x_resolution"):
            if name in device.opt:
                try:
                    return float(getattr(device, name))
                except (AttributeError, TypeError, ValueError):
                    return None
        return None


def _import_twain() -> ModuleType:
    if sys.platform != "win32":
        raise SourceError("TWAIN scanners work on Windows only; use SANE (sane:) here")
    try:
        import twain
    except ImportError as exc:
        raise SourceError("TWAIN scanners need the pytwain package (pip install pytwain)") from exc
    return twain


class TwainPixelType(enum.IntEnum):
    """ICAP_PIXELTYPE values (TWAIN 2.4 specification, chapter 10: TWPT_*)."""

    BW = 0
    GRAY = 1
    RGB = 2


class TwainScanner(ProbedAvailability, PageSource):
    """A TWAIN data source on Windows: every page the source transfers in one acquisition.

    Images come by native transfer (device-independent bitmaps: 8-bit gray or 24-bit
    colour); the source keeps transferring while it reports pending transfers (a feeder).
    Pages are yielded once the acquisition has ended, because TWAIN drives it from a modal
    message loop.

    Parameters
    ----------
    name
        The data source's product name, as :meth:`discover` lists it; ``None`` shows
        TWAIN's source selection dialog.
    dpi
        Resolution (ICAP_XRESOLUTION, ICAP_YRESOLUTION in inches).
    pixel_type
        Gray, RGB or BW (ICAP_PIXELTYPE); default: the source's.
    feeder
        Ask the source to use its document feeder (CAP_FEEDERENABLED) and to transfer
        every page (CAP_XFERCOUNT -1).
    show_ui
        Show the driver's own dialog.
    parent_window
        Handle (HWND) of the window that owns the driver's dialog (the GUI's main window).
    """

    kind = SourceKind.TWAIN

    def __init__(
        self,
        name: str | None,
        *,
        dpi: float | None = None,
        pixel_type: TwainPixelType | None = None,
        feeder: bool = False,
        show_ui: bool = False,
        parent_window: int | None = None,
    ) -> None:
        if name is not None:
            name = name.removeprefix("twain:")
        if dpi is not None and not dpi > 0:
            raise ValueError(f"dpi must be positive, not {dpi}")
        self.name = name or None
        self.dpi = dpi
        self.pixel_type = pixel_type
        self.feeder = feeder
        self.show_ui = show_ui
        self.parent_window = parent_window

    @classmethod
    def _probe(cls) -> None:
        """Pass on Windows with pytwain installed."""
        _import_twain()

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        """The TWAIN data sources the source manager lists; none off Windows."""
        if not cls.is_available():
            return []
        twain = _import_twain()
        try:
            with twain.SourceManager(None) as manager:
                names = list(manager.source_list)
        except Exception as exc:
            raise SourceError(f"the TWAIN source manager did not start: {exc}") from exc
        return [
            DeviceInfo(kind=SourceKind.TWAIN, spec=f"twain:{name}", label=name) for name in names
        ]

    @property
    def spec(self) -> str:
        """The ``--source`` text that opens this data source again."""
        return f"twain:{self.name or ''}"

    def pages(self) -> Iterator[ScannedPage]:
        """Acquire, then yield the transferred pages numbered from 1.

        Raises
        ------
        SourceError
            When the source cannot be opened, or jams; the message names the page.
        """
        from izer.capture.folder_source import read_image_file

        twain = _import_twain()
        with tempfile.TemporaryDirectory(prefix="izer-twain-") as scratch:
            acquired = self._acquire(twain, Path(scratch))
            for number, (path, dpi) in enumerate(acquired, start=1):
                try:
                    image = read_image_file(path)
                except ValueError as exc:
                    raise SourceError(f"TWAIN page {number} could not be read: {exc}") from exc
                yield ScannedPage(
                    pixels=image.pixels,
                    number=number,
                    bits_stored=image.bits_stored,
                    dpi=dpi if dpi is not None else image.dpi,
                )

    def _acquire(self, twain: ModuleType, scratch: Path) -> list[tuple[Path, float | None]]:
        acquired: list[tuple[Path, float | None]] = []
        info: dict[str, Any] = {}
        try:
            manager = twain.SourceManager(self.parent_window or 0)
        except Exception as exc:
            raise SourceError(f"the TWAIN source manager did not start: {exc}") from exc
        try:
            source = manager.open_source(self.name)
            if source is None:
                return acquired  # the user cancelled the selection dialog
            try:
                self._configure(twain, source)
            except Exception as exc:
                source.close()
                raise SourceError(
                    f"TWAIN source {self.name!r} refused the settings (dpi, pixel type, "
                    f"feeder): {type(exc).__name__} {exc}".rstrip()
                ) from exc

            def before(image_info: dict[str, Any]) -> None:
                info.clear()
                info.update(image_info)

            def after(image: Any, more: int) -> None:
                path = scratch / f"page-{len(acquired) + 1:05d}.bmp"
                try:
                    image.save(os.fspath(path))
                finally:
                    image.close()
                resolution = info.get("XResolution")
                dpi = float(resolution) if resolution and resolution > 1 else None
                acquired.append((path, dpi))

            try:
                source.acquire_natively(
                    after=after, before=before, show_ui=self.show_ui, modal=self.show_ui
                )
            except twain.exceptions.DSTransferCancelled:
                pass  # cancelled in the driver's dialog: keep the pages transferred so far
            except Exception as exc:
                raise SourceError(
                    f"TWAIN source {self.name!r} stopped at page {len(acquired) + 1}: "
                    f"{type(exc).__name__} {exc}".rstrip()
                ) from exc
            finally:
                source.close()
        finally:
            manager.close()
        return acquired

    def _configure(self, twain: ModuleType, source: Any) -> None:
        if self.pixel_type is not None:
            source.set_capability(twain.ICAP_PIXELTYPE, twain.TWTY_UINT16, int(self.pixel_type))
        if self.dpi is not None:
            source.set_capability(twain.ICAP_UNITS, twain.TWTY_UINT16, twain.TWUN_INCHES)
            source.set_capability(twain.ICAP_XRESOLUTION, twain.TWTY_FIX32, float(self.dpi))
            source.set_capability(twain.ICAP_YRESOLUTION, twain.TWTY_FIX32, float(self.dpi))
        if self.feeder:
            source.set_capability(twain.CAP_FEEDERENABLED, twain.TWTY_BOOL, True)
            source.set_capability(twain.CAP_XFERCOUNT, twain.TWTY_INT16, -1)
