"""The DICOM Conformance Statement (``docs/conformance-statement.md``) says what the code does.

Each checked list in the statement is a Markdown table under a fixed heading (the constants
below); its first column is a UID in backticks, an attribute tag ``(gggg,eeee)`` (nested
sequence items as ``>(gggg,eeee)``, ``>>(gggg,eeee)``, under the last row one level up, as in
PS3.3 module tables) or a code value in backticks. Every table is compared, as a set, with
what the code registers or sends, built without a network: the Storage SCP's contexts from a
:class:`~izer.net.Listener`'s AE, the contexts each SCU proposes by stopping pynetdicom's
``AE.associate`` before it connects, the MWL, Patient/Study Root, MPPS, Storage Commitment
and print data sets from the builders the senders use. A failing comparison names what the
document has in excess and what it lacks.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID
from pynetdicom import AE, PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

import izer.encode
import izer.engine.reviewing
from izer.config import Destination, NetworkSettings, StationSettings
from izer.config.settings import CHARACTER_SETS
from izer.dispatch import commitment, mpps, print_scu
from izer.dispatch.cstore import is_video_syntax, store_files
from izer.dispatch.media.profiles import MediaProfile
from izer.encode import secondary_capture_image
from izer.encode.codes import Code
from izer.encode.modules import StorageKind
from izer.encode.transfer_syntaxes import TransferSyntax
from izer.encode.video.syntaxes import VideoSyntax
from izer.model import Patient, Sex
from izer.model.printing import PrintPreset
from izer.net import AssociationFactory
from izer.net.echo import echo
from izer.net.listener import Listener, StoreOutcome
from izer.worklist import qr_find, retrieve
from izer.worklist import query as root_query
from izer.worklist.mwl import FindOutcome, WorklistQuery, find_worklist
from tests.encode.factories import make_context

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance-statement.md"
UID_ROOT = "1.2.826.0.1.3680043.10.1452"

# Headings of the checked tables.
SCP_SOP_CLASSES = "Storage SCP: SOP classes accepted"
SCP_TRANSFER_SYNTAXES = "Storage SCP: transfer syntaxes accepted"
SCP_OTHER_CONTEXTS = "Accepted presentation contexts: Verification and Storage Commitment"
STORE_SOP_CLASSES = "C-STORE SCU: SOP classes of the instances izer creates"
STORE_TRANSFER_SYNTAXES = "C-STORE SCU: transfer syntaxes izer writes"
PROPOSED = {
    "verification": "Proposed presentation contexts: Verification",
    "worklist": "Proposed presentation contexts: Modality Worklist",
    "query": "Proposed presentation contexts: Patient Root and Study Root query",
    "mpps": "Proposed presentation contexts: MPPS",
    "commitment": "Proposed presentation contexts: Storage Commitment",
    "print": "Proposed presentation contexts: Print",
    "retrieve": "Proposed presentation contexts: Query/Retrieve",
}
GET_STORAGE = "C-GET: storage SOP classes proposed with the SCP role"
SERIES_KEYS = "Study Root C-FIND keys (SERIES level)"
IMAGE_KEYS = "Study Root C-FIND keys (IMAGE level)"
QR_MODELS = "Query/Retrieve SCU: information models"
MWL_KEYS = "Modality Worklist C-FIND: matching and return keys"
PATIENT_KEYS = "Patient Root C-FIND keys (PATIENT level)"
STUDY_KEYS = "Study Root C-FIND keys (STUDY level)"
MPPS_CREATE = "MPPS N-CREATE attributes"
MPPS_SET = "MPPS N-SET attributes"
COMMITMENT_ACTION = "Storage Commitment N-ACTION attributes"
FILM_SESSION = "Basic Film Session N-CREATE attributes"
FILM_BOX = "Basic Film Box N-CREATE attributes"
GRAY_BOX = "Basic Grayscale Image Box N-SET attributes"
COLOR_BOX = "Basic Color Image Box N-SET attributes"
PRINTER_GET = "Printer N-GET attributes"
CHARSETS = "Supported character sets"
MEDIA_PROFILES = "Media application profiles"
IMPLEMENTATION = "Implementation identifying information"

#: An attribute path: the tags from the top-level data set down to the attribute.
Path_ = tuple[int, ...]
#: A presentation context: abstract syntax, transfer syntaxes, izer's role.
Context = tuple[str, frozenset[str], str]

_TAG = re.compile(r"^(>*)\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$")
_TICKED = re.compile(r"`([^`]+)`")


# --------------------------------------------------------------------------- the document


def _headings_and_tables(text: str) -> dict[str, list[list[str]]]:
    """Each table's rows (separator and header row left out) under its nearest heading."""
    tables: dict[str, list[list[str]]] = {}
    heading = ""
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            heading = stripped.lstrip("#").strip()
            rows = None
        elif stripped.startswith("|"):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            if rows is None:  # a new table; only the first under a heading is checked
                key, number = heading, 1
                while key in tables:
                    number += 1
                    key = f"{heading} (table {number})"
                rows = tables[key] = []
                continue  # header row
            if all(set(cell) <= set("-: ") for cell in cells):
                continue
            rows.append(cells)
        else:
            rows = None if stripped or rows is None else rows
    return tables


