"""izer's Storage SCP (``izer serve``): DCMTK storescu and Orthanc send to it; every instance
lands in the store with identical content; refusals (low disk, unidentifiable instance,
calling AE off the allow-list) store nothing.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE

from izer.config import Settings
from izer.config.loader import SettingsError, load_settings
from izer.encode import TransferSyntax, encapsulated_pdf
from izer.engine import Engine
from izer.engine.receiving import ERROR_FOLDER
from izer.net.listener import Listener
from tests.dispatch.conftest import write_still, write_video
from tests.encode.factories import make_context
from tests.encode.interop_cases import small_pdf
from tests.helpers.binaries import require_binaries
from tests.helpers.dicom_samples import make_secondary_capture, write_secondary_capture
from tests.peers.harness import Peer, PeerSet

SCP_AET = "IZERSCP"
SCU_AET = "GOODSCU"
STORESCU = Path("/usr/bin/storescu")  # DCMTK's, not pynetdicom's console script

#: storescu options that make it propose the file's own transfer syntax.
_PROPOSE = {
    str(JPEGBaseline8Bit): ["-xy"],
    str(ExplicitVRLittleEndian): ["-xe"],
    "1.2.840.10008.1.2.4.102": ["-xn"],
}


def _engine(settings: Settings, **listener: object) -> Engine:
    changed = dataclasses.replace(settings.listener, **listener)
    return Engine.open(dataclasses.replace(settings, listener=changed))


@pytest.fixture
def receiving(settings: Settings) -> Iterator[tuple[Engine, Listener]]:
    """An engine and its started listener (storage on), allowing ``GOODSCU`` only."""
    with _engine(settings) as engine:
        listener = engine.listener(port=0, ae_title=SCP_AET, allowed_calling_aets=(SCU_AET,))
        with listener:
            yield engine, listener


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    """A JPEG Baseline still, an Explicit VR LE SC, an H.264 video and an Encapsulated PDF."""
    folder = tmp_path / "sources"
    folder.mkdir()
    pdf = folder / "report.dcm"
    encapsulated_pdf(small_pdf(), make_context(1, "DOC"), document_title="Report").save_as(
        pdf, enforce_file_format=True
    )
    sc = folder / "sc.dcm"
    write_secondary_capture(sc, patient_id="IZT-RCV-1")
    return [
        write_still(folder, 1, TransferSyntax.JPEG_BASELINE),
        sc,
        write_video(folder, "h264_hp41", "video"),
        pdf,
    ]


def _storescu(path: Path, port: int, calling: str = SCU_AET) -> subprocess.CompletedProcess:
    syntax = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    argv = [str(STORESCU), "-aet", calling, "-aec", SCP_AET, "-R", *_PROPOSE[syntax]]
    argv += ["-to", "10", "-ta", "10", "-td", "60", "127.0.0.1", str(port), str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _assert_identical(engine: Engine, source: Path) -> None:
    """The stored copy of ``source`` has the same elements and values (group 0002 aside)."""
    original = pydicom.dcmread(source)
    path = engine.store.path_for(
        original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID
    )
    assert path.is_file(), f"{source.name} is not in the store"
    stored = pydicom.dcmread(path)
    assert stored.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    ours = [element.tag for element in original if element.tag.group != 0x0002]
    theirs = [element.tag for element in stored if element.tag.group != 0x0002]
    assert theirs == ours, f"{source.name}: other attributes after storing"
    for tag in ours:
        assert stored[tag].value == original[tag].value, f"{source.name}: {tag} differs"
    for keyword in ("PixelData", "EncapsulatedDocument"):
        if keyword in original:
            assert stored[keyword].value == original[keyword].value


def _sop_uids(engine: Engine) -> set[str]:
    return {record.sop_instance_uid for record in engine.store.instances()}


def test_storescu_sends_stills_video_and_pdf_all_stored_identical(
    receiving: tuple[Engine, Listener], sources: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    require_binaries("storescu")
    engine, listener = receiving
    caplog.set_level(logging.INFO, logger="izer.net.listener")
    for path in sources:
        result = _storescu(path, listener.port)
        assert result.returncode == 0, result.stdout + result.stderr
    expected = {
        str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in sources
    }
    assert _sop_uids(engine) == expected
    for path in sources:
        _assert_identical(engine, path)
    ended = [r.getMessage() for r in caplog.records if r.getMessage().startswith("association")]
    assert any(f"from {SCU_AET}: 1 instances stored" in line for line in ended), ended
    assert any("patient 'IZT-RCV-1': 1 instances" in r.getMessage() for r in caplog.records)


def _orthanc_post(orthanc: Peer, path: str, body: bytes) -> object:
    request = urllib.request.Request(f"{orthanc.http_url}{path}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_orthanc_stores_to_izer_all_identical(
    settings: Settings, peer_set: PeerSet, orthanc: Peer, sources: list[Path]
) -> None:
    with _engine(settings) as engine:
        listener = engine.listener(
            port=peer_set.listener_port,
            ae_title=peer_set.listener_aet,
            allowed_calling_aets=(orthanc.aet,),
        )
        with listener:
            ids = [_orthanc_post(orthanc, "/instances", p.read_bytes())["ID"] for p in sources]
            body = json.dumps({"Resources": ids, "Synchronous": True}).encode()
            _orthanc_post(orthanc, "/modalities/izer/store", body)
        for path in sources:
            _assert_identical(engine, path)


def test_below_the_disk_threshold_the_scp_answers_a700_and_writes_nothing(
    settings: Settings,
) -> None:
    with _engine(settings, min_free_mb=1 << 40) as engine:
        with engine.listener(port=0, ae_title=SCP_AET) as listener:
            status = _send(make_secondary_capture(), listener.port)
        assert status == 0xA700
        assert _sop_uids(engine) == set()
        assert not (engine.store.folder / ERROR_FOLDER).exists()


def _send(ds: Dataset, port: int, calling: str = SCU_AET) -> int | None:
    """C-STORE ``ds`` with pynetdicom; the status, or None when not associated."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, str(ds.file_meta.TransferSyntaxUID))
    assoc = ae.associate("127.0.0.1", port, ae_title=SCP_AET)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_store(ds)
        return int(status.Status) if "Status" in status else None
    finally:
        assoc.release()


