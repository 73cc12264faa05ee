"""Film printing settings: the coded values of Basic Print Management and a printer preset.

The values are those of the Basic Film Session and Basic Film Box modules (PS3.3 C.13.1,
C.13.3) and of the Image Box Pixel Presentation module (C.13.5). A :class:`PrintPreset` holds
one printer's choices; an empty value (or ``None``) is not sent, so the printer applies its
own default ("not set if default"). Imports nothing from izer.

Example::

    preset = PrintPreset(display_format="STANDARD\\\\2,2", film_size="14INX17IN")
    assert not preset.problems()
    layout = ImageDisplayFormat.parse(preset.display_format)   # 4 boxes, row-major
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from typing import Any

#: Most image boxes along one direction of a film (a sanity limit, not a DICOM one).
MAX_BOXES_PER_LINE = 32
#: Most copies of a film session one job may ask for (a sanity limit).
MAX_COPIES = 99
#: Densities are US values in hundredths of optical density (PS3.3 C.13.3).
MAX_DENSITY = 65535


class PrintColor(enum.StrEnum):
    """Grayscale or color print (the meta SOP class to negotiate, PS3.4 H.3)."""

    GRAYSCALE = "grayscale"
    COLOR = "color"


class FilmOrientation(enum.StrEnum):
    """Film Orientation (2010,0040), PS3.3 C.13.3."""

    PORTRAIT = "PORTRAIT"
    LANDSCAPE = "LANDSCAPE"


class FilmSize(enum.StrEnum):
    """Film Size ID (2010,0050) defined terms, PS3.3 C.13.3."""

    IN8X10 = "8INX10IN"
    IN8_5X11 = "8_5INX11IN"
    IN10X12 = "10INX12IN"
    IN10X14 = "10INX14IN"
    IN11X14 = "11INX14IN"
    IN11X17 = "11INX17IN"
    IN14X14 = "14INX14IN"
    IN14X17 = "14INX17IN"
    CM24X24 = "24CMX24CM"
    CM24X30 = "24CMX30CM"
    A4 = "A4"
    A3 = "A3"

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) in millimetres, portrait (PS3.3 C.13.3 note: A4 210 x 297 mm)."""
        return _FILM_SIZES_MM[self]


_INCH = 25.4
_FILM_SIZES_MM: dict[FilmSize, tuple[float, float]] = {
    FilmSize.IN8X10: (8 * _INCH, 10 * _INCH),
    FilmSize.IN8_5X11: (8.5 * _INCH, 11 * _INCH),
    FilmSize.IN10X12: (10 * _INCH, 12 * _INCH),
    FilmSize.IN10X14: (10 * _INCH, 14 * _INCH),
    FilmSize.IN11X14: (11 * _INCH, 14 * _INCH),
    FilmSize.IN11X17: (11 * _INCH, 17 * _INCH),
    FilmSize.IN14X14: (14 * _INCH, 14 * _INCH),
    FilmSize.IN14X17: (14 * _INCH, 17 * _INCH),
    FilmSize.CM24X24: (240.0, 240.0),
    FilmSize.CM24X30: (240.0, 300.0),
    FilmSize.A4: (210.0, 297.0),
    FilmSize.A3: (297.0, 420.0),
}


class MagnificationType(enum.StrEnum):
    """Magnification Type (2010,0060) defined terms, PS3.3 C.13.3."""

    REPLICATE = "REPLICATE"
    BILINEAR = "BILINEAR"
    CUBIC = "CUBIC"
    NONE = "NONE"


class PrintPriority(enum.StrEnum):
    """Print Priority (2000,0020), PS3.3 C.13.1."""

    HIGH = "HIGH"
    MED = "MED"
    LOW = "LOW"


class MediumType(enum.StrEnum):
    """Medium Type (2000,0030) defined terms, PS3.3 C.13.1."""

    PAPER = "PAPER"
    CLEAR_FILM = "CLEAR FILM"
    BLUE_FILM = "BLUE FILM"
    MAMMO_CLEAR_FILM = "MAMMO CLEAR FILM"
    MAMMO_BLUE_FILM = "MAMMO BLUE FILM"


class Polarity(enum.StrEnum):
    """Polarity (2020,0020) of an image box, PS3.3 C.13.5."""

    NORMAL = "NORMAL"
    REVERSE = "REVERSE"


class Trim(enum.StrEnum):
    """Trim (2010,0140): a box around each image, PS3.3 C.13.3."""

    YES = "YES"
    NO = "NO"