@pytest.fixture(scope="module")
def doc() -> dict[str, list[list[str]]]:
    return _headings_and_tables(DOC.read_text(encoding="utf-8"))


def _table(doc: dict[str, list[list[str]]], heading: str) -> list[list[str]]:
    if heading not in doc:
        raise AssertionError(
            f"{DOC.name} has no table under the heading {heading!r}; headings with tables: "
            + "; ".join(sorted(doc))
        )
    return doc[heading]


def _ticked(cell: str) -> list[str]:
    return _TICKED.findall(cell)


def _first(doc: dict[str, list[list[str]]], heading: str) -> set[str]:
    """The backticked value of the first column of each row."""
    values = set()
    for row in _table(doc, heading):
        found = _ticked(row[0])
        assert found, f"{heading}: the first cell of row {row} holds no `value`"
        values.add(found[0])
    return values


def _attribute_paths(doc: dict[str, list[list[str]]], heading: str) -> set[Path_]:
    """The attribute paths of a table whose first column is ``>(gggg,eeee)``."""
    paths: set[Path_] = set()
    stack: list[int] = []
    for row in _table(doc, heading):
        cell = "".join(_ticked(row[0])) or row[0]
        match = _TAG.match(cell.replace(" ", ""))
        assert match, f"{heading}: first cell {row[0]!r} is not (gggg,eeee) or >(gggg,eeee)"
        depth = len(match.group(1))
        assert depth <= len(stack), f"{heading}: {row[0]} is nested under no sequence"
        stack[depth:] = [int(match.group(2) + match.group(3), 16)]
        paths.add(tuple(stack))
    return paths


def _usage(doc: dict[str, list[list[str]]], heading: str, column: int) -> dict[Path_, str]:
    """Path -> the text of ``column`` for each row of an attribute table."""
    paths: dict[Path_, str] = {}
    stack: list[int] = []
    for row in _table(doc, heading):
        match = _TAG.match(("".join(_ticked(row[0])) or row[0]).replace(" ", ""))
        assert match is not None
        stack[len(match.group(1)) :] = [int(match.group(2) + match.group(3), 16)]
        paths[tuple(stack)] = row[column]
    return paths


# --------------------------------------------------------------------------- comparing


def _name(path: Path_) -> str:
    return " > ".join(
        f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword_for_tag(tag) or '?'}" for tag in path
    )


def _uid_name(uid: str) -> str:
    name = UID(uid).name
    return f"{uid} ({name})" if name and name != uid else uid


