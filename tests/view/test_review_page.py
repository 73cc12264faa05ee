"""``izer view``: the local review page in headless Chromium and over plain HTTP.

One store holds a study with an H.264 video, an MPEG-2 video, two stills and an
encapsulated PDF (izer's own encoders), and a second study whose patient name carries
markup. The page is served on a free port; Chromium shows the list, a thumbnail that
loads and a video element that reports its duration; the guards (token, Host header,
127.0.0.1 only) are checked with raw HTTP requests. Every patient here is made up.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

import izer.cli.view as view_cli
from izer.config import Settings, load_settings
from izer.encode import InstanceContext, SeriesContext, VLKind, encapsulated_pdf, vl_image
from izer.encode.video import VideoKind, probe, video_image, write_video_instance
from izer.encode.video.syntaxes import VideoSyntax
from izer.engine import Engine
from izer.engine.viewing import UnknownInstanceError, ViewError, ViewKind
from izer.model import Patient, Sex
from izer.view import ReviewServer, parse_range
from izer.view.server import RangeNotSatisfiableError
from tests.encode.factories import make_context, smooth_image
from tests.encode.video.conforming import conforming_clip
from tests.helpers.binaries import require_binaries
from tests.helpers.chromium import CHROMIUM, Dom, chromium_url_dom

PATIENT = Patient("VIEW-0001", "Viewer^Vera", "19800214", Sex.FEMALE)
MARKUP_NAME = "Mallory^<script>alert(1)</script>"
MARKUP_PATIENT = Patient("VIEW-0002", MARKUP_NAME, "19700101", Sex.OTHER)


@dataclasses.dataclass(frozen=True)
class Stored:
    """What the test store holds."""

    study_uid: str
    video_uid: str
    mpeg2_uid: str
    still_uids: tuple[str, str]
    pdf_uid: str
    pdf: bytes
    markup_study_uid: str
    markup_still_uid: str


def _pdf() -> bytes:
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4)
    document.drawString(72, 770, "Made-up procedure report for Viewer^Vera")
    document.showPage()
    document.save()
    return buffer.getvalue()


def _in(base: InstanceContext, series: SeriesContext, n: int) -> InstanceContext:
    """Instance ``n`` (a new SOP Instance UID) of ``series`` in the study of ``base``."""
    return dataclasses.replace(make_context(n, series.modality), study=base.study, series=series)


def _settings_file(folder: Path) -> Path:
    path = folder / "izer.toml"
    path.write_text(
        f"""
[station]
ae_title = "IZERVIEW"
uid_root = "1.2.826.0.1.3680043.10.1452"
station_name = "TESTROOM"

