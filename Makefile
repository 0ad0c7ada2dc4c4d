# Two commands for a fresh machine (see README.md):
#   make demo   set everything up, grade the bundled example submission, say where the report is
#   make test   the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test selftest template benchmark clean

setup: $(VENV)/.installed

# pip, not uv or poetry: torch and torchvision come from pip's configured index or local wheels.
$(VENV)/.installed: pyproject.toml
	@# Debian and Ubuntu ship venv's pip separately (python3-venv): installed with apt when we can.
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq python3-venv >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq python3-venv >/dev/null 2>&1); \
	  fi; \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "error: '$(PYTHON) -m venv' fails; install Python's venv module (Debian/Ubuntu: sudo apt-get install python3-venv)"; exit 1; }; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# bubblewrap sandboxes student code; without it the grader falls back to rlimits and says so.
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1)) \
	      || echo "note: could not install bubblewrap; student code will run with resource limits only"; \
	  else echo "note: install bubblewrap (e.g. sudo apt-get install bubblewrap) to sandbox student code"; fi; \
	fi
	@# The tests' reference readers: php-cli (PHP's own fgetcsv/strtotime, tests/test_moodle_upload.py), Java (the Nu
	@# HTML validator) and Debian's chromium (Playwright's browser; `playwright install` is never run), tests/test_pages.py.
	@for need in php:php-cli java:default-jre-headless chromium:chromium; do \
	  cmd=$${need%%:*}; pkg=$${need#*:}; \
	  if ! command -v $$cmd >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get install -y -qq $$pkg >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $$pkg >/dev/null 2>&1)) \
	        || echo "note: could not install $$pkg; some tests need it"; \
	    else echo "note: install $$pkg (e.g. sudo apt-get install $$pkg): some tests need it"; fi; \
	  fi; \
	done
	$(BIN)/grader data >/dev/null
	touch $@

demo: setup
	$(BIN)/grader example --out examples
	$(BIN)/grader run examples/Mustermann-123456.zip --out reports

test: setup
	$(BIN)/python -m pytest

selftest: setup
	$(BIN)/grader selftest

template: setup
	$(BIN)/grader template

benchmark: setup
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/bench_similarity.py
	PYTHONPATH=. $(BIN)/python benchmarks/bench_review.py

clean:
	rm -rf $(VENV) reports/* examples data/cache