class DisplayFormatKind(enum.StrEnum):
    """The Image Display Format (2010,0010) kinds izer prints (PS3.3 C.13.3)."""

    STANDARD = "STANDARD"
    ROW = "ROW"
    COL = "COL"


_SHORT_FORMAT = re.compile(r"^\s*(\d+)\s*[x,X]\s*(\d+)\s*$")
_FORMAT_EXAMPLES = "STANDARD\\C,R (e.g. STANDARD\\2,2 or 2x2), ROW\\2,1 or COL\\1,3"


@dataclass(frozen=True)
class ImageDisplayFormat:
    """An Image Display Format (2010,0010): how the film is cut into image boxes.

    ``STANDARD\\C,R``: C columns and R rows of equal boxes (columns first). ``ROW\\a,b,...``:
    one value per row, the number of boxes in that row. ``COL\\a,b,...``: one value per
    column, the number of boxes in that column (PS3.3 C.13.3).
    """

    kind: DisplayFormatKind
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        kind = DisplayFormatKind(self.kind)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "counts", tuple(self.counts))
        if kind is DisplayFormatKind.STANDARD and len(self.counts) != 2:
            raise ValueError(
                f"Image Display Format STANDARD takes two values, columns and rows "
                f"(STANDARD\\C,R), got {len(self.counts)}"
            )
        if not self.counts:
            raise ValueError(f"Image Display Format {kind.value} needs at least one count")
        for count in self.counts:
            if isinstance(count, bool) or not isinstance(count, int):
                raise ValueError(f"Image Display Format counts must be integers, got {count!r}")
            if not 1 <= count <= MAX_BOXES_PER_LINE:
                raise ValueError(
                    f"Image Display Format {kind.value}: {count} boxes; give 1 to "
                    f"{MAX_BOXES_PER_LINE} per row or column"
                )
        if len(self.counts) > MAX_BOXES_PER_LINE:
            raise ValueError(
                f"Image Display Format {kind.value}: {len(self.counts)} rows or columns; "
                f"at most {MAX_BOXES_PER_LINE}"
            )

    @classmethod
    def parse(cls, text: str) -> ImageDisplayFormat:
        """Read ``STANDARD\\2,2``, ``ROW\\2,1``, ``COL\\1,3``, or short ``2,2`` / ``2x2``.

        The short forms mean STANDARD with columns first, then rows.

        Raises
        ------
        ValueError
            Naming the text and the accepted forms.
        """
        value = str(text).strip()
        short = _SHORT_FORMAT.match(value)
        if short:
            try:
                return cls(DisplayFormatKind.STANDARD, (int(short[1]), int(short[2])))
            except ValueError as exc:
                raise ValueError(f"Image Display Format {text!r}: {exc}") from None
        kind_text, separator, counts_text = value.partition("\\")
        try:
            kind = DisplayFormatKind(kind_text.strip().upper())
        except ValueError:
            raise ValueError(
                f"Image Display Format {text!r}: not one izer prints; use {_FORMAT_EXAMPLES}"
            ) from None
        parts = [part.strip() for part in counts_text.split(",")] if separator else []
        if not parts or not all(part.isdigit() for part in parts):
            raise ValueError(
                f"Image Display Format {text!r}: the counts after {kind.value}\\ must be "
                f"integers separated by commas; use {_FORMAT_EXAMPLES}"
            )
        try:
            return cls(kind, tuple(int(part) for part in parts))
        except ValueError as exc:
            raise ValueError(f"Image Display Format {text!r}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.kind.value}\\{','.join(str(count) for count in self.counts)}"

    @property
    def boxes(self) -> int:
        """Image boxes on one film."""
        if self.kind is DisplayFormatKind.STANDARD:
            return self.counts[0] * self.counts[1]
        return sum(self.counts)

    def box_rects(
        self, orientation: FilmOrientation = FilmOrientation.PORTRAIT
    ) -> list[tuple[float, float, float, float]]:
        """``(x, y, w, h)`` of each image box in fractions (0..1) of the film as seen.

        In Image Box Position order (PS3.3 C.13.5.1): row-major (left to right, top to
        bottom) for STANDARD and ROW, column-major (top to bottom, left to right) for COL.
        Fractions of the film do not depend on ``orientation`` (columns always run across the
        film as it is viewed); it changes the boxes' shape, see ``box_aspect``.
        """
        FilmOrientation(orientation)
        rects: list[tuple[float, float, float, float]] = []
        if self.kind is DisplayFormatKind.STANDARD:
            columns, rows = self.counts
            for row in range(rows):
                for column in range(columns):
                    rects.append((column / columns, row / rows, 1 / columns, 1 / rows))
        elif self.kind is DisplayFormatKind.ROW:
            rows = len(self.counts)
            for row, count in enumerate(self.counts):
                for column in range(count):
                    rects.append((column / count, row / rows, 1 / count, 1 / rows))
        else:
            columns = len(self.counts)
            for column, count in enumerate(self.counts):
                for row in range(count):
                    rects.append((column / columns, row / count, 1 / columns, 1 / count))
        return rects


_DENSITY_WORDS = ("BLACK", "WHITE")


def density_value(text: str) -> str:
    """A Border or Empty Image Density (PS3.3 C.13.3): ``BLACK``, ``WHITE`` or an integer,
    the density in hundredths of optical density (``150`` is 1.50 OD).

    Raises
    ------
    ValueError
        Naming the value and what is accepted.
    """
    value = str(text).strip().upper()
    if value in _DENSITY_WORDS:
        return value
    if value.isdigit() and int(value) <= MAX_DENSITY:
        return str(int(value))
    raise ValueError(
        f"density {text!r}: use BLACK, WHITE or hundredths of optical density (e.g. 150)"
    )


_BIN = re.compile(r"^BIN_(\d+)$")


def film_destination_value(text: str) -> str:
    """A Film Destination (2000,0040), PS3.3 C.13.1: ``MAGAZINE``, ``PROCESSOR`` or ``BIN_i``.

    Raises
    ------
    ValueError
        Naming the value and what is accepted.
    """
    value = str(text).strip().upper()
    if value in ("MAGAZINE", "PROCESSOR"):
        return value
    match = _BIN.match(value)
    if match and len(value) <= 16:
        return f"BIN_{int(match[1])}"
    raise ValueError(f"film destination {text!r}: use MAGAZINE, PROCESSOR or BIN_i (e.g. BIN_1)")


_CS_TEXT = re.compile(r"^[A-Z0-9_ ]{1,16}$")


def _coded(value: str, choices: type[enum.StrEnum], key: str) -> tuple[str, str | None]:
    """The canonical coded value of ``value`` ("" stays ""), or a problem naming ``key``."""
    text = str(value).strip().upper()
    if not text:
        return "", None
    try:
        return choices(text).value, None
    except ValueError:
        allowed = ", ".join(member.value for member in choices)
        return text, f"{key}: {value!r} is not one of: {allowed} (or empty for the default)"


@dataclass(frozen=True)
class PrintPreset:
    """One printer's film choices; ``""`` or ``None`` is not sent (the printer's default).

    Parameters
    ----------
    color
        Ask for Basic Color Print (falls back to grayscale when the printer refuses it).
    display_format
        Image Display Format (2010,0010): ``STANDARD\\C,R``, ``ROW\\...``, ``COL\\...`` or
        the short ``CxR``.
    film_orientation, film_size, magnification, smoothing, border_density,
    empty_image_density, min_density, max_density, trim, configuration_information
        Basic Film Box attributes (PS3.3 C.13.3); densities in hundredths of OD.
    copies, priority, medium, film_destination, session_label
        Basic Film Session attributes (PS3.3 C.13.1); ``copies`` 1 is not sent.
    bit_depth
        Grayscale pixels sent as 8 or 12 bits (PS3.3 C.13.5).
    polarity
        Image box Polarity (2020,0020).
    """

    color: bool = False
    display_format: str = "STANDARD\\1,1"
    film_orientation: str = ""
    film_size: str = ""
    magnification: str = ""
    smoothing: str = ""
    border_density: str = ""
    empty_image_density: str = ""
    min_density: int | None = None
    max_density: int | None = None
    trim: str = ""
    configuration_information: str = ""
    copies: int = 1
    priority: str = ""
    medium: str = ""
    film_destination: str = ""
    session_label: str = ""
    bit_depth: int = 8
    polarity: str = ""

    def problems(self) -> list[str]:
        """Every invalid value, each naming its key and the allowed values (empty: all good)."""
        return self._checked()[1]

    def normalized(self) -> PrintPreset:
        """The preset with canonical DICOM values (upper case, ``STANDARD\\C,R`` ...).

        Raises
        ------
        ValueError
            Listing every problem (see :meth:`problems`).
        """
        preset, problems = self._checked()
        if problems:
            raise ValueError("print preset: " + "; ".join(problems))
        return preset

    def with_overrides(self, **changes: Any) -> PrintPreset:
        """A copy with ``changes`` applied, checked and normalized.

        Raises
        ------
        ValueError
            For a key that is not a preset field, or any invalid value.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(
                f"print preset: unknown key(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        return dataclasses.replace(self, **changes).normalized()

    @property
    def image_display_format(self) -> ImageDisplayFormat:
        """The parsed display format (raises ValueError when invalid)."""
        return ImageDisplayFormat.parse(self.display_format)

    @property
    def orientation(self) -> FilmOrientation:
        """The film orientation, portrait when not set."""
        return FilmOrientation(self.film_orientation.strip().upper() or "PORTRAIT")

    @property
    def size(self) -> FilmSize | None:
        """The film size, ``None`` when not set."""
        text = self.film_size.strip().upper()
        return FilmSize(text) if text else None

    def _checked(self) -> tuple[PrintPreset, list[str]]:
        problems: list[str] = []
        values: dict[str, Any] = {}

        def note(problem: str | None) -> None:
            if problem:
                problems.append(problem)

        if not isinstance(self.color, bool):
            problems.append(f"color: {self.color!r} is not true or false")
        try:
            values["display_format"] = str(ImageDisplayFormat.parse(self.display_format))
        except ValueError as exc:
            problems.append(f"display_format: {exc}")
        for key, choices in (
            ("film_orientation", FilmOrientation),
            ("film_size", FilmSize),
            ("magnification", MagnificationType),
            ("trim", Trim),
            ("priority", PrintPriority),
            ("medium", MediumType),
            ("polarity", Polarity),
        ):
            values[key], problem = _coded(getattr(self, key), choices, key)
            note(problem)
        smoothing = str(self.smoothing).strip().upper()
        values["smoothing"] = smoothing
        if smoothing and not _CS_TEXT.match(smoothing):
            problems.append(
                f"smoothing: {self.smoothing!r} must be a printer-defined code of at most 16 "
                "letters, digits, spaces or underscores (see the printer's conformance statement)"
            )
        magnification = values.get("magnification", "")
        if smoothing and magnification and magnification != MagnificationType.CUBIC:
            problems.append(
                f"smoothing: only valid with magnification = CUBIC (PS3.3 C.13.3), "
                f"magnification is {magnification}"
            )
        for key in ("border_density", "empty_image_density"):
            text = str(getattr(self, key)).strip()
            values[key] = text
            if text:
                try:
                    values[key] = density_value(text)
                except ValueError as exc:
                    problems.append(f"{key}: {exc}")
        for key in ("min_density", "max_density"):
            value = getattr(self, key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535
            ):
                problems.append(
                    f"{key}: {value!r} must be hundredths of optical density, 0 to 65535 "
                    "(or unset for the printer's default)"
                )
        if (
            isinstance(self.min_density, int)
            and isinstance(self.max_density, int)
            and self.min_density >= self.max_density
        ):
            problems.append(
                f"min_density ({self.min_density}) must be below max_density ({self.max_density})"
            )
        if len(str(self.configuration_information)) > 1024:
            problems.append("configuration_information: at most 1024 characters (ST)")
        if (
            isinstance(self.copies, bool)
            or not isinstance(self.copies, int)
            or not 1 <= self.copies <= MAX_COPIES
        ):
            problems.append(f"copies: {self.copies!r} must be a whole number, 1 to {MAX_COPIES}")
        destination = str(self.film_destination).strip()
        values["film_destination"] = destination
        if destination:
            try:
                values["film_destination"] = film_destination_value(destination)
            except ValueError as exc:
                problems.append(f"film_destination: {exc}")
        label = str(self.session_label)
        if len(label) > 64 or "\\" in label or any(ord(ch) < 32 for ch in label):
            problems.append(
                "session_label: at most 64 characters, without backslash or control characters"
            )
        if self.bit_depth not in (8, 12) or isinstance(self.bit_depth, bool):
            problems.append(f"bit_depth: {self.bit_depth!r} is not 8 or 12")
        if problems:
            return self, problems
        return dataclasses.replace(self, **values), []


__all__ = [
    "DisplayFormatKind",
    "FilmOrientation",
    "FilmSize",
    "ImageDisplayFormat",
    "MagnificationType",
    "MediumType",
    "Polarity",
    "PrintColor",
    "PrintPreset",
    "PrintPriority",
    "Trim",
    "density_value",
    "film_destination_value",
]
