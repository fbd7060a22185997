# flyte-local developer commands. `make demo` and `make test` bootstrap everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest coverage bench clean completions docs tryout

# pip -qq: setuptools' editable-install notice is not news to a developer; errors still show.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/flyte run examples/hello.py main --name World

lint: $(STAMP)
	$(BIN)/ruff check flyte flyte_cli flyte_tui tests examples benchmarks
	$(BIN)/ruff format --check flyte flyte_cli flyte_tui tests examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

COV_DIR := build/coverage

# The suite alone, no coverage: the quick loop while developing.
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The suite under branch coverage, every process it starts included (subprocesses, forked
# workers; see [tool.coverage.*] in pyproject.toml), then the report, which fails under
# the floor. build/coverage/ keeps the combined data for `coverage html`.
coverage: $(STAMP)
	rm -rf $(COV_DIR)
	mkdir -p $(COV_DIR)
	$(BIN)/coverage run -m pytest -q -p no:cacheprovider
	$(BIN)/coverage combine --quiet
	# Left behind: files combine could not read (a test SIGKILLed a process as it saved).
	rm -f $(COV_DIR)/.coverage.*
	$(BIN)/coverage report

test: lint typecheck coverage

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

completions: $(STAMP)
	$(BIN)/python -m flyte_cli.completions_gen

docs: $(STAMP)
	$(BIN)/python -m flyte_cli.docs_gen

# Drives the real `flyte` in tmux as a new user would (run, live tree, TUI, watch); needs tmux.
tryout: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -rs tests/walkthrough

clean:
	rm -rf $(VENV) build *.egg-info
