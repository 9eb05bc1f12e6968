"""The Prometheus metrics the application records (docs/OPERATIONS.md "Metrics").

prometheus-client in multiprocess mode: each gunicorn and Celery process writes its samples to
files in ``PROMETHEUS_MULTIPROC_DIR`` (settings put it under ``DATA_DIR``, before this module is
imported), and ``/metrics`` adds them up at scrape time (``views``). Gauges computed at scrape
time (queue depth, outbox lag) are in ``collector``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket

from django.http import HttpResponseBase
from prometheus_client import Counter, Histogram, values

from marketplace.common.errors import PROBLEM_CONTENT_TYPE

# Sample files are named by host and pid, not pid alone: containers sharing the folder (web and
# worker on one volume) have pids that collide, and two processes must never share a file.
# (settings always set PROMETHEUS_MULTIPROC_DIR; the check keeps a bare import working.)
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]  # untyped upstream
        lambda: f"{socket.gethostname()}-{os.getpid()}"
    )

# Latency buckets for HTTP requests (seconds): the bid path's target is p99 < 250 ms.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
# Auction close delay (seconds): the target is p99 under 3 s; the sweep runs every 2 s.
_CLOSE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

HTTP_REQUESTS = Counter(
    "marketplace_http_requests_total",
    "HTTP requests answered, by method, route pattern and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "marketplace_http_request_duration_seconds",
    "Time from the request reaching Django to its response (before streaming), by route.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
)
BIDS = Counter(
    "marketplace_bids_total",
    "Bids placed over the API: outcome accepted or refused, with the refusal's error code.",
    ["outcome", "code"],
)
CLOSE_DELAY = Histogram(
    "marketplace_auction_close_delay_seconds",
    "Delay from an auction's (extended) end to its close by a worker.",
    buckets=_CLOSE_BUCKETS,
)
TASKS = Counter(
    "marketplace_celery_tasks_total",
    "Celery task runs that ended, by task name and state (success, failure, retry).",
    ["task", "state"],
)
TASK_FAILURES = Counter(
    "marketplace_celery_task_failures_total",
    "Celery task runs that raised (and will not be retried), by task name.",
    ["task"],
)
TASK_RETRIES = Counter(
    "marketplace_celery_task_retries_total",
    "Celery task runs that asked to be retried, by task name.",
    ["task"],
)
TASK_DURATION = Histogram(
    "marketplace_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=_TASK_BUCKETS,
)

RATE_LIMITED = Counter(
    "marketplace_rate_limited_total",
    "Requests refused by an abuse limit (429), by limit: login_address, login_username, "
    "login_locked, bids, uploads.",
    ["limit"],
)
LIMITER_UNAVAILABLE = Counter(
    "marketplace_rate_limiter_unavailable_total",
    "Requests whose limit could not reach Redis, by limit and what was done (open: let "
    "through, closed: refused with 503).",
    ["limit", "mode"],
)
LOGIN_LOCKOUTS = Counter(
    "marketplace_login_lockouts_total", "Username lockouts started after repeated failures."
)


def bid_answered(response: HttpResponseBase) -> None:
    """Count a bid's answer: 201 accepted, else refused with its problem+json ``code``."""
    if response.status_code == 201:
        BIDS.labels(outcome="accepted", code="").inc()
        return
    code = "unknown"
    if response.get("Content-Type") == PROBLEM_CONTENT_TYPE:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            code = str(json.loads(getattr(response, "content", b""))["code"])[:64]
    BIDS.labels(outcome="refused", code=code).inc()


def auction_closed(delay_seconds: float) -> None:
    CLOSE_DELAY.observe(max(0.0, delay_seconds))
