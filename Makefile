# Two commands set up a fresh machine: `make demo` (the main job) and `make test`.
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test clean browser

setup: $(VENV)/.installed

# torch first, pinned: the local CPU wheel (a loose requirement would pull a multi-GB CUDA build).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# Train unsupervised SimCSE from all-MiniLM-L6-v2 on 3,200 wiki1m sentences (50 steps) and
# report STS-B dev before and after; then encode, compare and search with the trained model.
# Offline, the copies packaged in src/simcse/demo_data/ stand in for the official downloads.
demo: setup
	$(BIN)/python examples/train_demo.py
	$(BIN)/python examples/quickstart.py runs/demo-minilm/model

test: setup browser
	$(BIN)/python -m pytest -q

# The browser test drives Debian's chromium through Playwright (never `playwright install`,
# which downloads a browser). Without it that test is skipped, with the reason.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; } \
	  || echo "chromium not installed: the browser test will be skipped"

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
