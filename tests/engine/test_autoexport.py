"""Auto-export of received studies (``[[auto_export]]``, issue 11): safe folder names inside
the export root, the quiet time, restarts, retries, forwarding to a real DCMTK storescp and the
whole path through izer's own Storage SCP. Every patient here is made up.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pynetdicom import AE

from izer.config import Settings, SettingsError, load_settings, settings_to_toml
from izer.config.export_pattern import PATTERN_ALIASES, PATTERN_FIELDS, check_pattern
from izer.config.settings import DEFAULT_AUTO_EXPORT_PATTERN, ExportStillFormat
from izer.encode import TransferSyntax, export_names
from izer.engine import Engine
from izer.engine.autoexport import RETRY_BASE_S, STATE_FILE
from izer.engine.receiving import ReceiveHandler
from izer.net.listener import Listener
from tests.conftest import TEST_UID_ROOT
from tests.dispatch.conftest import content_hash, received_at_storescp, write_still, write_video
from tests.helpers.binaries import require_binaries
from tests.peers.harness import Peer, free_port

ROOT = Path(__file__).resolve().parents[2]

SCP_AET = "IZERSCP"
SENDER = "ENDOSCU"
FORBIDDEN = '/\\:*?"<>|'
#: A fixed moment (seconds since the epoch) for the tests that pass ``now``.
T0 = 1_800_000_000.0


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def settings_file(write_settings: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """A settings file with a store in the test folder plus ``extra`` TOML (rules...)."""

    def make(extra: str) -> Path:
        text = f"""
[station]
ae_title = "IZERTEST"
uid_root = "{TEST_UID_ROOT}"

[storage]
folder = "{(tmp_path / "store").as_posix()}"

[network]
connect_timeout_s = 3
acse_timeout_s = 10
dimse_timeout_s = 30
network_timeout_s = 30

[listener]
min_free_mb = 0
"""
        return write_settings(text + extra)

    return make


@pytest.fixture
def configure(settings_file: Callable[[str], Path]) -> Callable[[str], Settings]:
    """The settings of :func:`settings_file`."""
    return lambda extra: load_settings(settings_file(extra)).settings


def rule_toml(folder: Path, **keys: object) -> str:
    """One ``[[auto_export]]`` table named ``rule`` exporting to ``folder``."""
    lines = ["[[auto_export]]", 'name = "rule"', f"folder = {json.dumps(folder.as_posix())}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def instance(
    path: Path,
    *,
    study_uid: str,
    patient_name: str | list[str] = "Autoexport^Test",
    patient_id: str = "AX-0001",
    accession: str = "ACC-AX-1",
    instance_number: int = 1,
) -> Dataset:
    """The instance in ``path`` moved into study ``study_uid`` of the given made-up patient."""
    ds = pydicom.dcmread(path)
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = study_uid + ".1"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.AccessionNumber = accession
    ds.InstanceNumber = instance_number
    return ds


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    """Two JPEG Baseline VL Endoscopic stills and an H.264 Video Endoscopic instance."""
    folder = tmp_path / "sources"
    folder.mkdir()
    return {
        "still": write_still(folder, 1, TransferSyntax.JPEG_BASELINE),
        "still2": write_still(folder, 2, TransferSyntax.JPEG_BASELINE),
        "video": write_video(folder, "h264_hp41", "video"),
    }


def send(datasets: list[Dataset], port: int, calling: str = SENDER) -> list[int]:
    """C-STORE ``datasets`` to izer's listener with pynetdicom; the statuses."""
    ae = AE(ae_title=calling)
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, [str(ds.file_meta.TransferSyntaxUID)])
    assoc = ae.associate("127.0.0.1", port, ae_title=SCP_AET)
    assert assoc.is_established, "izer's listener refused the association"
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


@pytest.fixture
def listening(
    configure: Callable[[str], Settings],
) -> Iterator[Callable[[str], tuple[Engine, Listener]]]:
    """Open an engine with ``extra`` settings and start its listener (port chosen here)."""

    def start(extra: str) -> tuple[Engine, Listener]:
        engine = Engine.open(configure(extra))
        listener = engine.listener(port=0, ae_title=SCP_AET)
        listener.start()
        opened.append((engine, listener))
        return engine, listener

    opened: list[tuple[Engine, Listener]] = []
    yield start
    for engine, listener in opened:
        listener.stop()
        engine.close()


