"""Append-only JSONL cache of per-case results, so an interrupted experiment resumes where it stopped.

Each line is one finished case with a ``key`` naming it uniquely (dataset, driver, regime, budget,
method, variant, source id). A run first reads the file and skips every case whose key is present;
a half-written last line (a crash mid-write) is ignored and the case recomputed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["CaseStore", "case_key"]


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


class CaseStore:
    """Per-case records in ``path`` (JSON lines), loaded on creation.

    Examples
    --------
    >>> import tempfile
    >>> s = CaseStore(Path(tempfile.mkdtemp()) / "cases.jsonl")
    >>> s.append([{"key": "a", "l2": 1.0}])
    >>> "a" in s, len(CaseStore(s.path))
    (True, 1)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn last line of an interrupted run
                if isinstance(rec, dict) and "key" in rec:
                    self.records[rec["key"]] = rec

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Add finished cases and flush them to disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        recs = list(records)
        if self.path.is_file() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, 2)
                torn = f.read(1) != b"\n"
        else:
            torn = False
        with open(self.path, "a") as f:
            if torn:
                f.write("\n")
            for rec in recs:
                f.write(json.dumps(rec, allow_nan=False) + "\n")
                self.records[rec["key"]] = rec
            f.flush()

    def values(self) -> list[dict[str, Any]]:
        """All records."""
        return list(self.records.values())
