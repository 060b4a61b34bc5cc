"""Read folders someone else may have prepared: only inside them, only regular files, only so much.

A report is made to be shared, so it must carry nothing but what the folders it is given hold.
Every file the report reads goes through a :class:`Confined` reader, which

- resolves the path (symlinks included) and refuses one that leaves the given folders;
- checks the kind with ``stat`` before opening and refuses FIFOs, devices and sockets (a FIFO
  never blocks: files are opened with ``O_NONBLOCK``);
- refuses a file larger than the cap for its kind before reading it (a sparse file is never read),
  an ``.npz`` member whose header promises more than :data:`NPZ_MEMBER_MAX_BYTES`, and an image of
  more than :data:`IMAGE_MAX_PIXELS` pixels before decoding it;
- accepts an image only if Pillow decodes all of it as the declared format.

Each refusal is a :class:`~steerlens.errors.ConfigError` with one line that names the file.
"""

from __future__ import annotations

import io
import json
import os
import stat
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from steerlens.data.images import MAX_IMAGE_PIXELS
from steerlens.errors import ConfigError

#: Largest ``result.json`` / ``compare.json`` / ``batch.json`` read.
JSON_MAX_BYTES = 16 * 2**20
#: Largest table file read (``results.csv``, ``cases.jsonl``, ``*.md``).
TABLE_MAX_BYTES = 128 * 2**20
#: Largest image file read (``source.png``, figures, ``morph.gif``).
IMAGE_MAX_BYTES = 64 * 2**20
#: Most pixels of one image (as for input images).
IMAGE_MAX_PIXELS = MAX_IMAGE_PIXELS
#: Largest ``.npz`` file opened (its members are capped one by one, below).
NPZ_MAX_BYTES = 8 * 2**30
#: Largest decoded array read from an ``.npz`` (1,000 frames of 512x512 RGB uint8 fit).
NPZ_MEMBER_MAX_BYTES = 2**30

_KINDS = {stat.S_IFIFO: "FIFO", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
          stat.S_IFSOCK: "socket", stat.S_IFDIR: "folder"}


def _mb(n: float) -> str:
    return f"{n / 2**20:.0f} MB"


