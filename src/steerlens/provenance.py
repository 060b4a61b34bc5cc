"""Where a result was computed: git commit, machine, CPU, thread count and library versions.

Experiments (``results/*/README.md``, ``results.json``) and benchmarks (``benchmarks/results``)
record the same facts through these helpers. Results can differ in the last bits between torch
thread counts, so the thread count is always part of the record.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

__all__ = ["cpu_cores", "cpu_model", "git_commit", "library_versions", "machine_info", "source_commit"]


def _read_head(d: Path) -> str:
    """Commit of the checkout whose top folder is ``d`` (``d/.git`` exists)."""
    g = d / ".git"
    if g.is_file():  # worktree or submodule: "gitdir: <path>"
        g = (d / g.read_text().split(":", 1)[1].strip()).resolve()
    common = g
    if (g / "commondir").is_file():
        common = (g / (g / "commondir").read_text().strip()).resolve()
    head = (g / "HEAD").read_text().strip()
    if not head.startswith("ref:"):
        return head
    ref = head.split(":", 1)[1].strip()
    for root in (g, common):
        if (root / ref).is_file():
            return (root / ref).read_text().strip()
        packed = root / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    return "unknown"


def _is_dirty(top: Path) -> bool:
    # --no-optional-locks: a read-only status must not take the index lock of a working checkout
    out = subprocess.run(
        ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
        cwd=top, capture_output=True, text=True, check=True,
    ).stdout
    return bool(out.strip())


def git_commit(start: str | Path = ".", dirty: bool = False) -> str:
    """Commit hash of the checkout containing ``start``, read from ``.git`` (no git process).

    Parameters
    ----------
    start
        Any path inside the checkout.
    dirty
        Append ``-dirty`` when tracked files have uncommitted changes (this runs ``git status``).

    Returns
    -------
    str
        40 hex digits (plus ``-dirty``), or ``"unknown"`` outside a git checkout, before the first
        commit, or when git cannot be run for ``dirty``.

    Examples
    --------
    >>> import tempfile
    >>> git_commit(tempfile.mkdtemp())
    'unknown'
    >>> len(git_commit(__file__))  # doctest: +SKIP
    40
    """
    here = Path(start).resolve()
    for d in [here, *here.parents]:
        if not (d / ".git").exists():
            continue
        try:
            head = _read_head(d)
            if dirty and head != "unknown" and _is_dirty(d):
                head += "-dirty"
            return head
        except (OSError, IndexError, subprocess.CalledProcessError):
            return "unknown"
    return "unknown"


def source_commit() -> str:
    """Commit of the working folder's checkout, else of the checkout steerlens was imported from.

    Examples
    --------
    >>> isinstance(source_commit(), str)
    True
    """
    c = git_commit(Path.cwd())
    return c if c != "unknown" else git_commit(Path(__file__).parent)


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (falls back to ``platform.processor()``).

    Examples
    --------
    >>> bool(cpu_model())
    True
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask), else ``os.cpu_count()``.

    Examples
    --------
    >>> cpu_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def library_versions() -> dict[str, str | None]:
    """Python, torch, torch's CUDA and steerlens versions.

    Examples
    --------
    >>> sorted(library_versions())
    ['cuda', 'python', 'steerlens', 'torch']
    """
    from steerlens import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "steerlens": __version__,
    }


def machine_info() -> dict[str, Any]:
    """Host, CPU, core and torch thread counts and library versions, for a results README.

    Examples
    --------
    >>> info = machine_info()
    >>> info["torch_threads"] == torch.get_num_threads(), info["cpu_count"] >= info["cpu_cores"]
    (True, True)
    """
    versions = library_versions()
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_cores": cpu_cores(),
        "torch_threads": torch.get_num_threads(),
        "python": versions["python"],
        "torch": versions["torch"],
        "steerlens": versions["steerlens"],
        "cuda": torch.cuda.is_available(),
    }
