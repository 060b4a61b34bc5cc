"""Every Python and shell example in README.md runs, verbatim, as a new user would run it, and
prints what the README says it prints.

The examples are extracted from the README itself, so the two cannot drift:

* Each ```` ```bash ```` / ```` ```python ```` block runs in a fresh folder that holds only a
  ``.venv`` link to this checkout's environment; the README's own first command
  (``steerlens samples``) writes the example files, exactly as a new user makes them.
* A block followed directly by an ```` ```output ```` block must print that text. Words must match
  exactly; every number must agree within :data:`NUMBER_TOLERANCE` (the built-in models' weights
  ship in the package, so what remains is float rounding across CPUs and the paths that depend on
  it: measured in tests/test_golden.py).
* A picture in the README followed by ``<!-- made by: PATH -->`` must be the file that the
  examples wrote at PATH (GIFs and PNGs compared frame by frame within :data:`PIXEL_TOLERANCE`).

Two kinds of line are not run, each for a stated reason: ``make ...`` (the README's own set-up
commands; ``make test`` would run this test again) and ``pip install ...`` (installs need a
registry, not a test).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIPPED_PREFIXES = ("make ", "pip ")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
MADE_BY = re.compile(r"!\[[^\]]*\]\(([^)]+)\)\s*<!-- made by: (\S+) -->")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
#: a printed number matches the README's if within 0.02 or 2 % of it, whichever is larger
NUMBER_TOLERANCE = (0.02, 0.02)
#: mean absolute difference per pixel (0-255) allowed between a README picture and its remake
PIXEL_TOLERANCE = 3.0


def examples() -> list[tuple[str, str, str | None]]:
    """``(language, code, expected output or None)`` for every bash/python block, in order."""
    found = [(m.group(1), m.group(2), m.end(), m.start()) for m in FENCE.finditer(README.read_text())]
    out = []
    for i, (lang, body, end, _) in enumerate(found):
        if lang not in ("bash", "python"):
            continue
        nxt = found[i + 1] if i + 1 < len(found) else None
        expected = nxt[1] if nxt and nxt[0] == "output" and README.read_text()[end:nxt[3]].strip() == "" else None
        out.append((lang, body, expected))
    return out


def commands(body: str) -> list[str]:
    """The command lines of a bash block, comments removed, set-up lines skipped."""
    out = []
    for line in body.splitlines():
        cmd = shlex.split(line, comments=True)
        if cmd and not line.startswith(SKIPPED_PREFIXES):
            out.append(shlex.join(cmd))
    return out


def same_output(got: str, expected: str) -> str | None:
    """``None`` when ``got`` matches ``expected`` (words exact, numbers within tolerance), else why.

    Examples
    --------
    >>> same_output("p 0.346 -> 0.626", "p 0.35 -> 0.63") is None
    True
    >>> same_output("p 0.346 -> 0.726", "p 0.35 -> 0.63")
    "line 1: 0.726 is not 0.63 (in 'p 0.346 -> 0.726')"
    """
    got_lines, want_lines = got.strip().splitlines(), expected.strip().splitlines()
    if len(got_lines) != len(want_lines):
        return f"{len(got_lines)} lines printed, the README shows {len(want_lines)}:\n{got}"
    for n, (g, w) in enumerate(zip(got_lines, want_lines, strict=True), 1):
        g, w = g.strip(), w.strip()
        if NUMBER.sub("#", g) != NUMBER.sub("#", w):
            return f"line {n}: {g!r} is not {w!r}"
        for a, b in zip(NUMBER.findall(g), NUMBER.findall(w), strict=True):
            atol, rtol = NUMBER_TOLERANCE
            if not math.isclose(float(a), float(b), abs_tol=atol, rel_tol=rtol):
                return f"line {n}: {a} is not {b} (in {g!r})"
    return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A fresh folder holding only a link to the environment, as in a new user's checkout."""
    d = tmp_path_factory.mktemp("readme")
    (d / ".venv").symlink_to(Path(sys.executable).parents[1])
    return d


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


def test_readme_has_examples():
    langs = [lang for lang, _, _ in examples()]
    assert "python" in langs and sum(len(commands(b)) for lang, b, _ in examples()
                                     if lang == "bash") >= 8
    assert any(expected for _, _, expected in examples()), "no example states its output"
    assert MADE_BY.findall(README.read_text()), "no picture names the command that made it"


def test_the_output_comparison_catches_a_changed_number():
    assert same_output("p(8) 0.000 -> 0.634", "p(8) 0.000 -> 0.634") is None
    assert same_output("p(8) 0.000 -> 0.650", "p(8) 0.000 -> 0.634") is None  # within 0.02
    assert same_output("p(8) 0.000 -> 0.700", "p(8) 0.000 -> 0.634") is not None
    assert same_output("p(5) 0.000 -> 0.634", "p(8) 0.000 -> 0.634") is not None
    assert same_output("top-1 '3'", "top-1 '8'") is not None


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(examples())))
def test_readme_example(index, workdir):
    lang, body, expected = examples()[index]
    if lang == "python":
        procs = [_run([sys.executable, "-c", body], workdir)]
    else:
        procs = [_run(shlex.split(cmd), workdir) for cmd in commands(body)]
    for proc in procs:
        assert proc.returncode == 0, f"{proc.args}: {proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr
    stdout = "".join(p.stdout for p in procs)
    if lang == "python":
        assert stdout.strip(), "the example printed nothing"
    if expected is not None:
        why = same_output(stdout, expected)
        assert why is None, why


def _frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as img:
        return [np.asarray(f.convert("RGB"), dtype=np.float64) for f in ImageSequence.Iterator(img)]


@pytest.mark.slow
@pytest.mark.parametrize("picture,made_by", MADE_BY.findall(README.read_text()))
def test_readme_picture_is_what_its_command_makes(picture, made_by, workdir):
    """Runs after the examples (same module, in order): the README's picture is their output."""
    remade = workdir / made_by
    assert remade.is_file(), f"no README example wrote {made_by}"
    shown, now = _frames(ROOT / picture), _frames(remade)
    assert len(shown) == len(now), f"{picture}: {len(shown)} frames, the command made {len(now)}"
    for k, (a, b) in enumerate(zip(shown, now, strict=True)):
        assert a.shape == b.shape, f"{picture} frame {k}: {a.shape} vs {b.shape}"
        diff = float(np.abs(a - b).mean())
        assert diff <= PIXEL_TOLERANCE, f"{picture} frame {k} differs by {diff:.2f}/255 per pixel"
