# fraud-mlops — every quality gate is a target here; CI (.ci/run) and Jenkins call these.
# `make demo` and `make test` work on a fresh clone: they build .venv from requirements.lock.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Local runs need a user name (Metaflow refuses to run without one) and no cloud.
export USERNAME ?= $(or $(USER),fraud-mlops)
export METAFLOW_USER ?= $(USERNAME)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup demo monitor-demo test fuzz lint format docs bench clean pipeline-local azurite groovy-lint

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# Install everything pinned. Re-running is a no-op unless pyproject.toml or requirements.lock change.
$(STAMP): pyproject.toml requirements.lock policy/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=68" wheel
	# torch first and exactly: 2.13.0 is the CPU wheel; any other spec pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	# The policy pack's SDK, for its unit tests: its own pins (protobuf 5) clash with the lock's
	# protobuf 6, and it runs on pulumi's protobuf modules, so it comes in without dependencies.
	grep -E '^pulumi[-_]policy==' policy/requirements.txt | xargs $(PY) -m pip install --quiet --no-deps
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# Azurite (the Azure Storage emulator) for the ADLS lakehouse tests: the pinned npm package in
# tools/azurite, never a global install. Without npm the note below is printed and those tests
# skip, saying that Node.js is missing.
AZURITE_DIR := tools/azurite
AZURITE_STAMP := $(AZURITE_DIR)/node_modules/.installed-stamp
$(AZURITE_STAMP): $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(AZURITE_DIR) --ignore-scripts --no-audit --no-fund --loglevel=error \
		&& touch $@; \
	else \
		echo "note: npm not found: the Azure (Azurite) lakehouse tests will be skipped; install Node.js (tested with v20) to run them"; \
	fi

azurite: $(AZURITE_STAMP) ## install the Azure Storage emulator (pinned, into tools/azurite)

