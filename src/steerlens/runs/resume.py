"""The one resume rule: which chunks (``morph_batch`` calls) to run, with which composition.

A case's numbers depend in the last bits on the other images of its chunk (batched convolutions),
and those bits can flip a search decision. So a chunk is always run with the composition it was
first given: a case still needed whose chunk is known (planned deterministically by ``steerlens
batch``, journalled in ``batches.jsonl`` by ``steerlens experiment``) is recomputed in exactly that
chunk; only cases that were never in a chunk are cut into new ones. The caller records only the
cases it still needed, so a case appears once however often its chunk runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["chunks_to_run"]


def chunks_to_run(
    order: Sequence[str],
    needed: set[str],
    recorded: Callable[[str], Sequence[str] | None],
    size: int,
) -> list[list[str]]:
    """The chunks that compute the ``needed`` cases among ``order``.

    A needed case whose chunk was recorded (and whose chunk mates all belong to ``order``) is
    recomputed in exactly that chunk; the others are cut in ``order`` into chunks of ``size``.
    Recorded chunks come first, in the order of their first needed case.

    Parameters
    ----------
    order
        Case keys in their planned order.
    needed
        Keys to compute (not finished, or finished without what is asked now).
    recorded
        ``key -> ordered keys of its chunk`` (``None``: not in any chunk yet).
    size
        Size of new chunks.

    Examples
    --------
    >>> log = {"c": ["c", "d"], "d": ["c", "d"]}
    >>> chunks_to_run(list("abcdef"), {"a", "b", "d", "e", "f"}, log.get, 2)
    [['c', 'd'], ['a', 'b'], ['e', 'f']]
    """
    members = set(order)
    plans: list[list[str]] = []
    covered: set[str] = set()
    for k in order:
        if k not in needed or k in covered:
            continue
        keys = recorded(k)
        if keys and k in keys and set(keys) <= members:
            plans.append(list(keys))
            covered.update(keys)
    rest = [k for k in order if k in needed and k not in covered]
    return plans + [rest[i : i + size] for i in range(0, len(rest), size)]
