"""JSON log lines (python-json-logger), each with the request id and, in a task, its id and
name. Configured by ``LOGGING`` in settings (``LOG_FORMAT=json``, the default, or ``plain``)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from marketplace.observability import context

FIELDS = ("request_id", "task_id", "task_name")


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``task_id`` and ``task_name`` to every record (None outside)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (
            ("request_id", context.request_id),
            ("task_id", context.task_id),
            ("task_name", context.task_name),
        ):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601 with milliseconds), ``level``,
    ``logger``, ``message``, ``request_id``, ``task_id``, ``task_name``, then any ``extra``
    fields of the call; a traceback in ``exc_info``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["asctime", "levelname", "name", "message", *FIELDS])
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