# npm-groovy-lint (CodeNarc) for the Jenkinsfile: the pinned npm package in tools/groovy-lint,
# like Azurite. It runs CodeNarc on a Java runtime (Debian: default-jre-headless).
GROOVY_LINT_DIR := tools/groovy-lint
GROOVY_LINT_STAMP := $(GROOVY_LINT_DIR)/node_modules/.installed-stamp
GROOVY_LINT := $(GROOVY_LINT_DIR)/node_modules/.bin/npm-groovy-lint
$(GROOVY_LINT_STAMP): $(GROOVY_LINT_DIR)/package.json $(GROOVY_LINT_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: make lint needs Node.js (tested with v20) for npm-groovy-lint"; exit 1; }
	npm ci --prefix $(GROOVY_LINT_DIR) --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

groovy-lint: $(GROOVY_LINT_STAMP) ## lint the Jenkinsfile with npm-groovy-lint (CodeNarc; needs Java)
	@command -v java >/dev/null || { echo "error: java not found: npm-groovy-lint runs CodeNarc on a JRE (apt-get install default-jre-headless)"; exit 1; }
	$(GROOVY_LINT) --noserver --config $(GROOVY_LINT_DIR)/.groovylintrc.json --failon info Jenkinsfile

setup: $(STAMP) $(AZURITE_STAMP) ## create .venv and install the pinned dependencies (and Azurite)

demo: $(STAMP) ## run the main job end to end on embedded defaults (no cloud account)
	$(PY) scripts/demo.py

monitor-demo: $(STAMP) ## score a drifted period with capture, record outcomes, run the monitoring flow
	$(PY) scripts/monitor_demo.py

# Two pytest-xdist workers (PYTEST_WORKERS=0: one process). --dist loadfile keeps each test file
# on one worker, so a module's shared fixtures (one flow run, one mock run per stack) run once.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

# The Jenkinsfile's CodeNarc test needs npm-groovy-lint: installed for make test where npm is (that
# test then skips only without a Java runtime, saying so).
GROOVY_LINT_IF_NPM := $(if $(shell command -v npm 2>/dev/null),$(GROOVY_LINT_STAMP))

test: $(STAMP) $(AZURITE_STAMP) $(GROOVY_LINT_IF_NPM) ## run the whole test suite (short fuzz profile), printing the ten slowest tests
	$(PY) -m pytest -q $(PYTEST_PARALLEL) --durations=10

fuzz: $(STAMP) ## the long API fuzz: 2,600 generated requests (hypothesis profile "fuzz"; make test sends a tenth)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q --durations=5 tests/api/test_fuzz.py

lint: $(STAMP) groovy-lint ## ruff, npm-groovy-lint on the Jenkinsfile, and the README's configuration reference is current
	$(VENV)/bin/ruff check src flows lambda_api infra policy tools tests scripts benchmarks
	$(VENV)/bin/ruff format --check src flows lambda_api infra policy tools tests scripts benchmarks
	$(PY) scripts/config_reference.py --check

format: $(STAMP) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix src flows lambda_api infra policy tools tests scripts benchmarks
	$(VENV)/bin/ruff format src flows lambda_api infra policy tools tests scripts benchmarks

docs: $(STAMP) ## rewrite the README's configuration reference from the settings models
	$(PY) scripts/config_reference.py

bench: $(STAMP) ## measure performance targets; prints a table and writes docs/benchmarks.md
	$(PY) -m benchmarks

clean: ## remove local state (keeps .venv)
	rm -rf .local .metaflow dist build .pytest_cache

# --- delivery (Jenkinsfile stages; see docs/delivery.md) ---------------------------------
.PHONY: test-junit pulumi-preview pulumi-up
STACK ?= dev
JUNIT_XML ?= build/reports/junit.xml

test-junit: $(STAMP) $(AZURITE_STAMP) $(GROOVY_LINT_IF_NPM) ## the whole test suite, writing a JUnit report for CI (build/reports/junit.xml)
	@mkdir -p $(dir $(JUNIT_XML))
	$(PY) -m pytest -q $(PYTEST_PARALLEL) --durations=10 --junitxml=$(JUNIT_XML)

# PLAN=<file>: preview saves its update plan there, and up applies exactly that plan (Jenkins
# archives it between the two). Both run the CrossGuard pack in policy/ (mandatory rules fail).
PLAN ?=
POLICY_PACK := policy

pulumi-preview: $(STAMP) ## pulumi preview of STACK (default dev) with a diff and the policy pack; PLAN=file saves the plan
	$(if $(PLAN),@mkdir -p $(dir $(PLAN)))
	pulumi preview --stack $(STACK) --diff --non-interactive --policy-pack $(POLICY_PACK) $(if $(PLAN),--save-plan $(PLAN))

pulumi-up: $(STAMP) ## pulumi up of STACK, non-interactive (Jenkins gates it); PLAN=file applies exactly that saved plan
	pulumi up --stack $(STACK) --yes --non-interactive --policy-pack $(POLICY_PACK) $(if $(PLAN),--plan $(PLAN))

# --- infrastructure (see docs/infrastructure.md) -------------------------------------------------
.PHONY: plan cloud-acceptance
ACCEPTANCE_ARGS ?=

cloud-acceptance: $(STAMP) build-lambda ## REAL account: up, profile, deploy, run --wait, signed score (STACK=dev; ACCEPTANCE_ARGS=--destroy)
	$(PY) scripts/cloud_acceptance.py --stack $(STACK) $(ACCEPTANCE_ARGS)

# Every stack unless STACK is given on the command line or in the environment.
PLAN_STACKS = $(if $(filter file undefined,$(origin STACK)),,$(STACK))

plan: $(STAMP) ## offline view of what `pulumi up` would create (mock runtime, NOT a diff); STACK=dev for one
	$(PY) scripts/plan.py $(PLAN_STACKS)

# --- release artifacts (see docs/delivery.md) -----------------------------------------------------
.PHONY: build

build: $(STAMP) build-lambda ## wheel + dist/lambda.zip + dist/build-info.json (git SHA, image tag)
	$(PY) scripts/build.py

# --- scoring API (see docs/scoring-api.md) --------------------------------------------------------
.PHONY: build-lambda serve

build-lambda: $(STAMP) ## dist/lambda.zip for the Lambda python3.12 x86_64 runtime (fails over 100 MB unzipped)
	$(PY) scripts/build_lambda.py --out dist/lambda.zip --max-unzipped-mb 100

serve: $(STAMP) ## the scoring API on http://127.0.0.1:8000 with the local champion
	$(VENV)/bin/fraud-mlops serve

# --- other serving targets (see docs/delivery.md) -------------------------------------------------
.PHONY: build-serving

build-serving: $(STAMP) ## dist/serving/: build context of Dockerfile.serving (serving pins + torch-free app)
	$(PY) scripts/build_serving.py --out dist/serving

pipeline-local: $(STAMP) ## the Jenkins stages on embedded defaults: test, build, plan, flow, gate, promote, smoke
	$(PY) scripts/pipeline_local.py $(PIPELINE_ARGS)
