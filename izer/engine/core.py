"""The engine: the one object the command line and the GUI drive.

It owns the local store and the procedure state machine, turns captured frames into stored
instances, and announces what happens through :class:`EngineEvents` (plain psygnal signals,
emitted on the thread that caused them; the GUI re-emits them on its own thread).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal, SignalGroup

from izer import __version__
from izer.capture import SyntheticSource
from izer.config import Destination, DestinationKind, Role, Settings, default_storage_folder
from izer.dispatch.mpps import DiscontinuationReason
from izer.encode import (
    ConversionType,
    EquipmentContext,
    StudyContext,
    UidFactory,
    importers,
    recipes,
)
from izer.encode.video import VideoSyntax
from izer.engine.autoexport import AutoExportController
from izer.engine.capturing import CaptureController, store_recording
from izer.engine.capturing import devices as capture_devices
from izer.engine.converting import (
    ConvertReport,
    ConvertRequest,
    ConvertStep,
    FrameProgress,
    _ConvertRun,
    _transfer_syntax,
)
from izer.engine.dispatching import DispatchController
from izer.engine.exporting import ExportOptions, ExportReport, ExportStep, _ExportRun
from izer.engine.importing import ImportController
from izer.engine.media import MediaController
from izer.engine.printing import PrintController
from izer.engine.receiving import ReceiveHandler
from izer.engine.reporting import ReportController
from izer.engine.retrieving import RetrieveController
from izer.engine.reviewing import ReviewController
from izer.engine.scheduling import ProcedureContext, new_identifier
from izer.engine.viewing import ViewController
from izer.model import (
    CaptureNotice,
    ClipSaved,
    EngineStatus,
    InstanceRecord,
    Patient,
    Procedure,
    ProcedureState,
    Sex,
    StillTaken,
)
from izer.model.procedure import ALLOWED_TRANSITIONS, TransitionError
from izer.net import AssociationFactory, EchoResult, Listener, echo, resolve_destination
from izer.store import StudyStore
from izer.worklist import (
    WorklistItem,
    WorklistQuery,
    WorklistResult,
    find_worklist_all,
)

if TYPE_CHECKING:
    from izer.capture import DeviceInfo
    from izer.capture.recorder import RecordedSegment

MANUFACTURER = "izer project"
MODEL_NAME = "izer"


def discontinuation_reason(
    reason: str | DiscontinuationReason | None,
) -> DiscontinuationReason:
    """The CID 9300 reason for a code value (``None``: 110513, unspecified).

    Raises
    ------
    ValueError
        For a code that is not in CID 9300, listing them.
    """
    if reason is None:
        return DiscontinuationReason.UNSPECIFIED
    if isinstance(reason, DiscontinuationReason):
        return reason
    wanted = reason.strip()
    for member in DiscontinuationReason:
        if wanted in (member.code.value, member.name, member.name.lower().replace("_", "-")):
            return member
    known = "; ".join(f"{m.code.value} {m.code.meaning}" for m in DiscontinuationReason)
    raise ValueError(f"discontinuation reason {reason!r} is not in CID 9300; use one of: {known}")


class EngineEvents(SignalGroup):
    """What the engine announces.

    ``state_changed(old, new)``: the procedure state machine moved.
    ``procedure_changed(procedure)``: the active procedure, or ``None`` when idle.
    ``instance_stored(record)``: an instance is on disk and in the index.
    ``still_taken(still)``: a still is stored (flash, sound and counter in the GUI).
    ``clip_saved(clip)``: a recording became video instances (or was recovered).
    ``recording_changed(statuses)``: a recorder started, paused, resumed or stopped.
    ``capture_notice(notice)``: a source or recorder problem, in plain words.
    """

    state_changed = Signal(ProcedureState, ProcedureState)
    procedure_changed = Signal(object)
    instance_stored = Signal(InstanceRecord)
    still_taken = Signal(StillTaken)
    clip_saved = Signal(ClipSaved)
    recording_changed = Signal(list)
    capture_notice = Signal(CaptureNotice)


class Engine:
    """Wires settings, store and encoders together.

    Parameters
    ----------
    settings
        Validated settings.
    store
        The local study store; the engine resumes its active procedure, if any.
    source
        Where stills come from; the synthetic test pattern by default.
    """

    def __init__(
        self, settings: Settings, store: StudyStore, source: SyntheticSource | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.source = source or SyntheticSource()
        self.events = EngineEvents()
        self.uids = UidFactory(settings.station.uid_root)
        self.associations = AssociationFactory(settings.station, settings.network)
        self._lock = threading.RLock()
        self._procedure: Procedure | None = store.active_procedure()
        self._series_numbers_given: set[int] = set()
        self._series_procedure: int | None = None
        self._captured = 0
        self._stored = 0
        self._discontinuation: DiscontinuationReason | None = None
        self.capture = CaptureController(self)
        self.dispatch = DispatchController(self)
        self.printing = PrintController(self)
        self.report = ReportController(self)
        self.media = MediaController(self)
        self.importing = ImportController(self)
        self.review_actions = ReviewController(self)
        self.retrieve = RetrieveController(self)
        self.auto_export = AutoExportController(self)
        self.viewing = ViewController(self)

    @staticmethod
    def devices() -> tuple[list[DeviceInfo], list[tuple[str, bool, str]]]:
        """Capture devices present here, and each source kind with whether it works here."""
        return capture_devices()

    @classmethod
    def open(cls, settings: Settings) -> Engine:
        """An engine on the store folder the settings name (or the platform default)."""
        folder = Path(settings.storage.folder) if settings.storage.folder else None
        return cls(settings, StudyStore(folder or default_storage_folder()))

    def close(self) -> None:
        """Save any recording, close the sources and release the store.

        The active procedure stays recorded for the next start.
        """
        try:
            self.capture.close()
        finally:
            try:
                self.dispatch.close()
            finally:
                self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state --------------------------------------------------------------------------------

    @property
    def state(self) -> ProcedureState:
        """The procedure state, ``IDLE`` when no procedure is active."""
        with self._lock:
            return self._procedure.state if self._procedure else ProcedureState.IDLE

    @property
    def procedure(self) -> Procedure | None:
        """The active procedure."""
        with self._lock:
            return self._procedure

    def status(self) -> EngineStatus:
        """A frozen snapshot of state and counters."""
        with self._lock:
            procedure = self._procedure
            return EngineStatus(
                state=procedure.state if procedure else ProcedureState.IDLE,
                procedure_id=procedure.procedure_id if procedure else None,
                study_instance_uid=procedure.study_uid if procedure else None,
                captured=self._captured,
                stored=self._stored,
                store_folder=str(self.store.folder),
            )

    # -- the procedure state machine ----------------------------------------------------------

    def select_patient(
        self,
        patient: Patient,
        *,
        accession_number: str = "",
        description: str = "",
        study_instance_uid: str | None = None,
        context: str = "",
    ) -> Procedure:
        """``IDLE -> PATIENT_SELECTED``: open a procedure for ``patient``.

        The Study Instance UID is the worklist's when given, otherwise a new one. ``context``
        is the request context as JSON (:class:`~izer.engine.scheduling.ProcedureContext`);
        :meth:`select_worklist_item` and :meth:`select_unscheduled` give it.
        """
        with self._lock:
            if self.state is not ProcedureState.IDLE:
                raise TransitionError(self.state, ProcedureState.PATIENT_SELECTED)
            procedure = self.store.create_procedure(
                patient,
                study_instance_uid or self.uids.new(),
                accession_number=accession_number,
                description=description,
                context=context,
            )
            self._procedure = procedure
            self.capture.reset_series()
        self.events.state_changed.emit(ProcedureState.IDLE, ProcedureState.PATIENT_SELECTED)
        self.events.procedure_changed.emit(procedure)
        return procedure

    def select_worklist_item(self, item: WorklistItem) -> Procedure:
        """``IDLE -> PATIENT_SELECTED`` for a worklist item: it becomes the procedure's context.

        The item's Study Instance UID (so that RIS, PACS and the images agree), Accession
        Number, description and demographics; its Request Attributes Sequence, Referring
        Physician, Admission ID and procedure codes go into every instance (see
        :mod:`izer.engine.scheduling`) and its scheduled step into the MPPS.

        Raises
        ------
        ValueError
            When the item has no Study Instance UID, or a value cannot be written in the
            station's character set (the message names it).
        TransitionError
            When a procedure is already selected.
        """
        context = ProcedureContext.from_item(item)
        recipes.check_identity(
            item.patient,
            item.accession_number,
            item.description,
            self.settings.station.character_set,
        )
        return self.select_patient(
            item.patient,
            accession_number=item.accession_number,
            description=item.description,
            study_instance_uid=item.study_instance_uid,
            context=context.to_json(),
        )

    def select_unscheduled(
        self,
        patient_name: str,
        *,
        birth_date: str = "",
        sex: Sex = Sex.UNKNOWN,
        patient_id: str | None = None,
        description: str = "",
    ) -> Procedure:
        """``IDLE -> PATIENT_SELECTED`` for a patient without a worklist entry (emergency).

        The Patient ID is ``patient_id`` or a temporary one, and the Accession Number a new
        one, both from the ``[worklist]`` patterns; the Study Instance UID is izer's. The
        procedure is unscheduled: its MPPS follows PS3.4 F.7.2.1 (the generated Study
        Instance UID, the other scheduling attributes empty).

        Raises
        ------
        ValueError
            When the name is empty, or a value is malformed or not writable in the station's
            character set.
        TransitionError
            When a procedure is already selected.
        """
        if not patient_name.strip():
            raise ValueError(
                "Patient's Name is empty; type at least a family name (e.g. Doe^John, or "
                "Unknown^Male for an unidentified patient)"
            )
        station = self.settings.station
        worklist = self.settings.worklist
        patient = Patient(
            patient_id=patient_id
            or new_identifier(worklist.unscheduled_id_pattern, station.ae_title),
            name=patient_name.strip(),
            birth_date=birth_date,
            sex=Sex(sex),
        )
        accession = new_identifier(worklist.accession_pattern, station.ae_title)
        recipes.check_identity(patient, accession, description, station.character_set)
        return self.select_patient(
            patient,
            accession_number=accession,
            description=description,
            context=ProcedureContext().to_json(),
        )

    def worklist_providers(self, names: Sequence[str] | None = None) -> list[Destination]:
        """The worklist providers: ``names`` (configured names or ``AET@host:port``), else
        ``[worklist] providers``, else every dicom destination with role ``worklist``.

        Raises
        ------
        ValueError
            For an unknown name.
        """
        chosen = names or self.settings.worklist.providers
        if chosen:
            return [self.destination(name) for name in chosen]
        return [
            d
            for d in self.settings.destinations
            if Role.WORKLIST in d.roles and d.kind is DestinationKind.DICOM
        ]

    def default_worklist_query(self, today: dt.date | None = None) -> WorklistQuery:
        """The nurse's broad query from ``[worklist]``: date range, station AE, modality."""
        worklist = self.settings.worklist
        day = today or dt.date.today()
        date_range = worklist.date_range
        if date_range == "today":
            date_range = day.strftime("%Y%m%d")
        elif date_range == "any":
            date_range = ""
        return WorklistQuery(
            station_ae_title=worklist.station_ae or self.settings.station.ae_title,
            start_date=date_range,
            modality=worklist.modality,
        )

    def worklist(
        self, query: WorklistQuery | None = None, *, providers: Sequence[str] | None = None
    ) -> WorklistResult:
        """Ask the worklist providers (all at once) and merge their items.

        ``query`` defaults to :meth:`default_worklist_query`; at most ``[worklist]
        result_cap`` items come from each provider (the query is then cancelled).

        Raises
        ------
        ValueError
            For an unknown provider name.
        WorklistError
            When no provider is configured or none answered (naming each).
        """
        worklist = self.settings.worklist
        return find_worklist_all(
            self.associations,
            self.worklist_providers(providers),
            query or self.default_worklist_query(),
            limit=worklist.result_cap,
            fallback_charset=worklist.fallback_charset,
        )

    def start(self) -> Procedure:
        """``PATIENT_SELECTED -> IN_PROGRESS`` (or back from ``REVIEW``): capture is on.

        The first time, an MPPS N-CREATE (IN PROGRESS) is queued for every destination with
        role ``mpps`` (see :class:`~izer.engine.dispatching.DispatchController`).
        """
        return self._move(ProcedureState.IN_PROGRESS)

    def review(self) -> Procedure:
        """``IN_PROGRESS | APPENDING -> REVIEW``: capture ends (a recording is saved)."""
        self._check_move(ProcedureState.REVIEW)
        self.capture.stop_recording()
        return self._move(ProcedureState.REVIEW)

    def complete(self) -> Procedure:
        """``REVIEW -> COMPLETED``; the MPPS is set COMPLETED listing every instance.

        Raises
        ------
        ValueError
            When an MPPS is open and nothing was captured into it: a COMPLETED MPPS must list
            at least one series (PS3.4 F.7.2.2), so discontinue the procedure instead.
        """
        self._check_move(ProcedureState.COMPLETED)
        self.dispatch.check_mpps_completable()
        return self._move(ProcedureState.COMPLETED)

    def discontinue(self, reason: str | DiscontinuationReason | None = None) -> Procedure:
        """``IN_PROGRESS | REVIEW -> DISCONTINUED`` (a recording is saved first).

        ``reason`` is a Code Value of PS3.16 CID 9300 (e.g. ``110514`` "Incorrect worklist
        entry selected" after choosing the wrong patient); it goes into the MPPS N-SET
        DISCONTINUED. Default: ``110513`` "Discontinued for unspecified reason".

        Raises
        ------
        ValueError
            For a code that is not in CID 9300 (the message lists them).
        """
        chosen = discontinuation_reason(reason)
        self._check_move(ProcedureState.DISCONTINUED)
        self.capture.stop_recording()
        with self._lock:
            self._discontinuation = chosen
        try:
            return self._move(ProcedureState.DISCONTINUED)
        finally:
            with self._lock:
                self._discontinuation = None

    def append(self, procedure_id: int | None = None) -> Procedure:
        """``COMPLETED -> APPENDING``: add captures to a completed procedure's study."""
        with self._lock:
            if procedure_id is not None and (
                self._procedure is None or self._procedure.procedure_id != procedure_id
            ):
                if self.state not in (ProcedureState.IDLE, ProcedureState.COMPLETED):
                    raise TransitionError(self.state, ProcedureState.APPENDING)
                self._procedure = self.store.procedure(procedure_id)
                if self._procedure is None:
                    raise ValueError(f"there is no procedure {procedure_id} in the store")
            self.capture.reset_series()
        return self._move(ProcedureState.APPENDING)

    def release(self) -> None:
        """Back to ``IDLE``: deselect the patient, or put a closed procedure away."""
        with self._lock:
            procedure = self._procedure
            if procedure is None:
                return
            old = procedure.state
            self.store.transition(procedure.procedure_id, ProcedureState.IDLE)
            self._procedure = None
            self.capture.reset_series()
        self.events.state_changed.emit(old, ProcedureState.IDLE)
        self.events.procedure_changed.emit(None)

    def _save_context(self, procedure_id: int, context: str, mpps_uid: str) -> Procedure:
        """Store a procedure's new context (the MPPS state changed) and keep it current."""
        with self._lock:
            procedure = self.store.set_procedure_context(
                procedure_id, context=context, mpps_uid=mpps_uid
            )
            if self._procedure is not None and self._procedure.procedure_id == procedure_id:
                self._procedure = procedure
            return procedure

    def _check_move(self, to_state: ProcedureState) -> None:
        """Raise :class:`TransitionError` unless the state machine allows ``to_state`` now."""
        state = self.state
        if to_state not in ALLOWED_TRANSITIONS.get(state, frozenset()):
            raise TransitionError(state, to_state)

    def refresh_procedure(self) -> Procedure | None:
        """Re-read the active procedure from the store after it changed there (for example its
        patient, by reconciliation), and announce it with ``procedure_changed``."""
        with self._lock:
            if self._procedure is None:
                return None
            procedure = self.store.procedure(self._procedure.procedure_id)
            if procedure is None:
                return self._procedure
            self._procedure = procedure
        self.events.procedure_changed.emit(procedure)
        return procedure

    def _move(self, to_state: ProcedureState) -> Procedure:
        with self._lock:
            if self._procedure is None:
                raise TransitionError(ProcedureState.IDLE, to_state)
            old = self._procedure.state
            procedure = self.store.transition(self._procedure.procedure_id, to_state)
            self._procedure = procedure
        self.events.state_changed.emit(old, to_state)
        with self._lock:  # a handler may have saved a new context (the MPPS)
            current = self._procedure
            if current is not None and current.procedure_id == procedure.procedure_id:
                procedure = current
        self.events.procedure_changed.emit(procedure)
        return procedure

    # -- network ------------------------------------------------------------------------------

    def destination(self, name_or_address: str) -> Destination:
        """A configured destination by name, or one given as ``AET@host:port``.

        Raises
        ------
        ValueError
            When it is neither (the message says what was expected).
        """
        return resolve_destination(name_or_address, self.settings)

    def echo(self, destination: Destination) -> EchoResult:
        """C-ECHO ``destination`` with this station's AE title and its timeouts."""
        return echo(self.associations, destination)

    def listener(
        self,
        *,
        port: int | None = None,
        ae_title: str | None = None,
        allowed_calling_aets: tuple[str, ...] | None = None,
        storage: bool | None = None,
        auto_export: bool = True,
    ) -> Listener:
        """izer's SCP as configured in ``[listener]``, with optional overrides (not started);
        ``storage`` turns the Storage SCP on or off whatever ``[listener] storage`` says,
        ``auto_export=False`` keeps what it receives from the ``[[auto_export]]`` rules."""
        configured = self.settings.listener
        storage = configured.storage if storage is None else storage
        return Listener(
            ae_title or self.settings.station.ae_title,
            configured.port if port is None else port,
            allowed_calling_aets=(
                configured.allowed_calling_aets
                if allowed_calling_aets is None
                else allowed_calling_aets
            ),
            max_pdu_bytes=self.settings.network.max_pdu_bytes,
            store_handler=ReceiveHandler(self, auto_export=auto_export) if storage else None,
            transfer_syntaxes=configured.transfer_syntaxes,
        )

    # -- capture ------------------------------------------------------------------------------

    def capture_still(self, pixels: np.ndarray | None = None) -> InstanceRecord:
        """Store one frame as a still of the active procedure.

        ``pixels`` (RGB uint8, or grayscale) when given; otherwise the frame on screen of the
        open main source (:meth:`CaptureController.take_still`), or, with no source open, the
        next frame of the built-in test pattern. Returns once the file is on disk (fsync'ed)
        and indexed.

        Raises
        ------
        TransitionError
            When no procedure is capturing.
        """
        if pixels is None and "main" in self.capture.channels:
            return self.capture.take_still("main").record
        if pixels is None:
            with self._lock:
                pixels = self.source.frame(self._captured)
        return self.capture.store_still(pixels)

    def _count_stored(self, *, captured: int = 0, stored: int = 1) -> None:
        with self._lock:
            self._captured += captured
            self._stored += stored

    def _next_series_number(self, procedure: Procedure) -> int:
        """One more than any series number of the procedure's study so far."""
        with self._lock:
            if self._series_procedure != procedure.procedure_id:
                self._series_procedure = procedure.procedure_id
                self._series_numbers_given = set()
            used = {s.series_number or 0 for s in self.store.series(procedure.study_uid)}
            number = 1 + max(used | self._series_numbers_given, default=0)
            self._series_numbers_given.add(number)
            return number

    def _store_recording(
        self, segments: Sequence[RecordedSegment], metadata: Mapping[str, object]
    ) -> list[InstanceRecord]:
        """Remux recorded segments into video instances of one series (see capturing.py)."""
        return store_recording(self, segments, metadata)

    def _equipment(self) -> EquipmentContext:
        station = self.settings.station
        return EquipmentContext(
            manufacturer=MANUFACTURER,
            model_name=MODEL_NAME,
            software_versions=__version__,
            station_name=station.station_name,
            institution_name=station.institution_name,
        )

    # -- converting files ---------------------------------------------------------------------

    @staticmethod
    def convert_iods() -> list[tuple[str, str]]:
        """``(--iod name, IOD title)`` of every IOD :meth:`convert` makes."""
        return [(iod.value, recipe.title) for iod, recipe in recipes.RECIPES.items()]

    def convert(
        self,
        inputs: Sequence[Path | str],
        request: ConvertRequest,
        *,
        out: Path | None = None,
        progress: Callable[[ConvertStep], None] | None = None,
        frame_progress: Callable[[FrameProgress], None] | None = None,
    ) -> ConvertReport:
        """Convert image, PDF, audio and video files into one new study (one series per IOD).

        Inputs are files or folders (their files in name order). Each file (each page of a
        multi-page TIFF) becomes one instance, or with ``request.multiframe`` each input one
        multi-frame instance; a clip becomes one video instance, or several (parts of one
        series) when it is split. Instances are numbered 1, 2... in their series in input
        order. An input that fails leaves no output and does not stop the run.

        A clip's streams are made next to their destination (in ``out``, or in the store's
        folder), never in the system's temporary folder: they can be gigabytes, and they
        become the instance by a rename. Every temporary file is removed, whatever happens.

        Parameters
        ----------
        out
            Folder for the Part-10 files (written atomically, named after the inputs); the
            local store when ``None``.
        progress
            Called after each input, converted or not.
        frame_progress
            Called while a clip is remuxed, re-encoded or cut (frames done and in all).

        Raises
        ------
        ValueError
            Before any file is read, for an unknown IOD or transfer syntax, options that do
            not fit together, or patient and study values that cannot be written.
        """
        iod, options = self._convert_options(request)
        character_set = self.settings.station.character_set
        recipes.check_identity(
            request.patient, request.accession_number, request.study_description, character_set
        )
        now = datetime.now()
        study = StudyContext(
            patient=request.patient,
            study_instance_uid=self.uids.new(),
            study_date=now.strftime("%Y%m%d"),
            study_time=now.strftime("%H%M%S"),
            accession_number=request.accession_number,
            description=request.study_description,
        )
        report = ConvertReport(study.study_instance_uid)
        tasks: list[tuple[str, list[Path] | importers.InputError]] = []
        for given in (Path(item) for item in inputs):
            try:
                files = importers.expand_input(given)
            except importers.InputError as exc:
                tasks.append((importers.display_name(given), exc))
                continue
            if request.multiframe:
                tasks.append((importers.display_name(given), files))
            else:
                tasks.extend((importers.display_name(f), [f]) for f in files)
        run = _ConvertRun(self, study, out, character_set, frame_progress)
        for index, (label, files) in enumerate(tasks, start=1):
            step = run.convert(label, files, iod, options, request.multiframe, report)
            if progress is not None:
                progress(ConvertStep(index, len(tasks), label, step[0], step[1], tuple(step[2])))
        return report

    @staticmethod
    def _convert_options(
        request: ConvertRequest,
    ) -> tuple[recipes.Iod | None, recipes.ConvertOptions]:
        iod = recipes.Iod.from_text(request.iod) if request.iod else None
        conversion_type = None
        if request.conversion_type:
            try:
                conversion_type = ConversionType(request.conversion_type.strip().upper())
            except ValueError:
                names = ", ".join(member.value for member in ConversionType)
                raise ValueError(
                    f"unknown conversion type {request.conversion_type!r}; use one of: {names}"
                ) from None
        image_syntax, video_syntax = _transfer_syntax(request.transfer_syntax, iod)
        preference: tuple[VideoSyntax, ...] = ()
        if request.video_preference:
            preference = tuple(
                VideoSyntax.from_text(name)
                for name in request.video_preference.replace(" ", ",").split(",")
                if name
            )
        max_bytes = None
        if request.max_clip_mb is not None:
            max_bytes = round(request.max_clip_mb * 1_000_000)
        options = recipes.ConvertOptions(
            transfer_syntax=image_syntax,
            quality=request.quality,
            conversion_type=conversion_type,
            bits_stored=request.bits_stored,
            scanner_dpi=request.scanner_dpi,
            video_syntax=video_syntax,
            video_preference=preference,
            start_s=request.start_s,
            end_s=request.end_s,
            max_clip_s=request.max_clip_s,
            max_clip_bytes=max_bytes,
            audio=request.audio,
            fragmentable=request.fragmentable,
        )
        recipes.check_request(iod, options, multiframe=request.multiframe)
        return iod, options

    # -- exporting to ordinary files ----------------------------------------------------------

    def export(
        self,
        targets: Sequence[str | Path],
        to_dir: Path,
        options: ExportOptions | None = None,
        progress: Callable[[ExportStep], None] | None = None,
    ) -> ExportReport:
        """Export instances as ordinary files: video, JPEG/PNG, PDF, WAV (the Dicom2Media use).

        Targets are DICOM files, folders (every file below them), or Study, Series or SOP
        Instance UIDs of the local store. Files go to ``to_dir/<pattern folders>/`` as
        ``<instance number>_<kind>.<ext>``, each written atomically and never over an existing
        file; see :mod:`izer.encode.extract` for what each kind of instance becomes. An
        instance that fails leaves no file and does not stop the run; objects without
        pictures, video, document or sound are skipped with the reason.

        Raises
        ------
        ValueError
            Before anything is written, for a bad still format, quality or pattern, or a
            ``to_dir`` that is not a folder.
        """
        run = _ExportRun(self, Path(to_dir), options or ExportOptions())
        return run.run(targets, progress)
