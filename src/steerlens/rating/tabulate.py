"""Tabulate exported ratings against the rating set's key.

Reads the CSV or JSON files exported by the rating page, checks that every one belongs to the set
of the key (the same set hash), and computes

- per method x regime x budget: the share of ratings with a clear change toward the target, with
  no corruption and (when asked) that look like the target class, each with a 95 % percentile
  bootstrap interval that resamples *sources* (:func:`steerlens.metrics.bootstrap.bootstrap_ci`
  with the source of each rating as its cluster; 2,000 draws, the paper's seed), beside the machine
  scores of the same items (driver success, mean final p(target), each judge's mean p(target));
- the same per rater;
- the agreement between raters on each question (Cohen's kappa for two raters, Fleiss' kappa for
  more, :mod:`steerlens.rating.agreement`) over the items every rater answered;
- the attention checks each rater passed (an unedited source answered "no clear change", a
  heavily corrupted control answered "corrupted").

Attention checks never enter the method rates.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from steerlens.errors import ConfigError
from steerlens.metrics.bootstrap import PAPER_SEED, bootstrap_ci
from steerlens.rating.agreement import cohen_kappa, fleiss_kappa, percent_agreement
from steerlens.rating.page import KEY_FORMAT
from steerlens.web.confine import JSON_MAX_BYTES, TABLE_MAX_BYTES, Confined

__all__ = ["Rating", "Tabulation", "read_key", "read_ratings", "tabulate", "write_tabulation"]

#: Columns every CSV export holds.
CSV_COLUMNS = ("set_hash", "rater", "item", "clear_change", "corrupted")
#: Answers of the yes/no questions.
YES_NO = ("yes", "no")
#: Bootstrap draws.
N_BOOT = 2000
#: Largest page read for the disagreement list's images.
PAGE_MAX_BYTES = 512 * 2**20


@dataclass(frozen=True)
class Rating:
    """One rater's answers on one item."""

    rater: str
    item: str
    change: str  #: "yes" / "no"
    corrupted: str  #: "yes" / "no"
    looks_like: str  #: a class name or ""
    answered: str  #: ISO time or ""
    file: str


def _unformula(text: str) -> str:
    """Undo the page's spreadsheet guard: a leading ``'`` before ``= + - @``."""
    return text[1:] if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r" else text


