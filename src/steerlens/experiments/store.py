"""Append-only JSON-lines journals of an experiment, so an interrupted run resumes where it stopped.

``cases.jsonl`` (:class:`CaseStore`) holds one finished case per line, named by a ``key``
(dataset, driver, regime, budget, method, variant, source id). ``batches.jsonl``
(:class:`BatchLog`) holds one line per :func:`~steerlens.api.morph_batch` call, written before the
call: its id and the ordered case keys it ran. A case's numbers depend (in the last bits, which can
flip a search decision) on the other images of its batch, so a resumed run recomputes a missing case
in exactly its recorded batch and gets the numbers an uninterrupted run would have.

Both are :class:`steerlens.journal.Journal` files, the format and torn-line rule a batch's journal
follows too: a line cut short by a crash is detected on load, dropped, and the file is rewritten
without it (atomically) before anything is appended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from steerlens.journal import Journal

__all__ = ["BatchLog", "CaseStore", "JsonlJournal", "batch_id", "case_key"]


def case_key(
    dataset: str, driver: str, regime: str, budget: float, method: str, variant: str, source_id: str
) -> str:
    """Unique, human-readable key of one case.

    Examples
    --------
    >>> case_key("mnist", "standard", "one-step", 2.0, "pixel", "default", "test-0001")
    'mnist|standard|one-step|L2=2|pixel|default|test-0001'
    """
    return f"{dataset}|{driver}|{regime}|L2={budget:g}|{method}|{variant}|{source_id}"


def batch_id(keys: Sequence[str]) -> str:
    """Short id of an ordered list of case keys (16 hex digits of its SHA-256).

    Examples
    --------
    >>> batch_id(["a", "b"]) != batch_id(["b", "a"]), len(batch_id(["a"]))
    (True, 16)
    """
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


class JsonlJournal(Journal):
    """A :class:`~steerlens.journal.Journal` loaded and repaired on creation (an experiment owns its
    folder while it runs): lines that are not a JSON object with ``id_field`` are dropped, counted
    in :attr:`dropped`, and the file is rewritten without them.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_text('{"id": "a"}\\n{"id": "b", "x')
    >>> j = JsonlJournal(p, "id")
    >>> sorted(j.records), j.dropped, p.read_text()
    (['a'], 1, '{"id": "a"}\\n')
    """

    def __init__(self, path: str | Path, id_field: str) -> None:
        super().__init__(path, id_field)
        self.load()
        self.repair()


class CaseStore(JsonlJournal):
    """Per-case records in ``path`` (``cases.jsonl``), keyed by ``key``.

    Examples
    --------
    >>> import tempfile
    >>> s = CaseStore(Path(tempfile.mkdtemp()) / "cases.jsonl")
    >>> s.append([{"key": "a", "l2": 1.0}])
    >>> "a" in s, len(CaseStore(s.path))
    (True, 1)
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, "key")


class BatchLog(JsonlJournal):
    """The composition of every ``morph_batch`` call (``batches.jsonl``), keyed by ``batch``.

    Examples
    --------
    >>> import tempfile
    >>> log = BatchLog(Path(tempfile.mkdtemp()) / "batches.jsonl")
    >>> b = log.record(["k1", "k2"], torch_threads=1)
    >>> log.batch_of("k2") == b, log.records[b]["keys"]
    (True, ['k1', 'k2'])
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, "batch")
        self._of: dict[str, str] = {}
        for rec in self.records.values():
            self._index(rec)

    def _index(self, rec: dict[str, Any]) -> None:
        for k in rec.get("keys", []):
            self._of[k] = rec["batch"]

    def record(self, keys: Sequence[str], **extra: Any) -> str:
        """Journal one batch (before it runs) and return its id; a known batch is not repeated."""
        bid = batch_id(keys)
        if bid not in self.records:
            self.append([{"batch": bid, "keys": list(keys), **extra}])
            self._index(self.records[bid])
        return bid

    def batch_of(self, key: str) -> str | None:
        """Id of the latest recorded batch that ran case ``key``, or ``None``."""
        return self._of.get(key)
