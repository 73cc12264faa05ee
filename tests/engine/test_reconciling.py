"""Patient reconciliation: an emergency study captured under a temporary identity, corrected.

The study is made by the engine for real (stills of the built-in test pattern, and a video
instance converted from a clip ffmpeg makes); dicom3tools check every rewritten file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
import pytest

from izer.config import Settings
from izer.engine import ConvertRequest, Engine
from izer.engine.reconciling import ModificationReason, reconcile_study
from izer.model import Patient, ProcedureState, Sex
from izer.store import StoreError
from tests.encode.video.conforming import run_ffmpeg
from tests.helpers.validators import dcentvfy, dciodvfy

TEMPORARY = Patient("EMERG-0042", "Unknown^Emergency", "", Sex.UNKNOWN)
REAL = Patient("PAT-77001", "Doe^Jane^Q", "19750412", Sex.FEMALE, issuer="HOSP-A")
JAPANESE = Patient("PAT-77001", "Yamada^Tarou=山田^太郎=やまだ^たろう", "19750412", Sex.FEMALE)
DEMOGRAPHICS = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex")


def _with_character_set(settings: Settings, name: str) -> Settings:
    return dataclasses.replace(
        settings, station=dataclasses.replace(settings.station, character_set=name)
    )


@pytest.fixture
def latin1_settings(settings: Settings) -> Settings:
    return _with_character_set(settings, "ISO_IR 100")


def _emergency_study(engine: Engine, stills: int = 3) -> str:
    procedure = engine.select_patient(TEMPORARY, accession_number="EM-1")
    engine.start()
    for _ in range(stills):
        engine.capture_still()
    engine.review()
    engine.complete()
    return procedure.study_uid


def _pixels(path: Path) -> bytes:
    return pydicom.dcmread(path).PixelData


def test_every_instance_gets_the_new_demographics_and_the_old_values(settings: Settings) -> None:
    with Engine.open(settings) as engine:
        study = _emergency_study(engine)
        before = {r.sop_instance_uid: _pixels(r.path) for r in engine.store.instances(study)}
        report = reconcile_study(engine, study, REAL, accession_number="ACC-9001")
        assert report.ok, report.failed
        assert len(report.reconciled) == 3 and not report.unchanged
        changed = {c.keyword: (c.old, c.new) for c in report.reconciled[0].changes}
        assert changed == {
            "PatientName": ("Unknown^Emergency", "Doe^Jane^Q"),
            "PatientID": ("EMERG-0042", "PAT-77001"),
            "IssuerOfPatientID": (None, "HOSP-A"),
            "PatientBirthDate": ("", "19750412"),
            "PatientSex": ("", "F"),
            "AccessionNumber": ("EM-1", "ACC-9001"),
        }
        records = engine.store.instances(study)
        assert {r.sop_instance_uid for r in records} == set(before)  # UIDs kept
        for record in records:
            ds = pydicom.dcmread(record.path)
            assert (str(ds.PatientName), ds.PatientID, ds.IssuerOfPatientID) == (
                "Doe^Jane^Q",
                "PAT-77001",
                "HOSP-A",
            )
            assert (ds.PatientBirthDate, ds.PatientSex, ds.AccessionNumber) == (
                "19750412",
                "F",
                "ACC-9001",
            )
            assert ds.PixelData == before[record.sop_instance_uid]
            [item] = ds.OriginalAttributesSequence
            assert item.ReasonForTheAttributeModification == "CORRECT"
            assert item.ModifyingSystem == "izer"
            assert item.SourceOfPreviousValues == ""
            assert len(item.AttributeModificationDateTime) >= 14
            assert ds.InstanceCoercionDateTime == item.AttributeModificationDateTime
            [old] = item.ModifiedAttributesSequence
            assert {element.keyword for element in old} == set(changed)
            assert (str(old.PatientName), old.PatientID, old.AccessionNumber) == (
                "Unknown^Emergency",
                "EMERG-0042",
                "EM-1",
            )
            assert old["IssuerOfPatientID"].is_empty  # was absent: zero length
            result = dciodvfy(record.path)
            assert result.errors == [], str(result)
        assert dcentvfy([r.path for r in records]).errors == []
        [study_row] = engine.store.studies()
        assert (study_row.patient_id, study_row.patient_name, study_row.accession_number) == (
            "PAT-77001",
            "Doe^Jane^Q",
            "ACC-9001",
        )
        [procedure] = report.procedures
        assert procedure.patient == REAL and procedure.accession_number == "ACC-9001"
        assert engine.store.rebuild().indexed == 3
        assert engine.store.studies()[0].patient_id == "PAT-77001"


def test_a_second_reconciliation_appends_a_second_item(settings: Settings) -> None:
    with Engine.open(settings) as engine:
        study = _emergency_study(engine, stills=2)
        reconcile_study(engine, study, REAL)
        again = dataclasses.replace(REAL, name="Doe^Janet^Q")
        report = reconcile_study(
            engine, study, again, reason=ModificationReason.COERCE, modifying_system="PACS-X"
        )
        assert report.ok and len(report.reconciled) == 2
        assert [c.keyword for c in report.reconciled[0].changes] == ["PatientName"]
        for record in engine.store.instances(study):
            ds = pydicom.dcmread(record.path, stop_before_pixels=True)
            first, second = ds.OriginalAttributesSequence
            assert first.ModifiedAttributesSequence[0].PatientID == "EMERG-0042"
            assert second.ReasonForTheAttributeModification == "COERCE"
            assert second.ModifyingSystem == "PACS-X"
            [old] = second.ModifiedAttributesSequence
            assert [element.keyword for element in old] == ["PatientName"]
            assert str(old.PatientName) == "Doe^Jane^Q"
            assert str(ds.PatientName) == "Doe^Janet^Q"
            assert dciodvfy(record.path).errors == []
        # nothing left to change: no file is rewritten, no item added
        third = reconcile_study(engine, study, again)
        assert third.reconciled == [] and len(third.unchanged) == 2


def test_a_japanese_name_moves_latin1_instances_to_utf8(latin1_settings: Settings) -> None:
    with Engine.open(latin1_settings) as engine:
        engine.select_patient(
            Patient("EMERG-7", "Müller^Jörg", "", Sex.UNKNOWN), accession_number="EM-7"
        )
        study = engine.procedure.study_uid
        engine.start()
        engine.capture_still()
        engine.capture_still()
        engine.review()
        paths = [r.path for r in engine.store.instances(study)]
        original = pydicom.dcmread(paths[0], stop_before_pixels=True)
        assert original.SpecificCharacterSet == "ISO_IR 100"
        report = reconcile_study(engine, study, JAPANESE)
        assert report.ok, report.failed
        assert [r.character_set_from for r in report.reconciled] == ["ISO_IR 100"] * 2
        for path in paths:
            raw = path.read_bytes()
            assert "山田^太郎".encode() in raw
            assert "Müller^Jörg".encode() in raw  # the old name, re-encoded in UTF-8
            ds = pydicom.dcmread(path)
            assert ds.SpecificCharacterSet == "ISO_IR 192"
            assert str(ds.PatientName) == JAPANESE.name
            assert ds.PatientName.ideographic == "山田^太郎"
            old = ds.OriginalAttributesSequence[0].ModifiedAttributesSequence[0]
            assert str(old.PatientName) == "Müller^Jörg"
            for keyword in ("InstitutionName", "StationName", "Manufacturer"):
                if keyword in original:
                    assert ds[keyword].value == original[keyword].value
            assert dciodvfy(path).errors == []
        assert dcentvfy(paths).errors == []
        assert engine.state is ProcedureState.REVIEW
        assert engine.procedure.patient == JAPANESE  # the engine's active procedure follows


def test_a_study_being_captured_is_refused(settings: Settings) -> None:
    with Engine.open(settings) as engine:
        procedure = engine.select_patient(TEMPORARY)
        engine.start()
        record = engine.capture_still()
        before = record.path.read_bytes()
        with pytest.raises(ValueError, match="being captured"):
            reconcile_study(engine, procedure.study_uid, REAL)
        with pytest.raises(ValueError, match="PatientID"):
            reconcile_study(engine, procedure.study_uid, dataclasses.replace(REAL, patient_id=""))
        assert record.path.read_bytes() == before
        with pytest.raises(ValueError, match="no study"):
            reconcile_study(engine, "1.2.3.4", REAL)


def test_a_failure_midway_leaves_the_other_files_valid_and_the_original_intact(
    settings: Settings,
) -> None:
    with Engine.open(settings) as engine:
        study = _emergency_study(engine, stills=3)
        records = engine.store.instances(study)
        broken = records[1]
        broken.path.unlink()
        broken.path.mkdir()  # a folder where the file was: unreadable
        report = reconcile_study(engine, study, REAL)
        assert not report.ok
        [failure] = report.failed
        assert failure.sop_instance_uid == broken.sop_instance_uid
        assert str(broken.path) in failure.reason or "directory" in failure.reason.lower()
        assert len(report.reconciled) == 2
        for record in (records[0], records[2]):
            ds = pydicom.dcmread(record.path)
            assert ds.PatientID == "PAT-77001"
            assert dciodvfy(record.path).errors == []
        assert broken.path.is_dir()
        leftovers = [p for p in engine.store.studies_folder.rglob("*") if ".izer-tmp-" in p.name]
        assert leftovers == []


def test_a_failed_check_keeps_the_original_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from izer.engine import reconciling

    with Engine.open(settings) as engine:
        study = _emergency_study(engine, stills=1)
        [record] = engine.store.instances(study)
        before = record.path.read_bytes()

        real_copy = reconciling._copy

        def corrupting_copy(source, target) -> str:  # type: ignore[no-untyped-def]
            digest = real_copy(source, target)
            if not isinstance(target, reconciling._Discard):
                target.write(b"\x00\x00")  # the copy differs from what was read
            return digest

        monkeypatch.setattr(reconciling, "_copy", corrupting_copy)
        report = reconcile_study(engine, study, REAL)
        [failure] = report.failed
        assert "Pixel Data did not read back" in failure.reason
        assert record.path.read_bytes() == before
        assert engine.store.studies()[0].patient_id == TEMPORARY.patient_id
        leftovers = [p for p in engine.store.studies_folder.rglob("*") if ".izer-tmp-" in p.name]
        assert leftovers == []


def test_a_video_instance_is_rewritten_with_its_stream_untouched(
    settings: Settings, tmp_path: Path
) -> None:
    clip = run_ffmpeg(
        (
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "1",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level:v", "4.1",
            "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart",
        ),
        tmp_path / "clip.mp4",
    )  # fmt: skip
    with Engine.open(settings) as engine:
        converted = engine.convert([clip], ConvertRequest(patient=TEMPORARY))
        study = converted.study_instance_uid
        [record] = engine.store.instances(study)
        stream = _pixels(record.path)
        assert len(stream) > 1000
        report = reconcile_study(engine, study, REAL, accession_number="ACC-V1")
        assert report.ok, report.failed
        ds = pydicom.dcmread(record.path)
        assert ds.PixelData == stream
        assert ds.PatientID == "PAT-77001" and ds.AccessionNumber == "ACC-V1"
        assert ds.OriginalAttributesSequence[0].ModifiedAttributesSequence[0].PatientID == (
            "EMERG-0042"
        )
        assert report.procedures == []  # a converted study has no procedure
        assert dciodvfy(record.path).errors == []


def test_the_store_refuses_a_replacement_of_another_instance(settings: Settings) -> None:
    with Engine.open(settings) as engine:
        study = _emergency_study(engine, stills=2)
        first, second = engine.store.instances(study)
        stranger = engine.store.scratch_path("stranger.dcm")
        stranger.write_bytes(second.path.read_bytes())
        before = first.path.read_bytes()
        with pytest.raises(StoreError, match="differs from the stored instance"):
            engine.store.replace_instance(first.sop_instance_uid, stranger)
        assert stranger.exists() and first.path.read_bytes() == before
        with pytest.raises(StoreError, match=r"no instance 1\.2\.3 "):
            engine.store.replace_instance("1.2.3", stranger)
        record = engine.store.replace_instance(second.sop_instance_uid, stranger)
        assert record.path == second.path and not stranger.exists()
        assert len(engine.store.instances(study)) == 2
