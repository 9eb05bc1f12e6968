# Everything runs from a local virtualenv; a fresh clone needs only Python 3.11.
# With DATABASE_URL / REDIS_URL unset, real PostgreSQL and Redis are started from wheels
# under var/ (see tools/embedded.py). Tools for running the project live in tools/.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EMBED := $(PY) -m tools.embedded run --
# mypy's Django plugin imports the settings; these URLs make that import start no embedded
# server (mypy never connects to them).
MYPY := DATABASE_URL=postgres://typecheck@127.0.0.1:9/typecheck REDIS_URL=redis://127.0.0.1:9/0 \
	MARKETPLACE_QUIET=1 $(PY) -m mypy

.PHONY: install demo test lint typecheck docs run migrate seed services-up services-down bench-import bench-bids bench-transfer clean bench-market bench-stream

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Whole sales end to end over HTTP against gunicorn + a real Celery worker + beat: one paid and
# transferred, one defaulted and sold to the runner-up. Beat's default sweep runs every 5 s here
# (60 s by default) so that the default happens within the demo.
demo: install
	$(EMBED) sh -c '$(PY) manage.py migrate --noinput >/dev/null && $(PY) manage.py seed_demo && \
		$(PY) manage.py seed_market_history && \
		SETTLEMENT_DEFAULT_SWEEP_SECONDS=5 \
		$(PY) -m tools.stack run --port auto --then "$(PY) -m tools.demo run"'

# Lint, type check, migrations check and the whole suite, on real PostgreSQL and Redis.
test: install
	$(EMBED) sh -c '$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(MYPY) && \
		$(PY) manage.py makemigrations --check --dry-run && $(PY) -m pytest'

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MYPY)

# mypy alone: the Django and DRF plugins over the product code (config in pyproject.toml).
typecheck: install
	$(MYPY)

# docs/CODES.md from the code registry (every app's codes.py); a test fails when it is stale.
docs: install
	$(EMBED) $(PY) manage.py codes --markdown --output docs/CODES.md

# Web (gunicorn on 127.0.0.1:8000), one worker and beat; Ctrl-C stops all three.
run: install
	$(PY) -m tools.stack run --port $${PORT:-8000}

migrate: install
	$(PY) manage.py migrate --noinput

seed: install
	$(PY) manage.py seed_demo

services-up: install
	$(PY) -m tools.embedded up

services-down: install
	$(PY) -m tools.embedded down

# Benchmarks print figures (see docs/BENCHMARKS.md); they are not part of `make test`.
# Each migrates first, so it runs on a fresh clone (and after a pull that adds migrations).
BENCH := $(EMBED) sh -c '$(PY) manage.py migrate --noinput >/dev/null && exec "$$@"' bench

# FORMAT=xlsx also imports the same tape as XLSX and compares (e.g. ROWS=100000 FORMAT=xlsx).
bench-import: install
	$(BENCH) $(PY) bench/import_tape.py --rows $${ROWS:-1000000} --format $${FORMAT:-csv}

bench-bids: install
	$(BENCH) $(PY) bench/bids.py

bench-transfer: install
	$(BENCH) $(PY) bench/transfer.py --loans $${LOANS:-1000000}

clean: services-down
	rm -rf var .pytest_cache .ruff_cache .mypy_cache

# Market data (docs/MARKET.md): 10,000 synthetic past deals, price index and valuation over HTTP.
bench-market: install
	$(BENCH) $(PY) bench/market.py --deals $${DEALS:-10000}

# What the abuse limits and observability cost per request (docs/BENCHMARKS.md "Abuse limits and
# observability"); a few seconds, Redis only.
.PHONY: bench-limits
bench-limits: install
	$(EMBED) $(PY) bench/limits.py

# --- stream ---
# 2,000 SSE clients on one auction while bids arrive (docs/BENCHMARKS.md, "Live stream").
bench-stream: install
	$(BENCH) $(PY) bench/stream.py --clients $${CLIENTS:-2000}

# What the events outbox costs a bid (in-process, with and without the listener).
.PHONY: bench-outbox
bench-outbox: install
	$(BENCH) $(PY) bench/outbox.py --bids $${BIDS:-300} --rounds $${ROUNDS:-3}

# --- queues ---
.PHONY: run-scaled bench-scaled fault-close-storm fault-transfer-crash

# Two gunicorn instances behind nginx (deploy/nginx.conf), the worker pools, one beat: the
# docker-compose topology from processes (bench/scaled.py; needs nginx: apt-get install -y nginx).
run-scaled: install
	$(PY) bench/scaled.py --port $${PORT:-8080}

# The bid bench and the close storm (pool SIGKILLed 3 times) against the scaled stack.
bench-scaled: install
	$(PY) bench/scaled.py --port $${PORT:-8080} --bench-bids --seconds $${SECONDS_PER_PHASE:-10} \
		--storm --auctions $${AUCTIONS:-200} --kills $${KILLS:-3}

# Fault scripts (docs/RELIABILITY.md, "Queues, worker crashes and the close storm").
fault-close-storm: install
	$(PY) -m tests.faults.close_storm --auctions $${AUCTIONS:-200} --kills $${KILLS:-3}

fault-transfer-crash: install
	$(PY) -m tests.faults.transfer_crash --settlements $${SETTLEMENTS:-50} --kills $${KILLS:-3}

# API fuzzing campaign (docs/RELIABILITY.md, "API fuzzing"): schemathesis over every operation
# of /api/v1/schema/ as each role and anonymously, FUZZ_EXAMPLES examples per operation and
# role, with the coverage phase and longer stateful runs; `make test` runs the same module
# bounded. Its own test database, so it can run beside `make test`. Output in var/fuzz/.
.PHONY: fuzz
FUZZ_EXAMPLES ?= 500
fuzz: install
	mkdir -p var/fuzz
	$(EMBED) sh -c 'TEST_DATABASE_NAME=test_marketplace_fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		FUZZ_PHASES=$${FUZZ_PHASES:-examples,coverage,fuzzing} \
		FUZZ_STATEFUL_EXAMPLES=$${FUZZ_STATEFUL_EXAMPLES:-50} FUZZ_STATEFUL_STEPS=$${FUZZ_STATEFUL_STEPS:-10} \
		FUZZ_STATS=var/fuzz/stats.json $(PY) -m pytest tests/fuzz/test_api_fuzz.py -q \
		--junitxml=var/fuzz/junit.xml > var/fuzz/output.txt 2>&1; \
		$(PY) -m tests.fuzz.summary var/fuzz/stats.json var/fuzz/junit.xml | tee var/fuzz/summary.txt'
