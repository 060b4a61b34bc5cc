"""The batch output folder: identity, the case journal, per-case folders and the results table.

Layout of ``--out``::

    batch.json          what the folder belongs to (model weights, settings, batch size, judges)
    cases.jsonl         journal: one finished case per line, appended by the driver only
    cases/ab/<key>/     per-case artefacts (result.json, final.png, ... or the full set), atomic
    results.parquet     the table, one row per case (rewritten atomically from the journal)
    results.csv         the same table as CSV; text cells a spreadsheet would run as a formula
                        (starting with = + - @, tab or CR) get a leading ' (see :func:`csv_safe`)
    summary.md          per method/regime/budget summary
    .lock               held by the one driver writing the folder

The journal is a :class:`steerlens.journal.Journal` (the format an experiment keeps too). A case
counts as finished when its journal line parses and, where artefacts were asked for, its folder
holds ``result.json``; anything else (a torn last line, a folder deleted by hand) is recomputed,
and a torn line is removed from the journal (:meth:`BatchStore.repair`) before the run appends. Artefacts are written before the journal line, so a crash between the two only costs a
recomputation, never a row without its files.
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
from steerlens.journal import Journal
from steerlens.outputs import TMP_PREFIX, atomic_dir, write_json

__all__ = ["COLUMNS", "FORMULA_START", "BatchStore", "csv_safe", "sort_key"]

#: fixed columns of the results table and their Arrow types (judge columns are added per judge)
COLUMNS: dict[str, str] = {
    "case_key": "string", "status": "string", "error": "string",
    "image": "string", "image_sha256": "string", "source_label": "string",
    "source_label_index": "int64", "target_rule": "string", "target_rank": "int64",
    "target": "int64", "target_name": "string",
    "method": "string", "regime": "string", "budget": "float64",
    "l2": "float64", "reached": "bool_", "succeeded": "bool_", "overshoot": "bool_",
    "ssim_end": "float64", "looks_adversarial": "bool_",
    "stop_reason": "string", "amplification": "float64", "frames": "int64",
    "p_target_start": "float64", "p_target_end": "float64",
    "p_source_start": "float64", "p_source_end": "float64",
    "top1_start": "int64", "top1_start_name": "string", "top1_end": "int64", "top1_end_name": "string",
    "max_abs_dphi": "float64", "peak_abs_dphi": "float64", "frac_wrapped": "float64",
    "mean_displacement_px": "float64", "max_displacement_px": "float64", "phase_explained": "float64",
    "time_case_s": "float64", "artefact_s": "float64", "load_s": "float64",
    "settings_hash": "string", "model": "string", "model_sha256": "string",
    "chunk_id": "string", "chunk_pos": "int64", "chunk_len": "int64",
    "device": "string", "torch_threads": "int64", "worker": "string",
    "artefacts": "string", "artefact_dir": "string",
}
_LEVELS = ("none", "final", "all")
#: first characters that make a spreadsheet read a CSV cell as a formula (OWASP's list)
FORMULA_START = "=+-@\t\r"
_FORMULA_PATTERN = r"^[=+\-@\t\r]"


def sort_key(row: dict[str, Any]) -> tuple:
    """Order of the table's rows: method, regime, budget, image, target rule, target rank/class."""
    b = row.get("budget")
    return (
        str(row.get("method")), str(row.get("regime")), -1.0 if b is None else float(b),
        str(row.get("image")), str(row.get("source_label")), str(row.get("target_rule")),
        row.get("target_rank") or 0, row.get("target") if row.get("target") is not None else -1,
    )


