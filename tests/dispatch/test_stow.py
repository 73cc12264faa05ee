"""STOW-RS sink (izer.dispatch.stow, PS3.18 10.5): Orthanc's DICOMweb plugin and a fake server.

Orthanc (with and without basic authentication) shows that stills and a video arrive
intact; a small in-process HTTP(S) server plays the answers Orthanc never gives (202 with
failure reasons, 409, 415, 5xx, silence) and checks the request's shape.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.server
import io
import json
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG4HP41, generate_uid
from pynetdicom.sop_class import VideoEndoscopicImageStorage

from izer.config import Destination, DestinationKind, NetworkSettings, TlsSettings
from izer.dispatch import stow
from izer.dispatch.errors import DeliveryError
from izer.dispatch.stow import (
    BasicAuth,
    BearerToken,
    StowFailed,
    stow_destination,
    stow_files,
)
from tests.helpers.binaries import require_binaries
from tests.helpers.dicom_samples import make_secondary_capture, write_secondary_capture
from tests.peers.harness import CertKey, Peer, PeerPki, free_port, make_peer_pki

# --------------------------------------------------------------------------- test data


def _stills(folder: Path, count: int, study_uid: str | None = None) -> list[Path]:
    study_uid = study_uid or generate_uid()
    paths = []
    for number in range(1, count + 1):
        path = folder / f"still{number}.dcm"
        write_secondary_capture(
            path,
            patient_id="IZT-STOW-1",
            study_instance_uid=study_uid,
            rows=64,
            columns=48,
            instance_number=number,
        )
        paths.append(path)
    return paths


def _video(folder: Path) -> Path:
    """A Video Endoscopic Image with a real 1 s H.264 stream (MPEG-4 AVC HP@4.1)."""
    require_binaries("ffmpeg")
    stream = folder / "clip.h264"
    subprocess.run(
        ["/usr/bin/ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "testsrc2=size=320x240:rate=25", "-t", "1", "-c:v", "libx264",
         "-preset", "superfast", "-pix_fmt", "yuv420p", "-f", "h264", str(stream)],
        check=True,
    )  # fmt: skip
    ds = make_secondary_capture(patient_id="IZT-STOW-1")
    del ds.ConversionType
    ds.SOPClassUID = VideoEndoscopicImageStorage
    ds.Modality = "ES"
    ds.Rows, ds.Columns = 240, 320
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.NumberOfFrames = 25
    ds.FrameTime = "40"
    ds.FrameIncrementPointer = 0x00181063
    ds.PixelData = encapsulate([stream.read_bytes()])
    ds["PixelData"].VR = "OB"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = MPEG4HP41
    ds.file_meta = meta
    path = folder / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _sop_uid(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


# --------------------------------------------------------------------------- Orthanc


def _rest(peer: Peer, path: str, data: bytes | None = None) -> bytes:
    request = urllib.request.Request(f"{peer.http_url}{path}", data=data)
    if peer.http_auth is not None:
        user, password = peer.http_auth
        request.add_header("Authorization", BasicAuth(user, password).header())
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def _orthanc_file(peer: Peer, sop_uid: str) -> bytes:
    """The Part-10 file Orthanc keeps for ``sop_uid``."""
    found = json.loads(_rest(peer, "/tools/lookup", sop_uid.encode()))
    instances = [item["ID"] for item in found if item["Type"] == "Instance"]
    assert len(instances) == 1, f"Orthanc does not hold {sop_uid}"
    return _rest(peer, f"/instances/{instances[0]}/file")


def _pixel_hash(data: bytes | Path) -> str:
    source = data if isinstance(data, Path) else io.BytesIO(data)
    return hashlib.sha256(dcmread(source).PixelData).hexdigest()


@pytest.mark.peers
def test_stills_and_a_video_arrive_intact_in_orthanc(
    orthanc_dicomweb: Peer, tmp_path: Path
) -> None:
    paths = [*_stills(tmp_path, 3), _video(tmp_path)]
    seen: list[tuple[int, int]] = []

    outcomes = stow_files(
        orthanc_dicomweb.dicomweb_url,
        paths,
        timeout_s=30,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert [o.path for o in outcomes] == paths
    assert all(o.stored and not o.warning for o in outcomes)
    assert all(o.sop_uid in o.retrieve_url for o in outcomes)
    for path in paths:
        held = _orthanc_file(orthanc_dicomweb, _sop_uid(path))
        assert hashlib.sha256(held).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
        assert _pixel_hash(held) == _pixel_hash(path)
    total = sum(p.stat().st_size for p in paths)
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.peers
def test_sending_the_same_instance_again_is_accepted(
    orthanc_dicomweb: Peer, tmp_path: Path
) -> None:
    [path] = _stills(tmp_path, 1)
    stow_files(orthanc_dicomweb.dicomweb_url, [path], timeout_s=30)

    [again] = stow_files(orthanc_dicomweb.dicomweb_url, [path], timeout_s=30)

    assert again.stored
    assert _orthanc_file(orthanc_dicomweb, again.sop_uid) == path.read_bytes()


@pytest.mark.peers
def test_basic_authentication_is_sent_and_accepted(orthanc_secure: Peer, tmp_path: Path) -> None:
    assert orthanc_secure.http_auth is not None and orthanc_secure.dicomweb_url is not None
    paths = _stills(tmp_path, 2)
    destination = Destination("web", kind=DestinationKind.DICOMWEB, url=orthanc_secure.dicomweb_url)

    outcomes = stow_destination(
        destination, NetworkSettings(), paths, auth=BasicAuth(*orthanc_secure.http_auth)
    )

    assert all(o.stored for o in outcomes)
    for path in paths:
        assert _orthanc_file(orthanc_secure, _sop_uid(path)) == path.read_bytes()


@pytest.mark.peers
@pytest.mark.parametrize("auth", [BasicAuth("izer", "wrong password"), None])
def test_a_wrong_or_missing_password_is_a_clear_permanent_error(
    orthanc_secure: Peer, tmp_path: Path, auth: BasicAuth | None
) -> None:
    paths = _stills(tmp_path, 1)

    with pytest.raises(DeliveryError) as caught:
        stow_files(orthanc_secure.dicomweb_url, paths, auth=auth, timeout_s=30)

    message = str(caught.value)
    assert not caught.value.transient
    assert "HTTP 401" in message and "user name and password" in message
    assert "wrong password" not in message
    assert "\n" not in message
    found = json.loads(_rest(orthanc_secure, "/tools/lookup", _sop_uid(paths[0]).encode()))
    assert found == []


# --------------------------------------------------------------------------- fake server


@dataclass
class FakeStow:
    """What the fake STOW-RS server answers, and what it received."""

    status: int = 200
    body: bytes | None = None  # None: a Store Instances Response listing all as stored
    content_type: str = "application/dicom+json"
    hold: threading.Event | None = None  # wait for this before answering
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


def _store_response(
    stored: list[str], failed: dict[str, int] | None = None, warnings: dict[str, int] | None = None
) -> bytes:
    """A Store Instances Response (PS3.18 10.5.3) in DICOM JSON."""

    def item(uid: str, extra: dict[str, object]) -> dict[str, object]:
        return {
            "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.7"]},
            "00081155": {"vr": "UI", "Value": [uid]},
            **extra,
        }

    warnings = warnings or {}
    response = {
        "00081199": {
            "vr": "SQ",
            "Value": [
                item(
                    uid,
                    {"00081196": {"vr": "US", "Value": [warnings[uid]]}} if uid in warnings else {},
                )
                for uid in stored
            ],
        },
        "00081198": {
            "vr": "SQ",
            "Value": [
                item(uid, {"00081197": {"vr": "US", "Value": [reason]}})
                for uid, reason in (failed or {}).items()
            ],
        },
    }
    return json.dumps(response).encode()


def _split_parts(content_type: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """(part headers, payload) of a multipart body (RFC 2046)."""
    boundary = content_type.split("boundary=")[1].split(";")[0].strip('"').encode()
    assert body.startswith(b"--" + boundary + b"\r\n")
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    chunks = body[: -len(b"\r\n--" + boundary + b"--\r\n")].split(b"\r\n--" + boundary + b"\r\n")
    chunks[0] = chunks[0][len(b"--" + boundary + b"\r\n") :]
    return [tuple(chunk.split(b"\r\n\r\n", 1)) for chunk in chunks]  # type: ignore[misc]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PeerPki:
    require_binaries("openssl")
    return make_peer_pki(tmp_path_factory.mktemp("stow-pki"))


@pytest.fixture
def fake() -> FakeStow:
    return FakeStow()


@contextlib.contextmanager
def _serve(fake: FakeStow, context: ssl.SSLContext | None) -> Iterator[str]:
    """Run the fake STOW-RS server on a free port; yield its DICOMweb root URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.requests.append((self.path, dict(self.headers.items()), body))
            if fake.hold is not None:
                fake.hold.wait(10)
            answer = fake.body
            if answer is None:
                parts = _split_parts(self.headers["Content-Type"], body)
                answer = _store_response([_uid_of(payload) for _, payload in parts])
            self.send_response(fake.status)
            self.send_header("Content-Type", fake.content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/dicom-web"
    finally:
        if fake.hold is not None:
            fake.hold.set()
        server.shutdown()
        server.server_close()


def _uid_of(payload: bytes) -> str:
    return str(dcmread(io.BytesIO(payload), stop_before_pixels=True).SOPInstanceUID)


@pytest.fixture
def fake_url(fake: FakeStow) -> Iterator[str]:
    with _serve(fake, None) as url:
        yield url


def _server_context(cert_key: CertKey) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_key.cert, cert_key.key)
    return context


