"""The engine: the one object the command line and the GUI drive.

It owns the local store and the procedure state machine, turns captured frames into stored
instances, and announces what happens through :class:`EngineEvents` (plain psygnal signals,
emitted on the thread that caused them; the GUI re-emits them on its own thread).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from psygnal import Signal, SignalGroup
from pydicom import dcmread
from pydicom.dataset import Dataset

from izer import __version__
from izer.capture import SyntheticSource
from izer.config import Destination, Settings, default_storage_folder
from izer.encode import (
    ConversionType,
    EquipmentContext,
    InstanceContext,
    SeriesContext,
    StudyContext,
    TransferSyntax,
    UidFactory,
    export_names,
    extract,
    importers,
    recipes,
    secondary_capture_image,
)
from izer.encode.video import VideoSyntax
from izer.model import EngineStatus, InstanceRecord, Patient, Procedure, ProcedureState
from izer.model.procedure import TransitionError
from izer.net import AssociationFactory, EchoResult, Listener, echo, resolve_destination
from izer.store import StoreError, StudyStore, atomic_write
from izer.store.atomic import TEMPORARY_PREFIX, fsync_folder

MANUFACTURER = "izer project"
MODEL_NAME = "izer"

#: States in which captures are accepted into the active procedure.
CAPTURING_STATES = frozenset({ProcedureState.IN_PROGRESS, ProcedureState.APPENDING})


class EngineEvents(SignalGroup):
    """What the engine announces.

    ``state_changed(old, new)``: the procedure state machine moved.
    ``procedure_changed(procedure)``: the active procedure, or ``None`` when idle.
    ``instance_stored(record)``: an instance is on disk and in the index.
    """

    state_changed = Signal(ProcedureState, ProcedureState)
    procedure_changed = Signal(object)
    instance_stored = Signal(InstanceRecord)


@dataclass(frozen=True)
class ConvertRequest:
    """What ``izer convert`` is asked to make, besides the input files.

    Parameters
    ----------
    patient
        The patient every instance of the run belongs to.
    accession_number, study_description
        Of the one study the run makes.
    iod
        ``--iod`` name (``sc``, ``vl-endoscopic``...); ``None`` picks one per input kind.
    transfer_syntax
        ``--ts`` name or UID; ``None`` keeps JPEG / JPEG 2000 inputs as they are.
    quality, conversion_type, bits_stored
        Encoder quality, Conversion Type code (``WSD``, ``SD``...), bits of 16-bit input.
    scanner_dpi
        Scanner resolution for Nominal Scanned Pixel Spacing (Conversion Type DF, SD, SI).
    multiframe
        One multi-frame instance per input folder or multi-page file.
    video_preference
        Video transfer syntaxes acceptable, best first (``h264-hp41,hevc-main``); izer picks
        the first that holds the clip. ``transfer_syntax`` names exactly one instead.
    start_s, end_s
        Keep only this section of each clip (seconds from its first frame).
    max_clip_s, max_clip_mb
        Split a clip into instances of at most so many seconds / megabytes (10^6 bytes).
    audio
        Keep a clip's sound (``--no-audio``: drop it).
    fragmentable
        A video stream over 2^32-2 bytes stays one instance in the fragmentable syntax
        instead of being split.
    """

    patient: Patient
    accession_number: str = ""
    study_description: str = ""
    iod: str | None = None
    transfer_syntax: str | None = None
    quality: float | None = None
    conversion_type: str | None = None
    bits_stored: int | None = None
    scanner_dpi: float | None = None
    multiframe: bool = False
    video_preference: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    max_clip_s: float | None = None
    max_clip_mb: float | None = None
    audio: bool = True
    fragmentable: bool = False


@dataclass(frozen=True)
class FrameProgress:
    """Progress inside one clip: frames re-encoded or copied so far."""

    source: str
    stage: str
    """``converting``, ``re-encoding``, ``part 2`` ..."""
    done: int
    total: int


@dataclass(frozen=True)
class ConvertStep:
    """Progress of one input (a file, or a folder with ``multiframe``)."""

    index: int
    total: int
    source: str
    outputs: tuple[str, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConvertFailure:
    """An input that was not converted, and why (no output was left for it)."""

    source: str
    reason: str


@dataclass
class ConvertReport:
    """What a conversion run made."""

    study_instance_uid: str
    converted: int = 0
    outputs: list[Path] = field(default_factory=list)
    records: list[InstanceRecord] = field(default_factory=list)
    failures: list[ConvertFailure] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def instances(self) -> int:
        """Instances written."""
        return len(self.outputs)


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
        self._series: SeriesContext | None = None
        self._next_instance_number = 1
        self._captured = 0
        self._stored = 0

    @classmethod
    def open(cls, settings: Settings) -> Engine:
        """An engine on the store folder the settings name (or the platform default)."""
        folder = Path(settings.storage.folder) if settings.storage.folder else None
        return cls(settings, StudyStore(folder or default_storage_folder()))

    def close(self) -> None:
        """Release the store; the active procedure stays recorded for the next start."""
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
    ) -> Procedure:
        """``IDLE -> PATIENT_SELECTED``: open a procedure for ``patient``.

        The Study Instance UID is the worklist's when given, otherwise a new one.
        """
        with self._lock:
            if self.state is not ProcedureState.IDLE:
                raise TransitionError(self.state, ProcedureState.PATIENT_SELECTED)
            procedure = self.store.create_procedure(
                patient,
                study_instance_uid or self.uids.new(),
                accession_number=accession_number,
                description=description,
            )
            self._procedure = procedure
            self._series = None
        self.events.state_changed.emit(ProcedureState.IDLE, ProcedureState.PATIENT_SELECTED)
        self.events.procedure_changed.emit(procedure)
        return procedure

    def start(self) -> Procedure:
        """``PATIENT_SELECTED -> IN_PROGRESS`` (or back from ``REVIEW``): capture is on."""
        return self._move(ProcedureState.IN_PROGRESS)

    def review(self) -> Procedure:
        """``IN_PROGRESS | APPENDING -> REVIEW``: capture ends, the team reviews."""
        return self._move(ProcedureState.REVIEW)

    def complete(self) -> Procedure:
        """``REVIEW -> COMPLETED``."""
        return self._move(ProcedureState.COMPLETED)

    def discontinue(self) -> Procedure:
        """``IN_PROGRESS | REVIEW -> DISCONTINUED``."""
        return self._move(ProcedureState.DISCONTINUED)

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
                self._series = None
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
            self._series = None
        self.events.state_changed.emit(old, ProcedureState.IDLE)
        self.events.procedure_changed.emit(None)

    def _move(self, to_state: ProcedureState) -> Procedure:
        with self._lock:
            if self._procedure is None:
                raise TransitionError(ProcedureState.IDLE, to_state)
            old = self._procedure.state
            procedure = self.store.transition(self._procedure.procedure_id, to_state)
            self._procedure = procedure
        self.events.state_changed.emit(old, to_state)
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
    ) -> Listener:
        """izer's SCP as configured in ``[listener]``, with optional overrides (not started)."""
        configured = self.settings.listener
        return Listener(
            ae_title or self.settings.station.ae_title,
            configured.port if port is None else port,
            allowed_calling_aets=(
                configured.allowed_calling_aets
                if allowed_calling_aets is None
                else allowed_calling_aets
            ),
            max_pdu_bytes=self.settings.network.max_pdu_bytes,
        )

    # -- capture ------------------------------------------------------------------------------

    def capture_still(self, pixels: np.ndarray | None = None) -> InstanceRecord:
        """Store one RGB frame (by default the source's next) as an SC image.

        Returns only once the file is on disk (fsync'ed) and indexed.

        Raises
        ------
        TransitionError
            When no procedure is capturing.
        """
        with self._lock:
            procedure = self._procedure
            if procedure is None or procedure.state not in CAPTURING_STATES:
                raise TransitionError(self.state, ProcedureState.IN_PROGRESS)
            if pixels is None:
                pixels = self.source.frame(self._captured)
            self._captured += 1
            series = self._series_for(procedure)
            instance_number = self._next_instance_number
            self._next_instance_number += 1
            station = self.settings.station
            context = InstanceContext(
                study=StudyContext(
                    patient=procedure.patient,
                    study_instance_uid=procedure.study_uid,
                    study_date=procedure.study_date,
                    study_time=procedure.study_time,
                    accession_number=procedure.accession_number,
                    study_id=str(procedure.procedure_id),
                    description=procedure.description,
                ),
                series=series,
                equipment=self._equipment(),
                sop_instance_uid=self.uids.new(),
                instance_number=instance_number,
                character_set=station.character_set,
                content_time=datetime.now(),
            )
            dataset = secondary_capture_image(
                pixels, context, conversion_type=ConversionType.DIGITIZED_VIDEO
            )
            record = self.store.add_dataset(dataset)
            self._stored += 1
        self.events.instance_stored.emit(record)
        return record

    def _series_for(self, procedure: Procedure) -> SeriesContext:
        if self._series is None:
            existing = self.store.series(procedure.study_uid)
            self._series = SeriesContext(
                series_instance_uid=self.uids.new(),
                series_number=1 + max((s.series_number or 0 for s in existing), default=0),
                modality="OT",
                description="Stills",
            )
            self._next_instance_number = 1
        return self._series

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


