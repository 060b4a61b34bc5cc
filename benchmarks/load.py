"""Load guards shared by the benchmarks: the load average before each timed run, a verdict on
whether a run's figures may stand as headline figures, and one busy process to measure beside.

A benchmark taken while other processes hold the cores measures them, not steerlens. The rule:
a figure is a *headline* only if the 1-minute load average before the run did not exceed the
number of cores this process may use (``os.sched_getaffinity``). Otherwise it is written, but
flagged, and under its own file name, so a loaded run never replaces a quiet one.

``--busy`` runs the same benchmark next to :class:`BusyProcess` (one single-threaded Python loop),
the everyday case of a laptop or a shared server; that run is flagged ``busy`` and is never a
headline either.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from steerlens.provenance import cpu_cores as cores


def load1() -> float:
    """The 1-minute load average (0.0 where the platform has none).

    Examples
    --------
    >>> load1() >= 0.0
    True
    """
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return 0.0


@dataclass(frozen=True)
class LoadVerdict:
    """Whether figures taken after ``load_before`` (with ``busy`` set by ``--busy``) are headlines.

    Examples
    --------
    >>> LoadVerdict(0.4, 2, busy=False).headline
    True
    >>> v = LoadVerdict(3.7, 2, busy=False)
    >>> v.headline, v.flag
    (False, 'load average 3.7 > 2 cores before the run: not a headline figure')
    >>> LoadVerdict(0.1, 2, busy=True).flag
    'run beside one busy process (--busy): not a headline figure'
    """

    load_before: float
    cores: int
    busy: bool = False

    @property
    def loaded(self) -> bool:
        return self.load_before > self.cores

    @property
    def headline(self) -> bool:
        return not (self.loaded or self.busy)

    @property
    def flag(self) -> str | None:
        """Why these are not headline figures, in one line; ``None`` when they are."""
        if self.loaded:
            return (f"load average {self.load_before:g} > {self.cores} cores before the run: "
                    "not a headline figure")
        if self.busy:
            return "run beside one busy process (--busy): not a headline figure"
        return None

    @property
    def suffix(self) -> str:
        """File-name suffix that keeps flagged results apart: ``-busy``, ``-loaded`` or ``""``."""
        return "".join(s for on, s in ((self.busy, "-busy"), (self.loaded, "-loaded")) if on)

    def as_dict(self) -> dict[str, object]:
        return {"load_before": self.load_before, "cores": self.cores, "busy": self.busy,
                "headline": self.headline, "flag": self.flag}


def verdict(busy: bool = False) -> LoadVerdict:
    """The verdict for a run starting now (call it *before* starting any busy process)."""
    return LoadVerdict(load1(), cores(), busy)


#: what the busy process runs: pure Python, one thread, never sleeps
BUSY_LOOP = "while True:\n    pass\n"


class BusyProcess:
    """One single-threaded busy process for the duration of a ``with`` block.

    Examples
    --------
    >>> with BusyProcess() as busy:
    ...     busy.alive
    True
    >>> busy.alive
    False
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        time.sleep(0.2)  # let it reach the loop before anything is timed
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
