"""Celery signals: the request id travels from the request that enqueues a task to the task's
log lines (a message header set at publish, read back when the task starts), and every task run
is counted and timed (``metrics``)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from celery import signals

from marketplace.observability import context, metrics

logger = logging.getLogger("marketplace.tasks")

HEADER = "marketplace_request_id"

# task id -> (context tokens to reset, start time); one entry per task running in this process.
_RUNNING: dict[str, tuple[tuple[Any, ...], float]] = {}


@signals.before_task_publish.connect
def carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = context.request_id.get()
    if headers is not None and request_id and HEADER not in headers:
        headers[HEADER] = request_id


def _request_id_of(task: Any) -> str | None:
    request = getattr(task, "request", None)
    value = getattr(request, HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(HEADER)
    # A task run inline (eager, or called from a request) keeps the caller's id.
    return context.sane_request_id(str(value)) if value else context.request_id.get()


@signals.task_prerun.connect
def task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is None or task is None:
        return
    tokens = (
        context.request_id.set(_request_id_of(task)),
        context.task_id.set(task_id),
        context.task_name.set(task.name),
    )
    _RUNNING[task_id] = (tokens, time.perf_counter())


@signals.task_postrun.connect
def task_ended(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    entry = _RUNNING.pop(task_id or "", None)
    if task is None or entry is None:
        return
    tokens, started = entry
    duration = time.perf_counter() - started
    name, outcome = task.name, (state or "unknown").lower()
    metrics.TASKS.labels(task=name, state=outcome).inc()
    metrics.TASK_DURATION.labels(task=name).observe(duration)
    # Celery logs every success itself (with the request id, in the same context); ours adds
    # structured fields, at DEBUG for successes so that beat's sweeps do not flood the logs.
    logger.log(
        logging.DEBUG if outcome == "success" else logging.WARNING,
        "task %s %s in %.3f s",
        name,
        outcome,
        duration,
        extra={"state": outcome, "duration_ms": round(duration * 1000, 1)},
    )
    for var, token in zip(
        (context.task_name, context.task_id, context.request_id), reversed(tokens), strict=True
    ):
        with contextlib.suppress(ValueError):  # set in another context: leave it
            var.reset(token)


@signals.task_failure.connect
def task_failed(sender: Any = None, **kwargs: Any) -> None:
    metrics.TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()


@signals.task_retry.connect
def task_retried(sender: Any = None, **kwargs: Any) -> None:
    metrics.TASK_RETRIES.labels(task=getattr(sender, "name", "unknown")).inc()