def _transfer_syntax(
    text: str | None, iod: recipes.Iod | None
) -> tuple[TransferSyntax | None, VideoSyntax | None]:
    """``--ts`` as an image transfer syntax or a video one, as the IOD takes.

    Without ``--iod`` either kind is accepted: an image syntax applies to images, a video
    syntax to clips.
    """
    if not text:
        return None, None
    if iod is not None and iod.is_video:
        return None, VideoSyntax.from_text(text)
    if iod is not None:
        return TransferSyntax.from_text(text), None
    try:
        return TransferSyntax.from_text(text), None
    except ValueError as image_error:
        try:
            return None, VideoSyntax.from_text(text)
        except ValueError:
            raise ValueError(f"{image_error}; or for video: {_video_names()}") from None


def _video_names() -> str:
    return ", ".join(syntax.name_for_cli for syntax in VideoSyntax)


class _ConvertRun:
    """Series, numbering and output names of one :meth:`Engine.convert` run."""

    #: Most bytes of one fragment of a video stream; None: 2^32-2 (smaller in tests).
    max_stream_bytes: int | None = None

    def __init__(
        self,
        engine: Engine,
        study: StudyContext,
        out: Path | None,
        character_set: str,
        frame_progress: Callable[[FrameProgress], None] | None = None,
    ) -> None:
        self.engine = engine
        self.study = study
        self.out = out
        self.character_set = character_set
        self.frame_progress = frame_progress
        self.series: dict[recipes.Iod, SeriesContext] = {}
        self.counts: dict[recipes.Iod, int] = {}
        self.names: set[str] = set()

    def convert(
        self,
        label: str,
        files: list[Path] | importers.InputError,
        iod: recipes.Iod | None,
        options: recipes.ConvertOptions,
        multiframe: bool,
        report: ConvertReport,
    ) -> tuple[tuple[str, ...], str | None, list[str]]:
        """Convert one input; record it in ``report``; return outputs, error and notes."""
        notes: list[str] = []
        try:
            if isinstance(files, importers.InputError):
                raise files
            jobs = recipes.jobs_for(files, iod, options, multiframe=multiframe)
            if len(jobs) == 1 and jobs[0].clip and jobs[0].recipe.video_kind:
                written, records = self._convert_video(label, jobs[0])
            else:
                built = self._build(jobs)
                written, records = self._write(built)
            for job in jobs:
                notes.extend(dict.fromkeys(job.notes))
        except ValueError as exc:
            reason = exc.problem if isinstance(exc, importers.InputError) else str(exc)
            if (
                isinstance(exc, importers.InputError)
                and exc.path.name
                and (importers.display_name(exc.path) != label)
            ):
                reason = f"{importers.display_name(exc.path.name)}: {reason}"
            report.failures.append(ConvertFailure(label, reason))
            return (), reason, notes
        report.converted += 1
        report.outputs.extend(written)
        report.records.extend(records)
        report.notes.extend((label, note) for note in notes)
        return tuple(str(path) for path in written), None, notes

    def _build(self, jobs: list[recipes.Job]) -> list[tuple[recipes.Job, Dataset]]:
        """Every instance of one input, or none: numbering is rolled back on failure."""
        series, counts = dict(self.series), dict(self.counts)
        built = []
        try:
            for job in jobs:
                context = self._context(job.recipe)
                try:
                    built.append((job, job.build(context)))
                except importers.InputError:
                    raise
                except ValueError as exc:
                    if len(job.frames) == 1 and job.frames[0].label:  # a page of a file
                        raise ValueError(f"{job.frames[0].label}: {exc}") from exc
                    raise
        except BaseException:
            self.series, self.counts = series, counts
            raise
        return built

    def _context(self, recipe: recipes.Recipe) -> InstanceContext:
        engine = self.engine
        series = self.series.get(recipe.iod)
        if series is None:
            used = {s.series_number for s in self.series.values()}
            series = SeriesContext(
                series_instance_uid=engine.uids.new(),
                series_number=1 + max(used, default=0),
                modality=recipe.modality,
                description=recipe.series_description,
            )
            self.series[recipe.iod] = series
        self.counts[recipe.iod] = self.counts.get(recipe.iod, 0) + 1
        return InstanceContext(
            study=self.study,
            series=series,
            equipment=engine._equipment(),
            sop_instance_uid=engine.uids.new(),
            instance_number=self.counts[recipe.iod],
            character_set=self.character_set,
            content_time=datetime.now(),
        )

    def _write(
        self, built: list[tuple[recipes.Job, Dataset]]
    ) -> tuple[list[Path], list[InstanceRecord]]:
        """Write every instance of one input; with ``out``, remove them all if one fails."""
        written: list[Path] = []
        records: list[InstanceRecord] = []
        try:
            for job, dataset in built:
                if self.out is None:
                    record = self.engine.store.add_dataset(dataset)
                    records.append(record)
                    written.append(record.path)
                else:
                    target = self.out / self._name(job)
                    atomic_write(
                        target,
                        lambda handle, ds=dataset: ds.save_as(handle, enforce_file_format=True),
                        validate=lambda path, uid=dataset.SOPInstanceUID: _check_output(path, uid),
                    )
                    written.append(target)
        except OSError as exc:
            if self.out is not None:
                for path in written:
                    path.unlink(missing_ok=True)
            raise ValueError(f"cannot write the output: {exc.strerror or exc}") from exc
        for record in records:
            self.engine.events.instance_stored.emit(record)
        return written, records

    # -- video ---------------------------------------------------------------------------

    def _convert_video(
        self, label: str, job: recipes.Job
    ) -> tuple[list[Path], list[InstanceRecord]]:
        """Make the video instance(s) of one clip, all or none (see :meth:`Engine.convert`).

        Every instance is written and verified under a temporary name next to its
        destination first; only when all parts are done are they renamed into place (the
        output folder) or adopted by the store.
        """
        from izer.encode.video import (
            ClipStreams,
            ConformError,
            VideoKind,
            video_image,
            write_video_instance,
        )

        recipe, options = job.recipe, job.options
        assert recipe.video_kind is not None
        kind = VideoKind[recipe.video_kind]
        if options.transfer_syntax is not None:
            job.notes.append(
                f"--ts {options.transfer_syntax.name.lower().replace('_', '-')} applies to "
                f"images; izer chose the video transfer syntax (or give one of {_video_names()})"
            )
        scratch_folder = self.out if self.out is not None else self.engine.store.studies_folder
        scratch_folder.mkdir(parents=True, exist_ok=True)
        series, counts = dict(self.series), dict(self.counts)
        made: list[Path] = []
        limits = (
            {} if self.max_stream_bytes is None else {"max_stream_bytes": self.max_stream_bytes}
        )
        try:
            with ClipStreams(
                job.sources[0],
                self._scratch_path,
                options.clip_request(),
                progress=self._clip_progress(label),
                **limits,
            ) as streams:
                for part in streams.parts():
                    context = self._context(recipe)
                    dataset = video_image(
                        part.path,
                        part.info,
                        context,
                        kind=kind,
                        syntax=part.syntax,
                        fragmentable=part.fragmentable,
                    )
                    instance = self._scratch_path(f"part{part.number:03d}.dcm")
                    made.append(instance)
                    write_video_instance(dataset, instance)
                job.notes.extend(streams.notes)
            return self._commit_video(job, made)
        except (ConformError, OSError, StoreError) as exc:
            self.series, self.counts = series, counts
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"cannot write the video instance: {reason}") from exc
        except BaseException:
            self.series, self.counts = series, counts
            raise
        finally:
            for path in made:
                path.unlink(missing_ok=True)

    def _scratch_path(self, name: str) -> Path:
        if self.out is None:
            return self.engine.store.scratch_path(name)
        return self.out / f"{TEMPORARY_PREFIX}{os.urandom(6).hex()}-{name}"

    def _commit_video(
        self, job: recipes.Job, made: list[Path]
    ) -> tuple[list[Path], list[InstanceRecord]]:
        """Rename the verified instances into place, or have the store adopt them."""
        written: list[Path] = []
        records: list[InstanceRecord] = []
        if self.out is None:
            for path in made:
                record = self.engine.store.adopt_file(path)
                records.append(record)
                written.append(record.path)
            for record in records:
                self.engine.events.instance_stored.emit(record)
            return written, records
        try:
            for number, path in enumerate(made, start=1):
                suffix = f"-part{number:03d}" if len(made) > 1 else ""
                target = self.out / self._name(job, suffix)
                os.replace(path, target)
                written.append(target)
        except BaseException:
            for target in written:
                target.unlink(missing_ok=True)
            raise
        fsync_folder(self.out)
        return written, records

    def _clip_progress(self, label: str) -> Callable[[str, int, int], None] | None:
        report = self.frame_progress
        if report is None:
            return None

        def progress(stage: str, done: int, total: int) -> None:
            with contextlib.suppress(Exception):  # a display problem must not stop the work
                report(FrameProgress(label, stage, done, total))

        return progress

    def _name(self, job: recipes.Job, suffix: str = "") -> str:
        source = job.sources[0] if len(job.sources) == 1 else job.sources[0].parent
        stem = importers.display_name(source.stem if source.suffix else source.name)
        stem = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in stem)
        if len(job.frames) == 1 and job.frames[0].label.startswith("page "):
            stem += f"-p{int(job.frames[0].label.removeprefix('page ')):03d}"
        stem = (stem[:120] or "image") + suffix
        name, counter = f"{stem}.dcm", 1
        while name in self.names or (self.out is not None and (self.out / name).exists()):
            counter += 1
            name = f"{stem}-{counter}.dcm"
        self.names.add(name)
        return name