[storage]
folder = "{(folder / "store").as_posix()}"
""",
        encoding="utf-8",
    )
    return path


def _fill(engine: Engine, folder: Path) -> Stored:
    base = make_context(1, "ES")
    base = dataclasses.replace(base, study=dataclasses.replace(base.study, patient=PATIENT))
    document_series = dataclasses.replace(make_context(1, "DOC").series, series_number=2)
    store = engine.store
    videos = []
    for number, (case, syntax) in enumerate(
        (("h264_hp41", VideoSyntax.H264_HP41), ("mpeg2_mpml", VideoSyntax.MPEG2_MPML)), start=1
    ):
        clip = conforming_clip(case)
        ds = video_image(
            clip,
            probe(clip),
            _in(base, base.series, number),
            kind=VideoKind.ENDOSCOPIC,
            syntax=syntax,
        )
        path = folder / f"{case}.dcm"
        write_video_instance(ds, path)
        videos.append(store.import_file(path).sop_instance_uid)
    stills = []
    for number in (3, 4):
        ds = vl_image(
            smooth_image(96, 128, colour=True, seed=number),
            _in(base, base.series, number),
            kind=VLKind.ENDOSCOPIC,
        )
        stills.append(store.add_dataset(ds).sop_instance_uid)
    pdf = _pdf()
    document = encapsulated_pdf(
        pdf, _in(base, document_series, 1), document_title="Procedure report"
    )
    pdf_uid = store.add_dataset(document).sop_instance_uid
    other = make_context(1, "ES")
    other = dataclasses.replace(
        other, study=dataclasses.replace(other.study, patient=MARKUP_PATIENT)
    )
    markup = vl_image(smooth_image(64, 64, colour=True, seed=9), other, kind=VLKind.ENDOSCOPIC)
    markup_uid = store.add_dataset(markup).sop_instance_uid
    return Stored(
        study_uid=base.study.study_instance_uid,
        video_uid=videos[0],
        mpeg2_uid=videos[1],
        still_uids=(stills[0], stills[1]),
        pdf_uid=pdf_uid,
        pdf=pdf,
        markup_study_uid=other.study.study_instance_uid,
        markup_still_uid=markup_uid,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReviewServer, Stored]]:
    """The review page on a free port over a store with the two studies."""
    folder = tmp_path_factory.mktemp("view")
    settings: Settings = load_settings(_settings_file(folder)).settings
    with Engine.open(settings) as engine:
        stored = _fill(engine, folder)
        with ReviewServer(engine.viewing) as server:
            yield server, stored
        engine.viewing.clear_cache()


def _get(
    server: ReviewServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _chromium(url: str, profile: Path) -> Dom:
    require_binaries(CHROMIUM)
    return chromium_url_dom(url, profile)


# -- the page in Chromium -----------------------------------------------------------------------


def test_the_list_shows_the_study_with_a_thumbnail_that_loads(
    served: tuple[ReviewServer, Stored], tmp_path: Path
) -> None:
    server, stored = served
    dom = _chromium(server.url, tmp_path / "profile")
    rows = {row.attrs["data-study-uid"]: row for row in dom.find("tr", "study")}
    assert set(rows) == {stored.study_uid, stored.markup_study_uid}
    assert "Viewer, Vera" in rows[stored.study_uid].words
    assert "VIEW-0001" in rows[stored.study_uid].words
    assert "2 series, 5 instances" in rows[stored.study_uid].words
    assert "1 series, 1 instance" in rows[stored.markup_study_uid].words
    thumbs = dom.find("img", "thumb")
    assert len(thumbs) == 2
    for thumb in thumbs:
        assert int(thumb.attrs.get("data-natural-width", "0")) > 0, thumb.attrs
    # the cover of the study is its first picture (the H.264 video), a real JPEG
    cover = next(t for t in thumbs if stored.video_uid in t.attrs["src"])
    status, headers, body = _get(server, cover.attrs["src"])
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(body)) as picture:
        assert picture.format == "JPEG"
        assert max(picture.size) == 192


def test_the_study_page_plays_the_h264_video_and_explains_mpeg2(
    served: tuple[ReviewServer, Stored], tmp_path: Path
) -> None:
    server, stored = served
    dom = _chromium(f"{server.url}study/{stored.study_uid}", tmp_path / "profile")
    (video,) = dom.find("video")
    assert stored.video_uid in video.attrs["src"]
    assert "data-error" not in video.attrs, video.attrs
    duration = float(video.attrs["data-duration"])
    assert 0.3 < duration < 1.0, duration  # the clip is 0.5 s
    figures = {f.attrs["data-sop-uid"]: f for f in dom.find("figure", "item")}
    assert set(figures) == {stored.video_uid, stored.mpeg2_uid, *stored.still_uids, stored.pdf_uid}
    note = figures[stored.mpeg2_uid].words
    assert "MPEG-2" in note and "izer export" in note
    assert "PDF document" in figures[stored.pdf_uid].words
    (frame,) = dom.find("iframe")
    assert frame.attrs["src"].endswith(f"/pdf/{stored.pdf_uid}.pdf")
    for uid in stored.still_uids:
        (thumb,) = [t for t in dom.find("img", "thumb") if uid in t.attrs["src"]]
        assert int(thumb.attrs["data-natural-width"]) == 128


# -- the guards ---------------------------------------------------------------------------------


def test_requests_without_the_right_token_are_refused_without_data(
    served: tuple[ReviewServer, Stored],
) -> None:
    server, stored = served
    wrong = "x" * len(server.token)
    for path in (
        "/",
        f"/study/{stored.study_uid}",
        f"/{wrong}/",
        f"/{wrong}/thumb/{stored.still_uids[0]}.jpg",
        f"/{server.token[:-1]}/",
        f"/?token={wrong}",
    ):
        status, headers, body = _get(server, path)
        assert status == 403, path
        assert headers["Content-Type"].startswith("text/plain")
        assert b"Viewer" not in body and b"VIEW-0001" not in body and len(body) < 200
    status, _headers, body = _get(server, f"/?token={server.token}")
    assert status == 200 and b"Viewer, Vera" in body


def test_a_foreign_host_header_is_refused(served: tuple[ReviewServer, Stored]) -> None:
    server, _stored = served
    path = f"/{server.token}/"
    for host in (f"attacker.example:{server.port}", "127.0.0.1", f"localhost:{server.port + 1}"):
        status, _headers, body = _get(server, path, {"Host": host})
        assert status == 403, host
        assert b"Viewer" not in body
    status, headers, _body = _get(server, path, {"Host": f"localhost:{server.port}"})
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_only_127_0_0_1_is_served(served: tuple[ReviewServer, Stored]) -> None:
    server, _stored = served
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
            ReviewServer(server.viewing, host=host)
    with pytest.raises(ValueError, match="at least 16"):
        ReviewServer(server.viewing, token="short")
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/")


# -- the routes ---------------------------------------------------------------------------------


def test_the_video_answers_range_requests_and_is_a_real_mp4(
    served: tuple[ReviewServer, Stored], tmp_path: Path
) -> None:
    server, stored = served
    path = f"/{server.token}/video/{stored.video_uid}.mp4"
    status, headers, whole = _get(server, path)
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes"
    assert int(headers["Content-Length"]) == len(whole)
    status, headers, part = _get(server, path, {"Range": "bytes=0-99"})
    assert status == 206
    assert len(part) == 100 and part == whole[:100]
    assert headers["Content-Range"] == f"bytes 0-99/{len(whole)}"
    status, headers, tail = _get(server, path, {"Range": "bytes=-10"})
    assert status == 206 and tail == whole[-10:]
    status, headers, _ = _get(server, path, {"Range": f"bytes={len(whole)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"
    downloaded = tmp_path / "video.mp4"
    downloaded.write_bytes(whole)
    ffprobe = require_binaries("ffprobe")["ffprobe"]
    probed = subprocess.run(
        [
            str(ffprobe),
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "json",
            str(downloaded),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(json.loads(probed.stdout)["format"]["duration"]) > 0


def test_the_mpeg2_video_is_refused_with_what_to_do(served: tuple[ReviewServer, Stored]) -> None:
    server, stored = served
    status, _headers, body = _get(server, f"/{server.token}/video/{stored.mpeg2_uid}.mp4")
    assert status == 415
    assert b"MPEG-2" in body and b"izer export" in body
    with pytest.raises(ViewError, match="MPEG-2"):
        server.viewing.playable_video(stored.mpeg2_uid)


def test_the_pdf_route_gives_the_document_as_archived(
    served: tuple[ReviewServer, Stored],
) -> None:
    server, stored = served
    status, headers, body = _get(server, f"/{server.token}/pdf/{stored.pdf_uid}.pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert body == stored.pdf


def test_the_details_page_escapes_the_patient_name(served: tuple[ReviewServer, Stored]) -> None:
    server, stored = served
    status, _headers, body = _get(server, f"/{server.token}/instance/{stored.markup_still_uid}")
    text = body.decode("utf-8")
    assert status == 200
    assert "<script>alert(1)</script>" not in text
    assert "Mallory^&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Patient&#x27;s Name" in text or "Patient's Name" in text
    _status, _headers, listing = _get(server, f"/{server.token}/")
    assert b"<script>alert" not in listing and b"&lt;script&gt;alert(1)" in listing


def test_unknown_uids_and_paths_are_not_found(served: tuple[ReviewServer, Stored]) -> None:
    server, _stored = served
    for path in ("study/1.2.3", "instance/1.2.3", "thumb/1.2.3.jpg", "nowhere/x", "a/b/c"):
        status, _headers, body = _get(server, f"/{server.token}/{path}")
        assert status == 404, path
        assert b"Viewer" not in body


def test_the_details_show_binary_values_as_sizes(served: tuple[ReviewServer, Stored]) -> None:
    server, stored = served
    details = {name: value for _tag, name, value in server.viewing.details(stored.video_uid)}
    assert details["Patient's Name"] == "Viewer^Vera"
    assert details["Transfer Syntax UID"] == VideoSyntax.H264_HP41.uid
    assert details["Pixel Data"].startswith("<") and details["Pixel Data"].endswith(" bytes>")
    assert int(details["Pixel Data"][1:].split()[0]) > 1000
    pdf_details = {name: value for _tag, name, value in server.viewing.details(stored.pdf_uid)}
    assert (
        pdf_details["Encapsulated Document"] == f"<{len(stored.pdf) + len(stored.pdf) % 2} bytes>"
    )
    assert pdf_details["Concept Name Code Sequence"] == "<sequence of 0 items>"


# -- the controller -----------------------------------------------------------------------------


def test_the_playable_video_is_made_once_in_the_store_scratch_area(
    served: tuple[ReviewServer, Stored],
) -> None:
    server, stored = served
    viewing = server.viewing
    first = viewing.playable_video(stored.video_uid)
    made = first.stat().st_mtime_ns
    again = viewing.playable_video(stored.video_uid)
    assert again == first and again.stat().st_mtime_ns == made
    studies_folder = viewing.engine.store.studies_folder
    assert first.parent.parent == studies_folder
    assert first.parent.name.startswith(".izer-tmp-")  # swept when the store next opens
    assert first.name.startswith(".izer-tmp-")
    kinds = {
        i.sop_instance_uid: i.kind
        for s in viewing.study(stored.study_uid).series
        for i in s.instances
    }
    assert kinds[stored.video_uid] is ViewKind.VIDEO
    assert kinds[stored.pdf_uid] is ViewKind.DOCUMENT
    assert {kinds[u] for u in stored.still_uids} == {ViewKind.STILL}
    with pytest.raises(UnknownInstanceError):
        viewing.thumbnail_jpeg("1.2.3.4")
    with pytest.raises(ViewError, match="not a video"):
        viewing.playable_video(stored.still_uids[0])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=10-", (10, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=990-2000", (990, 999)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=5-2", None),
        ("bytes=x-y", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=-0"])
def test_parse_range_refuses_what_selects_nothing(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        parse_range(header, 1000)


# -- the command --------------------------------------------------------------------------------


def test_izer_view_prints_the_address_serves_and_stops(
    settings_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[ReviewServer] = []
    answers: list[tuple[int, bytes]] = []
    opened: list[str] = []

    class Recording(ReviewServer):
        def start(self) -> ReviewServer:
            started.append(self)
            return super().start()

    def visit() -> None:
        for _ in range(600):
            if started and started[0].running:
                break
            threading.Event().wait(0.05)
        else:
            return
        server = started[0]
        status, _headers, body = _get(server, f"/{server.token}/")
        answers.append((status, body))
        status, _headers, body = _get(server, "/")
        answers.append((status, body))
        server.stop()

    monkeypatch.setattr(view_cli, "ReviewServer", Recording)
    monkeypatch.setattr(view_cli.webbrowser, "open", opened.append)
    visitor = threading.Thread(target=visit)
    visitor.start()
    status = view_cli.main(
        ["--no-browser", "--serve-seconds", "120", "--config", str(settings_path)]
    )
    visitor.join()
    assert status == 0
    (server,) = started
    printed = capsys.readouterr().out
    assert server.url in printed and server.token in printed
    assert "127.0.0.1" in printed and "review page stopped" in printed
    assert answers[0][0] == 200 and b"Local studies" in answers[0][1]
    assert answers[1][0] == 403
    assert opened == []


def test_izer_view_refuses_a_bad_port(
    settings_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert view_cli.main(["--port", "70000", "--config", str(settings_path)]) == 2
    assert "port" in capsys.readouterr().err


def test_the_browser_gets_a_private_file_not_the_token_on_its_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``webbrowser.open`` runs a program whose arguments every local user can read."""
    opened: list[str] = []
    monkeypatch.setattr(view_cli.webbrowser, "open", opened.append)
    url = "http://127.0.0.1:8123/SECRET-token_value/"
    view_cli._open_in_browser(url)
    assert len(opened) == 1 and "SECRET" not in opened[0]
    page = Path(urllib.request.url2pathname(urllib.parse.urlparse(opened[0]).path))
    try:
        assert page.stat().st_mode & 0o077 == 0, oct(page.stat().st_mode)
        assert f'url={url}"' in page.read_text(encoding="utf-8")
    finally:
        page.unlink(missing_ok=True)
