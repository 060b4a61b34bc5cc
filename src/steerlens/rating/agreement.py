"""Agreement between raters beyond chance: Cohen's kappa (two raters) and Fleiss' kappa (more).

Both are computed from their published formulas on nominal answers (``"yes"``/``"no"``, or a class
name), over the items that every rater answered.

- Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educational and Psychological
  Measurement* 20(1), 37-46: ``kappa = (p_o - p_e) / (1 - p_e)``, with ``p_o`` the observed share
  of items on which the two raters agree and ``p_e = sum_k p1(k) * p2(k)`` the agreement expected
  from each rater's own marginal shares.
- Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. *Psychological
  Bulletin* 76(5), 378-382: with ``n`` ratings per item and ``n_ik`` of them in category ``k``,
  ``P_i = (sum_k n_ik^2 - n) / (n (n - 1))``, ``P_bar = mean_i P_i``,
  ``p_k = sum_i n_ik / (N n)``, ``P_e = sum_k p_k^2`` and ``kappa = (P_bar - P_e) / (1 - P_e)``.

When chance agreement is total (``p_e = 1``: every rater gave the same single answer throughout),
kappa is undefined and these functions return ``nan``; the tables print it as "n/a".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

__all__ = ["cohen_kappa", "fleiss_kappa", "percent_agreement"]


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters' answers ``a`` and ``b`` on the same items (same order).

    Parameters
    ----------
    a, b
        One nominal answer per item from each rater; equal lengths, at least one item.

    Returns
    -------
    float
        Kappa in [-1, 1], or ``nan`` when the expected agreement is 1.

    Examples
    --------
    Cohen's 2x2 example (50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no): ``p_o = 0.7``,
    ``p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5``, so kappa = 0.4.

    >>> a = ["y"] * 25 + ["n"] * 25
    >>> b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    >>> round(cohen_kappa(a, b), 10)
    0.4
    """
    if len(a) != len(b):
        raise ValueError(f"the two raters answered {len(a)} and {len(b)} items; pass the same items")
    n = len(a)
    if n == 0:
        return math.nan
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if math.isclose(p_e, 1.0):
        return math.nan
    return (p_o - p_e) / (1 - p_e)


def fleiss_kappa(table: Sequence[Sequence[Hashable]]) -> float:
    """Fleiss' kappa of ``table``: one row per item, each holding the answers of its ``n`` raters.

    Parameters
    ----------
    table
        ``table[i]`` lists the ``n >= 2`` answers given to item ``i`` (the same ``n`` for every
        item; which rater gave which answer does not matter).

    Returns
    -------
    float
        Kappa (at most 1), or ``nan`` when the expected agreement is 1.

    Examples
    --------
    Three raters, four items. Rows: (y, y, y), (y, y, n), (n, n, n), (y, n, n).
    ``P_i`` = 1, 1/3, 1, 1/3, so ``P_bar = 2/3``; ``p_yes = p_no = 6/12``, ``P_e = 1/2``;
    kappa = (2/3 - 1/2) / (1/2) = 1/3.

    >>> rows = [["y", "y", "y"], ["y", "y", "n"], ["n", "n", "n"], ["y", "n", "n"]]
    >>> round(fleiss_kappa(rows), 10)
    0.3333333333
    """
    if not table:
        return math.nan
    n = len(table[0])
    if n < 2 or any(len(row) != n for row in table):
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of answers for every item")
    big_n = len(table)
    totals: Counter = Counter()
    p_bar = 0.0
    for row in table:
        counts = Counter(row)
        totals.update(counts)
        p_bar += (sum(c * c for c in counts.values()) - n) / (n * (n - 1))
    p_bar /= big_n
    p_e = sum((c / (big_n * n)) ** 2 for c in totals.values())
    if math.isclose(p_e, 1.0):
        return math.nan
    return (p_bar - p_e) / (1 - p_e)


def percent_agreement(table: Sequence[Sequence[Hashable]]) -> float:
    """Share of items on which every rater gave the same answer.

    Examples
    --------
    >>> percent_agreement([["y", "y"], ["y", "n"], ["n", "n"], ["n", "n"]])
    0.75
    """
    if not table:
        return math.nan
    return sum(len(set(row)) == 1 for row in table) / len(table)
