"""Wall time of one ``morph_batch`` call per regime: 40 MNIST test digits, csp-phase, L2 = 2.

Run from the repository root: ``.venv/bin/python results/checks/regime_timing.py``. Best of 3 after a
warm-up, 2 threads.
"""

import os
import time
import warnings

os.environ.setdefault("STEERLENS_CACHE_DIR", os.path.abspath(".cache/steerlens"))
warnings.simplefilter("ignore")

import torch

from steerlens.api import morph_batch
from steerlens.config import MorphConfig
from steerlens.data.mnist import load_mnist
from steerlens.models import load_model

torch.set_num_threads(2)
model = load_model("mnist-cnn")
x = load_mnist().x_test[:40]
with torch.no_grad():
    target = model(x).topk(2).indices[:, 1]
print("| regime | seconds (40 digits) | driver success /40 |\n|---|---|---|")
for regime in ("one-step", "live", "persistent"):
    cfg = MorphConfig(method="csp-phase", regime=regime, l2_budget=2.0)
    morph_batch(model, x[:4], target[:4], cfg)
    times = []
    for _ in range(3):
        tic = time.perf_counter()
        res = morph_batch(model, x, target, cfg)
        times.append(time.perf_counter() - tic)
    hits = sum(r.final.top1_index == r.target for r in res)
    print(f"| {regime} | {min(times):.2f} | {hits} |")
