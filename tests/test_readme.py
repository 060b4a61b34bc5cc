"""Every Python and shell example in README.md runs, verbatim, as a new user would run it.

The examples are extracted from the README itself, so the two cannot drift. They run in a fresh
folder holding the files the README names (``cat.jpg``, ``photo.jpg``, ``digit.png``) and a ``.venv``
link to this checkout's environment. Two kinds of line are not run, each for a stated reason:
``make ...`` (the README's own set-up commands; ``make test`` would run this test again) and
``pip install ...`` (installs need a registry, not a test).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIPPED_PREFIXES = ("make ", "pip ")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(language: str) -> list[str]:
    """The README's fenced blocks in ``language``, in order."""
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def shell_commands() -> list[str]:
    """Every command line of the README's bash blocks, comments removed."""
    out = []
    for body in blocks("bash"):
        for line in body.splitlines():
            cmd = shlex.split(line, comments=True)
            if cmd and not line.startswith(SKIPPED_PREFIXES):
                out.append(shlex.join(cmd))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, mnist_split):
    """A fresh folder with the files the README's examples name."""
    from skimage import data

    d = tmp_path_factory.mktemp("readme")
    (d / ".venv").symlink_to(Path(sys.executable).parents[1])
    Image.fromarray(data.chelsea()).save(d / "cat.jpg", quality=92)
    Image.fromarray(data.coffee()).save(d / "photo.jpg", quality=92)
    idx = int((mnist_split.y_test == 3).nonzero()[0, 0])
    Image.fromarray((mnist_split.x_test[idx, 0].numpy() * 255).astype(np.uint8)).save(d / "digit.png")
    return d


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


def test_readme_has_examples():
    assert len(blocks("python")) >= 1 and len(shell_commands()) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("command", shell_commands())
def test_readme_shell_example(command, workdir):
    proc = _run(shlex.split(command), workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_readme_python_example(index, workdir):
    proc = _run([sys.executable, "-c", blocks("python")[index]], workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip(), "the example printed nothing"
