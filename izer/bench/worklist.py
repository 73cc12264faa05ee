"""The default worklist query with 1,000 scheduled items: izer against DCMTK ``findscu``.

A DCMTK ``wlmscpfs`` on a free loopback port serves ``items`` made-up ``.wl`` files for
today, this station and modality ES. izer runs the nurse's default query
(:meth:`WorklistQuery.default_for`), types every response (:class:`WorklistItem`) and maps
every item to its procedure context (:meth:`WorklistItem.context`: Request Attributes and
MPPS Scheduled Step items; rendering ``study_attributes()`` is left to the one item
selected); ``findscu -W`` sends the very same identifier (written to a file) and discards the
answers. The sides alternate (paired runs); the ratio is the median of the pair ratios.
izer runs in-process, findscu as a process: its start-up (~10 ms) is in its time, which makes
the ratio slightly kinder to izer than a like-for-like comparison.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from izer.bench.peers import IZER_AET, free_port, nodelay_env, running_scp, tool
from izer.bench.scratch import BENCH_ROOT
from izer.bench.timing import PairedResult, paired
from izer.config import Destination, NetworkSettings, StationSettings
from izer.net import AssociationFactory
from izer.worklist import WorklistQuery, find_worklist

SCP_AET = "BENCHWL"
MODALITY = "ES"
MWL_FIND = "1.2.840.10008.5.1.4.31"
START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class WorklistReport:
    """Paired timing of both sides and what izer returned."""

    items: int
    result: PairedResult
    mapped: int
    findscu_command: str

    def lines(self) -> list[str]:
        """The table ``izer bench worklist`` prints."""
        r = self.result
        return [
            f"worklist: default query (today, {IZER_AET}, {MODALITY}) returning {self.items} "
            f"items from DCMTK wlmscpfs over loopback, {r.runs} paired run(s)",
            f"  izer find_worklist + mapping ({self.mapped} contexts): {r.izer_s * 1000:8.1f} ms",
            f"  findscu (same identifier)           : {r.reference_s * 1000:8.1f} ms",
            f"  ratio izer / findscu (median of pairs): {r.ratio:.2f}",
            f"  findscu: TCP_NODELAY=1 {self.findscu_command}",
        ]


def _tool(name: str) -> str:
    return tool(name, "worklist")


def write_items(folder: Path, count: int, today: str) -> None:
    """Write ``count`` made-up items scheduled ``today`` for this station (UTF-8 names)."""
    step = Dataset()
    step.Modality = MODALITY
    step.ScheduledStationAETitle = IZER_AET
    step.ScheduledProcedureStepStartDate = today
    step.ScheduledPerformingPhysicianName = "Bench^Doctor"
    step.ScheduledProcedureStepDescription = "Gastroskopie"
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ReferencedStudySequence = []
    ds.ReferencedPatientSequence = []
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.RequestedProcedureDescription = "Endoskopie des Magens"
    ds.ReferringPhysicianName = "Überweiser^Ärztin"
    ds.ScheduledProcedureStepSequence = [step]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MWL_FIND
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for number in range(1, count + 1):
        ds.PatientName = f"Bänch^Patiënt {number}"
        ds.PatientID = f"IZB-{number}"
        ds.AccessionNumber = f"IZBENCH{number:06d}"
        ds.StudyInstanceUID = f"{BENCH_ROOT}.7.{number}"
        ds.RequestedProcedureID = f"RP{number}"
        step.ScheduledProcedureStepID = f"SPS{number}"
        step.ScheduledProcedureStepStartTime = f"{7 + number % 12:02d}{number % 60:02d}00"
        ds.file_meta.MediaStorageSOPInstanceUID = f"{ds.StudyInstanceUID}.1"
        ds.save_as(folder / f"{ds.AccessionNumber}.wl", enforce_file_format=True)


@contextmanager
def _wlmscpfs(root: Path, count: int, today: str) -> Iterator[int]:
    """``wlmscpfs`` on a free loopback port serving ``count`` items; stopped after."""
    database = root / "wlm"
    folder = database / SCP_AET
    folder.mkdir(parents=True)
    (folder / "lockfile").write_bytes(b"")
    write_items(folder, count, today)
    port = free_port()
    argv = [_tool("wlmscpfs"), "-dfp", str(database), "-dhl", "-csk", "-s", str(port)]
    with running_scp(
        argv, aet=SCP_AET, port=port, log_path=root / "wlmscpfs.log", timeout_s=START_TIMEOUT_S
    ):
        yield port


def run(items: int = 1000, runs: int = 5) -> WorklistReport:
    """Run the benchmark in a scratch folder (removed afterwards).

    Raises
    ------
    RuntimeError
        When a DCMTK tool is missing or a side returns the wrong number of items.
    """
    if items < 1 or runs < 1:
        raise ValueError("items and runs must be at least 1")
    today = dt.date.today()
    query = WorklistQuery.default_for(IZER_AET, MODALITY, today)
    with tempfile.TemporaryDirectory(prefix="izer-bench-worklist-") as scratch:
        root = Path(scratch)
        query_file = root / "query.dcm"
        identifier = query.identifier()
        identifier.save_as(query_file, implicit_vr=False, little_endian=True)
        with _wlmscpfs(root, items, today.strftime("%Y%m%d")) as port:
            factory = AssociationFactory(
                StationSettings(ae_title=IZER_AET, uid_root=BENCH_ROOT), NetworkSettings()
            )
            target = Destination(name="wlmscpfs", ae_title=SCP_AET, host="127.0.0.1", port=port)
            argv = [
                _tool("findscu"), "-W", "-aet", IZER_AET, "-aec", SCP_AET,
                "127.0.0.1", str(port), str(query_file),
            ]  # fmt: skip
            environment = nodelay_env()
            mapped: list[int] = []

            def izer_side(run: int) -> None:
                result = find_worklist(factory, target, query)
                contexts = [item.context() for item in result.items]
                if len(contexts) != items:
                    raise RuntimeError(f"izer got {len(contexts)} of {items} items")
                mapped.append(len(contexts))

            def findscu_side(run: int) -> None:
                subprocess.run(
                    argv, check=True, env=environment, capture_output=True, stdin=subprocess.DEVNULL
                )

            _check_findscu_count(argv, environment, items)
            result = paired(izer_side, findscu_side, runs=runs)
    shown = " ".join(["findscu", *argv[1:-3], "127.0.0.1", "PORT", "query.dcm"])
    return WorklistReport(items, result, mapped[-1], shown)


def _check_findscu_count(argv: list[str], environment: dict[str, str], items: int) -> None:
    """Untimed: findscu -v must report ``items`` pending responses (the same work)."""
    done = subprocess.run(
        [argv[0], "-v", *argv[1:]], env=environment, capture_output=True, text=True, check=True
    )
    found = (done.stdout + done.stderr).count("(Pending")
    if found != items:
        raise RuntimeError(f"findscu got {found} of {items} items")