def test_an_instance_without_series_uid_goes_to_the_error_folder(
    receiving: tuple[Engine, Listener],
) -> None:
    engine, listener = receiving
    ds = make_secondary_capture(omit=["SeriesInstanceUID"])
    assert _send(ds, listener.port) == 0xA900
    assert _sop_uids(engine) == set()
    errors = engine.store.folder / ERROR_FOLDER
    kept = sorted(errors.glob(f"*_{SCU_AET}_*.dcm"))
    assert len(kept) == 1
    assert pydicom.dcmread(kept[0]).SOPInstanceUID == ds.SOPInstanceUID
    reason = kept[0].with_suffix(".txt").read_text()
    assert "SeriesInstanceUID missing" in reason
    assert SCU_AET in reason


def test_a_full_disk_while_writing_answers_a700(
    receiving: tuple[Engine, Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, listener = receiving

    def full(dataset: Dataset) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine.store, "add_dataset", full)
    assert _send(make_secondary_capture(), listener.port) == 0xA700
    assert not (engine.store.folder / ERROR_FOLDER).exists()


def test_a_calling_ae_off_the_allow_list_is_rejected(
    receiving: tuple[Engine, Listener], sources: list[Path]
) -> None:
    require_binaries("storescu")
    engine, listener = receiving
    assert _send(make_secondary_capture(), listener.port, calling="BADSCU") is None
    assert _storescu(sources[1], listener.port, calling="BADSCU").returncode != 0
    assert _sop_uids(engine) == set()


def test_a_narrowed_transfer_syntax_list_refuses_others(settings: Settings) -> None:
    still = make_secondary_capture()
    with (
        _engine(settings, transfer_syntaxes=(str(JPEGBaseline8Bit),)) as engine,
        engine.listener(port=0, ae_title=SCP_AET) as listener,
    ):
        assert _send(still, listener.port) is None  # no context in Explicit VR LE


def test_storage_off_accepts_no_c_store(settings: Settings) -> None:
    with _engine(settings, storage=False) as engine:
        listener = engine.listener(port=0, ae_title=SCP_AET)
        assert not listener.accepts_storage
        with listener:
            assert _send(make_secondary_capture(), listener.port) is None


_STATION = '[station]\nae_title = "IZERTEST"\nuid_root = "1.2.826.0.1.3680043.10.1452"\n'


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("min_free_mb = -1", "listener.min_free_mb"),
        ('transfer_syntaxes = ["1.2.840.10008.1.2.1", "jpeg"]', "listener.transfer_syntaxes[1]"),
    ],
)
def test_listener_settings_are_checked(write_settings, line: str, key: str) -> None:
    path = write_settings(f"{_STATION}[listener]\n{line}\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    assert raised.value.key == key


def test_listener_storage_settings_load(write_settings) -> None:
    path = write_settings(
        _STATION
        + "[listener]\nstorage = false\nmin_free_mb = 0\n"
        + 'transfer_syntaxes = ["1.2.840.10008.1.2"]\n'
    )
    listener = load_settings(path).settings.listener
    assert (listener.storage, listener.min_free_mb) == (False, 0)
    assert listener.transfer_syntaxes == ("1.2.840.10008.1.2",)
