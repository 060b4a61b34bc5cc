"""SHA-256 of files: the one helper every weights hash and cache check goes through.

Model specs record the hash of the weights they were loaded from (``weights_sha256``); the trained
model cache checks its files against the hash in its metadata before reading them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

__all__ = ["file_sha256"]

_BLOCK = 1 << 20


@lru_cache(maxsize=16)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file, cached by resolved path, modification time and size.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        64 lowercase hex digits.

    Raises
    ------
    OSError
        The file does not exist or cannot be read.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(p, "wb").close()
    >>> file_sha256(p)[:12]
    'e3b0c44298fc'
    >>> with open(p, "wb") as f:
    ...     _ = f.write(b"abc")
    >>> file_sha256(p)[:12]   # rewritten: size (and mtime) changed, so it is hashed again
    'ba7816bf8f01'
    """
    p = Path(path).resolve()
    st = p.stat()
    return _digest(str(p), st.st_mtime_ns, st.st_size)
