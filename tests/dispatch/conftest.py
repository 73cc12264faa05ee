"""Extra DCMTK storescp receivers with special options, and test instances for the DIMSE tests.

The shared peers (``orthanc``, ``storescp``) accept everything. The receivers here are DCMTK
storescp 3.6.7 started with an association profile (``-xf``) that narrows what they accept:

``explicit_only_scp``  (AET ``EXPLSCP``)
    VL Endoscopic, Secondary Capture and Video Endoscopic Image Storage in Explicit VR Little
    Endian only: compressed stills must be decompressed, video cannot be sent.
``avc_only_scp``  (AET ``AVCSCP``)
    Video Endoscopic Image Storage in H.264 High Profile / Level 4.1 (.102) only.
``mpeg2_only_scp``  (AET ``MPEG2SCP``)
    Video Endoscopic Image Storage in MPEG-2 MP@ML (.100) or MP@HL (.101) only.
``flaky_scp``  (AET ``FLAKYSCP``, ``+xa``)
    Accepts everything; when its output folder is missing, storescp cannot write the file and
    answers 0xA700 (out of resources), a real DCMTK status, not a test double.

Every instance made here has a made-up patient.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from izer.config import Destination, NetworkSettings, StationSettings
from izer.encode import InstanceContext, TransferSyntax, VLKind, vl_image
from izer.encode.video import VideoKind, probe, video_image, write_video_instance
from izer.encode.video.syntaxes import VideoSyntax
from izer.encode.video.writer import encapsulated_stream
from izer.net import AssociationFactory
from tests.encode.factories import make_context, smooth_image
from tests.encode.video.conforming import conforming_clip, run_ffmpeg
from tests.helpers.binaries import require_binaries
from tests.peers.harness import Peer, PeerSet, c_echo, free_port

TEST_UID_ROOT = "1.2.826.0.1.3680043.10.1452"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Receiver:
    """A storescp started by these fixtures (duck-types :class:`tests.peers.harness.Peer`)."""

    name: str
    aet: str
    port: int
    data_dir: Path
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


_PROFILES = """
[[TransferSyntaxes]]

