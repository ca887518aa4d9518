# Two commands do all set-up on a fresh machine (Python 3.11, gcc, make):
#   make run   - install, fetch the default models, ingest corpus/, start the chat app
#   make test  - install, fetch the default models and Debian's Chromium, run the whole test suite
# Both are idempotent: a second run reuses the venv and the verified model cache.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.newsrag-installed
PIP := $(BIN)/python -m pip --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 7860
# Browser tests drive Debian's Chromium (never `playwright install`, which downloads);
# the CJK fonts make screenshots readable.
BROWSER_PACKAGES := chromium fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run serve test install models browser lint bench-ingest clean-index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: its CPU build is served locally, and an unpinned torch
# pulled in by sentence-transformers would download gigabytes of CUDA.
# llama-cpp-python compiles llama.cpp (~5 min on 2 cores, once: pip keeps the wheel).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --quiet "llama-cpp-python[server]==0.3.36"
	$(PIP) install --quiet -e ".[test,local]"
	touch $(STAMP)

install: $(STAMP)

models: install
	$(BIN)/newsrag models fetch

run: models
	$(BIN)/newsrag ingest corpus/
	$(BIN)/newsrag serve --host $(HOST) --port $(PORT)

serve: models
	$(BIN)/newsrag serve --host $(HOST) --port $(PORT)

browser:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
		$(SUDO) apt-get install -y --no-install-recommends $(BROWSER_PACKAGES) \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $(BROWSER_PACKAGES); }; \
	fi

test: models browser
	$(BIN)/ruff check rag ingest ui tests bench
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check rag ingest ui tests bench

clean-index:
	rm -rf .newsrag
