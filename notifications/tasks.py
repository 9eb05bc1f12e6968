"""Celery entry points of notifications (queue ``events``): thin, idempotent, ids only."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from notifications.services import delivery, reminders, retention
from notifications.services import relay as relay_service


@shared_task(name="notifications.relay")
def relay() -> int:
    """Fan out new events and dispatch due deliveries (kicked on commit, and run by beat)."""
    result = relay_service.relay()
    return result.events + result.dispatched


@shared_task(name="notifications.deliver")
def deliver(delivery_id: int, attempt: int) -> bool | None:
    """One attempt at a delivery; a duplicate or stale message does nothing."""
    outcome = delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)
    return None if outcome is None else outcome.ok


@shared_task(name="notifications.due_soon_sweep")
def due_soon_sweep() -> int:
    return reminders.due_soon_sweep()


@shared_task(name="notifications.purge")
def purge() -> int:
    """Delete finished events older than ``NOTIFICATIONS_KEEP_DAYS`` with their deliveries."""
    keep = dt.timedelta(days=settings.NOTIFICATIONS_KEEP_DAYS)
    events, _deliveries = retention.notifications_purge(older_than=keep)
    return events
