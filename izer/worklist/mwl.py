"""Modality Worklist C-FIND SCU (PS3.4 Annex K; matching rules PS3.4 C.2.2.2).

Matching keys izer sends, with the matching types it allows (C.2.2.2.1-4):

========================================  ==========================
Scheduled Station AE Title (0040,0001)    single value
SPS Start Date (0040,0002) [+ Time]       range (or single value)
Modality (0008,0060)                      single value
Accession Number (0008,0050)              single value or wildcard
Patient's Name (0010,0010)                single value or wildcard
Patient ID (0010,0020)                    single value or wildcard
Patient's Birth Date (0010,0030)          range (or single value)
Patient's Sex (0010,0040)                 single value
========================================  ==========================

An empty key is universal matching. Every other attribute izer reads is sent empty as a
return key. (0008,0005) is always sent, so that the provider knows how to read the keys.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import ModalityWorklistInformationFind

from izer.config import Destination
from izer.config.settings import CHARACTER_SETS
from izer.config.validate import ae_title_problem
from izer.model import Sensitive, Sex
from izer.net import AssociationFactory, AssociationFailed
from izer.worklist.charsets import CharsetWarning, decode_response, peek_text
from izer.worklist.items import WorklistItem, WorklistItemError

log = logging.getLogger(__name__)

#: Status codes of a C-FIND response (PS3.4 C.4.1.1.4, PS3.7 C.4.1).
_PENDING = frozenset({0xFF00, 0xFF01})
_SUCCESS = 0x0000
_CANCEL = 0xFE00

_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_WILDCARDS = frozenset("*?")


class WorklistError(RuntimeError):
    """No worklist could be fetched (every provider failed); the message names each one."""


class FindFailed(RuntimeError):
    """A provider answered a C-FIND with a failure status, or broke off."""


def _check_range(name: str, value: str, pattern: re.Pattern[str], example: str) -> None:
    """Check a range-matching value: ``A``, ``A-B``, ``-B`` or ``A-`` (PS3.4 C.2.2.2.5)."""
    if not value:
        return
    parts = value.split("-")
    if len(parts) > 2 or not any(parts) or any(p and not pattern.match(p) for p in parts):
        raise ValueError(
            f"{name} {value!r}: use a single value or a range A-B, -B or A- (e.g. {example})"
        )
    if len(parts) == 2 and all(parts) and parts[0] > parts[1]:
        raise ValueError(f"{name} {value!r}: the range ends before it starts")


def _check_single(name: str, value: str) -> None:
    if _WILDCARDS & set(value):
        raise ValueError(f"{name} {value!r}: wildcards are not allowed here (single value only)")
    if "\\" in value:
        raise ValueError(f"{name} {value!r}: one value only (no backslash)")


@dataclass(frozen=True)
class WorklistQuery:
    """The matching keys of one worklist query; empty means universal matching.

    Parameters
    ----------
    station_ae_title
        Scheduled Station AE Title, single value.
    start_date
        SPS Start Date: ``YYYYMMDD`` or a range ``YYYYMMDD-YYYYMMDD`` (open ends allowed).
    start_time
        SPS Start Time, range like ``start_date`` (``HHMMSS``), sent only with a date.
    modality
        Modality, single value (e.g. ``ES``).
    accession_number, patient_name, patient_id
        Single value or wildcard (``*``, ``?``; PS3.4 C.2.2.2.4). A name without wildcard is
        matched exactly; the nurse's "type to filter" adds a trailing ``*``.
    birth_date
        Patient's Birth Date, single value or range.
    sex
        Patient's Sex, single value; ``None`` for universal.
    character_set
        Specific Character Set (0008,0005) of the query; always sent.
    """

    station_ae_title: str = ""
    start_date: str = ""
    start_time: str = ""
    modality: str = ""
    accession_number: str = ""
    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: Sex | None = None
    character_set: str = "ISO_IR 192"

    def __post_init__(self) -> None:
        if self.station_ae_title:
            _check_single("Scheduled Station AE Title", self.station_ae_title)
            if problem := ae_title_problem(self.station_ae_title):
                raise ValueError(f"Scheduled Station AE Title: {problem}")
        _check_single("Modality", self.modality)
        if self.modality and not re.fullmatch(r"[A-Z0-9_ ]{1,16}", self.modality):
            raise ValueError(f"Modality {self.modality!r}: use a code such as ES, XC or OT")
        _check_range("SPS Start Date", self.start_date, _DATE, "20240501-20240531")
        _check_range("SPS Start Time", self.start_time, _TIME, "080000-120000")
        if self.start_time and not self.start_date:
            raise ValueError("SPS Start Time needs an SPS Start Date (they match together)")
        _check_range("Patient's Birth Date", self.birth_date, _DATE, "19700101-19791231")
        for name, value, limit in (
            ("Accession Number", self.accession_number, 16),
            ("Patient ID", self.patient_id, 64),
            ("Patient's Name", self.patient_name, 64 * 3 + 2),
        ):
            if "\\" in value:
                raise ValueError(f"{name} {value!r}: one value only (no backslash)")
            if len(value) > limit:
                raise ValueError(f"{name}: at most {limit} characters ({len(value)} given)")
        if self.character_set not in CHARACTER_SETS:
            raise ValueError(
                f"character set {self.character_set!r} is not one izer knows; use one of "
                f"{', '.join(sorted(CHARACTER_SETS))}"
            )

    @classmethod
    def default_for(
        cls, station_ae: str, modality: str, today: dt.date, *, character_set: str = "ISO_IR 192"
    ) -> WorklistQuery:
        """The nurse's default: today, this station's AE title, this modality (users.md §3)."""
        return cls(
            station_ae_title=station_ae,
            start_date=today.strftime("%Y%m%d"),
            modality=modality,
            character_set=character_set,
        )

    def identifier(self) -> Dataset:
        """The C-FIND identifier: these matching keys and every return key izer reads
        (PS3.4 Table K.6-1)."""
        ds = Dataset()
        ds.SpecificCharacterSet = _charset_value(self.character_set)
        ds.AccessionNumber = self.accession_number
        ds.IssuerOfAccessionNumberSequence = []
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = ""
        ds.ReferencedStudySequence = []
        ds.PatientName = self.patient_name
        ds.PatientID = self.patient_id
        ds.IssuerOfPatientID = ""
        ds.PatientBirthDate = self.birth_date
        ds.PatientSex = self.sex.value if self.sex is not None else ""
        ds.OtherPatientIDsSequence = []
        ds.StudyInstanceUID = ""
        ds.RequestingPhysician = ""
        ds.RequestedProcedureDescription = ""
        ds.RequestedProcedureCodeSequence = []
        ds.AdmissionID = ""
        ds.RequestedProcedureID = ""
        ds.RequestedProcedurePriority = ""
        step = Dataset()
        step.Modality = self.modality
        step.ScheduledStationAETitle = self.station_ae_title
        step.ScheduledProcedureStepStartDate = self.start_date
        step.ScheduledProcedureStepStartTime = self.start_time
        step.ScheduledPerformingPhysicianName = ""
        step.ScheduledProcedureStepDescription = ""
        step.ScheduledStationName = ""
        step.ScheduledProcedureStepLocation = ""
        step.ScheduledProtocolCodeSequence = []
        step.ScheduledProcedureStepID = ""
        step.ScheduledProcedureStepStatus = ""
        ds.ScheduledProcedureStepSequence = [step]
        return ds


def _charset_value(name: str) -> str | list[str]:
    """(0008,0005) for ``name``: code-extension sets get ISO-IR 6 as value 1 (PS3.5 6.1.2.5)."""
    return ["", name] if name.startswith("ISO 2022") else name


@dataclass(frozen=True)
class ProviderError:
    """One provider that failed: its name and why."""

    provider: str
    message: str

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


@dataclass(frozen=True)
class WorklistResult:
    """Items found, character-set warnings, whether the cap cut the list, and failures."""

    items: tuple[WorklistItem, ...]
    warnings: tuple[CharsetWarning, ...] = ()
    truncated: bool = False
    errors: tuple[ProviderError, ...] = ()
    skipped: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class FindOutcome:
    """Decoded identifiers of one C-FIND, their warnings and whether it was cut short."""

    datasets: tuple[Dataset, ...]
    warnings: tuple[CharsetWarning, ...]
    truncated: bool


_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_saved: tuple[bool, bool] = (True, True)


@contextmanager
def _identifiers_unlogged() -> Iterator[None]:
    """Keep pynetdicom from pretty-printing C-FIND identifiers while izer queries.

    They hold patient data (never logged at INFO), and printing them decodes their text
    before :func:`~izer.worklist.charsets.decode_response` can check it (and costs time
    per response). Counted, so that overlapping queries restore the flags once.
    """
    global _quiet_users, _quiet_saved
    with _quiet_lock:
        if _quiet_users == 0:
            _quiet_saved = (
                pynetdicom_config.LOG_REQUEST_IDENTIFIERS,
                pynetdicom_config.LOG_RESPONSE_IDENTIFIERS,
            )
            pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
            pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0:
                (
                    pynetdicom_config.LOG_REQUEST_IDENTIFIERS,
                    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS,
                ) = _quiet_saved


def run_find(
    factory: AssociationFactory,
    destination: Destination,
    model: str,
    identifier: Dataset,
    *,
    limit: int | None = None,
    fallback_charset: str = "ISO_IR 100",
) -> FindOutcome:
    """One C-FIND on its own association; C-CANCEL once ``limit`` matches arrived.

    Raises
    ------
    AssociationFailed
        When the association cannot be opened.
    FindFailed
        When the provider answers with a failure status or no final status.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"result cap {limit}: use 1 or more, or no cap")
    datasets: list[Dataset] = []
    problems: list[CharsetWarning] = []
    truncated = cancelled = False
    final: int | None = None
    with (
        _identifiers_unlogged(),
        factory.associate(destination, [model], peer_sends_requests=False) as association,
    ):
        for status, found in association.send_c_find(identifier, model):
            if not status:
                raise FindFailed(
                    f"{destination.name}: no C-FIND response (timed out or connection lost)"
                )
            code = int(status.Status)
            if code in _PENDING:
                if found is None:
                    continue
                if limit is not None and len(datasets) >= limit:
                    truncated = True  # arrived before the SCP saw the C-CANCEL
                    continue
                label = f"{destination.name} response {len(datasets) + 1}"
                if accession := peek_text(found, "AccessionNumber"):
                    label += f" (accession {accession})"
                decoded = decode_response(found, fallback_charset, item=label)
                datasets.append(decoded.dataset)
                problems.extend(decoded.warnings)
                if limit is not None and len(datasets) >= limit and not cancelled:
                    association.send_c_cancel(1, query_model=model)
                    cancelled = True
                continue
            final = code
        if final == _CANCEL:
            truncated = True
        elif final != _SUCCESS:
            shown = "none" if final is None else f"0x{final:04X}"
            comment = ""
            raise FindFailed(
                f"{destination.name} answered the C-FIND with status {shown}{comment}; "
                "check that it offers this query model and accepts izer's calling AE title"
            )
    return FindOutcome(tuple(datasets), tuple(problems), truncated)


