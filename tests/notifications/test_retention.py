"""Retention: finished events older than NOTIFICATIONS_KEEP_DAYS go with their deliveries;
anything pending (not fanned out, or a delivery still to send) stays."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, Event
from notifications.services.relay import events_fan_out
from notifications.services.retention import notifications_purge
from notifications.tasks import purge
from tests.factories import EventFactory, UserFactory, WebhookEndpointFactory

KEEP = dt.timedelta(days=30)


def _event(owner, *statuses: str, age: dt.timedelta = dt.timedelta(days=31)) -> Event:
    """An event of ``owner``'s organisation, fanned out to one endpoint per status given (each
    delivery then set to that status), created ``age`` ago."""
    endpoints = [WebhookEndpointFactory(created_by=owner) for _ in statuses]
    event = EventFactory(organization=owner.organization)
    events_fan_out(batch=10_000)
    for endpoint, status in zip(endpoints, statuses, strict=True):
        Delivery.objects.filter(event=event, endpoint=endpoint).update(status=status)
    for endpoint in endpoints:  # later events of this test are not sent to these
        endpoint.active = False
        endpoint.save(update_fields=["active"])
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - age)
    return event


@pytest.mark.django_db
def test_finished_old_events_go_with_their_deliveries_and_pending_ones_stay():
    owner = UserFactory(role="platform_admin")
    done = _event(owner, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
    silent = _event(owner)  # told to nobody
    waiting = _event(owner, DeliveryStatus.DELIVERED, DeliveryStatus.PENDING)
    recent = _event(owner, DeliveryStatus.DELIVERED, age=dt.timedelta(days=29))
    unrelayed = EventFactory(organization=owner.organization)
    Event.objects.filter(pk=unrelayed.pk).update(created_at=timezone.now() - 2 * KEEP)

    assert notifications_purge(older_than=KEEP, batch=2) == (2, 2)

    left = set(Event.objects.values_list("pk", flat=True))
    assert left == {waiting.pk, recent.pk, unrelayed.pk}
    assert not {done.pk, silent.pk} & left
    assert Delivery.objects.filter(event=waiting).count() == 2  # kept whole
    assert Delivery.objects.filter(event=recent).count() == 1
    assert not Delivery.objects.filter(event=done).exists()
    assert notifications_purge(older_than=KEEP) == (0, 0)


@pytest.mark.django_db
def test_the_beat_task_keeps_notifications_keep_days(settings):
    owner = UserFactory(role="platform_admin")
    settings.NOTIFICATIONS_KEEP_DAYS = 10
    old = _event(owner, DeliveryStatus.DELIVERED, age=dt.timedelta(days=11))
    young = _event(owner, DeliveryStatus.DELIVERED, age=dt.timedelta(days=9))

    assert purge() == 1

    assert list(Event.objects.values_list("pk", flat=True)) == [young.pk]
    assert not Event.objects.filter(pk=old.pk).exists()


def test_the_purge_runs_hourly_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-purge"]
    assert entry["task"] == "notifications.purge"
    assert settings.NOTIFICATIONS_KEEP_DAYS == 30  # the documented default


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_committing_during_the_purge_keeps_its_event():
    owner = UserFactory(role="platform_admin")
    event = _event(owner, DeliveryStatus.FAILED)
    delivery = Delivery.objects.get(event=event)
    locked, result = threading.Event(), {}

    def purge_now() -> None:
        locked.wait(10)
        try:
            result["purged"] = notifications_purge(older_than=KEEP)
        finally:
            connection.close()

    purger = threading.Thread(target=purge_now)
    purger.start()
    with transaction.atomic():  # a redelivery: lock the delivery, make it pending again
        Delivery.objects.select_for_update().get(pk=delivery.pk)
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PENDING)
        locked.set()
        purger.join(1.5)  # the purge picked the event while it looked finished, and waits
        assert purger.is_alive()
    purger.join(10)

    assert result["purged"] == (0, 0)
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.PENDING
    assert Event.objects.filter(pk=event.pk).exists()
