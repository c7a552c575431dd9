# One entry point for people and CI. `make demo` and `make test` are the README's two commands:
# each builds the virtualenv from nothing on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit clean

# tests/plugins/clarion-pigeon is a channel from outside clarion, found through the entry point; the
# tests hold it to the contract every channel keeps. clarion itself never names it.
$(STAMP): pyproject.toml overrides.txt tests/plugins/clarion-pigeon/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) --override overrides.txt -e '.[dev]' 'prefect>=3.9' \
		-e tests/plugins/clarion-pigeon
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/clarion demo

test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