def find_worklist(
    factory: AssociationFactory,
    destination: Destination,
    query: WorklistQuery,
    *,
    limit: int | None = None,
    fallback_charset: str = "ISO_IR 100",
) -> WorklistResult:
    """Query one worklist provider.

    Responses that are no usable item (no Scheduled Procedure Step Sequence) are skipped and
    listed in ``skipped``.

    Raises
    ------
    AssociationFailed, FindFailed
        When the provider cannot be reached or refuses the query.
    """
    outcome = run_find(
        factory,
        destination,
        ModalityWorklistInformationFind,
        query.identifier(),
        limit=limit,
        fallback_charset=fallback_charset,
    )
    items: list[WorklistItem] = []
    skipped: list[str] = []
    for dataset in outcome.datasets:
        try:
            items.append(WorklistItem.from_dataset(dataset, provider=destination.name))
        except WorklistItemError as exc:
            skipped.append(str(exc))
    log.info(
        "worklist from %s: %d item(s)%s", destination.name, len(items),
        " (capped)" if outcome.truncated else "",
    )  # fmt: skip
    for warning in outcome.warnings:
        log.warning("worklist character set: %s", Sensitive(str(warning)))
    return WorklistResult(
        items=tuple(items),
        warnings=outcome.warnings,
        truncated=outcome.truncated,
        skipped=tuple(skipped),
    )


