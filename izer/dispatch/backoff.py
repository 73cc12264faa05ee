"""When to try a failed job again: exponential backoff with a cap and a little jitter."""

from __future__ import annotations

import random

#: Beyond this many doublings every delay is the cap anyway; keeps ``2 ** n`` small.
_MAX_DOUBLINGS = 62


def backoff_delay(
    attempts: int,
    *,
    base_s: float,
    cap_s: float,
    jitter: float = 0.1,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt of a job.

    The nominal delay is ``base_s * 2 ** (attempts - 1)``, capped at ``cap_s``; it is then
    shortened by a random fraction of at most ``jitter`` so that the many jobs of a receiver
    that was down do not all come back at the same instant. The result is therefore within
    ``[(1 - jitter) * nominal, nominal]`` and never above the cap.

    Parameters
    ----------
    attempts
        Attempts made so far, the failed one included (1 after the first failure).
    base_s, cap_s
        Delay after the first failure, and the longest delay.
    jitter
        Largest fraction taken off the nominal delay, in ``[0, 1)``.
    rng
        Random source (tests pass a seeded one); the module's by default.

    Raises
    ------
    ValueError
        When an argument is out of range.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be 1 or more after a failure, got {attempts}")
    if base_s < 0 or cap_s < 0:
        raise ValueError(f"backoff base ({base_s} s) and cap ({cap_s} s) must not be negative")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"backoff jitter must be in [0, 1), got {jitter}")
    nominal = min(cap_s, base_s * 2.0 ** min(attempts - 1, _MAX_DOUBLINGS))
    draw = (rng or random).random()
    return nominal * (1.0 - jitter * draw)
