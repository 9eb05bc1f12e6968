"""The Celery application, configured from Django settings (``CELERY_*``).

Every task is idempotent and takes ids, not objects. Delivery is at-least-once: messages are
acknowledged after the task ran (``task_acks_late``) and requeued if the worker dies
(``task_reject_on_worker_lost``); periodic sweepers in ``CELERY_BEAT_SCHEDULE`` re-find due
work, so a lost message only delays it.
"""

import os
from typing import Any

import redis.exceptions as redis_exceptions
from celery import Celery, Task, signals
from django import db as django_db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Workers log as web does (settings.LOGGING: JSON lines with the request id), instead of
    Celery replacing the root logger's handlers with its own."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def limits_are_the_workers(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """A task's time limits are decided by the worker that runs it (its settings: the task's
    annotation, else ``CELERY_TASK_TIME_LIMIT``), never by the process that published it.

    Celery writes the publisher's limits into the message (``timelimit``) once the publisher
    knows the task, and the worker obeys the message first: a worker given a shorter import
    limit kept the 600 s of the web process or beat that enqueued the import."""
    if headers is not None and "timelimit" in headers:
        headers["timelimit"] = (None, None)


class RetryingTask(Task[..., Any]):
    """Base for tasks whose failures are transient (database or broker unavailable).

    Celery's own retry machinery: exponential back-off with jitter, bounded attempts.
    """

    autoretry_for = (
        ConnectionError,
        TimeoutError,
        OSError,
        django_db.OperationalError,
        django_db.InterfaceError,
        redis_exceptions.ConnectionError,
        redis_exceptions.TimeoutError,
    )
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 8
    acks_late = True
    reject_on_worker_lost = True
