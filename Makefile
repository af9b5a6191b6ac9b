# streamproc developer entry points.  `make test` is what CI runs (see .ci/run).
PYTHON ?= python3
STACK_DIR ?= .run/stack
KAFKA_PORT ?= 9092
REDIS_PORT ?= 6379
PYTEST_ARGS ?=

# One stamp per interpreter (system python vs .venv), so switching PYTHON reinstalls.
STAMP := .cache/install$(subst /,_,$(shell $(PYTHON) -c 'import sys; print(sys.prefix)')).stamp
# The compiled hot path: _fastcalc.pyx, its _fc_*.pxi parts and the .pxd files they cimport.
CYTHON_SRC := $(wildcard src/streamproc/*.pyx src/streamproc/*.pxd src/streamproc/*.pxi)
# Rebuild when the compiled engine is missing even if the stamp is fresh (e.g. after `git clean`).
FASTCALC_SO := $(wildcard src/streamproc/_fastcalc*.so)
ifeq ($(FASTCALC_SO),)
STAMP_FORCE := FORCE
endif

.PHONY: install build jars stack-up stack-down stack-status lint test demo clean FORCE

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(CYTHON_SRC) $(STAMP_FORCE)
	$(PYTHON) -m pip install -q "setuptools>=68" wheel "Cython>=3.0"
	$(PYTHON) -m pip install -q --no-build-isolation -e ".[dev]"
	@mkdir -p $(dir $@) && touch $@

build:
	$(PYTHON) setup.py -q build_ext --inplace

jars: install
	@$(PYTHON) -c "from streamproc.tools.devstack import fetch_kafka_jars as f; print('kafka jars:', f())"

stack-up: install jars
	$(PYTHON) -m streamproc.tools.devstack up --dir $(STACK_DIR) --kafka-port $(KAFKA_PORT) --redis-port $(REDIS_PORT)

stack-down:
	$(PYTHON) -m streamproc.tools.devstack down --dir $(STACK_DIR)

stack-status:
	$(PYTHON) -m streamproc.tools.devstack status --dir $(STACK_DIR)

lint: install
	$(PYTHON) -m ruff check $(wildcard src tests benchmarks)
	cython-lint --max-line-length 100 $(CYTHON_SRC)
	$(PYTHON) -m mypy src/streamproc

# Two pytest workers (pytest-xdist): integration tests mostly wait on brokers while the
# property tests compute; `make test PYTEST_WORKERS=0` runs everything in one process.
PYTEST_WORKERS ?= 2
test: install jars
	$(PYTHON) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal --durations=15 tests $(PYTEST_ARGS)

demo: install jars
	$(PYTHON) -m streamproc.tools.demo

clean:
	rm -rf .cache build .run deploy/local/libs src/streamproc/_fastcalc.c src/streamproc/_fastcalc*.so \
		src/streamproc/_fc_build.pxi

FORCE:
