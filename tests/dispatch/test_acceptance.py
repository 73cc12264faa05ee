"""Acceptance of "Dispatch that loses nothing", end to end through the engine's outbox.

Real peers only: Orthanc (storage, storage commitment, DICOMweb), DCMTK storescp (plain, TLS,
and storescp processes started here on ports chosen here, to take them down and bring them
back). Every instance is checked at the receiver by SOP Instance UID and by a hash of its
decoded pixels (stills) or of its bit stream (video).

Faults, one test each:

* receiver down at start: the jobs wait (backoff), and go when a storescp comes up;
* receiver killed mid-transfer: the job waits, a new storescp on the same port gets it;
* izer killed with SIGKILL at 10 random points while ``izer send`` runs in a child process:
  the next ``izer send`` of the same study finishes, every instance arrives intact;
* local store unreadable: as root, ``chmod`` does not stop reads, so the instance's file is
  replaced by a folder of the same name (what a broken disk or a wrong mount looks like to
  a reader: the path exists, reading it fails with EISDIR); the job fails at once with a
  message naming the file, the other instances go;
* A700 out of resources (FLAKYSCP without its output folder): retried with backoff, then a
  visible FAILED job naming the status.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from izer.cli.send import main as send_main
from izer.config import Destination, DestinationKind, TlsSettings, settings_to_toml
from izer.encode import InstanceContext, SeriesContext, UidFactory
from izer.engine import Engine
from izer.engine.dispatching import COMMIT_KEY_PREFIX, Job, JobState
from tests.dispatch.conftest import (
    Receiver,
    content_hash,
    destination_of,
    received_at_orthanc,
    received_at_storescp,
    write_large_video,
)
from tests.encode.factories import make_context
from tests.engine.test_dispatching import (
    UID_ROOT,
    make_settings,
    sop_uid,
    study_uid,
    wait_for,
    write_study,
)
from tests.helpers.binaries import require_binaries
from tests.peers.harness import Peer, PeerPki, PeerSet, c_echo, free_port

pytestmark = pytest.mark.peers

ROOT = Path(__file__).resolve().parents[2]
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"
BOGUS_UID = "1.2.826.0.1.3680043.10.1452.999.5150"


# --------------------------------------------------------------------------- instances


@dataclass(frozen=True)
class Study:
    """Part-10 files of one study in ``folder``: stills, then (maybe) one video."""

    folder: Path
    stills: list[Path]
    video: Path | None

    @property
    def files(self) -> list[Path]:
        return [*self.stills, *([self.video] if self.video else [])]

    @property
    def uid(self) -> str:
        return study_uid(self.stills[0])


def _video_in_study(folder: Path, base: InstanceContext, copies: int) -> Path:
    """An H.264 HP 4.1 Video Endoscopic instance of ~13.6 MB x ``copies``, in a new series of
    ``base``'s study (made by :func:`tests.dispatch.conftest.write_large_video`)."""
    uids = UidFactory(UID_ROOT)
    context = dataclasses.replace(
        base,
        series=SeriesContext(uids.new(), 2, "ES", "Video"),
        sop_instance_uid=uids.new(),
        instance_number=1,
    )
    return write_large_video(folder, copies, context=context, name="video")


def _study(folder: Path, stills: int, video_copies: int = 0, seed: int = 0) -> Study:
    base = make_context(1, "ES")
    paths = write_study(folder, stills, seed=seed, base=base)
    video = _video_in_study(folder, base, video_copies) if video_copies else None
    return Study(folder, paths, video)


@pytest.fixture(scope="module")
def big_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    """50 stills and a video of more than 300 MB, one study."""
    study = _study(tmp_path_factory.mktemp("big-study"), 50, video_copies=24, seed=50)
    assert study.video is not None and study.video.stat().st_size >= 300 * 1024 * 1024
    return study


# --------------------------------------------------------------------------- receivers


