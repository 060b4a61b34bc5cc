"""``steerlens rate``: a blinded rating page for people, and the tables of their answers.

``steerlens rate DIR... -o rate.html`` writes one self-contained page (no request when opened)
and its key ``rate.key.json`` beside it; ``steerlens rate --tabulate ratings*.csv -o DIR``
reads the pages' exports with the key and writes ``ratings.md``, ``ratings.json`` and
``disagreements.html`` into ``DIR``. Both live in :mod:`steerlens.rating`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from steerlens.errors import ConfigError

__all__ = ["rate_cmd", "register"]


def _find_key(files: list[Path]) -> Path:
    """The ``*.key.json`` beside the ratings files (or here) whose set the files name."""
    import csv
    import io
    import json

    from steerlens.rating.tabulate import TABLE_MAX_BYTES, Confined

    wanted = set()
    reader = Confined([f.parent for f in files])
    for f in files:
        if not f.exists():
            raise ConfigError(f"ratings file {f} does not exist")
        text = reader.read_text(f, TABLE_MAX_BYTES)
        try:
            if f.suffix.lower() == ".json":
                wanted.add(str(json.loads(text).get("set_hash")))
            else:
                row = next(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline="")), {})
                wanted.add(str(row.get("set_hash")))
        except (ValueError, AttributeError, csv.Error):
            continue  # read_ratings says what is wrong with it
    places = list(dict.fromkeys([*(f.parent for f in files), Path(".")]))
    for place in places:
        for cand in sorted(place.glob("*.key.json")):
            try:
                if Confined([place]).read_json(cand).get("set_hash") in wanted:
                    return cand
            except (ConfigError, AttributeError):
                continue
    raise ConfigError(f"no .key.json for set {', '.join(sorted(w[:12] for w in wanted))} beside the "
                      "ratings files or here; pass --key rate.key.json")


def rate_cmd(
    paths: list[Path] = typer.Argument(..., help="Result folders (morph, compare, batch, experiment); with --tabulate, the exported ratings files (CSV or JSON)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="The page to write (default rate.html; its key goes beside it as rate.key.json); with --tabulate, the folder for ratings.md, ratings.json and disagreements.html (default: ratings)."),
    seed: int = typer.Option(0, help="Seed of the order, the item ids, the attention checks and the class choices (recorded in the key)."),
    ask_class: bool = typer.Option(False, "--ask-class", help="Also ask 'Which class does it look like?' (the driver's top-5, shuffled, plus the source class)."),
    attention_checks: int = typer.Option(0, "--attention-checks", help="Add N unedited sources and N heavily corrupted controls (marked in the key only)."),
    play: bool = typer.Option(False, "--play", help="Show every saved frame as a playable morph (results saved with frames.npz), not only the final frame."),
    model: str | None = typer.Option(None, "--model", "-m", help="With --ask-class: the driver (default: the model each result names)."),
    title: str = typer.Option("Rate the images", help="Heading of the page."),
    tabulate: bool = typer.Option(False, "--tabulate", help="Tabulate exported ratings instead of building a page."),
    key: Path | None = typer.Option(None, "--key", help="With --tabulate: the page's key (default: the .key.json beside the ratings files or here whose set they name)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Build a blinded rating page from saved results, or tabulate its exported ratings."""
    from steerlens.config import check_seed
    from steerlens.outputs import check_writable

    if tabulate:
        from steerlens.rating.tabulate import read_key, read_ratings, write_tabulation
        from steerlens.rating.tabulate import tabulate as run_tabulate

        out = out or Path("ratings")
        check_writable(out)
        key_file = key if key is not None else _find_key(paths)
        k = read_key(key_file)
        t = run_tabulate(read_ratings(paths, k), k)
        written = write_tabulation(t, out, key_file, k)
        if not quiet:
            typer.echo(f"{len(t.raters)} rater(s), {sum(g['ratings'] for g in t.groups)} ratings of "
                       f"{len(t.groups)} method groups; wrote {', '.join(p.name for p in written)} to {out}")
        return

    from steerlens.rating.page import build_rating_set, driver_top5, write_rating_set

    out = out or Path("rate.html")
    check_seed(seed)
    if out.exists() and not out.is_file():
        raise ConfigError(f"--out {out} is not a regular file; give a file name such as rate.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out {out} must end in .html (the key goes beside it as .key.json)")
    if attention_checks < 0:
        raise ConfigError(f"--attention-checks must be 0 or more, got {attention_checks}")
    if model is not None and not ask_class:
        raise ConfigError("--model is only used with --ask-class; add --ask-class or drop --model")
    for p in paths:
        if p.exists() and p.is_file():
            raise ConfigError(f"{p} is a file; pass result folders (or add --tabulate for ratings files)")
    check_writable(out.parent if str(out.parent) else Path("."))
    rs = build_rating_set(paths, seed=seed, ask_class=ask_class, attention_checks=attention_checks,
                          play=play, top5=driver_top5(model) if ask_class else None, title=title)
    page, key_file = write_rating_set(rs, out)
    if not quiet:
        n_att = rs.key["n_attention"]
        typer.echo(f"wrote {page} ({len(rs.page_data['items'])} items, {n_att} attention checks, "
                   f"set {rs.set_hash[:12]}) and its key {key_file}; keep the key from the raters")


def register(app: typer.Typer) -> None:
    """Add the ``rate`` command to the ``steerlens`` CLI.

    Examples
    --------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['rate']
    """
    app.command("rate")(rate_cmd)
