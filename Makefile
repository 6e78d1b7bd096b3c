# make run  — the whole suite on embedded defaults (SQLite, local directories); ARGS='...'
#            passes options (pacifica-suite --help)
# make test — create .venv, install, run the tests
#
# `run` installs only what the services need; `test` adds pytest and uWSGI (which compiles,
# so it needs a C compiler and the Python headers).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-test: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-docs: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,docs]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

# make run ARGS='--port-offset 1000 --home /tmp/second' passes options to pacifica-suite.
run: $(VENV)/.installed-run
	$(BIN)/pacifica-suite $(ARGS)

# Test files are spread over two workers (each file's module fixtures stay in one);
# make test PYTEST_WORKERS= runs them in this process instead.
PYTEST_WORKERS ?= -n 2 --dist loadfile
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The manual (docs/), warnings are errors; open build/docs/html/index.html.
docs: $(VENV)/.installed-docs
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs build/docs/html

clean:
	rm -rf $(VENV) .pacifica .pytest_cache *.egg-info
