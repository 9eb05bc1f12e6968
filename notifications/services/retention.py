"""Retention: events and their deliveries are history once every delivery has finished.

Without a purge both tables grow with every change of every auction, for every organisation
told of it. ``notifications_purge`` (the beat task ``notifications.purge``, hourly) deletes an
event older than ``NOTIFICATIONS_KEEP_DAYS`` together with its deliveries once the event has
been fanned out and none of its deliveries is pending; anything still to send is kept.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, Event


def notifications_purge(*, older_than: dt.timedelta, batch: int = 1000) -> tuple[int, int]:
    """Delete finished events created more than ``older_than`` ago, with their deliveries;
    returns how many events and deliveries went. An event not yet fanned out, or with a
    pending delivery, stays with all its deliveries.

    Locks, per batch: the deliveries of the candidate events, so a redelivery (which locks its
    delivery and makes it pending again) either commits first and keeps its event, or waits and
    finds its delivery gone (404)."""
    cutoff = timezone.now() - older_than
    events = deliveries = 0
    while True:
        with transaction.atomic():
            ids = list(
                Event.objects.filter(created_at__lt=cutoff, relayed_at__isnull=False)
                .exclude(deliveries__status=DeliveryStatus.PENDING)
                .order_by("id")
                .values_list("id", flat=True)[:batch]
            )
            finished = _without_pending(ids)
            deliveries += Delivery.objects.filter(event_id__in=finished).delete()[0]
            events += Event.objects.filter(pk__in=finished).delete()[0]
        if len(ids) < batch:
            return events, deliveries


def _without_pending(event_ids: list[int]) -> list[int]:
    """These events, less those with a pending delivery once their deliveries are locked."""
    locked = (
        Delivery.objects.select_for_update()
        .filter(event_id__in=event_ids)
        .order_by("pk")
        .values_list("event_id", "status")
    )
    busy = {event_id for event_id, status in locked if status == DeliveryStatus.PENDING}
    return [pk for pk in event_ids if pk not in busy]