def test_the_request_is_multipart_related_application_dicom_with_exact_files(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    paths = _stills(tmp_path, 3)

    stow_files(fake_url, paths, auth=BearerToken("t0ken"), timeout_s=10)

    [(path, headers, body)] = fake.requests
    assert path == "/dicom-web/studies"
    content_type = headers["Content-Type"]
    assert content_type.startswith('multipart/related; type="application/dicom"; boundary=')
    assert headers["Authorization"] == "Bearer t0ken"
    assert "application/dicom+json" in headers["Accept"]
    assert int(headers["Content-Length"]) == len(body)
    parts = _split_parts(content_type, body)
    assert [payload for _, payload in parts] == [p.read_bytes() for p in paths]
    assert all(head == b"Content-Type: application/dicom" for head, _ in parts)


def test_large_files_are_streamed_in_chunks(
    fake: FakeStow, fake_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [path] = _stills(tmp_path, 1)
    ds = dcmread(path)
    block = ds.private_block(0x0009, "IZER TEST", create=True)
    block.add_new(0x10, "OB", bytes(5 * stow.CHUNK_BYTES + 123))
    big = tmp_path / "big.dcm"
    ds.save_as(big, enforce_file_format=True)
    writes: list[int] = []
    original = http.client.HTTPConnection.send

    def recording_send(self: http.client.HTTPConnection, data: bytes) -> None:
        writes.append(len(data))
        original(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", recording_send)

    [outcome] = stow_files(fake_url, [big], timeout_s=10)

    assert outcome.stored
    assert max(writes) <= stow.CHUNK_BYTES
    assert sum(writes) > big.stat().st_size
    assert _split_parts(fake.requests[0][1]["Content-Type"], fake.requests[0][2])[0][1] == (
        big.read_bytes()
    )


def test_202_with_out_of_resources_is_transient_and_names_the_instance(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    paths = _stills(tmp_path, 2)
    uids = [_sop_uid(p) for p in paths]
    fake.status = 202
    fake.body = _store_response([uids[0]], {uids[1]: 0xA700})

    with pytest.raises(StowFailed) as caught:
        stow_files(fake_url, paths, timeout_s=10)

    error = caught.value
    assert error.transient
    assert "1 of 2 instance(s) not stored" in str(error)
    assert uids[1] in str(error) and "out of resources" in str(error)
    assert [o.stored for o in error.outcomes] == [True, False]
    assert error.outcomes[1].failure_reason == 0xA700


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (0xC000, "cannot understand"),
        (0xA900, "does not match its SOP class"),
        (0x0122, "does not support this SOP class"),
        (0xC122, "transfer syntax"),
    ],
)
def test_409_with_a_permanent_failure_reason_is_permanent(
    fake: FakeStow, fake_url: str, tmp_path: Path, reason: int, words: str
) -> None:
    [path] = _stills(tmp_path, 1)
    fake.status = 409
    fake.body = _store_response([], {_sop_uid(path): reason})

    with pytest.raises(StowFailed) as caught:
        stow_files(fake_url, [path], timeout_s=10)

    assert not caught.value.transient
    assert words in str(caught.value)
    assert f"0x{reason:04X}" in str(caught.value)


def test_one_permanent_failure_makes_the_whole_error_permanent(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    paths = _stills(tmp_path, 2)
    uids = [_sop_uid(p) for p in paths]
    fake.status = 202
    fake.body = _store_response([], {uids[0]: 0xA700, uids[1]: 0xC000})

    with pytest.raises(StowFailed) as caught:
        stow_files(fake_url, paths, timeout_s=10)

    assert not caught.value.transient


def test_warnings_are_stored_with_the_remark(fake: FakeStow, fake_url: str, tmp_path: Path) -> None:
    [path] = _stills(tmp_path, 1)
    fake.status = 202
    fake.body = _store_response([_sop_uid(path)], warnings={_sop_uid(path): 0xB000})

    [outcome] = stow_files(fake_url, [path], timeout_s=10)

    assert outcome.stored
    assert "coercion" in outcome.warning


def test_a_duplicate_reported_as_failure_counts_as_stored(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    [path] = _stills(tmp_path, 1)
    fake.status = 409
    fake.body = _store_response([], {_sop_uid(path): 0x0111})

    [outcome] = stow_files(fake_url, [path], timeout_s=10)

    assert outcome.stored and "already held" in outcome.warning


@pytest.mark.parametrize(
    ("status", "transient", "words"),
    [
        (401, False, "user name and password"),
        (403, False, "refused access"),
        (404, False, "DICOMweb root"),
        (413, False, "too large"),
        (415, False, "Unsupported Media Type"),
        (500, True, "server error (HTTP 500"),
        (502, True, "HTTP 502"),
        (503, True, "busy"),
        (429, True, "slow down"),
    ],
)
def test_http_statuses_without_a_store_response(
    fake: FakeStow,
    fake_url: str,
    tmp_path: Path,
    status: int,
    transient: bool,
    words: str,
) -> None:
    fake.status = status
    fake.body = b'{"Message": "nope"}'
    fake.content_type = "application/json"

    with pytest.raises(DeliveryError) as caught:
        stow_files(fake_url, _stills(tmp_path, 1), timeout_s=10)

    assert caught.value.transient is transient
    assert words in str(caught.value)


def test_a_200_without_a_body_means_all_stored(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    fake.body = b""

    outcomes = stow_files(fake_url, _stills(tmp_path, 2), timeout_s=10)

    assert all(o.stored for o in outcomes)


def test_a_400_without_per_instance_answers_is_permanent(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    fake.status = 400
    fake.body = _store_response([])

    with pytest.raises(StowFailed) as caught:
        stow_files(fake_url, _stills(tmp_path, 1), timeout_s=10)

    assert not caught.value.transient
    assert "Bad Request" in str(caught.value)


def test_a_silent_server_times_out_transiently(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    fake.hold = threading.Event()

    with pytest.raises(DeliveryError) as caught:
        stow_files(fake_url, _stills(tmp_path, 1), timeout_s=0.5)

    assert caught.value.transient
    assert "no answer within 0.5 s" in str(caught.value)


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"

    with pytest.raises(DeliveryError) as caught:
        stow_files(url, _stills(tmp_path, 1), timeout_s=5)

    assert caught.value.transient
    assert "connection refused" in str(caught.value)


def test_a_file_that_is_not_part10_sends_nothing(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    bogus = tmp_path / "raw.dcm"
    ds = make_secondary_capture()
    del ds.file_meta
    ds.save_as(bogus, implicit_vr=True, little_endian=True)  # no preamble, no meta

    with pytest.raises(DeliveryError) as caught:
        stow_files(fake_url, [*_stills(tmp_path, 1), bogus], timeout_s=10)

    assert not caught.value.transient
    assert "nothing sent" in str(caught.value) and "raw.dcm" in str(caught.value)
    assert fake.requests == []


def test_passwords_in_the_url_are_used_but_never_shown(
    fake: FakeStow, fake_url: str, tmp_path: Path
) -> None:
    url = fake_url.replace("http://", "http://izer:se%40cret@")
    fake.status = 401
    fake.body = b""

    with pytest.raises(DeliveryError) as caught:
        stow_files(url, _stills(tmp_path, 1), timeout_s=10)

    assert fake.requests[0][1]["Authorization"] == BasicAuth("izer", "se@cret").header()
    assert "se@cret" not in str(caught.value) and "se%40cret" not in str(caught.value)


def test_a_non_dicomweb_destination_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="not DICOMweb"):
        stow_destination(Destination("pacs"), NetworkSettings(), _stills(tmp_path, 1))


# --------------------------------------------------------------------------- HTTPS


def test_https_with_the_test_ca_works(fake: FakeStow, pki: PeerPki, tmp_path: Path) -> None:
    with _serve(fake, _server_context(pki.server)) as url:
        tls = TlsSettings(enabled=True, ca_file=str(pki.ca))

        outcomes = stow_files(url, _stills(tmp_path, 2), tls=tls, timeout_s=10)

        assert all(o.stored for o in outcomes)
        assert url.startswith("https://")


@pytest.mark.parametrize(
    ("server", "words"),
    [
        ("untrusted_server", "is not trusted: it is not signed by the CA in tls.ca_file"),
        ("expired_server", "certificate has expired"),
    ],
)
def test_https_certificate_problems_are_permanent_and_explained(
    fake: FakeStow, pki: PeerPki, tmp_path: Path, server: str, words: str
) -> None:
    with _serve(fake, _server_context(getattr(pki, server))) as url:
        tls = TlsSettings(enabled=True, ca_file=str(pki.ca))

        with pytest.raises(DeliveryError) as caught:
            stow_files(url, _stills(tmp_path, 1), tls=tls, timeout_s=10)

        assert not caught.value.transient
        assert words in str(caught.value)
        assert fake.requests == []


def test_tls_enabled_with_an_http_url_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="use https://") as caught:
        stow_files(
            "http://127.0.0.1:1/dicom-web",
            _stills(tmp_path, 1),
            tls=TlsSettings(enabled=True),
        )

    assert not caught.value.transient
