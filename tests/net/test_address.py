"""Destinations on the command line: a configured name or AET@host:port."""

from __future__ import annotations

import pytest

from izer.config import Destination, Settings, StationSettings
from izer.net import AddressError, parse_address, resolve_destination

SETTINGS = Settings(
    station=StationSettings(ae_title="IZER", uid_root="1.2.3"),
    destinations=(Destination(name="pacs", ae_title="ORTHANC", host="10.0.0.5", port=4242),),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ORTHANC@127.0.0.1:4242", ("ORTHANC", "127.0.0.1", 4242)),
        ("STORE_SCP@pacs.example.org:104", ("STORE_SCP", "pacs.example.org", 104)),
        ("V6@[::1]:11112", ("V6", "::1", 11112)),
    ],
)
def test_addresses_parse(text: str, expected: tuple[str, str, int]) -> None:
    destination = parse_address(text)
    assert (destination.ae_title, destination.host, destination.port) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ORTHANC@127.0.0.1", "AET@host:port"),
        ("@host:104", "AET@host:port"),
        ("WAYTOOLONGAETITLE1@h:104", "at most 16"),
        ("A@h:0", "out of range"),
        ("A@h:70000", "out of range"),
    ],
)
def test_bad_addresses_say_why(text: str, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        parse_address(text)


def test_configured_names_win_and_unknown_names_list_the_known_ones() -> None:
    assert resolve_destination("PACS", SETTINGS).port == 4242
    assert resolve_destination("X@h:1", SETTINGS).ae_title == "X"
    with pytest.raises(AddressError, match="configured: pacs"):
        resolve_destination("archive", SETTINGS)
