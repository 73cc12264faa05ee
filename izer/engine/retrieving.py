"""Querying a Q/R archive and pulling studies into the local store (PS3.4 Annex C).

:class:`RetrieveController` (``engine.retrieve``) finds studies, series and instances on a
query source (a DICOM destination with role ``query``) and retrieves them:

- :meth:`~RetrieveController.move`: C-MOVE to izer's own AE title. izer's listener must take
  the instances: if ``[listener] port`` is free, a temporary listener (storage on) runs for
  the retrieve; if it is taken (``izer serve`` runs and files them), the C-MOVE is only sent.
- :meth:`~RetrieveController.get`: C-GET; the instances come back on the same association.

Either way the store is checked afterwards against the instances the archive listed (IMAGE
level C-FIND before the retrieve) or, when it could not list them, the count of the final
response; the report names the instances that are missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from izer.config import Destination, DestinationKind, Role
from izer.engine.receiving import ReceiveHandler
from izer.net import AssociationFailed
from izer.worklist.mwl import FindFailed
from izer.worklist.qr_find import (
    InstanceMatch,
    QueryLevel,
    SeriesMatch,
    find_instances,
    find_series,
)
from izer.worklist.query import QueryResult, StudyMatch, find_studies
from izer.worklist.retrieve import (
    FIND_MODELS,
    GET_MODELS,
    GET_STORAGE_CLASSES,
    MOVE_MODELS,
    RetrieveFailed,
    RetrieveProgress,
    RetrieveResult,
    RetrieveStatus,
    get,
    move,
)

if TYPE_CHECKING:
    from izer.engine.core import Engine

log = logging.getLogger(__name__)

__all__ = [
    "FIND_MODELS",
    "GET_MODELS",
    "GET_STORAGE_CLASSES",
    "MOVE_MODELS",
    "AssociationFailed",
    "FindFailed",
    "InstanceMatch",
    "QueryLevel",
    "QueryResult",
    "RetrieveController",
    "RetrieveFailed",
    "RetrieveProgress",
    "RetrieveReport",
    "RetrieveResult",
    "RetrieveStatus",
    "SeriesMatch",
    "StudyMatch",
]


@dataclass(frozen=True)
class RetrieveReport:
    """What one retrieve brought into the local store.

    Attributes
    ----------
    source
        Name of the query source.
    study_uid, series_uid
        What was asked for.
    result
        The final C-MOVE / C-GET response.
    expected
        SOP Instance UIDs the source listed before the retrieve (empty when it could not).
    stored
        SOP Instance UIDs of the study (series) in the local store afterwards.
    missing
        Expected instances not in the store; or, when nothing could be listed, a count
        (``missing_count``) of instances the final response announced but the store lacks.
    method
        ``"C-MOVE"`` or ``"C-GET"``; ``listener`` says how a C-MOVE was received.
    """

    source: str
    study_uid: str
    series_uid: str
    result: RetrieveResult
    expected: tuple[str, ...]
    stored: tuple[str, ...]
    missing: tuple[str, ...]
    missing_count: int
    method: str
    listener: str = ""

    @property
    def complete(self) -> bool:
        """True when nothing is missing and no sub-operation failed."""
        return not self.missing_count and not self.result.failed


class RetrieveController:
    """Q/R SCU of the engine: :meth:`find`, :meth:`move`, :meth:`get` (see module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def sources(self) -> list[Destination]:
        """The configured DICOM destinations with role ``query``."""
        return [
            d
            for d in self._engine.settings.destinations
            if Role.QUERY in d.roles and d.kind is DestinationKind.DICOM
        ]

    def source(self, name: str | Destination | None = None) -> Destination:
        """The query source ``name`` (configured name or ``AET@host:port``), or the only one;
        a :class:`Destination` is taken as it is.

        Raises
        ------
        ValueError
            When none is configured, several are and none is named, or ``name`` is unknown,
            not a query source or not DICOM; the message lists the configured query sources.
        """
        if isinstance(name, Destination):
            return name
        sources = self.sources()
        known = ", ".join(d.name for d in sources) or "none"
        if name is None:
            if len(sources) == 1:
                return sources[0]
            if not sources:
                raise ValueError(
                    'no query source is configured: give a destination roles = ["query"] '
                    "(a Q/R archive), or name one as AET@host:port"
                )
            raise ValueError(f"several query sources are configured ({known}): name one")
        configured = self._engine.settings.destination(name)
        if configured is not None:
            if configured.kind is not DestinationKind.DICOM:
                raise ValueError(
                    f"{name} is a {configured.kind.value} destination, not a DICOM Q/R "
                    f"archive; query sources: {known}"
                )
            if Role.QUERY not in configured.roles:
                raise ValueError(
                    f'{name} has no role "query" (its roles: '
                    f"{', '.join(r.value for r in configured.roles)}); add it, or use one of "
                    f"the query sources: {known}"
                )
            return configured
        try:
            return self._engine.destination(name)
        except ValueError as exc:
            raise ValueError(f"{exc}; query sources: {known}") from None

    def find(
        self, source: str | Destination | None, level: QueryLevel | str, **keys: str
    ) -> QueryResult[StudyMatch] | QueryResult[SeriesMatch] | QueryResult[InstanceMatch]:
        """C-FIND at ``level`` (STUDY, SERIES or IMAGE) on a query source.

        Keys: STUDY as :func:`~izer.worklist.query.find_studies` (``patient_id``, ``name``,
        ``birth_date``, ``accession``, ``study_date``, ``study_uid``); SERIES ``study_uid``
        and optionally ``modality``, ``series_uid``; IMAGE ``study_uid`` and ``series_uid``.

        Raises
        ------
        ValueError
            For an unknown source or level, or a malformed key.
        AssociationFailed, FindFailed
            When the source cannot be reached or refuses the query.
        """
        destination = self.source(source)
        engine = self._engine
        common: dict = {
            "limit": engine.settings.worklist.result_cap,
            "fallback_charset": engine.settings.worklist.fallback_charset,
            "character_set": engine.settings.station.character_set,
        }
        try:
            chosen = QueryLevel(str(level).upper())
        except ValueError:
            levels = ", ".join(member.value for member in QueryLevel)
            raise ValueError(f"query level {level!r}: use one of {levels}") from None
        if chosen is QueryLevel.STUDY:
            return find_studies(engine.associations, destination, **keys, **common)
        study_uid = keys.pop("study_uid", "")
        if chosen is QueryLevel.SERIES:
            return find_series(engine.associations, destination, study_uid, **keys, **common)
        series_uid = keys.pop("series_uid", "")
        if keys:
            raise ValueError(f"IMAGE level takes only study_uid and series_uid, not {set(keys)}")
        return find_instances(engine.associations, destination, study_uid, series_uid, **common)

    def move(
        self,
        source: str | Destination | None,
        study_uid: str,
        series_uid: str = "",
        progress: Callable[[RetrieveProgress], None] | None = None,
    ) -> RetrieveReport:
        """C-MOVE a study (or one series) from ``source`` to izer's AE title and check it
        arrived (see the module docstring for the listener).

        Raises
        ------
        ValueError
            For an unknown source or a malformed UID.
        AssociationFailed, RetrieveFailed
            When the source cannot be reached or refuses the retrieve (0xA801: it does not
            know izer's AE title; the message says what to add).
        """
        destination = self.source(source)
        engine = self._engine
        expected = self._expected(destination, study_uid, series_uid)
        station_aet = engine.settings.station.ae_title
        configured = engine.settings.listener
        allowed = configured.allowed_calling_aets
        listener = engine.listener(
            allowed_calling_aets=(*allowed, destination.ae_title) if allowed else (),
            storage=True,
            auto_export=False,
        )
        try:
            listener.start()
        except OSError as exc:
            log.info(
                "port %d is taken (%s): the C-MOVE goes to the izer listening there",
                configured.port,
                exc.strerror or exc,
            )
            how = f"the listener already running on port {configured.port}"
            started = False
        else:
            how = f"a temporary listener on port {listener.port}"
            started = True
        try:
            result = move(
                engine.associations,
                destination,
                station_aet,
                study_uid=study_uid,
                series_uid=series_uid,
                progress=progress,
                listener_port=configured.port,
            )
        finally:
            if started:
                listener.stop()
        return self._report(destination, study_uid, series_uid, result, expected, "C-MOVE", how)

    def get(
        self,
        source: str | Destination | None,
        study_uid: str,
        series_uid: str = "",
        progress: Callable[[RetrieveProgress], None] | None = None,
    ) -> RetrieveReport:
        """C-GET a study (or one series) from ``source`` into the local store.

        Raises
        ------
        ValueError
            For an unknown source or a malformed UID.
        AssociationFailed, RetrieveFailed
            When the source cannot be reached or refuses the retrieve.
        """
        destination = self.source(source)
        engine = self._engine
        expected = self._expected(destination, study_uid, series_uid)
        syntaxes = engine.settings.listener.transfer_syntaxes
        classes = [uid for uid in expected.values() if uid]
        result = get(
            engine.associations,
            destination,
            ReceiveHandler(engine, auto_export=False),
            study_uid=study_uid,
            series_uid=series_uid,
            progress=progress,
            sop_classes=classes if len(classes) == len(expected) else (),
            **({"transfer_syntaxes": syntaxes} if syntaxes else {}),
        )
        return self._report(destination, study_uid, series_uid, result, expected, "C-GET")

    def _expected(
        self, destination: Destination, study_uid: str, series_uid: str
    ) -> dict[str, str]:
        """SOP Instance UID -> SOP Class UID ("" if not returned) of each instance the source
        lists for the study (series); empty when it cannot list them."""
        engine = self._engine
        try:
            if series_uid:
                series = [series_uid]
            else:
                found = find_series(engine.associations, destination, study_uid)
                series = [m.series_instance_uid for m in found.matches]
            return {
                match.sop_instance_uid: match.sop_class_uid
                for uid in series
                for match in find_instances(
                    engine.associations, destination, study_uid, uid
                ).matches
            }
        except (AssociationFailed, FindFailed, ValueError) as exc:
            # ValueError: the archive answered a UID izer cannot query with (a malformed
            # user-given UID is refused again, clearly, by the retrieve itself).
            log.warning(
                "%s did not list the instances of %s (%s): the retrieve is checked by count",
                destination.name,
                study_uid,
                exc,
            )
            return {}

    def _report(
        self,
        destination: Destination,
        study_uid: str,
        series_uid: str,
        result: RetrieveResult,
        expected: dict[str, str],
        method: str,
        how: str = "",
    ) -> RetrieveReport:
        stored = {
            record.sop_instance_uid
            for record in self._engine.store.instances(study_uid)
            if not series_uid or record.series_instance_uid == series_uid
        }
        if expected:
            missing = tuple(sorted(set(expected) - stored))
            count = len(missing)
        else:
            missing = ()
            count = max(0, result.retrieved - len(stored))
        report = RetrieveReport(
            source=destination.name,
            study_uid=study_uid,
            series_uid=series_uid,
            result=result,
            expected=tuple(sorted(expected)),
            stored=tuple(sorted(stored & set(expected) if expected else stored)),
            missing=missing,
            missing_count=count,
            method=method,
            listener=how,
        )
        if count:
            log.warning(
                "%s of %s from %s: %d instance(s) not in the local store%s",
                method,
                study_uid,
                destination.name,
                count,
                f": {', '.join(missing)}" if missing else "",
            )
        return report