[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[ExplicitLittle]
TransferSyntax1 = LocalEndianExplicit

[AVC41]
TransferSyntax1 = MPEG4HighProfile/Level4.1

[MPEG2]
TransferSyntax1 = MPEG2MainProfile@MainLevel
TransferSyntax2 = MPEG2MainProfile@HighLevel

[[PresentationContexts]]

[ExplicitOnlyContexts]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = VLEndoscopicImageStorage\\ExplicitLittle
PresentationContext3 = SecondaryCaptureImageStorage\\ExplicitLittle
PresentationContext4 = VideoEndoscopicImageStorage\\ExplicitLittle

[AvcOnlyContexts]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = VideoEndoscopicImageStorage\\AVC41
PresentationContext3 = VLEndoscopicImageStorage\\ExplicitLittle

[Mpeg2OnlyContexts]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = VideoEndoscopicImageStorage\\MPEG2

[[Profiles]]

[ExplicitOnly]
PresentationContexts = ExplicitOnlyContexts

[AvcOnly]
PresentationContexts = AvcOnlyContexts

[Mpeg2Only]
PresentationContexts = Mpeg2OnlyContexts
"""


class _Receivers:
    """Starts storescp processes on demand and stops each by its own process id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "profiles.cfg"
        self.config.write_text(_PROFILES, encoding="ascii")
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._receivers: dict[str, Receiver] = {}

    def process(self, name: str) -> subprocess.Popen[bytes]:
        """The storescp process of receiver ``name``."""
        return self._processes[name]

    def get(self, name: str, aet: str, options: list[str]) -> Receiver:
        if name in self._receivers:
            return self._receivers[name]
        storescp = require_binaries("storescp")["storescp"]
        folder = self.folder / name
        out = folder / "received"
        out.mkdir(parents=True)
        port = free_port()
        log_path = folder / "storescp.log"
        argv = [str(storescp), "--aetitle", aet, *options, "+B", "-dhl", "-od", str(out)]
        argv += ["-fe", ".dcm", str(port)]
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                argv, cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._processes[name] = process
        deadline = time.monotonic() + START_TIMEOUT_S
        while not c_echo("127.0.0.1", port, aet, timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"storescp {name} did not start: {log_path.read_text(errors='replace')}",
                    pytrace=False,
                )
            time.sleep(0.1)
        receiver = Receiver(name, aet, port, out, log_path)
        self._receivers[name] = receiver
        return receiver

    def forget(self, name: str) -> None:
        """Stop receiver ``name`` (if still running) so that its name may be used again."""
        process = self._processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._receivers.pop(name, None)

    def stop(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()
        self._receivers.clear()


@pytest.fixture(scope="session")
def extra_receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Receivers]:
    """Starter of the extra storescp receivers (each started once, on first use)."""
    made = _Receivers(tmp_path_factory.mktemp("receivers"))
    yield made
    made.stop()


@pytest.fixture
def explicit_only_scp(extra_receivers: _Receivers) -> Receiver:
    """storescp taking VL Endoscopic, SC and Video Endoscopic in Explicit VR LE only."""
    options = ["-xf", str(extra_receivers.config), "ExplicitOnly"]
    return extra_receivers.get("explicit_only", "EXPLSCP", options)


@pytest.fixture
def avc_only_scp(extra_receivers: _Receivers) -> Receiver:
    """storescp taking Video Endoscopic in H.264 High Profile / Level 4.1 only."""
    options = ["-xf", str(extra_receivers.config), "AvcOnly"]
    return extra_receivers.get("avc_only", "AVCSCP", options)


@pytest.fixture
def mpeg2_only_scp(extra_receivers: _Receivers) -> Receiver:
    """storescp taking Video Endoscopic in MPEG-2 Main Profile @ Main or High Level only."""
    options = ["-xf", str(extra_receivers.config), "Mpeg2Only"]
    return extra_receivers.get("mpeg2_only", "MPEG2SCP", options)


@pytest.fixture
def flaky_scp(extra_receivers: _Receivers) -> Iterator[Receiver]:
    """storescp taking everything; remove its ``data_dir`` to make it answer 0xA700."""
    receiver = extra_receivers.get("flaky", "FLAKYSCP", ["+xa", "-pm"])
    yield receiver
    receiver.data_dir.mkdir(exist_ok=True)


@pytest.fixture
def aborting_scp(extra_receivers: _Receivers) -> Receiver:
    """storescp that aborts the association while it receives a C-STORE data set."""
    return extra_receivers.get("aborting", "ABORTSCP", ["+xa", "-pm", "--abort-during"])


@pytest.fixture
def sleepy_scp(extra_receivers: _Receivers) -> Receiver:
    """storescp that waits 3 s while it stores, before it answers the C-STORE."""
    return extra_receivers.get("sleepy", "SLEEPYSCP", ["+xa", "-pm", "--sleep-during", "3"])


@pytest.fixture
def doomed_scp(extra_receivers: _Receivers) -> Iterator[tuple[Receiver, subprocess.Popen[bytes]]]:
    """A storescp of its own for one test, with its process, to kill mid-transfer."""
    receiver = extra_receivers.get("doomed", "DOOMEDSCP", ["+xa", "-pm"])
    yield receiver, extra_receivers.process("doomed")
    extra_receivers.forget("doomed")


# --------------------------------------------------------------------------- sending side


@pytest.fixture
def dimse_factory(peer_set: PeerSet) -> AssociationFactory:
    """Associations as the tests' listener AE title (the one Orthanc knows as a modality)."""
    station = StationSettings(ae_title=peer_set.listener_aet, uid_root=TEST_UID_ROOT)
    network = NetworkSettings(
        connect_timeout_s=3, acse_timeout_s=10, dimse_timeout_s=60, network_timeout_s=30
    )
    return AssociationFactory(station, network)


def destination_of(peer: Peer | Receiver, name: str = "") -> Destination:
    """A DICOM destination for a test peer."""
    return Destination(name=name or peer.name, ae_title=peer.aet, host=peer.host, port=peer.port)


# --------------------------------------------------------------------------- instances


def write_still(
    folder: Path, n: int, syntax: TransferSyntax = TransferSyntax.JPEG_BASELINE, seed: int = 0
) -> Path:
    """A 96x128 colour VL Endoscopic Image in ``syntax`` (made-up patient)."""
    ds = vl_image(
        smooth_image(96, 128, colour=True, seed=seed + n),
        make_context(n, "ES"),
        kind=VLKind.ENDOSCOPIC,
        transfer_syntax=syntax,
    )
    path = folder / f"still-{n:03d}-{syntax.name.lower()}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_video(folder: Path, case: str, name: str = "") -> Path:
    """A Video Endoscopic instance of the conforming clip ``case`` (tests.encode.video)."""
    syntaxes = {
        "h264_hp41": VideoSyntax.H264_HP41,
        "hevc_main": VideoSyntax.HEVC_MAIN,
        "mpeg2_mpml": VideoSyntax.MPEG2_MPML,
    }
    clip = conforming_clip(case)
    ds = video_image(
        clip, probe(clip), make_context(1, "ES"), kind=VideoKind.ENDOSCOPIC, syntax=syntaxes[case]
    )
    path = folder / f"{name or case}.dcm"
    write_video_instance(ds, path)
    return path


def write_large_video(
    folder: Path,
    copies: int = 24,
    *,
    context: InstanceContext | None = None,
    name: str = "large-video",
) -> Path:
    """An H.264 HP 4.1 Video Endoscopic instance of about 13.6 MB x ``copies`` (326 MB),
    written to ``folder / f"{name}.dcm"``, with ``context`` (a new made-up study if omitted).

    Two seconds of noisy 1080p30 are encoded at ~54 Mbit/s, then repeated by stream copy.
    """
    segment = run_ffmpeg(
        (
            *("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30,noise=alls=60:allf=t"),
            *("-frames:v", "60", "-c:v", "libx264", "-preset", "superfast"),
            *("-profile:v", "high", "-level:v", "4.1", "-pix_fmt", "yuv420p"),
            *("-b:v", "45M", "-maxrate", "50M", "-bufsize", "62M", "-g", "30"),
            *("-movflags", "+faststart"),
        ),
        folder / "segment.mp4",
    )
    clip = run_ffmpeg(
        (
            "-stream_loop",
            str(copies - 1),
            "-i",
            str(segment),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
        ),
        folder / "large.mp4",
    )
    segment.unlink()
    ds = video_image(
        clip,
        probe(clip),
        context or make_context(1, "ES"),
        kind=VideoKind.ENDOSCOPIC,
        syntax=VideoSyntax.H264_HP41,
    )
    path = folder / f"{name}.dcm"
    write_video_instance(ds, path)
    clip.unlink()
    return path


# --------------------------------------------------------------------------- comparing


def content_hash(path: Path) -> str:
    """SHA-256 of the decoded pixels of a still, or of the bit stream of a video."""
    header = pydicom.dcmread(path, stop_before_pixels=True)
    digest = hashlib.sha256()
    if str(header.file_meta.TransferSyntaxUID).startswith("1.2.840.10008.1.2.4.10"):
        stream = encapsulated_stream(path)
        with path.open("rb") as file:
            for offset, length in stream.fragments:
                file.seek(offset)
                while length:
                    chunk = file.read(min(length, 1 << 20))
                    digest.update(chunk)
                    length -= len(chunk)
        return "video:" + digest.hexdigest()
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    digest.update(f"{pixels.shape}{pixels.dtype}".encode())
    digest.update(pixels.tobytes())
    return "pixels:" + digest.hexdigest()


def received_at_storescp(receiver: Peer | Receiver, sop_uid: str) -> Path:
    """The one file storescp wrote for ``sop_uid``."""
    assert receiver.data_dir is not None
    found = list(receiver.data_dir.glob(f"*.{sop_uid}.dcm"))
    assert len(found) == 1, f"{receiver.aet} holds {len(found)} files for {sop_uid}"
    return found[0]


def received_at_orthanc(orthanc: Peer, sop_uid: str, folder: Path) -> Path:
    """Download the instance ``sop_uid`` from Orthanc's REST API into ``folder``."""
    request = urllib.request.Request(
        f"{orthanc.http_url}/tools/lookup", data=sop_uid.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        found = json.loads(response.read())
    ids = [entry["ID"] for entry in found if entry["Type"] == "Instance"]
    assert len(ids) == 1, f"Orthanc holds {len(ids)} instances for {sop_uid}"
    path = folder / f"orthanc-{sop_uid}.dcm"
    with (
        urllib.request.urlopen(f"{orthanc.http_url}/instances/{ids[0]}/file", timeout=120) as src,
        path.open("wb") as dst,
    ):
        shutil.copyfileobj(src, dst, 1 << 20)
    return path


def header(path: Path) -> Dataset:
    """The data set of ``path`` without Pixel Data."""
    return pydicom.dcmread(path, stop_before_pixels=True)
