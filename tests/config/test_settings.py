"""Settings: defaults, first run, precedence, and one-line errors for bad files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from izer.cli.config_cmd import main as config_main
from izer.config import (
    NetworkSettings,
    Role,
    SettingsError,
    default_config_path,
    load_settings,
    settings_to_toml,
)
from izer.config.loader import settings_from_table
from izer.config.validate import uid_problem

GOOD_STATION = '[station]\nae_title = "IZERTEST"\nuid_root = "1.2.3.4"\n'


def test_first_run_writes_ae_title_and_uid_root_once() -> None:
    first = load_settings()
    assert first.created
    assert first.path == default_config_path()
    assert re.fullmatch(r"IZER_\d{4}", first.settings.station.ae_title)
    assert first.settings.station.uid_root.startswith("2.25.")
    assert uid_problem(first.settings.station.uid_root, max_length=48) is None
    again = load_settings()
    assert not again.created
    assert again.settings == first.settings


def test_defaults_are_the_documented_ones(write_settings) -> None:
    settings = load_settings(write_settings(GOOD_STATION)).settings
    assert settings.station.character_set == "ISO_IR 192"
    assert settings.storage.folder == ""
    assert settings.listener.port == 11112
    assert settings.network == NetworkSettings()
    assert settings.destinations == ()


def test_environment_variable_and_flag_precedence(write_settings, monkeypatch) -> None:
    from_env = write_settings(GOOD_STATION.replace("IZERTEST", "FROMENV"), "env.toml")
    from_flag = write_settings(GOOD_STATION.replace("IZERTEST", "FROMFLAG"), "flag.toml")
    monkeypatch.setenv("IZER_CONFIG", str(from_env))
    assert load_settings().settings.station.ae_title == "FROMENV"
    assert load_settings(from_flag).settings.station.ae_title == "FROMFLAG"


def test_destination_overrides_inherit_the_rest(write_settings) -> None:
    path = write_settings(
        GOOD_STATION
        + """
        [network]
        acse_timeout_s = 7

        [[destinations]]
        name = "pacs"
        ae_title = "ORTHANC"
        host = "127.0.0.1"
        port = 4242
        roles = ["store", "commitment"]
        dimse_timeout_s = 120
        """.replace("\n        ", "\n")
    )
    settings = load_settings(path).settings
    pacs = settings.destination("PACS")
    assert pacs is not None
    assert pacs.roles == (Role.STORE, Role.COMMITMENT)
    network = pacs.network(settings.network)
    assert network.acse_timeout_s == 7
    assert network.dimse_timeout_s == 120
    assert network.connect_timeout_s == NetworkSettings().connect_timeout_s


def test_show_output_reads_back_to_the_same_settings(settings_path, capsys) -> None:
    assert config_main(["--config", str(settings_path), "show"]) == 0
    printed = capsys.readouterr().out
    table = tomllib.loads(printed)
    again = settings_from_table(table, settings_path)
    assert again == load_settings(settings_path).settings
    assert settings_to_toml(again) in printed


def test_path_names_the_file_in_use(settings_path, capsys) -> None:
    assert config_main(["--config", str(settings_path), "path"]) == 0
    assert capsys.readouterr().out.strip() == str(settings_path)


BAD_FILES = {
    "ae title too long": (
        '[station]\nae_title = "ABCDEFGHIJKLMNOPQ"\nuid_root = "1.2"\n',
        "station.ae_title",
    ),
    "ae title with backslash": (
        '[station]\nae_title = "IZER\\\\X"\nuid_root = "1.2"\n',
        "station.ae_title",
    ),
    "port out of range": (
        GOOD_STATION + '[[destinations]]\nname = "p"\nae_title = "P"\nhost = "h"\nport = 70000\n',
        "destinations[0].port",
    ),
    "unknown key": (GOOD_STATION + "[network]\nconect_timeout_s = 3\n", "network.conect_timeout_s"),
    "wrong type": (GOOD_STATION + '[network]\nconnect_timeout_s = "3"\n', "connect_timeout_s"),
    "boolean for a number": (GOOD_STATION + "[listener]\nport = true\n", "listener.port"),
    "missing required key": ('[station]\nae_title = "IZERTEST"\n', "station.uid_root"),
    "bad uid root": ('[station]\nae_title = "A"\nuid_root = "1.02.x"\n', "station.uid_root"),
    "unknown character set": (
        GOOD_STATION.replace('"\n', '"\ncharacter_set = "KLINGON"\n', 1),
        "station.character_set",
    ),
    "negative timeout": (GOOD_STATION + "[network]\ndimse_timeout_s = -1\n", "dimse_timeout_s"),
    "unknown role": (
        GOOD_STATION + '[[destinations]]\nname = "p"\nae_title = "P"\nhost = "h"\n'
        'roles = ["store", "burn"]\n',
        "destinations[0].roles[1]",
    ),
    "duplicate destination": (
        GOOD_STATION
        + '[[destinations]]\nname = "p"\nae_title = "P"\nhost = "h"\n'
        + '[[destinations]]\nname = "P"\nae_title = "Q"\nhost = "h"\n',
        "destinations[1].name",
    ),
    "bad film size in a printer preset": (
        GOOD_STATION + '[[destinations]]\nname = "p"\nae_title = "P"\nhost = "h"\n'
        'roles = ["print"]\n[destinations.print]\nfilm_size = "15INX15IN"\n',
        "destinations[0].print",
    ),
    "bad display format in a printer preset": (
        GOOD_STATION + '[[destinations]]\nname = "p"\nae_title = "P"\nhost = "h"\n'
        "[destinations.print]\ndisplay_format = 'STANDARD\\0,2'\n",
        "destinations[0].print",
    ),
    "unknown report layout": (GOOD_STATION + '[report]\nlayout = "portrait-5"\n', "report.layout"),
    "missing report logo": (GOOD_STATION + '[report]\nlogo = "/no/such/logo.png"\n', "report.logo"),
    "bad allow-list entry": (
        GOOD_STATION + '[listener]\nallowed_calling_aets = ["OK", ""]\n',
        "listener.allowed_calling_aets[1]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_settings_give_one_line_naming_file_and_key(case, write_settings, capsys) -> None:
    text, key = BAD_FILES[case]
    path = write_settings(text)
    assert config_main(["--config", str(path), "check"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert str(path) in lines[0]
    assert key in lines[0]
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such settings file"),
        ("[station\nae_title = 1\n", "invalid TOML"),
        (b"\xff\xfe[station]", "not UTF-8"),
        ("folder", "cannot read"),
    ],
    ids=["missing file", "unreadable TOML", "not text", "a folder"],
)
def test_unusable_files_give_one_line(content, expected, tmp_path, capsys) -> None:
    path = tmp_path / "bad.toml"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert config_main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(path) in err[0]
    assert expected in err[0]


def test_settings_error_message_is_one_line(tmp_path: Path) -> None:
    error = SettingsError(tmp_path / "x.toml", "station.ae_title", "too long")
    assert str(error) == f"{tmp_path / 'x.toml'}: station.ae_title: too long"


def test_printer_preset_and_report_settings_are_read(write_settings) -> None:
    path = write_settings(
        GOOD_STATION
        + '[[destinations]]\nname = "drystar"\nae_title = "DRY"\nhost = "h"\nroles = ["print"]\n'
        + "[destinations.print]\ndisplay_format = 'STANDARD\\2,3'\nfilm_size = \"14INX17IN\"\n"
        + "color = true\nmin_density = 20\n"
        + '[report]\nlayout = "landscape-4"\nclinician = "Dr. Example"\n'
    )
    settings = load_settings(path).settings
    preset = settings.destinations[0].print
    assert preset.display_format == "STANDARD\\2,3"
    assert preset.film_size == "14INX17IN"
    assert preset.color is True
    assert preset.min_density == 20
    assert preset.max_density is None  # left out: not sent
    assert settings.report.layout == "landscape-4"
    assert settings.report.clinician == "Dr. Example"


def test_report_layout_names_match_the_report_room() -> None:
    from izer.config.loader import REPORT_LAYOUTS
    from izer.report import ReportLayout

    assert set(REPORT_LAYOUTS) == {layout.value for layout in ReportLayout}