OF_JSON = ("-of", "json")


def ffprobe_duration(path: Path) -> tuple[str, float]:
    """(format names, duration in seconds) of a media file, as ffprobe reads it."""
    ffprobe = require_binaries("ffprobe")["ffprobe"]
    result = subprocess.run(
        [
            str(ffprobe),
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration",
            *OF_JSON,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    fmt = json.loads(result.stdout)["format"]
    return fmt["format_name"], float(fmt["duration"])


def everything_below(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


# --------------------------------------------------------------------------- acceptance


def test_hostile_patient_names_give_safe_folders_inside_the_export_root_with_mp4_and_jpeg(
    listening: Callable[[str], tuple[Engine, Listener]],
    sources: dict[str, Path],
    tmp_path: Path,
) -> None:
    root = tmp_path / "export"
    engine, listener = listening(rule_toml(root))
    before = set((tmp_path.parent).iterdir()), set(tmp_path.iterdir())
    traversal = "1.2.826.0.1.3680043.10.1452.77.1"
    specials = "1.2.826.0.1.3680043.10.1452.77.2"
    hostile = [
        instance(
            sources["video"],
            study_uid=traversal,
            patient_name="../../etc^passwd",
            patient_id="../../root",
            accession="../..",
            instance_number=1,
        ),
        instance(
            sources["still"],
            study_uid=traversal,
            patient_name="../../etc^passwd",
            patient_id="../../root",
            accession="../..",
            instance_number=2,
        ),
        # A backslash in a name makes two values on the wire (PS3.5 6.4): both are kept.
        instance(
            sources["still2"],
            study_uid=specials,
            patient_name=["A/", ':*?"<>|^B'],
            patient_id='ID:*?"<>|/',
            accession="..",
        ),
    ]
    assert send(hostile, listener.port) == [0, 0, 0]
    assert {item.study_uid for item in engine.auto_export.pending()} == {traversal, specials}

    results = engine.auto_export.run_due(now=time.time() + 31)

    assert sorted(r.study_uid for r in results) == [traversal, specials]
    assert all(r.ok for r in results), [r.error for r in results]
    # Nothing appeared next to the export folder or the test folder (no ../../etc).
    assert set(tmp_path.parent.iterdir()) == before[0]
    assert set(tmp_path.iterdir()) - before[1] == {root}
    base = root.resolve()
    written = everything_below(root)
    files = [path for path in written if path.is_file()]
    assert len(files) == 3
    assert sorted(files) == sorted(path for r in results for path in r.files)
    for path in written:
        assert path.resolve().is_relative_to(base)
        relative = path.relative_to(root)
        for part in relative.parts:
            assert not set(part) & set(FORBIDDEN), f"{part!r} holds a forbidden character"
            assert ".." not in part and not part.startswith("."), part
    for path in files:
        # Exactly the two pattern folders: no slash in a value made a folder of its own.
        assert len(path.relative_to(root).parts) == 3, path
    by_study = {r.study_uid: r for r in results}
    (video,) = [p for p in by_study[traversal].files if p.suffix == ".mp4"]
    stills = [p for r in results for p in r.files if p.suffix == ".jpg"]
    assert len(stills) == 2
    formats, duration = ffprobe_duration(video)
    assert "mp4" in formats and duration > 0
    for still in stills:
        with Image.open(still) as picture:
            picture.load()
            assert picture.format == "JPEG" and picture.size == (128, 96)
    names = {r.study_uid: r.files[0].relative_to(root).parts[0] for r in results}
    assert "etc_passwd" in names[traversal]
    assert names[specials].startswith("ID")


# --------------------------------------------------------------------------- timing


def _store(engine: Engine, ds: Dataset) -> str:
    return engine.store.add_dataset(ds).sop_instance_uid


def test_a_study_waits_for_its_quiet_time_and_a_new_instance_restarts_the_clock(
    configure: Callable[[str], Settings], sources: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "export"
    study = "1.2.826.0.1.3680043.10.1452.78.1"
    with Engine.open(configure(rule_toml(root, quiet_seconds=30))) as engine:
        auto = engine.auto_export
        _store(engine, instance(sources["still"], study_uid=study, instance_number=1))
        assert auto.note_received(study, SENDER, patient_id="AX-0001", now=T0) == ["rule"]
        assert auto.due(T0 + 29.9) == []
        assert auto.run_due(now=T0 + 29.9) == []
        assert not root.exists()

        _store(engine, instance(sources["still2"], study_uid=study, instance_number=2))
        auto.note_received(study, SENDER, now=T0 + 20)
        assert auto.run_due(now=T0 + 31) == [], "the second instance restarted the clock"
        assert [item.study_uid for item in auto.due(T0 + 50)] == [study]

        (result,) = auto.run_due(now=T0 + 50)
        assert result.ok and len(result.files) == 2
        assert result.patient_id == "AX-0001"
        assert auto.pending() == [] and auto.run_due(now=T0 + 1000) == []

        # More instances after the export: exported again, the new one only, same folder.
        _store(engine, instance(sources["video"], study_uid=study, instance_number=3))
        auto.note_received(study, SENDER, now=T0 + 100)
        assert auto.run_due(now=T0 + 120) == []
        (again,) = auto.run_due(now=T0 + 130)
        assert again.ok and [p.suffix for p in again.files] == [".mp4"]
        assert again.folders == result.folders
        names = sorted(p.name for p in root.rglob("*") if p.is_file())
        assert names == ["0001_image.jpg", "0002_image.jpg", "0003_video.mp4"]


def test_only_the_senders_of_a_rule_make_its_studies_pending(
    configure: Callable[[str], Settings], tmp_path: Path
) -> None:
    settings = configure(rule_toml(tmp_path / "export", calling_aets=["ENDO1"]))
    with Engine.open(settings) as engine:
        assert engine.auto_export.note_received("1.2.3", "OTHER", now=T0) == []
        assert engine.auto_export.pending() == []
        assert engine.auto_export.note_received("1.2.3", "ENDO1", now=T0) == ["rule"]
        assert [p.study_uid for p in engine.auto_export.pending()] == ["1.2.3"]


def test_without_rules_nothing_is_recorded(engine: Engine) -> None:
    assert engine.auto_export.note_received("1.2.3", SENDER) == []
    assert engine.auto_export.run_due() == []
    assert not (Path(engine.store.folder) / STATE_FILE).exists()


# --------------------------------------------------------------------------- restart, failure


def test_pending_studies_survive_a_restart_and_are_exported_after_it(
    configure: Callable[[str], Settings], sources: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "export"
    settings = configure(rule_toml(root, quiet_seconds=10))
    study = "1.2.826.0.1.3680043.10.1452.79.1"
    with Engine.open(settings) as engine:
        _store(engine, instance(sources["still"], study_uid=study))
        engine.auto_export.note_received(study, SENDER, patient_id="AX-0001", now=T0)
    # A new process on the same store.
    with Engine.open(settings) as engine:
        (waiting,) = engine.auto_export.pending()
        assert (waiting.study_uid, waiting.patient_id, waiting.last_received) == (
            study,
            "AX-0001",
            T0,
        )
        assert engine.auto_export.run_due(now=T0 + 5) == []
        (result,) = engine.auto_export.run_due(now=T0 + 10)
        assert result.ok and len(result.files) == 1 and result.files[0].is_file()
    with Engine.open(settings) as engine:
        assert engine.auto_export.pending() == []


def test_a_failed_export_is_logged_kept_pending_and_retried_with_backoff(
    configure: Callable[[str], Settings],
    sources: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "export"
    root.write_text("a file where the export folder should be\n")
    settings = configure(rule_toml(root, quiet_seconds=1))
    study = "1.2.826.0.1.3680043.10.1452.80.1"
    caplog.set_level(logging.INFO, logger="izer.engine.autoexport")
    with Engine.open(settings) as engine:
        _store(engine, instance(sources["still"], study_uid=study))
        engine.auto_export.note_received(study, SENDER, patient_id="AX-0001", now=T0)

        (failed,) = engine.auto_export.run_due(now=T0 + 2)

        assert not failed.ok and "not a folder" in failed.error
        assert failed.retry_at == T0 + 2 + RETRY_BASE_S
        assert any(
            r.levelno == logging.ERROR
            and study in r.getMessage()
            and "not a folder" in r.getMessage()
            for r in caplog.records
        )
        (still_pending,) = engine.auto_export.pending()
        assert still_pending.attempts == 1 and "not a folder" in still_pending.last_error
        assert engine.auto_export.run_due(now=T0 + 3) == [], "waits for its retry time"
        (second,) = engine.auto_export.run_due(now=failed.retry_at)
        assert second.retry_at == failed.retry_at + 2 * RETRY_BASE_S, "waits twice as long"

    root.unlink()
    with Engine.open(settings) as engine:  # the failures survive a restart too
        assert engine.auto_export.pending()[0].attempts == 2
        (done,) = engine.auto_export.run_due(now=second.retry_at)
        assert done.ok and len(done.files) == 1
        infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert any("AX-0001" in m and study in m and str(root) in m for m in infos)
        assert engine.auto_export.pending() == []


def test_what_izer_retrieves_itself_is_not_auto_exported(
    configure: Callable[[str], Settings], sources: dict[str, Path], tmp_path: Path
) -> None:
    """``izer retrieve`` files with auto_export=False: a pulled study must not be exported
    and forwarded again, while the same instance received by the listener would be."""
    with Engine.open(configure(rule_toml(tmp_path / "export"))) as engine:
        pulled = instance(sources["still"], study_uid="1.2.826.0.1.3680043.10.1452.82.1")
        retrieving = ReceiveHandler(engine, auto_export=False)
        assert retrieving(pulled, pulled.file_meta, SENDER).status == 0
        assert engine.auto_export.pending() == []
        sent = instance(sources["still"], study_uid="1.2.826.0.1.3680043.10.1452.82.2")
        assert ReceiveHandler(engine)(sent, sent.file_meta, SENDER).status == 0
        assert [p.study_uid for p in engine.auto_export.pending()] == [str(sent.StudyInstanceUID)]


def test_a_failing_auto_export_never_fails_the_c_store(
    configure: Callable[[str], Settings],
    sources: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Engine.open(configure(rule_toml(tmp_path / "export"))) as engine:

        def broken(*args: object, **kwargs: object) -> list[str]:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(engine.auto_export, "note_received", broken)
        ds = instance(sources["still"], study_uid="1.2.826.0.1.3680043.10.1452.81.1")
        outcome = ReceiveHandler(engine)(ds, ds.file_meta, SENDER)
        assert outcome.status == 0x0000
        assert [r.sop_instance_uid for r in engine.store.instances()] == [ds.SOPInstanceUID]


# --------------------------------------------------------------------------- forward, end to end


def test_a_rule_forwards_the_study_to_a_real_storescp(
    configure: Callable[[str], Settings],
    sources: dict[str, Path],
    storescp: Peer,
    tmp_path: Path,
) -> None:
    destination = f"""
[[destinations]]
name = "archive"
ae_title = "{storescp.aet}"
host = "{storescp.host}"
port = {storescp.port}
"""
    settings = configure(destination + rule_toml(tmp_path / "export", forward=["archive"]))
    study = "1.2.826.0.1.3680043.10.1452.82.1"
    with Engine.open(settings) as engine:
        sent = [
            instance(sources["still"], study_uid=study, instance_number=1),
            instance(sources["video"], study_uid=study, instance_number=2),
        ]
        uids = [_store(engine, ds) for ds in sent]
        engine.auto_export.note_received(study, SENDER, now=T0)

        (result,) = engine.auto_export.run_due(now=T0 + 30)

        assert result.ok and result.forwarded == 2 and len(result.files) == 2
        assert engine.dispatch.run_until_idle(timeout_s=120)
        for uid in uids:
            local = next(r.path for r in engine.store.instances() if r.sop_instance_uid == uid)
            assert content_hash(received_at_storescp(storescp, uid)) == content_hash(local)
        jobs = engine.dispatch.jobs(study_uid=study)
        assert len(jobs) == 2 and {job.destination for job in jobs} == {"archive"}


def test_a_study_sent_by_dcmtk_storescu_to_izer_serve_is_exported_when_quiet(
    listening: Callable[[str], tuple[Engine, Listener]],
    sources: dict[str, Path],
    tmp_path: Path,
) -> None:
    storescu = require_binaries("storescu")["storescu"]
    root = tmp_path / "export"
    engine, listener = listening(rule_toml(root, quiet_seconds=5, stills="png"))
    study = "1.2.826.0.1.3680043.10.1452.83.1"
    path = tmp_path / "to-send.dcm"
    instance(sources["still"], study_uid=study, patient_id="AX-E2E").save_as(
        path, enforce_file_format=True
    )
    argv = [str(storescu), "-aet", SENDER, "-aec", SCP_AET, "-xy", "-to", "10", "-ta", "10"]
    argv += ["-td", "30", "127.0.0.1", str(listener.port), str(path)]
    sent = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    (waiting,) = engine.auto_export.pending()
    assert (waiting.study_uid, waiting.patient_id) == (study, "AX-E2E")
    assert engine.auto_export.run_due(now=waiting.last_received + 4) == []

    (result,) = engine.auto_export.run_due(now=waiting.last_received + 5)

    assert result.ok
    (exported,) = result.files
    assert exported.is_file() and exported.suffix == ".png"
    assert exported.parent.parent.parent == root
    assert exported.relative_to(root).parts[0].startswith("AX-E2E_Autoexport")
    with Image.open(exported) as picture:
        assert picture.format == "PNG" and picture.size == (128, 96)


def test_izer_serve_exports_what_it_receives_once_quiet(
    settings_file: Callable[[str], Path],
    sources: dict[str, Path],
    tmp_path: Path,
    isolated_folders: Path,
) -> None:
    storescu = require_binaries("storescu")["storescu"]
    root = tmp_path / "export"
    config = settings_file(rule_toml(root, quiet_seconds=0.5))
    path = tmp_path / "to-send.dcm"
    study = "1.2.826.0.1.3680043.10.1452.84.1"
    instance(sources["still"], study_uid=study, patient_id="AX-SERVE").save_as(
        path, enforce_file_format=True
    )
    port = free_port()
    argv = [sys.executable, "-m", "izer", "--config", str(config), "serve"]
    argv += ["--port", str(port), "--aet", SCP_AET, "--no-send"]
    server = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert f"auto-export rules: rule -> {root.as_posix()} after 0.5 s quiet" in banner
        store = [str(storescu), "-aet", SENDER, "-aec", SCP_AET, "-xy", "-to", "10"]
        store += ["-ta", "10", "-td", "30", "127.0.0.1", str(port), str(path)]
        sent = subprocess.run(store, capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        deadline = time.monotonic() + 60
        while not list(root.rglob("*.jpg")) and time.monotonic() < deadline:
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert "Traceback" not in err and "listener stopped" in out
    (exported,) = root.rglob("*.jpg")
    assert exported.relative_to(root).parts[0].startswith("AX-SERVE_")
    (log_file,) = isolated_folders.rglob("izer.log")
    lines = [line for line in log_file.read_text().splitlines() if "auto-export rule:" in line]
    assert len(lines) == 1 and "AX-SERVE" in lines[0] and study in lines[0]
    assert "Autoexport" not in lines[0], "the patient's name stays out of the INFO log"


# --------------------------------------------------------------------------- settings, names


def test_rules_load_with_their_defaults_and_survive_settings_to_toml(
    configure: Callable[[str], Settings], tmp_path: Path
) -> None:
    settings = configure(
        '[[destinations]]\nname = "pacs"\nae_title = "PACS"\nhost = "127.0.0.1"\nport = 104\n'
        + rule_toml(tmp_path / "a")
        + '[[auto_export]]\nname = "second"\nfolder = "/srv/b"\nforward = ["pacs"]\n'
        + 'stills = "png"\nquality = 80\nquiet_seconds = 5\ncalling_aets = ["ENDO1"]\n'
    )
    first, second = settings.auto_export
    assert first.pattern == DEFAULT_AUTO_EXPORT_PATTERN
    assert (first.quiet_seconds, first.stills, first.quality) == (30.0, ExportStillFormat.JPEG, 95)
    assert (first.forward, first.calling_aets) == ((), ())
    assert second.forward == ("pacs",) and second.stills is ExportStillFormat.PNG
    assert second.applies_to("ENDO1") and not second.applies_to("ENDO2")
    assert first.applies_to("ANYONE")
    path = tmp_path / "again.toml"
    path.write_text(settings_to_toml(settings), encoding="utf-8")
    assert load_settings(path).settings == settings


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('name = "r"\nfolder = ""', "auto_export[0].folder", "folder to export into"),
        ('name = "r"', "auto_export[0].folder", "missing required key"),
        ('name = "r"\nfolder = "/x"\nforward = ["nowhere"]', "forward[0]", "'nowhere'"),
        ('name = "r"\nfolder = "/x"\npattern = "{Foo}/{PatientID}"', "pattern", "{Foo}"),
        ('name = "r"\nfolder = "/x"\npattern = "{PatientName:03d}"', "pattern", "number"),
        ('name = "r"\nfolder = "/x"\nquiet_seconds = 0', "quiet_seconds", "more than 0"),
        ('name = "r"\nfolder = "/x"\nstills = "gif"', "stills", "jpeg, png"),
        ('name = "r"\nfolder = "/x"\nquality = 0', "quality", "1 to 100"),
        ('name = ""\nfolder = "/x"', "auto_export[0].name", "name"),
        ('name = "r"\nfolder = "/x"\ncalling_aets = [""]', "calling_aets[0]", ""),
    ],
)
def test_bad_rules_are_refused_naming_the_key(
    configure: Callable[[str], Settings], table: str, key: str, words: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        configure(f"[[auto_export]]\n{table}\n")
    assert key in str(caught.value) and words in str(caught.value)


def test_two_rules_may_not_share_a_name(configure: Callable[[str], Settings]) -> None:
    rule = '[[auto_export]]\nname = "Teach"\nfolder = "/x"\n'
    with pytest.raises(SettingsError, match=r"auto_export\[1\]\.name: .*used twice"):
        configure(rule + rule.replace("Teach", "teach"))


def test_every_dicom_keyword_alias_names_a_pattern_field() -> None:
    assert set(PATTERN_ALIASES.values()) <= set(PATTERN_FIELDS)
    check_pattern(DEFAULT_AUTO_EXPORT_PATTERN)


def test_dicom_keywords_name_the_same_folders_as_the_field_names() -> None:
    fields = {
        "patient_id": "../../root",
        "patient_name": 'Doe/\\:*?"<>|^Jane',
        "study_date": "20240517",
        "accession": "..",
        "series_number": 7,
    }
    by_keyword = export_names.folder_components(
        "{PatientID}_{PatientName}/{StudyDate}_{AccessionNumber}/{SeriesNumber:03d}", fields
    )
    by_field = export_names.folder_components(
        "{patient_id}_{patient_name}/{study_date}_{accession}/{series_number:03d}", fields
    )
    assert by_keyword == by_field and len(by_keyword) == 3
    assert by_keyword[2] == "007"
    for part in by_keyword:
        assert not set(part) & set(FORBIDDEN) and ".." not in part


def test_a_multi_valued_name_is_one_folder_name() -> None:
    ds = Dataset()
    ds.PatientName = ["A/", "B^C"]
    assert export_names.naming_fields(ds)["patient_name"] == "A/\\B^C"
    assert export_names.folder_components("{PatientName}", export_names.naming_fields(ds)) == [
        "A__B_C"
    ]


def test_an_engine_without_auto_export_rules_says_so(engine: Engine) -> None:
    assert engine.settings.auto_export == ()
    assert not engine.auto_export.enabled and engine.auto_export.describe() == ""
