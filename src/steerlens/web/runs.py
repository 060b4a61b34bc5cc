"""Per-run folders of the app, with expiry, and the only way the app turns a URL into a file.

A run's folder is ``ROOT/<32 hex digits>``; its files are looked up by name in
:data:`RUN_FILES`, never by joining a path from the request, so ``../``, encoded and absolute
paths cannot reach anything else.

The app deletes only what it made. Each run folder gets a marker file (:data:`MARKER`) when it
is created, holding the run's id; its modification time is the run's creation time. A folder
expires ``ttl_s`` seconds after that, and only a real folder (not a link) whose marker is a
regular file naming that folder is ever deleted: anything else in ``--runs-dir``, whatever its
name, is left alone. Without ``--runs-dir`` the root is a temporary folder made on the first run
and removed with everything in it by :meth:`RunStore.close` (when the server stops).
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

from steerlens.errors import SteerlensError

#: Files of a run that can be downloaded: name -> media type.
RUN_FILES = {
    "morph.gif": "image/gif",
    "morph.mp4": "video/mp4",
    "frames.npz": "application/octet-stream",
    "result.json": "application/json",
    "filmstrip.png": "image/png",
    "curves.png": "image/png",
}
#: Marker file of a run folder the app made: it holds :data:`MARKER_TEXT` and the run id, and its
#: modification time is the run's creation time.
MARKER = ".steerlens-run"
MARKER_TEXT = "steerlens serve run "
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class RunNotFound(SteerlensError):
    """A run id that does not exist (or has expired), or a file a run does not have."""


class RunStore:
    """Run folders under ``root`` that expire ``ttl_s`` seconds after they were made.

    ``root=None`` means a temporary folder, made on the first run and removed by :meth:`close`.
    A given ``root`` is made on the first run too (so a server that fails to start writes
    nothing) and is never removed; only run folders carrying the app's marker are.

    Examples
    --------
    >>> import tempfile
    >>> store = RunStore(Path(tempfile.mkdtemp()), ttl_s=60)
    >>> run_id, folder = store.new()
    >>> _ = (folder / "result.json").write_text("{}")
    >>> store.file(run_id, "result.json").name
    'result.json'
    >>> store.file(run_id, "../result.json")
    Traceback (most recent call last):
    ...
    steerlens.web.runs.RunNotFound: run has no file '../result.json'
    """

    def __init__(self, root: str | Path | None = None, ttl_s: float = 3600.0) -> None:
        if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and ttl_s > 0):
            raise ValueError(f"ttl_s must be a finite number of seconds above 0, got {ttl_s!r}")
        self.temporary = root is None
        self._root = None if root is None else Path(root).resolve()
        self.ttl_s = float(ttl_s)
        self._lock = threading.Lock()

    @property
    def root(self) -> Path | None:
        """The folder holding the runs (``None`` for a temporary root before the first run)."""
        return self._root

    def _ensure_root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="steerlens-runs-")).resolve()
            else:
                self._root.mkdir(parents=True, exist_ok=True)
            return self._root

    def new(self) -> tuple[str, Path]:
        """Make a fresh run folder; returns its id and path. Expired folders are swept first."""
        root = self._ensure_root()
        self.sweep()
        run_id = secrets.token_hex(16)
        folder = root / run_id
        folder.mkdir(mode=0o700)
        (folder / MARKER).write_text(MARKER_TEXT + run_id + "\n")
        return run_id, folder

    def folder(self, run_id: str) -> Path:
        """The folder of a live run; :class:`RunNotFound` for a malformed, unknown or expired id,
        or a folder the app did not make."""
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or self._root is None:
            raise RunNotFound("no such run")
        folder = self._root / run_id
        created = self._created(folder)
        if created is None:
            raise RunNotFound("no such run (it may have expired)")
        if time.time() - created > self.ttl_s:
            self._remove(folder)
            raise RunNotFound("this run has expired; run it again")
        return folder

    def file(self, run_id: str, name: str) -> Path:
        """A downloadable file of a run, by name (see :data:`RUN_FILES`)."""
        if name not in RUN_FILES:
            raise RunNotFound(f"run has no file {name!r}")
        folder = self.folder(run_id)
        path = folder / name
        try:
            mode = path.lstat().st_mode
        except OSError:
            mode = 0
        if not stat.S_ISREG(mode):
            raise RunNotFound(f"run has no file {name!r}")
        return path

    def sweep(self) -> int:
        """Delete expired run folders the app made; returns how many were deleted."""
        if self._root is None:
            return 0
        removed = 0
        now = time.time()
        try:
            entries = list(os.scandir(self._root))
        except OSError:
            return 0
        for entry in entries:
            if not _RUN_ID.fullmatch(entry.name):
                continue
            created = self._created(Path(entry.path))
            if created is not None and now - created > self.ttl_s:
                removed += self._remove(Path(entry.path))
        return removed

    def close(self) -> None:
        """Remove the temporary root and every run in it (a given ``--runs-dir`` is kept)."""
        with self._lock:
            if self.temporary and self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None

    @staticmethod
    def _created(folder: Path) -> float | None:
        """Creation time of a run folder the app made, else ``None`` (no marker, a link, a file,
        a marker that is not a regular file or names another run)."""
        try:
            if not stat.S_ISDIR(folder.lstat().st_mode):
                return None
            marker = folder / MARKER
            st = marker.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > 256:
                return None
            if marker.read_text(errors="replace").strip() != MARKER_TEXT + folder.name:
                return None
        except OSError:
            return None
        return st.st_mtime

    def _remove(self, folder: Path) -> int:
        with self._lock:
            if self._created(folder) is None:  # checked again under the lock
                return 0
            shutil.rmtree(folder, ignore_errors=True)
            return 1
