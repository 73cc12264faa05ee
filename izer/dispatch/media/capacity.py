"""Splitting instances over several media, each volume a complete file-set of its own.

PS3.11 has no multi-volume file-sets (PS3.10 8.1: a file-set is on one medium), so content
too large for one disc becomes several independent file-sets. Whole studies stay together
where they fit (first-fit decreasing by study); a study larger than one medium is split by
series, and a series larger than one medium by instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

#: ISO 9660 / UDF logical block: every file occupies whole 2 KiB blocks on a disc.
SECTOR_BYTES = 2048
#: Room one instance takes in the DICOMDIR (its records and keys), a generous estimate.
RECORD_BYTES = 2048


@dataclass
class _Unit:
    paths: list[Path]
    cost: int


@dataclass
class _Volume:
    free: int
    paths: list[Path] = field(default_factory=list)


def instance_cost(size: int) -> int:
    """Bytes an instance of ``size`` bytes takes on a disc: whole sectors plus its records."""
    return -(-size // SECTOR_BYTES) * SECTOR_BYTES + RECORD_BYTES


def split_by_capacity(
    instances: Sequence[tuple[Path, Dataset]], capacity_bytes: int, reserve_bytes: int = 0
) -> list[list[Path]]:
    """Share ``instances`` out over volumes of ``capacity_bytes`` each.

    Parameters
    ----------
    instances
        Each instance's path and header (Study and Series Instance UID are used).
    capacity_bytes
        Usable bytes of one medium, e.g. :attr:`Medium.capacity_bytes`.
    reserve_bytes
        Bytes kept free on every volume for what is not DICOM (viewer, README, index).

    Returns
    -------
    list[list[Path]]
        One list of paths per volume, in the order of ``instances`` within each volume.

    Raises
    ------
    ValueError
        When one instance alone does not fit on a medium (it is named), or the reserve
        leaves no room.
    """
    room = capacity_bytes - reserve_bytes
    if room <= 0:
        raise ValueError(
            f"the reserve of {reserve_bytes} bytes leaves no room on a medium of "
            f"{capacity_bytes} bytes"
        )
    order = {Path(path): index for index, (path, _header) in enumerate(instances)}
    studies: dict[str, dict[str, list[tuple[Path, int]]]] = {}
    for path, header in instances:
        cost = instance_cost(Path(path).stat().st_size)
        if cost > room:
            raise ValueError(
                f"{path} needs {cost} bytes but a medium holds {room} bytes after the reserve; "
                "it cannot be written to this medium (use a larger one or USB)"
            )
        study = studies.setdefault(str(header.get("StudyInstanceUID", "")), {})
        study.setdefault(str(header.get("SeriesInstanceUID", "")), []).append((Path(path), cost))

    units: list[_Unit] = []
    for series in studies.values():
        whole = [item for items in series.values() for item in items]
        total = sum(cost for _path, cost in whole)
        if total <= room:
            units.append(_Unit([path for path, _cost in whole], total))
            continue
        for items in series.values():
            series_total = sum(cost for _path, cost in items)
            if series_total <= room:
                units.append(_Unit([path for path, _cost in items], series_total))
            else:
                units.extend(_Unit([path], cost) for path, cost in items)

    volumes: list[_Volume] = []
    for unit in sorted(units, key=lambda unit: -unit.cost):  # stable: ties keep input order
        target = next((volume for volume in volumes if volume.free >= unit.cost), None)
        if target is None:
            target = _Volume(room)
            volumes.append(target)
        target.paths.extend(unit.paths)
        target.free -= unit.cost
    return [sorted(volume.paths, key=order.__getitem__) for volume in volumes]