def assert_same(
    in_doc: Iterable[Any], in_code: Iterable[Any], what: str, show: Callable[[Any], str] = str
) -> None:
    """Fail naming what the statement lists that the code does not, and the reverse."""
    documented, actual = set(in_doc), set(in_code)
    extra = sorted(show(value) for value in documented - actual)
    missing = sorted(show(value) for value in actual - documented)
    if extra or missing:
        lines = [f"{DOC.name}, {what!r}, differs from the code:"]
        lines += [f"  in the statement only (remove or fix): {value}" for value in extra]
        lines += [f"  in the code only (add to the statement): {value}" for value in missing]
        pytest.fail("\n".join(lines), pytrace=False)


def dataset_paths(dataset: Dataset, prefix: Path_ = ()) -> set[Path_]:
    """Every attribute path of ``dataset``, into the items of its sequences."""
    paths: set[Path_] = set()
    for element in dataset:
        path = (*prefix, int(element.tag))
        paths.add(path)
        if element.VR == "SQ":
            for item in element.value:
                paths |= dataset_paths(item, path)
    return paths


def valued_paths(dataset: Dataset, prefix: Path_ = ()) -> set[Path_]:
    """The paths of attributes that have a value (sequences: items with a value)."""
    paths: set[Path_] = set()
    for element in dataset:
        path = (*prefix, int(element.tag))
        if element.VR == "SQ":
            for item in element.value:
                paths |= valued_paths(item, path)
        elif element.value not in (None, "", b"", []):
            paths.add(path)
    return paths


# --------------------------------------------------------------------------- the code's truth


def listener_contexts() -> list[Any]:
    """The presentation contexts izer's listener accepts as a Storage SCP (not started)."""
    listener = Listener("IZER", 0, store_handler=lambda *_: StoreOutcome(0))
    return list(listener._ae.supported_contexts)


def scp_other_uids() -> set[str]:
    """Abstract syntaxes the listener accepts besides storage."""
    return {"1.2.840.10008.1.1", commitment.StorageCommitmentPushModel}


def _role(context: Any) -> str:
    return "SCU and SCP" if context.scu_role and context.scp_role else "SCP"


def created_sop_classes() -> dict[str, str]:
    """SOP Class UID -> the module that writes instances of it.

    Every module of :mod:`izer.encode` and :mod:`izer.engine.reviewing` whose source writes
    instances (``new_instance(`` or ``.SOPClassUID =``) contributes the storage SOP class
    UIDs it names at module level; the members of the ``StorageKind`` enums and of
    ``MultiFrameKind`` are added.
    """
    modules = [izer.engine.reviewing]
    for info in pkgutil.walk_packages(izer.encode.__path__, "izer.encode."):
        modules.append(importlib.import_module(info.name))
    found: dict[str, str] = {}
    for module in modules:
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        writes = "new_instance(" in source or re.search(r"\bds\.SOPClassUID = ", source)
        if not writes or module.__name__ == "izer.encode.modules":
            continue
        for value in vars(module).values():
            if isinstance(value, str) and _is_storage(value):
                found.setdefault(str(value), module.__name__)
            if isinstance(value, type) and issubclass(value, enum.Enum):
                for member in value:
                    uid = member.sop_class_uid if isinstance(member, StorageKind) else member.value
                    if isinstance(uid, str) and _is_storage(uid):
                        found.setdefault(str(uid), module.__name__)
    return found


def _is_storage(value: str) -> bool:
    if not re.fullmatch(r"1\.2\.840\.10008(\.[0-9]+)+", value):
        return False
    uid = UID(value)
    return uid.type == "SOP Class" and uid.name.endswith("Storage")


def written_transfer_syntaxes() -> set[str]:
    """Transfer syntaxes izer writes: stills (TransferSyntax) and video (VideoSyntax)."""
    video = {s.uid for s in VideoSyntax} | {s.fragmentable_uid for s in VideoSyntax}
    return {str(ts.value) for ts in TransferSyntax} | {uid for uid in video if uid}


class _Stopped(Exception):
    """Raised by the patched ``AE.associate`` once it has seen the requested contexts."""