def _check_output(path: Path, sop_instance_uid: str) -> None:
    """Read back the header just written (before it gets its final name)."""
    header = dcmread(path, stop_before_pixels=True)
    if header.SOPInstanceUID != sop_instance_uid:
        raise OSError(f"{path.name} does not read back as the instance just written")


# -- export ---------------------------------------------------------------------------------------

#: Fields ``ExportOptions.pattern`` may use, with what each holds.
EXPORT_PATTERN_FIELDS = export_names.PATTERN_FIELDS
_UID_TEXT = re.compile(r"^[0-9]+(\.[0-9]+)+$")


@dataclass(frozen=True)
class ExportOptions:
    """How :meth:`Engine.export` writes: ``jpeg`` or ``png`` stills, JPEG quality, folders."""

    stills: str = "jpeg"
    quality: int = 95
    pattern: str = export_names.DEFAULT_PATTERN


@dataclass(frozen=True)
class ExportStep:
    """One instance (or a target that names none): files written, or why none were."""

    index: int
    total: int
    source: str
    outputs: tuple[Path, ...] = ()
    error: str | None = None
    skipped: str | None = None
    notes: tuple[str, ...] = ()


@dataclass
class ExportReport:
    """What an export run did, instance by instance."""

    to_dir: Path
    steps: list[ExportStep] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        """Every file written."""
        return [path for step in self.steps for path in step.outputs]

    @property
    def instances(self) -> int:
        """Instances that gave at least one file."""
        return sum(1 for step in self.steps if step.outputs)

    @property
    def failures(self) -> list[ExportStep]:
        """Steps that failed (nothing was left of them)."""
        return [step for step in self.steps if step.error is not None]

    @property
    def skipped(self) -> list[ExportStep]:
        """Objects with nothing to export (presentation states, SR...)."""
        return [step for step in self.steps if step.skipped is not None]


