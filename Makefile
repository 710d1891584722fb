# The two quick-start commands are `make lab` and `make test`; both prepare
# the machine themselves (system packages when missing, a local .venv).
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: lab test lint typecheck imports sam unit bench clean

lab:
	scripts/bootstrap.sh runtime
	$(VENV)/bin/gwlbd lab $(LAB_ARGS)

test:
	scripts/bootstrap.sh dev
	$(MAKE) --no-print-directory lint typecheck imports sam unit

lint:
	ruff check .
	ruff format --check .

typecheck:
	mypy appliance lambdas tui tests

imports:
	lint-imports

sam:
	.ci/sam-check.sh

unit:
	pytest $(PYTEST_ARGS)

bench:
	scripts/bootstrap.sh runtime
	$(VENV)/bin/gwlbd bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