@pytest.fixture
def proposals(monkeypatch: pytest.MonkeyPatch) -> list[list[Context]]:
    """Each association request: its (abstract syntax, transfer syntaxes, role) contexts."""
    seen: list[list[Context]] = []

    def associate(self: AE, *args: object, **kwargs: Any) -> None:
        roles = {
            str(item.sop_class_uid): (item.scu_role, item.scp_role)
            for item in kwargs.get("ext_neg") or ()
            if hasattr(item, "scp_role")
        }
        request = []
        for cx in self.requested_contexts:
            uid = str(cx.abstract_syntax)
            scu, scp = roles.get(uid, (True, False))
            role = "SCU and SCP" if scu and scp else "SCP" if scp else "SCU"
            request.append((uid, frozenset(str(ts) for ts in cx.transfer_syntax), role))
        seen.append(request)
        raise _Stopped

    monkeypatch.setattr(AE, "associate", associate)
    return seen


def _factory() -> AssociationFactory:
    return AssociationFactory(StationSettings("IZER", UID_ROOT), NetworkSettings())


SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
PEER = Destination(name="peer", ae_title="PEER", host="127.0.0.1", port=104)
PATIENT = Patient(
    patient_id="IZ-CS-0001",
    name="Testperson^Erika",
    birth_date="19700101",
    sex=Sex.FEMALE,
    issuer="IZER-TEST",
)


def full_worklist_query() -> WorklistQuery:
    """A query with every matching key set."""
    return WorklistQuery(
        station_ae_title="IZER",
        start_date="20240501-20240531",
        start_time="080000-120000",
        modality="ES",
        accession_number="A*",
        patient_name="Testperson*",
        patient_id="IZ-*",
        birth_date="19700101",
        sex=Sex.FEMALE,
    )


def full_step() -> mpps.PerformedStep:
    """A performed step with every optional part filled in."""
    code = Code("CS-1", "99IZER", "Made-up procedure")
    reference = ("1.2.840.10008.3.1.2.3.1", f"{UID_ROOT}.9.1")
    series = mpps.PerformedSeries(
        series_uid=f"{UID_ROOT}.9.2",
        protocol_name="Colonoscopy",
        description="Stills",
        performing_physician="Doctor^Made-up",
        operators=("Nurse^Made-up",),
        retrieve_ae="IZER",
        images=(("1.2.840.10008.5.1.4.1.1.77.1.1", f"{UID_ROOT}.9.3"),),
        non_images=(("1.2.840.10008.5.1.4.1.1.104.1", f"{UID_ROOT}.9.4"),),
    )
    scheduled = mpps.ScheduledStep(
        study_uid=f"{UID_ROOT}.9.5",
        accession="ACC1",
        requested_procedure_id="RP1",
        requested_procedure_description="Colonoscopy",
        sps_id="SPS1",
        sps_description="Colonoscopy",
        protocol_codes=(code,),
        referenced_study=(reference,),
    )
    return mpps.PerformedStep(
        sop_instance_uid=f"{UID_ROOT}.9.6",
        pps_id="PPS1",
        station_ae="IZER",
        start=datetime(2024, 5, 17, 10, 30),
        end=datetime(2024, 5, 17, 11, 0),
        modality="ES",
        patient=PATIENT,
        scheduled_steps=(scheduled,),
        station_name="ENDO1",
        location="Room 1",
        study_id="S1",
        description="Colonoscopy",
        procedure_type_description="Colonoscopy",
        procedure_codes=(code,),
        performed_protocol_codes=(code,),
        performed_series=(series,),
    )


def mpps_set_paths() -> set[Path_]:
    """Attributes any N-SET sends: IN PROGRESS, COMPLETED and DISCONTINUED with a reason."""
    step = full_step()
    reason = mpps.DiscontinuationReason.EQUIPMENT_FAILURE
    return (
        dataset_paths(mpps.n_set_dataset(step, mpps.MppsStatus.IN_PROGRESS))
        | dataset_paths(mpps.n_set_dataset(step, mpps.MppsStatus.COMPLETED))
        | dataset_paths(mpps.n_set_dataset(step, mpps.MppsStatus.DISCONTINUED, reason))
    )