class BatchStore:
    """The output folder of one batch (see the module docstring for its layout).

    Parameters
    ----------
    out
        The ``--out`` folder; created on :meth:`claim`.

    Examples
    --------
    >>> import tempfile
    >>> store = BatchStore(Path(tempfile.mkdtemp()) / "run")
    >>> store.claim({"model_sha256": "ab" * 32, "model": "m"})
    >>> store.record({"case_key": "k1", "status": "failed", "error": "bad"}, {})
    >>> BatchStore(store.out).load(), "k1" in store.rows
    (1, True)
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.journal = self.out / "cases.jsonl"
        self._log = Journal(self.journal, "case_key", required=("status",))
        self.rows: dict[str, dict[str, Any]] = {}
        self.torn = 0

    # ----------------------------------------------------------------- exclusive use
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold ``.lock`` in the folder for a run: a second driver on the same folder is refused.

        Temporary files and folders an interrupted run left behind are removed once the lock is
        held (only the lock holder writes here).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / ".lock", "a+") as f:
            try:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # pragma: no cover - not POSIX: no lock
                pass
            except OSError:
                raise ConfigError(
                    f"another steerlens batch is writing to {self.out}; wait for it or choose "
                    "another --out"
                ) from None
            for tmp in [*self.out.glob(TMP_PREFIX + "*"), *self.out.glob(f"cases/*/{TMP_PREFIX}*")]:
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink(missing_ok=True)
            yield

    # ----------------------------------------------------------------- identity
    def claim(self, identity: dict[str, Any]) -> None:
        """Write ``batch.json``, or refuse (one line) a folder that belongs to another model/settings."""
        path = self.out / "batch.json"
        if path.is_file():
            try:
                old = json.loads(path.read_text())
            except (json.JSONDecodeError, OSError):
                raise ConfigError(f"{path} is unreadable; remove it or choose another --out") from None
            for key in ("model_sha256", "settings", "batch_size", "judges", "image_shape"):
                if old.get(key) != identity.get(key):
                    raise ConfigError(_mismatch(self.out, key, old, identity))
            return
        if self.out.is_dir() and any(p for p in self.out.iterdir() if not p.name.startswith(".")):
            raise ConfigError(
                f"--out {self.out} is not empty and holds no batch.json; choose an empty or new folder"
            )
        write_json(path, identity)

    # ----------------------------------------------------------------- journal
    def load(self) -> int:
        """Read the journal; returns the number of cases recorded (torn lines are dropped)."""
        self.rows.clear()
        self._log.load()
        self.rows.update(self._log.records)
        self.torn = self._log.dropped
        return len(self.rows)

    def repair(self) -> None:
        """Rewrite the journal without the torn lines :meth:`load` dropped (hold :meth:`locked`)."""
        self._log.repair()

    def done(self, key: str, artefacts: str, retry_failed: bool = False) -> bool:
        """Whether case ``key`` is finished with at least the ``artefacts`` level asked for."""
        row = self.rows.get(key)
        if row is None:
            return False
        if row.get("status") != "ok":
            return not retry_failed
        if _LEVELS.index(row.get("artefacts") or "none") < _LEVELS.index(artefacts):
            return False
        return artefacts == "none" or (self.case_dir(key) / "result.json").is_file()

    def case_dir(self, key: str) -> Path:
        """Content-addressed folder of one case."""
        return self.out / "cases" / key[:2] / key

    def record(self, row: dict[str, Any], files: dict[str, bytes]) -> None:
        """Write a case's files (atomically, as one folder), then append its journal line."""
        key = row["case_key"]
        if files:
            target = self.case_dir(key)
            with atomic_dir(target) as tmp:
                for name, data in files.items():
                    (tmp / name).write_bytes(data)
            row["artefact_dir"] = target.relative_to(self.out).as_posix()
        else:
            row.setdefault("artefact_dir", None)
        self._log.append([row])
        self.rows[key] = row

    # ----------------------------------------------------------------- table
    def table_rows(self, keys: set[str] | None = None) -> list[dict[str, Any]]:
        """Every recorded case once (only those in ``keys`` when given), in table order."""
        rows = self.rows.values() if keys is None else (r for k, r in self.rows.items() if k in keys)
        return sorted(rows, key=sort_key)

    def write_table(self, keys: set[str] | None = None) -> list[Path]:
        """Rewrite ``results.parquet`` and ``results.csv`` from the journal (atomically).

        ``keys``: the cases of the current command; other cases of the folder (another method, an
        image whose bytes have changed since) stay in the journal and ``cases/`` but not the table.

        The journal is read again first, so the table holds exactly the cases whose lines are on
        disk, even when a signal arrived between a journal write and the bookkeeping after it.
        """
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self.load()
        rows = self.table_rows(keys)
        extra = sorted({k for r in rows for k in r if k not in COLUMNS})
        fields = [pa.field(k, getattr(pa, t)()) for k, t in COLUMNS.items()]
        fields += [pa.field(k, pa.int64() if k.endswith("top1_end") else pa.float64()) for k in extra]
        schema = pa.schema(fields)
        table = pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)
        paths = []
        for name, writer in (
            ("results.parquet", lambda t, p: pq.write_table(t, p)),  # the raw values
            ("results.csv", lambda t, p: pacsv.write_csv(csv_safe(t), p)),
        ):
            fd, tmp = tempfile.mkstemp(dir=self.out, prefix=TMP_PREFIX)
            os.close(fd)
            try:
                writer(table, tmp)
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.out / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            paths.append(self.out / name)
        return paths


def csv_safe(table: Any) -> Any:
    """``table`` with every text cell that starts like a formula prefixed by ``'`` (for CSV only).

    Spreadsheets run a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    as a formula (CSV injection); an image called ``=HYPERLINK(...).png`` would otherwise reach
    ``results.csv`` as one. OWASP's rule: prefix such cells with a single quote. Only text columns
    change: numbers (``-0.5`` in a float column) stay numbers. Parquet keeps the raw values.

    Parameters
    ----------
    table
        A ``pyarrow.Table``.

    Returns
    -------
    pyarrow.Table
        The same columns and types.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"image": ["=1+2.png", "a.png", "-x", None], "l2": [-1.5, 2.0, 0.0, 1.0]})
    >>> csv_safe(t).to_pydict()
    {'image': ["'=1+2.png", 'a.png', "'-x", None], 'l2': [-1.5, 2.0, 0.0, 1.0]}
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.match_substring_regex(column, _FORMULA_PATTERN)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def _mismatch(out: Path, key: str, old: dict, new: dict) -> str:
    if key == "model_sha256":
        return (
            f"--out {out} holds a batch of model {old.get('model')} (weights "
            f"{str(old.get('model_sha256'))[:12]}), not {new.get('model')} (weights "
            f"{str(new.get('model_sha256'))[:12]}); choose another --out or the same model"
        )
    if key == "settings":
        a, b = old.get("settings") or {}, new.get("settings") or {}
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        first = diff[0] if diff else "?"
        return (
            f"--out {out} was run with other settings ({first}: {a.get(first)!r} there, "
            f"{b.get(first)!r} now); choose another --out or the same settings"
        )
    return (
        f"--out {out} was run with {key} {old.get(key)!r}, not {new.get(key)!r}; choose another "
        "--out or the same value"
    )
