"""Console and rotating-file logging, with patient data kept out of INFO and above."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from izer.config import default_log_folder
from izer.model import REDACTED, Sensitive

LOG_FILE_NAME = "izer.log"
LOG_FILE_BYTES = 5 * 1024 * 1024
LOG_FILE_BACKUPS = 5


class RedactPatientData(logging.Filter):
    """Replaces :class:`Sensitive` arguments by a placeholder in records of INFO and above."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO and record.args:
            if isinstance(record.args, dict):
                record.args = {k: _redact(v) for k, v in record.args.items()}
            else:
                record.args = tuple(_redact(arg) for arg in record.args)
        return True


def _redact(value: object) -> object:
    return REDACTED if isinstance(value, Sensitive) else value


class OnlyIzer(logging.Filter):
    """Keeps library records (pynetdicom's own error lines) off the console.

    izer explains every failure in one line of its own; the library's view of the same
    event goes to the log file, and to the console with ``-v`` or ``--debug``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "izer" or record.name.startswith("izer.")


class ConsoleFormatter(logging.Formatter):
    """``izer: message`` for information, ``izer: warning: message`` for problems."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"izer: {record.levelname.lower()}: {message}"
        if record.levelno <= logging.DEBUG:
            return f"izer: debug: {record.name}: {message}"
        return f"izer: {message}"


def configure_logging(
    *, verbose: bool = False, debug: bool = False, log_folder: Path | None = None
) -> Path | None:
    """Set up the console and the rotating log file; return the log file's path.

    The console shows warnings (``verbose``: information; ``debug``: everything, including
    association-level detail from pynetdicom). The file keeps information and above, or
    everything with ``debug``. A log folder that cannot be created only costs the file.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_izer", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    redact = RedactPatientData()

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    console.setFormatter(ConsoleFormatter())
    console.addFilter(redact)
    if not (verbose or debug):
        console.addFilter(OnlyIzer())
    console._izer = True  # type: ignore[attr-defined]
    root.addHandler(console)

    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if debug else logging.WARNING)

    folder = log_folder or default_log_folder()
    path = folder / LOG_FILE_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file (%s): %s", folder, exc.strerror)
        return None
    file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler.addFilter(redact)
    file_handler._izer = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    return path
