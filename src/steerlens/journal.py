"""Reading JSON-lines journals that an interrupted run may have left with a torn last line.

One reader for every journal steerlens keeps: an experiment's ``cases.jsonl`` / ``batches.jsonl``
(:mod:`steerlens.experiments.store`, which also repairs the file before appending), a batch's
``cases.jsonl`` (:mod:`steerlens.batch.store`) and the report, which reads a results folder without
changing it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["JournalContents", "read_jsonl"]


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
