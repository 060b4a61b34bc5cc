"""The rating page in a real browser (Debian's Chromium driven by Playwright), offline.

A rater rates 20 items by keyboard, the page is reloaded mid-way (the autosave holds), the answers
are exported (the downloads are captured), and the tabulation of that export matches the keys
pressed. Assertions read the DOM and the exported files, never pixels.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("jinja2")

from helpers.rating import cli, make_batch
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.slow

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/lib/chromium/chromium", shutil.which("chromium-browser"))
     if p and os.path.exists(p)),
    None,
)
if CHROMIUM is None:  # `make chromium` could not install it on this machine
    pytest.skip("Chromium not found (make chromium installs Debian's package)", allow_module_level=True)


@pytest.fixture(scope="module")
def rating_page(tmp_path_factory) -> Path:
    """A page of 20 items: 5 held-out digits x 2 methods x 2 budgets (persistent)."""
    root = tmp_path_factory.mktemp("rate")
    batch = make_batch(root / "batch", limit=5)
    page = root / "rate.html"
    code, _, err = cli(["rate", batch, "-o", page, "--seed", "3", "-q"])
    assert code == 0, err
    return page


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        # the page may make no request: any attempt to leave file:// fails the test
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url)
                   if not r.url.startswith(("file:", "data:", "blob:")) else None)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield pg
        context.close()
        browser.close()
        assert errors == [], f"browser errors: {errors}"
        assert requests == [], f"the page made requests: {requests}"


def _answers(i: int) -> tuple[str, str]:
    """What the rater presses on the i-th item: (clear change, corrupted)."""
    return ("yes" if i % 3 == 0 else "no", "yes" if i % 4 == 1 else "no")


def test_rate_20_items_by_keyboard_reload_export_and_tabulate(page, rating_page, tmp_path):
    from steerlens.methods.registry import method_names

    key_file = rating_page.parent / "rate.key.json"
    key = json.loads(key_file.read_text())
    assert key["n_items"] == 20
    page.goto(rating_page.as_uri())
    page.fill("#rater", "Rater One")
    page.keyboard.press("Enter")
    expect(page.locator("#rate")).to_be_visible()

    def rate(i: int) -> None:
        expect(page.locator("#pos")).to_have_text(f"item {i + 1} of 20")
        change, corrupted = _answers(i)
        page.keyboard.press("y" if change == "yes" else "n")
        page.keyboard.press("c" if corrupted == "yes" else "k")
        expect(page.locator(f'.q[data-q="change"] button[data-v="{change}"]')).to_have_attribute(
            "aria-pressed", "true")
        page.keyboard.press("Enter")

    for i in range(11):
        rate(i)
    expect(page.locator("#count")).to_have_text("11 / 20")
    expect(page.locator("#bar")).to_have_attribute("value", "11")
    # the DOM, scripts and data included, names no method
    dom = page.evaluate("document.documentElement.outerHTML")
    assert not any(m in dom for m in method_names())

    page.reload()  # mid-way: the autosave holds the name, the answers and the place
    expect(page.locator("#resume")).to_contain_text("11 of 20")
    expect(page.locator("#rater")).to_have_value("Rater One")
    page.keyboard.press("Enter")
    expect(page.locator("#pos")).to_have_text("item 12 of 20")
    page.keyboard.press("ArrowLeft")  # the answers before the reload are still there
    change, corrupted = _answers(10)
    expect(page.locator(f'.q[data-q="change"] button[data-v="{change}"]')).to_have_attribute(
        "aria-pressed", "true")
    expect(page.locator(f'.q[data-q="corrupted"] button[data-v="{corrupted}"]')).to_have_attribute(
        "aria-pressed", "true")
    page.keyboard.press("ArrowRight")
    for i in range(11, 20):
        rate(i)
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#count")).to_have_text("20 / 20")

    with page.expect_download() as dl:
        page.click("#done-csv")
    exported = tmp_path / dl.value.suggested_filename
    dl.value.save_as(exported)
    with page.expect_download() as dl_json:
        page.keyboard.press("ArrowLeft")  # back to the last item, then export JSON by button
        page.click("#export-json")
    exported_json = tmp_path / dl_json.value.suggested_filename
    dl_json.value.save_as(exported_json)

    # the export: the set's hash, the rater, timestamps, and exactly the keys pressed
    assert exported.name == f"ratings-Rater_One-{key['set_hash'][:8]}.csv"
    rows = list(csv.DictReader(exported.open(newline="")))
    assert [r["item"] for r in rows] == key["order"]
    assert {r["set_hash"] for r in rows} == {key["set_hash"]} and {r["rater"] for r in rows} == {"Rater One"}
    assert [(r["clear_change"], r["corrupted"]) for r in rows] == [_answers(i) for i in range(20)]
    assert all(r["shown_utc"] <= r["answered_utc"] <= r["exported_utc"] and r["started_utc"]
               for r in rows)
    doc = json.loads(exported_json.read_text())
    assert doc["set_hash"] == key["set_hash"] and doc["n_rated"] == 20 and doc["rater"] == "Rater One"

    # the tabulation of the export matches the clicks, group by group
    for f in (exported, exported_json):
        out = tmp_path / ("tab-" + f.suffix[1:])
        code, _, err = cli(["rate", "--tabulate", f, "--key", key_file, "-o", out, "-q"])
        assert code == 0, err
        t = json.loads((out / "ratings.json").read_text())
        want: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for i, item in enumerate(key["order"]):
            rec = key["items"][item]
            want.setdefault((rec["method"], f"{rec['budget']:g}"), []).append(_answers(i))
        got = {(g["method"], g["budget"]): g for g in t["groups"]}
        assert set(got) == set(want)
        for g, answers in want.items():
            assert got[g]["ratings"] == len(answers) == 5
            assert got[g]["clear_change"]["estimate"] == pytest.approx(
                sum(a == "yes" for a, _ in answers) / 5)
            assert got[g]["no_corruption"]["estimate"] == pytest.approx(
                sum(c == "no" for _, c in answers) / 5)
