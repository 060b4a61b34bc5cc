"""Real saved results to rate, and the ``steerlens rate`` command line, for the rating tests.

Everything is made by the real CLI and API on ``mnist-cnn`` (small: a few held-out digits,
four frames): a ``batch`` folder (persistent regime, two methods, two budgets), a ``compare``
folder, one ``morph`` folder and an experiment's kept-morph file.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

#: the batch's methods and budgets
BATCH_METHODS = ("pixel", "csp-phase")
BATCH_BUDGETS = ("2", "6")


def cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``steerlens ARGV`` in this process with ``rate`` registered; ``(code, stdout, stderr)``."""
    from steerlens.cli import rate
    from steerlens.cli.main import app, main

    if "rate" not in [c.name for c in app.registered_commands]:
        rate.register(app)  # until the main module registers it itself
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def make_batch(out: Path, limit: int = 3) -> Path:
    """``steerlens batch mnist`` on ``limit`` held-out digits: 4 cases per digit."""
    code, _, err = cli(["batch", "mnist", "-m", "mnist-cnn", "--limit", str(limit),
                        "--methods", ",".join(BATCH_METHODS), "--budgets", ",".join(BATCH_BUDGETS),
                        "--regime", "persistent", "--frames", "4", "-o", out, "-q"])
    assert code == 0, err
    return out


def make_results(root: Path) -> dict[str, Path]:
    """A batch, a compare, a morph and an experiment kept-morph file under ``root``."""
    import steerlens
    from steerlens.demo import demo_image
    from steerlens.experiments.kept import save_kept
    from steerlens.render.comparison import write_comparison

    model = steerlens.load_model("mnist-cnn", progress=False)
    paths = {"batch": make_batch(root / "batch")}
    x = demo_image("mnist:3", model)
    write_comparison(steerlens.compare(model, x, "8", ["pixel", "csp-phase", "flow"], frames=4),
                     root / "compare")
    paths["compare"] = root / "compare"
    steerlens.morph(model, x, "5", frames=4, method="fourier-phase").save(root / "morph")
    paths["morph"] = root / "morph"
    y = demo_image("mnist:7", model)
    kept = {"test-0007": steerlens.morph(model, y, "1", frames=4, method="csp-joint")}
    save_kept(root / "experiment" / "cache" / "kept" / "mnist__csp-joint.npz", kept)
    paths["experiment"] = root / "experiment"
    return paths
