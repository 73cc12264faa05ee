"""Import from media or a folder: list, match, copy, reconcile, send.

:class:`ImportController` (``engine.importing``) follows IHE Import Reconciliation Workflow as
seen from a portable media importer:

1. :meth:`~ImportController.scan` lists the studies of a disc, stick or folder (a DICOMDIR's
   files, or every DICOM file below the folder; :mod:`izer.importing.media`).
2. :meth:`~ImportController.candidates` asks the worklist providers (a broad MWL query: any
   date, the patient's ID, the initials of the family and given names with a wildcard, the
   birth date) and the query destinations (role ``query``: Patient Root C-FIND at PATIENT
   level, PS3.4 C.6.1) for local patients, and ranks them against the media's demographics
   (:mod:`izer.importing.matching`).
3. :meth:`~ImportController.import_study` copies every file into the local store without
   touching Pixel Data; each instance gets one Contributing Equipment Sequence (0018,A001)
   item (PS3.3 C.12.1, Table C.12-1: SOP Common) whose Purpose of Reference is ``(MEDIM, DCM,
   "Portable Media Importer Equipment")`` (PS3.16 CID 7005); optionally new Study, Series and
   SOP Instance UIDs, references inside the files following them. With the local patient
   chosen, the study is reconciled (:func:`izer.engine.reconciling.reconcile_study`, reason
   COERCE: the Original Attributes Sequence keeps the media's values, PS3.3 C.12.1.1.9).
   Then the study is queued in the outbox for the destinations named.

An import is all or nothing: when a file cannot be copied or reconciled, the instances already
copied are removed again and the error names the file.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from izer import __version__
from izer.config import Destination, DestinationKind
from izer.dispatch.folder_sink import validate_layout
from izer.encode.charset import CharacterSetError, check_encodable
from izer.engine.dispatching import Job
from izer.engine.reconciling import (
    UNIVERSAL_CHARACTER_SET,
    ModificationReason,
    ReconcileReport,
    check_correction,
    modification_datetime,
    reconcile_study,
    rewrite_header,
)
from izer.importing import (
    Candidate,
    CandidateSource,
    MediaError,
    MediaScan,
    MediaStudy,
    rank,
    scan_media,
)
from izer.importing.matching import MIN_SCORE, fold
from izer.model import InstanceRecord, Patient, Sensitive
from izer.net import AssociationFailed
from izer.store import StoreError
from izer.worklist import FindFailed, WorklistError, WorklistItem, WorklistQuery
from izer.worklist.query import find_patients

if TYPE_CHECKING:
    from izer.engine.core import Engine

__all__ = [
    "CONTRIBUTION_DESCRIPTION",
    "MODIFYING_SYSTEM",
    "CandidateList",
    "ImportController",
    "ImportFailed",
    "ImportReport",
    "MediaError",
    "MediaScan",
    "MediaStudy",
]

log = logging.getLogger(__name__)

#: Modifying System (0400,0563) of the Original Attributes Sequence items an import writes.
MODIFYING_SYSTEM = "izer"
#: Contribution Description (0018,A003) of the Contributing Equipment item.
CONTRIBUTION_DESCRIPTION = "Imported from media"
#: Source of Previous Values (0400,0564) when the media names no institution.
UNKNOWN_SOURCE = "imported media"
#: Purpose of Reference of the importer (PS3.16 CID 7005 Contributing Equipment Purposes).
MEDIA_IMPORTER = ("MEDIM", "DCM", "Portable Media Importer Equipment")
#: LO values hold at most 64 characters (PS3.5 6.2).
_LO_MAX = 64


class ImportFailed(RuntimeError):
    """An import that could not be finished; nothing of the study was kept."""


class CandidateList(list[Candidate]):
    """Candidates, best first, with the providers that could not be asked (``problems``)."""

    def __init__(self, candidates: Iterable[Candidate], problems: Iterable[str] = ()) -> None:
        super().__init__(candidates)
        self.problems: tuple[str, ...] = tuple(problems)


@dataclass
class ImportReport:
    """What :meth:`ImportController.import_study` did.

    ``study_uid`` is the study's UID in the store (a new one with ``new_uids``; ``uid_map``
    then maps every media UID to its new UID). ``reconciled`` is the reconciliation's report
    (``None`` when the media's demographics were kept) and ``jobs`` the outbox jobs queued.
    """

    media: MediaStudy
    study_uid: str
    instances: list[InstanceRecord]
    uid_map: dict[str, str] = field(default_factory=dict)
    reconciled: ReconcileReport | None = None
    patient: Patient | None = None
    jobs: list[Job] = field(default_factory=list)


class ImportController:
    """Media import for one engine (see the module documentation)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- listing ----------------------------------------------------------------------------

    def scan(self, path: Path) -> MediaScan:
        """The studies of a disc, stick or folder: a DICOMDIR's files when there is one,
        else every DICOM file below ``path`` (headers only).

        The result is a list of :class:`MediaStudy`; its ``notes`` say what could not be
        used (missing or unreadable files, other files left).

        Raises
        ------
        MediaError
            When there is nothing to import (a ``ValueError``; the message says why).
        """
        scan = scan_media(Path(path))
        for note in scan.notes:
            log.warning("media %s: %s", scan.root, Sensitive(note))
        return scan

    # -- matching -----------------------------------------------------------------------------

    def candidates(
        self,
        study: MediaStudy,
        *,
        worklist: bool = True,
        query: bool = True,
        min_score: int = MIN_SCORE,
    ) -> CandidateList:
        """Local patients who may be the patient of ``study``, best first.

        Asks the worklist providers (broad queries: any date, station and modality, by the
        Patient ID, by the initial of the family and of the given name followed by ``*``,
        and by the birth date) and the query destinations (role ``query``, Patient Root
        C-FIND at PATIENT level with the same keys); then ranks what they found against the
        media's demographics. Providers that fail are listed in ``problems``; none
        configured is no problem.
        """
        wanted = study.patient
        found: list[Candidate] = []
        problems: list[str] = []
        keys = _query_keys(wanted)
        if worklist:
            try:
                providers = self._engine.worklist_providers()
            except ValueError as exc:
                providers = []
                problems.append(f"worklist: {exc}")
            if providers:
                found += self._worklist_candidates(keys, problems)
        if query:
            found += self._query_candidates(keys, problems)
        return CandidateList(rank(wanted, found, min_score=min_score), problems)

    def query_destinations(self) -> list[Destination]:
        """The configured DICOM destinations with role ``query``."""
        return self._engine.retrieve.sources()

    def _worklist_candidates(self, keys: list[_Keys], problems: list[str]) -> list[Candidate]:
        items: dict[tuple[str, str, str], WorklistItem] = {}
        failed: dict[str, str] = {}
        for key in keys:
            query = WorklistQuery(
                patient_id=key.patient_id, patient_name=key.name, birth_date=key.birth_date
            )
            try:
                result = self._engine.worklist(query)
            except WorklistError as exc:
                failed.setdefault("worklist", str(exc))
                continue
            for error in result.errors:
                failed.setdefault(error.provider, error.message)
            for item in result.items:
                items.setdefault((item.provider, *item.key), item)
        problems.extend(f"worklist {name}: {message}" for name, message in failed.items())
        return [
            Candidate(
                patient=item.patient,
                source=CandidateSource.WORKLIST,
                provider=item.provider,
                accession_number=item.accession_number,
                study_instance_uid=item.study_instance_uid,
                description=item.description,
                scheduled=f"{item.sps_start_date} {item.sps_start_time}".strip(),
            )
            for item in items.values()
        ]

    def _query_candidates(self, keys: list[_Keys], problems: list[str]) -> list[Candidate]:
        engine = self._engine
        found: list[Candidate] = []
        for destination in self.query_destinations():
            for key in keys:
                try:
                    result = find_patients(
                        engine.associations,
                        destination,
                        patient_id=key.patient_id,
                        name=key.name,
                        birth_date=key.birth_date,
                        limit=engine.settings.worklist.result_cap,
                        fallback_charset=engine.settings.worklist.fallback_charset,
                    )
                except (AssociationFailed, FindFailed) as exc:
                    problems.append(f"query {destination.name}: {exc}")
                    break  # the next keys would fail the same way
                found += [
                    Candidate(patient, CandidateSource.QUERY, provider=destination.name)
                    for patient in result.matches
                ]
        return found

    # -- importing ----------------------------------------------------------------------------

    def import_study(
        self,
        study: MediaStudy,
        *,
        patient: Patient | None = None,
        accession: str | None = None,
        new_uids: bool = False,
        send_to: Sequence[str] = (),
        partial: bool = False,
    ) -> ImportReport:
        """Copy ``study`` into the local store, reconcile it and queue it (module docs).

        Parameters
        ----------
        patient
            The local patient the study belongs to (a candidate's, or typed): the study is
            reconciled to it with reason COERCE, Modifying System ``izer`` and the media's
            Institution Name (or "imported media") as Source of Previous Values. ``None``
            keeps the media's demographics.
        accession
            The local Accession Number (a worklist item's); ``None`` keeps the media's.
        new_uids
            Give the study, its series and instances new UIDs (PS3.5 9) under the station's
            root; UIDs referenced inside the files follow them.
        send_to
            Destinations to queue the study for (outbox jobs, returned in the report).
        partial
            Import a study the media lists files of that are missing or unreadable (without
            those files); refused otherwise.

        Raises
        ------
        ValueError
            Before anything is copied: the study is incomplete, already in the store (import
            it with new UIDs to keep both), a value cannot be written, or a destination is
            unknown.
        ImportFailed
            When a file cannot be copied or reconciled; what was copied is removed again.
        """
        engine = self._engine
        if not study.instances:
            raise ValueError(f"study {study.study_uid}: no file to import")
        if study.missing and not partial:
            raise ValueError(
                f"study {study.study_uid} is incomplete: {len(study.missing)} file(s) the "
                f"media lists are missing or unreadable ({', '.join(study.missing[:3])}); "
                "import it anyway with partial=True (--partial)"
            )
        source = (" ".join(study.institution.split("\\")) or UNKNOWN_SOURCE)[:_LO_MAX]
        target = patient if patient is not None else study.patient
        reconcile = patient is not None or accession is not None
        if reconcile:
            check_correction(target, accession, MODIFYING_SYSTEM, source)
        for name in send_to:
            destination = engine.destination(name)
            if destination.kind is DestinationKind.FOLDER:
                try:
                    validate_layout(destination.folder_layout)
                except ValueError as exc:
                    raise ValueError(f"destination {destination.name}: {exc}") from None
        gone = [str(i.path) for i in study.instances if not i.path.is_file()]
        if gone:
            raise ValueError(f"{len(gone)} file(s) of the study are gone: {', '.join(gone[:3])}")
        uid_map = self._new_uids(study) if new_uids else {}
        if not new_uids:
            self._check_not_stored(study)
        study_uid = uid_map.get(study.study_uid, study.study_uid)
        contribution = self._contribution()
        added: list[InstanceRecord] = []
        reconciled: ReconcileReport | None = None
        try:
            for instance in study.instances:
                added.append(
                    self._bring_in(instance.path, instance.sop_instance_uid, uid_map, contribution)
                )
            if reconcile:
                reconciled = reconcile_study(
                    engine,
                    study_uid,
                    target,
                    accession_number=accession,
                    reason=ModificationReason.COERCE,
                    modifying_system=MODIFYING_SYSTEM,
                    source_of_previous_values=source,
                )
                if not reconciled.ok:
                    reasons = "; ".join(f"{f.path.name}: {f.reason}" for f in reconciled.failed)
                    raise ImportFailed(f"reconciliation failed: {reasons}")
        except (OSError, StoreError, InvalidDicomError, EOFError, ValueError, ImportFailed) as exc:
            left = self._roll_back(added)
            raise ImportFailed(
                f"import of study {study.study_uid} failed, nothing of it was kept{left}: {exc}"
            ) from exc
        except BaseException:
            self._roll_back(added)
            raise
        records = engine.store.instances(study_uid)
        log.info(
            "imported study %s from media: %d instance(s)%s%s",
            study_uid, len(records), ", new UIDs" if new_uids else "",
            ", reconciled" if reconciled else "",
        )  # fmt: skip
        for record in records:
            engine.events.instance_stored.emit(record)
        report = ImportReport(
            media=study,
            study_uid=study_uid,
            instances=records,
            uid_map=uid_map,
            reconciled=reconciled,
            patient=target if reconcile else None,
        )
        if send_to:
            report.jobs = engine.dispatch.send([study_uid], list(send_to))
        return report

    def _check_not_stored(self, study: MediaStudy) -> None:
        stored = self._engine.store.instances()
        studies = {r.study_instance_uid for r in stored}
        if study.study_uid in studies:
            raise ValueError(
                f"study {study.study_uid} is already in the local store; import it with new "
                "UIDs (--new-uids) to keep both, or send the stored one"
            )
        ours = {i.sop_instance_uid for i in study.instances}
        clash = sorted(ours & {r.sop_instance_uid for r in stored})
        if clash:
            raise ValueError(
                f"{len(clash)} instance(s) of study {study.study_uid} are already in the local "
                f"store under another study (e.g. {clash[0]}); import with new UIDs (--new-uids)"
            )

    def _new_uids(self, study: MediaStudy) -> dict[str, str]:
        """A new UID for the study, each series and each instance (old -> new)."""
        uids = self._engine.uids
        mapping = {study.study_uid: uids.new()}
        for instance in study.instances:
            for uid in (instance.series_instance_uid, instance.sop_instance_uid):
                if uid not in mapping:
                    mapping[uid] = uids.new()
        return mapping

    def _contribution(self) -> Dataset:
        """The Contributing Equipment Sequence item of this importer (PS3.3 Table C.12-1)."""
        from izer.engine.core import MANUFACTURER, MODEL_NAME

        station = self._engine.settings.station
        purpose = Dataset()
        purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning = MEDIA_IMPORTER
        item = Dataset()
        item.PurposeOfReferenceCodeSequence = [purpose]
        item.Manufacturer = MANUFACTURER
        if station.institution_name:
            item.InstitutionName = station.institution_name
        if station.station_name:
            item.StationName = station.station_name
        item.ManufacturerModelName = MODEL_NAME
        item.SoftwareVersions = __version__
        item.ContributionDateTime = modification_datetime()
        item.ContributionDescription = CONTRIBUTION_DESCRIPTION
        return item

    def _bring_in(
        self, path: Path, sop_uid: str, uid_map: dict[str, str], contribution: Dataset
    ) -> InstanceRecord:
        """Copy one file into the store with its header changed, Pixel Data byte for byte."""
        store = self._engine.store
        new_sop = uid_map.get(sop_uid, sop_uid)

        def edit(header: Dataset) -> bool:
            if header.get("SOPInstanceUID") != sop_uid:
                raise StoreError(f"{path}: holds another instance than when the media was read")
            if uid_map:
                _remap_uids(header, uid_map)
                header.file_meta.MediaStorageSOPInstanceUID = new_sop
            _add_contribution(header, contribution)
            return True

        def check(ds: Dataset) -> None:
            if ds.get("SOPInstanceUID") != new_sop:
                raise StoreError(f"{path}: the copy reads back another SOP Instance UID")
            if not ds.get("ContributingEquipmentSequence"):
                raise StoreError(f"{path}: the copy lacks its Contributing Equipment Sequence")

        scratch = store.scratch_path(f"import-{path.name}")
        rewrite_header(path, scratch, edit, check=check)
        try:
            return store.adopt_file(scratch)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise

    def _roll_back(self, added: list[InstanceRecord]) -> str:
        """Remove the instances an import added; the sentence to add when some stay."""
        stuck: list[str] = []
        for record in added:
            try:
                self._engine.store.delete_instance(record.sop_instance_uid)
            except (OSError, StoreError) as exc:
                stuck.append(f"{record.path} ({exc})")
        if stuck:
            return f" except {len(stuck)} file(s) that could not be removed: {'; '.join(stuck)}"
        return ""


@dataclass(frozen=True)
class _Keys:
    """The matching keys of one broad query (empty: universal)."""

    patient_id: str = ""
    name: str = ""
    birth_date: str = ""


_WILDCARDS = frozenset("*?\\")


def _query_keys(patient: Patient) -> list[_Keys]:
    """Broad queries for ``patient``: by ID, by each name initial + ``*``, by birth date.

    A media name spelled otherwise (capitals without accents, swapped components) still
    starts with the letter of one of its components, so both initials are asked, as written
    and without accents. Values with wildcard characters of their own are not sent.
    """
    keys: list[_Keys] = []
    patient_id = patient.patient_id.strip()
    if patient_id and not _WILDCARDS & set(patient_id) and len(patient_id) <= _LO_MAX:
        keys.append(_Keys(patient_id=patient_id))
    alphabetic = patient.name.split("=")[0]
    components = (
        alphabetic.split("^") if "^" in alphabetic else alphabetic.replace(",", " ").split()
    )
    initials: list[str] = []
    for component in components[:2]:
        written = component.strip()[:1]
        if not written or written in _WILDCARDS:
            continue
        for initial in (written.upper(), fold(written)[:1]):
            if initial and initial not in initials:
                initials.append(initial)
    keys += [_Keys(name=f"{initial}*") for initial in initials]
    birth = patient.birth_date.strip()
    if len(birth) == 8 and birth.isdigit():
        keys.append(_Keys(birth_date=birth))
    return keys


def _remap_uids(ds: Dataset, uid_map: dict[str, str]) -> None:
    """Replace every UI value found in ``uid_map``, in ``ds`` and its sequences."""
    for element in ds:
        if element.VR == "SQ":
            for item in element.value or []:
                _remap_uids(item, uid_map)
        elif element.VR == "UI" and element.value:
            value = element.value
            if isinstance(value, (list, MultiValue)):
                element.value = [uid_map.get(str(v), str(v)) for v in value]
            else:
                element.value = uid_map.get(str(value), str(value))


def _add_contribution(ds: Dataset, contribution: Dataset) -> None:
    """Append the importer's item to the Contributing Equipment Sequence, earlier ones kept.

    When the data set's character set cannot hold the item's text (a non-Latin institution
    name in an ISO_IR 100 file), the data set moves to ISO_IR 192 (its text is decoded, so
    everything is written again in UTF-8).
    """
    probe = Dataset()
    if "SpecificCharacterSet" in ds:
        probe.SpecificCharacterSet = ds.SpecificCharacterSet
    probe.ContributingEquipmentSequence = [copy.deepcopy(contribution)]
    try:
        check_encodable(probe)
    except CharacterSetError:
        ds.SpecificCharacterSet = UNIVERSAL_CHARACTER_SET
    item = copy.deepcopy(contribution)
    if ds.get("ContributingEquipmentSequence"):
        ds.ContributingEquipmentSequence.append(item)
    else:
        ds.ContributingEquipmentSequence = [item]
