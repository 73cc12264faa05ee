"""Helper process for test_recovery: records a paced synthetic source until it is killed.

Usage: ``python recording_child.py FOLDER WIDTH HEIGHT FPS KEYFRAME_S MAX_CLIP_S``. Prints
``started <clip_id>`` once recording, then ``on_disk <frames>`` each time more frames are
safely on disk (fsync'ed), so the test knows the least a recovery must give back.
"""

from __future__ import annotations

import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

from izer.capture.base import VideoMode
from izer.capture.recorder import EncoderSettings, Recorder
from izer.capture.synthetic import SyntheticSource


def main(argv: list[str]) -> None:
    folder = Path(argv[0])
    width, height, fps = int(argv[1]), int(argv[2]), int(argv[3])
    keyframe_s, max_clip_s = float(argv[4]), float(argv[5])
    source = SyntheticSource(width, height, fps, paced=True)
    recorder = Recorder(
        folder,
        VideoMode(width, height, Fraction(fps)),
        EncoderSettings(keyframe_s=keyframe_s),
        max_clip_s=max_clip_s or None,
    )
    clip_id = recorder.start({"PatientID": "CHILD-0001"})
    print(f"started {clip_id}", flush=True)

    def feed() -> None:
        source.open()
        while True:
            frame = source.read()
            assert frame is not None
            recorder.submit(frame)

    threading.Thread(target=feed, daemon=True).start()
    reported = -1
    while True:
        on_disk = recorder.status.frames_on_disk
        if on_disk != reported:
            print(f"on_disk {on_disk}", flush=True)
            reported = on_disk
        time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1:])