def find_worklist_all(
    factory: AssociationFactory,
    destinations: Sequence[Destination],
    query: WorklistQuery,
    *,
    limit: int | None = None,
    fallback_charset: str = "ISO_IR 100",
) -> WorklistResult:
    """Query several providers at once and merge their items.

    Items are de-duplicated by (Accession Number, SPS ID), the first provider in
    ``destinations`` winning; a provider that fails is reported in ``errors``.

    Raises
    ------
    WorklistError
        When every provider failed (or none is given).
    """
    if not destinations:
        raise WorklistError("no worklist provider configured (a destination with role worklist)")

    def one(destination: Destination) -> WorklistResult | ProviderError:
        try:
            return find_worklist(
                factory, destination, query, limit=limit, fallback_charset=fallback_charset
            )
        except (AssociationFailed, FindFailed, OSError, RuntimeError) as exc:
            log.warning("worklist provider %s failed: %s", destination.name, exc)
            return ProviderError(destination.name, str(exc))

    with ThreadPoolExecutor(max_workers=min(8, len(destinations))) as pool:
        results = list(pool.map(one, destinations))
    errors = tuple(r for r in results if isinstance(r, ProviderError))
    if len(errors) == len(results):
        raise WorklistError("no worklist provider answered: " + "; ".join(map(str, errors)))
    answered = [r for r in results if isinstance(r, WorklistResult)]
    return WorklistResult(
        items=tuple(_merge(r.items for r in answered)),
        warnings=tuple(w for r in answered for w in r.warnings),
        truncated=any(r.truncated for r in answered),
        errors=errors,
        skipped=tuple(s for r in answered for s in r.skipped),
    )


def _merge(lists: Iterable[Iterable[WorklistItem]]) -> list[WorklistItem]:
    seen: set[tuple[str, str]] = set()
    merged: list[WorklistItem] = []
    for items in lists:
        for item in items:
            if item.key not in seen:
                seen.add(item.key)
                merged.append(item)
    return merged
