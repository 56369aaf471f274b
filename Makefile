# qabot — every target works as the first command on a fresh clone.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KB     ?= examples/kb
INDEX  ?= .qabot/index
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run index test test-fast test-image image lint bench bench-venv clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (qabot needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# torch is pinned to 2.13.0 (CPU build) in pyproject.toml; pip never picks it freely.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

index: $(STAMP)
	$(VENV)/bin/qabot-index build $(KB) --index $(INDEX)

# Index the example knowledge base (only what changed), then start the bot: on Telegram when
# QABOT_TELEGRAM_TOKEN is set, otherwise in the terminal.
run: index
	@if [ -n "$$QABOT_TELEGRAM_TOKEN" ]; then \
		exec $(VENV)/bin/qabot telegram --index $(INDEX); \
	else \
		exec $(VENV)/bin/qabot chat --index $(INDEX); \
	fi

# The whole suite; its 25 slowest steps are listed at the end (CI's output too).
test: $(STAMP)
	$(PY) -m pytest --durations=25

# Without the slow tests and without any that loads a real model (a test that loads one
# unmarked fails, see tests/conftest.py).
test-fast: $(STAMP)
	QABOT_TESTS_NO_MODELS=1 $(PY) -m pytest -m "not slow and not model"

# The Docker image (docker/build.sh: docker, else podman), tagged qabot:latest; prints its size.
# BASE=local builds on a Debian 12 base made here with debootstrap (nothing is pulled).
BASE  ?= python:3.11-slim
IMAGE ?= qabot:latest
image:
	BASE='$(BASE)' IMAGE='$(IMAGE)' docker/build.sh

# The image built and run (slow: a first build takes minutes); also part of `make test` in CI.
test-image: $(STAMP)
	$(PY) -m pytest tests/test_docker_image.py

lint: $(STAMP)
	$(VENV)/bin/ruff check qabot indexer tests benchmarks

bench: $(STAMP) bench-venv
	$(PY) benchmarks/bench_indexing.py
	$(PY) benchmarks/bench_search.py
	$(PY) benchmarks/bench_chunking.py
	$(PY) benchmarks/bench_reader.py
	$(PY) benchmarks/bench_reader_training.py
	$(PY) benchmarks/bench_reader_support.py
	$(PY) benchmarks/bench_dialogue.py
	$(PY) benchmarks/bench_telegram.py
	$(PY) benchmarks/bench_retrieval.py
	$(PY) benchmarks/bench_bm25.py
	$(PY) benchmarks/bench_support.py

# The transformers question-answering pipeline (the reader benchmark's baseline) was removed
# in transformers 5.3: a separate venv keeps 5.2.0 for that comparison only.
bench-venv: .venv-hfpipe/bin/python
.venv-hfpipe/bin/python:
	$(PYTHON) -m venv .venv-hfpipe
	.venv-hfpipe/bin/pip install --quiet --disable-pip-version-check torch==2.13.0 transformers==5.2.0

clean:
	rm -rf $(VENV) .venv-hfpipe .qabot .pytest_cache
