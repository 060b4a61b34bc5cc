"""A seeded order of rating items in which the same source never appears twice in a row.

Each step draws uniformly at random among the items that keep the rest arrangeable: an item of a
source other than the previous one, after which every remaining source still fits between the
others. A multiset of ``n`` items (the previous one counted first) can be laid out with no two
neighbours from the same source, starting with the previous one, exactly when that source has at
most ``ceil(n / 2)`` items and every other source at most ``floor(n / 2)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

from steerlens.errors import ConfigError

__all__ = ["no_repeat_order"]


def _fits(counts: Counter, prev: Hashable | None) -> bool:
    n = sum(counts.values()) + (prev is not None)
    for s, c in counts.items():
        limit = (n + 1) // 2 - 1 if s == prev else n // 2 if prev is not None else (n + 1) // 2
        if c > limit:
            return False
    return True


def no_repeat_order(sources: Sequence[Hashable], rng: np.random.Generator) -> list[int]:
    """A random order of ``range(len(sources))`` with no two neighbours of the same source.

    Parameters
    ----------
    sources
        The source of each item.
    rng
        The seeded generator that draws the order.

    Raises
    ------
    ConfigError
        One source has more than half of the items (rounded up), so no such order exists.

    Examples
    --------
    >>> order = no_repeat_order(list("aaabbc"), np.random.default_rng(0))
    >>> sorted(order) == list(range(6)), all(
    ...     "aaabbc"[i] != "aaabbc"[j] for i, j in zip(order, order[1:]))
    (True, True)
    """
    counts = Counter(sources)
    if not _fits(counts, None):
        source, most = counts.most_common(1)[0]
        raise ConfigError(
            f"source {source} has {most} of the {len(sources)} items, more than half, so it would "
            "appear twice in a row; add morphs of other sources or rate fewer of this one"
        )
    left: dict[Hashable, list[int]] = {}
    for i, s in enumerate(sources):
        left.setdefault(s, []).append(i)
    order: list[int] = []
    prev: Hashable | None = None
    for _ in range(len(sources)):
        options = []
        for s, items in left.items():
            if s == prev or not items:
                continue
            counts[s] -= 1
            if _fits(+counts, s):
                options.extend(items)
            counts[s] += 1
        pick = options[int(rng.integers(len(options)))]
        s = sources[pick]
        left[s].remove(pick)
        counts[s] -= 1
        order.append(pick)
        prev = s
    return order
