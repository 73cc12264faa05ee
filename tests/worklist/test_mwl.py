"""MWL C-FIND SCU against Orthanc's worklist plugin and DCMTK wlmscpfs (PS3.4 K, C.2.2.2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from izer.config import Destination
from izer.model import Sex
from izer.worklist import (
    WorklistError,
    WorklistQuery,
    find_worklist,
    find_worklist_all,
)
from tests.peers.harness import PeerSet, free_port
from tests.worklist import WORKLIST_PEERS, destination, factory, worklist_items

STATION = "IZWLMATCH"
TODAY = dt.date.today()


def _day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).strftime("%Y%m%d")


#: Made-up steps for station IZWLMATCH: today (A, C), tomorrow (B); C is another modality.
ITEMS = [
    dict(
        patient_id="IZWL-K1", accession="IZWLK001", patient_name="Keyes^Alice",
        birth_date="19500101", sex="F", modality="ES", scheduled_date=_day(0),
    ),
    dict(
        patient_id="IZWL-K2", accession="IZWLK002", patient_name="Keyes^Bob",
        birth_date="19600101", sex="M", modality="ES", scheduled_date=_day(1),
    ),
    dict(
        patient_id="IZWL-K3", accession="IZWLK003", patient_name="Kramer^Carl",
        birth_date="19700101", sex="M", modality="XC", scheduled_date=_day(0),
    ),
]  # fmt: skip

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def scheduled(peer_set: PeerSet) -> Iterator[None]:
    items = [{**item, "station_aet": STATION} for item in ITEMS]
    with worklist_items(peer_set, items):
        yield


@pytest.fixture(params=WORKLIST_PEERS)
def provider(request: pytest.FixtureRequest, peer_set: PeerSet, scheduled: None) -> Destination:
    return destination(peer_set[request.param])


def _accessions(provider: Destination, query: WorklistQuery, **kwargs: object) -> set[str]:
    result = find_worklist(factory(), provider, query, **kwargs)  # type: ignore[arg-type]
    assert not result.warnings
    return {item.accession_number for item in result.items}


def test_single_value_matching(provider: Destination) -> None:
    assert _accessions(provider, WorklistQuery(station_ae_title=STATION, patient_id="IZWL-K2")) == {
        "IZWLK002"
    }
    assert _accessions(provider, WorklistQuery(station_ae_title=STATION, sex=Sex.FEMALE)) == {
        "IZWLK001"
    }
    assert _accessions(provider, WorklistQuery(station_ae_title=STATION, modality="XC")) == {
        "IZWLK003"
    }


def test_wildcard_matching(provider: Destination) -> None:
    by_name = WorklistQuery(station_ae_title=STATION, patient_name="Keyes*")
    assert _accessions(provider, by_name) == {"IZWLK001", "IZWLK002"}
    by_accession = WorklistQuery(station_ae_title=STATION, accession_number="IZWLK00?")
    assert _accessions(provider, by_accession) == {"IZWLK001", "IZWLK002", "IZWLK003"}
    by_id = WorklistQuery(station_ae_title=STATION, patient_id="IZWL-K*3")
    # DCMTK wlmscpfs 3.6.7 matches Patient ID by single value only (a peer limitation;
    # izer sends the wildcard all the same).
    expected = set() if provider.name == "wlmscpfs" else {"IZWLK003"}
    assert _accessions(provider, by_id) == expected


def test_range_matching(provider: Destination) -> None:
    from_today = WorklistQuery(station_ae_title=STATION, start_date=f"{_day(1)}-{_day(5)}")
    assert _accessions(provider, from_today) == {"IZWLK002"}
    born = WorklistQuery(station_ae_title=STATION, birth_date="19550101-19751231")
    assert _accessions(provider, born) == {"IZWLK002", "IZWLK003"}


def test_universal_matching_returns_every_step_with_its_return_keys(
    provider: Destination,
) -> None:
    result = find_worklist(factory(), provider, WorklistQuery(station_ae_title=STATION))
    by_accession = {item.accession_number: item for item in result.items}
    assert set(by_accession) == {"IZWLK001", "IZWLK002", "IZWLK003"}
    bob = by_accession["IZWLK002"]
    assert bob.patient.name == "Keyes^Bob"
    assert (bob.patient.patient_id, bob.patient.birth_date, bob.patient.sex) == (
        "IZWL-K2",
        "19600101",
        Sex.MALE,
    )
    assert bob.sps_id == "SPSIZWLK002"
    assert bob.requested_procedure_id == "RPIZWLK002"
    assert bob.sps_start_date == _day(1)
    assert bob.station_ae_title == STATION
    assert bob.study_instance_uid.startswith("1.2.")
    assert bob.raw.SpecificCharacterSet == "ISO_IR 192"


def test_default_query_is_today_own_station_own_modality(provider: Destination) -> None:
    query = WorklistQuery.default_for(STATION, "ES", TODAY)
    assert _accessions(provider, query) == {"IZWLK001"}


def test_result_cap_cancels_and_says_the_list_is_cut(provider: Destination) -> None:
    result = find_worklist(factory(), provider, WorklistQuery(station_ae_title=STATION), limit=2)
    assert len(result.items) == 2
    assert result.truncated
    whole = find_worklist(factory(), provider, WorklistQuery(station_ae_title=STATION), limit=3)
    assert len(whole.items) == 3


def test_query_always_sends_specific_character_set() -> None:
    identifier = WorklistQuery().identifier()
    assert identifier.SpecificCharacterSet == "ISO_IR 192"
    japanese = WorklistQuery(character_set="ISO 2022 IR 87").identifier()
    assert japanese.SpecificCharacterSet == ["", "ISO 2022 IR 87"]


def test_wlmscpfs_receives_the_character_set_in_the_request(peer_set: PeerSet) -> None:
    wlmscpfs = peer_set["wlmscpfs"]
    assert wlmscpfs.data_dir is not None
    before = set(wlmscpfs.data_dir.iterdir())
    find_worklist(factory(), destination(wlmscpfs), WorklistQuery(station_ae_title="IZWLNONE"))
    written = set(wlmscpfs.data_dir.iterdir()) - before
    assert written, "wlmscpfs wrote no request file (-rfp)"
    dump = "".join(path.read_text(errors="replace") for path in written)
    assert "(0008,0005) CS [ISO_IR 192]" in dump


def test_several_providers_are_merged_and_a_dead_one_is_reported(
    peer_set: PeerSet, scheduled: None
) -> None:
    dead = Destination(name="deadris", ae_title="NOBODY", host="127.0.0.1", port=free_port())
    providers = [destination(peer_set[name]) for name in WORKLIST_PEERS] + [dead]
    result = find_worklist_all(factory(), providers, WorklistQuery(station_ae_title=STATION))
    assert sorted(item.accession_number for item in result.items) == [
        "IZWLK001",
        "IZWLK002",
        "IZWLK003",
    ]
    assert {item.provider for item in result.items} == {"orthanc"}  # first provider wins
    assert [error.provider for error in result.errors] == ["deadris"]
    assert "connection refused" in result.errors[0].message


def test_every_provider_failing_raises() -> None:
    dead = Destination(name="deadris", ae_title="NOBODY", host="127.0.0.1", port=free_port())
    with pytest.raises(WorklistError, match="deadris"):
        find_worklist_all(factory(), [dead], WorklistQuery())


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"station_ae_title": "IZ*"}, "wildcards are not allowed"),
        ({"modality": "E?"}, "wildcards are not allowed"),
        ({"start_date": "2024-05-01"}, "range"),
        ({"start_date": "20240531-20240501"}, "ends before it starts"),
        ({"birth_date": "1970"}, "single value or a range"),
        ({"start_time": "080000"}, "needs an SPS Start Date"),
        ({"character_set": "LATIN1"}, "not one izer knows"),
        ({"patient_id": "A\\B"}, "one value only"),
    ],
)
def test_invalid_matching_keys_are_refused(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorklistQuery(**keys)  # type: ignore[arg-type]
