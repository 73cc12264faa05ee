"""A pynetdicom MPPS SCP for izer's tests (test-peers.md §4); standalone, run as a script.

    python tests/peers/mpps_pynetdicom.py --port 11117 --aet MPPSSCP --outdir DIR

Behaviour (PS3.4 F.7.2), the same as ``node_peers/mpps_scp.js`` on dcmjs-dimse:

* Verification and the MPPS SOP Class are accepted.
* N-CREATE must carry Performed Procedure Step Status ``IN PROGRESS`` (else 0x0106) and an
  unknown SOP Instance UID (else 0x0111, duplicate).
* N-SET of an unknown instance gets 0x0112; of a COMPLETED or DISCONTINUED one 0x0110 (may no
  longer be updated); of an attribute the N-CREATE did not create 0x0105; a bad status 0x0106.
* Every accepted message is written as ``<uid>.000N.{create,set}.dcm`` (N counts the
  accepted messages of that instance) and the merged instance as ``<uid>.state.dcm``.
  Written files carry SOP Class/Instance UID (the MPPS ones) so they are Part-10 files.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

FINAL = {"COMPLETED", "DISCONTINUED"}
STATUSES = {"IN PROGRESS"} | FINAL

log = logging.getLogger("mpps_scp")


class MppsStore:
    """MPPS instances received, kept in memory and written to ``outdir``."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.instances: dict[str, Dataset] = {}
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def _write(self, uid: str, dataset: Dataset, kind: str) -> None:
        self.counts[uid] = self.counts.get(uid, 0) + 1
        self._save(dataset, self.outdir / f"{uid}.{self.counts[uid]:04d}.{kind}.dcm", uid)
        self._save(self.instances[uid], self.outdir / f"{uid}.state.dcm", uid)

    @staticmethod
    def _save(dataset: Dataset, path: Path, uid: str) -> None:
        copy = Dataset()
        copy.update(dataset)
        copy.SOPClassUID = ModalityPerformedProcedureStep
        copy.SOPInstanceUID = uid
        copy.file_meta = FileMetaDataset()
        copy.file_meta.MediaStorageSOPClassUID = ModalityPerformedProcedureStep
        copy.file_meta.MediaStorageSOPInstanceUID = uid
        copy.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        partial = path.with_suffix(".part")
        copy.save_as(partial, enforce_file_format=True)
        partial.replace(path)

    def create(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        uid = event.request.AffectedSOPInstanceUID
        if not uid:
            return _status(0x0120, "the SCU must give the Affected SOP Instance UID"), None
        attributes = event.attribute_list
        status = attributes.get("PerformedProcedureStepStatus", "")
        with self.lock:
            if uid in self.instances:
                return _status(0x0111, "this MPPS instance exists"), None
            if status != "IN PROGRESS":
                return _status(0x0106, f"N-CREATE status {status!r}, must be IN PROGRESS"), None
            self.instances[uid] = attributes
            self._write(uid, attributes, "create")
        log.info("N-CREATE %s accepted", uid)
        return 0x0000, attributes

    def set(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        uid = event.request.RequestedSOPInstanceUID
        modification = event.modification_list
        with self.lock:
            state = self.instances.get(uid)
            if state is None:
                return _status(0x0112, "no such MPPS instance"), None
            current = state.get("PerformedProcedureStepStatus", "")
            if current in FINAL:
                return _status(0x0110, f"already {current}", error_id=0xA710), None
            new_status = modification.get("PerformedProcedureStepStatus", current)
            if new_status not in STATUSES:
                return _status(0x0106, f"status {new_status!r}"), None
            for element in modification:
                if element.keyword == "SpecificCharacterSet":
                    continue  # F.7.2.2.3: combined with, not replacing, the N-CREATE one
                if element.tag not in state:
                    return _status(0x0105, f"{element.keyword} was not created"), None
            if new_status in FINAL:
                for keyword in ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime"):
                    if not modification.get(keyword, state.get(keyword)):
                        return _status(0x0121, f"{keyword} is required at {new_status}"), None
            if new_status == "COMPLETED" and not modification.get(
                "PerformedSeriesSequence", state.get("PerformedSeriesSequence")
            ):
                return _status(0x0121, "PerformedSeriesSequence is empty at COMPLETED"), None
            for element in modification:
                if element.keyword != "SpecificCharacterSet":
                    state[element.tag] = element
            self._write(uid, modification, "set")
        log.info("N-SET %s %s accepted", uid, new_status)
        return 0x0000, modification


def _status(code: int, comment: str, error_id: int | None = None) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]
    if error_id is not None:
        status.ErrorID = error_id
    log.info("refused 0x%04X: %s", code, comment)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--aet", default="MPPSSCP")
    parser.add_argument("--outdir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.outdir.mkdir(parents=True, exist_ok=True)
    store = MppsStore(args.outdir)
    ae = AE(ae_title=args.aet)
    ae.add_supported_context(Verification)
    ae.add_supported_context(ModalityPerformedProcedureStep)
    handlers = [(evt.EVT_N_CREATE, store.create), (evt.EVT_N_SET, store.set)]
    server = ae.start_server(("127.0.0.1", args.port), block=False, evt_handlers=handlers)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("MPPS SCP %s listening on 127.0.0.1:%d", args.aet, args.port)
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
