# These commands do all set-up on a fresh machine (Python 3.11, gcc, make):
#   make run   - install, fetch the default models, ingest corpus/, start the chat app
#   make test  - install (with the [int8] extra), fetch the default models, Debian's Chromium and PostgreSQL,
#                run the whole test suite
#   make check - install, Debian's Chromium, lint and the tests that need no model or server (the fast loop)
# All are idempotent: a second run reuses the venv and the verified model cache.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.newsrag-installed
TEST_STAMP := $(VENV)/.newsrag-test-installed
PIP := $(BIN)/python -m pip --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 7860
# Browser tests drive Debian's Chromium (never `playwright install`, which downloads);
# the CJK fonts make screenshots readable.
BROWSER_PACKAGES := chromium fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run serve test check install models browser postgres lint bench-ingest clean-index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: its CPU build is served locally, and an unpinned torch
# pulled in by sentence-transformers would download gigabytes of CUDA.
#
# llama-cpp-python compiles llama.cpp (~5 min on 2 cores) once per set of CPU features:
# the wheel is kept in ~/.cache/newsrag/wheels/<version>-<flags hash>/, not in pip's cache,
# which is keyed by version alone and could hand an AVX-512 build to a CPU without it.
# AVX-512 and VNNI are switched on when /proc/cpuinfo lists them: prompt processing,
# which sets the time to first token, ran 1.48x faster on our 2-core Xeon (111.6 vs 75.5
# tokens/s, `python -m bench.llm_speed`); generation is memory-bound and did not change.
# Not GGML_NATIVE: its AMX kernels crashed (segfault) on that machine; built with
# -DGGML_AMX_INT8=ON on another Xeon of the pool (2026-12-03) the first prompt died of SIGILL
# at a `tilezero` in ggml_backend_amx_mul_mat, though the kernel granted the AMX state.
LLAMA_VERSION := 0.3.36
cpu_has = $(shell for f in $(1); do grep -qw "$$f" /proc/cpuinfo 2>/dev/null || exit 1; done && echo "$(2)")
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF \
	$(call cpu_has,avx512f avx512cd avx512vl avx512dq avx512bw,-DGGML_AVX512=ON) \
	$(call cpu_has,avx512f avx512vbmi,-DGGML_AVX512_VBMI=ON) \
	$(call cpu_has,avx512f avx512_vnni,-DGGML_AVX512_VNNI=ON) \
	$(call cpu_has,avx512f avx512_bf16,-DGGML_AVX512_BF16=ON) \
	$(call cpu_has,avx_vnni,-DGGML_AVX_VNNI=ON)
LLAMA_WHEELS := $(HOME)/.cache/newsrag/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo '$(strip $(LLAMA_CMAKE_ARGS))' | md5sum | cut -c1-12)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet torch==2.13.0
	@echo "llama.cpp build flags: $(strip $(LLAMA_CMAKE_ARGS))"
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(strip $(LLAMA_CMAKE_ARGS))" $(PIP) wheel --quiet --no-deps --no-cache-dir \
			-w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(PIP) install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PIP) install --quiet --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python "llama-cpp-python[server]==$(LLAMA_VERSION)"
	$(PIP) install --quiet -e ".[test,local]"
	touch $(STAMP)

install: $(STAMP)

# The tests also build a small model's onnx-int8 form, which needs the [int8] extra (onnxscript,
# onnx); `make run` does not.
$(TEST_STAMP): $(STAMP)
	$(PIP) install --quiet --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python -e ".[test,local,int8]"
	touch $(TEST_STAMP)

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

# The keyword-index contract and replica tests start a throwaway PostgreSQL server
# themselves (initdb + pg_ctl in a temp dir); only Debian's server binaries are needed.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		$(SUDO) apt-get install -y --no-install-recommends postgresql \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends postgresql; }; \
	fi

# EmbeddingGemma's onnx-int8 form is opt-in and not built here (its tests skip unless
# `newsrag models fetch --form onnx-int8` built it); the build itself is tested on a small model.
test: models browser postgres $(TEST_STAMP)
	$(BIN)/ruff check rag ingest ui tests bench
	$(BIN)/python -m pytest

# The developer's fast loop: lint, then the tests that need no model and no server (Chromium
# prints their PDF pages); under 2 minutes on 2 cores.
check: install browser
	$(BIN)/ruff check rag ingest ui tests bench
	$(BIN)/python -m pytest -q -m "not integration and not slow"

lint: install
	$(BIN)/ruff check rag ingest ui tests bench

clean-index:
	rm -rf .newsrag
