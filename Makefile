# Two commands that work on a fresh machine with Python 3.11, git and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo demo-loop demo-anomaly demo-etml test lint install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --quiet -e '.[dev,ray,spark,dask,prophet,s3,lambda]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/flight_delays/demo.py

demo-loop: $(STAMP)
	$(BIN)/python examples/flight_delays/loop.py

demo-anomaly: $(STAMP)
	$(BIN)/python examples/flight_anomalies/demo.py

demo-etml: $(STAMP)
	$(BIN)/python examples/taxi_etml/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

# two processes, each taking whole test files (a file's fixtures are built once): on 2
# cores 22-25 min; a third process is no faster (the suite is CPU-bound, not waiting)
test: lint
	$(BIN)/pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .mlfactory .mlfactory-loop .pytest_cache .mypy_cache .ruff_cache examples/taxi_etml/out
