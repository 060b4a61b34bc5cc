"""Writing outputs safely: atomic folders and files, strict JSON, and a writability pre-check.

Every command that writes (``morph``, ``compare``, ``demo``, ``experiment``, ``batch``, ``report``)
goes through this module, so an interrupted or failed run never leaves a half-written output:

- :func:`atomic_dir` builds a folder under a hidden temporary name beside its destination and moves
  it into place at the end (mode 0755, like a folder made by ``mkdir``); on any exception,
  ``KeyboardInterrupt`` and ``SystemExit`` included, the temporary folder is removed.
- :func:`write_text_atomic` / :func:`write_json` do the same for one file.
- :func:`dumps_json` refuses NaN and infinity (``allow_nan=False``): result files stay valid JSON.
- :func:`check_writable` tells, before any expensive work, whether ``--out`` can be created.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from steerlens.errors import ConfigError

#: prefix of the temporary folders and files written beside an output
TMP_PREFIX = ".steerlens-tmp-"
_DIR_MODE = 0o755
_FILE_MODE = 0o644


def check_writable(out: str | Path, what: str = "--out") -> Path:
    """Raise :class:`ConfigError` unless the folder ``out`` exists or could be created here.

    Nothing is left on disk: the check creates (and removes) one temporary folder in the nearest
    existing ancestor of ``out``.

    Examples
    --------
    >>> import tempfile
    >>> check_writable(Path(tempfile.mkdtemp()) / "new" / "folder").name
    'folder'
    >>> check_writable("/proc/steerlens-out")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: cannot write --out /proc/steerlens-out: /proc is not writable; choose another folder
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{what} {out} exists and is not a folder; choose another path")
    ancestor = out
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(
            f"cannot write {what} {out}: {ancestor} is a file, not a folder; choose another path"
        )
    try:
        probe = tempfile.mkdtemp(dir=ancestor, prefix=TMP_PREFIX)
    except OSError:
        raise ConfigError(
            f"cannot write {what} {out}: {ancestor} is not writable; choose another folder"
        ) from None
    os.rmdir(probe)
    return out


@contextmanager
def atomic_dir(out: str | Path, merge: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out`` when the ``with`` block finishes.

    Parameters
    ----------
    out
        Destination folder.
    merge
        ``False``: ``out`` is replaced whole. ``True``: the files written are moved into an existing
        ``out`` one by one (each an atomic rename), and other files there are left alone.

    Examples
    --------
    >>> import tempfile
    >>> dest = Path(tempfile.mkdtemp()) / "result"
    >>> with atomic_dir(dest) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> (dest / "a.txt").read_text(), oct(dest.stat().st_mode & 0o777)
    ('done', '0o755')
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a folder; choose another one")
    out.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=out.parent, prefix=TMP_PREFIX))
    try:
        tmp = root / "out"
        tmp.mkdir()
        os.chmod(tmp, _DIR_MODE)
        yield tmp
        if merge and out.is_dir():
            for item in tmp.iterdir():
                dest = out / item.name
                if item.is_dir() and dest.exists():
                    old = root / "old"
                    os.replace(dest, old)
                    os.replace(item, dest)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(item, dest)
        elif out.exists():
            os.replace(out, root / "old")
            os.replace(tmp, out)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text: NaN and infinity are refused (``ValueError``) rather than written.

    Examples
    --------
    >>> dumps_json({"p": 0.5}, indent=None)
    '{"p": 0.5}'
    >>> dumps_json({"p": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: Out of range float values are not JSON compliant: nan
    """
    return json.dumps(obj, indent=indent, allow_nan=False)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and one atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Write strict JSON (see :func:`dumps_json`) atomically, with a final newline."""
    return write_text_atomic(path, dumps_json(obj, indent=indent) + "\n")