class _ExportRun:
    """Target resolution, names and atomic writes of one :meth:`Engine.export` run."""

    def __init__(self, engine: Engine, to_dir: Path, options: ExportOptions) -> None:
        self.engine = engine
        self.stills = extract.StillFormat.from_text(options.stills)
        if not 1 <= int(options.quality) <= 100:
            raise ValueError(f"JPEG quality must be 1 to 100, got {options.quality}")
        self.quality = int(options.quality)
        export_names.check_pattern(options.pattern)
        self.pattern = options.pattern
        if to_dir.exists() and not to_dir.is_dir():
            raise ValueError(f"{to_dir}: exists and is not a folder; choose a folder to export to")
        self.to_dir = to_dir
        self.taken: set[str] = set()

    def run(
        self, targets: Sequence[str | Path], progress: Callable[[ExportStep], None] | None
    ) -> ExportReport:
        tasks = self._tasks(targets)
        report = ExportReport(self.to_dir)
        self.to_dir.mkdir(parents=True, exist_ok=True)
        for index, (label, path, problem) in enumerate(tasks, start=1):
            if path is None:
                step = ExportStep(index, len(tasks), label, error=problem)
            else:
                step = self._export(index, len(tasks), label, path, explicit=problem is None)
            report.steps.append(step)
            if progress is not None:
                progress(step)
        return report

    def _tasks(self, targets: Sequence[str | Path]) -> list[tuple[str, Path | None, str | None]]:
        """``(label, file, problem)``: problem ``None`` for a file named directly, ``""`` for
        one found in a folder (not DICOM: skipped), text when the target names nothing."""
        tasks: list[tuple[str, Path | None, str | None]] = []
        seen: set[Path] = set()

        def add(label: str, path: Path, problem: str | None) -> None:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                tasks.append((label, path, problem))

        for target in targets:
            text = str(target)
            path = Path(text)
            if path.is_dir():
                files = sorted(
                    p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                )
                for file in files:
                    add(importers.display_name(file), file, "")
                if not files:
                    tasks.append((text, None, "the folder holds no files"))
            elif path.is_file():
                add(importers.display_name(path), path, None)
            elif _UID_TEXT.match(text.strip()):
                records = self._records(text.strip())
                for record in records:
                    add(record.sop_instance_uid, record.path, None)
                if not records:
                    tasks.append(
                        (
                            text,
                            None,
                            "no such file or folder, nor a study, series or instance "
                            "with this UID in the local store",
                        )
                    )
            else:
                tasks.append((text, None, "no such file or folder"))
        return tasks

    def _records(self, uid: str) -> list[InstanceRecord]:
        store = self.engine.store
        study = store.instances(uid)
        if study:
            return study
        return [
            record
            for record in store.instances()
            if uid in (record.sop_instance_uid, record.series_instance_uid)
        ]

    def _export(
        self, index: int, total: int, label: str, path: Path, *, explicit: bool
    ) -> ExportStep:
        written: list[Path] = []
        notes: list[str] = []
        try:
            source = extract.read_instance(path)
            if source.kind is None:
                return ExportStep(index, total, label, skipped=source.skip_reason)
            fields = export_names.naming_fields(source.header)
            folders = export_names.folder_components(self.pattern, fields)
            folder = export_names.contained(self.to_dir, folders)

            def taken(candidate: str) -> bool:
                return self._is_taken(folder / candidate)

            for output in extract.outputs(
                source, stills=self.stills, quality=self.quality, scratch=self.to_dir
            ):
                stem = export_names.file_stem(fields, source.kind.value, output.frame)
                name = export_names.numbered_name(stem, output.extension, taken)
                target = export_names.contained(self.to_dir, [*folders, name])
                self.taken.add(str(target).casefold())
                atomic_write(target, output.write)
                written.append(target)
                notes.extend(output.notes)
        except extract.NotDicomError as exc:
            if explicit:
                return ExportStep(index, total, label, error=str(exc))
            return ExportStep(index, total, label, skipped="not a DICOM file")
        except Exception as exc:  # one instance failing must not stop the others
            for done in written:
                done.unlink(missing_ok=True)
            reason = str(exc) if isinstance(exc, (ValueError, OSError)) else repr(exc)
            return ExportStep(index, total, label, error=reason or type(exc).__name__)
        return ExportStep(index, total, label, tuple(written), notes=tuple(notes))

    def _is_taken(self, path: Path) -> bool:
        return str(path).casefold() in self.taken or path.exists()
