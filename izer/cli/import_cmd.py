"""``izer import PATH``: import a patient CD, DVD, USB stick or folder into the local store.

PATH is the media's folder (its DICOMDIR is used when there is one, else every DICOM file
below it), a DICOMDIR, or one DICOM file. izer lists the patients and studies found, then
imports them: every file is copied into the local store with its Pixel Data untouched and a
Contributing Equipment item (Portable Media Importer, PS3.3 C.12.1) added.

  izer import /media/cdrom --list                  what the media holds
  izer import /media/cdrom --reconcile --list      and the local patients who may match
  izer import /media/cdrom --reconcile --pick 1:2 --pick 2:1 --send PACS
  izer import /media/cdrom --study 1 --patient-id P123 --patient-name Doe^Jane --send PACS

With --reconcile izer asks the worklist providers and the query destinations (role query) for
the patient of each study and ranks what they find (name spelled otherwise, birth date, sex,
Patient ID): pick one with --pick N (one study) or --pick STUDY:N (0 keeps the media's patient).
On a terminal it asks when --pick is missing. The picked or typed patient replaces the media's
demographics; the media's values are kept in the Original Attributes Sequence (reason COERCE).
A pick whose birth date or sex differs from the media is refused unless --yes is given.

--send queues the imported studies in the outbox and (unless --no-wait) sends them now, as
``izer send`` does. Exit status: 0 when everything was imported (and sent), 1 when a study
could not be imported or a job failed, 2 for bad usage or a media with nothing to import.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    add_wait_options,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.cli.send import quiet_dispatch_logs, split_destinations, wait_for_delivery
from izer.engine import Engine
from izer.engine.importing import (
    CandidateList,
    ImportController,
    ImportFailed,
    ImportReport,
    MediaScan,
    MediaStudy,
)
from izer.model import Patient, Sex

_SEXES = {"m": Sex.MALE, "f": Sex.FEMALE, "o": Sex.OTHER, "": Sex.UNKNOWN}
#: Candidates shown per study.
SHOWN_CANDIDATES = 10
#: ``--pick`` value that keeps the media's own demographics.
KEEP_MEDIA = 0


class _UsageError(ValueError):
    """Options that do not fit the media (exit status 2)."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import",
        parents=[global_options()],
        help="import a patient CD/DVD, USB stick or folder, reconciled to the local patient",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="media folder, DICOMDIR or DICOM file")
    parser.add_argument(
        "--list", action="store_true", help="only list what the media holds (import nothing)"
    )
    parser.add_argument(
        "--study",
        action="append",
        metavar="N|UID",
        help="import only this study (its number in the list or its UID); repeatable",
    )
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="look for the local patient in the worklist and by query, and take the one picked",
    )
    parser.add_argument(
        "--pick",
        action="append",
        metavar="[STUDY:]N",
        help="candidate N of the study (0: keep the media's patient); STUDY: with several",
    )
    parser.add_argument("--patient-id", metavar="ID", help="the local Patient ID to use")
    parser.add_argument(
        "--patient-name", metavar="NAME", help="the local Patient's Name, Family^Given^Middle"
    )
    parser.add_argument("--issuer", default="", help="Issuer of Patient ID")
    parser.add_argument("--birth-date", default="", metavar="YYYYMMDD", help="birth date")
    parser.add_argument(
        "--sex", default="", type=str.lower, choices=["m", "f", "o", ""], help="M, F or O"
    )
    parser.add_argument("--accession", metavar="ACC", help="the local Accession Number")
    parser.add_argument(
        "--new-uids", action="store_true", help="give the studies new Study/Series/SOP UIDs"
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="import a study even when files the media lists for it are missing",
    )
    parser.add_argument(
        "--send",
        action="append",
        metavar="DEST[,DEST]",
        help="send the imported studies to these destinations (repeatable)",
    )
    add_wait_options(parser, "with --send: send now", queued="the jobs")
    parser.add_argument(
        "--yes",
        action="store_true",
        help="accept a pick whose birth date or sex differs from the media's",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    destinations = split_destinations(args.send or [])
    if args.send and not destinations:
        return fail("--send names no destination", EXIT_USAGE)
    if bool(args.patient_id) != bool(args.patient_name):
        return fail("give --patient-id and --patient-name together", EXIT_USAGE)
    with Engine.open(settings) as engine:
        importer = engine.importing
        try:
            scan = importer.scan(args.path)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        _print_media(scan)
        try:
            for name in destinations:
                engine.destination(name)
            chosen = _selected(scan, args.study)
            plan = _plan(importer, scan, chosen, args)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        if args.list or plan is None:
            return 0 if args.list else EXIT_USAGE
        reports, failures = _import(importer, plan, args, destinations)
        jobs = [job for report in reports for job in report.jobs]
        status = EXIT_FAILURE if failures else 0
        if jobs and args.wait:
            with quiet_dispatch_logs(bool(args.verbose or args.debug)):
                sent = wait_for_delivery(engine, engine.dispatch, jobs, args.timeout)
            status = status or sent
        elif jobs:
            print(
                f"queued {sum(job.pending for job in jobs)} job(s) in "
                f"{engine.dispatch.outbox_path}; izer serve, izer queue run or the GUI sends them"
            )
    print(f"{len(reports)} of {len(plan)} study(ies) imported")
    return status


def _selected(scan: MediaScan, wanted: list[str] | None) -> list[int]:
    """Indexes (from 0) of the studies to import."""
    if not wanted:
        return list(range(len(scan)))
    chosen: list[int] = []
    for text in wanted:
        study = scan.study(text)
        index = next(i for i, s in enumerate(scan) if s is study)
        if index not in chosen:
            chosen.append(index)
    return chosen


def _given_patient(args: argparse.Namespace) -> Patient | None:
    if not args.patient_id:
        return None
    return Patient(
        patient_id=args.patient_id,
        name=args.patient_name,
        birth_date=args.birth_date,
        sex=_SEXES[args.sex],
        issuer=args.issuer,
    )


def _picks(values: list[str] | None, chosen: list[int]) -> dict[int, int]:
    """``--pick`` values as {study index: candidate number}."""
    picks: dict[int, int] = {}
    for value in values or []:
        study_text, _, number_text = value.rpartition(":")
        if not number_text.isdigit():
            raise _UsageError(f"--pick {value!r}: use N or STUDY:N (numbers as listed)")
        if study_text:
            if not study_text.isdigit() or int(study_text) - 1 not in chosen:
                raise _UsageError(f"--pick {value!r}: no study {study_text} among those imported")
            index = int(study_text) - 1
        elif len(chosen) == 1:
            index = chosen[0]
        else:
            raise _UsageError(
                f"--pick {value!r}: {len(chosen)} studies are imported; say which with STUDY:N"
            )
        picks[index] = int(number_text)
    return picks


#: What to import: (study number from 0, the study, the patient or None, the accession).
_Plan = list[tuple[int, MediaStudy, Patient | None, str | None]]


def _plan(
    importer: ImportController,
    scan: MediaScan,
    chosen: list[int],
    args: argparse.Namespace,
) -> _Plan | None:
    """Each study with the patient and accession it is imported with.

    ``None`` when a choice is missing and nobody can be asked (the candidates are shown).
    """
    given = _given_patient(args)
    if given is not None and len({_patient_key(scan[i].patient) for i in chosen}) > 1:
        raise _UsageError(
            "--patient-id/--patient-name would merge several patients of the media into one; "
            "choose one patient's studies with --study"
        )
    if args.accession is not None and len(chosen) > 1:
        raise _UsageError("--accession belongs to one study; choose it with --study")
    picks = _picks(args.pick, chosen)
    if picks and not args.reconcile:
        raise _UsageError("--pick chooses among the candidates of --reconcile; add --reconcile")
    plan: _Plan = []
    undecided: list[int] = []
    for index in chosen:
        study = scan[index]
        if given is not None or not args.reconcile:
            plan.append((index, study, given, args.accession))
            continue
        candidates = importer.candidates(study)
        _print_candidates(index, study, candidates)
        if args.list:
            continue
        number = picks.get(index)
        if number is None and sys.stdin.isatty():
            number = _ask(index, len(candidates))
            if number is None:
                print(f"study {index + 1}: skipped")
                continue
        if number is None:
            undecided.append(index)
            continue
        patient, accession = _picked(index, study, candidates, number, args)
        plan.append(
            (index, study, patient, accession if args.accession is None else args.accession)
        )
    if args.list:
        return []
    if undecided:
        listed = ", ".join(str(i + 1) for i in undecided)
        fail(
            f"no candidate picked for study(ies) {listed}: add --pick STUDY:N (0 keeps the "
            "media's patient), or give --patient-id and --patient-name"
        )
        return None
    return plan


def _picked(
    index: int,
    study: MediaStudy,
    candidates: CandidateList,
    number: int,
    args: argparse.Namespace,
) -> tuple[Patient | None, str | None]:
    """The patient and accession of candidate ``number`` (0: the media's own)."""
    if number == KEEP_MEDIA:
        return None, None
    if not 1 <= number <= len(candidates):
        raise _UsageError(
            f"study {index + 1}: there is no candidate {number} "
            f"(1 to {len(candidates)}, or 0 to keep the media's patient)"
        )
    candidate = candidates[number - 1]
    confirmed = args.yes or (sys.stdin.isatty() and _confirm(candidate.conflicts))
    if candidate.conflicts and not confirmed:
        raise _UsageError(
            f"study {index + 1}: candidate {number} does not fit the media "
            f"({'; '.join(candidate.conflicts)}); add --yes if it is the right patient"
        )
    return candidate.patient, candidate.accession_number or None


def _ask(index: int, count: int) -> int | None:
    numbers = f"1-{count}, " if count else ""
    while True:
        answer = input(
            f"candidate for study {index + 1} ({numbers}0 keeps the media's patient, "
            "Enter skips the study): "
        ).strip()
        if not answer:
            return None
        if answer.isdigit() and 0 <= int(answer) <= count:
            return int(answer)
        print(f"type a number from 0 to {count}")


def _confirm(conflicts: Sequence[str]) -> bool:
    if not conflicts:
        return True
    answer = input(f"{'; '.join(conflicts)}: take this patient anyway? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _import(
    importer: ImportController, plan: _Plan, args: argparse.Namespace, destinations: list[str]
) -> tuple[list[ImportReport], list[int]]:
    reports: list[ImportReport] = []
    failures: list[int] = []
    for index, study, patient, accession in plan:
        try:
            report = importer.import_study(
                study,
                patient=patient,
                accession=accession,
                new_uids=args.new_uids,
                send_to=destinations,
                partial=args.partial,
            )
        except (ValueError, ImportFailed) as exc:
            fail(f"study {index + 1}: {exc}")
            failures.append(index)
            continue
        reports.append(report)
        _print_report(index, report)
    return reports, failures


# -- printing -------------------------------------------------------------------------------------


def _patient_key(patient: Patient) -> tuple[str, str, str]:
    return (patient.patient_id, patient.issuer, patient.name)


def _describe(patient: Patient) -> str:
    parts = [patient.name or "(no name)", f"ID {patient.patient_id or '(none)'}"]
    if patient.issuer:
        parts[-1] += f" ({patient.issuer})"
    if patient.birth_date:
        parts.append(f"born {patient.birth_date}")
    if patient.sex.value:
        parts.append(patient.sex.value)
    return ", ".join(parts)


def _print_media(scan: MediaScan) -> None:
    source = f"DICOMDIR {scan.dicomdir}" if scan.dicomdir else f"folder {scan.root}"
    patients: dict[tuple[str, str, str], list[int]] = {}
    for index, study in enumerate(scan):
        patients.setdefault(_patient_key(study.patient), []).append(index)
    print(f"{source}: {len(patients)} patient(s), {len(scan)} study(ies)")
    for indexes in patients.values():
        print(f"patient {_describe(scan[indexes[0]].patient)}")
        for index in indexes:
            study = scan[index]
            details = [
                study.study_date or "(no date)",
                study.description or "(no description)",
                "/".join(study.modalities) or "?",
                f"{study.series} series",
                f"{len(study.files)} file(s)",
                f"{study.size / 1_000_000:.1f} MB",
            ]
            if study.accession:
                details.append(f"accession {study.accession}")
            if study.institution:
                details.append(study.institution)
            print(f"  [{index + 1}] {', '.join(details)}")
            print(f"      Study Instance UID {study.study_uid}")
            if study.missing:
                print(f"      INCOMPLETE: {len(study.missing)} file(s) missing or unreadable")
    for note in scan.notes:
        print(f"note: {note}")


def _print_candidates(index: int, study: MediaStudy, candidates: CandidateList) -> None:
    print(f"study {index + 1} ({_describe(study.patient)}): {len(candidates)} candidate(s)")
    for number, candidate in enumerate(candidates[:SHOWN_CANDIDATES], start=1):
        origin = f"{candidate.source.value} {candidate.provider}".strip()
        extra = f", accession {candidate.accession_number}" if candidate.accession_number else ""
        if candidate.scheduled:
            extra += f", scheduled {candidate.scheduled}"
        print(f"  {number}. score {candidate.score:3d}  {_describe(candidate.patient)}")
        print(f"       from {origin}{extra}")
        print(f"       {'; '.join(candidate.reasons)}")
    if len(candidates) > SHOWN_CANDIDATES:
        print(f"  ... and {len(candidates) - SHOWN_CANDIDATES} more with lower scores")
    for problem in candidates.problems:
        print(f"  not asked: {problem}")


def _print_report(index: int, report: ImportReport) -> None:
    count = len(report.instances)
    uids = " (new UIDs)" if report.uid_map else ""
    print(f"study {index + 1}: imported {count} instance(s) as study {report.study_uid}{uids}")
    if report.reconciled is not None and report.patient is not None:
        changed = len(report.reconciled.reconciled)
        print(
            f"study {index + 1}: reconciled to {_describe(report.patient)}: {changed} "
            "instance(s) changed, the media's values kept in the Original Attributes Sequence"
        )
    if report.jobs:
        names = ", ".join(dict.fromkeys(job.destination for job in report.jobs))
        print(f"study {index + 1}: queued {len(report.jobs)} job(s) for {names}")


main = subcommand_main("import")
