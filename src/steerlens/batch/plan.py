"""Turn images, target rules, methods, regimes and budgets into content-addressed cases and fixed chunks.

A *case* is one (image, target, method, regime, budget) morph. Its key hashes the image's bytes, its
source label, its target (a class, or a rank among the driver's other classes), the full
:class:`~steerlens.config.MorphConfig` and the model's weights, so a rerun recognises finished work
whatever the file is called now.

Cases are cut into *chunks*, one ``morph_batch`` call each. A case's numbers depend slightly on
which other images share its batch (float noise of batched convolutions can flip a search
decision), so chunks are made deterministically: within each (method, regime, budget) group, cases
are sorted by image name, label and target and cut every ``batch_size`` cases. A chunk that has to
be run again (a killed worker, a resumed run) is always run whole, with the same composition.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from steerlens.batch.inputs import ImageItem, InputSet
from steerlens.config import MorphConfig
from steerlens.errors import ConfigError

__all__ = ["Case", "Chunk", "Group", "Plan", "TargetRule", "make_plan", "parse_target_rule"]


@dataclass(frozen=True)
class TargetRule:
    """How a case's target is chosen.

    Attributes
    ----------
    kind
        ``class`` (one fixed class for every image), ``runner-up`` (the driver's most probable class
        other than the source), ``all`` (every other class, most probable first, at most
        ``max_targets``) or ``manifest`` (the manifest's ``target`` column).
    index
        The class for ``class``.
    max_targets
        Cap for ``all``.
    """

    kind: str
    index: int | None = None
    max_targets: int = 10

    def label(self) -> str:
        """How the rule is written in the table's ``target_rule`` column."""
        return str(self.index) if self.kind == "class" else self.kind


def parse_target_rule(
    text: str | None, class_names: Sequence[str], items: Sequence[ImageItem], max_targets: int = 10
) -> TargetRule:
    """Read ``--target``: a class name or index, ``runner-up``, ``all`` or ``manifest``.

    Without ``--target``, a manifest's ``target`` column is used when every row has one, and the
    runner-up otherwise.

    Examples
    --------
    >>> names = [str(i) for i in range(10)]
    >>> parse_target_rule("8", names, []), parse_target_rule("all", names, [], 3).max_targets
    (TargetRule(kind='class', index=8, max_targets=10), 3)
    """
    from steerlens.targets import resolve_target

    if max_targets < 1:
        raise ConfigError(f"--max-targets must be at least 1, got {max_targets}")
    given = [i for i in items if i.target is not None]
    key = None if text is None else text.strip().lower()
    if key is None:
        key = "manifest" if given else "runner-up"
    if key == "manifest":
        missing = [i.name for i in items if i.target is None]
        if not given or missing:
            first = missing[0] if missing else "every row"
            raise ConfigError(
                f"--target manifest needs a 'target' in every manifest row ({first} has none); "
                "fill them in or pass --target runner-up|all|CLASS"
            )
        return TargetRule("manifest")
    if key in ("runner-up", "runnerup"):
        return TargetRule("runner-up")
    if key == "all":
        return TargetRule("all", max_targets=max_targets)
    return TargetRule("class", index=resolve_target(text.strip(), class_names))


@dataclass(frozen=True)
class Group:
    """One (method, regime, budget) setting: every case of a group shares one ``MorphConfig``."""

    method: str
    regime: str
    budget: float | None
    config: dict[str, Any]
    settings_hash: str


@dataclass(frozen=True)
class Case:
    """One morph to run.

    Attributes
    ----------
    key
        Content hash naming the case (its folder and its row).
    item
        The image.
    label_index
        Source class index from the input's label, or ``None``.
    target_kind, target_value
        ``("class", t)``: morph toward class ``t``; ``("rank", r)``: toward the r-th most probable
        class other than the source (1 = runner-up), resolved by the worker.
    rule
        The ``--target`` rule as the table shows it.
    group
        Index of the case's :class:`Group` in :attr:`Plan.groups`.
    """

    key: str
    item: ImageItem
    label_index: int | None
    target_kind: str
    target_value: int
    rule: str
    group: int


@dataclass(frozen=True)
class Chunk:
    """Cases run together in one ``morph_batch`` call (always with this exact composition)."""

    chunk_id: str
    group: int
    cases: tuple[Case, ...]


@dataclass
class Plan:
    """Every case and chunk of a batch, plus the identity its output folder must match."""

    groups: list[Group]
    cases: list[Case]
    chunks: list[Chunk]
    identity: dict[str, Any]
    duplicates: int = 0
    rule: TargetRule = field(default_factory=lambda: TargetRule("runner-up"))


def _sha(text: str, n: int = 64) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def make_plan(
    inputs: InputSet,
    rule: TargetRule,
    class_names: Sequence[str],
    model_sha256: str,
    base: MorphConfig,
    methods: Sequence[str],
    regimes: Sequence[str],
    budgets: Sequence[float | None],
    batch_size: int,
    judges: dict[str, str] | None = None,
    image_shape: Sequence[int] = (),
) -> Plan:
    """Build the cases and chunks of a batch.

    Parameters
    ----------
    inputs
        The images (:func:`~steerlens.batch.inputs.read_inputs`).
    rule
        The target rule (:func:`parse_target_rule`).
    class_names
        The driver's classes.
    model_sha256
        SHA-256 of the driver's weights (part of every case key).
    base
        Every morph option except method, regime and budget.
    methods, regimes, budgets
        The groups, in this order (``None`` budget: aim at ``goal_p``).
    batch_size
        Cases per chunk.
    judges
        Judge name -> weights SHA-256 (part of the identity).
    image_shape
        ``(C, H, W)`` the images are brought to.

    Examples
    --------
    >>> from steerlens.batch.inputs import InputSet, ImageItem
    >>> items = [ImageItem(f"/x/{i}.png", f"{i}.png", str(i) * 64) for i in range(5)]
    >>> p = make_plan(InputSet("folder", items, "/x"), TargetRule("runner-up"), ["a", "b", "c"],
    ...               "f" * 64, MorphConfig(), ["csp-phase", "pixel"], ["one-step"], [None], 2)
    >>> len(p.cases), [len(c.cases) for c in p.chunks]
    (10, [2, 2, 1, 2, 2, 1])
    """
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if not methods or not regimes or not budgets:
        raise ConfigError("--methods, --regime and --budgets need at least one value each")
    shared = {k: v for k, v in base.to_dict().items() if k not in ("method", "regime", "l2_budget")}
    groups = []
    for method, regime, budget in itertools.product(methods, regimes, budgets):
        cfg = replace(base, method=method, regime=regime, l2_budget=budget).validate()
        d = cfg.to_dict()
        settings = json.dumps(
            {"config": d, "model": model_sha256, "judges": judges or {}, "shape": list(image_shape)},
            sort_keys=True,
        )
        groups.append(Group(cfg.method, cfg.regime, budget, d, _sha(settings, 16)))
    labels = {}
    for item in inputs.items:
        if item.label is not None and item.label not in labels:
            from steerlens.targets import resolve_target

            labels[item.label] = resolve_target(item.label, class_names)
    cases: list[Case] = []
    seen: set[str] = set()
    duplicates = 0
    for gi, group in enumerate(groups):
        for item in inputs.items:
            label = labels.get(item.label) if item.label is not None else None
            for kind, value in _targets(rule, item, class_names):
                text = f"{item.sha256}|{label}|{kind}={value}|{group.settings_hash}"
                key = _sha(text, 24)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                cases.append(Case(key, item, label, kind, value, rule.label(), gi))
    chunks = _chunk(cases, batch_size)
    identity = {
        "model_sha256": model_sha256,
        "settings": _jsonable(shared),
        "batch_size": batch_size,
        "judges": judges or {},
        "image_shape": list(image_shape),
    }
    return Plan(groups, cases, chunks, identity, duplicates // max(1, len(groups)), rule)


def _targets(rule: TargetRule, item: ImageItem, class_names: Sequence[str]) -> list[tuple[str, int]]:
    if rule.kind == "class":
        return [("class", int(rule.index))]
    if rule.kind == "manifest":
        return [("class", list(class_names).index(item.target))]
    if rule.kind == "runner-up":
        return [("rank", 1)]
    n = min(rule.max_targets, len(class_names) - 1)
    return [("rank", r) for r in range(1, n + 1)]


def _chunk(cases: list[Case], batch_size: int) -> list[Chunk]:
    chunks = []
    by_group: dict[int, list[Case]] = {}
    for c in cases:
        by_group.setdefault(c.group, []).append(c)
    for gi in sorted(by_group):
        ordered = sorted(
            by_group[gi], key=lambda c: (c.item.name, -1 if c.label_index is None else c.label_index, c.target_kind,
                           c.target_value),
        )
        for i in range(0, len(ordered), batch_size):
            part = tuple(ordered[i : i + batch_size])
            cid = _sha("|".join(c.key for c in part), 12)
            chunks.append(Chunk(cid, gi, part))
    return chunks


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