def read_key(path: str | Path) -> dict[str, Any]:
    """The key written beside a rating page, checked; ``ConfigError`` in one line otherwise."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"key {path} does not exist; pass the .key.json written beside the page")
    key = Confined([path.parent]).read_json(path, JSON_MAX_BYTES * 8)
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT or not isinstance(
            key.get("items"), dict) or not isinstance(key.get("set_hash"), str):
        raise ConfigError(f"{path} is not the key of a rating page (format {KEY_FORMAT}); "
                          "pass the .key.json written by steerlens rate")
    for item_id, rec in key["items"].items():
        if not isinstance(rec, dict) or not isinstance(rec.get("kind"), str):
            raise ConfigError(f"{path}: item {item_id!r} is damaged; rebuild the page")
    return key


def _rows_of(path: Path, reader: Confined) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".json":
        doc = reader.read_json(path, TABLE_MAX_BYTES)
        rows = doc.get("answers") if isinstance(doc, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError(f"{path} is not a ratings export (no list of answers); export it again")
        return rows
    text = reader.read_text(path, TABLE_MAX_BYTES)
    if "\0" in text:
        raise ConfigError(f"{path} holds a NUL byte; it is not a ratings export")
    try:
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error as e:
        raise ConfigError(f"{path} is not a readable CSV ({e}); export it again") from None
    if not rows or any(c not in rows[0] for c in CSV_COLUMNS):
        raise ConfigError(f"{path} lacks the columns {', '.join(CSV_COLUMNS)}; pass a CSV "
                          "exported by the rating page")
    return rows


def read_ratings(paths: Sequence[str | Path], key: dict[str, Any]) -> list[Rating]:
    """Every answered item of the exports ``paths``; ``ConfigError`` (one line) for a file of
    another rating set, an unknown item, an answer that is not one of the page's, or a rater who
    rated the same item twice."""
    files = [Path(p) for p in paths]
    if not files:
        raise ConfigError("give at least one ratings file (CSV or JSON exported by the page)")
    for f in files:
        if not f.exists():
            raise ConfigError(f"ratings file {f} does not exist")
    reader = Confined([f.parent for f in files])
    out: list[Rating] = []
    seen: dict[tuple[str, str], str] = {}
    want = key["set_hash"]
    for f in files:
        for n, row in enumerate(_rows_of(f, reader), start=2):
            got = str(row.get("set_hash") or "")
            if got != want:
                raise ConfigError(f"{f} holds ratings of set {got[:12] or '(none)'}, not of the key's "
                                  f"set {want[:12]}; pass the key written with that page")
            item = str(row.get("item") or "")
            if item not in key["items"]:
                raise ConfigError(f"{f} row {n}: item {item[:20]!r} is not in the key; export it again")
            change, corr = str(row.get("clear_change") or ""), str(row.get("corrupted") or "")
            looks = _unformula(str(row.get("looks_like") or ""))
            if not change and not corr and not looks:
                continue  # not answered
            if change not in YES_NO or corr not in YES_NO:
                raise ConfigError(f"{f} row {n}: answers must be yes or no, got "
                                  f"{change!r:.10} / {corr!r:.10}; export it again")
            rater = _unformula(str(row.get("rater") or "")).strip()
            if not rater:
                raise ConfigError(f"{f} row {n} has no rater name; export it again after entering one")
            if (rater, item) in seen:
                raise ConfigError(f"rater {rater!r} rated item {item} twice ({seen[rater, item]} and "
                                  f"{f}); pass each rater's export once")
            seen[rater, item] = str(f)
            out.append(Rating(rater, item, change, corr, looks, str(row.get("answered_utc") or ""),
                              str(f)))
    if not out:
        raise ConfigError("the ratings files hold no answered item")
    return out


def _group(rec: dict[str, Any]) -> tuple[str, str, str]:
    b = rec.get("budget")
    return (str(rec.get("method")), str(rec.get("regime")),
            "auto" if b is None else f"{float(b):g}")


def _rate(values: list[float], clusters: list[str]) -> dict[str, float]:
    ci = bootstrap_ci(values, stat=np.mean, n=N_BOOT, seed=PAPER_SEED, clusters=clusters)
    return {"estimate": ci.estimate, "low": ci.low, "high": ci.high, "n": len(values),
            "sources": ci.n_obs}


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


@dataclass
class Tabulation:
    """The tables of :func:`tabulate` (also written as ``ratings.json``)."""

    set_hash: str
    raters: list[str]
    groups: list[dict[str, Any]]
    by_rater: list[dict[str, Any]]
    agreement: list[dict[str, Any]]
    attention: list[dict[str, Any]]
    disagreements: list[dict[str, Any]]
    ask_class: bool
    n_items: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (NaN kappas as ``None``)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return clean({"format": "steerlens-ratings-table-1", "set_hash": self.set_hash,
                      "raters": self.raters, "n_items": self.n_items, "groups": self.groups,
                      "by_rater": self.by_rater, "agreement": self.agreement,
                      "attention": self.attention, "disagreements": self.disagreements})


def _rates(ratings: list[Rating], key: dict[str, Any], ask: bool) -> dict[str, Any]:
    items = key["items"]
    clusters = [str(items[r.item]["source"]) for r in ratings]
    out = {"clear_change": _rate([float(r.change == "yes") for r in ratings], clusters),
           "no_corruption": _rate([float(r.corrupted == "no") for r in ratings], clusters)}
    if ask:
        asked = [r for r in ratings if r.looks_like]
        if asked:
            out["looks_like_target"] = _rate(
                [float(r.looks_like == items[r.item]["target_name"]) for r in asked],
                [str(items[r.item]["source"]) for r in asked])
    return out


def _machine(item_ids: list[str], key: dict[str, Any]) -> dict[str, Any]:
    recs = [key["items"][i].get("scores") or {} for i in item_ids]
    out: dict[str, Any] = {}
    succ = [float(s["succeeded"]) for s in recs if isinstance(s.get("succeeded"), bool)]
    if succ:
        out["driver_success"] = float(np.mean(succ))
    p = _mean([s.get("p_target") for s in recs])
    if p is not None:
        out["driver_p_target"] = p
    judges = sorted({k for s in recs for k in s if k.startswith("judge_") and k.endswith("_p_target")})
    for j in judges:
        out[j] = _mean([s.get(j) for s in recs])
    return out


def tabulate(ratings: list[Rating], key: dict[str, Any]) -> Tabulation:
    """The rates, agreement, attention checks and disagreements of ``ratings`` (see the module).

    Examples
    --------
    >>> t = tabulate(read_ratings(["ratings-A.csv"], key), key)          # doctest: +SKIP
    >>> t.groups[0]["clear_change"]["estimate"]                           # doctest: +SKIP
    0.45
    """
    items = key["items"]
    ask = bool(key.get("ask_class"))
    raters = sorted({r.rater for r in ratings})
    morphs = [r for r in ratings if items[r.item]["kind"] == "morph"]
    by_group: dict[tuple[str, str, str], list[Rating]] = defaultdict(list)
    for r in morphs:
        by_group[_group(items[r.item])].append(r)
    groups = []
    for g in sorted(by_group):
        rs = by_group[g]
        ids = sorted({r.item for r in rs})
        groups.append({"method": g[0], "regime": g[1], "budget": g[2], "items": len(ids),
                       "ratings": len(rs), **_rates(rs, key, ask), "machine": _machine(ids, key)})
    by_rater = []
    for rater in raters:
        mine: dict[tuple[str, str, str], list[Rating]] = defaultdict(list)
        for r in morphs:
            if r.rater == rater:
                mine[_group(items[r.item])].append(r)
        for g in sorted(mine):
            by_rater.append({"rater": rater, "method": g[0], "regime": g[1], "budget": g[2],
                             "ratings": len(mine[g]), **_rates(mine[g], key, ask)})
    answers: dict[str, dict[str, Rating]] = defaultdict(dict)
    for r in morphs:
        answers[r.item][r.rater] = r
    common = sorted(i for i, a in answers.items() if len(a) == len(raters))
    agreement = []
    questions = [("clear change", "change"), ("corrupted", "corrupted")]
    if ask:
        questions.append(("looks like", "looks_like"))
    if len(raters) >= 2:
        for label, attr in questions:
            table = [[getattr(answers[i][rater], attr) for rater in raters] for i in common]
            if len(raters) == 2:
                kappa = cohen_kappa([t[0] for t in table], [t[1] for t in table])
                stat = "Cohen's kappa"
            else:
                kappa = fleiss_kappa(table) if table else math.nan
                stat = "Fleiss' kappa"
            agreement.append({"question": label, "raters": len(raters), "items": len(table),
                              "agreement": percent_agreement(table), "kappa": kappa,
                              "statistic": stat})
    attention = []
    for rater in raters:
        row: dict[str, Any] = {"rater": rater}
        for kind, attr, want, label in (("attention-unedited", "change", "no", "unedited"),
                                        ("attention-corrupted", "corrupted", "yes", "corrupted")):
            got = [getattr(r, attr) == want for r in ratings
                   if r.rater == rater and items[r.item]["kind"] == kind]
            row[label] = {"passed": int(sum(got)), "of": len(got)}
        if row["unedited"]["of"] or row["corrupted"]["of"]:
            attention.append(row)
    disagreements = []
    if len(raters) >= 2:
        for i in common:
            a = answers[i]
            differ = [label for label, attr in questions
                      if len({getattr(a[rater], attr) for rater in raters}) > 1]
            if differ:
                rec = items[i]
                disagreements.append({
                    "item": i, "position": rec.get("position"), "on": differ,
                    "method": rec.get("method"), "regime": rec.get("regime"),
                    "budget": _group(rec)[2], "source": rec.get("source_label"),
                    "target": rec.get("target_name"),
                    "answers": {rater: {"clear_change": a[rater].change,
                                        "corrupted": a[rater].corrupted,
                                        "looks_like": a[rater].looks_like} for rater in raters},
                })
        disagreements.sort(key=lambda d: d["position"] if isinstance(d["position"], int) else 0)
    return Tabulation(set_hash=key["set_hash"], raters=raters, groups=groups, by_rater=by_rater,
                      agreement=agreement, attention=attention, disagreements=disagreements,
                      ask_class=ask, n_items=len(items))


def _pct(rate: dict[str, Any] | None) -> str:
    if not rate:
        return ""
    return f"{100 * rate['estimate']:.1f} % [{100 * rate['low']:.1f}, {100 * rate['high']:.1f}]"


def _num(v: Any, fmt: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def markdown(t: Tabulation, key_name: str = "rate.key.json") -> str:
    """``ratings.md``: the tables of ``t`` as Markdown pipe tables."""
    judges = sorted({k for g in t.groups for k in g["machine"] if k.startswith("judge_")})
    head = ["method", "regime", "budget", "items", "ratings", "clear change", "no corruption"]
    if t.ask_class:
        head.append("looks like target")
    head += ["driver success", "driver p(target)"] + [
        f"judge {j[len('judge_'):-len('_p_target')]} p(target)" for j in judges]
    lines = [
        "# Human ratings (steerlens rate)", "",
        (f"Rating set `{t.set_hash[:12]}` (key `{key_name}`), {t.n_items} items; "
        f"{len(t.raters)} rater(s): {', '.join(t.raters)}. Rates are shares of ratings (rater x item) "
        "with a 95 % percentile bootstrap interval that resamples sources (2,000 draws, seed "
        f"{PAPER_SEED}). Machine columns are the same items' saved scores. Attention checks are "
        "not in the rates."), "",
        "## Rates by method", "",
        "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
    ]
    for g in t.groups:
        m = g["machine"]
        cells = [g["method"], g["regime"], g["budget"], str(g["items"]), str(g["ratings"]),
                 _pct(g["clear_change"]), _pct(g["no_corruption"])]
        if t.ask_class:
            cells.append(_pct(g.get("looks_like_target")))
        cells += [_num(m.get("driver_success"), ".2f"), _num(m.get("driver_p_target"))]
        cells += [_num(m.get(j)) for j in judges]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Rates by rater", "",
              "| rater | method | regime | budget | ratings | clear change | no corruption |",
              "|---|---|---|---|---|---|---|"]
    for r in t.by_rater:
        lines.append(f"| {r['rater']} | {r['method']} | {r['regime']} | {r['budget']} | "
                     f"{r['ratings']} | {_pct(r['clear_change'])} | {_pct(r['no_corruption'])} |")
    lines += ["", "## Agreement between raters", ""]
    if t.agreement:
        lines += ["| question | raters | items | agreement | kappa | statistic |",
                  "|---|---|---|---|---|---|"]
        for a in t.agreement:
            lines.append(f"| {a['question']} | {a['raters']} | {a['items']} | "
                         f"{_num(a['agreement'], '.2f')} | {_num(a['kappa'])} | {a['statistic']} |")
    else:
        lines.append("One rater: no agreement to compute.")
    lines += ["", "## Attention checks", ""]
    if t.attention:
        lines += ["| rater | unedited: no clear change | corrupted: flagged |", "|---|---|---|"]
        for a in t.attention:
            u, c = a["unedited"], a["corrupted"]
            lines.append(f"| {a['rater']} | {u['passed']} / {u['of']} | {c['passed']} / {c['of']} |")
    else:
        lines.append("The set has no attention checks.")
    return "\n".join(lines) + "\n"


def _page_images(key_path: Path, key: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The items of the rating page beside the key (its images), or ``{}`` without one."""
    import re

    name = key.get("page")
    if not isinstance(name, str) or "/" in name or not name:
        return {}
    page = key_path.parent / name
    reader = Confined([key_path.parent])
    if not reader.exists(page):
        return {}
    html = reader.read_text(page, PAGE_MAX_BYTES)
    m = re.search(r'<script type="application/json" id="rate-data">(.*?)</script>', html, re.DOTALL)
    try:
        data = json.loads(m.group(1)) if m else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("set") != key["set_hash"]:
        return {}
    return {it["id"]: it for it in data.get("items", []) if isinstance(it, dict) and "id" in it}


