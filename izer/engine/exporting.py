"""Exporting instances back to ordinary files (``izer export``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from izer.config import export_pattern
from izer.encode import (
    export_names,
    extract,
    importers,
)
from izer.model import InstanceRecord
from izer.store import atomic_write

if TYPE_CHECKING:
    from izer.engine.core import Engine


# -- export ---------------------------------------------------------------------------------------

#: Fields ``ExportOptions.pattern`` may use, with what each holds.
EXPORT_PATTERN_FIELDS = export_pattern.PATTERN_FIELDS
_UID_TEXT = re.compile(r"^[0-9]+(\.[0-9]+)+$")


@dataclass(frozen=True)
class ExportOptions:
    """How :meth:`Engine.export` writes: ``jpeg`` or ``png`` stills, JPEG quality, folders."""

    stills: str = "jpeg"
    quality: int = 95
    pattern: str = export_pattern.DEFAULT_PATTERN


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
        export_pattern.check_pattern(options.pattern)
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
