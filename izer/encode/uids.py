"""UIDs under the station's root (PS3.5 9.1: at most 64 characters, digits and dots)."""

from __future__ import annotations

from pydicom.uid import generate_uid


class UidFactory:
    """Makes new Study, Series and SOP Instance UIDs under one root.

    Parameters
    ----------
    root
        The organisation's or station's UID root, without a trailing dot.
    """

    def __init__(self, root: str) -> None:
        self.prefix = root.rstrip(".") + "."

    def new(self) -> str:
        """A new, unique UID: the root followed by random digits up to 64 characters."""
        return str(generate_uid(prefix=self.prefix))

    def derived(self, base: str, *parts: str | int) -> str:
        """The same UID every time for the same ``base`` and ``parts`` (a hash under the root).

        Used for UIDs that must be known in advance and survive a crash, such as the SOP
        Instance UID of each part of a clip that is still being recorded.
        """
        return str(generate_uid(prefix=self.prefix, entropy_srcs=[base, *map(str, parts)]))