class Storescp:
    """A DCMTK storescp of this module's own, on a port chosen here, stopped by its pid."""

    def __init__(self, folder: Path, aet: str, port: int) -> None:
        self.aet, self.port = aet, port
        self.data_dir = folder / "received"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "storescp.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Storescp:
        storescp = require_binaries("storescp")["storescp"]
        argv = [str(storescp), "--aetitle", self.aet, "+xa", "-pm", "+B", "-dhl"]
        argv += ["-od", str(self.data_dir), "-fe", ".dcm", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while not c_echo("127.0.0.1", self.port, self.aet, timeout=1.0):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"storescp did not start: {self.log_path.read_text()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def receiver(self) -> Receiver:
        return Receiver(self.aet.lower(), self.aet, self.port, self.data_dir, self.log_path)

    def intact(self, path: Path) -> bool:
        """Whether some file received for ``path``'s SOP Instance UID has its content."""
        expected = content_hash(path)
        for received in self.data_dir.glob(f"*{sop_uid(path)}*"):
            with contextlib.suppress(Exception):  # a file cut short by a kill does not count
                if content_hash(received) == expected:
                    return True
        return False


@pytest.fixture
def own_storescp(tmp_path: Path) -> Iterator[Storescp]:
    """A storescp (AET ``OWNSCP``) on a free port, not started yet; killed after the test."""
    scp = Storescp(tmp_path / "own-scp", "OWNSCP", free_port())
    yield scp
    scp.kill()


def _job_states(engine: Engine) -> list[JobState]:
    return [job.state for job in engine.dispatch.jobs()]


def _arrived_intact(receiver: Peer | Receiver, paths: list[Path]) -> None:
    for path in paths:
        assert content_hash(received_at_storescp(receiver, sop_uid(path))) == content_hash(path)


# --------------------------------------------------------------------------- delivery


def test_a_300_mb_video_and_50_stills_reach_orthanc_and_storescp_intact_and_committed(
    big_study: Study,
    orthanc: Peer,
    storescp: Peer,
    peer_set: PeerSet,
    write_settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through ``izer send``; Orthanc reports storage commitment to izer's listener."""
    settings = make_settings(
        tmp_path,
        dataclasses.replace(
            destination_of(orthanc, "orthanc"), commitment=True, commitment_timeout_s=60
        ),
        destination_of(storescp, "storescp"),
        listener_port=peer_set.listener_port,
        backoff_base_s=0.5,
        backoff_cap_s=2.0,
    )
    assert settings.station.ae_title == peer_set.listener_aet  # Orthanc knows this AE title
    config = write_settings(settings_to_toml(settings), "send.toml")

    status = send_main(["--config", str(config), str(big_study.folder), "--to", "orthanc,storescp"])

    out = capsys.readouterr().out
    assert status == 0, out
    assert "sending 102 job(s)" in out
    assert "102 of 102 job(s) delivered" in out
    assert f"orthanc: storage commitment of study {big_study.uid}: 51 instance(s) committed" in out
    for path in big_study.files:
        expected = content_hash(path)
        assert content_hash(received_at_storescp(storescp, sop_uid(path))) == expected
        from_orthanc = received_at_orthanc(orthanc, sop_uid(path), tmp_path)
        assert content_hash(from_orthanc) == expected
        from_orthanc.unlink()

    with Engine.open(settings) as engine:
        (summary,) = engine.dispatch.commitment(big_study.uid)
        assert (summary.destination, summary.committed, summary.failed) == ("orthanc", 51, 0)
        assert summary.complete
        # Ask again with a UID Orthanc never received: that one is reported failed.
        listener = engine.listener()
        listener.start()
        try:
            engine.dispatch.attach_listener(listener)
            job = engine.dispatch.commit(
                big_study.uid, "orthanc", extra=[(VL_ENDOSCOPIC, BOGUS_UID)]
            )
            assert job.sop_uid == COMMIT_KEY_PREFIX + big_study.uid
            assert len(job.payload["items"]) == 52
            assert engine.dispatch.run_until_idle(90)
        finally:
            engine.dispatch.attach_listener(None)
            listener.stop()
        done = engine.dispatch.outbox.job(job.job_id)
        (again,) = engine.dispatch.commitment(big_study.uid)
    assert done is not None and done.state is JobState.FAILED
    assert f"did not commit to 1 of 52 instance(s) of study {big_study.uid}" in done.last_error
    assert f"{BOGUS_UID}: no such object instance" in done.last_error
    assert (again.committed, again.failed) == (51, 0)  # what was stored stays committed


def test_tls_delivery_through_the_outbox(
    storescp_tls: Peer, peer_pki: PeerPki, tmp_path: Path
) -> None:
    files = write_study(tmp_path / "in", 2, seed=61)
    tls = Destination(
        "secure",
        ae_title=storescp_tls.aet,
        host=storescp_tls.host,
        port=storescp_tls.port,
        tls=TlsSettings(enabled=True, ca_file=str(peer_pki.ca)),
    )
    with Engine.open(make_settings(tmp_path, tls)) as engine:
        engine.dispatch.send(files, ["secure"])
        assert engine.dispatch.run_until_idle(60)
        assert _job_states(engine) == [JobState.DONE] * 2
    _arrived_intact(storescp_tls, files)


def test_stow_rs_delivery_through_the_outbox(orthanc_dicomweb: Peer, tmp_path: Path) -> None:
    assert orthanc_dicomweb.dicomweb_url is not None
    files = write_study(tmp_path / "in", 3, seed=62)
    web = Destination("web", kind=DestinationKind.DICOMWEB, url=orthanc_dicomweb.dicomweb_url)
    with Engine.open(make_settings(tmp_path, web)) as engine:
        engine.dispatch.send(files, ["web"])
        assert engine.dispatch.run_until_idle(60)
        assert _job_states(engine) == [JobState.DONE] * 3
    for path in files:
        received = received_at_orthanc(orthanc_dicomweb, sop_uid(path), tmp_path)
        assert content_hash(received) == content_hash(path)


def test_stow_rs_with_basic_authentication_from_the_environment(
    orthanc_secure: Peer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert orthanc_secure.dicomweb_url is not None and orthanc_secure.http_auth is not None
    user, password = orthanc_secure.http_auth
    monkeypatch.setenv("IZER_TEST_STOW_PASSWORD", password)
    files = write_study(tmp_path / "in", 1, seed=63)
    web = Destination(
        "web",
        kind=DestinationKind.DICOMWEB,
        url=orthanc_secure.dicomweb_url,
        username=user,
        password_env="IZER_TEST_STOW_PASSWORD",
    )
    with Engine.open(make_settings(tmp_path, web)) as engine:
        engine.dispatch.send(files, ["web"])
        assert engine.dispatch.run_until_idle(60)
        (job,) = engine.dispatch.jobs()
    assert job.state is JobState.DONE, job.last_error


# --------------------------------------------------------------------------- faults


def test_receiver_down_at_start_jobs_wait_then_go_when_it_comes_up(
    own_storescp: Storescp, tmp_path: Path
) -> None:
    files = write_study(tmp_path / "in", 3, seed=71)
    down = Destination("late", ae_title="OWNSCP", host="127.0.0.1", port=own_storescp.port)
    settings = make_settings(
        tmp_path, down, backoff_base_s=0.2, backoff_cap_s=0.5, max_attempts=1000
    )
    with Engine.open(settings) as engine:
        engine.dispatch.send(files, ["late"])
        engine.dispatch.start()
        wait_for(
            lambda: all(j.attempts >= 1 and j.pending for j in engine.dispatch.jobs()),
            what="every job to be tried once",
        )
        waiting = engine.dispatch.jobs()
        assert all(job.state is not JobState.DONE for job in waiting)
        assert any("connection refused" in job.last_error for job in waiting)

        own_storescp.start()
        wait_for(
            lambda: _job_states(engine) == [JobState.DONE] * 3,
            60,
            "the jobs to be delivered once the receiver is up",
        )
        engine.dispatch.stop()
    _arrived_intact(own_storescp.receiver(), files)


def test_receiver_killed_mid_transfer_a_retry_delivers(
    own_storescp: Storescp, tmp_path: Path
) -> None:
    video = write_large_video(tmp_path, copies=3)  # ~40 MB: many PDUs still to go
    own_storescp.start()
    doomed = Destination("doomed", ae_title="OWNSCP", host="127.0.0.1", port=own_storescp.port)
    settings = make_settings(
        tmp_path, doomed, backoff_base_s=1.0, backoff_cap_s=1.0, max_attempts=100
    )
    killed: list[Job] = []
    waits: list[Job] = []

    def kill_while_sending(job: Job) -> None:
        if job.state is JobState.RUNNING and job.bytes_done > 0 and not killed:
            killed.append(job)
            own_storescp.kill()  # on the sending thread, between two chunks
        elif job.state is JobState.WAITING:
            waits.append(job)

    with Engine.open(settings) as engine:
        engine.dispatch.dispatcher.progress_interval_s = 0.0  # report every chunk
        engine.dispatch.events.job_changed.connect(kill_while_sending)
        engine.dispatch.send([video], ["doomed"])
        engine.dispatch.start()
        wait_for(lambda: bool(waits), what="the job to wait for a retry")
        assert killed and 0 < killed[0].bytes_done < killed[0].bytes_total
        first_error = waits[0].last_error
        assert "connection closed" in first_error or "aborted" in first_error, first_error
        own_storescp.start()  # back on the same port
        wait_for(lambda: _job_states(engine) == [JobState.DONE], 60, "the retry to deliver")
        (job,) = engine.dispatch.jobs()
        engine.dispatch.stop()
    assert job.attempts >= 2
    assert own_storescp.intact(video)


def test_izer_killed_at_10_random_points_loses_nothing(
    own_storescp: Storescp, write_settings, tmp_path: Path
) -> None:
    """``izer send`` in a child process is SIGKILLed 10 times while it sends, at a random
    moment after it started sending; the 11th run finishes. Every instance arrives intact."""
    study = _study(tmp_path / "study", 60, video_copies=8, seed=81)  # 60 stills, ~110 MB
    own_storescp.start()
    target = Destination("killscp", ae_title="OWNSCP", host="127.0.0.1", port=own_storescp.port)
    settings = make_settings(tmp_path, target, backoff_base_s=0.2, backoff_cap_s=0.5)
    config = write_settings(settings_to_toml(settings), "kill.toml")
    with Engine.open(settings) as engine:  # in the store first: each run sends by study UID
        for path in study.files:
            engine.store.import_file(path)

    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    argv = [sys.executable, "-m", "izer", "--config", str(config), "send", study.uid]
    argv += ["--to", "killscp"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kills = 0
    for _ in range(10):
        child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
        assert child.stdout is not None
        first = child.stdout.readline()
        if not first.startswith("sending ") or first.startswith("sending 0 "):
            child.wait(60)  # nothing left to send
            break
        time.sleep(chance.uniform(0.05, 0.5))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(60)
        child.stdout.close()
    final = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)

    assert final.returncode == 0, f"seed {seed}: {final.stdout}\n{final.stderr}"
    assert kills == 10, f"seed {seed}: the work ran out after {kills} kills"
    received = len(list(own_storescp.data_dir.iterdir()))
    print(f"seed {seed}: {kills} kills; {received} files received for {len(study.files)}")
    lost = [path.name for path in study.files if not own_storescp.intact(path)]
    assert lost == [], f"seed {seed}: lost {lost}"
    with Engine.open(settings) as engine:
        jobs = engine.dispatch.jobs()
    assert len(jobs) == len(study.files)  # one job per instance, never duplicated
    assert {job.state for job in jobs} == {JobState.DONE}
    # A job killed while it ran was taken up again by the next run: it shows more attempts.
    interrupted = sum(job.attempts - 1 for job in jobs)
    print(f"seed {seed}: {interrupted} job runs were interrupted and taken up again")
    assert interrupted >= 5, f"seed {seed}: the kills hit only {interrupted} running jobs"


def test_unreadable_local_file_fails_clearly_and_the_others_go(
    storescp: Peer, tmp_path: Path
) -> None:
    files = write_study(tmp_path / "in", 2, seed=91)
    with Engine.open(make_settings(tmp_path, destination_of(storescp, "storescp"))) as engine:
        jobs = engine.dispatch.send(files, ["storescp"])
        broken = next(
            r.path for r in engine.store.instances() if r.sop_instance_uid == jobs[0].sop_uid
        )
        broken.unlink()
        broken.mkdir()  # the path is there, reading it fails (EISDIR)
        assert engine.dispatch.run_until_idle(60)
        first, second = engine.dispatch.jobs()
    assert first.state is JobState.FAILED
    assert first.attempts == 1  # permanent: not retried
    assert f"cannot read local file {broken}" in first.last_error
    assert "Is a directory" in first.last_error and "izer queue retry" in first.last_error
    assert second.state is JobState.DONE
    _arrived_intact(storescp, [files[1]])
    assert not list(Path(str(storescp.data_dir)).glob(f"*{sop_uid(files[0])}*"))


def test_a700_is_retried_with_backoff_then_failed_visibly(
    flaky_scp: Receiver, tmp_path: Path
) -> None:
    shutil.rmtree(flaky_scp.data_dir)  # storescp cannot write: it answers 0xA700
    files = write_study(tmp_path / "in", 1, seed=95)
    settings = make_settings(
        tmp_path,
        destination_of(flaky_scp, "flaky"),
        backoff_base_s=0.2,
        backoff_cap_s=0.4,
        max_attempts=3,
    )
    changes: list[Job] = []
    with Engine.open(settings) as engine:
        engine.dispatch.events.job_changed.connect(changes.append)
        engine.dispatch.send(files, ["flaky"])
        assert engine.dispatch.run_until_idle(60, wait_for_retries=True)
        (job,) = engine.dispatch.jobs()
    waits = [c for c in changes if c.state is JobState.WAITING]
    assert [c.attempts for c in waits] == [1, 2]
    assert all(c.next_try_at is not None and c.next_try_at > c.updated_at for c in waits)
    assert job.state is JobState.FAILED and job.attempts == 3
    assert "0xA700" in job.last_error and "out of resources" in job.last_error
    assert "gave up after 3 attempts" in job.last_error