#: A preset that sets every attribute izer can send (a non-ASCII label: character set too).
FULL_PRESET = PrintPreset(
    display_format="STANDARD\\2,2",
    film_orientation="PORTRAIT",
    film_size="14INX17IN",
    magnification="CUBIC",
    smoothing="MEDIUM",
    border_density="BLACK",
    empty_image_density="WHITE",
    min_density=20,
    max_density=300,
    trim="NO",
    configuration_information="Gamma 2.2 ü",
    copies=2,
    priority="HIGH",
    medium="BLUE FILM",
    film_destination="PROCESSOR",
    session_label="Endoskopie ü",
    polarity="NORMAL",
).normalized()


def image_box_paths(color: bool) -> set[Path_]:
    """Image Box N-SET attributes, for 8 and 12 bit grayscale or for color."""
    if color:
        return dataset_paths(
            print_scu.image_box_dataset(np.zeros((4, 4, 3), np.uint8), 1, FULL_PRESET)
        )
    return dataset_paths(
        print_scu.image_box_dataset(np.zeros((4, 4), np.uint8), 1, FULL_PRESET)
    ) | dataset_paths(print_scu.image_box_dataset(np.zeros((4, 4), np.uint16), 1, FULL_PRESET))


def root_query_identifiers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Dataset]:
    """The identifiers of find_patients and find_studies with every key set."""
    sent: dict[str, Dataset] = {}

    def run_find(
        factory: object, destination: object, model: str, identifier: Dataset, **_: object
    ) -> FindOutcome:
        sent[str(identifier.QueryRetrieveLevel)] = identifier
        return FindOutcome((), (), False)

    monkeypatch.setattr(root_query, "run_find", run_find)
    root_query.find_patients(
        _factory(), PEER, patient_id="IZ-*", name="Testperson*", birth_date="19700101"
    )
    root_query.find_studies(
        _factory(),
        PEER,
        patient_id="IZ-*",
        name="Testperson*",
        birth_date="19700101",
        accession="A1",
        study_date="20240501-20240531",
        study_uid=f"{UID_ROOT}.9.7",
    )
    return sent


