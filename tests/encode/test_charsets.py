"""Patient names in seven character sets: written, read back by pydicom, found again in Orthanc.

The Specific Character Set (0008,0005) follows the configured set (PS3.3 C.12.1.1.2); ISO 2022
sets with code extensions carry an empty first value (PS3.5 6.1.2.5). Orthanc runs with
``DefaultEncoding: Utf8`` and is queried in ISO_IR 192, so it transcodes each name: the name
must survive the round trip.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from izer.encode import (
    CharacterSetError,
    InstanceCheckError,
    InstanceContext,
    secondary_capture_image,
)
from izer.encode.charset import specific_character_set
from izer.model import Patient, Sex
from tests.encode.factories import make_context
from tests.encode.interop_cases import synthetic_rgb
from tests.helpers.sender import find_all
from tests.peers.harness import Peer

TIMEOUT = 20


@dataclasses.dataclass(frozen=True)
class NameCase:
    """A made-up name in one character set and how it must look in the file."""

    character_set: str
    name: str
    #: (0008,0005) as written.
    specific_character_set: str | list[str]
    #: Bytes the encoded name must contain (the set really used, not just named).
    encoded: bytes
    #: The name as read back, when it differs from ``name``.
    read_back: str | None = None

    @property
    def expected(self) -> str:
        """The name as every reader must give it back."""
        return self.name if self.read_back is None else self.read_back


CASES = [
    NameCase("ISO_IR 100", "Müller^Jürgen", "ISO_IR 100", "Müller^Jürgen".encode("latin_1")),
    NameCase(
        "ISO_IR 126",
        "Παπαδόπουλος^Γιώργος",
        "ISO_IR 126",
        "Παπαδόπουλος^Γιώργος".encode("iso8859_7"),
    ),
    NameCase("ISO_IR 144", "Иванов^Иван", "ISO_IR 144", "Иванов^Иван".encode("iso8859_5")),
    # JIS X 0208 is switched in with ESC $ B and out with ESC ( B in each component group.
    NameCase(
        "ISO 2022 IR 87",
        "Yamada^Tarou=山田^太郎=やまだ^たろう",
        ["", "ISO 2022 IR 87"],
        b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=",
    ),
    # KS X 1001 is announced once with ESC $ ) C, then used in G1 (high bit set).
    NameCase(
        "ISO 2022 IR 149",
        "Hong^Gildong=洪^吉洞=홍^길동",
        ["", "ISO 2022 IR 149"],
        b"Hong^Gildong=\x1b$)C" + "洪".encode("euc_kr"),
    ),
    # The PS3.5 Annex J example ends with an empty phonetic group; pydicom drops that
    # trailing "=" when it encodes the name (the same name, one delimiter shorter).
    NameCase(
        "GB18030",
        "Wang^XiaoDong=王^小东=",
        "GB18030",
        "Wang^XiaoDong=王^小东".encode("gb18030"),
        read_back="Wang^XiaoDong=王^小东",
    ),
    NameCase(
        "ISO_IR 192",
        "Müller-Иванов^Γιώργος=山田^太郎=홍^길동",
        "ISO_IR 192",
        "Müller-Иванов^Γιώργος=山田^太郎=홍^길동".encode(),
    ),
]


def _context(case: NameCase, patient_id: str) -> InstanceContext:
    context = make_context(1, "OT", character_set=case.character_set)
    patient = Patient(patient_id, case.name, "19800101", Sex.OTHER)
    return dataclasses.replace(context, study=dataclasses.replace(context.study, patient=patient))


def _instance(case: NameCase, patient_id: str) -> Dataset:
    return secondary_capture_image(synthetic_rgb(1)[0], _context(case, patient_id))


def _study_find(peer: Peer, patient_id: str) -> list[Dataset]:
    query = Dataset()
    query.SpecificCharacterSet = "ISO_IR 192"
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    query.PatientName = ""
    query.StudyInstanceUID = ""
    return find_all(
        peer,
        query,
        StudyRootQueryRetrieveInformationModelFind,
        ae_title="IZERCHARSET",
        timeout_s=TIMEOUT,
    )


def _c_store(peer: Peer, ds: Dataset) -> int:
    ae = AE(ae_title="IZERCHARSET")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    ae.add_requested_context(ds.SOPClassUID, ExplicitVRLittleEndian)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet)
    assert assoc.is_established, f"association to {peer.address} failed"
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status, f"no C-STORE response from {peer.address}"
    return int(status.Status)


@pytest.mark.parametrize("case", CASES, ids=[case.character_set for case in CASES])
def test_name_is_written_in_the_chosen_set_and_read_back(case: NameCase, tmp_path: Path) -> None:
    ds = _instance(case, "IZ-CS-FILE")
    assert specific_character_set(case.character_set) == case.specific_character_set
    assert ds.SpecificCharacterSet == case.specific_character_set
    path = tmp_path / "charset.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert case.encoded in path.read_bytes()
    back = pydicom.dcmread(path)
    assert back.SpecificCharacterSet == case.specific_character_set
    assert str(back.PatientName) == case.expected


@pytest.mark.peers
@pytest.mark.parametrize("case", CASES, ids=[case.character_set for case in CASES])
def test_name_survives_orthanc_c_store_and_c_find(case: NameCase, orthanc: Peer) -> None:
    patient_id = f"IZ-CS-{uuid.uuid4().hex[:12].upper()}"
    ds = _instance(case, patient_id)
    assert _c_store(orthanc, ds) == 0x0000
    matches = _study_find(orthanc, patient_id)
    assert len(matches) == 1, matches
    assert matches[0].StudyInstanceUID == ds.StudyInstanceUID
    # Orthanc answers in its DefaultEncoding (Utf8), whatever set the instance was written in.
    assert matches[0].SpecificCharacterSet == "ISO_IR 192"
    assert str(matches[0].PatientName) == case.expected


@pytest.mark.parametrize(
    ("character_set", "name"),
    [("ISO_IR 100", "Иванов^Иван"), ("ISO_IR 144", "Müller^Jürgen"), ("ISO_IR 126", "山田^太郎")],
)
def test_a_name_the_set_cannot_hold_is_refused_and_nothing_written(
    character_set: str, name: str, tmp_path: Path
) -> None:
    case = NameCase(character_set, name, character_set, b"")
    path = tmp_path / "refused.dcm"
    with pytest.raises((InstanceCheckError, CharacterSetError), match="PatientName") as refused:
        _instance(case, "IZ-CS-REFUSED").save_as(path, enforce_file_format=True)
    assert character_set in str(refused.value)
    assert list(tmp_path.iterdir()) == []
