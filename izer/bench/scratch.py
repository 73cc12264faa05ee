"""What every benchmark shares: a made-up UID root and a settings file in its scratch folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

#: UID root of the made-up instances benchmarks write (never sent anywhere).
BENCH_ROOT = "2.25.1234567890"


def settings_file(root: Path) -> Path:
    """Write ``root/izer.toml`` with a store in ``root/store`` and return its path."""
    config = root / "izer.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [station]
            ae_title = "IZERBENCH"
            uid_root = "{BENCH_ROOT}"

            [storage]
            folder = "{(root / "store").as_posix()}"
            """
        ),
        encoding="utf-8",
    )
    return config
