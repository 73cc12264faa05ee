"""Dispatch through the engine: settings, queueing, the folder sink, the delivery ledger,
storage commitment with a stand-in SCP, auto-send, retention, and the store's deletion.

The peers used by the acceptance tests (Orthanc, storescp) are not needed here: a folder
destination stores, and a small pynetdicom Storage Commitment SCP answers like an archive
whose report comes late, on a new association to izer's listener (PS3.4 J.3.3).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import StorageCommitmentPushModel

from izer.config import (
    Destination,
    DestinationKind,
    DispatchSettings,
    ListenerSettings,
    NetworkSettings,
    Settings,
    SettingsError,
    StationSettings,
    StorageSettings,
    load_settings,
)
from izer.config.settings import VIDEO_SYNTAX_NAMES
from izer.encode import InstanceContext, TransferSyntax, UidFactory, VLKind, vl_image
from izer.encode.video import VideoSyntax
from izer.engine import Engine
from izer.engine.dispatching import (
    COMMIT_KEY_PREFIX,
    CommitmentState,
    CommitmentSummary,
    Job,
    JobKind,
    JobState,
    StudyProgress,
)
from izer.model import Patient, Sex
from izer.net import Listener
from izer.store import StudyStore
from tests.encode.factories import make_context, smooth_image
from tests.peers.harness import free_port

UID_ROOT = "1.2.826.0.1.3680043.10.1452"
PATIENT = Patient("DSP-0001", "Dispatch^Test", "19750505", Sex.OTHER)
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"


# --------------------------------------------------------------------------- helpers


def write_study(
    folder: Path,
    count: int,
    *,
    seed: int = 0,
    syntax: TransferSyntax = TransferSyntax.JPEG_BASELINE,
    base: InstanceContext | None = None,
) -> list[Path]:
    """``count`` small VL Endoscopic stills of one series (made-up patient), numbered 1..n,
    in a new study or in the study and series of ``base``."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = UidFactory(UID_ROOT)
    base = base or make_context(1, "ES")
    paths = []
    for n in range(1, count + 1):
        context = dataclasses.replace(base, sop_instance_uid=uids.new(), instance_number=n)
        ds = vl_image(
            smooth_image(64, 80, colour=True, seed=seed * 1000 + n),
            context,
            kind=VLKind.ENDOSCOPIC,
            transfer_syntax=syntax,
        )
        path = folder / f"still-{seed}-{n:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def study_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def make_settings(
    tmp_path: Path, *destinations: Destination, listener_port: int = 11112, **dispatch: object
) -> Settings:
    """Settings with a store under ``tmp_path``, short timeouts and quick retries."""
    quick = {"backoff_base_s": 0.1, "backoff_cap_s": 0.5, "max_attempts": 3, **dispatch}
    return Settings(
        station=StationSettings("IZERTEST", UID_ROOT, station_name="TESTROOM"),
        storage=StorageSettings(folder=str(tmp_path / "store")),
        network=NetworkSettings(
            connect_timeout_s=3, acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10
        ),
        listener=ListenerSettings(port=listener_port),
        dispatch=DispatchSettings(**quick),  # type: ignore[arg-type]
        destinations=destinations,
    )


def folder_destination(tmp_path: Path, name: str = "nas", **fields: object) -> Destination:
    target = tmp_path / name
    target.mkdir(exist_ok=True)
    folder = DestinationKind.FOLDER
    return Destination(name, kind=folder, folder=str(target), **fields)  # type: ignore[arg-type]


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "") -> None:
    """Poll ``condition`` until true; fail after ``timeout_s`` (a safety net, not a measure)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting {timeout_s:g} s for {what or condition}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- settings


DISPATCH_TOML = """
[station]
ae_title = "IZERTEST"
uid_root = "1.2.826.0.1.3680043.10.1452"

[dispatch]
auto_send = ["pacs", "WEB"]
backoff_base_s = 2
backoff_cap_s = 60
max_attempts = 4
retention_days = 30

[[destinations]]
name = "pacs"
ae_title = "ORTHANC"
host = "127.0.0.1"
port = 4242
concurrency = 3
transcode_ladder = ["hevc-main", "H264_HP41", "1.2.840.10008.1.2.4.100"]
commitment = true
commitment_timeout_s = 30

[[destinations]]
name = "web"
kind = "dicomweb"
url = "https://pacs.example.org/dicom-web"
username = "izer"
password_env = "IZER_PACS_PASSWORD"
commitment = true
commitment_destination = "pacs"