def disagreements_html(t: Tabulation, images: dict[str, dict[str, Any]]) -> str:
    """``disagreements.html``: every item the raters answered differently, unblinded."""
    from steerlens.web.render import REPORT_CSP, environment

    rows = []
    for d in t.disagreements:
        it = images.get(d["item"], {})
        uri_ok = lambda u: isinstance(u, str) and u.startswith("data:image/")
        rows.append(d | {"source_uri": it.get("source") if uri_ok(it.get("source")) else None,
                         "final_uri": it.get("final") if uri_ok(it.get("final")) else None})
    return environment().get_template("rate_disagreements.html").render(
        rows=rows, raters=t.raters, set_short=t.set_hash[:12], csp=REPORT_CSP,
        have_images=bool(images))


def write_tabulation(t: Tabulation, out: str | Path, key_path: str | Path,
                     key: dict[str, Any]) -> list[Path]:
    """Write ``ratings.md``, ``ratings.json`` and ``disagreements.html`` into ``out`` (atomically;
    other files there are left alone)."""
    from steerlens.outputs import atomic_dir, write_json

    key_path = Path(key_path)
    md = markdown(t, key_path.name)
    html = disagreements_html(t, _page_images(key_path, key))
    out = Path(out)
    with atomic_dir(out, merge=True) as tmp:
        (tmp / "ratings.md").write_text(md, encoding="utf-8")
        write_json(tmp / "ratings.json", t.as_dict())
        (tmp / "disagreements.html").write_text(html, encoding="utf-8")
    return [out / "ratings.md", out / "ratings.json", out / "disagreements.html"]
