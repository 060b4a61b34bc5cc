"""The app's run queue: one run at a time per model, the others wait and know their position.

Each model has its own worker thread, started on its first job, so a slow ImageNet run does not
hold up MNIST runs, and no model runs twice at once (its memory stays bounded). A job runs in the
worker whatever happens to the HTTP request that submitted it, so a client that disconnects
mid-run harms nothing.

Uploads are bounded the same way: :class:`DecodeGate` checks and decodes them in one dedicated
thread (by default), and refuses more than ``max_waiting`` waiting, so many large uploads at once
cost the memory of one decode, not of all of them.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from steerlens.errors import ConfigError, SteerlensError

T = TypeVar("T")


class QueueFull(ConfigError):
    """Too many runs are waiting for one model."""


@dataclass
class Job:
    """One queued run.

    Attributes
    ----------
    id
        Run id (also its folder name).
    model
        Model name: the queue it waits in.
    work
        What to run (in the model's worker thread).
    state
        ``queued``, ``running``, ``done`` or ``error``.
    stage
        What a running job has finished so far (set by its work, e.g. ``frames``).
    message
        The one-line error of a failed run.
    """

    id: str
    model: str
    work: Callable[[], None]
    state: str = "queued"
    stage: str = ""
    message: str = ""
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    @property
    def shown_state(self) -> str:
        """``state``, or ``frames`` for a running job whose frames are ready."""
        return "frames" if self.state == "running" and self.stage == "frames" else self.state

    @property
    def elapsed(self) -> float:
        """Seconds since submission (until the end, once finished)."""
        return (self.finished or time.monotonic()) - self.submitted


class RunQueue:
    """FIFO queues, one per model, each drained by its own worker thread.

    Examples
    --------
    >>> q = RunQueue()
    >>> out = []
    >>> job = q.submit("m", "a" * 32, lambda: out.append(1))
    >>> q.wait(job.id, timeout=5).state, out
    ('done', [1])
    """

    def __init__(self, max_waiting: int = 16, keep: int = 1000) -> None:
        self.max_waiting = max_waiting
        self.keep = keep
        self._cond = threading.Condition()
        self._waiting: dict[str, deque[Job]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._jobs: dict[str, Job] = {}
        self._closed = False

    def submit(self, model: str, job_id: str, work: Callable[[], None]) -> Job:
        """Queue ``work`` for ``model``; :class:`QueueFull` when too many runs wait already."""
        with self._cond:
            if self._closed:
                raise QueueFull("the server is stopping; try again once it is back")
            waiting = self._waiting.setdefault(model, deque())
            queued = sum(j.state == "queued" for j in waiting)
            if queued >= self.max_waiting:
                raise QueueFull(
                    f"{queued} runs are already waiting for {model}; try again in a minute"
                )
            job = Job(id=job_id, model=model, work=work)
            waiting.append(job)
            self._jobs[job_id] = job
            self._forget_old()
            if model not in self._workers:
                t = threading.Thread(target=self._drain, args=(model,), daemon=True,
                                     name=f"steerlens-run-{model}")
                self._workers[model] = t
                t.start()
            self._cond.notify_all()
            return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, if known."""
        with self._cond:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> tuple[int, int]:
        """``(position, waiting)``: 1-based place of a queued job among the runs waiting for its
        model, and how many wait (the running one not counted); position 0 once it runs."""
        with self._cond:
            queued = [j for j in self._waiting.get(job.model, ()) if j.state == "queued"]
            place = next((i + 1 for i, j in enumerate(queued) if j is job), 0)
            return place, len(queued)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (or ``timeout`` passed); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            job = self._jobs[job_id]
            while job.state in ("queued", "running"):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return job

    def close(self, timeout: float = 3.0) -> bool:
        """Stop: no new runs, waiting runs dropped; wait up to ``timeout`` seconds for the running
        ones. Returns whether none is still running (a run cannot be stopped half-way).

        Examples
        --------
        >>> q = RunQueue()
        >>> q.close(timeout=0)
        True
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closed = True
            for waiting in self._waiting.values():
                for job in [j for j in waiting if j.state == "queued"]:
                    waiting.remove(job)
                    job.state, job.message = "error", "the server stopped before this run started"
            self._cond.notify_all()
            while any(j.state == "running" for j in self._jobs.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _drain(self, model: str) -> None:
        while True:
            with self._cond:
                while not self._waiting[model] and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._waiting[model][0]
                job.state, job.started = "running", time.monotonic()
            try:
                job.work()
                state, message = "done", ""
            except SteerlensError as e:
                state, message = "error", str(e).splitlines()[0] if str(e) else type(e).__name__
            except Exception as e:  # noqa: BLE001 - an internal bug: keep serving, say so
                if not self._closed:  # (a run cut short by the server stopping is no bug)
                    traceback.print_exc()
                state, message = "error", f"internal error: {type(e).__name__}: {e}".splitlines()[0]
            with self._cond:
                self._waiting[model].popleft()
                job.state, job.message, job.finished = state, message, time.monotonic()
                self._cond.notify_all()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in ("done", "error")]
        for j in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[j.id]


class DecodeGate:
    """Uploads are read, checked and decoded in ``slots`` dedicated threads (one by default);
    at most ``max_waiting`` wait for them.

    Dedicated threads matter as much as the bound: the C allocator keeps a memory arena per
    thread, so decodes spread over many request threads each leave their own few hundred MB
    behind, while one decoding thread reuses the same memory for every upload.

    Examples
    --------
    >>> gate = DecodeGate(slots=1, max_waiting=2)
    >>> gate.run(lambda a, b: a + b, 2, 3), gate.peak
    (5, 1)
    """

    def __init__(self, slots: int = 1, max_waiting: int = 16) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots, self.max_waiting = slots, max_waiting
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="steerlens-decode")
        self._lock = threading.Lock()
        self.waiting = 0
        self.active = 0
        self.peak = 0

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a decoding thread and return its result (or raise its error);
        :class:`QueueFull` when too many uploads wait already."""
        with self._lock:
            if self.waiting >= self.max_waiting:
                raise QueueFull(
                    f"{self.waiting} uploads are already waiting to be read; try again in a minute"
                )
            self.waiting += 1

        def task() -> T:
            with self._lock:
                self.waiting -= 1
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self.active -= 1

        try:
            future = self._pool.submit(task)
        except BaseException:
            with self._lock:
                self.waiting -= 1
            raise
        return future.result()
