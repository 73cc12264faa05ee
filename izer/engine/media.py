"""Patient media for the engine: file-sets with a web viewer, ISO images, and burn jobs.

:class:`MediaController` (``engine.media``) puts the rooms of :mod:`izer.dispatch.media`
together:

* ``build(targets, out=DIR | iso=FILE)``: the instances (store UIDs, files or folders) become
  one IHE PDI medium, or several when they do not fit on one disc (PS3.11 allows no
  multi-volume file-sets, so each disc is a complete file-set of whole studies where
  possible): ``DICOMDIR`` and ``DICOM/`` (the file-set, with the media profile its content
  allows), ``README.TXT``, ``INDEX.HTM`` and ``IHE_PDI/`` (the web viewer), and the label
  text. A folder is written next to its final name and renamed into place; an ISO image the
  same way. The same folder layout goes to a USB stick (``out`` on the stick).
* ``queue_burn(image, device, copies=N)``: N BURN jobs in the outbox (one per disc, on the
  destination ``burner:<device>``). A job waits, retried with backoff, while the drive has no
  blank disc in it; the disc is written, read back and compared, and ejected.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from psygnal import Signal
from pydicom import dcmread
from pydicom.dataset import Dataset

from izer.dispatch.errors import DeliveryError
from izer.dispatch.media import (
    FileSetReport,
    MediaProfile,
    Medium,
    build_fileset,
    split_by_capacity,
)
from izer.dispatch.media.burn import (
    DEFAULT_BURN_TOOL,
    BurnError,
    BurnReport,
    BurnTool,
    Drive,
    burn,
    list_drives,
)
from izer.dispatch.media.iso import IsoNaming, IsoReport, make_iso
from izer.dispatch.media.pdi import (
    MediaLabel,
    WebReport,
    label_for,
    write_pdi_web,
    write_readme,
)
from izer.dispatch.outbox import Job, JobKind

if TYPE_CHECKING:
    from izer.engine.core import Engine

__all__ = [
    "BURNER_PREFIX",
    "DEFAULT_BURN_TOOL",
    "BurnTool",
    "MediaBuildReport",
    "MediaController",
    "MediaProfile",
    "MediaVolume",
    "Medium",
]

#: Outbox destination of a drive's burn jobs: ``burner:<device>``.
BURNER_PREFIX = "burner:"
#: Room a web viewer takes besides the DICOM files, as a share of them: videos are copied as
#: MP4 and stills as JPEG with thumbnails.
WEB_SHARE_WITH_VIDEO = 1.0
WEB_SHARE_STILLS = 0.5
#: Bytes kept free on every disc for DICOMDIR, README.TXT, INDEX.HTM and file system tables.
RESERVE_BYTES = 8 * 1024 * 1024


@dataclass
class MediaVolume:
    """One disc (or folder) of a build: where it is, what is on it, its label."""

    fileset: FileSetReport
    label: MediaLabel
    folder: Path | None = None
    iso: IsoReport | None = None
    web: WebReport | None = None


@dataclass
class MediaBuildReport:
    """A whole build: its volumes, and notes for the user."""

    volumes: list[MediaVolume]
    notes: list[str] = field(default_factory=list)


class MediaEvents:
    """``burned(job_id, report)``: a burn job of this process ended well."""

    burned = Signal(int, object)


class MediaController:
    """Builds media and queues burn jobs (see the module documentation)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.events = MediaEvents()
        self._outcomes: dict[int, BurnReport] = {}
        self._lock = threading.Lock()
        engine.dispatch.register_handler(JobKind.MEDIA, self._run_burn)

    # -- building -------------------------------------------------------------------------------

    def build(
        self,
        targets: Sequence[str | Path],
        *,
        out: Path | None = None,
        iso: Path | None = None,
        medium: Medium = Medium.CD,
        profile: MediaProfile | None = None,
        web: bool = True,
        institution: str = "",
        progress: Callable[[str, int, int], None] | None = None,
    ) -> MediaBuildReport:
        """Make the medium (or media) of ``targets`` as a folder ``out`` or an image ``iso``.

        Parameters
        ----------
        targets
            Store UIDs, DICOM files or folders (files are imported into the store first).
        medium
            What it is for: its capacity splits the instances over several volumes (folders
            ``out_1``, ``out_2``... or images ``name_1.iso``...), and it decides the media
            profiles that can be claimed (PS3.11).
        profile
            A profile to claim; ``None`` chooses from the content (a general file-set when
            none fits, e.g. HEVC video on USB).
        web
            Add the IHE PDI web viewer (``DICOM PLUS WEB``); else ``DICOM ONLY``.
        progress
            Called with (stage, done, total): ``fileset``, ``web`` and ``iso`` per volume.

        Raises
        ------
        ValueError
            For bad targets or options, content the chosen profile does not allow, an
            instance larger than the medium, or an ``out`` that exists and is not empty.
        """
        if (out is None) == (iso is None):
            raise ValueError("give either a folder (out) or an image file (iso), not both")
        records = self._engine.dispatch.resolve_targets(targets)
        if not records:
            raise ValueError("nothing to put on the medium")
        headers = {record.path: _header(record.path) for record in records}
        volumes = self._volumes(list(headers.items()), medium, web)
        count = len(volumes)
        institution = institution or self._engine.settings.station.institution_name
        report = MediaBuildReport([])
        if count > 1:
            report.notes.append(
                f"the instances need {count} {medium.value.upper()} discs; each is a complete "
                "DICOM file-set with its own viewer"
            )
        for number, paths in enumerate(volumes, start=1):
            target_folder = _numbered(out, number, count) if out is not None else None
            target_iso = _numbered(iso, number, count) if iso is not None else None
            report.volumes.append(
                self._build_volume(
                    paths,
                    [headers[p] for p in paths],
                    folder=target_folder,
                    iso=target_iso,
                    medium=medium,
                    profile=profile,
                    web=web,
                    institution=institution,
                    number=number,
                    count=count,
                    progress=progress,
                )
            )
        return report

    def _volumes(
        self, items: list[tuple[Path, Dataset]], medium: Medium, web: bool
    ) -> list[list[Path]]:
        capacity = medium.capacity_bytes
        if capacity is None:
            return [[path for path, _ in items]]
        share = 0.0
        if web:
            video = any(_is_video(header) for _, header in items)
            share = WEB_SHARE_WITH_VIDEO if video else WEB_SHARE_STILLS
        usable = int(capacity / (1.0 + share))
        return split_by_capacity(items, usable, reserve_bytes=RESERVE_BYTES)

    def _build_volume(
        self,
        paths: list[Path],
        headers: list[Dataset],
        *,
        folder: Path | None,
        iso: Path | None,
        medium: Medium,
        profile: MediaProfile | None,
        web: bool,
        institution: str,
        number: int,
        count: int,
        progress: Callable[[str, int, int], None] | None,
    ) -> MediaVolume:
        def stage(name: str) -> Callable[[int, int], None] | None:
            if progress is None:
                return None
            return lambda done, total: progress(f"{name} {number}/{count}", done, total)

        fileset_id = _fileset_id(number, count)
        label = label_for(headers, institution=institution, web=web, volume=number, volumes=count)
        with contextlib.ExitStack() as cleanup:
            if folder is not None:
                root = folder
            else:
                assert iso is not None
                scratch = Path(
                    cleanup.enter_context(
                        tempfile.TemporaryDirectory(prefix=".izer-media-", dir=iso.parent)
                    )
                )
                root = scratch / "disc"
            fileset = build_fileset(
                paths,
                root,
                medium=medium,
                profile=profile,
                fileset_id=fileset_id,
                progress=stage("fileset"),
            )
            try:
                web_report = self._web(root, label, fileset, web, stage("web"))
            except BaseException:
                if folder is not None:
                    shutil.rmtree(root, ignore_errors=True)  # no half medium left behind
                raise
            volume = MediaVolume(fileset, label, folder=folder, web=web_report)
            if iso is not None:
                optical = medium.value in ("cd", "dvd", "bd")
                naming = IsoNaming(medium.value) if optical else IsoNaming.CD
                volume.iso = make_iso(
                    root, iso, volume_id=fileset_id, naming=naming, progress=stage("iso")
                )
            return volume

    @staticmethod
    def _web(
        root: Path,
        label: MediaLabel,
        fileset: FileSetReport,
        web: bool,
        progress: Callable[[int, int], None] | None,
    ) -> WebReport | None:
        profile_text = _profile_text(fileset)
        if web:
            return write_pdi_web(root, label, progress=progress, profile_text=profile_text)
        write_readme(root, label, profile_text=profile_text)
        return None

    # -- burning --------------------------------------------------------------------------------

    @staticmethod
    def drives() -> list[Drive]:
        """The optical drives of this computer (``[]`` when none or no tool to ask)."""
        return list_drives()

    def queue_burn(
        self,
        image: Path,
        device: str,
        *,
        copies: int = 1,
        simulate: bool = False,
        speed: str = "",
        verify: bool = True,
        eject: bool = True,
        tool: BurnTool = DEFAULT_BURN_TOOL,
    ) -> list[Job]:
        """Queue one burn job per copy of ``image`` (an ISO or a media folder) on ``device``.

        Raises
        ------
        ValueError
            For a missing image, no device, or bad options.
        """
        image = Path(image).expanduser().resolve()
        if not image.exists():
            raise ValueError(f"no image or media folder at {image}")
        if image.is_dir() and not (image / "DICOMDIR").is_file():
            raise ValueError(f"{image} has no DICOMDIR: make the medium with izer media build")
        if not device.strip():
            raise ValueError("name the drive (--device), e.g. /dev/sr0 or stdio:/path/disc.iso")
        if copies < 1:
            raise ValueError(f"copies must be 1 or more, not {copies}")
        request = uuid.uuid4()
        jobs = []
        for copy in range(1, copies + 1):
            payload = {
                "image": str(image),
                "device": device,
                "copy": copy,
                "copies": copies,
                "simulate": simulate,
                "speed": speed,
                "verify": verify,
                "eject": eject,
                "tool": BurnTool(tool).value,
            }
            jobs.append(
                self._engine.dispatch.outbox.enqueue(
                    JobKind.MEDIA,
                    BURNER_PREFIX + device,
                    sop_uid=f"burn:{request}:{copy}",
                    payload=payload,
                    bytes_total=_size(image),
                )
            )
        return jobs

    def outcome(self, job_id: int) -> BurnReport | None:
        """What a burn job run by this process did (``None`` before it ended well)."""
        with self._lock:
            return self._outcomes.get(job_id)

    def _run_burn(self, job: Job, progress: Callable[[int, int], None]) -> None:
        progress(0, 0)
        payload = job.payload
        try:
            report = burn(
                Path(payload["image"]),
                str(payload["device"]),
                speed=str(payload.get("speed", "")),
                simulate=bool(payload.get("simulate", False)),
                verify=bool(payload.get("verify", True)),
                eject=bool(payload.get("eject", True)),
                tool=BurnTool(payload.get("tool", DEFAULT_BURN_TOOL.value)),
                progress=progress,
            )
        except BurnError as exc:
            copy = f"disc {payload.get('copy', 1)} of {payload.get('copies', 1)}"
            raise DeliveryError(f"burn {copy}: {exc}", transient=exc.transient) from None
        except (ValueError, KeyError) as exc:
            raise DeliveryError(f"burn: {exc}", transient=False) from None
        with self._lock:
            self._outcomes[job.job_id] = report
        self.events.burned.emit(job.job_id, report)


def _header(path: Path) -> Dataset:
    return dcmread(path, stop_before_pixels=True)


def _is_video(header: Dataset) -> bool:
    syntax = str(getattr(header.file_meta, "TransferSyntaxUID", ""))
    return syntax.startswith("1.2.840.10008.1.2.4.10")


def _numbered(path: Path, number: int, count: int) -> Path:
    path = Path(path).expanduser()
    if count == 1:
        return path
    return path.with_name(f"{path.stem}_{number}{path.suffix}")


def _fileset_id(number: int, count: int) -> str:
    stamp = date.today().strftime("%Y%m%d")
    return f"IZER{stamp}" + (f"_{number}" if count > 1 else "")


def _profile_text(fileset: FileSetReport) -> str:
    profile = fileset.profile
    if profile is MediaProfile.GENERAL:
        return f"a general DICOM file-set (no PS3.11 media profile: {fileset.choice.reason})"
    return f"{profile.value} ({profile.annex})"


def _size(image: Path) -> int:
    if image.is_file():
        return image.stat().st_size
    return sum(p.stat().st_size for p in image.rglob("*") if p.is_file())
