# The two commands are `make up` and `make test`; both set up everything they need on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= dev
# protoc finds its mypy plugins, and scripts find the project's tools, in the virtual environment.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

PROTOS := $(shell find protos -name '*.proto' | sort)
GENERATED := libs/generated

.PHONY: up down status clean test lint bench demo chaos protos venv token help

help:
	@echo "make up      set up and start PostgreSQL, Kafka and every service (PROFILE=$(PROFILE))"
	@echo "make down    stop what make up started (data stays); make clean also deletes the data"
	@echo "make status  one line per component: <name> <host:port> <SERVING|NOT_SERVING|DOWN>"
	@echo "make test    the whole test suite on its own PostgreSQL and Kafka"
	@echo "make lint    ruff and mypy --strict"
	@echo "make bench   the join path under load beside its ceilings (starts the platform if needed)"
	@echo "make demo    a simulated group-buying day: progress, KPI table, PNG chart, invariant check (DEMO_ARGS=--scale 2)"
	@echo "make chaos   faults under simulated load, then invariants and reconciliation (CHAOS_ARGS=--faults short)"
	@echo "make token   print a local token: make token SUB=pu_1 LINE=pingou ROLE=user (ROLE=service: SUB names the service)"

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	# Put the repository and the generated code on the import path of every tool in the venv.
	printf '%s\n%s\n' "$(CURDIR)" "$(CURDIR)/$(GENERATED)" \
	  > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/pingou-platform.pth"
	# The project itself, for its console script `pingou` (the CLI); its build backend is in the lock.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

$(GENERATED)/.stamp: $(PROTOS) $(VENV)/.installed
	rm -rf $(GENERATED) && mkdir -p $(GENERATED)
	$(PY) -m grpc_tools.protoc -I protos \
	  --python_out=$(GENERATED) --grpc_python_out=$(GENERATED) \
	  --mypy_out=quiet:$(GENERATED) --mypy_grpc_out=quiet:$(GENERATED) $(PROTOS)
	touch $@

protos: $(GENERATED)/.stamp

up: protos
	$(PY) -m deploy.local up --profile $(PROFILE)

down: venv
	$(PY) -m deploy.local down --profile $(PROFILE)

status: venv
	@$(PY) -m deploy.local status --profile $(PROFILE)

clean: venv
	$(PY) -m deploy.local clean --profile $(PROFILE)

# The suite runs on the `test` profile (its own ports and data, fsync off) so it never touches `make up`
# data. Locally the test infrastructure stays up for the next run; in CI it is stopped afterwards. `make lint`
# runs first: code that does not pass it does not pass the suite.
test: lint
	$(PY) -m deploy.local.infra up --profile test
	set -a && . "$$($(PY) -c 'from deploy.local import infra; print(infra.data_dir("test"))')/endpoints.env" && set +a && \
	  status=0 && $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	  if [ "$${CI:-}" = "true" ]; then $(PY) -m deploy.local.infra down --profile test; fi; \
	  exit $$status

lint: protos
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy libs services deploy tests cli ops simulator chaos

# The join-path benchmark (bench/README.md) against the platform of `make up` (started when it does not run);
# BENCH_ARGS=... passes options (--seconds, --output). Writes bench/results/latest.json.
bench: protos
	$(PY) -m bench --profile $(PROFILE) $(BENCH_ARGS)

# The group-buying day simulator (simulator/) against the platform of `make up` (started when it does not run);
# DEMO_ARGS=... passes options (--scale, --seconds, --seed, --output, --await-failures). Exits 1 on a violation.
demo: protos
	$(PY) -m simulator --profile $(PROFILE) $(DEMO_ARGS)

# Faults (service kills, broker and database restarts, a rolling restart) injected into the platform of
# `make up` under simulated load (started when it does not run); CHAOS_ARGS=... passes options (--faults,
# --broker-away-seconds, --scale, --output). Writes chaos/results/latest.json; exits 1 on a violation.
chaos: protos
	$(PY) -m chaos --profile $(PROFILE) $(CHAOS_ARGS)

SUB ?= operator-1
LINE ?= pingou
ROLE ?= user
token: venv
	@$(PY) -m libs.auth mint --sub $(SUB) --line $(LINE) --role $(ROLE) \
	  --keys "$$($(PY) -c 'from deploy.local import infra; print(infra.data_dir("$(PROFILE)"))')/keys"
