"""Converting image, document, sound and video files into one new study (``izer convert``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.dataset import Dataset

from izer.encode import (
    InstanceContext,
    SeriesContext,
    StudyContext,
    TransferSyntax,
    importers,
    recipes,
)
from izer.encode.video import VideoSyntax
from izer.model import InstanceRecord, Patient
from izer.store import StoreError, atomic_write
from izer.store.atomic import TEMPORARY_PREFIX, fsync_folder

if TYPE_CHECKING:
    from izer.engine.core import Engine


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
