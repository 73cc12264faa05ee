"""Basic Grayscale and Basic Color Print Management SCU (PS3.4 Annex H).

One print job is one association and one film session; the images fill as many film boxes
as they need, in order. Every message waits for the answer to the one before (printers print
empty pages, B603, when N-CREATE and N-SET are reordered)::

    A-ASSOCIATE   Basic Grayscale Print Management Meta (and Basic Color Meta when color is
                  wanted: color is used if accepted, else grayscale with a note)
    N-GET         Printer (well-known instance): Printer Status and Printer Status Info;
                  FAILURE delays the job (transient), WARNING is noted, a refusal is ignored
    N-CREATE      Basic Film Session: copies, priority, medium, destination, label
    per film:
      N-CREATE    Basic Film Box: Image Display Format, film size ...; the answer lists the
                  image boxes (Referenced Image Box Sequence)
      N-SET       each Image Box that gets an image (empty boxes are not set)
      N-ACTION    print the film box (Action Type ID 1)
      N-DELETE    the film box
    A-RELEASE

Only attributes the preset sets are sent ("not set if default"): the printer's defaults
apply otherwise. Pixels are rendered for their box before the association opens
(:mod:`izer.dispatch.film`), so a file that cannot be printed fails the job without touching
the printer. Jobs run through the outbox (:attr:`JobKind.PRINT`): a printer that is off or
out of film delays the job, it is never lost. A job that fails after some films were printed
prints them again when retried.

Example::

    outbox.enqueue(JobKind.PRINT, "printer", sop_uid=print_job_key(),
                   payload=print_job_payload(paths, PrintPreset(display_format="2x2")))
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.association import Association

from izer.config import Destination
from izer.dispatch.cstore import _association_transient
from izer.dispatch.errors import DeliveryError
from izer.dispatch.film import box_aspect, box_pixels, display_pixels
from izer.dispatch.outbox import Handler, Job
from izer.dispatch.statuses import StatusKind, general_status_meaning
from izer.model.printing import PrintPreset
from izer.net.association import AssociationFactory, AssociationFailed

log = logging.getLogger(__name__)

#: Basic Grayscale Print Management Meta SOP Class (PS3.4 H.3.1).
GRAYSCALE_META = "1.2.840.10008.5.1.1.9"
#: Basic Color Print Management Meta SOP Class (PS3.4 H.3.2).
COLOR_META = "1.2.840.10008.5.1.1.18"
#: Printer SOP Class and its well-known instance (PS3.4 H.4.6).
PRINTER_SOP_CLASS = "1.2.840.10008.5.1.1.16"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
#: Basic Film Session and Basic Film Box SOP Classes (PS3.4 H.4.1, H.4.2).
FILM_SESSION_SOP_CLASS = "1.2.840.10008.5.1.1.1"
FILM_BOX_SOP_CLASS = "1.2.840.10008.5.1.1.2"
#: Basic Grayscale and Basic Color Image Box SOP Classes (PS3.4 H.4.3).
GRAYSCALE_IMAGE_BOX = "1.2.840.10008.5.1.1.4"
COLOR_IMAGE_BOX = "1.2.840.10008.5.1.1.4.1"
#: N-ACTION Action Type ID of Print (PS3.4 H.4.2.2.4).
PRINT_ACTION = 1
#: Version of the job payload written by :func:`print_job_payload`.
PAYLOAD_VERSION = 1

#: Note added when the printer takes grayscale only.
COLOR_REFUSED_NOTE = (
    "the printer refused color (Basic Color Print Management Meta not accepted); "
    "printed in grayscale"
)

#: Printer attributes asked for with N-GET: Printer Status and Printer Status Info (DCMTK
#: dcmprscp refuses the whole N-GET when it is asked for any other, e.g. Printer Name).
_PRINTER_TAGS = [0x21100010, 0x21100020]


#: What a print management response status means for the job.
PrintStatusKind = StatusKind


#: Response statuses of Basic Print Management (PS3.4 H.4) and the general ones (PS3.7 C).
PRINT_STATUSES: dict[int, tuple[PrintStatusKind, str]] = {
    0x0000: (PrintStatusKind.SUCCESS, "success"),
    0x0001: (PrintStatusKind.WARNING, "requested optional attributes are not supported"),
    0x0107: (PrintStatusKind.WARNING, "attribute list error (some attributes were not kept)"),
    0x0116: (PrintStatusKind.WARNING, "attribute value out of range"),
    0xB600: (PrintStatusKind.WARNING, "memory allocation not supported"),
    0xB601: (PrintStatusKind.WARNING, "film session printing (collation) is not supported"),
    0xB602: (
        PrintStatusKind.WARNING,
        "the film session contains no image box (empty page)",
    ),
    0xB603: (PrintStatusKind.WARNING, "the film box contains no image box (empty page)"),
    0xB604: (
        PrintStatusKind.WARNING,
        "image larger than its image box: the printer demagnified it",
    ),
    0xB605: (
        PrintStatusKind.WARNING,
        "requested min or max density outside the printer's range: it uses its own",
    ),
    0xB609: (PrintStatusKind.WARNING, "image larger than its image box: the printer cropped it"),
    0xB60A: (
        PrintStatusKind.WARNING,
        "image larger than its image box: the printer decimated it",
    ),
    0xC600: (PrintStatusKind.PERMANENT, "the film session contains no film box"),
    # The print queue drains and printer memory frees up: trying later may succeed.
    0xC601: (PrintStatusKind.TRANSIENT, "cannot create the print job: the print queue is full"),
    0xC602: (PrintStatusKind.TRANSIENT, "cannot create the print job: the print queue is full"),
    0xC603: (PrintStatusKind.PERMANENT, "image larger than its image box"),
    0xC605: (PrintStatusKind.TRANSIENT, "not enough memory in the printer to store the image"),
    0xC613: (PrintStatusKind.PERMANENT, "combined print image larger than its image box"),
    0xC616: (
        PrintStatusKind.PERMANENT,
        "an earlier film box was not printed and the printer cannot print a film session",
    ),
    0x0105: (PrintStatusKind.PERMANENT, "no such attribute"),
    0x0106: (PrintStatusKind.PERMANENT, "invalid attribute value"),
    0x0110: (PrintStatusKind.PERMANENT, "processing failure"),
    0x0111: (PrintStatusKind.PERMANENT, "duplicate SOP instance"),
    0x0112: (PrintStatusKind.PERMANENT, "no such SOP instance"),
    0x0114: (PrintStatusKind.PERMANENT, "no such argument"),
    0x0115: (PrintStatusKind.PERMANENT, "invalid argument value"),
    0x0117: (PrintStatusKind.PERMANENT, "invalid SOP instance"),
    0x0118: (PrintStatusKind.PERMANENT, "no such SOP class"),
    0x0119: (PrintStatusKind.PERMANENT, "class-instance conflict"),
    0x0120: (PrintStatusKind.PERMANENT, "missing attribute"),
    0x0121: (PrintStatusKind.PERMANENT, "missing attribute value"),
    0x0122: (PrintStatusKind.PERMANENT, "refused: SOP class not supported"),
    0x0123: (PrintStatusKind.PERMANENT, "no such action"),
    0x0124: (PrintStatusKind.PERMANENT, "refused: not authorized"),
    0x0210: (PrintStatusKind.TRANSIENT, "duplicate invocation"),
    0x0211: (PrintStatusKind.PERMANENT, "unrecognized operation"),
    0x0212: (PrintStatusKind.PERMANENT, "mistyped argument"),
    0x0213: (PrintStatusKind.TRANSIENT, "resource limitation"),
}


def print_status_meaning(code: int) -> tuple[PrintStatusKind, str]:
    """Kind and plain words of a print management response status (PS3.4 H.4, PS3.7 C).

    Out of resources (0xA700-0xA7FF), resource limitation (0x0213), a full print queue and
    printer memory are transient; other failures (0xC6xx image too large ...) are permanent.
    """
    if code in PRINT_STATUSES:
        return PRINT_STATUSES[code]
    if 0xC600 <= code <= 0xC6FF:
        return PrintStatusKind.PERMANENT, "print failure"
    return general_status_meaning(code) or (
        PrintStatusKind.PERMANENT,
        "a status DICOM does not define for print management",
    )


@dataclass
class PrintOutcome:
    """What a print job did.

    Attributes
    ----------
    films, images
        Film boxes printed and images on them.
    color
        True when printed through Basic Color Print Management.
    printer_status
        Printer Status (2110,0010) before printing: NORMAL, WARNING or FAILURE; empty when
        the printer did not say.
    notes
        Warnings in plain words (color refused, printer warnings, demagnified images ...).
    """

    films: int
    images: int
    color: bool
    printer_status: str
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- rendering


def _films(count: int, per_film: int) -> list[range]:
    return [range(start, min(start + per_film, count)) for start in range(0, count, per_film)]


def _load(images: Sequence[Path]) -> list[np.ndarray]:
    """The display pixels of every image (PS3.4 H.2.2: the SCU sends P-values).

    Raises
    ------
    ValueError
        Naming the first file that cannot be printed.
    """
    loaded = []
    for path in images:
        if not Path(path).is_file():
            raise ValueError(f"{path}: no such file")
        loaded.append(display_pixels(Path(path)))
    return loaded


def _render(decoded: Sequence[np.ndarray], preset: PrintPreset) -> list[list[np.ndarray]]:
    layout = preset.image_display_format
    background = preset.empty_image_density or "BLACK"
    films = []
    for indices in _films(len(decoded), layout.boxes):
        boxes = []
        for position, index in enumerate(indices, start=1):
            aspect = box_aspect(layout, position, preset.size, preset.orientation)
            boxes.append(
                box_pixels(
                    decoded[index],
                    aspect,
                    color=preset.color,
                    bit_depth=preset.bit_depth,
                    background=background,
                )
            )
        films.append(boxes)
    return films


def render_films(images: Sequence[Path], preset: PrintPreset) -> list[list[np.ndarray]]:
    """The pixels :func:`print_films` sends: one list of image boxes (in Image Box Position
    order) per film, each box as :func:`izer.dispatch.film.box_pixels` renders it.

    Color boxes are rendered when ``preset.color``; a printer refusing color gets what this
    returns for ``preset.with_overrides(color=False)``.

    Raises
    ------
    ValueError
        For an invalid preset, or naming a file that cannot be printed.
    """
    preset = preset.normalized()
    return _render(_load(images), preset)


# --------------------------------------------------------------------------- data sets


def _needs_utf8(*texts: str) -> bool:
    return any(not text.isascii() for text in texts)


def film_session_dataset(preset: PrintPreset) -> Dataset | None:
    """The Basic Film Session N-CREATE attribute list (PS3.4 H.4.1.2.1.1, PS3.3 C.13.1), only
    what the preset sets; ``None`` when it sets nothing."""
    ds = Dataset()
    if _needs_utf8(preset.session_label):
        ds.SpecificCharacterSet = "ISO_IR 192"
    if preset.copies != 1:
        ds.NumberOfCopies = preset.copies
    if preset.priority:
        ds.PrintPriority = preset.priority
    if preset.medium:
        ds.MediumType = preset.medium
    if preset.film_destination:
        ds.FilmDestination = preset.film_destination
    if preset.session_label:
        ds.FilmSessionLabel = preset.session_label
    return ds if len(ds) else None


def film_box_dataset(preset: PrintPreset, session_uid: str) -> Dataset:
    """The Basic Film Box N-CREATE attribute list (PS3.4 H.4.2.2.1.1, PS3.3 C.13.3): Image
    Display Format and the Referenced Film Session, then only what the preset sets."""
    ds = Dataset()
    if _needs_utf8(preset.configuration_information):
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageDisplayFormat = str(preset.image_display_format)
    session = Dataset()
    session.ReferencedSOPClassUID = FILM_SESSION_SOP_CLASS
    session.ReferencedSOPInstanceUID = session_uid
    ds.ReferencedFilmSessionSequence = [session]
    for keyword, value in (
        ("FilmOrientation", preset.film_orientation),
        ("FilmSizeID", preset.film_size),
        ("MagnificationType", preset.magnification),
        ("SmoothingType", preset.smoothing),
        ("BorderDensity", preset.border_density),
        ("EmptyImageDensity", preset.empty_image_density),
        ("Trim", preset.trim),
        ("ConfigurationInformation", preset.configuration_information),
    ):
        if value:
            setattr(ds, keyword, value)
    if preset.min_density is not None:
        ds.MinDensity = preset.min_density
    if preset.max_density is not None:
        ds.MaxDensity = preset.max_density
    return ds


def image_box_dataset(pixels: np.ndarray, position: int, preset: PrintPreset) -> Dataset:
    """The Image Box N-SET attribute list (PS3.4 H.4.3.1.2.1, PS3.3 C.13.5).

    Grayscale: Basic Grayscale Image Sequence, MONOCHROME2, 8 bits (8/8/7) or 12 bits in 16
    (16/12/11). Color (``pixels`` shaped (rows, columns, 3)): Basic Color Image Sequence,
    RGB, 8 bits, Planar Configuration 1 (color-by-plane, required by C.13.5). Square pixels,
    so no Pixel Aspect Ratio.
    """
    item = Dataset()
    rows, columns = pixels.shape[:2]
    color = pixels.ndim == 3
    item.SamplesPerPixel = 3 if color else 1
    item.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        item.PlanarConfiguration = 1
    item.Rows = rows
    item.Columns = columns
    wide = pixels.dtype == np.uint16
    item.BitsAllocated = 16 if wide else 8
    item.BitsStored = 12 if wide else 8
    item.HighBit = 11 if wide else 7
    item.PixelRepresentation = 0
    if color:
        data = np.ascontiguousarray(pixels.transpose(2, 0, 1)).tobytes()
    else:
        data = np.ascontiguousarray(pixels, dtype="<u2" if wide else np.uint8).tobytes()
    item.add_new(0x7FE00010, "OW" if wide else "OB", data)
    ds = Dataset()
    ds.ImageBoxPosition = position
    if preset.polarity:
        ds.Polarity = preset.polarity
    if color:
        ds.BasicColorImageSequence = [item]
    else:
        ds.BasicGrayscaleImageSequence = [item]
    return ds


# --------------------------------------------------------------------------- the session


class _Session:
    """One association's print messages, each answer checked before the next is sent."""

    def __init__(
        self, association: Association, destination: Destination, meta: str, notes: list[str]
    ) -> None:
        self.association = association
        self.peer = destination.address
        self.meta = meta
        self.notes = notes

    def check(
        self, status: Dataset, what: str, *, fatal: bool = True, sent: Dataset | None = None
    ) -> bool:
        """True on success or warning; raises (or with ``fatal=False`` returns False) on a
        refusal, and always raises when there was no answer. A refusal names the values of
        ``sent`` (the printer may not take one of the preset's values)."""
        if "Status" not in status:
            raise DeliveryError(
                f"print to {self.peer}: {what}: no answer (association aborted or timed out)",
                transient=True,
            )
        code = int(status.Status)
        kind, meaning = print_status_meaning(code)
        comment = str(status.get("ErrorComment", "") or "").strip()
        words = f"0x{code:04X} {meaning}" + (f": {comment}" if comment else "")
        if kind is PrintStatusKind.SUCCESS:
            return True
        if kind is PrintStatusKind.WARNING:
            log.warning("print to %s: %s: %s", self.peer, what, words)
            self.notes.append(f"{what}: {words}")
            return True
        if not fatal:
            log.info("print to %s: %s refused: %s", self.peer, what, words)
            return False
        values = _summary(sent) if sent is not None else ""
        raise DeliveryError(
            f"print to {self.peer}: {what} refused: {words}"
            + (f" (sent {values}; does the printer take these values?)" if values else ""),
            transient=kind is PrintStatusKind.TRANSIENT,
        )

    def printer_status(self) -> str:
        """N-GET the Printer (optional for the SCU, PS3.4 H.4.6.2.1): a refusal is noted."""
        status, attributes = self.association.send_n_get(
            _PRINTER_TAGS, PRINTER_SOP_CLASS, PRINTER_INSTANCE, meta_uid=self.meta
        )
        if not self.check(status, "N-GET Printer", fatal=False) or attributes is None:
            self.notes.append("the printer did not report its status")
            return ""
        state = str(attributes.get("PrinterStatus", "") or "").strip().upper()
        info = str(attributes.get("PrinterStatusInfo", "") or "").strip()
        if state == "FAILURE":
            raise DeliveryError(
                f"print to {self.peer}: the printer reports FAILURE ({info or 'no details'}); "
                "the job waits until it is ready",
                transient=True,
            )
        if state == "WARNING":
            note = f"the printer reports WARNING ({info or 'no details'})"
            log.warning("print to %s: %s", self.peer, note)
            self.notes.append(note)
        return state

    def create_session(self, preset: PrintPreset) -> str:
        uid = generate_uid()
        dataset = film_session_dataset(preset)
        status, _ = self.association.send_n_create(
            dataset, FILM_SESSION_SOP_CLASS, uid, meta_uid=self.meta
        )
        self.check(status, "N-CREATE Film Session", sent=dataset)
        return uid

    def create_film_box(
        self, preset: PrintPreset, session_uid: str, needed: int, number: int
    ) -> tuple[str, list[tuple[str, str]]]:
        uid = generate_uid()
        what = f"N-CREATE Film Box {number}"
        dataset = film_box_dataset(preset, session_uid)
        status, attributes = self.association.send_n_create(
            dataset, FILM_BOX_SOP_CLASS, uid, meta_uid=self.meta
        )
        self.check(status, what, sent=dataset)
        items = (attributes or Dataset()).get("ReferencedImageBoxSequence") or []
        boxes = [
            (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
            for item in items
            if "ReferencedSOPClassUID" in item and "ReferencedSOPInstanceUID" in item
        ]
        if len(boxes) < needed:
            raise DeliveryError(
                f"print to {self.peer}: {what}: the printer made {len(boxes)} image boxes for "
                f"{preset.display_format}, {needed} are needed",
                transient=False,
            )
        return uid, boxes

    def set_image_box(
        self, box: tuple[str, str], pixels: np.ndarray, position: int, preset: PrintPreset
    ) -> None:
        sop_class, sop_uid = box
        wanted = COLOR_IMAGE_BOX if pixels.ndim == 3 else GRAYSCALE_IMAGE_BOX
        if sop_class != wanted:
            raise DeliveryError(
                f"print to {self.peer}: image box {position} is of SOP class {sop_class}, "
                f"expected {wanted}",
                transient=False,
            )
        status, _ = self.association.send_n_set(
            image_box_dataset(pixels, position, preset), sop_class, sop_uid, meta_uid=self.meta
        )
        self.check(status, f"N-SET Image Box {position}")

    def print_and_delete(self, film_box_uid: str, number: int) -> None:
        status, _ = self.association.send_n_action(
            None, PRINT_ACTION, FILM_BOX_SOP_CLASS, film_box_uid, meta_uid=self.meta
        )
        self.check(status, f"N-ACTION print Film Box {number}")
        status = self.association.send_n_delete(
            FILM_BOX_SOP_CLASS, film_box_uid, meta_uid=self.meta
        )
        self.check(status, f"N-DELETE Film Box {number}")


def _summary(dataset: Dataset) -> str:
    """``Keyword=value, ...`` of the plain attributes of ``dataset`` (sequences left out)."""
    return ", ".join(
        f"{element.keyword}={element.value}"
        for element in dataset
        if element.VR != "SQ" and element.keyword != "SpecificCharacterSet"
    )


def _accepted(association: Association) -> set[str]:
    return {str(context.abstract_syntax) for context in association.accepted_contexts}


def print_films(
    factory: AssociationFactory,
    destination: Destination,
    images: Sequence[Path],
    preset: PrintPreset,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> PrintOutcome:
    """Print ``images`` in order on films laid out by ``preset``, over one association.

    Parameters
    ----------
    progress
        Called with (images set, images in all) after each image box.

    Raises
    ------
    DeliveryError
        Permanent for an invalid preset or a file that cannot be printed (before any
        connection), for refusals such as an image too large (0xC603) or a peer rejecting
        the association permanently; transient when the printer is unreachable, reports
        FAILURE (no film, film jam ...), runs out of resources or stops answering.
    """
    peer = destination.address
    if not images:
        raise DeliveryError(f"print to {peer}: no images to print", transient=False)
    try:
        preset = preset.normalized()
        decoded = _load(images)
        films = _render(decoded, preset)
    except ValueError as exc:
        raise DeliveryError(f"print to {peer}: {exc}", transient=False) from None
    total = len(decoded)
    notes: list[str] = []
    contexts = [GRAYSCALE_META, COLOR_META] if preset.color else [GRAYSCALE_META]
    done = 0
    try:
        with factory.associate(destination, contexts, peer_sends_requests=False) as association:
            accepted = _accepted(association)
            color = preset.color and COLOR_META in accepted
            if not color and GRAYSCALE_META not in accepted:
                raise DeliveryError(
                    f"print to {peer}: the printer accepted neither print management meta "
                    "SOP class",
                    transient=False,
                )
            if preset.color and not color:
                log.warning("print to %s: %s", peer, COLOR_REFUSED_NOTE)
                notes.append(COLOR_REFUSED_NOTE)
                preset = preset.with_overrides(color=False)
                films = _render(decoded, preset)
            session = _Session(
                association, destination, COLOR_META if color else GRAYSCALE_META, notes
            )
            printer_status = session.printer_status()
            session_uid = session.create_session(preset)
            for number, boxes in enumerate(films, start=1):
                film_box_uid, image_boxes = session.create_film_box(
                    preset, session_uid, len(boxes), number
                )
                for position, pixels in enumerate(boxes, start=1):
                    session.set_image_box(image_boxes[position - 1], pixels, position, preset)
                    done += 1
                    if progress is not None:
                        progress(done, total)
                session.print_and_delete(film_box_uid, number)
    except AssociationFailed as exc:
        text = str(exc)
        raise DeliveryError(
            f"print to {peer}: {text}", transient=_association_transient(text)
        ) from None
    except RuntimeError as exc:  # pynetdicom: the peer ended the association between messages
        raise DeliveryError(
            f"print to {peer}: the association ended before the job was done ({exc})",
            transient=True,
        ) from None
    return PrintOutcome(
        films=len(films), images=total, color=color, printer_status=printer_status, notes=notes
    )


# --------------------------------------------------------------------------- outbox jobs


_DEFAULT_PRESET = PrintPreset()
_PRESET_KEYS = tuple(f.name for f in fields(PrintPreset))


def print_job_payload(images: Sequence[Path], preset: PrintPreset) -> dict[str, Any]:
    """The JSON payload of a print job: absolute image paths and the preset's values that
    differ from :class:`PrintPreset` defaults (they override the destination's preset when
    the job runs).

    Raises
    ------
    ValueError
        For no images or an invalid preset (checked now, so a bad request fails at enqueue).
    """
    if not images:
        raise ValueError("print job: no images to print")
    preset = preset.normalized()
    changed = {
        key: getattr(preset, key)
        for key in _PRESET_KEYS
        if getattr(preset, key) != getattr(_DEFAULT_PRESET, key)
    }
    return {
        "version": PAYLOAD_VERSION,
        "images": [str(Path(path).absolute()) for path in images],
        "preset": changed,
    }


def print_job_key() -> str:
    """A fresh outbox ``sop_uid`` key: each print request prints once (not a duplicate of an
    earlier request of the same images)."""
    return f"print:{uuid.uuid4()}"


def print_job_request(
    payload: Mapping[str, Any], base: PrintPreset
) -> tuple[list[Path], PrintPreset]:
    """The images and the preset of a print job: ``base`` (the printer's preset) with the
    payload's values (:func:`print_job_payload`) applied.

    Raises
    ------
    DeliveryError
        Permanent, for a payload this izer cannot read, an invalid preset, or image files
        that no longer exist (naming them).
    """
    version = payload.get("version")
    if version != PAYLOAD_VERSION:
        raise DeliveryError(
            f"print job: payload version {version!r}, this izer reads {PAYLOAD_VERSION}",
            transient=False,
        )
    images = payload.get("images")
    overrides = payload.get("preset") or {}
    if not isinstance(images, list) or not images or not all(isinstance(i, str) for i in images):
        raise DeliveryError("print job: the payload lists no images", transient=False)
    if not isinstance(overrides, dict):
        raise DeliveryError("print job: the payload's preset is not a mapping", transient=False)
    try:
        preset = base.with_overrides(**overrides)
    except (ValueError, TypeError) as exc:
        raise DeliveryError(f"print job: {exc}", transient=False) from None
    paths = [Path(image) for image in images]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DeliveryError(
            "print job: image file(s) no longer exist: " + ", ".join(missing), transient=False
        )
    return paths, preset


def print_job_handler(
    resolve_destination: Callable[[str], Destination],
    resolve_preset: Callable[[Destination], PrintPreset],
    factory: AssociationFactory,
    *,
    on_outcome: Callable[[Job, PrintOutcome], None] | None = None,
) -> Handler:
    """An outbox :data:`~izer.dispatch.outbox.Handler` for :attr:`JobKind.PRINT` jobs.

    ``resolve_destination`` maps the job's destination name to its settings (a ``KeyError``
    or ``ValueError`` fails the job permanently); ``resolve_preset`` gives that destination's
    preset, which the payload's values override. Missing image files fail the job
    permanently, naming them. Progress is reported in images, not bytes. ``on_outcome``
    hears what each job that ended well did (films, colour, notes).
    """

    def handle(job: Job, progress: Callable[[int, int], None]) -> None:
        progress(0, 0)  # lets a cancelled job stop before anything is sent
        try:
            destination = resolve_destination(job.destination)
        except (KeyError, ValueError) as exc:
            raise DeliveryError(
                f"print: no destination {job.destination!r} in the settings ({exc})",
                transient=False,
            ) from None
        images, preset = print_job_request(job.payload, resolve_preset(destination))
        outcome = print_films(factory, destination, images, preset, progress=progress)
        log.info(
            "print to %s: %d film(s), %d image(s), %s%s",
            destination.name,
            outcome.films,
            outcome.images,
            "color" if outcome.color else "grayscale",
            "".join(f"; {note}" for note in outcome.notes),
        )
        if on_outcome is not None:
            on_outcome(job, outcome)

    return handle


__all__ = [
    "COLOR_META",
    "COLOR_REFUSED_NOTE",
    "GRAYSCALE_META",
    "PRINT_STATUSES",
    "PrintOutcome",
    "PrintStatusKind",
    "film_box_dataset",
    "film_session_dataset",
    "image_box_dataset",
    "print_films",
    "print_job_handler",
    "print_job_key",
    "print_job_payload",
    "print_job_request",
    "print_status_meaning",
    "render_films",
]
