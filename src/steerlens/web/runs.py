"""Per-run folders of the app, with expiry, and the only way the app turns a URL into a file.

A run's folder is ``ROOT/<32 hex digits>``; its files are looked up by name in
:data:`RUN_FILES`, never by joining a path from the request, so ``../``, encoded and absolute
paths cannot reach anything else. Folders older than the time-to-live are deleted.
"""

from __future__ import annotations

import re
import secrets
import shutil
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
#: Marker file whose modification time is the run's creation time.
CREATED = ".created"
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class RunNotFound(SteerlensError):
    """A run id that does not exist (or has expired), or a file a run does not have."""


class RunStore:
    """Run folders under ``root`` that expire ``ttl_s`` seconds after they were made.

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

    def __init__(self, root: str | Path, ttl_s: float = 3600.0) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_s = float(ttl_s)
        self._lock = threading.Lock()

    def new(self) -> tuple[str, Path]:
        """Make a fresh run folder; returns its id and path. Expired folders are swept first."""
        self.sweep()
        run_id = secrets.token_hex(16)
        folder = self.root / run_id
        folder.mkdir(mode=0o700)
        (folder / CREATED).touch()
        return run_id, folder

    def folder(self, run_id: str) -> Path:
        """The folder of a live run; :class:`RunNotFound` for a malformed, unknown or expired id."""
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise RunNotFound("no such run")
        folder = self.root / run_id
        if not folder.is_dir():
            raise RunNotFound("no such run (it may have expired)")
        if self._expired(folder):
            shutil.rmtree(folder, ignore_errors=True)
            raise RunNotFound("this run has expired; run it again")
        return folder

    def file(self, run_id: str, name: str) -> Path:
        """A downloadable file of a run, by name (see :data:`RUN_FILES`)."""
        if name not in RUN_FILES:
            raise RunNotFound(f"run has no file {name!r}")
        path = self.folder(run_id) / name
        if not path.is_file() or path.resolve().parent != self.root / run_id:
            raise RunNotFound(f"run has no file {name!r}")
        return path

    def sweep(self) -> int:
        """Delete expired run folders; returns how many were deleted."""
        removed = 0
        with self._lock:
            for folder in self.root.iterdir():
                if folder.is_dir() and _RUN_ID.fullmatch(folder.name) and self._expired(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
        return removed

    def _expired(self, folder: Path) -> bool:
        try:
            return time.time() - (folder / CREATED).stat().st_mtime > self.ttl_s
        except FileNotFoundError:
            return True
