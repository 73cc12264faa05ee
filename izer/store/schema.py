"""The index schema, versioned by ``PRAGMA user_version`` and migrated forward on open."""

from __future__ import annotations

import sqlite3

#: Each entry takes the schema from version ``index`` to ``index + 1``. Append, never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE patients (
        patient_key INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL,
        issuer TEXT NOT NULL DEFAULT '',
        patient_name TEXT NOT NULL DEFAULT '',
        birth_date TEXT NOT NULL DEFAULT '',
        sex TEXT NOT NULL DEFAULT '',
        UNIQUE (patient_id, issuer)
    );
    CREATE TABLE studies (
        study_uid TEXT PRIMARY KEY,
        patient_key INTEGER NOT NULL REFERENCES patients(patient_key),
        study_date TEXT NOT NULL DEFAULT '',
        study_time TEXT NOT NULL DEFAULT '',
        accession_number TEXT NOT NULL DEFAULT '',
        study_id TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE series (
        series_uid TEXT PRIMARY KEY,
        study_uid TEXT NOT NULL REFERENCES studies(study_uid),
        modality TEXT NOT NULL DEFAULT '',
        series_number INTEGER,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE instances (
        sop_uid TEXT PRIMARY KEY,
        series_uid TEXT NOT NULL REFERENCES series(series_uid),
        sop_class_uid TEXT NOT NULL,
        transfer_syntax_uid TEXT NOT NULL,
        instance_number INTEGER,
        size_bytes INTEGER NOT NULL,
        path TEXT NOT NULL,
        state TEXT NOT NULL,
        stored_at TEXT NOT NULL
    );
    CREATE INDEX instances_by_series ON instances(series_uid);
    CREATE INDEX series_by_study ON series(study_uid);
    CREATE TABLE procedures (
        procedure_id INTEGER PRIMARY KEY,
        patient_key INTEGER NOT NULL REFERENCES patients(patient_key),
        study_uid TEXT NOT NULL,
        study_date TEXT NOT NULL DEFAULT '',
        study_time TEXT NOT NULL DEFAULT '',
        accession_number TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE procedure_transitions (
        transition_id INTEGER PRIMARY KEY,
        procedure_id INTEGER NOT NULL REFERENCES procedures(procedure_id),
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE jobs (
        job_id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        destination TEXT NOT NULL,
        sop_uid TEXT,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        UNIQUE (kind, destination, sop_uid)
    );
    """,
    # 2: the procedure's request context (JSON, see izer.engine.scheduling) and its MPPS.
    """
    ALTER TABLE procedures ADD COLUMN context TEXT NOT NULL DEFAULT '';
    ALTER TABLE procedures ADD COLUMN mpps_uid TEXT NOT NULL DEFAULT '';
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The index was written by a newer izer than this one."""


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; return the version found on open."""
    (found,) = connection.execute("PRAGMA user_version").fetchone()
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"the store index has schema version {found}, this izer knows up to "
            f"{SCHEMA_VERSION}; upgrade izer"
        )
    for version in range(found, SCHEMA_VERSION):
        try:
            connection.executescript(
                "BEGIN;" + MIGRATIONS[version] + f"PRAGMA user_version = {version + 1}; COMMIT;"
            )
        except sqlite3.Error:
            if connection.in_transaction:
                connection.rollback()
            raise
    return found
