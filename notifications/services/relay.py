"""The relay: events -> deliveries -> delivery tasks.

Runs as the ``notifications.relay`` task, kicked after each commit that wrote events and run by
beat every few seconds (``NOTIFICATIONS_RELAY_SECONDS``), so a lost kick, a broker outage or a
killed worker only delays delivery. Two short transactions, each taking its rows with
``SELECT ... FOR UPDATE SKIP LOCKED`` so that concurrent relays share the work:

1. fan-out: unrelayed events become one delivery per subscribed active endpoint of the
   recipient organisation and one per user who chose the type by e-mail; the events are marked
   relayed in the same transaction;
2. dispatch: pending deliveries whose ``next_attempt_at`` has come are leased (their
   ``next_attempt_at`` moved ``NOTIFICATIONS_LEASE_SECONDS`` ahead) and a ``notifications.deliver``
   task sent for each after the commit. A lost task or a worker killed mid-attempt leaves the
   delivery pending; the next relay after the lease sends it again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace.accounts.models import User
from notifications import kick
from notifications.catalog import DEFAULT_EMAIL_TYPES
from notifications.models import Delivery, DeliveryStatus, Event, WebhookEndpoint


@dataclass(frozen=True)
class RelayResult:
    events: int
    deliveries_created: int
    dispatched: int


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS)


def relay(*, batch: int = 500) -> RelayResult:
    """Fan out and dispatch, until no unrelayed event is left or ``batch`` were done."""
    events, created = events_fan_out(batch=batch)
    return RelayResult(events, created, deliveries_dispatch(batch=batch))


def email_choices(user: User) -> tuple[str, frozenset[str]]:
    """A user's e-mail address and the types it receives there."""
    preference = getattr(user, "notification_preference", None)
    if preference is None:
        return user.email, DEFAULT_EMAIL_TYPES
    return preference.email or user.email, frozenset(preference.event_types)


def _recipients(
    org_ids: set[int],
) -> tuple[dict[int, list[WebhookEndpoint]], dict[int, list[User]]]:
    endpoints: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(organization_id__in=org_ids, active=True):
        endpoints[endpoint.organization_id].append(endpoint)
    users: dict[int, list[User]] = defaultdict(list)
    members = User.objects.filter(organization_id__in=org_ids, is_active=True).select_related(
        "notification_preference"
    )
    for user in members.order_by("pk"):
        assert user.organization_id is not None
        users[user.organization_id].append(user)
    return endpoints, users


def _deliveries_of(
    event: Event,
    endpoints: list[WebhookEndpoint],
    users: list[User],
    now: dt.datetime,
) -> list[Delivery]:
    rows = [
        Delivery(event=event, endpoint=endpoint, next_attempt_at=now)
        for endpoint in endpoints
        if event.type in endpoint.event_types
    ]
    for user in users:
        address, types = email_choices(user)
        if address and event.type in types:
            rows.append(Delivery(event=event, user=user, next_attempt_at=now))
    return rows


def events_fan_out(*, batch: int) -> tuple[int, int]:
    """One transaction: up to ``batch`` unrelayed events (skipping those another relay holds)
    become deliveries and are marked relayed. Returns (events, deliveries created)."""
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(relayed_at__isnull=True)
            .order_by("id")[:batch]
        )
        if not events:
            return 0, 0
        now = timezone.now()
        endpoints, users = _recipients({e.organization_id for e in events})
        rows: list[Delivery] = []
        for event in events:
            org = event.organization_id
            rows += _deliveries_of(event, endpoints[org], users[org], now)
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        Event.objects.filter(pk__in=[e.pk for e in events]).update(relayed_at=now)
    return len(events), len(rows)


def deliveries_dispatch(*, batch: int) -> int:
    """Lease the due pending deliveries and send a delivery task for each after the commit."""
    with transaction.atomic():
        now = timezone.now()
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", "attempts")[:batch]
        )
        if not due:
            return 0
        Delivery.objects.filter(pk__in=[pk for pk, _ in due]).update(next_attempt_at=now + lease())
        transaction.on_commit(lambda: _send_tasks(due))
    return len(due)


def _send_tasks(due: list[tuple[int, int]]) -> None:
    from notifications.tasks import deliver

    # Those not sent (broker unreachable) are sent again by a relay after their lease.
    kick.send(deliver, due)
