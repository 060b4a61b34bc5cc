"""Ctrl-C and SIGTERM as exceptions while a command runs, so every ``atomic_dir`` unwinds and no
partial output is left."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "Terminated", "signals_as_exceptions"]


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) during a command. A ``BaseException`` so no ``except Exception`` swallows
    it, and not ``KeyboardInterrupt`` so click does not turn it into its own abort message."""

    exit_code = 130
    message = "interrupted (Ctrl-C); no partial output was left"


class Terminated(BaseException):
    """SIGTERM during a command (e.g. ``kill`` or a job scheduler's time limit)."""

    exit_code = 143
    message = "terminated (SIGTERM); no partial output was left"


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted`/:class:`Terminated` while a command runs.

    Raising (instead of dying) unwinds every ``with atomic_dir(...)`` block, so temporary
    folders are removed and no partial output is moved into place.

    Examples
    --------
    >>> with signals_as_exceptions():
    ...     pass
    """

    def interrupt(signum, frame):
        raise Interrupted

    def terminate(signum, frame):
        raise Terminated

    try:
        old = {signal.SIGINT: signal.signal(signal.SIGINT, interrupt),
               signal.SIGTERM: signal.signal(signal.SIGTERM, terminate)}
    except ValueError:  # not the main thread: leave signal handling to the caller
        yield
        return
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
