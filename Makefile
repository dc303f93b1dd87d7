# Two commands do all the set-up: `make demo` and `make test`.
# Both create the virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader calls `alembic` from PATH; the course kernels come from the venv.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"

.PHONY: demo notes test bench lint lab venv sandbox clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

# Grading runs student code under bubblewrap. As root on Debian or Ubuntu
# it is installed here; elsewhere this says how, and grading refuses to
# run (the grading tests skip) until it is there.
sandbox:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap for the grading sandbox"; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else \
	    echo "bubblewrap is not installed: grading needs it" \
	      "(sudo apt-get install bubblewrap, or your system's package)"; \
	  fi; }

demo: $(STAMP) sandbox
	$(RUN) $(BIN)/course demo
	$(RUN) $(BIN)/course notes --quiet

# The lectures as an offline website in _build/notes/html (needs npm once,
# to fetch MathJax).
notes: $(STAMP)
	$(RUN) $(BIN)/course notes

test: $(STAMP) lint sandbox
	$(RUN) $(BIN)/python -m pytest

# Ratios against np.exp, scipy and torch (install torch for its rows:
# .venv/bin/pip install -e ".[bench]"), then grading against stock nbgrader
# (needs bubblewrap).
bench: $(STAMP)
	$(RUN) $(BIN)/python benchmarks/bench.py
	$(RUN) $(BIN)/python benchmarks/grading_bench.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check lecture_lib course_tools tests benchmarks

# Jupyter refuses to run as root (containers often are) unless told.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(RUN) $(BIN)/jupyter lab --notebook-dir="$(CURDIR)" $(ROOT_FLAG)

clean:
	rm -rf grading _build .pytest_cache .hypothesis
