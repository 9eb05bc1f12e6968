"""Gauges read at scrape time: Celery queue depth (Redis ``LLEN`` of each queue) and any gauge
another part of the system registers with ``register_gauge``.

The outbox lag is one line away::

    from marketplace.observability.collector import register_gauge
    from marketplace.outbox import outbox_lag_seconds
    register_gauge("marketplace_outbox_lag_seconds",
                   "Age of the oldest outbox row not yet relayed (0 when empty).",
                   outbox_lag_seconds)

(in the outbox app's ``AppConfig.ready``). A callback that raises is skipped for that scrape
and logged; the other metrics are still answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Gauge:
    name: str
    documentation: str
    callback: Callable[[], float | None]


_GAUGES: dict[str, _Gauge] = {}


def register_gauge(name: str, documentation: str, callback: Callable[[], float | None]) -> None:
    """Answer ``callback()`` as gauge ``name`` on every scrape (None: no sample this time).
    Registering a name again replaces its callback."""
    _GAUGES[name] = _Gauge(name, documentation, callback)


def queue_names() -> list[str]:
    """The Celery queues to watch: ``METRICS_QUEUES`` and the default queue."""
    from marketplace.celery import app

    names = list(settings.METRICS_QUEUES)
    default = str(app.conf.task_default_queue)
    return names if default in names else [*names, default]


def queue_depths() -> dict[str, int]:
    """Messages waiting in each queue (not those reserved by a worker); raises on Redis errors."""
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        pipe = client.pipeline(transaction=False)
        names = queue_names()
        for name in names:
            pipe.llen(name)
        return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))
    finally:
        client.close()


class ScrapeTimeCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "marketplace_celery_queue_depth",
            "Messages waiting in a Celery queue (Redis LLEN).",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "marketplace_broker_up", "1 when the broker answered this scrape, else 0."
        )
        try:
            for name, count in queue_depths().items():
                depth.add_metric([name], count)
            up.add_metric([], 1)
        except redis.RedisError as exc:
            logger.warning("metrics: queue depth unavailable: %s", exc)
            up.add_metric([], 0)
        yield depth
        yield up
        for gauge in list(_GAUGES.values()):
            try:
                value = gauge.callback()
            except Exception:  # one broken gauge must not hide the others
                logger.exception("metrics: gauge %s failed", gauge.name)
                continue
            if value is not None:
                yield GaugeMetricFamily(gauge.name, gauge.documentation, value=float(value))