def _print_image(folder: Path) -> Path:
    """A small made-up 8-bit grayscale Secondary Capture image to print."""
    ds = secondary_capture_image(np.full((16, 16), 128, np.uint8), make_context(1, "OT"))
    path = folder / "print.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _instance_file(folder: Path, sop_class: str, syntax: str) -> Path:
    """A Part-10 file whose file meta names ``sop_class`` and ``syntax``: all C-STORE reads
    before it associates (PS3.10 7.1); the data set after it is never read here."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid(prefix=f"{UID_ROOT}.")
    meta.TransferSyntaxUID = syntax
    buffer = DicomBytesIO()
    buffer.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    path = folder / f"{syntax}.dcm"
    path.write_bytes(buffer.getvalue())
    return path


def _contexts(doc: dict[str, list[list[str]]], heading: str) -> set[Context]:
    """(abstract syntax, transfer syntaxes, role) of a presentation context table. A
    transfer syntax cell without UIDs that names the heading :data:`SCP_TRANSFER_SYNTAXES`
    stands for the syntaxes of that table."""
    contexts = set()
    for row in _table(doc, heading):
        syntaxes = _ticked(row[2])
        if not syntaxes and SCP_TRANSFER_SYNTAXES in row[2]:
            syntaxes = sorted(_first(doc, SCP_TRANSFER_SYNTAXES))
        contexts.add((_ticked(row[0])[0], frozenset(syntaxes), row[3]))
    return contexts


def _show_context(context: Context) -> str:
    abstract, syntaxes, role = context
    return f"{_uid_name(abstract)} as {role} in {', '.join(sorted(syntaxes))}"


# --------------------------------------------------------------------------- SCP


def test_storage_scp_accepts_the_sop_classes_listed(doc: dict[str, list[list[str]]]) -> None:
    accepted = {str(cx.abstract_syntax) for cx in listener_contexts()} - scp_other_uids()
    assert_same(_first(doc, SCP_SOP_CLASSES), accepted, SCP_SOP_CLASSES, _uid_name)


def test_storage_scp_accepts_the_transfer_syntaxes_listed(
    doc: dict[str, list[list[str]]],
) -> None:
    syntaxes = {
        str(ts)
        for cx in listener_contexts()
        if str(cx.abstract_syntax) not in scp_other_uids()
        for ts in cx.transfer_syntax
    }
    assert_same(_first(doc, SCP_TRANSFER_SYNTAXES), syntaxes, SCP_TRANSFER_SYNTAXES, _uid_name)


def test_verification_and_commitment_contexts_accepted(doc: dict[str, list[list[str]]]) -> None:
    accepted = {
        (str(cx.abstract_syntax), frozenset(map(str, cx.transfer_syntax)), _role(cx))
        for cx in listener_contexts()
        if str(cx.abstract_syntax) in scp_other_uids()
    }
    rows = _contexts(doc, SCP_OTHER_CONTEXTS)
    assert_same(rows, accepted, SCP_OTHER_CONTEXTS, _show_context)


# --------------------------------------------------------------------------- C-STORE SCU


def test_created_sop_classes_are_listed(doc: dict[str, list[list[str]]]) -> None:
    created = created_sop_classes()
    assert len(created) >= 10, f"the scan of izer.encode found only {sorted(created)}"
    assert_same(_first(doc, STORE_SOP_CLASSES), created, STORE_SOP_CLASSES, _uid_name)


def test_written_transfer_syntaxes_and_their_fallbacks_are_listed(
    doc: dict[str, list[list[str]]],
    proposals: list[list[Context]],
    tmp_path: Path,
) -> None:
    rows = _table(doc, STORE_TRANSFER_SYNTAXES)
    assert_same(
        _first(doc, STORE_TRANSFER_SYNTAXES),
        written_transfer_syntaxes(),
        STORE_TRANSFER_SYNTAXES,
        _uid_name,
    )
    documented = {(_ticked(row[0])[0], frozenset(_ticked(row[2]))) for row in rows}
    proposed = set()
    for syntax in sorted(written_transfer_syntaxes()):
        sop_class = VIDEO_ENDOSCOPIC if is_video_syntax(syntax) else SECONDARY_CAPTURE
        with pytest.raises(_Stopped):
            store_files(_factory(), PEER, [_instance_file(tmp_path, sop_class, syntax)])
        contexts = proposals[-1]
        assert {(abstract, role) for abstract, _, role in contexts} == {(sop_class, "SCU")}
        assert all(len(syntaxes) == 1 for _, syntaxes, _ in contexts), "one syntax a context"
        offered = {ts for _, syntaxes, _ in contexts for ts in syntaxes}
        assert syntax in offered
        proposed.add((syntax, frozenset(offered - {syntax})))
    assert_same(
        documented,
        proposed,
        f"{STORE_TRANSFER_SYNTAXES}, column 3 (also proposed)",
        lambda pair: f"{_uid_name(pair[0])}: also {', '.join(sorted(pair[1])) or 'nothing'}",
    )


# --------------------------------------------------------------------------- other SCUs


def _verification() -> None:
    echo(_factory(), PEER)


def _worklist() -> None:
    find_worklist(_factory(), PEER, full_worklist_query())


def _query() -> None:
    for find in (root_query.find_patients, root_query.find_studies):
        with pytest.raises(_Stopped):
            find(_factory(), PEER, patient_id="IZ-*")
    raise _Stopped


def _mpps() -> None:
    mpps.send_n_create(_factory(), PEER, full_step())


def _commitment() -> None:
    commitment.request_commitment(
        _factory(), PEER, [(SECONDARY_CAPTURE, f"{UID_ROOT}.9.8")], timeout_s=1
    )


def _retrieve() -> None:
    study = f"{UID_ROOT}.9.11"
    with pytest.raises(_Stopped):
        retrieve.move(_factory(), PEER, "IZER", study_uid=study)
    with pytest.raises(_Stopped):
        retrieve.get(_factory(), PEER, lambda *_: StoreOutcome(0), study_uid=study)
    raise _Stopped


def _print(folder: Path) -> None:
    image = _print_image(folder)
    for color in (False, True):
        with pytest.raises(_Stopped):
            print_scu.print_films(_factory(), PEER, [image], PrintPreset(color=color))
    raise _Stopped


@pytest.mark.parametrize("activity", sorted(PROPOSED))
def test_proposed_contexts_are_listed(
    activity: str,
    doc: dict[str, list[list[str]]],
    proposals: list[list[Context]],
    tmp_path: Path,
) -> None:
    run: dict[str, Callable[[], None]] = {
        "verification": _verification,
        "worklist": _worklist,
        "query": _query,
        "mpps": _mpps,
        "commitment": _commitment,
        "print": lambda: _print(tmp_path),
        "retrieve": _retrieve,
    }
    with pytest.raises(_Stopped):
        run[activity]()
    assert proposals, f"{activity}: no association was requested"
    proposed = {context for request in proposals for context in request}
    if activity == "retrieve":  # C-GET's storage contexts: by SOP class (they vary)
        storage = {context for context in proposed if context[2] == "SCP"}
        proposed -= storage
        classes = {abstract for abstract, _, _ in storage}
        assert_same(_first(doc, GET_STORAGE), classes, GET_STORAGE, _uid_name)
    heading = PROPOSED[activity]
    assert_same(_contexts(doc, heading), proposed, heading, _show_context)


def test_query_retrieve_models_are_listed(doc: dict[str, list[list[str]]]) -> None:
    models = (
        {(uid, "C-FIND") for uid in retrieve.FIND_MODELS}
        | {(uid, "C-MOVE") for uid in retrieve.MOVE_MODELS}
        | {(uid, "C-GET") for uid in retrieve.GET_MODELS}
    )
    rows = {(_ticked(row[0])[0], row[2]) for row in _table(doc, QR_MODELS)}
    assert_same(
        rows,
        {(str(uid), operation) for uid, operation in models},
        QR_MODELS,
        lambda pair: f"{_uid_name(pair[0])} for {pair[1]}",
    )


# --------------------------------------------------------------------------- attributes


def test_worklist_keys_are_listed(doc: dict[str, list[list[str]]]) -> None:
    full = full_worklist_query().identifier()
    assert_same(_attribute_paths(doc, MWL_KEYS), dataset_paths(full), MWL_KEYS, _name)
    matching = valued_paths(full) - valued_paths(WorklistQuery().identifier())
    documented = {
        path
        for path, usage in _usage(doc, MWL_KEYS, 2).items()
        if usage.lower().startswith("matching")
    }
    assert_same(documented, matching, f"{MWL_KEYS}, matching keys", _name)


def test_patient_and_study_root_keys_are_listed(
    doc: dict[str, list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = root_query_identifiers(monkeypatch)
    for level, heading in (("PATIENT", PATIENT_KEYS), ("STUDY", STUDY_KEYS)):
        identifier = sent[level]
        assert_same(_attribute_paths(doc, heading), dataset_paths(identifier), heading, _name)


def test_series_and_image_level_keys_are_listed(
    doc: dict[str, list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: dict[str, Dataset] = {}

    def run_find(
        factory: object, destination: object, model: str, identifier: Dataset, **_: object
    ) -> FindOutcome:
        sent[str(identifier.QueryRetrieveLevel)] = identifier
        return FindOutcome((), (), False)

    monkeypatch.setattr(root_query, "run_find", run_find)
    study, series = f"{UID_ROOT}.9.12", f"{UID_ROOT}.9.13"
    qr_find.find_series(_factory(), PEER, study, modality="ES", series_uid=series)
    qr_find.find_instances(_factory(), PEER, study, series)
    for level, heading in (("SERIES", SERIES_KEYS), ("IMAGE", IMAGE_KEYS)):
        assert_same(_attribute_paths(doc, heading), dataset_paths(sent[level]), heading, _name)


def test_mpps_attributes_are_listed(doc: dict[str, list[list[str]]]) -> None:
    created = dataset_paths(mpps.n_create_dataset(full_step()))
    assert_same(_attribute_paths(doc, MPPS_CREATE), created, MPPS_CREATE, _name)
    assert_same(_attribute_paths(doc, MPPS_SET), mpps_set_paths(), MPPS_SET, _name)


def test_mpps_sets_only_what_it_created() -> None:
    """PS3.4 F.7.2.2: the N-SET may only carry attributes the N-CREATE created."""
    created = dataset_paths(mpps.n_create_dataset(full_step()))
    top = {path[0] for path in created}
    assert {path[0] for path in mpps_set_paths()} <= top


def test_commitment_request_attributes_are_listed(doc: dict[str, list[list[str]]]) -> None:
    sent = commitment._action_information(
        f"{UID_ROOT}.9.9", [(SECONDARY_CAPTURE, f"{UID_ROOT}.9.8")]
    )
    assert_same(
        _attribute_paths(doc, COMMITMENT_ACTION), dataset_paths(sent), COMMITMENT_ACTION, _name
    )


def test_print_attributes_are_listed(doc: dict[str, list[list[str]]]) -> None:
    session = print_scu.film_session_dataset(FULL_PRESET)
    assert session is not None
    box = print_scu.film_box_dataset(FULL_PRESET, f"{UID_ROOT}.9.10")
    printer = {(tag,) for tag in print_scu._PRINTER_TAGS}
    for heading, paths in (
        (FILM_SESSION, dataset_paths(session)),
        (FILM_BOX, dataset_paths(box)),
        (GRAY_BOX, image_box_paths(color=False)),
        (COLOR_BOX, image_box_paths(color=True)),
        (PRINTER_GET, printer),
    ):
        assert_same(_attribute_paths(doc, heading), paths, heading, _name)


# --------------------------------------------------------------------------- the rest


def test_character_sets_are_listed(doc: dict[str, list[list[str]]]) -> None:
    assert_same(_first(doc, CHARSETS), CHARACTER_SETS, CHARSETS)


def test_media_profiles_are_listed(doc: dict[str, list[list[str]]]) -> None:
    profiles = {profile.value for profile in MediaProfile if profile.is_standard}
    assert_same(_first(doc, MEDIA_PROFILES), profiles, MEDIA_PROFILES)


def test_implementation_identification_is_listed(doc: dict[str, list[list[str]]]) -> None:
    ae = AE()
    sent = {str(ae.implementation_class_uid), str(ae.implementation_version_name)}
    assert sent == {PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION}
    assert_same(_first(doc, IMPLEMENTATION), sent, IMPLEMENTATION)


def test_the_parser_reads_nested_attributes() -> None:
    """Rows ``>(gggg,eeee)`` hang under the last row one level up; a failure names both sides."""
    text = (
        "## T\n\n| Tag | Name |\n|---|---|\n| `(0040,0100)` | SPS Sequence |\n"
        "| `>(0008,0060)` | Modality |\n| `>(0040,0008)` | Protocol codes |\n"
        "| `>>(0008,0100)` | Code Value |\n| `(0010,0010)` | Patient's Name |\n"
    )
    paths = _attribute_paths(_headings_and_tables(text), "T")
    sps, codes = 0x00400100, 0x00400008
    assert paths == {
        (sps,),
        (sps, 0x00080060),
        (sps, codes),
        (sps, codes, 0x00080100),
        (0x00100010,),
    }
    with pytest.raises(pytest.fail.Exception, match=r"in the code only.*\(0010,0020\) PatientID"):
        assert_same(paths, paths | {(0x00100020,)}, "T", _name)