[[destinations]]
name = "nas"
kind = "folder"
folder = "/mnt/nas"
folder_layout = "{PatientID}/{StudyDate}/{SOPInstanceUID}.dcm"
"""


def test_dispatch_keys_are_read_with_their_defaults(write_settings) -> None:
    settings = load_settings(write_settings(DISPATCH_TOML)).settings
    assert settings.dispatch == DispatchSettings(
        auto_send=("pacs", "WEB"),
        backoff_base_s=2.0,
        backoff_cap_s=60.0,
        max_attempts=4,
        retention_days=30,
    )
    pacs, web, nas = settings.destinations
    assert (pacs.concurrency, pacs.commitment, pacs.commitment_timeout_s) == (3, True, 30.0)
    assert pacs.transcode_ladder == ("hevc-main", "H264_HP41", "1.2.840.10008.1.2.4.100")
    assert (web.username, web.password_env, web.commitment_destination) == (
        "izer",
        "IZER_PACS_PASSWORD",
        "pacs",
    )
    assert nas.folder_layout == "{PatientID}/{StudyDate}/{SOPInstanceUID}.dcm"
    assert DispatchSettings() == DispatchSettings((), 5.0, 600.0, 10, 0)
    plain = Destination("x")
    assert (plain.concurrency, plain.transcode_ladder, plain.commitment) == (1, (), False)
    assert plain.folder_layout == "{PatientID}/{StudyInstanceUID}/{SOPInstanceUID}.dcm"


BAD_DISPATCH = {
    "unknown ladder syntax": (
        ('transcode_ladder = ["hevc-main"', 'transcode_ladder = ["av1"'),
        "destinations[0].transcode_ladder[0]",
        "not a video transfer syntax",
    ),
    "concurrency zero": (("concurrency = 3", "concurrency = 0"), "destinations[0].concurrency", ""),
    "password without user": (
        ('username = "izer"\n', ""),
        "destinations[1].username",
        "go together",
    ),
    "password and token": (
        ('password_env = "IZER_PACS_PASSWORD"', 'password_env = "A"\nbearer_token_env = "B"'),
        "destinations[1].bearer_token_env",
        "not both",
    ),
    "bad variable name": (
        ('password_env = "IZER_PACS_PASSWORD"', 'password_env = "IZER PACS"'),
        "destinations[1].password_env",
        "environment variable",
    ),
    "auth on a dicom destination": (
        ("concurrency = 3", 'concurrency = 3\nbearer_token_env = "TOKEN"'),
        "destinations[0].bearer_token_env",
        "dicomweb destinations only",
    ),
    "unknown commitment scp": (
        ('commitment_destination = "pacs"', 'commitment_destination = "nowhere"'),
        "destinations[1].commitment_destination",
        "nowhere",
    ),
    "commitment on a web destination itself": (
        ('commitment_destination = "pacs"\n', ""),
        "destinations[1].commitment",
        "needs a dicom destination",
    ),
    "bad folder layout": (
        ('folder_layout = "{PatientID}', 'folder_layout = "../{PatientId}'),
        "destinations[2].folder_layout",
        "'..'",
    ),
    "unknown auto_send destination": (
        ('auto_send = ["pacs", "WEB"]', 'auto_send = ["pacs", "printer"]'),
        "dispatch.auto_send[1]",
        "printer",
    ),
    "cap below base": (("backoff_cap_s = 60", "backoff_cap_s = 1"), "dispatch.backoff_cap_s", ""),
    "no attempts": (("max_attempts = 4", "max_attempts = 0"), "dispatch.max_attempts", ""),
    "negative retention": (
        ("retention_days = 30", "retention_days = -1"),
        "dispatch.retention_days",
        "",
    ),
    "zero commitment timeout": (
        ("commitment_timeout_s = 30", "commitment_timeout_s = 0"),
        "destinations[0].commitment_timeout_s",
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DISPATCH))
def test_bad_dispatch_keys_give_one_line_naming_the_key(case: str, write_settings) -> None:
    (old, new), key, words = BAD_DISPATCH[case]
    assert old in DISPATCH_TOML
    path = write_settings(DISPATCH_TOML.replace(old, new, 1))
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert f": {key}: " in message
    assert words in message
    assert "\n" not in message


def test_the_ladder_names_of_the_settings_are_the_encoders() -> None:
    assert set(VIDEO_SYNTAX_NAMES) == {syntax.name_for_cli for syntax in VideoSyntax}
    for syntax in VideoSyntax:
        assert VIDEO_SYNTAX_NAMES[syntax.name_for_cli] == (
            syntax.name,
            syntax.uid,
            syntax.fragmentable_uid or "",
        )


# --------------------------------------------------------------------------- the store


def test_delete_instance_removes_the_file_then_the_row_and_is_idempotent(
    store: StudyStore, tmp_path: Path
) -> None:
    first, second = (store.import_file(p) for p in write_study(tmp_path / "in", 2))
    assert store.delete_instance(first.sop_instance_uid)
    assert not first.path.exists()
    assert [r.sop_instance_uid for r in store.instances()] == [second.sop_instance_uid]
    assert not store.delete_instance(first.sop_instance_uid)  # again: nothing left to do
    assert store.studies()[0].instance_count == 1

    second.path.unlink()  # a crash after the file went: calling again finishes the work
    assert store.delete_instance(second.sop_instance_uid)
    assert store.instances() == []
    assert store.studies() == []  # no empty study or series left in the index
    assert not second.path.parent.exists()


# --------------------------------------------------------------------------- sending


def test_an_engine_that_never_sends_creates_no_outbox(settings: Settings) -> None:
    with Engine.open(settings) as engine:
        engine.select_patient(PATIENT)
        folder = engine.store.folder
    assert not (folder / "outbox.sqlite").exists()


def test_files_are_imported_then_delivered_to_a_folder_once(tmp_path: Path) -> None:
    files = write_study(tmp_path / "in", 3)
    settings = make_settings(tmp_path, folder_destination(tmp_path))
    with Engine.open(settings) as engine:
        changes: list[Job] = []
        progress: list[StudyProgress] = []
        engine.dispatch.events.job_changed.connect(changes.append)
        engine.dispatch.events.study_progress.connect(progress.append)

        jobs = engine.dispatch.send([tmp_path / "in"], ["NAS"])

        assert [job.state for job in jobs] == [JobState.QUEUED] * 3
        assert {job.destination for job in jobs} == {"nas"}  # the configured name
        stored = {r.sop_instance_uid: r for r in engine.store.instances()}
        assert set(stored) == {sop_uid(p) for p in files}
        assert [job.sop_uid for job in jobs] == [sop_uid(p) for p in files]  # in order
        assert engine.dispatch.run_until_idle(30)
        done = engine.dispatch.jobs()
        assert [job.state for job in done] == [JobState.DONE] * 3
        for path in files:
            copies = list((tmp_path / "nas").rglob(f"{sop_uid(path)}.dcm"))
            assert len(copies) == 1
            assert copies[0].read_bytes() == stored[sop_uid(path)].path.read_bytes()
        assert {c.state for c in changes} >= {JobState.QUEUED, JobState.RUNNING, JobState.DONE}
        final = progress[-1].destinations["nas"]
        assert (final.sent, final.total, final.finished) == (3, 3, True)
        assert final.bytes_done == final.bytes_total == sum(r.size_bytes for r in stored.values())

        again = engine.dispatch.send([study_uid(files[0])], ["nas"])
        assert [job.job_id for job in again] == [job.job_id for job in jobs]
        assert [job.state for job in again] == [JobState.DONE] * 3  # not sent twice
        forced = engine.dispatch.send([sop_uid(files[0])], ["nas"], force=True)
        assert [job.state for job in forced] == [JobState.QUEUED]
        assert engine.dispatch.run_until_idle(30)
        assert engine.dispatch.outbox.job(forced[0].job_id).state is JobState.DONE
        deliveries = engine.dispatch.ledger.deliveries(destination="nas")
        assert sorted(d.sop_uid for d in deliveries) == sorted(stored)


def test_every_target_and_destination_is_checked_before_anything_is_queued(
    tmp_path: Path,
) -> None:
    files = write_study(tmp_path / "in", 1)
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("not an image")
    settings = make_settings(tmp_path, folder_destination(tmp_path))
    with Engine.open(settings) as engine:
        with pytest.raises(ValueError, match=r"1\.2\.3\.999 is not a Study, Series or SOP"):
            engine.dispatch.send([files[0], "1.2.3.999"], ["nas"])
        with pytest.raises(ValueError, match="no destination called 'archive'"):
            engine.dispatch.send(files, ["nas", "archive"])
        with pytest.raises(ValueError, match=r"cannot send .*notes\.txt"):
            engine.dispatch.send([not_dicom], ["nas"])
        with pytest.raises(ValueError, match="neither a file or folder"):
            engine.dispatch.send(["no-such-file.dcm"], ["nas"])
        assert engine.dispatch.jobs() == []


def test_a_completed_procedure_goes_to_the_auto_send_destinations(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, folder_destination(tmp_path), auto_send=("nas",))
    with Engine.open(settings) as engine:
        engine.select_patient(PATIENT)
        engine.start()
        stills = [engine.capture_still(), engine.capture_still()]
        engine.review()
        assert not (engine.store.folder / "outbox.sqlite").exists()  # nothing before COMPLETED
        engine.complete()
        queued = engine.dispatch.jobs()
        assert [job.sop_uid for job in queued] == [s.sop_instance_uid for s in stills]
        assert engine.dispatch.run_until_idle(30)
    for still in stills:
        assert len(list((tmp_path / "nas").rglob(f"{still.sop_instance_uid}.dcm"))) == 1


def test_a_job_for_a_destination_no_longer_configured_fails_clearly(tmp_path: Path) -> None:
    files = write_study(tmp_path / "in", 1)
    with Engine.open(make_settings(tmp_path, folder_destination(tmp_path))) as engine:
        engine.dispatch.send(files, ["nas"])
    with Engine.open(make_settings(tmp_path)) as engine:
        assert engine.dispatch.run_until_idle(30)
        (job,) = engine.dispatch.jobs()
    assert job.state is JobState.FAILED
    assert "destination 'nas' is no longer configured" in job.last_error
    assert "izer queue cancel --destination 'nas'" in job.last_error


def test_dicomweb_credentials_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IZER_TEST_TOKEN", raising=False)
    web = Destination(
        "web",
        kind=DestinationKind.DICOMWEB,
        url=f"http://127.0.0.1:{free_port()}/dicom-web",
        bearer_token_env="IZER_TEST_TOKEN",
    )
    with Engine.open(make_settings(tmp_path, web)) as engine:
        engine.dispatch.send(write_study(tmp_path / "in", 1), ["web"])
        assert engine.dispatch.run_until_idle(30)
        (job,) = engine.dispatch.jobs()
    assert job.state is JobState.FAILED
    assert job.attempts == 1  # permanent: no retries
    assert "environment variable IZER_TEST_TOKEN (bearer_token_env) is not set" in job.last_error


# --------------------------------------------------------------------------- commitment


def _report_dataset(transaction_uid: str, items: list[tuple[str, str]]) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    ds.ReferencedSOPSequence = []
    for sop_class, sop_instance in items:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop_instance
        ds.ReferencedSOPSequence.append(item)
    return ds


class LateReportingScp:
    """A Storage Commitment SCP that answers the N-ACTION at once and reports every instance
    committed ``delay_s`` later on a new association to ``listener`` (PS3.4 J.3.3)."""

    def __init__(self, listener: Listener, delay_s: float) -> None:
        self.listener = listener
        self.delay_s = delay_s
        self.port = free_port()
        self.ae = AE(ae_title="LATESCP")
        self.ae.add_supported_context(StorageCommitmentPushModel)
        self.requests: list[str] = []
        self.report_statuses: list[int] = []
        self._server = None

    def __enter__(self) -> LateReportingScp:
        self._server = self.ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[(evt.EVT_N_ACTION, self._on_action)],
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()

    def destination(self) -> Destination:
        return Destination("scp", ae_title="LATESCP", host="127.0.0.1", port=self.port)

    def _on_action(self, event: evt.Event) -> tuple[int, None]:
        info = event.action_information
        items = [
            (str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID))
            for i in info.ReferencedSOPSequence
        ]
        self.requests.append(str(info.TransactionUID))
        threading.Thread(
            target=self._report, args=(str(info.TransactionUID), items), daemon=True
        ).start()
        return 0x0000, None

    def _report(self, transaction_uid: str, items: list[tuple[str, str]]) -> None:
        time.sleep(self.delay_s)
        reporter = AE(ae_title="LATESCP")
        reporter.add_requested_context(StorageCommitmentPushModel)
        role = build_role(StorageCommitmentPushModel, scp_role=True)
        assoc = reporter.associate(
            "127.0.0.1", self.listener.port, ae_title=self.listener.ae_title, ext_neg=[role]
        )
        status, _ = assoc.send_n_event_report(
            _report_dataset(transaction_uid, items),
            1,
            StorageCommitmentPushModel,
            "1.2.840.10008.1.20.1.1",
        )
        assoc.release()
        self.report_statuses.append(int(status.Status))


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener("IZERTEST", free_port(), host="127.0.0.1") as running:
        yield running


def test_a_late_commitment_report_at_the_listener_completes_the_commit_job(
    tmp_path: Path, listener: Listener
) -> None:
    files = write_study(tmp_path / "in", 2)
    with LateReportingScp(listener, delay_s=3.0) as scp:
        nas = folder_destination(
            tmp_path,
            commitment=True,
            commitment_destination="scp",
            commitment_timeout_s=0.5,
        )
        # A retry would come after 60 s: only the report at the listener can end the job.
        settings = make_settings(
            tmp_path, nas, scp.destination(), backoff_base_s=60.0, backoff_cap_s=60.0
        )
        with Engine.open(settings) as engine:
            summaries: list[CommitmentSummary] = []
            engine.dispatch.events.commitment_changed.connect(summaries.append)
            engine.dispatch.attach_listener(listener)
            engine.dispatch.send(files, ["nas"])
            engine.dispatch.start()
            key = COMMIT_KEY_PREFIX + study_uid(files[0])

            def commit_job() -> Job | None:
                found = engine.dispatch.jobs(kind=JobKind.COMMIT)
                return found[0] if found else None

            wait_for(
                lambda: (job := commit_job()) is not None and job.state is JobState.WAITING,
                what="the commit job to stop waiting for the report",
            )
            job = commit_job()
            assert job is not None and job.sop_uid == key
            assert "sent no result within 0.5 s" in job.last_error
            wait_for(
                lambda: (job := commit_job()) is not None and job.state is JobState.DONE,
                what="the late report to complete the commit job",
            )
            (summary,) = engine.dispatch.commitment(study_uid(files[0]))
            deliveries = engine.dispatch.ledger.deliveries(destination="nas")
            engine.dispatch.stop()
    assert scp.report_statuses == [0x0000]
    assert len(scp.requests) == 1  # not asked twice: the late report was used
    assert (summary.committed, summary.failed, summary.requested) == (2, 0, 0)
    assert summary.complete
    assert summaries[-1] == summary
    assert {d.commitment for d in deliveries} == {CommitmentState.COMMITTED}
    assert {d.transaction_uid for d in deliveries} == set(scp.requests)


# --------------------------------------------------------------------------- retention


def test_purge_waits_for_delivery_and_retention_and_never_touches_pending_work(
    tmp_path: Path,
) -> None:
    sent = write_study(tmp_path / "sent", 2, seed=1)
    held = write_study(tmp_path / "held", 1, seed=2)
    never = write_study(tmp_path / "never", 1, seed=3)
    settings = make_settings(tmp_path, folder_destination(tmp_path), retention_days=7)
    now = datetime.now(UTC)
    with Engine.open(settings) as engine:
        engine.store.import_file(never[0])
        engine.dispatch.send(sent, ["nas"])
        assert engine.dispatch.run_until_idle(30)
        engine.dispatch.pause("nas")
        engine.dispatch.send(held, ["nas"])
        assert engine.dispatch.run_until_idle(10)

        early = engine.dispatch.purge(now=now + timedelta(days=6))
        assert early.studies == []
        assert early.kept[study_uid(sent[0])].startswith("kept until")
        assert early.kept[study_uid(held[0])] == "1 job(s) pending"
        assert early.kept[study_uid(never[0])] == "never sent"

        later = now + timedelta(days=8)
        dry = engine.dispatch.purge(now=later, dry_run=True)
        assert dry.studies == [study_uid(sent[0])] and dry.instances == 2
        assert len(engine.store.instances()) == 4

        local_files = [r.path for r in engine.store.instances(study_uid(sent[0]))]
        report = engine.dispatch.purge(now=later)
        assert report.studies == [study_uid(sent[0])]
        left = {r.sop_instance_uid for r in engine.store.instances()}
        assert left == {sop_uid(held[0]), sop_uid(never[0])}
        assert len(local_files) == 2 and not any(path.exists() for path in local_files)
        # the copies at the destination stay, of course
        assert len(list((tmp_path / "nas").rglob("*.dcm"))) == 2


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, folder_destination(tmp_path))
    with Engine.open(settings) as engine:
        engine.dispatch.send(write_study(tmp_path / "in", 1), ["nas"])
        assert engine.dispatch.run_until_idle(30)
        report = engine.dispatch.purge(now=datetime.now(UTC) + timedelta(days=3650))
        assert report.studies == [] and len(engine.store.instances()) == 1
