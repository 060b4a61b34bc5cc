"""Resolve a user's target class (an index or a name) to a logit index.

Names match case-insensitively, and also when spaces, underscores and hyphens are ignored, so
``"Egyptian cat"``, ``"egyptian_cat"`` and ``"EgyptianCat"`` all resolve to the same class.
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Sequence

from steerlens.errors import TargetError

_SEPARATORS = re.compile(r"[\s_\-]+")
_INTEGER = re.compile(r"[+-]?\d+")


def normalize_name(name: str) -> str:
    """Lower-case ``name`` and drop spaces, underscores and hyphens.

    Examples
    --------
    >>> normalize_name("Egyptian_cat")
    'egyptiancat'
    """
    return _SEPARATORS.sub("", name).lower()


def resolve_target(target: int | str, class_names: Sequence[str]) -> int:
    """Return the logit index that ``target`` names.

    Parameters
    ----------
    target
        A class index (an ``int`` or a digit string such as ``"285"``), or a class name. An exact
        class name wins over the index reading, so models whose classes are called ``"0".."9"``
        behave as expected either way.
    class_names
        The model's class names, one per logit.

    Returns
    -------
    int
        Index into ``class_names``.

    Raises
    ------
    TargetError
        If the index is out of range or no class has that name; the one-line message lists up to
        five close names.

    Examples
    --------
    >>> names = ["tabby", "tiger cat", "Egyptian cat"]
    >>> resolve_target(2, names), resolve_target("TIGER_CAT", names), resolve_target("0", names)
    (2, 1, 0)
    """
    n = len(class_names)
    if isinstance(target, bool):
        raise TargetError(f"target must be a class index or name, got {target!r}")
    if isinstance(target, numbers.Integral):
        return _check_index(int(target), n)
    if not isinstance(target, str):
        raise TargetError(
            f"target must be a class index (0-{n - 1}) or a class name, got {type(target).__name__}"
        )
    text = target.strip()
    if not text:
        raise TargetError(f"target is empty; give a class index (0-{n - 1}) or a class name")
    if text in class_names:
        return list(class_names).index(text)
    if _INTEGER.fullmatch(text):
        return _check_index(int(text), n)
    for keyfn in (str.lower, normalize_name):
        key = keyfn(text)
        hits = [i for i, c in enumerate(class_names) if keyfn(c) == key]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            options = ", ".join(f"{class_names[i]!r} ({i})" for i in hits[:5])
            raise TargetError(
                f"target {target!r} matches several classes: {options}; give the exact name or index"
            )
    keys = [normalize_name(c) for c in class_names]
    raise TargetError(_miss_message(text, normalize_name(text), class_names, keys))


def _check_index(index: int, n: int) -> int:
    if not 0 <= index < n:
        raise TargetError(
            f"target index {index} is out of range; this model has {n} classes (0-{n - 1})"
        )
    return index


def _miss_message(text: str, key: str, class_names: Sequence[str], keys: list[str]) -> str:
    """One line naming the closest classes (difflib, then substring hits)."""
    close = difflib.get_close_matches(key, keys, n=5, cutoff=0.6)
    picks = [keys.index(k) for k in close]
    if key:
        picks += [i for i, k in enumerate(keys) if key in k and i not in picks]
    picks = picks[:5]
    n = len(class_names)
    if picks:
        options = ", ".join(f"{class_names[i]!r} ({i})" for i in picks)
        hint = f"did you mean {options}?"
    elif n <= 20:
        # Small label sets (digits, emotions): listing everything is the most useful hint.
        hint = "class names are " + ", ".join(f"{c!r} ({i})" for i, c in enumerate(class_names))
    else:
        hint = f"no close name; run 'steerlens models' or give an index 0-{n - 1}"
    return f"unknown target class {text!r}; {hint}"
