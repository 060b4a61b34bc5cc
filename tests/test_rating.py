"""``steerlens rate``: the blinded page and its key, the order, kappa, and the tabulation.

The results rated are real (``tests/helpers/rating.py``: the real CLI and API on mnist-cnn).
The page in a browser (keyboard, autosave, export) is in ``test_rating_browser.py``.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers.rating import BATCH_METHODS, cli, make_results

from steerlens.errors import ConfigError
from steerlens.rating.agreement import cohen_kappa, fleiss_kappa, percent_agreement
from steerlens.rating.order import no_repeat_order

pytest.importorskip("jinja2")

DATA_RE = re.compile(r'<script type="application/json" id="rate-data">(.*?)</script>', re.DOTALL)
URI_RE = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Path]:
    return make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def rated(results, tmp_path_factory) -> dict:
    """A page with every option, built by the CLI from all four kinds of results."""
    out = tmp_path_factory.mktemp("page") / "rate.html"
    code, stdout, err = cli(["rate", *results.values(), "-o", out, "--seed", "7", "--ask-class",
                             "--attention-checks", "2", "--play"])
    assert code == 0, err
    html = out.read_text()
    key = json.loads((out.parent / "rate.key.json").read_text())
    data = json.loads(DATA_RE.search(html).group(1))
    return {"html": html, "key": key, "data": data, "page": out, "stdout": stdout}


def _names() -> list[str]:
    from steerlens.methods.registry import method_names
    from steerlens.regimes import REGIMES

    return [*method_names(), *REGIMES]


# ----------------------------------------------------------------------------- the page
def test_page_names_no_method_anywhere(rated, results):
    html, key, data = rated["html"], rated["key"], rated["data"]
    # what was rated really spans methods, regimes and budgets, all in the key
    kinds = Counter(r["kind"] for r in key["items"].values())
    assert kinds == {"morph": 12 + 3 + 1 + 1, "attention-unedited": 2, "attention-corrupted": 2}
    methods = {r["method"] for r in key["items"].values()} - {None}
    assert methods == {*BATCH_METHODS, "flow", "fourier-phase", "csp-joint"}
    assert {r["regime"] for r in key["items"].values()} - {None} == {"persistent", "one-step"}
    # ... and not one of their names is anywhere in the page: not in its text, its data, its images
    for name in _names():
        assert name not in html, name
    text = URI_RE.sub("", html)
    for name in [*_names(), "csp", "fourier"]:
        assert not re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", text, re.IGNORECASE), name
    # nor a path or a score: only ids, images, target names and class choices
    for path in results.values():
        assert str(path) not in html and path.name not in text
    assert set(data) == {"set", "format", "title", "questions", "items"}
    for item in data["items"]:
        assert set(item) <= {"id", "source", "final", "frames", "target", "choices"}
        assert re.fullmatch(r"i[0-9a-f]{10}", item["id"])
    assert [it["id"] for it in data["items"]] == key["order"]
    assert "p_target" not in text and "budget" not in text
    # self-contained: nothing is fetched
    assert "default-src &#39;none&#39;" in html or "default-src 'none'" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html) and "<link" not in html


def test_key_hash_and_reproducible_order(rated, results, tmp_path):
    data, key = rated["data"], rated["key"]
    body = {k: v for k, v in data.items() if k != "set"}
    from steerlens.outputs import dumps_json

    assert key["set_hash"] == data["set"] == hashlib.sha256(
        dumps_json(body, indent=None).encode()).hexdigest()
    assert key["seed"] == 7 and key["page"] == "rate.html" and key["n_items"] == len(data["items"])
    # the same source never twice in a row (attention checks included)
    sources = [key["items"][i]["source"] for i in key["order"]]
    assert all(a != b for a, b in itertools.pairwise(sources))
    # same folders and seed: the same page byte for byte; another seed: another order
    again = tmp_path / "again.html"
    assert cli(["rate", *results.values(), "-o", again, "--seed", "7", "--ask-class",
                "--attention-checks", "2", "--play", "-q"])[0] == 0
    assert again.read_text() == rated["html"]
    other = tmp_path / "other.html"
    assert cli(["rate", *results.values(), "-o", other, "--seed", "8", "-q"])[0] == 0
    okey = json.loads((tmp_path / "other.key.json").read_text())
    assert okey["set_hash"] != key["set_hash"]
    osources = [okey["items"][i]["source"] for i in okey["order"]]
    assert all(a != b for a, b in itertools.pairwise(osources)) and osources != sources


def test_items_show_source_final_and_the_right_frames(rated, results):
    """Each morph item shows the saved source and final frame; --play adds the frames between;
    the attention checks are the source itself and a heavily corrupted source."""
    import base64
    import io

    from PIL import Image

    from steerlens.rating.page import DISPLAY_SIDE

    def pixels(uri: str) -> np.ndarray:
        img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        return np.asarray(img)[::DISPLAY_SIDE // 28, ::DISPLAY_SIDE // 28]  # undo the enlargement

    key = rated["key"]
    saved = np.load(results["morph"] / "frames.npz")["frames_uint8"][..., 0]
    (mid,) = [i for i, r in key["items"].items() if r["method"] == "fourier-phase"]
    item = next(it for it in rated["data"]["items"] if it["id"] == mid)
    assert np.array_equal(pixels(item["source"]), saved[0])
    assert np.array_equal(pixels(item["final"]), saved[-1])
    assert [pixels(u).tolist() for u in item["frames"]] == [f.tolist() for f in saved[1:-1]]
    assert item["target"] == "5" and key["items"][mid]["target_name"] == "5"
    # --ask-class: the driver's top-5 on the shown frame plus the source class, shuffled
    assert set(item["choices"]) == {*key["items"][mid]["driver_top5"], "3"}
    for it in rated["data"]["items"]:
        rec = key["items"][it["id"]]
        src, fin = pixels(it["source"]).astype(int), pixels(it["final"]).astype(int)
        if rec["kind"] == "attention-unedited":
            assert np.array_equal(src, fin)
        elif rec["kind"] == "attention-corrupted":
            # noise of std 0.3 * 255: E|n| = 61 grey levels, about half of it left on black after clipping
            assert np.abs(fin - src).mean() > 25


def test_order_rule_and_impossible_sets():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, k = int(rng.integers(1, 14)), int(rng.integers(1, 5))
        sources = rng.integers(0, k, size=n).tolist()
        feasible = max(Counter(sources).values()) <= (n + 1) // 2
        if not feasible:
            with pytest.raises(ConfigError, match="more than half"):
                no_repeat_order(sources, rng)
            continue
        order = no_repeat_order(sources, rng)
        assert sorted(order) == list(range(n))
        assert all(sources[a] != sources[b] for a, b in itertools.pairwise(order))
    # the tight case: a source with exactly half (rounded up) must take every other place
    order = no_repeat_order(list("aaabb"), np.random.default_rng(1))
    assert "".join("aaabb"[i] for i in order) == "ababa"


# ----------------------------------------------------------------------------- kappa
def test_cohen_kappa_hand_computed():
    # Cohen's 2x2 table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> p_o 0.7, p_e 0.5, kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    # three categories: p_o = 4/6, marginals (2,2,2) and (2,3,1): p_e = 12/36, kappa = 0.5
    assert cohen_kappa(list("xxyyzz"), list("xyyyzx")) == pytest.approx(0.5)
    assert cohen_kappa(list("yyn"), list("yyn")) == pytest.approx(1.0)
    # opposite on every item of a balanced set: p_o 0, p_e 0.5 -> -1
    assert cohen_kappa(list("ynyn"), list("nyny")) == pytest.approx(-1.0)
    assert np.isnan(cohen_kappa(list("yyy"), list("yyy")))  # p_e = 1: undefined


def test_fleiss_kappa_hand_computed():
    rows = [["y", "y", "y"], ["y", "y", "n"], ["n", "n", "n"], ["y", "n", "n"]]
    assert fleiss_kappa(rows) == pytest.approx(1 / 3)  # P_bar 2/3, P_e 1/2
    # Fleiss (1971)-style worked example (10 items, 14 raters, 5 categories): kappa 0.210
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    table = [[k for k, c in enumerate(row) for _ in range(c)] for row in counts]
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=5e-4)
    # with two raters Fleiss' kappa is Scott's pi, not Cohen's kappa: equal when marginals match
    a, b = list("yynnyn"), list("ynnyyn")
    assert fleiss_kappa([list(p) for p in zip(a, b)]) == pytest.approx(cohen_kappa(a, b))
    assert percent_agreement([list(p) for p in zip(a, b)]) == pytest.approx(4 / 6)


# ----------------------------------------------------------------------------- tabulate
def _export(path: Path, key: dict, rater: str, answer, set_hash: str | None = None) -> Path:
    """A CSV as the page exports it; ``answer(record) -> (change, corrupted, looks_like)``."""
    cols = ["set_hash", "rater", "item", "position", "clear_change", "corrupted", "looks_like",
            "shown_utc", "answered_utc", "started_utc", "exported_utc"]
    with path.open("w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(cols)
        for pos, item in enumerate(key["order"]):
            change, corr, looks = answer(key["items"][item])
            w.writerow([set_hash or key["set_hash"], rater, item, pos, change, corr, looks,
                        "2026-12-03T10:00:00Z", "2026-12-03T10:00:01Z", "2026-12-03T09:59:00Z",
                        "2026-12-03T11:00:00Z"])
    return path


def test_tabulate_rates_agreement_and_attention(rated, tmp_path):
    key = rated["key"]

    def rater_a(r):  # says "clear change" for pixel only; corrupted for pixel and the noisy control
        return ("yes" if r["method"] == "pixel" else "no",
                "yes" if r["method"] == "pixel" or r["kind"] == "attention-corrupted" else "no",
                r["target_name"])

    def rater_b(r):  # agrees except on csp-phase at budget 6, where it sees a change
        change, corr, _looks = rater_a(r)
        if r["method"] == "csp-phase" and r["budget"] == 6:
            change = "yes"
        return change, corr, r["source_name"]

    a = _export(tmp_path / "ratings-a.csv", key, "A", rater_a)
    b = _export(tmp_path / "ratings-b.csv", key, "=B", rater_b)  # a formula-looking name
    out = tmp_path / "tab"
    code, _stdout, err = cli(["rate", "--tabulate", a, b, "--key", rated["page"].parent / "rate.key.json",
                             "-o", out])
    assert code == 0, err
    t = json.loads((out / "ratings.json").read_text())
    assert t["raters"] == ["=B", "A"] and t["set_hash"] == key["set_hash"]
    groups = {(g["method"], g["regime"], g["budget"]): g for g in t["groups"]}
    n_sources = 3
    pix = groups["pixel", "persistent", "2"]
    assert pix["items"] == n_sources and pix["ratings"] == 2 * n_sources
    assert pix["clear_change"]["estimate"] == 1.0 and pix["no_corruption"]["estimate"] == 0.0
    csp6 = groups["csp-phase", "persistent", "6"]
    assert csp6["clear_change"]["estimate"] == pytest.approx(0.5)  # A no, B yes on each item
    assert csp6["no_corruption"]["estimate"] == 1.0
    assert csp6["looks_like_target"]["estimate"] == pytest.approx(0.5)  # A target, B source
    for g in t["groups"]:
        for q in ("clear_change", "no_corruption"):
            assert g[q]["low"] <= g[q]["estimate"] <= g[q]["high"]
    # source-clustered: csp6's items are 3 sources x 1; the bootstrap resampled 3 clusters
    assert csp6["clear_change"]["sources"] == n_sources
    # machine scores of the same items sit beside: the saved final p(target)
    saved_p = np.mean([r["scores"]["p_target"] for r in key["items"].values()
                       if (r["method"], r["budget"]) == ("csp-phase", 6)])
    assert csp6["machine"]["driver_p_target"] == pytest.approx(saved_p)
    # agreement: Cohen's kappa on the 17 morph items, by hand
    agree = {a["question"]: a for a in t["agreement"]}
    morph_recs = [key["items"][i] for i in key["order"] if key["items"][i]["kind"] == "morph"]
    ca = [rater_a(r)[0] for r in morph_recs]
    cb = [rater_b(r)[0] for r in morph_recs]
    assert agree["clear change"]["items"] == 17 and agree["clear change"]["statistic"] == "Cohen's kappa"
    assert agree["clear change"]["kappa"] == pytest.approx(cohen_kappa(ca, cb))
    assert agree["corrupted"]["kappa"] == pytest.approx(1.0)
    assert agree["looks like"]["kappa"] < 0.5
    # attention checks: both passed every one (no change on unedited, corrupted flagged)
    assert {a["rater"]: (a["unedited"], a["corrupted"]) for a in t["attention"]} == {
        r: ({"passed": 2, "of": 2}, {"passed": 2, "of": 2}) for r in ("A", "=B")}
    # disagreements: the csp-phase budget-6 items (change and class) and every other (class)
    dis = t["disagreements"]
    assert {d["item"] for d in dis if "clear change" in d["on"]} == {
        i for i, r in key["items"].items() if (r["method"], r["budget"]) == ("csp-phase", 6)}
    html = (out / "disagreements.html").read_text()
    assert html.count("<tr id=") == len(dis) and html.count('<img src="data:image/') == 2 * len(dis)
    md = (out / "ratings.md").read_text()
    assert "| pixel | persistent | 2 | 3 | 6 | 100.0 % [100.0, 100.0] | 0.0 % [0.0, 0.0] |" in md
    assert "Cohen's kappa" in md and "| A | 2 / 2 | 2 / 2 |" in md


def test_tabulate_finds_the_key_and_fleiss_for_three(rated, tmp_path):
    import shutil

    key = rated["key"]
    shutil.copy(rated["page"].parent / "rate.key.json", tmp_path / "rate.key.json")
    files = [_export(tmp_path / f"r{i}.json.csv", key, f"R{i}",
                     lambda r, i=i: ("yes" if (i + len(r["source"])) % 2 else "no", "no", ""))
             for i in range(3)]
    code, _, err = cli(["rate", "--tabulate", *files, "-o", tmp_path / "out", "-q"])
    assert code == 0, err
    t = json.loads((tmp_path / "out" / "ratings.json").read_text())
    assert {a["statistic"] for a in t["agreement"]} == {"Fleiss' kappa"}


def test_foreign_set_is_refused_in_one_line(rated, tmp_path):
    key = rated["key"]
    csv_path = _export(tmp_path / "foreign.csv", key, "A", lambda r: ("yes", "no", ""),
                       set_hash="f" * 64)
    out = tmp_path / "tab"
    code, stdout, err = cli(["rate", "--tabulate", csv_path, "--key",
                             rated["page"].parent / "rate.key.json", "-o", out])
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "ffffffffffff" in err and key["set_hash"][:12] in err
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing", "empty", "out-folder", "attention", "model-alone",
                                  "not-html"])
def test_user_errors_write_nothing(case, results, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "rate.html"
    args = {
        "missing": [tmp_path / "nope", "-o", out],
        "empty": [empty, "-o", out],
        "out-folder": [results["morph"], "-o", empty],
        "attention": [results["morph"], "-o", out, "--attention-checks", "-1"],
        "model-alone": [results["morph"], "-o", out, "--model", "mnist-cnn"],
        "not-html": [results["morph"], "-o", tmp_path / "rate.txt"],
    }[case]
    code, _stdout, err = cli(["rate", *args])
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert list(empty.iterdir()) == []


def test_a_source_in_most_items_is_refused(results, tmp_path):
    """The morph folder alone is one source: two items of it cannot avoid being neighbours."""
    code, _, err = cli(["rate", results["morph"], "-o", tmp_path / "r.html",
                        "--attention-checks", "1"])
    assert code == 2 and "more than half" in err and not list(tmp_path.iterdir())


def test_report_shows_the_ratings(rated, results, tmp_path):
    """A folder with ratings.md: the report shows the human rates beside the machine columns."""
    import shutil

    from steerlens.web.report import report_html

    batch = tmp_path / "batch"
    shutil.copytree(results["batch"], batch)
    key = rated["key"]
    a = _export(tmp_path / "a.csv", key, "A", lambda r: ("yes", "no", ""))
    code, _, err = cli(["rate", "--tabulate", a, "--key", rated["page"].parent / "rate.key.json",
                        "-o", batch, "-q"])
    assert code == 0, err
    assert (batch / "results.csv").exists()  # the tabulation merged into the folder
    html = report_html([batch])
    assert "human ratings" in html and "clear change" in html and "driver p(target)" in html
    assert "100.0 % [100.0, 100.0]" in html
