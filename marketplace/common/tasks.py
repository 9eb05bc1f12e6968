"""Periodic housekeeping tasks of the core."""

from celery import shared_task

from marketplace.common.idempotency import idempotency_purge_expired as purge


@shared_task(name="marketplace.common.tasks.idempotency_purge_expired")
def idempotency_purge_expired() -> int:
    return purge()
