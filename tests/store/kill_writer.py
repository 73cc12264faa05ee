"""Child process for the SIGKILL test: stores large instances until it is killed.

Usage: python -m tests.store.kill_writer STORE_FOLDER
Prints "ready" once the store is open, then one line per instance written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydicom.uid import generate_uid

from izer.store import StudyStore
from tests.helpers.dicom_samples import make_secondary_capture


def main() -> None:
    store = StudyStore(Path(sys.argv[1]))
    print("ready", flush=True)
    ds = make_secondary_capture(rows=4096, columns=4096)
    number = 0
    while True:  # nearly all the time goes into writing, so a kill lands mid-write
        number += 1
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        store.add_dataset(ds)
        print(f"stored {number}", flush=True)


if __name__ == "__main__":
    main()
