"""Files and text a run reads or shows: a bounded, non-blocking read of a regular file, one-line text.

Used by the batch front end (manifests, images) and the executor (scheduler files, one-line errors).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["NotRegular", "file_kind", "printable", "read_regular"]

_BLOCK = 1 << 20


def printable(text: object) -> str:
    r"""``text`` on one line: control characters (newlines, NUL...) written as escapes.

    Examples
    --------
    >>> printable("a\nb\x00.png")
    'a\\nb\\x00.png'
    """
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words: ``a FIFO``, ``a character device``..."""
    for test, name in (
        (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class NotRegular(OSError):
    """Raised by :func:`read_regular` for a path that is not a regular file or is too large."""


def read_regular(path: Path, max_bytes: int, consume=None) -> bytes:
    """The bytes of the regular file ``path``, opened without blocking and never past ``max_bytes``.

    The file is opened with ``O_NONBLOCK`` (a FIFO cannot hold the call) and checked with
    ``fstat`` on that descriptor (a file swapped for a device after an earlier ``stat`` is still
    refused). With ``consume``, blocks are passed to it and ``b""`` is returned (for hashing).

    Raises
    ------
    OSError
        ``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError``... as ``open`` raises
        them, and a subclass whose message says what the file is (a FIFO, a device) or that it is
        over ``max_bytes``.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_text("hello")
    >>> read_regular(p, 100)
    b'hello'
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(f"is {file_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:  # e.g. a sparse file: refused unread
            raise NotRegular(f"is larger than {max_bytes >> 20} MiB")
        chunks = []
        size = 0
        while block := os.read(fd, _BLOCK):
            size += len(block)
            if size > max_bytes:
                raise NotRegular(f"is larger than {max_bytes >> 20} MiB")
            if consume is None:
                chunks.append(block)
            else:
                consume(block)
        return b"".join(chunks)
    finally:
        os.close(fd)