class Confined:
    """Reads files only inside ``roots`` (resolved), only regular ones, each up to a cap.

    Parameters
    ----------
    roots
        The folders the reads may touch (each resolved once, symlinks followed).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.json").write_text('{"x": 1}')
    >>> Confined([root]).read_json(root / "a.json")
    {'x': 1}
    >>> Confined([root]).inside(root / ".." / "etc")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: ... leads outside ...
    """

    def __init__(self, roots: Iterable[str | Path]) -> None:
        self.roots = [Path(os.path.realpath(r)) for r in roots]

    def inside(self, path: str | Path) -> Path:
        """``path`` resolved (symlinks followed); ``ConfigError`` if it is outside every root."""
        real = Path(os.path.realpath(path))
        if not any(real == r or real.is_relative_to(r) for r in self.roots):
            given = ", ".join(str(r) for r in self.roots)
            raise ConfigError(
                f"{path} leads outside {given} (a link or a path named in a file); the report "
                "reads only the folders it is given: copy the file into the folder instead"
            )
        return real

    @staticmethod
    def exists(path: str | Path) -> bool:
        """Whether anything (file, folder, link, special file) is at ``path``; opens nothing."""
        return os.path.lexists(path)

    def open(self, path: str | Path, cap: int) -> BinaryIO:
        """Open the regular file ``path`` (inside the roots, at most ``cap`` bytes) for reading."""
        real = self.inside(path)
        try:
            st = os.stat(real)
        except OSError as e:
            raise ConfigError(f"cannot read {path} ({e.strerror}); re-run the command that wrote it") from None
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "special file")
            raise ConfigError(f"{path} is a {kind}, not a regular file; the report reads only files")
        if st.st_size > cap:
            raise ConfigError(
                f"{path} is {_mb(st.st_size)}, more than the report reads ({_mb(cap)}); "
                "it is not a file steerlens wrote"
            )
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise ConfigError(f"cannot read {path} ({e.strerror}); check its permissions") from None
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            os.close(fd)
            raise ConfigError(f"{path} changed while it was read; run the report again")
        return os.fdopen(fd, "rb")

    def read_bytes(self, path: str | Path, cap: int) -> bytes:
        """All bytes of the regular file ``path`` (at most ``cap``)."""
        with self.open(path, cap) as f:
            data = f.read(cap + 1)
        if len(data) > cap:
            raise ConfigError(f"{path} grew past {_mb(cap)} while it was read; run the report again")
        return data

    def read_text(self, path: str | Path, cap: int = TABLE_MAX_BYTES) -> str:
        """The UTF-8 text of ``path``; ``ConfigError`` if it is not UTF-8."""
        try:
            return self.read_bytes(path, cap).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); "
                              "re-run the command that wrote it") from None

    def read_json(self, path: str | Path, cap: int = JSON_MAX_BYTES) -> Any:
        """Strict JSON (no NaN or infinity, as steerlens writes it) from ``path``."""
        try:
            return json.loads(self.read_text(path, cap), parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            raise ConfigError(f"{path} is not valid JSON ({str(e)[:80]}); "
                              "re-run the command that wrote it") from None

    def read_npz(self, path: str | Path, names: Iterable[str]) -> dict[str, np.ndarray]:
        """The arrays ``names`` of the ``.npz`` at ``path`` that it holds (others are not read).

        Each member's header is read first; an array of more than :data:`NPZ_MEMBER_MAX_BYTES`
        or of object dtype is refused before any of its data is decompressed.
        """
        out: dict[str, np.ndarray] = {}
        try:
            with self.open(path, NPZ_MAX_BYTES) as f, zipfile.ZipFile(f) as zf:
                members = set(zf.namelist())
                for name in names:
                    if name + ".npy" in members:
                        out[name] = _read_member(zf, name + ".npy", path)
        except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, NotImplementedError,
                RuntimeError) as e:  # RuntimeError: an encrypted member
            raise ConfigError(f"{path} is not a readable .npz ({str(e)[:80]}); "
                              "re-run the command that wrote it") from None
        return out

    def read_image(self, path: str | Path, fmt: str) -> Image.Image:
        """The image at ``path``, decoded in full, if it is a ``fmt`` (``"PNG"``, ``"GIF"``) image
        of at most :data:`IMAGE_MAX_PIXELS` pixels (checked from the header before decoding).
        Multi-frame images come back positioned at their first frame."""
        data = self.read_bytes(path, IMAGE_MAX_BYTES)
        too_many = ConfigError(f"{path} has more pixels than the report decodes "
                               f"({IMAGE_MAX_PIXELS / 1e6:.0f} megapixels); it is not an image "
                               "steerlens wrote")
        try:
            with warnings.catch_warnings():  # the pixel cap below is ours, lower than Pillow's
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data), formats=[fmt])
            if img.width * img.height > IMAGE_MAX_PIXELS:
                raise too_many
            img.load()
        except Image.DecompressionBombError:  # Pillow's own cap, checked in the header too
            raise too_many from None
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise ConfigError(f"{path} is not a readable {fmt} image ({str(e)[:80]}); "
                              "re-run the command that wrote it") from None
        return img


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_member(zf: zipfile.ZipFile, member: str, path: str | Path) -> np.ndarray:
    fmt = np.lib.format
    with zf.open(member) as m:
        version = fmt.read_magic(m)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(m)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject:
            raise ConfigError(f"{path}: {member} holds Python objects; the report reads numbers only")
        nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if nbytes > NPZ_MEMBER_MAX_BYTES:
            raise ConfigError(
                f"{path}: {member} is {_mb(nbytes)} once decompressed, more than the report reads "
                f"({_mb(NPZ_MEMBER_MAX_BYTES)}); make the report from a smaller morph"
            )
        count = int(np.prod(shape))
        data = m.read(nbytes + 1)
    if len(data) != nbytes:
        raise ValueError(f"{member} holds {len(data)} bytes of data, its header says {nbytes}")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
