"""Celery entry points of the outbox (beat runs the relay every second on the default,
time-critical queue)."""

import datetime as dt

from celery import shared_task
from django.conf import settings

from marketplace.outbox import relay


@shared_task(name="outbox.relay")
def outbox_relay() -> int:
    """Publish the messages the on-commit kick could not (the broker was down)."""
    return relay.relay()


@shared_task(name="outbox.purge")
def outbox_purge() -> int:
    return relay.purge_sent(older_than=dt.timedelta(hours=settings.OUTBOX_KEEP_SENT_HOURS))
