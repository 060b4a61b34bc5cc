"""How busy the other processes on this machine have kept its cores recently (Linux ``/proc/stat``).

The thread policy (:mod:`steerlens.threads`) needs the cores that other processes hold *now*. The
1-minute load average answers that badly: it lags by a minute, and it counts tasks waiting on disk
and kernel threads, so an idle 2-core VM measured 0.6-0.9 with nothing running (2026-12-03), which
the policy read as "one core taken" and gave every job one thread, 1.4-1.6x slower than two.

This module reads the busy time of the CPUs in this process's affinity mask from ``/proc/stat``
(user, nice, system, irq, softirq and steal time; guest time is inside user) and subtracts this
process's own CPU time (:func:`time.process_time`). A sample is taken when ``steerlens`` is
imported, so by the time a job starts (after torch's import, about a second later) there is a
window to measure over. Stdlib only: importing it costs microseconds and no torch.

Examples
--------
>>> a = CpuSample(wall=0.0, busy=10.0, own=1.0)
>>> b = CpuSample(wall=1.0, busy=11.5, own=1.5)   # 1.5 core-s busy in 1 s, 0.5 of it ours
>>> others_busy(a, b)
1.0
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

#: shortest window a reading is taken over, seconds (``/proc/stat`` counts in 10 ms ticks per CPU)
MIN_WINDOW_S = 0.2
#: windows longer than this (seconds) describe the past more than the present: the policy then
#: also reads the 1-minute load average and keeps the smaller of the two estimates
STALE_WINDOW_S = 60.0
#: busy fields of a ``/proc/stat`` cpu line (user nice system idle iowait irq softirq steal ...)
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU time at one moment.

    Attributes
    ----------
    wall
        :func:`time.monotonic` when taken, seconds.
    busy
        Busy CPU-seconds since boot of the CPUs in the affinity mask.
    own
        This process's CPU-seconds (all its threads).
    """

    wall: float
    busy: float
    own: float


def sample(stat_path: str = "/proc/stat") -> CpuSample | None:
    """The current :class:`CpuSample`, or ``None`` where ``/proc/stat`` or affinity is unavailable.

    Examples
    --------
    >>> s = sample()
    >>> s is None or s.busy >= 0
    True
    """
    try:
        cpus = os.sched_getaffinity(0)
        with open(stat_path) as f:
            lines = f.read().splitlines()
        hz = os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError):
        return None
    ticks = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            cpu = int(name[3:])
            fields = [int(v) for v in rest.split()]
        except ValueError:
            continue
        if cpu in cpus:
            ticks += sum(fields[i] for i in _BUSY_FIELDS if i < len(fields))
    return CpuSample(time.monotonic(), ticks / hz, time.process_time())


def others_busy(before: CpuSample, after: CpuSample) -> float | None:
    """Cores kept busy by other processes between two samples (``None`` below :data:`MIN_WINDOW_S`).

    Examples
    --------
    >>> round(others_busy(CpuSample(0.0, 5.0, 0.0), CpuSample(0.5, 5.2, 0.2)), 9)   # all ours
    0.0
    >>> others_busy(CpuSample(0.0, 5.0, 0.0), CpuSample(0.1, 5.2, 0.0)) is None
    True
    """
    dt = after.wall - before.wall
    if dt < MIN_WINDOW_S:
        return None
    return max((after.busy - before.busy) - (after.own - before.own), 0.0) / dt


class RecentLoad:
    """Other processes' CPU use since the previous reading (or since ``steerlens`` was imported).

    Calling it returns ``(cores busy, window seconds)``, or ``None`` where ``/proc/stat`` cannot be
    read. A window shorter than :data:`MIN_WINDOW_S` repeats the previous reading instead.
    """

    def __init__(self) -> None:
        self.previous = sample()
        self.last: tuple[float, float] | None = None

    def __call__(self) -> tuple[float, float] | None:
        now = sample()
        if now is None or self.previous is None:
            return self.last
        busy = others_busy(self.previous, now)
        if busy is None:
            return self.last
        self.last = (busy, now.wall - self.previous.wall)
        self.previous = now
        return self.last


#: started when ``steerlens`` is imported (``steerlens/__init__.py``)
recent_load = RecentLoad()
