"""How a sink tells the outbox that a delivery did not happen, and whether to try again."""

from __future__ import annotations


class DeliveryError(Exception):
    """A job could not be done this time; ``str(error)`` says why in plain words.

    Parameters
    ----------
    message
        What went wrong, naming the destination and the instance or file.
    transient
        ``True`` when trying again later may succeed (peer down, A700 out of resources,
        timeout); ``False`` when it cannot without a change (refused syntax, bad file).
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
