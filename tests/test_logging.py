"""Logging: patient data stays out of INFO and above, the file rotates in the log folder."""

from __future__ import annotations

import logging
from pathlib import Path

from izer.config import default_log_folder
from izer.logging_setup import configure_logging
from izer.model import REDACTED, Sensitive


def _flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def test_patient_data_is_redacted_at_info_and_kept_at_debug(tmp_path: Path, capsys) -> None:
    path = configure_logging(verbose=True, log_folder=tmp_path)
    assert path == tmp_path / "izer.log"
    log = logging.getLogger("izer.test")
    log.info("selected %s with ID %s", Sensitive("Doe^Jane"), Sensitive("PID-777"))
    log.warning("problem for %(who)s", {"who": Sensitive("Doe^Jane")})
    log.debug("debug detail %s", Sensitive("Doe^Jane"))
    _flush()
    text = path.read_text(encoding="utf-8")
    console = capsys.readouterr().err
    for shown in (text, console):
        assert "Doe^Jane" not in shown and "PID-777" not in shown
        assert f"selected {REDACTED} with ID {REDACTED}" in shown

    path = configure_logging(debug=True, log_folder=tmp_path)
    logging.getLogger("izer.test").debug("debug detail %s", Sensitive("Doe^Jane"))
    _flush()
    assert "debug detail Doe^Jane" in path.read_text(encoding="utf-8")


def test_default_log_file_lives_in_the_platform_log_folder() -> None:
    path = configure_logging()
    assert path is not None
    assert path.parent == default_log_folder()
    logging.getLogger("izer.test").info("hello from the test")
    _flush()
    assert "hello from the test" in path.read_text(encoding="utf-8")


def test_library_errors_stay_off_the_console_unless_verbose(tmp_path: Path, capsys) -> None:
    configure_logging(log_folder=tmp_path)
    logging.getLogger("pynetdicom.acse").error("Association Rejected")
    assert "Association Rejected" not in capsys.readouterr().err
    _flush()
    assert "Association Rejected" in (tmp_path / "izer.log").read_text(encoding="utf-8")
    configure_logging(verbose=True, log_folder=tmp_path)
    logging.getLogger("pynetdicom.acse").error("Association Rejected")
    assert "Association Rejected" in capsys.readouterr().err
