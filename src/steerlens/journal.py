"""JSON-lines journals: the one format every resumable run of steerlens keeps.

A journal holds one JSON object per line, named by an id field (``case_key`` in a batch's
``cases.jsonl``, ``key`` in an experiment's ``cases.jsonl``, ``batch`` in its ``batches.jsonl``). The
rules, the same for every front end:

- Lines are strict JSON (NaN and infinity written as ``null``), appended in one write and flushed
  to disk (``fsync``) before the run goes on; a later line with the same id wins.
- A line that does not parse (the torn last line of a killed run, foreign bytes) is dropped on
  reading and counted; :meth:`Journal.repair` rewrites the file without it (atomically), and the
  run that holds the folder does so before it appends anything. Its case is recomputed.
- :func:`read_jsonl` reads without changing anything (the report reads folders that may still be
  running).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steerlens.outputs import dumps_json, write_text_atomic

__all__ = ["Journal", "JournalContents", "read_jsonl"]


@dataclass
class JournalContents:
    """What :func:`read_jsonl` found: records by id (file order; a later line with the same id
    wins), the good lines as read, and how many lines were dropped."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    dropped: int = 0
    ends_with_newline: bool = True


def read_jsonl(path: str | Path, id_field: str, required: Sequence[str] = ()) -> JournalContents:
    """Read a JSON-lines file, keeping the lines that are a JSON object with a string ``id_field``
    and every ``required`` key; others (a torn line, non-UTF-8 bytes, a foreign line) are dropped
    and counted. A missing file reads as empty. The file is never modified.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_bytes(b'{"id": "a"}\\n\\xff\\xfe\\n{"id": "b", "x')
    >>> j = read_jsonl(p, "id")
    >>> sorted(j.records), j.dropped
    (['a'], 2)
    """
    out = JournalContents()
    path = Path(path)
    if not path.is_file():
        return out
    raw = path.read_bytes()
    out.ends_with_newline = raw.endswith(b"\n")
    for chunk in raw.splitlines():
        try:
            line = chunk.decode("utf-8")
            rec = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            rec, line = None, ""
        ok = (isinstance(rec, dict) and isinstance(rec.get(id_field), str)
              and all(k in rec for k in required))
        if ok:
            out.records[rec[id_field]] = rec
            out.lines.append(line)
        elif chunk.strip():
            out.dropped += 1
    return out


class Journal:
    """An append-only JSON-lines journal keyed by ``id_field`` (see the module docstring).

    Parameters
    ----------
    path
        The ``.jsonl`` file (created on the first :meth:`append`).
    id_field
        The field that names a record.
    required
        Fields a line must have to count (others are dropped as torn).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_text('{"id": "a"}\\n{"id": "b", "x')
    >>> j = Journal(p, "id")
    >>> j.load(), j.dropped
    (1, 1)
    >>> j.repair(); p.read_text()
    '{"id": "a"}\\n'
    >>> j.append([{"id": "c", "v": float("nan")}]); p.read_text().splitlines()[-1]
    '{"id": "c", "v": null}'
    """

    def __init__(self, path: str | Path, id_field: str, required: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.id_field = id_field
        self.required = tuple(required)
        self.records: dict[str, dict[str, Any]] = {}
        self.dropped = 0
        self._contents = JournalContents()

    def load(self) -> int:
        """Read the file (without changing it); returns the number of records."""
        self._contents = read_jsonl(self.path, self.id_field, self.required)
        self.records = self._contents.records
        self.dropped = self._contents.dropped
        return len(self.records)

    def repair(self) -> None:
        """Rewrite the file without the lines :meth:`load` dropped, ending in a newline (atomic)."""
        found = self._contents
        if found.dropped or (found.lines and not found.ends_with_newline):
            write_text_atomic(self.path, "".join(line + "\n" for line in found.lines))
            self._contents = JournalContents(found.records, found.lines, 0, True)

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Add records (strict JSON, one line each) and flush them to disk in one write."""
        recs = [_finite(r) for r in records]
        if not recs:
            return
        text = "".join(dumps_json(r, indent=None) + "\n" for r in recs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            if f.tell() > 0 and _last_byte(self.path) != b"\n":
                f.write(b"\n")  # a torn line of an interrupted run stays on its own line
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())
        for rec in recs:
            self.records[rec[self.id_field]] = rec

    def __contains__(self, key: object) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def values(self) -> list[dict[str, Any]]:
        """All records, in file order."""
        return list(self.records.values())


def _finite(value: Any) -> Any:
    """``value`` with every NaN/inf float (also inside lists and dicts) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, 2)
        return f.read(1)
