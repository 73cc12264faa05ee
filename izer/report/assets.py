"""Where the report finds its logo and fonts: ``<repo>/assets`` (editable install)."""

from __future__ import annotations

from pathlib import Path

#: ``<repo>/assets``, found from this package's location (``<repo>/izer/report/``).
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"

#: The default institution logo; settings replace it with the institution's own.
DEFAULT_LOGO = ASSETS_DIR / "logo.png"


def default_assets_dir() -> Path:
    """Return ``<repo>/assets``, where the default logo and the report fonts live.

    Raises
    ------
    FileNotFoundError
        When the folder is missing (izer not run from a source checkout or editable install).
    """
    if not ASSETS_DIR.is_dir():
        raise FileNotFoundError(
            f"izer assets folder {ASSETS_DIR} is missing: the report needs its fonts and "
            "default logo there; reinstall izer from a source checkout (pip install -e .)"
        )
    return ASSETS_DIR
